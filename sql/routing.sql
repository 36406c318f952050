-- Routing: workflows by profile (R39-R45), least-loaded and previous-handler
-- assignment, with the dispatcher queue and the administrator as fallbacks.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- A service centre with a dispatcher, a northern branch below it, and a
-- southern centre on its own without a dispatcher.
INSERT INTO center (code, name) VALUES ('service', 'Field service');
INSERT INTO center (code, name, parent_id) VALUES ('north', 'North branch', 1);
INSERT INTO center (code, name) VALUES ('south', 'South depot');
INSERT INTO agent (name) VALUES ('Dana'), ('Eli'), ('Fay'), ('Gus'), ('Ivy'), ('Ada'), ('Hal');
INSERT INTO center_member (center_id, agent_id, role)
VALUES (1, 1, 'dispatcher'), (1, 2, 'executor'), (2, 3, 'executor'), (1, 4, 'executor'),
       (1, 5, 'executor'), (3, 7, 'executor');
INSERT INTO profile (kind, code, name)
VALUES ('employee', 'fitter', 'Fitter'), ('employee', 'inspector', 'Inspector');
-- Eli, Fay, Gus and Hal are fitters; Eli and Ivy inspect.
INSERT INTO agent_profile (agent_id, profile_id) VALUES (2, 1), (3, 1), (4, 1), (7, 1), (2, 2), (5, 2);
INSERT INTO customer (name) VALUES ('Acme'), ('Globex');

-- Every agent has a load counter from the start.
SELECT agent_id, open_tickets, weighted_load, load_cap FROM agent_load ORDER BY agent_id;

-- A repair is fitted, then inspected (R39). A claim first goes through an
-- intake stage that no profile handles.
SELECT create_workflow('repair', 'Repair', ARRAY['fitter', 'inspector']) AS repair;
SELECT create_workflow('claim', 'Warranty claim', ARRAY[NULL, 'fitter'], ARRAY['Intake', 'Fix']) AS claim;
SELECT w.code, s.position, s.name, p.code AS profile
  FROM workflow w JOIN workflow_stage s USING (tenant_id, workflow_id)
  LEFT JOIN profile p USING (tenant_id, profile_id)
 ORDER BY w.workflow_id, s.position;
INSERT INTO ticket_type (code, name, workflow_id) VALUES ('repair', 'Repair', 1), ('claim', 'Warranty claim', 2);

-- Gus is on holiday this week.
INSERT INTO agent_absence (agent_id, during, reason)
VALUES (4, tstzrange(now() - interval '1 day', now() + interval '6 days'), 'holiday');

-- The reasons a ticket was routed, from its history.
CREATE FUNCTION routing_of(ticket bigint) RETURNS TABLE (kind text, new_value text, note text)
    LANGUAGE sql AS $$
    SELECT kind, new_value, note FROM ticketdesk.ticket_history(ticket)
     WHERE kind IN ('routing', 'stage', 'assignee') ORDER BY event_id
$$;

-- 1. The requester picks Eli (R04): an explicit choice wins, nothing is routed.
SELECT ticket_id, status, assignee_id, stage
  FROM open_ticket(subject => 'Radiator cold', center_id => 2, customer_id => 1, type => 'repair', assignee_id => 2);
SELECT * FROM routing_of(1);

-- 2. Opened without an assignee, the ticket goes to a holder of the first
-- stage's profile (R40) in the centre or above: Fay has no ticket, Eli one,
-- Gus is absent and Hal works elsewhere. The least loaded wins (R43).
SELECT ticket_id, status, assignee_id, stage
  FROM open_ticket(subject => 'Tap drips', center_id => 2, customer_id => 1, type => 'repair');
SELECT * FROM routing_of(2);

-- 3. Equal loads rotate: Eli was assigned longer ago than Fay.
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Boiler noisy', center_id => 2, customer_id => 2, type => 'repair');
SELECT * FROM routing_of(3);
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Pipe frozen', center_id => 2, customer_id => 2, type => 'repair');
SELECT * FROM routing_of(4);

