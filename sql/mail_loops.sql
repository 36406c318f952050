-- Loop and bounce protection. Mail is stored but not acted on when a machine
-- wrote it (Auto-Submitted other than "no", Precedence bulk/junk/list, a
-- delivery or read report, a bounce), when it carries our own X-Loop, or
-- when it comes from one of our own addresses. A per-sender rate limit
-- stops storms.
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

-- A notification as the worker would send it, and the same mail sent on by a
-- forwarding rule: another sender, to the desk, without Auto-Submitted.
CREATE VIEW pg_temp.notice AS
    SELECT outbox_mail(o) AS m FROM outbox_message o WHERE o.channel = 'email' ORDER BY o.outbox_id LIMIT 1;
CREATE FUNCTION pg_temp.forwarded(m text, id text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(m,
           '^From: [^\r]*', 'From: someone@acme.test', 'n'),
           '^To: [^\r]*', 'To: help@desk.example', 'n'),
           '^Auto-Submitted: [^\r]*\r\n', '', 'n'),
           '^Message-ID: <', 'Message-ID: <' || id || '-', 'n') $$;

INSERT INTO center (code, name, email)
VALUES ('hq', 'Head office', 'help@desk.example'), ('heating', 'Heating service', 'heating@desk.example');
INSERT INTO contact (name, email, language) VALUES ('Rita Requester', 'rita@acme.test', 'lt');
SELECT outcome, ticket_id FROM ingest_mail(pg_temp.fixture('01_thunderbird_new_request.eml'));
SELECT count(*) AS tickets, (SELECT count(*) FROM message) AS remarks FROM ticket \gset before_

-- Each of these is stored with its reason and does nothing else: no ticket,
-- no remark, no contact, no status change. An out-of-office reply that
-- answers TD-000001 keeps the ticket's id for reference.
SELECT f AS fixture, i.outcome, i.reason, i.ticket_id, i.message_id, i.contact_id
  FROM unnest(ARRAY['29_outlook_out_of_office.eml', '30_gmail_vacation_autoreply.eml',
                    '31_newsletter_precedence_bulk.eml', '32_postfix_bounce_dsn.eml', '33_exchange_ndr.eml',
                    '34_read_receipt_mdn.eml', '35_own_x_loop.eml', '36_from_own_address.eml']) f
 CROSS JOIN LATERAL ingest_mail(pg_temp.fixture(f)) i;
SELECT count(*) = :before_tickets AS no_new_ticket, (SELECT count(*) FROM message) = :before_remarks AS no_new_remark,
       (SELECT count(*) FROM contact) AS contacts, (SELECT status FROM ticket WHERE ticket_id = 1) AS td1
  FROM ticket;

-- "Auto-Submitted: no" is a person: acted on.
SELECT outcome, ticket_id FROM ingest_mail(pg_temp.fixture('37_auto_submitted_no.eml'));

-- Our own addresses are the centres' mailboxes plus mail_config.own_addresses;
-- the X-Loop token is mail_config.loop_token.
INSERT INTO mail_config (loop_token, own_addresses) VALUES ('desk-7f3a', ARRAY['Notify@Desk.Example']);
SELECT outcome, reason FROM ingest_mail(convert_to(E'From: notify@desk.example\r\nTo: help@desk.example\r\n'
    'Message-ID: <own-2@desk.example>\r\nSubject: [TD-000001] Assigned\r\n\r\nAssigned to you.\r\n', 'UTF8'));
SELECT outcome, reason FROM ingest_mail(convert_to(E'From: someone@acme.test\r\nTo: help@desk.example\r\n'
    'X-Loop: desk-7f3a\r\nMessage-ID: <loop-2@acme.test>\r\nSubject: Fwd: Assigned\r\n\r\nForwarded.\r\n', 'UTF8'));
-- The old token is an ordinary header now.
SELECT outcome FROM ingest_mail(convert_to(E'From: someone@acme.test\r\nTo: help@desk.example\r\n'
    'X-Loop: ticketdesk\r\nMessage-ID: <loop-3@acme.test>\r\nSubject: Hello\r\n\r\nA person.\r\n', 'UTF8'));

-- Our notifications carry "X-Loop: " and their sender (ticketdesk.mail_from,
-- here the default ticketdesk@localhost), besides Auto-Submitted. One that
-- comes back as sent is machine-made; one that a forwarding rule sent on
-- from another address, without Auto-Submitted, is still ours by its
-- X-Loop. Without the X-Loop too, it would be taken as a person's mail.
SELECT substring(m FROM 'X-Loop: [^\r]*') AS x_loop FROM pg_temp.notice;
SELECT outcome, reason FROM pg_temp.notice, ingest_mail(convert_to(m, 'UTF8'));
SELECT outcome, reason FROM pg_temp.notice, ingest_mail(convert_to(pg_temp.forwarded(m, 'fwd-1'), 'UTF8'));
SELECT outcome, reason
  FROM pg_temp.notice,
       ingest_mail(convert_to(regexp_replace(pg_temp.forwarded(m, 'fwd-2'), '^X-Loop: [^\r]*\r\n', '', 'n'), 'UTF8'));

-- The rate limit: after rate_limit mails from one sender within
-- rate_window, more are only stored, until the window has passed.
UPDATE mail_config SET rate_limit = 3, rate_window = '10 minutes';
SELECT n, i.outcome, i.reason
  FROM generate_series(1, 5) n
 CROSS JOIN LATERAL ingest_mail(convert_to(format(E'From: storm@acme.test\r\nTo: help@desk.example\r\n'
      'Message-ID: <storm-%s@acme.test>\r\nSubject: Storm %s\r\n\r\nMail number %s.\r\n', n, n, n), 'UTF8')) i;
-- (Stored mail counts too: a storm stays stopped while it goes on.)
UPDATE mail_intake SET received_at = received_at - interval '11 minutes' WHERE sender = 'storm@acme.test';
SELECT outcome FROM ingest_mail(convert_to(E'From: storm@acme.test\r\nTo: help@desk.example\r\n'
    'Message-ID: <storm-6@acme.test>\r\nSubject: Storm 6\r\n\r\nLater.\r\n', 'UTF8'));
-- Other senders are not affected.
SELECT outcome FROM ingest_mail(convert_to(E'From: calm@acme.test\r\nTo: help@desk.example\r\n'
    'Message-ID: <calm-1@acme.test>\r\nSubject: Calm\r\n\r\nOne mail.\r\n', 'UTF8'));

-- Settings are checked.
UPDATE mail_config SET rate_limit = 0;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT reopen_window, rate_limit, rate_window, loop_token, own_addresses FROM mail_settings();
DELETE FROM mail_config;
SELECT reopen_window, rate_limit, rate_window, loop_token, own_addresses FROM mail_settings();
