-- Scheduled service (R54), and running every job at once.

-- Adds a service contract. The checks run at once: an RRULE libical cannot
-- parse (TD615), a sub-daily rule (TD616), a lead time longer than the
-- recurrence period (TD617), no customer and no site (TD618).
CREATE FUNCTION add_service_contract(subject text, center_id bigint, rrule text, dtstart timestamp,
                                     lead_days integer DEFAULT 0, time_zone text DEFAULT 'UTC',
                                     customer_id bigint DEFAULT NULL, site_id bigint DEFAULT NULL,
                                     contact_id bigint DEFAULT NULL, category_id bigint DEFAULT NULL,
                                     assignee_id bigint DEFAULT NULL, description text DEFAULT NULL,
                                     duration interval DEFAULT '2 hours') RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    PERFORM ticketdesk.require('center', center_id);
    PERFORM ticketdesk.require('customer', customer_id);
    PERFORM ticketdesk.require('site', site_id);
    PERFORM ticketdesk.require('contact', contact_id);
    PERFORM ticketdesk.require('category', category_id);
    PERFORM ticketdesk.require_category_fits(category_id, center_id);
    PERFORM ticketdesk.require('agent', assignee_id);
    INSERT INTO ticketdesk.service_contract (subject, center_id, rrule, dtstart, lead_days, time_zone,
                                             customer_id, site_id, contact_id, category_id, assignee_id,
                                             description, duration)
    VALUES (subject, center_id, rrule, dtstart, coalesce(lead_days, 0), coalesce(time_zone, 'UTC'),
            customer_id, site_id, contact_id, category_id, assignee_id, description,
            coalesce(duration, '2 hours'))
    RETURNING contract_id INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION add_service_contract(text, bigint, text, timestamp, integer, text, bigint, bigint, bigint,
                                         bigint, bigint, text, interval) IS
    'Adds a recurring maintenance contract (R54): an RRULE from a local dtstart, a lead time in days; returns its id.';

-- Creates the scheduled_service tickets that are due: one per occurrence,
-- lead_days before it, catching up on every occurrence missed. A contract
-- whose ticket cannot be opened keeps the error in last_error and the others
-- go on. Returns the number of tickets created.
CREATE FUNCTION generate_scheduled_tickets(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t       integer := ticketdesk.current_tenant();
    c       ticketdesk.service_contract;
    occ     timestamptz;
    made    integer := 0;
    k       ticketdesk.ticket;
    horizon timestamptz;
BEGIN
    FOR c IN SELECT * FROM ticketdesk.service_contract x
              WHERE x.tenant_id = t AND x.active AND x.next_due_at <= as_of
              ORDER BY x.next_due_at, x.contract_id
              FOR UPDATE SKIP LOCKED LOOP
        BEGIN
            -- Every occurrence whose lead time has begun, from the next one without a ticket.
            horizon := ((as_of AT TIME ZONE c.time_zone) + make_interval(days => c.lead_days)) AT TIME ZONE c.time_zone;
            FOREACH occ IN ARRAY ticketdesk.recurrence_occurrences(c.rrule, c.dtstart, c.time_zone,
                                                                  c.next_occurrence, horizon, 1000) LOOP
                CONTINUE WHEN EXISTS (SELECT 1 FROM ticketdesk.service_occurrence o
                                       WHERE o.tenant_id = t AND o.contract_id = c.contract_id AND o.occurrence = occ);
                k := ticketdesk.open_ticket(c.subject, c.center_id, description => c.description,
                                            type => 'scheduled_service',
                                            customer_id => coalesce(c.customer_id,
                                                (SELECT s.customer_id FROM ticketdesk.site s
                                                  WHERE s.tenant_id = t AND s.site_id = c.site_id)),
                                            contact_id => c.contact_id, category_id => c.category_id,
                                            channel => 'schedule', planned_from => occ,
                                            planned_to => occ + c.duration, site_id => c.site_id,
                                            assignee_id => c.assignee_id);
                INSERT INTO ticketdesk.service_occurrence (tenant_id, contract_id, occurrence, ticket_id)
                VALUES (t, c.contract_id, occ, k.ticket_id);
                made := made + 1;
            END LOOP;
            UPDATE ticketdesk.service_contract x
               SET next_occurrence = n.occ,
                   next_due_at = ticketdesk.service_due_at(n.occ, x.lead_days, x.time_zone),
                   last_error = NULL
              FROM (SELECT (ticketdesk.recurrence_occurrences(c.rrule, c.dtstart, c.time_zone,
                                                               horizon + interval '1 microsecond', 'infinity', 1))[1]) AS n(occ)
             WHERE x.tenant_id = t AND x.contract_id = c.contract_id;
        EXCEPTION WHEN OTHERS THEN
            UPDATE ticketdesk.service_contract x SET last_error = SQLERRM
             WHERE x.tenant_id = t AND x.contract_id = c.contract_id;
        END;
    END LOOP;
    RETURN made;
END $$;
COMMENT ON FUNCTION generate_scheduled_tickets(timestamptz) IS
    'Job: opens one scheduled_service ticket per due contract occurrence, lead_days ahead, catching up (R54); returns the count.';

-- Runs every job for the current tenant; one row per job with its count.
CREATE FUNCTION run_jobs(as_of timestamptz DEFAULT now())
    RETURNS TABLE (job text, done integer)
    LANGUAGE plpgsql AS $$
BEGIN
    job := 'generate_scheduled_tickets'; done := ticketdesk.generate_scheduled_tickets(as_of); RETURN NEXT;
    job := 'send_reminders'; done := ticketdesk.send_reminders(as_of); RETURN NEXT;
    job := 'escalate_overdue'; done := ticketdesk.escalate_overdue(as_of); RETURN NEXT;
    job := 'auto_confirm'; done := ticketdesk.auto_confirm(as_of); RETURN NEXT;
    job := 'auto_close'; done := ticketdesk.auto_close(as_of); RETURN NEXT;
    -- A stored priority is always the one computed as of now.
    job := 'age_priorities'; done := ticketdesk.age_priorities(); RETURN NEXT;
END $$;
COMMENT ON FUNCTION run_jobs(timestamptz) IS 'Runs every time-driven job for the current tenant; returns each job''s count.';

-- Runs every job for every tenant, tenant by tenant: the function to
-- schedule with pg_cron. Returns the total count.
CREATE FUNCTION run_jobs_all_tenants(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    ten   integer;
    saved text := current_setting('ticketdesk.tenant', true);
    total integer := 0;
BEGIN
    FOR ten IN SELECT x.tenant_id FROM ticketdesk.tenant x ORDER BY x.tenant_id LOOP
        PERFORM set_config('ticketdesk.tenant', ten::text, true);
        total := total + (SELECT coalesce(sum(j.done), 0) FROM ticketdesk.run_jobs(as_of) j);
    END LOOP;
    PERFORM set_config('ticketdesk.tenant', coalesce(nullif(saved, ''), '1'), true);
    RETURN total;
END $$;
COMMENT ON FUNCTION run_jobs_all_tenants(timestamptz) IS
    'Runs every job for every tenant (for pg_cron: SELECT ticketdesk.run_jobs_all_tenants()); returns the total count.';

-- Only an administrator (or pg_cron as one) runs the jobs of every tenant:
-- the function runs as the extension owner, which sees every tenant's rows.
ALTER FUNCTION run_jobs_all_tenants(timestamptz) SECURITY DEFINER SET search_path = pg_catalog, ticketdesk;
REVOKE EXECUTE ON FUNCTION run_jobs_all_tenants(timestamptz) FROM PUBLIC;