-- 4. Fay may hold at most two tickets: at her cap she is skipped.
UPDATE agent_load SET load_cap = 2 WHERE agent_id = 3;
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Valve stuck', center_id => 2, customer_id => 2, type => 'repair');
SELECT * FROM routing_of(5);
-- The dispatcher's view of who could take it, and why not (R50).
SELECT * FROM stage_candidates(5);

-- 5. Eli works only on the other days of the week: outside his hours, and
-- with Fay at her cap, nobody is available. The ticket waits in the
-- dispatcher queue of the centre above (R03).
INSERT INTO agent_hours (agent_id, weekday, starts, ends)
SELECT 2, d, '00:00', '24:00' FROM generate_series(1, 7) AS d
 WHERE d <> extract(isodow FROM now() AT TIME ZONE 'UTC');
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Heater smells', center_id => 2, customer_id => 2, type => 'repair');
SELECT * FROM routing_of(6);
DELETE FROM agent_hours;
SELECT * FROM stage_candidates(6);

-- 6. Finishing a stage, "automatic" (R42): Eli fitted ticket 3 and is also
-- an inspector, so he keeps it for inspection although Ivy has less work
-- (R44). Fay is no inspector, so her ticket 2 goes to the least loaded one.
SELECT ticket_id, status, assignee_id, stage FROM advance(3);
SELECT * FROM routing_of(3);
SELECT ticket_id, status, assignee_id, stage FROM advance(2, note => 'Washer replaced');
SELECT * FROM routing_of(2);

-- 7. After the last stage the ticket is resolved; its resolution says what was done.
SELECT status FROM start_work(3);
SELECT ticket_id, status, assignee_id, resolution FROM advance(3, resolution => 'Burner cleaned, inspected');

-- 8. Naming the next handler (R42): Fay hands ticket 4 to Ivy herself.
SELECT ticket_id, status, assignee_id, stage FROM advance(4, next_agent_id => 5);
SELECT * FROM routing_of(4);

-- 9. An intake stage without a profile goes to the dispatcher queue (R45)...
SELECT ticket_id, status, assignee_id, stage
  FROM open_ticket(subject => 'Claim: pump failed', center_id => 2, customer_id => 1, type => 'claim');
SELECT * FROM routing_of(7);
-- ... or, where no dispatcher serves the centre, stays unassigned until the
-- tenant names an administrator, who then receives such tickets (R03).
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Claim: fan broken', center_id => 3, customer_id => 1, type => 'claim');
SELECT * FROM routing_of(8);
INSERT INTO routing_policy (admin_agent_id) VALUES (6);
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Claim: door jammed', center_id => 3, customer_id => 2, type => 'claim');
SELECT * FROM routing_of(9);
-- A ticket without a workflow in a centre without a dispatcher also reaches
-- the administrator; where a dispatcher is, it waits in the queue as before.
SELECT ticket_id, status, assignee_id FROM open_ticket(subject => 'Noise', center_id => 3, customer_id => 2);
SELECT * FROM routing_of(10);
SELECT ticket_id, status, assignee_id FROM open_ticket(subject => 'Noise', center_id => 1, customer_id => 2);
SELECT * FROM routing_of(11);

-- Automatic routing resumes at the next stage: the dispatcher assigns the
-- intake to herself, then finishes it; Hal is the south's only fitter.
SELECT status, assignee_id FROM assign(7, 1, 'Intake checked');
SELECT ticket_id, status, assignee_id, stage FROM advance(7);
SELECT * FROM routing_of(7);
SELECT ticket_id, status, assignee_id, stage FROM advance(9);
SELECT * FROM routing_of(9);

-- 10. Customer affinity (R44): Fay's cap is lifted, so she has the least
-- load; yet a follow-up linked to Globex's ticket 5 goes to Eli, the fitter
-- who handled Globex most recently. An unlinked Globex ticket goes by load.
UPDATE agent_load SET load_cap = NULL WHERE agent_id = 3;
SELECT agent_id, open_tickets FROM agent_load WHERE agent_id IN (2, 3) ORDER BY agent_id;
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Follow-up: valve', center_id => 2, customer_id => 2, type => 'repair', parent_id => 5);
SELECT * FROM routing_of(12);
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Another valve', center_id => 2, customer_id => 2, type => 'repair');
SELECT * FROM routing_of(13);

