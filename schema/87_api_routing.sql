-- Routing: the load trigger, workflows, finishing a stage (R39-R45), and
-- the upkeep of the load counters. The assignment itself is in C
-- (src/routing.c), called by the lifecycle trigger; doc/routing.md.

-- The weight of a priority in a weighted load: low 1, normal 2, high 3, urgent 4.
CREATE FUNCTION priority_weight(ticket_priority) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE $1 WHEN 'low' THEN 1 WHEN 'normal' THEN 2 WHEN 'high' THEN 3 ELSE 4 END
$$;
COMMENT ON FUNCTION priority_weight(ticket_priority) IS
    'The weight of a priority in agent_load.weighted_load: low 1, normal 2, high 3, urgent 4.';

-- AFTER INSERT OR UPDATE: keeps agent_load true and records the routing
-- reason. No WHEN clause: PostgreSQL 15 parses a trigger's WHEN again for
-- every statement, and the function itself returns at once when the
-- ticket's share of load did not move.
CREATE FUNCTION ticket_load() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_ticket_load';
CREATE TRIGGER ticket_load AFTER INSERT ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_load();
CREATE TRIGGER ticket_load_update AFTER UPDATE ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_load();

-- Routing caches, per backend, who holds which profile where (src/holders.c)
-- and what it reads of the configuration: a type's workflow stages, the
-- centres' dispatchers, the tenant's administrator (src/route_config.c).
-- Any change to these tables empties every backend's caches.
CREATE FUNCTION holders_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_holders_changed';
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agent
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agent_profile
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON center_member
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON center
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ticket_type
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workflow_stage
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON profile
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_policy
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
-- The references an opening names are cached too (src/opening_refs.c): the
-- tenant, the centre and the ticket type above, and the category.
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON category
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
-- And which types have no checklist template (src/checklist_copy.c).
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON checklist_template
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
-- And the tenant's channel policies, read for the requester's message of
-- every opening (src/notify_requester.c).
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON notify_policy
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();

-- Customer affinity looks up, per candidate, their latest ticket of the
-- customer; the same index finds a customer's tickets (the foreign key's
-- look-ups among them), so ticket has no separate index on customer_id.
CREATE INDEX ticket_customer_handler_idx ON ticket (tenant_id, customer_id, assignee_id, assigned_at);

-- Creates a workflow from the profile codes of its stages, in order; a NULL
-- code is a stage without a profile (it goes to the dispatcher queue).
CREATE FUNCTION create_workflow(code text, name text, stage_profiles text[],
                                stage_names text[] DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t       integer := ticketdesk.current_tenant();
    result  bigint;
    unknown text;
BEGIN
    IF coalesce(cardinality(stage_profiles), 0) = 0 THEN
        RAISE EXCEPTION 'workflow "%" has missing stage positions', code
            USING ERRCODE = 'TD521', DETAIL = 'It has no stages.',
                  HINT = 'Pass the profile code of each stage, in order (NULL for a stage without a profile).';
    END IF;
    SELECT s.p INTO unknown FROM unnest(stage_profiles) AS s(p)
     WHERE s.p IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.profile x WHERE x.tenant_id = t AND x.code = s.p)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'profile "%" does not exist', unknown
            USING ERRCODE = 'TD528',
                  DETAIL = format('Tenant %s has no profile with this code.', t),
                  HINT = 'Create the profile first, or pass NULL for a stage without a profile.';
    END IF;
    INSERT INTO ticketdesk.workflow (tenant_id, code, name) VALUES (t, code, name)
        RETURNING workflow_id INTO result;
    INSERT INTO ticketdesk.workflow_stage (tenant_id, workflow_id, position, name, profile_id)
    SELECT t, result, s.n, coalesce(stage_names[s.n], p.name, format('Stage %s', s.n)), p.profile_id
      FROM unnest(stage_profiles) WITH ORDINALITY AS s(code, n)
      LEFT JOIN ticketdesk.profile p ON p.tenant_id = t AND p.code = s.code;
    RETURN result;
END $$;
COMMENT ON FUNCTION create_workflow(text, text, text[], text[]) IS
    'Creates a workflow whose stages are handled by the given profiles, in order (R39); returns its id.';

