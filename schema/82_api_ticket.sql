-- Opening a ticket: the one function every intake path uses.

-- The ticket type's id when the tenant, the centre, the type and the category
-- (if given) of an opening all pass open_ticket's checks for the caller; NULL
-- when it cannot vouch for that, and open_ticket then runs its look-up query,
-- which names what is wrong. Answered from a per-backend cache that any change
-- of these four tables empties (src/opening_refs.c).
CREATE FUNCTION opening_references(tenant integer, center_id bigint, type text, category_id bigint)
    RETURNS bigint
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'ticketdesk_opening_references';
COMMENT ON FUNCTION opening_references(integer, bigint, text, bigint) IS
    'Internal: the ticket type''s id when an opening''s tenant, centre, type and category pass open_ticket''s checks, else NULL (cached per backend).';

-- The reference guard (src/reference_guard.c): openings whose type, centre
-- and category opening_references vouches for hold it in share mode instead
-- of locking those rows; deleting such a row, or changing its key, takes it
-- in exclusive mode first, so the two wait for each other.
CREATE FUNCTION reference_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_reference_guard';
COMMENT ON FUNCTION reference_guard() IS
    'Internal: BEFORE DELETE OR UPDATE OF the key of ticket_type, center and category: waits for the openings in progress.';
CREATE TRIGGER reference_guard BEFORE DELETE OR UPDATE OF tenant_id, type_id ON ticket_type
    FOR EACH STATEMENT EXECUTE FUNCTION reference_guard();
CREATE TRIGGER reference_guard BEFORE DELETE OR UPDATE OF tenant_id, center_id ON center
    FOR EACH STATEMENT EXECUTE FUNCTION reference_guard();
CREATE TRIGGER reference_guard BEFORE DELETE OR UPDATE OF tenant_id, category_id ON category
    FOR EACH STATEMENT EXECUTE FUNCTION reference_guard();

-- An agent's guard (src/reference_guard.c): openings and changes made by a
-- login's own agent hold it in share mode instead of locking her row;
-- deleting her, or changing her key, takes it in exclusive mode first.
CREATE FUNCTION agent_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_agent_guard';
COMMENT ON FUNCTION agent_guard() IS
    'Internal: BEFORE DELETE OR UPDATE OF the key of agent, for each row: waits for the openings and changes the agent is making.';
CREATE TRIGGER agent_guard BEFORE DELETE OR UPDATE OF tenant_id, agent_id ON agent
    FOR EACH ROW EXECUTE FUNCTION agent_guard();

-- Writes the row open_ticket opens, with the columns of its INSERT in their
-- order, and returns it as INSERT ... RETURNING * would; returns NULL, having
-- written nothing, when the caller's privileges or policies, or the table's
-- triggers, call for the statement (src/opening_write.c).
CREATE FUNCTION open_ticket_write(
    tenant_id integer, type_id bigint, center_id bigint, category_id bigint, customer_id bigint,
    contact_id bigint, requester_agent_id bigint, registered_by bigint, channel ticket_channel,
    subject text, description text, requester_weight ticket_weight, deadline timestamptz, planned tstzrange,
    site_id bigint, product_id bigint, object_text text, invoice_ref text, assignee_id bigint,
    parent_id bigint)
    RETURNS ticket
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_open_ticket_write';
COMMENT ON FUNCTION open_ticket_write(integer, bigint, bigint, bigint, bigint, bigint, bigint, bigint,
                                      ticket_channel, text, text, ticket_weight, timestamptz, tstzrange, bigint,
                                      bigint, text, text, bigint, bigint) IS
    'Internal: writes open_ticket''s row without a statement when the caller''s rights can be checked directly, else returns NULL and writes nothing.';

