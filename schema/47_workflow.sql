-- Workflows and what routing needs to know about agents: their stages and
-- profiles (R39), absences, working hours, load caps and load counters, and
-- each tenant's administrator (R03, R45). doc/routing.md explains the design.

-- An organisational process: an ordered list of stages (R39).
CREATE TABLE workflow (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    workflow_id bigserial,
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    PRIMARY KEY (tenant_id, workflow_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE workflow IS 'Organisational processes (R39): ordered stages, each handled by a profile.';

-- One stage of a workflow. Positions run 1, 2, ... n without gaps or
-- repeats; a deferred check says so at commit (TD520, TD521), so stages can
-- be renumbered inside a transaction. A stage without a profile goes to the
-- dispatcher queue (R45).
CREATE TABLE workflow_stage (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    stage_id    bigserial,
    workflow_id bigint NOT NULL,
    position    smallint NOT NULL CHECK (position >= 1),
    name        text NOT NULL CHECK (name ~ '\S'),
    profile_id  bigint,
    PRIMARY KEY (tenant_id, stage_id),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflow ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, profile_id) REFERENCES profile
);
CREATE INDEX workflow_stage_position_idx ON workflow_stage (tenant_id, workflow_id, position);
COMMENT ON TABLE workflow_stage IS 'Stages of a workflow, numbered from 1; profile_id NULL sends the stage to the dispatcher queue.';

ALTER TABLE ticket_type
    ADD CONSTRAINT ticket_type_workflow_fkey FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflow;

-- Refuses a workflow whose stage positions are not exactly 1..n.
CREATE FUNCTION check_workflow_stages() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    t        integer := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
    w        bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.workflow_id ELSE NEW.workflow_id END;
    w_code   text;
    repeated smallint;
    n        integer;
    top      integer;
BEGIN
    SELECT x.code INTO w_code FROM ticketdesk.workflow x WHERE x.tenant_id = t AND x.workflow_id = w;
    IF NOT FOUND THEN
        RETURN NULL;            -- the workflow itself was deleted
    END IF;
    SELECT s.position INTO repeated FROM ticketdesk.workflow_stage s
     WHERE s.tenant_id = t AND s.workflow_id = w
     GROUP BY s.position HAVING count(*) > 1 ORDER BY s.position LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'workflow "%" has two stages at position %', w_code, repeated
            USING ERRCODE = 'TD520',
                  DETAIL = 'Each stage of a workflow has a position of its own.',
                  HINT = 'Number the stages 1, 2, 3, ... in the order they are worked.';
    END IF;
    SELECT count(*), coalesce(max(s.position), 0) INTO n, top FROM ticketdesk.workflow_stage s
     WHERE s.tenant_id = t AND s.workflow_id = w;
    IF n = 0 OR top <> n THEN
        RAISE EXCEPTION 'workflow "%" has missing stage positions', w_code
            USING ERRCODE = 'TD521',
                  DETAIL = CASE WHEN n = 0 THEN 'It has no stages.'
                                ELSE format('It has %s stages, numbered up to %s.', n, top) END,
                  HINT = 'Number the stages 1, 2, 3, ... without gaps.';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER workflow_stages_numbered AFTER INSERT OR UPDATE OR DELETE ON workflow_stage
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_workflow_stages();
CREATE CONSTRAINT TRIGGER workflow_has_stages AFTER INSERT ON workflow
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_workflow_stages();

-- Per-tenant routing policy: who gets a ticket that no dispatcher can take
-- (R03, R45), and whether loads are weighted by priority.
CREATE TABLE routing_policy (
    tenant_id         integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    admin_agent_id    bigint,
    weigh_by_priority boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id),
    FOREIGN KEY (tenant_id, admin_agent_id) REFERENCES agent
);
COMMENT ON TABLE routing_policy IS
    'Per tenant: the administrator who takes tickets no dispatcher can, and whether loads weigh priority.';

-- The load counters (R43), one row per agent, kept by the ticket trigger
-- ticket_load: never counted on a routing call. Routing locks the rows of
-- its candidates, so two routings never read the same stale load.
-- Nearly every move updates a row here, and each update prunes its page of
-- the versions before it, a pass over every row of the page: at fill
-- factor 10 a page holds about ten agents, not a hundred (a status change
-- of an in-progress ticket cost 20,000 instructions less; doc/benchmarks.md,
-- "Session 11: the status transition").
CREATE TABLE agent_load (
    tenant_id        integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    agent_id         bigint NOT NULL,
    open_tickets     load_count NOT NULL DEFAULT 0,
    weighted_load    load_count NOT NULL DEFAULT 0,
    load_cap         load_count,
    last_assigned_at timestamptz,
    PRIMARY KEY (tenant_id, agent_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent ON DELETE CASCADE
) WITH (fillfactor = 10);
COMMENT ON TABLE agent_load IS
    'Per agent: tickets held in a working status (assigned, acknowledged, in progress), their priority-weighted sum, the optional cap, the last assignment.';

-- Every agent has a load row from the start, so routing can lock it.
CREATE FUNCTION agent_load_row() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticketdesk.agent_load (tenant_id, agent_id) VALUES (NEW.tenant_id, NEW.agent_id)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER agent_load_row AFTER INSERT ON agent
    FOR EACH ROW EXECUTE FUNCTION agent_load_row();

-- A recorded absence: holiday, sick leave, training (Odoo's time off).
CREATE TABLE agent_absence (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    absence_id  bigserial,
    agent_id    bigint NOT NULL,
    during      tstzrange NOT NULL CHECK (NOT isempty(during)),
    reason      text,
    PRIMARY KEY (tenant_id, absence_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent ON DELETE CASCADE
);
CREATE INDEX agent_absence_agent_idx ON agent_absence (tenant_id, agent_id);
COMMENT ON TABLE agent_absence IS 'Absences: routing skips an agent while one covers the moment of routing.';

-- Working hours: an agent with any rows works only inside them (weekday 1 =
-- Monday, ISO), in their own time zone. An agent without rows is always on.
CREATE TABLE agent_hours (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    hours_id    bigserial,
    agent_id    bigint NOT NULL,
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts      time NOT NULL,
    ends        time NOT NULL CHECK (ends > starts),
    time_zone   text NOT NULL DEFAULT 'UTC',
    PRIMARY KEY (tenant_id, hours_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent ON DELETE CASCADE
);
CREATE INDEX agent_hours_agent_idx ON agent_hours (tenant_id, agent_id);
COMMENT ON TABLE agent_hours IS 'Working hours per ISO weekday in a time zone; agents without rows are always available.';

-- A change to an agent's availability updates their load row (a new row
-- version, the counters unchanged), like a routing locks it: a routing
-- under way finishes first, and one that started earlier or later sees the
-- new row version and reads availability again (doc/routing.md,
-- "Concurrency").
CREATE FUNCTION lock_agent_load() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE ticketdesk.agent_load l SET load_cap = l.load_cap
         WHERE l.tenant_id = OLD.tenant_id AND l.agent_id = OLD.agent_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE ticketdesk.agent_load l SET load_cap = l.load_cap
         WHERE l.tenant_id = NEW.tenant_id AND l.agent_id = NEW.agent_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER agent_absence_lock AFTER INSERT OR UPDATE OR DELETE ON agent_absence
    FOR EACH ROW EXECUTE FUNCTION lock_agent_load();
CREATE TRIGGER agent_hours_lock AFTER INSERT OR UPDATE OR DELETE ON agent_hours
    FOR EACH ROW EXECUTE FUNCTION lock_agent_load();
