-- Tenant isolation and the guards every table gets. A DO block walks the
-- tables, so a table added to the schema cannot be forgotten.
DO $$
DECLARE
    tbl text;
BEGIN
    FOR tbl IN
        SELECT c.relname FROM pg_class c
         WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind = 'r'
         ORDER BY c.relname
    LOOP
        -- Row-level security: a session sees and writes its own tenant only.
        -- FORCE makes the owner obey it too; superusers still bypass it.
        EXECUTE format('ALTER TABLE ticketdesk.%I ENABLE ROW LEVEL SECURITY', tbl);
        EXECUTE format('ALTER TABLE ticketdesk.%I FORCE ROW LEVEL SECURITY', tbl);
        EXECUTE format('CREATE POLICY tenant_isolation ON ticketdesk.%I
                            USING (tenant_id = ticketdesk.current_tenant())
                            WITH CHECK (tenant_id = ticketdesk.current_tenant())', tbl);
        -- A row never changes tenant (the ticket's own trigger checks it in C).
        IF tbl <> 'ticket' THEN
            EXECUTE format('CREATE TRIGGER forbid_tenant_change BEFORE UPDATE OF tenant_id ON ticketdesk.%I
                                FOR EACH ROW EXECUTE FUNCTION ticketdesk.forbid_tenant_change()', tbl);
        END IF;
        -- pg_dump keeps the rows; rows made by CREATE EXTENSION come back with it.
        IF EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = format('ticketdesk.%I', tbl)::regclass
                      AND a.attname = 'seeded' AND NOT a.attisdropped) THEN
            PERFORM pg_catalog.pg_extension_config_dump(format('ticketdesk.%I', tbl), 'WHERE NOT seeded');
            EXECUTE format('CREATE TRIGGER forbid_seeded_change BEFORE UPDATE OR DELETE ON ticketdesk.%I
                                FOR EACH ROW WHEN (OLD.seeded) EXECUTE FUNCTION ticketdesk.forbid_seeded_change()', tbl);
            EXECUTE format('CREATE TRIGGER forbid_seeded_truncate BEFORE TRUNCATE ON ticketdesk.%I
                                FOR EACH STATEMENT EXECUTE FUNCTION ticketdesk.forbid_seeded_change()', tbl);
        ELSE
            PERFORM pg_catalog.pg_extension_config_dump(format('ticketdesk.%I', tbl), '');
        END IF;
    END LOOP;

    -- The sequences behind the ids, so restored rows and new rows never collide.
    FOR tbl IN
        SELECT c.relname FROM pg_class c
         WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind = 'S'
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('ticketdesk.%I', tbl), '');
    END LOOP;
END $$;

-- Trees stay trees.
CREATE TRIGGER center_no_cycle BEFORE INSERT OR UPDATE OF parent_id ON center
    FOR EACH ROW EXECUTE FUNCTION forbid_tree_cycle('center_id', 'parent_id');
CREATE TRIGGER category_no_cycle BEFORE INSERT OR UPDATE OF parent_id ON category
    FOR EACH ROW EXECUTE FUNCTION forbid_tree_cycle('category_id', 'parent_id');
CREATE TRIGGER ticket_no_cycle BEFORE INSERT OR UPDATE OF parent_id ON ticket
    FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL) EXECUTE FUNCTION forbid_tree_cycle('ticket_id', 'parent_id');
CREATE TRIGGER internal_category_no_cycle BEFORE INSERT OR UPDATE OF parent_id ON internal_category
    FOR EACH ROW EXECUTE FUNCTION forbid_tree_cycle('internal_category_id', 'parent_id');

-- Only an administrator creates tenants: the function runs as the extension
-- owner so it can write rows of a tenant the caller is not in.
ALTER FUNCTION create_tenant(text, text) SECURITY DEFINER SET search_path = pg_catalog, ticketdesk;
REVOKE EXECUTE ON FUNCTION create_tenant(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seed_tenant(integer, boolean) FROM PUBLIC;
