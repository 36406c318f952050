-- History retention (issue 8): the history is append-only for everyone, and
-- purge_history is the one documented way to remove old history. It removes
-- the history of tickets finished long enough ago, for one tenant, when an
-- administrator (or a superuser) asks, and records that it did.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

SET client_min_messages = warning;
DROP ROLE IF EXISTS td_ret_admin, td_ret_agent, td_ret_ann, td_ret_other_admin;
RESET client_min_messages;

--
-- 1. The desk: Ada the agent, Ann a requester, Olga the administrator of
--    the default tenant, Otto the administrator of a second tenant.
--
INSERT INTO center (code, name) VALUES ('it', 'IT');
INSERT INTO agent (name, login_role) VALUES ('Ada', 'td_ret_agent'), ('Olga', 'td_ret_admin');
INSERT INTO customer (name) VALUES ('Initech');
INSERT INTO contact (customer_id, name, login_role) VALUES (1, 'Ann', 'td_ret_ann');
CREATE ROLE td_ret_admin NOLOGIN IN ROLE ticketdesk_admin;
CREATE ROLE td_ret_agent NOLOGIN IN ROLE ticketdesk_agent;
CREATE ROLE td_ret_ann NOLOGIN IN ROLE ticketdesk_requester;
CREATE ROLE td_ret_other_admin NOLOGIN IN ROLE ticketdesk_admin;
-- Four tickets: 1 closed and 2 cancelled long ago, 3 closed last week,
-- 4 opened long ago and still open.
SELECT ticket_id FROM open_ticket('Old closed', 1, customer_id => 1, contact_id => 1);
SELECT ticket_id FROM open_ticket('Old cancelled', 1, customer_id => 1, contact_id => 1);
SELECT ticket_id FROM open_ticket('Recently closed', 1, customer_id => 1, contact_id => 1);
SELECT ticket_id FROM open_ticket('Old and open', 1, customer_id => 1, contact_id => 1);
SELECT (assign(1, 1)).status, (start_work(1)).status, (resolve(1, 'Fixed')).status, (close(1)).status;
SELECT (cancel(2, 'Duplicate')).status, (assign(3, 1)).status, (start_work(3)).status,
       (resolve(3, 'Fixed')).status, (close(3)).status, (assign(4, 1)).status;
-- Tenant 2 has a ticket cancelled long ago too.
SELECT create_tenant('north', 'North');
SET ticketdesk.tenant = 2;
INSERT INTO center (code, name) VALUES ('it2', 'IT north');
INSERT INTO customer (name) VALUES ('Northwind');
INSERT INTO agent (name, login_role) VALUES ('Otto', 'td_ret_other_admin');
SELECT ticket_id FROM open_ticket('North printer', (SELECT center_id FROM center WHERE code = 'it2'),
                                  customer_id => (SELECT customer_id FROM customer WHERE name = 'Northwind'));
SELECT (cancel(5)).status;
RESET ticketdesk.tenant;

