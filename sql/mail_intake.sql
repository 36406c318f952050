-- Taking in mail (R02): a mail to a centre's mailbox becomes a ticket on
-- channel email, from whatever client and in whatever charset it was
-- written; files become attachments; an unknown sender becomes a contact;
-- the same Message-ID twice changes nothing; a mail that cannot be taken
-- in is kept as a failed intake with its reason.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

\getenv abs_srcdir PG_ABS_SRCDIR
\set fixtures :abs_srcdir '/test/fixtures/'
SET td.fixtures = :'fixtures';
CREATE FUNCTION pg_temp.fixture(name text) RETURNS bytea
    LANGUAGE sql AS $$ SELECT pg_read_binary_file(current_setting('td.fixtures') || name) $$;

INSERT INTO center (code, name, email)
VALUES ('hq', 'Head office', 'help@desk.example'), ('heating', 'Heating service', 'Heating@Desk.Example'),
       ('it', 'IT support', 'it@desk.example'), ('sales', 'Sales', NULL);
INSERT INTO customer (name, email) VALUES ('Acme UAB', 'office@acme.test');
INSERT INTO contact (customer_id, name, email, language) VALUES (1, 'Rita Requester', 'RITA@acme.test', 'lt');

-- A Thunderbird mail from a known contact, UTF-8 quoted-printable with an
-- RFC 2047 subject: a ticket in the help@ centre, on channel email.
SELECT outcome, action, reason, center_id, contact_id, agent_id, sender, subject, size_bytes > 0 AS sized,
       raw IS NULL AS raw_left_out
  FROM ingest_mail(pg_temp.fixture('01_thunderbird_new_request.eml'));
-- The raw mail is kept in the table (the result leaves it out).
SELECT mail_id, octet_length(raw) = size_bytes AS raw_kept FROM mail_intake;
SELECT reference, status, channel, center_id, contact_id, customer_id, subject, description
  FROM ticket WHERE ticket_id = 1;

-- The same mail again (a second delivery, a re-run of the poller): the first
-- intake comes back and nothing is added.
SELECT intake_id, outcome, ticket_id FROM ingest_mail(pg_temp.fixture('01_thunderbird_new_request.eml'));
SELECT count(*) AS tickets FROM ticket;

