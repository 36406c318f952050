-- IMAP mailboxes (R02): per centre a URL, a user and a password kept apart
-- where only the extension owner can read it; mail is taken by UID, and the
-- last UID moves on in the same transaction as the ingest, so that after a
-- crash nothing is lost (the UID was not recorded, the mail comes again) or
-- taken twice (it was, and is skipped).
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
INSERT INTO mail_mailbox_secret (mailbox_id, password) VALUES (1, 's3cret');

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

-- The password is for the extension owner only. A role that may read the
-- mailboxes still cannot read the passwords.
CREATE ROLE regress_mail_agent;
GRANT USAGE ON SCHEMA ticketdesk TO regress_mail_agent;
GRANT SELECT ON mail_mailbox TO regress_mail_agent;
SET ROLE regress_mail_agent;
SELECT mailbox_id, url, username FROM mail_mailbox;
SELECT password FROM mail_mailbox_secret;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT has_table_privilege('regress_mail_agent', 'ticketdesk.mail_mailbox_secret', 'SELECT') AS agent_reads,
       array_length(relacl, 1) IS NULL OR NOT EXISTS (SELECT 1 FROM aclexplode(relacl) a WHERE a.grantee = 0) AS not_public
  FROM pg_class WHERE oid = 'ticketdesk.mail_mailbox_secret'::regclass;
DROP OWNED BY regress_mail_agent;
DROP ROLE regress_mail_agent;
