-- Notifications: events become rendered outbox rows in the same transaction
-- as the change; the worker delivers them after commit (doc/notify.md).

-- Fills {{name}} placeholders from a JSON object, as plain text.
CREATE FUNCTION render_text(template text, vars jsonb) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_render_text';
COMMENT ON FUNCTION render_text(text, jsonb) IS
    'Fills {{name}} placeholders of a template from a JSON object; unknown names render as nothing.';

-- Makes an HTML document of a plain-text template: values and text escaped,
-- paragraphs and line breaks kept, {{link}} a hyperlink, right to left for
-- right-to-left languages.
CREATE FUNCTION render_html(template text, vars jsonb, language text DEFAULT 'en') RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_render_html';
COMMENT ON FUNCTION render_html(text, jsonb, text) IS
    'Renders a plain-text template as an HTML document in a language (dir="rtl" for Hebrew and other RTL languages).';

-- Fills a template written in HTML, escaping the values.
CREATE FUNCTION render_markup(template text, vars jsonb) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_render_markup';
COMMENT ON FUNCTION render_markup(text, jsonb) IS
    'Fills {{name}} placeholders of an HTML template with HTML-escaped values.';

-- The e-mail an outbox row is sent as: headers, text and HTML parts.
CREATE FUNCTION outbox_mail(message outbox) RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_outbox_mail';
COMMENT ON FUNCTION outbox_mail(outbox) IS
    'The RFC 5322 message an e-mail outbox row with its text stored is sent as (Date is now; Message-ID is stable per row); NULL before (outbox_mail of outbox_message renders).';

-- Wakes this database's delivery worker when the transaction commits.
CREATE FUNCTION notify_wake() RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_notify_wake';
COMMENT ON FUNCTION notify_wake() IS
    'Internal: wakes the delivery worker when the current transaction commits (nothing on rollback).';

-- Asks the launcher, at commit, to start workers where the extension now is.
CREATE FUNCTION notify_start_workers() RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_notify_start_workers';
COMMENT ON FUNCTION notify_start_workers() IS
    'Internal: asks the notification launcher to look for databases with the extension when this transaction commits.';

-- This database's delivery workers and their counters since they started.
CREATE FUNCTION notify_worker_status(OUT pid integer, OUT workers bigint, OUT wakes bigint,
                                     OUT batches bigint, OUT delivered bigint, OUT failed bigint)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_notify_worker_status';
COMMENT ON FUNCTION notify_worker_status() IS
    'The delivery workers of this database: the first one''s pid (NULL when none runs), how many run, commits that woke them, batches, delivered, failed.';

-- The channels an event goes by for a recipient (R09, R30): the most
-- specific policy row decides; the recipient's preference counts where that
-- row allows it.
-- PL/pgSQL, not SQL: its plan is then cached for the session instead of being
-- made again for every message queued.
CREATE FUNCTION notify_channels(tenant integer, event text, priority ticket_priority,
                                preference text[] DEFAULT NULL) RETURNS text[]
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((
        SELECT CASE WHEN notify_channels.preference && p.allowed
                    THEN ARRAY(SELECT c FROM unnest(p.allowed) c
                                WHERE c = ANY (notify_channels.preference) ORDER BY c)
                    ELSE p.channels END
          FROM ticketdesk.notify_policy p
         WHERE p.tenant_id = notify_channels.tenant
           AND p.event IN (notify_channels.event, '*')
           AND (p.priority = notify_channels.priority OR p.priority IS NULL)
         ORDER BY p.event <> '*' DESC, p.priority IS NOT NULL DESC, p.seeded
         LIMIT 1), '{email}');
END $$;
COMMENT ON FUNCTION notify_channels(integer, text, ticket_priority, text[]) IS
    'The channels (email, sms) of an event at a priority for a recipient with a preference, by table notify_policy.';

