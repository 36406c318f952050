-- Every mail in test/fixtures, taken in by ingest_mail in file-name order:
-- what it became. A fixture added without a line here makes this test fail,
-- so every fixture has its regression test. The stories behind these
-- outcomes are told in mail_intake, mail_threading, mail_confirm and
-- mail_loops.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

\getenv abs_srcdir PG_ABS_SRCDIR
\set fixtures :abs_srcdir '/test/fixtures/'
SET td.fixtures = :'fixtures';

-- The desk: three centres with mailboxes, five agents, a customer's contact.
INSERT INTO center (code, name, email)
VALUES ('hq', 'Head office', 'help@desk.example'), ('heating', 'Heating service', 'heating@desk.example'),
       ('it', 'IT support', 'it@desk.example');
INSERT INTO agent (name, email, language)
VALUES ('Dana Dispatcher', 'dana@desk.example', 'en'), ('Eli Executor', 'eli@desk.example', 'lt'),
       ('Fay Fixer', 'fay@desk.example', 'pl'), ('Noa Technician', 'noa@desk.example', 'he'),
       ('Ion Tehnician', 'ion@desk.example', 'ro');
INSERT INTO customer (name, email) VALUES ('Acme UAB', 'office@acme.test');
INSERT INTO contact (customer_id, name, email, language) VALUES (1, 'Rita Requester', 'rita@acme.test', 'lt');
-- A huge mail is parsed under the default limit; this run caps attachments.
SET ticketdesk.max_attachment_size = '256kB';

-- What the parser reads from each fixture.
SELECT f.name AS fixture, p.error, p.subject, p.from_addr, p.auto_reason, p.html_only,
       cardinality(p.parts) AS files,
       left(regexp_replace(p.reply_text, '\s+', ' ', 'g'), 50) AS text
  FROM pg_ls_dir(:'fixtures') AS f(name)
 CROSS JOIN LATERAL parse_mail(pg_read_binary_file(:'fixtures' || f.name)) p
 WHERE f.name LIKE '%.eml'
 ORDER BY f.name;

-- What ingest_mail makes of each, in order.
CREATE FUNCTION pg_temp.ingest_all() RETURNS TABLE (fixture text, intake mail_intake)
    LANGUAGE plpgsql AS $$
BEGIN
    FOR fixture IN SELECT name FROM pg_ls_dir(current_setting('td.fixtures')) AS name
                    WHERE name LIKE '%.eml' ORDER BY name LOOP
        intake := ingest_mail(pg_read_binary_file(current_setting('td.fixtures') || fixture));
        RETURN NEXT;
    END LOOP;
END $$;
SELECT fixture, (intake).outcome, (intake).action, (intake).flagged, (intake).ticket_id,
       left((intake).reason, 60) AS reason
  FROM pg_temp.ingest_all();
SELECT reference, status, center_id, parent_id, subject FROM ticket ORDER BY ticket_id;

-- Taking them all in again changes nothing.
SELECT count(*) AS intakes, count(*) FILTER (WHERE outcome = 'failed') AS failed FROM mail_intake;
SELECT (SELECT count(*) FROM ticket) AS tickets, (SELECT count(*) FROM message) AS remarks,
       (SELECT count(*) FROM attachment) AS files \gset before_
SELECT count(*) AS changed FROM pg_temp.ingest_all() WHERE (intake).received_at = now();
SELECT (SELECT count(*) FROM ticket) = :before_tickets AS same_tickets,
       (SELECT count(*) FROM message) = :before_remarks AS same_remarks,
       (SELECT count(*) FROM attachment) = :before_files AS same_files,
       (SELECT count(*) FROM mail_intake) AS intakes;
