-- ticketdesk: a guided tour. Run it with tour/run on a throwaway cluster.
\set ON_ERROR_STOP on
\pset footer off
CREATE EXTENSION ticketdesk;
SET search_path = ticketdesk, public;

-- 1. The organisation. One database can serve several organisations
--    (tenants); a single one never has to think about it: tenant 1 exists.
SELECT tenant_id, code, name FROM tenant;

-- A tree of service centres (R15) with a dispatcher and two executors.
INSERT INTO center (code, name, email) VALUES ('hq', 'Head office', 'help@example.com');
INSERT INTO center (code, name, parent_id) VALUES ('heating', 'Heating service', 1);
INSERT INTO agent (name, email, phone, language)
VALUES ('Dana Dispatcher', 'dana@example.com', '+37060000010', 'en'),
       ('Eli Executor', 'eli@example.com', '+37060000011', 'lt'),
       ('Fay Fixer', 'fay@example.com', '+37060000012', 'pl');
INSERT INTO center_member (center_id, agent_id, role)
VALUES (1, 1, 'dispatcher'), (2, 2, 'executor'), (2, 3, 'executor');
INSERT INTO category (center_id, code, name) VALUES (1, 'boilers', 'Boilers');

-- 2. A customer with a contact person (R47), and the site of the work: a
--    known address is reused (R07) and becomes a map link (R08).
INSERT INTO customer (name, tax_id, email, phone, work_phone)
VALUES ('Acme UAB', 'LT100001', 'office@acme.test', '+37060000001', '+37052000001');
INSERT INTO contact (customer_id, name, position, preferred_channel, email, language)
VALUES (1, 'Rita Requester', 'Facility manager', 'email', 'rita@acme.test', 'lt');
SELECT site_for(1, 'Laisvės al. 10, Kaunas', 54.8985, 23.9036) AS site_id;
SELECT site_for(1, '  laisvės al. 10,  KAUNAS') AS same_site_id;
SELECT s.address, s.map_link FROM site s;

-- 3. Rita asks for help through the web form (R01, R16).
SELECT ticket_id, reference, status, priority, channel
  FROM open_ticket(subject => 'Boiler makes a knocking noise', center_id => 2, contact_id => 1,
                   category_id => 1, channel => 'web', requester_weight => 4,
                   deadline => now() + interval '3 days', site_id => 1,
                   description => 'Since Monday, loudest in the morning.');

-- 4. Its life. The dispatcher assigns it (R18); Eli acknowledges (R10),
--    works, asks a question, resolves (R19); Rita confirms; Dana closes.
SET ticketdesk.agent = 1;
SELECT reference, status, assignee_id FROM assign(1, 2, 'Eli knows this model');
SET ticketdesk.agent = 2;
SELECT reference, status FROM acknowledge(1);
SELECT reference, status FROM start_work(1);
SELECT comment(1, 'Is the boiler in the basement or on the roof?') AS public_remark;
SELECT comment(1, 'Probably the pump bearing.', internal => true) AS internal_remark;
SELECT reference, status FROM wait_for_customer(1, 'Asked for the location');
SELECT reference, status FROM resume(1, 'Basement, door code 1234');
SELECT attach(1, 'pump.jpg', '\xffd8ffe000104a464946'::bytea, 'image/jpeg') AS attachment_id;
SELECT reference, status, resolution FROM resolve(1, 'Replaced the pump bearing; noise gone.');
RESET ticketdesk.agent;
SELECT reference, status FROM confirm(1, 'Quiet now, thank you');
SET ticketdesk.agent = 1;
SELECT reference, status FROM close(1);

-- 5. The lifecycle is enforced in C for everyone: an ERP's plain UPDATE that
--    skips steps is refused with a clear error (SQLSTATE TD401).
\set ON_ERROR_STOP off
UPDATE ticket SET status = 'waiting' WHERE ticket_id = 1;
\set ON_ERROR_STOP on

-- 6. The whole story, from the append-only history.
SELECT kind, old_value, new_value, note, actor FROM ticket_history(1);
SELECT m.internal, m.body FROM message m ORDER BY m.message_id;
SELECT filename, content_type, size_bytes, encode(sha256, 'hex') AS sha256 FROM attachment;

