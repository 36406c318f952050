-- Attacks on row-level security that security_roles does not tell (issue 8):
-- a leaky function in a WHERE clause, temporary tables and operators
-- planted to shadow what SECURITY DEFINER functions use, placeholders and SQL
-- in values, and staff acting outside their centres. TAP test
-- 080_rls_attacks runs the whole list over real logins.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

SET client_min_messages = warning;
DROP ROLE IF EXISTS td_att_ann, td_att_xavier, td_att_dora, td_att_form;
DROP SCHEMA IF EXISTS td_att_evil CASCADE;
RESET client_min_messages;

--
-- 1. Ann (Initech) and Ben (Globex) have a ticket each; Xavier works in
--    network, Dora dispatches network only; Ben's ticket is in facilities.
--
INSERT INTO center (code, name) VALUES ('network', 'Network'), ('facilities', 'Facilities');
INSERT INTO agent (name, email, login_role) VALUES ('Xavier', 'x@desk.example', 'td_att_xavier'),
                                                    ('Dora', 'd@desk.example', 'td_att_dora');
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 1, 'executor'), (1, 2, 'dispatcher');
INSERT INTO customer (name) VALUES ('Initech'), ('Globex');
INSERT INTO contact (customer_id, name, email, login_role) VALUES
    (1, 'Ann', 'ann@initech.example', 'td_att_ann'), (2, 'Ben', 'ben@globex.example', NULL);
CREATE ROLE td_att_ann NOLOGIN IN ROLE ticketdesk_requester;
CREATE ROLE td_att_xavier NOLOGIN IN ROLE ticketdesk_agent;
CREATE ROLE td_att_dora NOLOGIN IN ROLE ticketdesk_dispatcher;
CREATE ROLE td_att_form NOLOGIN IN ROLE ticketdesk_intake;
INSERT INTO intake_source (login_role, center_id, max_per_hour) VALUES ('td_att_form', 1, 2);
SELECT ticket_id FROM open_ticket('Router down', 1, customer_id => 1, contact_id => 1);
SELECT ticket_id FROM open_ticket('Ben''s door', 2, customer_id => 2, contact_id => 2);
SELECT comment(1, 'Ann-public'), comment(1, 'Ann-internal', internal => true),
       comment(2, 'Ben-public'), comment(2, 'Ben-internal', internal => true);

--
-- 2. A leaky function of Ann's own, cheaper than the policy, still sees only
--    the rows the policy lets through: her ticket's public remark.
--
SET ROLE td_att_ann;
CREATE FUNCTION pg_temp.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'leaked: %', $1;
    RETURN true;
END $$;
SELECT count(*) FROM message WHERE pg_temp.leak(body);
SELECT count(*) FROM contact WHERE pg_temp.leak(name);
SELECT count(*) FROM customer WHERE pg_temp.leak(name);
RESET ROLE;

--
-- 3. Temporary tables named like the tables SECURITY DEFINER functions read
--    change nothing: they name their tables with the schema.
--
SET ROLE td_att_ann;
CREATE TEMP TABLE contact (tenant_id integer, contact_id bigint, customer_id bigint, login_role name);
INSERT INTO pg_temp.contact VALUES (1, 2, 2, 'td_att_ann');
SET search_path = pg_temp, ticketdesk, pg_catalog;
SELECT ticket_id, subject FROM ticketdesk.ticket ORDER BY ticket_id;
DISCARD TEMP;
SET search_path = ticketdesk, public;
RESET ROLE;
SET ROLE td_att_form;
CREATE TEMP TABLE intake_source (tenant_id integer, login_role name, center_id bigint, max_per_hour integer);
INSERT INTO pg_temp.intake_source VALUES (1, 'td_att_form', 2, 1000);
SET search_path = pg_temp, ticketdesk, pg_catalog;
SELECT submit_request('eve@example.com', 'One') LIKE 'TD-%' AS submitted,
       submit_request('eve@example.com', 'Two') LIKE 'TD-%' AS submitted;
SELECT submit_request('eve@example.com', 'Three');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DISCARD TEMP;
SET search_path = ticketdesk, public;
RESET ROLE;
-- The submissions went to the real source's centre (network), not the planted one.
SELECT subject, center_id FROM ticket WHERE contact_id = (SELECT contact_id FROM contact WHERE email = 'eve@example.com')
 ORDER BY ticket_id;

--
-- 4. An operator planted earlier in the path is not used by SECURITY
--    DEFINER functions (functions: security_roles, section 7).
--
CREATE SCHEMA td_att_evil;
GRANT USAGE ON SCHEMA td_att_evil TO PUBLIC;
CREATE FUNCTION td_att_evil.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hijacked';
END $$;
CREATE FUNCTION td_att_evil.nameeq(name, name) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hijacked';
END $$;
CREATE OPERATOR td_att_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = td_att_evil.texteq);
CREATE OPERATOR td_att_evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = td_att_evil.nameeq);
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA td_att_evil TO PUBLIC;
SET ROLE td_att_ann;
SET search_path = td_att_evil, ticketdesk, pg_catalog;
-- In her own query the planted operator is used (she may harm herself) ...
SELECT 'a'::name = 'a'::name;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- ... but not in role_principal's login_role = r, nor in intake_submit.
SELECT ticket_id FROM ticketdesk.ticket ORDER BY ticket_id;
RESET ROLE;
SET ROLE td_att_form;
SELECT submit_request('trent@example.com', 'Via the operator') LIKE 'TD-%' AS submitted;
RESET ROLE;
SET search_path = ticketdesk, public;
SET client_min_messages = warning;
DROP SCHEMA td_att_evil CASCADE;
RESET client_min_messages;

--
-- 5. Staff outside their centres: Xavier cannot cancel or close Ben's
--    facilities ticket, Dora cannot redirect it.
--
SET ROLE td_att_xavier;
SELECT ticket_id FROM cancel(2, 'Not mine');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET status = 'cancelled' WHERE ticket_id = 2;
RESET ROLE;
SET ROLE td_att_dora;
SELECT ticket_id FROM redirect(2, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET center_id = 1 WHERE ticket_id = 2;
RESET ROLE;
SELECT ticket_id, center_id, status FROM ticket WHERE ticket_id = 2;

--
-- 6. SQL and placeholders in values stay values: a subject and a name made
--    of both reach the mails as written, never expanded or executed.
--
UPDATE contact SET name = 'Ann {{link}}' WHERE contact_id = 1;
SET ROLE td_att_ann;
SELECT open_my_ticket($s$x'); DROP TABLE ticketdesk.ticket; -- {{description}}$s$, 1,
                      description => 'PRIVATE') LIKE 'TD-%' AS opened;
RESET ROLE;
SELECT event, subject, body_text LIKE '%Hello Ann {{link}},%' AS name_as_written
  FROM outbox_message WHERE ticket_id = (SELECT max(ticket_id) FROM ticket) ORDER BY outbox_id;
SELECT count(*) AS tickets FROM ticket;

DROP ROLE td_att_ann, td_att_xavier, td_att_dora, td_att_form;
