-- Tenancy: the default tenant, creating tenants, built-in rows that stay
-- as installed, and row-level security keeping each tenant to its own rows.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- Roles are cluster-wide: drop a leftover of an earlier, interrupted run.
SET client_min_messages = warning;
DROP ROLE IF EXISTS td_tenant_user;
RESET client_min_messages;

--
-- 1. The default tenant exists right after CREATE EXTENSION, with its
--    ticket types and lifecycle moves, all marked as built in.
--
SELECT tenant_id, code, name, seeded FROM tenant ORDER BY tenant_id;
SELECT current_tenant();
SELECT code, seeded FROM ticket_type WHERE tenant_id = 1 ORDER BY type_id;
SELECT count(*) AS moves, bool_and(seeded) AS all_seeded, count(type_id) AS typed
  FROM transition WHERE tenant_id = 1;

--
-- 2. create_tenant returns the new id and gives the tenant its own copy of
--    the types and moves; these are the tenant's rows, not built-in ones.
--
SELECT create_tenant('acme', 'Acme Ltd') AS acme;
SELECT create_tenant('globex', 'Globex Corporation') AS globex;
SELECT tenant_id, code, name, seeded FROM tenant ORDER BY tenant_id;
SELECT tenant_id, count(*) AS types, bool_or(seeded) AS any_seeded
  FROM ticket_type GROUP BY tenant_id ORDER BY tenant_id;
SELECT tenant_id, count(*) AS moves, bool_or(seeded) AS any_seeded
  FROM transition GROUP BY tenant_id ORDER BY tenant_id;

-- A code is 1 to 40 lower-case letters, digits, "_" or "-".
SELECT create_tenant('Acme Two', 'Acme Two');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_tenant('', 'Nobody');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_tenant(NULL, 'Nobody');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_tenant(repeat('a', 41), 'Too long');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A code is taken once.
SELECT create_tenant('acme', 'Acme again');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_tenant('default', 'Another default');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- None of the refused calls left a tenant behind.
SELECT count(*) AS tenants FROM tenant;

--
-- 3. Built-in rows are read-only, even for a superuser.
--
UPDATE ticket_type SET name = 'Disturbance' WHERE tenant_id = 1 AND code = 'incident';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM ticket_type WHERE tenant_id = 1 AND code = 'task';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE transition SET move = 'take' WHERE tenant_id = 1 AND from_status = 'new' AND to_status = 'assigned';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM transition WHERE tenant_id = 1 AND from_status = 'new' AND to_status = 'cancelled';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE tenant SET name = 'Head office' WHERE tenant_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM tenant WHERE tenant_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Nothing changed.
SELECT name FROM ticket_type WHERE tenant_id = 1 AND code = 'incident';
SELECT count(*) AS types FROM ticket_type WHERE tenant_id = 1;
SELECT count(*) AS moves FROM transition WHERE tenant_id = 1;
SELECT name FROM tenant WHERE tenant_id = 1;

-- Rows a tenant adds or got from create_tenant are its own to change.
INSERT INTO ticket_type (code, name) VALUES ('audit', 'Audit') RETURNING tenant_id, code, seeded;
UPDATE ticket_type SET name = 'Security audit' WHERE tenant_id = 1 AND code = 'audit';
INSERT INTO transition (type_id, from_status, to_status, move)
SELECT type_id, 'new', 'cancelled', 'drop' FROM ticket_type WHERE tenant_id = 1 AND code = 'audit'
RETURNING tenant_id, from_status, to_status, move, seeded;
UPDATE transition SET move = 'withdraw' WHERE tenant_id = 1 AND move = 'drop';
DELETE FROM transition WHERE tenant_id = 1 AND move = 'withdraw';
DELETE FROM ticket_type WHERE tenant_id = 1 AND code = 'audit';
UPDATE ticket_type SET name = 'Field intervention' WHERE tenant_id = 2 AND code = 'intervention';
DELETE FROM transition WHERE tenant_id = 2 AND from_status = 'closed' AND to_status = 'in_progress';
UPDATE tenant SET name = 'Acme Limited' WHERE tenant_id = 2;
SELECT t.code, y.name FROM tenant t JOIN ticket_type y USING (tenant_id)
 WHERE y.code = 'intervention' ORDER BY t.tenant_id;
SELECT tenant_id, count(*) AS moves FROM transition GROUP BY tenant_id ORDER BY tenant_id;
-- Put acme's move back for the rest of the story.
INSERT INTO transition (tenant_id, from_status, to_status, move) VALUES (2, 'closed', 'in_progress', 'reopen');

--
-- 4. Each tenant gets its own centres, customers and tickets. Ids come from
--    shared sequences, so they are unique across tenants.
--
SET ticketdesk.tenant = 2;
INSERT INTO center (code, name) VALUES ('field', 'Acme field service') RETURNING tenant_id, center_id;
INSERT INTO customer (name) VALUES ('Acme customer') RETURNING tenant_id, customer_id;
SELECT ticket_id, tenant_id, reference, status FROM open_ticket('Acme: boiler broken', 1, customer_id => 1);
SET ticketdesk.tenant = 3;
INSERT INTO center (code, name) VALUES ('field', 'Globex field service') RETURNING tenant_id, center_id;
INSERT INTO customer (name) VALUES ('Globex customer') RETURNING tenant_id, customer_id;
SELECT ticket_id, tenant_id, reference, status FROM open_ticket('Globex: lift stuck', 2, customer_id => 2);
-- A superuser bypasses row-level security and sees every tenant.
SELECT tenant_id, ticket_id, subject FROM ticket ORDER BY ticket_id;