-- 7. Automatic priority (R06, R24). A matrix of rules over the centre and
--    category tree × the dispatchers' internal categories gives a base
--    priority; the most specific rule wins, and no rule means normal.
INSERT INTO internal_category (code, name) VALUES ('gas', 'Gas') RETURNING internal_category_id AS gas \gset
INSERT INTO priority_rule (center_id, category_id, internal_category_id, priority, note)
VALUES (1, NULL, NULL, 'low', 'routine, unless a rule below says otherwise'),
       (1, 1, NULL, 'high', 'boilers: people get cold'),
       (1, 1, :gas, 'urgent', 'a boiler that smells of gas');
-- Rita reports a new problem; the rule for boilers sets its priority.
SELECT ticket_id AS smell FROM open_ticket(subject => 'Smell near the boiler', center_id => 2,
                                           contact_id => 1, category_id => 1) \gset
SELECT reference, priority FROM ticket WHERE ticket_id = :smell;
-- Dana classifies it as gas: the priority follows at once.
SELECT reference, internal_category_id, priority
  FROM correct(:smell, internal_category_id => :gas, note => 'Smells of gas');
-- "Why is this urgent?"
SELECT step, factor, input, effect, priority FROM explain_priority(:smell);
-- The function works on its own too, for any cell, weights, deadline and
-- moment: the requester's and the dispatcher's weights move the base (the
-- dispatcher's counts twice), and so does a near or passed deadline.
SELECT compute_priority(2, 1, NULL) AS boiler,
       compute_priority(2, 1, NULL, requester_weight => 1, dispatcher_weight => 2) AS boiler_unimportant,
       compute_priority(2, 1, NULL, deadline => now() + interval '1 hour') AS boiler_due_soon,
       compute_priority(2, NULL, NULL) AS anything_else;
-- Dana may fix a priority by hand; the history keeps it, and releasing the
-- fix lets the matrix decide again.
SELECT reference, priority, priority_fixed FROM fix_priority(:smell, 'normal', 'Gas company already on site');
SELECT reference, priority, priority_fixed FROM release_priority(:smell, 'Gas company left');
SELECT kind, old_value, new_value, note FROM ticket_history(:smell) WHERE kind LIKE 'priority%';

-- 8. Routing (R38-R45). Eli and Fay are fitters, Eli also inspects. A
--    repair is fitted, then inspected; repairs are routed automatically.
INSERT INTO profile (kind, code, name)
VALUES ('employee', 'fitter', 'Fitter'), ('employee', 'inspector', 'Inspector');
INSERT INTO agent_profile (agent_id, profile_id) VALUES (2, 1), (3, 1), (2, 2);
SELECT create_workflow('repair', 'Repair', ARRAY['fitter', 'inspector'],
                       ARRAY['Fitting', 'Inspection']) AS workflow_id;
INSERT INTO ticket_type (code, name, workflow_id)
SELECT 'repair', 'Repair', workflow_id FROM workflow WHERE code = 'repair';

-- Two requests arrive with nobody named: each goes to the least loaded
-- fitter, equal loads in turn. The history says why.
SELECT reference, status, a.name AS assignee, stage
  FROM open_ticket(subject => 'Radiator cold in room 12', center_id => 2, contact_id => 1,
                   type => 'repair', channel => 'web') k
  JOIN agent a ON a.agent_id = k.assignee_id;
SELECT reference, status, a.name AS assignee, stage
  FROM open_ticket(subject => 'Thermostat shows 35 degrees', center_id => 2, contact_id => 1,
                   type => 'repair', channel => 'phone') k
  JOIN agent a ON a.agent_id = k.assignee_id;
SELECT k.reference, e.new_value AS rule, e.note AS why
  FROM ticket_event e JOIN ticket k USING (tenant_id, ticket_id)
 WHERE e.kind = 'routing' ORDER BY e.event_id;

-- Fay is off sick until tomorrow: the next repair goes to Eli, and the
-- dispatcher's view of ticket 2's stage says why Fay cannot take work now.
INSERT INTO agent_absence (agent_id, during, reason)
VALUES (3, tstzrange(now() - interval '1 hour', now() + interval '1 day'), 'sick');
SELECT reference, status, a.name AS assignee
  FROM open_ticket(subject => 'Pipe knocks at night', center_id => 2, contact_id => 1, type => 'repair') k
  JOIN agent a ON a.agent_id = k.assignee_id;
SELECT name, open_tickets, available, unavailable_because FROM stage_candidates(2);

-- Eli finishes fitting ticket 3 and chooses "automatic" (R42): he is also
-- an inspector and handled the ticket already, so he keeps it (R44). After
-- the last stage, a resolution resolves it.
SET ticketdesk.agent = 2;
SELECT reference, status, stage, assignee_id FROM advance(3, note => 'Valve replaced');
SELECT kind, new_value, note FROM ticket_history(3) WHERE kind IN ('routing', 'stage');
SELECT reference, status FROM start_work(3);
SELECT reference, status, resolution FROM advance(3, resolution => 'Valve replaced and inspected');
RESET ticketdesk.agent;

-- Nobody has to count: the loads are kept as the tickets move.
SELECT a.name, l.open_tickets, l.load_cap FROM agent_load l JOIN agent a USING (tenant_id, agent_id) ORDER BY a.agent_id;

-- 9. Work time, a checklist with approval, the act and billing (R11-R14, R25).
--    The tenant rounds each sitting up to 15 minutes, at least 30, and bills
--    45/h (travel 25/h). Interventions start with a checklist and need a
--    manager's approval; Dana supervises the technicians.
INSERT INTO work_setting (rounding_minutes, minimum_minutes) VALUES (15, 30);
INSERT INTO rate (work_type, hourly) VALUES (NULL, 45), ('travel', 25);
INSERT INTO checklist_template (type_id, position, title)
SELECT type_id, p, t FROM ticket_type, (VALUES (1, 'Pressure test'), (2, 'Customer signature')) v(p, t)
 WHERE code = 'intervention';
INSERT INTO approval_policy (type_id) SELECT type_id FROM ticket_type WHERE code = 'intervention';
UPDATE agent SET supervisor_id = 1 WHERE agent_id IN (2, 3);
SELECT ticket_id AS svc, reference, status FROM open_ticket('Yearly boiler service', 2, type => 'intervention',
                                                     contact_id => 1, site_id => 1, assignee_id => 3) \gset
SELECT :svc AS ticket_id, reference, status FROM ticket WHERE ticket_id = :svc;
SELECT * FROM checklist(:svc);

-- Fay worked on it on two days last month, and times today's final check.
SET ticketdesk.agent = 3;
SELECT status FROM start_work(:svc);
\set last_month 'date_trunc(''month'', now()) - interval ''1 month'''
SELECT record_time(:svc, :last_month + interval '3 days 08:00', :last_month + interval '3 days 08:40', 'travel', 'to Kaunas') AS entry;
SELECT record_time(:svc, :last_month + interval '3 days 08:40', :last_month + interval '3 days 10:20', note => 'Burner cleaned') AS entry;
SELECT record_time(:svc, :last_month + interval '4 days 09:00', :last_month + interval '4 days 09:25', note => 'Pressure test') AS entry;
SELECT start_timer(:svc, note => 'Final check') AS timer;
SELECT period_text(period), minutes FROM stop_timer();

-- Resolving with open checklist items is refused (TD570), listing them.
\set ON_ERROR_STOP off
SELECT status FROM resolve(:svc, 'Burner cleaned, pressure tested');
\set ON_ERROR_STOP on
SELECT title, done_at IS NOT NULL AS done FROM check_item(1);
SELECT title, done_at IS NOT NULL AS done FROM check_item(2);
SELECT status FROM resolve(:svc, 'Burner cleaned, pressure tested');

-- Dana, the supervisor, corrects a sitting and approves; Rita confirms the time.
SET ticketdesk.agent = 1;
SELECT period_text(period), minutes, period_text(original_period) AS original
  FROM correct_time(3, 'the test took 20 minutes', stopped => :last_month + interval '4 days 09:20');
SELECT approve(:svc, 'Checked the photos') AS approval;
SELECT confirm_time(:svc) AS entries_confirmed;
SELECT status FROM confirm(:svc);
SELECT status FROM close(:svc);
SELECT kind, old_value, new_value, note, actor FROM ticket_history(:svc) WHERE kind NOT IN ('created', 'assignee');

-- The work-completion act in Rita's language (R12): plain text, and the
-- start of the printable HTML page.
\pset format unaligned
\pset tuples_only on
SELECT work_act(:svc, 'text');
SELECT left(work_act(:svc), 400);
\pset format aligned
\pset tuples_only off

-- Time per ticket, and last month's billing run with its export for the ERP
-- (R14): CSV through COPY, and JSON. A second run returns the same run.
SELECT reference, entries, minutes, confirmed_minutes, running_timers FROM time_by_ticket;
SELECT run_id, to_char(month, 'YYYY-MM') AS month, lines, total FROM billing_run((:last_month)::date);
SELECT run_id, lines, total FROM billing_run((:last_month)::date);
COPY (SELECT * FROM billing_export ORDER BY run_id, line_no) TO STDOUT WITH (FORMAT csv, HEADER);
SELECT jsonb_pretty(billing_export_json(1));

-- 10. Notifications (R05, R09, R28-R30, R41). Every step above queued its
--    messages in the outbox, inside the transaction of the change: who gets
--    what, by which channel, in which language (Rita and Eli read
--    Lithuanian). A background worker, woken at commit, renders each from
--    its template and delivers it over SMTP and HTTP; this tour's cluster
--    sends its mail to a local test server (the last section shows what it
--    received) and has no SMS gateway, so SMS wait. outbox_message shows
--    each message as it was or will be sent.
SELECT outbox_id, event, channel, recipient, language AS lang, sender_name, subject
  FROM outbox_message WHERE ticket_id = 1 ORDER BY outbox_id;
-- The thank-you Rita received when she registered the request (R41).
SELECT body_text FROM outbox_message WHERE ticket_id = 1 AND event = 'registered';
-- The mail as the worker sends it: a Message-ID stable per row, the
-- reference in the subject and the thread, Auto-Submitted, and a plain-text
-- part beside the HTML part (headers shown; the subject is UTF-8 encoded).
SELECT split_part(outbox_mail(o), E'\r\n\r\n', 1) AS headers
  FROM outbox_message o WHERE ticket_id = 1 AND event = 'resolved' AND recipient = 'rita@acme.test';
-- An urgent ticket also goes by SMS (R30), to Fay's phone, in Polish.
SELECT ticket_id AS gas FROM open_ticket('Gas smell near the boiler', 2, contact_id => 1) \gset
SELECT reference, priority FROM fix_priority(:gas, 'urgent', 'Gas: urgent whatever the matrix says');
SELECT reference, status FROM assign(:gas, 3, 'Urgent: go now');
SELECT channel, recipient, coalesce(subject, body_text) AS text FROM outbox_message
 WHERE ticket_id = :gas AND event = 'assigned' ORDER BY channel;
-- The delivery workers of this database (ticketdesk.notify_workers, two by
-- default, in every database with the extension).
SELECT workers, wakes, delivered FROM notify_worker_status();

-- 11. Mail (R02, R51). Rita writes to help@example.com, the head office's
--    mailbox. The MTA pipes the mail into ticketdesk-mailgate, which calls
--    ingest_mail: a ticket on channel email, her photo attached.
\! ticketdesk-mailgate -v < mail/request.eml
SELECT ticket_id AS mail_ticket, reference AS mail_ref FROM ticket WHERE channel = 'email' \gset
SELECT reference, channel, center_id, status, subject FROM ticket WHERE ticket_id = :mail_ticket;
SELECT filename, content_type, size_bytes FROM attachment WHERE ticket_id = :mail_ticket;

-- Dana gives it to Eli, who answers the allocation mail with "Patvirtinu"
-- ("I confirm", Lithuanian is his language): acknowledged by mail. (The
-- tour writes the ticket's reference into his reply's subject.)
SET ticketdesk.agent = 1;
SELECT reference, status FROM assign(:mail_ticket, 2);
RESET ticketdesk.agent;
\setenv MAIL_REF :mail_ref
\! sed "s/TD-NNNNNN/$MAIL_REF/" mail/eli-confirms.eml | ticketdesk-mailgate -v
SELECT reference, status FROM ticket WHERE ticket_id = :mail_ticket;

-- Rita answers her own mail; In-Reply-To threads it onto the ticket, and
-- only the new text becomes the remark. Her out-of-office reply is stored
-- but not acted on, and piping the same mail again changes nothing.
\! ticketdesk-mailgate -v < mail/rita-replies.eml
\! ticketdesk-mailgate -v < mail/out-of-office.eml
\! ticketdesk-mailgate -v < mail/rita-replies.eml
SELECT m.body, coalesce(a.name, c.name) AS author FROM message m
  LEFT JOIN agent a ON a.agent_id = m.author_agent_id LEFT JOIN contact c ON c.contact_id = m.author_contact_id
 WHERE m.ticket_id = :mail_ticket ORDER BY m.message_id;
SELECT mail_id, outcome, action, reason FROM mail_intake ORDER BY intake_id;

-- 12. Time-driven automation (doc/automation.md). The heating service works
--    weekdays 08:00-12:00 and 12:45-17:00 in Vilnius; 16 February is a
--    holiday every year.
SET timezone = 'Europe/Vilnius';
SELECT create_calendar('vilnius', 'Vilnius office', 'Europe/Vilnius', 'mon-fri 08:00-12:00, 12:45-17:00') AS calendar_id;
SELECT add_holiday(1, '2020-02-16', 'Restoration of the State', yearly => true);
SELECT set_center_calendar(2, 1);
-- Business time skips nights, weekends, the lunch break and the holiday.
SELECT business_add(1, '2027-02-12 16:00', '2 hours') AS "Fri 16:00 + 2 working hours",
       business_add_days(1, '2027-02-15 10:00', 1) AS "Mon 10:00 + 1 working day";

-- A reminder and an escalation: Dana delegates a task to Eli, due in three
-- days; Eli is reminded a day before, and once it is overdue Eli and Dana
-- hear of it, then (4 working hours later) Eli's supervisor, Dana.
UPDATE agent SET supervisor_id = 1 WHERE agent_id = 2;
INSERT INTO escalation_level (level, after, notify) VALUES (1, '0', 'assignee_and_delegator'), (2, '4 hours', 'supervisor');
SET ticketdesk.agent = 1;
SELECT ticket_id AS task FROM open_ticket('Inspect the boiler room', 2, type => 'task', contact_id => 1,
                                          deadline => now() + interval '3 days', assignee_id => 2) \gset
RESET ticketdesk.agent;
SELECT add_reminder(:task, 'deadline', '1 day', to_delegator => true) AS reminder_id;
-- Move time with as_of: the jobs do what is due as of then, once.
SELECT send_reminders(now() + interval '2 days 1 hour') AS reminders_sent,
       send_reminders(now() + interval '2 days 1 hour') AS sent_again;
SELECT escalate_overdue(now() + interval '3 days 1 minute') AS escalated,
       escalate_overdue(now() + interval '10 days') AS escalated_later;
SELECT n.kind, n.key, (SELECT string_agg(a.name, ', ' ORDER BY a.name) FROM agent a WHERE a.agent_id = ANY (n.agent_ids)) AS told
  FROM automation_notice n ORDER BY n.notice_id;
-- Each went to the notification outbox, once per recipient.
SELECT o.event, o.recipient, o.subject FROM outbox_message o
 WHERE o.event IN ('due_reminder', 'escalation') ORDER BY o.outbox_id;

-- Auto-confirm and auto-close (R22): confirmed after 3 quiet business days
-- (with a reminder to the requester the day before), closed 2 days later.
INSERT INTO closing_rule (confirm_after_days, remind_before_days, close_after_days) VALUES (3, 1, 2);
SELECT status FROM start_work(:task);
SELECT status FROM resolve(:task, 'Inspected; all in order');
SELECT auto_confirm(now() + interval '1 day') AS confirmed_after_a_day,
       auto_confirm(now() + interval '10 days') AS confirmed_after_ten;
SELECT auto_close(now() + interval '20 days') AS closed;
SELECT new_value AS status, note FROM ticket_history(:task) WHERE kind = 'status' ORDER BY event_id DESC LIMIT 2;

-- Scheduled service (R54): boiler maintenance monthly on the 10th at 09:00,
-- with 3 days' lead: the ticket is opened on the 7th.
SELECT add_service_contract('Boiler maintenance', 2, 'FREQ=MONTHLY;BYMONTHDAY=10', '2027-01-01 09:00',
                            lead_days => 3, time_zone => 'Europe/Vilnius', customer_id => 1, site_id => 1) AS contract_id;
SELECT generate_scheduled_tickets('2027-01-06 12:00') AS made_on_the_6th,
       generate_scheduled_tickets('2027-01-07 09:00') AS made_on_the_7th,
       generate_scheduled_tickets('2027-01-07 09:00') AS made_again;
SELECT k.reference, t.code AS type, k.channel, lower(k.planned) AS visit, k.status
  FROM service_occurrence o JOIN ticket k USING (tenant_id, ticket_id) JOIN ticket_type t USING (tenant_id, type_id);

-- 13. Roles and row-level security (issue 8). Rita gets a portal login: a
--     database role in ticketdesk_requester, mapped to her contact row. She
--     sees her own tickets and their public remarks only, never internal
--     remarks, internal categories or the agents' phone numbers.
DROP ROLE IF EXISTS tour_rita;
CREATE ROLE tour_rita IN ROLE ticketdesk_requester;
UPDATE contact SET login_role = 'tour_rita' WHERE contact_id = 1;
SET ROLE tour_rita;
SELECT reference, subject, status FROM ticket ORDER BY ticket_id;
SELECT count(*) AS remarks_she_sees FROM message;
SELECT open_my_ticket('The lift squeaks', 1) AS her_new_ticket;
-- What she may not read or do fails with 42501; another tenant, TD700.
DO $$
BEGIN
    BEGIN
        PERFORM phone FROM ticketdesk.agent;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'agents'' phones: refused (%)', SQLSTATE;
    END;
    BEGIN
        UPDATE ticketdesk.ticket SET dispatcher_weight = 5;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'the dispatcher''s weight: refused (%)', SQLSTATE;
    END;
    BEGIN
        PERFORM set_config('ticketdesk.tenant', '2', true);
        PERFORM count(*) FROM ticketdesk.ticket;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'another tenant: refused (%)', SQLSTATE;
    END;
END $$;
RESET ROLE;
DROP OWNED BY tour_rita;
UPDATE contact SET login_role = NULL WHERE contact_id = 1;
DROP ROLE tour_rita;

-- 14. History retention (issue 8). The history is append-only, for an
--     administrator too; purge_history is the one way to remove it: only the
--     history of tickets finished longer ago than the period (at least
--     ticketdesk.history_retention_floor, a year by default), and each purge
--     is recorded. A pg_cron job runs it nightly (doc/operations.md).
DO $$
BEGIN
    DELETE FROM ticketdesk.ticket_event;
EXCEPTION WHEN SQLSTATE 'TD406' THEN
    RAISE NOTICE 'deleting history: refused (%)', SQLSTATE;
END $$;
DO $$
BEGIN
    PERFORM ticketdesk.purge_history('30 days');
EXCEPTION WHEN SQLSTATE 'TD720' THEN
    RAISE NOTICE 'a purge of 30 days: refused (%), the floor is %', SQLSTATE,
        current_setting('ticketdesk.history_retention_floor');
END $$;
SELECT purge_history('2 years') AS rows_removed;
SELECT by_role, older_than, events, approvals, bypasses FROM history_purge ORDER BY purge_id;

-- 15. Mail by IMAP (R02). The head office's mail also lands in an IMAP
--     folder (tour/run started a private dovecot on 127.0.0.1). The mail
--     worker of this database polls it by UID with libcurl; the password is
--     a secret that only administrators and the worker read.
\getenv imap_port TD_IMAP_PORT
\getenv imap_password TD_IMAP_PASSWORD
INSERT INTO mail_mailbox (center_id, url, username, poll_interval)
VALUES (1, 'imap://127.0.0.1:' || :'imap_port' || '/INBOX', 'desk', '2 seconds')
RETURNING mailbox_id AS imap_box, url, mail_mailbox_secret_name(mail_mailbox) AS password_secret \gset
SELECT set_secret(:'password_secret', :'imap_password');
SELECT name FROM secret_names;
-- Omar writes to the desk, then adds a detail in a reply to his own mail.
-- The mail server delivers both into the folder (curl APPENDs them here).
\! curl -sS -u "desk:$TD_IMAP_PASSWORD" -T mail/imap-request.eml "imap://127.0.0.1:$TD_IMAP_PORT/INBOX"
\! curl -sS -u "desk:$TD_IMAP_PASSWORD" -T mail/imap-reply.eml "imap://127.0.0.1:$TD_IMAP_PORT/INBOX"
SELECT mail_poll_now(:imap_box);
-- (Waits until the worker has taken both UIDs: a few seconds at most.)
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT max(last_uid) FROM ticketdesk.mail_mailbox) >= 2;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT mailbox_id, uidvalidity IS NOT NULL AS uidvalidity_known, last_uid, last_error
  FROM mail_mailbox WHERE mailbox_id = :imap_box;
