\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- Business calendars: a Vilnius office works 08:00-12:00 and 12:45-17:00 on
-- weekdays (a lunch break), 09:00-13:00 on Saturdays, has a yearly holiday
-- on 11 March and a one-off day off on 3 April 2026. Europe/Vilnius moves
-- its clocks forward on 29 March 2026 at 03:00 and back on 25 October.
SET timezone = 'Europe/Vilnius';
SELECT create_calendar('vilnius', 'Vilnius office', 'Europe/Vilnius',
                       'mon-fri 08:00-12:00, 12:45-17:00; sat 09:00-13:00') AS vln \gset
SELECT add_holiday(:vln, '2020-03-11', 'Restoration of Independence', yearly => true);
SELECT add_holiday(:vln, '2026-04-03', 'Office move');
SELECT weekday, starts, ends FROM calendar_hours WHERE calendar_id = :vln ORDER BY weekday, starts;

-- Adding business time walks the working periods: the lunch break does not count.
SELECT business_add(:vln, '2026-03-02 11:30', '1 hour') AS "Mon 11:30 + 1h";
SELECT business_add(:vln, '2026-03-02 11:30', '30 minutes') AS "Mon 11:30 + 30min (ends at the break)";
SELECT business_add(:vln, '2026-03-02 07:00', '8 hours 15 minutes') AS "Mon 07:00 + a working day";
SELECT business_add(:vln, '2026-03-06 16:00', '2 hours') AS "Fri 16:00 + 2h (Saturday morning)";
-- The yearly holiday on Wednesday 11 March is skipped.
SELECT business_add(:vln, '2026-03-10 16:00', '2 hours') AS "Tue 16:00 + 2h (skips 11 March)";
SELECT business_add(:vln, '2026-03-10 16:00', '0') AS "adding nothing";

-- Whole business days keep the local time of day, across the DST change:
-- Saturday 28 March 10:00 + 1 day is Monday 30 March 10:00, 47 hours later.
SELECT business_add_days(:vln, '2026-03-28 10:00', 1) AS "Sat + 1 day",
       business_add_days(:vln, '2026-03-28 10:00', 1) - '2026-03-28 10:00'::timestamptz AS "elapsed";
SELECT business_add_days(:vln, '2026-03-10 10:00', 1) AS "Tue + 1 day (skips 11 March)";
SELECT business_add_days(:vln, '2026-03-06 18:00', 1) AS "Fri 18:00 + 1 day (from Sat opening)";
SELECT business_add_days(:vln, '2026-03-07 13:00', 1) AS "Sat at closing + 1 day";
SELECT business_add_days(:vln, '2026-04-02 10:00', 1) AS "Thu + 1 day (skips the one-off holiday)";
SELECT business_add_days(:vln, '2026-03-02 10:00', 0) AS "no days";

-- Business time between two instants.
SELECT business_between(:vln, '2026-03-02 00:00', '2026-03-09 00:00') AS "a week (5 x 8h15 + 4h)";
SELECT business_between(:vln, '2026-03-09 00:00', '2026-03-16 00:00') AS "a week with the holiday";
SELECT business_between(:vln, '2026-03-27 10:00', '2026-03-30 10:00') AS "across the DST weekend";
SELECT business_between(:vln, '2026-03-02 12:00', '2026-03-02 12:45') AS "the lunch break";
SELECT business_between(:vln, '2026-03-03 10:00', '2026-03-02 10:00') AS "backwards";

-- A night-shift calendar shows the DST change itself: the night of 29 March
-- has an hour less, the night of 25 October an hour more.
SELECT create_calendar('night', 'Night shift', 'Europe/Vilnius', 'mon-sun 00:00-06:00') AS night \gset
SELECT business_between(:night, '2026-03-28 12:00', '2026-03-29 12:00') AS "spring night",
       business_between(:night, '2026-10-24 12:00', '2026-10-25 12:00') AS "autumn night",
       business_between(:night, '2026-03-27 12:00', '2026-03-28 12:00') AS "ordinary night";
SELECT business_add(:night, '2026-03-29 02:00', '2 hours') AS "02:00 + 2h on the spring night";

-- No calendar: around the clock.
SELECT business_add(NULL, '2026-03-02 10:00', '30 hours') AS "no calendar",
       business_add_days(NULL, '2026-03-02 10:00', 2) AS "no calendar, 2 days";