-- open_ticket's checks as queries: open_ticket (src/open_ticket.c) opens
-- the usual request itself and hands every other one to this function, with
-- the same arguments. It checks every reference, then writes the row, and
-- the lifecycle trigger does the rest.
CREATE FUNCTION open_ticket_sql(
    subject            text,
    center_id          bigint,
    description        text DEFAULT NULL,
    type               text DEFAULT 'incident',
    customer_id        bigint DEFAULT NULL,
    contact_id         bigint DEFAULT NULL,
    requester_agent_id bigint DEFAULT NULL,
    category_id        bigint DEFAULT NULL,
    channel            ticket_channel DEFAULT 'api',
    requester_weight   integer DEFAULT 3,
    deadline           timestamptz DEFAULT NULL,
    planned_from       timestamptz DEFAULT NULL,
    planned_to         timestamptz DEFAULT NULL,
    site_id            bigint DEFAULT NULL,
    product_id         bigint DEFAULT NULL,
    object_text        text DEFAULT NULL,
    invoice_ref        text DEFAULT NULL,
    assignee_id        bigint DEFAULT NULL,
    registered_by      bigint DEFAULT NULL,
    parent_id          bigint DEFAULT NULL
) RETURNS ticket
    LANGUAGE plpgsql
    -- Its statements depend on the arguments only as values: planning them
    -- once per session, not once per call, is most of the difference.
    SET plan_cache_mode = force_generic_plan
    -- Every table an opening reads, its own look-ups, the triggers' queries
    -- and the foreign-key checks (all planned inside this call), is reached
    -- through a key. The reference tables are a few pages: their plans
    -- would scan them, each scan an lseek for the size and a visit of every
    -- row (26 per opening), where an index scan visits one.
    SET enable_seqscan = off
    AS $$
#variable_conflict use_variable
DECLARE
    t      integer := ticketdesk.current_tenant();
    known_type bigint;
    found  record;
    site_found    boolean;
    site_customer bigint;
    result ticketdesk.ticket;
