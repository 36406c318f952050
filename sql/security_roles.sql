-- Roles and row-level security (issue 8): each role sees and changes only
-- what it is entitled to, through the API and through plain SQL alike.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- Roles are cluster-wide: drop leftovers of an interrupted run.
SET client_min_messages = warning;
DROP ROLE IF EXISTS td_sec_ann, td_sec_ben, td_sec_xavier, td_sec_yara, td_sec_dora, td_sec_form;
DROP SCHEMA IF EXISTS td_sec_evil CASCADE;
RESET client_min_messages;

--
-- 1. The desk. Helpdesk has the network team below it; facilities is apart.
--    Xavier works in network, Yara in facilities, Dora dispatches helpdesk.
--    Ann is a contact of Initech, Ben of Globex.
--
INSERT INTO center (code, name) VALUES ('helpdesk', 'Helpdesk');
INSERT INTO center (code, name, parent_id) VALUES ('network', 'Network team', 1);
INSERT INTO center (code, name) VALUES ('facilities', 'Facilities');
INSERT INTO internal_category (code, name) VALUES ('hw', 'Hardware');
INSERT INTO agent (name, phone, login_role) VALUES
    ('Xavier', '+1 555 0101', 'td_sec_xavier'),
    ('Yara', '+1 555 0102', 'td_sec_yara'),
    ('Dora', '+1 555 0103', 'td_sec_dora');
INSERT INTO center_member (center_id, agent_id, role) VALUES (2, 1, 'executor'), (3, 2, 'executor'), (1, 3, 'dispatcher');
INSERT INTO customer (name) VALUES ('Initech'), ('Globex');
INSERT INTO contact (customer_id, name, login_role) VALUES (1, 'Ann', 'td_sec_ann'), (2, 'Ben', 'td_sec_ben');
CREATE ROLE td_sec_ann NOLOGIN IN ROLE ticketdesk_requester;
CREATE ROLE td_sec_ben NOLOGIN IN ROLE ticketdesk_requester;
CREATE ROLE td_sec_xavier NOLOGIN IN ROLE ticketdesk_agent;
CREATE ROLE td_sec_yara NOLOGIN IN ROLE ticketdesk_agent;
CREATE ROLE td_sec_dora NOLOGIN IN ROLE ticketdesk_dispatcher;
CREATE ROLE td_sec_form NOLOGIN IN ROLE ticketdesk_intake;

-- Ann's ticket in network, Ben's in facilities (assigned to Yara), each
-- with a public and an internal remark and an attachment.
SELECT ticket_id, reference FROM open_ticket('Router down', 2, customer_id => 1, contact_id => 1);
SELECT ticket_id, reference FROM open_ticket('Door jammed', 3, customer_id => 2, contact_id => 2, assignee_id => 2);
UPDATE ticket SET internal_category_id = 1 WHERE ticket_id IN (1, 2);
SELECT comment(1, 'We are on it'), comment(1, 'Ann''s boss is touchy', internal => true),
       comment(2, 'Locksmith ordered'), comment(2, 'Ben broke it himself', internal => true);
SELECT attach(1, 'router.png', '\x01'::bytea), attach(2, 'door.png', '\x02'::bytea);

