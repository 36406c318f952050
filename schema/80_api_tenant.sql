-- Tenants and their default configuration.

-- Fills a tenant's default ticket types and lifecycle moves. CREATE EXTENSION
-- calls it for the default tenant with seeded = true.
CREATE FUNCTION seed_tenant(tenant integer, seeded boolean DEFAULT false) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.ticket_type (tenant_id, code, name, seeded)
    VALUES (seed_tenant.tenant, 'incident', 'Incident', seed_tenant.seeded),
           (seed_tenant.tenant, 'service_request', 'Service request', seed_tenant.seeded),
           (seed_tenant.tenant, 'intervention', 'Intervention', seed_tenant.seeded),
           (seed_tenant.tenant, 'scheduled_service', 'Scheduled service', seed_tenant.seeded),
           (seed_tenant.tenant, 'task', 'Task', seed_tenant.seeded);

    INSERT INTO ticketdesk.transition (tenant_id, from_status, to_status, move, seeded)
    SELECT seed_tenant.tenant, m.from_status::ticketdesk.ticket_status,
           m.to_status::ticketdesk.ticket_status, m.move, seed_tenant.seeded
      FROM (VALUES
        ('new',          'assigned',     'assign'),
        ('new',          'cancelled',    'cancel'),
        ('assigned',     'acknowledged', 'acknowledge'),
        ('assigned',     'in_progress',  'start'),
        ('assigned',     'new',          'reject'),
        ('assigned',     'cancelled',    'cancel'),
        ('acknowledged', 'in_progress',  'start'),
        ('acknowledged', 'assigned',     'reassign'),
        ('acknowledged', 'new',          'return to queue'),
        ('acknowledged', 'cancelled',    'cancel'),
        ('in_progress',  'waiting',      'wait for customer'),
        ('in_progress',  'resolved',     'resolve'),
        ('in_progress',  'assigned',     'reassign'),
        ('in_progress',  'new',          'return to queue'),
        ('in_progress',  'cancelled',    'cancel'),
        ('waiting',      'in_progress',  'resume'),
        ('waiting',      'resolved',     'resolve'),
        ('waiting',      'assigned',     'reassign'),
        ('waiting',      'new',          'return to queue'),
        ('waiting',      'cancelled',    'cancel'),
        ('resolved',     'confirmed',    'confirm'),
        ('resolved',     'in_progress',  'reopen'),
        ('resolved',     'closed',       'close'),
        ('confirmed',    'closed',       'close'),
        ('confirmed',    'in_progress',  'reopen'),
        ('closed',       'in_progress',  'reopen')
      ) AS m(from_status, to_status, move);

    SELECT ticketdesk.seed_notify(seed_tenant.tenant, seed_tenant.seeded);
    SELECT ticketdesk.seed_automation(seed_tenant.tenant, seed_tenant.seeded);
$$;
COMMENT ON FUNCTION seed_tenant(integer, boolean) IS
    'Fills a tenant''s default ticket types, lifecycle moves and notification settings (internal; create_tenant calls it).';

-- Creates a tenant with the default ticket types and lifecycle moves.
CREATE FUNCTION create_tenant(code text, name text) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    new_id integer;
BEGIN
    IF code IS NULL OR code !~ '^[a-z0-9_-]{1,40}$' THEN
        RAISE EXCEPTION 'invalid tenant code "%"', code
            USING ERRCODE = 'TD101',
                  DETAIL = 'A tenant code has 1 to 40 lower-case letters, digits, "_" or "-".',
                  HINT = 'For example: acme or north-region.';
    END IF;
    IF EXISTS (SELECT 1 FROM ticketdesk.tenant t WHERE t.code = create_tenant.code) THEN
        RAISE EXCEPTION 'tenant "%" already exists', code
            USING ERRCODE = 'TD102', HINT = 'Choose another code.';
    END IF;
    INSERT INTO ticketdesk.tenant (code, name) VALUES (create_tenant.code, create_tenant.name)
        RETURNING tenant_id INTO new_id;
    PERFORM ticketdesk.seed_tenant(new_id);
    RETURN new_id;
END $$;
COMMENT ON FUNCTION create_tenant(text, text) IS
    'Creates a tenant with the default ticket types and lifecycle moves; returns its id.';