BEGIN
    IF center_id IS NULL THEN
        RAISE EXCEPTION 'a ticket needs a centre'
            USING ERRCODE = 'TD202', HINT = 'Pass center_id: the service centre the request is for.';
    END IF;

    -- The tenant, the centre, the type and the category usually pass: the
    -- cache of opening_references says so without a query, and only the
    -- contact, which the caller's policies may hide, is looked up. Otherwise
    -- (or when the cache cannot vouch for the caller) the look-up query says
    -- what is wrong.
    known_type := ticketdesk.opening_references(t, center_id, type, category_id);
    IF known_type IS NOT NULL THEN
        SELECT true AS tenant, true AS center, known_type AS type_id,
               n.contact_id AS contact, n.customer_id AS contact_customer,
               category_id AS category, true AS category_fits
          INTO found
          FROM (SELECT) AS one
          LEFT JOIN ticketdesk.contact n ON n.tenant_id = t AND n.contact_id = open_ticket_sql.contact_id;
    ELSE
        -- The references every request names (centre, type, usually a contact and
        -- a category) are looked up in one query; the others only when given, so
        -- an absent one costs no look-up. Only a failed check costs more.
        SELECT EXISTS (SELECT 1 FROM ticketdesk.tenant x WHERE x.tenant_id = t) AS tenant,
               EXISTS (SELECT 1 FROM ticketdesk.center x
                        WHERE x.tenant_id = t AND x.center_id = open_ticket_sql.center_id AND x.active) AS center,
               (SELECT x.type_id FROM ticketdesk.ticket_type x
                 WHERE x.tenant_id = t AND x.code = open_ticket_sql.type) AS type_id,
               n.contact_id AS contact, n.customer_id AS contact_customer,
               g.category_id AS category,
               -- The category is the centre's own or of a centre above it (category_fits).
               g.category_id IS NULL OR EXISTS (
                   WITH RECURSIVE up(id, parent) AS (
                       SELECT c.center_id, c.parent_id FROM ticketdesk.center c
                        WHERE c.tenant_id = t AND c.center_id = open_ticket_sql.center_id
                       UNION
                       SELECT c.center_id, c.parent_id FROM ticketdesk.center c
                         JOIN up ON c.tenant_id = t AND c.center_id = up.parent
                   )
                   SELECT 1 FROM up WHERE up.id = g.center_id) AS category_fits
          INTO found
          FROM (SELECT) AS one
          LEFT JOIN ticketdesk.contact n ON n.tenant_id = t AND n.contact_id = open_ticket_sql.contact_id
          LEFT JOIN ticketdesk.category g
                 ON g.tenant_id = t AND g.category_id = open_ticket_sql.category_id AND g.active;
    END IF;

    IF NOT found.tenant THEN
        RAISE EXCEPTION 'tenant % does not exist', t
            USING ERRCODE = 'TD100',
                  HINT = 'Set ticketdesk.tenant to an existing tenant, or create it with ticketdesk.create_tenant.';
    END IF;
    IF NOT found.center THEN
        PERFORM ticketdesk.raise_not_found('center', center_id);
    END IF;
    IF found.type_id IS NULL THEN
        RAISE EXCEPTION 'ticket type "%" does not exist', type
            USING ERRCODE = 'TD207',
                  HINT = 'Use one of the codes in table ticketdesk.ticket_type, e.g. incident or service_request.';
    END IF;
    IF customer_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.customer x
                        WHERE x.tenant_id = t AND x.customer_id = open_ticket_sql.customer_id) THEN
            PERFORM ticketdesk.raise_not_found('customer', customer_id);
        END IF;
    END IF;
    IF contact_id IS NOT NULL AND found.contact IS NULL THEN
        PERFORM ticketdesk.raise_not_found('contact', contact_id);
    END IF;
    IF customer_id IS NOT NULL AND contact_id IS NOT NULL
       AND found.contact_customer IS DISTINCT FROM customer_id THEN
        RAISE EXCEPTION 'contact % is not a contact person of customer %', contact_id, customer_id
            USING ERRCODE = 'TD307',
                  HINT = 'Pass a contact of this customer, or only the contact.';
    END IF;
    customer_id := coalesce(customer_id, found.contact_customer);
    IF num_nonnulls(requester_agent_id, assignee_id, registered_by) > 0 THEN
        IF (SELECT count(*) FROM ticketdesk.agent x
             WHERE x.tenant_id = t AND x.active
               AND x.agent_id IN (open_ticket_sql.requester_agent_id, open_ticket_sql.assignee_id,
                                  open_ticket_sql.registered_by))
           < num_nonnulls(requester_agent_id, assignee_id, registered_by) THEN
            -- Name the first agent that failed.
            PERFORM ticketdesk.require('agent', requester_agent_id);
            PERFORM ticketdesk.require('agent', assignee_id);
            PERFORM ticketdesk.require('agent', registered_by);
        END IF;
    END IF;
    IF category_id IS NOT NULL AND found.category IS NULL THEN
        PERFORM ticketdesk.raise_not_found('category', category_id);
    END IF;
    IF NOT found.category_fits THEN
        PERFORM ticketdesk.require_category_fits(category_id, center_id);
    END IF;
    IF site_id IS NOT NULL THEN
        SELECT true, x.customer_id INTO site_found, site_customer
          FROM ticketdesk.site x WHERE x.tenant_id = t AND x.site_id = open_ticket_sql.site_id;
        IF site_found IS NULL THEN
            PERFORM ticketdesk.raise_not_found('site', site_id);
        END IF;
        IF site_customer IS NOT NULL AND site_customer IS DISTINCT FROM customer_id THEN
            RAISE EXCEPTION 'site % belongs to another customer', site_id
                USING ERRCODE = 'TD316',
                      HINT = 'Use ticketdesk.site_for to find or record the requester''s own site.';
        END IF;
    END IF;
    IF product_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.product x
                        WHERE x.tenant_id = t AND x.product_id = open_ticket_sql.product_id AND x.active) THEN
            PERFORM ticketdesk.raise_not_found('product', product_id);
        END IF;
    END IF;
    IF parent_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.ticket x
                        WHERE x.tenant_id = t AND x.ticket_id = open_ticket_sql.parent_id) THEN
            PERFORM ticketdesk.raise_not_found('ticket', parent_id);
        END IF;
    END IF;

    IF (planned_from IS NULL) <> (planned_to IS NULL) OR planned_from > planned_to THEN
        RAISE EXCEPTION 'malformed planned period'
            USING ERRCODE = 'TD304',
                  DETAIL = format('The period runs from %s to %s.',
                                  coalesce(planned_from::text, 'nothing'), coalesce(planned_to::text, 'nothing')),
                  HINT = 'Give both planned_from and planned_to, the start before the end, or neither.';
    END IF;
    IF requester_weight IS NULL OR requester_weight NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'requester_weight must be between 1 and 5'
            USING ERRCODE = 'TD302',
                  DETAIL = format('It is %s.', coalesce(requester_weight::text, 'missing')),
                  HINT = '1 is the least important, 5 the most; 3 is normal.';
    END IF;

    registered_by := coalesce(registered_by, ticketdesk.current_agent());
    -- The row is written without a statement when open_ticket_write can
    -- check the caller's rights itself (src/opening_write.c); otherwise it
    -- writes nothing and the INSERT does, with every check of a statement.
    result := ticketdesk.open_ticket_write(
        t, found.type_id, center_id, category_id, customer_id, contact_id,
        requester_agent_id, registered_by, channel, subject, description,
        requester_weight::ticketdesk.ticket_weight, deadline,
        CASE WHEN planned_from IS NOT NULL THEN tstzrange(planned_from, planned_to, '[]') END,
        site_id, product_id, object_text, invoice_ref, assignee_id, parent_id);
    IF result.ticket_id IS NULL THEN
        INSERT INTO ticketdesk.ticket AS k
            (tenant_id, type_id, center_id, category_id, customer_id, contact_id,
             requester_agent_id, registered_by, channel, subject, description,
             requester_weight, deadline, planned, site_id, product_id, object_text,
             invoice_ref, assignee_id, parent_id)
        VALUES
            (t, found.type_id, center_id, category_id, customer_id, contact_id,
             requester_agent_id, registered_by, channel, subject, description,
             requester_weight, deadline,
             CASE WHEN planned_from IS NOT NULL THEN tstzrange(planned_from, planned_to, '[]') END,
             site_id, product_id, object_text, invoice_ref, assignee_id, parent_id)
        RETURNING * INTO result;
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION open_ticket_sql(text, bigint, text, text, bigint, bigint, bigint, bigint, ticket_channel,
                                    integer, timestamptz, timestamptz, timestamptz, bigint, bigint, text, text,
                                    bigint, bigint, bigint) IS
    'Internal: open_ticket''s checks as queries, for the requests open_ticket does not open itself.';

