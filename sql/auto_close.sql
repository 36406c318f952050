\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- Auto-confirm and auto-close (R22): a resolved ticket the requester has not
-- answered for N business days is confirmed, after a reminder; a confirmed
-- ticket is closed after M more. The jobs take as_of, so this story moves
-- through March 2026 on the Vilnius calendar (weekdays and Saturday
-- mornings; 11 March is a holiday).
SET timezone = 'Europe/Vilnius';
SELECT create_calendar('vilnius', 'Vilnius office', 'Europe/Vilnius',
                       'mon-fri 08:00-12:00, 12:45-17:00; sat 09:00-13:00') AS vln \gset
SELECT add_holiday(:vln, '2020-03-11', 'Restoration of Independence', yearly => true);
INSERT INTO center (code, name) VALUES ('it', 'IT support') RETURNING center_id AS it \gset
SELECT set_center_calendar(:it, :vln);
INSERT INTO agent (name) VALUES ('Ada') RETURNING agent_id AS ada \gset
INSERT INTO customer (name) VALUES ('ACME') RETURNING customer_id AS acme \gset
INSERT INTO contact (customer_id, name, email) VALUES (:acme, 'Carla', 'carla@acme.test') RETURNING contact_id AS carla \gset
INSERT INTO contact (customer_id, name) VALUES (:acme, 'Dan') RETURNING contact_id AS dan \gset

-- Confirm after 3 business days, remind 1 day before; close 2 days later.
INSERT INTO closing_rule (center_id, confirm_after_days, remind_before_days, close_after_days)
VALUES (:it, 3, 1, 2);
-- The centre's service requests are confirmed after one day and never closed
-- automatically: the row for the centre and the type is the most specific.
INSERT INTO closing_rule (center_id, type_id, confirm_after_days)
SELECT :it, type_id, 1 FROM ticket_type WHERE code = 'service_request';

-- Four tickets of Carla's, all resolved on Monday 9 March at 15:00. The
-- lifecycle trigger stamps the real time of every move, so the month's
-- resolutions are scripted: written as a restore writes them, with the
-- trigger off (session_replication_role = replica).
CREATE OR REPLACE FUNCTION scripted_resolve(tid bigint, at timestamptz) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    old ticket_status := (SELECT k.status FROM ticket k WHERE k.ticket_id = tid);
BEGIN
    SET LOCAL session_replication_role = replica;
    UPDATE ticket k SET status = 'resolved', resolution = 'Done', resolved_at = at WHERE k.ticket_id = tid;
    INSERT INTO ticket_event (ticket_id, at, kind, old_value, new_value) VALUES (tid, at, 'status', old, 'resolved');
    SET LOCAL session_replication_role = origin;
END $$;
CREATE OR REPLACE FUNCTION resolved_ticket(subject text) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    id bigint := (open_ticket(subject, (SELECT center_id FROM center WHERE code = 'it'),
                              contact_id => (SELECT contact_id FROM contact WHERE name = 'Carla'),
                              assignee_id => (SELECT agent_id FROM agent WHERE name = 'Ada'))).ticket_id;
BEGIN
    PERFORM start_work(id);
    PERFORM scripted_resolve(id, '2026-03-09 15:00');
    RETURN id;
END $$;
SELECT resolved_ticket('Mailbox full') AS quiet \gset
SELECT resolved_ticket('Screen flickers') AS replied \gset
SELECT resolved_ticket('Password reset') AS internal_note \gset
SELECT resolved_ticket('Printer jams') AS reopened \gset

-- Staff remarks do not stop the clock; Dan, of the same customer, answers on
-- "Screen flickers" on Tuesday.
SELECT comment(:internal_note, 'Checked the logs', internal => true, author_agent_id => :ada) IS NOT NULL AS remark;
INSERT INTO message (ticket_id, author_contact_id, body, created_at)
VALUES (:replied, :dan, 'It still flickers!', '2026-03-10 09:00');
-- "Printer jams" is reopened on Tuesday and resolved again on Thursday 12 March at 10:00.
SELECT (reopen(:reopened, 'The roller is worn')).status;
SELECT scripted_resolve(:reopened, '2026-03-12 10:00');

