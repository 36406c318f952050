-- The ticket lifecycle: every move is checked by the C trigger, whether it
-- comes from an API function or from a plain UPDATE by an ERP.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- A centre with a dispatcher and two executors, and a customer's contact.
INSERT INTO center (code, name) VALUES ('service', 'Field service');
INSERT INTO agent (name) VALUES ('Dana Dispatcher'), ('Eli Executor'), ('Fay Fixer');
INSERT INTO center_member (center_id, agent_id, role)
VALUES (1, 1, 'dispatcher'), (1, 2, 'executor'), (1, 3, 'executor');
INSERT INTO customer (name) VALUES ('Acme');
INSERT INTO contact (customer_id, name) VALUES (1, 'Rita Requester');

-- A ticket starts as new, with every lifecycle time but its creation empty.
SELECT ticket_id, reference, status, assignee_id, assigned_at IS NULL AS unassigned
  FROM open_ticket(subject => 'Boiler leaks', center_id => 1, contact_id => 1);

-- The dispatcher assigns it (R18); the executor acknowledges (R10), works,
-- waits on the customer, resumes and resolves (R19).
SELECT status, assignee_id, assigned_at IS NOT NULL AS stamped FROM assign(1, 2);
SELECT status, acknowledged_at IS NOT NULL AS stamped FROM acknowledge(1);
SELECT status, started_at IS NOT NULL AS stamped FROM start_work(1);
SELECT status FROM wait_for_customer(1, 'Which floor?');
SELECT status FROM resume(1, 'Third floor');
SELECT status, resolution, resolved_at IS NOT NULL AS stamped FROM resolve(1, 'Gasket replaced');

-- The requester confirms, the dispatcher closes (R19).
SELECT status, confirmed_at IS NOT NULL AS stamped FROM confirm(1);
SELECT status, closed_at IS NOT NULL AS stamped FROM close(1);

