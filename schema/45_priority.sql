-- The priority matrix (R06, R24): rules that give a base priority to a cell
-- of the two-dimensional matrix (category side × internal category side).
-- src/priority.c reads it, with the centre and category trees, into a
-- per-backend cache.

-- One cell of the matrix and its base priority. The category side is a node
-- of the combined tree "centres, with each centre's categories beneath it":
-- a category (category_id set; center_id is then the category's own centre),
-- a centre (only center_id: the rule covers the centre, the centres beneath
-- it and all their categories), or the whole tenant (both null). The
-- internal category side is a node of the internal category tree, or null
-- for any internal category. The most specific rule wins: see doc/priority.md.
CREATE TABLE priority_rule (
    tenant_id            integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    rule_id              bigserial,
    center_id            bigint,
    category_id          bigint,
    internal_category_id bigint,
    priority             ticket_priority NOT NULL,
    note                 text,
    PRIMARY KEY (tenant_id, rule_id),
    CONSTRAINT priority_rule_cell UNIQUE NULLS NOT DISTINCT (tenant_id, center_id, category_id, internal_category_id),
    CHECK (category_id IS NULL OR center_id IS NOT NULL),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, center_id, category_id) REFERENCES category (tenant_id, center_id, category_id),
    FOREIGN KEY (tenant_id, internal_category_id) REFERENCES internal_category
);
CREATE INDEX priority_rule_category_idx ON priority_rule (tenant_id, category_id) WHERE category_id IS NOT NULL;
CREATE INDEX priority_rule_internal_idx ON priority_rule (tenant_id, internal_category_id)
    WHERE internal_category_id IS NOT NULL;
COMMENT ON TABLE priority_rule IS
    'The priority matrix: (category or centre, internal category) cell -> base priority (R06, R24).';

-- BEFORE INSERT OR UPDATE on priority_rule: refuses a rule whose category,
-- centre or internal category is not the tenant's, a category of another
-- centre than the one named, and a second rule for a cell; fills center_id
-- from the category.
CREATE FUNCTION priority_rule_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    category_center bigint;
    other_rule      bigint;
BEGIN
    IF NEW.category_id IS NOT NULL THEN
        SELECT k.center_id INTO category_center FROM ticketdesk.category k
         WHERE k.tenant_id = NEW.tenant_id AND k.category_id = NEW.category_id;
        IF NOT FOUND THEN
            PERFORM ticketdesk.raise_not_found('category', NEW.category_id);
        END IF;
        IF NEW.center_id IS NOT NULL AND NEW.center_id <> category_center THEN
            RAISE EXCEPTION 'category % belongs to centre %, not to centre %',
                            NEW.category_id, category_center, NEW.center_id
                USING ERRCODE = 'TD501',
                      DETAIL = 'A rule on a category applies where the category sits: under its own centre.',
                      HINT = 'Leave center_id empty on a rule for a category; it is filled in from the category.';
        END IF;
        NEW.center_id := category_center;
    ELSIF NEW.center_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM ticketdesk.center c
                           WHERE c.tenant_id = NEW.tenant_id AND c.center_id = NEW.center_id) THEN
        PERFORM ticketdesk.raise_not_found('center', NEW.center_id);
    END IF;
    IF NEW.internal_category_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.internal_category i
                        WHERE i.tenant_id = NEW.tenant_id AND i.internal_category_id = NEW.internal_category_id) THEN
        PERFORM ticketdesk.raise_not_found('internal category', NEW.internal_category_id);
    END IF;

    -- One rule per cell. Writers of a tenant's rules take turns (one lock
    -- per tenant, not per cell, so a bulk load does not fill the lock
    -- table): a concurrent insert of the same cell waits for this one and
    -- then sees it. The unique constraint stays the last line of defence.
    PERFORM pg_advisory_xact_lock(hashtextextended('ticketdesk.priority_rule ' || NEW.tenant_id, 0));
    -- Written out per null so that the lookup is a probe of the unique index
    -- (IS NOT DISTINCT FROM would read every rule of the tenant).
    EXECUTE format('SELECT r.rule_id FROM ticketdesk.priority_rule r
                     WHERE r.tenant_id = $1 AND r.rule_id <> $2
                       AND r.center_id %s AND r.category_id %s AND r.internal_category_id %s',
                   CASE WHEN NEW.center_id IS NULL THEN 'IS NULL' ELSE '= $3' END,
                   CASE WHEN NEW.category_id IS NULL THEN 'IS NULL' ELSE '= $4' END,
                   CASE WHEN NEW.internal_category_id IS NULL THEN 'IS NULL' ELSE '= $5' END)
        INTO other_rule
        USING NEW.tenant_id, NEW.rule_id, NEW.center_id, NEW.category_id, NEW.internal_category_id;
    IF other_rule IS NOT NULL THEN
        RAISE EXCEPTION 'the matrix cell already has a rule'
            USING ERRCODE = 'TD502',
                  DETAIL = format('Rule %s already covers %s × %s.', other_rule,
                                  CASE WHEN NEW.category_id IS NOT NULL THEN 'category ' || NEW.category_id
                                       WHEN NEW.center_id IS NOT NULL THEN 'centre ' || NEW.center_id
                                       ELSE 'every centre' END,
                                  coalesce('internal category ' || NEW.internal_category_id, 'any internal category')),
                  HINT = format('Change rule %s instead of adding another one.', other_rule);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER priority_rule_check BEFORE INSERT OR UPDATE ON priority_rule
    FOR EACH ROW EXECUTE FUNCTION priority_rule_check();

-- Any change to the matrix or to the trees it stands on invalidates every
-- backend's cached matrix: at once in this transaction, in the others after
-- commit.
CREATE FUNCTION priority_matrix_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_priority_matrix_changed';
CREATE TRIGGER priority_matrix_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON priority_rule
    FOR EACH STATEMENT EXECUTE FUNCTION priority_matrix_changed();
CREATE TRIGGER priority_matrix_changed AFTER INSERT OR UPDATE OF parent_id OR DELETE OR TRUNCATE ON center
    FOR EACH STATEMENT EXECUTE FUNCTION priority_matrix_changed();
CREATE TRIGGER priority_matrix_changed AFTER INSERT OR UPDATE OF parent_id, center_id OR DELETE OR TRUNCATE ON category
    FOR EACH STATEMENT EXECUTE FUNCTION priority_matrix_changed();
CREATE TRIGGER priority_matrix_changed AFTER INSERT OR UPDATE OF parent_id OR DELETE OR TRUNCATE ON internal_category
    FOR EACH STATEMENT EXECUTE FUNCTION priority_matrix_changed();