-- 11. Bad input. "Automatic" on the last stage has nowhere to go:
SELECT * FROM advance(2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM advance(2, next_agent_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- a resolution finishes only the last stage:
SELECT * FROM advance(12, resolution => 'Done');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Hal works in the south, not in the ticket's centre tree:
SELECT * FROM advance(12, next_agent_id => 7);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- an agent of another tenant:
SELECT create_tenant('other', 'Other company') AS other_tenant;
INSERT INTO agent (tenant_id, name) VALUES (2, 'Stranger');
SELECT * FROM advance(12, next_agent_id => 8);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- a ticket whose type has no workflow, and a finished one:
SELECT * FROM advance(10);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM advance(3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- workflows with repeated or missing positions, or unknown profiles:
BEGIN;
INSERT INTO workflow (code, name) VALUES ('twice', 'Two firsts');
INSERT INTO workflow_stage (workflow_id, position, name, profile_id)
VALUES (currval('workflow_workflow_id_seq'), 1, 'A', 1), (currval('workflow_workflow_id_seq'), 1, 'B', 2);
COMMIT;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
INSERT INTO workflow (code, name) VALUES ('gap', 'With a gap');
INSERT INTO workflow_stage (workflow_id, position, name, profile_id)
VALUES (currval('workflow_workflow_id_seq'), 1, 'A', 1), (currval('workflow_workflow_id_seq'), 3, 'C', 2);
COMMIT;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_workflow('empty', 'No stages', ARRAY[]::text[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_workflow('odd', 'Unknown profile', ARRAY['fitter', 'juggler']);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Removing a stage leaves a gap, unless the others are renumbered in the
-- same transaction.
DELETE FROM workflow_stage WHERE workflow_id = 1 AND position = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS workflows FROM workflow;

-- 12. Loads weighted by priority (optional; low 1, normal 2, high 3,
-- urgent 4): Fay holds fewer tickets, but both are urgent, so Eli's three
-- normal ones weigh less.
UPDATE ticket SET priority = 'urgent', priority_fixed = true WHERE ticket_id IN (7, 13);
UPDATE routing_policy SET weigh_by_priority = true;
SELECT agent_id, open_tickets, weighted_load FROM agent_load WHERE agent_id IN (2, 3) ORDER BY agent_id;
SELECT ticket_id, assignee_id
  FROM open_ticket(subject => 'Weighed', center_id => 2, customer_id => 2, type => 'repair');
SELECT * FROM routing_of(14);

-- 13. The counters are kept by the trigger, never counted: they equal the
-- truth after all of the above, and rebuild_loads finds nothing to fix.
SELECT l.agent_id, l.open_tickets, l.weighted_load,
       (SELECT count(*) FROM ticket k WHERE k.assignee_id = l.agent_id
           AND k.status IN ('assigned', 'acknowledged', 'in_progress')) AS true_count
  FROM agent_load l WHERE l.tenant_id = 1 ORDER BY l.agent_id;
SELECT rebuild_loads() AS corrected;
-- A counter that went wrong (here by hand) is corrected.
UPDATE agent_load SET open_tickets = 99 WHERE agent_id = 2;
SELECT rebuild_loads() AS corrected;
SELECT open_tickets FROM agent_load WHERE agent_id = 2;

-- 14. Who holds which profile where is cached per session, and any change
-- to agents, profiles, memberships or centres is seen at once: Kim joins
-- the north as a fitter and, with no load, gets the next repair; once
-- deactivated she is no longer picked.
INSERT INTO agent (name) VALUES ('Kim');
INSERT INTO center_member (center_id, agent_id, role) VALUES (2, 9, 'executor');
INSERT INTO agent_profile (agent_id, profile_id) VALUES (9, 1);
SELECT ticket_id, assignee_id
  FROM open_ticket(subject => 'New fitter', center_id => 2, customer_id => 2, type => 'repair');
UPDATE agent SET active = false WHERE agent_id = 9;
SELECT ticket_id, assignee_id
  FROM open_ticket(subject => 'Kim is gone', center_id => 2, customer_id => 2, type => 'repair');
SELECT * FROM routing_of(16);

-- 15. What routing reads of the configuration is cached per session as well
-- (a type's workflow stage, a centre's dispatchers, the tenant's
-- administrator), and a change to any of it is seen at once. Eli becomes
-- the administrator: the next ticket without a workflow in the south is his.
UPDATE routing_policy SET admin_agent_id = 2;
SELECT ticket_id, status, assignee_id FROM open_ticket(subject => 'Hum', center_id => 3, customer_id => 2);
SELECT * FROM routing_of(17);
-- The claim's intake stage is renamed and the south gets a dispatcher: the
-- next claim there waits in the queue, under the stage's new name.
UPDATE workflow_stage SET name = 'Reception' WHERE workflow_id = 2 AND position = 1;
INSERT INTO center_member (center_id, agent_id, role) VALUES (3, 6, 'dispatcher');
SELECT ticket_id, status, assignee_id, stage
  FROM open_ticket(subject => 'Claim: hinge', center_id => 3, customer_id => 1, type => 'claim');
SELECT * FROM routing_of(18);
-- Fitters are called mechanics now; the claim's next stage names them so.
UPDATE profile SET code = 'mechanic' WHERE code = 'fitter';
SELECT status, assignee_id FROM assign(18, 6, 'Intake checked');
SELECT ticket_id, status, assignee_id, stage FROM advance(18);
SELECT * FROM routing_of(18);
-- Repairs take the claim's workflow: the next one starts at its reception.
UPDATE ticket_type SET workflow_id = 2 WHERE code = 'repair';
SELECT ticket_id, status, assignee_id, stage
  FROM open_ticket(subject => 'Valve again', center_id => 2, customer_id => 2, type => 'repair');
SELECT * FROM routing_of(19);

-- 16. The counters are written without an SQL statement, the way logical
-- replication applies a row (src/direct_write.c): the row is found and
-- locked through the primary key, agent_load's row triggers fire (those
-- of UPDATE OF the counters; not those of UPDATE OF other columns, as for
-- an UPDATE of the counters), and the domain load_count still refuses a
-- counter below zero, with nothing of the move left behind.
SELECT ticket_id AS t16
  FROM open_ticket(subject => 'Counted', center_id => 2, customer_id => 2, type => 'repair', assignee_id => 2) \gset
CREATE FUNCTION load_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'agent % holds % now', NEW.agent_id, NEW.open_tickets;
    RETURN NEW;
END $$;
CREATE TRIGGER load_seen BEFORE UPDATE OF open_tickets ON agent_load FOR EACH ROW EXECUTE FUNCTION load_seen();
CREATE FUNCTION load_cap_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'the cap of agent % changed', NEW.agent_id;
    RETURN NEW;
END $$;
CREATE TRIGGER load_cap_seen BEFORE UPDATE OF load_cap ON agent_load FOR EACH ROW EXECUTE FUNCTION load_cap_seen();
-- Reassigned from 2 to 3: the lower agent id first.
UPDATE ticket SET assignee_id = 3 WHERE ticket_id = :t16;
-- A counter set wrong by hand: moving the ticket back would take agent 3
-- below zero.
UPDATE agent_load SET open_tickets = 0 WHERE agent_id = 3;
\set VERBOSITY terse
UPDATE ticket SET assignee_id = 2 WHERE ticket_id = :t16;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT assignee_id FROM ticket WHERE ticket_id = :t16;
DROP TRIGGER load_seen ON agent_load;
DROP FUNCTION load_seen();
DROP TRIGGER load_cap_seen ON agent_load;
DROP FUNCTION load_cap_seen();
SELECT rebuild_loads() AS corrected;