-- Age them as a restore from an old dump would (triggers are off under
-- session_replication_role = replica, a superuser's setting): tickets 1, 2,
-- 4 and tenant 2's ticket 5 and their history are 400 days older, ticket 3
-- closed a week earlier. Ticket 1 also has an approval and a gate bypass from
-- back then.
SET session_replication_role = replica;
UPDATE ticket SET created_at = created_at - interval '400 days', updated_at = updated_at - interval '400 days',
                  assigned_at = assigned_at - interval '400 days', started_at = started_at - interval '400 days',
                  resolved_at = resolved_at - interval '400 days', closed_at = closed_at - interval '400 days',
                  cancelled_at = cancelled_at - interval '400 days'
 WHERE ticket_id IN (1, 2, 4, 5);
UPDATE ticket SET closed_at = closed_at - interval '7 days' WHERE tenant_id = 1 AND ticket_id = 3;
UPDATE ticket_event SET at = at - interval '400 days' WHERE ticket_id IN (1, 2, 4, 5);
INSERT INTO approval (ticket_id, resolved_at, decision, decided_by, decided_at)
SELECT 1, resolved_at, 'approved', 2, resolved_at + interval '1 hour' FROM ticket WHERE tenant_id = 1 AND ticket_id = 1;
INSERT INTO gate_bypass (ticket_id, from_status, to_status, reason, at)
SELECT 1, 'in_progress', 'resolved', 'Checklist item obsolete', resolved_at FROM ticket WHERE tenant_id = 1 AND ticket_id = 1;
RESET session_replication_role;
-- Today's event on ticket 1 (a watcher) is newer than the cutoff: it stays.
SELECT add_watcher(1, 2) > 0 AS watching;

SELECT tenant_id, ticket_id, count(*) AS events FROM ticket_event GROUP BY tenant_id, ticket_id ORDER BY ticket_id;

--
-- 2. Nobody changes or removes history by plain SQL: not the administrator,
--    not a superuser.
--
SET ROLE td_ret_admin;
DELETE FROM ticket_event WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket_event SET note = 'rewritten' WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM approval WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM gate_bypass WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DELETE FROM ticket_event WHERE ticket_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE gate_bypass;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE approval;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- 3. Faking the permission does not work: there is no setting for it, the
--    guard cannot be called, and the record of purges cannot be forged.
--
SET ROLE td_ret_admin;
SET ticketdesk.purging_history = on;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT forbid_history_change();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO history_purge (older_than, cutoff, events, approvals, bypasses)
VALUES ('1 year', now() - interval '1 year', 0, 0, 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Nor can she reach the library's functions by a C function of her own.
CREATE FUNCTION pg_temp.purge_now(interval) RETURNS bigint
    LANGUAGE c AS '$libdir/ticketdesk', 'ticketdesk_purge_history';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A purge inside the same statement as a DELETE lends the DELETE nothing:
-- the permission lasts only while purge_history runs.
WITH p AS (SELECT purge_history('10 years') AS n)
DELETE FROM ticket_event WHERE ticket_id = 3 AND (SELECT n FROM p) IS NOT NULL;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- 4. Only administrators purge; agents and requesters may not (42501).
--
SET ROLE td_ret_agent;
SELECT purge_history('1 year');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE td_ret_ann;
SELECT purge_history('1 year');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A role granted EXECUTE anyway is still refused by the function itself.
CREATE ROLE td_ret_helper NOLOGIN;
GRANT USAGE ON SCHEMA ticketdesk TO td_ret_helper;
GRANT EXECUTE ON FUNCTION purge_history(interval) TO td_ret_helper;
SET ROLE td_ret_helper;
SELECT purge_history('1 year');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP OWNED BY td_ret_helper;
DROP ROLE td_ret_helper;
-- Otto administers tenant 2: as a pinned role he cannot act for tenant 1.
SET ROLE td_ret_other_admin;
SELECT purge_history('1 year');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- 5. The floor: ticketdesk.history_retention_floor (365 days unless a
--    superuser lowers it) is the least purge_history keeps.
--
SET ROLE td_ret_admin;
SELECT purge_history('30 days');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT purge_history('-1 year');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT purge_history(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ticketdesk.history_retention_floor = '1d';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SHOW ticketdesk.history_retention_floor;
SET ticketdesk.history_retention_floor = '1h';
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- 6. Olga purges what is older than a year: the history of tickets 1 and 2
--    goes; ticket 3 finished a week ago, ticket 4 is open, and tenant 2 is
--    not hers. The tickets themselves stay.
--
SET ROLE td_ret_admin;
SELECT purge_history('1 year') AS removed;
SELECT ticket_id, count(*) AS events FROM ticket_event GROUP BY ticket_id ORDER BY ticket_id;
SELECT count(*) AS approvals FROM approval;
SELECT count(*) AS bypasses FROM gate_bypass;
SELECT ticket_id, status FROM ticket ORDER BY ticket_id;
-- The purge is recorded, with who did it.
SELECT by_role, older_than, events, approvals, bypasses, cutoff = at - older_than AS cutoff_ok
  FROM history_purge ORDER BY purge_id;
-- Nobody rewrites the record: administrators have no right to, and the
-- guard refuses even a superuser.
UPDATE history_purge SET events = 0;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
UPDATE history_purge SET events = 0;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM history_purge;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE history_purge;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ROLE td_ret_admin;
-- Running it again removes nothing more (and is recorded too).
SELECT purge_history('1 year') AS removed;
SELECT count(*) FROM history_purge;
RESET ROLE;
SELECT count(*) AS tenant_2_events FROM ticket_event WHERE tenant_id = 2;

-- Agents and requesters cannot read the record.
SET ROLE td_ret_agent;
SELECT count(*) FROM history_purge;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- After the purge the history is append-only again, in the same session.
SET ROLE td_ret_admin;
DELETE FROM ticket_event WHERE ticket_id = 4;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- 7. A superuser purges tenant by tenant (ticketdesk.tenant), as a pg_cron
--    job does (doc/operations.md).
--
-- The loop of the pg_cron recipe, as a superuser:
DO $do$
DECLARE
    t integer;
BEGIN
    FOR t IN SELECT tenant_id FROM ticketdesk.tenant ORDER BY tenant_id LOOP
        PERFORM set_config('ticketdesk.tenant', t::text, true);
        PERFORM ticketdesk.purge_history('1 year');
    END LOOP;
END $do$;
SHOW ticketdesk.tenant;
SELECT tenant_id, count(*) FROM ticket_event GROUP BY tenant_id ORDER BY tenant_id;
SELECT tenant_id, by_role, events FROM history_purge ORDER BY tenant_id, purge_id;

--
-- 8. An error inside the purge (here: the administrators lost the right to
--    record purges) leaves nothing behind and the guard shut.
--
BEGIN;
REVOKE INSERT ON history_purge FROM ticketdesk_admin;
SET LOCAL ROLE td_ret_admin;
SAVEPOINT s;
SELECT purge_history('1 year');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
DELETE FROM ticket_event WHERE ticket_id = 4;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

DROP OWNED BY td_ret_admin, td_ret_agent, td_ret_ann, td_ret_other_admin;
DROP ROLE td_ret_admin, td_ret_agent, td_ret_ann, td_ret_other_admin;
