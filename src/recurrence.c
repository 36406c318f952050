/*
 * recurrence.c
 *		iCalendar RRULE expansion with libical, for service contracts (R54).
 *
 *		libical is used as /work/shared/LIBRARIES.md prescribes: errors are not
 *		fatal (no assert), a rule is checked with icalerrno after parsing,
 *		sub-daily rules are refused (some of them spin for ever inside one
 *		iterator call), the number of iterations is bounded with
 *		CHECK_FOR_INTERRUPTS between calls, and the expansion runs in the
 *		contract's named zone with dt.zone set by hand (a 3.0.16 bug), so that
 *		09:00 stays 09:00 across DST.
 */
#include "postgres.h"

#include <libical/ical.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "bizcal.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_recurrence_occurrences);
PG_FUNCTION_INFO_V1(ticketdesk_recurrence_shortest_gap);

/* At most this many iterator steps per call, and no occurrence after this year. */
#define RECURRENCE_MAX_STEPS	100000
#define RECURRENCE_LAST_YEAR	2500
/* The shortest gap is measured over this many occurrences. */
#define RECURRENCE_GAP_SAMPLE	120

typedef struct Recurrence
{
	struct icalrecurrencetype rule;
	icaltimezone *zone;
	pg_tz	   *pgtz;
	struct icaltimetype start;
	bool		keep_time;		/* no BYHOUR/BYMINUTE/BYSECOND: always dtstart's time */
} Recurrence;

static void
recurrence_init_library(void)
{
	static bool done = false;

	if (!done)
	{
		icalerror_set_errors_are_fatal(0);
		done = true;
	}
}

/*
 * RecurrenceParse checks a rule and a start (local wall-clock time in zone
 * zone_name) and fills r. It raises TD615 for a rule libical cannot parse,
 * TD616 for a rule more frequent than daily, TD603 for an unknown zone.
 */
static void
RecurrenceParse(Recurrence *r, const char *rrule, Timestamp dtstart, const char *zone_name)
{
	struct pg_tm tm;
	fsec_t		fsec;

	recurrence_init_library();
	icalerror_clear_errno();
	r->rule = icalrecurrencetype_from_string(rrule);
	if (icalerrno != ICAL_NO_ERROR || r->rule.freq == ICAL_NO_RECURRENCE)
	{
		icalerror_clear_errno();
		ereport(ERROR,
				(errcode(ERRCODE_TD_BAD_RRULE),
				 errmsg("recurrence rule \"%s\" cannot be parsed", rrule),
				 errdetail("libical rejected it. Rules have the form FREQ=MONTHLY;BYMONTHDAY=10, without an \"RRULE:\" prefix; COUNT and UNTIL exclude each other."),
				 errhint("For example: FREQ=WEEKLY;BYDAY=MO, FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=-1, FREQ=MONTHLY;BYDAY=1MO.")));
	}
	if (r->rule.freq == ICAL_SECONDLY_RECURRENCE || r->rule.freq == ICAL_MINUTELY_RECURRENCE ||
		r->rule.freq == ICAL_HOURLY_RECURRENCE)
		ereport(ERROR,
				(errcode(ERRCODE_TD_SUBDAILY_RRULE),
				 errmsg("recurrence rule \"%s\" repeats more often than daily", rrule),
				 errdetail("Service contracts recur daily at most; FREQ=SECONDLY, MINUTELY and HOURLY are refused."),
				 errhint("Use FREQ=DAILY, WEEKLY, MONTHLY or YEARLY.")));

	r->zone = icaltimezone_get_builtin_timezone(zone_name);
	if (r->zone == NULL && strcmp(zone_name, "UTC") == 0)
		r->zone = icaltimezone_get_utc_timezone();
	r->pgtz = pg_tzset(zone_name);
	if (r->zone == NULL || r->pgtz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TD_BAD_TIME_ZONE),
				 errmsg("time zone \"%s\" is not recognised", zone_name),
				 errhint("Use a named zone such as Europe/Vilnius or UTC.")));

	if (TIMESTAMP_NOT_FINITE(dtstart) || timestamp2tm(dtstart, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("the start of a recurrence must be a finite time")));
	r->start = icaltime_null_time();
	r->start.year = tm.tm_year;
	r->start.month = tm.tm_mon;
	r->start.day = tm.tm_mday;
	r->start.hour = tm.tm_hour;
	r->start.minute = tm.tm_min;
	r->start.second = tm.tm_sec;
	r->start.is_date = 0;
	r->start.zone = r->zone;
	r->keep_time = r->rule.by_hour[0] == ICAL_RECURRENCE_ARRAY_MAX &&
		r->rule.by_minute[0] == ICAL_RECURRENCE_ARRAY_MAX &&
		r->rule.by_second[0] == ICAL_RECURRENCE_ARRAY_MAX;
}

/*
 * The instant of an occurrence. libical moves an occurrence that falls in a
 * spring-forward gap to the next valid hour and lets the following ones
 * drift with it, so unless the rule names its own hours the wall-clock time
 * is dtstart's again; the local time is then resolved with PostgreSQL's zone
 * rules, as bizcal does (a time in the gap moves forward for that day only).
 */
