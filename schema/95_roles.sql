-- Roles and row-level security (issue 8). Runs after 90_tenancy.sql, which
-- gave every table RLS (forced) and the policy tenant_isolation; this file pins
-- mapped logins to their tenant, adds per-row visibility for the portal and
-- staff roles, and sets the privileges of the five roles. See doc/security.md.

-- The five roles. ticketdesk_admin is created by 68_checklist.sql already.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ticketdesk_admin', 'ticketdesk_dispatcher', 'ticketdesk_agent',
                             'ticketdesk_requester', 'ticketdesk_intake'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;

-- The mapping from database roles to people. A login role names at most one
-- agent or contact in the whole database, and so one tenant.
ALTER TABLE contact ADD COLUMN login_role name;
CREATE UNIQUE INDEX agent_login_role_key ON agent (login_role) WHERE login_role IS NOT NULL;
CREATE UNIQUE INDEX contact_login_role_key ON contact (login_role) WHERE login_role IS NOT NULL;
COMMENT ON COLUMN contact.login_role IS 'The database role this contact logs in to the portal as, if any.';

-- The settings behind per-row visibility.
ALTER TABLE customer ADD COLUMN requesters_see_organisation boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN customer.requesters_see_organisation IS
    'When true, a requester who is a contact of this customer sees all of its tickets, not only their own.';
ALTER TABLE center ADD COLUMN members_see_queue boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN center.members_see_queue IS
    'When true, the centre''s members (ticketdesk_agent) see all tickets of its queue, not only their own.';

-- The index a requester's ticket list uses: own tickets, newest first.
CREATE INDEX ticket_contact_idx ON ticket (tenant_id, contact_id, created_at);
CREATE INDEX watcher_agent_idx ON watcher (tenant_id, agent_id, ticket_id);

