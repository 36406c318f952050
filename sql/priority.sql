\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;
SET ticketdesk.deadline_near = '1d';

-- Automatic priority (R06, R24): a matrix of rules over the centre/category
-- tree and the internal category tree gives a base priority; the
-- requester's and the dispatcher's weights and the deadline move it.

-- The organisation: head office (1) with facilities (2) and IT (4) beneath,
-- and the heating team (3) beneath facilities.
INSERT INTO center (parent_id, code, name) VALUES
    (NULL, 'hq', 'Head office'), (1, 'facilities', 'Facilities'),
    (2, 'heating', 'Heating team'), (1, 'it', 'IT');
-- Facilities' categories: building > hvac > boiler > burner, building > doors;
-- IT's: network.
INSERT INTO category (center_id, parent_id, code, name) VALUES
    (2, NULL, 'building', 'Building'), (2, 1, 'hvac', 'Heating and air'),
    (2, 2, 'boiler', 'Boiler'), (2, 3, 'burner', 'Burner'),
    (2, 1, 'doors', 'Doors and locks'), (4, NULL, 'network', 'Network');
-- The dispatchers' own classification: safety > gas; cosmetic.
INSERT INTO internal_category (parent_id, code, name) VALUES
    (NULL, 'safety', 'Safety'), (1, 'gas', 'Gas'), (NULL, 'cosmetic', 'Cosmetic');
INSERT INTO customer (name) VALUES ('Acme');
INSERT INTO agent (name) VALUES ('Dana');

-- 1. Without rules every cell is normal.
SELECT compute_priority(3, 4, 2) AS burner_gas, compute_priority(4, NULL, NULL) AS it_nothing;

-- 2. The matrix. A rule names a category (its centre is filled in), a
--    centre (covering the centres and categories beneath it), or neither
--    (the whole tenant); and an internal category, or none (any).
INSERT INTO priority_rule (center_id, category_id, internal_category_id, priority, note) VALUES
    (2,    NULL, NULL, 'low',    'facilities: routine by default'),
    (NULL, 2,    NULL, 'normal', 'heating and air'),
    (NULL, 3,    NULL, 'high',   'boilers: people get cold'),
    (NULL, 2,    1,    'urgent', 'safety problems with heating'),
    (2,    NULL, 2,    'high',   'gas anywhere in facilities'),
    (NULL, NULL, 3,    'low',    'cosmetic issues, everywhere');
SELECT rule_id, center_id, category_id, internal_category_id, priority FROM priority_rule ORDER BY rule_id;

-- The most specific rule wins: the deepest category first, then the
-- deepest internal category. A ticket of the heating team (centre 3):
SELECT c.label, f.rule_id, f.priority
  FROM (VALUES (1, 'burner, no internal category', 4::bigint, NULL::bigint),
               (2, 'burner × gas: boiler''s rule beats hvac × safety', 4, 2),
               (3, 'hvac × gas: walks up to hvac × safety', 2, 2),
               (4, 'hvac × cosmetic: hvac''s own rule', 2, 3),
               (5, 'doors × gas: the centre''s gas rule', 5, 2),
               (6, 'doors × safety: the centre''s rule', 5, 1),
               (7, 'no category × cosmetic: the centre''s rule before the tenant''s', NULL, 3)) AS c(n, label, category, internal),
       LATERAL priority_factors(3, c.category, c.internal, 3, NULL, NULL) f
 ORDER BY c.n;
-- IT is outside facilities: only the tenant-wide cosmetic rule reaches it.
SELECT compute_priority(4, 6, NULL) AS network, compute_priority(4, 6, 3) AS network_cosmetic;
-- Without a centre the category's own centre is used.
SELECT compute_priority(NULL, 5, NULL) AS doors_anywhere;

-- 3. "Why?": one row per factor.
SELECT * FROM explain_priority(3, 2, 2, 5, NULL, NULL);