-- Finishes the ticket's current stage (R42). Not at the last stage: with
-- next_agent_id the named agent gets the next stage, without it the ticket
-- is routed automatically to the next stage's profile. At the last stage a
-- resolution text resolves the ticket.
CREATE FUNCTION advance(ticket_id bigint, next_agent_id bigint DEFAULT NULL,
                        resolution text DEFAULT NULL, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t           integer := ticketdesk.current_tenant();
    current     ticketdesk.ticket;
    wf          bigint;
    last_stage  integer;
    result      ticketdesk.ticket;
    caller_note text;
BEGIN
    SELECT * INTO current FROM ticketdesk.ticket k
     WHERE k.tenant_id = t AND k.ticket_id = advance.ticket_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    SELECT tt.workflow_id INTO wf FROM ticketdesk.ticket_type tt
     WHERE tt.tenant_id = t AND tt.type_id = current.type_id;
    IF wf IS NULL THEN
        RAISE EXCEPTION 'ticket % follows no workflow', current.reference
            USING ERRCODE = 'TD524',
                  DETAIL = 'Its ticket type has no workflow, so it has no stages to finish.',
                  HINT = 'Use assign, resolve and the other moves, or give the ticket type a workflow.';
    END IF;
    IF current.status IN ('resolved', 'confirmed', 'closed', 'cancelled') THEN
        RAISE EXCEPTION 'ticket % is %: it has no stage to finish', current.reference, current.status
            USING ERRCODE = 'TD525',
                  HINT = 'Reopen the ticket first.';
    END IF;
    SELECT max(s.position) INTO last_stage FROM ticketdesk.workflow_stage s
     WHERE s.tenant_id = t AND s.workflow_id = wf;

    caller_note := ticketdesk.set_note(note);
    IF coalesce(current.stage, 1) >= last_stage THEN
        IF resolution IS NULL OR resolution !~ '\S' THEN
            RAISE EXCEPTION 'ticket % is at the last stage of its workflow', current.reference
                USING ERRCODE = 'TD522',
                      DETAIL = format('Stage %s of %s has no next stage to %s.', coalesce(current.stage, 1), last_stage,
                                      CASE WHEN next_agent_id IS NULL THEN 'route automatically'
                                           ELSE 'hand to another agent' END),
                      HINT = 'Finish the last stage with a resolution text: advance(ticket_id, resolution => ''...'').';
        END IF;
        IF next_agent_id IS NOT NULL THEN
            RAISE EXCEPTION 'ticket % is at the last stage of its workflow', current.reference
                USING ERRCODE = 'TD522',
                      DETAIL = 'Finishing the last stage resolves the ticket; there is no next handler.',
                      HINT = 'Leave next_agent_id out, or reassign the ticket with assign.';
        END IF;
        UPDATE ticketdesk.ticket k SET status = 'resolved', resolution = advance.resolution
         WHERE k.tenant_id = t AND k.ticket_id = current.ticket_id
        RETURNING * INTO result;
    ELSE
        IF resolution IS NOT NULL THEN
            RAISE EXCEPTION 'ticket % is not at the last stage of its workflow', current.reference
                USING ERRCODE = 'TD523',
                      DETAIL = format('It is at stage %s of %s; a resolution finishes only the last one.',
                                      coalesce(current.stage, 1), last_stage),
                      HINT = 'Leave resolution out to hand the ticket to the next stage, or use resolve.';
        END IF;
        IF next_agent_id IS NOT NULL THEN
            PERFORM ticketdesk.require_routable_agent(next_agent_id, current.center_id);
            UPDATE ticketdesk.ticket k
               SET stage = coalesce(k.stage, 1) + 1, assignee_id = next_agent_id, status = 'assigned'
             WHERE k.tenant_id = t AND k.ticket_id = current.ticket_id
            RETURNING * INTO result;
        ELSE
            -- No assignee named: the lifecycle trigger routes to the next stage's profile.
            UPDATE ticketdesk.ticket k
               SET stage = coalesce(k.stage, 1) + 1, assignee_id = NULL, status = 'new'
             WHERE k.tenant_id = t AND k.ticket_id = current.ticket_id
            RETURNING * INTO result;
        END IF;
    END IF;
    PERFORM ticketdesk.set_note(caller_note);
    RETURN result;
END $$;
COMMENT ON FUNCTION advance(bigint, bigint, text, text) IS
    'Finishes the current stage (R42): to the named agent, or routed automatically; at the last stage a resolution resolves the ticket.';

-- Refuses a hand-over to an agent of another tenant, or one who works in
-- neither the ticket's centre nor one above it.
CREATE FUNCTION require_routable_agent(agent_id bigint, center_id bigint) RETURNS void
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t integer := ticketdesk.current_tenant();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ticketdesk.agent a WHERE a.tenant_id = t AND a.agent_id = agent_id)
       AND EXISTS (SELECT 1 FROM ticketdesk.agent a WHERE a.agent_id = agent_id) THEN
        RAISE EXCEPTION 'agent % belongs to another tenant', agent_id
            USING ERRCODE = 'TD526',
                  DETAIL = format('Tickets of tenant %s can be routed only to its own agents.', t),
                  HINT = 'Name an agent of the current tenant.';
    END IF;
    PERFORM ticketdesk.require('agent', agent_id);
    IF NOT EXISTS (
        WITH RECURSIVE up(center_id, parent_id) AS (
            SELECT c.center_id, c.parent_id FROM ticketdesk.center c WHERE c.tenant_id = t AND c.center_id = center_id
            UNION
            SELECT c.center_id, c.parent_id FROM ticketdesk.center c JOIN up ON c.tenant_id = t AND c.center_id = up.parent_id)
        SELECT 1 FROM ticketdesk.center_member m
         WHERE m.tenant_id = t AND m.agent_id = agent_id AND m.center_id IN (SELECT up.center_id FROM up)) THEN
        RAISE EXCEPTION 'agent % does not work in centre %', agent_id, center_id
            USING ERRCODE = 'TD527',
                  DETAIL = 'Only members of the ticket''s centre, or of a centre above it, can take its stages.',
                  HINT = 'Name a member of the centre, or redirect the ticket to the agent''s centre first.';
    END IF;
