-- Secrets (issue 8): the credentials of mail servers and gateways live in a
-- table only the tenant's administrator and superusers (the worker) read.
-- Their values never appear in errors.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

SET client_min_messages = warning;
DROP ROLE IF EXISTS td_sct_ada, td_sct_zed, td_sct_dora, td_sct_xavier, td_sct_ann, td_sct_form;
RESET client_min_messages;

--
-- 1. Two tenants, each with an administrator mapped to it; tenant 1 has a
--    dispatcher, an agent, a portal user and a web form.
--
SELECT create_tenant('acme', 'Acme') AS acme \gset
INSERT INTO center (code, name) VALUES ('helpdesk', 'Helpdesk');
INSERT INTO agent (name, login_role) VALUES ('Ada', 'td_sct_ada'), ('Dora', 'td_sct_dora'), ('Xavier', 'td_sct_xavier');
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 2, 'dispatcher'), (1, 3, 'executor');
INSERT INTO customer (name) VALUES ('Initech');
INSERT INTO contact (customer_id, name, login_role) VALUES (1, 'Ann', 'td_sct_ann');
SET ticketdesk.tenant = :acme;
INSERT INTO agent (name, login_role) VALUES ('Zed', 'td_sct_zed');
RESET ticketdesk.tenant;
CREATE ROLE td_sct_ada NOLOGIN IN ROLE ticketdesk_admin;
CREATE ROLE td_sct_zed NOLOGIN IN ROLE ticketdesk_admin;
CREATE ROLE td_sct_dora NOLOGIN IN ROLE ticketdesk_dispatcher;
CREATE ROLE td_sct_xavier NOLOGIN IN ROLE ticketdesk_agent;
CREATE ROLE td_sct_ann NOLOGIN IN ROLE ticketdesk_requester;
CREATE ROLE td_sct_form NOLOGIN IN ROLE ticketdesk_intake;

--
-- 2. Ada, tenant 1's administrator, stores the SMTP password and the SMS
--    token, and replaces the password. The list shows names, not values.
--
SET ROLE td_sct_ada;
SELECT set_secret('smtp.password', 'hunter2');
SELECT set_secret('sms.token', 'tok-123');
SELECT set_secret('smtp.password', 'correct horse');
SELECT tenant_id, name, updated_by FROM secret_names ORDER BY name;
SELECT name, value FROM secret ORDER BY name;

-- Refusals name the secret, never the value.
SELECT set_secret('SMTP password', 's3cr3t-in-error');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_secret('imap.1.password', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_secret('imap.1.password', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT drop_secret('imap.9.password');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A plain INSERT with a bad name: the domain refuses it without printing the row.
INSERT INTO secret (name, value) VALUES ('Bad Name', 's3cr3t-in-row');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Nor can she file a secret under another tenant.
INSERT INTO secret (tenant_id, name, value) VALUES (:acme, 'smtp.password', 'planted');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- 3. Nobody else of tenant 1 reads or writes them: not the dispatcher, the
--    agent, the portal user or the web form.
--
SET ROLE td_sct_dora;
SELECT value FROM secret;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT name FROM secret_names;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_secret('smtp.password', 'mine now');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE td_sct_xavier;
SELECT value FROM secret;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT drop_secret('smtp.password');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE td_sct_ann;
SELECT value FROM secret;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE td_sct_form;
SELECT value FROM secret;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- 4. Zed, administrator of tenant 2, sees only his tenant's secrets, and
--    cannot switch to tenant 1 to read Ada's (his login is pinned: TD700).
--
SET ticketdesk.tenant = :acme;
SET ROLE td_sct_zed;
SELECT set_secret('smtp.password', 'acme-pass');
SELECT tenant_id, name FROM secret_names ORDER BY name;
SELECT count(*) FROM secret WHERE tenant_id = 1;
RESET ROLE;
RESET ticketdesk.tenant;
SET ROLE td_sct_zed;
SELECT value FROM secret;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- 5. The worker (a superuser) reads every tenant's; Ada drops the token.
--
SELECT tenant_id, name, value FROM secret ORDER BY tenant_id, name;
SET ROLE td_sct_ada;
SELECT drop_secret('sms.token');
SELECT name FROM secret_names ORDER BY name;
RESET ROLE;

DROP EXTENSION ticketdesk CASCADE;
DROP ROLE td_sct_ada, td_sct_zed, td_sct_dora, td_sct_xavier, td_sct_ann, td_sct_form;