-- A refused move names the current status, the attempted one and the allowed ones.
SELECT status FROM cancel(1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A plain UPDATE by an ERP is held to the same rules.
UPDATE ticket SET status = 'acknowledged' WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Reopening clears the finished-work times and the old resolution; the first
-- start of work is kept.
SELECT status, resolved_at IS NULL AS r, confirmed_at IS NULL AS c, closed_at IS NULL AS cl,
       resolution IS NULL AS no_resolution, started_at IS NOT NULL AS started
  FROM reopen(1, 'Leaks again');

-- Resolving needs a resolution text.
SELECT status FROM resolve(1, '   ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A second ticket, opened with the requester's choice of employee (R04),
-- starts as assigned.
SELECT ticket_id, status, assignee_id
  FROM open_ticket(subject => 'Radiator cold', center_id => 1, contact_id => 1, assignee_id => 3);

-- The assignee rejects it (R51): back in the centre's queue, nobody holds it.
SELECT status, assignee_id FROM reject(2, 'On holiday');

-- Plain UPDATEs: setting an assignee on a new ticket assigns it; a status
-- that needs an assignee cannot be reached without one.
UPDATE ticket SET assignee_id = 2 WHERE ticket_id = 2 RETURNING status, assignee_id;
UPDATE ticket SET status = 'new' WHERE ticket_id = 2 RETURNING status, assignee_id;
UPDATE ticket SET status = 'assigned' WHERE ticket_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Reassigning keeps the status assigned and clears the acknowledgement.
SELECT status FROM assign(2, 2);
SELECT status FROM acknowledge(2);
SELECT status, assignee_id, acknowledged_at IS NULL AS not_acknowledged FROM assign(2, 3, 'Eli is ill');

-- A ticket cannot be inserted in a later status.
INSERT INTO ticket (type_id, center_id, contact_id, subject, status)
VALUES (1, 1, 1, 'Imported', 'resolved');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A ticket keeps its tenant, number and creation time.
UPDATE ticket SET created_at = created_at - interval '1 day' WHERE ticket_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET ticket_id = 99 WHERE ticket_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Its lifecycle times are stamped by the trigger alone.
UPDATE ticket SET resolved_at = '2020-01-01' WHERE ticket_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Cancelling an unfinished ticket.
SELECT status, cancelled_at IS NOT NULL AS stamped FROM cancel(2, 'Customer fixed it');
-- A cancelled ticket is finished for good: no move leads out of it, and the
-- refusal says so (allowed: none). The ticket and its history stay as they were.
SELECT (k.*)::text AS cancelled_row FROM ticket k WHERE ticket_id = 2 \gset
SELECT count(*) AS cancelled_events FROM ticket_event WHERE ticket_id = 2 \gset
SELECT status FROM reopen(2, 'Customer changed their mind');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM assign(2, 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT (k.*)::text = :'cancelled_row' AS row_unchanged,
       (SELECT count(*) FROM ticket_event WHERE ticket_id = 2) = :cancelled_events AS no_new_events
  FROM ticket k WHERE ticket_id = 2;

-- The allowed moves are data, per ticket type. A type with rows of its own
-- uses only those: here a "quick" type may go straight from new to resolved.
INSERT INTO ticket_type (code, name) VALUES ('quick', 'Quick fix');
SELECT ticket_id AS quick FROM open_ticket(subject => 'Reset password', center_id => 1,
                                           contact_id => 1, type => 'quick') \gset
SELECT status FROM resolve(:quick, 'Password reset by phone');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
-- The transaction that adds a move sees it at once.
INSERT INTO transition (type_id, from_status, to_status, move)
SELECT type_id, 'new', 'resolved', 'quick resolve' FROM ticket_type WHERE code = 'quick';
SELECT status FROM resolve(:quick, 'Password reset by phone');
COMMIT;
-- Once a type has moves of its own, the defaults no longer apply to it.
SELECT ticket_id AS quick2 FROM open_ticket(subject => 'Unlock account', center_id => 1,
                                            contact_id => 1, type => 'quick') \gset
SELECT status FROM assign(:quick2, 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The other types keep the defaults.
SELECT ticket_id AS other FROM open_ticket(subject => 'Another', center_id => 1, contact_id => 1) \gset
SELECT status FROM resolve(:other, 'Done');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Removing the move refuses it again at once, and with no rows of its own
-- the type falls back to the defaults.
DELETE FROM transition WHERE move = 'quick resolve';
SELECT status FROM resolve(:quick2, 'Done');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM assign(:quick2, 2);

-- The built-in default moves are part of the extension and cannot be changed.
DELETE FROM transition WHERE from_status = 'new' AND to_status = 'cancelled' AND type_id IS NULL;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Redirect to another centre (R18): the ticket returns to the new centre's
-- queue, from any unfinished status.
INSERT INTO center (code, name) VALUES ('it', 'IT support');
SELECT status FROM assign(:other, 2);
SELECT status FROM start_work(:other);
SELECT center_id, status, assignee_id FROM redirect(:other, 2, 'Not ours');
SELECT center_id, status FROM redirect(:other, 1, 'Back again');
-- A finished ticket cannot be redirected.
SELECT center_id, status FROM redirect(:quick, 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An ERP that changes the centre with a plain UPDATE redirects the ticket
-- the same way: to the new centre's queue, or to the assignee it names.
SELECT status FROM assign(:other, 2);
UPDATE ticket SET center_id = 2 WHERE ticket_id = :other RETURNING center_id, status, assignee_id;
UPDATE ticket SET center_id = 1, assignee_id = 3 WHERE ticket_id = :other RETURNING center_id, status, assignee_id;
SELECT kind, old_value, new_value FROM ticket_event
 WHERE ticket_id = :other AND kind IN ('status', 'center', 'assignee') ORDER BY event_id DESC LIMIT 5;
-- and a finished ticket stays where it was finished.
UPDATE ticket SET center_id = 2 WHERE ticket_id = :quick;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Moving a ticket that does not exist is refused.
SELECT status FROM acknowledge(999);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- So is a move that names an agent or a centre that does not exist, or
-- none, and a correction out of range; each with its own SQLSTATE, and
-- before anything is written: the ticket and its history stay as they were.
SELECT (k.*)::text AS other_row FROM ticket k WHERE ticket_id = :other \gset
SELECT count(*) AS other_events FROM ticket_event WHERE ticket_id = :other \gset
SELECT status FROM assign(:other, 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM assign(:other, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM redirect(:other, 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM redirect(:other, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM correct(:other, dispatcher_weight => 9);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- (terse: the detail shows the times)
\set VERBOSITY terse
SELECT status FROM correct(:other, deadline => (SELECT created_at - interval '1 minute' FROM ticket
                                                 WHERE ticket_id = :other));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT (k.*)::text = :'other_row' AS row_unchanged,
       (SELECT count(*) FROM ticket_event WHERE ticket_id = :other) = :other_events AS no_new_events
  FROM ticket k WHERE ticket_id = :other;

-- Plain UPDATEs cannot leave a ticket inconsistent.
SELECT ticket_id AS t FROM open_ticket(subject => 'Window stuck', center_id => 1, contact_id => 1) \gset
SELECT status FROM assign(:t, 2);
SELECT status FROM acknowledge(:t);
-- A new holder of acknowledged work starts again at assigned, unacknowledged.
UPDATE ticket SET assignee_id = 3 WHERE ticket_id = :t
RETURNING status, assignee_id, acknowledged_at IS NULL AS not_acknowledged;
-- Assigning the same holder again also asks for a new acknowledgement.
SELECT status FROM acknowledge(:t);
SELECT status, acknowledged_at IS NULL AS not_acknowledged FROM assign(:t, 3);
SELECT status FROM start_work(:t);
SELECT status FROM resolve(:t, 'Hinge oiled');
-- Finished work keeps its resolution.
UPDATE ticket SET resolution = NULL WHERE ticket_id = :t;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM close(:t);
-- A closed ticket keeps the holder it ended with.
UPDATE ticket SET assignee_id = 2 WHERE ticket_id = :t;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Every ticket has a requester, also when an ERP inserts it.
INSERT INTO ticket (type_id, center_id, subject) VALUES (1, 1, 'Nobody asked');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Sub-tickets form a tree, never a cycle (R27).
SELECT ticket_id AS child FROM open_ticket(subject => 'Order hinge', center_id => 1, contact_id => 1,
                                           parent_id => :t) \gset
UPDATE ticket SET parent_id = :child WHERE ticket_id = :t;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The built-in moves cannot be truncated away either.
TRUNCATE transition;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The lifecycle of ticket 1, as its history shows it.
SELECT kind, old_value, new_value, note FROM ticket_history(1);
