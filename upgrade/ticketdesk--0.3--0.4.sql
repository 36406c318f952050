-- ticketdesk 0.3 -> 0.4. Each section names the change it brings; the
-- result must equal a fresh install of 0.4 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.4'" to load this file. \quit

--
-- Notification gate: the trigger ticket_event_notify runs a C function that
-- calls notify_ticket_event only for the events somebody is told about,
-- instead of a WHEN clause that was parsed and planned for every statement
-- (schema/88_api_notify.sql, src/notify_gate.c).
--
CREATE FUNCTION notify_event_gate() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_notify_event_gate';
COMMENT ON FUNCTION notify_event_gate() IS
    'AFTER INSERT trigger on ticket_event: calls the trigger function its argument names (notify_ticket_event) for the events somebody is told about.';
REVOKE EXECUTE ON FUNCTION notify_event_gate() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notify_event_gate()
    TO ticketdesk_admin, ticketdesk_agent, ticketdesk_dispatcher, ticketdesk_requester;
DROP TRIGGER ticket_event_notify ON ticket_event;
CREATE TRIGGER ticket_event_notify AFTER INSERT ON ticket_event
    FOR EACH ROW EXECUTE FUNCTION notify_event_gate('notify_ticket_event');
COMMENT ON FUNCTION notify_ticket_event() IS
    'Trigger function on ticket_event, called by notify_event_gate: queues the notifications of lifecycle events in the same transaction.';

--
-- Domains instead of table CHECK constraints for the columns written on the
-- hot path: PostgreSQL 15 plans every CHECK of a table again for each
-- statement; a domain's constraint is planned once per session and checked
-- only on assigned values (schema/00_types.sql, 47_workflow.sql, 50_ticket.sql).
--
-- Is a weight 1 to 5? Raises TD302 when not: the domain's check.
CREATE FUNCTION weight_in_range(smallint) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_weight_in_range';
COMMENT ON FUNCTION weight_in_range(smallint) IS
    'The check of domain ticket_weight: true for 1 to 5, else the error TD302.';
