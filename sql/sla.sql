\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- SLA clocks in business time, computed from the ticket history: they pause
-- while a ticket waits on the customer and resume where they stopped.
-- The IT centre works by the Vilnius calendar (08:00-12:00, 12:45-17:00 on
-- weekdays, 09:00-13:00 on Saturdays, 11 March a holiday).
SET timezone = 'Europe/Vilnius';
SELECT create_calendar('vilnius', 'Vilnius office', 'Europe/Vilnius',
                       'mon-fri 08:00-12:00, 12:45-17:00; sat 09:00-13:00') AS vln \gset
SELECT add_holiday(:vln, '2020-03-11', 'Restoration of Independence', yearly => true);
INSERT INTO center (code, name) VALUES ('it', 'IT support') RETURNING center_id AS it \gset
SELECT set_center_calendar(:it, :vln);
INSERT INTO agent (name) VALUES ('Ada') RETURNING agent_id AS ada \gset
SELECT type_id AS incident FROM ticket_type WHERE code = 'incident' \gset

-- Targets: 2 working hours to respond and 16 to resolve; urgent tickets 1 and 8.
INSERT INTO sla_target (center_id, first_response, resolution) VALUES (:it, '2 hours', '16 hours');
INSERT INTO sla_target (center_id, priority, first_response, resolution) VALUES (:it, 'urgent', '1 hour', '8 hours');

-- The month's history is scripted: tickets opened at given moments, and
-- status rows written with their own times, as a restore would write them.
CREATE OR REPLACE FUNCTION scripted_move(tid bigint, status ticket_status, at timestamptz) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    old ticket_status;
BEGIN
    SET LOCAL session_replication_role = replica;
    SELECT k.status INTO old FROM ticket k WHERE k.ticket_id = tid;
    UPDATE ticket k SET status = scripted_move.status WHERE k.ticket_id = tid;
    INSERT INTO ticket_event (ticket_id, at, kind, old_value, new_value) VALUES (tid, at, 'status', old, status);
    SET LOCAL session_replication_role = origin;
END $$;

-- Monday 2 March, 09:00: a printer ticket arrives, assigned to Ada.
INSERT INTO ticket (center_id, type_id, requester_agent_id, subject, assignee_id, created_at)
VALUES (:it, :incident, :ada, 'Printer jams', :ada, '2026-03-02 09:00') RETURNING ticket_id AS printer \gset
SELECT response_due, response_state, resolution_due, elapsed, remaining, resolution_state
  FROM ticket_sla(:printer, '2026-03-02 10:00');
-- Ada starts work at 11:00: the response target is met.
SELECT scripted_move(:printer, 'in_progress', '2026-03-02 11:00');
SELECT responded_at, response_state, elapsed, resolution_state FROM ticket_sla(:printer, '2026-03-02 12:30');
-- Tuesday 10:00 she waits for the customer. The lunch break never counted:
-- Monday gave 7h15, Tuesday 2h.
SELECT scripted_move(:printer, 'waiting', '2026-03-03 10:00');
SELECT resolution_due, elapsed, remaining, resolution_state FROM ticket_sla(:printer, '2026-03-06 12:00');
-- Monday 9 March 10:00 the customer answers and work resumes: the clock goes
-- on from 9h15, and the deadline is Tuesday 08:30 (6h15 on Monday, 30 minutes on Tuesday).
SELECT scripted_move(:printer, 'in_progress', '2026-03-09 10:00');
SELECT resolution_due, elapsed, remaining, resolution_state FROM ticket_sla(:printer, '2026-03-09 12:00');
SELECT resolution_due, elapsed, remaining, resolution_state FROM ticket_sla(:printer, '2026-03-10 09:00');
-- A longer target recomputes the clock from the history; the paused days stay paused.
UPDATE sla_target SET resolution = '24 hours' WHERE center_id = :it AND priority IS NULL;
SELECT resolution_due, elapsed, remaining, resolution_state FROM ticket_sla(:printer, '2026-03-10 09:00');
-- So does a change of priority: urgent tickets have 8 hours.
SELECT priority FROM fix_priority(:printer, 'urgent');
SELECT resolution_target, resolution_due, remaining, resolution_state FROM ticket_sla(:printer, '2026-03-10 09:00');
SELECT priority FROM release_priority(:printer);

-- Friday 27 March 16:00, the last working hour before the DST weekend: the
-- response is due at 17:00, the resolution (24h) runs through Saturday's
-- 4 hours and three more days, in summer time.
INSERT INTO ticket (center_id, type_id, requester_agent_id, subject, created_at)
VALUES (:it, :incident, :ada, 'VPN down', '2026-03-27 16:00') RETURNING ticket_id AS vpn \gset
SELECT response_due, resolution_due, elapsed FROM ticket_sla(:vpn, '2026-03-30 09:00');
-- A public remark by an agent is a first response too.
INSERT INTO agent (name) VALUES ('Bob') RETURNING agent_id AS bob \gset
INSERT INTO message (ticket_id, author_agent_id, body, created_at) VALUES (:vpn, :bob, 'Looking at it', '2026-03-30 08:30');
SELECT responded_at, response_state FROM ticket_sla(:vpn, '2026-03-30 09:00');

-- The open tickets' clocks at one moment, most pressing first.
SELECT reference, status, response_state, resolution_due, remaining, resolution_state
  FROM sla_clocks('2026-03-30 09:00');
-- A ticket of a centre without a target has no clock.
INSERT INTO center (code, name) VALUES ('hr', 'Human resources') RETURNING center_id AS hr \gset
INSERT INTO ticket (center_id, type_id, requester_agent_id, subject) VALUES (:hr, :incident, :ada, 'Payslip');
SELECT count(*) AS clocks FROM sla_clocks('2026-03-30 09:00');
-- The view shows the clocks now.
SELECT count(*) AS rows_now FROM sla_status;

-- Refusals at configuration time.
INSERT INTO sla_target (center_id, type_id, first_response, resolution) VALUES (:it, :incident, '0', '8 hours');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO sla_target (center_id, type_id, first_response, resolution) VALUES (:it, :incident, '1 hour', '-8 hours');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO sla_target (center_id, type_id, first_response, resolution) VALUES (:it, :incident, '1 hour', '3 days');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM ticket_sla(999999);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
