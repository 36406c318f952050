-- ticketdesk 0.7 -> 0.8. Each section names the change it brings; the
-- result must equal a fresh install of 0.8 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.8'" to load this file. \quit

-- (the lead's sections end here; helpers' sections follow)

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
