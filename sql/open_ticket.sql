-- Opening a ticket (R01, R04, R16, R17, R46-R49), and every refusal of bad
-- input with its own SQLSTATE. A refused request writes nothing.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- Centres as a tree: categories of the head office serve the branch too.
INSERT INTO center (code, name) VALUES ('hq', 'Head office');
INSERT INTO center (code, name, parent_id) VALUES ('branch', 'Kaunas branch', 1);
INSERT INTO center (code, name) VALUES ('other', 'Other company unit');
INSERT INTO category (center_id, code, name) VALUES (1, 'heating', 'Heating');
INSERT INTO category (center_id, code, name, parent_id) VALUES (1, 'boiler', 'Boilers', 1);
INSERT INTO category (center_id, code, name) VALUES (3, 'legal', 'Legal');
INSERT INTO agent (name, email) VALUES ('Dana Dispatcher', 'dana@example.com'), ('Eli Executor', 'eli@example.com');
INSERT INTO agent (name, active) VALUES ('Gone Away', false);
INSERT INTO customer (name, tax_id, email, phone, work_phone)
VALUES ('Acme UAB', 'LT100001', 'office@acme.test', '+37060000001', '+37052000001'),
       ('Beta SRL', 'RO200002', 'office@beta.test', NULL, NULL);
INSERT INTO contact (customer_id, name, position, preferred_channel, email, language)
VALUES (1, 'Rita Requester', 'Facility manager', 'sms', 'rita@acme.test', 'lt'),
       (2, 'Ion Popescu', 'Director', 'email', 'ion@beta.test', 'ro');
INSERT INTO product (code, name) VALUES ('B-200', 'Boiler B-200');

-- A customer's request from the web form, with everything it can carry:
-- category, weight, wanted deadline, planned period, site, object.
SELECT site_for(1, 'Laisvės al. 10, Kaunas', 54.8985, 23.9036) AS site \gset
SELECT reference, status, channel, requester_weight, priority, customer_id, contact_id,
       category_id, product_id, object_text, invoice_ref, site_id = :site AS at_site,
       lower(planned) = '2026-03-02 08:00+00' AND upper(planned) = '2026-03-06 17:00+00' AS planned_ok,
       created_at = updated_at AS fresh
  FROM open_ticket(subject => 'Boiler makes noise', center_id => 2, contact_id => 1,
                   category_id => 2, channel => 'web', requester_weight => 4,
                   deadline => now() + interval '3 days',
                   planned_from => '2026-03-02 08:00+00', planned_to => '2026-03-06 17:00+00',
                   site_id => :site, product_id => 1, object_text => 'Basement boiler',
                   invoice_ref => 'INV-2026-0042/3', description => 'Loud knocking since Monday');

-- A phone call: the dispatcher registers on the customer's behalf (R17); an
-- intervention of type from the list (R46).
SELECT reference, channel, registered_by, type_id = (SELECT type_id FROM ticket_type WHERE code = 'intervention') AS intervention
  FROM open_ticket(subject => 'No hot water', center_id => 1, customer_id => 2, contact_id => 2,
                   channel => 'phone', registered_by => 1, type => 'intervention');

-- The registering agent defaults to the session's agent.
SET ticketdesk.agent = 2;
SELECT registered_by FROM open_ticket(subject => 'Internal: replace badge', center_id => 1,
                                      requester_agent_id => 1, channel => 'internal', type => 'task');
RESET ticketdesk.agent;

-- A contact alone brings the contact's customer along.
SELECT customer_id FROM open_ticket(subject => 'Leak', center_id => 1, contact_id => 2);

-- A sub-ticket in a work breakdown (R27).
SELECT parent_id FROM open_ticket(subject => 'Order spare part', center_id => 1, customer_id => 1, parent_id => 1);