-- A priority's name in a language, for the templates. STABLE, not
-- IMMUTABLE: an enum's text (priority::text) is a stable function, and the
-- planner inlines a SQL function into the statement that calls it only when
-- its body is no more volatile than it says. Declared IMMUTABLE it was
-- called as a function for every message the worker rendered (15k
-- instructions a message); STABLE, outbox_message reads the label inline.
CREATE FUNCTION priority_label(priority ticket_priority, language text) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        ('{"lt": {"low": "žemas", "normal": "įprastas", "high": "aukštas", "urgent": "skubus"},
           "pl": {"low": "niski", "normal": "normalny", "high": "wysoki", "urgent": "pilny"},
           "he": {"low": "נמוכה", "normal": "רגילה", "high": "גבוהה", "urgent": "דחופה"},
           "ro": {"low": "scăzută", "normal": "normală", "high": "ridicată", "urgent": "urgentă"}}'::jsonb
         -> language ->> priority::text),
        priority::text)
$$;
COMMENT ON FUNCTION priority_label(ticket_priority, text) IS 'Internal: a priority''s name in a language (en, lt, pl, he, ro).';

-- The messages of one recipient (an agent, a contact or a customer) for an
-- event: one row per channel (channels NULL applies the policy and the
-- recipient's preference, R09), with the address, the recipient's name and
-- language, in channel order (rank). None for a channel without a usable
-- address. A single SELECT in SQL, so the planner inlines it into the
-- statement that calls it (notify_queue, the trigger's set-based insert).
CREATE FUNCTION notify_addresses(tenant integer, event text, priority ticket_priority,
                                 agent_id bigint, contact_id bigint, customer_id bigint,
                                 channels text[] DEFAULT NULL)
    RETURNS TABLE (channel text, address text, name text, language text, rank bigint)
    LANGUAGE sql STABLE AS $$
    SELECT c.channel, c.address, r.name, r.language, c.rank
      FROM (SELECT a.name, a.email, a.phone, a.language, p.channels AS preference
              FROM ticketdesk.agent a
              LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = a.tenant_id AND p.agent_id = a.agent_id
             WHERE notify_addresses.agent_id IS NOT NULL
               AND a.tenant_id = notify_addresses.tenant AND a.agent_id = notify_addresses.agent_id
            UNION ALL
            SELECT n.name, n.email, n.phone, n.language,
                   coalesce(p.channels, CASE n.preferred_channel WHEN 'sms' THEN '{sms}'::text[]
                                                                 WHEN 'email' THEN '{email}'::text[] END)
              FROM ticketdesk.contact n
              LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = n.tenant_id AND p.contact_id = n.contact_id
             WHERE notify_addresses.agent_id IS NULL AND notify_addresses.contact_id IS NOT NULL
               AND n.tenant_id = notify_addresses.tenant AND n.contact_id = notify_addresses.contact_id
            UNION ALL
            SELECT u.name, u.email, coalesce(u.phone, u.work_phone), 'en', NULL
              FROM ticketdesk.customer u
             WHERE notify_addresses.agent_id IS NULL AND notify_addresses.contact_id IS NULL
               AND u.tenant_id = notify_addresses.tenant AND u.customer_id = notify_addresses.customer_id) r
     CROSS JOIN LATERAL (
            SELECT ch AS channel, CASE ch WHEN 'email' THEN r.email WHEN 'sms' THEN r.phone END AS address,
                   i AS rank
              FROM unnest(coalesce(notify_addresses.channels,
                                   ticketdesk.notify_channels(notify_addresses.tenant, notify_addresses.event,
                                                              notify_addresses.priority, r.preference)))
                   WITH ORDINALITY AS u(ch, i)) c
     WHERE r.name IS NOT NULL
       AND c.address ~ '\S'
       AND (c.channel <> 'email' OR c.address ~ '^[^\s<>@",;]+@[^\s<>@",;]+$')
$$;
COMMENT ON FUNCTION notify_addresses(integer, text, ticket_priority, bigint, bigint, bigint, text[]) IS
    'Internal: the channels and addresses of one recipient for an event (inlined into the statements that queue messages).';

-- Queues one event's messages for one recipient (an agent, a contact or a
-- customer) of a ticket: picks the channels and the addresses, and wakes the
-- worker at commit. One INSERT: the text is not rendered here but when the
-- worker claims the row (outbox_message), so the transaction of the change
-- pays only for small rows. Returns the rows queued; none when the recipient
-- has no address for any channel, or the message was already queued for this
-- event.
CREATE FUNCTION notify_queue(tenant integer, ticket_id bigint, event_kind text,
                             agent_id bigint, contact_id bigint, customer_id bigint,
                             channels text[] DEFAULT NULL, note text DEFAULT NULL,
                             vars jsonb DEFAULT '{}', source_event bigint DEFAULT NULL,
                             sender text DEFAULT NULL)
    RETURNS SETOF outbox
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    queued ticketdesk.outbox;
BEGIN
    FOR queued IN
        INSERT INTO ticketdesk.outbox AS o
            (tenant_id, ticket_id, event_id, event, channel, recipient, recipient_name, agent_id,
             contact_id, language, sender_name, thread, note, vars)
        SELECT tenant, k.ticket_id, source_event, event_kind, m.channel, m.address, m.name,
               notify_queue.agent_id, notify_queue.contact_id, m.language, sender, k.reference, note,
               nullif(vars, '{}'::jsonb)
          FROM ticketdesk.ticket k
         CROSS JOIN LATERAL ticketdesk.notify_addresses(tenant, event_kind, k.priority, notify_queue.agent_id,
                                                        notify_queue.contact_id, notify_queue.customer_id,
                                                        channels) m
         WHERE k.tenant_id = tenant AND k.ticket_id = notify_queue.ticket_id
        ON CONFLICT ON CONSTRAINT outbox_event_once DO NOTHING
        RETURNING o.*
    LOOP
        RETURN NEXT queued;
    END LOOP;
    PERFORM ticketdesk.notify_wake();
END $$;
COMMENT ON FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text) IS
    'Internal: queues an event''s messages for one recipient of a ticket (rendered when claimed); returns the rows queued.';