-- Gmail, multipart/alternative plus a PDF, from a stranger to heating@
-- (the centre's address matches whatever its case): a new contact, the
-- plain-text part as the description, the PDF attached.
SELECT outcome, center_id, contact_id FROM ingest_mail(pg_temp.fixture('02_gmail_new_with_attachment.eml'));
SELECT contact_id, customer_id, name, email, language FROM contact ORDER BY contact_id;
SELECT k.reference, k.center_id, k.contact_id, k.description FROM ticket k WHERE k.ticket_id = 2;
SELECT ticket_id, message_id, filename, content_type, size_bytes, left(convert_from(data, 'LATIN1'), 8) AS head
  FROM attachment ORDER BY attachment_id;

-- Outlook, HTML only, windows-1257 quoted-printable: the text is derived
-- from the HTML (styles dropped, entities decoded, paragraphs kept).
SELECT outcome, center_id, subject FROM ingest_mail(pg_temp.fixture('03_outlook_html_only_windows1257.eml'));
SELECT description FROM ticket WHERE ticket_id = 3;

-- Outlook with an inline image (multipart/related, Content-ID): the image is
-- kept as an attachment of the ticket.
SELECT outcome, center_id, contact_id FROM ingest_mail(pg_temp.fixture('04_outlook_inline_image.eml'));
SELECT filename, content_type, size_bytes FROM attachment WHERE ticket_id = 4;
SELECT p.filename, p.content_id, p.is_inline
  FROM parse_mail(pg_temp.fixture('04_outlook_inline_image.eml')) m, unnest(m.parts) p;

-- Polish (ISO-8859-2), Lithuanian (ISO-8859-13, base64), Romanian
-- (windows-1250), Hebrew (windows-1255 and UTF-8), and a body in an
-- undeclared 8-bit charset: all converted to UTF-8, names and subjects too.
SELECT f AS fixture, i.outcome, i.ticket_id
  FROM unnest(ARRAY['05_polish_iso8859_2.eml', '06_lithuanian_iso8859_13.eml', '07_romanian_windows1250.eml',
                    '08_hebrew_windows1255.eml', '09_hebrew_utf8_rfc2231_attachment.eml',
                    '11_undeclared_8bit.eml']) f
 CROSS JOIN LATERAL ingest_mail(pg_temp.fixture(f)) i;
SELECT k.reference, k.subject, c.name AS requester, left(regexp_replace(k.description, '\s+', ' ', 'g'), 60) AS description
  FROM ticket k JOIN contact c USING (tenant_id, contact_id)
 WHERE k.ticket_id BETWEEN 5 AND 10 ORDER BY k.ticket_id;

-- RFC 2231 file names: UTF-8 (Hebrew), and ISO-8859-13 split over two
-- continuation parameters.
SELECT outcome FROM ingest_mail(pg_temp.fixture('10_rfc2231_continuation_iso8859_13.eml'));
SELECT k.reference, a.filename, a.content_type FROM attachment a JOIN ticket k USING (tenant_id, ticket_id)
 WHERE a.filename NOT IN ('thermostat-settings.pdf', 'image001.png') ORDER BY a.attachment_id;

-- Routing: Delivered-To counts when the To line names nobody (a Bcc); an
-- mbox "From " line before the headers is skipped.
SELECT outcome, center_id, subject FROM ingest_mail(pg_temp.fixture('46_bcc_delivered_to_only.eml'));
SELECT outcome, center_id, subject FROM ingest_mail(pg_temp.fixture('43_mbox_from_line.eml'));

-- A mail to an address no centre has is kept as failed, unless the caller
-- names the centre (the IMAP mailbox or the MTA pipe of that centre).
SELECT outcome, reason, ticket_id FROM ingest_mail(pg_temp.fixture('42_unknown_recipient.eml'));
SELECT outcome, center_id FROM ingest_mail(pg_temp.fixture('42_unknown_recipient.eml'), center_id => 4);
DELETE FROM mail_intake WHERE mail_id = '42a1b2c3-unknown-recipient@acme.test';
SELECT outcome, center_id, reason FROM ingest_mail(pg_temp.fixture('42_unknown_recipient.eml'), center_id => 4);
SELECT * FROM ingest_mail(pg_temp.fixture('42_unknown_recipient.eml'), center_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- HTML with styles, scripts, comments, lists, tables and entities.
SELECT outcome FROM ingest_mail(pg_temp.fixture('44_html_entities_script.eml'));
SELECT subject, description FROM ticket WHERE subject LIKE 'Till%';

-- A forwarded mail (message/rfc822) is attached as an .eml file.
SELECT outcome FROM ingest_mail(pg_temp.fixture('45_forwarded_rfc822.eml'));
SELECT a.filename, a.content_type, position('No heating' IN convert_from(a.data, 'UTF8')) > 0 AS whole_mail
  FROM attachment a JOIN ticket k USING (tenant_id, ticket_id) WHERE k.subject LIKE 'Fwd:%';

-- A mail without a Message-ID is known by the SHA-256 of its bytes: taken
-- once, like any other.
SELECT outcome, left(mail_id, 7) AS key, length(mail_id) FROM ingest_mail(pg_temp.fixture('41_no_message_id.eml'));
SELECT outcome, intake_id = (SELECT max(intake_id) FROM mail_intake) AS same_intake
  FROM ingest_mail(pg_temp.fixture('41_no_message_id.eml'));

-- Sizes. A file over ticketdesk.max_attachment_size is left in the raw mail,
-- and an internal remark says so; the ticket is opened all the same.
SET ticketdesk.max_attachment_size = '256kB';
SELECT outcome FROM ingest_mail(pg_temp.fixture('47_huge_attachment.eml'));
SELECT m.internal, m.body FROM message m JOIN ticket k USING (tenant_id, ticket_id)
 WHERE k.subject = 'Drawings of the new boiler room';
SELECT count(*) AS attached FROM attachment a JOIN ticket k USING (tenant_id, ticket_id)
 WHERE k.subject = 'Drawings of the new boiler room';
RESET ticketdesk.max_attachment_size;
-- A mail over ticketdesk.mail_max_size is not parsed at all: failed, and its
-- content is not kept.
DELETE FROM mail_intake WHERE mail_id = 'huge.47.0001@acme.test';
SET ticketdesk.mail_max_size = '256kB';
SELECT outcome, reason, size_bytes, left(mail_id, 7) AS key
  FROM ingest_mail(pg_temp.fixture('47_huge_attachment.eml'));
SELECT raw IS NULL AS raw_dropped FROM mail_intake WHERE size_bytes > 400000;
RESET ticketdesk.mail_max_size;

-- Malformed input never raises an error: no header block, no sender, binary
-- garbage, broken MIME (read as far as it goes).
SELECT f AS fixture, i.outcome, i.reason
  FROM unnest(ARRAY['38_malformed_no_header_block.eml', '40_no_from_header.eml', '48_binary_garbage.eml',
                    '39_malformed_broken_mime.eml']) f
 CROSS JOIN LATERAL ingest_mail(pg_temp.fixture(f)) i;
SELECT count(*) AS failed, count(raw) AS raw_kept FROM mail_intake WHERE outcome = 'failed' AND size_bytes < 400000;
SELECT k.description, a.filename, a.size_bytes
  FROM ticket k LEFT JOIN attachment a USING (tenant_id, ticket_id) WHERE k.subject = 'Scanned document';
SELECT outcome, reason FROM ingest_mail(''::bytea);

-- An error while acting on a mail (here a site rule of its own that
-- refuses new tickets) is recorded with its SQLSTATE instead of being
-- raised, and leaves nothing half-written: no contact for the sender.
CREATE FUNCTION public.refuse_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tickets are frozen for the audit' USING ERRCODE = 'P0001';
END $$;
CREATE TRIGGER refuse BEFORE INSERT ON ticket FOR EACH ROW EXECUTE FUNCTION public.refuse_ticket();
SELECT outcome, reason, ticket_id, contact_id FROM ingest_mail(pg_temp.fixture('37_auto_submitted_no.eml'));
SELECT count(*) AS tomas FROM contact WHERE email = 'tomas@acme.test';
DROP TRIGGER refuse ON ticket;
DROP FUNCTION public.refuse_ticket();

-- Only a missing message is an error.
SELECT * FROM ingest_mail(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The intake log: one row per mail, its outcome and what it became.
SELECT outcome, count(*) FROM mail_intake GROUP BY outcome ORDER BY outcome;
SELECT count(*) FILTER (WHERE channel = 'email') AS by_email, count(*) AS tickets FROM ticket;
