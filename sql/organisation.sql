-- The organisation and its customers: centres as a tree (R15), members as
-- dispatchers or executors, agents and their profiles (R38), customers with
-- contact persons (R47), and sites reused by address (R07) with a map link (R08).
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- A tree of centres.
INSERT INTO center (code, name, email) VALUES ('hq', 'Head office', 'help@example.com');
INSERT INTO center (code, name, parent_id) VALUES ('north', 'North region', 1), ('south', 'South region', 1);
INSERT INTO center (code, name, parent_id) VALUES ('vilnius', 'Vilnius team', 2);
WITH RECURSIVE tree AS (
    SELECT center_id, code, 0 AS depth, code::text AS path FROM center WHERE parent_id IS NULL
    UNION ALL
    SELECT c.center_id, c.code, t.depth + 1, t.path || ' > ' || c.code
      FROM center c JOIN tree t ON c.parent_id = t.center_id
)
SELECT path FROM tree ORDER BY path;

-- A centre cannot be placed under itself or under one of its descendants.
UPDATE center SET parent_id = 4 WHERE code = 'hq';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE center SET parent_id = center_id WHERE code = 'north';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Moving a subtree elsewhere is fine.
UPDATE center SET parent_id = 3 WHERE code = 'vilnius' RETURNING code, parent_id;
-- Codes are unique within a tenant, and a parent must exist.
INSERT INTO center (code, name) VALUES ('hq', 'Another head office');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO center (code, name, parent_id) VALUES ('east', 'East', 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- (Terse errors where the DETAIL would show a row with its creation time.)
-- Agents: a supervisor, an optional database role, a language.
INSERT INTO agent (name, email, phone, language) VALUES ('Sam Supervisor', 'sam@example.com', '+37060000001', 'lt');
INSERT INTO agent (name, email, language, supervisor_id, login_role)
VALUES ('Dana Dispatcher', 'dana@example.com', 'pl', 1, 'dana'),
       ('Eli Executor', 'eli@example.com', 'he', 1, NULL);
SELECT a.name, a.language, s.name AS supervisor, a.login_role, a.active
  FROM agent a LEFT JOIN agent s ON s.agent_id = a.supervisor_id ORDER BY a.agent_id;
-- One database role maps to one agent per tenant; languages are ISO codes.
INSERT INTO agent (name, login_role) VALUES ('Dana again', 'dana');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
INSERT INTO agent (name, language) VALUES ('Nobody', 'english');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
\set VERBOSITY terse
INSERT INTO agent (name) VALUES ('   ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- Centre members: dispatchers distribute the work, executors do it (R15).
INSERT INTO center_member (center_id, agent_id, role)
VALUES (1, 2, 'dispatcher'), (2, 3, 'executor'), (4, 3, 'executor'), (4, 2, 'dispatcher');
SELECT c.code, a.name, m.role
  FROM center_member m JOIN center c USING (tenant_id, center_id) JOIN agent a USING (tenant_id, agent_id)
 ORDER BY c.code, m.role, a.name;
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 2, 'boss');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Profiles under the main kinds employee, customer and supplier (R38).
INSERT INTO profile (kind, code, name)
VALUES ('employee', 'customer_service', 'Customer service'),
       ('employee', 'field_engineer', 'Field engineer'),
       ('customer', 'key_account', 'Key account'),
       ('supplier', 'spare_parts', 'Spare parts supplier');
INSERT INTO agent_profile (agent_id, profile_id) VALUES (2, 1), (3, 1), (3, 2);
SELECT p.kind, p.name, string_agg(a.name, ', ' ORDER BY a.name) AS holders
  FROM profile p LEFT JOIN agent_profile ap USING (tenant_id, profile_id)
  LEFT JOIN agent a USING (tenant_id, agent_id)
 GROUP BY p.kind, p.name ORDER BY p.kind, p.name;
INSERT INTO profile (kind, code, name) VALUES ('partner', 'x', 'X');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Customers with their master data, and contact persons (R47).
INSERT INTO customer (name, tax_id, email, phone, work_phone, address)
VALUES ('Acme UAB', 'LT100001', 'office@acme.test', '+37060000100', '+37052000100', 'Gedimino pr. 1, Vilnius');
INSERT INTO contact (customer_id, name, position, preferred_channel, phone, email, language)
VALUES (1, 'Rita Requester', 'Facility manager', 'sms', '+37060000101', 'rita@acme.test', 'lt'),
       (1, 'Tomas Technician', 'Engineer', 'phone', '+37060000102', NULL, 'lt');
-- A private person without a customer, e.g. an unknown e-mail sender.
INSERT INTO contact (name, email) VALUES ('Walk-in person', 'someone@mail.test');
SELECT c.name, c.position, c.preferred_channel, c.language, cu.name AS customer
  FROM contact c LEFT JOIN customer cu USING (tenant_id, customer_id) ORDER BY c.contact_id;
-- Tax IDs are unique within a tenant; preferred channels come from a list.
INSERT INTO customer (name, tax_id) VALUES ('Acme copy', 'LT100001');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
INSERT INTO contact (name, preferred_channel) VALUES ('Pigeon fan', 'pigeon');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- Sites: a known address is found again however it is typed (R07), and
-- coordinates given later fill it in.
SELECT site_for(1, 'Laisvės al. 10, Kaunas') AS site \gset
SELECT site_for(1, '  LAISVĖS  al. 10,   kaunas ', 54.8985, 23.9036) = :site AS reused;
SELECT site_for(1, 'Laisvės al. 12, Kaunas') <> :site AS new_site;
SELECT site_for(NULL, 'Laisvės al. 10, Kaunas') <> :site AS private_site_is_separate;
SELECT site_for(NULL, 'laisvės al. 10, kaunas') AS private_again;
SELECT site_id, address, latitude, longitude FROM site ORDER BY site_id;
-- The map link opens the place on a phone (R08): by coordinates when known,
-- else by a search for the address, percent-encoded.
SELECT s.site_id, s.map_link FROM site s ORDER BY s.site_id;
SELECT url_encode('a b&c/d?é') AS encoded;
-- Refusals: no address, an unknown customer, coordinates out of range or half given.
SELECT site_for(1, '  ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT site_for(99, 'Somewhere 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT site_for(1, 'North Pole', 95, 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
\set VERBOSITY terse
INSERT INTO site (customer_id, address, latitude) VALUES (1, 'Half given 1', 54.0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- Categories are a tree inside one centre; internal categories are the
-- dispatcher's own tree (R18, R24); products are a catalogue (R48).
INSERT INTO category (center_id, code, name) VALUES (1, 'heating', 'Heating');
INSERT INTO category (center_id, code, name, parent_id) VALUES (1, 'boilers', 'Boilers', 1);
INSERT INTO category (center_id, code, name, parent_id) VALUES (2, 'radiators', 'Radiators', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE category SET parent_id = 2 WHERE code = 'heating';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO internal_category (code, name) VALUES ('warranty', 'Under warranty');
INSERT INTO internal_category (code, name, parent_id) VALUES ('warranty_parts', 'Warranty: parts only', 1);
UPDATE internal_category SET parent_id = 2 WHERE code = 'warranty';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO product (code, name) VALUES ('B-200', 'Boiler B-200');
SELECT code, name, active FROM product;
-- Ticket types are data: the five defaults, and a tenant's own.
INSERT INTO ticket_type (code, name) VALUES ('complaint', 'Complaint');
SELECT code, name, seeded FROM ticket_type ORDER BY type_id;