-- The request opened a ticket on channel email; the reply threaded onto it
-- by In-Reply-To, its quoted part cut off.
SELECT k.reference, k.channel, k.status, k.subject, c.name AS contact
  FROM ticket k JOIN contact c USING (tenant_id, contact_id)
 WHERE k.ticket_id = (SELECT ticket_id FROM mail_intake WHERE mail_id = 'tour-imap-0001@initech.test');
SELECT i.mail_id, i.outcome, i.ticket_id, m.body AS remark
  FROM mail_intake i LEFT JOIN message m USING (tenant_id, message_id)
 WHERE i.mail_id LIKE 'tour-imap-%' ORDER BY i.intake_id;
-- On the server both mails are now marked \Seen.
\! curl -sS -u "desk:$TD_IMAP_PASSWORD" "imap://127.0.0.1:$TD_IMAP_PORT/INBOX" -X 'UID FETCH 1:* (FLAGS)'

-- 16. Whom a login acts as is cached per session (issue 8, performance). The
--     policies ask session_tenant(), session_contacts() and session_centers()
--     in every statement; they answer from a per-backend cache that every
--     change of the mapping empties at once: Rita's login, mapped again,
--     sees her tickets in the very next statement; unmapped, nothing.
DROP ROLE IF EXISTS tour_rita;
CREATE ROLE tour_rita IN ROLE ticketdesk_requester;
UPDATE contact SET login_role = 'tour_rita' WHERE contact_id = 1;
SET ROLE tour_rita;
SELECT session_tenant() AS tenant, session_contact() AS contact, session_contacts() AS sees_contacts,
       (SELECT count(*) FROM ticket) AS tickets;
RESET ROLE;
UPDATE contact SET login_role = NULL WHERE contact_id = 1;
SET ROLE tour_rita;
SELECT session_tenant() AS tenant, session_contact() AS contact, (SELECT count(*) FROM ticket) AS tickets;
RESET ROLE;
DROP ROLE tour_rita;

-- 17. The mails, delivered (R05, R29, R41). The tour's cluster sends its
--    mail to a local SMTP server (aiosmtpd, started by tour/run). Once the
--    outbox has no mail left to send, here is what that server received:
--    each mail in its recipient's language, the reference in the subject, a
--    Message-ID stable per outbox row, and the first lines of the text part.
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM ticketdesk.outbox
                               WHERE channel = 'email' AND status IN ('queued', 'sending'));
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT status, count(*) AS mails FROM outbox WHERE channel = 'email' GROUP BY status ORDER BY status;
\! /usr/bin/python3 mails.py "$TOUR_MAILS"
