-- Work time, checklists and approval: the API (R11, R13, R25).

-- The tenant's work settings, creating its row with the defaults when it has
-- none. lock = true also locks the row: billing runs of a tenant take turns.
CREATE FUNCTION work_settings(lock boolean DEFAULT false) RETURNS work_setting
    LANGUAGE plpgsql AS $$
DECLARE
    result ticketdesk.work_setting;
BEGIN
    INSERT INTO ticketdesk.work_setting (tenant_id) VALUES (ticketdesk.current_tenant())
        ON CONFLICT (tenant_id) DO NOTHING;
    IF lock THEN
        SELECT * INTO result FROM ticketdesk.work_setting s WHERE s.tenant_id = ticketdesk.current_tenant() FOR UPDATE;
    ELSE
        SELECT * INTO result FROM ticketdesk.work_setting s WHERE s.tenant_id = ticketdesk.current_tenant();
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION work_settings(boolean) IS
    'The current tenant''s work settings (a row with the defaults is created when missing).';

-- Internal: the agent who acts, the given one or the session's.
CREATE FUNCTION acting_agent(agent_id bigint, what text) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    result bigint := coalesce(agent_id, ticketdesk.current_agent());
BEGIN
    IF result IS NULL THEN
        RAISE EXCEPTION '% needs an agent', what
            USING ERRCODE = 'TD563',
                  DETAIL = 'No agent was given and the session acts as none.',
                  HINT = 'Pass agent_id, or SET ticketdesk.agent, or log in with a role mapped to an agent.';
    END IF;
    PERFORM ticketdesk.require('agent', result);
    RETURN result;
END $$;

-- Internal: records a work event in the ticket's history.
CREATE FUNCTION work_event(ticket_id bigint, kind text, old_value text, new_value text, note text)
    RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.ticket_event (tenant_id, ticket_id, kind, old_value, new_value, note, actor_agent_id)
    VALUES (ticketdesk.current_tenant(), ticket_id, kind, old_value, new_value, note, ticketdesk.current_agent())
$$;

-- Internal: an entry in words, for the history.
CREATE FUNCTION entry_text(e time_entry) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT format('entry %s: %s, %s%s', e.entry_id, ticketdesk.period_text(e.period), e.work_type,
                  CASE WHEN e.minutes IS NOT NULL THEN format(', %s min', e.minutes) ELSE ', running' END)
$$;

-- Internal: refuses a period whose end is missing or not after its start.
CREATE FUNCTION require_period(started timestamptz, stopped timestamptz) RETURNS tstzrange
    LANGUAGE plpgsql AS $$
BEGIN
    IF started IS NULL OR stopped IS NULL OR stopped <= started THEN
        RAISE EXCEPTION 'a time entry must end after it starts'
            USING ERRCODE = 'TD560',
                  DETAIL = format('It starts %s and ends %s.',
                                  coalesce(to_char(started, 'YYYY-MM-DD HH24:MI:SS TZ'), 'nowhere'),
                                  coalesce(to_char(stopped, 'YYYY-MM-DD HH24:MI:SS TZ'), 'nowhere')),
                  HINT = 'Give the start and then a later end.';
    END IF;
    RETURN tstzrange(started, stopped);
END $$;

-- Internal: records an entry of the acting agent on a ticket; the trigger
-- time_entry_check refuses overlaps and finished tickets.
CREATE FUNCTION add_time_entry(ticket_id bigint, period tstzrange, work_type work_type, note text,
                               agent_id bigint, what text) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    INSERT INTO ticketdesk.time_entry (tenant_id, ticket_id, agent_id, work_type, period, note)
    VALUES (ticketdesk.current_tenant(), ticket_id, ticketdesk.acting_agent(agent_id, what),
            coalesce(work_type, 'normal'), period, note)
    RETURNING entry_id INTO result;
    RETURN result;
END $$;

