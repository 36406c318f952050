\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- Reminders (R23, R31) and the escalation ladder for overdue tickets (R28,
-- R32). Both jobs record notices, each exactly once, for the notification
-- outbox to deliver. as_of moves through the week of 9 March 2026 on the
-- Vilnius calendar (lunch 12:00-12:45, 11 March a holiday).
SET timezone = 'Europe/Vilnius';
SELECT create_calendar('vilnius', 'Vilnius office', 'Europe/Vilnius',
                       'mon-fri 08:00-12:00, 12:45-17:00') AS vln \gset
SELECT add_holiday(:vln, '2020-03-11', 'Restoration of Independence', yearly => true);
INSERT INTO center (code, name) VALUES ('it', 'IT support') RETURNING center_id AS it \gset
SELECT set_center_calendar(:it, :vln);
-- Ada works for Sue; Bob, the dispatcher, delegates work to Ada.
INSERT INTO agent (name, email) VALUES ('Sue', 'sue@example.com') RETURNING agent_id AS sue \gset
INSERT INTO agent (name, email, supervisor_id) VALUES ('Ada', 'ada@example.com', :sue) RETURNING agent_id AS ada \gset
INSERT INTO agent (name, email) VALUES ('Bob', 'bob@example.com') RETURNING agent_id AS bob \gset
CREATE OR REPLACE FUNCTION who(ids bigint[]) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(a.name, ', ' ORDER BY a.name) FROM agent a WHERE a.agent_id = ANY (ids)
$$;

-- Bob delegates a task to Ada, due Tuesday 10 March at 12:00, planned for
-- Monday 9 March 14:00-16:00.
INSERT INTO ticket (center_id, type_id, requester_agent_id, subject, deadline, planned, created_at)
SELECT :it, type_id, :bob, 'Replace the router', '2026-03-10 12:00', '[2026-03-09 14:00, 2026-03-09 16:00]', '2026-03-02 09:00'
  FROM ticket_type WHERE code = 'task' RETURNING ticket_id AS router \gset
SET ticketdesk.agent = :bob;
SELECT (assign(:router, :ada)).status;
RESET ticketdesk.agent;

-- Reminders: an hour before the planned start to Ada; two hours before the
-- deadline to Ada and Bob; and at a fixed moment to Bob.
SELECT add_reminder(:router, 'planned_start', '1 hour') AS r1 \gset
SELECT add_reminder(:router, 'deadline', '2 hours', to_delegator => true) AS r2 \gset
SELECT add_reminder(:router, 'fixed', remind_at => '2026-03-10 08:00', to_assignee => false, to_delegator => true) AS r3 \gset

SELECT send_reminders('2026-03-09 12:59') AS sent;
SELECT send_reminders('2026-03-09 13:00') AS sent;
SELECT send_reminders('2026-03-10 10:00') AS sent;
SELECT n.key::bigint - :r1 + 1 AS reminder, n.due_at, who(n.agent_ids)
  FROM automation_notice n WHERE n.kind = 'reminder' ORDER BY n.due_at, n.key;
SELECT send_reminders('2026-03-10 10:00') AS "again";

-- The escalation ladder: at the deadline the assignee and the delegator
-- hear of it; 4 working hours later, the assignee's supervisor.
INSERT INTO escalation_level (level, after, notify) VALUES
    (1, '0', 'assignee_and_delegator'),
    (2, '4 hours', 'supervisor');
SELECT escalate_overdue('2026-03-10 11:59') AS notices;
SELECT escalate_overdue('2026-03-10 12:00') AS notices;
-- The lunch break does not count: level 2 is due at 16:45, not 16:00.
SELECT escalate_overdue('2026-03-10 16:44') AS notices;
SELECT escalate_overdue('2026-03-10 16:45') AS notices;
SELECT escalate_overdue('2026-03-20 10:00') AS "again";
SELECT n.key, n.due_at, who(n.agent_ids)
  FROM automation_notice n WHERE n.kind = 'escalation' ORDER BY n.key;