-- Whom a role acts as: its principal. A mapped role (agent.login_role of an
-- active agent, else contact.login_role) is pinned: its tenant is the mapped
-- one, and a session that sets ticketdesk.tenant to another tenant is refused
-- (TD700) by every function below. An unmapped restricted role has no tenant:
-- it sees nothing. Any other role (superuser, an unmapped administrator, a
-- trusted pooler's role) acts for the tenant in ticketdesk.tenant.
--
-- The policies call these once per statement, so they are C (src/principal.c)
-- with a per-backend cache keyed by role, read as the bootstrap superuser and
-- emptied when agent, contact, customer, center, center_member, a role or a
-- role membership changes; the tenant pin is checked on every call.
CREATE FUNCTION role_is_restricted(r name) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_is_restricted';
COMMENT ON FUNCTION role_is_restricted(name) IS
    'True when role r is limited to the rows of one person: a member of a restricted role and not of ticketdesk_admin.';
CREATE FUNCTION role_principal(r name, OUT tenant_id integer, OUT agent_id bigint, OUT contact_id bigint)
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_principal';
COMMENT ON FUNCTION role_principal(name) IS
    'The tenant, agent and contact role r acts as; refuses (TD700) a session whose ticketdesk.tenant is not the mapped tenant.';
CREATE FUNCTION role_contacts(r name) RETURNS bigint[]
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_contacts';
COMMENT ON FUNCTION role_contacts(name) IS
    'The contacts whose tickets requester r sees: itself, or every contact of its customer when the customer allows it.';
CREATE FUNCTION role_customer(r name) RETURNS bigint
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_customer';
COMMENT ON FUNCTION role_customer(name) IS 'The customer of the contact mapped to role r, if any.';
CREATE FUNCTION role_org_customer(r name) RETURNS bigint
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_org_customer';
COMMENT ON FUNCTION role_org_customer(name) IS
    'The customer whose tickets requester r sees as a whole (customer.requesters_see_organisation), if any.';
CREATE FUNCTION role_centers(r name) RETURNS bigint[]
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_centers';
COMMENT ON FUNCTION role_centers(name) IS
    'The centres whose tickets agent r sees besides its own: where it is dispatcher (if in ticketdesk_dispatcher) with every centre below, and the open queues of its centres.';

-- The same for current_user, as the policies use them. The policies call
-- them directly, not as (SELECT ...) init plans: an init plan is an executor
-- node started for every statement, and a call answers from the call site's
-- memory after the first row (src/principal.c). PARALLEL SAFE: a parallel
-- worker reads the principal itself, with the statement's snapshot.
CREATE FUNCTION session_tenant() RETURNS integer
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_session_tenant';
CREATE FUNCTION session_agent() RETURNS bigint
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_session_agent';
CREATE FUNCTION session_contact() RETURNS bigint
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_session_contact';
CREATE FUNCTION session_contacts() RETURNS bigint[]
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_session_contacts';
CREATE FUNCTION session_customer() RETURNS bigint
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_session_customer';
CREATE FUNCTION session_org_customer() RETURNS bigint
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_session_org_customer';
CREATE FUNCTION session_centers() RETURNS bigint[]
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_session_centers';
COMMENT ON FUNCTION session_tenant() IS 'The tenant the current role acts for (pinned for mapped roles).';
COMMENT ON FUNCTION session_agent() IS 'The agent mapped to the current role, if any.';
COMMENT ON FUNCTION session_contact() IS 'The contact mapped to the current role, if any.';
COMMENT ON FUNCTION session_contacts() IS 'The contacts whose tickets the current role sees (role_contacts).';
COMMENT ON FUNCTION session_customer() IS 'The customer of the contact mapped to the current role, if any.';
COMMENT ON FUNCTION session_org_customer() IS 'The customer whose tickets the current role sees as a whole, if any.';
COMMENT ON FUNCTION session_centers() IS 'The centres whose tickets the current role sees (role_centers).';

-- contact and customer decide principals too: their changes empty the
-- per-backend caches like those of agent, center and center_member
-- (holders_changed, schema/87_api_routing.sql).
CREATE FUNCTION principal_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_holders_changed';
COMMENT ON FUNCTION principal_changed() IS
    'Statement trigger: invalidates the cached principals of every backend when contact or customer changes.';
CREATE TRIGGER principal_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON contact
    FOR EACH STATEMENT EXECUTE FUNCTION principal_changed();
CREATE TRIGGER principal_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON customer
    FOR EACH STATEMENT EXECUTE FUNCTION principal_changed();

-- Tenant isolation, pinned: every table's policy now compares with the
-- session's tenant, a stable function, so the comparison is an index key.
DO $$
DECLARE
    tbl text;
BEGIN
    FOR tbl IN
        SELECT c.relname FROM pg_class c
         WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind = 'r'
         ORDER BY c.relname
    LOOP
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON ticketdesk.%I', tbl);
        EXECUTE format('CREATE POLICY tenant_isolation ON ticketdesk.%I
                            USING (tenant_id = ticketdesk.session_tenant())
                            WITH CHECK (tenant_id = ticketdesk.session_tenant())', tbl);
        EXECUTE format('ALTER TABLE ticketdesk.%I ENABLE ROW LEVEL SECURITY', tbl);
        EXECUTE format('ALTER TABLE ticketdesk.%I FORCE ROW LEVEL SECURITY', tbl);
    END LOOP;
END $$;

-- Per-row visibility. Restrictive policies, one per restricted role: a login
-- is a member of one of them (doc/security.md).
CREATE POLICY requester_rows ON ticket AS RESTRICTIVE TO ticketdesk_requester
    USING (contact_id = ANY (ticketdesk.session_contacts()))
    WITH CHECK (contact_id = ticketdesk.session_contact());
-- Staff also see the tickets they handed on (handed_by: a rejection back to
-- the queue, a hand-over to the next stage or a co-worker, a redirection;
-- R18, R28, R42, R51). PostgreSQL checks the new row of an UPDATE against
-- what its maker may read, so without this such a move by a login failed
-- as "new row violates row-level security policy". Seeing is all: the
-- lifecycle trigger refuses (42501) the mover's later changes of such a
-- ticket unless it holds it or sees its centre's queue (src/lifecycle.c).
CREATE POLICY agent_rows ON ticket AS RESTRICTIVE TO ticketdesk_agent
    USING (assignee_id = ticketdesk.session_agent()
           OR center_id = ANY (ticketdesk.session_centers())
           OR handed_by = ticketdesk.session_agent()
           OR EXISTS (SELECT 1 FROM ticketdesk.watcher w
                       WHERE w.tenant_id = ticket.tenant_id AND w.ticket_id = ticket.ticket_id
                         AND w.agent_id = ticketdesk.session_agent()));
CREATE POLICY dispatcher_rows ON ticket AS RESTRICTIVE TO ticketdesk_dispatcher
    USING (center_id = ANY (ticketdesk.session_centers())
           OR assignee_id = ticketdesk.session_agent()
           OR handed_by = ticketdesk.session_agent());

-- What hangs off a ticket is visible with the ticket (the subquery obeys the
-- ticket's policies). Requesters never see internal remarks.
CREATE POLICY requester_rows ON message AS RESTRICTIVE TO ticketdesk_requester
    USING (NOT internal AND EXISTS (SELECT 1 FROM ticketdesk.ticket t
                                     WHERE t.tenant_id = message.tenant_id AND t.ticket_id = message.ticket_id))
    WITH CHECK (NOT internal AND author_agent_id IS NULL
                AND author_contact_id = ticketdesk.session_contact()
                AND EXISTS (SELECT 1 FROM ticketdesk.ticket t
                             WHERE t.tenant_id = message.tenant_id AND t.ticket_id = message.ticket_id));
CREATE POLICY staff_rows ON message AS RESTRICTIVE TO ticketdesk_agent, ticketdesk_dispatcher
    USING (EXISTS (SELECT 1 FROM ticketdesk.ticket t
                    WHERE t.tenant_id = message.tenant_id AND t.ticket_id = message.ticket_id));
CREATE POLICY ticket_rows ON attachment AS RESTRICTIVE TO ticketdesk_requester, ticketdesk_agent, ticketdesk_dispatcher
    USING (EXISTS (SELECT 1 FROM ticketdesk.ticket t
                    WHERE t.tenant_id = attachment.tenant_id AND t.ticket_id = attachment.ticket_id)
           AND (attachment.message_id IS NULL
                OR EXISTS (SELECT 1 FROM ticketdesk.message m
                            WHERE m.tenant_id = attachment.tenant_id AND m.message_id = attachment.message_id)));
CREATE POLICY ticket_rows ON ticket_event AS RESTRICTIVE TO ticketdesk_agent, ticketdesk_dispatcher
    USING (EXISTS (SELECT 1 FROM ticketdesk.ticket t
                    WHERE t.tenant_id = ticket_event.tenant_id AND t.ticket_id = ticket_event.ticket_id));
CREATE POLICY requester_rows ON watcher AS RESTRICTIVE TO ticketdesk_requester
    USING (contact_id = ticketdesk.session_contact());
CREATE POLICY requester_rows ON contact AS RESTRICTIVE TO ticketdesk_requester
    USING (contact_id = ticketdesk.session_contact()
           OR customer_id = ticketdesk.session_org_customer());
CREATE POLICY requester_rows ON customer AS RESTRICTIVE TO ticketdesk_requester
    USING (customer_id = ticketdesk.session_customer());
-- A requester reads its own customer's sites and those of the tickets it
-- sees, and the checklist and approvals of those tickets; not other
-- customers' (read only: requesters write none of them but through the
-- opening, whose checklist copy these policies leave alone).
CREATE POLICY requester_rows ON site AS RESTRICTIVE FOR SELECT TO ticketdesk_requester
    USING (customer_id = ticketdesk.session_customer()
           OR EXISTS (SELECT 1 FROM ticketdesk.ticket t
                       WHERE t.tenant_id = site.tenant_id AND t.site_id = site.site_id));
CREATE POLICY requester_rows ON checklist_item AS RESTRICTIVE FOR SELECT TO ticketdesk_requester
    USING (EXISTS (SELECT 1 FROM ticketdesk.ticket t
                    WHERE t.tenant_id = checklist_item.tenant_id AND t.ticket_id = checklist_item.ticket_id));
CREATE POLICY requester_rows ON approval AS RESTRICTIVE FOR SELECT TO ticketdesk_requester
    USING (EXISTS (SELECT 1 FROM ticketdesk.ticket t
                    WHERE t.tenant_id = approval.tenant_id AND t.ticket_id = approval.ticket_id));

-- The history is written by the ticket trigger (trigger depth 2) and by the
-- API. A restricted role cannot insert events of its own making (TD701).
CREATE FUNCTION forbid_forged_event() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_forbid_forged_event';
COMMENT ON FUNCTION forbid_forged_event() IS
    'Trigger: refuses (TD701) a ticket_event row inserted by a restricted role other than through the ticket trigger.';
CREATE TRIGGER ticket_event_no_forgery BEFORE INSERT ON ticket_event
    FOR EACH ROW EXECUTE FUNCTION forbid_forged_event();

-- A requester opens a ticket for themselves: the contact (and its customer)
-- is the mapped one. Returns the reference. open_ticket returns the whole row,
-- which a requester may not read, so requesters use this one.
CREATE FUNCTION open_my_ticket(subject text, center_id bigint, description text DEFAULT NULL,
                               category_id bigint DEFAULT NULL, requester_weight integer DEFAULT 3) RETURNS text
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    me  bigint := ticketdesk.session_contact();
    ref text;
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'role % is no contact', current_user
            USING ERRCODE = 'TD702',
                  HINT = 'An administrator sets contact.login_role to the role.';
    END IF;
    PERFORM ticketdesk.require('center', center_id);
    INSERT INTO ticketdesk.ticket (type_id, center_id, category_id, customer_id, contact_id, channel,
                                   subject, description, requester_weight)
    SELECT tt.type_id, center_id, category_id, ticketdesk.session_customer(), me, 'web',
           subject, description, requester_weight
      FROM ticketdesk.ticket_type tt
     WHERE tt.tenant_id = ticketdesk.current_tenant() AND tt.code = 'service_request'
    RETURNING reference INTO ref;
    RETURN ref;
END $$;
COMMENT ON FUNCTION open_my_ticket(text, bigint, text, bigint, integer) IS
    'Opens a ticket for the contact mapped to the current role (requesters); returns its reference.';

-- The intake: one function, SECURITY DEFINER, for web forms and gateways.
-- Submits a request from a web form or gateway: the only thing
-- ticketdesk_intake may do. Validates lengths (TD710..TD712), and at most
-- max_per_hour requests per sender per hour (TD713). Returns the reference.
CREATE FUNCTION intake_submit(source name, sender text, subject text, body text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, ticketdesk AS $$
#variable_conflict use_variable
DECLARE
    src     ticketdesk.intake_source;
    recent  integer;
    tid     bigint;
    ref     text;
    who     bigint;
BEGIN
    -- The caller can only name a role its login is a member of.
    IF pg_catalog.pg_has_role(session_user, source, 'MEMBER') THEN
        SELECT * INTO src FROM ticketdesk.intake_source s WHERE s.login_role = source;
    END IF;
    IF src.login_role IS NULL THEN
        RAISE EXCEPTION 'role % is no intake source', source
            USING ERRCODE = 'TD714', HINT = 'An administrator adds the role to intake_source.';
    END IF;
    IF sender IS NULL OR length(sender) > 254 OR sender !~ '^[^@\s]+@[^@\s]+$' THEN
        RAISE EXCEPTION 'the sender must be an e-mail address of at most 254 characters'
            USING ERRCODE = 'TD710';
    END IF;
    IF subject IS NULL OR subject !~ '\S' OR length(subject) > 200 THEN
        RAISE EXCEPTION 'the subject must have 1 to 200 characters'
            USING ERRCODE = 'TD711',
                  DETAIL = format('The subject has %s characters.', coalesce(length(subject), 0));
    END IF;
    IF length(body) > 20000 THEN
        RAISE EXCEPTION 'the text must have at most 20000 characters'
            USING ERRCODE = 'TD712', DETAIL = format('The text has %s characters.', length(body));
    END IF;
    -- Serialise submissions of one sender, so the count below holds.
    PERFORM pg_catalog.pg_advisory_xact_lock(src.tenant_id, pg_catalog.hashtext(lower(sender)));
    SELECT count(*) INTO recent FROM ticketdesk.intake_submission i
     WHERE i.tenant_id = src.tenant_id AND lower(i.sender) = lower(sender) AND i.at > now() - interval '1 hour';
    IF recent >= src.max_per_hour THEN
        RAISE EXCEPTION 'too many requests from this sender'
            USING ERRCODE = 'TD713',
                  DETAIL = format('At most %s requests per hour are accepted from one sender.', src.max_per_hour),
                  HINT = 'Try again later.';
    END IF;
    PERFORM pg_catalog.set_config('ticketdesk.tenant', src.tenant_id::text, true);
    -- The sender is the requester: a known contact by address, else a new one.
    SELECT c.contact_id INTO who FROM ticketdesk.contact c
     WHERE c.tenant_id = src.tenant_id AND lower(c.email) = lower(sender)
     ORDER BY c.contact_id LIMIT 1;
    IF who IS NULL THEN
        INSERT INTO ticketdesk.contact (tenant_id, name, email) VALUES (src.tenant_id, sender, sender)
        RETURNING contact_id INTO who;
    END IF;
    INSERT INTO ticketdesk.ticket (tenant_id, type_id, center_id, channel, subject, description, contact_id)
    SELECT src.tenant_id, tt.type_id, src.center_id, 'web', subject, body, who
      FROM ticketdesk.ticket_type tt WHERE tt.tenant_id = src.tenant_id AND tt.code = 'service_request'
    RETURNING ticket_id, reference INTO tid, ref;
    INSERT INTO ticketdesk.intake_submission (tenant_id, sender, ticket_id) VALUES (src.tenant_id, sender, tid);
    RETURN ref;
END $$;
CREATE FUNCTION submit_request(sender text, subject text, body text DEFAULT NULL) RETURNS text
    LANGUAGE sql AS $$ SELECT ticketdesk.intake_submit(current_user, sender, subject, body) $$;
COMMENT ON FUNCTION submit_request(text, text, text) IS
    'Submits a request as an intake source (web form, gateway), with length limits and a per-sender rate limit; returns the reference.';

-- Privileges. PUBLIC keeps EXECUTE only on what policies, defaults and the
-- triggers call as the querying role; everything else is granted per role.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk FROM PUBLIC;
GRANT EXECUTE ON FUNCTION current_tenant(), current_agent(), max_attachment_bytes(), is_admin(), role_is_restricted(name),
    role_principal(name), session_tenant(), session_agent(), session_contact(), session_org_customer(),
    session_customer(), session_centers(), role_org_customer(name), role_customer(name), role_centers(name), role_contacts(name), session_contacts()
    TO PUBLIC;
GRANT USAGE ON SCHEMA ticketdesk TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester, ticketdesk_intake;

-- Staff call the API; the functions run as the caller, so rows and columns
-- stay guarded by the policies and the grants below.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent;
REVOKE EXECUTE ON FUNCTION create_tenant(text, text), seed_tenant(integer, boolean), intake_submit(name, text, text, text)
    FROM ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ticketdesk TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester;

-- The administrator: everything of the tenant (the history stays append-only
-- by its trigger).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ticketdesk TO ticketdesk_admin;

-- Dispatchers and agents read their tenant's configuration and work on
-- tickets, remarks, customers and time; configuration is the admin's.
GRANT SELECT ON ALL TABLES IN SCHEMA ticketdesk TO ticketdesk_dispatcher, ticketdesk_agent;
GRANT INSERT, UPDATE ON ticket, message, attachment, watcher, customer, contact, site, time_entry,
    checklist_item, approval, agent_load, outbox, intake_submission TO ticketdesk_dispatcher, ticketdesk_agent;
GRANT INSERT ON ticket_event TO ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
REVOKE SELECT ON intake_source, intake_submission FROM ticketdesk_dispatcher, ticketdesk_agent;

-- Requesters: their own rows only (policies above), never internal
-- categories, dispatcher weights or agents' contact details (column grants).
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk TO ticketdesk_requester;
REVOKE EXECUTE ON FUNCTION create_tenant(text, text), seed_tenant(integer, boolean), intake_submit(name, text, text, text),
    assign(bigint, bigint, text), redirect(bigint, bigint, text), correct, resolve(bigint, text, text),
    close(bigint, text), override_gate, open_ticket FROM ticketdesk_requester;
-- open_ticket hands the requests it does not open itself to open_ticket_sql
-- without an EXECUTE check of its own: nobody calls it directly.
REVOKE EXECUTE ON FUNCTION open_ticket_sql FROM ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester;
GRANT SELECT ON ALL TABLES IN SCHEMA ticketdesk TO ticketdesk_requester;
REVOKE SELECT ON ticket, agent, internal_category, ticket_event, outbox, time_entry, gate_bypass, rate, ticket_fee,
    billing_run, billing_line, billed_item, billing_due, intake_source, intake_submission, notify_preference,
    agent_absence, agent_hours, agent_load FROM ticketdesk_requester;
-- Every customer's mail as received, the mailboxes, the service contracts
-- and their visits, and the desk's own reminders and notices: nothing of
-- them is a requester's (before 0.12 the grant above gave them all).
REVOKE SELECT ON mail_intake, mail_mailbox, mail_config, mail_keyword, service_contract, service_occurrence,
    automation_notice, ticket_reminder FROM ticketdesk_requester;
GRANT SELECT (tenant_id, ticket_id, reference, type_id, center_id, category_id, customer_id, contact_id,
              channel, subject, description, requester_weight, priority, deadline, site_id, product_id,
              object_text, invoice_ref, status, phase, assignee_id, parent_id, resolution, created_at, updated_at,
              resolved_at, confirmed_at, closed_at, cancelled_at)
    ON ticket TO ticketdesk_requester;
GRANT INSERT (tenant_id, type_id, center_id, category_id, customer_id, contact_id, channel, subject,
              description, requester_weight, deadline, site_id, product_id, object_text, invoice_ref)
    ON ticket TO ticketdesk_requester;
GRANT UPDATE (status, resolution) ON ticket TO ticketdesk_requester;
GRANT SELECT (tenant_id, agent_id, name, language, supervisor_id, login_role, active, created_at) ON agent TO ticketdesk_requester;
GRANT INSERT ON message, attachment, outbox, agent_load, checklist_item TO ticketdesk_requester;
GRANT UPDATE ON agent_load TO ticketdesk_requester;

-- The intake reads nothing and calls one function.
GRANT EXECUTE ON FUNCTION submit_request(text, text, text), intake_submit(name, text, text, text) TO ticketdesk_intake;
