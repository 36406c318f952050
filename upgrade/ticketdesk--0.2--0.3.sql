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
ALTER TABLE ticket
    ADD COLUMN phase ticket_phase GENERATED ALWAYS AS (
        CASE status WHEN 'resolved' THEN 'resolved'::ticket_phase
                    WHEN 'confirmed' THEN 'confirmed'::ticket_phase
                    WHEN 'closed' THEN 'finished'::ticket_phase
                    WHEN 'cancelled' THEN 'finished'::ticket_phase
                    ELSE 'open'::ticket_phase END) STORED,
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
