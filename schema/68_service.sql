-- Service contracts: recurring maintenance (R54), expanded with libical.

-- The occurrences of an iCalendar RRULE in [from_at, until_at], at most
-- max_count, expanded in the named zone from dtstart (local wall-clock time).
CREATE FUNCTION recurrence_occurrences(rrule text, dtstart timestamp, time_zone text,
                                       from_at timestamptz, until_at timestamptz,
                                       max_count integer DEFAULT 1000) RETURNS timestamptz[]
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_recurrence_occurrences';
COMMENT ON FUNCTION recurrence_occurrences(text, timestamp, text, timestamptz, timestamptz, integer) IS
    'Occurrences of an RRULE (libical) in [from_at, until_at], expanded in time_zone from the local dtstart.';

-- Checks a rule and returns the shortest gap between consecutive occurrences
-- among its first 120 (NULL when it has fewer than two).
CREATE FUNCTION recurrence_shortest_gap(rrule text, dtstart timestamp, time_zone text) RETURNS interval
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_recurrence_shortest_gap';
COMMENT ON FUNCTION recurrence_shortest_gap(text, timestamp, text) IS
    'Validates an RRULE (TD615, TD616) and returns the shortest gap between its first occurrences.';

-- A service contract: a customer or a site gets a ticket of type
-- scheduled_service lead_days before each occurrence of the rule.
CREATE TABLE service_contract (
    tenant_id       integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    contract_id     bigserial,
    customer_id     bigint,
    site_id         bigint,
    contact_id      bigint,
    -- The ticket template.
    center_id       bigint NOT NULL,
    category_id     bigint,
    assignee_id     bigint,
    subject         text NOT NULL CHECK (subject ~ '\S'),
    description     text,
    duration        interval NOT NULL DEFAULT '2 hours',   -- the planned period of each visit
    -- The recurrence: RRULE from dtstart, local time in time_zone.
    rrule           text NOT NULL,
    dtstart         timestamp NOT NULL,
    time_zone       text NOT NULL DEFAULT 'UTC',
    lead_days       integer NOT NULL DEFAULT 0,
    active          boolean NOT NULL DEFAULT true,
    -- Kept by the job: the next occurrence without a ticket, and when it is due.
    next_occurrence timestamptz,
    next_due_at     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contract_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer,
    FOREIGN KEY (tenant_id, site_id) REFERENCES site,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, category_id) REFERENCES category,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES agent
);
-- The job looks at due contracts only.
CREATE INDEX service_contract_due_idx ON service_contract (tenant_id, next_due_at)
    WHERE active AND next_due_at IS NOT NULL;
COMMENT ON TABLE service_contract IS 'Recurring maintenance (R54): a ticket template, an RRULE and a lead time in days.';

-- One ticket per occurrence: the primary key makes a rerun create nothing twice.
CREATE TABLE service_occurrence (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    contract_id bigint NOT NULL,
    occurrence  timestamptz NOT NULL,
    ticket_id   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contract_id, occurrence),
    FOREIGN KEY (tenant_id, contract_id) REFERENCES service_contract,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket
);
COMMENT ON TABLE service_occurrence IS 'The ticket made for each occurrence of a service contract; one per occurrence.';

-- The local-time day arithmetic of a contract: lead_days before an occurrence.
CREATE FUNCTION service_due_at(occurrence timestamptz, lead_days integer, time_zone text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((occurrence AT TIME ZONE time_zone) - make_interval(days => lead_days)) AT TIME ZONE time_zone
$$;

-- Refuses a bad contract when it is configured, and (re)computes the next
-- occurrence when the rule changes.
CREATE FUNCTION service_contract_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    gap interval;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.rrule, NEW.dtstart, NEW.time_zone, NEW.lead_days, NEW.customer_id, NEW.site_id)
                  IS NOT DISTINCT FROM (OLD.rrule, OLD.dtstart, OLD.time_zone, OLD.lead_days, OLD.customer_id, OLD.site_id) THEN
        RETURN NEW;
    END IF;
    IF NEW.customer_id IS NULL AND NEW.site_id IS NULL THEN
        RAISE EXCEPTION 'a service contract belongs to a customer or a site'
            USING ERRCODE = 'TD618', HINT = 'Give customer_id, site_id or both.';
    END IF;
    -- The tickets need a requester: the customer, the contact, or the site's customer.
    IF NEW.customer_id IS NULL AND NEW.contact_id IS NULL
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.site s WHERE s.tenant_id = NEW.tenant_id
                          AND s.site_id = NEW.site_id AND s.customer_id IS NOT NULL) THEN
        RAISE EXCEPTION 'the tickets of a service contract need a requester'
            USING ERRCODE = 'TD618',
                  DETAIL = 'The contract names no customer and no contact, and its site belongs to no customer.',
                  HINT = 'Give customer_id or contact_id.';
    END IF;
    IF NEW.lead_days < 0 THEN
        RAISE EXCEPTION 'the lead time of a service contract cannot be negative'
            USING ERRCODE = 'TD617', DETAIL = format('lead_days is %s.', NEW.lead_days),
                  HINT = 'Give the number of days before each occurrence the ticket is created, 0 or more.';
    END IF;
    IF NOT coalesce(ticketdesk.is_time_zone(NEW.time_zone), false) THEN
        RAISE EXCEPTION 'time zone "%" is not recognised', NEW.time_zone
            USING ERRCODE = 'TD603', HINT = 'Use a named zone such as Europe/Vilnius or UTC.';
    END IF;
    gap := ticketdesk.recurrence_shortest_gap(NEW.rrule, NEW.dtstart, NEW.time_zone);
    -- An hour of slack: a week that spans a DST change is an hour short.
    IF gap IS NOT NULL AND make_interval(days => NEW.lead_days) > gap + interval '1 hour' THEN
        RAISE EXCEPTION 'the lead time of % days is longer than the recurrence period', NEW.lead_days
            USING ERRCODE = 'TD617',
                  DETAIL = format('Occurrences of "%s" can be as little as %s apart.', NEW.rrule, justify_hours(gap)),
                  HINT = 'Shorten the lead time, or make the rule less frequent.';
    END IF;
    IF TG_OP = 'INSERT' OR (NEW.rrule, NEW.dtstart, NEW.time_zone, NEW.lead_days)
                        IS DISTINCT FROM (OLD.rrule, OLD.dtstart, OLD.time_zone, OLD.lead_days) THEN
        -- Start after the last occurrence that already has a ticket.
        NEW.next_occurrence := (ticketdesk.recurrence_occurrences(NEW.rrule, NEW.dtstart, NEW.time_zone,
            coalesce((SELECT max(o.occurrence) + interval '1 microsecond' FROM ticketdesk.service_occurrence o
                       WHERE o.tenant_id = NEW.tenant_id AND o.contract_id = NEW.contract_id), '-infinity'),
            'infinity', 1))[1];
        NEW.next_due_at := ticketdesk.service_due_at(NEW.next_occurrence, NEW.lead_days, NEW.time_zone);
        IF TG_OP = 'INSERT' AND NEW.next_occurrence IS NULL THEN
            RAISE EXCEPTION 'recurrence rule "%" has no occurrence from %', NEW.rrule, NEW.dtstart
                USING ERRCODE = 'TD615',
                      HINT = 'Check the rule''s COUNT or UNTIL, and that dtstart comes before them.';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER service_contract_check BEFORE INSERT OR UPDATE ON service_contract
    FOR EACH ROW EXECUTE FUNCTION service_contract_check();
