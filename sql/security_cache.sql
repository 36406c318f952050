-- The principal cache (issue 8): whom a login acts as is cached per backend,
-- and every change that decides it takes effect at the next command: a
-- mapping moved to another tenant, an agent deactivated, a centre added
-- below, a role granted or renamed, a customer opening its tickets to all its
-- contacts. A rollback undoes what it undid. The tenant pin (TD700) holds on
-- every call, cached or not.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

SET client_min_messages = warning;
DROP ROLE IF EXISTS td_cache_ann, td_cache_ann2, td_cache_dora, td_cache_pool;
RESET client_min_messages;

--
-- 1. The desk: helpdesk with network below it; Dora is an agent and the
--    helpdesk's dispatcher; Ann and Bob are contacts of Initech, Cleo of Umbrella.
--    Tenant 2 has a contact Ann2 and a ticket of its own.
--
INSERT INTO center (code, name) VALUES ('helpdesk', 'Helpdesk');
INSERT INTO center (code, name, parent_id) VALUES ('network', 'Network team', 1);
INSERT INTO agent (name, login_role) VALUES ('Dora', 'td_cache_dora');
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 1, 'dispatcher');
INSERT INTO customer (name) VALUES ('Initech'), ('Umbrella');
INSERT INTO contact (customer_id, name, login_role) VALUES (1, 'Ann', 'td_cache_ann');
INSERT INTO contact (customer_id, name) VALUES (1, 'Bob'), (2, 'Cleo');
CREATE ROLE td_cache_ann NOLOGIN IN ROLE ticketdesk_requester;
CREATE ROLE td_cache_dora NOLOGIN IN ROLE ticketdesk_agent;
CREATE ROLE td_cache_pool NOLOGIN;
GRANT USAGE ON SCHEMA ticketdesk TO td_cache_pool;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk TO td_cache_pool;
SELECT ticket_id FROM open_ticket('Ann''s printer', 1, customer_id => 1, contact_id => 1);
SELECT ticket_id FROM open_ticket('Bob''s screen', 2, customer_id => 1, contact_id => 2);
SELECT ticket_id FROM open_ticket('Cleo''s chair', 2, customer_id => 2, contact_id => 3);
SELECT create_tenant('globex', 'Globex');
SET ticketdesk.tenant = 2;
INSERT INTO center (code, name) VALUES ('t2', 'Tenant two');
INSERT INTO customer (name) VALUES ('Globex customer');
INSERT INTO contact (customer_id, name) SELECT customer_id, 'Ann2' FROM customer WHERE tenant_id = 2;
SELECT subject FROM open_ticket('Tenant two''s ticket', (SELECT center_id FROM center WHERE tenant_id = 2),
                                customer_id => (SELECT customer_id FROM customer WHERE tenant_id = 2),
                                contact_id => (SELECT contact_id FROM contact WHERE tenant_id = 2));
RESET ticketdesk.tenant;

--
-- 2. Ann sees her ticket; the pin refuses tenant 2 on every call, cached or not.
--
SET ROLE td_cache_ann;
SELECT session_tenant(), session_contact(), session_contacts(), session_customer(), session_org_customer();
SELECT ticket_id, subject FROM ticket ORDER BY ticket_id;
SET ticketdesk.tenant = 2;
SELECT ticket_id FROM ticket;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT session_contacts();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT session_tenant();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ticketdesk.tenant;
SELECT ticket_id FROM ticket ORDER BY ticket_id;
RESET ROLE;

--
-- 3. Initech lets its contacts see each other's tickets: Ann now sees Bob's
--    too, at her next statement. A contact added to Initech joins the list.
--
UPDATE customer SET requesters_see_organisation = true WHERE customer_id = 1;
SET ROLE td_cache_ann;
SELECT session_contacts(), session_org_customer();
SELECT ticket_id, subject FROM ticket ORDER BY ticket_id;
RESET ROLE;
INSERT INTO contact (customer_id, name) VALUES (1, 'Dan');
SET ROLE td_cache_ann;
SELECT session_contacts();
RESET ROLE;
UPDATE customer SET requesters_see_organisation = false WHERE customer_id = 1;
SET ROLE td_cache_ann;
SELECT session_contacts(), session_org_customer();
RESET ROLE;

