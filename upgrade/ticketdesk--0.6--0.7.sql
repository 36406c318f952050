-- ticketdesk 0.6 -> 0.7. Each section names the change it brings; the
-- result must equal a fresh install of 0.7 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.7'" to load this file. \quit

-- (the lead's sections end here; helpers' sections follow)

-- notify7 (session 7): the worker's claim returns the placeholders' values and
-- the worker renders in C (src/render.c).
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
REVOKE EXECUTE ON FUNCTION outbox_claim_values(integer, interval, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim_values(integer, interval, text[])
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
