-- History: every change of a ticket leaves an event row saying who, when,
-- the old and the new value and why; the history is append-only. Also the
-- remarks, attachments and watchers that go with a ticket.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- Roles are cluster-wide: drop leftovers of an earlier, interrupted run.
SET client_min_messages = warning;
DROP ROLE IF EXISTS td_history_alice;
DROP ROLE IF EXISTS td_history_erp;
RESET client_min_messages;

--
-- Setup: three centres (network sits under helpdesk), categories, internal
-- categories, three agents, a customer with a contact person.
--
INSERT INTO center (code, name) VALUES ('helpdesk', 'Helpdesk') RETURNING center_id;
INSERT INTO center (code, name, parent_id) VALUES ('network', 'Network team', 1) RETURNING center_id;
INSERT INTO center (code, name) VALUES ('facilities', 'Facilities') RETURNING center_id;
INSERT INTO category (center_id, code, name)
VALUES (1, 'printer', 'Printers'), (1, 'general', 'General IT'), (3, 'building', 'Building')
RETURNING category_id, center_id, code;
INSERT INTO internal_category (code, name) VALUES ('hw', 'Hardware'), ('sw', 'Software')
RETURNING internal_category_id, code;
-- Alice logs in as her own database role; Bob and Carol have none.
INSERT INTO agent (name, login_role)
VALUES ('Alice Dispatcher', 'td_history_alice'), ('Bob Technician', NULL), ('Carol Coordinator', NULL)
RETURNING agent_id, name, login_role;
INSERT INTO customer (name) VALUES ('Initech') RETURNING customer_id;
INSERT INTO contact (customer_id, name) VALUES (1, 'Peter Gibbons') RETURNING contact_id;

-- Alice's role is mapped to her agent; the ERP's role is mapped to nobody.
CREATE ROLE td_history_alice NOLOGIN;
CREATE ROLE td_history_erp NOLOGIN;
GRANT USAGE ON SCHEMA ticketdesk TO td_history_alice, td_history_erp;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk TO td_history_alice, td_history_erp;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ticketdesk TO td_history_alice, td_history_erp;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ticketdesk TO td_history_alice, td_history_erp;

--
-- 1. Opening: one "created" event. The actor is Alice, found through
--    agent.login_role = current_user, and she is recorded as registrar.
--
SET ROLE td_history_alice;
SELECT current_user, current_agent();
SELECT ticket_id, status, customer_id, contact_id, category_id, registered_by
  FROM open_ticket('Printer on the 2nd floor jams', 1, contact_id => 1, category_id => 1,
                   channel => 'phone', description => 'Paper jam on every print job.');
SELECT event_id, kind, old_value, new_value, note, actor_agent_id, actor_role, at IS NOT NULL AS at_set
  FROM ticket_event WHERE ticket_id = 1 ORDER BY event_id;

--
-- 2. Assigning: a status event and an assignee event, both with the note.
--
SELECT max(event_id) AS seen FROM ticket_event \gset
SELECT ticket_id, status, assignee_id FROM assign(1, 2, 'Bob knows this printer model');
SELECT event_id, kind, old_value, new_value, note, actor_agent_id, actor_role, at IS NOT NULL AS at_set
  FROM ticket_event WHERE event_id > :seen ORDER BY event_id;
-- The API's note was for that change only.
SELECT current_setting('ticketdesk.note') = '' AS note_cleared;
RESET ROLE;

--
-- 3. A dispatcher's correction: one event per changed field, all with the
--    note. The actor comes from the setting ticketdesk.agent (Carol), which
--    wins over the role mapping.
--
SET ticketdesk.agent = 3;
SELECT current_agent();
SET ROLE td_history_alice;
SELECT current_agent();
RESET ROLE;
SELECT max(event_id) AS seen FROM ticket_event \gset
SELECT category_id, internal_category_id, dispatcher_weight, requester_weight
  FROM correct(1, category_id => 2, internal_category_id => 1, dispatcher_weight => 4,
               requester_weight => 2, note => 'Reclassified after calling back');
SELECT event_id, kind, old_value, new_value, note, actor_agent_id, actor_role
  FROM ticket_event WHERE event_id > :seen ORDER BY event_id;