-- 4. The weights. The requester's and the dispatcher's weights (1..5, 3 is
--    neutral) give points: the requester's weight - 3, and twice the
--    dispatcher's weight - 3. Half the points, rounded toward zero, are
--    levels up or down. A cell without rules (base normal):
SELECT rw AS requester,
       string_agg(coalesce(dw::text, '-') || ':' || compute_priority(4, NULL, NULL, rw, dw), '  ' ORDER BY dw NULLS FIRST)
           AS "dispatcher weight: priority"
  FROM generate_series(1, 5) rw, (SELECT NULL::integer UNION ALL SELECT generate_series(1, 5)) d(dw)
 GROUP BY rw ORDER BY rw;

-- 5. The deadline: near (within ticketdesk.deadline_near) raises one level,
--    passed raises two. The moment is an argument, so the result is
--    reproducible.
SELECT d.label, compute_priority(4, NULL, NULL, 3, NULL, d.deadline, '2026-01-10 12:00+00') AS priority
  FROM (VALUES (1, 'none', NULL::timestamptz), (2, 'in three days', '2026-01-13 12:00+00'),
               (3, 'in exactly one day', '2026-01-11 12:00+00'), (4, 'in two hours', '2026-01-10 14:00+00'),
               (5, 'an hour ago', '2026-01-10 11:00+00')) AS d(n, label, deadline)
 ORDER BY d.n;
SET ticketdesk.deadline_near = '2h';
SELECT compute_priority(4, NULL, NULL, 3, NULL, '2026-01-10 15:00+00', '2026-01-10 12:00+00') AS three_hours_with_2h,
       compute_priority(4, NULL, NULL, 3, NULL, '2026-01-10 13:00+00', '2026-01-10 12:00+00') AS one_hour_with_2h;
SET ticketdesk.deadline_near = 0;
SELECT compute_priority(4, NULL, NULL, 3, NULL, '2026-01-10 12:01+00', '2026-01-10 12:00+00') AS a_minute_with_0,
       compute_priority(4, NULL, NULL, 3, NULL, '2026-01-10 12:00+00', '2026-01-10 12:00+00') AS due_now_with_0;
SET ticketdesk.deadline_near = '1d';

-- 6. The properties, over every base, weight and deadline state: monotone
--    in each weight and in the deadline's nearness, never beyond low or
--    urgent (the extremes are held), and the same inputs give the same result.
--    Cells: IT (normal), IT × cosmetic (low), boiler (high), hvac × safety (urgent).
CREATE TEMP TABLE grid AS
SELECT c.center, c.category, c.internal, rw, dw, d.n AS nearness, d.deadline,
       compute_priority(c.center, c.category, c.internal, rw, dw, d.deadline, '2026-01-10 12:00+00') AS p
  FROM (VALUES (4::bigint, NULL::bigint, NULL::bigint), (4, NULL, 3), (3, 3, NULL), (3, 2, 1)) c(center, category, internal),
       generate_series(1, 5) rw,
       (SELECT NULL::integer UNION ALL SELECT generate_series(1, 5)) w(dw),
       (VALUES (0, NULL::timestamptz), (1, '2026-02-01 00:00+00'), (2, '2026-01-10 18:00+00'),
               (3, '2026-01-10 11:00+00')) d(n, deadline);
SELECT count(*) AS combinations,
       count(DISTINCT (center, category, internal)) AS bases,
       min(p) AS lowest, max(p) AS highest FROM grid;
SELECT
    (SELECT count(*) FROM grid a JOIN grid b USING (center, category, internal, dw, nearness)
      WHERE b.rw = a.rw + 1 AND b.p < a.p) AS requester_weight_violations,
    (SELECT count(*) FROM grid a JOIN grid b USING (center, category, internal, rw, nearness)
      WHERE b.dw = a.dw + 1 AND b.p < a.p) AS dispatcher_weight_violations,
    (SELECT count(*) FROM grid a JOIN grid b USING (center, category, internal, rw)
      WHERE a.dw IS NOT DISTINCT FROM b.dw AND b.nearness = a.nearness + 1 AND b.p < a.p) AS deadline_violations,
    (SELECT count(*) FROM grid g
      WHERE g.p IS DISTINCT FROM compute_priority(g.center, g.category, g.internal, g.rw, g.dw, g.deadline,
                                                  '2026-01-10 12:00+00')) AS different_on_second_run;
