-- SLA clocks, computed from the ticket history: the clock runs while the
-- ticket is new, assigned, acknowledged or in progress, and pauses while it
-- waits on the customer (or sits resolved). Nothing is stored, so a changed
-- target or priority recomputes the clock without losing the paused time.

-- The SLA target for a centre, type and priority: the most specific row.
CREATE FUNCTION sla_target_for(center_id bigint, type_id bigint, priority ticket_priority)
    RETURNS sla_target
    LANGUAGE sql STABLE AS $$
    SELECT s.* FROM ticketdesk.sla_target s
     WHERE s.tenant_id = ticketdesk.current_tenant()
       AND (s.center_id = $1 OR s.center_id IS NULL)
       AND (s.type_id = $2 OR s.type_id IS NULL)
       AND (s.priority = $3 OR s.priority IS NULL)
     ORDER BY s.center_id IS NULL, s.type_id IS NULL, s.priority IS NULL
     LIMIT 1
$$;
COMMENT ON FUNCTION sla_target_for(bigint, bigint, ticket_priority) IS
    'The SLA target that applies to a centre, type and priority (most specific first), or NULL.';

-- The instant a clock reaches target, given the closed running periods and
-- the start of the one still running (NULL when paused): NULL while paused
-- short of the target.
CREATE FUNCTION sla_reached_at(calendar_id bigint, periods tstzrange[], running_since timestamptz,
                               target interval) RETURNS timestamptz
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    p    tstzrange;
    used interval := '0';
    len  interval;
BEGIN
    FOREACH p IN ARRAY periods LOOP
        len := ticketdesk.business_between(calendar_id, lower(p), upper(p));
        IF used + len >= target THEN
            RETURN ticketdesk.business_add(calendar_id, lower(p), target - used);
        END IF;
        used := used + len;
    END LOOP;
    IF running_since IS NOT NULL THEN
        RETURN ticketdesk.business_add(calendar_id, running_since, target - used);
    END IF;
    RETURN NULL;
END $$;

-- The SLA clocks of one ticket as of a moment (no row when no target applies).
CREATE FUNCTION ticket_sla(ticket_id bigint, as_of timestamptz DEFAULT now())
    RETURNS TABLE (calendar_id bigint,
                   response_target interval, response_due timestamptz, responded_at timestamptz,
                   response_state text,
                   resolution_target interval, resolution_due timestamptz,
                   elapsed interval, remaining interval, resolution_state text)
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t        integer := ticketdesk.current_tenant();
    k        ticketdesk.ticket;
    target   ticketdesk.sla_target;
    e        record;
    periods  tstzrange[] := '{}';
    since    timestamptz;
    runs     boolean;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x WHERE x.tenant_id = t AND x.ticket_id = ticket_sla.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_sla.ticket_id);
    END IF;
    target := ticketdesk.sla_target_for(k.center_id, k.type_id, k.priority);
    IF target.sla_target_id IS NULL THEN
        RETURN;
    END IF;

    -- Running periods from the status history up to as_of.
    since := k.created_at;
    runs := true;
    FOR e IN SELECT v.at, v.new_value::ticketdesk.ticket_status AS status FROM ticketdesk.ticket_event v
              WHERE v.tenant_id = t AND v.ticket_id = k.ticket_id AND v.kind = 'status' AND v.at <= as_of
              ORDER BY v.at, v.event_id LOOP
        IF runs AND e.status NOT IN ('new', 'assigned', 'acknowledged', 'in_progress') THEN
            periods := periods || tstzrange(since, greatest(since, e.at));
            runs := false;
        ELSIF NOT runs AND e.status IN ('new', 'assigned', 'acknowledged', 'in_progress') THEN
            since := e.at;
            runs := true;
        END IF;
    END LOOP;

    calendar_id := ticketdesk.calendar_of_center(k.center_id);
    response_target := target.first_response;
    resolution_target := target.resolution;

    -- First response: the first acknowledgement or later status, or the
    -- first public remark by an agent who is not the requester.
    SELECT min(x.at) INTO responded_at FROM (
        SELECT v.at FROM ticketdesk.ticket_event v
         WHERE v.tenant_id = t AND v.ticket_id = k.ticket_id AND v.kind = 'status'
           AND v.new_value IN ('acknowledged', 'in_progress', 'waiting', 'resolved') AND v.at <= as_of
        UNION ALL
        SELECT m.created_at FROM ticketdesk.message m
         WHERE m.tenant_id = t AND m.ticket_id = k.ticket_id AND NOT m.internal
           AND m.author_agent_id IS NOT NULL AND m.author_agent_id IS DISTINCT FROM k.requester_agent_id
           AND m.created_at <= as_of) x;
    response_due := ticketdesk.sla_reached_at(calendar_id, periods, CASE WHEN runs THEN since END,
                                              target.first_response);
    response_state := CASE
        WHEN responded_at IS NOT NULL AND (response_due IS NULL OR responded_at <= response_due) THEN 'met'
        WHEN responded_at IS NOT NULL THEN 'missed'
        WHEN response_due <= as_of THEN 'breached'
        WHEN NOT runs THEN 'paused'
        ELSE 'running' END;

    SELECT coalesce(sum(ticketdesk.business_between(calendar_id, lower(p), upper(p))), '0')
      INTO elapsed FROM unnest(periods) p;
    IF runs THEN
        elapsed := elapsed + ticketdesk.business_between(calendar_id, since, greatest(since, as_of));
    END IF;
    resolution_due := ticketdesk.sla_reached_at(calendar_id, periods, CASE WHEN runs THEN since END,
                                                target.resolution);
    remaining := target.resolution - elapsed;
    resolution_state := CASE
        WHEN elapsed >= target.resolution THEN 'breached'
        WHEN NOT runs THEN 'paused'
        ELSE 'running' END;
    RETURN NEXT;
END $$;
COMMENT ON FUNCTION ticket_sla(bigint, timestamptz) IS
    'SLA clocks of a ticket as of a moment: deadlines, elapsed and remaining business time, breach state.';

-- The SLA clocks of every open ticket of the tenant.
CREATE FUNCTION sla_clocks(as_of timestamptz DEFAULT now())
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
COMMENT ON FUNCTION sla_clocks(timestamptz) IS
    'Deadlines, remaining business time and breach state of every open ticket with an SLA target.';

CREATE VIEW sla_status AS SELECT * FROM sla_clocks(now());
COMMENT ON VIEW sla_status IS 'The SLA clocks of the open tickets now (sla_clocks(now())).';
