-- Work time (R11, R25): time entries per sitting, their confirmation by the
-- requester and correction by the dispatcher, and the per-tenant settings of
-- time accounting and billing.

-- The kinds of work a time entry records; each can have its own rate.
CREATE TYPE work_type AS ENUM ('normal', 'travel', 'after_hours');

-- A tenant's settings for approval, rounding and billing. A tenant without a
-- row uses the column defaults (work_settings() returns them).
CREATE TABLE work_setting (
    tenant_id           integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    -- Billed minutes of an entry: rounded up to a multiple of this ...
    rounding_minutes    integer NOT NULL DEFAULT 1 CHECK (rounding_minutes BETWEEN 1 AND 1440),
    -- ... and never less than this.
    minimum_minutes     integer NOT NULL DEFAULT 0 CHECK (minimum_minutes BETWEEN 0 AND 1440),
    -- May an agent approve a ticket they worked on (R13)?
    allow_self_approval boolean NOT NULL DEFAULT false,
    currency            text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE work_setting IS
    'Per-tenant settings of time accounting and billing: rounding, minimum increment, self-approval, currency.';

-- One sitting of one agent on one ticket (R11). A running timer has no end
-- yet: its period is [start, infinity).
CREATE TABLE time_entry (
    tenant_id         integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    entry_id          bigserial,
    ticket_id         bigint NOT NULL,
    agent_id          bigint NOT NULL,
    work_type         work_type NOT NULL DEFAULT 'normal',
    period            tstzrange NOT NULL,
    note              text,
    -- Whole minutes of a finished entry; null while the timer runs.
    minutes           integer GENERATED ALWAYS AS (
                          CASE WHEN NOT upper_inf(period)
                               THEN round(extract(epoch FROM upper(period) - lower(period)) / 60)::integer
                          END) STORED,
    -- The requester's confirmation (R25).
    confirmed_at      timestamptz,
    confirmed_by      text,
    -- The dispatcher's correction (R25): the first recorded values are kept
    -- here, every correction is also in the ticket's history.
    original_period   tstzrange,
    original_type     work_type,
    corrected_at      timestamptz,
    corrected_by      bigint,
    correction_reason text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, entry_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, corrected_by) REFERENCES agent,
    CHECK (NOT isempty(period) AND NOT lower_inf(period)),
    -- One agent cannot be in two places at once: no two periods of the same
    -- agent overlap, a running timer included. This is the mechanism that
    -- holds under concurrency; the trigger below only explains refusals.
    CONSTRAINT time_entry_no_overlap EXCLUDE USING gist (
        int4range(tenant_id, tenant_id, '[]') WITH =,
        int8range(agent_id, agent_id, '[]') WITH =,
        period WITH &&)
);
CREATE INDEX time_entry_ticket_idx ON time_entry (tenant_id, ticket_id);
CREATE INDEX time_entry_running_idx ON time_entry (tenant_id, agent_id) WHERE upper_inf(period);
COMMENT ON TABLE time_entry IS
    'Time per sitting (R11): timers and after-the-fact periods, confirmed by the requester, corrected by the dispatcher (R25).';

-- The period of an entry in words, for the history and the act.
CREATE FUNCTION period_text(period tstzrange) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT to_char(lower(period), 'YYYY-MM-DD HH24:MI') || ' - ' ||
           CASE WHEN upper_inf(period) THEN '…'
                WHEN lower(period)::date = upper(period)::date THEN to_char(upper(period), 'HH24:MI')
                ELSE to_char(upper(period), 'YYYY-MM-DD HH24:MI') END
$$;
COMMENT ON FUNCTION period_text(tstzrange) IS
    'A period as "YYYY-MM-DD HH:MI - HH:MI" in the session time zone.';

-- Refuses bad periods, time on finished tickets and overlaps, whichever way
-- the row arrives (API or plain SQL), each with its own SQLSTATE.
CREATE FUNCTION time_entry_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ticket_status ticketdesk.ticket_status;
    ticket_ref    text;
    other         ticketdesk.time_entry;
