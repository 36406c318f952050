-- A ticket's phase: open, resolved, confirmed or finished, kept by PostgreSQL
-- from its status. Queues and jobs find tickets by phase, so a move inside a
-- phase (acknowledge, start, wait, resume) changes no indexed column and is a
-- HOT update: no index of the ticket gets a new entry.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

INSERT INTO center (code, name) VALUES ('service', 'Field service');
INSERT INTO agent (name) VALUES ('Dana Dispatcher'), ('Eli Executor');
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 1, 'dispatcher'), (1, 2, 'executor');
INSERT INTO customer (name) VALUES ('Acme');
INSERT INTO contact (customer_id, name) VALUES (1, 'Rita Requester');
SELECT ticket_id, status, phase FROM open_ticket(subject => 'Boiler leaks', center_id => 1, contact_id => 1);
SELECT status, phase FROM assign(1, 2);

-- Inside the open phase every move is a HOT update. The backend's own
-- statistics counters tell, read before and after in one transaction (they
-- are not flushed in the middle of a transaction block).
BEGIN;
SELECT pg_stat_get_xact_tuples_updated('ticket'::regclass) AS updated0,
       pg_stat_get_xact_tuples_hot_updated('ticket'::regclass) AS hot0 \gset
SELECT status, phase FROM acknowledge(1);
SELECT status, phase FROM start_work(1);
SELECT status, phase FROM wait_for_customer(1, 'Which floor?');
SELECT status, phase FROM resume(1, 'Third floor');
SELECT pg_stat_get_xact_tuples_updated('ticket'::regclass) - :updated0 AS updates,
       pg_stat_get_xact_tuples_hot_updated('ticket'::regclass) - :hot0 AS hot_updates;
COMMIT;

-- Leaving the phase moves the ticket between the queue and job indexes: not HOT.
BEGIN;
SELECT pg_stat_get_xact_tuples_updated('ticket'::regclass) AS updated0,
       pg_stat_get_xact_tuples_hot_updated('ticket'::regclass) AS hot0 \gset
SELECT status, phase FROM resolve(1, 'Gasket replaced');
SELECT pg_stat_get_xact_tuples_updated('ticket'::regclass) - :updated0 AS updates,
       pg_stat_get_xact_tuples_hot_updated('ticket'::regclass) - :hot0 AS hot_updates;
COMMIT;
SELECT status, phase FROM confirm(1);
SELECT status, phase FROM close(1);

-- The phase follows the status; nobody sets it.
UPDATE ticket SET phase = 'open' WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO ticket (type_id, center_id, subject, phase) VALUES (1, 1, 'Forged phase', 'finished');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- No index of ticket names status, in its keys, expressions or predicate
-- (a new one would make every status change a non-HOT update again); pages
-- keep room for the new row versions.
SELECT i.indexrelid::regclass AS index_on_status
  FROM pg_index i
 WHERE i.indrelid = 'ticket'::regclass
   AND ((SELECT attnum FROM pg_attribute WHERE attrelid = 'ticket'::regclass AND attname = 'status') = ANY (i.indkey)
        OR pg_get_expr(i.indpred, i.indrelid) ~ '\mstatus\M'
        OR pg_get_expr(i.indexprs, i.indrelid) ~ '\mstatus\M');
SELECT reloptions FROM pg_class WHERE oid = 'ticket'::regclass;

-- The jobs' sweeps (oldest first) and the queues are served by the phase
-- indexes: their predicates follow from the queries' conditions.
SET enable_seqscan = off;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT ticket_id FROM ticket
 WHERE tenant_id = 1 AND phase = 'confirmed' AND confirmed_at <= now() ORDER BY confirmed_at;
EXPLAIN (COSTS OFF) SELECT ticket_id FROM ticket
 WHERE tenant_id = 1 AND phase = 'resolved' AND resolved_at <= now() ORDER BY resolved_at;
EXPLAIN (COSTS OFF) SELECT ticket_id FROM ticket
 WHERE tenant_id = 1 AND deadline <= now() AND deadline IS NOT NULL AND phase = 'open' ORDER BY deadline;
EXPLAIN (COSTS OFF) SELECT ticket_id FROM ticket WHERE tenant_id = 1 AND assignee_id = 2 AND phase = 'open';
-- The index leaves out tickets nobody holds (an opening without an assignee
-- writes no entry in it); a look-up by a parameter, as in a prepared
-- statement's generic plan, still proves the predicate.
PREPARE open_work(bigint) AS
    SELECT ticket_id FROM ticket WHERE tenant_id = 1 AND assignee_id = $1 AND phase = 'open';
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE open_work(2);
RESET plan_cache_mode;
DEALLOCATE open_work;
EXPLAIN (COSTS OFF) SELECT ticket_id FROM ticket WHERE tenant_id = 1 AND center_id = 1 AND phase <> 'finished';
RESET enable_seqscan;
RESET enable_sort;

-- Both generated columns and the checked ones cost no expression planning
-- per statement: phase and reference are computed by C functions, and the
-- weights, the stage, the load counters and the outbox's event, channel,
-- recipient and language are domains, not CHECKs on the table (PostgreSQL
-- 15 plans those again for every statement that writes a row). The reference is what the CASE it replaced gave, digit for digit,
-- but for a negative number of seven characters or more (no sequence gives
-- one), which lpad cut to six and which keeps all its digits since 0.10, so
-- that no two numbers share a reference.
SELECT ticket_reference_of(42) AS small, ticket_reference_of(999999) AS last_padded,
       ticket_reference_of(1000000) AS first_long, ticket_reference_of(1234567890123) AS longer;
SELECT count(*) AS differs
  FROM generate_series(-99999, 3000000, 997) AS i
 WHERE ticket_reference_of(i)
       IS DISTINCT FROM 'TD-' || CASE WHEN i < 1000000 THEN lpad(i::text, 6, '0') ELSE i::text END;
SELECT count(*) AS long_negatives, count(*) FILTER (WHERE ticket_reference_of(i) = 'TD-' || i::text) AS kept_whole
  FROM generate_series(-1234567, -100000, 997) AS i;
SELECT reference = ticket_reference_of(ticket_id) AS stored_as_computed FROM ticket WHERE ticket_id = 1;
SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS generated_by
  FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'ticket'::regclass AND a.attgenerated = 's' ORDER BY a.attname;
-- What remains as table CHECKs on the hot path: the outbox's two rules over
-- several columns (a domain sees one value).
SELECT conrelid::regclass AS "table", conname FROM pg_constraint
 WHERE conrelid IN ('ticket'::regclass, 'agent_load'::regclass, 'outbox'::regclass, 'ticket_event'::regclass)
   AND contype = 'c'
 ORDER BY 1, 2;
