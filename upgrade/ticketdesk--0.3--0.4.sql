-- ticketdesk 0.3 -> 0.4. Each section names the change it brings; the
-- result must equal a fresh install of 0.4 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.4'" to load this file. \quit

-- The worker's claim: sequential scans off too (a rescan of a sequential
-- scan per claimed row asked the table's size each time).
ALTER FUNCTION outbox_claim(integer, interval, text[]) SET enable_seqscan = off;

-- outbox_message builds the placeholders' values and an SMS body with
-- jsonb_object of text arrays instead of jsonb_build_object, and in one
-- object (the sender included) when the row has no vars of its own.
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
  -- The template: the recipient's language, else English; the channel's
  -- own, else the mail's; a tenant's own row over a built-in one.
  LEFT JOIN LATERAL (
        SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
          FROM ticketdesk.notify_template t
         WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
           AND t.language IN (o.language, 'en') AND t.channel IN (o.channel, 'email')
         ORDER BY t.channel = o.channel DESC, t.language = o.language DESC, t.seeded
         LIMIT 1) t ON true
  LEFT JOIN LATERAL (
        SELECT CASE WHEN o.channel = 'email' OR t.channel = o.channel THEN ticketdesk.render_text(t.body_text, v.vars)
                    ELSE o.thread || ': ' || ticketdesk.render_text(t.subject, v.vars) || ' ' || (v.vars ->> 'link')
               END AS body_text
         WHERE o.body_text IS NULL) x ON true;
