-- IMAP mailboxes (R02): per centre a URL, a user and a password kept in the
-- secrets, which only the tenant's administrator and the worker read. Mail
-- is taken by UID, and the last UID moves on in the same transaction as the
-- ingest, so that after a crash nothing is lost (the UID was not recorded,
-- the mail comes again) or taken twice (it was, and is skipped).
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

INSERT INTO center (code, name, email) VALUES ('hq', 'Head office', 'help@desk.example'), ('heating', 'Heating', NULL);
INSERT INTO contact (name, email, language) VALUES ('Rita Requester', 'rita@acme.test', 'lt');

-- The heating centre has no address of its own: its mailbox says where
-- mail without a centre's address goes.
INSERT INTO mail_mailbox (center_id, url, username, after_fetch, move_to)
VALUES (2, 'imaps://mail.desk.example:993/INBOX', 'heating', 'move', 'Processed');
SELECT set_secret('imap.1.password', 's3cret');
-- The password is the secret imap.<mailbox_id>.password unless the mailbox
-- names another one.
SELECT mailbox_id, password_secret, mail_mailbox_secret_name(b) FROM mail_mailbox b;

-- UID 1 and 2 are taken in; each moves last_uid on.
SELECT uid, i.outcome, i.center_id, i.ticket_id
  FROM (VALUES (1, '01_thunderbird_new_request.eml'), (2, '42_unknown_recipient.eml')) f(uid, name)
 CROSS JOIN LATERAL mail_take(1, 1700000000, f.uid, pg_temp.fixture(f.name)) i;
SELECT uidvalidity, last_uid, last_error FROM mail_mailbox;

-- A poll that ran again after a crash before the server was told: UID 2
-- comes once more and is skipped.
SELECT mail_take(1, 1700000000, 2, pg_temp.fixture('42_unknown_recipient.eml')) IS NULL AS skipped;
-- A crash before commit: the ingest and the UID go together.
BEGIN;
SELECT outcome FROM mail_take(1, 1700000000, 3, pg_temp.fixture('05_polish_iso8859_2.eml'));
ROLLBACK;
SELECT last_uid, (SELECT count(*) FROM ticket) AS tickets FROM mail_mailbox;
SELECT outcome FROM mail_take(1, 1700000000, 3, pg_temp.fixture('05_polish_iso8859_2.eml'));

-- The folder was recreated (new UIDVALIDITY): UIDs start again at 1. The
-- mail already taken is known by its Message-ID and changes nothing.
SELECT outcome, ticket_id FROM mail_take(1, 1800000000, 1, pg_temp.fixture('01_thunderbird_new_request.eml'));
SELECT uidvalidity, last_uid, (SELECT count(*) FROM ticket) AS tickets FROM mail_mailbox;

-- Refusals.
SELECT * FROM mail_take(99, 1, 1, pg_temp.fixture('01_thunderbird_new_request.eml'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM mail_take(1, 1800000000, 0, pg_temp.fixture('01_thunderbird_new_request.eml'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE mail_mailbox SET enabled = false;
SELECT * FROM mail_take(1, 1800000000, 5, pg_temp.fixture('01_thunderbird_new_request.eml'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO mail_mailbox (center_id, url, username) VALUES (1, 'http://example.com/', 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO mail_mailbox (center_id, url, username, after_fetch) VALUES (1, 'imap://127.0.0.1:143/INBOX', 'x', 'move');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

INSERT INTO mail_mailbox (center_id, url, username) VALUES (1, 'imap://heating:s3cret@127.0.0.1:143/INBOX', 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO mail_mailbox (center_id, url, username, password_secret) VALUES (1, 'imap://127.0.0.1:143/INBOX', 'x', 'Not A Name');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The worker's view: the due mailboxes of every tenant, with the name of
-- the secret (never its value). A new mailbox is due at once; mailbox 1 took
-- mail a moment ago and is due again when its interval (1 minute) has
-- passed. The worker records how each poll ended; mail_poll_now makes a
-- mailbox due at once.
UPDATE mail_mailbox SET enabled = true;
INSERT INTO mail_mailbox (center_id, url, username, password_secret, poll_interval)
VALUES (1, 'imap://127.0.0.1:143/Help%20Desk', 'hq', 'imap.hq', '1 hour');
SELECT mailbox_id, url, username, secret_name, after_fetch, move_to, uidvalidity, last_uid FROM mail_poll_due();
SELECT mail_poll_done(1, 1, 'SELECT "INBOX": Login denied');
SELECT mail_poll_done(1, 6, 'the secret imap.hq does not exist');
SELECT mailbox_id, last_poll_at IS NOT NULL AS polled, last_error FROM mail_mailbox ORDER BY mailbox_id;
SELECT mail_poll_done(1, 1, NULL);
SELECT mailbox_id, last_error FROM mail_mailbox ORDER BY mailbox_id;
SELECT mailbox_id FROM mail_poll_due();
SELECT mail_poll_next() BETWEEN 1 AND 60000 AS next_within_a_minute;
SELECT mail_poll_now(6);
SELECT mailbox_id FROM mail_poll_due();
SELECT mail_poll_next() AS due_in_ms;
-- With no mailbox enabled there is nothing to wait for: NULL, and the worker
-- sleeps its idle minute (until 0.9 this said 0, "due now", and the worker
-- polled in a loop at 100% of a core).
BEGIN;
UPDATE mail_mailbox SET enabled = false;
SELECT mail_poll_next() IS NULL AS nothing_to_poll;
ROLLBACK;
SELECT mail_poll_now(99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The worker takes a mail as the mailbox's tenant.
SELECT mail_poll_take(1, 1, 1800000000, 6, pg_temp.fixture('06_lithuanian_iso8859_13.eml'));
SELECT mail_poll_take(1, 1, 1800000000, 6, pg_temp.fixture('06_lithuanian_iso8859_13.eml'));
SELECT last_uid FROM mail_mailbox WHERE mailbox_id = 1;

-- The password is the administrator's. A role that may read the mailboxes
-- sees the name of the secret, never the password.
CREATE ROLE regress_mail_agent IN ROLE ticketdesk_agent;
INSERT INTO agent (name, login_role) VALUES ('Mail agent', 'regress_mail_agent');
SET ROLE regress_mail_agent;
SELECT mailbox_id, url, username, mail_mailbox_secret_name(b) FROM mail_mailbox b ORDER BY mailbox_id;
SELECT value FROM secret;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP OWNED BY regress_mail_agent;
DROP ROLE regress_mail_agent;
