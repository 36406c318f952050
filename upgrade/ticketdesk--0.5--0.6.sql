-- ticketdesk 0.5 -> 0.6. Each section names the change it brings; the
-- result must equal a fresh install of 0.6 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.6'" to load this file. \quit

-- One index on ticket_event instead of two: the primary key leads with the
-- ticket, (tenant_id, ticket_id, event_id), and ticket_event_ticket_idx,
-- which had those columns, goes. Rebuilds the key's index: on a large
-- history this takes a while and blocks writes to ticket_event (and so every
-- ticket change) until it is done.
ALTER TABLE ticket_event DROP CONSTRAINT ticket_event_pkey;
DROP INDEX ticket_event_ticket_idx;
ALTER TABLE ticket_event ADD PRIMARY KEY (tenant_id, ticket_id, event_id);

-- The policies call the session_* functions directly instead of through
-- (SELECT ...) init plans, and the functions become PARALLEL SAFE (a
-- parallel worker reads the principal itself; src/principal.c).
ALTER FUNCTION session_tenant() PARALLEL SAFE;
ALTER FUNCTION session_agent() PARALLEL SAFE;
ALTER FUNCTION session_contact() PARALLEL SAFE;
ALTER FUNCTION session_contacts() PARALLEL SAFE;
ALTER FUNCTION session_customer() PARALLEL SAFE;
ALTER FUNCTION session_org_customer() PARALLEL SAFE;
ALTER FUNCTION session_centers() PARALLEL SAFE;
DO $$
DECLARE
    tbl text;
BEGIN
    FOR tbl IN
        SELECT c.relname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
         WHERE c.relnamespace = 'ticketdesk'::regnamespace AND p.polname = 'tenant_isolation'
         ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER POLICY tenant_isolation ON ticketdesk.%I
                            USING (tenant_id = ticketdesk.session_tenant())
                            WITH CHECK (tenant_id = ticketdesk.session_tenant())', tbl);
    END LOOP;
END $$;
ALTER POLICY requester_rows ON ticket
    USING (contact_id = ANY (ticketdesk.session_contacts()))
    WITH CHECK (contact_id = ticketdesk.session_contact());
ALTER POLICY agent_rows ON ticket
    USING (assignee_id = ticketdesk.session_agent()
           OR center_id = ANY (ticketdesk.session_centers())
           OR EXISTS (SELECT 1 FROM ticketdesk.watcher w
                       WHERE w.tenant_id = ticket.tenant_id AND w.ticket_id = ticket.ticket_id
                         AND w.agent_id = ticketdesk.session_agent()));
ALTER POLICY dispatcher_rows ON ticket
    USING (center_id = ANY (ticketdesk.session_centers())
           OR assignee_id = ticketdesk.session_agent());
ALTER POLICY requester_rows ON message
    USING (NOT internal AND EXISTS (SELECT 1 FROM ticketdesk.ticket t
                                     WHERE t.tenant_id = message.tenant_id AND t.ticket_id = message.ticket_id))
    WITH CHECK (NOT internal AND author_agent_id IS NULL
                AND author_contact_id = ticketdesk.session_contact()
                AND EXISTS (SELECT 1 FROM ticketdesk.ticket t
                             WHERE t.tenant_id = message.tenant_id AND t.ticket_id = message.ticket_id));
ALTER POLICY requester_rows ON watcher
    USING (contact_id = ticketdesk.session_contact());
ALTER POLICY requester_rows ON contact
    USING (contact_id = ticketdesk.session_contact()
           OR customer_id = ticketdesk.session_org_customer());
ALTER POLICY requester_rows ON customer
    USING (customer_id = ticketdesk.session_customer());

-- (the lead's sections end here; helpers' sections follow)