-- The dispatcher counts more than the requester: a dispatcher's 5 with a
-- requester's 1 still raises, a requester's 5 with a dispatcher's 1 lowers.
SELECT compute_priority(4, NULL, NULL, 1, 5) AS dispatcher_5_requester_1,
       compute_priority(4, NULL, NULL, 5, 1) AS dispatcher_1_requester_5;
-- PARALLEL SAFE: a parallel worker reads the matrix for itself.
SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT compute_priority(3, 4, NULL);
SELECT compute_priority(3, 4, NULL) AS burner_in_a_worker, compute_priority(3, 2, 2) AS hvac_gas_in_a_worker;
RESET force_parallel_mode;
-- Held at the ends.
SELECT compute_priority(3, 2, 1, 5, 5, '2026-01-01 00:00+00', '2026-01-10 12:00+00') AS urgent_and_more,
       compute_priority(4, NULL, 3, 1, 1) AS low_and_less;

-- 7. Tickets get it automatically: on insert, and when the centre, the
--    category, the internal category, a weight or the deadline change.
SELECT reference, priority, priority_fixed
  FROM open_ticket(subject => 'Radiators cold', center_id => 3, customer_id => 1, category_id => 2);
SELECT reference, priority FROM correct(1, internal_category_id => 1, note => 'smell of gas');
SELECT reference, priority FROM correct(1, dispatcher_weight => 1, note => 'turned out to be the smell of paint');
SELECT reference, priority FROM correct(1, deadline => now() + interval '2 hours', note => 'the customer has guests tonight');
SELECT reference, priority FROM correct(1, category_id => 4);
SELECT reference, priority FROM redirect(1, 4, 'IT owns the thermostat app');
-- A move that changes none of the inputs leaves the priority alone.
SELECT reference, status, priority FROM assign(1, 1);
SELECT kind, old_value, new_value, note FROM ticket_history(1) WHERE kind LIKE 'priority%' ORDER BY event_id;

-- Why is it what it is?
SELECT step, factor, input, effect, priority FROM explain_priority(1);

-- 8. The dispatcher's override: a fixed priority stays, recorded in the
--    history, until it is released.
SELECT reference, priority, priority_fixed FROM fix_priority(1, 'urgent', 'the mayor is visiting');
SELECT reference, priority FROM correct(1, requester_weight => 1, dispatcher_weight => 1);
SELECT step, factor, input, priority FROM explain_priority(1) WHERE step IN (1, 6, 7);
SELECT reference, priority, priority_fixed FROM release_priority(1, 'the visit is over');
SELECT kind, old_value, new_value, note FROM ticket_history(1)
 WHERE kind LIKE 'priority%' ORDER BY event_id DESC LIMIT 4;
-- A plain UPDATE fixes it the same way, and a hand-set priority without
-- the fix is refused: the stored priority of an unfixed ticket is always
-- the computed one.
UPDATE ticket SET priority = 'urgent' WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET priority = 'high', priority_fixed = true WHERE ticket_id = 1 RETURNING priority, priority_fixed;
UPDATE ticket SET priority = 'low' WHERE ticket_id = 1 RETURNING priority, priority_fixed;
UPDATE ticket SET priority_fixed = false WHERE ticket_id = 1 RETURNING priority, priority_fixed;
-- A ticket inserted fixed keeps its priority.
INSERT INTO ticket (type_id, center_id, customer_id, subject, priority, priority_fixed)
SELECT type_id, 4, 1, 'Printer on fire', 'urgent', true FROM ticket_type WHERE code = 'incident'
RETURNING reference, priority, priority_fixed;
-- Not fixed, the given priority is replaced by the computed one.
INSERT INTO ticket (type_id, center_id, customer_id, subject, priority)
SELECT type_id, 4, 1, 'Mouse squeaks', 'urgent' FROM ticket_type WHERE code = 'incident'
RETURNING reference, priority, priority_fixed;
-- Writing the computed value is allowed: that is how priority ageing
-- refreshes a ticket whose computed priority moved since its last change
-- (its deadline came closer or, as here, a rule changed).
BEGIN;
INSERT INTO priority_rule (center_id, priority) VALUES (4, 'high');
SELECT priority AS stored, compute_priority(center_id, category_id, internal_category_id,
                                            requester_weight, dispatcher_weight, deadline) AS computed
  FROM ticket WHERE ticket_id = 3;
