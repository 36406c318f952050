-- Threading replies (R02, R20, R52). In order: In-Reply-To or References
-- naming a mail we took in or a remark's Message-ID; then the subject tag
-- (TD-000123), accepted only from a participant of that ticket. A reply-all
-- or a second copy never makes a duplicate ticket; a forged tag opens a new,
-- flagged ticket under the named one; a reply to a closed ticket reopens it
-- within the reopen window and opens a linked ticket after it.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

\getenv abs_srcdir PG_ABS_SRCDIR
SET td.fixtures = :'abs_srcdir';
CREATE FUNCTION pg_temp.fixture(name text) RETURNS bytea
    LANGUAGE sql AS $$ SELECT pg_read_binary_file(current_setting('td.fixtures') || '/test/fixtures/' || name) $$;

INSERT INTO center (code, name, email)
VALUES ('hq', 'Head office', 'help@desk.example'), ('heating', 'Heating service', 'heating@desk.example');
INSERT INTO agent (name, email, language) VALUES ('Eli Executor', 'eli@desk.example', 'lt');
INSERT INTO customer (name, email) VALUES ('Acme UAB', 'office@acme.test');
INSERT INTO contact (customer_id, name, email, language) VALUES (1, 'Rita Requester', 'rita@acme.test', 'lt');

-- Rita's request opens TD-000001.
SELECT outcome, ticket_id FROM ingest_mail(pg_temp.fixture('01_thunderbird_new_request.eml'));

-- 1. Her reply names the request in In-Reply-To: a public remark by Rita,
--    without the quoted text, carrying the mail's Message-ID.
SELECT outcome, action, ticket_id, message_id FROM ingest_mail(pg_temp.fixture('12_thunderbird_reply_in_reply_to.eml'));
SELECT m.author_contact_id, m.internal, m.body, m.email_message_id FROM message m WHERE m.message_id = 1;

-- A colleague answers all (To Rita, Cc help@). The References thread it to
-- TD-000001: a remark by a new contact, not a second ticket. The copy that
-- also came to heating@ has the same Message-ID and changes nothing.
SELECT outcome, ticket_id, message_id FROM ingest_mail(pg_temp.fixture('13_outlook_reply_all_colleague.eml'));
SELECT outcome, ticket_id, message_id FROM ingest_mail(pg_temp.fixture('14_reply_all_second_copy.eml'));
SELECT c.name, c.email, m.body FROM message m JOIN contact c ON c.contact_id = m.author_contact_id
 WHERE m.message_id = 2;
SELECT count(*) AS tickets FROM ticket;

-- A reply to a reply also threads: In-Reply-To may name a remark's
-- Message-ID (message.email_message_id), e.g. a mail ticketdesk sent.
UPDATE message SET email_message_id = 'sent-by-desk-0001@desk.example' WHERE message_id = 2;
SELECT mail_thread(ARRAY['unknown@nowhere', 'sent-by-desk-0001@desk.example']) AS ticket;
SELECT mail_thread(ARRAY['unknown@nowhere']) AS ticket;

-- 2. From her phone, with no In-Reply-To: the subject tag threads it, because
--    Rita is the ticket's requester.
SELECT outcome, ticket_id, reason FROM ingest_mail(pg_temp.fixture('15_phone_reply_subject_tag.eml'));

-- A stranger who writes the same tag does not get into TD-000001: a new
-- ticket under it, flagged, with an internal remark for the dispatcher.
SELECT outcome, action, flagged, reason FROM ingest_mail(pg_temp.fixture('16_forged_subject_tag.eml'));
SELECT reference, parent_id, subject, channel FROM ticket WHERE ticket_id = 2;
SELECT internal, body FROM message WHERE ticket_id = 2;
SELECT count(*) AS remarks_on_td1 FROM message WHERE ticket_id = 1;

-- Participants are the requester (contact, customer, requesting employee),
-- the assignee and the watchers.
SELECT mail_participant(k, 'rita@acme.test') AS rita, mail_participant(k, 'office@acme.test') AS customer,
       mail_participant(k, 'eli@desk.example') AS eli, mail_participant(k, 'mallory@evil.example') AS mallory
  FROM ticket k WHERE ticket_id = 1;
SELECT status FROM assign(1, 1);
SELECT add_watcher(1, contact_id => (SELECT contact_id FROM contact WHERE email = 'mantas@acme.test')) > 0 AS watching;
SELECT mail_participant(k, 'eli@desk.example') AS eli, mail_participant(k, 'mantas@acme.test') AS mantas
  FROM ticket k WHERE ticket_id = 1;

-- A reply to a closed ticket within the reopen window (14 days by default)
-- reopens it.
SELECT status FROM start_work(1);
SELECT status FROM resolve(1, 'Replaced the pump bearing.');
SELECT status FROM close(1);
SELECT outcome, action, ticket_id FROM ingest_mail(pg_temp.fixture('17_reply_to_closed_ticket.eml'));
SELECT status, assignee_id FROM ticket WHERE ticket_id = 1;
SELECT kind, old_value, new_value, note FROM ticket_history(1) WHERE kind = 'status' ORDER BY event_id DESC LIMIT 1;

-- After the window, the reply opens a new ticket linked to the old one.
SELECT status FROM resolve(1, 'Bled the radiators.');
SELECT status FROM close(1);
INSERT INTO mail_config (reopen_window) VALUES ('0');
SELECT outcome, action, flagged, reason FROM ingest_mail(pg_temp.fixture('18_late_reply_after_window.eml'));
SELECT reference, parent_id, status, contact_id, center_id, description FROM ticket WHERE ticket_id = 3;
SELECT status FROM ticket WHERE ticket_id = 1;

-- The intake log tells the story.
SELECT intake_id, outcome, action, flagged, ticket_id, message_id, contact_id, sender FROM mail_intake ORDER BY intake_id;

-- Replies to the notifications ticketdesk sends (the outbox): their
-- Message-ID is <message_key@domain>, and a reply that names it in
-- In-Reply-To lands on the ticket. Opening TD-000003 above queued the
-- "thank you for your request" (R41) to Rita; she answers it.
SELECT event, recipient, ticket_id FROM outbox WHERE ticket_id = 3 AND event = 'registered';
SELECT message_key || '@desk.example' AS thank_you_id FROM outbox WHERE ticket_id = 3 AND event = 'registered' \gset
SELECT outcome, action, ticket_id FROM ingest_mail(convert_to(format(
    E'From: Rita Requester <rita@acme.test>\r\nTo: help@desk.example\r\nMessage-ID: <thanks-reply@acme.test>\r\n'
    'In-Reply-To: <%s>\r\nReferences: <TD-000001@desk.example> <%s>\r\nSubject: Re: Thank you for your request\r\n\r\n'
    'Thanks, I will be at home after 15:00.\r\n', :'thank_you_id', :'thank_you_id'), 'UTF8'));
-- The thread id <TD-000001@desk.example> that notifications also carry is
-- guessable, so it threads nothing.
SELECT mail_thread(ARRAY['TD-000001@desk.example', 'not-a-uuid@desk.example']) AS ticket;

-- Machine-made mail never opens a ticket, so it never gets a thank-you
-- (R41): the out-of-office reply and the bounce queued nothing.
SELECT count(*) AS before FROM outbox \gset
SELECT outcome FROM ingest_mail(pg_temp.fixture('29_outlook_out_of_office.eml'));
SELECT outcome FROM ingest_mail(pg_temp.fixture('32_postfix_bounce_dsn.eml'));
SELECT count(*) - :before AS queued FROM outbox;