BEGIN
    IF NEW.period IS NULL OR lower_inf(NEW.period) OR isempty(NEW.period) THEN
        RAISE EXCEPTION 'a time entry must end after it starts'
            USING ERRCODE = 'TD560',
                  DETAIL = format('The period is %s.', coalesce(NEW.period::text, 'missing')),
                  HINT = 'Give the start and then a later end; a running timer has no end yet.';
    END IF;

    SELECT k.status, k.reference INTO ticket_status, ticket_ref FROM ticketdesk.ticket k
     WHERE k.tenant_id = NEW.tenant_id AND k.ticket_id = NEW.ticket_id;
    -- Time is recorded on live tickets. A correction (corrected_at changes)
    -- and stopping a running timer stay possible afterwards.
    -- Confirming or billing an entry changes none of its time.
    IF ticket_status IN ('closed', 'cancelled')
       AND (TG_OP = 'INSERT'
            OR ((NEW.period, NEW.work_type, NEW.ticket_id, NEW.agent_id)
                    IS DISTINCT FROM (OLD.period, OLD.work_type, OLD.ticket_id, OLD.agent_id)
                AND NEW.corrected_at IS NOT DISTINCT FROM OLD.corrected_at
                AND NOT (upper_inf(OLD.period) AND lower(OLD.period) = lower(NEW.period)
                         AND NEW.work_type = OLD.work_type))) THEN
        RAISE EXCEPTION 'ticket % is %: no more time can be recorded on it', ticket_ref, ticket_status
            USING ERRCODE = 'TD562',
                  DETAIL = format('Entry period %s, agent %s.', ticketdesk.period_text(NEW.period), NEW.agent_id),
                  HINT = 'Reopen the ticket, or have the dispatcher correct an existing entry with ticketdesk.correct_time.';
    END IF;

    IF TG_OP = 'INSERT' OR NEW.period IS DISTINCT FROM OLD.period OR NEW.agent_id IS DISTINCT FROM OLD.agent_id THEN
        -- Written as the exclusion constraint's expressions, so its index serves it.
        SELECT * INTO other FROM ticketdesk.time_entry e
         WHERE int4range(e.tenant_id, e.tenant_id, '[]') = int4range(NEW.tenant_id, NEW.tenant_id, '[]')
           AND int8range(e.agent_id, e.agent_id, '[]') = int8range(NEW.agent_id, NEW.agent_id, '[]')
           AND e.period && NEW.period AND e.tenant_id = NEW.tenant_id
           AND e.entry_id IS DISTINCT FROM NEW.entry_id
         ORDER BY lower(e.period) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'agent % already has time recorded in this period', NEW.agent_id
                USING ERRCODE = 'TD561',
                      DETAIL = format('The period %s overlaps entry %s (%s%s) on ticket %s.',
                                      ticketdesk.period_text(NEW.period), other.entry_id,
                                      ticketdesk.period_text(other.period),
                                      CASE WHEN upper_inf(other.period) THEN ', a running timer' ELSE '' END,
                                      other.ticket_id),
                      HINT = 'Stop the running timer first, or record a period that does not overlap.';
        END IF;
    END IF;
    RETURN NEW;
END $$;
-- Confirming and billing (updates of other columns) do not fire it.
CREATE TRIGGER time_entry_check BEFORE INSERT OR UPDATE OF period, work_type, ticket_id, agent_id ON time_entry
    FOR EACH ROW EXECUTE FUNCTION time_entry_check();

-- Time per ticket: finished minutes, confirmed minutes, running timers.
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

-- Time per agent, month (of the entry's start) and work type.
CREATE VIEW time_by_agent WITH (security_invoker = true) AS
SELECT e.tenant_id, e.agent_id, a.name AS agent, date_trunc('month', lower(e.period))::date AS month,
       e.work_type, count(*) AS entries, sum(e.minutes) AS minutes
  FROM time_entry e
  JOIN agent a ON a.tenant_id = e.tenant_id AND a.agent_id = e.agent_id
 WHERE e.tenant_id = current_tenant() AND e.minutes IS NOT NULL
 GROUP BY e.tenant_id, e.agent_id, a.name, 4, e.work_type;
COMMENT ON VIEW time_by_agent IS 'Finished time per agent, month and work type.';

-- Time per customer, month and work type.
CREATE VIEW time_by_customer WITH (security_invoker = true) AS
SELECT e.tenant_id, k.customer_id, c.name AS customer, date_trunc('month', lower(e.period))::date AS month,
       e.work_type, count(DISTINCT e.ticket_id) AS tickets, count(*) AS entries, sum(e.minutes) AS minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.confirmed_at IS NOT NULL), 0) AS confirmed_minutes
  FROM time_entry e
  JOIN ticket k ON k.tenant_id = e.tenant_id AND k.ticket_id = e.ticket_id
  LEFT JOIN customer c ON c.tenant_id = k.tenant_id AND c.customer_id = k.customer_id
 WHERE e.tenant_id = current_tenant() AND e.minutes IS NOT NULL
 GROUP BY e.tenant_id, k.customer_id, c.name, 4, e.work_type;
COMMENT ON VIEW time_by_customer IS 'Finished time per customer, month and work type (customer null: internal requesters).';