SELECT step, factor, input, effect, priority FROM explain_priority(3) WHERE step IN (1, 6, 7);
UPDATE ticket k SET priority = compute_priority(k.center_id, k.category_id, k.internal_category_id,
                                                k.requester_weight, k.dispatcher_weight, k.deadline)
 WHERE ticket_id = 3 RETURNING priority, priority_fixed;
ROLLBACK;

-- 9. A change to the matrix or a tree is seen at once by the transaction
--    that makes it, and is gone with its rollback.
BEGIN;
UPDATE priority_rule SET priority = 'low' WHERE rule_id = 3;
SELECT compute_priority(3, 4, NULL) AS burner_after_change;
UPDATE category SET parent_id = 2 WHERE category_id = 5;
SELECT compute_priority(3, 5, 1) AS doors_under_hvac_safety;
INSERT INTO category (center_id, parent_id, code, name) VALUES (2, 3, 'pump', 'Pump');
SELECT compute_priority(3, 7, NULL) AS new_pump_gets_boilers_changed_rule;
ROLLBACK;
SELECT compute_priority(3, 4, NULL) AS burner_after_rollback, compute_priority(3, 5, 1) AS doors_safety_after_rollback;
BEGIN;
DELETE FROM priority_rule WHERE rule_id = 3;
SELECT compute_priority(3, 4, NULL) AS burner_without_boiler_rule;
ROLLBACK;

-- 10. Bad input.
-- Weights out of range, or the requester's missing.
SELECT compute_priority(3, 4, NULL, 6);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT compute_priority(3, 4, NULL, 3, 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT compute_priority(3, 4, NULL, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A deadline without a moment to measure it from.
SELECT compute_priority(3, 4, NULL, 3, NULL, '2026-01-10 12:00+00', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Unknown centre, category, internal category.
SELECT compute_priority(99, NULL, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT compute_priority(3, 99, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT compute_priority(3, NULL, 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A rule on a category of another centre.
INSERT INTO priority_rule (center_id, category_id, priority) VALUES (4, 3, 'urgent');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A rule on another tenant's category, centre or internal category.
SELECT create_tenant('globex', 'Globex') AS tenant;
SET ticketdesk.tenant = 2;
INSERT INTO center (code, name) VALUES ('globex-hq', 'Globex head office') RETURNING center_id AS globex_center \gset
INSERT INTO category (center_id, code, name) VALUES (:globex_center, 'globex-only', 'Globex only')
RETURNING category_id AS globex_category \gset
INSERT INTO internal_category (code, name) VALUES ('globex-internal', 'Globex internal')
RETURNING internal_category_id AS globex_internal \gset
-- Tenant 2 has no centre 3: its matrix is its own.
SELECT compute_priority(3, NULL, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT compute_priority(:globex_center, :globex_category, :globex_internal) AS globex_cell;
RESET ticketdesk.tenant;
INSERT INTO priority_rule (category_id, priority) VALUES (:globex_category, 'urgent');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO priority_rule (center_id, priority) VALUES (:globex_center, 'urgent');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO priority_rule (internal_category_id, priority) VALUES (:globex_internal, 'urgent');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Two rules for one cell, however the cell is written.
INSERT INTO priority_rule (category_id, priority) VALUES (3, 'urgent');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO priority_rule (center_id, category_id, priority) VALUES (2, 3, 'urgent');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE priority_rule SET internal_category_id = NULL WHERE rule_id = 4;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Cycles in any of the trees.
UPDATE category SET parent_id = 4 WHERE category_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE internal_category SET parent_id = 2 WHERE internal_category_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE center SET parent_id = 3 WHERE center_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A fix needs a priority; a weight out of range on a ticket.
SELECT fix_priority(1, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET requester_weight = 0 WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Nothing of the refusals was written.
SELECT count(*) AS rules FROM priority_rule;
