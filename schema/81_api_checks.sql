-- Checks shared by the API functions: each refusal has its own SQLSTATE
-- (doc/errors.md), and all of them run before anything is written.

-- Raises the "not found" error of a kind of object, with its SQLSTATE.
CREATE FUNCTION raise_not_found(kind text, id bigint) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    code text := CASE kind
        WHEN 'ticket' THEN 'TD201'
        WHEN 'center' THEN 'TD202'
        WHEN 'agent' THEN 'TD203'
        WHEN 'customer' THEN 'TD204'
        WHEN 'contact' THEN 'TD205'
        WHEN 'category' THEN 'TD206'
        WHEN 'ticket type' THEN 'TD207'
        WHEN 'site' THEN 'TD208'
        WHEN 'product' THEN 'TD209'
        WHEN 'internal category' THEN 'TD210'
        WHEN 'message' THEN 'TD211'
    END;
BEGIN
    RAISE EXCEPTION '% % does not exist', kind, id
        USING ERRCODE = code,
              DETAIL = format('Tenant %s has no %s%s with id %s.', ticketdesk.current_tenant(),
                              CASE WHEN kind IN ('center', 'agent', 'category', 'product') THEN 'active ' ELSE '' END,
                              kind, id),
              HINT = format('Check the %s id, and that the setting ticketdesk.tenant names the right tenant.', kind);
END $$;

-- Raises the matching "not found" error unless the object exists, is active
-- where that applies, and belongs to the current tenant. NULL ids pass.
CREATE FUNCTION require(kind text, id bigint) RETURNS void
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    t  integer := ticketdesk.current_tenant();
    ok boolean;
BEGIN
    IF id IS NULL THEN
        RETURN;
    END IF;
    ok := CASE kind
        WHEN 'ticket' THEN EXISTS (SELECT 1 FROM ticketdesk.ticket x WHERE x.tenant_id = t AND x.ticket_id = id)
        WHEN 'center' THEN EXISTS (SELECT 1 FROM ticketdesk.center x WHERE x.tenant_id = t AND x.center_id = id AND x.active)
        WHEN 'agent' THEN EXISTS (SELECT 1 FROM ticketdesk.agent x WHERE x.tenant_id = t AND x.agent_id = id AND x.active)
        WHEN 'customer' THEN EXISTS (SELECT 1 FROM ticketdesk.customer x WHERE x.tenant_id = t AND x.customer_id = id)
        WHEN 'contact' THEN EXISTS (SELECT 1 FROM ticketdesk.contact x WHERE x.tenant_id = t AND x.contact_id = id)
        WHEN 'category' THEN EXISTS (SELECT 1 FROM ticketdesk.category x WHERE x.tenant_id = t AND x.category_id = id AND x.active)
        WHEN 'internal category' THEN EXISTS (SELECT 1 FROM ticketdesk.internal_category x WHERE x.tenant_id = t AND x.internal_category_id = id)
        WHEN 'site' THEN EXISTS (SELECT 1 FROM ticketdesk.site x WHERE x.tenant_id = t AND x.site_id = id)
        WHEN 'product' THEN EXISTS (SELECT 1 FROM ticketdesk.product x WHERE x.tenant_id = t AND x.product_id = id AND x.active)
        WHEN 'message' THEN EXISTS (SELECT 1 FROM ticketdesk.message x WHERE x.tenant_id = t AND x.message_id = id)
    END;
    IF ok IS NULL THEN
        RAISE EXCEPTION 'ticketdesk.require: unknown kind "%"', kind;
    END IF;
    IF NOT ok THEN
        PERFORM ticketdesk.raise_not_found(kind, id);
    END IF;
END $$;

-- True when a category belongs to the centre or to a centre above it: a
-- category defined high in the tree serves every centre beneath.
-- PL/pgSQL rather than SQL so that its plan is cached for the session: a SQL
-- function with a recursive query would be planned again on every call.
CREATE FUNCTION category_fits(category_id bigint, center_id bigint) RETURNS boolean
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t integer := ticketdesk.current_tenant();
BEGIN
    RETURN EXISTS (
        WITH RECURSIVE up(id, parent) AS (
            SELECT c.center_id, c.parent_id FROM ticketdesk.center c
             WHERE c.tenant_id = t AND c.center_id = category_fits.center_id
            UNION
            SELECT c.center_id, c.parent_id FROM ticketdesk.center c
              JOIN up ON c.tenant_id = t AND c.center_id = up.parent
        )
        SELECT 1 FROM ticketdesk.category k JOIN up ON k.center_id = up.id
         WHERE k.tenant_id = t AND k.category_id = category_fits.category_id);
END $$;

-- Refuses a category that does not serve the ticket's centre.
CREATE FUNCTION require_category_fits(category_id bigint, center_id bigint) RETURNS void
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF category_id IS NOT NULL AND NOT ticketdesk.category_fits(category_id, center_id) THEN
        RAISE EXCEPTION 'category % does not belong to centre %', category_id, center_id
            USING ERRCODE = 'TD309',
                  DETAIL = 'A ticket''s category must be one of its centre''s categories or of a centre above it.',
                  HINT = 'Choose a category of this centre, or redirect the ticket first.';
    END IF;
END $$;

-- Sets the note recorded with the history rows of the next change (NULL
-- keeps a note the caller set with SET LOCAL), and returns the note it
-- replaces so the API function can put it back afterwards.
CREATE FUNCTION set_note(note text) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    previous text := coalesce(current_setting('ticketdesk.note', true), '');
BEGIN
    IF note IS NOT NULL THEN
        PERFORM set_config('ticketdesk.note', note, true);
    END IF;
    RETURN previous;
END $$;

COMMENT ON FUNCTION raise_not_found(text, bigint) IS 'Internal: raises the "not found" error of a kind of object.';
COMMENT ON FUNCTION require(text, bigint) IS 'Internal: refuses an id that is unknown, inactive or of another tenant.';
COMMENT ON FUNCTION category_fits(bigint, bigint) IS 'Internal: true when a category serves the centre (its own or an ancestor''s).';
COMMENT ON FUNCTION require_category_fits(bigint, bigint) IS 'Internal: refuses a category that does not serve the centre.';
COMMENT ON FUNCTION set_note(text) IS 'Internal: sets the note of the next history rows; returns the previous note.';
