-- ticketdesk 0.3 -> 0.4. Each section names the change it brings; the
-- result must equal a fresh install of 0.4 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.4'" to load this file. \quit

-- Opening a ticket: every table it reads is reached through a key (the
-- reference tables' generic plans scanned them whole).
ALTER FUNCTION open_ticket(text, bigint, text, text, bigint, bigint, bigint, bigint, ticket_channel,
                           integer, timestamptz, timestamptz, timestamptz, bigint, bigint, text, text,
                           bigint, bigint, bigint)
    SET enable_seqscan = off;

-- Routing reads a type's workflow stage and a centre's fallback from a
-- per-backend cache (src/route_config.c): the tables it reads empty it.
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ticket_type
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workflow_stage
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON profile
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_policy
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();

-- The checklist copy starts its INSERT only when the type has a template.
CREATE OR REPLACE FUNCTION ticket_checklist_copy() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ticketdesk.checklist_template t
                WHERE t.tenant_id = NEW.tenant_id AND t.type_id = NEW.type_id) THEN
        INSERT INTO ticketdesk.checklist_item (tenant_id, ticket_id, position, title, required, template_id)
        SELECT t.tenant_id, NEW.ticket_id, t.position, t.title, t.required, t.template_id
          FROM ticketdesk.checklist_template t
         WHERE t.tenant_id = NEW.tenant_id AND t.type_id = NEW.type_id
         ORDER BY t.position, t.template_id;
    END IF;
    RETURN NULL;
END $$;