-- Tuesday 10 March: one business day has passed, nothing is due.
SELECT auto_confirm('2026-03-10 16:00') AS confirmed;
SELECT count(*) AS notices FROM automation_notice;
-- Thursday 12 March 15:00 (11 March is a holiday): two business days; the
-- reminders go to the requesters who have not answered.
SELECT auto_confirm('2026-03-12 15:00') AS confirmed;
SELECT k.subject, n.kind, n.due_at, n.contact_ids = ARRAY[:carla]::bigint[] AS to_carla
  FROM automation_notice n JOIN ticket k USING (tenant_id, ticket_id) ORDER BY k.ticket_id;
-- Each reminder is a mail to Carla in the outbox.
SELECT o.recipient, o.subject FROM outbox_message o WHERE o.event = 'confirm_reminder' ORDER BY o.subject;
-- Run again: nothing twice.
SELECT auto_confirm('2026-03-12 15:00') AS confirmed;
SELECT count(*) AS notices, (SELECT count(*) FROM outbox o WHERE o.event = 'confirm_reminder') AS mails
  FROM automation_notice;
-- Friday 13 March 14:59: not yet. 15:00: three business days.
SELECT auto_confirm('2026-03-13 14:59') AS confirmed;
SELECT auto_confirm('2026-03-13 15:00') AS confirmed;
SELECT subject, status, confirmed_at > resolved_at AS stamped_by_the_move FROM ticket ORDER BY ticket_id;
-- The history says why.
SELECT k.subject, e.old_value, e.new_value, e.note
  FROM ticket_event e JOIN ticket k USING (tenant_id, ticket_id)
 WHERE e.kind = 'status' AND e.new_value = 'confirmed' ORDER BY k.ticket_id;
SELECT auto_confirm('2026-03-13 15:00') AS "again";

-- Auto-close counts two business days from the confirmation, which the
-- trigger stamped with the real time the job ran: half a day later nothing
-- is due, ten days later both are closed, once.
SELECT auto_close(now() + interval '12 hours') AS closed;
SELECT auto_close(now() + interval '10 days') AS closed;
SELECT subject, status FROM ticket WHERE status IN ('confirmed', 'closed') ORDER BY ticket_id;
SELECT auto_close(now() + interval '10 days') AS "again";

-- The reopened ticket counts from its second resolution (Thursday 12 10:00):
-- reminded Saturday 14 10:00, confirmed Monday 16 10:00, then closed.
SELECT auto_confirm('2026-03-14 10:00') AS confirmed;
SELECT n.due_at AS printer_reminder FROM automation_notice n WHERE n.ticket_id = :reopened;
SELECT auto_confirm('2026-03-16 09:59') AS confirmed, auto_confirm('2026-03-16 10:00') AS confirmed;
SELECT auto_close(now() + interval '10 days') AS closed;
-- Dan's reply keeps "Screen flickers" resolved, however long it waits.
SELECT auto_confirm('2026-04-30 12:00') AS confirmed;
SELECT subject, status FROM ticket WHERE ticket_id = :replied;

-- A service request is confirmed after one business day (Saturday morning
-- counts) and stays confirmed.
SELECT (open_ticket('New laptop', :it, type => 'service_request', contact_id => :carla,
                    assignee_id => :ada)).ticket_id AS laptop \gset
SELECT (start_work(:laptop)).status;
SELECT scripted_resolve(:laptop, '2026-03-20 10:00');
SELECT auto_confirm('2026-03-21 09:59') AS confirmed, auto_confirm('2026-03-21 10:00') AS confirmed,
       auto_close(now() + interval '1 year') AS closed;
SELECT status FROM ticket WHERE ticket_id = :laptop;

-- Refusals at configuration time.
INSERT INTO closing_rule (type_id, close_after_days) SELECT type_id, -1 FROM ticket_type WHERE code = 'task';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO closing_rule (type_id, confirm_after_days, remind_before_days) SELECT type_id, 2, 2 FROM ticket_type WHERE code = 'task';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
