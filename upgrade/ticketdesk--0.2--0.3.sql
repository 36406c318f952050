-- ticketdesk 0.2 -> 0.3. Each section names the change it brings; the
-- result must equal a fresh install of 0.3 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.3'" to load this file. \quit

--
-- Phase: the queue and job indexes select tickets by ticket.phase, never by
-- status, so that a move inside a phase is a HOT update; ticket_customer_idx
-- folds into ticket_customer_handler_idx (schema/00_types.sql, 50_ticket.sql,
-- 69_automation.sql, 87_api_routing.sql, and the jobs that use the indexes).
--
CREATE TYPE ticket_phase AS ENUM ('open', 'resolved', 'confirmed', 'finished');
CREATE FUNCTION ticket_phase_of(ticket_status) RETURNS ticket_phase
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_phase_of';
COMMENT ON FUNCTION ticket_phase_of(ticket_status) IS
    'The phase of a status (generation expression of ticket.phase): open, resolved, confirmed or finished.';
REVOKE EXECUTE ON FUNCTION ticket_phase_of(ticket_status) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_phase_of(ticket_status)
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
ALTER TABLE ticket
    ADD COLUMN phase ticket_phase GENERATED ALWAYS AS (ticket_phase_of(status)) STORED,
    SET (fillfactor = 85);
GRANT SELECT (phase) ON ticket TO ticketdesk_requester;

DROP INDEX ticket_center_open_idx, ticket_assignee_open_idx, ticket_customer_idx,
    ticket_resolved_due_idx, ticket_confirmed_due_idx, ticket_deadline_open_idx,
    ticket_customer_handler_idx;
CREATE INDEX ticket_center_open_idx ON ticket (tenant_id, center_id) WHERE phase <> 'finished';
CREATE INDEX ticket_assignee_open_idx ON ticket (tenant_id, assignee_id) WHERE phase = 'open';
CREATE INDEX ticket_resolved_due_idx ON ticket (tenant_id, resolved_at) WHERE phase = 'resolved';
CREATE INDEX ticket_confirmed_due_idx ON ticket (tenant_id, confirmed_at) WHERE phase = 'confirmed';
CREATE INDEX ticket_deadline_open_idx ON ticket (tenant_id, deadline)
    WHERE deadline IS NOT NULL AND phase = 'open';
CREATE INDEX ticket_customer_handler_idx ON ticket (tenant_id, customer_id, assignee_id, assigned_at);