-- A ticket due Tuesday 17:00 skips the holiday: level 2 on Thursday 12 at 12:00.
INSERT INTO ticket (center_id, type_id, requester_agent_id, subject, deadline, assignee_id, created_at)
SELECT :it, type_id, :bob, 'Order toner', '2026-03-10 17:00', :ada, '2026-03-02 09:00'
  FROM ticket_type WHERE code = 'task' RETURNING ticket_id AS toner \gset
SELECT escalate_overdue('2026-03-12 11:59') AS notices, escalate_overdue('2026-03-12 12:00') AS notices;
-- A resolved ticket is not overdue.
SELECT (start_work(:toner)).status, (resolve(:toner, 'Ordered')).status;
INSERT INTO ticket (center_id, type_id, requester_agent_id, subject, deadline, assignee_id, created_at)
SELECT :it, type_id, :bob, 'Clean the server room', '2026-03-10 17:00', :ada, '2026-03-02 09:00'
  FROM ticket_type WHERE code = 'task' RETURNING ticket_id AS clean \gset
SELECT (start_work(:clean)).status, (resolve(:clean, 'Clean')).status;
SELECT escalate_overdue('2026-03-31 12:00') AS notices;

-- Without a configured ladder, the deadline alone tells the assignee and the delegator.
DELETE FROM escalation_level;
INSERT INTO ticket (center_id, type_id, requester_agent_id, subject, deadline, assignee_id, created_at)
SELECT :it, type_id, :bob, 'Renew the certificate', '2026-03-13 12:00', :ada, '2026-03-02 09:00'
  FROM ticket_type WHERE code = 'task' RETURNING ticket_id AS cert \gset
SELECT escalate_overdue('2026-03-31 12:00') AS notices;
SELECT n.key, who(n.agent_ids) FROM automation_notice n WHERE n.ticket_id = :cert;

-- Each notice went to the notification outbox once, per recipient, in the
-- same transaction (issue 5 delivers them).
SELECT o.event, o.recipient, o.subject, o.status FROM outbox_message o
 WHERE o.event IN ('due_reminder', 'escalation') ORDER BY o.outbox_id;
SELECT count(*) AS notices, (SELECT count(*) FROM outbox o WHERE o.event IN ('due_reminder', 'escalation')) AS messages
  FROM automation_notice;

-- Refusals.
SELECT add_reminder(:cert, 'planned_start', '1 hour');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_reminder(:cert, 'deadline', '-1 hour');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_reminder(:cert, 'fixed');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_reminder(:cert, 'deadline', to_assignee => false);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO escalation_level (level, after, notify) VALUES (3, '2 days', 'supervisor');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Priority ageing (with the priority matrix of issue 3): as a deadline comes
-- within ticketdesk.deadline_near, the priority goes up one level; a passed
-- deadline, two. The job writes what the matrix computes now.
SELECT (open_ticket('Prepare the audit', :it, type => 'task', requester_agent_id => :bob,
                    deadline => now() + interval '2 days')).ticket_id AS audit \gset
SELECT (open_ticket('Frame the certificate', :it, type => 'task', requester_agent_id => :bob,
                    deadline => now() + interval '2 days')).ticket_id AS frame \gset
SELECT priority FROM fix_priority(:frame, 'low');
SELECT priority FROM ticket WHERE ticket_id = :audit;
SELECT age_priorities() AS aged;
-- Make "near" three days: the audit is now near its deadline.
SET ticketdesk.deadline_near = '3d';
SELECT age_priorities() AS aged, age_priorities() AS "again";
SELECT subject, priority, priority_fixed FROM ticket WHERE ticket_id IN (:audit, :frame) ORDER BY ticket_id;
SELECT note FROM ticket_history(:audit) WHERE kind = 'priority';
RESET ticketdesk.deadline_near;
SELECT age_priorities('2026-03-01');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