-- Correcting to the values it already has changes nothing and records nothing.
SELECT max(event_id) AS seen FROM ticket_event \gset
SELECT category_id, dispatcher_weight FROM correct(1, category_id => 2, dispatcher_weight => 4, note => 'Same again');
SELECT count(*) AS new_events FROM ticket_event WHERE event_id > :seen;

--
-- 4. Redirects. To the network team, under helpdesk: the ticket goes back
--    to the queue (status and assignee events) and keeps its category,
--    which helpdesk defines for every centre beneath it.
--
SELECT max(event_id) AS seen FROM ticket_event \gset
SELECT status, assignee_id, center_id, category_id FROM redirect(1, 2, 'Network printer: network team');
SELECT event_id, kind, old_value, new_value, note, actor_agent_id
  FROM ticket_event WHERE event_id > :seen ORDER BY event_id;
-- To facilities: the category does not serve that centre and is cleared.
-- The ticket is already new, so there is no status event.
SELECT max(event_id) AS seen FROM ticket_event \gset
SELECT status, center_id, category_id FROM redirect(1, 3, 'It is the power socket');
SELECT event_id, kind, old_value, new_value, note, actor_agent_id
  FROM ticket_event WHERE event_id > :seen ORDER BY event_id;
RESET ticketdesk.agent;

-- A refused move writes nothing.
SELECT count(*) AS events FROM ticket_event \gset
SELECT status FROM move(1, 'closed', 'Trying to skip ahead');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) - :events AS new_events FROM ticket_event;

--
-- 5. An ERP fixes the priority with a plain UPDATE (a priority set by hand
--    is a fixed one: doc/priority.md). Its note comes from SET LOCAL
--    ticketdesk.note; its role is recorded, with no agent.
--
SET ROLE td_history_erp;
SELECT current_user, current_agent() IS NULL AS no_agent;
SELECT max(event_id) AS seen FROM ticket_event \gset
BEGIN;
SET LOCAL ticketdesk.note = 'ERP: premium maintenance contract';
UPDATE ticket SET priority = 'high', priority_fixed = true WHERE ticket_id = 1;
COMMIT;
-- The note ended with the transaction: the next change has none.
UPDATE ticket SET priority = 'urgent' WHERE ticket_id = 1;
SELECT event_id, kind, old_value, new_value, note, actor_agent_id, actor_role
  FROM ticket_event WHERE event_id > :seen ORDER BY event_id;
RESET ROLE;

-- The whole story, oldest first, with the actors' names (or roles).
SELECT event_id, kind, old_value, new_value, note, actor FROM ticket_history(1);

--
-- 6. The history is append-only, for a superuser too.
--
UPDATE ticket_event SET note = 'rewritten' WHERE event_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM ticket_event WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE ticket_event;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ROLE td_history_erp;
UPDATE ticket_event SET new_value = 'low' WHERE kind = 'priority';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS events, count(*) FILTER (WHERE note = 'rewritten') AS rewritten FROM ticket_event;

--
-- 7. Remarks, public and internal, by agents or by the contact person,
--    optionally linking a registered document.
--
SET ROLE td_history_alice;
SELECT comment(1, 'Called Peter: the power socket sparks.') AS message_id;
SELECT comment(1, 'Warranty ran out last month.', internal => true, author_agent_id => 2) AS message_id;
SELECT comment(1, 'Thank you, we keep the printer off.', author_contact_id => 1) AS message_id;
SELECT comment(1, 'Electrician''s report registered.', document_link => 'dms://reports/2024/0042') AS message_id;
SELECT message_id, ticket_id, author_agent_id, author_contact_id, internal, body, document_link
  FROM message ORDER BY message_id;