-- Refusals, each with its own SQLSTATE, at the moment of configuration.
SELECT create_calendar('empty', 'Nothing', 'UTC', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_calendar('bad', 'Backwards', 'UTC', 'mon 17:00-09:00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_calendar('bad', 'Overlap', 'UTC', 'mon 09:00-12:00, 11:00-13:00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_calendar('bad', 'Gibberish', 'UTC', 'someday 09:00-12:00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT create_calendar('bad', 'Atlantis', 'Atlantis/Capital', 'mon 09:00-12:00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Plain DML is checked too: a calendar left without hours fails at commit.
BEGIN;
INSERT INTO calendar (code, name) VALUES ('bare', 'No hours');
COMMIT;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM calendar_hours WHERE calendar_id = :night;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT business_add(:vln, '2026-03-02 10:00', '-1 hour');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT business_add(:vln, '2026-03-02 10:00', '2 days');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT business_add_days(:vln, '2026-03-02 10:00', -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT business_add(424242, '2026-03-02 10:00', '1 hour');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Holidays on every working day of the next 20 years cannot be walked past.
SELECT create_calendar('leap', 'Every day a holiday', 'UTC', 'mon-sun 09:00-17:00') AS leap \gset
INSERT INTO calendar_holiday (calendar_id, day, yearly)
SELECT :leap, d, true FROM generate_series(date '2024-01-01', date '2024-12-31', '1 day') d;
SELECT business_add_days(:leap, '2026-03-02 10:00', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Centres find their calendar: their own, a parent's, or the tenant default.
INSERT INTO center (code, name) VALUES ('hq', 'Head office');
INSERT INTO center (code, name, parent_id) SELECT 'desk', 'Desk', center_id FROM center WHERE code = 'hq';
SELECT calendar_of_center(center_id) IS NULL AS "around the clock" FROM center WHERE code = 'desk';
SELECT set_center_calendar(center_id, :vln) FROM center WHERE code = 'hq';
SELECT calendar_of_center(center_id) = :vln AS "inherits the parent's" FROM center WHERE code = 'desk';

-- The plain-SQL reference implementation, compared on random inputs.
CREATE SCHEMA ref;
-- The working periods of the days from d1 to d2, as instants.
CREATE FUNCTION ref.periods(cal bigint, d1 date, d2 date) RETURNS TABLE (ps timestamptz, pe timestamptz)
    LANGUAGE sql STABLE AS $$
    SELECT (d::date + h.starts) AT TIME ZONE c.time_zone, (d::date + h.ends) AT TIME ZONE c.time_zone
      FROM ticketdesk.calendar c
      CROSS JOIN generate_series(d1, d2, interval '1 day') d
      JOIN ticketdesk.calendar_hours h ON h.calendar_id = c.calendar_id AND h.weekday = extract(isodow FROM d)
     WHERE c.calendar_id = cal
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.calendar_holiday x
                        WHERE x.calendar_id = cal
                          AND (x.day = d::date OR (x.yearly AND to_char(x.day, 'MMDD') = to_char(d, 'MMDD'))))
     ORDER BY 1
$$;
CREATE FUNCTION ref.local_day(cal bigint, t timestamptz) RETURNS date
    LANGUAGE sql STABLE AS $$
    SELECT (t AT TIME ZONE c.time_zone)::date FROM ticketdesk.calendar c WHERE c.calendar_id = cal
$$;
CREATE FUNCTION ref.add(cal bigint, t timestamptz, amount interval) RETURNS timestamptz
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN amount = interval '0' THEN t ELSE (
        SELECT s + (amount - (cum - (pe - s)))
          FROM (SELECT greatest(ps, t) AS s, pe, sum(pe - greatest(ps, t)) OVER (ORDER BY ps) AS cum
                  FROM ref.periods(cal, ref.local_day(cal, t), ref.local_day(cal, t) + 400)
                 WHERE pe > t) p
         WHERE cum >= amount ORDER BY s LIMIT 1) END
$$;
CREATE FUNCTION ref.between(cal bigint, a timestamptz, b timestamptz) RETURNS interval
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(least(pe, b) - greatest(ps, a)), '0')
      FROM ref.periods(cal, ref.local_day(cal, a), ref.local_day(cal, b))
     WHERE least(pe, b) > greatest(ps, a)
$$;
CREATE FUNCTION ref.add_days(cal bigint, t timestamptz, n integer) RETURNS timestamptz
    LANGUAGE sql STABLE AS $$
    WITH c AS (SELECT time_zone FROM ticketdesk.calendar WHERE calendar_id = cal),
    start AS (SELECT greatest(ps, t) AS s FROM ref.periods(cal, ref.local_day(cal, t), ref.local_day(cal, t) + 400)
               WHERE pe >= t ORDER BY ps LIMIT 1),
    loc AS (SELECT (s AT TIME ZONE c.time_zone) AS l FROM start, c),
    workdays AS (SELECT DISTINCT ps AT TIME ZONE c.time_zone AS l
                   FROM c, loc, ref.periods(cal, loc.l::date + 1, loc.l::date + 400))
    SELECT CASE WHEN n = 0 THEN t ELSE (
        SELECT (w.l::date + loc.l::time) AT TIME ZONE c.time_zone
          FROM (SELECT DISTINCT l::date AS l FROM workdays) w, loc, c
         ORDER BY w.l OFFSET n - 1 LIMIT 1) END
$$;

SELECT setseed(0.6);
CREATE TEMP TABLE sample AS
SELECT cal, timestamptz '2026-01-01 00:00 UTC' + random() * interval '365 days' AS t,
       make_interval(mins => (random() * 3000)::int) AS amount,
       (random() * 30)::int AS days,
       make_interval(hours => (random() * 1000)::int) AS span
  FROM generate_series(1, 300) i, (VALUES (:vln), (:night)) AS c(cal);
SELECT count(*) AS compared,
       count(*) FILTER (WHERE business_add(cal, t, amount) <> ref.add(cal, t, amount)) AS add_differs,
       count(*) FILTER (WHERE business_add_days(cal, t, days) <> ref.add_days(cal, t, days)) AS add_days_differs,
       count(*) FILTER (WHERE business_between(cal, t, t + span) <> ref.between(cal, t, t + span)) AS between_differs,
       count(*) FILTER (WHERE business_between(cal, t, business_add(cal, t, amount)) <> amount) AS round_trip_differs
  FROM sample;
-- The sample crosses both DST changes, a holiday and the lunch breaks.
SELECT count(*) FILTER (WHERE t < '2026-03-29' AND t + span > '2026-03-29') > 0 AS crosses_spring,
       count(*) FILTER (WHERE t < '2026-10-25' AND t + span > '2026-10-25') > 0 AS crosses_autumn
  FROM sample;