SELECT count(*) AS tickets_before FROM ticket \gset
-- What an opening writes besides the ticket and its history: the
-- requester's message (outbox), remarks, attachments, sites, and the
-- assignee's load. Taken before the refusals, and compared after them.
CREATE TEMP VIEW written AS
SELECT (SELECT count(*) FROM ticket) AS tickets, (SELECT count(*) FROM ticket_event) AS events,
       (SELECT count(*) FROM outbox) AS outbox, (SELECT count(*) FROM message) AS messages,
       (SELECT count(*) FROM attachment) AS attachments, (SELECT count(*) FROM site) AS sites,
       (SELECT coalesce(sum(open_tickets), 0) FROM agent_load) AS load;
SELECT * FROM written;
SELECT (w.*)::text AS written_before FROM written w \gset

-- Refusals. Unknown or inactive references:
SELECT open_ticket(subject => 'x', center_id => 99, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => NULL, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, contact_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, assignee_id => 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, registered_by => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, type => 'complaint');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, category_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, site_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, product_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, parent_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A category of another centre's tree; a contact of another customer; no requester.
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, category_id => 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, contact_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A site of another customer.
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 2, site_id => :site);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A missing or blank subject.
SELECT open_ticket(subject => NULL, center_id => 1, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => E' \t ', center_id => 1, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Weights out of range.
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, requester_weight => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, requester_weight => 100000);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A deadline before the ticket exists (terse: the detail shows the times).
\set VERBOSITY terse
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, deadline => now() - interval '1 hour');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- Malformed planned periods: the end before the start, or only one end.
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1,
                   planned_from => '2026-03-06', planned_to => '2026-03-02');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT open_ticket(subject => 'x', center_id => 1, customer_id => 1, planned_from => '2026-03-06');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Nothing was written by any refused request.
SELECT count(*) = :tickets_before AS nothing_written FROM ticket;
SELECT count(*) AS events FROM ticket_event;
SELECT (w.*)::text = :'written_before' AS nothing_half_written FROM written w;

-- The same rules hold for a plain INSERT or UPDATE by an ERP. Ticket 1's
-- values that the UPDATEs below try to break are taken first.
SELECT (k.deadline, k.planned, k.dispatcher_weight,
        (SELECT count(*) FROM ticket_event e WHERE e.ticket_id = k.ticket_id))::text AS ticket_1_before
  FROM ticket k WHERE ticket_id = 1 \gset
