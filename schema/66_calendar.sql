-- Business calendars: working hours per weekday (split hours make a lunch
-- break), holidays, a time zone; the C arithmetic over them (src/bizcal.c).

-- A working calendar. A centre uses its own (center_calendar), else its
-- parent's, else the tenant's default calendar, else none: around the clock.
CREATE TABLE calendar (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    calendar_id bigserial,
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    time_zone   text NOT NULL DEFAULT 'UTC',
    is_default  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, calendar_id),
    UNIQUE (tenant_id, code)
);
CREATE UNIQUE INDEX calendar_one_default ON calendar (tenant_id) WHERE is_default;
COMMENT ON TABLE calendar IS 'Business calendars: working hours, holidays and a time zone (R22).';

-- Working periods: several rows for one weekday split the day (lunch break).
CREATE TABLE calendar_hours (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    calendar_id bigint NOT NULL,
    weekday     smallint NOT NULL,      -- ISO: 1 = Monday ... 7 = Sunday
    starts      time NOT NULL,
    ends        time NOT NULL,          -- 24:00 for the end of the day
    PRIMARY KEY (tenant_id, calendar_id, weekday, starts),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendar ON DELETE CASCADE
);
COMMENT ON TABLE calendar_hours IS 'Working periods per ISO weekday, in local wall-clock time of the calendar.';

-- Days off: one-off dates, or dates repeating every year (yearly: month and day count).
CREATE TABLE calendar_holiday (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    calendar_id bigint NOT NULL,
    day         date NOT NULL,
    yearly      boolean NOT NULL DEFAULT false,
    name        text,
    PRIMARY KEY (tenant_id, calendar_id, day),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendar ON DELETE CASCADE
);
COMMENT ON TABLE calendar_holiday IS 'Holidays of a calendar; yearly ones repeat on the same month and day.';

-- The calendar a centre (and the centres below it) works by.
CREATE TABLE center_calendar (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    center_id   bigint NOT NULL,
    calendar_id bigint NOT NULL,
    PRIMARY KEY (tenant_id, center_id),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendar ON DELETE CASCADE
);
COMMENT ON TABLE center_calendar IS 'The calendar of a centre; centres without one inherit their parent''s.';

-- True when PostgreSQL knows a time zone by this name.
CREATE FUNCTION is_time_zone(name text) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_is_time_zone';
COMMENT ON FUNCTION is_time_zone(text) IS 'True when PostgreSQL knows a time zone by this name (e.g. Europe/Vilnius).';

-- A calendar's zone must be one PostgreSQL knows by name.
CREATE FUNCTION calendar_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT coalesce(ticketdesk.is_time_zone(NEW.time_zone), false) THEN
        RAISE EXCEPTION 'time zone "%" is not recognised', NEW.time_zone
            USING ERRCODE = 'TD603',
                  HINT = 'Use a named zone from pg_timezone_names, such as Europe/Vilnius or UTC.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER calendar_check BEFORE INSERT OR UPDATE OF time_zone ON calendar
    FOR EACH ROW EXECUTE FUNCTION calendar_check();

-- A working period lies within one day, ends after it starts, and overlaps no other.
CREATE FUNCTION calendar_hours_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.weekday NOT BETWEEN 1 AND 7 OR NEW.ends <= NEW.starts THEN
        RAISE EXCEPTION 'invalid working period % %-%', NEW.weekday, NEW.starts, NEW.ends
            USING ERRCODE = 'TD602',
                  DETAIL = 'The weekday is 1 (Monday) to 7 (Sunday) and a period ends after it starts, at 24:00 at the latest.',
                  HINT = 'A period past midnight is two periods: one until 24:00 and one from 00:00 the next day.';
    END IF;
    IF EXISTS (SELECT 1 FROM ticketdesk.calendar_hours h
                WHERE h.tenant_id = NEW.tenant_id AND h.calendar_id = NEW.calendar_id
                  AND h.weekday = NEW.weekday AND h.starts < NEW.ends AND NEW.starts < h.ends
                  AND (TG_OP = 'INSERT' OR (h.weekday, h.starts) <> (OLD.weekday, OLD.starts))) THEN
        RAISE EXCEPTION 'working period % %-% overlaps another period of the same day', NEW.weekday, NEW.starts, NEW.ends
            USING ERRCODE = 'TD602',
                  HINT = 'Give each working period of a day once; a break is the gap between two periods.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER calendar_hours_check BEFORE INSERT OR UPDATE ON calendar_hours
    FOR EACH ROW EXECUTE FUNCTION calendar_hours_check();

