-- SLA targets: per centre, ticket type and priority, in business time.

-- Targets for the first response and for the resolution. A NULL centre, type
-- or priority matches any; the most specific row wins (centre, then type,
-- then priority).
CREATE TABLE sla_target (
    tenant_id      integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    sla_target_id  bigserial,
    center_id      bigint,
    type_id        bigint,
    priority       ticket_priority,
    first_response interval NOT NULL,
    resolution     interval NOT NULL,
    PRIMARY KEY (tenant_id, sla_target_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, center_id, type_id, priority),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type ON DELETE CASCADE
);
COMMENT ON TABLE sla_target IS 'SLA targets in business time per centre, type and priority; NULL matches any.';

-- A target is a positive amount of working time, in hours and minutes.
CREATE FUNCTION sla_target_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.first_response <= interval '0' OR NEW.resolution <= interval '0' THEN
        RAISE EXCEPTION 'an SLA target must be positive'
            USING ERRCODE = 'TD610',
                  DETAIL = format('The first response target is %s and the resolution target is %s.',
                                  NEW.first_response, NEW.resolution),
                  HINT = 'Give both targets as working time greater than zero, e.g. 4 hours.';
    END IF;
    IF extract(day FROM NEW.first_response) <> 0 OR extract(month FROM NEW.first_response) <> 0
       OR extract(day FROM NEW.resolution) <> 0 OR extract(month FROM NEW.resolution) <> 0 THEN
        RAISE EXCEPTION 'an SLA target is working time in hours and minutes'
            USING ERRCODE = 'TD604',
                  DETAIL = format('The targets are %s and %s.', NEW.first_response, NEW.resolution),
                  HINT = 'A business day is not 24 hours: write 3 working days of 8 hours as 24 hours.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sla_target_check BEFORE INSERT OR UPDATE ON sla_target
    FOR EACH ROW EXECUTE FUNCTION sla_target_check();