CREATE OR REPLACE FUNCTION auto_confirm(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t        integer := ticketdesk.current_tenant();
    note     text := ticketdesk.set_note('confirmed automatically: the requester did not answer');
    min_days integer;
    n        integer;
BEGIN
    -- No ticket resolved later than this can be due: n business days are at least n days less an hour.
    SELECT min(coalesce(r.confirm_after_days - r.remind_before_days, r.confirm_after_days))
      INTO min_days FROM ticketdesk.closing_rules_by_center_type() r;

    WITH r AS MATERIALIZED (SELECT * FROM ticketdesk.closing_rules_by_center_type())
    INSERT INTO ticketdesk.automation_notice (tenant_id, ticket_id, kind, key, due_at, agent_ids, contact_ids)
    SELECT k.tenant_id, k.ticket_id, 'confirm_reminder',
           to_char(k.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), d.due,
           CASE WHEN k.requester_agent_id IS NOT NULL THEN ARRAY[k.requester_agent_id] ELSE '{}' END,
           CASE WHEN k.contact_id IS NOT NULL THEN ARRAY[k.contact_id] ELSE '{}' END
      FROM ticketdesk.ticket k
      JOIN r ON r.center_id = k.center_id AND r.type_id = k.type_id
     CROSS JOIN LATERAL (SELECT ticketdesk.business_add_days(r.calendar_id, k.resolved_at,
                                    r.confirm_after_days - r.remind_before_days) AS due) d
     WHERE k.tenant_id = t AND k.phase = 'resolved'
       AND k.resolved_at <= as_of - make_interval(days => min_days) + interval '1 hour'
       AND r.remind_before_days IS NOT NULL AND d.due <= as_of
       AND (k.contact_id IS NOT NULL OR k.requester_agent_id IS NOT NULL)
       AND NOT ticketdesk.requester_replied(k, k.resolved_at)
     ORDER BY k.ticket_id
    ON CONFLICT (tenant_id, ticket_id, kind, key) DO NOTHING;

    SELECT min(r.confirm_after_days) INTO min_days FROM ticketdesk.closing_rules_by_center_type() r;
    WITH r AS MATERIALIZED (SELECT * FROM ticketdesk.closing_rules_by_center_type())
    UPDATE ticketdesk.ticket k SET status = 'confirmed'
      FROM r
     WHERE r.center_id = k.center_id AND r.type_id = k.type_id
       AND k.tenant_id = t AND k.phase = 'resolved'
       AND k.resolved_at <= as_of - make_interval(days => min_days) + interval '1 hour'
       AND ticketdesk.business_add_days(r.calendar_id, k.resolved_at, r.confirm_after_days) <= as_of
       AND NOT ticketdesk.requester_replied(k, k.resolved_at);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM ticketdesk.set_note(note);
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION auto_close(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t        integer := ticketdesk.current_tenant();
    note     text := ticketdesk.set_note('closed automatically');
    min_days integer;
    n        integer;
BEGIN
    SELECT min(r.close_after_days) INTO min_days FROM ticketdesk.closing_rules_by_center_type() r;
    WITH r AS MATERIALIZED (SELECT * FROM ticketdesk.closing_rules_by_center_type())
    UPDATE ticketdesk.ticket k SET status = 'closed'
      FROM r
     WHERE r.center_id = k.center_id AND r.type_id = k.type_id
       AND k.tenant_id = t AND k.phase = 'confirmed'
       AND k.confirmed_at <= as_of - make_interval(days => min_days) + interval '1 hour'
       AND ticketdesk.business_add_days(r.calendar_id, k.confirmed_at, r.close_after_days) <= as_of;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM ticketdesk.set_note(note);
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION send_reminders(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t integer := ticketdesk.current_tenant();
    n integer;
BEGIN
    WITH due AS (
        SELECT r.reminder_id, k.ticket_id, d.due,
               array_remove(ARRAY[CASE WHEN r.to_assignee THEN k.assignee_id END,
                                  CASE WHEN r.to_delegator THEN ticketdesk.delegator_of(k) END], NULL) AS agents
          FROM ticketdesk.ticket_reminder r
          JOIN ticketdesk.ticket k ON k.tenant_id = r.tenant_id AND k.ticket_id = r.ticket_id
         CROSS JOIN LATERAL (SELECT CASE r.basis WHEN 'deadline' THEN k.deadline - r.lead
                                                 WHEN 'planned_start' THEN lower(k.planned) - r.lead
                                                 ELSE r.remind_at END AS due) d
         WHERE r.tenant_id = t AND r.sent_at IS NULL AND d.due <= as_of
           AND k.phase <> 'finished'
         FOR UPDATE OF r SKIP LOCKED),
    sent AS (
        UPDATE ticketdesk.ticket_reminder r SET sent_at = as_of
          FROM due WHERE r.tenant_id = t AND r.reminder_id = due.reminder_id)
    INSERT INTO ticketdesk.automation_notice (tenant_id, ticket_id, kind, key, due_at, agent_ids)
    SELECT t, due.ticket_id, 'reminder', due.reminder_id::text, due.due, due.agents FROM due
     ORDER BY due.due, due.reminder_id
    ON CONFLICT (tenant_id, ticket_id, kind, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION escalate_overdue(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t integer := ticketdesk.current_tenant();
    n integer;
BEGIN
    WITH ladder AS (
        SELECT l.level, l.after, l.notify FROM ticketdesk.escalation_level l WHERE l.tenant_id = t
        UNION ALL
        SELECT 1, interval '0', 'assignee_and_delegator'
         WHERE NOT EXISTS (SELECT 1 FROM ticketdesk.escalation_level l WHERE l.tenant_id = t)),
    overdue AS (
        SELECT k.ticket_id, k.deadline, k.assignee_id, ticketdesk.delegator_of(k) AS delegator,
               ticketdesk.calendar_of_center(k.center_id) AS calendar_id
          FROM ticketdesk.ticket k
         WHERE k.tenant_id = t AND k.deadline IS NOT NULL AND k.deadline <= as_of
           AND k.phase = 'open')
    INSERT INTO ticketdesk.automation_notice (tenant_id, ticket_id, kind, key, due_at, agent_ids)
    SELECT t, o.ticket_id, 'escalation', 'level ' || l.level, d.due,
           array_remove(CASE l.notify
               WHEN 'assignee_and_delegator' THEN
                   ARRAY[o.assignee_id, nullif(o.delegator, o.assignee_id)]
               ELSE ARRAY[(SELECT a.supervisor_id FROM ticketdesk.agent a
                            WHERE a.tenant_id = t AND a.agent_id = o.assignee_id)] END, NULL)
      FROM overdue o
     CROSS JOIN ladder l
     CROSS JOIN LATERAL (SELECT ticketdesk.business_add(o.calendar_id, o.deadline, l.after) AS due) d
     WHERE d.due <= as_of
     ORDER BY o.ticket_id, l.level
    ON CONFLICT (tenant_id, ticket_id, kind, key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION age_priorities(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t    integer := ticketdesk.current_tenant();
    note text;
    n    integer;
BEGIN
    IF as_of IS DISTINCT FROM now() THEN
        RAISE EXCEPTION 'priority ageing runs as of now'
            USING ERRCODE = 'TD625',
                  DETAIL = 'A stored priority must be the one computed as of the transaction''s start.',
                  HINT = 'Call age_priorities() without as_of; explain_priority(ticket_id, as_of) shows a priority at another moment.';
    END IF;
    note := ticketdesk.set_note('priority aged: the deadline came closer');
    UPDATE ticketdesk.ticket k SET priority = c.priority
      FROM (SELECT x.ticket_id,
                   ticketdesk.compute_priority(x.center_id, x.category_id, x.internal_category_id,
                                               x.requester_weight, x.dispatcher_weight, x.deadline, as_of) AS priority
              FROM ticketdesk.ticket x
             WHERE x.tenant_id = t AND x.deadline IS NOT NULL
               AND x.deadline <= as_of + current_setting('ticketdesk.deadline_near')::interval
               AND x.phase = 'open'
               AND NOT x.priority_fixed) c
     WHERE k.tenant_id = t AND k.ticket_id = c.ticket_id AND k.priority <> c.priority;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM ticketdesk.set_note(note);
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION sla_clocks(as_of timestamptz DEFAULT now())
    RETURNS TABLE (ticket_id bigint, reference text, status ticket_status, priority ticket_priority,
                   response_due timestamptz, response_state text,
                   resolution_due timestamptz, elapsed interval, remaining interval, resolution_state text)
    LANGUAGE sql STABLE AS $$
    SELECT k.ticket_id, k.reference, k.status, k.priority,
           s.response_due, s.response_state, s.resolution_due, s.elapsed, s.remaining, s.resolution_state
      FROM ticketdesk.ticket k
     CROSS JOIN LATERAL ticketdesk.ticket_sla(k.ticket_id, as_of) s
     WHERE k.tenant_id = ticketdesk.current_tenant()
       AND k.phase = 'open'
     ORDER BY s.resolution_due NULLS LAST, k.ticket_id
$$;


--
-- Notifications: room on each outbox page for a claim's HOT update of every
-- row queued there (schema/65_outbox.sql).
--
ALTER TABLE outbox SET (fillfactor = 45);

--
-- Notifications: the worker's claim is PL/pgSQL, so its plan is kept for the
-- session instead of made again at every batch (schema/88_api_notify.sql).
--
CREATE OR REPLACE FUNCTION outbox_claim(batch_size integer, lease interval, channels text[])
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

--
-- Notifications: the worker's result is recorded row by row over the
-- primary key, not by hashing and reading the whole outbox
-- (schema/88_api_notify.sql).
--
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
           SET status = CASE WHEN r.error IS NULL THEN 'sent'
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

--
-- The load trigger has no WHEN clause any more: the C function returns at
-- once when no load moves (schema/87_api_routing.sql, src/load.c).
--
DROP TRIGGER ticket_load_update ON ticket;
CREATE TRIGGER ticket_load_update AFTER UPDATE ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_load();

-- Opening a ticket, faster: the notification trigger queues the messages of
-- all recipients of a history row in one INSERT; the recipients' channels and
-- addresses come from notify_addresses (inlined), shared with notify_queue.
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

REVOKE EXECUTE ON FUNCTION notify_addresses(integer, text, ticket_priority, bigint, bigint, bigint, text[]) FROM PUBLIC;
-- As every function in schema/95_roles.sql: the roles execute it, PUBLIC does not.
GRANT EXECUTE ON FUNCTION notify_addresses(integer, text, ticket_priority, bigint, bigint, bigint, text[])
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;

-- Queues one event's messages for one recipient (an agent, a contact or a
-- customer) of a ticket: picks the channels and the addresses, and wakes the
-- worker at commit. One INSERT: the text is not rendered here but when the
-- worker claims the row (outbox_message), so the transaction of the change
-- pays only for small rows. Returns the rows queued; none when the recipient
-- has no address for any channel, or the message was already queued for this
-- event.
CREATE OR REPLACE FUNCTION notify_queue(tenant integer, ticket_id bigint, event_kind text,
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
        ON CONFLICT (tenant_id, event_id, event, channel, recipient) WHERE event_id IS NOT NULL DO NOTHING
        RETURNING o.*
    LOOP
        RETURN NEXT queued;
    END LOOP;
    PERFORM ticketdesk.notify_wake();
END $$;
ALTER FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text)
    SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;

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
CREATE OR REPLACE FUNCTION notify_ticket_event() RETURNS trigger
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
    ON CONFLICT (tenant_id, event_id, event, channel, recipient) WHERE event_id IS NOT NULL DO NOTHING;
    IF FOUND THEN
        PERFORM ticketdesk.notify_wake();
    END IF;
    RETURN NULL;
END $$;
ALTER FUNCTION notify_ticket_event() SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;

-- Opening a ticket, faster: one look-up query for the references every
-- request names, the others only when given, the category's fit inline.
-- Opens a ticket. Web forms, phone calls taken by a dispatcher, ERPs and the
-- scheduler all call this; it checks every reference, then inserts, and the
-- lifecycle trigger does the rest.
CREATE OR REPLACE FUNCTION open_ticket(
    subject            text,
    center_id          bigint,
    description        text DEFAULT NULL,
    type               text DEFAULT 'incident',
    customer_id        bigint DEFAULT NULL,
    contact_id         bigint DEFAULT NULL,
    requester_agent_id bigint DEFAULT NULL,
    category_id        bigint DEFAULT NULL,
    channel            ticket_channel DEFAULT 'api',
    requester_weight   integer DEFAULT 3,
    deadline           timestamptz DEFAULT NULL,
    planned_from       timestamptz DEFAULT NULL,
    planned_to         timestamptz DEFAULT NULL,
    site_id            bigint DEFAULT NULL,
    product_id         bigint DEFAULT NULL,
    object_text        text DEFAULT NULL,
    invoice_ref        text DEFAULT NULL,
    assignee_id        bigint DEFAULT NULL,
    registered_by      bigint DEFAULT NULL,
    parent_id          bigint DEFAULT NULL
) RETURNS ticket
    LANGUAGE plpgsql
    -- Its statements depend on the arguments only as values: planning them
    -- once per session, not once per call, is most of the difference.
    SET plan_cache_mode = force_generic_plan
    AS $$
#variable_conflict use_variable
DECLARE
    t      integer := ticketdesk.current_tenant();
    found  record;
    site_found    boolean;
    site_customer bigint;
    result ticketdesk.ticket;
BEGIN
    IF center_id IS NULL THEN
        RAISE EXCEPTION 'a ticket needs a centre'
            USING ERRCODE = 'TD202', HINT = 'Pass center_id: the service centre the request is for.';
    END IF;

    -- The references every request names (centre, type, usually a contact and
    -- a category) are looked up in one query; the others only when given, so
    -- an absent one costs no look-up. Only a failed check costs more.
    SELECT EXISTS (SELECT 1 FROM ticketdesk.tenant x WHERE x.tenant_id = t) AS tenant,
           EXISTS (SELECT 1 FROM ticketdesk.center x
                    WHERE x.tenant_id = t AND x.center_id = open_ticket.center_id AND x.active) AS center,
           (SELECT x.type_id FROM ticketdesk.ticket_type x
             WHERE x.tenant_id = t AND x.code = open_ticket.type) AS type_id,
           n.contact_id AS contact, n.customer_id AS contact_customer,
           g.category_id AS category,
           -- The category is the centre's own or of a centre above it (category_fits).
           g.category_id IS NULL OR EXISTS (
               WITH RECURSIVE up(id, parent) AS (
                   SELECT c.center_id, c.parent_id FROM ticketdesk.center c
                    WHERE c.tenant_id = t AND c.center_id = open_ticket.center_id
                   UNION
                   SELECT c.center_id, c.parent_id FROM ticketdesk.center c
                     JOIN up ON c.tenant_id = t AND c.center_id = up.parent
               )
               SELECT 1 FROM up WHERE up.id = g.center_id) AS category_fits
      INTO found
      FROM (SELECT) AS one
      LEFT JOIN ticketdesk.contact n ON n.tenant_id = t AND n.contact_id = open_ticket.contact_id
      LEFT JOIN ticketdesk.category g
             ON g.tenant_id = t AND g.category_id = open_ticket.category_id AND g.active;

    IF NOT found.tenant THEN
        RAISE EXCEPTION 'tenant % does not exist', t
            USING ERRCODE = 'TD100',
                  HINT = 'Set ticketdesk.tenant to an existing tenant, or create it with ticketdesk.create_tenant.';
    END IF;
    IF NOT found.center THEN
        PERFORM ticketdesk.raise_not_found('center', center_id);
    END IF;
    IF found.type_id IS NULL THEN
        RAISE EXCEPTION 'ticket type "%" does not exist', type
            USING ERRCODE = 'TD207',
                  HINT = 'Use one of the codes in table ticketdesk.ticket_type, e.g. incident or service_request.';
    END IF;
    IF customer_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.customer x
                        WHERE x.tenant_id = t AND x.customer_id = open_ticket.customer_id) THEN
            PERFORM ticketdesk.raise_not_found('customer', customer_id);
        END IF;
    END IF;
    IF contact_id IS NOT NULL AND found.contact IS NULL THEN
        PERFORM ticketdesk.raise_not_found('contact', contact_id);
    END IF;
    IF customer_id IS NOT NULL AND contact_id IS NOT NULL
       AND found.contact_customer IS DISTINCT FROM customer_id THEN
        RAISE EXCEPTION 'contact % is not a contact person of customer %', contact_id, customer_id
            USING ERRCODE = 'TD307',
                  HINT = 'Pass a contact of this customer, or only the contact.';
    END IF;
    customer_id := coalesce(customer_id, found.contact_customer);
    IF num_nonnulls(requester_agent_id, assignee_id, registered_by) > 0 THEN
        IF (SELECT count(*) FROM ticketdesk.agent x
             WHERE x.tenant_id = t AND x.active
               AND x.agent_id IN (open_ticket.requester_agent_id, open_ticket.assignee_id,
                                  open_ticket.registered_by))
           < num_nonnulls(requester_agent_id, assignee_id, registered_by) THEN
            -- Name the first agent that failed.
            PERFORM ticketdesk.require('agent', requester_agent_id);
            PERFORM ticketdesk.require('agent', assignee_id);
            PERFORM ticketdesk.require('agent', registered_by);
        END IF;
    END IF;
    IF category_id IS NOT NULL AND found.category IS NULL THEN
        PERFORM ticketdesk.raise_not_found('category', category_id);
    END IF;
    IF NOT found.category_fits THEN
        PERFORM ticketdesk.require_category_fits(category_id, center_id);
    END IF;
    IF site_id IS NOT NULL THEN
        SELECT true, x.customer_id INTO site_found, site_customer
          FROM ticketdesk.site x WHERE x.tenant_id = t AND x.site_id = open_ticket.site_id;
        IF site_found IS NULL THEN
            PERFORM ticketdesk.raise_not_found('site', site_id);
        END IF;
        IF site_customer IS NOT NULL AND site_customer IS DISTINCT FROM customer_id THEN
            RAISE EXCEPTION 'site % belongs to another customer', site_id
                USING ERRCODE = 'TD316',
                      HINT = 'Use ticketdesk.site_for to find or record the requester''s own site.';
        END IF;
    END IF;
    IF product_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.product x
                        WHERE x.tenant_id = t AND x.product_id = open_ticket.product_id AND x.active) THEN
            PERFORM ticketdesk.raise_not_found('product', product_id);
        END IF;
    END IF;
    IF parent_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.ticket x
                        WHERE x.tenant_id = t AND x.ticket_id = open_ticket.parent_id) THEN
            PERFORM ticketdesk.raise_not_found('ticket', parent_id);
        END IF;
    END IF;

    IF (planned_from IS NULL) <> (planned_to IS NULL) OR planned_from > planned_to THEN
        RAISE EXCEPTION 'malformed planned period'
            USING ERRCODE = 'TD304',
                  DETAIL = format('The period runs from %s to %s.',
                                  coalesce(planned_from::text, 'nothing'), coalesce(planned_to::text, 'nothing')),
                  HINT = 'Give both planned_from and planned_to, the start before the end, or neither.';
    END IF;
    IF requester_weight IS NULL OR requester_weight NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'requester_weight must be between 1 and 5'
            USING ERRCODE = 'TD302',
                  DETAIL = format('It is %s.', coalesce(requester_weight::text, 'missing')),
                  HINT = '1 is the least important, 5 the most; 3 is normal.';
    END IF;

    INSERT INTO ticketdesk.ticket AS k
        (tenant_id, type_id, center_id, category_id, customer_id, contact_id,
         requester_agent_id, registered_by, channel, subject, description,
         requester_weight, deadline, planned, site_id, product_id, object_text,
         invoice_ref, assignee_id, parent_id)
    VALUES
        (t, found.type_id, center_id, category_id, customer_id, contact_id,
         requester_agent_id, coalesce(registered_by, ticketdesk.current_agent()), channel, subject, description,
         requester_weight, deadline,
         CASE WHEN planned_from IS NOT NULL THEN tstzrange(planned_from, planned_to, '[]') END,
         site_id, product_id, object_text, invoice_ref, assignee_id, parent_id)
    RETURNING * INTO result;
    RETURN result;
END $$;
