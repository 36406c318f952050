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