REVOKE EXECUTE ON FUNCTION weight_in_range(smallint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION weight_in_range(smallint)
    TO ticketdesk_admin, ticketdesk_agent, ticketdesk_dispatcher, ticketdesk_requester;
CREATE DOMAIN ticket_weight AS smallint CHECK (weight_in_range(VALUE));
COMMENT ON DOMAIN ticket_weight IS 'A weight from 1 (least) to 5 (most): requester and dispatcher weights.';
CREATE DOMAIN stage_number AS smallint CHECK (VALUE >= 1);
COMMENT ON DOMAIN stage_number IS 'The number of a workflow stage, from 1.';
CREATE DOMAIN load_count AS integer CHECK (VALUE >= 0);
COMMENT ON DOMAIN load_count IS 'A load counter or cap of agent_load: never negative.';
ALTER TABLE ticket
    DROP CONSTRAINT ticket_requester_weight_check,
    DROP CONSTRAINT ticket_dispatcher_weight_check,
    DROP CONSTRAINT ticket_stage_check,
    ALTER COLUMN requester_weight TYPE ticket_weight,
    ALTER COLUMN dispatcher_weight TYPE ticket_weight,
    ALTER COLUMN stage TYPE stage_number;
ALTER TABLE agent_load
    DROP CONSTRAINT agent_load_open_tickets_check,
    DROP CONSTRAINT agent_load_weighted_load_check,
    DROP CONSTRAINT agent_load_load_cap_check,
    ALTER COLUMN open_tickets TYPE load_count,
    ALTER COLUMN weighted_load TYPE load_count,
    ALTER COLUMN load_cap TYPE load_count;
-- stage_candidates returns the counters as integer, as before.
CREATE OR REPLACE FUNCTION stage_candidates(ticket_id bigint)
    RETURNS TABLE (agent_id bigint, name text, open_tickets integer, weighted_load integer,
                   load_cap integer, available boolean, unavailable_because text)
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    t integer := ticketdesk.current_tenant();
    k ticketdesk.ticket;
    profile bigint;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x WHERE x.tenant_id = t AND x.ticket_id = stage_candidates.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', stage_candidates.ticket_id);
    END IF;
    SELECT s.profile_id INTO profile
      FROM ticketdesk.ticket_type tt
      JOIN ticketdesk.workflow_stage s ON s.tenant_id = tt.tenant_id AND s.workflow_id = tt.workflow_id
     WHERE tt.tenant_id = t AND tt.type_id = k.type_id AND s.position = coalesce(k.stage, 1);
    RETURN QUERY
    WITH RECURSIVE up(center_id, parent_id) AS (
        SELECT c.center_id, c.parent_id FROM ticketdesk.center c WHERE c.tenant_id = t AND c.center_id = k.center_id
        UNION
        SELECT c.center_id, c.parent_id FROM ticketdesk.center c JOIN up ON c.tenant_id = t AND c.center_id = up.parent_id),
    holder AS (
        SELECT a.agent_id, a.name, l.open_tickets, l.weighted_load, l.load_cap,
               CASE
                 WHEN EXISTS (SELECT 1 FROM ticketdesk.agent_absence b
                               WHERE b.tenant_id = t AND b.agent_id = a.agent_id AND b.during @> now()) THEN 'absent'
                 WHEN EXISTS (SELECT 1 FROM ticketdesk.agent_hours h WHERE h.tenant_id = t AND h.agent_id = a.agent_id)
                      AND NOT EXISTS (SELECT 1 FROM ticketdesk.agent_hours h
                                       WHERE h.tenant_id = t AND h.agent_id = a.agent_id
                                         AND h.weekday = extract(isodow FROM now() AT TIME ZONE h.time_zone)
                                         AND (now() AT TIME ZONE h.time_zone)::time >= h.starts
                                         AND (now() AT TIME ZONE h.time_zone)::time < h.ends) THEN 'outside working hours'
                 WHEN l.open_tickets >= l.load_cap THEN 'at load cap'
               END AS why
          FROM ticketdesk.agent_profile ap
          JOIN ticketdesk.agent a ON a.tenant_id = ap.tenant_id AND a.agent_id = ap.agent_id AND a.active
          JOIN ticketdesk.agent_load l ON l.tenant_id = a.tenant_id AND l.agent_id = a.agent_id
         WHERE ap.tenant_id = t AND ap.profile_id = profile
           AND EXISTS (SELECT 1 FROM ticketdesk.center_member m
                        WHERE m.tenant_id = t AND m.agent_id = a.agent_id
                          AND m.center_id IN (SELECT up.center_id FROM up)))
    SELECT h.agent_id, h.name, h.open_tickets::integer, h.weighted_load::integer, h.load_cap::integer,
           h.why IS NULL, h.why
      FROM holder h
     ORDER BY h.why IS NOT NULL, h.open_tickets, h.agent_id;
END $$;

--
-- Reference: the generation expression of ticket.reference is a C function
-- call (src/reference.c) instead of a CASE, which PostgreSQL 15 planned again
-- for every statement writing a ticket (schema/00_types.sql, 50_ticket.sql).
-- A generation expression cannot be altered in PostgreSQL 15: the column is
-- dropped and added again (same values; it becomes the table's last column),
-- and with it what depends on it: the views time_by_ticket and
-- outbox_message, and the functions of outbox_message's row type. The
-- outbox's CHECKs become domains meanwhile, as the ticket's did above.
--
CREATE FUNCTION ticket_reference_of(bigint) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_reference_of';
COMMENT ON FUNCTION ticket_reference_of(bigint) IS
    'The reference of a ticket number (generation expression of ticket.reference): TD- and at least six digits.';
REVOKE EXECUTE ON FUNCTION ticket_reference_of(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_reference_of(bigint)
    TO ticketdesk_admin, ticketdesk_agent, ticketdesk_dispatcher, ticketdesk_requester;
DROP FUNCTION outbox_claim(integer, interval, text[]);
DROP FUNCTION outbox_mail(outbox_message);
DROP VIEW outbox_message;
DROP VIEW time_by_ticket;
-- With outbox_message gone, the outbox's column rules become domains as
-- well (schema/65_outbox.sql).
CREATE DOMAIN notify_event AS text CHECK (VALUE ~ '^[a-z_]{1,40}$');
COMMENT ON DOMAIN notify_event IS 'A notification event name: 1 to 40 lower-case letters or "_".';
CREATE DOMAIN notify_channel AS text CHECK (VALUE IN ('email', 'sms', 'webhook'));
COMMENT ON DOMAIN notify_channel IS 'A notification channel: email, sms or webhook.';
CREATE DOMAIN notify_recipient AS text CHECK (VALUE ~ '\S');
COMMENT ON DOMAIN notify_recipient IS 'A mail address, a phone number, or "-" for a webhook: not blank.';
CREATE DOMAIN language_code AS text CHECK (VALUE ~ '^[a-z]{2}$');
COMMENT ON DOMAIN language_code IS 'A two-letter ISO 639-1 language code, lower case.';
ALTER TABLE outbox
    DROP CONSTRAINT outbox_event_check,
    DROP CONSTRAINT outbox_channel_check,
    DROP CONSTRAINT outbox_recipient_check,
    DROP CONSTRAINT outbox_language_check,
    ALTER COLUMN event TYPE notify_event,
    ALTER COLUMN channel TYPE notify_channel,
    ALTER COLUMN recipient TYPE notify_recipient,
    ALTER COLUMN language TYPE language_code;
ALTER TABLE ticket DROP COLUMN reference;
ALTER TABLE ticket
    ADD COLUMN reference text GENERATED ALWAYS AS (ticket_reference_of(ticket_id)) STORED,
    ADD CONSTRAINT ticket_tenant_id_reference_key UNIQUE (tenant_id, reference);
CREATE VIEW time_by_ticket WITH (security_invoker = true) AS
SELECT e.tenant_id, e.ticket_id, k.reference, k.customer_id,
       count(*) FILTER (WHERE e.minutes IS NOT NULL) AS entries,
       coalesce(sum(e.minutes), 0) AS minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.work_type = 'normal'), 0) AS normal_minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.work_type = 'travel'), 0) AS travel_minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.work_type = 'after_hours'), 0) AS after_hours_minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.confirmed_at IS NOT NULL), 0) AS confirmed_minutes,
       count(*) FILTER (WHERE e.original_period IS NOT NULL) AS corrected_entries,
       count(*) FILTER (WHERE e.minutes IS NULL) AS running_timers
  FROM time_entry e
  JOIN ticket k ON k.tenant_id = e.tenant_id AND k.ticket_id = e.ticket_id
 WHERE e.tenant_id = current_tenant()
 GROUP BY e.tenant_id, e.ticket_id, k.reference, k.customer_id;