--
-- 4. A rollback undoes: unmapped inside a transaction, Ann sees nothing;
--    after the rollback (of the transaction or of a savepoint) she sees her
--    ticket again.
--
BEGIN;
UPDATE contact SET login_role = NULL WHERE contact_id = 1;
SET LOCAL ROLE td_cache_ann;
SELECT session_tenant(), session_contact();
SELECT count(*) FROM ticket;
ROLLBACK;
SET ROLE td_cache_ann;
SELECT session_tenant(), session_contact();
SELECT ticket_id FROM ticket ORDER BY ticket_id;
RESET ROLE;
BEGIN;
SAVEPOINT unmap;
UPDATE contact SET login_role = NULL WHERE contact_id = 1;
SET LOCAL ROLE td_cache_ann;
SELECT session_contact();
RESET ROLE;
ROLLBACK TO SAVEPOINT unmap;
SET LOCAL ROLE td_cache_ann;
SELECT session_contact();
COMMIT;

--
-- 5. The mapping moves to tenant 2: Ann's login is now pinned there. With
--    the old tenant the pin refuses; with tenant 2 she sees Ann2's ticket.
--
UPDATE contact SET login_role = NULL WHERE contact_id = 1;
SET ticketdesk.tenant = 2;
UPDATE contact SET login_role = 'td_cache_ann' WHERE tenant_id = 2;
RESET ticketdesk.tenant;
SET ROLE td_cache_ann;
SELECT ticket_id FROM ticket;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ticketdesk.tenant = 2;
SELECT session_tenant(), session_contacts();
SELECT subject FROM ticket;
RESET ticketdesk.tenant;
RESET ROLE;
SET ticketdesk.tenant = 2;
UPDATE contact SET login_role = NULL WHERE tenant_id = 2;
RESET ticketdesk.tenant;
UPDATE contact SET login_role = 'td_cache_ann' WHERE contact_id = 1;

--
-- 6. A role renamed is mapped by its new name only: until the mapping
--    follows, the renamed login sees nothing; renamed back, it sees again.
--
ALTER ROLE td_cache_ann RENAME TO td_cache_ann2;
SET ROLE td_cache_ann2;
SELECT session_tenant(), session_contact();
SELECT count(*) FROM ticket;
RESET ROLE;
ALTER ROLE td_cache_ann2 RENAME TO td_cache_ann;
SET ROLE td_cache_ann;
SELECT session_tenant(), session_contact();
RESET ROLE;

--
-- 7. Dora, an agent, is the helpdesk's dispatcher on paper; she oversees
--    its centres only once she is granted ticketdesk_dispatcher, in the
--    same session. A centre added below helpdesk joins her list.
--
SET ROLE td_cache_dora;
SELECT session_agent(), session_centers();
SELECT count(*) FROM ticket;
RESET ROLE;
GRANT ticketdesk_dispatcher TO td_cache_dora;
REVOKE ticketdesk_agent FROM td_cache_dora;
SET ROLE td_cache_dora;
SELECT session_agent(), session_centers();
SELECT ticket_id, subject FROM ticket ORDER BY ticket_id;
RESET ROLE;
INSERT INTO center (code, name, parent_id) VALUES ('wifi', 'Wi-Fi', 2);
SELECT ticket_id FROM open_ticket('Wi-Fi slow', (SELECT center_id FROM center WHERE tenant_id = 1 AND code = 'wifi'),
                                  customer_id => 1, contact_id => 1);
SET ROLE td_cache_dora;
SELECT session_centers();
SELECT ticket_id, subject FROM ticket WHERE center_id = 4;
RESET ROLE;

--
-- 8. Dora is deactivated: her login is mapped to nobody and, being
--    restricted, acts for no tenant and sees nothing. Reactivated, she sees again.
--
UPDATE agent SET active = false WHERE agent_id = 1;
SET ROLE td_cache_dora;
SELECT session_tenant(), session_agent(), session_centers();
SELECT count(*) FROM ticket;
RESET ROLE;
UPDATE agent SET active = true WHERE agent_id = 1;
SET ROLE td_cache_dora;
SELECT session_tenant(), session_agent();
RESET ROLE;

--
-- 9. An agent inserted in the same transaction counts at the next command.
--
BEGIN;
INSERT INTO agent (name, login_role) VALUES ('Pat', 'td_cache_pool');
SET LOCAL ROLE td_cache_pool;
SELECT session_tenant(), session_agent();
ROLLBACK;

