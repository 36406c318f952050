-- Confirm or reject by reply (R51), in the five languages of the sources.
-- An assignee's reply whose first line is a confirm or reject keyword
-- acknowledges or rejects the assignment through the lifecycle; a
-- requester's reply to a resolved ticket confirms it or reopens it. The
-- reply itself is always kept as a remark.
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

INSERT INTO center (code, name, email) VALUES ('hq', 'Head office', 'help@desk.example');
INSERT INTO agent (name, email, language)
VALUES ('Dana Dispatcher', 'dana@desk.example', 'en'), ('Eli Executor', 'eli@desk.example', 'lt'),
       ('Fay Fixer', 'fay@desk.example', 'pl'), ('Noa Technician', 'noa@desk.example', 'he'),
       ('Ion Tehnician', 'ion@desk.example', 'ro');
INSERT INTO customer (name, email) VALUES ('Acme UAB', 'office@acme.test');
INSERT INTO contact (customer_id, name, email, language) VALUES (1, 'Rita Requester', 'rita@acme.test', 'lt');

-- The keywords: built in for en, lt, pl, he, ro; the author's language and
-- English count. A keyword must stand alone on the first line or be
-- followed by punctuation.
SELECT language, kind, string_agg(word, ', ' ORDER BY word) FROM mail_default_keywords()
 GROUP BY language, kind ORDER BY language, kind;
SELECT r AS first_line, mail_keyword_of(r, 'en') AS en, mail_keyword_of(r, 'lt') AS lt
  FROM unnest(ARRAY['Confirm', 'confirmed, on my way', 'No problem, I will do it', 'No.', 'Reject: on holiday',
                    'Atmetu - atostogos', 'Taip', '  yes  ', 'Yesterday it worked', 'OK']) r;

-- Nine tickets, each allocated to one of the agents (R50).
SELECT count(*) AS opened FROM (
    SELECT open_ticket(subject => s, center_id => 1, contact_id => 1, assignee_id => a, channel => 'web')
      FROM (VALUES ('Boiler makes a knocking noise', 1), ('Pump replacement', 2), ('Valve check', 3),
                   ('Air conditioning', 4), ('Intervention at the warehouse', 5), ('Pump bearing', 2),
                   ('Radiator stays cold', 2), ('Boiler location', 2), ('Replace the badge reader', 1)) v(s, a)) x;

-- Dana (en) confirms: acknowledged, with Dana as the actor.
SELECT outcome, action, ticket_id, agent_id FROM ingest_mail(pg_temp.fixture('19_assignee_confirm_en.eml'));
SELECT status FROM ticket WHERE ticket_id = 1;
SELECT kind, new_value, note, actor FROM ticket_history(1) WHERE kind = 'status';

-- A keyword from a participant who is not the assignee (Dana watches
-- TD-000002) only makes a remark.
SELECT add_watcher(2, agent_id => 1) > 0 AS watching;
SELECT outcome, action, ticket_id FROM ingest_mail(pg_temp.fixture('24_keyword_from_non_assignee.eml'));
SELECT status FROM ticket WHERE ticket_id = 2;

-- Eli (lt) confirms: "Patvirtinu".
SELECT outcome, action FROM ingest_mail(pg_temp.fixture('20_assignee_confirm_lt.eml'));
-- Fay (pl) rejects: "Odrzucam: jestem na urlopie do piątku." The ticket goes
-- back to the queue with her reason in the history.
SELECT outcome, action FROM ingest_mail(pg_temp.fixture('21_assignee_reject_pl.eml'));
-- Noa (he) confirms: "מאשרת".
SELECT outcome, action FROM ingest_mail(pg_temp.fixture('22_assignee_confirm_he.eml'));
-- Ion (ro) rejects: "Resping - sunt în concediu până vineri."
SELECT outcome, action FROM ingest_mail(pg_temp.fixture('23_assignee_reject_ro.eml'));
SELECT ticket_id, status, assignee_id FROM ticket WHERE ticket_id <= 5 ORDER BY ticket_id;
SELECT ticket_id, new_value, note, actor_agent_id FROM ticket_event
 WHERE kind = 'status' AND new_value = 'new' AND ticket_id IN (3, 5) ORDER BY ticket_id;
-- Every reply is a remark of its author.
SELECT m.ticket_id, a.name, m.body FROM message m JOIN agent a ON a.agent_id = m.author_agent_id
 ORDER BY m.message_id;

-- The requester answers a resolved ticket: a confirm keyword ("Taip, viskas
-- veikia") confirms it; anything else reopens it.
SELECT status FROM start_work(6);
SELECT status FROM resolve(6, 'Replaced the pump bearing.');
SELECT status FROM start_work(7);
SELECT status FROM resolve(7, 'Bled the system.');
SELECT outcome, action FROM ingest_mail(pg_temp.fixture('25_requester_confirms_resolved.eml'));
SELECT outcome, action FROM ingest_mail(pg_temp.fixture('26_requester_reopens_resolved.eml'));
SELECT ticket_id, status, resolution FROM ticket WHERE ticket_id IN (6, 7) ORDER BY ticket_id;
SELECT ticket_id, new_value, note FROM ticket_event
 WHERE kind = 'status' AND ticket_id IN (6, 7) ORDER BY event_id DESC LIMIT 2;

-- A ticket waiting for the customer resumes when the requester answers.
SELECT status FROM start_work(8);
SELECT status FROM wait_for_customer(8, 'Asked where the boiler is');
SELECT outcome, action FROM ingest_mail(pg_temp.fixture('27_requester_answers_waiting.eml'));
SELECT status FROM ticket WHERE ticket_id = 8;

-- A tenant sets its own keywords: they replace the built-in ones of that
-- language. "Roger." now confirms; "confirm" no longer does in English.
INSERT INTO mail_keyword (language, kind, word) VALUES ('en', 'confirm', 'roger'), ('en', 'reject', 'negative');
SELECT mail_keyword_of('Confirm', 'en') AS confirm, mail_keyword_of('Roger.', 'en') AS roger,
       mail_keyword_of('Patvirtinu', 'lt') AS lt_untouched;
SELECT outcome, action FROM ingest_mail(pg_temp.fixture('28_assignee_custom_keyword.eml'));
SELECT status FROM ticket WHERE ticket_id = 9;
INSERT INTO mail_keyword (language, kind, word) VALUES ('en', 'confirm', ' Yes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO mail_keyword (language, kind, word) VALUES ('en', 'maybe', 'perhaps');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
