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
