-- Configuring business calendars.

-- Creates a calendar from a compact description of its working hours:
-- 'mon-fri 08:00-12:00, 12:45-17:00; sat 09:00-13:00'. Days are mon..sun,
-- alone or as a range; periods are HH:MM-HH:MM, comma-separated.
CREATE FUNCTION create_calendar(code text, name text, time_zone text, hours text,
                                is_default boolean DEFAULT false) RETURNS bigint
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    days    constant text[] := ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    part    text;
    m       text[];
    period  text;
    p       text[];
    first   int;
    last    int;
    result  bigint;
BEGIN
    INSERT INTO ticketdesk.calendar (code, name, time_zone, is_default)
    VALUES (code, name, coalesce(time_zone, 'UTC'), coalesce(is_default, false))
    RETURNING calendar_id INTO result;
    FOREACH part IN ARRAY regexp_split_to_array(coalesce(hours, ''), '\s*;\s*') LOOP
        CONTINUE WHEN part !~ '\S';
        m := regexp_match(lower(part), '^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?\s+(.+?)\s*$');
        first := array_position(days, m[1]);
        last := coalesce(array_position(days, m[2]), first);
        IF m IS NULL OR first IS NULL OR last IS NULL OR last < first THEN
            RAISE EXCEPTION 'cannot read working hours "%"', part
                USING ERRCODE = 'TD602',
                      HINT = 'Write days (mon..sun, or a range like mon-fri) then periods: ''mon-fri 08:00-12:00, 12:45-17:00; sat 09:00-13:00''.';
        END IF;
        FOREACH period IN ARRAY regexp_split_to_array(m[3], '\s*,\s*') LOOP
            p := regexp_match(period, '^(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$');
            IF p IS NULL THEN
                RAISE EXCEPTION 'cannot read working period "%"', period
                    USING ERRCODE = 'TD602', HINT = 'Write a period as HH:MM-HH:MM, e.g. 08:00-12:00.';
            END IF;
            INSERT INTO ticketdesk.calendar_hours (calendar_id, weekday, starts, ends)
            SELECT result, d, p[1]::time, p[2]::time FROM generate_series(first, last) d;
        END LOOP;
    END LOOP;
    -- Run the deferred "has working time" check now, so a refusal comes at once.
    SET CONSTRAINTS ticketdesk.calendar_has_working_time IMMEDIATE;
    SET CONSTRAINTS ticketdesk.calendar_has_working_time DEFERRED;
    RETURN result;
END $$;
COMMENT ON FUNCTION create_calendar(text, text, text, text, boolean) IS
    'Creates a business calendar from hours like ''mon-fri 08:00-12:00, 12:45-17:00''; returns its id.';

-- Adds a holiday to a calendar; yearly ones repeat on the same month and day.
CREATE FUNCTION add_holiday(calendar_id bigint, day date, name text DEFAULT NULL,
                            yearly boolean DEFAULT false) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.calendar_holiday (calendar_id, day, name, yearly)
    VALUES ($1, $2, $3, coalesce($4, false))
$$;
COMMENT ON FUNCTION add_holiday(bigint, date, text, boolean) IS
    'Adds a one-off or yearly holiday to a calendar.';

-- Makes a centre (and the centres below it without their own) work by a calendar.
CREATE FUNCTION set_center_calendar(center_id bigint, calendar_id bigint) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.center_calendar (center_id, calendar_id) VALUES ($1, $2)
    ON CONFLICT (tenant_id, center_id) DO UPDATE SET calendar_id = EXCLUDED.calendar_id
$$;
COMMENT ON FUNCTION set_center_calendar(bigint, bigint) IS
    'Sets the calendar of a centre; centres below it without their own inherit it.';
