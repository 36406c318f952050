-- ticketdesk install script, assembled from schema/*.sql in file-name order.
\echo Use "CREATE EXTENSION ticketdesk" to load this file. \quit

-- Statuses of a ticket's life. The allowed moves between them are data
-- (table transition); the order here is only the order of the lifecycle.
CREATE TYPE ticket_status AS ENUM (
    'new', 'assigned', 'acknowledged', 'in_progress', 'waiting',
    'resolved', 'confirmed', 'closed', 'cancelled');

-- Where a ticket stands, coarser than its status (column ticket.phase). The
-- queue and job indexes select tickets by phase, never by status, so that the
-- moves inside a phase (acknowledge, start, wait, resume) change no indexed
-- column and can be HOT updates.
CREATE TYPE ticket_phase AS ENUM ('open', 'resolved', 'confirmed', 'finished');
-- The phase of a status: new to waiting are open, closed and cancelled finished.
CREATE FUNCTION ticket_phase_of(ticket_status) RETURNS ticket_phase
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_phase_of';
COMMENT ON FUNCTION ticket_phase_of(ticket_status) IS
    'The phase of a status (generation expression of ticket.phase): open, resolved, confirmed or finished.';

-- The reference of a ticket number (generation expression of ticket.reference):
-- "TD-" and the number, at least six digits.
CREATE FUNCTION ticket_reference_of(bigint) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_reference_of';
COMMENT ON FUNCTION ticket_reference_of(bigint) IS
    'The reference of a ticket number (generation expression of ticket.reference): TD- and at least six digits.';
-- Its inverse: a ticket is found by its reference through the primary key.
CREATE FUNCTION ticket_number_of(text) RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_number_of';
COMMENT ON FUNCTION ticket_number_of(text) IS
    'The ticket number whose reference the text is, exactly as ticket_reference_of writes it (TD-000123: 123); NULL for any other text.';

-- Ordered from least to most pressing, so that priorities compare with < and >.
CREATE TYPE ticket_priority AS ENUM ('low', 'normal', 'high', 'urgent');

-- Value ranges of the columns written on the hot path (ticket's weights and
-- workflow stage, the load counters) are domains, not table CHECK constraints.
-- PostgreSQL 15 reads back and plans every CHECK constraint of a table for
-- each statement that inserts or updates a row of it, whatever the statement
-- changes (8% of a status transition for the ticket's three); a domain's
-- constraint is planned once per session and checked only on the values a
-- statement assigns. The rule holds the same with triggers off.
-- Is a weight 1 to 5? Raises TD302 when not: the domain's check.
CREATE FUNCTION weight_in_range(smallint) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_weight_in_range';
COMMENT ON FUNCTION weight_in_range(smallint) IS
    'The check of domain ticket_weight: true for 1 to 5, else the error TD302.';
CREATE DOMAIN ticket_weight AS smallint CHECK (weight_in_range(VALUE));
COMMENT ON DOMAIN ticket_weight IS 'A weight from 1 (least) to 5 (most): requester and dispatcher weights.';
CREATE DOMAIN stage_number AS smallint CHECK (VALUE >= 1);
COMMENT ON DOMAIN stage_number IS 'The number of a workflow stage, from 1.';
CREATE DOMAIN load_count AS integer CHECK (VALUE >= 0);
COMMENT ON DOMAIN load_count IS 'A load counter or cap of agent_load: never negative.';

-- How a request reached the desk (R16, R17).
CREATE TYPE ticket_channel AS ENUM ('web', 'email', 'phone', 'api', 'schedule', 'internal');

-- The current tenant: the setting ticketdesk.tenant, 1 (the default tenant) when unset.
CREATE FUNCTION current_tenant() RETURNS integer
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_current_tenant';
COMMENT ON FUNCTION current_tenant() IS
    'The tenant this session works for: the setting ticketdesk.tenant (default 1, the default tenant).';

-- The largest attachment accepted, in bytes: the setting ticketdesk.max_attachment_size.
CREATE FUNCTION max_attachment_bytes() RETURNS bigint
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_max_attachment_bytes';
COMMENT ON FUNCTION max_attachment_bytes() IS
    'The largest attachment accepted, in bytes (setting ticketdesk.max_attachment_size).';
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
-- Organisation: service centres (a tree), agents, centre membership, profiles.

-- A service centre: a named team that solves given categories of problems (R15).
CREATE TABLE center (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    center_id   bigserial,
    parent_id   bigint,
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    email       text,               -- the centre's mailbox address, for inbound mail
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, center_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES center (tenant_id, center_id)
);
CREATE INDEX center_parent_idx ON center (tenant_id, parent_id);
COMMENT ON TABLE center IS 'Service centres as a tree (R15); a category of a centre serves the centres beneath it.';

-- An employee who can register, dispatch or execute tickets.
CREATE TABLE agent (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    agent_id      bigserial,
    name          text NOT NULL CHECK (name ~ '\S'),
    email         text,
    phone         text,
    language      text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
    supervisor_id bigint,
    login_role    name,             -- the database role this agent logs in as, if any
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, agent_id),
    UNIQUE (tenant_id, login_role),
    FOREIGN KEY (tenant_id, supervisor_id) REFERENCES agent (tenant_id, agent_id)
);
CREATE INDEX agent_email_idx ON agent (tenant_id, lower(email));
COMMENT ON TABLE agent IS 'Employees; login_role maps a database role to the agent.';

-- Who works in a centre, and in which role (R15, R18).
CREATE TABLE center_member (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    center_id   bigint NOT NULL,
    agent_id    bigint NOT NULL,
    role        text NOT NULL CHECK (role IN ('dispatcher', 'executor')),
    PRIMARY KEY (tenant_id, center_id, agent_id, role),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent
);
CREATE INDEX center_member_agent_idx ON center_member (tenant_id, agent_id);
COMMENT ON TABLE center_member IS 'Centre membership: dispatchers distribute, executors do the work.';

-- A profile (salesperson, customer service, ...) under a main kind (R38).
CREATE TABLE profile (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    profile_id  bigserial,
    kind        text NOT NULL CHECK (kind IN ('employee', 'customer', 'supplier')),
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    PRIMARY KEY (tenant_id, profile_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE profile IS 'Profiles of kind employee, customer or supplier (R38); workflow stages name them.';

CREATE TABLE agent_profile (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    agent_id    bigint NOT NULL,
    profile_id  bigint NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, profile_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, profile_id) REFERENCES profile
);
CREATE INDEX agent_profile_profile_idx ON agent_profile (tenant_id, profile_id);
COMMENT ON TABLE agent_profile IS 'The profiles each agent holds (R38).';
-- Customers, their contact persons, and the sites where work is done.

-- A customer: a company or a person the desk serves (R47).
CREATE TABLE customer (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    customer_id bigserial,
    name        text NOT NULL CHECK (name ~ '\S'),
    tax_id      text,
    email       text,
    phone       text,
    work_phone  text,
    address     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE UNIQUE INDEX customer_tax_id_key ON customer (tenant_id, tax_id) WHERE tax_id IS NOT NULL;
COMMENT ON TABLE customer IS 'Customer master data (R47).';

-- A contact person, usually of a customer (R46, R47). A contact without a
-- customer is a private person, for example an unknown e-mail sender.
CREATE TABLE contact (
    tenant_id         integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    contact_id        bigserial,
    customer_id       bigint,
    name              text NOT NULL CHECK (name ~ '\S'),
    position          text,
    preferred_channel text NOT NULL DEFAULT 'email' CHECK (preferred_channel IN ('email', 'phone', 'sms')),
    phone             text,
    email             text,
    language          text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer
);
CREATE INDEX contact_customer_idx ON contact (tenant_id, customer_id);
CREATE INDEX contact_email_idx ON contact (tenant_id, lower(email));
COMMENT ON TABLE contact IS 'Contact persons with position, preferred channel and language (R47).';

-- A place where work is done (R07, R08). address_key makes a known address
-- found again however it is spaced or capitalised.
CREATE TABLE site (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    site_id     bigserial,
    customer_id bigint,
    label       text,
    address     text NOT NULL CHECK (address ~ '\S'),
    address_key text GENERATED ALWAYS AS (lower(regexp_replace(btrim(address), '\s+', ' ', 'g'))) STORED,
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer,
    CHECK ((latitude IS NULL) = (longitude IS NULL)),
    CONSTRAINT site_address_key UNIQUE NULLS NOT DISTINCT (tenant_id, customer_id, address_key)
);
COMMENT ON TABLE site IS 'Sites and addresses, reused when known (R07), with optional coordinates for a map link (R08).';

-- Percent-encodes text for use in a URL query (RFC 3986 unreserved characters stay).
CREATE FUNCTION url_encode(text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_url_encode';
COMMENT ON FUNCTION url_encode(text) IS 'Percent-encodes text for a URL (RFC 3986).';

-- A link that opens the site in an online map, on a phone too (R08): by
-- coordinates when known, else by searching the address.
CREATE FUNCTION map_link(site) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN $1.latitude IS NOT NULL THEN
            format('https://www.openstreetmap.org/?mlat=%s&mlon=%s#map=17/%s/%s',
                   $1.latitude, $1.longitude, $1.latitude, $1.longitude)
        ELSE 'https://www.openstreetmap.org/search?query=' || ticketdesk.url_encode($1.address)
    END
$$;
COMMENT ON FUNCTION map_link(site) IS 'A map link for a site (R08); call it as site.map_link.';
-- Classification: categories per centre, internal categories, ticket types,
-- products, and the allowed lifecycle moves.

-- Categories form a tree per centre (R16, R24); a child stays in its parent's centre.
CREATE TABLE category (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    category_id bigserial,
    center_id   bigint NOT NULL,
    parent_id   bigint,
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    active      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, category_id),
    UNIQUE (tenant_id, center_id, category_id),
    UNIQUE (tenant_id, center_id, code),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, center_id, parent_id) REFERENCES category (tenant_id, center_id, category_id)
);
COMMENT ON TABLE category IS 'Categories as a tree per centre (R16, R24).';

-- The dispatcher's own classification, invisible to requesters (R18, R24).
CREATE TABLE internal_category (
    tenant_id            integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    internal_category_id bigserial,
    parent_id            bigint,
    code                 text NOT NULL CHECK (code ~ '\S'),
    name                 text NOT NULL CHECK (name ~ '\S'),
    PRIMARY KEY (tenant_id, internal_category_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES internal_category
);
COMMENT ON TABLE internal_category IS 'Internal categories set by dispatchers, as a tree (R18, R24).';

-- Ticket types are data, so a tenant can add its own (R46).
CREATE TABLE ticket_type (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    type_id     bigserial,
    code        text NOT NULL CHECK (code ~ '^[a-z0-9_]{1,40}$'),
    name        text NOT NULL CHECK (name ~ '\S'),
    seeded      boolean NOT NULL DEFAULT false,
    workflow_id bigint,             -- the process its tickets follow (R39); FK in 47_workflow.sql
    PRIMARY KEY (tenant_id, type_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE ticket_type IS 'Ticket types: incident, service_request, intervention, scheduled_service, task, and any added.';

-- The catalogue of things a request can be about (R48).
CREATE TABLE product (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    product_id  bigserial,
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    active      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, product_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE product IS 'Product catalogue items a request can be about (R48).';

-- The allowed status moves. Rows with a type_id apply to that type only and,
-- once a type has any, replace the tenant's default rows (type_id NULL) for it.
CREATE TABLE transition (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    transition_id bigserial,
    type_id       bigint,
    from_status   ticket_status NOT NULL,
    to_status     ticket_status NOT NULL CHECK (to_status <> from_status),
    move          text NOT NULL CHECK (move ~ '\S'),
    seeded        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, transition_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, type_id, from_status, to_status),
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type
);
COMMENT ON TABLE transition IS 'Allowed status moves, per tenant and optionally per ticket type; enforced by the ticket trigger.';
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
-- Workflows and what routing needs to know about agents: their stages and
-- profiles (R39), absences, working hours, load caps and load counters, and
-- each tenant's administrator (R03, R45). doc/routing.md explains the design.

-- An organisational process: an ordered list of stages (R39).
CREATE TABLE workflow (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    workflow_id bigserial,
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    PRIMARY KEY (tenant_id, workflow_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE workflow IS 'Organisational processes (R39): ordered stages, each handled by a profile.';

-- One stage of a workflow. Positions run 1, 2, ... n without gaps or
-- repeats; a deferred check says so at commit (TD520, TD521), so stages can
-- be renumbered inside a transaction. A stage without a profile goes to the
-- dispatcher queue (R45).
CREATE TABLE workflow_stage (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    stage_id    bigserial,
    workflow_id bigint NOT NULL,
    position    smallint NOT NULL CHECK (position >= 1),
    name        text NOT NULL CHECK (name ~ '\S'),
    profile_id  bigint,
    PRIMARY KEY (tenant_id, stage_id),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflow ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, profile_id) REFERENCES profile
);
CREATE INDEX workflow_stage_position_idx ON workflow_stage (tenant_id, workflow_id, position);
COMMENT ON TABLE workflow_stage IS 'Stages of a workflow, numbered from 1; profile_id NULL sends the stage to the dispatcher queue.';

ALTER TABLE ticket_type
    ADD CONSTRAINT ticket_type_workflow_fkey FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflow;

-- Refuses a workflow whose stage positions are not exactly 1..n.
CREATE FUNCTION check_workflow_stages() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    t        integer := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
    w        bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.workflow_id ELSE NEW.workflow_id END;
    w_code   text;
    repeated smallint;
    n        integer;
    top      integer;
BEGIN
    SELECT x.code INTO w_code FROM ticketdesk.workflow x WHERE x.tenant_id = t AND x.workflow_id = w;
    IF NOT FOUND THEN
        RETURN NULL;            -- the workflow itself was deleted
    END IF;
    SELECT s.position INTO repeated FROM ticketdesk.workflow_stage s
     WHERE s.tenant_id = t AND s.workflow_id = w
     GROUP BY s.position HAVING count(*) > 1 ORDER BY s.position LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'workflow "%" has two stages at position %', w_code, repeated
            USING ERRCODE = 'TD520',
                  DETAIL = 'Each stage of a workflow has a position of its own.',
                  HINT = 'Number the stages 1, 2, 3, ... in the order they are worked.';
    END IF;
    SELECT count(*), coalesce(max(s.position), 0) INTO n, top FROM ticketdesk.workflow_stage s
     WHERE s.tenant_id = t AND s.workflow_id = w;
    IF n = 0 OR top <> n THEN
        RAISE EXCEPTION 'workflow "%" has missing stage positions', w_code
            USING ERRCODE = 'TD521',
                  DETAIL = CASE WHEN n = 0 THEN 'It has no stages.'
                                ELSE format('It has %s stages, numbered up to %s.', n, top) END,
                  HINT = 'Number the stages 1, 2, 3, ... without gaps.';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER workflow_stages_numbered AFTER INSERT OR UPDATE OR DELETE ON workflow_stage
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_workflow_stages();
CREATE CONSTRAINT TRIGGER workflow_has_stages AFTER INSERT ON workflow
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_workflow_stages();

-- Per-tenant routing policy: who gets a ticket that no dispatcher can take
-- (R03, R45), and whether loads are weighted by priority.
CREATE TABLE routing_policy (
    tenant_id         integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    admin_agent_id    bigint,
    weigh_by_priority boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id),
    FOREIGN KEY (tenant_id, admin_agent_id) REFERENCES agent
);
COMMENT ON TABLE routing_policy IS
    'Per tenant: the administrator who takes tickets no dispatcher can, and whether loads weigh priority.';

-- The load counters (R43), one row per agent, kept by the ticket trigger
-- ticket_load: never counted on a routing call. Routing locks the rows of
-- its candidates, so two routings never read the same stale load.
-- Nearly every move updates a row here, and each update prunes its page of
-- the versions before it, a pass over every row of the page: at fill
-- factor 10 a page holds about ten agents, not a hundred (a status change
-- of an in-progress ticket cost 20,000 instructions less; doc/benchmarks.md,
-- "Session 11: the status transition").
CREATE TABLE agent_load (
    tenant_id        integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    agent_id         bigint NOT NULL,
    open_tickets     load_count NOT NULL DEFAULT 0,
    weighted_load    load_count NOT NULL DEFAULT 0,
    load_cap         load_count,
    last_assigned_at timestamptz,
    PRIMARY KEY (tenant_id, agent_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent ON DELETE CASCADE
) WITH (fillfactor = 10);
COMMENT ON TABLE agent_load IS
    'Per agent: tickets held in a working status (assigned, acknowledged, in progress), their priority-weighted sum, the optional cap, the last assignment.';

-- Every agent has a load row from the start, so routing can lock it.
CREATE FUNCTION agent_load_row() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticketdesk.agent_load (tenant_id, agent_id) VALUES (NEW.tenant_id, NEW.agent_id)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER agent_load_row AFTER INSERT ON agent
    FOR EACH ROW EXECUTE FUNCTION agent_load_row();

-- A recorded absence: holiday, sick leave, training (Odoo's time off).
CREATE TABLE agent_absence (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    absence_id  bigserial,
    agent_id    bigint NOT NULL,
    during      tstzrange NOT NULL CHECK (NOT isempty(during)),
    reason      text,
    PRIMARY KEY (tenant_id, absence_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent ON DELETE CASCADE
);
CREATE INDEX agent_absence_agent_idx ON agent_absence (tenant_id, agent_id);
COMMENT ON TABLE agent_absence IS 'Absences: routing skips an agent while one covers the moment of routing.';

-- Working hours: an agent with any rows works only inside them (weekday 1 =
-- Monday, ISO), in their own time zone. An agent without rows is always on.
CREATE TABLE agent_hours (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    hours_id    bigserial,
    agent_id    bigint NOT NULL,
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts      time NOT NULL,
    ends        time NOT NULL CHECK (ends > starts),
    time_zone   text NOT NULL DEFAULT 'UTC',
    PRIMARY KEY (tenant_id, hours_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent ON DELETE CASCADE
);
CREATE INDEX agent_hours_agent_idx ON agent_hours (tenant_id, agent_id);
COMMENT ON TABLE agent_hours IS 'Working hours per ISO weekday in a time zone; agents without rows are always available.';

-- A change to an agent's availability updates their load row (a new row
-- version, the counters unchanged), like a routing locks it: a routing
-- under way finishes first, and one that started earlier or later sees the
-- new row version and reads availability again (doc/routing.md,
-- "Concurrency").
CREATE FUNCTION lock_agent_load() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE ticketdesk.agent_load l SET load_cap = l.load_cap
         WHERE l.tenant_id = OLD.tenant_id AND l.agent_id = OLD.agent_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE ticketdesk.agent_load l SET load_cap = l.load_cap
         WHERE l.tenant_id = NEW.tenant_id AND l.agent_id = NEW.agent_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER agent_absence_lock AFTER INSERT OR UPDATE OR DELETE ON agent_absence
    FOR EACH ROW EXECUTE FUNCTION lock_agent_load();
CREATE TRIGGER agent_hours_lock AFTER INSERT OR UPDATE OR DELETE ON agent_hours
    FOR EACH ROW EXECUTE FUNCTION lock_agent_load();
-- The ticket: one table, one path. Every way in ends in an INSERT here, and
-- every change, by API or by plain UPDATE, passes the lifecycle trigger.
-- tenant_id needs no foreign key of its own here: (tenant_id, type_id) already
-- names a ticket type of the tenant, and every check costs on the hot path.
CREATE TABLE ticket (
    tenant_id            integer NOT NULL DEFAULT current_tenant(),
    ticket_id            bigserial,
    -- Readable reference for mails and phone calls.
    -- A C function, not a CASE: PostgreSQL 15 plans every generation
    -- expression again for each statement writing a ticket (src/reference.c).
    -- Unique because the number is (each number has a reference of its own),
    -- so no index of its own, which every opening would write: a ticket is
    -- found by its reference through the primary key (ticket_number_of).
    reference            text GENERATED ALWAYS AS (ticket_reference_of(ticket_id)) STORED,
    type_id              bigint NOT NULL,
    center_id            bigint NOT NULL,
    category_id          bigint,
    internal_category_id bigint,
    -- The requester: a customer, a contact person, or an employee.
    customer_id          bigint,
    contact_id           bigint,
    requester_agent_id   bigint,
    registered_by        bigint,            -- the agent who registered it on someone's behalf (R17)
    channel              ticket_channel NOT NULL DEFAULT 'api',
    subject              text NOT NULL,
    description          text,
    requester_weight     ticket_weight NOT NULL DEFAULT 3,
    dispatcher_weight    ticket_weight,
    priority             ticket_priority NOT NULL DEFAULT 'normal',
    priority_fixed       boolean NOT NULL DEFAULT false,  -- the dispatcher's override: not recomputed
    deadline             timestamptz,        -- the requester's wanted deadline (R16)
    planned              tstzrange,          -- the planned period (R49)
    site_id              bigint,
    product_id           bigint,             -- object of the request: a catalogue item,
    object_text          text,               -- or free text,
    invoice_ref          text,               -- or a line of one of the customer's invoices (R48)
    status               ticket_status NOT NULL DEFAULT 'new',
    phase                ticket_phase GENERATED ALWAYS AS (ticket_phase_of(status)) STORED,
    assignee_id          bigint,
    parent_id            bigint,             -- work breakdown: a sub-ticket's parent (R27)
    stage                stage_number,       -- current stage of the type's workflow (R39)
    resolution           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    assigned_at          timestamptz,
    acknowledged_at      timestamptz,
    started_at           timestamptz,
    resolved_at          timestamptz,
    confirmed_at         timestamptz,
    closed_at            timestamptz,
    cancelled_at         timestamptz,
    PRIMARY KEY (tenant_id, ticket_id),
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type,
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, category_id) REFERENCES category,
    FOREIGN KEY (tenant_id, internal_category_id) REFERENCES internal_category,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    FOREIGN KEY (tenant_id, requester_agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, registered_by) REFERENCES agent,
    FOREIGN KEY (tenant_id, site_id) REFERENCES site,
    FOREIGN KEY (tenant_id, product_id) REFERENCES product,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, parent_id) REFERENCES ticket
) WITH (fillfactor = 85);   -- room on each page for HOT updates (see the indexes below)
-- Queues and workloads look at unfinished or open tickets only. No index of
-- ticket names status, in its keys or its predicate: a status change inside a
-- phase then writes no index entry (a HOT update), and most of a ticket's
-- moves are such changes.
CREATE INDEX ticket_center_open_idx ON ticket (tenant_id, center_id) WHERE phase <> 'finished';
CREATE INDEX ticket_assignee_open_idx ON ticket (tenant_id, assignee_id)
    WHERE phase = 'open' AND assignee_id IS NOT NULL;
CREATE INDEX ticket_parent_idx ON ticket (tenant_id, parent_id) WHERE parent_id IS NOT NULL;
COMMENT ON TABLE ticket IS 'Tickets. Every insert and update passes the C lifecycle trigger.';
-- What happened to a ticket: the append-only event history, remarks,
-- attachments and watchers.

-- Every status change, assignment, redirect, weight or category change, with
-- who, when, the old and the new value. Written by the ticket trigger, and by
-- add_watcher for watchers.
-- Like ticket, no separate tenant foreign key: (tenant_id, ticket_id) implies it.
-- The primary key leads with the ticket: a history is read ticket by ticket,
-- and every change writes one index entry, not two (event_id alone is unique,
-- but nothing looks an event up by it alone).
CREATE TABLE ticket_event (
    tenant_id      integer NOT NULL DEFAULT current_tenant(),
    event_id       bigserial,
    ticket_id      bigint NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    kind           text NOT NULL,
    old_value      text,
    new_value      text,
    note           text,
    actor_agent_id bigint,
    actor_role     name NOT NULL DEFAULT current_user,
    PRIMARY KEY (tenant_id, ticket_id, event_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, actor_agent_id) REFERENCES agent
);
COMMENT ON TABLE ticket_event IS 'Append-only history of every ticket change: who, when, old and new value.';

-- Refuses every UPDATE, DELETE and TRUNCATE of a history row (TD406), except
-- the DELETEs purge_history makes (src/retention.c, doc/security.md).
CREATE FUNCTION forbid_history_change() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_history_guard';
CREATE TRIGGER ticket_event_append_only BEFORE UPDATE OR DELETE ON ticket_event
    FOR EACH ROW EXECUTE FUNCTION forbid_history_change();
CREATE TRIGGER ticket_event_no_truncate BEFORE TRUNCATE ON ticket_event
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_history_change();

-- Remarks exchanged during a ticket's life (R20, R52). Internal remarks are
-- never shown to requesters.
CREATE TABLE message (
    tenant_id         integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    message_id        bigserial,
    ticket_id         bigint NOT NULL,
    author_agent_id   bigint,
    author_contact_id bigint,
    internal          boolean NOT NULL DEFAULT false,
    body              text NOT NULL CHECK (body ~ '\S'),
    document_link     text,             -- a link to a registered document (R52)
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_id),
    UNIQUE (tenant_id, ticket_id, message_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, author_agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, author_contact_id) REFERENCES contact
);
COMMENT ON TABLE message IS 'Remarks on a ticket, internal or public (R20, R52).';

-- Files attached to a ticket, or to one of its messages (R20, R52).
CREATE TABLE attachment (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    attachment_id bigserial,
    ticket_id     bigint NOT NULL,
    message_id    bigint,
    filename      text NOT NULL CHECK (filename ~ '\S'),
    content_type  text NOT NULL DEFAULT 'application/octet-stream',
    size_bytes    bigint NOT NULL,
    sha256        bytea NOT NULL,
    data          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, attachment_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, ticket_id, message_id) REFERENCES message (tenant_id, ticket_id, message_id)
);
CREATE INDEX attachment_ticket_idx ON attachment (tenant_id, ticket_id);
COMMENT ON TABLE attachment IS 'Attachments with file name, content type, size and SHA-256.';

-- Computes size and checksum, and enforces ticketdesk.max_attachment_size,
-- whichever way the row arrives.
CREATE FUNCTION attachment_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    limit_bytes bigint := ticketdesk.max_attachment_bytes();
BEGIN
    NEW.size_bytes := octet_length(NEW.data);
    NEW.sha256 := sha256(NEW.data);
    IF NEW.size_bytes > limit_bytes THEN
        RAISE EXCEPTION 'attachment "%" is too large', NEW.filename
            USING ERRCODE = 'TD305',
                  DETAIL = format('It has %s bytes; the limit is %s bytes.', NEW.size_bytes, limit_bytes),
                  HINT = 'Send a smaller file, or raise the setting ticketdesk.max_attachment_size.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER attachment_check BEFORE INSERT OR UPDATE ON attachment
    FOR EACH ROW EXECUTE FUNCTION attachment_check();

-- People a ticket was forwarded to, for consultation or for information (R20).
CREATE TABLE watcher (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    watcher_id  bigserial,
    ticket_id   bigint NOT NULL,
    agent_id    bigint,
    contact_id  bigint,
    purpose     text NOT NULL DEFAULT 'information' CHECK (purpose IN ('consultation', 'information')),
    note        text,
    added_by    bigint,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, watcher_id),
    CONSTRAINT watcher_once UNIQUE NULLS NOT DISTINCT (tenant_id, ticket_id, agent_id, contact_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    FOREIGN KEY (tenant_id, added_by) REFERENCES agent,
    CHECK (num_nonnulls(agent_id, contact_id) = 1)
);
COMMENT ON TABLE watcher IS 'Watchers: a ticket forwarded to others for consultation or information (R20).';
-- History retention (issue 8): the history tables (ticket_event, approval,
-- gate_bypass) are append-only for everyone; purge_history is the one way to
-- remove old history, and every purge is recorded here. See doc/security.md.

-- One row per purge: who, when, how old, how much. Written by purge_history
-- only (TD721), never changed or removed (TD406).
CREATE TABLE history_purge (
    tenant_id  integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    purge_id   bigserial,
    at         timestamptz NOT NULL DEFAULT now(),
    by_role    name NOT NULL DEFAULT current_user,
    older_than interval NOT NULL,
    cutoff     timestamptz NOT NULL,
    events     bigint NOT NULL,
    approvals  bigint NOT NULL,
    bypasses   bigint NOT NULL,
    PRIMARY KEY (tenant_id, purge_id)
);
COMMENT ON TABLE history_purge IS 'The purges of old history by purge_history: who, when, the cutoff and the rows removed.';

CREATE FUNCTION history_purge_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_history_purge_guard';
CREATE TRIGGER history_purge_guard BEFORE INSERT OR UPDATE OR DELETE ON history_purge
    FOR EACH ROW EXECUTE FUNCTION history_purge_guard();
CREATE TRIGGER history_purge_no_truncate BEFORE TRUNCATE ON history_purge
    FOR EACH STATEMENT EXECUTE FUNCTION history_purge_guard();

-- Removes the current tenant's history of tickets closed or cancelled more
-- than older_than ago (rows older than that too), records the purge, and
-- returns the number of rows removed. Runs as the caller: an administrator of
-- the tenant or a superuser. SET search_path: its statement names everything
-- with its schema, and no operator of another schema can slip in.
CREATE FUNCTION purge_history(older_than interval) RETURNS bigint
    LANGUAGE c VOLATILE SET search_path = pg_catalog, ticketdesk, pg_temp
    AS 'MODULE_PATHNAME', 'ticketdesk_purge_history';
COMMENT ON FUNCTION purge_history(interval) IS
    'Removes the history (events, approvals, gate bypasses) of tickets closed or cancelled more than older_than ago; administrators only; returns the rows removed.';
-- Secrets: the credentials the worker needs (SMTP and IMAP passwords, SMS and
-- webhook tokens), per tenant. Only the tenant's ticketdesk_admin and
-- superusers (the worker runs as one) can read them; 96_secret_grants.sql
-- takes the other roles' rights away after 95_roles.sql granted reading on all
-- tables. 90_tenancy.sql gives the table its tenant policy and registers it
-- for pg_dump. See doc/security.md.

-- A domain, not a CHECK on the table: a violated table constraint prints the
-- whole failing row, value included, in the error's DETAIL.
CREATE DOMAIN secret_name AS text
    CHECK (VALUE ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' AND length(VALUE) <= 63);
COMMENT ON DOMAIN secret_name IS
    'A secret''s name: lower-case words joined by dots, e.g. smtp.password, imap.3.password.';

CREATE TABLE secret (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    name        secret_name NOT NULL,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  name NOT NULL DEFAULT current_user,
    PRIMARY KEY (tenant_id, name)
);
COMMENT ON TABLE secret IS
    'Credentials of the tenant (SMTP, IMAP, gateways); readable only by ticketdesk_admin and superusers.';

-- What an administrator may list without the values showing on screen.
CREATE VIEW secret_names WITH (security_invoker = true) AS
    SELECT tenant_id, name, updated_at, updated_by FROM secret;
COMMENT ON VIEW secret_names IS 'The tenant''s secrets without their values.';

-- Refuses a caller that is not an administrator of the tenant (superusers
-- are members of every role).
CREATE FUNCTION require_admin(what text) RETURNS void
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT ticketdesk.is_admin() THEN
        RAISE EXCEPTION 'permission denied to %', what
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role %s is not a member of ticketdesk_admin.', current_user),
                  HINT = 'Ask an administrator of the tenant.';
    END IF;
END $$;
COMMENT ON FUNCTION require_admin(text) IS
    'Raises 42501 unless the current role is a member of ticketdesk_admin; what names the refused action.';

-- The errors below never echo the value: they name the secret only.
CREATE FUNCTION set_secret(name text, value text) RETURNS void
    LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM ticketdesk.require_admin('set a secret');
    IF name IS NULL OR name !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' OR length(name) > 63 THEN
        RAISE EXCEPTION 'invalid secret name %', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'TD730',
                  DETAIL = 'A secret''s name is lower-case words of letters, digits and _ joined by dots, at most 63 characters.',
                  HINT = 'For example smtp.password or imap.1.password.';
    END IF;
    IF value IS NULL OR value = '' THEN
        RAISE EXCEPTION 'secret % has no value', name
            USING ERRCODE = 'TD731',
                  DETAIL = 'A secret cannot be NULL or empty.',
                  HINT = 'To remove a secret, call drop_secret.';
    END IF;
    INSERT INTO ticketdesk.secret AS s (name, value) VALUES (set_secret.name, set_secret.value)
        ON CONFLICT (tenant_id, name) DO UPDATE
           SET value = excluded.value, updated_at = now(), updated_by = current_user;
END $$;
COMMENT ON FUNCTION set_secret(text, text) IS
    'Stores or replaces a secret of the current tenant (administrators only). The value never appears in errors or events.';

CREATE FUNCTION drop_secret(name text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticketdesk.require_admin('drop a secret');
    DELETE FROM ticketdesk.secret s WHERE s.tenant_id = ticketdesk.current_tenant() AND s.name = drop_secret.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'secret % does not exist', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'TD732',
                  DETAIL = format('Tenant %s has no secret of that name.', ticketdesk.current_tenant()),
                  HINT = 'SELECT name FROM ticketdesk.secret_names lists them.';
    END IF;
END $$;
COMMENT ON FUNCTION drop_secret(text) IS 'Removes a secret of the current tenant (administrators only).';
-- Inbound e-mail (R02, R51, R52): every mail received, what it did, and the
-- settings that decide how mail is threaded and when it is only stored.

-- One file of a mail, as the parser hands it over.
CREATE TYPE mail_part AS (
    filename     text,
    content_type text,
    content_id   text,      -- an inline image's Content-ID, without <>
    is_inline    boolean,
    data         bytea
);

-- What a mail says, decoded to UTF-8 (parse_mail). error is set, and most
-- other fields are null, when the mail could not be read.
CREATE TYPE mail_parsed AS (
    error        text,
    message_id   text,      -- without <>
    in_reply_to  text,
    refs         text[],    -- In-Reply-To, then References: the ids this mail answers
    subject      text,
    from_name    text,
    from_addr    text,      -- lower case
    reply_to     text,
    recipients   text[],    -- To, Cc, Delivered-To, X-Original-To, Envelope-To: lower case
    sent_at      timestamptz,
    auto_reason  text,      -- why a machine sent it (Auto-Submitted, Precedence, bounce), or null
    x_loop       text[],
    body         text,      -- text/plain, or text derived from HTML-only mail
    reply_text   text,      -- the body without the quoted earlier mail
    html_only    boolean,
    parts        mail_part[]
);

-- Per tenant: how mail is handled. A tenant without a row uses the defaults
-- (mail_settings()).
CREATE TABLE mail_config (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    -- A reply to a closed ticket reopens it within this time after closing;
    -- later it opens a new ticket linked to the old one.
    reopen_window interval NOT NULL DEFAULT '14 days' CHECK (reopen_window >= '0'),
    -- More than rate_limit mails from one sender within rate_window are only stored.
    rate_limit    integer NOT NULL DEFAULT 30 CHECK (rate_limit > 0),
    rate_window   interval NOT NULL DEFAULT '1 hour' CHECK (rate_window > '0'),
    -- The X-Loop value ticketdesk puts on the mail it sends; mail carrying it is ours.
    loop_token    text NOT NULL DEFAULT 'ticketdesk' CHECK (loop_token ~ '\S'),
    -- Addresses that are ours besides the centres' mailboxes (e.g. the notifications sender).
    own_addresses text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE mail_config IS
    'Inbound mail settings per tenant: reopen window, per-sender rate limit, X-Loop token, own addresses.';

-- Confirm and reject keywords per language (R51). A tenant's rows for a
-- language replace the built-in defaults of that language
-- (mail_default_keywords()).
CREATE TABLE mail_keyword (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    language    text NOT NULL CHECK (language ~ '^[a-z]{2}$'),
    kind        text NOT NULL CHECK (kind IN ('confirm', 'reject')),
    word        text NOT NULL CHECK (word ~ '\S' AND word = lower(btrim(word))),
    PRIMARY KEY (tenant_id, language, kind, word)
);
COMMENT ON TABLE mail_keyword IS
    'Confirm/reject keywords per language for replies (R51); replace the built-in defaults of a language.';

-- Every mail received, once per Message-ID: the raw message, where it went
-- and what it did. Failed mail stays here with its reason.
CREATE TABLE mail_intake (
    tenant_id    integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    intake_id    bigserial,
    -- The Message-ID (without <>); for mail without one, sha256: and the hex
    -- digest of the raw message, so the same bytes are still taken once.
    mail_id      text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    sender       text,
    subject      text,
    outcome      text NOT NULL DEFAULT 'failed'
                 CHECK (outcome IN ('opened', 'replied', 'stored', 'failed')),
    -- What the mail did besides: acknowledged, rejected, confirmed, reopened,
    -- resumed, linked (a new ticket tied to an old one).
    action       text,
    reason       text,          -- why it was only stored, failed, or was flagged
    flagged      boolean NOT NULL DEFAULT false,
    center_id    bigint,
    ticket_id    bigint,
    message_id   bigint,        -- the remark made from a reply
    contact_id   bigint,        -- the sender, as a contact
    agent_id     bigint,        -- the sender, as an agent
    size_bytes   integer NOT NULL,
    -- The whole mail as received; null only over ticketdesk.mail_max_size. lz4
    -- gives up on incompressible base64 attachments far sooner than pglz.
    raw          bytea COMPRESSION lz4,
    PRIMARY KEY (tenant_id, intake_id),
    CONSTRAINT mail_intake_once UNIQUE (tenant_id, mail_id),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, ticket_id, message_id) REFERENCES message (tenant_id, ticket_id, message_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent
);
CREATE INDEX mail_intake_sender_idx ON mail_intake (tenant_id, sender, received_at);
CREATE INDEX mail_intake_ticket_idx ON mail_intake (tenant_id, ticket_id) WHERE ticket_id IS NOT NULL;
COMMENT ON TABLE mail_intake IS
    'Every inbound mail once per Message-ID: raw message, outcome (opened, replied, stored, failed), reason, ticket.';

-- The Message-ID of the mail a remark came from (or went out as), so that
-- replies to it find their ticket.
ALTER TABLE message ADD COLUMN email_message_id text;
CREATE UNIQUE INDEX message_email_message_id_key ON message (tenant_id, email_message_id)
    WHERE email_message_id IS NOT NULL;

-- Lookups by address: centres by their mailbox, people by their e-mail.
CREATE INDEX center_email_idx ON center (tenant_id, lower(email)) WHERE email IS NOT NULL;

-- An IMAP folder's URL: imaps://host:993/INBOX. No user or password in it:
-- they would show to everyone who reads the mailboxes and in curl's errors.
-- A domain, not a table CHECK, because a failing table CHECK prints the whole
-- row, and the URL it refuses may hold a password.
CREATE DOMAIN imap_url AS text CHECK (VALUE ~ '^imaps?://[^/@]+/[^;]+$');
COMMENT ON DOMAIN imap_url IS 'An IMAP folder URL without user or password: imap[s]://host[:port]/folder.';

-- IMAP mailboxes polled by the background worker (R02): one per centre or
-- more. The worker fetches by UID and records the last UID it took in the
-- same transaction as the ingest (mail_take), so across crashes no mail is
-- lost or taken twice.
CREATE TABLE mail_mailbox (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    mailbox_id    bigserial,
    center_id     bigint NOT NULL,          -- mail that names no centre's address goes here
    url           imap_url NOT NULL,
    username      text NOT NULL CHECK (username ~ '\S'),
    -- The secret (schema/63_secret.sql) that holds the password; NULL means
    -- imap.<mailbox_id>.password. Only ticketdesk_admin and the worker read it.
    password_secret secret_name,
    -- After a mail is taken in: mark it \Seen, or move it to move_to.
    after_fetch   text NOT NULL DEFAULT 'seen' CHECK (after_fetch IN ('seen', 'move')),
    move_to       text,
    poll_interval interval NOT NULL DEFAULT '1 minute' CHECK (poll_interval >= '1 second'),
    enabled       boolean NOT NULL DEFAULT true,
    uidvalidity   bigint,                   -- of the folder when last_uid was taken
    last_uid      bigint NOT NULL DEFAULT 0 CHECK (last_uid >= 0),
    last_poll_at  timestamptz,
    last_error    text,
    PRIMARY KEY (tenant_id, mailbox_id),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    CHECK (after_fetch <> 'move' OR (move_to IS NOT NULL AND move_to ~ '\S'))
);
COMMENT ON TABLE mail_mailbox IS
    'IMAP mailboxes polled by UID: URL, user, what to do after fetching, last UID taken (with UIDVALIDITY).';
-- Notifications: the durable outbox, the templates the messages are
-- rendered from, the channel policy and the recipients' own preferences.
-- doc/notify.md tells the whole story.

-- Where a message stands. queued: waiting for its next try; sending: claimed
-- by the worker under a lease; sent; dead: gave up after the last try, with
-- the error kept; cancelled: stopped by an admin.
CREATE TYPE outbox_status AS ENUM ('queued', 'sending', 'sent', 'dead', 'cancelled');

-- A new message's key: ordered by time, so that keys are added at the
-- right edge of their unique index, and random in the rest (src/message_key.c).
CREATE FUNCTION message_key_new() RETURNS uuid
    LANGUAGE c VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_message_key_new';
COMMENT ON FUNCTION message_key_new() IS
    'A new outbox message key: a version 7 UUID, 48 bits of Unix time in milliseconds and 74 random bits.';

-- The value rules of the outbox's columns are domains, not table CHECKs:
-- PostgreSQL 15 plans a table's CHECK constraints again for every statement
-- that writes it (the notification INSERT of each ticket change, each claim
-- and each result); a domain's rule is planned once per session and
-- checked only on the values a statement assigns (schema/00_types.sql).
-- Their rules are C functions (src/notify_values.c), not regular
-- expressions: the same rules at a tenth of the cost.
CREATE FUNCTION notify_event_valid(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_notify_event_valid';
COMMENT ON FUNCTION notify_event_valid(text) IS
    'The check of domain notify_event: 1 to 40 characters, each a to z or "_" (as ''^[a-z_]{1,40}$'').';
CREATE FUNCTION language_code_valid(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_language_code_valid';
COMMENT ON FUNCTION language_code_valid(text) IS
    'The check of domain language_code: two characters a to z (as ''^[a-z]{2}$'').';
CREATE FUNCTION not_blank(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_not_blank';
COMMENT ON FUNCTION not_blank(text) IS
    'The check of domain notify_recipient: a character that is not a space (as ''\S'').';
CREATE DOMAIN notify_event AS text CHECK (notify_event_valid(VALUE));
COMMENT ON DOMAIN notify_event IS 'A notification event name: 1 to 40 lower-case letters or "_".';
CREATE DOMAIN notify_channel AS text CHECK (VALUE IN ('email', 'sms', 'webhook'));
COMMENT ON DOMAIN notify_channel IS 'A notification channel: email, sms or webhook.';
CREATE DOMAIN notify_recipient AS text CHECK (not_blank(VALUE));
COMMENT ON DOMAIN notify_recipient IS 'A mail address, a phone number, or "-" for a webhook: not blank.';
CREATE DOMAIN language_code AS text CHECK (language_code_valid(VALUE));
COMMENT ON DOMAIN language_code IS 'A two-letter ISO 639-1 language code, lower case.';

-- One message to one recipient over one channel. The transaction that
-- changes a ticket writes only who gets what (event, recipient, channel,
-- language, the key); the text is rendered from the templates when the
-- worker claims the row, and stored on it with the result of the first
-- attempt, so every retry sends the same text. outbox_message shows any
-- row as it is or will be sent.
CREATE TABLE outbox (
    tenant_id       integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    outbox_id       bigserial,
    ticket_id       bigint,
    event_id        bigint,             -- the ticket_event that caused it, if any
    event           notify_event NOT NULL,
    channel         notify_channel NOT NULL,
    recipient       notify_recipient NOT NULL,   -- mail address, phone number, or '-' for a webhook
    recipient_name  text,
    agent_id        bigint,             -- the recipient, when an agent
    contact_id      bigint,             -- the recipient, when a contact person
    -- The recipient's language when queued; the text's (the template's) once rendered.
    language        language_code NOT NULL DEFAULT 'en',
    sender_name     text,               -- the mail is sent in this person's name (R41); NULL: chosen when rendered
    thread          text,               -- the ticket reference: subject tag and mail thread
    note            text,               -- {{note}}: the note of the change, e.g. the reason of a rejection
    vars            jsonb,              -- more placeholder values given when queued (enqueue's vars)
    subject         text,               -- the rendered text: NULL until the first attempt is recorded
    body_text       text,
    body_html       text,
    payload         jsonb,              -- the JSON body of an HTTP channel
    -- Stable per row: the Message-ID of a mail, the idempotency key of a POST.
    message_key     uuid NOT NULL DEFAULT message_key_new(),
    status          outbox_status NOT NULL DEFAULT 'queued',
    attempts        integer NOT NULL DEFAULT 0,
    -- When it is due; NULL once sent, dead or cancelled. A claimed row keeps
    -- it and is due again when its lease (leased_until) runs out.
    next_attempt_at timestamptz DEFAULT now(),
    leased_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    PRIMARY KEY (tenant_id, outbox_id),
    UNIQUE (tenant_id, message_key),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    CHECK (body_text IS NOT NULL OR ticket_id IS NOT NULL),
    CHECK (body_text IS NULL OR channel <> 'email' OR subject IS NOT NULL)
) WITH (fillfactor = 45);
-- The worker's claim reads the due rows only: its cost follows the backlog.
-- No index names status, leased_until or attempts, the columns a claim
-- changes, so a claim is a HOT update and writes no index entry, provided
-- the new version fits on the page. A claim takes the rows queued together,
-- so it needs room for a second copy of every row of a page: with the fill
-- factor at 70 only 4 claims in 9 were HOT when many rows were queued at
-- once, at 45 all are. (The result changes indexed columns, next_attempt_at
-- and sent_at, and adds the text: it moves the row in any case.)
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
-- One message per event, channel and recipient, however often it is queued
-- (an event is of one ticket, so naming the ticket first changes nothing of
-- that; a message of no event is never a duplicate, its event_id being
-- NULL). Led by the ticket, the same index finds a ticket's messages (its
-- foreign key's look-ups among them): outbox has no index of the ticket
-- alone, one index entry less for every message queued and recorded. A
-- constraint, not a bare index, so that ON CONFLICT can name it: a column
-- list there would meet notify_queue's parameter ticket_id.
ALTER TABLE outbox ADD CONSTRAINT outbox_event_once UNIQUE (tenant_id, ticket_id, event_id, event, channel, recipient);
-- Retention prunes sent rows by age.
CREATE INDEX outbox_sent_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;
COMMENT ON TABLE outbox IS
    'Durable outbox of notifications (e-mail, SMS, webhook): recipient, status, attempts, next try, last error; the text once sent (outbox_message renders it before).';

-- The text of a notification, per event, channel and language. Rows made by
-- CREATE EXTENSION are seeded; a tenant overrides one by adding its own row
-- for the same event, channel and language.
CREATE TABLE notify_template (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    template_id bigserial,
    event       text NOT NULL CHECK (event ~ '^[a-z_]{1,40}$'),
    channel     text NOT NULL CHECK (channel IN ('email', 'sms')),
    language    text NOT NULL CHECK (language ~ '^[a-z]{2}$'),
    subject     text,               -- e-mail only; the reference tag is added in front
    body_text   text NOT NULL CHECK (body_text ~ '\S'),
    body_html   text,               -- e-mail only; NULL: made from body_text
    seeded      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, template_id),
    UNIQUE (tenant_id, event, channel, language, seeded),
    CHECK (channel <> 'email' OR subject IS NOT NULL)
);
COMMENT ON TABLE notify_template IS
    'Notification texts per event, channel and language, with {{placeholders}}; a tenant row overrides a built-in one.';

-- Which channels an event goes by, per tenant, event and priority (R30).
-- The most specific row wins: an event's own row over event '*', a
-- priority's own row over priority NULL, a tenant's row over a built-in one.
-- channels is what is sent; allowed is what a recipient's own preference
-- may choose from (R09).
CREATE TABLE notify_policy (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    policy_id   bigserial,
    event       text NOT NULL DEFAULT '*' CHECK (event ~ '^([a-z_]{1,40}|\*)$'),
    priority    ticket_priority,
    channels    text[] NOT NULL CHECK (channels <@ ARRAY['email', 'sms'] AND cardinality(channels) > 0),
    allowed     text[] NOT NULL CHECK (allowed <@ ARRAY['email', 'sms']),
    seeded      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, policy_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, event, priority, seeded),
    CHECK (channels <@ allowed)
);
COMMENT ON TABLE notify_policy IS
    'Channel policy per event and priority (R30): the channels sent, and those a recipient''s preference may pick (R09).';

-- A person's own choice of channels (R09). For contacts without a row here,
-- contact.preferred_channel counts ('sms' or 'email'; 'phone' states none).
CREATE TABLE notify_preference (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    preference_id bigserial,
    agent_id      bigint,
    contact_id    bigint,
    channels      text[] NOT NULL CHECK (channels <@ ARRAY['email', 'sms'] AND cardinality(channels) > 0),
    PRIMARY KEY (tenant_id, preference_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, agent_id, contact_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    CHECK (num_nonnulls(agent_id, contact_id) = 1)
);
COMMENT ON TABLE notify_preference IS 'The channels an agent or contact prefers (R09), honoured where the policy allows.';

-- Fills a tenant's default channel policy and notification texts in English,
-- Lithuanian, Polish, Hebrew and Romanian. seed_tenant calls it.
-- Placeholders: {{reference}} {{subject}} {{description}} {{priority}}
-- {{status}} {{center}} {{assignee}} {{requester}} {{recipient}} {{sender}}
-- {{link}} {{deadline}} {{resolution}} {{note}}.
CREATE FUNCTION seed_notify(tenant integer, seeded boolean DEFAULT false) RETURNS void
    LANGUAGE sql AS $seed$
    -- R30: every priority by e-mail; high and urgent also by SMS.
    INSERT INTO ticketdesk.notify_policy (tenant_id, event, priority, channels, allowed, seeded)
    VALUES (seed_notify.tenant, '*', NULL, '{email}', '{email}', seed_notify.seeded),
           (seed_notify.tenant, '*', 'high', '{email,sms}', '{email,sms}', seed_notify.seeded),
           (seed_notify.tenant, '*', 'urgent', '{email,sms}', '{email,sms}', seed_notify.seeded);

    INSERT INTO ticketdesk.notify_template (tenant_id, event, channel, language, subject, body_text, seeded)
    SELECT seed_notify.tenant, t.event, 'email', t.language, t.subject, t.body, seed_notify.seeded
      FROM (VALUES
    -- registered: to the requester, in the name of the handling agent (R05, R41)
    ('registered', 'en', 'Thank you for your request: {{subject}}', $t$Hello {{recipient}},

thank you for your request. We have registered it under the reference {{reference}} and will get back to you as soon as possible.

Subject: {{subject}}
Priority: {{priority}}

You can follow your request here: {{link}}

Kind regards,
{{sender}}$t$),
    ('registered', 'lt', 'Dėkojame už jūsų užklausą: {{subject}}', $t$Laba diena,

dėkojame už jūsų užklausą. Ją užregistravome numeriu {{reference}} ir atsakysime kuo greičiau.

Tema: {{subject}}
Prioritetas: {{priority}}

Užklausos eigą galite stebėti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('registered', 'pl', 'Dziękujemy za zgłoszenie: {{subject}}', $t$Dzień dobry,

dziękujemy za Państwa zgłoszenie. Zarejestrowaliśmy je pod numerem {{reference}} i odpowiemy najszybciej, jak to możliwe.

Temat: {{subject}}
Priorytet: {{priority}}

Postęp zgłoszenia można śledzić tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('registered', 'he', 'תודה על פנייתך: {{subject}}', $t$שלום {{recipient}},

תודה על פנייתך. רשמנו אותה תחת מספר {{reference}} ונחזור אליך בהקדם האפשרי.

נושא: {{subject}}
עדיפות: {{priority}}

אפשר לעקוב אחר הפנייה כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('registered', 'ro', 'Vă mulțumim pentru solicitare: {{subject}}', $t$Bună ziua, {{recipient}},

vă mulțumim pentru solicitare. Am înregistrat-o cu numărul {{reference}} și vă vom răspunde cât mai curând posibil.

Subiect: {{subject}}
Prioritate: {{priority}}

Puteți urmări solicitarea aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- assigned: to the new assignee (R09, R28, R40, R51)
    ('assigned', 'en', 'Assigned to you: {{subject}}', $t$Hello {{recipient}},

ticket {{reference}} has been assigned to you.

Subject: {{subject}}
Priority: {{priority}}
Requester: {{requester}}
Due: {{deadline}}

{{description}}

Please acknowledge or reject it here: {{link}}$t$),
    ('assigned', 'lt', 'Jums priskirta užduotis: {{subject}}', $t$Laba diena,

jums priskirta užklausa {{reference}}.

Tema: {{subject}}
Prioritetas: {{priority}}
Užsakovas: {{requester}}
Terminas: {{deadline}}

{{description}}

Patvirtinkite arba atmeskite ją čia: {{link}}$t$),
    ('assigned', 'pl', 'Przydzielono Ci zgłoszenie: {{subject}}', $t$Dzień dobry,

przydzielono Ci zgłoszenie {{reference}}.

Temat: {{subject}}
Priorytet: {{priority}}
Zgłaszający: {{requester}}
Termin: {{deadline}}

{{description}}

Potwierdź lub odrzuć je tutaj: {{link}}$t$),
    ('assigned', 'he', 'הוקצתה לך פנייה: {{subject}}', $t$שלום {{recipient}},

הפנייה {{reference}} הוקצתה לך.

נושא: {{subject}}
עדיפות: {{priority}}
פונה: {{requester}}
מועד יעד: {{deadline}}

{{description}}

נא לאשר או לדחות אותה כאן: {{link}}$t$),
    ('assigned', 'ro', 'V-a fost atribuită o solicitare: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea {{reference}} v-a fost atribuită.

Subiect: {{subject}}
Prioritate: {{priority}}
Solicitant: {{requester}}
Termen: {{deadline}}

{{description}}

Vă rugăm să o confirmați sau să o refuzați aici: {{link}}$t$),

    -- handler_assigned: to the requester, when someone takes the request (R05)
    ('handler_assigned', 'en', 'Your request is being handled: {{subject}}', $t$Hello {{recipient}},

your request {{reference}} has been assigned to {{assignee}}, who will take care of it.

You can follow your request here: {{link}}

Kind regards,
{{sender}}$t$),
    ('handler_assigned', 'lt', 'Jūsų užklausa perduota vykdyti: {{subject}}', $t$Laba diena,

jūsų užklausą {{reference}} perėmė {{assignee}}, kuris ja pasirūpins.

Užklausos eigą galite stebėti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('handler_assigned', 'pl', 'Zajmujemy się Państwa zgłoszeniem: {{subject}}', $t$Dzień dobry,

Państwa zgłoszenie {{reference}} zostało przekazane do realizacji. Zajmie się nim {{assignee}}.

Postęp zgłoszenia można śledzić tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('handler_assigned', 'he', 'פנייתך בטיפול: {{subject}}', $t$שלום {{recipient}},

פנייתך {{reference}} הועברה לטיפולו של {{assignee}}.

אפשר לעקוב אחר הפנייה כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('handler_assigned', 'ro', 'Solicitarea dumneavoastră este în lucru: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea dumneavoastră {{reference}} a fost preluată de {{assignee}}, care se va ocupa de ea.

Puteți urmări solicitarea aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- acknowledged: to the requester, the assignee confirmed (R10)
    ('acknowledged', 'en', 'Your request has been accepted: {{subject}}', $t$Hello {{recipient}},

{{assignee}} has accepted your request {{reference}} and will start work on it.

You can follow your request here: {{link}}

Kind regards,
{{sender}}$t$),
    ('acknowledged', 'lt', 'Jūsų užklausa priimta: {{subject}}', $t$Laba diena,

{{assignee}} priėmė jūsų užklausą {{reference}} ir netrukus pradės darbą.

Užklausos eigą galite stebėti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('acknowledged', 'pl', 'Państwa zgłoszenie zostało przyjęte: {{subject}}', $t$Dzień dobry,

{{assignee}} przyjął(-ęła) Państwa zgłoszenie {{reference}} i wkrótce rozpocznie pracę.

Postęp zgłoszenia można śledzić tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('acknowledged', 'he', 'פנייתך התקבלה לטיפול: {{subject}}', $t$שלום {{recipient}},

{{assignee}} אישר/ה את קבלת פנייתך {{reference}} ויתחיל/תתחיל לטפל בה בקרוב.

אפשר לעקוב אחר הפנייה כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('acknowledged', 'ro', 'Solicitarea dumneavoastră a fost acceptată: {{subject}}', $t$Bună ziua, {{recipient}},

{{assignee}} a acceptat solicitarea dumneavoastră {{reference}} și va începe lucrul în curând.

Puteți urmări solicitarea aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- rejected: to the centre's dispatchers, the assignee gave it back (R51)
    ('rejected', 'en', 'Assignment rejected: {{subject}}', $t$Hello {{recipient}},

{{sender}} has rejected ticket {{reference}}. It is back in the queue of {{center}} and needs a new assignee.

Reason: {{note}}

Open the ticket: {{link}}$t$),
    ('rejected', 'lt', 'Užduotis atmesta: {{subject}}', $t$Laba diena,

{{sender}} atmetė užklausą {{reference}}. Ji grąžinta į padalinio „{{center}}“ eilę, ir jai reikia paskirti naują vykdytoją.

Priežastis: {{note}}

Atverti užklausą: {{link}}$t$),
    ('rejected', 'pl', 'Odrzucono przydział: {{subject}}', $t$Dzień dobry,

{{sender}} odrzucił(-a) zgłoszenie {{reference}}. Wróciło ono do kolejki zespołu „{{center}}” i wymaga przydzielenia nowej osoby.

Powód: {{note}}

Otwórz zgłoszenie: {{link}}$t$),
    ('rejected', 'he', 'ההקצאה נדחתה: {{subject}}', $t$שלום {{recipient}},

{{sender}} דחה/דחתה את הפנייה {{reference}}. הפנייה חזרה לתור של {{center}} וצריך להקצות לה מטפל חדש.

סיבה: {{note}}

לפתיחת הפנייה: {{link}}$t$),
    ('rejected', 'ro', 'Atribuire refuzată: {{subject}}', $t$Bună ziua, {{recipient}},

{{sender}} a refuzat solicitarea {{reference}}. Aceasta a revenit în coada echipei {{center}} și trebuie atribuită altcuiva.

Motiv: {{note}}

Deschideți solicitarea: {{link}}$t$),

    -- resolved: to the requester and the watchers (R05)
    ('resolved', 'en', 'Resolved: {{subject}}', $t$Hello {{recipient}},

request {{reference}} has been resolved.

Resolution: {{resolution}}

If the problem persists, you can reopen the request here: {{link}}

Kind regards,
{{sender}}$t$),
    ('resolved', 'lt', 'Išspręsta: {{subject}}', $t$Laba diena,

užklausa {{reference}} išspręsta.

Sprendimas: {{resolution}}

Jei problema neišnyko, užklausą galite vėl atverti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('resolved', 'pl', 'Rozwiązano: {{subject}}', $t$Dzień dobry,

zgłoszenie {{reference}} zostało rozwiązane.

Rozwiązanie: {{resolution}}

Jeśli problem nadal występuje, można ponownie otworzyć zgłoszenie tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('resolved', 'he', 'הפנייה טופלה: {{subject}}', $t$שלום {{recipient}},

הפנייה {{reference}} טופלה.

פתרון: {{resolution}}

אם הבעיה עדיין קיימת, אפשר לפתוח את הפנייה מחדש כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('resolved', 'ro', 'Rezolvată: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea {{reference}} a fost rezolvată.

Soluție: {{resolution}}

Dacă problema persistă, puteți redeschide solicitarea aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- confirmed: to the assignee, the requester accepted the resolution
    ('confirmed', 'en', 'Resolution confirmed: {{subject}}', $t$Hello {{recipient}},

the requester has confirmed the resolution of ticket {{reference}}.

{{note}}

Open the ticket: {{link}}$t$),
    ('confirmed', 'lt', 'Sprendimas patvirtintas: {{subject}}', $t$Laba diena,

užsakovas patvirtino užklausos {{reference}} sprendimą.

{{note}}

Atverti užklausą: {{link}}$t$),
    ('confirmed', 'pl', 'Rozwiązanie potwierdzone: {{subject}}', $t$Dzień dobry,

zgłaszający potwierdził rozwiązanie zgłoszenia {{reference}}.

{{note}}

Otwórz zgłoszenie: {{link}}$t$),
    ('confirmed', 'he', 'הפתרון אושר: {{subject}}', $t$שלום {{recipient}},

הפונה אישר/ה את הפתרון של הפנייה {{reference}}.

{{note}}

לפתיחת הפנייה: {{link}}$t$),
    ('confirmed', 'ro', 'Soluție confirmată: {{subject}}', $t$Bună ziua, {{recipient}},

solicitantul a confirmat soluția pentru solicitarea {{reference}}.

{{note}}

Deschideți solicitarea: {{link}}$t$),

    -- closed: to the requester and the watchers
    ('closed', 'en', 'Closed: {{subject}}', $t$Hello {{recipient}},

request {{reference}} is now closed. Thank you for working with us.

You can still read it here: {{link}}

Kind regards,
{{sender}}$t$),
    ('closed', 'lt', 'Uždaryta: {{subject}}', $t$Laba diena,

užklausa {{reference}} uždaryta. Dėkojame, kad kreipėtės.

Ją vis dar galite peržiūrėti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('closed', 'pl', 'Zamknięto: {{subject}}', $t$Dzień dobry,

zgłoszenie {{reference}} zostało zamknięte. Dziękujemy za kontakt.

Nadal można je przejrzeć tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('closed', 'he', 'הפנייה נסגרה: {{subject}}', $t$שלום {{recipient}},

הפנייה {{reference}} נסגרה. תודה שפנית אלינו.

אפשר עדיין לעיין בה כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('closed', 'ro', 'Închisă: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea {{reference}} a fost închisă. Vă mulțumim că ne-ați contactat.

O puteți consulta în continuare aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- cancelled: to the requester, the assignee and the watchers
    ('cancelled', 'en', 'Cancelled: {{subject}}', $t$Hello {{recipient}},

request {{reference}} has been cancelled.

Reason: {{note}}

Details: {{link}}

Kind regards,
{{sender}}$t$),
    ('cancelled', 'lt', 'Atšaukta: {{subject}}', $t$Laba diena,

užklausa {{reference}} atšaukta.

Priežastis: {{note}}

Išsamiau: {{link}}

Pagarbiai
{{sender}}$t$),
    ('cancelled', 'pl', 'Anulowano: {{subject}}', $t$Dzień dobry,

zgłoszenie {{reference}} zostało anulowane.

Powód: {{note}}

Szczegóły: {{link}}

Z poważaniem
{{sender}}$t$),
    ('cancelled', 'he', 'הפנייה בוטלה: {{subject}}', $t$שלום {{recipient}},

הפנייה {{reference}} בוטלה.

סיבה: {{note}}

פרטים: {{link}}

בברכה,
{{sender}}$t$),
    ('cancelled', 'ro', 'Anulată: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea {{reference}} a fost anulată.

Motiv: {{note}}

Detalii: {{link}}

Cu stimă,
{{sender}}$t$)
      ) AS t(event, language, subject, body);

    -- SMS: one short line per event; the link makes it useful on a phone (R08, R29).
    INSERT INTO ticketdesk.notify_template (tenant_id, event, channel, language, body_text, seeded)
    SELECT seed_notify.tenant, t.event, 'sms', t.language, t.body, seed_notify.seeded
      FROM (VALUES
        ('assigned', 'en', '{{reference}} assigned to you ({{priority}}): {{subject}} {{link}}'),
        ('assigned', 'lt', '{{reference}} priskirta jums ({{priority}}): {{subject}} {{link}}'),
        ('assigned', 'pl', '{{reference}} przydzielono Ci ({{priority}}): {{subject}} {{link}}'),
        ('assigned', 'he', '{{reference}} הוקצתה לך ({{priority}}): {{subject}} {{link}}'),
        ('assigned', 'ro', '{{reference}} v-a fost atribuită ({{priority}}): {{subject}} {{link}}')
      ) AS t(event, language, body);
$seed$;
COMMENT ON FUNCTION seed_notify(integer, boolean) IS
    'Internal: fills a tenant''s default channel policy and notification texts (seed_tenant calls it).';
-- Business calendars: working hours per weekday (split hours make a lunch
-- break), holidays, a time zone; the C arithmetic over them (src/bizcal.c).

-- A working calendar. A centre uses its own (center_calendar), else its
-- parent's, else the tenant's default calendar, else none: around the clock.
CREATE TABLE calendar (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    calendar_id bigserial,
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    time_zone   text NOT NULL DEFAULT 'UTC',
    is_default  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, calendar_id),
    UNIQUE (tenant_id, code)
);
CREATE UNIQUE INDEX calendar_one_default ON calendar (tenant_id) WHERE is_default;
COMMENT ON TABLE calendar IS 'Business calendars: working hours, holidays and a time zone (R22).';

-- Working periods: several rows for one weekday split the day (lunch break).
CREATE TABLE calendar_hours (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    calendar_id bigint NOT NULL,
    weekday     smallint NOT NULL,      -- ISO: 1 = Monday ... 7 = Sunday
    starts      time NOT NULL,
    ends        time NOT NULL,          -- 24:00 for the end of the day
    PRIMARY KEY (tenant_id, calendar_id, weekday, starts),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendar ON DELETE CASCADE
);
COMMENT ON TABLE calendar_hours IS 'Working periods per ISO weekday, in local wall-clock time of the calendar.';

-- Days off: one-off dates, or dates repeating every year (yearly: month and day count).
CREATE TABLE calendar_holiday (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    calendar_id bigint NOT NULL,
    day         date NOT NULL,
    yearly      boolean NOT NULL DEFAULT false,
    name        text,
    PRIMARY KEY (tenant_id, calendar_id, day),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendar ON DELETE CASCADE
);
COMMENT ON TABLE calendar_holiday IS 'Holidays of a calendar; yearly ones repeat on the same month and day.';

-- The calendar a centre (and the centres below it) works by.
CREATE TABLE center_calendar (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    center_id   bigint NOT NULL,
    calendar_id bigint NOT NULL,
    PRIMARY KEY (tenant_id, center_id),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendar ON DELETE CASCADE
);
COMMENT ON TABLE center_calendar IS 'The calendar of a centre; centres without one inherit their parent''s.';

-- True when PostgreSQL knows a time zone by this name.
CREATE FUNCTION is_time_zone(name text) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_is_time_zone';
COMMENT ON FUNCTION is_time_zone(text) IS 'True when PostgreSQL knows a time zone by this name (e.g. Europe/Vilnius).';

-- A calendar's zone must be one PostgreSQL knows by name.
CREATE FUNCTION calendar_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT coalesce(ticketdesk.is_time_zone(NEW.time_zone), false) THEN
        RAISE EXCEPTION 'time zone "%" is not recognised', NEW.time_zone
            USING ERRCODE = 'TD603',
                  HINT = 'Use a named zone from pg_timezone_names, such as Europe/Vilnius or UTC.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER calendar_check BEFORE INSERT OR UPDATE OF time_zone ON calendar
    FOR EACH ROW EXECUTE FUNCTION calendar_check();

-- A working period lies within one day, ends after it starts, and overlaps no other.
CREATE FUNCTION calendar_hours_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.weekday NOT BETWEEN 1 AND 7 OR NEW.ends <= NEW.starts THEN
        RAISE EXCEPTION 'invalid working period % %-%', NEW.weekday, NEW.starts, NEW.ends
            USING ERRCODE = 'TD602',
                  DETAIL = 'The weekday is 1 (Monday) to 7 (Sunday) and a period ends after it starts, at 24:00 at the latest.',
                  HINT = 'A period past midnight is two periods: one until 24:00 and one from 00:00 the next day.';
    END IF;
    IF EXISTS (SELECT 1 FROM ticketdesk.calendar_hours h
                WHERE h.tenant_id = NEW.tenant_id AND h.calendar_id = NEW.calendar_id
                  AND h.weekday = NEW.weekday AND h.starts < NEW.ends AND NEW.starts < h.ends
                  AND (TG_OP = 'INSERT' OR (h.weekday, h.starts) <> (OLD.weekday, OLD.starts))) THEN
        RAISE EXCEPTION 'working period % %-% overlaps another period of the same day', NEW.weekday, NEW.starts, NEW.ends
            USING ERRCODE = 'TD602',
                  HINT = 'Give each working period of a day once; a break is the gap between two periods.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER calendar_hours_check BEFORE INSERT OR UPDATE ON calendar_hours
    FOR EACH ROW EXECUTE FUNCTION calendar_hours_check();

-- At commit, every calendar touched has some working time: one with none
-- would make every deadline unreachable.
CREATE FUNCTION calendar_working_time_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    cal bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.calendar_id ELSE NEW.calendar_id END;
    ten integer := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
    IF EXISTS (SELECT 1 FROM ticketdesk.calendar c WHERE c.tenant_id = ten AND c.calendar_id = cal)
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.calendar_hours h
                        WHERE h.tenant_id = ten AND h.calendar_id = cal) THEN
        RAISE EXCEPTION 'calendar % has no working time', cal
            USING ERRCODE = 'TD601',
                  DETAIL = 'A calendar needs at least one working period, or no deadline could ever be reached.',
                  HINT = 'Give working hours, e.g. create_calendar(code, name, zone, ''mon-fri 09:00-17:00'').';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER calendar_has_working_time AFTER INSERT ON calendar
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION calendar_working_time_check();
CREATE CONSTRAINT TRIGGER calendar_keeps_working_time AFTER UPDATE OR DELETE ON calendar_hours
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION calendar_working_time_check();

-- Business-time arithmetic in C. A NULL calendar counts around the clock.
CREATE FUNCTION business_add(calendar_id bigint, at timestamptz, amount interval) RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_business_add';
COMMENT ON FUNCTION business_add(bigint, timestamptz, interval) IS
    'The instant at which amount (hours, minutes, seconds) of working time has passed after at.';

CREATE FUNCTION business_add_days(calendar_id bigint, at timestamptz, days integer) RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_business_add_days';
COMMENT ON FUNCTION business_add_days(bigint, timestamptz, integer) IS
    'The instant days working days after at, at the same local time (from the next working instant when at is outside working time).';

CREATE FUNCTION business_between(calendar_id bigint, from_at timestamptz, to_at timestamptz) RETURNS interval
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_business_between';
COMMENT ON FUNCTION business_between(bigint, timestamptz, timestamptz) IS
    'The working time between two instants (negative when to_at is before from_at).';

-- The calendar of a centre: its own, its nearest ancestor's, the tenant's
-- default, or NULL (around the clock).
CREATE FUNCTION calendar_of_center(center_id bigint) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH RECURSIVE up(center_id, parent_id, depth) AS (
        SELECT c.center_id, c.parent_id, 0 FROM ticketdesk.center c
         WHERE c.tenant_id = ticketdesk.current_tenant() AND c.center_id = $1
        UNION ALL
        SELECT c.center_id, c.parent_id, up.depth + 1 FROM ticketdesk.center c JOIN up
            ON c.tenant_id = ticketdesk.current_tenant() AND c.center_id = up.parent_id
         WHERE up.depth < 100
    )
    SELECT coalesce(
        (SELECT cc.calendar_id FROM up JOIN ticketdesk.center_calendar cc
             ON cc.tenant_id = ticketdesk.current_tenant() AND cc.center_id = up.center_id
          ORDER BY up.depth LIMIT 1),
        (SELECT c.calendar_id FROM ticketdesk.calendar c
          WHERE c.tenant_id = ticketdesk.current_tenant() AND c.is_default))
$$;
COMMENT ON FUNCTION calendar_of_center(bigint) IS
    'The calendar a centre works by: its own, an ancestor''s, the tenant default, or NULL (around the clock).';
-- SLA targets: per centre, ticket type and priority, in business time.

-- Targets for the first response and for the resolution. A NULL centre, type
-- or priority matches any; the most specific row wins (centre, then type,
-- then priority).
CREATE TABLE sla_target (
    tenant_id      integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    sla_target_id  bigserial,
    center_id      bigint,
    type_id        bigint,
    priority       ticket_priority,
    first_response interval NOT NULL,
    resolution     interval NOT NULL,
    PRIMARY KEY (tenant_id, sla_target_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, center_id, type_id, priority),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type ON DELETE CASCADE
);
COMMENT ON TABLE sla_target IS 'SLA targets in business time per centre, type and priority; NULL matches any.';

-- A target is a positive amount of working time, in hours and minutes.
CREATE FUNCTION sla_target_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.first_response <= interval '0' OR NEW.resolution <= interval '0' THEN
        RAISE EXCEPTION 'an SLA target must be positive'
            USING ERRCODE = 'TD610',
                  DETAIL = format('The first response target is %s and the resolution target is %s.',
                                  NEW.first_response, NEW.resolution),
                  HINT = 'Give both targets as working time greater than zero, e.g. 4 hours.';
    END IF;
    IF extract(day FROM NEW.first_response) <> 0 OR extract(month FROM NEW.first_response) <> 0
       OR extract(day FROM NEW.resolution) <> 0 OR extract(month FROM NEW.resolution) <> 0 THEN
        RAISE EXCEPTION 'an SLA target is working time in hours and minutes'
            USING ERRCODE = 'TD604',
                  DETAIL = format('The targets are %s and %s.', NEW.first_response, NEW.resolution),
                  HINT = 'A business day is not 24 hours: write 3 working days of 8 hours as 24 hours.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sla_target_check BEFORE INSERT OR UPDATE ON sla_target
    FOR EACH ROW EXECUTE FUNCTION sla_target_check();
-- Work time (R11, R25): time entries per sitting, their confirmation by the
-- requester and correction by the dispatcher, and the per-tenant settings of
-- time accounting and billing.

-- The kinds of work a time entry records; each can have its own rate.
CREATE TYPE work_type AS ENUM ('normal', 'travel', 'after_hours');

-- A tenant's settings for approval, rounding and billing. A tenant without a
-- row uses the column defaults (work_settings() returns them).
CREATE TABLE work_setting (
    tenant_id           integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    -- Billed minutes of an entry: rounded up to a multiple of this ...
    rounding_minutes    integer NOT NULL DEFAULT 1 CHECK (rounding_minutes BETWEEN 1 AND 1440),
    -- ... and never less than this.
    minimum_minutes     integer NOT NULL DEFAULT 0 CHECK (minimum_minutes BETWEEN 0 AND 1440),
    -- May an agent approve a ticket they worked on (R13)?
    allow_self_approval boolean NOT NULL DEFAULT false,
    currency            text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE work_setting IS
    'Per-tenant settings of time accounting and billing: rounding, minimum increment, self-approval, currency.';

-- One sitting of one agent on one ticket (R11). A running timer has no end
-- yet: its period is [start, infinity).
CREATE TABLE time_entry (
    tenant_id         integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    entry_id          bigserial,
    ticket_id         bigint NOT NULL,
    agent_id          bigint NOT NULL,
    work_type         work_type NOT NULL DEFAULT 'normal',
    period            tstzrange NOT NULL,
    note              text,
    -- Whole minutes of a finished entry; null while the timer runs.
    minutes           integer GENERATED ALWAYS AS (
                          CASE WHEN NOT upper_inf(period)
                               THEN round(extract(epoch FROM upper(period) - lower(period)) / 60)::integer
                          END) STORED,
    -- The requester's confirmation (R25).
    confirmed_at      timestamptz,
    confirmed_by      text,
    -- The dispatcher's correction (R25): the first recorded values are kept
    -- here, every correction is also in the ticket's history.
    original_period   tstzrange,
    original_type     work_type,
    corrected_at      timestamptz,
    corrected_by      bigint,
    correction_reason text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, entry_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, corrected_by) REFERENCES agent,
    CHECK (NOT isempty(period) AND NOT lower_inf(period)),
    -- One agent cannot be in two places at once: no two periods of the same
    -- agent overlap, a running timer included. This is the mechanism that
    -- holds under concurrency; the trigger below only explains refusals.
    CONSTRAINT time_entry_no_overlap EXCLUDE USING gist (
        int4range(tenant_id, tenant_id, '[]') WITH =,
        int8range(agent_id, agent_id, '[]') WITH =,
        period WITH &&)
);
CREATE INDEX time_entry_ticket_idx ON time_entry (tenant_id, ticket_id);
CREATE INDEX time_entry_running_idx ON time_entry (tenant_id, agent_id) WHERE upper_inf(period);
COMMENT ON TABLE time_entry IS
    'Time per sitting (R11): timers and after-the-fact periods, confirmed by the requester, corrected by the dispatcher (R25).';

-- The period of an entry in words, for the history and the act.
CREATE FUNCTION period_text(period tstzrange) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT to_char(lower(period), 'YYYY-MM-DD HH24:MI') || ' - ' ||
           CASE WHEN upper_inf(period) THEN '…'
                WHEN lower(period)::date = upper(period)::date THEN to_char(upper(period), 'HH24:MI')
                ELSE to_char(upper(period), 'YYYY-MM-DD HH24:MI') END
$$;
COMMENT ON FUNCTION period_text(tstzrange) IS
    'A period as "YYYY-MM-DD HH:MI - HH:MI" in the session time zone.';

-- Refuses bad periods, time on finished tickets and overlaps, whichever way
-- the row arrives (API or plain SQL), each with its own SQLSTATE.
CREATE FUNCTION time_entry_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ticket_status ticketdesk.ticket_status;
    ticket_ref    text;
    other         ticketdesk.time_entry;
BEGIN
    IF NEW.period IS NULL OR lower_inf(NEW.period) OR isempty(NEW.period) THEN
        RAISE EXCEPTION 'a time entry must end after it starts'
            USING ERRCODE = 'TD560',
                  DETAIL = format('The period is %s.', coalesce(NEW.period::text, 'missing')),
                  HINT = 'Give the start and then a later end; a running timer has no end yet.';
    END IF;

    SELECT k.status, k.reference INTO ticket_status, ticket_ref FROM ticketdesk.ticket k
     WHERE k.tenant_id = NEW.tenant_id AND k.ticket_id = NEW.ticket_id;
    -- Time is recorded on live tickets. A correction (corrected_at changes)
    -- and stopping a running timer stay possible afterwards.
    -- Confirming or billing an entry changes none of its time.
    IF ticket_status IN ('closed', 'cancelled')
       AND (TG_OP = 'INSERT'
            OR ((NEW.period, NEW.work_type, NEW.ticket_id, NEW.agent_id)
                    IS DISTINCT FROM (OLD.period, OLD.work_type, OLD.ticket_id, OLD.agent_id)
                AND NEW.corrected_at IS NOT DISTINCT FROM OLD.corrected_at
                AND NOT (upper_inf(OLD.period) AND lower(OLD.period) = lower(NEW.period)
                         AND NEW.work_type = OLD.work_type))) THEN
        RAISE EXCEPTION 'ticket % is %: no more time can be recorded on it', ticket_ref, ticket_status
            USING ERRCODE = 'TD562',
                  DETAIL = format('Entry period %s, agent %s.', ticketdesk.period_text(NEW.period), NEW.agent_id),
                  HINT = 'Reopen the ticket, or have the dispatcher correct an existing entry with ticketdesk.correct_time.';
    END IF;

    IF TG_OP = 'INSERT' OR NEW.period IS DISTINCT FROM OLD.period OR NEW.agent_id IS DISTINCT FROM OLD.agent_id THEN
        -- Written as the exclusion constraint's expressions, so its index serves it.
        SELECT * INTO other FROM ticketdesk.time_entry e
         WHERE int4range(e.tenant_id, e.tenant_id, '[]') = int4range(NEW.tenant_id, NEW.tenant_id, '[]')
           AND int8range(e.agent_id, e.agent_id, '[]') = int8range(NEW.agent_id, NEW.agent_id, '[]')
           AND e.period && NEW.period AND e.tenant_id = NEW.tenant_id
           AND e.entry_id IS DISTINCT FROM NEW.entry_id
         ORDER BY lower(e.period) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'agent % already has time recorded in this period', NEW.agent_id
                USING ERRCODE = 'TD561',
                      DETAIL = format('The period %s overlaps entry %s (%s%s) on ticket %s.',
                                      ticketdesk.period_text(NEW.period), other.entry_id,
                                      ticketdesk.period_text(other.period),
                                      CASE WHEN upper_inf(other.period) THEN ', a running timer' ELSE '' END,
                                      other.ticket_id),
                      HINT = 'Stop the running timer first, or record a period that does not overlap.';
        END IF;
    END IF;
    RETURN NEW;
END $$;
-- Confirming and billing (updates of other columns) do not fire it.
CREATE TRIGGER time_entry_check BEFORE INSERT OR UPDATE OF period, work_type, ticket_id, agent_id ON time_entry
    FOR EACH ROW EXECUTE FUNCTION time_entry_check();

-- Time per ticket: finished minutes, confirmed minutes, running timers.
CREATE VIEW time_by_ticket WITH (security_invoker = true) AS
SELECT e.tenant_id, e.ticket_id, k.reference, k.customer_id,
       count(*) FILTER (WHERE e.minutes IS NOT NULL) AS entries,
       coalesce(sum(e.minutes), 0) AS minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.work_type = 'normal'), 0) AS normal_minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.work_type = 'travel'), 0) AS travel_minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.work_type = 'after_hours'), 0) AS after_hours_minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.confirmed_at IS NOT NULL), 0) AS confirmed_minutes,
       count(*) FILTER (WHERE e.original_period IS NOT NULL) AS corrected_entries,
       count(*) FILTER (WHERE e.minutes IS NULL) AS running_timers
  FROM time_entry e
  JOIN ticket k ON k.tenant_id = e.tenant_id AND k.ticket_id = e.ticket_id
 WHERE e.tenant_id = current_tenant()
 GROUP BY e.tenant_id, e.ticket_id, k.reference, k.customer_id;
COMMENT ON VIEW time_by_ticket IS 'Recorded time per ticket (finished entries), by work type, confirmed, corrected and running.';

-- Time per agent, month (of the entry's start) and work type.
CREATE VIEW time_by_agent WITH (security_invoker = true) AS
SELECT e.tenant_id, e.agent_id, a.name AS agent, date_trunc('month', lower(e.period))::date AS month,
       e.work_type, count(*) AS entries, sum(e.minutes) AS minutes
  FROM time_entry e
  JOIN agent a ON a.tenant_id = e.tenant_id AND a.agent_id = e.agent_id
 WHERE e.tenant_id = current_tenant() AND e.minutes IS NOT NULL
 GROUP BY e.tenant_id, e.agent_id, a.name, 4, e.work_type;
COMMENT ON VIEW time_by_agent IS 'Finished time per agent, month and work type.';

-- Time per customer, month and work type.
CREATE VIEW time_by_customer WITH (security_invoker = true) AS
SELECT e.tenant_id, k.customer_id, c.name AS customer, date_trunc('month', lower(e.period))::date AS month,
       e.work_type, count(DISTINCT e.ticket_id) AS tickets, count(*) AS entries, sum(e.minutes) AS minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.confirmed_at IS NOT NULL), 0) AS confirmed_minutes
  FROM time_entry e
  JOIN ticket k ON k.tenant_id = e.tenant_id AND k.ticket_id = e.ticket_id
  LEFT JOIN customer c ON c.tenant_id = k.tenant_id AND c.customer_id = k.customer_id
 WHERE e.tenant_id = current_tenant() AND e.minutes IS NOT NULL
 GROUP BY e.tenant_id, k.customer_id, c.name, 4, e.work_type;
COMMENT ON VIEW time_by_customer IS 'Finished time per customer, month and work type (customer null: internal requesters).';
-- Checklists and approval (R13): templates per ticket type copied onto each
-- new ticket, the manager's approval, and the record of every gate bypass.
-- The gates themselves are checked by the lifecycle trigger (src/checklist.c).

-- The items every new ticket of a type starts with.
CREATE TABLE checklist_template (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    template_id bigserial,
    type_id     bigint NOT NULL,
    position    integer NOT NULL DEFAULT 0,
    title       text NOT NULL CHECK (title ~ '\S'),
    required    boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, template_id),
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type
);
CREATE INDEX checklist_template_type_idx ON checklist_template (tenant_id, type_id, position);
COMMENT ON TABLE checklist_template IS 'Checklist items copied onto each new ticket of a type (R13).';

-- A ticket's checklist: copied from the template, or added by hand.
CREATE TABLE checklist_item (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    item_id     bigserial,
    ticket_id   bigint NOT NULL,
    position    integer NOT NULL DEFAULT 0,
    title       text NOT NULL CHECK (title ~ '\S'),
    required    boolean NOT NULL DEFAULT true,
    template_id bigint,                 -- the template item it was copied from
    done_at     timestamptz,
    done_by     bigint,
    added_by    bigint,
    PRIMARY KEY (tenant_id, item_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, template_id) REFERENCES checklist_template ON DELETE SET NULL (template_id),
    FOREIGN KEY (tenant_id, done_by) REFERENCES agent,
    FOREIGN KEY (tenant_id, added_by) REFERENCES agent
);
CREATE INDEX checklist_item_open_idx ON checklist_item (tenant_id, ticket_id, position)
    WHERE done_at IS NULL AND required;
COMMENT ON TABLE checklist_item IS 'The checklist of a ticket; open required items block resolving it (R13).';

-- Ticket types whose completed work a manager must approve (R13).
CREATE TABLE approval_policy (
    tenant_id         integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    type_id           bigint NOT NULL,
    requires_approval boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, type_id),
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type
);
COMMENT ON TABLE approval_policy IS 'Ticket types that need a manager''s approval before the work counts as completed.';

-- Every approval decision, append-only. resolved_at names the resolution
-- decided on: reopening and resolving again needs a new approval.
CREATE TABLE approval (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    approval_id bigserial,
    ticket_id   bigint NOT NULL,
    resolved_at timestamptz NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('approved', 'sent_back')),
    reason      text,
    decided_by  bigint NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, approval_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, decided_by) REFERENCES agent,
    CHECK (decision = 'approved' OR reason ~ '\S')
);
CREATE INDEX approval_ticket_idx ON approval (tenant_id, ticket_id, approval_id);
COMMENT ON TABLE approval IS 'Managers'' approvals and send-backs of resolved work (R13), append-only.';

-- Each time an administrator let a ticket past a gate: who, when, why, and
-- what was open. Append-only.
CREATE TABLE gate_bypass (
    tenant_id        integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    bypass_id        bigserial,
    ticket_id        bigint NOT NULL,
    from_status      ticket_status NOT NULL,
    to_status        ticket_status NOT NULL,
    reason           text NOT NULL CHECK (reason ~ '\S'),
    open_items       text[] NOT NULL DEFAULT '{}',
    approval_missing boolean NOT NULL DEFAULT false,
    by_role          name NOT NULL DEFAULT current_user,
    by_agent         bigint,
    at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, bypass_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, by_agent) REFERENCES agent
);
CREATE INDEX gate_bypass_ticket_idx ON gate_bypass (tenant_id, ticket_id);
COMMENT ON TABLE gate_bypass IS 'Recorded gate bypasses by administrators: who, when, why, which items were open (R13).';

-- The administrators' role. Until the roles issue lands, "administrator"
-- means: a member of ticketdesk_admin (superusers are members of every role).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'ticketdesk_admin') THEN
        CREATE ROLE ticketdesk_admin NOLOGIN;
    END IF;
END $$;

-- True when the current role may bypass gates.
CREATE FUNCTION is_admin() RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.pg_has_role(current_user, 'ticketdesk_admin', 'MEMBER')
$$;
COMMENT ON FUNCTION is_admin() IS
    'True when current_user is a member of role ticketdesk_admin (or a superuser): it may bypass gates.';

-- Only administrators write bypass records, by API or plain INSERT; nobody
-- changes or deletes them (forbid_history_change, as for the ticket history).
CREATE FUNCTION gate_bypass_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ticketdesk.is_admin() THEN
        RAISE EXCEPTION 'only an administrator may bypass a gate'
            USING ERRCODE = 'TD575',
                  DETAIL = format('Role %s is not a member of ticketdesk_admin.', current_user),
                  HINT = 'Complete the checklist or obtain the approval, or ask an administrator.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER gate_bypass_guard BEFORE INSERT ON gate_bypass
    FOR EACH ROW EXECUTE FUNCTION gate_bypass_guard();
CREATE TRIGGER gate_bypass_append_only BEFORE UPDATE OR DELETE ON gate_bypass
    FOR EACH ROW EXECUTE FUNCTION forbid_history_change();
CREATE TRIGGER gate_bypass_no_truncate BEFORE TRUNCATE ON gate_bypass
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_history_change();
CREATE TRIGGER approval_append_only BEFORE UPDATE OR DELETE ON approval
    FOR EACH ROW EXECUTE FUNCTION forbid_history_change();
CREATE TRIGGER approval_no_truncate BEFORE TRUNCATE ON approval
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_history_change();

-- A checklist change takes a share lock on its ticket, whichever way it
-- comes. A resolve of the same ticket then waits for it (and the gate sees
-- it), or it waits for the resolve: the gate is never passed on a stale list.
CREATE FUNCTION checklist_item_lock() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    item ticketdesk.checklist_item := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM 1 FROM ticketdesk.ticket k
     WHERE k.tenant_id = item.tenant_id AND k.ticket_id = item.ticket_id FOR SHARE;
    RETURN item;
END $$;
CREATE TRIGGER checklist_item_lock BEFORE INSERT OR UPDATE OR DELETE ON checklist_item
    FOR EACH ROW EXECUTE FUNCTION checklist_item_lock();

-- Copies the type's checklist template onto a new ticket. Most types have
-- none: a probe of the template's index in C (src/checklist_copy.c) costs
-- less than a PL/pgSQL call with an EXISTS statement for every opening;
-- only when a template may exist does the INSERT ... SELECT run, as the
-- caller.
CREATE FUNCTION ticket_checklist_copy() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_ticket_checklist_copy';
CREATE TRIGGER ticket_checklist_copy AFTER INSERT ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_checklist_copy();

-- True when the latest decision on this resolution is an approval.
CREATE FUNCTION ticket_approved(tenant integer, ticket bigint, resolved timestamptz) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT a.decision = 'approved' FROM ticketdesk.approval a
                      WHERE a.tenant_id = tenant AND a.ticket_id = ticket AND a.resolved_at = resolved
                      ORDER BY a.approval_id DESC LIMIT 1), false)
$$;
COMMENT ON FUNCTION ticket_approved(integer, bigint, timestamptz) IS
    'True when a manager approved the ticket''s resolution of this time (the latest decision on it).';

-- Whether each ticket's work counts as completed (R13, R14): it is resolved,
-- confirmed or closed, and a manager approved the current resolution where
-- its type requires approval. Set-based, for billing; work_completed() asks
-- it about one ticket.
CREATE VIEW ticket_completion WITH (security_invoker = true) AS
SELECT k.tenant_id, k.ticket_id, k.customer_id, k.type_id, k.status, k.resolved_at,
       coalesce(p.requires_approval, false) AS requires_approval,
       coalesce(a.decision = 'approved', false) AS approved,
       k.status IN ('resolved', 'confirmed', 'closed')
           AND (coalesce(a.decision = 'approved', false) OR NOT coalesce(p.requires_approval, false)) AS completed
  FROM ticket k
  LEFT JOIN approval_policy p ON p.tenant_id = k.tenant_id AND p.type_id = k.type_id
  LEFT JOIN LATERAL (SELECT x.decision FROM approval x
                      WHERE x.tenant_id = k.tenant_id AND x.ticket_id = k.ticket_id AND x.resolved_at = k.resolved_at
                      ORDER BY x.approval_id DESC LIMIT 1) a ON true;
COMMENT ON VIEW ticket_completion IS
    'Per ticket: requires_approval, approved (the current resolution), completed (finished, and approved where required).';

CREATE FUNCTION requires_approval(tenant integer, type bigint) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ticketdesk.approval_policy p
                    WHERE p.tenant_id = tenant AND p.type_id = type AND p.requires_approval)
$$;
COMMENT ON FUNCTION requires_approval(integer, bigint) IS 'True when tickets of this type need a manager''s approval.';

-- What the lifecycle gate needs to know about a move (src/checklist.c):
-- the open required items, whether a needed approval is missing, and the
-- transaction ids of bypass records for this move.
CREATE FUNCTION completion_gate_state(tenant integer, ticket bigint, type bigint,
                                      resolved timestamptz, to_status ticket_status,
                                      check_items boolean, check_approval boolean,
                                      OUT open_items text[], OUT approval_missing boolean,
                                      OUT bypass_xids text[])
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN check_items THEN
               ARRAY(SELECT i.title FROM ticketdesk.checklist_item i
                      WHERE i.tenant_id = tenant AND i.ticket_id = ticket AND i.required AND i.done_at IS NULL
                      ORDER BY i.position, i.item_id)
           ELSE '{}' END,
           check_approval AND ticketdesk.requires_approval(tenant, type)
               AND NOT ticketdesk.ticket_approved(tenant, ticket, resolved),
           ARRAY(SELECT b.xmin::text FROM ticketdesk.gate_bypass b
                  WHERE b.tenant_id = tenant AND b.ticket_id = ticket AND b.to_status = completion_gate_state.to_status)
$$;
COMMENT ON FUNCTION completion_gate_state(integer, bigint, bigint, timestamptz, ticket_status, boolean, boolean) IS
    'Internal: what the lifecycle gate checks before a ticket is finished.';
-- Service contracts: recurring maintenance (R54), expanded with libical.

-- The occurrences of an iCalendar RRULE in [from_at, until_at], at most
-- max_count, expanded in the named zone from dtstart (local wall-clock time).
CREATE FUNCTION recurrence_occurrences(rrule text, dtstart timestamp, time_zone text,
                                       from_at timestamptz, until_at timestamptz,
                                       max_count integer DEFAULT 1000) RETURNS timestamptz[]
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_recurrence_occurrences';
COMMENT ON FUNCTION recurrence_occurrences(text, timestamp, text, timestamptz, timestamptz, integer) IS
    'Occurrences of an RRULE (libical) in [from_at, until_at], expanded in time_zone from the local dtstart.';

-- Checks a rule and returns the shortest gap between consecutive occurrences
-- among its first 120 (NULL when it has fewer than two).
CREATE FUNCTION recurrence_shortest_gap(rrule text, dtstart timestamp, time_zone text) RETURNS interval
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_recurrence_shortest_gap';
COMMENT ON FUNCTION recurrence_shortest_gap(text, timestamp, text) IS
    'Validates an RRULE (TD615, TD616) and returns the shortest gap between its first occurrences.';

-- A service contract: a customer or a site gets a ticket of type
-- scheduled_service lead_days before each occurrence of the rule.
CREATE TABLE service_contract (
    tenant_id       integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    contract_id     bigserial,
    customer_id     bigint,
    site_id         bigint,
    contact_id      bigint,
    -- The ticket template.
    center_id       bigint NOT NULL,
    category_id     bigint,
    assignee_id     bigint,
    subject         text NOT NULL CHECK (subject ~ '\S'),
    description     text,
    duration        interval NOT NULL DEFAULT '2 hours',   -- the planned period of each visit
    -- The recurrence: RRULE from dtstart, local time in time_zone.
    rrule           text NOT NULL,
    dtstart         timestamp NOT NULL,
    time_zone       text NOT NULL DEFAULT 'UTC',
    lead_days       integer NOT NULL DEFAULT 0,
    active          boolean NOT NULL DEFAULT true,
    -- Kept by the job: the next occurrence without a ticket, and when it is due.
    next_occurrence timestamptz,
    next_due_at     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contract_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer,
    FOREIGN KEY (tenant_id, site_id) REFERENCES site,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, category_id) REFERENCES category,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES agent
);
-- The job looks at due contracts only.
CREATE INDEX service_contract_due_idx ON service_contract (tenant_id, next_due_at)
    WHERE active AND next_due_at IS NOT NULL;
COMMENT ON TABLE service_contract IS 'Recurring maintenance (R54): a ticket template, an RRULE and a lead time in days.';

-- One ticket per occurrence: the primary key makes a rerun create nothing twice.
CREATE TABLE service_occurrence (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    contract_id bigint NOT NULL,
    occurrence  timestamptz NOT NULL,
    ticket_id   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contract_id, occurrence),
    FOREIGN KEY (tenant_id, contract_id) REFERENCES service_contract,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket
);
COMMENT ON TABLE service_occurrence IS 'The ticket made for each occurrence of a service contract; one per occurrence.';

-- The local-time day arithmetic of a contract: lead_days before an occurrence.
CREATE FUNCTION service_due_at(occurrence timestamptz, lead_days integer, time_zone text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((occurrence AT TIME ZONE time_zone) - make_interval(days => lead_days)) AT TIME ZONE time_zone
$$;

-- Refuses a bad contract when it is configured, and (re)computes the next
-- occurrence when the rule changes.
CREATE FUNCTION service_contract_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    gap interval;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.rrule, NEW.dtstart, NEW.time_zone, NEW.lead_days, NEW.customer_id, NEW.site_id)
                  IS NOT DISTINCT FROM (OLD.rrule, OLD.dtstart, OLD.time_zone, OLD.lead_days, OLD.customer_id, OLD.site_id) THEN
        RETURN NEW;
    END IF;
    IF NEW.customer_id IS NULL AND NEW.site_id IS NULL THEN
        RAISE EXCEPTION 'a service contract belongs to a customer or a site'
            USING ERRCODE = 'TD618', HINT = 'Give customer_id, site_id or both.';
    END IF;
    -- The tickets need a requester: the customer, the contact, or the site's customer.
    IF NEW.customer_id IS NULL AND NEW.contact_id IS NULL
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.site s WHERE s.tenant_id = NEW.tenant_id
                          AND s.site_id = NEW.site_id AND s.customer_id IS NOT NULL) THEN
        RAISE EXCEPTION 'the tickets of a service contract need a requester'
            USING ERRCODE = 'TD618',
                  DETAIL = 'The contract names no customer and no contact, and its site belongs to no customer.',
                  HINT = 'Give customer_id or contact_id.';
    END IF;
    IF NEW.lead_days < 0 THEN
        RAISE EXCEPTION 'the lead time of a service contract cannot be negative'
            USING ERRCODE = 'TD617', DETAIL = format('lead_days is %s.', NEW.lead_days),
                  HINT = 'Give the number of days before each occurrence the ticket is created, 0 or more.';
    END IF;
    IF NOT coalesce(ticketdesk.is_time_zone(NEW.time_zone), false) THEN
        RAISE EXCEPTION 'time zone "%" is not recognised', NEW.time_zone
            USING ERRCODE = 'TD603', HINT = 'Use a named zone such as Europe/Vilnius or UTC.';
    END IF;
    gap := ticketdesk.recurrence_shortest_gap(NEW.rrule, NEW.dtstart, NEW.time_zone);
    -- An hour of slack: a week that spans a DST change is an hour short.
    IF gap IS NOT NULL AND make_interval(days => NEW.lead_days) > gap + interval '1 hour' THEN
        RAISE EXCEPTION 'the lead time of % days is longer than the recurrence period', NEW.lead_days
            USING ERRCODE = 'TD617',
                  DETAIL = format('Occurrences of "%s" can be as little as %s apart.', NEW.rrule, justify_hours(gap)),
                  HINT = 'Shorten the lead time, or make the rule less frequent.';
    END IF;
    IF TG_OP = 'INSERT' OR (NEW.rrule, NEW.dtstart, NEW.time_zone, NEW.lead_days)
                        IS DISTINCT FROM (OLD.rrule, OLD.dtstart, OLD.time_zone, OLD.lead_days) THEN
        -- Start after the last occurrence that already has a ticket.
        NEW.next_occurrence := (ticketdesk.recurrence_occurrences(NEW.rrule, NEW.dtstart, NEW.time_zone,
            coalesce((SELECT max(o.occurrence) + interval '1 microsecond' FROM ticketdesk.service_occurrence o
                       WHERE o.tenant_id = NEW.tenant_id AND o.contract_id = NEW.contract_id), '-infinity'),
            'infinity', 1))[1];
        NEW.next_due_at := ticketdesk.service_due_at(NEW.next_occurrence, NEW.lead_days, NEW.time_zone);
        IF TG_OP = 'INSERT' AND NEW.next_occurrence IS NULL THEN
            RAISE EXCEPTION 'recurrence rule "%" has no occurrence from %', NEW.rrule, NEW.dtstart
                USING ERRCODE = 'TD615',
                      HINT = 'Check the rule''s COUNT or UNTIL, and that dtstart comes before them.';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER service_contract_check BEFORE INSERT OR UPDATE ON service_contract
    FOR EACH ROW EXECUTE FUNCTION service_contract_check();
-- Time-driven automation: auto-confirm and auto-close rules (R22),
-- reminders (R23, R31), the escalation ladder (R28, R32), and the notices
-- the jobs decide to send, each once.

-- After how many business days a resolved ticket is confirmed, and a
-- confirmed one closed, per centre and type (NULL matches any; the most
-- specific row wins). A NULL number switches that step off.
CREATE TABLE closing_rule (
    tenant_id          integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    closing_rule_id    bigserial,
    center_id          bigint,
    type_id            bigint,
    confirm_after_days integer,
    close_after_days   integer,
    -- The requester is reminded this many business days before the automatic confirmation.
    remind_before_days integer,
    PRIMARY KEY (tenant_id, closing_rule_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, center_id, type_id),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type ON DELETE CASCADE
);
COMMENT ON TABLE closing_rule IS 'Auto-confirm and auto-close after N and M business days, per centre and type (R22).';

CREATE FUNCTION closing_rule_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.confirm_after_days < 0 OR NEW.close_after_days < 0 OR NEW.remind_before_days < 0 THEN
        RAISE EXCEPTION 'business days of a closing rule cannot be negative'
            USING ERRCODE = 'TD620',
                  DETAIL = format('confirm_after_days is %s, close_after_days %s, remind_before_days %s.',
                                  coalesce(NEW.confirm_after_days::text, 'unset'),
                                  coalesce(NEW.close_after_days::text, 'unset'),
                                  coalesce(NEW.remind_before_days::text, 'unset')),
                  HINT = 'Give 0 or more business days, or NULL to switch the step off.';
    END IF;
    IF NEW.remind_before_days IS NOT NULL AND NEW.remind_before_days >= coalesce(NEW.confirm_after_days, 0) THEN
        RAISE EXCEPTION 'the reminder must come after the resolution and before the automatic confirmation'
            USING ERRCODE = 'TD621',
                  DETAIL = format('remind_before_days is %s and confirm_after_days %s.',
                                  NEW.remind_before_days, coalesce(NEW.confirm_after_days::text, 'unset')),
                  HINT = 'Make remind_before_days smaller than confirm_after_days.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER closing_rule_check BEFORE INSERT OR UPDATE ON closing_rule
    FOR EACH ROW EXECUTE FUNCTION closing_rule_check();

-- A reminder on a ticket (R23, R31): a lead time before its deadline or its
-- planned start, or a fixed moment; to the assignee and/or the delegator.
CREATE TABLE ticket_reminder (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    reminder_id   bigserial,
    ticket_id     bigint NOT NULL,
    basis         text NOT NULL CHECK (basis IN ('deadline', 'planned_start', 'fixed')),
    lead          interval NOT NULL DEFAULT '0',
    remind_at     timestamptz,           -- for basis fixed
    to_assignee   boolean NOT NULL DEFAULT true,
    to_delegator  boolean NOT NULL DEFAULT false,
    note          text,
    created_by    bigint,
    sent_at       timestamptz,
    PRIMARY KEY (tenant_id, reminder_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, created_by) REFERENCES agent,
    CHECK ((basis = 'fixed') = (remind_at IS NOT NULL)),
    CHECK (lead >= interval '0'),
    CHECK (to_assignee OR to_delegator)
);
-- The job reads unsent reminders only.
CREATE INDEX ticket_reminder_unsent_idx ON ticket_reminder (tenant_id, ticket_id) WHERE sent_at IS NULL;
COMMENT ON TABLE ticket_reminder IS 'Reminders on tickets (R23, R31); sent once by remind_due.';

-- The escalation ladder for overdue tickets (R28, R32). Level 1 fires when the
-- deadline passes; each further level after its delay in business time.
CREATE TABLE escalation_level (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    level       smallint NOT NULL CHECK (level BETWEEN 1 AND 9),
    after       interval NOT NULL,      -- business time after the deadline
    notify      text NOT NULL CHECK (notify IN ('assignee_and_delegator', 'supervisor')),
    PRIMARY KEY (tenant_id, level)
);
COMMENT ON TABLE escalation_level IS 'Escalation ladder: who is told how long after a missed deadline (R28, R32).';

CREATE FUNCTION escalation_level_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.after < interval '0' OR extract(day FROM NEW.after) <> 0 OR extract(month FROM NEW.after) <> 0 THEN
        RAISE EXCEPTION 'an escalation delay is working time, 0 or more hours'
            USING ERRCODE = 'TD622', DETAIL = format('The delay of level %s is %s.', NEW.level, NEW.after),
                  HINT = 'Give the delay in hours and minutes of working time, e.g. 8 hours.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER escalation_level_check BEFORE INSERT OR UPDATE ON escalation_level
    FOR EACH ROW EXECUTE FUNCTION escalation_level_check();

-- What the jobs decided to tell whom. The key makes each notice happen once:
-- a reminder id, an escalation level, or the resolution a confirmation
-- reminder is about. The notification outbox (issue 5) delivers them.
CREATE TABLE automation_notice (
    tenant_id      integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    notice_id      bigserial,
    ticket_id      bigint NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('reminder', 'overdue', 'escalation', 'confirm_reminder')),
    key            text NOT NULL,
    due_at         timestamptz NOT NULL,
    agent_ids      bigint[] NOT NULL DEFAULT '{}',
    contact_ids    bigint[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, notice_id),
    UNIQUE (tenant_id, ticket_id, kind, key),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket
);
COMMENT ON TABLE automation_notice IS 'Notices decided by the jobs (reminders, overdue, escalations), each once per key.';

-- Due columns the jobs scan: only tickets in the relevant status are indexed,
-- so a sweep costs what is due, not the size of the table.
-- They select by phase, not status, as the queue indexes do (50_ticket.sql).
CREATE INDEX ticket_resolved_due_idx ON ticket (tenant_id, resolved_at) WHERE phase = 'resolved';
CREATE INDEX ticket_confirmed_due_idx ON ticket (tenant_id, confirmed_at) WHERE phase = 'confirmed';
CREATE INDEX ticket_deadline_open_idx ON ticket (tenant_id, deadline)
    WHERE deadline IS NOT NULL AND phase = 'open';

-- The notification texts of the automation notices, in English (the outbox
-- falls back to English for other languages). seed_tenant calls it.
CREATE FUNCTION seed_automation(tenant integer, seeded boolean DEFAULT false) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.notify_template (tenant_id, event, channel, language, subject, body_text, seeded)
    SELECT seed_automation.tenant, t.event, t.channel, 'en', t.subject, t.body, seed_automation.seeded
      FROM (VALUES
        ('due_reminder', 'email', 'Reminder: {{subject}}', $t$Hello {{recipient}},

this is a reminder about {{reference}} "{{subject}}".
Deadline: {{deadline}}
{{note}}

{{link}}$t$),
        ('due_reminder', 'sms', NULL, 'Reminder {{reference}}: {{subject}}, due {{deadline}}. {{note}} {{link}}'),
        ('escalation', 'email', 'Overdue: {{subject}}', $t$Hello {{recipient}},

{{reference}} "{{subject}}" is overdue: its deadline was {{deadline}}.
Assignee: {{assignee}}
Priority: {{priority}}
{{note}}

{{link}}$t$),
        ('escalation', 'sms', NULL, 'Overdue {{reference}} (due {{deadline}}, {{assignee}}): {{subject}} {{link}}'),
        ('confirm_reminder', 'email', 'Is your request solved? {{subject}}', $t$Hello {{recipient}},

we resolved your request {{reference}} "{{subject}}":
{{resolution}}

{{note}}

{{link}}

Kind regards,
{{sender}}$t$),
        ('confirm_reminder', 'sms', NULL, '{{reference}} is resolved; reply if it is not, or it will be confirmed automatically. {{link}}')
      ) AS t(event, channel, subject, body)
$$;
COMMENT ON FUNCTION seed_automation(integer, boolean) IS
    'Fills a tenant''s notification texts for reminders, escalations and confirmation reminders (internal; seed_tenant calls it).';
-- Billing (R14): rates and fixed fees, monthly billing runs, the per-entry
-- ledger that makes every run bill each entry once, and the invoice lines
-- handed to the ERP.

-- Hourly rates per tenant, optionally per customer and per work type. The
-- most specific rate applies: customer and type, customer, type, default.
CREATE TABLE rate (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    rate_id     bigserial,
    customer_id bigint,
    work_type   work_type,
    hourly      numeric(12,2) NOT NULL,
    PRIMARY KEY (tenant_id, rate_id),
    CONSTRAINT rate_once UNIQUE NULLS NOT DISTINCT (tenant_id, customer_id, work_type),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer
);
COMMENT ON TABLE rate IS 'Hourly rates: per tenant, optionally per customer and per work type (R14).';

-- A fixed fee per completed ticket of a type, optionally per customer.
CREATE TABLE ticket_fee (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    fee_id      bigserial,
    type_id     bigint NOT NULL,
    customer_id bigint,
    amount      numeric(12,2) NOT NULL,
    PRIMARY KEY (tenant_id, fee_id),
    CONSTRAINT ticket_fee_once UNIQUE NULLS NOT DISTINCT (tenant_id, type_id, customer_id),
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer
);
COMMENT ON TABLE ticket_fee IS 'Fixed fees per completed ticket of a type, optionally per customer (R14).';

-- Refuses negative prices with their own SQLSTATE, whichever way they come.
-- The argument names the price column.
CREATE FUNCTION price_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    price numeric := (to_jsonb(NEW) ->> TG_ARGV[0])::numeric;
BEGIN
    IF price < 0 THEN
        RAISE EXCEPTION 'a % cannot be negative', CASE TG_TABLE_NAME WHEN 'rate' THEN 'rate' ELSE 'fee' END
            USING ERRCODE = 'TD580',
                  DETAIL = format('%s.%s is %s.', TG_TABLE_NAME, TG_ARGV[0], price),
                  HINT = 'Give a price of 0 or more; a credit comes from a correction of the billed time.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER rate_price_check BEFORE INSERT OR UPDATE ON rate
    FOR EACH ROW EXECUTE FUNCTION price_check('hourly');
CREATE TRIGGER ticket_fee_price_check BEFORE INSERT OR UPDATE ON ticket_fee
    FOR EACH ROW EXECUTE FUNCTION price_check('amount');

-- One billing run per tenant and month.
CREATE TABLE billing_run (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    run_id      bigserial,
    month       date NOT NULL CHECK (month = date_trunc('month', month)),
    forced      boolean NOT NULL DEFAULT false,
    currency    text NOT NULL,
    lines       integer NOT NULL DEFAULT 0,
    total       numeric(14,2) NOT NULL DEFAULT 0,
    created_by  name NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, run_id),
    UNIQUE (tenant_id, month)
);
COMMENT ON TABLE billing_run IS 'Monthly billing runs (R14): one per tenant and month.';

-- The invoice lines of a run: one per customer and item (R14).
CREATE TABLE billing_line (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    run_id      bigint NOT NULL,
    line_no     integer NOT NULL,
    customer_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('work', 'correction', 'fee')),
    work_type   work_type,
    type_id     bigint,
    item        text NOT NULL,
    quantity    numeric(12,2) NOT NULL,
    unit        text NOT NULL CHECK (unit IN ('h', 'pcs')),
    unit_price  numeric(12,2) NOT NULL,
    amount      numeric(14,2) NOT NULL,
    minutes     integer,
    tickets     integer NOT NULL,
    entries     integer NOT NULL,
    PRIMARY KEY (tenant_id, run_id, line_no),
    FOREIGN KEY (tenant_id, run_id) REFERENCES billing_run,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer,
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type
);
COMMENT ON TABLE billing_line IS 'Invoice lines of a billing run, one per customer and item (R14).';

-- The ledger: what each run billed for each entry (work and corrections, in
-- minutes at a rate) and each ticket (fees). The sum over an entry's rows is
-- what has been billed for it so far; a later run bills only the difference.
CREATE TABLE billed_item (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    billed_id   bigserial,
    run_id      bigint NOT NULL,
    line_no     integer NOT NULL,
    ticket_id   bigint NOT NULL,
    entry_id    bigint,
    kind        text NOT NULL CHECK (kind IN ('work', 'correction', 'fee')),
    work_type   work_type,
    minutes     integer,
    unit_price  numeric(12,2) NOT NULL,
    PRIMARY KEY (tenant_id, billed_id),
    -- No foreign keys to the line, the ticket or the entry: a run writes the
    -- lines and the ledger in one statement, tickets are never deleted (their
    -- history refers to them), and trigger time_entry_delete refuses to delete
    -- a billed entry. A key check would lock every billed entry's row.
    CHECK ((kind = 'fee') = (entry_id IS NULL))
);
CREATE INDEX billed_item_entry_idx ON billed_item (tenant_id, entry_id) WHERE entry_id IS NOT NULL;
-- A ticket's fee is billed once.
CREATE UNIQUE INDEX billed_item_fee_once ON billed_item (tenant_id, ticket_id) WHERE kind = 'fee';
-- An entry is billed at most once per run.
CREATE UNIQUE INDEX billed_item_entry_once ON billed_item (tenant_id, run_id, entry_id, work_type)
    WHERE entry_id IS NOT NULL;
COMMENT ON TABLE billed_item IS 'Ledger of what each billing run billed per time entry and per ticket fee.';

-- The entries a billing run has to look at: new ones, and billed ones whose
-- time changed since. A trigger queues them; the run that bills an entry
-- removes it, in the same transaction as the ledger rows. changes counts
-- the changes, so a run never removes an entry changed while it billed it.
CREATE TABLE billing_due (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    entry_id    bigint NOT NULL,
    changes     integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, entry_id)
);
COMMENT ON TABLE billing_due IS 'Time entries due for the next billing run: not billed yet, or changed since billed.';

CREATE FUNCTION time_entry_due() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticketdesk.billing_due AS q (tenant_id, entry_id) VALUES (NEW.tenant_id, NEW.entry_id)
        ON CONFLICT (tenant_id, entry_id) DO UPDATE SET changes = q.changes + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER time_entry_due AFTER INSERT ON time_entry
    FOR EACH ROW EXECUTE FUNCTION time_entry_due();
CREATE TRIGGER time_entry_due_again AFTER UPDATE OF period, work_type ON time_entry
    FOR EACH ROW WHEN ((OLD.period, OLD.work_type) IS DISTINCT FROM (NEW.period, NEW.work_type))
    EXECUTE FUNCTION time_entry_due();

-- A billed entry stays: its ledger rows would lose their meaning. An entry
-- never billed may go, and leaves the queue with it.
CREATE FUNCTION time_entry_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ticketdesk.billed_item b WHERE b.tenant_id = OLD.tenant_id AND b.entry_id = OLD.entry_id) THEN
        RAISE EXCEPTION 'time entry % is billed and cannot be deleted', OLD.entry_id
            USING ERRCODE = 'TD587',
                  HINT = 'Correct it with ticketdesk.correct_time; the next billing run credits the difference.';
    END IF;
    DELETE FROM ticketdesk.billing_due q WHERE q.tenant_id = OLD.tenant_id AND q.entry_id = OLD.entry_id;
    RETURN OLD;
END $$;
CREATE TRIGGER time_entry_delete BEFORE DELETE ON time_entry
    FOR EACH ROW EXECUTE FUNCTION time_entry_delete();

-- Each entry's billing state: billed minutes and amount so far (the sum of
-- its ledger rows), the last run, and whether it is due for the next run.
CREATE VIEW time_entry_billing WITH (security_invoker = true) AS
SELECT e.tenant_id, e.entry_id, e.ticket_id,
       b.billed_minutes, b.billed_amount, b.last_run_id,
       b.last_run_id IS NOT NULL AS billed,
       q.entry_id IS NOT NULL AS due
  FROM time_entry e
  LEFT JOIN LATERAL (SELECT sum(i.minutes)::integer AS billed_minutes,
                            sum(round(i.minutes * i.unit_price / 60, 2)) AS billed_amount,
                            max(i.run_id) AS last_run_id
                       FROM billed_item i WHERE i.tenant_id = e.tenant_id AND i.entry_id = e.entry_id) b ON true
  LEFT JOIN billing_due q ON q.tenant_id = e.tenant_id AND q.entry_id = e.entry_id
 WHERE e.tenant_id = current_tenant();
COMMENT ON VIEW time_entry_billing IS
    'Per time entry: billed (has ledger rows), billed minutes and amount, last run, due for the next run.';

-- The export layout handed to an ERP (doc/worktime.md#export): one row per
-- invoice line, in line order. COPY it to CSV, or use billing_export_json.
CREATE VIEW billing_export WITH (security_invoker = true) AS
SELECT r.run_id, to_char(r.month, 'YYYY-MM') AS month, l.line_no,
       l.customer_id, c.tax_id AS customer_tax_id, c.name AS customer_name,
       l.kind, l.item, l.quantity, l.unit, l.unit_price, l.amount, r.currency,
       l.minutes, l.tickets, l.entries
  FROM billing_run r
  JOIN billing_line l ON l.tenant_id = r.tenant_id AND l.run_id = r.run_id
  JOIN customer c ON c.tenant_id = l.tenant_id AND c.customer_id = l.customer_id
 WHERE r.tenant_id = current_tenant();
COMMENT ON VIEW billing_export IS
    'Billing lines for the ERP, one row per line: COPY (SELECT * FROM billing_export WHERE run_id = …) TO STDOUT CSV HEADER.';
-- The lifecycle, enforced in one place: C triggers on ticket.

-- The agent this session acts as: the setting ticketdesk.agent when set (it
-- must name an agent of the tenant, TD203), else the agent whose login_role
-- is the current database role.
CREATE FUNCTION current_agent() RETURNS bigint
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'ticketdesk_current_agent';
COMMENT ON FUNCTION current_agent() IS
    'The agent this session acts as: setting ticketdesk.agent, else the agent mapped to current_user.';

-- BEFORE INSERT OR UPDATE: validates the move against table transition and
-- the input rules, normalises status and assignee, stamps the times.
CREATE FUNCTION ticket_lifecycle() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_ticket_lifecycle';
CREATE TRIGGER ticket_lifecycle BEFORE INSERT OR UPDATE ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_lifecycle();

-- AFTER INSERT OR UPDATE: writes one history row per changed field.
CREATE FUNCTION ticket_record_history() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_ticket_history';
CREATE TRIGGER ticket_history AFTER INSERT OR UPDATE ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_record_history();

-- Any change to the transition table invalidates every backend's cached copy:
-- at once in this transaction, in the others after commit.
CREATE FUNCTION transition_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_transition_changed';
CREATE TRIGGER transition_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON transition
    FOR EACH STATEMENT EXECUTE FUNCTION transition_changed();
-- Inbound e-mail: parsing (C, GMime), threading, confirm/reject by reply,
-- loop protection. ingest_mail is the one entry point; the IMAP poller and
-- the MTA pipe program both call it.

-- Reads one raw RFC 5322 message. Never raises an error for a bad mail: the
-- row's error says why it could not be read.
CREATE FUNCTION parse_mail(raw bytea) RETURNS mail_parsed
    LANGUAGE c STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_parse_mail';
COMMENT ON FUNCTION parse_mail(bytea) IS
    'Parses a raw mail with GMime: decoded headers, UTF-8 text (derived from HTML when needed), files, machine-made signs.';

-- The built-in confirm/reject keywords in the five languages of the sources.
CREATE FUNCTION mail_default_keywords() RETURNS TABLE (language text, kind text, word text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    VALUES ('en', 'confirm', 'confirm'), ('en', 'confirm', 'confirmed'), ('en', 'confirm', 'accept'),
           ('en', 'confirm', 'accepted'), ('en', 'confirm', 'yes'),
           ('en', 'reject', 'reject'), ('en', 'reject', 'rejected'), ('en', 'reject', 'decline'),
           ('en', 'reject', 'declined'), ('en', 'reject', 'no'),
           ('lt', 'confirm', 'patvirtinu'), ('lt', 'confirm', 'tvirtinu'), ('lt', 'confirm', 'sutinku'),
           ('lt', 'confirm', 'priimu'), ('lt', 'confirm', 'taip'),
           ('lt', 'reject', 'atmetu'), ('lt', 'reject', 'nesutinku'), ('lt', 'reject', 'negaliu'),
           ('lt', 'reject', 'ne'),
           ('pl', 'confirm', 'potwierdzam'), ('pl', 'confirm', 'akceptuję'), ('pl', 'confirm', 'przyjmuję'),
           ('pl', 'confirm', 'tak'),
           ('pl', 'reject', 'odrzucam'), ('pl', 'reject', 'odmawiam'), ('pl', 'reject', 'nie'),
           ('he', 'confirm', 'מאשר'), ('he', 'confirm', 'מאשרת'), ('he', 'confirm', 'מאושר'),
           ('he', 'confirm', 'כן'),
           ('he', 'reject', 'דוחה'), ('he', 'reject', 'מסרב'), ('he', 'reject', 'מסרבת'), ('he', 'reject', 'לא'),
           ('ro', 'confirm', 'confirm'), ('ro', 'confirm', 'confirmat'), ('ro', 'confirm', 'accept'),
           ('ro', 'confirm', 'da'),
           ('ro', 'reject', 'resping'), ('ro', 'reject', 'refuz'), ('ro', 'reject', 'nu')
$$;
COMMENT ON FUNCTION mail_default_keywords() IS
    'The built-in confirm/reject keywords in en, lt, pl, he and ro (R51); table mail_keyword overrides a language.';

-- The keywords in force for a language: the tenant's own, else the defaults.
CREATE FUNCTION mail_keywords(language text) RETURNS TABLE (kind text, word text)
    LANGUAGE sql STABLE AS $$
    SELECT k.kind, k.word FROM ticketdesk.mail_keyword k
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.language = $1
    UNION ALL
    SELECT d.kind, d.word FROM ticketdesk.mail_default_keywords() d
     WHERE d.language = $1
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.mail_keyword k
                        WHERE k.tenant_id = ticketdesk.current_tenant() AND k.language = $1)
$$;
COMMENT ON FUNCTION mail_keywords(text) IS
    'The confirm/reject keywords in force for a language: the tenant''s rows in mail_keyword, else the defaults.';

-- 'confirm' or 'reject' when the first line of a reply is a keyword of the
-- language (or of English): the keyword alone, or followed by punctuation
-- and a reason ("Reject: on holiday", "Resping - în concediu"). "No problem"
-- is no keyword: a word must not go on after it. NULL otherwise.
CREATE FUNCTION mail_keyword_of(reply text, language text) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    line text := lower(btrim(split_part(btrim(coalesce(reply, ''), E' \t\n'), E'\n', 1), E' \t'));
BEGIN
    RETURN (SELECT k.kind
              FROM (SELECT * FROM ticketdesk.mail_keywords(coalesce(mail_keyword_of.language, 'en'))
                    UNION ALL
                    SELECT * FROM ticketdesk.mail_keywords('en')) k
             WHERE starts_with(line, k.word)
               AND left(ltrim(substr(line, length(k.word) + 1)), 1)
                   = ANY (ARRAY['', ':', ',', ';', '.', '!', '-', '–', '—'])
             ORDER BY length(k.word) DESC
             LIMIT 1);
END $$;
COMMENT ON FUNCTION mail_keyword_of(text, text) IS
    'confirm or reject when the reply''s first line is a keyword of the language or of English (R51); else null.';

-- The tenant's mail settings; the table's defaults when it has no row.
CREATE FUNCTION mail_settings() RETURNS mail_config
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    result ticketdesk.mail_config;
BEGIN
    SELECT * INTO result FROM ticketdesk.mail_config c WHERE c.tenant_id = ticketdesk.current_tenant();
    IF NOT FOUND THEN
        -- The same values as the column defaults of table mail_config.
        result := ROW(ticketdesk.current_tenant(), interval '14 days', 30, interval '1 hour',
                      'ticketdesk', '{}'::text[]);
    END IF;
    -- The sender of our notifications is ours too; they carry it as their
    -- X-Loop (src/smtp.c).
    IF coalesce(current_setting('ticketdesk.mail_from', true), '') <> '' THEN
        result.own_addresses := result.own_addresses || current_setting('ticketdesk.mail_from', true);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION mail_settings() IS
    'The current tenant''s row of mail_config, or the defaults; own_addresses also holds ticketdesk.mail_from.';

-- The ticket a mail answers: the first of its In-Reply-To and References ids
-- that is the Message-ID of a mail we took in, of a remark, or of a
-- notification we sent (outbox.message_key). The <TD-000123@domain> thread
-- id that notifications also carry is not one of them: it is guessable.
CREATE FUNCTION mail_thread(refs text[]) RETURNS bigint
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT x.ticket_id
              FROM unnest(refs) WITH ORDINALITY AS r(id, n)
             CROSS JOIN LATERAL (
                SELECT i.ticket_id FROM ticketdesk.mail_intake i
                 WHERE i.tenant_id = ticketdesk.current_tenant() AND i.mail_id = r.id AND i.ticket_id IS NOT NULL
                UNION ALL
                SELECT m.ticket_id FROM ticketdesk.message m
                 WHERE m.tenant_id = ticketdesk.current_tenant() AND m.email_message_id = r.id
                UNION ALL
                -- A notification we sent: its Message-ID is <message_key@domain>.
                SELECT o.ticket_id FROM ticketdesk.outbox o
                 WHERE o.tenant_id = ticketdesk.current_tenant() AND o.ticket_id IS NOT NULL
                   AND o.message_key = CASE WHEN r.id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@'
                                            THEN split_part(r.id, '@', 1)::uuid END
             ) x
             ORDER BY r.n
             LIMIT 1);
END $$;
COMMENT ON FUNCTION mail_thread(text[]) IS
    'The ticket whose mail or remark has one of these Message-IDs (In-Reply-To first), or null.';

-- How an address takes part in a ticket: requester (its contact, customer or
-- requesting employee), assignee, watcher; NULL for a stranger.
CREATE FUNCTION mail_participant(tk ticket, address text) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ticketdesk.contact c
                WHERE c.tenant_id = tk.tenant_id AND c.contact_id = tk.contact_id AND lower(c.email) = mail_participant.address)
       OR EXISTS (SELECT 1 FROM ticketdesk.customer u
                   WHERE u.tenant_id = tk.tenant_id AND u.customer_id = tk.customer_id AND lower(u.email) = mail_participant.address)
       OR EXISTS (SELECT 1 FROM ticketdesk.agent a
                   WHERE a.tenant_id = tk.tenant_id AND a.agent_id = tk.requester_agent_id AND lower(a.email) = mail_participant.address) THEN
        RETURN 'requester';
    END IF;
    IF EXISTS (SELECT 1 FROM ticketdesk.agent a
                WHERE a.tenant_id = tk.tenant_id AND a.agent_id = tk.assignee_id AND lower(a.email) = mail_participant.address) THEN
        RETURN 'assignee';
    END IF;
    IF EXISTS (SELECT 1 FROM ticketdesk.watcher w
                 LEFT JOIN ticketdesk.agent a ON a.tenant_id = w.tenant_id AND a.agent_id = w.agent_id
                 LEFT JOIN ticketdesk.contact c ON c.tenant_id = w.tenant_id AND c.contact_id = w.contact_id
                WHERE w.tenant_id = tk.tenant_id AND w.ticket_id = tk.ticket_id
                  AND mail_participant.address IN (lower(a.email), lower(c.email))) THEN
        RETURN 'watcher';
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mail_participant(ticket, text) IS
    'requester, assignee or watcher when the address takes part in the ticket; null otherwise.';

-- Stores a mail's files on a ticket (and remark). Files over
-- ticketdesk.max_attachment_size are left in the raw mail, and an internal
-- remark says so. Returns how many were stored. One INSERT for all files:
-- large files are not copied around part by part.
CREATE FUNCTION mail_store_parts(ticket_id bigint, message_id bigint, parts mail_part[]) RETURNS integer
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    limit_bytes bigint := ticketdesk.max_attachment_bytes();
    stored      integer;
    skipped     text;
BEGIN
    IF cardinality(parts) IS NULL OR cardinality(parts) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO ticketdesk.attachment (tenant_id, ticket_id, message_id, filename, content_type, data,
                                       size_bytes, sha256)
    SELECT ticketdesk.current_tenant(), ticket_id, message_id, x.filename, x.content_type, x.data, 0, ''::bytea
      FROM unnest(parts) x
     WHERE octet_length(x.data) <= limit_bytes;
    GET DIAGNOSTICS stored = ROW_COUNT;
    IF stored < cardinality(parts) THEN
        SELECT string_agg(format('%s (%s bytes)', x.filename, octet_length(x.data)), ', ')
          INTO skipped FROM unnest(parts) x WHERE octet_length(x.data) > limit_bytes;
        INSERT INTO ticketdesk.message (tenant_id, ticket_id, internal, body)
        VALUES (ticketdesk.current_tenant(), ticket_id, true,
                format('Not attached, larger than ticketdesk.max_attachment_size (%s bytes): %s. '
                       'The raw mail in table mail_intake still holds them.', limit_bytes, skipped));
    END IF;
    RETURN stored;
END $$;
COMMENT ON FUNCTION mail_store_parts(bigint, bigint, mail_part[]) IS
    'Internal: attaches a mail''s files to a ticket or remark, leaving out files over the size limit.';

-- Decides what a parsed mail does, and does it: only stored (machine-made,
-- our own, over the rate limit), a reply on its ticket (with confirm, reject,
-- reopen), or a new ticket. Returns the intake row to record (not yet
-- written); ingest_mail calls it inside a subtransaction and records any
-- error as a failed intake.
CREATE FUNCTION mail_act(intake mail_intake, p mail_parsed, center_id bigint) RETURNS mail_intake
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t            integer := intake.tenant_id;
    cfg          ticketdesk.mail_config := ticketdesk.mail_settings();
    sender       text := p.from_addr;
    recent       bigint;
    sender_agent ticketdesk.agent;
    sender_lang  text;
    tk           ticketdesk.ticket;
    tag          text;
    role         text;
    link_to      ticketdesk.ticket;
    kw           text;
    route        bigint;
    new_ticket   ticketdesk.ticket;
    reply        text := coalesce(nullif(btrim(p.reply_text, E' \t\n'), ''),
                                  nullif(btrim(p.body, E' \t\n'), ''), '(no text)');
    caller_agent text := coalesce(current_setting('ticketdesk.agent', true), '');
BEGIN
    IF sender IS NULL THEN
        intake.reason := 'the mail has no sender address (From)';
        RETURN intake;
    END IF;
    IF cardinality(p.refs) > 0 THEN
        intake.ticket_id := ticketdesk.mail_thread(p.refs);
    END IF;

    -- Loop and bounce protection: machine-made mail, our own mail and storms
    -- are stored, never acted on.
    IF p.auto_reason IS NOT NULL THEN
        intake.reason := 'machine-made mail: ' || p.auto_reason;
    ELSIF cardinality(p.x_loop) > 0 AND EXISTS (
            SELECT 1 FROM unnest(p.x_loop) x
             WHERE lower(x) = lower(cfg.loop_token)
                OR lower(x) IN (SELECT lower(a) FROM unnest(cfg.own_addresses) a)
                OR EXISTS (SELECT 1 FROM ticketdesk.center c WHERE c.tenant_id = t AND lower(c.email) = lower(x))) THEN
        intake.reason := 'our own mail: it carries our X-Loop header';
    ELSIF EXISTS (SELECT 1 FROM ticketdesk.center c WHERE c.tenant_id = t AND lower(c.email) = sender)
          OR sender IN (SELECT lower(a) FROM unnest(cfg.own_addresses) a) THEN
        intake.reason := format('our own mail: sent from %s', sender);
    ELSE
        -- Counting stops at the limit: a storm costs no more than a trickle.
        SELECT count(*) INTO recent FROM (
            SELECT 1 FROM ticketdesk.mail_intake i
             WHERE i.tenant_id = t AND i.sender = sender AND i.received_at > now() - cfg.rate_window
             LIMIT cfg.rate_limit) x;
        IF recent >= cfg.rate_limit THEN
            intake.reason := format('rate limit: more than %s mails from %s within %s minutes',
                                    cfg.rate_limit, sender, round(extract(epoch FROM cfg.rate_window) / 60));
        END IF;
    END IF;
    IF intake.reason IS NOT NULL THEN
        intake.outcome := 'stored';
        RETURN intake;
    END IF;

    -- Who wrote it.
    SELECT * INTO sender_agent FROM ticketdesk.agent a
     WHERE a.tenant_id = t AND lower(a.email) = sender AND a.active ORDER BY a.agent_id LIMIT 1;
    intake.agent_id := sender_agent.agent_id;
    SELECT c.contact_id, c.language INTO intake.contact_id, sender_lang FROM ticketdesk.contact c
     WHERE c.tenant_id = t AND lower(c.email) = sender ORDER BY c.contact_id LIMIT 1;
    sender_lang := coalesce(sender_agent.language, sender_lang, 'en');
    -- The history names the sender as the actor of what the mail does.
    PERFORM set_config('ticketdesk.agent', coalesce(sender_agent.agent_id, 0)::text, true);

    -- Threading, 1: In-Reply-To / References. 2: the subject tag, from a participant only.
    IF intake.ticket_id IS NOT NULL THEN
        SELECT * INTO tk FROM ticketdesk.ticket k WHERE k.tenant_id = t AND k.ticket_id = intake.ticket_id;
    ELSE
        tag := upper(substring(p.subject FROM '(?i)\m(TD-[0-9]{6,})\M'));
        IF tag IS NOT NULL THEN
            SELECT * INTO tk FROM ticketdesk.ticket k
             WHERE k.tenant_id = t AND k.ticket_id = ticketdesk.ticket_number_of(tag);
            IF tk.ticket_id IS NOT NULL AND ticketdesk.mail_participant(tk, sender) IS NULL THEN
                link_to := tk;
                tk := NULL;
                intake.flagged := true;
                intake.action := 'linked';
                intake.reason := format('the subject names %s, but %s takes no part in it', tag, sender);
            END IF;
        END IF;
    END IF;

    -- A finished ticket takes no more replies: after the reopen window, or
    -- when cancelled or without a holder to reopen it to, a new ticket follows it.
    IF tk.ticket_id IS NOT NULL AND
       (tk.status = 'cancelled' OR
        (tk.status = 'closed' AND (tk.closed_at + cfg.reopen_window < now() OR tk.assignee_id IS NULL))) THEN
        link_to := tk;
        tk := NULL;
        intake.action := 'linked';
        intake.reason := CASE WHEN link_to.status = 'closed' AND link_to.assignee_id IS NOT NULL
                              THEN format('%s is closed and its reopen window has passed', link_to.reference)
                              ELSE format('%s is %s', link_to.reference, link_to.status) END;
    END IF;

    IF tk.ticket_id IS NOT NULL THEN
        -- A reply: a remark with its files, then what its first line says.
        role := ticketdesk.mail_participant(tk, sender);
        IF sender_agent.agent_id IS NULL AND intake.contact_id IS NULL THEN
            INSERT INTO ticketdesk.contact (tenant_id, name, email)
            VALUES (t, coalesce(nullif(p.from_name, ''), split_part(sender, '@', 1)), sender)
            RETURNING contact_id INTO intake.contact_id;
        END IF;
        INSERT INTO ticketdesk.message (tenant_id, ticket_id, author_agent_id, author_contact_id, body,
                                        email_message_id)
        VALUES (t, tk.ticket_id, sender_agent.agent_id,
                CASE WHEN sender_agent.agent_id IS NULL THEN intake.contact_id END, reply, p.message_id)
        RETURNING message_id INTO intake.message_id;
        PERFORM ticketdesk.mail_store_parts(tk.ticket_id, intake.message_id, p.parts);
        kw := ticketdesk.mail_keyword_of(p.reply_text, sender_lang);

        IF tk.status = 'assigned' AND sender_agent.agent_id = tk.assignee_id AND kw IS NOT NULL THEN
            IF kw = 'confirm' THEN
                PERFORM ticketdesk.acknowledge(tk.ticket_id, 'Confirmed by e-mail reply');
                intake.action := 'acknowledged';
            ELSE
                PERFORM ticketdesk.reject(tk.ticket_id, left('Rejected by e-mail reply: ' || reply, 500));
                intake.action := 'rejected';
            END IF;
        ELSIF tk.status = 'resolved' AND role = 'requester' THEN
            IF kw = 'confirm' THEN
                PERFORM ticketdesk.confirm(tk.ticket_id, 'Confirmed by e-mail reply');
                intake.action := 'confirmed';
            ELSE
                PERFORM ticketdesk.reopen(tk.ticket_id, left('Reopened by e-mail reply: ' || reply, 500));
                intake.action := 'reopened';
            END IF;
        ELSIF tk.status = 'waiting' AND role = 'requester' THEN
            PERFORM ticketdesk.resume(tk.ticket_id, 'The requester answered by e-mail');
            intake.action := 'resumed';
        ELSIF tk.status = 'closed' THEN
            PERFORM ticketdesk.reopen(tk.ticket_id, left('Reopened by e-mail reply: ' || reply, 500));
            intake.action := 'reopened';
        END IF;
        intake.ticket_id := tk.ticket_id;
        intake.center_id := tk.center_id;
        intake.outcome := 'replied';
        PERFORM set_config('ticketdesk.agent', caller_agent, true);
        RETURN intake;
    END IF;

    -- A new request: to the centre whose mailbox it was sent to.
    SELECT c.center_id INTO route
      FROM unnest(p.recipients) WITH ORDINALITY AS r(address, n)
      JOIN ticketdesk.center c ON c.tenant_id = t AND lower(c.email) = r.address AND c.active
     ORDER BY r.n, c.center_id
     LIMIT 1;
    route := coalesce(route, center_id, link_to.center_id);
    IF route IS NULL THEN
        intake.reason := format('no centre has any of the addresses %s, and no centre was given',
                                coalesce(array_to_string(p.recipients, ', '), 'none'));
        intake.outcome := 'failed';
        PERFORM set_config('ticketdesk.agent', caller_agent, true);
        RETURN intake;
    END IF;
    IF sender_agent.agent_id IS NULL AND intake.contact_id IS NULL THEN
        INSERT INTO ticketdesk.contact (tenant_id, name, email)
        VALUES (t, coalesce(nullif(p.from_name, ''), split_part(sender, '@', 1)), sender)
        RETURNING contact_id INTO intake.contact_id;
    END IF;
    new_ticket := ticketdesk.open_ticket(
        subject => coalesce(nullif(btrim(p.subject), ''), '(no subject)'),
        center_id => route,
        description => nullif(btrim(p.body, E' \t\n'), ''),
        contact_id => CASE WHEN sender_agent.agent_id IS NULL THEN intake.contact_id END,
        requester_agent_id => sender_agent.agent_id,
        channel => 'email',
        parent_id => link_to.ticket_id);
    PERFORM ticketdesk.mail_store_parts(new_ticket.ticket_id, NULL, p.parts);
    IF intake.flagged THEN
        INSERT INTO ticketdesk.message (tenant_id, ticket_id, internal, body)
        VALUES (t, new_ticket.ticket_id, true,
                format('Check this ticket: its mail names %s in the subject, but the sender %s takes no part '
                       'in %s. It was opened as a new ticket under %s instead of being added to it.',
                       link_to.reference, sender, link_to.reference, link_to.reference));
    END IF;
    intake.ticket_id := new_ticket.ticket_id;
    intake.center_id := route;
    intake.outcome := 'opened';
    PERFORM set_config('ticketdesk.agent', caller_agent, true);
    RETURN intake;
END $$;
COMMENT ON FUNCTION mail_act(mail_intake, mail_parsed, bigint) IS
    'Internal: threads a parsed mail and acts on it (store only, reply, confirm/reject, reopen, new ticket).';

-- Takes in one raw mail (R02, R51, R52). The same Message-ID twice changes
-- nothing and returns the first intake. A mail that cannot be read or acted
-- on is recorded as failed with its reason; only a NULL message is an error.
-- Returns the intake row as stored, but without raw (NULL): a large mail is
-- not copied back to the caller.
CREATE FUNCTION ingest_mail(raw bytea, center_id bigint DEFAULT NULL) RETURNS mail_intake
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t        integer := ticketdesk.current_tenant();
    p        ticketdesk.mail_parsed;
    intake   ticketdesk.mail_intake;
    done     ticketdesk.mail_intake;
    mail_key text;
BEGIN
    IF raw IS NULL THEN
        RAISE EXCEPTION 'ingest_mail needs the raw message'
            USING ERRCODE = 'TD630', HINT = 'Pass the whole message, headers and body, as bytea.';
    END IF;
    IF center_id IS NOT NULL THEN
        PERFORM ticketdesk.require('center', center_id);
    END IF;
    p := ticketdesk.parse_mail(raw);
    mail_key := coalesce(p.message_id, 'sha256:' || encode(sha256(raw), 'hex'));

    -- Once per Message-ID: a concurrent copy of the same mail waits on this
    -- lock until the first commits, then finds its intake row.
    PERFORM pg_advisory_xact_lock(hashtextextended('ticketdesk.mail_intake ' || t || ' ' || mail_key, 0));
    SELECT i.tenant_id, i.intake_id, i.mail_id, i.received_at, i.sent_at, i.sender, i.subject, i.outcome,
           i.action, i.reason, i.flagged, i.center_id, i.ticket_id, i.message_id, i.contact_id, i.agent_id,
           i.size_bytes, NULL::bytea
      INTO intake FROM ticketdesk.mail_intake i WHERE i.tenant_id = t AND i.mail_id = mail_key;
    IF FOUND THEN
        RETURN intake;
    END IF;

    intake := ROW(t, NULL, mail_key, now(), p.sent_at, p.from_addr, p.subject, 'failed', NULL, p.error,
                  false, NULL, NULL, NULL, NULL, NULL, octet_length(raw), NULL);
    done := intake;
    IF p.error IS NULL THEN
        BEGIN
            done := ticketdesk.mail_act(intake, p, center_id);
        EXCEPTION WHEN OTHERS THEN
            done := intake;
            done.reason := format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE);
        END;
    END IF;

    -- One row for the mail, written last; the raw mail is kept but not read back.
    INSERT INTO ticketdesk.mail_intake AS i (tenant_id, mail_id, received_at, sent_at, sender, subject, outcome,
                                             action, reason, flagged, center_id, ticket_id, message_id,
                                             contact_id, agent_id, size_bytes, raw)
    VALUES (t, mail_key, done.received_at, done.sent_at, done.sender, done.subject, done.outcome, done.action,
            done.reason, done.flagged, done.center_id, done.ticket_id, done.message_id, done.contact_id,
            done.agent_id, done.size_bytes,
            CASE WHEN octet_length(raw) <= pg_size_bytes(current_setting('ticketdesk.mail_max_size')) THEN raw END)
    RETURNING i.intake_id INTO done.intake_id;
    RETURN done;
END $$;
COMMENT ON FUNCTION ingest_mail(bytea, bigint) IS
    'Takes in one raw mail: a new ticket, a reply on its ticket (confirm/reject/reopen), or stored only; once per Message-ID (R02, R51).';

-- Takes in the mail with this UID from an IMAP mailbox (the worker calls it,
-- one mail per transaction): ingest_mail with the mailbox's centre, and the
-- mailbox's last UID moved on in the same transaction. A UID at or below the
-- last one taken is skipped (NULL); a new UIDVALIDITY (the folder was
-- recreated, UIDs start again) resets the count, and Message-IDs still keep
-- mail from being taken twice.
CREATE FUNCTION mail_take(mailbox_id bigint, uidvalidity bigint, uid bigint, raw bytea) RETURNS mail_intake
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    box    ticketdesk.mail_mailbox;
    result ticketdesk.mail_intake;
BEGIN
    IF uid IS NULL OR uid <= 0 OR uidvalidity IS NULL OR uidvalidity <= 0 THEN
        RAISE EXCEPTION 'an IMAP UID and UIDVALIDITY are positive numbers'
            USING ERRCODE = 'TD633',
                  DETAIL = format('UID %s, UIDVALIDITY %s.', coalesce(uid::text, 'missing'),
                                  coalesce(uidvalidity::text, 'missing')),
                  HINT = 'Pass the values the IMAP server reported for the folder and the message.';
    END IF;
    -- The row lock orders two pollers of the same mailbox.
    SELECT * INTO box FROM ticketdesk.mail_mailbox b
     WHERE b.tenant_id = ticketdesk.current_tenant() AND b.mailbox_id = mail_take.mailbox_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mailbox % does not exist', mailbox_id
            USING ERRCODE = 'TD631',
                  DETAIL = format('Tenant %s has no mailbox with id %s.', ticketdesk.current_tenant(), mailbox_id),
                  HINT = 'Check the mailbox id, and that the setting ticketdesk.tenant names the right tenant.';
    END IF;
    IF NOT box.enabled THEN
        RAISE EXCEPTION 'mailbox % is disabled', mailbox_id
            USING ERRCODE = 'TD632', HINT = 'Set mail_mailbox.enabled to take mail from it again.';
    END IF;
    IF box.uidvalidity IS DISTINCT FROM uidvalidity THEN
        box.last_uid := 0;
    END IF;
    IF uid <= box.last_uid THEN
        RETURN NULL;
    END IF;
    result := ticketdesk.ingest_mail(raw, box.center_id);
    UPDATE ticketdesk.mail_mailbox b
       SET last_uid = uid, uidvalidity = mail_take.uidvalidity, last_poll_at = now(), last_error = NULL
     WHERE b.tenant_id = box.tenant_id AND b.mailbox_id = box.mailbox_id;
    RETURN result;
END $$;
COMMENT ON FUNCTION mail_take(bigint, bigint, bigint, bytea) IS
    'Takes in one IMAP mail by UID and moves the mailbox''s last UID on in the same transaction; NULL if already taken.';
-- The IMAP poller's side in SQL. The mail worker (src/mailpoll.c) runs as a
-- superuser in each database: it asks which mailboxes are due, reads their
-- passwords from the secrets, polls with no transaction open, takes each mail
-- in its own short transaction (mail_poll_take) and records how the poll
-- ended (mail_poll_done). See doc/mail.md, "The poller".

-- The name of the secret that holds a mailbox's password.
CREATE FUNCTION mail_mailbox_secret_name(box mail_mailbox) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(box.password_secret::text, 'imap.' || box.mailbox_id || '.password')
$$;
COMMENT ON FUNCTION mail_mailbox_secret_name(mail_mailbox) IS
    'The secret holding the mailbox''s password: password_secret, or imap.<mailbox_id>.password.';

-- The enabled mailboxes of every tenant whose poll is due, the longest
-- waiting first.
CREATE FUNCTION mail_poll_due(OUT tenant_id integer, OUT mailbox_id bigint, OUT url text, OUT username text,
                              OUT secret_name text, OUT after_fetch text, OUT move_to text,
                              OUT uidvalidity bigint, OUT last_uid bigint)
    RETURNS SETOF record
    LANGUAGE sql STABLE AS $$
    SELECT b.tenant_id, b.mailbox_id, b.url, b.username, ticketdesk.mail_mailbox_secret_name(b),
           b.after_fetch, b.move_to, b.uidvalidity, b.last_uid
      FROM ticketdesk.mail_mailbox b
     WHERE b.enabled AND (b.last_poll_at IS NULL OR b.last_poll_at + b.poll_interval <= clock_timestamp())
     ORDER BY b.last_poll_at NULLS FIRST, b.tenant_id, b.mailbox_id
$$;
COMMENT ON FUNCTION mail_poll_due() IS
    'Internal (mail worker): the enabled mailboxes of every tenant whose poll is due.';

-- Milliseconds until the next poll of any tenant falls due; NULL when no
-- mailbox is enabled. The CASE keeps that NULL: greatest() ignores NULLs,
-- so greatest(0, NULL) is 0, "due now", and until 0.9 the mail worker of
-- every database without an enabled mailbox polled in a loop at 100% of a
-- core.
CREATE FUNCTION mail_poll_next() RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN n.next_at IS NOT NULL
                THEN greatest(0, ceil(extract(epoch FROM n.next_at - clock_timestamp()) * 1000))::bigint
           END
      FROM (SELECT min(coalesce(b.last_poll_at + b.poll_interval, clock_timestamp())) AS next_at
              FROM ticketdesk.mail_mailbox b
             WHERE b.enabled) n
$$;
COMMENT ON FUNCTION mail_poll_next() IS
    'Internal (mail worker): milliseconds until the next poll is due, NULL when no mailbox is enabled.';

-- Takes one fetched mail for the mail worker: mail_take as the mailbox's
-- tenant. Returns the outcome, 'skipped' when the UID was taken before.
CREATE FUNCTION mail_poll_take(tenant_id integer, mailbox_id bigint, uidvalidity bigint, uid bigint, raw bytea)
    RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    intake ticketdesk.mail_intake;
BEGIN
    PERFORM set_config('ticketdesk.tenant', tenant_id::text, true);
    intake := ticketdesk.mail_take(mailbox_id, uidvalidity, uid, raw);
    RETURN coalesce(intake.outcome, 'skipped');
END $$;
COMMENT ON FUNCTION mail_poll_take(integer, bigint, bigint, bigint, bytea) IS
    'Internal (mail worker): mail_take as the mailbox''s tenant; returns the outcome or skipped.';

-- Records the end of a poll: when, and its error (NULL when it went well).
CREATE FUNCTION mail_poll_done(tenant_id integer, mailbox_id bigint, error text) RETURNS void
    LANGUAGE sql AS $$
    UPDATE ticketdesk.mail_mailbox b
       SET last_poll_at = clock_timestamp(), last_error = error
     WHERE b.tenant_id = mail_poll_done.tenant_id AND b.mailbox_id = mail_poll_done.mailbox_id
$$;
COMMENT ON FUNCTION mail_poll_done(integer, bigint, text) IS
    'Internal (mail worker): records when a mailbox was polled and the error, if any.';

-- Wakes the database's mail worker when the current transaction commits.
CREATE FUNCTION mail_poll_wake() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_mail_poll_wake';
COMMENT ON FUNCTION mail_poll_wake() IS
    'Wakes the database''s mail worker at commit (nothing without the preloaded library).';

-- A new or changed mailbox is looked at as soon as it is committed.
CREATE FUNCTION mail_mailbox_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticketdesk.mail_poll_wake();
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mail_mailbox_changed() IS 'Trigger: wakes the mail worker when a mailbox is added or changed.';
CREATE TRIGGER mail_mailbox_wake
    AFTER INSERT OR UPDATE OF url, username, password_secret, after_fetch, move_to, poll_interval, enabled
    ON mail_mailbox FOR EACH STATEMENT EXECUTE FUNCTION mail_mailbox_changed();

-- Polls a mailbox at once (rather than when its interval has passed).
CREATE FUNCTION mail_poll_now(mailbox_id bigint) RETURNS void
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
    UPDATE ticketdesk.mail_mailbox b SET last_poll_at = NULL
     WHERE b.tenant_id = ticketdesk.current_tenant() AND b.mailbox_id = mailbox_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mailbox % does not exist', mailbox_id
            USING ERRCODE = 'TD631',
                  DETAIL = format('Tenant %s has no mailbox with id %s.', ticketdesk.current_tenant(), mailbox_id),
                  HINT = 'Check the mailbox id, and that the setting ticketdesk.tenant names the right tenant.';
    END IF;
    PERFORM ticketdesk.mail_poll_wake();
END $$;
COMMENT ON FUNCTION mail_poll_now(bigint) IS
    'Asks the mail worker to poll the mailbox at once (after commit).';

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
-- The lifecycle moves. Each is one UPDATE of the ticket; the lifecycle
-- trigger decides whether the move is allowed and records it, so a plain
-- UPDATE by an ERP is held to exactly the same rules.

-- Moves a ticket to a status, recording the note with the change. The
-- named moves below are this with a fixed status.
CREATE FUNCTION move(ticket_id bigint, status ticket_status, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k SET status = move.status
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = move.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION move(bigint, ticket_status, text) IS
    'Moves a ticket to a status if table transition allows it; the note goes into the history.';

CREATE FUNCTION acknowledge(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'acknowledged', note) $$;
COMMENT ON FUNCTION acknowledge(bigint, text) IS 'The assignee confirms they saw the ticket (R10, R51).';

CREATE FUNCTION reject(ticket_id bigint, reason text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'new', reason) $$;
COMMENT ON FUNCTION reject(bigint, text) IS
    'The assignee rejects the assignment (R51); the ticket goes back to its centre''s queue.';

CREATE FUNCTION start_work(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'in_progress', note) $$;
COMMENT ON FUNCTION start_work(bigint, text) IS 'The assignee starts work (R19).';

CREATE FUNCTION wait_for_customer(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'waiting', note) $$;
COMMENT ON FUNCTION wait_for_customer(bigint, text) IS 'Work pauses until the customer answers.';

CREATE FUNCTION resume(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'in_progress', note) $$;
COMMENT ON FUNCTION resume(bigint, text) IS 'Work goes on after the customer answered.';

CREATE FUNCTION confirm(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'confirmed', note) $$;
COMMENT ON FUNCTION confirm(bigint, text) IS 'The requester confirms the resolution (R19).';

CREATE FUNCTION reopen(ticket_id bigint, reason text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'in_progress', reason) $$;
COMMENT ON FUNCTION reopen(bigint, text) IS
    'The requester does not accept the resolution, or the ticket needs more work: back to in progress.';

CREATE FUNCTION close(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'closed', note) $$;
COMMENT ON FUNCTION close(bigint, text) IS 'The dispatcher closes a resolved or confirmed ticket (R19).';

CREATE FUNCTION cancel(ticket_id bigint, reason text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'cancelled', reason) $$;
COMMENT ON FUNCTION cancel(bigint, text) IS 'Cancels a ticket that is not finished.';

-- Assigns a ticket to an agent (R18, R50); a reassignment when it is already held.
CREATE FUNCTION assign(ticket_id bigint, agent_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    IF agent_id IS NULL THEN
        RAISE EXCEPTION 'assigning a ticket needs an agent'
            USING ERRCODE = 'TD203', HINT = 'Pass agent_id, or use reject or redirect to return the ticket to a queue.';
    END IF;
    PERFORM ticketdesk.require('agent', agent_id);
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k SET assignee_id = agent_id, status = 'assigned'
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = assign.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION assign(bigint, bigint, text) IS 'Assigns or reassigns a ticket to an agent (R18, R50).';

-- Resolves a ticket with the resolution text the requester will confirm (R19).
CREATE FUNCTION resolve(ticket_id bigint, resolution text, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k SET status = 'resolved', resolution = resolve.resolution
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = resolve.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION resolve(bigint, text, text) IS 'Records the resolution and resolves the ticket (R19).';

-- Redirects a ticket to another centre's queue (R18). Its category stays
-- only if it also serves the new centre.
CREATE FUNCTION redirect(ticket_id bigint, center_id bigint, reason text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    IF center_id IS NULL THEN
        RAISE EXCEPTION 'redirecting a ticket needs a centre'
            USING ERRCODE = 'TD202', HINT = 'Pass center_id: the centre that should handle the ticket.';
    END IF;
    PERFORM ticketdesk.require('center', center_id);
    caller_note := ticketdesk.set_note(reason);
    UPDATE ticketdesk.ticket k
       SET center_id = redirect.center_id,
           status = 'new',
           category_id = CASE WHEN ticketdesk.category_fits(k.category_id, redirect.center_id)
                              THEN k.category_id END
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = redirect.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION redirect(bigint, bigint, text) IS 'Redirects a ticket to another centre''s dispatcher queue (R18).';

-- The dispatcher's corrections (R18): any argument left NULL stays as it is.
CREATE FUNCTION correct(ticket_id bigint,
                        category_id bigint DEFAULT NULL,
                        internal_category_id bigint DEFAULT NULL,
                        dispatcher_weight integer DEFAULT NULL,
                        requester_weight integer DEFAULT NULL,
                        deadline timestamptz DEFAULT NULL,
                        type text DEFAULT NULL,
                        note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    current ticketdesk.ticket;
    type_ref bigint;
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    -- Locked, so a concurrent redirect cannot change the centre checked below.
    SELECT * INTO current FROM ticketdesk.ticket k
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = correct.ticket_id
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    PERFORM ticketdesk.require('category', category_id);
    PERFORM ticketdesk.require_category_fits(category_id, current.center_id);
    PERFORM ticketdesk.require('internal category', internal_category_id);
    IF type IS NOT NULL THEN
        SELECT x.type_id INTO type_ref FROM ticketdesk.ticket_type x
         WHERE x.tenant_id = current.tenant_id AND x.code = correct.type;
        IF type_ref IS NULL THEN
            RAISE EXCEPTION 'ticket type "%" does not exist', type
                USING ERRCODE = 'TD207', HINT = 'Use one of the codes in table ticketdesk.ticket_type.';
        END IF;
    END IF;
    IF dispatcher_weight NOT BETWEEN 1 AND 5 OR requester_weight NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'weights must be between 1 and 5'
            USING ERRCODE = 'TD302',
                  DETAIL = format('dispatcher_weight is %s, requester_weight is %s.',
                                  coalesce(dispatcher_weight::text, 'unchanged'),
                                  coalesce(requester_weight::text, 'unchanged')),
                  HINT = '1 is the least important, 5 the most; 3 is normal.';
    END IF;
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k
       SET category_id = coalesce(correct.category_id, k.category_id),
           internal_category_id = coalesce(correct.internal_category_id, k.internal_category_id),
           dispatcher_weight = coalesce(correct.dispatcher_weight, k.dispatcher_weight),
           requester_weight = coalesce(correct.requester_weight, k.requester_weight),
           deadline = coalesce(correct.deadline, k.deadline),
           type_id = coalesce(type_ref, k.type_id)
     WHERE k.tenant_id = current.tenant_id AND k.ticket_id = current.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    RETURN result;
END $$;
COMMENT ON FUNCTION correct(bigint, bigint, bigint, integer, integer, timestamptz, text, text) IS
    'Dispatcher corrections of category, internal category, weights, deadline or type (R18); NULL keeps a value.';
-- Remarks, attachments, watchers, and reading a ticket's history.

-- Adds a remark to a ticket (R20, R52). Internal remarks are for staff only.
CREATE FUNCTION comment(ticket_id bigint, body text, internal boolean DEFAULT false,
                        author_agent_id bigint DEFAULT NULL, author_contact_id bigint DEFAULT NULL,
                        document_link text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    IF body IS NULL OR body !~ '\S' THEN
        RAISE EXCEPTION 'a remark needs a text'
            USING ERRCODE = 'TD311', HINT = 'Write the remark in body.';
    END IF;
    IF author_agent_id IS NOT NULL AND author_contact_id IS NOT NULL THEN
        RAISE EXCEPTION 'a remark has one author'
            USING ERRCODE = 'TD315', HINT = 'Pass author_agent_id or author_contact_id, not both.';
    END IF;
    PERFORM ticketdesk.require('agent', author_agent_id);
    PERFORM ticketdesk.require('contact', author_contact_id);
    INSERT INTO ticketdesk.message (tenant_id, ticket_id, author_agent_id, author_contact_id,
                                    internal, body, document_link)
    VALUES (ticketdesk.current_tenant(), ticket_id,
            CASE WHEN author_contact_id IS NULL THEN coalesce(author_agent_id, ticketdesk.current_agent()) END,
            author_contact_id, coalesce(internal, false), body, document_link)
    RETURNING message_id INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION comment(bigint, text, boolean, bigint, bigint, text) IS
    'Adds a public or internal remark to a ticket, optionally linking a document (R20, R52); returns its id.';

-- Attaches a file to a ticket, or to one of its remarks.
CREATE FUNCTION attach(ticket_id bigint, filename text, data bytea,
                       content_type text DEFAULT 'application/octet-stream',
                       message_id bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    PERFORM ticketdesk.require('message', message_id);
    IF filename IS NULL OR filename !~ '\S' OR data IS NULL THEN
        RAISE EXCEPTION 'an attachment needs a file name and its content'
            USING ERRCODE = 'TD314',
                  DETAIL = format('The file name is %s and the content is %s.',
                                  coalesce(quote_literal(filename), 'missing'),
                                  CASE WHEN data IS NULL THEN 'missing' ELSE 'given' END),
                  HINT = 'Pass filename and data.';
    END IF;
    INSERT INTO ticketdesk.attachment (tenant_id, ticket_id, message_id, filename, content_type, data,
                                       size_bytes, sha256)
    VALUES (ticketdesk.current_tenant(), ticket_id, message_id, filename,
            coalesce(content_type, 'application/octet-stream'), data, 0, ''::bytea)
    RETURNING attachment_id INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION attach(bigint, text, bytea, text, bigint) IS
    'Attaches a file (size limit: ticketdesk.max_attachment_size); size and SHA-256 are computed; returns its id.';

-- Forwards a ticket to an agent or a contact for consultation or for
-- information (R20). Adding the same watcher again changes nothing.
CREATE FUNCTION add_watcher(ticket_id bigint, agent_id bigint DEFAULT NULL, contact_id bigint DEFAULT NULL,
                            purpose text DEFAULT 'information', note text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    IF num_nonnulls(agent_id, contact_id) <> 1 THEN
        RAISE EXCEPTION 'a watcher is either an agent or a contact'
            USING ERRCODE = 'TD310', HINT = 'Pass exactly one of agent_id and contact_id.';
    END IF;
    IF purpose IS NULL OR purpose NOT IN ('consultation', 'information') THEN
        RAISE EXCEPTION 'unknown watcher purpose "%"', purpose
            USING ERRCODE = 'TD313', HINT = 'The purpose is consultation or information.';
    END IF;
    PERFORM ticketdesk.require('agent', agent_id);
    PERFORM ticketdesk.require('contact', contact_id);
    INSERT INTO ticketdesk.watcher AS w (tenant_id, ticket_id, agent_id, contact_id, purpose, note, added_by)
    VALUES (ticketdesk.current_tenant(), ticket_id, agent_id, contact_id, purpose, note, ticketdesk.current_agent())
    ON CONFLICT ON CONSTRAINT watcher_once DO NOTHING
    RETURNING w.watcher_id INTO result;
    IF result IS NULL THEN
        SELECT w.watcher_id INTO result FROM ticketdesk.watcher w
         WHERE w.tenant_id = ticketdesk.current_tenant() AND w.ticket_id = add_watcher.ticket_id
           AND w.agent_id IS NOT DISTINCT FROM add_watcher.agent_id
           AND w.contact_id IS NOT DISTINCT FROM add_watcher.contact_id;
        RETURN result;
    END IF;
    INSERT INTO ticketdesk.ticket_event (tenant_id, ticket_id, kind, new_value, note, actor_agent_id)
    VALUES (ticketdesk.current_tenant(), ticket_id, 'watcher',
            format('%s %s (%s)', CASE WHEN agent_id IS NOT NULL THEN 'agent' ELSE 'contact' END,
                   coalesce(agent_id, contact_id), purpose),
            note, ticketdesk.current_agent());
    RETURN result;
END $$;
COMMENT ON FUNCTION add_watcher(bigint, bigint, bigint, text, text) IS
    'Forwards a ticket to an agent or contact for consultation or information (R20); returns the watcher id.';

-- A ticket's history, oldest first, with the actors' names.
CREATE FUNCTION ticket_history(ticket_id bigint)
    RETURNS TABLE (event_id bigint, at timestamptz, kind text, old_value text, new_value text,
                   note text, actor text)
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_history.ticket_id);
    RETURN QUERY
    SELECT e.event_id, e.at, e.kind, e.old_value, e.new_value, e.note,
           coalesce(a.name, e.actor_role::text)
      FROM ticketdesk.ticket_event e
      LEFT JOIN ticketdesk.agent a ON a.tenant_id = e.tenant_id AND a.agent_id = e.actor_agent_id
     WHERE e.tenant_id = ticketdesk.current_tenant() AND e.ticket_id = ticket_history.ticket_id
     ORDER BY e.event_id;
END $$;
COMMENT ON FUNCTION ticket_history(bigint) IS 'A ticket''s history, oldest first: what changed, old and new value, note, who.';
-- Configuring business calendars.

-- Creates a calendar from a compact description of its working hours:
-- 'mon-fri 08:00-12:00, 12:45-17:00; sat 09:00-13:00'. Days are mon..sun,
-- alone or as a range; periods are HH:MM-HH:MM, comma-separated.
CREATE FUNCTION create_calendar(code text, name text, time_zone text, hours text,
                                is_default boolean DEFAULT false) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    days    constant text[] := ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    part    text;
    m       text[];
    period  text;
    p       text[];
    first   int;
    last    int;
    result  bigint;
BEGIN
    INSERT INTO ticketdesk.calendar (code, name, time_zone, is_default)
    VALUES (code, name, coalesce(time_zone, 'UTC'), coalesce(is_default, false))
    RETURNING calendar_id INTO result;
    FOREACH part IN ARRAY regexp_split_to_array(coalesce(hours, ''), '\s*;\s*') LOOP
        CONTINUE WHEN part !~ '\S';
        m := regexp_match(lower(part), '^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?\s+(.+?)\s*$');
        first := array_position(days, m[1]);
        last := coalesce(array_position(days, m[2]), first);
        IF m IS NULL OR first IS NULL OR last IS NULL OR last < first THEN
            RAISE EXCEPTION 'cannot read working hours "%"', part
                USING ERRCODE = 'TD602',
                      HINT = 'Write days (mon..sun, or a range like mon-fri) then periods: ''mon-fri 08:00-12:00, 12:45-17:00; sat 09:00-13:00''.';
        END IF;
        FOREACH period IN ARRAY regexp_split_to_array(m[3], '\s*,\s*') LOOP
            p := regexp_match(period, '^(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$');
            IF p IS NULL THEN
                RAISE EXCEPTION 'cannot read working period "%"', period
                    USING ERRCODE = 'TD602', HINT = 'Write a period as HH:MM-HH:MM, e.g. 08:00-12:00.';
            END IF;
            INSERT INTO ticketdesk.calendar_hours (calendar_id, weekday, starts, ends)
            SELECT result, d, p[1]::time, p[2]::time FROM generate_series(first, last) d;
        END LOOP;
    END LOOP;
    -- Run the deferred "has working time" check now, so a refusal comes at once.
    SET CONSTRAINTS ticketdesk.calendar_has_working_time IMMEDIATE;
    SET CONSTRAINTS ticketdesk.calendar_has_working_time DEFERRED;
    RETURN result;
END $$;
COMMENT ON FUNCTION create_calendar(text, text, text, text, boolean) IS
    'Creates a business calendar from hours like ''mon-fri 08:00-12:00, 12:45-17:00''; returns its id.';

-- Adds a holiday to a calendar; yearly ones repeat on the same month and day.
CREATE FUNCTION add_holiday(calendar_id bigint, day date, name text DEFAULT NULL,
                            yearly boolean DEFAULT false) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.calendar_holiday (calendar_id, day, name, yearly)
    VALUES ($1, $2, $3, coalesce($4, false))
$$;
COMMENT ON FUNCTION add_holiday(bigint, date, text, boolean) IS
    'Adds a one-off or yearly holiday to a calendar.';

-- Makes a centre (and the centres below it without their own) work by a calendar.
CREATE FUNCTION set_center_calendar(center_id bigint, calendar_id bigint) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.center_calendar (center_id, calendar_id) VALUES ($1, $2)
    ON CONFLICT (tenant_id, center_id) DO UPDATE SET calendar_id = EXCLUDED.calendar_id
$$;
COMMENT ON FUNCTION set_center_calendar(bigint, bigint) IS
    'Sets the calendar of a centre; centres below it without their own inherit it.';
-- The intake's tables (issue 8): which logins may submit requests, and what
-- they submitted, for the per-sender rate limit. Here, before 90_tenancy.sql,
-- so they get tenant isolation, the tenant guard and dump like every table;
-- submit_request is in 95_roles.sql.
CREATE TABLE intake_source (
    tenant_id    integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    login_role   name NOT NULL,
    center_id    bigint NOT NULL,
    max_per_hour integer NOT NULL DEFAULT 20 CHECK (max_per_hour > 0),
    PRIMARY KEY (tenant_id, login_role),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center
);
CREATE UNIQUE INDEX intake_source_login_key ON intake_source (login_role);
COMMENT ON TABLE intake_source IS 'Intake logins (web forms, gateways): their tenant, centre and per-sender rate limit.';
CREATE TABLE intake_submission (
    tenant_id  integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    sender     text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    ticket_id  bigint NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id)
);
CREATE INDEX intake_submission_sender_idx ON intake_submission (tenant_id, lower(sender), at);
COMMENT ON TABLE intake_submission IS 'Requests submitted through submit_request, for the per-sender rate limit.';
-- Automatic priority (R06, R24): the matrix computation, its explanation,
-- and the dispatcher's override. doc/priority.md has the formula.

-- The priority of a cell of the matrix for the current tenant, moved by the
-- weights and the deadline. STABLE: it reads the rules (through the
-- backend's cache) and the setting ticketdesk.deadline_near; with the same
-- rules, setting and arguments it always gives the same result.
CREATE FUNCTION compute_priority(
    center_id            bigint,
    category_id          bigint,
    internal_category_id bigint,
    requester_weight     integer DEFAULT 3,
    dispatcher_weight    integer DEFAULT NULL,
    deadline             timestamptz DEFAULT NULL,
    as_of                timestamptz DEFAULT now()
) RETURNS ticket_priority
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_compute_priority';
COMMENT ON FUNCTION compute_priority(bigint, bigint, bigint, integer, integer, timestamptz, timestamptz) IS
    'The automatic priority (R24): the most specific matrix rule, moved by both weights and the deadline as of as_of.';

-- Every step of compute_priority with the same arguments, as numbers.
CREATE FUNCTION priority_factors(
    center_id            bigint,
    category_id          bigint,
    internal_category_id bigint,
    requester_weight     integer,
    dispatcher_weight    integer,
    deadline             timestamptz,
    as_of                timestamptz DEFAULT now(),
    OUT rule_id           bigint,
    OUT base              ticket_priority,
    OUT requester_points  integer,
    OUT dispatcher_points integer,
    OUT weight_shift      integer,
    OUT deadline_state    text,
    OUT deadline_shift    integer,
    OUT priority          ticket_priority
) RETURNS record
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_priority_factors';
COMMENT ON FUNCTION priority_factors(bigint, bigint, bigint, integer, integer, timestamptz, timestamptz) IS
    'The steps of compute_priority as numbers: matched rule, base, weight points and shift, deadline state and shift, result.';

-- Internal: an integer with its sign, as in "+2" or "-1" or "0".
CREATE FUNCTION priority_signed(n integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN n > 0 THEN '+' ELSE '' END || n $$;
COMMENT ON FUNCTION priority_signed(integer) IS 'Internal: an integer with its sign (+2, -1, 0).';

-- Internal: a number of levels in words, as in "+1 level" or "-2 levels".
CREATE FUNCTION priority_levels(n integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT ticketdesk.priority_signed(n) || CASE WHEN abs(n) = 1 THEN ' level' ELSE ' levels' END $$;
COMMENT ON FUNCTION priority_levels(integer) IS 'Internal: a number of levels with its sign, in words.';

-- Internal: a priority rule's cell in words.
CREATE FUNCTION priority_cell_text(rule_id bigint) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT format('rule %s: %s × %s', r.rule_id,
                  CASE WHEN r.category_id IS NOT NULL THEN format('category %s (%s)', k.code, r.category_id)
                       WHEN r.center_id IS NOT NULL THEN format('centre %s (%s)', c.code, r.center_id)
                       ELSE 'every centre' END,
                  CASE WHEN r.internal_category_id IS NOT NULL
                       THEN format('internal category %s (%s)', i.code, r.internal_category_id)
                       ELSE 'any internal category' END)
      FROM ticketdesk.priority_rule r
      LEFT JOIN ticketdesk.category k ON k.tenant_id = r.tenant_id AND k.category_id = r.category_id
      LEFT JOIN ticketdesk.center c ON c.tenant_id = r.tenant_id AND c.center_id = r.center_id
      LEFT JOIN ticketdesk.internal_category i
             ON i.tenant_id = r.tenant_id AND i.internal_category_id = r.internal_category_id
     WHERE r.tenant_id = ticketdesk.current_tenant() AND r.rule_id = priority_cell_text.rule_id
$$;
COMMENT ON FUNCTION priority_cell_text(bigint) IS 'Internal: a priority rule''s cell in words.';

-- Why compute_priority gives what it gives, one row per factor: the rule
-- that matched (or none), each weight, the deadline, and the result.
CREATE FUNCTION explain_priority(
    center_id            bigint,
    category_id          bigint,
    internal_category_id bigint,
    requester_weight     integer,
    dispatcher_weight    integer,
    deadline             timestamptz,
    as_of                timestamptz DEFAULT now()
) RETURNS TABLE (step integer, factor text, input text, effect text, priority ticket_priority)
    LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT * FROM ticketdesk.priority_factors($1, $2, $3, $4, $5, $6, $7)
    ), signed AS (
        SELECT f.*, (f.base::text) AS base_text,
               array_position(enum_range(NULL::ticketdesk.ticket_priority), f.base) - 1
                   + f.weight_shift + f.deadline_shift AS level,
               ticketdesk.priority_signed(f.weight_shift) AS shift_text,
               ticketdesk.priority_levels(f.weight_shift) AS shift_levels,
               ticketdesk.priority_levels(f.deadline_shift) AS deadline_levels,
               ticketdesk.priority_signed(f.deadline_shift) AS deadline_text
          FROM f
    )
    SELECT 1, 'rule',
           CASE WHEN s.rule_id IS NULL THEN 'no rule for this cell'
                ELSE ticketdesk.priority_cell_text(s.rule_id) END,
           CASE WHEN s.rule_id IS NULL THEN 'base normal' ELSE 'base ' || s.base_text END,
           s.base
      FROM signed s
    UNION ALL
    SELECT 2, 'requester weight', $4::text,
           ticketdesk.priority_signed(s.requester_points) || ' points', NULL
      FROM signed s
    UNION ALL
    SELECT 3, 'dispatcher weight', coalesce($5::text, 'not set'),
           CASE WHEN $5 IS NULL THEN 'none'
                ELSE ticketdesk.priority_signed(s.dispatcher_points) || ' points (counts twice)' END,
           NULL
      FROM signed s
    UNION ALL
    SELECT 4, 'weights', ticketdesk.priority_signed(s.requester_points + coalesce(s.dispatcher_points, 0)) || ' points',
           s.shift_levels || ' (half the points, toward zero)', NULL
      FROM signed s
    UNION ALL
    SELECT 5, 'deadline',
           CASE s.deadline_state
               WHEN 'none' THEN 'none'
               WHEN 'passed' THEN 'passed'
               WHEN 'near' THEN 'near (within ' || current_setting('ticketdesk.deadline_near') || ')'
               ELSE 'far (more than ' || current_setting('ticketdesk.deadline_near') || ' away)' END,
           s.deadline_levels, NULL
      FROM signed s
    UNION ALL
    SELECT 6, 'result',
           s.base_text || ' ' || s.shift_text || ' ' || s.deadline_text,
           CASE WHEN s.level > 3 THEN 'capped at urgent'
                WHEN s.level < 0 THEN 'held at low'
                ELSE 'within low..urgent' END,
           s.priority
      FROM signed s
    ORDER BY 1
$$;
COMMENT ON FUNCTION explain_priority(bigint, bigint, bigint, integer, integer, timestamptz, timestamptz) IS
    'Why compute_priority gives its result: the matched rule, each weight, the deadline and the result, one row each.';

-- Why a ticket has its priority (the dispatcher's "why is this urgent?"):
-- the explanation of its inputs as of as_of, then the dispatcher's override
-- if there is one, or the stored priority if it is no longer the computed
-- one (a rule changed, or the deadline came nearer, since its last change).
CREATE FUNCTION explain_priority(ticket_id bigint, as_of timestamptz DEFAULT now())
    RETURNS TABLE (step integer, factor text, input text, effect text, priority ticket_priority)
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    k ticketdesk.ticket;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x
     WHERE x.tenant_id = ticketdesk.current_tenant() AND x.ticket_id = explain_priority.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN QUERY
        SELECT e.step, e.factor, e.input, e.effect, e.priority
          FROM ticketdesk.explain_priority(k.center_id, k.category_id, k.internal_category_id,
                                           k.requester_weight, k.dispatcher_weight, k.deadline, as_of) e;
    IF k.priority_fixed THEN
        RETURN QUERY SELECT 7, 'override', 'fixed by the dispatcher',
                            'replaces the computed priority', k.priority;
    ELSIF k.priority IS DISTINCT FROM ticketdesk.compute_priority(
              k.center_id, k.category_id, k.internal_category_id, k.requester_weight,
              k.dispatcher_weight, k.deadline, as_of) THEN
        RETURN QUERY SELECT 7, 'stored', 'computed at the ticket''s last change',
                            'the rules or the deadline''s nearness moved since', k.priority;
    END IF;
END $$;
COMMENT ON FUNCTION explain_priority(bigint, timestamptz) IS
    'Why a ticket has its priority: its matrix rule, weights and deadline as of as_of, and the override if fixed.';

-- Internal: sets or clears the dispatcher's override in one update, with
-- the note recorded in the history. Clearing it makes the trigger compute
-- the priority again.
CREATE FUNCTION set_priority_fixed(ticket_id bigint, fixed boolean, priority ticket_priority, note text)
    RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k
       SET priority_fixed = fixed,
           priority = CASE WHEN fixed THEN set_priority_fixed.priority ELSE k.priority END
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = set_priority_fixed.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION set_priority_fixed(bigint, boolean, ticket_priority, text) IS
    'Internal: sets (with a priority) or clears the dispatcher''s priority override.';

-- The dispatcher's override: the ticket keeps this priority, whatever the
-- matrix, the weights and the deadline say, until released.
CREATE FUNCTION fix_priority(ticket_id bigint, priority ticket_priority, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
BEGIN
    IF priority IS NULL THEN
        RAISE EXCEPTION 'fixing a priority needs a priority'
            USING ERRCODE = 'TD505',
                  HINT = 'Pass low, normal, high or urgent; to let the matrix decide again, call ticketdesk.release_priority.';
    END IF;
    RETURN ticketdesk.set_priority_fixed(ticket_id, true, priority, note);
END $$;
COMMENT ON FUNCTION fix_priority(bigint, ticket_priority, text) IS
    'The dispatcher''s override: fixes a ticket''s priority; recorded in the history (priority, priority_fixed).';

-- Ends the override: the priority is computed again, at once.
CREATE FUNCTION release_priority(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.set_priority_fixed(ticket_id, false, NULL, note) $$;
COMMENT ON FUNCTION release_priority(bigint, text) IS
    'Ends the dispatcher''s override: the ticket''s priority is computed from the matrix again.';
-- SLA clocks, computed from the ticket history: the clock runs while the
-- ticket is new, assigned, acknowledged or in progress, and pauses while it
-- waits on the customer (or sits resolved). Nothing is stored, so a changed
-- target or priority recomputes the clock without losing the paused time.

-- The SLA target for a centre, type and priority: the most specific row.
CREATE FUNCTION sla_target_for(center_id bigint, type_id bigint, priority ticket_priority)
    RETURNS sla_target
    LANGUAGE sql STABLE AS $$
    SELECT s.* FROM ticketdesk.sla_target s
     WHERE s.tenant_id = ticketdesk.current_tenant()
       AND (s.center_id = $1 OR s.center_id IS NULL)
       AND (s.type_id = $2 OR s.type_id IS NULL)
       AND (s.priority = $3 OR s.priority IS NULL)
     ORDER BY s.center_id IS NULL, s.type_id IS NULL, s.priority IS NULL
     LIMIT 1
$$;
COMMENT ON FUNCTION sla_target_for(bigint, bigint, ticket_priority) IS
    'The SLA target that applies to a centre, type and priority (most specific first), or NULL.';

-- The instant a clock reaches target, given the closed running periods and
-- the start of the one still running (NULL when paused): NULL while paused
-- short of the target.
CREATE FUNCTION sla_reached_at(calendar_id bigint, periods tstzrange[], running_since timestamptz,
                               target interval) RETURNS timestamptz
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    p    tstzrange;
    used interval := '0';
    len  interval;
BEGIN
    FOREACH p IN ARRAY periods LOOP
        len := ticketdesk.business_between(calendar_id, lower(p), upper(p));
        IF used + len >= target THEN
            RETURN ticketdesk.business_add(calendar_id, lower(p), target - used);
        END IF;
        used := used + len;
    END LOOP;
    IF running_since IS NOT NULL THEN
        RETURN ticketdesk.business_add(calendar_id, running_since, target - used);
    END IF;
    RETURN NULL;
END $$;

-- The SLA clocks of one ticket as of a moment (no row when no target applies).
CREATE FUNCTION ticket_sla(ticket_id bigint, as_of timestamptz DEFAULT now())
    RETURNS TABLE (calendar_id bigint,
                   response_target interval, response_due timestamptz, responded_at timestamptz,
                   response_state text,
                   resolution_target interval, resolution_due timestamptz,
                   elapsed interval, remaining interval, resolution_state text)
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t        integer := ticketdesk.current_tenant();
    k        ticketdesk.ticket;
    target   ticketdesk.sla_target;
    e        record;
    periods  tstzrange[] := '{}';
    since    timestamptz;
    runs     boolean;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x WHERE x.tenant_id = t AND x.ticket_id = ticket_sla.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_sla.ticket_id);
    END IF;
    target := ticketdesk.sla_target_for(k.center_id, k.type_id, k.priority);
    IF target.sla_target_id IS NULL THEN
        RETURN;
    END IF;

    -- Running periods from the status history up to as_of.
    since := k.created_at;
    runs := true;
    FOR e IN SELECT v.at, v.new_value::ticketdesk.ticket_status AS status FROM ticketdesk.ticket_event v
              WHERE v.tenant_id = t AND v.ticket_id = k.ticket_id AND v.kind = 'status' AND v.at <= as_of
              ORDER BY v.at, v.event_id LOOP
        IF runs AND e.status NOT IN ('new', 'assigned', 'acknowledged', 'in_progress') THEN
            periods := periods || tstzrange(since, greatest(since, e.at));
            runs := false;
        ELSIF NOT runs AND e.status IN ('new', 'assigned', 'acknowledged', 'in_progress') THEN
            since := e.at;
            runs := true;
        END IF;
    END LOOP;

    calendar_id := ticketdesk.calendar_of_center(k.center_id);
    response_target := target.first_response;
    resolution_target := target.resolution;

    -- First response: the first acknowledgement or later status, or the
    -- first public remark by an agent who is not the requester.
    SELECT min(x.at) INTO responded_at FROM (
        SELECT v.at FROM ticketdesk.ticket_event v
         WHERE v.tenant_id = t AND v.ticket_id = k.ticket_id AND v.kind = 'status'
           AND v.new_value IN ('acknowledged', 'in_progress', 'waiting', 'resolved') AND v.at <= as_of
        UNION ALL
        SELECT m.created_at FROM ticketdesk.message m
         WHERE m.tenant_id = t AND m.ticket_id = k.ticket_id AND NOT m.internal
           AND m.author_agent_id IS NOT NULL AND m.author_agent_id IS DISTINCT FROM k.requester_agent_id
           AND m.created_at <= as_of) x;
    response_due := ticketdesk.sla_reached_at(calendar_id, periods, CASE WHEN runs THEN since END,
                                              target.first_response);
    response_state := CASE
        WHEN responded_at IS NOT NULL AND (response_due IS NULL OR responded_at <= response_due) THEN 'met'
        WHEN responded_at IS NOT NULL THEN 'missed'
        WHEN response_due <= as_of THEN 'breached'
        WHEN NOT runs THEN 'paused'
        ELSE 'running' END;

    SELECT coalesce(sum(ticketdesk.business_between(calendar_id, lower(p), upper(p))), '0')
      INTO elapsed FROM unnest(periods) p;
    IF runs THEN
        elapsed := elapsed + ticketdesk.business_between(calendar_id, since, greatest(since, as_of));
    END IF;
    resolution_due := ticketdesk.sla_reached_at(calendar_id, periods, CASE WHEN runs THEN since END,
                                                target.resolution);
    remaining := target.resolution - elapsed;
    resolution_state := CASE
        WHEN elapsed >= target.resolution THEN 'breached'
        WHEN NOT runs THEN 'paused'
        ELSE 'running' END;
    RETURN NEXT;
END $$;
COMMENT ON FUNCTION ticket_sla(bigint, timestamptz) IS
    'SLA clocks of a ticket as of a moment: deadlines, elapsed and remaining business time, breach state.';

-- The SLA clocks of every open ticket of the tenant.
CREATE FUNCTION sla_clocks(as_of timestamptz DEFAULT now())
    RETURNS TABLE (ticket_id bigint, reference text, status ticket_status, priority ticket_priority,
                   response_due timestamptz, response_state text,
                   resolution_due timestamptz, elapsed interval, remaining interval, resolution_state text)
    LANGUAGE sql STABLE AS $$
    SELECT k.ticket_id, k.reference, k.status, k.priority,
           s.response_due, s.response_state, s.resolution_due, s.elapsed, s.remaining, s.resolution_state
      FROM ticketdesk.ticket k
     CROSS JOIN LATERAL ticketdesk.ticket_sla(k.ticket_id, as_of) s
     WHERE k.tenant_id = ticketdesk.current_tenant()
       AND k.phase = 'open'
     ORDER BY s.resolution_due NULLS LAST, k.ticket_id
$$;
COMMENT ON FUNCTION sla_clocks(timestamptz) IS
    'Deadlines, remaining business time and breach state of every open ticket with an SLA target.';

CREATE VIEW sla_status AS SELECT * FROM sla_clocks(now());
COMMENT ON VIEW sla_status IS 'The SLA clocks of the open tickets now (sla_clocks(now())).';
-- The time-driven jobs. Each works for the current tenant, takes as_of (so
-- tests move time), and is idempotent: a ticket it moves leaves the set it
-- scans (a second session waits for the row, then finds it moved), notices
-- have unique keys, and reminders and contracts another session is working
-- on are skipped (SKIP LOCKED), so a rerun or a crash-and-retry does nothing twice.

-- The closing rule of every centre and type of the tenant (most specific wins)
-- with the centre's calendar: a small table the jobs join tickets with.
CREATE FUNCTION closing_rules_by_center_type()
    RETURNS TABLE (center_id bigint, type_id bigint, calendar_id bigint,
                   confirm_after_days integer, close_after_days integer, remind_before_days integer)
    LANGUAGE sql STABLE AS $$
    SELECT c.center_id, y.type_id, ticketdesk.calendar_of_center(c.center_id),
           r.confirm_after_days, r.close_after_days, r.remind_before_days
      FROM ticketdesk.center c
      JOIN ticketdesk.ticket_type y ON y.tenant_id = c.tenant_id
     CROSS JOIN LATERAL (
        SELECT r.* FROM ticketdesk.closing_rule r
         WHERE r.tenant_id = c.tenant_id
           AND (r.center_id = c.center_id OR r.center_id IS NULL)
           AND (r.type_id = y.type_id OR r.type_id IS NULL)
         ORDER BY r.center_id IS NULL, r.type_id IS NULL
         LIMIT 1) r
     WHERE c.tenant_id = ticketdesk.current_tenant()
$$;

-- True when the requester answered a ticket after the moment since: a public
-- remark by the ticket's contact, a contact of its customer, or the
-- requesting employee.
CREATE FUNCTION requester_replied(k ticket, since timestamptz) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM ticketdesk.message m
          LEFT JOIN ticketdesk.contact c ON c.tenant_id = m.tenant_id AND c.contact_id = m.author_contact_id
         WHERE m.tenant_id = k.tenant_id AND m.ticket_id = k.ticket_id
           AND NOT m.internal AND m.created_at > since
           AND (m.author_contact_id = k.contact_id
                OR (c.customer_id IS NOT NULL AND c.customer_id = k.customer_id)
                OR m.author_agent_id = k.requester_agent_id))
$$;
COMMENT ON FUNCTION requester_replied(ticket, timestamptz) IS
    'True when the requester wrote a public remark on the ticket after since (a reply stops auto-confirm).';

-- Reminds requesters that resolved tickets will be confirmed automatically,
-- then confirms those unanswered for confirm_after_days business days (R22).
-- The lifecycle trigger stamps confirmed_at with the real time of the move.
-- Returns the number confirmed.
CREATE FUNCTION auto_confirm(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t        integer := ticketdesk.current_tenant();
    note     text := ticketdesk.set_note('confirmed automatically: the requester did not answer');
    min_days integer;
    n        integer;
BEGIN
    -- No ticket resolved later than this can be due: n business days are at least n days less an hour.
    SELECT min(coalesce(r.confirm_after_days - r.remind_before_days, r.confirm_after_days))
      INTO min_days FROM ticketdesk.closing_rules_by_center_type() r;

    WITH r AS MATERIALIZED (SELECT * FROM ticketdesk.closing_rules_by_center_type())
    INSERT INTO ticketdesk.automation_notice (tenant_id, ticket_id, kind, key, due_at, agent_ids, contact_ids)
    SELECT k.tenant_id, k.ticket_id, 'confirm_reminder',
           to_char(k.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), d.due,
           CASE WHEN k.requester_agent_id IS NOT NULL THEN ARRAY[k.requester_agent_id] ELSE '{}' END,
           CASE WHEN k.contact_id IS NOT NULL THEN ARRAY[k.contact_id] ELSE '{}' END
      FROM ticketdesk.ticket k
      JOIN r ON r.center_id = k.center_id AND r.type_id = k.type_id
     CROSS JOIN LATERAL (SELECT ticketdesk.business_add_days(r.calendar_id, k.resolved_at,
                                    r.confirm_after_days - r.remind_before_days) AS due) d
     WHERE k.tenant_id = t AND k.phase = 'resolved'
       AND k.resolved_at <= as_of - make_interval(days => min_days) + interval '1 hour'
       AND r.remind_before_days IS NOT NULL AND d.due <= as_of
       AND (k.contact_id IS NOT NULL OR k.requester_agent_id IS NOT NULL)
       AND NOT ticketdesk.requester_replied(k, k.resolved_at)
     ORDER BY k.ticket_id
    ON CONFLICT (tenant_id, ticket_id, kind, key) DO NOTHING;

    SELECT min(r.confirm_after_days) INTO min_days FROM ticketdesk.closing_rules_by_center_type() r;
    WITH r AS MATERIALIZED (SELECT * FROM ticketdesk.closing_rules_by_center_type())
    UPDATE ticketdesk.ticket k SET status = 'confirmed'
      FROM r
     WHERE r.center_id = k.center_id AND r.type_id = k.type_id
       AND k.tenant_id = t AND k.phase = 'resolved'
       AND k.resolved_at <= as_of - make_interval(days => min_days) + interval '1 hour'
       AND ticketdesk.business_add_days(r.calendar_id, k.resolved_at, r.confirm_after_days) <= as_of
       AND NOT ticketdesk.requester_replied(k, k.resolved_at);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM ticketdesk.set_note(note);
    RETURN n;
END $$;
COMMENT ON FUNCTION auto_confirm(timestamptz) IS
    'Job: reminds requesters, then confirms resolved tickets unanswered for N business days (R22); returns the count.';

-- Closes confirmed tickets close_after_days business days after their
-- confirmation (closed_at is the real time of the move). Returns the number closed.
CREATE FUNCTION auto_close(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t        integer := ticketdesk.current_tenant();
    note     text := ticketdesk.set_note('closed automatically');
    min_days integer;
    n        integer;
BEGIN
    SELECT min(r.close_after_days) INTO min_days FROM ticketdesk.closing_rules_by_center_type() r;
    WITH r AS MATERIALIZED (SELECT * FROM ticketdesk.closing_rules_by_center_type())
    UPDATE ticketdesk.ticket k SET status = 'closed'
      FROM r
     WHERE r.center_id = k.center_id AND r.type_id = k.type_id
       AND k.tenant_id = t AND k.phase = 'confirmed'
       AND k.confirmed_at <= as_of - make_interval(days => min_days) + interval '1 hour'
       AND ticketdesk.business_add_days(r.calendar_id, k.confirmed_at, r.close_after_days) <= as_of;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM ticketdesk.set_note(note);
    RETURN n;
END $$;
COMMENT ON FUNCTION auto_close(timestamptz) IS
    'Job: closes confirmed tickets M business days after confirmation (R22); returns the count.';

-- The agent who delegated a ticket to its assignee: the actor of the latest
-- assignment, else the agent who registered it.
CREATE FUNCTION delegator_of(k ticket) RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT v.actor_agent_id FROM ticketdesk.ticket_event v
          WHERE v.tenant_id = k.tenant_id AND v.ticket_id = k.ticket_id AND v.kind = 'assignee'
          ORDER BY v.event_id DESC LIMIT 1),
        k.registered_by)
$$;

-- Records the reminders that are due (R23, R31), once each. Returns the count.
CREATE FUNCTION send_reminders(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t integer := ticketdesk.current_tenant();
    n integer;
BEGIN
    WITH due AS (
        SELECT r.reminder_id, k.ticket_id, d.due,
               array_remove(ARRAY[CASE WHEN r.to_assignee THEN k.assignee_id END,
                                  CASE WHEN r.to_delegator THEN ticketdesk.delegator_of(k) END], NULL) AS agents
          FROM ticketdesk.ticket_reminder r
          JOIN ticketdesk.ticket k ON k.tenant_id = r.tenant_id AND k.ticket_id = r.ticket_id
         CROSS JOIN LATERAL (SELECT CASE r.basis WHEN 'deadline' THEN k.deadline - r.lead
                                                 WHEN 'planned_start' THEN lower(k.planned) - r.lead
                                                 ELSE r.remind_at END AS due) d
         WHERE r.tenant_id = t AND r.sent_at IS NULL AND d.due <= as_of
           AND k.phase <> 'finished'
         FOR UPDATE OF r SKIP LOCKED),
    sent AS (
        UPDATE ticketdesk.ticket_reminder r SET sent_at = as_of
          FROM due WHERE r.tenant_id = t AND r.reminder_id = due.reminder_id)
    INSERT INTO ticketdesk.automation_notice (tenant_id, ticket_id, kind, key, due_at, agent_ids)
    SELECT t, due.ticket_id, 'reminder', due.reminder_id::text, due.due, due.agents FROM due
     ORDER BY due.due, due.reminder_id
    ON CONFLICT (tenant_id, ticket_id, kind, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION send_reminders(timestamptz) IS
    'Job: records each due ticket reminder once, for the assignee and/or the delegator (R23, R31); returns the count.';

-- Walks overdue tickets up the escalation ladder (R28, R32): each level fires
-- once per ticket when its delay after the deadline (in business time) has
-- passed. Without a configured ladder, level 1 tells the assignee and the
-- delegator at the deadline. Returns the number of notices recorded.
CREATE FUNCTION escalate_overdue(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t integer := ticketdesk.current_tenant();
    n integer;
BEGIN
    WITH ladder AS (
        SELECT l.level, l.after, l.notify FROM ticketdesk.escalation_level l WHERE l.tenant_id = t
        UNION ALL
        SELECT 1, interval '0', 'assignee_and_delegator'
         WHERE NOT EXISTS (SELECT 1 FROM ticketdesk.escalation_level l WHERE l.tenant_id = t)),
    overdue AS (
        SELECT k.ticket_id, k.deadline, k.assignee_id, ticketdesk.delegator_of(k) AS delegator,
               ticketdesk.calendar_of_center(k.center_id) AS calendar_id
          FROM ticketdesk.ticket k
         WHERE k.tenant_id = t AND k.deadline IS NOT NULL AND k.deadline <= as_of
           AND k.phase = 'open')
    INSERT INTO ticketdesk.automation_notice (tenant_id, ticket_id, kind, key, due_at, agent_ids)
    SELECT t, o.ticket_id, 'escalation', 'level ' || l.level, d.due,
           array_remove(CASE l.notify
               WHEN 'assignee_and_delegator' THEN
                   ARRAY[o.assignee_id, nullif(o.delegator, o.assignee_id)]
               ELSE ARRAY[(SELECT a.supervisor_id FROM ticketdesk.agent a
                            WHERE a.tenant_id = t AND a.agent_id = o.assignee_id)] END, NULL)
      FROM overdue o
     CROSS JOIN ladder l
     CROSS JOIN LATERAL (SELECT ticketdesk.business_add(o.calendar_id, o.deadline, l.after) AS due) d
     WHERE d.due <= as_of
     ORDER BY o.ticket_id, l.level
    ON CONFLICT (tenant_id, ticket_id, kind, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION escalate_overdue(timestamptz) IS
    'Job: records each escalation level reached by an overdue ticket once (R28, R32); returns the count.';

-- Sets a reminder on a ticket (R23, R31): lead before its deadline or its
-- planned start, or at a fixed moment; returns its id.
CREATE FUNCTION add_reminder(ticket_id bigint, basis text DEFAULT 'deadline', lead interval DEFAULT '0',
                             remind_at timestamptz DEFAULT NULL, to_assignee boolean DEFAULT true,
                             to_delegator boolean DEFAULT false, note text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    k      ticketdesk.ticket;
    result bigint;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x
     WHERE x.tenant_id = ticketdesk.current_tenant() AND x.ticket_id = add_reminder.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    IF basis IS NULL OR basis NOT IN ('deadline', 'planned_start', 'fixed')
       OR (basis = 'fixed') <> (remind_at IS NOT NULL) OR lead IS NULL OR lead < interval '0'
       OR NOT (coalesce(to_assignee, false) OR coalesce(to_delegator, false)) THEN
        RAISE EXCEPTION 'invalid reminder'
            USING ERRCODE = 'TD623',
                  DETAIL = format('basis %s, lead %s, remind_at %s, to_assignee %s, to_delegator %s.',
                                  basis, lead, coalesce(remind_at::text, 'none'), to_assignee, to_delegator),
                  HINT = 'Use basis deadline or planned_start with a lead of 0 or more, or basis fixed with remind_at; remind the assignee, the delegator or both.';
    END IF;
    IF (basis = 'deadline' AND k.deadline IS NULL) OR (basis = 'planned_start' AND k.planned IS NULL) THEN
        RAISE EXCEPTION 'ticket % has no %', k.reference, replace(basis, '_', ' ')
            USING ERRCODE = 'TD624',
                  HINT = 'Set the ticket''s deadline or planned period first, or remind at a fixed moment.';
    END IF;
    INSERT INTO ticketdesk.ticket_reminder (ticket_id, basis, lead, remind_at, to_assignee, to_delegator,
                                            note, created_by)
    VALUES (ticket_id, basis, lead, remind_at, to_assignee, to_delegator, note, ticketdesk.current_agent())
    RETURNING reminder_id INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION add_reminder(bigint, text, interval, timestamptz, boolean, boolean, text) IS
    'Sets a reminder on a ticket: lead before its deadline or planned start, or at a fixed moment (R23, R31).';

-- Priority ageing: as deadlines come closer, writes the priority the
-- priority matrix now computes (compute_priority, issue 3) into open
-- tickets whose stored priority it no longer matches. Only tickets whose
-- deadline is within ticketdesk.deadline_near are looked at (a partial
-- index), and priorities fixed by hand are left alone. The lifecycle
-- trigger accepts only the priority computed as of the transaction's
-- start, so as_of must be now() (TD625). Returns the number changed.
CREATE FUNCTION age_priorities(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t    integer := ticketdesk.current_tenant();
    note text;
    n    integer;
BEGIN
    IF as_of IS DISTINCT FROM now() THEN
        RAISE EXCEPTION 'priority ageing runs as of now'
            USING ERRCODE = 'TD625',
                  DETAIL = 'A stored priority must be the one computed as of the transaction''s start.',
                  HINT = 'Call age_priorities() without as_of; explain_priority(ticket_id, as_of) shows a priority at another moment.';
    END IF;
    note := ticketdesk.set_note('priority aged: the deadline came closer');
    UPDATE ticketdesk.ticket k SET priority = c.priority
      FROM (SELECT x.ticket_id,
                   ticketdesk.compute_priority(x.center_id, x.category_id, x.internal_category_id,
                                               x.requester_weight, x.dispatcher_weight, x.deadline, as_of) AS priority
              FROM ticketdesk.ticket x
             WHERE x.tenant_id = t AND x.deadline IS NOT NULL
               AND x.deadline <= as_of + current_setting('ticketdesk.deadline_near')::interval
               AND x.phase = 'open'
               AND NOT x.priority_fixed) c
     WHERE k.tenant_id = t AND k.ticket_id = c.ticket_id AND k.priority <> c.priority;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM ticketdesk.set_note(note);
    RETURN n;
END $$;
COMMENT ON FUNCTION age_priorities(timestamptz) IS
    'Job: raises the priorities of open tickets as their deadlines come closer, with the priority matrix (issue 3); returns the count.';
-- Routing: the load trigger, workflows, finishing a stage (R39-R45), and
-- the upkeep of the load counters. The assignment itself is in C
-- (src/routing.c), called by the lifecycle trigger; doc/routing.md.

-- The weight of a priority in a weighted load: low 1, normal 2, high 3, urgent 4.
CREATE FUNCTION priority_weight(ticket_priority) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE $1 WHEN 'low' THEN 1 WHEN 'normal' THEN 2 WHEN 'high' THEN 3 ELSE 4 END
$$;
COMMENT ON FUNCTION priority_weight(ticket_priority) IS
    'The weight of a priority in agent_load.weighted_load: low 1, normal 2, high 3, urgent 4.';

-- AFTER INSERT OR UPDATE: keeps agent_load true and records the routing
-- reason. No WHEN clause: PostgreSQL 15 parses a trigger's WHEN again for
-- every statement, and the function itself returns at once when the
-- ticket's share of load did not move.
CREATE FUNCTION ticket_load() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_ticket_load';
CREATE TRIGGER ticket_load AFTER INSERT ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_load();
CREATE TRIGGER ticket_load_update AFTER UPDATE ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_load();

-- Routing caches, per backend, who holds which profile where (src/holders.c)
-- and what it reads of the configuration: a type's workflow stages, the
-- centres' dispatchers, the tenant's administrator (src/route_config.c).
-- Any change to these tables empties every backend's caches.
CREATE FUNCTION holders_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_holders_changed';
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agent
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agent_profile
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON center_member
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON center
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ticket_type
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workflow_stage
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON profile
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_policy
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
-- The references an opening names are cached too (src/opening_refs.c): the
-- tenant, the centre and the ticket type above, and the category.
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON category
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
-- And which types have no checklist template (src/checklist_copy.c).
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON checklist_template
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
-- And the tenant's channel policies, read for the requester's message of
-- every opening (src/notify_requester.c).
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON notify_policy
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();

-- Customer affinity looks up, per candidate, their latest ticket of the
-- customer; the same index finds a customer's tickets (the foreign key's
-- look-ups among them), so ticket has no separate index on customer_id.
CREATE INDEX ticket_customer_handler_idx ON ticket (tenant_id, customer_id, assignee_id, assigned_at);

-- Creates a workflow from the profile codes of its stages, in order; a NULL
-- code is a stage without a profile (it goes to the dispatcher queue).
CREATE FUNCTION create_workflow(code text, name text, stage_profiles text[],
                                stage_names text[] DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t       integer := ticketdesk.current_tenant();
    result  bigint;
    unknown text;
BEGIN
    IF coalesce(cardinality(stage_profiles), 0) = 0 THEN
        RAISE EXCEPTION 'workflow "%" has missing stage positions', code
            USING ERRCODE = 'TD521', DETAIL = 'It has no stages.',
                  HINT = 'Pass the profile code of each stage, in order (NULL for a stage without a profile).';
    END IF;
    SELECT s.p INTO unknown FROM unnest(stage_profiles) AS s(p)
     WHERE s.p IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.profile x WHERE x.tenant_id = t AND x.code = s.p)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'profile "%" does not exist', unknown
            USING ERRCODE = 'TD528',
                  DETAIL = format('Tenant %s has no profile with this code.', t),
                  HINT = 'Create the profile first, or pass NULL for a stage without a profile.';
    END IF;
    INSERT INTO ticketdesk.workflow (tenant_id, code, name) VALUES (t, code, name)
        RETURNING workflow_id INTO result;
    INSERT INTO ticketdesk.workflow_stage (tenant_id, workflow_id, position, name, profile_id)
    SELECT t, result, s.n, coalesce(stage_names[s.n], p.name, format('Stage %s', s.n)), p.profile_id
      FROM unnest(stage_profiles) WITH ORDINALITY AS s(code, n)
      LEFT JOIN ticketdesk.profile p ON p.tenant_id = t AND p.code = s.code;
    RETURN result;
END $$;
COMMENT ON FUNCTION create_workflow(text, text, text[], text[]) IS
    'Creates a workflow whose stages are handled by the given profiles, in order (R39); returns its id.';

-- Finishes the ticket's current stage (R42). Not at the last stage: with
-- next_agent_id the named agent gets the next stage, without it the ticket
-- is routed automatically to the next stage's profile. At the last stage a
-- resolution text resolves the ticket.
CREATE FUNCTION advance(ticket_id bigint, next_agent_id bigint DEFAULT NULL,
                        resolution text DEFAULT NULL, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t           integer := ticketdesk.current_tenant();
    current     ticketdesk.ticket;
    wf          bigint;
    last_stage  integer;
    result      ticketdesk.ticket;
    caller_note text;
BEGIN
    SELECT * INTO current FROM ticketdesk.ticket k
     WHERE k.tenant_id = t AND k.ticket_id = advance.ticket_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    SELECT tt.workflow_id INTO wf FROM ticketdesk.ticket_type tt
     WHERE tt.tenant_id = t AND tt.type_id = current.type_id;
    IF wf IS NULL THEN
        RAISE EXCEPTION 'ticket % follows no workflow', current.reference
            USING ERRCODE = 'TD524',
                  DETAIL = 'Its ticket type has no workflow, so it has no stages to finish.',
                  HINT = 'Use assign, resolve and the other moves, or give the ticket type a workflow.';
    END IF;
    IF current.status IN ('resolved', 'confirmed', 'closed', 'cancelled') THEN
        RAISE EXCEPTION 'ticket % is %: it has no stage to finish', current.reference, current.status
            USING ERRCODE = 'TD525',
                  HINT = 'Reopen the ticket first.';
    END IF;
    SELECT max(s.position) INTO last_stage FROM ticketdesk.workflow_stage s
     WHERE s.tenant_id = t AND s.workflow_id = wf;

    caller_note := ticketdesk.set_note(note);
    IF coalesce(current.stage, 1) >= last_stage THEN
        IF resolution IS NULL OR resolution !~ '\S' THEN
            RAISE EXCEPTION 'ticket % is at the last stage of its workflow', current.reference
                USING ERRCODE = 'TD522',
                      DETAIL = format('Stage %s of %s has no next stage to %s.', coalesce(current.stage, 1), last_stage,
                                      CASE WHEN next_agent_id IS NULL THEN 'route automatically'
                                           ELSE 'hand to another agent' END),
                      HINT = 'Finish the last stage with a resolution text: advance(ticket_id, resolution => ''...'').';
        END IF;
        IF next_agent_id IS NOT NULL THEN
            RAISE EXCEPTION 'ticket % is at the last stage of its workflow', current.reference
                USING ERRCODE = 'TD522',
                      DETAIL = 'Finishing the last stage resolves the ticket; there is no next handler.',
                      HINT = 'Leave next_agent_id out, or reassign the ticket with assign.';
        END IF;
        UPDATE ticketdesk.ticket k SET status = 'resolved', resolution = advance.resolution
         WHERE k.tenant_id = t AND k.ticket_id = current.ticket_id
        RETURNING * INTO result;
    ELSE
        IF resolution IS NOT NULL THEN
            RAISE EXCEPTION 'ticket % is not at the last stage of its workflow', current.reference
                USING ERRCODE = 'TD523',
                      DETAIL = format('It is at stage %s of %s; a resolution finishes only the last one.',
                                      coalesce(current.stage, 1), last_stage),
                      HINT = 'Leave resolution out to hand the ticket to the next stage, or use resolve.';
        END IF;
        IF next_agent_id IS NOT NULL THEN
            PERFORM ticketdesk.require_routable_agent(next_agent_id, current.center_id);
            UPDATE ticketdesk.ticket k
               SET stage = coalesce(k.stage, 1) + 1, assignee_id = next_agent_id, status = 'assigned'
             WHERE k.tenant_id = t AND k.ticket_id = current.ticket_id
            RETURNING * INTO result;
        ELSE
            -- No assignee named: the lifecycle trigger routes to the next stage's profile.
            UPDATE ticketdesk.ticket k
               SET stage = coalesce(k.stage, 1) + 1, assignee_id = NULL, status = 'new'
             WHERE k.tenant_id = t AND k.ticket_id = current.ticket_id
            RETURNING * INTO result;
        END IF;
    END IF;
    PERFORM ticketdesk.set_note(caller_note);
    RETURN result;
END $$;
COMMENT ON FUNCTION advance(bigint, bigint, text, text) IS
    'Finishes the current stage (R42): to the named agent, or routed automatically; at the last stage a resolution resolves the ticket.';

-- Refuses a hand-over to an agent of another tenant, or one who works in
-- neither the ticket's centre nor one above it.
CREATE FUNCTION require_routable_agent(agent_id bigint, center_id bigint) RETURNS void
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t integer := ticketdesk.current_tenant();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ticketdesk.agent a WHERE a.tenant_id = t AND a.agent_id = agent_id)
       AND EXISTS (SELECT 1 FROM ticketdesk.agent a WHERE a.agent_id = agent_id) THEN
        RAISE EXCEPTION 'agent % belongs to another tenant', agent_id
            USING ERRCODE = 'TD526',
                  DETAIL = format('Tickets of tenant %s can be routed only to its own agents.', t),
                  HINT = 'Name an agent of the current tenant.';
    END IF;
    PERFORM ticketdesk.require('agent', agent_id);
    IF NOT EXISTS (
        WITH RECURSIVE up(center_id, parent_id) AS (
            SELECT c.center_id, c.parent_id FROM ticketdesk.center c WHERE c.tenant_id = t AND c.center_id = center_id
            UNION
            SELECT c.center_id, c.parent_id FROM ticketdesk.center c JOIN up ON c.tenant_id = t AND c.center_id = up.parent_id)
        SELECT 1 FROM ticketdesk.center_member m
         WHERE m.tenant_id = t AND m.agent_id = agent_id AND m.center_id IN (SELECT up.center_id FROM up)) THEN
        RAISE EXCEPTION 'agent % does not work in centre %', agent_id, center_id
            USING ERRCODE = 'TD527',
                  DETAIL = 'Only members of the ticket''s centre, or of a centre above it, can take its stages.',
                  HINT = 'Name a member of the centre, or redirect the ticket to the agent''s centre first.';
    END IF;
END $$;
COMMENT ON FUNCTION require_routable_agent(bigint, bigint) IS
    'Internal: refuses an agent of another tenant (TD526) or outside the centre''s tree (TD527).';

-- Who could take the ticket's current stage now, and why not: the
-- dispatcher's view before assigning by hand (R50). Reads the counters;
-- locks nothing.
CREATE FUNCTION stage_candidates(ticket_id bigint)
    RETURNS TABLE (agent_id bigint, name text, open_tickets integer, weighted_load integer,
                   load_cap integer, available boolean, unavailable_because text)
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    t integer := ticketdesk.current_tenant();
    k ticketdesk.ticket;
    profile bigint;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x WHERE x.tenant_id = t AND x.ticket_id = stage_candidates.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', stage_candidates.ticket_id);
    END IF;
    SELECT s.profile_id INTO profile
      FROM ticketdesk.ticket_type tt
      JOIN ticketdesk.workflow_stage s ON s.tenant_id = tt.tenant_id AND s.workflow_id = tt.workflow_id
     WHERE tt.tenant_id = t AND tt.type_id = k.type_id AND s.position = coalesce(k.stage, 1);
    RETURN QUERY
    WITH RECURSIVE up(center_id, parent_id) AS (
        SELECT c.center_id, c.parent_id FROM ticketdesk.center c WHERE c.tenant_id = t AND c.center_id = k.center_id
        UNION
        SELECT c.center_id, c.parent_id FROM ticketdesk.center c JOIN up ON c.tenant_id = t AND c.center_id = up.parent_id),
    holder AS (
        SELECT a.agent_id, a.name, l.open_tickets, l.weighted_load, l.load_cap,
               CASE
                 WHEN EXISTS (SELECT 1 FROM ticketdesk.agent_absence b
                               WHERE b.tenant_id = t AND b.agent_id = a.agent_id AND b.during @> now()) THEN 'absent'
                 WHEN EXISTS (SELECT 1 FROM ticketdesk.agent_hours h WHERE h.tenant_id = t AND h.agent_id = a.agent_id)
                      AND NOT EXISTS (SELECT 1 FROM ticketdesk.agent_hours h
                                       WHERE h.tenant_id = t AND h.agent_id = a.agent_id
                                         AND h.weekday = extract(isodow FROM now() AT TIME ZONE h.time_zone)
                                         AND (now() AT TIME ZONE h.time_zone)::time >= h.starts
                                         AND (now() AT TIME ZONE h.time_zone)::time < h.ends) THEN 'outside working hours'
                 WHEN l.open_tickets >= l.load_cap THEN 'at load cap'
               END AS why
          FROM ticketdesk.agent_profile ap
          JOIN ticketdesk.agent a ON a.tenant_id = ap.tenant_id AND a.agent_id = ap.agent_id AND a.active
          JOIN ticketdesk.agent_load l ON l.tenant_id = a.tenant_id AND l.agent_id = a.agent_id
         WHERE ap.tenant_id = t AND ap.profile_id = profile
           AND EXISTS (SELECT 1 FROM ticketdesk.center_member m
                        WHERE m.tenant_id = t AND m.agent_id = a.agent_id
                          AND m.center_id IN (SELECT up.center_id FROM up)))
    SELECT h.agent_id, h.name, h.open_tickets::integer, h.weighted_load::integer, h.load_cap::integer,
           h.why IS NULL, h.why
      FROM holder h
     ORDER BY h.why IS NOT NULL, h.open_tickets, h.agent_id;
END $$;
COMMENT ON FUNCTION stage_candidates(bigint) IS
    'The holders of the current stage''s profile in the ticket''s centre tree, with load and availability (R50).';

-- Recounts every agent's load from the tickets and corrects the counters
-- that differ; returns how many were corrected. For use after a restore
-- without triggers, a TRUNCATE or a bulk load with session_replication_role
-- = replica; routings running meanwhile wait on the locked rows.
CREATE FUNCTION rebuild_loads() RETURNS integer
    LANGUAGE sql AS $$
    WITH truth AS (
        SELECT a.tenant_id, a.agent_id, count(k.ticket_id)::integer AS n,
               coalesce(sum(ticketdesk.priority_weight(k.priority)), 0)::integer AS w
          FROM ticketdesk.agent a
          LEFT JOIN ticketdesk.ticket k
                 ON k.tenant_id = a.tenant_id AND k.assignee_id = a.agent_id
                AND k.status IN ('assigned', 'acknowledged', 'in_progress')
         WHERE a.tenant_id = ticketdesk.current_tenant()
         GROUP BY a.tenant_id, a.agent_id),
    fixed AS (
        INSERT INTO ticketdesk.agent_load AS l (tenant_id, agent_id, open_tickets, weighted_load)
        SELECT tenant_id, agent_id, n, w FROM truth
        ON CONFLICT (tenant_id, agent_id) DO UPDATE
           SET open_tickets = excluded.open_tickets, weighted_load = excluded.weighted_load
         WHERE l.open_tickets <> excluded.open_tickets OR l.weighted_load <> excluded.weighted_load
        RETURNING 1)
    SELECT count(*)::integer FROM fixed
$$;
COMMENT ON FUNCTION rebuild_loads() IS
    'Recounts the current tenant''s agent loads from the tickets and corrects the counters; returns how many changed.';
-- Notifications: events become rendered outbox rows in the same transaction
-- as the change; the worker delivers them after commit (doc/notify.md).

-- Fills {{name}} placeholders from a JSON object, as plain text.
CREATE FUNCTION render_text(template text, vars jsonb) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_render_text';
COMMENT ON FUNCTION render_text(text, jsonb) IS
    'Fills {{name}} placeholders of a template from a JSON object; unknown names render as nothing.';

-- Makes an HTML document of a plain-text template: values and text escaped,
-- paragraphs and line breaks kept, {{link}} a hyperlink, right to left for
-- right-to-left languages.
CREATE FUNCTION render_html(template text, vars jsonb, language text DEFAULT 'en') RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_render_html';
COMMENT ON FUNCTION render_html(text, jsonb, text) IS
    'Renders a plain-text template as an HTML document in a language (dir="rtl" for Hebrew and other RTL languages).';

-- Fills a template written in HTML, escaping the values.
CREATE FUNCTION render_markup(template text, vars jsonb) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_render_markup';
COMMENT ON FUNCTION render_markup(text, jsonb) IS
    'Fills {{name}} placeholders of an HTML template with HTML-escaped values.';

-- The e-mail an outbox row is sent as: headers, text and HTML parts.
CREATE FUNCTION outbox_mail(message outbox) RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_outbox_mail';
COMMENT ON FUNCTION outbox_mail(outbox) IS
    'The RFC 5322 message an e-mail outbox row with its text stored is sent as (Date is now; Message-ID is stable per row); NULL before (outbox_mail of outbox_message renders).';

-- Wakes this database's delivery worker when the transaction commits.
CREATE FUNCTION notify_wake() RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_notify_wake';
COMMENT ON FUNCTION notify_wake() IS
    'Internal: wakes the delivery worker when the current transaction commits (nothing on rollback).';

-- Asks the launcher, at commit, to start workers where the extension now is.
CREATE FUNCTION notify_start_workers() RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_notify_start_workers';
COMMENT ON FUNCTION notify_start_workers() IS
    'Internal: asks the notification launcher to look for databases with the extension when this transaction commits.';

-- This database's delivery workers and their counters since they started.
CREATE FUNCTION notify_worker_status(OUT pid integer, OUT workers bigint, OUT wakes bigint,
                                     OUT batches bigint, OUT delivered bigint, OUT failed bigint)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_notify_worker_status';
COMMENT ON FUNCTION notify_worker_status() IS
    'The delivery workers of this database: the first one''s pid (NULL when none runs), how many run, commits that woke them, batches, delivered, failed.';

-- The channels an event goes by for a recipient (R09, R30): the most
-- specific policy row decides; the recipient's preference counts where that
-- row allows it.
-- PL/pgSQL, not SQL: its plan is then cached for the session instead of being
-- made again for every message queued.
CREATE FUNCTION notify_channels(tenant integer, event text, priority ticket_priority,
                                preference text[] DEFAULT NULL) RETURNS text[]
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((
        SELECT CASE WHEN notify_channels.preference && p.allowed
                    THEN ARRAY(SELECT c FROM unnest(p.allowed) c
                                WHERE c = ANY (notify_channels.preference) ORDER BY c)
                    ELSE p.channels END
          FROM ticketdesk.notify_policy p
         WHERE p.tenant_id = notify_channels.tenant
           AND p.event IN (notify_channels.event, '*')
           AND (p.priority = notify_channels.priority OR p.priority IS NULL)
         ORDER BY p.event <> '*' DESC, p.priority IS NOT NULL DESC, p.seeded
         LIMIT 1), '{email}');
END $$;
COMMENT ON FUNCTION notify_channels(integer, text, ticket_priority, text[]) IS
    'The channels (email, sms) of an event at a priority for a recipient with a preference, by table notify_policy.';

-- A priority's name in a language, for the templates. STABLE, not
-- IMMUTABLE: an enum's text (priority::text) is a stable function, and the
-- planner inlines a SQL function into the statement that calls it only when
-- its body is no more volatile than it says. Declared IMMUTABLE it was
-- called as a function for every message the worker rendered (15k
-- instructions a message); STABLE, outbox_message reads the label inline.
CREATE FUNCTION priority_label(priority ticket_priority, language text) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        ('{"lt": {"low": "žemas", "normal": "įprastas", "high": "aukštas", "urgent": "skubus"},
           "pl": {"low": "niski", "normal": "normalny", "high": "wysoki", "urgent": "pilny"},
           "he": {"low": "נמוכה", "normal": "רגילה", "high": "גבוהה", "urgent": "דחופה"},
           "ro": {"low": "scăzută", "normal": "normală", "high": "ridicată", "urgent": "urgentă"}}'::jsonb
         -> language ->> priority::text),
        priority::text)
$$;
COMMENT ON FUNCTION priority_label(ticket_priority, text) IS 'Internal: a priority''s name in a language (en, lt, pl, he, ro).';

-- The messages of one recipient (an agent, a contact or a customer) for an
-- event: one row per channel (channels NULL applies the policy and the
-- recipient's preference, R09), with the address, the recipient's name and
-- language, in channel order (rank). None for a channel without a usable
-- address. A single SELECT in SQL, so the planner inlines it into the
-- statement that calls it (notify_queue, the trigger's set-based insert).
CREATE FUNCTION notify_addresses(tenant integer, event text, priority ticket_priority,
                                 agent_id bigint, contact_id bigint, customer_id bigint,
                                 channels text[] DEFAULT NULL)
    RETURNS TABLE (channel text, address text, name text, language text, rank bigint)
    LANGUAGE sql STABLE AS $$
    SELECT c.channel, c.address, r.name, r.language, c.rank
      FROM (SELECT a.name, a.email, a.phone, a.language, p.channels AS preference
              FROM ticketdesk.agent a
              LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = a.tenant_id AND p.agent_id = a.agent_id
             WHERE notify_addresses.agent_id IS NOT NULL
               AND a.tenant_id = notify_addresses.tenant AND a.agent_id = notify_addresses.agent_id
            UNION ALL
            SELECT n.name, n.email, n.phone, n.language,
                   coalesce(p.channels, CASE n.preferred_channel WHEN 'sms' THEN '{sms}'::text[]
                                                                 WHEN 'email' THEN '{email}'::text[] END)
              FROM ticketdesk.contact n
              LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = n.tenant_id AND p.contact_id = n.contact_id
             WHERE notify_addresses.agent_id IS NULL AND notify_addresses.contact_id IS NOT NULL
               AND n.tenant_id = notify_addresses.tenant AND n.contact_id = notify_addresses.contact_id
            UNION ALL
            SELECT u.name, u.email, coalesce(u.phone, u.work_phone), 'en', NULL
              FROM ticketdesk.customer u
             WHERE notify_addresses.agent_id IS NULL AND notify_addresses.contact_id IS NULL
               AND u.tenant_id = notify_addresses.tenant AND u.customer_id = notify_addresses.customer_id) r
     CROSS JOIN LATERAL (
            SELECT ch AS channel, CASE ch WHEN 'email' THEN r.email WHEN 'sms' THEN r.phone END AS address,
                   i AS rank
              FROM unnest(coalesce(notify_addresses.channels,
                                   ticketdesk.notify_channels(notify_addresses.tenant, notify_addresses.event,
                                                              notify_addresses.priority, r.preference)))
                   WITH ORDINALITY AS u(ch, i)) c
     WHERE r.name IS NOT NULL
       AND c.address ~ '\S'
       AND (c.channel <> 'email' OR c.address ~ '^[^\s<>@",;]+@[^\s<>@",;]+$')
$$;
COMMENT ON FUNCTION notify_addresses(integer, text, ticket_priority, bigint, bigint, bigint, text[]) IS
    'Internal: the channels and addresses of one recipient for an event (inlined into the statements that queue messages).';

-- Queues one event's messages for one recipient (an agent, a contact or a
-- customer) of a ticket: picks the channels and the addresses, and wakes the
-- worker at commit. One INSERT: the text is not rendered here but when the
-- worker claims the row (outbox_message), so the transaction of the change
-- pays only for small rows. Returns the rows queued; none when the recipient
-- has no address for any channel, or the message was already queued for this
-- event.
CREATE FUNCTION notify_queue(tenant integer, ticket_id bigint, event_kind text,
                             agent_id bigint, contact_id bigint, customer_id bigint,
                             channels text[] DEFAULT NULL, note text DEFAULT NULL,
                             vars jsonb DEFAULT '{}', source_event bigint DEFAULT NULL,
                             sender text DEFAULT NULL)
    RETURNS SETOF outbox
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    queued ticketdesk.outbox;
BEGIN
    FOR queued IN
        INSERT INTO ticketdesk.outbox AS o
            (tenant_id, ticket_id, event_id, event, channel, recipient, recipient_name, agent_id,
             contact_id, language, sender_name, thread, note, vars)
        SELECT tenant, k.ticket_id, source_event, event_kind, m.channel, m.address, m.name,
               notify_queue.agent_id, notify_queue.contact_id, m.language, sender, k.reference, note,
               nullif(vars, '{}'::jsonb)
          FROM ticketdesk.ticket k
         CROSS JOIN LATERAL ticketdesk.notify_addresses(tenant, event_kind, k.priority, notify_queue.agent_id,
                                                        notify_queue.contact_id, notify_queue.customer_id,
                                                        channels) m
         WHERE k.tenant_id = tenant AND k.ticket_id = notify_queue.ticket_id
        ON CONFLICT ON CONSTRAINT outbox_event_once DO NOTHING
        RETURNING o.*
    LOOP
        RETURN NEXT queued;
    END LOOP;
    PERFORM ticketdesk.notify_wake();
END $$;
COMMENT ON FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text) IS
    'Internal: queues an event''s messages for one recipient of a ticket (rendered when claimed); returns the rows queued.';

-- Queues a notification about a ticket for one agent or contact. Reminders,
-- escalations and any other job call this; channels NULL applies the policy.
CREATE FUNCTION enqueue(ticket_id bigint, event text, agent_id bigint DEFAULT NULL,
                        contact_id bigint DEFAULT NULL, channels text[] DEFAULT NULL,
                        note text DEFAULT NULL, vars jsonb DEFAULT '{}')
    RETURNS SETOF outbox
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
    IF num_nonnulls(agent_id, contact_id) <> 1 THEN
        RAISE EXCEPTION 'a notification goes to either an agent or a contact'
            USING ERRCODE = 'TD543', HINT = 'Pass exactly one of agent_id and contact_id.';
    END IF;
    IF event IS NULL OR event !~ '^[a-z_]{1,40}$' THEN
        RAISE EXCEPTION 'invalid notification event "%"', event
            USING ERRCODE = 'TD545',
                  HINT = 'An event name has 1 to 40 lower-case letters or "_", e.g. overdue or reminder.';
    END IF;
    IF channels IS NOT NULL AND (NOT channels <@ ARRAY['email', 'sms'] OR cardinality(channels) = 0) THEN
        RAISE EXCEPTION 'unknown notification channels %', channels
            USING ERRCODE = 'TD545', HINT = 'The channels are email and sms.';
    END IF;
    PERFORM ticketdesk.require('ticket', ticket_id);
    PERFORM ticketdesk.require('agent', agent_id);
    PERFORM ticketdesk.require('contact', contact_id);
    -- The text is rendered when the message is claimed; an event nobody
    -- wrote a text for is refused now rather than dead later.
    IF NOT EXISTS (SELECT 1 FROM ticketdesk.notify_template t
                    WHERE t.tenant_id = ticketdesk.current_tenant() AND t.event = enqueue.event) THEN
        RAISE EXCEPTION 'no template for event "%"', event
            USING ERRCODE = 'TD544',
                  DETAIL = format('Tenant %s has no template for event "%s" in any language.',
                                  ticketdesk.current_tenant(), event),
                  HINT = 'Add a row to ticketdesk.notify_template for this event.';
    END IF;
    RETURN QUERY
    SELECT * FROM ticketdesk.notify_queue(ticketdesk.current_tenant(), ticket_id, event, agent_id,
                                          contact_id, NULL, channels, note, vars);
END $$;
COMMENT ON FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb) IS
    'Queues a notification of an event about a ticket for an agent or a contact (rendered from notify_template when the worker claims it); returns the rows queued.';

-- AFTER INSERT on ticket_event: turns lifecycle events into messages, in the
-- same transaction (R05, R09, R28, R40, R41, R51). It reads the ticket as
-- it is after the change. Who gets what:
--   created                      registered       the requester (thank-you)
--   assignee (set)               assigned         the new assignee
--                                handler_assigned the requester (not when opened assigned)
--   status acknowledged          acknowledged     the requester
--   status new from assigned/ack rejected         the centre's dispatchers
--   status resolved              resolved         the requester, the watchers
--   status confirmed             confirmed        the assignee
--   status closed                closed           the requester, the watchers
--   status cancelled             cancelled        the requester, the assignee, the watchers
-- The agent who made the change is not told about it.
-- The gate (notify_event_gate) queues the events told to the requester alone,
-- registered and acknowledged, itself by these rules (src/notify_requester.c,
-- with notify_addresses' and notify_channels' queries for the requester): a
-- change of the rules for the requester goes into both.
CREATE FUNCTION notify_ticket_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ev     text;
    actor  text;
    audiences text[];
BEGIN
    ev := CASE
        WHEN NEW.kind = 'created' THEN 'registered'
        WHEN NEW.kind = 'assignee' AND NEW.new_value IS NOT NULL THEN 'assigned'
        WHEN NEW.kind = 'status' AND NEW.new_value = 'new' AND NEW.old_value IN ('assigned', 'acknowledged') THEN 'rejected'
        WHEN NEW.kind = 'status' AND NEW.new_value IN ('acknowledged', 'resolved', 'confirmed', 'closed', 'cancelled')
            THEN NEW.new_value
    END;
    IF ev IS NULL THEN
        RETURN NULL;
    END IF;
    audiences := CASE ev
        WHEN 'registered' THEN '{requester}'
        WHEN 'assigned' THEN '{assignee,requester}'
        WHEN 'acknowledged' THEN '{requester}'
        WHEN 'rejected' THEN '{dispatchers}'
        WHEN 'resolved' THEN '{requester,watchers}'
        WHEN 'confirmed' THEN '{assignee}'
        WHEN 'closed' THEN '{requester,watchers}'
        WHEN 'cancelled' THEN '{requester,assignee,watchers}'
    END;
    -- Opened already assigned: the thank-you names the handler, once is enough.
    IF ev = 'assigned' AND EXISTS (SELECT 1 FROM ticketdesk.ticket_event e
                                    WHERE e.tenant_id = NEW.tenant_id AND e.ticket_id = NEW.ticket_id
                                      AND e.kind = 'created' AND e.event_id < NEW.event_id
                                      AND e.at = NEW.at) THEN
        audiences := '{assignee}';
    END IF;
    -- A rejection goes out in the name of the agent who rejected it.
    IF ev = 'rejected' THEN
        SELECT a.name INTO actor FROM ticketdesk.agent a
         WHERE a.tenant_id = NEW.tenant_id AND a.agent_id = NEW.actor_agent_id;
    END IF;

    -- Every recipient's messages in one INSERT, in the order of the
    -- recipients (event, agent, contact, customer) and of their channels:
    -- what notify_queue would queue called once per recipient, without a
    -- function call and a statement per recipient. A second row for the
    -- same address and channel is skipped, as it was by the next call.
    INSERT INTO ticketdesk.outbox AS o
        (tenant_id, ticket_id, event_id, event, channel, recipient, recipient_name, agent_id,
         contact_id, language, sender_name, thread, note, vars)
    SELECT NEW.tenant_id, k.ticket_id, NEW.event_id, x.event, m.channel, m.address, m.name,
           x.agent_id, x.contact_id, m.language, actor, k.reference, NEW.note, NULL
      FROM ticketdesk.ticket k
      CROSS JOIN LATERAL (
            SELECT DISTINCT ON (y.event, y.agent_id, y.contact_id, y.customer_id) y.*
              FROM (
                -- the requester: the contact person, else the employee, else the customer
                SELECT CASE WHEN ev = 'assigned' THEN 'handler_assigned' ELSE ev END AS event,
                       CASE WHEN k.contact_id IS NULL THEN k.requester_agent_id END AS agent_id,
                       k.contact_id,
                       CASE WHEN k.contact_id IS NULL AND k.requester_agent_id IS NULL THEN k.customer_id END AS customer_id,
                       1 AS rank
                 WHERE 'requester' = ANY (audiences)
                UNION ALL
                SELECT ev, k.assignee_id, NULL, NULL, 2
                 WHERE 'assignee' = ANY (audiences) AND k.assignee_id IS NOT NULL
                UNION ALL
                SELECT ev, m.agent_id, NULL, NULL, 3
                  FROM ticketdesk.center_member m
                 WHERE 'dispatchers' = ANY (audiences)
                   AND m.tenant_id = NEW.tenant_id AND m.center_id = k.center_id AND m.role = 'dispatcher'
                UNION ALL
                SELECT ev, w.agent_id, w.contact_id, NULL, 4
                  FROM ticketdesk.watcher w
                 WHERE 'watchers' = ANY (audiences) AND w.tenant_id = NEW.tenant_id AND w.ticket_id = NEW.ticket_id
              ) y
             WHERE num_nonnulls(y.agent_id, y.contact_id, y.customer_id) = 1
               AND (y.agent_id IS NULL OR y.agent_id IS DISTINCT FROM NEW.actor_agent_id)
             ORDER BY y.event, y.agent_id, y.contact_id, y.customer_id, y.rank) x
      CROSS JOIN LATERAL ticketdesk.notify_addresses(NEW.tenant_id, x.event, k.priority,
                                                     x.agent_id, x.contact_id, x.customer_id) m
     WHERE k.tenant_id = NEW.tenant_id AND k.ticket_id = NEW.ticket_id
     ORDER BY x.event, x.agent_id, x.contact_id, x.customer_id, m.rank
    ON CONFLICT ON CONSTRAINT outbox_event_once DO NOTHING;
    IF FOUND THEN
        PERFORM ticketdesk.notify_wake();
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION notify_ticket_event() IS
    'Trigger function on ticket_event, called by notify_event_gate: queues the notifications of lifecycle events in the same transaction.';
-- The trigger runs notify_event_gate, a C function that lets the history
-- rows no one is told about (priority, centre, most statuses, ...) go
-- without calling notify_ticket_event: a WHEN clause did the same, but it is
-- read back and planned again for every statement (src/notify_gate.c).
CREATE FUNCTION notify_event_gate() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_notify_event_gate';
COMMENT ON FUNCTION notify_event_gate() IS
    'AFTER INSERT trigger on ticket_event: calls the trigger function its argument names (notify_ticket_event) for the events somebody is told about.';
CREATE TRIGGER ticket_event_notify AFTER INSERT ON ticket_event
    FOR EACH ROW EXECUTE FUNCTION notify_event_gate('notify_ticket_event');

-- Every outbox row as it is or will be sent. A row with no stored text is
-- rendered now: the template of its event, channel and the recipient's
-- language (else English; an SMS without a template of its own uses the
-- mail's subject and the link), filled from the ticket as it stands and the
-- values frozen on the row (note, vars, an explicit sender). A row tried
-- once shows the text stored with its result. The worker claims through
-- this view, so what an administrator reads here is what is sent. Columns
-- as in outbox, in the same order; NULL subject and body_text on an
-- unsent row mean that no template fits (the worker then marks it dead).
CREATE VIEW outbox_message WITH (security_invoker = true) AS
SELECT o.tenant_id, o.outbox_id, o.ticket_id, o.event_id, o.event, o.channel, o.recipient, o.recipient_name,
       o.agent_id, o.contact_id,
       CASE WHEN o.body_text IS NULL THEN coalesce(t.language, o.language) ELSE o.language END AS language,
       CASE WHEN o.body_text IS NULL THEN v.vars ->> 'sender' ELSE o.sender_name END AS sender_name,
       o.thread, o.note, o.vars,
       CASE WHEN o.body_text IS NOT NULL THEN o.subject
            WHEN o.channel = 'email' THEN coalesce('[' || o.thread || '] ', '') || ticketdesk.render_text(t.subject, v.vars)
       END AS subject,
       coalesce(o.body_text, x.body_text) AS body_text,
       CASE WHEN o.body_text IS NOT NULL THEN o.body_html
            WHEN o.channel = 'email' AND t.body_html IS NOT NULL THEN ticketdesk.render_markup(t.body_html, v.vars)
            WHEN o.channel = 'email' THEN ticketdesk.render_html(t.body_text, v.vars, t.language)
       END AS body_html,
       CASE WHEN o.body_text IS NOT NULL THEN o.payload
            WHEN o.channel <> 'email' AND x.body_text IS NOT NULL
            THEN jsonb_object('{to, text, reference, event, idempotency_key}'::text[],
                              ARRAY[o.recipient, x.body_text, o.thread, o.event, o.message_key::text])
       END AS payload,
       o.message_key, o.status, o.attempts, o.next_attempt_at, o.leased_until, o.last_error, o.created_at,
       o.sent_at
  FROM ticketdesk.outbox o
  -- The placeholders' values; only for a row not rendered yet. The sender
  -- is the row's own, else the assignee for a mail to someone other than
  -- an agent, else the centre. One jsonb_object of text arrays: the
  -- worker renders every message through here, and jsonb_build_object
  -- (which sorts out each argument's type at every call) took 2.5 times as
  -- long. Values given when queued (vars) override, and the sender is then
  -- chosen from the merged values.
  LEFT JOIN LATERAL (
        SELECT CASE WHEN o.vars IS NULL THEN w.vars
                    ELSE (SELECT m.vars || jsonb_build_object('sender', coalesce(o.sender_name,
                                                                                 CASE WHEN o.agent_id IS NULL THEN m.vars ->> 'assignee' END,
                                                                                 m.vars ->> 'center'))
                            FROM (SELECT w.vars || o.vars AS vars) m)
               END AS vars
          FROM (SELECT jsonb_object(
                    '{reference, subject, description, priority, status, center, assignee, requester, recipient,
                      link, deadline, resolution, note, sender}'::text[],
                    ARRAY[k.reference,
                          k.subject,
                          k.description,
                          ticketdesk.priority_label(k.priority, o.language),
                          k.status::text,
                          c.name,
                          a.name,
                          coalesce(rc.name, ra.name, ru.name),
                          o.recipient_name,
                          rtrim(coalesce(current_setting('ticketdesk.base_url', true), ''), '/')
                              || '/ticket/' || k.reference,
                          to_char(k.deadline, 'YYYY-MM-DD HH24:MI'),
                          k.resolution,
                          o.note,
                          coalesce(o.sender_name, CASE WHEN o.agent_id IS NULL THEN a.name END, c.name)]) AS vars
                  FROM ticketdesk.ticket k
                  LEFT JOIN ticketdesk.center c ON c.tenant_id = k.tenant_id AND c.center_id = k.center_id
                  LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.assignee_id
                  LEFT JOIN ticketdesk.contact rc ON rc.tenant_id = k.tenant_id AND rc.contact_id = k.contact_id
                  LEFT JOIN ticketdesk.agent ra ON ra.tenant_id = k.tenant_id AND ra.agent_id = k.requester_agent_id
                  LEFT JOIN ticketdesk.customer ru ON ru.tenant_id = k.tenant_id AND ru.customer_id = k.customer_id
                 WHERE o.body_text IS NULL AND k.tenant_id = o.tenant_id AND k.ticket_id = o.ticket_id) w
       ) v ON true
  -- The template: the channel's own, else the mail's; the recipient's
  -- language, else English; a tenant's own row over a built-in one. Four
  -- look-ups in that order, each a key look-up of (tenant, event, channel,
  -- language) that reads the tenant's row first (seeded false); the first
  -- that finds one ends the search, usually the first (the outer LIMIT
  -- takes the first row of the UNION ALL, whose parts PostgreSQL runs in
  -- the order written). One look-up of the four combinations at once read
  -- all of them and sorted them, for every message rendered.
  LEFT JOIN LATERAL (
        (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
           FROM ticketdesk.notify_template t
          WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
            AND t.channel = o.channel AND t.language = o.language
          ORDER BY t.seeded LIMIT 1)
        UNION ALL
        (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
           FROM ticketdesk.notify_template t
          WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
            AND t.channel = o.channel AND t.language = 'en'
          ORDER BY t.seeded LIMIT 1)
        UNION ALL
        (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
           FROM ticketdesk.notify_template t
          WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
            AND t.channel = 'email' AND t.language = o.language
          ORDER BY t.seeded LIMIT 1)
        UNION ALL
        (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
           FROM ticketdesk.notify_template t
          WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
            AND t.channel = 'email' AND t.language = 'en'
          ORDER BY t.seeded LIMIT 1)
        LIMIT 1) t ON true
  LEFT JOIN LATERAL (
        SELECT CASE WHEN o.channel = 'email' OR t.channel = o.channel THEN ticketdesk.render_text(t.body_text, v.vars)
                    ELSE o.thread || ': ' || ticketdesk.render_text(t.subject, v.vars) || ' ' || (v.vars ->> 'link')
               END AS body_text
         WHERE o.body_text IS NULL) x ON true;
COMMENT ON VIEW outbox_message IS
    'Outbox rows as sent or to be sent: stored text once tried, else rendered now from the templates and the ticket.';

-- The mail of a row as the worker sends it, rendered if it is not stored yet.
CREATE FUNCTION outbox_mail(message outbox_message) RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_outbox_mail';
COMMENT ON FUNCTION outbox_mail(outbox_message) IS
    'The RFC 5322 message an outbox_message row is sent as (Date is now; Message-ID is stable per row).';

-- The worker's claim: due rows of the given channels, oldest due first,
-- skipping rows another claim holds; each is leased and counts an attempt,
-- and comes back rendered (outbox_message). The update changes no indexed
-- column (status, attempts and leased_until only), so it is a HOT update.
-- A lease that runs out (the worker died) makes the row due again.
-- The planner cannot know how few rows the LIMIT leaves (batch_size is a
-- parameter): left to itself it hashes the whole outbox to find them again
-- for the UPDATE, a cost that grows with the table. Nested loops over the
-- primary key keep a claim's cost to its batch.
-- The same holds for the due rows: without statistics (a new or busy
-- outbox) the planner reads every due row and sorts them to lock the first
-- batch_size; sorts and bitmap scans off, it walks the due index in order
-- and stops at the batch, and the view's look-ups are plain index scans
-- (a bitmap scan asks the table's size at every row). The penalty those
-- settings add to the cost must not start JIT compilation (about 1 s).
-- PL/pgSQL, not SQL: a SQL function is planned again at every call, and
-- planning this statement (the view's joins for every row) took as long as
-- running it for a batch of 200; PL/pgSQL keeps the plan for the session.
-- Sequential scans off as well: once autovacuum had analysed the small
-- tables, the kept (generic) plan scanned one of them per claimed row, and
-- every rescan of a sequential scan asks the table's size (an lseek, about
-- one per message in the worker, 0.1 with this).
CREATE FUNCTION outbox_claim(batch_size integer, lease interval, channels text[])
    RETURNS SETOF outbox_message
    LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_sort = off SET enable_bitmapscan = off SET jit = off SET enable_seqscan = off
    AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT o.tenant_id, o.outbox_id FROM ticketdesk.outbox o
         WHERE o.next_attempt_at <= now() AND o.status IN ('queued', 'sending')
           AND (o.leased_until IS NULL OR o.leased_until <= now())
           AND o.channel = ANY (outbox_claim.channels)
         ORDER BY o.next_attempt_at
         LIMIT outbox_claim.batch_size
           FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE ticketdesk.outbox o
           SET status = 'sending', attempts = o.attempts + 1, leased_until = now() + outbox_claim.lease
          FROM due
         WHERE o.tenant_id = due.tenant_id AND o.outbox_id = due.outbox_id
        RETURNING o.tenant_id, o.outbox_id, o.status, o.attempts, o.leased_until)
    SELECT m.tenant_id, m.outbox_id, m.ticket_id, m.event_id, m.event, m.channel, m.recipient, m.recipient_name,
           m.agent_id, m.contact_id, m.language, m.sender_name, m.thread, m.note, m.vars, m.subject,
           m.body_text, m.body_html, m.payload, m.message_key, c.status, c.attempts, m.next_attempt_at,
           c.leased_until, m.last_error, m.created_at, m.sent_at
      FROM claimed c
      -- Rendered row by row (OFFSET 0 keeps the planner from joining the
      -- whole view, which would render every waiting message).
      CROSS JOIN LATERAL (SELECT * FROM ticketdesk.outbox_message v
                           WHERE v.tenant_id = c.tenant_id AND v.outbox_id = c.outbox_id OFFSET 0) m
     ORDER BY m.next_attempt_at;
END $$;
COMMENT ON FUNCTION outbox_claim(integer, interval, text[]) IS
    'Internal (the worker): claims up to batch_size due messages of the channels under a lease, rendered.';

-- The worker's claim since session 7: the same due rows, lease and HOT
-- update as outbox_claim, but the rows come back with the values their
-- placeholders are filled from (the ticket's fields as outbox_message
-- takes them) instead of rendered: the worker renders them in C
-- (src/render.c) with the templates read once per batch, not once per
-- message, and without a JSON object of the values per message.
-- outbox_message and outbox_claim render the same text (sql/notify
-- section 21 and TAP 003_notify compare them). A row tried before
-- (body_text stored) comes back with its text and no values.
CREATE FUNCTION outbox_claim_values(batch_size integer, lease interval, channels text[])
    RETURNS TABLE (tenant_id integer, outbox_id bigint, event text, channel text, recipient text,
                   recipient_name text, agent_id bigint, language text, sender_name text, thread text,
                   note text, vars jsonb, subject text, body_text text, body_html text, payload jsonb,
                   message_key uuid, found boolean, reference text, ticket_subject text,
                   description text, priority text, status text, center text, assignee text,
                   requester text, link text, deadline text, resolution text)
    LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_sort = off SET enable_bitmapscan = off SET jit = off SET enable_seqscan = off
    AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT o.tenant_id, o.outbox_id FROM ticketdesk.outbox o
         WHERE o.next_attempt_at <= now() AND o.status IN ('queued', 'sending')
           AND (o.leased_until IS NULL OR o.leased_until <= now())
           AND o.channel = ANY (outbox_claim_values.channels)
         ORDER BY o.next_attempt_at
         LIMIT outbox_claim_values.batch_size
           FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE ticketdesk.outbox o
           SET status = 'sending', attempts = o.attempts + 1, leased_until = now() + outbox_claim_values.lease
          FROM due
         WHERE o.tenant_id = due.tenant_id AND o.outbox_id = due.outbox_id
        RETURNING o.*)
    SELECT c.tenant_id, c.outbox_id, c.event::text, c.channel::text, c.recipient::text, c.recipient_name,
           c.agent_id, c.language::text, c.sender_name, c.thread, c.note, c.vars, c.subject, c.body_text,
           c.body_html, c.payload, c.message_key, w.found, w.reference, w.subject, w.description,
           w.priority, w.status, w.center, w.assignee, w.requester, w.link, w.deadline, w.resolution
      FROM claimed c
      -- The placeholders' values, as outbox_message takes them; only for a
      -- row not rendered yet.
      LEFT JOIN LATERAL (
            SELECT true AS found, k.reference, k.subject, k.description,
                   ticketdesk.priority_label(k.priority, c.language) AS priority, k.status::text AS status,
                   ce.name AS center, a.name AS assignee, coalesce(rc.name, ra.name, ru.name) AS requester,
                   rtrim(coalesce(current_setting('ticketdesk.base_url', true), ''), '/')
                       || '/ticket/' || k.reference AS link,
                   to_char(k.deadline, 'YYYY-MM-DD HH24:MI') AS deadline, k.resolution
              FROM ticketdesk.ticket k
              LEFT JOIN ticketdesk.center ce ON ce.tenant_id = k.tenant_id AND ce.center_id = k.center_id
              LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.assignee_id
              LEFT JOIN ticketdesk.contact rc ON rc.tenant_id = k.tenant_id AND rc.contact_id = k.contact_id
              LEFT JOIN ticketdesk.agent ra ON ra.tenant_id = k.tenant_id AND ra.agent_id = k.requester_agent_id
              LEFT JOIN ticketdesk.customer ru ON ru.tenant_id = k.tenant_id AND ru.customer_id = k.customer_id
             WHERE c.body_text IS NULL AND k.tenant_id = c.tenant_id AND k.ticket_id = c.ticket_id
             OFFSET 0) w ON true
     ORDER BY c.next_attempt_at;
END $$;
COMMENT ON FUNCTION outbox_claim_values(integer, interval, text[]) IS
    'Internal (the worker): claims up to batch_size due messages of the channels under a lease, with the values their templates are filled from.';

-- outbox_claim_values written in C (src/claim.c), as the worker claims:
-- the same due rows, locks (a row locked by another transaction is
-- skipped), lease and values, without a statement. For tests, which
-- compare the two; superusers only, since it applies no row-level security.
CREATE FUNCTION outbox_claim_direct(batch_size integer, lease interval, channels text[])
    RETURNS TABLE (tenant_id integer, outbox_id bigint, event text, channel text, recipient text,
                   recipient_name text, agent_id bigint, language text, sender_name text, thread text,
                   note text, vars jsonb, subject text, body_text text, body_html text, payload jsonb,
                   message_key uuid, found boolean, reference text, ticket_subject text,
                   description text, priority text, status text, center text, assignee text,
                   requester text, link text, deadline text, resolution text)
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'ticketdesk_outbox_claim_direct';
COMMENT ON FUNCTION outbox_claim_direct(integer, interval, text[]) IS
    'Internal (tests): the worker''s claim in C; claims as outbox_claim_values does and returns the same columns.';

-- The worker's results. A NULL error is a delivery; an error retries after
-- an exponential backoff with jitter (half the delay fixed, half random),
-- or kills the row when it was final or the attempts are used up. The text
-- the worker rendered is stored with the first result, so a retry sends the
-- same text and a sent row shows what was sent. Only rows still leased are
-- touched: a row cancelled meanwhile stays cancelled.
-- Hash and merge joins and sequential scans off, as in the claim: planned
-- for the arrays' 200 elements with no statistics, the update hashed them
-- and read the whole outbox (sent rows too, until retention prunes them) at
-- every batch; it now finds each row by its primary key (jit off: the
-- penalties must not start it).
-- The update moves the row (it changes next_attempt_at and sent_at, which
-- indexes read), so every index gets a new entry for it. The SET list
-- names the key columns of the primary key, the message key, the ticket
-- and the event indexes with their own values: PostgreSQL takes a new
-- entry in an index whose columns the SET list leaves out for a mere new
-- version, and when that entry meets a full leaf page it first tries a
-- bottom-up deletion, reading the table for every version on the page.
-- Here the other versions on the page are mostly this batch's own, still
-- in progress and not removable, so the pass found little and took a
-- fifth of the worker's instructions per message; the entries are left to
-- VACUUM instead (doc/benchmarks.md, session 5).
CREATE FUNCTION outbox_record(tenant_ids integer[], outbox_ids bigint[], errors text[],
                              permanent boolean[], max_attempts integer DEFAULT 8,
                              backoff_base interval DEFAULT '30 s', backoff_cap interval DEFAULT '1 hour',
                              languages text[] DEFAULT NULL, senders text[] DEFAULT NULL,
                              subjects text[] DEFAULT NULL, texts text[] DEFAULT NULL,
                              htmls text[] DEFAULT NULL, payloads jsonb[] DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off SET jit = off
    AS $$
DECLARE
    recorded integer;
BEGIN
    WITH r AS (
        SELECT * FROM unnest(tenant_ids, outbox_ids, errors, permanent, languages, senders, subjects, texts,
                             htmls, payloads)
               AS r(tenant_id, outbox_id, error, permanent, language, sender, subject, body_text, body_html, payload)
    )
    UPDATE ticketdesk.outbox o
           SET outbox_id = o.outbox_id, message_key = o.message_key, ticket_id = o.ticket_id,
               event_id = o.event_id,
               status = CASE WHEN r.error IS NULL THEN 'sent'
                             WHEN r.permanent OR o.attempts >= outbox_record.max_attempts THEN 'dead'
                             ELSE 'queued' END::ticketdesk.outbox_status,
               sent_at = CASE WHEN r.error IS NULL THEN clock_timestamp() END,
               leased_until = NULL,
               last_error = coalesce(r.error, o.last_error),
               next_attempt_at = CASE WHEN r.error IS NULL OR r.permanent OR o.attempts >= outbox_record.max_attempts
                                      THEN NULL
                                      ELSE clock_timestamp()
                                           + least(outbox_record.backoff_cap,
                                                   outbox_record.backoff_base * power(2, least(o.attempts - 1, 40)))
                                             * (0.5 + random() / 2) END,
               language = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.language ELSE o.language END,
               sender_name = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.sender ELSE o.sender_name END,
               subject = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.subject ELSE o.subject END,
               body_html = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.body_html ELSE o.body_html END,
               payload = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.payload ELSE o.payload END,
               body_text = coalesce(o.body_text, r.body_text)
          FROM r
     WHERE o.tenant_id = r.tenant_id AND o.outbox_id = r.outbox_id AND o.status = 'sending';
    GET DIAGNOSTICS recorded = ROW_COUNT;
    RETURN recorded;
END $$;
COMMENT ON FUNCTION outbox_record(integer[], bigint[], text[], boolean[], integer, interval, interval,
                                  text[], text[], text[], text[], text[], jsonb[]) IS
    'Internal (the worker): records delivery results and the text sent; failures retry with exponential backoff and jitter, then die.';

-- Deletes sent messages older than the retention; returns how many.
CREATE FUNCTION outbox_prune(retention interval) RETURNS integer
    LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM ticketdesk.outbox o
         WHERE o.sent_at < now() - outbox_prune.retention AND o.status = 'sent'
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION outbox_prune(interval) IS
    'Internal (the worker): deletes sent messages older than the retention (setting ticketdesk.notify_retention).';

-- Reads a message of the current tenant for retry or cancel, locked.
CREATE FUNCTION outbox_lock(outbox_id bigint) RETURNS outbox
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    msg ticketdesk.outbox;
BEGIN
    SELECT * INTO msg FROM ticketdesk.outbox o
     WHERE o.tenant_id = ticketdesk.current_tenant() AND o.outbox_id = outbox_lock.outbox_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outbox message % does not exist', outbox_id
            USING ERRCODE = 'TD540',
                  DETAIL = format('Tenant %s has no outbox message with id %s.', ticketdesk.current_tenant(), outbox_id),
                  HINT = 'Check the id, and that the setting ticketdesk.tenant names the right tenant.';
    END IF;
    IF msg.status = 'sent' THEN
        RAISE EXCEPTION 'outbox message % was already sent', outbox_id
            USING ERRCODE = 'TD541',
                  HINT = 'Queue a new message with ticketdesk.enqueue to send it again.';
    END IF;
    IF msg.status = 'sending' AND msg.leased_until > now() THEN
        RAISE EXCEPTION 'outbox message % is being sent', outbox_id
            USING ERRCODE = 'TD542',
                  DETAIL = 'The worker has claimed it and not yet reported the result.',
                  HINT = 'Wait for the result of this attempt and try again.';
    END IF;
    RETURN msg;
END $$;
COMMENT ON FUNCTION outbox_lock(bigint) IS
    'Internal: locks a message of the current tenant that is neither sent nor being sent.';

-- Sends a dead, cancelled or waiting message again now, with its attempts
-- counted afresh.
CREATE FUNCTION outbox_retry(outbox_id bigint) RETURNS outbox
    LANGUAGE plpgsql AS $$
DECLARE
    msg ticketdesk.outbox := ticketdesk.outbox_lock(outbox_id);
BEGIN
    UPDATE ticketdesk.outbox o
       SET status = 'queued', attempts = 0, next_attempt_at = now(), leased_until = NULL
     WHERE o.tenant_id = msg.tenant_id AND o.outbox_id = msg.outbox_id
    RETURNING * INTO msg;
    PERFORM ticketdesk.notify_wake();
    RETURN msg;
END $$;
COMMENT ON FUNCTION outbox_retry(bigint) IS
    'Queues a dead, cancelled or waiting message for delivery now, with a fresh count of attempts.';

-- Stops a message that has not been sent.
CREATE FUNCTION outbox_cancel(outbox_id bigint) RETURNS outbox
    LANGUAGE plpgsql AS $$
DECLARE
    msg ticketdesk.outbox := ticketdesk.outbox_lock(outbox_id);
BEGIN
    UPDATE ticketdesk.outbox o SET status = 'cancelled', leased_until = NULL, next_attempt_at = NULL
     WHERE o.tenant_id = msg.tenant_id AND o.outbox_id = msg.outbox_id
    RETURNING * INTO msg;
    RETURN msg;
END $$;
COMMENT ON FUNCTION outbox_cancel(bigint) IS 'Cancels a message that has not been sent.';

-- The trigger and the queueing run as the extension owner, so that a role
-- that may change a ticket need not be granted the outbox; they name the
-- ticket's tenant in every query. The worker's own functions are not public.
ALTER FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb)
    SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_ticket_event() SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text)
    SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
REVOKE EXECUTE ON FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION notify_addresses(integer, text, ticket_priority, bigint, bigint, bigint, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_claim(integer, interval, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_claim_values(integer, interval, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_claim_direct(integer, interval, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_record(integer[], bigint[], text[], boolean[], integer, interval, interval,
                                         text[], text[], text[], text[], text[], jsonb[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_prune(interval) FROM PUBLIC;
-- enqueue sends mail in the desk's name with caller-given values: only roles
-- an administrator grants it to may call it. A rescan of every database is
-- not for everyone either.
REVOKE EXECUTE ON FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION notify_start_workers() FROM PUBLIC;

-- A new database with the extension gets its delivery worker at commit.
SELECT notify_start_workers();
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
-- Delivery of the automation notices through the notification outbox
-- (issue 5). A notice is inserted once (its unique key), and its insert
-- queues the messages in the same transaction, so each is sent once.

-- AFTER INSERT on automation_notice: queues one message per recipient, by
-- the channels the policy gives the event and the ticket's priority. The
-- event is the notice's kind, except that a reminder is "due_reminder".
CREATE FUNCTION automation_notice_send() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    event   text := CASE NEW.kind WHEN 'reminder' THEN 'due_reminder' ELSE NEW.kind END;
    note    text;
    agent   bigint;
    contact bigint;
BEGIN
    note := CASE NEW.kind
        WHEN 'reminder' THEN
            (SELECT r.note FROM ticketdesk.ticket_reminder r
              WHERE r.tenant_id = NEW.tenant_id AND r.reminder_id = NEW.key::bigint)
        WHEN 'escalation' THEN 'Escalation ' || NEW.key || '.'
        WHEN 'confirm_reminder' THEN
            'If the problem is not solved, just reply; otherwise the request will soon be confirmed automatically.'
    END;
    FOREACH agent IN ARRAY NEW.agent_ids LOOP
        PERFORM ticketdesk.notify_queue(NEW.tenant_id, NEW.ticket_id, event, agent, NULL, NULL, NULL, note);
    END LOOP;
    FOREACH contact IN ARRAY NEW.contact_ids LOOP
        PERFORM ticketdesk.notify_queue(NEW.tenant_id, NEW.ticket_id, event, NULL, contact, NULL, NULL, note);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER automation_notice_send AFTER INSERT ON automation_notice
    FOR EACH ROW EXECUTE FUNCTION automation_notice_send();
-- It queues as the extension owner, as the outbox's own trigger does.
ALTER FUNCTION automation_notice_send() SECURITY DEFINER SET search_path = pg_catalog, ticketdesk;
-- Work time, checklists and approval: the API (R11, R13, R25).

-- The tenant's work settings, creating its row with the defaults when it has
-- none. lock = true also locks the row: billing runs of a tenant take turns.
CREATE FUNCTION work_settings(lock boolean DEFAULT false) RETURNS work_setting
    LANGUAGE plpgsql AS $$
DECLARE
    result ticketdesk.work_setting;
BEGIN
    INSERT INTO ticketdesk.work_setting (tenant_id) VALUES (ticketdesk.current_tenant())
        ON CONFLICT (tenant_id) DO NOTHING;
    IF lock THEN
        SELECT * INTO result FROM ticketdesk.work_setting s WHERE s.tenant_id = ticketdesk.current_tenant() FOR UPDATE;
    ELSE
        SELECT * INTO result FROM ticketdesk.work_setting s WHERE s.tenant_id = ticketdesk.current_tenant();
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION work_settings(boolean) IS
    'The current tenant''s work settings (a row with the defaults is created when missing).';

-- Internal: the agent who acts, the given one or the session's.
CREATE FUNCTION acting_agent(agent_id bigint, what text) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    result bigint := coalesce(agent_id, ticketdesk.current_agent());
BEGIN
    IF result IS NULL THEN
        RAISE EXCEPTION '% needs an agent', what
            USING ERRCODE = 'TD563',
                  DETAIL = 'No agent was given and the session acts as none.',
                  HINT = 'Pass agent_id, or SET ticketdesk.agent, or log in with a role mapped to an agent.';
    END IF;
    PERFORM ticketdesk.require('agent', result);
    RETURN result;
END $$;

-- Internal: records a work event in the ticket's history.
CREATE FUNCTION work_event(ticket_id bigint, kind text, old_value text, new_value text, note text)
    RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.ticket_event (tenant_id, ticket_id, kind, old_value, new_value, note, actor_agent_id)
    VALUES (ticketdesk.current_tenant(), ticket_id, kind, old_value, new_value, note, ticketdesk.current_agent())
$$;

-- Internal: an entry in words, for the history.
CREATE FUNCTION entry_text(e time_entry) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT format('entry %s: %s, %s%s', e.entry_id, ticketdesk.period_text(e.period), e.work_type,
                  CASE WHEN e.minutes IS NOT NULL THEN format(', %s min', e.minutes) ELSE ', running' END)
$$;

-- Internal: refuses a period whose end is missing or not after its start.
CREATE FUNCTION require_period(started timestamptz, stopped timestamptz) RETURNS tstzrange
    LANGUAGE plpgsql AS $$
BEGIN
    IF started IS NULL OR stopped IS NULL OR stopped <= started THEN
        RAISE EXCEPTION 'a time entry must end after it starts'
            USING ERRCODE = 'TD560',
                  DETAIL = format('It starts %s and ends %s.',
                                  coalesce(to_char(started, 'YYYY-MM-DD HH24:MI:SS TZ'), 'nowhere'),
                                  coalesce(to_char(stopped, 'YYYY-MM-DD HH24:MI:SS TZ'), 'nowhere')),
                  HINT = 'Give the start and then a later end.';
    END IF;
    RETURN tstzrange(started, stopped);
END $$;

-- Internal: records an entry of the acting agent on a ticket; the trigger
-- time_entry_check refuses overlaps and finished tickets.
CREATE FUNCTION add_time_entry(ticket_id bigint, period tstzrange, work_type work_type, note text,
                               agent_id bigint, what text) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    INSERT INTO ticketdesk.time_entry (tenant_id, ticket_id, agent_id, work_type, period, note)
    VALUES (ticketdesk.current_tenant(), ticket_id, ticketdesk.acting_agent(agent_id, what),
            coalesce(work_type, 'normal'), period, note)
    RETURNING entry_id INTO result;
    RETURN result;
END $$;

-- Starts a timer for an agent on a ticket (R11); returns the entry id.
CREATE FUNCTION start_timer(ticket_id bigint, work_type work_type DEFAULT 'normal', note text DEFAULT NULL,
                            agent_id bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE sql AS $$
    SELECT ticketdesk.add_time_entry(ticket_id, tstzrange(now(), NULL), work_type, note, agent_id,
                                     'starting a timer')
$$;
COMMENT ON FUNCTION start_timer(bigint, work_type, text, bigint) IS
    'Starts a timer for the agent (default: the session''s) on a ticket (R11); returns the entry id.';

-- Stops the agent's running timer; returns the finished entry.
CREATE FUNCTION stop_timer(agent_id bigint DEFAULT NULL, note text DEFAULT NULL) RETURNS time_entry
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    who    bigint := ticketdesk.acting_agent(agent_id, 'stopping a timer');
    result ticketdesk.time_entry;
BEGIN
    UPDATE ticketdesk.time_entry e
       SET period = tstzrange(lower(e.period), greatest(now(), lower(e.period) + interval '1 second')),
           note = coalesce(stop_timer.note, e.note)
     WHERE e.tenant_id = ticketdesk.current_tenant() AND e.agent_id = who AND upper_inf(e.period)
    RETURNING * INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'agent % has no running timer', who
            USING ERRCODE = 'TD564', HINT = 'Start one with ticketdesk.start_timer.';
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION stop_timer(bigint, text) IS 'Stops the agent''s running timer; returns the finished entry.';

-- Records a sitting after the fact (R11); returns the entry id.
CREATE FUNCTION record_time(ticket_id bigint, started timestamptz, stopped timestamptz,
                            work_type work_type DEFAULT 'normal', note text DEFAULT NULL,
                            agent_id bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE sql AS $$
    SELECT ticketdesk.add_time_entry(ticket_id, ticketdesk.require_period(started, stopped), work_type, note,
                                     agent_id, 'recording time')
$$;
COMMENT ON FUNCTION record_time(bigint, timestamptz, timestamptz, work_type, text, bigint) IS
    'Records a finished sitting after the fact (R11); returns the entry id.';

-- The requester confirms the ticket's time (R25): every finished entry not
-- yet confirmed. Returns how many entries were confirmed.
CREATE FUNCTION confirm_time(ticket_id bigint, confirmed_by text DEFAULT NULL) RETURNS integer
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    requester text;
    n         integer;
    total     integer;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    SELECT coalesce(confirmed_by, c.name, a.name, cu.name) INTO requester
      FROM ticketdesk.ticket k
      LEFT JOIN ticketdesk.contact c ON c.tenant_id = k.tenant_id AND c.contact_id = k.contact_id
      LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.requester_agent_id
      LEFT JOIN ticketdesk.customer cu ON cu.tenant_id = k.tenant_id AND cu.customer_id = k.customer_id
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = confirm_time.ticket_id;
    WITH done AS (
        UPDATE ticketdesk.time_entry e SET confirmed_at = now(), confirmed_by = requester
         WHERE e.tenant_id = ticketdesk.current_tenant() AND e.ticket_id = confirm_time.ticket_id
           AND e.confirmed_at IS NULL AND NOT upper_inf(e.period)
        RETURNING e.minutes)
    SELECT count(*), sum(minutes) INTO n, total FROM done;
    IF n > 0 THEN
        PERFORM ticketdesk.work_event(ticket_id, 'time_confirmed', NULL,
                                      format('%s entries, %s min', n, total), 'by ' || requester);
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION confirm_time(bigint, text) IS
    'The requester confirms the ticket''s finished time entries (R25); returns how many were confirmed.';

-- True when the agent manages the ticket: a dispatcher of its centre, or
-- the supervisor of its assignee (or of the given worker).
CREATE FUNCTION is_manager(ticket_id bigint, agent_id bigint, worker_id bigint DEFAULT NULL) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ticketdesk.ticket k
                     JOIN ticketdesk.center_member m
                       ON m.tenant_id = k.tenant_id AND m.center_id = k.center_id AND m.role = 'dispatcher'
                    WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = $1 AND m.agent_id = $2)
        OR EXISTS (SELECT 1 FROM ticketdesk.ticket k
                     JOIN ticketdesk.agent w ON w.tenant_id = k.tenant_id
                                            AND w.agent_id IN (k.assignee_id, $3)
                    WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = $1
                      AND w.supervisor_id = $2)
$$;
COMMENT ON FUNCTION is_manager(bigint, bigint, bigint) IS
    'True when the agent is a dispatcher of the ticket''s centre or the supervisor of its assignee (or of worker_id).';

-- Internal: refuses an agent who does not manage the ticket.
CREATE FUNCTION require_manager(ticket_id bigint, agent_id bigint, what text, worker_id bigint DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ticketdesk.is_manager(ticket_id, agent_id, worker_id) THEN
        RAISE EXCEPTION 'agent % is no manager of ticket %: only a manager may %', agent_id, ticket_id, what
            USING ERRCODE = 'TD572',
                  DETAIL = 'Only a dispatcher of the ticket''s centre or the supervisor of the agent who did the work may.',
                  HINT = 'Ask the dispatcher of the centre.';
    END IF;
END $$;

-- The dispatcher corrects a time entry (R25). The first values are kept on
-- the entry, and each correction goes into the ticket's history with the
-- old and the new value. Corrections are allowed on closed tickets.
CREATE FUNCTION correct_time(entry_id bigint, reason text, started timestamptz DEFAULT NULL,
                             stopped timestamptz DEFAULT NULL, work_type work_type DEFAULT NULL)
    RETURNS time_entry
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    who    bigint := ticketdesk.acting_agent(NULL, 'correcting time');
    old    ticketdesk.time_entry;
    result ticketdesk.time_entry;
BEGIN
    SELECT * INTO old FROM ticketdesk.time_entry e
     WHERE e.tenant_id = ticketdesk.current_tenant() AND e.entry_id = correct_time.entry_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'time entry % does not exist', entry_id
            USING ERRCODE = 'TD566', HINT = 'Check the entry id and the setting ticketdesk.tenant.';
    END IF;
    IF reason IS NULL OR reason !~ '\S' THEN
        RAISE EXCEPTION 'a correction of time needs a reason'
            USING ERRCODE = 'TD565', HINT = 'Say why the time is corrected; the reason is kept in the history.';
    END IF;
    PERFORM ticketdesk.require_manager(old.ticket_id, who, 'correct time', old.agent_id);
    IF started IS NOT NULL OR stopped IS NOT NULL THEN
        IF upper_inf(old.period) AND stopped IS NULL THEN
            RAISE EXCEPTION 'a running timer cannot be corrected'
                USING ERRCODE = 'TD560', HINT = 'Stop it first, or give the end.';
        END IF;
        PERFORM ticketdesk.require_period(coalesce(started, lower(old.period)), coalesce(stopped, upper(old.period)));
    END IF;
    UPDATE ticketdesk.time_entry e
       SET period = tstzrange(coalesce(started, lower(e.period)), coalesce(stopped, upper(e.period))),
           work_type = coalesce(correct_time.work_type, e.work_type),
           original_period = coalesce(e.original_period, e.period),
           original_type = coalesce(e.original_type, e.work_type),
           corrected_at = clock_timestamp(), corrected_by = who, correction_reason = reason
     WHERE e.tenant_id = old.tenant_id AND e.entry_id = old.entry_id
    RETURNING * INTO result;
    PERFORM ticketdesk.work_event(old.ticket_id, 'time_correction', ticketdesk.entry_text(old),
                                  ticketdesk.entry_text(result), reason);
    RETURN result;
END $$;
COMMENT ON FUNCTION correct_time(bigint, text, timestamptz, timestamptz, work_type) IS
    'The dispatcher corrects a time entry with a reason (R25); the original stays on the entry and in the history.';

-- Adds an item to a ticket's checklist by hand (R13); returns its id.
CREATE FUNCTION add_checklist_item(ticket_id bigint, title text, required boolean DEFAULT true) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    IF title IS NULL OR title !~ '\S' THEN
        RAISE EXCEPTION 'a checklist item needs a title'
            USING ERRCODE = 'TD568', HINT = 'Say what has to be done, e.g. "Pressure test".';
    END IF;
    INSERT INTO ticketdesk.checklist_item (tenant_id, ticket_id, position, title, required, added_by)
    SELECT ticketdesk.current_tenant(), ticket_id, coalesce(max(i.position), 0) + 1, title,
           coalesce(required, true), ticketdesk.current_agent()
      FROM ticketdesk.checklist_item i
     WHERE i.tenant_id = ticketdesk.current_tenant() AND i.ticket_id = add_checklist_item.ticket_id
    RETURNING item_id INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION add_checklist_item(bigint, text, boolean) IS
    'Adds an item to a ticket''s checklist (required unless told otherwise); returns its id.';

-- Ticks (or unticks) a checklist item.
CREATE FUNCTION check_item(item_id bigint, done boolean DEFAULT true) RETURNS checklist_item
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.checklist_item;
BEGIN
    UPDATE ticketdesk.checklist_item i
       SET done_at = CASE WHEN done THEN coalesce(i.done_at, now()) END,
           done_by = CASE WHEN done THEN coalesce(i.done_by, ticketdesk.current_agent()) END
     WHERE i.tenant_id = ticketdesk.current_tenant() AND i.item_id = check_item.item_id
    RETURNING * INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'checklist item % does not exist', item_id
            USING ERRCODE = 'TD567', HINT = 'Check the item id and the setting ticketdesk.tenant.';
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION check_item(bigint, boolean) IS 'Ticks a checklist item (done => false unticks it).';

-- Internal: the ticket, locked, or the "not found" error.
CREATE FUNCTION locked_ticket(ticket_id bigint) RETURNS ticket
    LANGUAGE plpgsql AS $$
DECLARE
    result ticketdesk.ticket;
BEGIN
    SELECT * INTO result FROM ticketdesk.ticket k
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = locked_ticket.ticket_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;

-- Internal: refuses a decision on a ticket that is not resolved, or by
-- someone who may not make it.
CREATE FUNCTION require_decider(k ticket, who bigint, what text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF k.status NOT IN ('resolved', 'confirmed', 'closed') THEN
        RAISE EXCEPTION 'ticket % is %: there is no resolution to %', k.reference, k.status, what
            USING ERRCODE = 'TD574', HINT = 'A manager decides on work once the ticket is resolved.';
    END IF;
    PERFORM ticketdesk.require_manager(k.ticket_id, who, what);
    IF (who = k.assignee_id OR EXISTS (SELECT 1 FROM ticketdesk.time_entry e
                                        WHERE e.tenant_id = k.tenant_id AND e.ticket_id = k.ticket_id
                                          AND e.agent_id = who))
       AND NOT (ticketdesk.work_settings()).allow_self_approval THEN
        RAISE EXCEPTION 'agent % worked on ticket % and may not % it', who, k.reference, what
            USING ERRCODE = 'TD573',
                  DETAIL = 'The setting work_setting.allow_self_approval forbids deciding on one''s own work.',
                  HINT = 'Another dispatcher or the supervisor decides.';
    END IF;
END $$;

-- A manager approves the resolved work (R13). Approving the same
-- resolution twice changes nothing. Returns the approval id.
CREATE FUNCTION approve(ticket_id bigint, note text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    who    bigint := ticketdesk.acting_agent(NULL, 'approving');
    k      ticketdesk.ticket := ticketdesk.locked_ticket(ticket_id);
    result bigint;
BEGIN
    PERFORM ticketdesk.require_decider(k, who, 'approve');
    SELECT a.approval_id INTO result FROM ticketdesk.approval a
     WHERE a.tenant_id = k.tenant_id AND a.ticket_id = k.ticket_id AND a.resolved_at = k.resolved_at
     ORDER BY a.approval_id DESC LIMIT 1;
    IF result IS NOT NULL AND ticketdesk.ticket_approved(k.tenant_id, k.ticket_id, k.resolved_at) THEN
        RETURN result;
    END IF;
    INSERT INTO ticketdesk.approval (tenant_id, ticket_id, resolved_at, decision, reason, decided_by)
    VALUES (k.tenant_id, k.ticket_id, k.resolved_at, 'approved', note, who)
    RETURNING approval_id INTO result;
    PERFORM ticketdesk.work_event(k.ticket_id, 'approval', k.status::text, 'approved', note);
    RETURN result;
END $$;
COMMENT ON FUNCTION approve(bigint, text) IS
    'A manager (dispatcher of the centre, or the assignee''s supervisor) approves the resolved work (R13).';

-- A manager sends the work back with a reason: the ticket is reopened.
CREATE FUNCTION send_back(ticket_id bigint, reason text) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    who bigint := ticketdesk.acting_agent(NULL, 'sending work back');
    k   ticketdesk.ticket := ticketdesk.locked_ticket(ticket_id);
BEGIN
    IF reason IS NULL OR reason !~ '\S' THEN
        RAISE EXCEPTION 'sending work back needs a reason'
            USING ERRCODE = 'TD576', HINT = 'Say what is missing; the assignee reads it in the history.';
    END IF;
    PERFORM ticketdesk.require_decider(k, who, 'send back');
    INSERT INTO ticketdesk.approval (tenant_id, ticket_id, resolved_at, decision, reason, decided_by)
    VALUES (k.tenant_id, k.ticket_id, k.resolved_at, 'sent_back', reason, who);
    RETURN ticketdesk.reopen(ticket_id, 'sent back: ' || reason);
END $$;
COMMENT ON FUNCTION send_back(bigint, text) IS
    'A manager sends resolved work back with a reason (R13): recorded, and the ticket is reopened.';

-- An administrator moves a ticket past its gates (open checklist items, a
-- missing approval). The bypass is recorded first: who, when, why, and what
-- was open; the lifecycle trigger lets this one move through.
CREATE FUNCTION override_gate(ticket_id bigint, status ticket_status, reason text,
                              resolution text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    k      ticketdesk.ticket := ticketdesk.locked_ticket(ticket_id);
    gate   record;
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    IF reason IS NULL OR reason !~ '\S' THEN
        RAISE EXCEPTION 'a gate bypass needs a reason'
            USING ERRCODE = 'TD576', HINT = 'Say why the gate is bypassed; the reason is recorded.';
    END IF;
    SELECT * INTO gate FROM ticketdesk.completion_gate_state(
        k.tenant_id, k.ticket_id, k.type_id, k.resolved_at, status,
        status IN ('resolved', 'confirmed', 'closed') AND k.status NOT IN ('resolved', 'confirmed', 'closed'),
        status = 'closed');
    IF cardinality(gate.open_items) = 0 AND NOT gate.approval_missing THEN
        RAISE EXCEPTION 'no gate stops ticket % from becoming %', k.reference, status
            USING ERRCODE = 'TD577',
                  DETAIL = 'No required checklist item is open and no approval is missing.',
                  HINT = format('Use the ordinary move, e.g. ticketdesk.move(%s, %L).', k.ticket_id, status);
    END IF;
    INSERT INTO ticketdesk.gate_bypass (tenant_id, ticket_id, from_status, to_status, reason,
                                        open_items, approval_missing, by_agent)
    VALUES (k.tenant_id, k.ticket_id, k.status, status, reason, gate.open_items, gate.approval_missing,
            ticketdesk.current_agent());
    PERFORM ticketdesk.work_event(k.ticket_id, 'gate_bypass', array_to_string(gate.open_items, '; '),
                                  status::text, reason);
    caller_note := ticketdesk.set_note(reason);
    UPDATE ticketdesk.ticket t
       SET status = override_gate.status, resolution = coalesce(override_gate.resolution, t.resolution)
     WHERE t.tenant_id = k.tenant_id AND t.ticket_id = k.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    RETURN result;
END $$;
COMMENT ON FUNCTION override_gate(bigint, ticket_status, text, text) IS
    'An administrator moves a ticket past open checklist items or a missing approval; the bypass is recorded (R13).';

-- The ticket's checklist, in order.
CREATE FUNCTION checklist(ticket_id bigint)
    RETURNS TABLE (item_id bigint, "position" integer, title text, required boolean, done boolean, done_by text)
    LANGUAGE sql STABLE AS $$
    SELECT i.item_id, i.position, i.title, i.required, i.done_at IS NOT NULL, a.name
      FROM ticketdesk.checklist_item i
      LEFT JOIN ticketdesk.agent a ON a.tenant_id = i.tenant_id AND a.agent_id = i.done_by
     WHERE i.tenant_id = ticketdesk.current_tenant() AND i.ticket_id = $1
     ORDER BY i.position, i.item_id
$$;
COMMENT ON FUNCTION checklist(bigint) IS 'A ticket''s checklist in order: title, required, done, by whom.';

-- Whether a ticket's work counts as completed: see view ticket_completion.
CREATE FUNCTION work_completed(k ticket) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT c.completed FROM ticketdesk.ticket_completion c
     WHERE c.tenant_id = k.tenant_id AND c.ticket_id = k.ticket_id
$$;
COMMENT ON FUNCTION work_completed(ticket) IS
    'True when the ticket is resolved, confirmed or closed and approved where its type requires approval.';
-- The work-completion act (R12): a printable HTML document, or plain text,
-- in the requester's language, for one ticket or a customer's period.

-- The act's wording in the five default languages.
CREATE FUNCTION act_label(language text, key text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '{
      "en": {"title": "Work completion act", "customer": "Customer", "tax_id": "Tax ID", "site": "Site",
             "period": "Period", "ticket": "Ticket", "subject": "Subject", "work_done": "Work done",
             "status": "Status", "approved": "Approved by", "date": "Date", "time": "Time",
             "agent": "Technician", "work_type": "Work type", "minutes": "Minutes", "note": "Note",
             "confirmed": "Confirmed by", "not_confirmed": "not confirmed", "corrected": "corrected, originally",
             "ticket_total": "Ticket total", "total": "Total", "hours": "h:mm",
             "normal": "Normal work", "travel": "Travel", "after_hours": "After-hours work",
             "performed_by": "Performed by", "accepted_by": "Accepted by", "signature": "name, date, signature"},
      "lt": {"title": "Atliktų darbų aktas", "customer": "Užsakovas", "tax_id": "Įmonės kodas", "site": "Objektas",
             "period": "Laikotarpis", "ticket": "Užklausa", "subject": "Tema", "work_done": "Atlikti darbai",
             "status": "Būsena", "approved": "Patvirtino vadovas", "date": "Data", "time": "Laikas",
             "agent": "Technikas", "work_type": "Darbo rūšis", "minutes": "Minutės", "note": "Pastaba",
             "confirmed": "Patvirtino", "not_confirmed": "nepatvirtinta", "corrected": "pataisyta, buvo",
             "ticket_total": "Iš viso užklausai", "total": "Iš viso", "hours": "val:min",
             "normal": "Įprastas darbas", "travel": "Kelionė", "after_hours": "Darbas ne darbo valandomis",
             "performed_by": "Darbus atliko", "accepted_by": "Darbus priėmė", "signature": "vardas, pavardė, data, parašas"},
      "pl": {"title": "Protokół wykonania prac", "customer": "Klient", "tax_id": "NIP", "site": "Miejsce",
             "period": "Okres", "ticket": "Zgłoszenie", "subject": "Temat", "work_done": "Wykonane prace",
             "status": "Status", "approved": "Zatwierdził kierownik", "date": "Data", "time": "Czas",
             "agent": "Technik", "work_type": "Rodzaj pracy", "minutes": "Minuty", "note": "Uwagi",
             "confirmed": "Potwierdził", "not_confirmed": "niepotwierdzone", "corrected": "poprawiono, pierwotnie",
             "ticket_total": "Razem zgłoszenie", "total": "Razem", "hours": "godz:min",
             "normal": "Praca standardowa", "travel": "Dojazd", "after_hours": "Praca po godzinach",
             "performed_by": "Wykonał", "accepted_by": "Odebrał", "signature": "imię i nazwisko, data, podpis"},
      "he": {"title": "דוח ביצוע עבודה", "customer": "לקוח", "tax_id": "ח.פ.", "site": "אתר",
             "period": "תקופה", "ticket": "קריאה", "subject": "נושא", "work_done": "העבודה שבוצעה",
             "status": "מצב", "approved": "אושר על ידי המנהל", "date": "תאריך", "time": "שעות",
             "agent": "טכנאי", "work_type": "סוג עבודה", "minutes": "דקות", "note": "הערה",
             "confirmed": "אושר על ידי", "not_confirmed": "לא אושר", "corrected": "תוקן, במקור",
             "ticket_total": "סה״כ לקריאה", "total": "סה״כ", "hours": "שעות:דקות",
             "normal": "עבודה רגילה", "travel": "נסיעה", "after_hours": "עבודה מחוץ לשעות העבודה",
             "performed_by": "בוצע על ידי", "accepted_by": "התקבל על ידי", "signature": "שם, תאריך, חתימה"},
      "ro": {"title": "Proces-verbal de execuție a lucrărilor", "customer": "Client", "tax_id": "CUI", "site": "Locație",
             "period": "Perioada", "ticket": "Solicitare", "subject": "Subiect", "work_done": "Lucrări efectuate",
             "status": "Stare", "approved": "Aprobat de manager", "date": "Data", "time": "Interval",
             "agent": "Tehnician", "work_type": "Tip de lucru", "minutes": "Minute", "note": "Notă",
             "confirmed": "Confirmat de", "not_confirmed": "neconfirmat", "corrected": "corectat, inițial",
             "ticket_total": "Total solicitare", "total": "Total", "hours": "ore:min",
             "normal": "Lucru normal", "travel": "Deplasare", "after_hours": "Lucru în afara programului",
             "performed_by": "Executat de", "accepted_by": "Recepționat de", "signature": "nume, data, semnătura"}
    }'::jsonb -> language ->> key
$$;
COMMENT ON FUNCTION act_label(text, text) IS 'The act''s wording for a key in one of en, lt, pl, he, ro.';

-- Escapes text for HTML element content and attribute values.
CREATE FUNCTION html_escape(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           '"', '&quot;'), '''', '&#39;')
$$;
COMMENT ON FUNCTION html_escape(text) IS 'Escapes & < > " and '' for HTML.';

-- Internal: minutes as h:mm.
CREATE FUNCTION hours_text(minutes bigint) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT format('%s%s:%s', CASE WHEN minutes < 0 THEN '-' ELSE '' END, abs(minutes) / 60,
                  lpad((abs(minutes) % 60)::text, 2, '0'))
$$;

-- Internal: renders the act over the given tickets' entries within a period.
CREATE FUNCTION render_act(customer_id bigint, tickets bigint[], period tstzrange, format text, language text)
    RETURNS text
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t     integer := ticketdesk.current_tenant();
    html  boolean := format = 'html';
    L     text := language;
    cu    ticketdesk.customer;
    k     record;
    e     record;
    w     record;
    out   text := '';
    sites text;
    last_moment timestamptz;
    grand bigint := 0;
BEGIN
    IF format IS NULL OR format NOT IN ('html', 'text') THEN
        RAISE EXCEPTION 'unknown act format "%"', format
            USING ERRCODE = 'TD586', HINT = 'The act is produced as html or text.';
    END IF;
    IF ticketdesk.act_label(L, 'title') IS NULL THEN
        RAISE EXCEPTION 'the act is not available in language "%"', L
            USING ERRCODE = 'TD585', HINT = 'Use one of en, lt, pl, he, ro.';
    END IF;
    SELECT * INTO cu FROM ticketdesk.customer c WHERE c.tenant_id = t AND c.customer_id = render_act.customer_id;
    SELECT string_agg(DISTINCT s.address, '; ') INTO sites
      FROM ticketdesk.ticket x JOIN ticketdesk.site s ON s.tenant_id = x.tenant_id AND s.site_id = x.site_id
     WHERE x.tenant_id = t AND x.ticket_id = ANY (tickets);
    IF period IS NULL THEN
        SELECT tstzrange(min(lower(x.period)), max(upper(x.period)), '[]') INTO period
          FROM ticketdesk.time_entry x WHERE x.tenant_id = t AND x.ticket_id = ANY (tickets) AND NOT upper_inf(x.period);
    END IF;

    -- The last day shown: the period's end is exclusive.
    last_moment := upper(period) - interval '1 microsecond';

    IF html THEN
        out := format(E'<!DOCTYPE html>\n<html lang="%s" dir="%s">\n<head>\n<meta charset="utf-8">\n<title>%s</title>\n'
                      || '<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%%}'
                      || 'th,td{border:1px solid #888;padding:.3em;text-align:start}'
                      || '.sign{margin-top:3em;display:flex;gap:4em}.sign div{border-top:1px solid #000;flex:1}'
                      || E'@media print{body{margin:0}}</style>\n</head>\n<body>\n<h1>%s</h1>\n<dl>\n',
                      L, CASE WHEN L = 'he' THEN 'rtl' ELSE 'ltr' END,
                      ticketdesk.act_label(L, 'title'), ticketdesk.act_label(L, 'title'));
        out := out || format(E'<dt>%s</dt><dd>%s%s</dd>\n', ticketdesk.act_label(L, 'customer'),
                             ticketdesk.html_escape(coalesce(cu.name, '-')),
                             coalesce(' (' || ticketdesk.act_label(L, 'tax_id') || ' ' || ticketdesk.html_escape(cu.tax_id) || ')', ''));
        IF sites IS NOT NULL THEN
            out := out || format(E'<dt>%s</dt><dd>%s</dd>\n', ticketdesk.act_label(L, 'site'), ticketdesk.html_escape(sites));
        END IF;
        out := out || format(E'<dt>%s</dt><dd>%s</dd>\n</dl>\n', ticketdesk.act_label(L, 'period'),
                             coalesce(to_char(lower(period), 'YYYY-MM-DD') || ' – ' || to_char(last_moment, 'YYYY-MM-DD'), '-'));
    ELSE
        out := upper(ticketdesk.act_label(L, 'title')) || E'\n\n'
            || format(E'%s: %s%s\n', ticketdesk.act_label(L, 'customer'), coalesce(cu.name, '-'),
                      coalesce(' (' || ticketdesk.act_label(L, 'tax_id') || ' ' || cu.tax_id || ')', ''))
            || coalesce(ticketdesk.act_label(L, 'site') || ': ' || sites || E'\n', '')
            || format(E'%s: %s\n', ticketdesk.act_label(L, 'period'),
                      coalesce(to_char(lower(period), 'YYYY-MM-DD') || ' - ' || to_char(last_moment, 'YYYY-MM-DD'), '-'));
    END IF;

    FOR k IN
        SELECT x.ticket_id, x.reference, x.subject, x.status, x.resolution,
               (SELECT a.name FROM ticketdesk.approval p
                  JOIN ticketdesk.agent a ON a.tenant_id = p.tenant_id AND a.agent_id = p.decided_by
                 WHERE p.tenant_id = x.tenant_id AND p.ticket_id = x.ticket_id AND p.resolved_at = x.resolved_at
                   AND ticketdesk.ticket_approved(x.tenant_id, x.ticket_id, x.resolved_at)
                 ORDER BY p.approval_id DESC LIMIT 1) AS approved_by
          FROM ticketdesk.ticket x
         WHERE x.tenant_id = t AND x.ticket_id = ANY (tickets)
         ORDER BY x.ticket_id
    LOOP
        IF html THEN
            out := out || format(E'<h2>%s %s: %s</h2>\n<p>%s: %s</p>\n', ticketdesk.act_label(L, 'ticket'),
                                 k.reference, ticketdesk.html_escape(k.subject),
                                 ticketdesk.act_label(L, 'work_done'), ticketdesk.html_escape(coalesce(k.resolution, '-')))
                || coalesce('<p>' || ticketdesk.act_label(L, 'approved') || ': '
                            || ticketdesk.html_escape(k.approved_by) || E'</p>\n', '')
                || format(E'<table>\n<tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n',
                          ticketdesk.act_label(L, 'time'), ticketdesk.act_label(L, 'agent'),
                          ticketdesk.act_label(L, 'work_type'), ticketdesk.act_label(L, 'minutes'),
                          ticketdesk.act_label(L, 'confirmed'), ticketdesk.act_label(L, 'note'));
        ELSE
            out := out || format(E'\n%s %s: %s\n%s: %s\n', ticketdesk.act_label(L, 'ticket'), k.reference, k.subject,
                                 ticketdesk.act_label(L, 'work_done'), coalesce(k.resolution, '-'))
                || coalesce(ticketdesk.act_label(L, 'approved') || ': ' || k.approved_by || E'\n', '');
        END IF;
        FOR e IN
            SELECT x.period, x.work_type, x.minutes, x.note, x.confirmed_by, x.original_period, x.original_type,
                   a.name AS agent
              FROM ticketdesk.time_entry x
              JOIN ticketdesk.agent a ON a.tenant_id = x.tenant_id AND a.agent_id = x.agent_id
             WHERE x.tenant_id = t AND x.ticket_id = k.ticket_id AND NOT upper_inf(x.period)
               AND x.period && period
             ORDER BY lower(x.period), x.entry_id
        LOOP
            IF html THEN
                out := out || format(E'<tr><td>%s%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n',
                                     ticketdesk.period_text(e.period),
                                     coalesce(' <small>(' || ticketdesk.act_label(L, 'corrected') || ' '
                                              || ticketdesk.period_text(e.original_period) || ')</small>', ''),
                                     ticketdesk.html_escape(e.agent), ticketdesk.act_label(L, e.work_type::text),
                                     e.minutes,
                                     coalesce(ticketdesk.html_escape(e.confirmed_by), ticketdesk.act_label(L, 'not_confirmed')),
                                     coalesce(ticketdesk.html_escape(e.note), ''));
            ELSE
                out := out || format(E'  %s  %s  %s  %s min  %s: %s%s%s\n',
                                     ticketdesk.period_text(e.period), e.agent, ticketdesk.act_label(L, e.work_type::text),
                                     e.minutes, ticketdesk.act_label(L, 'confirmed'),
                                     coalesce(e.confirmed_by, ticketdesk.act_label(L, 'not_confirmed')),
                                     coalesce(' (' || ticketdesk.act_label(L, 'corrected') || ' '
                                              || ticketdesk.period_text(e.original_period) || ')', ''),
                                     coalesce('  ' || e.note, ''));
            END IF;
        END LOOP;
        SELECT coalesce(sum(x.minutes), 0) AS m INTO w FROM ticketdesk.time_entry x
         WHERE x.tenant_id = t AND x.ticket_id = k.ticket_id AND NOT upper_inf(x.period) AND x.period && period;
        grand := grand + w.m;
        IF html THEN
            out := out || format(E'<tr><th colspan="3">%s</th><th>%s</th><th colspan="2">%s %s</th></tr>\n</table>\n',
                                 ticketdesk.act_label(L, 'ticket_total'), w.m, ticketdesk.hours_text(w.m),
                                 ticketdesk.act_label(L, 'hours'));
        ELSE
            out := out || format(E'  %s: %s min (%s %s)\n', ticketdesk.act_label(L, 'ticket_total'), w.m,
                                 ticketdesk.hours_text(w.m), ticketdesk.act_label(L, 'hours'));
        END IF;
    END LOOP;

    -- Totals per work type, then the grand total and the signatures.
    out := out || CASE WHEN html THEN format(E'<h2>%s</h2>\n<table>\n', ticketdesk.act_label(L, 'total'))
                       ELSE format(E'\n%s:\n', ticketdesk.act_label(L, 'total')) END;
    FOR w IN
        SELECT x.work_type, sum(x.minutes) AS m FROM ticketdesk.time_entry x
         WHERE x.tenant_id = t AND x.ticket_id = ANY (tickets) AND NOT upper_inf(x.period) AND x.period && period
         GROUP BY x.work_type ORDER BY x.work_type
    LOOP
        out := out || format(CASE WHEN html THEN E'<tr><td>%s</td><td>%s</td><td>%s %s</td></tr>\n'
                                  ELSE E'  %s: %s min (%s %s)\n' END,
                             ticketdesk.act_label(L, w.work_type::text), w.m, ticketdesk.hours_text(w.m),
                             ticketdesk.act_label(L, 'hours'));
    END LOOP;
    IF html THEN
        out := out || format(E'<tr><th>%s</th><th>%s</th><th>%s %s</th></tr>\n</table>\n'
                             || E'<div class="sign"><div>%s<br><small>%s</small></div><div>%s<br><small>%s</small></div></div>\n'
                             || E'</body>\n</html>\n',
                             ticketdesk.act_label(L, 'total'), grand, ticketdesk.hours_text(grand), ticketdesk.act_label(L, 'hours'),
                             ticketdesk.act_label(L, 'performed_by'), ticketdesk.act_label(L, 'signature'),
                             ticketdesk.act_label(L, 'accepted_by'), ticketdesk.act_label(L, 'signature'));
    ELSE
        out := out || format(E'  %s: %s min (%s %s)\n\n%s: ____________________\n%s: ____________________\n',
                             ticketdesk.act_label(L, 'total'), grand, ticketdesk.hours_text(grand), ticketdesk.act_label(L, 'hours'),
                             ticketdesk.act_label(L, 'performed_by'), ticketdesk.act_label(L, 'accepted_by'));
    END IF;
    RETURN out;
END $$;

-- The act for one ticket (R12), in the requester's language unless one is given.
CREATE FUNCTION work_act(ticket_id bigint, format text DEFAULT 'html', language text DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    k    ticketdesk.ticket;
    lang text;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x
     WHERE x.tenant_id = ticketdesk.current_tenant() AND x.ticket_id = work_act.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    SELECT coalesce(c.language, a.language) INTO lang
      FROM (SELECT 1) one
      LEFT JOIN ticketdesk.contact c ON c.tenant_id = k.tenant_id AND c.contact_id = k.contact_id
      LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.requester_agent_id;
    IF language IS NULL AND ticketdesk.act_label(lang, 'title') IS NULL THEN
        lang := 'en';
    END IF;
    RETURN ticketdesk.render_act(k.customer_id, ARRAY[k.ticket_id], NULL, format, coalesce(language, lang));
END $$;
COMMENT ON FUNCTION work_act(bigint, text, text) IS
    'The work-completion act of a ticket (R12) as html or text, in the requester''s language (en, lt, pl, he, ro) unless given.';

-- The act for a customer's tickets with time in a period (R12). The language
-- defaults to that of the customer's first contact person.
CREATE FUNCTION customer_work_act(customer_id bigint, period_from date, period_to date,
                                  format text DEFAULT 'html', language text DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t       integer := ticketdesk.current_tenant();
    span    tstzrange;
    tickets bigint[];
    lang    text;
BEGIN
    PERFORM ticketdesk.require('customer', customer_id);
    IF period_from IS NULL OR period_to IS NULL OR period_to < period_from THEN
        RAISE EXCEPTION 'an act needs a period from one day to the same or a later day'
            USING ERRCODE = 'TD560',
                  DETAIL = format('The period runs from %s to %s.', coalesce(to_char(period_from, 'YYYY-MM-DD'), 'nothing'),
                                  coalesce(to_char(period_to, 'YYYY-MM-DD'), 'nothing')),
                  HINT = 'Give period_from and period_to, e.g. the first and last day of a month.';
    END IF;
    span := tstzrange(period_from::timestamptz, (period_to + 1)::timestamptz);
    SELECT array_agg(DISTINCT e.ticket_id ORDER BY e.ticket_id) INTO tickets
      FROM ticketdesk.time_entry e
      JOIN ticketdesk.ticket k ON k.tenant_id = e.tenant_id AND k.ticket_id = e.ticket_id
     WHERE e.tenant_id = t AND k.customer_id = customer_work_act.customer_id AND e.period && span
       AND NOT upper_inf(e.period);
    SELECT c.language INTO lang FROM ticketdesk.contact c
     WHERE c.tenant_id = t AND c.customer_id = customer_work_act.customer_id ORDER BY c.contact_id LIMIT 1;
    IF language IS NULL AND ticketdesk.act_label(lang, 'title') IS NULL THEN
        lang := 'en';
    END IF;
    RETURN ticketdesk.render_act(customer_id, coalesce(tickets, '{}'), span, format, coalesce(language, lang));
END $$;
COMMENT ON FUNCTION customer_work_act(bigint, date, date, text, text) IS
    'The work-completion act of a customer''s tickets with time in a period (R12), as html or text.';
-- Billing runs and their export (R14).

-- Internal: the "no rate" error, usable inside a query.
CREATE FUNCTION raise_no_rate(customer_id bigint, work_type work_type) RETURNS numeric
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no rate applies to % work for customer %', work_type, customer_id
        USING ERRCODE = 'TD582',
              DETAIL = 'Table ticketdesk.rate has no row for this customer and work type, for the customer, for the work type, or a default.',
              HINT = 'Add a rate, e.g. INSERT INTO ticketdesk.rate (hourly) VALUES (50) for a default; nothing was billed.';
END $$;

-- Bills a month (R14): one line per customer and item, for completed work
-- done up to the end of the month and not billed yet, plus credit or debit
-- lines for billed entries corrected since. The included entries are marked
-- billed in the same transaction. A second run for the same month returns
-- the first one; no entry is ever billed twice. A month that is not over
-- yet is refused unless force.
CREATE FUNCTION billing_run(month date, force boolean DEFAULT false) RETURNS billing_run
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t         integer := ticketdesk.current_tenant();
    first_day date := date_trunc('month', month)::date;
    month_end timestamptz := date_trunc('month', month) + interval '1 month';
    cfg       ticketdesk.work_setting;
    result    ticketdesk.billing_run;
BEGIN
    IF month IS NULL THEN
        RAISE EXCEPTION 'a billing run needs a month'
            USING ERRCODE = 'TD583', HINT = 'Pass any day of the month, e.g. date ''2026-03-01''.';
    END IF;
    IF month_end > now() AND NOT coalesce(force, false) THEN
        RAISE EXCEPTION 'month % is not over yet', to_char(first_day, 'YYYY-MM')
            USING ERRCODE = 'TD581',
                  DETAIL = format('It ends at %s.', to_char(month_end, 'YYYY-MM-DD HH24:MI TZ')),
                  HINT = 'Wait for the month to end, or pass force => true to bill the work completed so far.';
    END IF;
    -- Runs of one tenant take turns; a concurrent run for the same month
    -- finds the first one's result below.
    cfg := ticketdesk.work_settings(lock => true);
    SELECT * INTO result FROM ticketdesk.billing_run r WHERE r.tenant_id = t AND r.month = first_day;
    IF FOUND THEN
        RETURN result;
    END IF;
    INSERT INTO ticketdesk.billing_run (tenant_id, month, forced, currency)
    VALUES (t, first_day, month_end > now(), cfg.currency)
    RETURNING * INTO result;

    WITH due AS MATERIALIZED (
        -- Entries not billed since their last change, finished before the end of the month.
        SELECT e.entry_id, e.ticket_id, e.work_type, e.period, e.minutes, e.confirmed_at, q.changes
          FROM ticketdesk.billing_due q
          JOIN ticketdesk.time_entry e ON e.tenant_id = q.tenant_id AND e.entry_id = q.entry_id
         WHERE q.tenant_id = t AND NOT upper_inf(e.period) AND upper(e.period) <= month_end
    ), done AS (
        -- Their tickets, each looked at once.
        SELECT c.ticket_id, c.customer_id, c.completed, c.approved
          FROM ticketdesk.ticket_completion c
         WHERE c.tenant_id = t AND c.customer_id IS NOT NULL
           AND c.ticket_id IN (SELECT d.ticket_id FROM due d)
    ), cand AS (
        SELECT d.entry_id, d.ticket_id, d.work_type, d.changes, d.minutes, k.customer_id,
               EXISTS (SELECT 1 FROM ticketdesk.billed_item b WHERE b.tenant_id = t AND b.entry_id = d.entry_id)
                   AS billed_before,
               k.completed AND (d.confirmed_at IS NOT NULL OR k.approved) AS billable
          FROM due d JOIN done k ON k.ticket_id = d.ticket_id
    ), want AS (
        -- What each entry should have been billed in total: rounded minutes.
        SELECT c.*, greatest(cfg.minimum_minutes,
                             ceil(c.minutes::numeric / cfg.rounding_minutes)::integer * cfg.rounding_minutes)
                        AS bill_minutes
          FROM cand c WHERE c.billed_before OR c.billable
    ), prev AS (
        -- What earlier runs billed per entry and work type, at which price.
        SELECT b.entry_id, b.work_type, sum(b.minutes)::integer AS minutes,
               (array_agg(b.unit_price ORDER BY b.billed_id DESC))[1] AS unit_price
          FROM ticketdesk.billed_item b
         WHERE b.tenant_id = t AND b.entry_id IN (SELECT w.entry_id FROM want w WHERE w.billed_before)
         GROUP BY b.entry_id, b.work_type
    ), delta AS (
        SELECT coalesce(w.entry_id, p.entry_id) AS entry_id, coalesce(w.work_type, p.work_type) AS work_type,
               coalesce(w.bill_minutes, 0) - coalesce(p.minutes, 0) AS minutes, p.unit_price AS prev_price
          FROM want w FULL JOIN prev p ON p.entry_id = w.entry_id AND p.work_type = w.work_type
    ), pairs AS (
        SELECT DISTINCT x.customer_id, d.work_type FROM delta d JOIN want x ON x.entry_id = d.entry_id
         WHERE d.minutes <> 0 AND d.prev_price IS NULL
    ), prices AS (
        SELECT p.customer_id, p.work_type,
               (SELECT r.hourly FROM ticketdesk.rate r
                 WHERE r.tenant_id = t AND (r.customer_id = p.customer_id OR r.customer_id IS NULL)
                   AND (r.work_type = p.work_type OR r.work_type IS NULL)
                 ORDER BY r.customer_id IS NULL, r.work_type IS NULL LIMIT 1) AS hourly
          FROM pairs p
    ), fees AS (
        -- Fixed fees of accepted tickets (approved, or confirmed or closed)
        -- whose work ended before the month's end (or, without time, that
        -- were resolved before it).
        SELECT k.ticket_id, k.customer_id, k.type_id,
               (SELECT f.amount FROM ticketdesk.ticket_fee f
                 WHERE f.tenant_id = t AND f.type_id = k.type_id
                   AND (f.customer_id = k.customer_id OR f.customer_id IS NULL)
                 ORDER BY f.customer_id IS NULL LIMIT 1) AS amount
          FROM ticketdesk.ticket_completion k
         WHERE k.tenant_id = t AND k.customer_id IS NOT NULL
           AND k.type_id IN (SELECT f.type_id FROM ticketdesk.ticket_fee f WHERE f.tenant_id = t)
           AND k.completed AND (k.status IN ('confirmed', 'closed') OR k.approved)
           AND NOT EXISTS (SELECT 1 FROM ticketdesk.billed_item b
                            WHERE b.tenant_id = t AND b.ticket_id = k.ticket_id AND b.kind = 'fee')
           AND coalesce((SELECT max(upper(e.period)) FROM ticketdesk.time_entry e
                          WHERE e.tenant_id = t AND e.ticket_id = k.ticket_id), k.resolved_at) <= month_end
    ), items AS (
        SELECT x.ticket_id, d.entry_id, x.customer_id,
               CASE WHEN x.billed_before THEN 'correction' ELSE 'work' END AS kind,
               d.work_type, NULL::bigint AS type_id, d.minutes,
               coalesce(d.prev_price, pr.hourly, ticketdesk.raise_no_rate(x.customer_id, d.work_type)) AS unit_price
          FROM delta d
          JOIN want x ON x.entry_id = d.entry_id
          LEFT JOIN prices pr ON pr.customer_id = x.customer_id AND pr.work_type = d.work_type
         WHERE d.minutes <> 0
        UNION ALL
        SELECT f.ticket_id, NULL, f.customer_id, 'fee', NULL, f.type_id, NULL, f.amount
          FROM fees f WHERE f.amount IS NOT NULL
    ), numbered AS (
        -- Items that share customer, kind, work or ticket type and price share a line.
        SELECT i.*, (dense_rank() OVER (ORDER BY i.customer_id,
                                                 array_position(ARRAY['work', 'correction', 'fee'], i.kind),
                                                 i.work_type, i.type_id, i.unit_price))::integer AS line_no
          FROM items i
    ), lines AS (
        SELECT n.line_no, n.customer_id, n.kind, n.work_type, n.type_id, n.unit_price,
               sum(n.minutes)::integer AS minutes, count(DISTINCT n.ticket_id)::integer AS tickets,
               count(n.entry_id)::integer AS entries, count(*)::integer AS items
          FROM numbered n
         GROUP BY n.line_no, n.customer_id, n.kind, n.work_type, n.type_id, n.unit_price
    ), new_lines AS (
        INSERT INTO ticketdesk.billing_line (tenant_id, run_id, line_no, customer_id, kind, work_type, type_id,
                                             item, quantity, unit, unit_price, amount, minutes, tickets, entries)
        SELECT t, result.run_id, l.line_no, l.customer_id, l.kind, l.work_type, l.type_id,
               CASE WHEN l.kind = 'fee' THEN 'fee: ' || ty.code ELSE l.kind || ': ' || l.work_type END,
               CASE WHEN l.kind = 'fee' THEN l.items ELSE round(l.minutes / 60.0, 2) END,
               CASE WHEN l.kind = 'fee' THEN 'pcs' ELSE 'h' END,
               l.unit_price,
               CASE WHEN l.kind = 'fee' THEN l.items * l.unit_price ELSE round(l.minutes * l.unit_price / 60, 2) END,
               l.minutes, l.tickets, l.entries
          FROM lines l
          LEFT JOIN ticketdesk.ticket_type ty ON ty.tenant_id = t AND ty.type_id = l.type_id
        RETURNING amount
    ), new_items AS (
        INSERT INTO ticketdesk.billed_item (tenant_id, run_id, line_no, ticket_id, entry_id, kind, work_type,
                                            minutes, unit_price)
        SELECT t, result.run_id, n.line_no, n.ticket_id, n.entry_id, n.kind, n.work_type, n.minutes, n.unit_price
          FROM numbered n
    ), billed AS (
        -- The entries looked at leave the queue. One changed meanwhile by a
        -- concurrent correction fails the changes test on its new version:
        -- it stays due, and the next run bills the difference.
        DELETE FROM ticketdesk.billing_due q USING want w
         WHERE q.tenant_id = t AND q.entry_id = w.entry_id AND q.changes = w.changes
    )
    UPDATE ticketdesk.billing_run r
       SET lines = (SELECT count(*) FROM new_lines), total = coalesce((SELECT sum(amount) FROM new_lines), 0)
     WHERE r.tenant_id = t AND r.run_id = result.run_id
    RETURNING * INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION billing_run(date, boolean) IS
    'Bills a month (R14): lines per customer and item, entries marked billed; idempotent per month; force bills a month not over yet.';

-- A billing run's lines as one JSON document for an ERP.
CREATE FUNCTION billing_export_json(run_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_build_object(
               'run_id', r.run_id, 'month', to_char(r.month, 'YYYY-MM'), 'currency', r.currency,
               'forced', r.forced, 'total', r.total,
               'lines', coalesce((SELECT jsonb_agg(to_jsonb(x) - 'run_id' - 'month' - 'currency' ORDER BY x.line_no)
                                    FROM ticketdesk.billing_export x WHERE x.run_id = r.run_id), '[]'))
      INTO result
      FROM ticketdesk.billing_run r
     WHERE r.tenant_id = ticketdesk.current_tenant() AND r.run_id = billing_export_json.run_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'billing run % does not exist', run_id
            USING ERRCODE = 'TD584', HINT = 'See table ticketdesk.billing_run for the runs of this tenant.';
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION billing_export_json(bigint) IS
    'A billing run and its lines as JSON for an ERP (layout: doc/worktime.md).';
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
CREATE POLICY agent_rows ON ticket AS RESTRICTIVE TO ticketdesk_agent
    USING (assignee_id = ticketdesk.session_agent()
           OR center_id = ANY (ticketdesk.session_centers())
           OR EXISTS (SELECT 1 FROM ticketdesk.watcher w
                       WHERE w.tenant_id = ticket.tenant_id AND w.ticket_id = ticket.ticket_id
                         AND w.agent_id = ticketdesk.session_agent()));
CREATE POLICY dispatcher_rows ON ticket AS RESTRICTIVE TO ticketdesk_dispatcher
    USING (center_id = ANY (ticketdesk.session_centers())
           OR assignee_id = ticketdesk.session_agent());

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
-- Privileges of the retention function and its record (after 95_roles.sql,
-- which grants the API to every staff and portal role).

-- Only administrators purge (the function checks it too, for roles granted
-- EXECUTE otherwise).
REVOKE EXECUTE ON FUNCTION purge_history(interval)
    FROM PUBLIC, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;

-- The record of purges: administrators read it; the INSERT right is what
-- purge_history, running as the administrator, needs (a direct INSERT is
-- refused, TD721).
REVOKE ALL ON history_purge FROM ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester, ticketdesk_intake;
REVOKE UPDATE, DELETE ON history_purge FROM ticketdesk_admin;
GRANT SELECT, INSERT ON history_purge TO ticketdesk_admin;

-- SECURITY DEFINER functions name pg_temp last, so a caller's temporary table
-- never shadows a table they use (test security_audit).
ALTER FUNCTION create_tenant(text, text) SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION run_jobs_all_tenants(timestamptz) SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION automation_notice_send() SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION intake_submit(name, text, text, text) SET search_path = pg_catalog, ticketdesk, pg_temp;
-- Secrets are the administrator's alone. 95_roles.sql granted reading on
-- every table and the API to the staff and portal roles; take it back here.
-- Superusers (the worker) bypass grants and row-level security.
REVOKE ALL ON secret, secret_names FROM PUBLIC, ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester, ticketdesk_intake;
REVOKE EXECUTE ON FUNCTION set_secret(text, text), drop_secret(text)
    FROM PUBLIC, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester, ticketdesk_intake;
GRANT SELECT, INSERT, UPDATE, DELETE ON secret TO ticketdesk_admin;
GRANT SELECT ON secret_names TO ticketdesk_admin;
GRANT EXECUTE ON FUNCTION set_secret(text, text), drop_secret(text) TO ticketdesk_admin;
-- The default tenant, so a single-organisation database needs no setup.
INSERT INTO tenant (tenant_id, code, name, seeded) VALUES (1, 'default', 'Default tenant', true);
SELECT setval('tenant_tenant_id_seq', 1);
SELECT seed_tenant(1, true);