-- Opens a ticket. Web forms, phone calls taken by a dispatcher, ERPs and the
-- scheduler all call this. The usual request (a centre, a type, a category,
-- a contact) is opened in C; any other goes to open_ticket_sql.
CREATE FUNCTION open_ticket(
    subject            text,
    center_id          bigint,
    description        text DEFAULT NULL,
    type               text DEFAULT 'incident',
    customer_id        bigint DEFAULT NULL,
    contact_id         bigint DEFAULT NULL,
    requester_agent_id bigint DEFAULT NULL,
    category_id        bigint DEFAULT NULL,
    channel            ticket_channel DEFAULT 'api',
    requester_weight   integer DEFAULT 3,
    deadline           timestamptz DEFAULT NULL,
    planned_from       timestamptz DEFAULT NULL,
    planned_to         timestamptz DEFAULT NULL,
    site_id            bigint DEFAULT NULL,
    product_id         bigint DEFAULT NULL,
    object_text        text DEFAULT NULL,
    invoice_ref        text DEFAULT NULL,
    assignee_id        bigint DEFAULT NULL,
    registered_by      bigint DEFAULT NULL,
    parent_id          bigint DEFAULT NULL
) RETURNS ticket
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'ticketdesk_open_ticket';
COMMENT ON FUNCTION open_ticket(text, bigint, text, text, bigint, bigint, bigint, bigint, ticket_channel,
                                integer, timestamptz, timestamptz, timestamptz, bigint, bigint, text, text,
                                bigint, bigint, bigint) IS
    'Opens a ticket (R01, R04, R16, R17, R46-R49); returns the new ticket row.';

-- Finds a ticket of the current tenant by its readable reference.
CREATE FUNCTION ticket_by_reference(reference text) RETURNS ticket
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    result ticketdesk.ticket;
BEGIN
    SELECT * INTO result FROM ticketdesk.ticket k
     WHERE k.tenant_id = ticketdesk.current_tenant()
       AND k.ticket_id = ticketdesk.ticket_number_of(upper(btrim(ticket_by_reference.reference)));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ticket % does not exist', reference
            USING ERRCODE = 'TD201', HINT = 'A reference looks like TD-000123.';
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION ticket_by_reference(text) IS 'The ticket with this reference (e.g. TD-000123) in the current tenant.';

-- Finds the site with this address for the customer, or records it (R07).
-- Coordinates given later fill in a known site that had none.
CREATE FUNCTION site_for(customer_id bigint, address text, latitude double precision DEFAULT NULL,
                         longitude double precision DEFAULT NULL, label text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    IF address IS NULL OR address !~ '\S' THEN
        RAISE EXCEPTION 'a site needs an address'
            USING ERRCODE = 'TD312', HINT = 'Give the street address where the work is to be done.';
    END IF;
    PERFORM ticketdesk.require('customer', customer_id);
    INSERT INTO ticketdesk.site AS s (tenant_id, customer_id, address, latitude, longitude, label)
    VALUES (ticketdesk.current_tenant(), customer_id, address, latitude, longitude, label)
    ON CONFLICT ON CONSTRAINT site_address_key DO UPDATE
        SET latitude = coalesce(s.latitude, excluded.latitude),
            longitude = coalesce(s.longitude, excluded.longitude),
            label = coalesce(s.label, excluded.label)
    RETURNING s.site_id INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION site_for(bigint, text, double precision, double precision, text) IS
    'The site of this customer at this address, reused when known and created otherwise (R07).';