--
-- 10. An unmapped pooler's role acts for the tenant it sets, until it is
--     made a requester: then it acts for none and sees nothing.
--
GRANT SELECT (ticket_id) ON ticket TO td_cache_pool;
SET ROLE td_cache_pool;
SELECT session_tenant(), role_is_restricted(current_user), count(*) FROM ticket;
RESET ROLE;
GRANT ticketdesk_requester TO td_cache_pool;
SET ROLE td_cache_pool;
SELECT session_tenant(), role_is_restricted(current_user), count(*) FROM ticket;
RESET ROLE;
REVOKE ticketdesk_requester FROM td_cache_pool;
SET ROLE td_cache_pool;
SELECT session_tenant(), role_is_restricted(current_user);
RESET ROLE;

--
-- 11. The acting agent of the history (current_agent) comes from the same
--     cache: Dora's login names her until the mapping goes, within the
--     transaction that removes it; after the rollback it names her again.
--
SET ROLE td_cache_dora;
SELECT current_agent();
RESET ROLE;
BEGIN;
UPDATE agent SET login_role = NULL WHERE agent_id = 1;
SET LOCAL ROLE td_cache_dora;
SELECT current_agent();
ROLLBACK;
SET ROLE td_cache_dora;
SELECT current_agent();
RESET ROLE;

--
-- 12. The admin's view of any role; an unknown role is refused.
--
SELECT r, (role_principal(r)).*, role_contacts(r), role_customer(r), role_centers(r)
  FROM unnest(ARRAY['td_cache_ann', 'td_cache_dora', 'td_cache_pool']::name[]) r;
SELECT role_principal('td_cache_nobody');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- 13. Operators planted in a caller's search_path are never run by the
--     principal look-up (read as the bootstrap superuser) nor by the load
--     counters (written as it): Ann, with a schema of her own first in her
--     path, misses the cache and reopens a ticket of an agent's queue.
--
CREATE SCHEMA td_cache_evil;
GRANT USAGE ON SCHEMA td_cache_evil TO PUBLIC;
CREATE FUNCTION td_cache_evil.nameeq(name, name) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hijacked: name = name';
END $$;
CREATE FUNCTION td_cache_evil.int4pl(integer, integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hijacked: integer + integer';
END $$;
CREATE OPERATOR td_cache_evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = td_cache_evil.nameeq);
CREATE OPERATOR td_cache_evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = td_cache_evil.int4pl);
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA td_cache_evil TO PUBLIC;
UPDATE ticket SET assignee_id = 1 WHERE ticket_id = 1;
SELECT (acknowledge(1)).status, (start_work(1)).status, (resolve(1, 'Done')).status;
UPDATE contact SET name = 'Ann' WHERE contact_id = 1;
SET ROLE td_cache_ann;
SET search_path = td_cache_evil, ticketdesk, pg_catalog;
SELECT 'a'::name = 'a'::name;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT ticketdesk.session_contact();
UPDATE ticketdesk.ticket SET status = 'in_progress' WHERE ticket_id = 1 RETURNING ticket_id, status;
RESET ROLE;
SET search_path = ticketdesk, public;
SELECT open_tickets FROM agent_load WHERE agent_id = 1;

--
-- 14. A parallel worker reads the principal itself: the session functions
--     are PARALLEL SAFE and the policies call them directly. A parallel scan
--     shows each role what a serial one shows; the worker's look-up, with
--     the planted operators still first in Ann's path, never runs them; the
--     tenant pin holds in the worker as in the leader.
--
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SET ROLE td_cache_dora;
EXPLAIN (COSTS OFF) SELECT ticket_id, subject FROM ticket;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT ticket_id FROM ticket;
SELECT count(*) AS parallel_count, string_agg(subject, ', ' ORDER BY ticket_id) FROM ticket;
RESET ROLE;
SET ROLE td_cache_ann;
SET search_path = td_cache_evil, ticketdesk, pg_catalog;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT ticket_id FROM ticketdesk.ticket;
SELECT count(*) AS parallel_count, string_agg(subject, ', ' ORDER BY ticket_id) FROM ticketdesk.ticket;
SET ticketdesk.tenant = 2;
SELECT count(*) FROM ticketdesk.ticket;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ticketdesk.tenant;
RESET ROLE;
SET search_path = ticketdesk, public;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET parallel_leader_participation;
RESET enable_indexscan;
RESET enable_bitmapscan;
SET client_min_messages = warning;
DROP SCHEMA td_cache_evil CASCADE;
RESET client_min_messages;

REVOKE ALL ON ticket FROM td_cache_pool;
REVOKE ALL ON SCHEMA ticketdesk FROM td_cache_pool;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk FROM td_cache_pool;
DROP ROLE td_cache_ann, td_cache_dora, td_cache_pool;
