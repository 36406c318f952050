-- ticketdesk 0.4 -> 0.5. Each section names the change it brings; the
-- result must equal a fresh install of 0.5 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.5'" to load this file. \quit

-- Session 5 (notify5): the worker's result names the key columns of the
-- outbox's indexes in its SET list, so that a new entry never starts a
-- bottom-up deletion pass (schema/88_api_notify.sql, outbox_record).
CREATE OR REPLACE FUNCTION outbox_record(tenant_ids integer[], outbox_ids bigint[], errors text[],
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

-- Session 5 (notify5): priority_label is STABLE (an enum's text is), so the
-- planner inlines it into outbox_message instead of calling it per message.
ALTER FUNCTION priority_label(ticket_priority, text) STABLE;

-- Session 5 (notify5): outbox_message finds the template by four key look-ups
-- in order of preference instead of reading the four combinations and
-- sorting them for every message (same columns: replaced in place, grants kept).
CREATE OR REPLACE VIEW outbox_message WITH (security_invoker = true) AS
SELECT o.tenant_id, o.outbox_id, o.ticket_id, o.event_id, o.event, o.channel, o.recipient, o.recipient_name,
       o.agent_id, o.contact_id,
       CASE WHEN o.body_text IS NULL THEN coalesce(t.language, o.language) ELSE o.language END AS language,
       CASE WHEN o.body_text IS NULL THEN v.vars ->> 'sender' ELSE o.sender_name END AS sender_name,
       o.thread, o.note, o.vars,
       CASE WHEN o.body_text IS NOT NULL THEN o.subject
            WHEN o.channel = 'email' THEN '[' || o.thread || '] ' || ticketdesk.render_text(t.subject, v.vars)
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