-- Queues a notification about a ticket for one agent or contact. Reminders,
-- escalations and any other job call this; channels NULL applies the policy.
CREATE FUNCTION enqueue(ticket_id bigint, event text, agent_id bigint DEFAULT NULL,
                        contact_id bigint DEFAULT NULL, channels text[] DEFAULT NULL,
                        note text DEFAULT NULL, vars jsonb DEFAULT '{}')
    RETURNS SETOF outbox
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
    IF num_nonnulls(agent_id, contact_id) <> 1 THEN
        RAISE EXCEPTION 'a notification goes to either an agent or a contact'
            USING ERRCODE = 'TD543', HINT = 'Pass exactly one of agent_id and contact_id.';
    END IF;
    IF event IS NULL OR event !~ '^[a-z_]{1,40}$' THEN
        RAISE EXCEPTION 'invalid notification event "%"', event
            USING ERRCODE = 'TD545',
                  HINT = 'An event name has 1 to 40 lower-case letters or "_", e.g. overdue or reminder.';
    END IF;
    IF channels IS NOT NULL AND (NOT channels <@ ARRAY['email', 'sms'] OR cardinality(channels) = 0) THEN
        RAISE EXCEPTION 'unknown notification channels %', channels
            USING ERRCODE = 'TD545', HINT = 'The channels are email and sms.';
    END IF;
    PERFORM ticketdesk.require('ticket', ticket_id);
    PERFORM ticketdesk.require('agent', agent_id);
    PERFORM ticketdesk.require('contact', contact_id);
    -- The text is rendered when the message is claimed; an event nobody
    -- wrote a text for is refused now rather than dead later.
    IF NOT EXISTS (SELECT 1 FROM ticketdesk.notify_template t
                    WHERE t.tenant_id = ticketdesk.current_tenant() AND t.event = enqueue.event) THEN
        RAISE EXCEPTION 'no template for event "%"', event
            USING ERRCODE = 'TD544',
                  DETAIL = format('Tenant %s has no template for event "%s" in any language.',
                                  ticketdesk.current_tenant(), event),
                  HINT = 'Add a row to ticketdesk.notify_template for this event.';
    END IF;
    RETURN QUERY
    SELECT * FROM ticketdesk.notify_queue(ticketdesk.current_tenant(), ticket_id, event, agent_id,
                                          contact_id, NULL, channels, note, vars);