static TimestampTz
recurrence_instant(const Recurrence *r, struct icaltimetype t)
{
	struct pg_tm tm = {0};
	int			tz;
	Timestamp	result;

	tm.tm_year = t.year;
	tm.tm_mon = t.month;
	tm.tm_mday = t.day;
	tm.tm_hour = r->keep_time ? r->start.hour : t.hour;
	tm.tm_min = r->keep_time ? r->start.minute : t.minute;
	tm.tm_sec = r->keep_time ? r->start.second : t.second;
	tz = DetermineTimeZoneOffset(&tm, r->pgtz);
	if (tm2timestamp(&tm, 0, &tz, &result) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("occurrence out of range")));
	return result;
}

/*
 * RecurrenceExpand calls emit for each occurrence up to "until", in order,
 * until emit returns false. It frees the iterator on error too.
 */
static void
RecurrenceExpand(const Recurrence *r, TimestampTz until,
				 bool (*emit) (TimestampTz occurrence, void *arg), void *arg)
{
	icalrecur_iterator *volatile it;

	it = icalrecur_iterator_new(r->rule, r->start);
	if (it == NULL)
	{
		icalerror_clear_errno();
		ereport(ERROR,
				(errcode(ERRCODE_TD_BAD_RRULE),
				 errmsg("recurrence rule \"%s\" cannot be expanded", icalrecurrencetype_as_string((struct icalrecurrencetype *) &r->rule)),
				 errdetail("libical found no way to expand it from its start, for example a day that no month has."),
				 errhint("Check the BYMONTH and BYMONTHDAY parts of the rule.")));
	}
	PG_TRY();
	{
		for (int step = 0; step < RECURRENCE_MAX_STEPS; step++)
		{
			struct icaltimetype next = icalrecur_iterator_next(it);
			TimestampTz at;

			CHECK_FOR_INTERRUPTS();
			if (icaltime_is_null_time(next) || next.year > RECURRENCE_LAST_YEAR)
				break;
			at = recurrence_instant(r, next);
			if (at > until || !emit(at, arg))
				break;
		}
	}
	PG_FINALLY();
	{
		icalrecur_iterator_free(it);
		icalerror_clear_errno();
	}
	PG_END_TRY();
}

typedef struct Collect
{
	TimestampTz from;
	int			max;
	int			n;
	Datum	   *values;
	TimestampTz prev;
	int64		shortest;
} Collect;

static bool
collect_in_range(TimestampTz at, void *arg)
{
	Collect    *c = arg;

	if (at < c->from)
		return true;
	c->values[c->n++] = TimestampTzGetDatum(at);
	return c->n < c->max;
}

static bool
collect_gap(TimestampTz at, void *arg)
{
	Collect    *c = arg;

	if (c->n > 0 && (c->shortest < 0 || at - c->prev < c->shortest))
		c->shortest = at - c->prev;
	c->prev = at;
	return ++c->n < RECURRENCE_GAP_SAMPLE;
}

/*
 * ticketdesk_recurrence_occurrences(rrule, dtstart timestamp, time_zone,
 * from timestamptz, until timestamptz, max_count int) returns the
 * occurrences in [from, until], in order, at most max_count of them.
 */
Datum
ticketdesk_recurrence_occurrences(PG_FUNCTION_ARGS)
{
	Recurrence	r;
	Collect		c = {0};

	RecurrenceParse(&r, text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_TIMESTAMP(1),
					text_to_cstring(PG_GETARG_TEXT_PP(2)));
	c.from = PG_GETARG_TIMESTAMPTZ(3);
	c.max = Min(Max(PG_GETARG_INT32(5), 0), RECURRENCE_MAX_STEPS);
	c.values = palloc(sizeof(Datum) * Max(c.max, 1));
	if (c.max > 0)
		RecurrenceExpand(&r, PG_GETARG_TIMESTAMPTZ(4), collect_in_range, &c);
	PG_RETURN_ARRAYTYPE_P(construct_array(c.values, c.n, TIMESTAMPTZOID, sizeof(TimestampTz),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * ticketdesk_recurrence_shortest_gap(rrule, dtstart, time_zone) checks the
 * rule and returns the shortest time between two consecutive occurrences
 * among the first ones, or NULL when it has fewer than two.
 */
Datum
ticketdesk_recurrence_shortest_gap(PG_FUNCTION_ARGS)
{
	Recurrence	r;
	Collect		c = {0};
	Interval   *result;

	RecurrenceParse(&r, text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_TIMESTAMP(1),
					text_to_cstring(PG_GETARG_TEXT_PP(2)));
	c.shortest = -1;
	RecurrenceExpand(&r, DT_NOEND, collect_gap, &c);
	if (c.shortest < 0)
		PG_RETURN_NULL();
	result = palloc0(sizeof(Interval));
	result->time = c.shortest;
	PG_RETURN_INTERVAL_P(result);
}
