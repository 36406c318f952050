-- Privileges of the retention function and its record (after 95_roles.sql,
-- which grants the API to every staff and portal role).

-- Only administrators purge (the function checks it too, for roles granted
-- EXECUTE otherwise).
REVOKE EXECUTE ON FUNCTION purge_history(interval)
    FROM PUBLIC, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;

-- The record of purges: administrators read it; the INSERT right is what
-- purge_history, running as the administrator, needs (a direct INSERT is
-- refused, TD721).
REVOKE ALL ON history_purge FROM ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester, ticketdesk_intake;
REVOKE UPDATE, DELETE ON history_purge FROM ticketdesk_admin;
GRANT SELECT, INSERT ON history_purge TO ticketdesk_admin;

-- SECURITY DEFINER functions name pg_temp last, so a caller's temporary table
-- never shadows a table they use (test security_audit).
ALTER FUNCTION create_tenant(text, text) SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION run_jobs_all_tenants(timestamptz) SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION automation_notice_send() SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION intake_submit(name, text, text, text) SET search_path = pg_catalog, ticketdesk, pg_temp;