END $$;
COMMENT ON FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb) IS
    'Queues a notification of an event about a ticket for an agent or a contact (rendered from notify_template when the worker claims it); returns the rows queued.';

-- AFTER INSERT on ticket_event: turns lifecycle events into messages, in the
-- same transaction (R05, R09, R28, R40, R41, R51). It reads the ticket as
-- it is after the change. Who gets what:
--   created                      registered       the requester (thank-you)
--   assignee (set)               assigned         the new assignee
--                                handler_assigned the requester (not when opened assigned)
--   status acknowledged          acknowledged     the requester
--   status new from assigned/ack rejected         the centre's dispatchers
--   status resolved              resolved         the requester, the watchers
--   status confirmed             confirmed        the assignee
--   status closed                closed           the requester, the watchers
--   status cancelled             cancelled        the requester, the assignee, the watchers
-- The agent who made the change is not told about it.
-- The gate (notify_event_gate) queues the events told to the requester alone,
-- registered and acknowledged, itself by these rules (src/notify_requester.c,
-- with notify_addresses' and notify_channels' queries for the requester): a
-- change of the rules for the requester goes into both.
CREATE FUNCTION notify_ticket_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ev     text;
    actor  text;
    audiences text[];
BEGIN
    ev := CASE
        WHEN NEW.kind = 'created' THEN 'registered'
        WHEN NEW.kind = 'assignee' AND NEW.new_value IS NOT NULL THEN 'assigned'
        WHEN NEW.kind = 'status' AND NEW.new_value = 'new' AND NEW.old_value IN ('assigned', 'acknowledged') THEN 'rejected'
        WHEN NEW.kind = 'status' AND NEW.new_value IN ('acknowledged', 'resolved', 'confirmed', 'closed', 'cancelled')
            THEN NEW.new_value
    END;
    IF ev IS NULL THEN
        RETURN NULL;
    END IF;
    audiences := CASE ev
        WHEN 'registered' THEN '{requester}'
        WHEN 'assigned' THEN '{assignee,requester}'
        WHEN 'acknowledged' THEN '{requester}'
        WHEN 'rejected' THEN '{dispatchers}'
        WHEN 'resolved' THEN '{requester,watchers}'
        WHEN 'confirmed' THEN '{assignee}'
        WHEN 'closed' THEN '{requester,watchers}'
        WHEN 'cancelled' THEN '{requester,assignee,watchers}'
    END;
    -- Opened already assigned: the thank-you names the handler, once is enough.
    IF ev = 'assigned' AND EXISTS (SELECT 1 FROM ticketdesk.ticket_event e
                                    WHERE e.tenant_id = NEW.tenant_id AND e.ticket_id = NEW.ticket_id
                                      AND e.kind = 'created' AND e.event_id < NEW.event_id
                                      AND e.at = NEW.at) THEN
        audiences := '{assignee}';
    END IF;
    -- A rejection goes out in the name of the agent who rejected it.
    IF ev = 'rejected' THEN
        SELECT a.name INTO actor FROM ticketdesk.agent a
         WHERE a.tenant_id = NEW.tenant_id AND a.agent_id = NEW.actor_agent_id;
    END IF;

    -- Every recipient's messages in one INSERT, in the order of the
    -- recipients (event, agent, contact, customer) and of their channels:
    -- what notify_queue would queue called once per recipient, without a
    -- function call and a statement per recipient. A second row for the
    -- same address and channel is skipped, as it was by the next call.
    INSERT INTO ticketdesk.outbox AS o
        (tenant_id, ticket_id, event_id, event, channel, recipient, recipient_name, agent_id,
         contact_id, language, sender_name, thread, note, vars)
    SELECT NEW.tenant_id, k.ticket_id, NEW.event_id, x.event, m.channel, m.address, m.name,
           x.agent_id, x.contact_id, m.language, actor, k.reference, NEW.note, NULL
      FROM ticketdesk.ticket k
      CROSS JOIN LATERAL (
            SELECT DISTINCT ON (y.event, y.agent_id, y.contact_id, y.customer_id) y.*
              FROM (
                -- the requester: the contact person, else the employee, else the customer
                SELECT CASE WHEN ev = 'assigned' THEN 'handler_assigned' ELSE ev END AS event,
                       CASE WHEN k.contact_id IS NULL THEN k.requester_agent_id END AS agent_id,
                       k.contact_id,
                       CASE WHEN k.contact_id IS NULL AND k.requester_agent_id IS NULL THEN k.customer_id END AS customer_id,
                       1 AS rank
                 WHERE 'requester' = ANY (audiences)
                UNION ALL
                SELECT ev, k.assignee_id, NULL, NULL, 2
                 WHERE 'assignee' = ANY (audiences) AND k.assignee_id IS NOT NULL
                UNION ALL
                SELECT ev, m.agent_id, NULL, NULL, 3
                  FROM ticketdesk.center_member m
                 WHERE 'dispatchers' = ANY (audiences)
                   AND m.tenant_id = NEW.tenant_id AND m.center_id = k.center_id AND m.role = 'dispatcher'
                UNION ALL
                SELECT ev, w.agent_id, w.contact_id, NULL, 4
                  FROM ticketdesk.watcher w
                 WHERE 'watchers' = ANY (audiences) AND w.tenant_id = NEW.tenant_id AND w.ticket_id = NEW.ticket_id
              ) y
             WHERE num_nonnulls(y.agent_id, y.contact_id, y.customer_id) = 1
               AND (y.agent_id IS NULL OR y.agent_id IS DISTINCT FROM NEW.actor_agent_id)
             ORDER BY y.event, y.agent_id, y.contact_id, y.customer_id, y.rank) x
      CROSS JOIN LATERAL ticketdesk.notify_addresses(NEW.tenant_id, x.event, k.priority,
                                                     x.agent_id, x.contact_id, x.customer_id) m
     WHERE k.tenant_id = NEW.tenant_id AND k.ticket_id = NEW.ticket_id
     ORDER BY x.event, x.agent_id, x.contact_id, x.customer_id, m.rank
    ON CONFLICT ON CONSTRAINT outbox_event_once DO NOTHING;
    IF FOUND THEN
        PERFORM ticketdesk.notify_wake();
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION notify_ticket_event() IS
    'Trigger function on ticket_event, called by notify_event_gate: queues the notifications of lifecycle events in the same transaction.';
