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
