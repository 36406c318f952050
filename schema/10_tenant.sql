-- Tenants, and the generic guards every table uses.

-- One organisation served by this database. Every other table starts with
-- tenant_id and carries it in its primary and foreign keys, so that the
-- schema can be distributed by tenant without redesign.
CREATE TABLE tenant (
    tenant_id   serial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9_-]{1,40}$'),
    name        text NOT NULL CHECK (name ~ '\S'),
    -- Rows made by CREATE EXTENSION are not dumped: restoring recreates them.
    seeded      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tenant IS 'An organisation served by this database; tenant 1 is the default tenant.';

-- Refuses to move a row to another tenant. A row's tenant is fixed for life:
-- distribution by tenant and tenant isolation both rely on it.
CREATE FUNCTION forbid_tenant_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'the tenant of a % row cannot be changed', TG_TABLE_NAME
            USING ERRCODE = 'TD403',
                  DETAIL = format('The row belongs to tenant %s; the update tried to move it to tenant %s.',
                                  OLD.tenant_id, NEW.tenant_id),
                  HINT = 'Create the row again in the other tenant.';
    END IF;
    RETURN NEW;
END $$;

-- Refuses to change or delete a row that CREATE EXTENSION made. Such rows are
-- recreated by the install script on restore, so a change to them would be lost.
CREATE FUNCTION forbid_seeded_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a built-in % row cannot be changed or deleted', TG_TABLE_NAME
        USING ERRCODE = 'TD404',
              DETAIL = 'Rows created by CREATE EXTENSION are part of the extension and are recreated on restore.',
              HINT = 'Add a row of your own instead, for example a ticket type with its own transitions.';
END $$;

-- Refuses a parent link that would make a tree (centres, categories, internal
-- categories, sub-tickets) a cycle.
-- Arguments: the id column and the parent column of the table.
CREATE FUNCTION forbid_tree_cycle() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    self_id   bigint;
    parent    bigint;
    is_cycle  boolean;
BEGIN
    EXECUTE format('SELECT ($1).%I, ($1).%I', TG_ARGV[0], TG_ARGV[1])
        INTO self_id, parent USING NEW;
    IF parent IS NULL THEN
        RETURN NEW;
    END IF;
    -- Walk up from the new parent; meeting this row again means a cycle.
    EXECUTE format($q$
        WITH RECURSIVE up(id) AS (
            SELECT $2
            UNION
            SELECT t.%2$I FROM %3$I.%4$I t JOIN up ON t.tenant_id = $1 AND t.%1$I = up.id
        )
        SELECT EXISTS (SELECT 1 FROM up WHERE id = $3)$q$,
        TG_ARGV[0], TG_ARGV[1], TG_TABLE_SCHEMA, TG_TABLE_NAME)
        INTO is_cycle USING NEW.tenant_id, parent, self_id;
    IF is_cycle THEN
        RAISE EXCEPTION '% % cannot be placed under %: that would make a cycle', TG_TABLE_NAME, self_id, parent
            USING ERRCODE = 'TD405',
                  DETAIL = format('%s %s is already above %s %s in the tree, or is the row itself.',
                                  TG_TABLE_NAME, parent, TG_TABLE_NAME, self_id),
                  HINT = 'Choose a parent that is not below this row.';
    END IF;
    RETURN NEW;
END $$;