-- The trigger runs notify_event_gate, a C function that lets the history
-- rows no one is told about (priority, centre, most statuses, ...) go
-- without calling notify_ticket_event: a WHEN clause did the same, but it is
-- read back and planned again for every statement (src/notify_gate.c).
CREATE FUNCTION notify_event_gate() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_notify_event_gate';
COMMENT ON FUNCTION notify_event_gate() IS
    'AFTER INSERT trigger on ticket_event: calls the trigger function its argument names (notify_ticket_event) for the events somebody is told about.';
CREATE TRIGGER ticket_event_notify AFTER INSERT ON ticket_event
    FOR EACH ROW EXECUTE FUNCTION notify_event_gate('notify_ticket_event');

-- Every outbox row as it is or will be sent. A row with no stored text is
-- rendered now: the template of its event, channel and the recipient's
-- language (else English; an SMS without a template of its own uses the
-- mail's subject and the link), filled from the ticket as it stands and the
-- values frozen on the row (note, vars, an explicit sender). A row tried
-- once shows the text stored with its result. The worker claims through
-- this view, so what an administrator reads here is what is sent. Columns
-- as in outbox, in the same order; NULL subject and body_text on an
-- unsent row mean that no template fits (the worker then marks it dead).
CREATE VIEW outbox_message WITH (security_invoker = true) AS
SELECT o.tenant_id, o.outbox_id, o.ticket_id, o.event_id, o.event, o.channel, o.recipient, o.recipient_name,
       o.agent_id, o.contact_id,
       CASE WHEN o.body_text IS NULL THEN coalesce(t.language, o.language) ELSE o.language END AS language,
       CASE WHEN o.body_text IS NULL THEN v.vars ->> 'sender' ELSE o.sender_name END AS sender_name,
       o.thread, o.note, o.vars,
       CASE WHEN o.body_text IS NOT NULL THEN o.subject
            WHEN o.channel = 'email' THEN coalesce('[' || o.thread || '] ', '') || ticketdesk.render_text(t.subject, v.vars)
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
COMMENT ON VIEW outbox_message IS
    'Outbox rows as sent or to be sent: stored text once tried, else rendered now from the templates and the ticket.';

-- The mail of a row as the worker sends it, rendered if it is not stored yet.
CREATE FUNCTION outbox_mail(message outbox_message) RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_outbox_mail';
COMMENT ON FUNCTION outbox_mail(outbox_message) IS
    'The RFC 5322 message an outbox_message row is sent as (Date is now; Message-ID is stable per row).';

-- The worker's claim: due rows of the given channels, oldest due first,
-- skipping rows another claim holds; each is leased and counts an attempt,
-- and comes back rendered (outbox_message). The update changes no indexed
-- column (status, attempts and leased_until only), so it is a HOT update.
-- A lease that runs out (the worker died) makes the row due again.
-- The planner cannot know how few rows the LIMIT leaves (batch_size is a
-- parameter): left to itself it hashes the whole outbox to find them again
-- for the UPDATE, a cost that grows with the table. Nested loops over the
-- primary key keep a claim's cost to its batch.
-- The same holds for the due rows: without statistics (a new or busy
-- outbox) the planner reads every due row and sorts them to lock the first
-- batch_size; sorts and bitmap scans off, it walks the due index in order
-- and stops at the batch, and the view's look-ups are plain index scans
-- (a bitmap scan asks the table's size at every row). The penalty those
-- settings add to the cost must not start JIT compilation (about 1 s).
-- PL/pgSQL, not SQL: a SQL function is planned again at every call, and
-- planning this statement (the view's joins for every row) took as long as
-- running it for a batch of 200; PL/pgSQL keeps the plan for the session.
-- Sequential scans off as well: once autovacuum had analysed the small
-- tables, the kept (generic) plan scanned one of them per claimed row, and
-- every rescan of a sequential scan asks the table's size (an lseek, about
-- one per message in the worker, 0.1 with this).
CREATE FUNCTION outbox_claim(batch_size integer, lease interval, channels text[])
    RETURNS SETOF outbox_message
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
           AND o.channel = ANY (outbox_claim.channels)
         ORDER BY o.next_attempt_at
         LIMIT outbox_claim.batch_size
           FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE ticketdesk.outbox o
           SET status = 'sending', attempts = o.attempts + 1, leased_until = now() + outbox_claim.lease
          FROM due
         WHERE o.tenant_id = due.tenant_id AND o.outbox_id = due.outbox_id
        RETURNING o.tenant_id, o.outbox_id, o.status, o.attempts, o.leased_until)
    SELECT m.tenant_id, m.outbox_id, m.ticket_id, m.event_id, m.event, m.channel, m.recipient, m.recipient_name,
           m.agent_id, m.contact_id, m.language, m.sender_name, m.thread, m.note, m.vars, m.subject,
           m.body_text, m.body_html, m.payload, m.message_key, c.status, c.attempts, m.next_attempt_at,
           c.leased_until, m.last_error, m.created_at, m.sent_at
      FROM claimed c
      -- Rendered row by row (OFFSET 0 keeps the planner from joining the
      -- whole view, which would render every waiting message).
      CROSS JOIN LATERAL (SELECT * FROM ticketdesk.outbox_message v
                           WHERE v.tenant_id = c.tenant_id AND v.outbox_id = c.outbox_id OFFSET 0) m
     ORDER BY m.next_attempt_at;
END $$;
COMMENT ON FUNCTION outbox_claim(integer, interval, text[]) IS
    'Internal (the worker): claims up to batch_size due messages of the channels under a lease, rendered.';

-- The worker's claim since session 7: the same due rows, lease and HOT
-- update as outbox_claim, but the rows come back with the values their
-- placeholders are filled from (the ticket's fields as outbox_message
-- takes them) instead of rendered: the worker renders them in C
-- (src/render.c) with the templates read once per batch, not once per
-- message, and without a JSON object of the values per message.
-- outbox_message and outbox_claim render the same text (sql/notify
-- section 21 and TAP 003_notify compare them). A row tried before
-- (body_text stored) comes back with its text and no values.
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

-- outbox_claim_values written in C (src/claim.c), as the worker claims:
-- the same due rows, locks (a row locked by another transaction is
-- skipped), lease and values, without a statement. For tests, which
-- compare the two; superusers only, since it applies no row-level security.
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

-- The worker's results. A NULL error is a delivery; an error retries after
-- an exponential backoff with jitter (half the delay fixed, half random),
-- or kills the row when it was final or the attempts are used up. The text
-- the worker rendered is stored with the first result, so a retry sends the
-- same text and a sent row shows what was sent. Only rows still leased are
-- touched: a row cancelled meanwhile stays cancelled.
-- Hash and merge joins and sequential scans off, as in the claim: planned
-- for the arrays' 200 elements with no statistics, the update hashed them
-- and read the whole outbox (sent rows too, until retention prunes them) at
-- every batch; it now finds each row by its primary key (jit off: the
-- penalties must not start it).
-- The update moves the row (it changes next_attempt_at and sent_at, which
-- indexes read), so every index gets a new entry for it. The SET list
-- names the key columns of the primary key, the message key, the ticket
-- and the event indexes with their own values: PostgreSQL takes a new
-- entry in an index whose columns the SET list leaves out for a mere new
-- version, and when that entry meets a full leaf page it first tries a
-- bottom-up deletion, reading the table for every version on the page.
-- Here the other versions on the page are mostly this batch's own, still
-- in progress and not removable, so the pass found little and took a
-- fifth of the worker's instructions per message; the entries are left to
-- VACUUM instead (doc/benchmarks.md, session 5).
CREATE FUNCTION outbox_record(tenant_ids integer[], outbox_ids bigint[], errors text[],
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
COMMENT ON FUNCTION outbox_record(integer[], bigint[], text[], boolean[], integer, interval, interval,
                                  text[], text[], text[], text[], text[], jsonb[]) IS
    'Internal (the worker): records delivery results and the text sent; failures retry with exponential backoff and jitter, then die.';

-- Deletes sent messages older than the retention; returns how many.
CREATE FUNCTION outbox_prune(retention interval) RETURNS integer
    LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM ticketdesk.outbox o
         WHERE o.sent_at < now() - outbox_prune.retention AND o.status = 'sent'
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION outbox_prune(interval) IS
    'Internal (the worker): deletes sent messages older than the retention (setting ticketdesk.notify_retention).';

-- Reads a message of the current tenant for retry or cancel, locked.
CREATE FUNCTION outbox_lock(outbox_id bigint) RETURNS outbox
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    msg ticketdesk.outbox;
BEGIN
    SELECT * INTO msg FROM ticketdesk.outbox o
     WHERE o.tenant_id = ticketdesk.current_tenant() AND o.outbox_id = outbox_lock.outbox_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outbox message % does not exist', outbox_id
            USING ERRCODE = 'TD540',
                  DETAIL = format('Tenant %s has no outbox message with id %s.', ticketdesk.current_tenant(), outbox_id),
                  HINT = 'Check the id, and that the setting ticketdesk.tenant names the right tenant.';
    END IF;
    IF msg.status = 'sent' THEN
        RAISE EXCEPTION 'outbox message % was already sent', outbox_id
            USING ERRCODE = 'TD541',
                  HINT = 'Queue a new message with ticketdesk.enqueue to send it again.';
    END IF;
    IF msg.status = 'sending' AND msg.leased_until > now() THEN
        RAISE EXCEPTION 'outbox message % is being sent', outbox_id
            USING ERRCODE = 'TD542',
                  DETAIL = 'The worker has claimed it and not yet reported the result.',
                  HINT = 'Wait for the result of this attempt and try again.';
    END IF;
    RETURN msg;
END $$;
COMMENT ON FUNCTION outbox_lock(bigint) IS
    'Internal: locks a message of the current tenant that is neither sent nor being sent.';

-- Sends a dead, cancelled or waiting message again now, with its attempts
-- counted afresh.
CREATE FUNCTION outbox_retry(outbox_id bigint) RETURNS outbox
    LANGUAGE plpgsql AS $$
DECLARE
    msg ticketdesk.outbox := ticketdesk.outbox_lock(outbox_id);
BEGIN
    UPDATE ticketdesk.outbox o
       SET status = 'queued', attempts = 0, next_attempt_at = now(), leased_until = NULL
     WHERE o.tenant_id = msg.tenant_id AND o.outbox_id = msg.outbox_id
    RETURNING * INTO msg;
    PERFORM ticketdesk.notify_wake();
    RETURN msg;
END $$;
COMMENT ON FUNCTION outbox_retry(bigint) IS
    'Queues a dead, cancelled or waiting message for delivery now, with a fresh count of attempts.';

-- Stops a message that has not been sent.
CREATE FUNCTION outbox_cancel(outbox_id bigint) RETURNS outbox
    LANGUAGE plpgsql AS $$
DECLARE
    msg ticketdesk.outbox := ticketdesk.outbox_lock(outbox_id);
BEGIN
    UPDATE ticketdesk.outbox o SET status = 'cancelled', leased_until = NULL, next_attempt_at = NULL
     WHERE o.tenant_id = msg.tenant_id AND o.outbox_id = msg.outbox_id
    RETURNING * INTO msg;
    RETURN msg;
END $$;
COMMENT ON FUNCTION outbox_cancel(bigint) IS 'Cancels a message that has not been sent.';

-- The trigger and the queueing run as the extension owner, so that a role
-- that may change a ticket need not be granted the outbox; they name the
-- ticket's tenant in every query. The worker's own functions are not public.
ALTER FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb)
    SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_ticket_event() SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text)
    SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
REVOKE EXECUTE ON FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION notify_addresses(integer, text, ticket_priority, bigint, bigint, bigint, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_claim(integer, interval, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_claim_values(integer, interval, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_claim_direct(integer, interval, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_record(integer[], bigint[], text[], boolean[], integer, interval, interval,
                                         text[], text[], text[], text[], text[], jsonb[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_prune(interval) FROM PUBLIC;
-- enqueue sends mail in the desk's name with caller-given values: only roles
-- an administrator grants it to may call it. A rescan of every database is
-- not for everyone either.
REVOKE EXECUTE ON FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION notify_start_workers() FROM PUBLIC;

-- A new database with the extension gets its delivery worker at commit.
SELECT notify_start_workers();
