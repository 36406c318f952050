-- The time-driven jobs. Each works for the current tenant, takes as_of (so
-- tests move time), and is idempotent: a ticket it moves leaves the set it
-- scans (a second session waits for the row, then finds it moved), notices
-- have unique keys, and reminders and contracts another session is working
-- on are skipped (SKIP LOCKED), so a rerun or a crash-and-retry does nothing twice.

-- The closing rule of every centre and type of the tenant (most specific wins)
-- with the centre's calendar: a small table the jobs join tickets with.
CREATE FUNCTION closing_rules_by_center_type()
    RETURNS TABLE (center_id bigint, type_id bigint, calendar_id bigint,
                   confirm_after_days integer, close_after_days integer, remind_before_days integer)
    LANGUAGE sql STABLE AS $$
    SELECT c.center_id, y.type_id, ticketdesk.calendar_of_center(c.center_id),
           r.confirm_after_days, r.close_after_days, r.remind_before_days
      FROM ticketdesk.center c
      JOIN ticketdesk.ticket_type y ON y.tenant_id = c.tenant_id
     CROSS JOIN LATERAL (
        SELECT r.* FROM ticketdesk.closing_rule r
         WHERE r.tenant_id = c.tenant_id
           AND (r.center_id = c.center_id OR r.center_id IS NULL)
           AND (r.type_id = y.type_id OR r.type_id IS NULL)
         ORDER BY r.center_id IS NULL, r.type_id IS NULL
         LIMIT 1) r
     WHERE c.tenant_id = ticketdesk.current_tenant()
$$;

-- True when the requester answered a ticket after the moment since: a public
-- remark by the ticket's contact, a contact of its customer, or the
-- requesting employee.
CREATE FUNCTION requester_replied(k ticket, since timestamptz) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM ticketdesk.message m
          LEFT JOIN ticketdesk.contact c ON c.tenant_id = m.tenant_id AND c.contact_id = m.author_contact_id
         WHERE m.tenant_id = k.tenant_id AND m.ticket_id = k.ticket_id
           AND NOT m.internal AND m.created_at > since
           AND (m.author_contact_id = k.contact_id
                OR (c.customer_id IS NOT NULL AND c.customer_id = k.customer_id)
                OR m.author_agent_id = k.requester_agent_id))
$$;
COMMENT ON FUNCTION requester_replied(ticket, timestamptz) IS
    'True when the requester wrote a public remark on the ticket after since (a reply stops auto-confirm).';

-- Reminds requesters that resolved tickets will be confirmed automatically,
-- then confirms those unanswered for confirm_after_days business days (R22).
-- The lifecycle trigger stamps confirmed_at with the real time of the move.
-- Returns the number confirmed.
CREATE FUNCTION auto_confirm(as_of timestamptz DEFAULT now()) RETURNS integer
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
COMMENT ON FUNCTION auto_confirm(timestamptz) IS
    'Job: reminds requesters, then confirms resolved tickets unanswered for N business days (R22); returns the count.';

-- Closes confirmed tickets close_after_days business days after their
-- confirmation (closed_at is the real time of the move). Returns the number closed.
CREATE FUNCTION auto_close(as_of timestamptz DEFAULT now()) RETURNS integer
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
COMMENT ON FUNCTION auto_close(timestamptz) IS
    'Job: closes confirmed tickets M business days after confirmation (R22); returns the count.';

-- The agent who delegated a ticket to its assignee: the actor of the latest
-- assignment, else the agent who registered it.
CREATE FUNCTION delegator_of(k ticket) RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT v.actor_agent_id FROM ticketdesk.ticket_event v
          WHERE v.tenant_id = k.tenant_id AND v.ticket_id = k.ticket_id AND v.kind = 'assignee'
          ORDER BY v.event_id DESC LIMIT 1),
        k.registered_by)
$$;

