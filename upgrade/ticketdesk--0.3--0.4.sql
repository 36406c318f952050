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