-- Starts a timer for an agent on a ticket (R11); returns the entry id.
CREATE FUNCTION start_timer(ticket_id bigint, work_type work_type DEFAULT 'normal', note text DEFAULT NULL,
                            agent_id bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE sql AS $$
    SELECT ticketdesk.add_time_entry(ticket_id, tstzrange(now(), NULL), work_type, note, agent_id,
                                     'starting a timer')
$$;
COMMENT ON FUNCTION start_timer(bigint, work_type, text, bigint) IS
    'Starts a timer for the agent (default: the session''s) on a ticket (R11); returns the entry id.';

-- Stops the agent's running timer; returns the finished entry.
CREATE FUNCTION stop_timer(agent_id bigint DEFAULT NULL, note text DEFAULT NULL) RETURNS time_entry
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    who    bigint := ticketdesk.acting_agent(agent_id, 'stopping a timer');
    result ticketdesk.time_entry;
BEGIN
    UPDATE ticketdesk.time_entry e
       SET period = tstzrange(lower(e.period), greatest(now(), lower(e.period) + interval '1 second')),
           note = coalesce(stop_timer.note, e.note)
     WHERE e.tenant_id = ticketdesk.current_tenant() AND e.agent_id = who AND upper_inf(e.period)
    RETURNING * INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'agent % has no running timer', who
            USING ERRCODE = 'TD564', HINT = 'Start one with ticketdesk.start_timer.';
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION stop_timer(bigint, text) IS 'Stops the agent''s running timer; returns the finished entry.';

-- Records a sitting after the fact (R11); returns the entry id.
CREATE FUNCTION record_time(ticket_id bigint, started timestamptz, stopped timestamptz,
                            work_type work_type DEFAULT 'normal', note text DEFAULT NULL,
                            agent_id bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE sql AS $$
    SELECT ticketdesk.add_time_entry(ticket_id, ticketdesk.require_period(started, stopped), work_type, note,
                                     agent_id, 'recording time')
$$;
COMMENT ON FUNCTION record_time(bigint, timestamptz, timestamptz, work_type, text, bigint) IS
    'Records a finished sitting after the fact (R11); returns the entry id.';

-- The requester confirms the ticket's time (R25): every finished entry not
-- yet confirmed. Returns how many entries were confirmed.
CREATE FUNCTION confirm_time(ticket_id bigint, confirmed_by text DEFAULT NULL) RETURNS integer
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    requester text;
    n         integer;
    total     integer;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    SELECT coalesce(confirmed_by, c.name, a.name, cu.name) INTO requester
      FROM ticketdesk.ticket k
      LEFT JOIN ticketdesk.contact c ON c.tenant_id = k.tenant_id AND c.contact_id = k.contact_id
      LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.requester_agent_id
      LEFT JOIN ticketdesk.customer cu ON cu.tenant_id = k.tenant_id AND cu.customer_id = k.customer_id
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = confirm_time.ticket_id;
    WITH done AS (
        UPDATE ticketdesk.time_entry e SET confirmed_at = now(), confirmed_by = requester
         WHERE e.tenant_id = ticketdesk.current_tenant() AND e.ticket_id = confirm_time.ticket_id
           AND e.confirmed_at IS NULL AND NOT upper_inf(e.period)
        RETURNING e.minutes)
    SELECT count(*), sum(minutes) INTO n, total FROM done;
    IF n > 0 THEN
        PERFORM ticketdesk.work_event(ticket_id, 'time_confirmed', NULL,
                                      format('%s entries, %s min', n, total), 'by ' || requester);
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION confirm_time(bigint, text) IS
    'The requester confirms the ticket''s finished time entries (R25); returns how many were confirmed.';

-- True when the agent manages the ticket: a dispatcher of its centre, or
-- the supervisor of its assignee (or of the given worker).
CREATE FUNCTION is_manager(ticket_id bigint, agent_id bigint, worker_id bigint DEFAULT NULL) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ticketdesk.ticket k
                     JOIN ticketdesk.center_member m
                       ON m.tenant_id = k.tenant_id AND m.center_id = k.center_id AND m.role = 'dispatcher'
                    WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = $1 AND m.agent_id = $2)
        OR EXISTS (SELECT 1 FROM ticketdesk.ticket k
                     JOIN ticketdesk.agent w ON w.tenant_id = k.tenant_id
                                            AND w.agent_id IN (k.assignee_id, $3)
                    WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = $1
                      AND w.supervisor_id = $2)
$$;
COMMENT ON FUNCTION is_manager(bigint, bigint, bigint) IS
    'True when the agent is a dispatcher of the ticket''s centre or the supervisor of its assignee (or of worker_id).';

-- Internal: refuses an agent who does not manage the ticket.
CREATE FUNCTION require_manager(ticket_id bigint, agent_id bigint, what text, worker_id bigint DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ticketdesk.is_manager(ticket_id, agent_id, worker_id) THEN
        RAISE EXCEPTION 'agent % is no manager of ticket %: only a manager may %', agent_id, ticket_id, what
            USING ERRCODE = 'TD572',
                  DETAIL = 'Only a dispatcher of the ticket''s centre or the supervisor of the agent who did the work may.',
                  HINT = 'Ask the dispatcher of the centre.';
    END IF;
END $$;

-- The dispatcher corrects a time entry (R25). The first values are kept on
-- the entry, and each correction goes into the ticket's history with the
-- old and the new value. Corrections are allowed on closed tickets.
CREATE FUNCTION correct_time(entry_id bigint, reason text, started timestamptz DEFAULT NULL,
                             stopped timestamptz DEFAULT NULL, work_type work_type DEFAULT NULL)
    RETURNS time_entry
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    who    bigint := ticketdesk.acting_agent(NULL, 'correcting time');
    old    ticketdesk.time_entry;
    result ticketdesk.time_entry;
BEGIN
    SELECT * INTO old FROM ticketdesk.time_entry e
     WHERE e.tenant_id = ticketdesk.current_tenant() AND e.entry_id = correct_time.entry_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'time entry % does not exist', entry_id
            USING ERRCODE = 'TD566', HINT = 'Check the entry id and the setting ticketdesk.tenant.';
    END IF;
    IF reason IS NULL OR reason !~ '\S' THEN
        RAISE EXCEPTION 'a correction of time needs a reason'
            USING ERRCODE = 'TD565', HINT = 'Say why the time is corrected; the reason is kept in the history.';
    END IF;
    PERFORM ticketdesk.require_manager(old.ticket_id, who, 'correct time', old.agent_id);
    IF started IS NOT NULL OR stopped IS NOT NULL THEN
        IF upper_inf(old.period) AND stopped IS NULL THEN
            RAISE EXCEPTION 'a running timer cannot be corrected'
                USING ERRCODE = 'TD560', HINT = 'Stop it first, or give the end.';
        END IF;
        PERFORM ticketdesk.require_period(coalesce(started, lower(old.period)), coalesce(stopped, upper(old.period)));
    END IF;
    UPDATE ticketdesk.time_entry e
       SET period = tstzrange(coalesce(started, lower(e.period)), coalesce(stopped, upper(e.period))),
           work_type = coalesce(correct_time.work_type, e.work_type),
           original_period = coalesce(e.original_period, e.period),
           original_type = coalesce(e.original_type, e.work_type),
           corrected_at = clock_timestamp(), corrected_by = who, correction_reason = reason
     WHERE e.tenant_id = old.tenant_id AND e.entry_id = old.entry_id
    RETURNING * INTO result;
    PERFORM ticketdesk.work_event(old.ticket_id, 'time_correction', ticketdesk.entry_text(old),
                                  ticketdesk.entry_text(result), reason);
    RETURN result;
END $$;
COMMENT ON FUNCTION correct_time(bigint, text, timestamptz, timestamptz, work_type) IS
    'The dispatcher corrects a time entry with a reason (R25); the original stays on the entry and in the history.';

-- Adds an item to a ticket's checklist by hand (R13); returns its id.
CREATE FUNCTION add_checklist_item(ticket_id bigint, title text, required boolean DEFAULT true) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result bigint;
BEGIN
    PERFORM ticketdesk.require('ticket', ticket_id);
    IF title IS NULL OR title !~ '\S' THEN
        RAISE EXCEPTION 'a checklist item needs a title'
            USING ERRCODE = 'TD568', HINT = 'Say what has to be done, e.g. "Pressure test".';
    END IF;
    INSERT INTO ticketdesk.checklist_item (tenant_id, ticket_id, position, title, required, added_by)
    SELECT ticketdesk.current_tenant(), ticket_id, coalesce(max(i.position), 0) + 1, title,
           coalesce(required, true), ticketdesk.current_agent()
      FROM ticketdesk.checklist_item i
     WHERE i.tenant_id = ticketdesk.current_tenant() AND i.ticket_id = add_checklist_item.ticket_id
    RETURNING item_id INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION add_checklist_item(bigint, text, boolean) IS
    'Adds an item to a ticket''s checklist (required unless told otherwise); returns its id.';

-- Ticks (or unticks) a checklist item.
CREATE FUNCTION check_item(item_id bigint, done boolean DEFAULT true) RETURNS checklist_item
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.checklist_item;
BEGIN
    UPDATE ticketdesk.checklist_item i
       SET done_at = CASE WHEN done THEN coalesce(i.done_at, now()) END,
           done_by = CASE WHEN done THEN coalesce(i.done_by, ticketdesk.current_agent()) END
     WHERE i.tenant_id = ticketdesk.current_tenant() AND i.item_id = check_item.item_id
    RETURNING * INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'checklist item % does not exist', item_id
            USING ERRCODE = 'TD567', HINT = 'Check the item id and the setting ticketdesk.tenant.';
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION check_item(bigint, boolean) IS 'Ticks a checklist item (done => false unticks it).';

-- Internal: the ticket, locked, or the "not found" error.
CREATE FUNCTION locked_ticket(ticket_id bigint) RETURNS ticket
    LANGUAGE plpgsql AS $$
DECLARE
    result ticketdesk.ticket;
BEGIN
    SELECT * INTO result FROM ticketdesk.ticket k
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = locked_ticket.ticket_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;

-- Internal: refuses a decision on a ticket that is not resolved, or by
-- someone who may not make it.
CREATE FUNCTION require_decider(k ticket, who bigint, what text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF k.status NOT IN ('resolved', 'confirmed', 'closed') THEN
        RAISE EXCEPTION 'ticket % is %: there is no resolution to %', k.reference, k.status, what
            USING ERRCODE = 'TD574', HINT = 'A manager decides on work once the ticket is resolved.';
    END IF;
    PERFORM ticketdesk.require_manager(k.ticket_id, who, what);
    IF (who = k.assignee_id OR EXISTS (SELECT 1 FROM ticketdesk.time_entry e
                                        WHERE e.tenant_id = k.tenant_id AND e.ticket_id = k.ticket_id
                                          AND e.agent_id = who))
       AND NOT (ticketdesk.work_settings()).allow_self_approval THEN
        RAISE EXCEPTION 'agent % worked on ticket % and may not % it', who, k.reference, what
            USING ERRCODE = 'TD573',
                  DETAIL = 'The setting work_setting.allow_self_approval forbids deciding on one''s own work.',
                  HINT = 'Another dispatcher or the supervisor decides.';
    END IF;
END $$;

-- A manager approves the resolved work (R13). Approving the same
-- resolution twice changes nothing. Returns the approval id.
CREATE FUNCTION approve(ticket_id bigint, note text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    who    bigint := ticketdesk.acting_agent(NULL, 'approving');
    k      ticketdesk.ticket := ticketdesk.locked_ticket(ticket_id);
    result bigint;
BEGIN
    PERFORM ticketdesk.require_decider(k, who, 'approve');
    SELECT a.approval_id INTO result FROM ticketdesk.approval a
     WHERE a.tenant_id = k.tenant_id AND a.ticket_id = k.ticket_id AND a.resolved_at = k.resolved_at
     ORDER BY a.approval_id DESC LIMIT 1;
    IF result IS NOT NULL AND ticketdesk.ticket_approved(k.tenant_id, k.ticket_id, k.resolved_at) THEN
        RETURN result;
    END IF;
    INSERT INTO ticketdesk.approval (tenant_id, ticket_id, resolved_at, decision, reason, decided_by)
    VALUES (k.tenant_id, k.ticket_id, k.resolved_at, 'approved', note, who)
    RETURNING approval_id INTO result;
    PERFORM ticketdesk.work_event(k.ticket_id, 'approval', k.status::text, 'approved', note);
    RETURN result;
END $$;
COMMENT ON FUNCTION approve(bigint, text) IS
    'A manager (dispatcher of the centre, or the assignee''s supervisor) approves the resolved work (R13).';

-- A manager sends the work back with a reason: the ticket is reopened.
CREATE FUNCTION send_back(ticket_id bigint, reason text) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    who bigint := ticketdesk.acting_agent(NULL, 'sending work back');
    k   ticketdesk.ticket := ticketdesk.locked_ticket(ticket_id);
BEGIN
    IF reason IS NULL OR reason !~ '\S' THEN
        RAISE EXCEPTION 'sending work back needs a reason'
            USING ERRCODE = 'TD576', HINT = 'Say what is missing; the assignee reads it in the history.';
    END IF;
    PERFORM ticketdesk.require_decider(k, who, 'send back');
    INSERT INTO ticketdesk.approval (tenant_id, ticket_id, resolved_at, decision, reason, decided_by)
    VALUES (k.tenant_id, k.ticket_id, k.resolved_at, 'sent_back', reason, who);
    RETURN ticketdesk.reopen(ticket_id, 'sent back: ' || reason);
END $$;
COMMENT ON FUNCTION send_back(bigint, text) IS
    'A manager sends resolved work back with a reason (R13): recorded, and the ticket is reopened.';

-- An administrator moves a ticket past its gates (open checklist items, a
-- missing approval). The bypass is recorded first: who, when, why, and what
-- was open; the lifecycle trigger lets this one move through.
CREATE FUNCTION override_gate(ticket_id bigint, status ticket_status, reason text,
                              resolution text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    k      ticketdesk.ticket := ticketdesk.locked_ticket(ticket_id);
    gate   record;
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    IF reason IS NULL OR reason !~ '\S' THEN
        RAISE EXCEPTION 'a gate bypass needs a reason'
            USING ERRCODE = 'TD576', HINT = 'Say why the gate is bypassed; the reason is recorded.';
    END IF;
    SELECT * INTO gate FROM ticketdesk.completion_gate_state(
        k.tenant_id, k.ticket_id, k.type_id, k.resolved_at, status,
        status IN ('resolved', 'confirmed', 'closed') AND k.status NOT IN ('resolved', 'confirmed', 'closed'),
        status = 'closed');
    IF cardinality(gate.open_items) = 0 AND NOT gate.approval_missing THEN
        RAISE EXCEPTION 'no gate stops ticket % from becoming %', k.reference, status
            USING ERRCODE = 'TD577',
                  DETAIL = 'No required checklist item is open and no approval is missing.',
                  HINT = format('Use the ordinary move, e.g. ticketdesk.move(%s, %L).', k.ticket_id, status);
    END IF;
    INSERT INTO ticketdesk.gate_bypass (tenant_id, ticket_id, from_status, to_status, reason,
                                        open_items, approval_missing, by_agent)
    VALUES (k.tenant_id, k.ticket_id, k.status, status, reason, gate.open_items, gate.approval_missing,
            ticketdesk.current_agent());
    PERFORM ticketdesk.work_event(k.ticket_id, 'gate_bypass', array_to_string(gate.open_items, '; '),
                                  status::text, reason);
    caller_note := ticketdesk.set_note(reason);
    UPDATE ticketdesk.ticket t
       SET status = override_gate.status, resolution = coalesce(override_gate.resolution, t.resolution)
     WHERE t.tenant_id = k.tenant_id AND t.ticket_id = k.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    RETURN result;
END $$;
COMMENT ON FUNCTION override_gate(bigint, ticket_status, text, text) IS
    'An administrator moves a ticket past open checklist items or a missing approval; the bypass is recorded (R13).';

-- The ticket's checklist, in order.
CREATE FUNCTION checklist(ticket_id bigint)
    RETURNS TABLE (item_id bigint, "position" integer, title text, required boolean, done boolean, done_by text)
    LANGUAGE sql STABLE AS $$
    SELECT i.item_id, i.position, i.title, i.required, i.done_at IS NOT NULL, a.name
      FROM ticketdesk.checklist_item i
      LEFT JOIN ticketdesk.agent a ON a.tenant_id = i.tenant_id AND a.agent_id = i.done_by
     WHERE i.tenant_id = ticketdesk.current_tenant() AND i.ticket_id = $1
     ORDER BY i.position, i.item_id
$$;
COMMENT ON FUNCTION checklist(bigint) IS 'A ticket''s checklist in order: title, required, done, by whom.';

-- Whether a ticket's work counts as completed: see view ticket_completion.
CREATE FUNCTION work_completed(k ticket) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT c.completed FROM ticketdesk.ticket_completion c
     WHERE c.tenant_id = k.tenant_id AND c.ticket_id = k.ticket_id
$$;
COMMENT ON FUNCTION work_completed(ticket) IS
    'True when the ticket is resolved, confirmed or closed and approved where its type requires approval.';
