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