INSERT INTO ticket (type_id, center_id, customer_id, subject) VALUES (1, 1, 1, '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO ticket (type_id, center_id, customer_id, subject, requester_weight) VALUES (1, 1, 1, 'x', 6);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO ticket (type_id, center_id, customer_id, subject, requester_weight) VALUES (1, 1, 1, 'x', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET dispatcher_weight = 0 WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
UPDATE ticket SET deadline = created_at - interval '1 minute' WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
UPDATE ticket SET planned = tstzrange('2026-03-02', NULL) WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET planned = 'empty' WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO ticket (type_id, center_id, customer_id, subject) VALUES (1, 99, 1, 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Ticket 1 kept its deadline, planned period, dispatcher's weight and
-- history; the refused INSERTs wrote nothing anywhere.
SELECT deadline IS NOT NULL AS has_deadline, planned IS NOT NULL AS has_planned,
       dispatcher_weight IS NULL AS no_dispatcher_weight,
       (deadline, planned, dispatcher_weight,
        (SELECT count(*) FROM ticket_event e WHERE e.ticket_id = k.ticket_id))::text = :'ticket_1_before' AS unchanged
  FROM ticket k WHERE ticket_id = 1;
SELECT (w.*)::text = :'written_before' AS nothing_half_written FROM written w;

-- A ticket is found by its readable reference, however it is typed.
SELECT ticket_id, subject FROM ticket_by_reference(' td-000002 ');
SELECT ticket_id FROM ticket_by_reference('TD-999999');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- It is found through the primary key: ticket has no index on the
-- reference (unique because the number is), and ticket_number_of reads a
-- reference back into its number, exactly as ticket_reference_of writes it
-- and nothing else (not a lower-case one, a padded seven-digit one, a short
-- one, one with a blank, or one past bigint).
SELECT count(*) AS indexes_on_reference FROM pg_index i JOIN pg_attribute a
    ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
 WHERE i.indrelid = 'ticket'::regclass AND a.attname = 'reference';
SELECT n, ticket_reference_of(n) AS reference, ticket_number_of(ticket_reference_of(n)) = n AS round_trip
  FROM unnest(ARRAY[0, 2, 999999, 1000000, 9223372036854775807]) n;
SELECT r, ticket_number_of(r) AS number
  FROM unnest(ARRAY['TD-000002', 'td-000002', 'TD-0000002', 'TD-00002', 'TD-000002 ', 'TD-00000A',
                    'XX-000002', 'TD-99999999999999999999']) r;
-- A negative number (no sequence gives one) keeps all its digits, so that
-- no two numbers share a reference (until 0.10 lpad cut it to six).
SELECT ticket_reference_of(-1234567) AS negative, ticket_reference_of(-1234568) AS next;

-- The tenant, the centre, the type and the category of an opening are
-- checked from a per-backend cache (opening_references): any change of
-- those tables is seen by the next opening, in the same transaction too,
-- and a rolled-back change is forgotten.
SELECT opening_references(1, 2, 'incident', 2) = (SELECT type_id FROM ticket_type WHERE code = 'incident') AS cached_type,
       opening_references(1, 2, 'complaint', 2) IS NULL AS unknown_type,
       opening_references(1, 3, 'incident', 2) IS NULL AS not_this_tree,
       opening_references(2, 2, 'incident', 2) IS NULL AS other_tenant;
SELECT count(*) AS opened FROM open_ticket(subject => 'Cached', center_id => 2, customer_id => 1, category_id => 2);
UPDATE category SET active = false WHERE category_id = 2;
SELECT open_ticket(subject => 'x', center_id => 2, customer_id => 1, category_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE category SET active = true WHERE category_id = 2;
SELECT count(*) AS opened FROM open_ticket(subject => 'Cached', center_id => 2, customer_id => 1, category_id => 2);
-- Legal serves the other unit only, until it moves to the head office.
SELECT open_ticket(subject => 'x', center_id => 2, customer_id => 1, category_id => 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE category SET center_id = 1 WHERE category_id = 3;
SELECT count(*) AS opened FROM open_ticket(subject => 'Cached', center_id => 2, customer_id => 1, category_id => 3);
UPDATE category SET center_id = 3 WHERE category_id = 3;
SELECT open_ticket(subject => 'x', center_id => 2, customer_id => 1, category_id => 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE center SET active = false WHERE center_id = 2;
SELECT open_ticket(subject => 'x', center_id => 2, customer_id => 1, category_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE center SET active = true WHERE center_id = 2;
BEGIN;
INSERT INTO ticket_type (code, name) VALUES ('audit', 'Audit');
SELECT count(*) AS opened_in_transaction FROM open_ticket(subject => 'Audit', center_id => 2, customer_id => 1, type => 'audit');
ROLLBACK;
SELECT open_ticket(subject => 'x', center_id => 2, customer_id => 1, type => 'audit');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS opened FROM open_ticket(subject => 'Cached', center_id => 2, customer_id => 1, category_id => 2);

-- The row of an opening is written without a statement (open_ticket_write,
-- src/opening_write.c) when the caller's privileges and row-level policies
-- can be checked directly; otherwise open_ticket_write writes nothing and
-- returns NULL, and open_ticket's INSERT decides, with its own refusals.
INSERT INTO agent (name, login_role) VALUES ('Dora Dispatcher', 'td_open_dora'), ('Abe Agent', 'td_open_abe');
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 4, 'dispatcher'), (2, 5, 'executor');
CREATE ROLE td_open_dora NOLOGIN IN ROLE ticketdesk_dispatcher;
CREATE ROLE td_open_abe NOLOGIN IN ROLE ticketdesk_agent;
CREATE ROLE td_open_rita NOLOGIN IN ROLE ticketdesk_requester;
UPDATE contact SET login_role = 'td_open_rita' WHERE contact_id = 1;
SELECT type_id AS incident FROM ticket_type WHERE code = 'incident' \gset
-- Dora dispatches the head office and the branch beneath it: her openings
-- there are written directly, the row returned is the row stored, and the
-- triggers did their work (history, the requester's message, the load).
SET ROLE td_open_dora;
SELECT w.ticket_id AS direct_id, (w.*)::text AS direct_row
  FROM open_ticket_write(1, :incident, 2, NULL, 1, 1, NULL, 4, 'web', 'Direct', NULL, 3::ticket_weight,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) w \gset
SELECT reference, status, registered_by, (k.*)::text = :'direct_row' AS returned_as_stored
  FROM ticket k WHERE ticket_id = :direct_id;
SELECT reference, status, registered_by FROM open_ticket(subject => 'Through open_ticket', center_id => 1, contact_id => 1) \gset
SELECT (SELECT string_agg(e.kind, ', ') FROM ticket_event e JOIN ticket k USING (tenant_id, ticket_id)
         WHERE k.reference = :'reference') AS history,
       (SELECT count(*) FROM outbox o JOIN ticket k USING (tenant_id, ticket_id)
         WHERE k.reference = :'reference' AND o.event = 'registered') AS messages;
-- Outside her centres her policy refuses the row: the INSERT says so.
SELECT open_ticket_write(1, :incident, 3, NULL, 1, NULL, NULL, 4, 'web', 'x', NULL, 3::ticket_weight,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) IS NULL AS declined;
SELECT open_ticket(subject => 'Not her centre', center_id => 3, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Unless she names herself as the assignee, which her policy lets through.
SELECT reference IS NOT NULL AS opened, status, assignee_id
  FROM open_ticket(subject => 'Hers', center_id => 3, customer_id => 1, assignee_id => 4);
RESET ROLE;
-- Abe, an agent, opens directly what he takes on himself; other rows his
-- policy refuses, and the INSERT says so.
SET ROLE td_open_abe;
SELECT (open_ticket_write(1, :incident, 2, NULL, 1, NULL, NULL, 5, 'phone', 'By Abe', NULL, 3::ticket_weight,
                          NULL, NULL, NULL, NULL, NULL, NULL, 5, NULL)).reference IS NOT NULL AS direct;
SELECT open_ticket_write(1, :incident, 2, NULL, 1, NULL, NULL, 5, 'phone', 'x', NULL, 3::ticket_weight,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) IS NULL AS declined;
SELECT open_ticket(subject => 'x', center_id => 2, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A requester may not call open_ticket; open_ticket_write leaves her rows
-- to the INSERT, which her own policy governs.
SET ROLE td_open_rita;
SELECT open_ticket_write(1, :incident, 2, NULL, 1, 1, NULL, NULL, 'web', 'x', NULL, 3::ticket_weight,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) IS NULL AS declined;
SELECT open_ticket(subject => 'x', center_id => 2, contact_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- Without INSERT on ticket: the INSERT's refusal.
BEGIN;
REVOKE INSERT ON ticket FROM ticketdesk_dispatcher;
SET ROLE td_open_dora;
SELECT open_ticket_write(1, :incident, 2, NULL, 1, NULL, NULL, 4, 'web', 'x', NULL, 3::ticket_weight,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) IS NULL AS declined;
SELECT open_ticket(subject => 'x', center_id => 2, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- A policy added on ticket is not one open_ticket_write knows: every
-- opening goes through the INSERT, which applies it.
BEGIN;
CREATE POLICY no_tests ON ticket AS RESTRICTIVE FOR INSERT TO ticketdesk_dispatcher
    WITH CHECK (subject !~* 'test');
SET ROLE td_open_dora;
SELECT open_ticket_write(1, :incident, 2, NULL, 1, NULL, NULL, 4, 'web', 'x', NULL, 3::ticket_weight,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) IS NULL AS declined;
SELECT subject FROM open_ticket(subject => 'Real work', center_id => 2, customer_id => 1);
SELECT open_ticket(subject => 'A test', center_id => 2, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- So does a BEFORE trigger of someone else's on ticket (superuser here).
BEGIN;
CREATE FUNCTION public.td_open_shout() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN NEW.subject := upper(NEW.subject); RETURN NEW; END $$;
CREATE TRIGGER td_open_shout BEFORE INSERT ON ticket FOR EACH ROW EXECUTE FUNCTION public.td_open_shout();
SELECT open_ticket_write(1, :incident, 2, NULL, 1, NULL, NULL, 4, 'web', 'x', NULL, 3::ticket_weight,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) IS NULL AS declined;
SELECT subject FROM open_ticket(subject => 'Quiet please', center_id => 2, customer_id => 1);
ROLLBACK;
-- A reference that is gone is refused as the foreign key's check refuses
-- it, word for word (open_ticket looks its references up first, so only a
-- reference deleted meanwhile gets here: isolation spec opening_references).
SELECT open_ticket_write(1, :incident, 2, NULL, 1, NULL, NULL, 4, 'web', 'x', NULL, 3::ticket_weight,
                         NULL, NULL, 999, NULL, NULL, NULL, NULL, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO ticket (type_id, center_id, customer_id, subject, site_id) VALUES (:incident, 2, 1, 'x', 999);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS nothing_written FROM ticket WHERE subject IN ('x', 'Not her centre', 'A test');
DROP ROLE td_open_dora, td_open_abe, td_open_rita;

-- open_ticket opens the usual request itself (src/open_ticket.c): a centre,
-- a type, a category, a contact. Any other request, and any it cannot vouch
-- for, it hands to open_ticket_sql (the checks as queries), which gives every
-- refusal. The calls of open_ticket_sql in this transaction tell the two apart.
SET track_functions = 'pl';
BEGIN;
CREATE FUNCTION pg_temp.handed_over() RETURNS bigint LANGUAGE sql AS
    $$ SELECT coalesce(pg_stat_get_xact_function_calls('ticketdesk.open_ticket_sql'::regproc), 0) $$;
SET ticketdesk.agent = 1;
-- The usual request: opened in C; the customer is the contact's, the
-- registering agent the session's.
SELECT reference AS usual, customer_id, registered_by, pg_temp.handed_over() AS handed_over
  FROM open_ticket(subject => 'Radiator cold', center_id => 2, contact_id => 1, category_id => 2,
                   channel => 'web', requester_weight => 4, description => 'Second floor') \gset
\echo :customer_id :registered_by :handed_over
-- The same request with its customer named is handed over, and gives the
-- same row but for its id, reference and times.
SELECT reference AS handed, pg_temp.handed_over() AS handed_over
  FROM open_ticket(subject => 'Radiator cold', center_id => 2, contact_id => 1, category_id => 2,
                   channel => 'web', requester_weight => 4, description => 'Second floor',
                   customer_id => 1) \gset
\echo :handed_over
SELECT count(DISTINCT (type_id, center_id, category_id, customer_id, contact_id, requester_agent_id,
                       registered_by, channel, subject, description, requester_weight, priority,
                       status, assignee_id, phase)) AS distinct_rows,
       count(*) AS tickets,
       (SELECT count(*) FROM outbox o JOIN ticket k USING (tenant_id, ticket_id)
         WHERE k.reference IN (:'usual', :'handed') AND o.event = 'registered') AS thanked
  FROM ticket WHERE reference IN (:'usual', :'handed');
-- Without a category: opened in C (the count of hand-overs stays at 1).
SELECT customer_id, category_id IS NULL AS no_category, pg_temp.handed_over() AS handed_over
  FROM open_ticket(subject => 'Lobby door', center_id => 1, contact_id => 2);
-- Refused on either path by the lifecycle trigger: nobody who asks.
SAVEPOINT s;
SELECT open_ticket(subject => 'x', center_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- Handed over, and refused there: a contact the caller does not see (or
-- that does not exist), a weight out of range, no centre, an unknown type.
SELECT open_ticket(subject => 'x', center_id => 1, contact_id => 999);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT open_ticket(subject => 'x', center_id => 1, requester_weight => 9);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT open_ticket(subject => 'x', center_id => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT open_ticket(subject => 'x', center_id => 1, type => 'nonsense');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- A category of another centre: the cache cannot vouch, the queries refuse.
SELECT open_ticket(subject => 'x', center_id => 3, category_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
COMMIT;
RESET ticketdesk.agent;
RESET track_functions;

-- The contact of a request open_ticket opens itself is found and locked by
-- key, and the caller's own row-level policies on contact are evaluated on
-- the row (src/caller_policies.c): a contact they hide is not found, as by
-- the query. Here an administrator's policy hides a VIP from dispatchers.
INSERT INTO agent (name, login_role) VALUES ('Disa Dispatcher', 'td_open_disa') RETURNING agent_id AS disa \gset
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, :disa, 'dispatcher'), (2, :disa, 'dispatcher');
CREATE ROLE td_open_disa NOLOGIN IN ROLE ticketdesk_dispatcher;
INSERT INTO contact (customer_id, name, email) VALUES (1, 'Very Important', 'vip@acme.test') RETURNING contact_id AS vip \gset
BEGIN;
CREATE POLICY no_vip ON contact AS RESTRICTIVE TO ticketdesk_dispatcher USING (name <> 'Very Important');
SET ROLE td_open_disa;
SELECT open_ticket(subject => 'For the VIP', center_id => 1, contact_id => :vip);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Without that policy she opens it; the customer is the VIP's.
SET ROLE td_open_disa;
SELECT customer_id, registered_by = :disa AS registered_by_her
  FROM open_ticket(subject => 'For the VIP', center_id => 1, contact_id => :vip);
RESET ROLE;
-- A policy with a sub-query is not evaluated on the row: the query decides.
BEGIN;
CREATE POLICY vip_by_query ON contact AS RESTRICTIVE TO ticketdesk_dispatcher
    USING (NOT EXISTS (SELECT 1 FROM customer u WHERE u.tenant_id = contact.tenant_id
                          AND u.customer_id = contact.customer_id AND u.name = 'Acme UAB'));
SET ROLE td_open_disa;
SELECT open_ticket(subject => 'For the VIP', center_id => 1, contact_id => :vip);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Without SELECT on contact: the query's own refusal.
BEGIN;
REVOKE SELECT ON contact FROM ticketdesk_dispatcher;
SET ROLE td_open_disa;
SELECT open_ticket(subject => 'For the VIP', center_id => 1, contact_id => :vip);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
DROP ROLE td_open_disa;

-- The WHEN clause of a trigger on ticket is planned once for the direct
-- writes (src/direct_write.c, prepare_trigger_when), not for every row:
-- ticket_no_cycle (WHEN (NEW.parent_id IS NOT NULL)) runs forbid_tree_cycle
-- for a ticket written directly with a parent, and not for one without,
-- twice over in one transaction (the planned clause used again).
SET track_functions = 'pl';
BEGIN;
CREATE FUNCTION pg_temp.cycle_checks() RETURNS bigint LANGUAGE sql AS
    $$ SELECT coalesce(pg_stat_get_xact_function_calls('ticketdesk.forbid_tree_cycle'::regproc), 0) $$;
SELECT ticket_id AS parent FROM open_ticket(subject => 'Boiler', center_id => 1, customer_id => 1) \gset
SELECT pg_temp.cycle_checks() AS without_parent;
SELECT parent_id = :parent AS under_parent, pg_temp.cycle_checks() AS with_parent
  FROM open_ticket_write(1, :incident, 1, NULL, 1, NULL, NULL, NULL, 'web', 'Boiler part', NULL,
                         3::ticket_weight, NULL, NULL, NULL, NULL, NULL, NULL, NULL, :parent);
SELECT parent_id IS NULL AS no_parent, pg_temp.cycle_checks() AS still
  FROM open_ticket_write(1, :incident, 1, NULL, 1, NULL, NULL, NULL, 'web', 'Boiler', NULL,
                         3::ticket_weight, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT parent_id = :parent AS under_parent, pg_temp.cycle_checks() AS again
  FROM open_ticket_write(1, :incident, 1, NULL, 1, NULL, NULL, NULL, 'web', 'Boiler valve', NULL,
                         3::ticket_weight, NULL, NULL, NULL, NULL, NULL, NULL, NULL, :parent);
ROLLBACK;
RESET track_functions;

-- A row written directly enters the partial indexes its values and phase
-- pass and no other (src/direct_write.c, enter_indexes: an index the row
-- leaves out is not even opened). A ticket with a deadline, one with a
-- parent, one with an assignee, one with none of them; amcheck then
-- verifies that every index of ticket, ticket_event and outbox holds
-- exactly the rows it should (heapallindexed).
CREATE EXTENSION amcheck;
SELECT ticket_id AS parent FROM open_ticket(subject => 'Chiller', center_id => 1, customer_id => 1) \gset
SELECT deadline IS NOT NULL AS with_deadline, parent_id IS NULL AS no_parent, assignee_id IS NULL AS nobody
  FROM open_ticket_write(1, :incident, 1, NULL, 1, NULL, NULL, NULL, 'web', 'Chiller noise', NULL,
                         3::ticket_weight, now() + interval '2 days', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT parent_id = :parent AS under_parent
  FROM open_ticket_write(1, :incident, 1, NULL, 1, NULL, NULL, NULL, 'web', 'Chiller fan', NULL,
                         3::ticket_weight, NULL, NULL, NULL, NULL, NULL, NULL, NULL, :parent);
SELECT assignee_id = 2 AS assigned
  FROM open_ticket_write(1, :incident, 1, NULL, 1, NULL, NULL, NULL, 'web', 'Chiller valve', NULL,
                         3::ticket_weight, NULL, NULL, NULL, NULL, NULL, NULL, 2, NULL);
SELECT count(*) FILTER (WHERE deadline IS NULL AND parent_id IS NULL AND assignee_id IS NULL) AS plain
  FROM open_ticket_write(1, :incident, 1, NULL, 1, NULL, NULL, NULL, 'web', 'Chiller pipe', NULL,
                         3::ticket_weight, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT c.relname AS index, bt_index_check(c.oid, heapallindexed => true) AS checked
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid IN ('ticket'::regclass, 'ticket_event'::regclass, 'outbox'::regclass)
 ORDER BY 1;
-- And the look-ups through the partial indexes find them.
SET enable_seqscan = off;
SELECT (SELECT count(*) FROM ticket WHERE tenant_id = 1 AND parent_id = :parent) AS children,
       (SELECT count(*) FROM ticket WHERE tenant_id = 1 AND deadline IS NOT NULL AND phase = 'open'
                                      AND subject LIKE 'Chiller%') AS due,
       (SELECT count(*) FROM ticket WHERE tenant_id = 1 AND assignee_id = 2 AND phase = 'open'
                                      AND subject LIKE 'Chiller%') AS held;
RESET enable_seqscan;
DROP EXTENSION amcheck;