COMMENT ON VIEW time_by_ticket IS 'Recorded time per ticket (finished entries), by work type, confirmed, corrected and running.';
CREATE VIEW outbox_message WITH (security_invoker = true) AS
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
            THEN jsonb_build_object('to', o.recipient, 'text', x.body_text, 'reference', o.thread,
                                    'event', o.event, 'idempotency_key', o.message_key)
       END AS payload,
       o.message_key, o.status, o.attempts, o.next_attempt_at, o.leased_until, o.last_error, o.created_at,
       o.sent_at
  FROM ticketdesk.outbox o
  -- The placeholders' values; only for a row not rendered yet.
  LEFT JOIN LATERAL (
        SELECT w.vars || jsonb_build_object('sender', coalesce(o.sender_name,
                                                               CASE WHEN o.agent_id IS NULL THEN w.vars ->> 'assignee' END,
                                                               w.vars ->> 'center')) AS vars
          FROM (SELECT jsonb_build_object(
                    'reference', k.reference,
                    'subject', k.subject,
                    'description', k.description,
                    'priority', ticketdesk.priority_label(k.priority, o.language),
                    'status', k.status,
                    'center', c.name,
                    'assignee', a.name,
                    'requester', coalesce(rc.name, ra.name, ru.name),
                    'recipient', o.recipient_name,
                    'link', rtrim(coalesce(current_setting('ticketdesk.base_url', true), ''), '/')
                            || '/ticket/' || k.reference,
                    'deadline', to_char(k.deadline, 'YYYY-MM-DD HH24:MI'),
                    'resolution', k.resolution,
                    'note', o.note) || coalesce(o.vars, '{}'::jsonb) AS vars
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
COMMENT ON VIEW outbox_message IS
    'Outbox rows as sent or to be sent: stored text once tried, else rendered now from the templates and the ticket.';
CREATE FUNCTION outbox_mail(message outbox_message) RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_outbox_mail';
COMMENT ON FUNCTION outbox_mail(outbox_message) IS
    'The RFC 5322 message an outbox_message row is sent as (Date is now; Message-ID is stable per row).';
CREATE FUNCTION outbox_claim(batch_size integer, lease interval, channels text[])
    RETURNS SETOF outbox_message
    LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_sort = off SET enable_bitmapscan = off SET jit = off
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
-- What 95_roles.sql and 96_*.sql give these objects in a fresh install.
GRANT SELECT (reference) ON ticket TO ticketdesk_requester;
GRANT SELECT, INSERT, UPDATE, DELETE ON time_by_ticket, outbox_message TO ticketdesk_admin;
GRANT SELECT ON time_by_ticket, outbox_message TO ticketdesk_agent, ticketdesk_dispatcher, ticketdesk_requester;
REVOKE EXECUTE ON FUNCTION outbox_mail(outbox_message), outbox_claim(integer, interval, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_mail(outbox_message), outbox_claim(integer, interval, text[])
    TO ticketdesk_admin, ticketdesk_agent, ticketdesk_dispatcher, ticketdesk_requester;

-- Opening a ticket: every table it reads is reached through a key (the
-- reference tables' generic plans scanned them whole).
ALTER FUNCTION open_ticket(text, bigint, text, text, bigint, bigint, bigint, bigint, ticket_channel,
                           integer, timestamptz, timestamptz, timestamptz, bigint, bigint, text, text,
                           bigint, bigint, bigint)
    SET enable_seqscan = off;

-- Routing reads a type's workflow stage and a centre's fallback from a
-- per-backend cache (src/route_config.c): the tables it reads empty it.
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ticket_type
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workflow_stage
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON profile
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_policy
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();

-- The checklist copy starts its INSERT only when the type has a template.
CREATE OR REPLACE FUNCTION ticket_checklist_copy() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ticketdesk.checklist_template t
                WHERE t.tenant_id = NEW.tenant_id AND t.type_id = NEW.type_id) THEN
        INSERT INTO ticketdesk.checklist_item (tenant_id, ticket_id, position, title, required, template_id)
        SELECT t.tenant_id, NEW.ticket_id, t.position, t.title, t.required, t.template_id
          FROM ticketdesk.checklist_template t
         WHERE t.tenant_id = NEW.tenant_id AND t.type_id = NEW.type_id
         ORDER BY t.position, t.template_id;
    END IF;
    RETURN NULL;
END $$;

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