--
-- 2. Requester Ann sees her own ticket and its public remarks, nothing of Ben's.
--
SET ROLE td_sec_ann;
SELECT ticket_id, subject, status FROM ticket ORDER BY ticket_id;
SELECT message_id, ticket_id, body FROM message ORDER BY message_id;
SELECT attachment_id, ticket_id, filename FROM attachment ORDER BY attachment_id;
-- Ben's ticket by id, by the API, by reference: not there.
SELECT count(*) FROM ticket WHERE ticket_id = 2;
SELECT count(*) FROM message WHERE ticket_id = 2;
SELECT count(*) FROM attachment WHERE ticket_id = 2;
SELECT ticket_id FROM ticket_by_reference('TD-000002');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT comment(2, 'Let me in', author_contact_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Through the history: the event table is not hers to read.
SELECT e.kind FROM ticket_event e WHERE e.ticket_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT t.subject FROM ticket t JOIN ticket_event e USING (tenant_id, ticket_id);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Internal categories, dispatcher weights, agents' phones: not readable.
SELECT * FROM ticket;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT internal_category_id FROM ticket;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT code FROM internal_category;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT name, phone FROM agent;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT agent_id, name FROM agent ORDER BY agent_id;
-- Other customers' data.
SELECT customer_id, name FROM customer;
SELECT contact_id, name FROM contact;
-- She may not set what belongs to the desk.
UPDATE ticket SET dispatcher_weight = 5 WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET internal_category_id = NULL WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET priority_fixed = true, priority = 'urgent' WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET assignee_id = 1 WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT assignee_id FROM correct(1, dispatcher_weight => 5);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- She opens a ticket for herself and comments publicly; not as Ben, not internally.
SELECT open_my_ticket('VPN slow', 2);
SELECT ticket_id FROM open_ticket('In Ben''s name', 2, customer_id => 2, contact_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO ticket (type_id, center_id, subject, customer_id, contact_id) VALUES (1, 2, 'In Ben''s name', 2, 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT comment(1, 'Still down', author_contact_id => 1) > 0 AS commented;
SELECT comment(1, 'Psst', internal => true, author_contact_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A forged history event.
INSERT INTO ticket_event (ticket_id, kind, new_value) VALUES (1, 'status', 'closed');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- With Initech's consent its contacts see all of Initech's tickets; Ben still sees only his.
UPDATE customer SET requesters_see_organisation = true WHERE customer_id = 1;
INSERT INTO contact (customer_id, name) VALUES (1, 'Ann''s colleague');
SELECT ticket_id FROM open_ticket('Printer', 1, customer_id => 1, contact_id => 3);
SET ROLE td_sec_ann;
SELECT ticket_id, subject FROM ticket ORDER BY ticket_id;
SET ROLE td_sec_ben;
SELECT ticket_id, subject FROM ticket ORDER BY ticket_id;
RESET ROLE;

--
-- 3. Agents: Xavier (network) sees only tickets assigned to him or watched,
--    until network opens its queue to members; he cannot close Ben's ticket.
--
SET ROLE td_sec_xavier;
SELECT ticket_id FROM ticket ORDER BY ticket_id;
SELECT ticket_id FROM close(2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET status = 'closed' WHERE ticket_id = 2;
RESET ROLE;
UPDATE center SET members_see_queue = true WHERE center_id = 2;
SET ROLE td_sec_xavier;
SELECT ticket_id FROM ticket ORDER BY ticket_id;
SELECT count(*) AS remarks, count(*) FILTER (WHERE internal) AS internal FROM message;
INSERT INTO ticket_event (ticket_id, kind, new_value) VALUES (1, 'status', 'closed');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT ticket_id FROM ticket_event GROUP BY ticket_id ORDER BY ticket_id;
RESET ROLE;
SET ROLE td_sec_yara;
SELECT ticket_id FROM ticket ORDER BY ticket_id;
SELECT ticket_id, status FROM acknowledge(2);
RESET ROLE;

--
-- 4. Dispatcher Dora sees helpdesk and the centres below it, not facilities.
--
SET ROLE td_sec_dora;
SELECT ticket_id, center_id FROM ticket ORDER BY ticket_id;
SELECT ticket_id, assignee_id FROM assign(1, 1);
SELECT ticket_id FROM assign(2, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- 5. Tenants: a mapped role cannot choose another tenant, nor write one.
--
SELECT create_tenant('globex', 'Globex Corp');
SET ticketdesk.tenant = 2;
INSERT INTO center (code, name) VALUES ('t2', 'Tenant two');
INSERT INTO customer (name) VALUES ('Tenant two''s customer');
SELECT subject FROM open_ticket('Tenant two''s secret', (SELECT center_id FROM center WHERE code = 't2'),
                                customer_id => (SELECT customer_id FROM customer WHERE tenant_id = 2));
RESET ticketdesk.tenant;
SET ROLE td_sec_ann;
SET ticketdesk.tenant = 2;
SELECT count(*) FROM ticket;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ticketdesk.tenant;
SELECT count(*) FROM ticket WHERE tenant_id = 2;
INSERT INTO ticket (tenant_id, type_id, center_id, subject, contact_id) VALUES (2, 1, 1, 'Sneak in', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET status = 'cancelled' WHERE tenant_id = 2;
RESET ROLE;
SET ROLE td_sec_dora;
SET ticketdesk.tenant = 2;
SELECT ticket_id FROM assign(1, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ticketdesk.tenant;
RESET ROLE;

--
-- 6. The intake submits, and does nothing else.
--
INSERT INTO intake_source (login_role, center_id, max_per_hour) VALUES ('td_sec_form', 1, 5);
SET ROLE td_sec_form;
SELECT submit_request('eve@example.com', 'Robert''); DROP TABLE ticketdesk.ticket; --', 'Hello') AS reference;
SELECT count(*) FROM ticket;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT ticket_id FROM open_ticket('Direct', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT intake_submit('td_sec_ann', 'eve@example.com', 'As someone else', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT submit_request('eve@example.com', repeat('x', 1024 * 1024));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT submit_request('not an address', 'Hi');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- 1,000 submissions from one sender: five an hour get through.
DO $$
DECLARE
    ok integer := 0;
    refused integer := 0;
BEGIN
    FOR i IN 1..1000 LOOP
        BEGIN
            PERFORM ticketdesk.submit_request('mallory@example.com', 'Spam ' || i);
            ok := ok + 1;
        EXCEPTION WHEN SQLSTATE 'TD713' THEN
            refused := refused + 1;
        END;
    END LOOP;
    RAISE NOTICE 'accepted %, refused % (TD713)', ok, refused;
END $$;
RESET ROLE;
SELECT subject, channel, status FROM ticket WHERE ticket_id = (SELECT min(ticket_id) FROM intake_submission);
SELECT count(*) FROM intake_submission WHERE sender = 'mallory@example.com';

--
-- 7. search_path hijack: a function that shadows a built-in in a schema
--    earlier in the path is not called by SECURITY DEFINER functions.
--
CREATE SCHEMA td_sec_evil;
GRANT USAGE ON SCHEMA td_sec_evil TO PUBLIC;
CREATE FUNCTION td_sec_evil.lower(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hijacked';
END $$;
CREATE FUNCTION td_sec_evil.pg_has_role(name, text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hijacked';
END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA td_sec_evil TO PUBLIC;
SET ROLE td_sec_form;
SET search_path = td_sec_evil, ticketdesk, pg_catalog;
SELECT lower('X');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT submit_request('trudy@example.com', 'Via the path') LIKE 'TD-%' AS submitted;
RESET ROLE;
SET ROLE td_sec_ann;
SELECT ticket_id FROM ticket WHERE ticket_id = 1;
RESET ROLE;
SET search_path = ticketdesk, public;
DROP SCHEMA td_sec_evil CASCADE;


--
-- 8. Ann reopens her resolved ticket (its handler's load counts it again,
--    though Ann may not read the load counters), then confirms it once it
--    is resolved again; she cannot reopen Ben's.
--
SELECT (acknowledge(1)).status, (start_work(1)).status, (resolve(1, 'Replaced the router')).status;
SELECT open_tickets AS handler_load FROM agent_load WHERE agent_id = (SELECT assignee_id FROM ticket WHERE ticket_id = 1);
SET ROLE td_sec_ann;
UPDATE ticket SET status = 'in_progress' WHERE ticket_id = 1 RETURNING ticket_id, status;
SELECT open_tickets FROM agent_load;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT open_tickets AS handler_load FROM agent_load WHERE agent_id = (SELECT assignee_id FROM ticket WHERE ticket_id = 1);
SELECT (resolve(1, 'Replaced the router again')).status;
SET ROLE td_sec_ann;
UPDATE ticket SET status = 'confirmed' WHERE ticket_id = 1 RETURNING ticket_id, status;
UPDATE ticket SET status = 'in_progress' WHERE ticket_id = 2 RETURNING ticket_id, status;
RESET ROLE;

DROP ROLE td_sec_ann, td_sec_ben, td_sec_xavier, td_sec_yara, td_sec_dora, td_sec_form;