--
-- 5. Isolation as an ordinary role: row-level security applies.
--
CREATE ROLE td_tenant_user NOLOGIN;
GRANT USAGE ON SCHEMA ticketdesk TO td_tenant_user;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk TO td_tenant_user;
REVOKE EXECUTE ON FUNCTION create_tenant(text, text) FROM td_tenant_user;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ticketdesk TO td_tenant_user;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ticketdesk TO td_tenant_user;
GRANT EXECUTE ON FUNCTION open_ticket, move, cancel, comment, ticket_history, ticket_by_reference TO td_tenant_user;
SET ROLE td_tenant_user;

-- Tenant acme sees its own tenant row, centre, customer, ticket and events.
SET ticketdesk.tenant = 2;
SELECT tenant_id, code FROM tenant;
SELECT tenant_id, center_id, name FROM center;
SELECT tenant_id, customer_id, name FROM customer;
SELECT tenant_id, ticket_id, subject FROM ticket;
SELECT tenant_id, ticket_id, kind, new_value, actor_role FROM ticket_event;
SELECT count(*) AS types FROM ticket_type;
-- It works normally within its tenant.
SELECT ticket_id, tenant_id, status FROM open_ticket('Acme: radiator cold', 1, customer_id => 1);
SELECT comment(3, 'The radiator in room 4.') AS message_id;
SELECT tenant_id, ticket_id, subject FROM ticket ORDER BY ticket_id;
-- Its history rows name the role that wrote them.
SELECT tenant_id, ticket_id, kind, new_value, actor_role FROM ticket_event ORDER BY event_id;

-- Switching the setting to globex shows only globex's rows.
SET ticketdesk.tenant = 3;
SELECT tenant_id, code FROM tenant;
SELECT tenant_id, center_id, name FROM center;
SELECT tenant_id, ticket_id, subject FROM ticket;
SELECT tenant_id, ticket_id, kind, new_value FROM ticket_event;
SELECT tenant_id, message_id FROM message;

-- Writing a row for another tenant is refused by the policy.
INSERT INTO center (tenant_id, code, name) VALUES (2, 'sneaky', 'Sneaky centre');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO customer (tenant_id, name) VALUES (1, 'Sneaky customer');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Acme's ticket 1 does not exist for globex: the API says so...
SELECT ticket_id FROM move(1, 'cancelled', 'not mine');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT ticket_id FROM cancel(1, 'not mine');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT comment(1, 'Hello from globex');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT event_id FROM ticket_history(1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT ticket_id FROM ticket_by_reference('TD-000001');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- ...and a plain UPDATE of it touches no row, while globex's own ticket updates.
WITH u AS (UPDATE ticket SET priority = 'urgent' WHERE ticket_id = 1 RETURNING ticket_id)
SELECT count(*) AS updated FROM u;
WITH u AS (UPDATE ticket SET priority = 'urgent' WHERE tenant_id = 2 RETURNING ticket_id)
SELECT count(*) AS updated FROM u;
WITH u AS (UPDATE ticket SET priority = 'high', priority_fixed = true WHERE ticket_id = 2 RETURNING ticket_id)
SELECT count(*) AS updated FROM u;

-- A ticket cannot point at another tenant's centre: the keys include the tenant.
INSERT INTO ticket (type_id, center_id, customer_id, subject)
SELECT type_id, 1, 2, 'Globex ticket in acme centre' FROM ticket_type WHERE code = 'incident';
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Moving a row to another tenant is refused.
UPDATE center SET tenant_id = 2 WHERE center_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET tenant_id = 2 WHERE ticket_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Creating tenants is for administrators only.
SELECT create_tenant('initech', 'Initech');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

RESET ROLE;

--
-- 6. Refusals that hold for a superuser too.
--
-- A row keeps its tenant for life.
UPDATE center SET tenant_id = 2 WHERE center_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE customer SET tenant_id = 3 WHERE customer_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET tenant_id = 2 WHERE ticket_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket_type SET tenant_id = 3 WHERE tenant_id = 2 AND code = 'task';
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The composite foreign key refuses another tenant's centre.
SET ticketdesk.tenant = 3;
INSERT INTO ticket (type_id, center_id, customer_id, subject)
SELECT type_id, 1, 2, 'Globex ticket in acme centre' FROM ticket_type
 WHERE tenant_id = 3 AND code = 'incident';
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A tenant id that does not exist.
SET ticketdesk.tenant = 99;
SELECT ticket_id FROM open_ticket('Nobody home', 1, customer_id => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ticketdesk.tenant;

-- Every tenant still holds exactly its own rows.
SELECT tenant_id, ticket_id, subject, priority, status FROM ticket ORDER BY ticket_id;
SELECT tenant_id, center_id, name FROM center ORDER BY center_id;
SELECT tenant_id, count(*) AS events FROM ticket_event GROUP BY tenant_id ORDER BY tenant_id;

-- Clean up the role, which outlives this database.
DROP OWNED BY td_tenant_user;
DROP ROLE td_tenant_user;