END $$;
COMMENT ON FUNCTION require_routable_agent(bigint, bigint) IS
    'Internal: refuses an agent of another tenant (TD526) or outside the centre''s tree (TD527).';

-- Who could take the ticket's current stage now, and why not: the
-- dispatcher's view before assigning by hand (R50). Reads the counters;
-- locks nothing.
CREATE FUNCTION stage_candidates(ticket_id bigint)
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
COMMENT ON FUNCTION stage_candidates(bigint) IS
    'The holders of the current stage''s profile in the ticket''s centre tree, with load and availability (R50).';

-- Recounts every agent's load from the tickets and corrects the counters
-- that differ; returns how many were corrected. For use after a restore
-- without triggers, a TRUNCATE or a bulk load with session_replication_role
-- = replica; routings running meanwhile wait on the locked rows.
CREATE FUNCTION rebuild_loads() RETURNS integer
    LANGUAGE sql AS $$
    WITH truth AS (
        SELECT a.tenant_id, a.agent_id, count(k.ticket_id)::integer AS n,
               coalesce(sum(ticketdesk.priority_weight(k.priority)), 0)::integer AS w
          FROM ticketdesk.agent a
          LEFT JOIN ticketdesk.ticket k
                 ON k.tenant_id = a.tenant_id AND k.assignee_id = a.agent_id
                AND k.status IN ('assigned', 'acknowledged', 'in_progress')
         WHERE a.tenant_id = ticketdesk.current_tenant()
         GROUP BY a.tenant_id, a.agent_id),
    fixed AS (
        INSERT INTO ticketdesk.agent_load AS l (tenant_id, agent_id, open_tickets, weighted_load)
        SELECT tenant_id, agent_id, n, w FROM truth
        ON CONFLICT (tenant_id, agent_id) DO UPDATE
           SET open_tickets = excluded.open_tickets, weighted_load = excluded.weighted_load
         WHERE l.open_tickets <> excluded.open_tickets OR l.weighted_load <> excluded.weighted_load
        RETURNING 1)
    SELECT count(*)::integer FROM fixed
$$;
COMMENT ON FUNCTION rebuild_loads() IS
    'Recounts the current tenant''s agent loads from the tickets and corrects the counters; returns how many changed.';