-- Records the reminders that are due (R23, R31), once each. Returns the count.
CREATE FUNCTION send_reminders(as_of timestamptz DEFAULT now()) RETURNS integer
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
COMMENT ON FUNCTION send_reminders(timestamptz) IS
    'Job: records each due ticket reminder once, for the assignee and/or the delegator (R23, R31); returns the count.';

-- Walks overdue tickets up the escalation ladder (R28, R32): each level fires
-- once per ticket when its delay after the deadline (in business time) has
-- passed. Without a configured ladder, level 1 tells the assignee and the
-- delegator at the deadline. Returns the number of notices recorded.
CREATE FUNCTION escalate_overdue(as_of timestamptz DEFAULT now()) RETURNS integer
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
COMMENT ON FUNCTION escalate_overdue(timestamptz) IS
    'Job: records each escalation level reached by an overdue ticket once (R28, R32); returns the count.';

-- Sets a reminder on a ticket (R23, R31): lead before its deadline or its
-- planned start, or at a fixed moment; returns its id.
CREATE FUNCTION add_reminder(ticket_id bigint, basis text DEFAULT 'deadline', lead interval DEFAULT '0',
                             remind_at timestamptz DEFAULT NULL, to_assignee boolean DEFAULT true,
                             to_delegator boolean DEFAULT false, note text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    k      ticketdesk.ticket;
    result bigint;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x
     WHERE x.tenant_id = ticketdesk.current_tenant() AND x.ticket_id = add_reminder.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    IF basis IS NULL OR basis NOT IN ('deadline', 'planned_start', 'fixed')
       OR (basis = 'fixed') <> (remind_at IS NOT NULL) OR lead IS NULL OR lead < interval '0'
       OR NOT (coalesce(to_assignee, false) OR coalesce(to_delegator, false)) THEN
        RAISE EXCEPTION 'invalid reminder'
            USING ERRCODE = 'TD623',
                  DETAIL = format('basis %s, lead %s, remind_at %s, to_assignee %s, to_delegator %s.',
                                  basis, lead, coalesce(remind_at::text, 'none'), to_assignee, to_delegator),
                  HINT = 'Use basis deadline or planned_start with a lead of 0 or more, or basis fixed with remind_at; remind the assignee, the delegator or both.';
    END IF;
    IF (basis = 'deadline' AND k.deadline IS NULL) OR (basis = 'planned_start' AND k.planned IS NULL) THEN
        RAISE EXCEPTION 'ticket % has no %', k.reference, replace(basis, '_', ' ')
            USING ERRCODE = 'TD624',
                  HINT = 'Set the ticket''s deadline or planned period first, or remind at a fixed moment.';
    END IF;
    INSERT INTO ticketdesk.ticket_reminder (ticket_id, basis, lead, remind_at, to_assignee, to_delegator,
                                            note, created_by)
    VALUES (ticket_id, basis, lead, remind_at, to_assignee, to_delegator, note, ticketdesk.current_agent())
    RETURNING reminder_id INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION add_reminder(bigint, text, interval, timestamptz, boolean, boolean, text) IS
    'Sets a reminder on a ticket: lead before its deadline or planned start, or at a fixed moment (R23, R31).';

-- Priority ageing: as deadlines come closer, writes the priority the
-- priority matrix now computes (compute_priority, issue 3) into open
-- tickets whose stored priority it no longer matches. Only tickets whose
-- deadline is within ticketdesk.deadline_near are looked at (a partial
-- index), and priorities fixed by hand are left alone. The lifecycle
-- trigger accepts only the priority computed as of the transaction's
-- start, so as_of must be now() (TD625). Returns the number changed.
CREATE FUNCTION age_priorities(as_of timestamptz DEFAULT now()) RETURNS integer
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
COMMENT ON FUNCTION age_priorities(timestamptz) IS
    'Job: raises the priorities of open tickets as their deadlines come closer, with the priority matrix (issue 3); returns the count.';