-- At commit, every calendar touched has some working time: one with none
-- would make every deadline unreachable.
CREATE FUNCTION calendar_working_time_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    cal bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.calendar_id ELSE NEW.calendar_id END;
    ten integer := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
    IF EXISTS (SELECT 1 FROM ticketdesk.calendar c WHERE c.tenant_id = ten AND c.calendar_id = cal)
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.calendar_hours h
                        WHERE h.tenant_id = ten AND h.calendar_id = cal) THEN
        RAISE EXCEPTION 'calendar % has no working time', cal
            USING ERRCODE = 'TD601',
                  DETAIL = 'A calendar needs at least one working period, or no deadline could ever be reached.',
                  HINT = 'Give working hours, e.g. create_calendar(code, name, zone, ''mon-fri 09:00-17:00'').';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER calendar_has_working_time AFTER INSERT ON calendar
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION calendar_working_time_check();
CREATE CONSTRAINT TRIGGER calendar_keeps_working_time AFTER UPDATE OR DELETE ON calendar_hours
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION calendar_working_time_check();

-- Business-time arithmetic in C. A NULL calendar counts around the clock.
CREATE FUNCTION business_add(calendar_id bigint, at timestamptz, amount interval) RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_business_add';
COMMENT ON FUNCTION business_add(bigint, timestamptz, interval) IS
    'The instant at which amount (hours, minutes, seconds) of working time has passed after at.';

CREATE FUNCTION business_add_days(calendar_id bigint, at timestamptz, days integer) RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_business_add_days';
COMMENT ON FUNCTION business_add_days(bigint, timestamptz, integer) IS
    'The instant days working days after at, at the same local time (from the next working instant when at is outside working time).';

CREATE FUNCTION business_between(calendar_id bigint, from_at timestamptz, to_at timestamptz) RETURNS interval
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_business_between';
COMMENT ON FUNCTION business_between(bigint, timestamptz, timestamptz) IS
    'The working time between two instants (negative when to_at is before from_at).';

-- The calendar of a centre: its own, its nearest ancestor's, the tenant's
-- default, or NULL (around the clock).
CREATE FUNCTION calendar_of_center(center_id bigint) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH RECURSIVE up(center_id, parent_id, depth) AS (
        SELECT c.center_id, c.parent_id, 0 FROM ticketdesk.center c
         WHERE c.tenant_id = ticketdesk.current_tenant() AND c.center_id = $1
        UNION ALL
        SELECT c.center_id, c.parent_id, up.depth + 1 FROM ticketdesk.center c JOIN up
            ON c.tenant_id = ticketdesk.current_tenant() AND c.center_id = up.parent_id
         WHERE up.depth < 100
    )
    SELECT coalesce(
        (SELECT cc.calendar_id FROM up JOIN ticketdesk.center_calendar cc
             ON cc.tenant_id = ticketdesk.current_tenant() AND cc.center_id = up.center_id
          ORDER BY up.depth LIMIT 1),
        (SELECT c.calendar_id FROM ticketdesk.calendar c
          WHERE c.tenant_id = ticketdesk.current_tenant() AND c.is_default))
$$;
COMMENT ON FUNCTION calendar_of_center(bigint) IS
    'The calendar a centre works by: its own, an ancestor''s, the tenant default, or NULL (around the clock).';
