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
    -- The agent (by login) whose move last handed the ticket on (a new
    -- assignee or centre), set by the lifecycle trigger alone; it goes on
    -- seeing the ticket (the policies of 95_roles.sql). Null: moved by a
    -- role with no agent. A marker for row-level security, not a reference:
    -- no foreign key, so a hand-off locks no agent row and checks nothing.
    handed_by            bigint,
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