-- A remark needs a text: empty, blank or missing is refused.
SELECT comment(1, '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT comment(1, '   ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT comment(1, E'\n\t ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT comment(1, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS messages FROM message;
-- An author who does not exist is refused, and the ticket, its history and
-- its remarks stay as they were.
SELECT (k.*)::text AS ticket_row FROM ticket k WHERE ticket_id = 1 \gset
SELECT count(*) AS events FROM ticket_event WHERE ticket_id = 1 \gset
SELECT comment(1, 'Who wrote this?', author_agent_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT (k.*)::text = :'ticket_row' AS row_unchanged,
       (SELECT count(*) FROM ticket_event WHERE ticket_id = 1) = :events AS no_new_events,
       (SELECT count(*) FROM message) AS messages
  FROM ticket k WHERE ticket_id = 1;

--
-- 8. Attachments: size and SHA-256 are computed, whatever the caller says.
--
SELECT attach(1, 'notes.txt', convert_to('hello', 'UTF8'), 'text/plain') AS attachment_id;
SELECT attach(1, 'socket.jpg', '\xffd8ffe000104a464946'::bytea, 'image/jpeg', message_id => 1) AS attachment_id;
SELECT attach(1, 'dump.bin', '\x00'::bytea) AS attachment_id;
INSERT INTO attachment (ticket_id, filename, data, size_bytes, sha256)
VALUES (1, 'claims.txt', convert_to('abc', 'UTF8'), 999, '\x00') RETURNING attachment_id;
SELECT attachment_id, message_id, filename, content_type, size_bytes,
       sha256 = sha256(data) AS sha_matches_data
  FROM attachment ORDER BY attachment_id;
SELECT encode(sha256, 'hex') = encode(sha256(convert_to('hello', 'UTF8')), 'hex') AS hello_sha,
       encode(sha256, 'hex') AS hex
  FROM attachment WHERE attachment_id = 1;
SELECT sha256 = sha256('\xffd8ffe000104a464946'::bytea) AS jpeg_sha FROM attachment WHERE attachment_id = 2;
SELECT size_bytes, sha256 = sha256(convert_to('abc', 'UTF8')) AS abc_sha FROM attachment WHERE attachment_id = 4;
-- A later UPDATE cannot make size and checksum disagree with the data.
UPDATE attachment SET size_bytes = 1, sha256 = '\x00' WHERE attachment_id = 1;
SELECT size_bytes, sha256 = sha256(data) AS sha_matches_data FROM attachment WHERE attachment_id = 1;
UPDATE attachment SET data = convert_to('hello, world', 'UTF8') WHERE attachment_id = 1;
SELECT size_bytes, sha256 = sha256(data) AS sha_matches_data FROM attachment WHERE attachment_id = 1;
-- Only a superuser may change the size limit.
SET ticketdesk.max_attachment_size = '100MB';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- With a 1 kB limit, 1024 bytes pass and 1025 bytes are refused.
SET ticketdesk.max_attachment_size = '1kB';
SELECT max_attachment_bytes();
SELECT attach(1, 'exactly-1k.bin', convert_to(repeat('x', 1024), 'UTF8')) AS attachment_id;
SELECT count(*) AS attachments FROM attachment \gset
SELECT attach(1, 'too-big.bin', convert_to(repeat('x', 1025), 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO attachment (ticket_id, filename, data, size_bytes, sha256)
VALUES (1, 'too-big.bin', convert_to(repeat('x', 2048), 'UTF8'), 0, '\x00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) - :attachments AS written, count(*) FILTER (WHERE filename = 'too-big.bin') AS too_big
  FROM attachment;
RESET ticketdesk.max_attachment_size;

-- A file can only hang on a remark of the same ticket. (The second ticket
-- is opened assigned: its history starts with the assignee too.)
SELECT ticket_id, status, assignee_id FROM open_ticket('Second printer', 1, customer_id => 1, assignee_id => 2);
SELECT event_id, kind, old_value, new_value, actor_agent_id, actor_role
  FROM ticket_event WHERE ticket_id = 2 ORDER BY event_id;
SELECT attach(2, 'wrong.txt', convert_to('x', 'UTF8'), message_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT attach(2, 'nowhere.txt', convert_to('x', 'UTF8'), message_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS attachments_of_ticket_2 FROM attachment WHERE ticket_id = 2;

--
-- 9. Watchers: the ticket forwarded for consultation or for information.
--
SET ROLE td_history_alice;
SELECT add_watcher(1, agent_id => 3, purpose => 'consultation', note => 'Is the warranty really over?') AS watcher_id;
SELECT add_watcher(1, contact_id => 1, note => 'Keep Peter informed') AS watcher_id;
-- Adding the same watcher again returns the same id and changes nothing.
SELECT add_watcher(1, agent_id => 3, purpose => 'information', note => 'Again') AS watcher_id;
SELECT watcher_id, ticket_id, agent_id, contact_id, purpose, note, added_by, added_at IS NOT NULL AS at_set
  FROM watcher ORDER BY watcher_id;
SELECT event_id, kind, old_value, new_value, note, actor_agent_id, actor_role
  FROM ticket_event WHERE kind = 'watcher' ORDER BY event_id;
-- A watcher is exactly one of an agent and a contact.
SELECT add_watcher(1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_watcher(1, agent_id => 2, contact_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The purpose is consultation or information.
SELECT add_watcher(1, agent_id => 2, purpose => 'gossip');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_watcher(1, agent_id => 2, purpose => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An agent or a contact who does not exist is refused.
SELECT (k.*)::text AS ticket_row FROM ticket k WHERE ticket_id = 1 \gset
SELECT count(*) AS events FROM ticket_event WHERE ticket_id = 1 \gset
SELECT add_watcher(1, agent_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_watcher(1, contact_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- None of the refused calls changed the ticket or added a history row or
-- a watcher.
SELECT (k.*)::text = :'ticket_row' AS row_unchanged,
       (SELECT count(*) FROM ticket_event WHERE ticket_id = 1) = :events AS no_new_events,
       (SELECT count(*) FROM watcher) AS watchers
  FROM ticket k WHERE ticket_id = 1;
RESET ROLE;

--
-- 10. How the trigger writes a history row: as logical replication applies
--     a row (src/append.c), not through an INSERT statement. The table's
--     defaults, constraints and row triggers apply; the caller's INSERT
--     privilege and policies on ticket_event do not, and neither do
--     statement triggers.
--
SELECT ticket_id AS t10 FROM open_ticket('Badge reader at the door is dead', 3, contact_id => 1) \gset
-- A DBA adds a column with a default, a row trigger and a statement trigger.
ALTER TABLE ticket_event ADD COLUMN source text DEFAULT 'desk';
CREATE FUNCTION event_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE '% trigger saw %', TG_LEVEL, coalesce(NEW.kind, 'the statement');
    RETURN NEW;
END $$;
CREATE TRIGGER event_seen_row BEFORE INSERT ON ticket_event FOR EACH ROW EXECUTE FUNCTION event_seen();
CREATE TRIGGER event_seen_statement AFTER INSERT ON ticket_event FOR EACH STATEMENT EXECUTE FUNCTION event_seen();
-- Alice may no longer insert history rows herself; her move is recorded
-- all the same, with the new column's default, and only the row trigger
-- speaks.
REVOKE INSERT ON ticket_event FROM td_history_alice;
SET ROLE td_history_alice;
INSERT INTO ticket_event (ticket_id, kind) VALUES (:t10, 'forged');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM assign(:t10, 2);
RESET ROLE;
SELECT kind, new_value, actor_agent_id, source FROM ticket_event WHERE ticket_id = :t10 ORDER BY event_id;
-- A check constraint on the history refuses the change it would record,
-- and nothing of the change stays.
ALTER TABLE ticket_event ADD CONSTRAINT no_subject_change CHECK (kind <> 'subject');
\set VERBOSITY terse
UPDATE ticket SET subject = 'Badge reader at the main door is dead' WHERE ticket_id = :t10;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT subject FROM ticket WHERE ticket_id = :t10;
ALTER TABLE ticket_event DROP CONSTRAINT no_subject_change;
DROP TRIGGER event_seen_row ON ticket_event;
DROP TRIGGER event_seen_statement ON ticket_event;
DROP FUNCTION event_seen();
ALTER TABLE ticket_event DROP COLUMN source;
GRANT INSERT ON ticket_event TO td_history_alice;

-- Clean up the roles, which outlive this database.
DROP OWNED BY td_history_alice, td_history_erp;
DROP ROLE td_history_alice, td_history_erp;

-- The acting agent must belong to the tenant: a wrong setting is refused
-- rather than recorded as a false actor.
SET ticketdesk.agent = 999;
SELECT status FROM move(1, 'cancelled');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ticketdesk.agent;
-- A remark has one author; an attachment needs a name and content.
SELECT comment(1, 'Two voices', author_agent_id => 1, author_contact_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT attach(1, 'empty.txt', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT attach(1, '  ', 'abc'::bytea);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
