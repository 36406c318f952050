-- ticketdesk 0.7 -> 0.8. Each section names the change it brings; the
-- result must equal a fresh install of 0.8 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.8'" to load this file. \quit

-- An agent's guard (src/reference_guard.c): openings and changes made by a
-- login's own agent hold it in share mode instead of locking her row;
-- deleting her, or changing her key, takes it in exclusive mode first.
CREATE FUNCTION agent_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_agent_guard';
COMMENT ON FUNCTION agent_guard() IS
    'Internal: BEFORE DELETE OR UPDATE OF the key of agent, for each row: waits for the openings and changes the agent is making.';
REVOKE EXECUTE ON FUNCTION agent_guard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard()
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
CREATE TRIGGER agent_guard BEFORE DELETE OR UPDATE OF tenant_id, agent_id ON agent
    FOR EACH ROW EXECUTE FUNCTION agent_guard();

-- The outbox's message keys are ordered by time (src/message_key.c): new
-- keys go to the right edge of their unique index instead of a random leaf.
-- Keys already given stay as they are.
CREATE FUNCTION message_key_new() RETURNS uuid
    LANGUAGE c VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_message_key_new';
COMMENT ON FUNCTION message_key_new() IS
    'A new outbox message key: a version 7 UUID, 48 bits of Unix time in milliseconds and 74 random bits.';
REVOKE EXECUTE ON FUNCTION message_key_new() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION message_key_new()
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
ALTER TABLE outbox ALTER COLUMN message_key SET DEFAULT message_key_new();

-- (the lead's sections end here; helpers' sections follow)

-- (branch opening8) An opening remembers which types have no checklist
-- template (src/checklist_copy.c) until checklist_template changes: its
-- changes empty every backend's answers, as holders_changed does for the
-- routing caches.
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON checklist_template
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();

-- notify8: the worker's claim in C (src/claim.c); outbox_claim_direct is its
-- SQL entry for tests.
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
REVOKE EXECUTE ON FUNCTION outbox_claim_direct(integer, interval, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim_direct(integer, interval, text[])
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
