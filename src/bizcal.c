/*
 * bizcal.c
 *		Business-time arithmetic over a working calendar: working hours per
 *		weekday (several periods a day, so a lunch break is a gap), one-off and
 *		yearly holidays, in the calendar's named time zone. Every period is
 *		laid on the local wall clock of its date and converted to an instant
 *		with PostgreSQL's own zone rules, so DST changes come out right and
 *		agree with "timestamp AT TIME ZONE".
 *
 *		A NULL calendar means "around the clock": every instant is working
 *		time and a business day is 24 hours.
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "bizcal.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_business_add);
PG_FUNCTION_INFO_V1(ticketdesk_business_add_days);
PG_FUNCTION_INFO_V1(ticketdesk_business_between);

/* How far a search for working time may go before it gives up: 20 years. */
#define BIZCAL_MAX_DAYS (366 * 20)

typedef struct BizPeriod
{
	int64		start;			/* microseconds after local midnight */
	int64		end;
} BizPeriod;

struct BizCalendar
{
	int32		tenant_id;
	int64		calendar_id;
	pg_tz	   *tz;
	int			nperiods[7];	/* index: 0 = Sunday, as j2day() */
	BizPeriod  *periods[7];
	int			nholidays;
	int32	   *holidays;		/* Julian day numbers, sorted */
	int			nyearly;
	int32	   *yearly;			/* month * 100 + day, sorted */
	struct BizCalendar *next;
};

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

static int
cmp_period(const void *a, const void *b)
{
	const BizPeriod *x = a;
	const BizPeriod *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/* Run a query with one bigint and one integer parameter; SPI must be connected. */
static void
bizcal_query(const char *sql, int32 tenant_id, int64 calendar_id)
{
	Oid			types[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(tenant_id), Int64GetDatum(calendar_id)};

	if (SPI_execute_with_args(sql, 2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk: could not read calendar " INT64_FORMAT, calendar_id);
}

/*
 * BizCalendarLoad reads one calendar of a tenant into memory of context mcxt.
 * It raises TD605 when the calendar does not exist.
 */
BizCalendar *
BizCalendarLoad(int32 tenant_id, int64 calendar_id, MemoryContext mcxt)
{
	BizCalendar *cal = MemoryContextAllocZero(mcxt, sizeof(BizCalendar));
	char	   *zone;
	bool		isnull;

	cal->tenant_id = tenant_id;
	cal->calendar_id = calendar_id;

	SPI_connect();
	bizcal_query("SELECT time_zone FROM ticketdesk.calendar WHERE tenant_id = $1 AND calendar_id = $2",
				 tenant_id, calendar_id);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_TD_CALENDAR_NOT_FOUND),
				 errmsg("calendar " INT64_FORMAT " does not exist", calendar_id),
				 errdetail("Tenant %d has no calendar with id " INT64_FORMAT ".", tenant_id, calendar_id),
				 errhint("Check the calendar id, and that the setting ticketdesk.tenant names the right tenant.")));
	zone = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	cal->tz = pg_tzset(zone);
	if (cal->tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TD_BAD_TIME_ZONE),
				 errmsg("time zone \"%s\" of calendar " INT64_FORMAT " is not recognised", zone, calendar_id)));

	/* Working periods, grouped by weekday (ISO 1..7 in SQL, 0 = Sunday here) */
	bizcal_query("SELECT weekday % 7, extract(epoch FROM starts)::bigint * 1000000,"
				 "       extract(epoch FROM ends)::bigint * 1000000"
				 "  FROM ticketdesk.calendar_hours WHERE tenant_id = $1 AND calendar_id = $2",
				 tenant_id, calendar_id);
	for (int d = 0; d < 7; d++)
		cal->periods[d] = MemoryContextAlloc(mcxt, sizeof(BizPeriod) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int			d = DatumGetInt32(SPI_getbinval(row, desc, 1, &isnull));
		BizPeriod  *p = &cal->periods[d][cal->nperiods[d]++];

		p->start = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
		p->end = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
	}
	for (int d = 0; d < 7; d++)
		qsort(cal->periods[d], cal->nperiods[d], sizeof(BizPeriod), cmp_period);

	/* Holidays: one-off dates as Julian days, yearly ones as month * 100 + day */
	bizcal_query("SELECT yearly, CASE WHEN yearly THEN extract(month FROM day)::int * 100 + extract(day FROM day)::int"
				 "                    ELSE day - date '2000-01-01' END"
				 "  FROM ticketdesk.calendar_holiday WHERE tenant_id = $1 AND calendar_id = $2",
				 tenant_id, calendar_id);
	cal->holidays = MemoryContextAlloc(mcxt, sizeof(int32) * Max(SPI_processed, 1));
	cal->yearly = MemoryContextAlloc(mcxt, sizeof(int32) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		yearly = DatumGetBool(SPI_getbinval(row, desc, 1, &isnull));
		int32		value = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));

		if (yearly)
			cal->yearly[cal->nyearly++] = value;
		else
			cal->holidays[cal->nholidays++] = value + POSTGRES_EPOCH_JDATE;
	}
	qsort(cal->holidays, cal->nholidays, sizeof(int32), cmp_int32);
	qsort(cal->yearly, cal->nyearly, sizeof(int32), cmp_int32);
	SPI_finish();
	return cal;
}

/*
 * BizCalendarCached returns the calendar from a per-call-site list kept in
 * flinfo->fn_extra, loading it on first use. The list lives as long as the
 * query, so a calendar changed by a later statement is read again.
 */
BizCalendar *
BizCalendarCached(FmgrInfo *flinfo, int64 calendar_id)
{
	BizCalendar *cal;
	int32		tenant_id = ticketdesk_tenant;

	for (cal = flinfo->fn_extra; cal != NULL; cal = cal->next)
		if (cal->calendar_id == calendar_id && cal->tenant_id == tenant_id)
			return cal;
	cal = BizCalendarLoad(tenant_id, calendar_id, flinfo->fn_mcxt);
	cal->next = flinfo->fn_extra;
	flinfo->fn_extra = cal;
	return cal;
}

/* True when Julian day jd is a working day: not a holiday, and with hours. */
static bool
bizcal_working_day(const BizCalendar *cal, int jd)
{
	int			y,
				m,
				d;
	int32		md;

	if (cal->nperiods[j2day(jd)] == 0)
		return false;
	if (cal->nholidays > 0 &&
		bsearch(&jd, cal->holidays, cal->nholidays, sizeof(int32), cmp_int32) != NULL)
		return false;
	if (cal->nyearly > 0)
	{
		j2date(jd, &y, &m, &d);
		md = m * 100 + d;
		if (bsearch(&md, cal->yearly, cal->nyearly, sizeof(int32), cmp_int32) != NULL)
			return false;
	}
	return true;
}

/* The periods of day jd (none on a holiday). */
static int
bizcal_day_periods(const BizCalendar *cal, int jd, const BizPeriod **periods)
{
	if (!bizcal_working_day(cal, jd))
		return 0;
	*periods = cal->periods[j2day(jd)];
	return cal->nperiods[j2day(jd)];
}

/*
 * The instant at local time "usec after midnight" of day jd, resolved as
 * PostgreSQL resolves a local time (a time in a spring-forward gap moves on).
 */
static TimestampTz
bizcal_instant(const BizCalendar *cal, int jd, int64 usec)
{
	struct pg_tm tm = {0};
	int			tz;
	Timestamp	result;
	fsec_t		fsec;

	jd += usec / USECS_PER_DAY;
	usec %= USECS_PER_DAY;
	j2date(jd, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tm.tm_hour = usec / USECS_PER_HOUR;
	tm.tm_min = (usec / USECS_PER_MINUTE) % MINS_PER_HOUR;
	tm.tm_sec = (usec / USECS_PER_SEC) % SECS_PER_MINUTE;
	fsec = usec % USECS_PER_SEC;
	tz = DetermineTimeZoneOffset(&tm, cal->tz);
	if (tm2timestamp(&tm, fsec, &tz, &result) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("business time out of range")));
	return result;
}

/* The local day (Julian) and time of day (microseconds) of instant t. */
static void
bizcal_local(const BizCalendar *cal, TimestampTz t, int *jd, int64 *usec)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (timestamp2tm(t, &tz, &tm, &fsec, NULL, cal->tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	*jd = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	*usec = ((((int64) tm.tm_hour * MINS_PER_HOUR) + tm.tm_min) * SECS_PER_MINUTE + tm.tm_sec)
		* USECS_PER_SEC + fsec;
}

static void
bizcal_no_working_time(const BizCalendar *cal)
{
	ereport(ERROR,
			(errcode(ERRCODE_TD_NO_WORKING_TIME),
			 errmsg("calendar " INT64_FORMAT " has no working time within %d days", cal->calendar_id,
					BIZCAL_MAX_DAYS),
			 errdetail("Its holidays cover every day that has working hours."),
			 errhint("Check the calendar's working hours and holidays.")));
}

static void
bizcal_require_finite(TimestampTz t)
{
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("business time needs a finite instant")));
}

/*
 * BizCalendarAdd returns the instant at which "amount" microseconds of
 * working time have passed after t. Adding nothing returns t itself.
 */
TimestampTz
BizCalendarAdd(const BizCalendar *cal, TimestampTz t, int64 amount)
{
	int			jd;
	int64		tod;

	if (amount <= 0 || cal == NULL)
		return t + Max(amount, 0);
	bizcal_require_finite(t);
	bizcal_local(cal, t, &jd, &tod);
	for (int i = 0; i < BIZCAL_MAX_DAYS; i++, jd++)
	{
		const BizPeriod *p;
		int			n = bizcal_day_periods(cal, jd, &p);

		for (int k = 0; k < n; k++)
		{
			TimestampTz ps = bizcal_instant(cal, jd, p[k].start);
			TimestampTz pe = bizcal_instant(cal, jd, p[k].end);

			if (pe <= t)
				continue;
			ps = Max(ps, t);
			if (amount <= pe - ps)
				return ps + amount;
			amount -= pe - ps;
		}
		if ((i & 255) == 255)
			CHECK_FOR_INTERRUPTS();
	}
	bizcal_no_working_time(cal);
	return 0;					/* not reached */
}

/*
 * BizCalendarBetween returns the working time, in microseconds, from a to b;
 * negative when b is before a.
 */
int64
BizCalendarBetween(const BizCalendar *cal, TimestampTz a, TimestampTz b)
{
	int			jd,
				last;
	int64		tod,
				total = 0;

	if (b < a)
		return -BizCalendarBetween(cal, b, a);
	if (cal == NULL)
		return b - a;
	bizcal_require_finite(a);
	bizcal_require_finite(b);
	bizcal_local(cal, a, &jd, &tod);
	bizcal_local(cal, b, &last, &tod);
	for (; jd <= last; jd++)
	{
		const BizPeriod *p;
		int			n = bizcal_day_periods(cal, jd, &p);

		for (int k = 0; k < n; k++)
		{
			TimestampTz ps = Max(bizcal_instant(cal, jd, p[k].start), a);
			TimestampTz pe = Min(bizcal_instant(cal, jd, p[k].end), b);

			if (pe > ps)
				total += pe - ps;
		}
		if ((jd & 255) == 255)
			CHECK_FOR_INTERRUPTS();
	}
	return total;
}

/*
 * BizCalendarAddDays returns the instant n working days after t, at the same
 * local time of day. A t outside working time first moves to the start of
 * the next working period (the end of a period still counts as inside it),
 * so 1 day after Friday 18:00 is Tuesday at opening time.
 */
TimestampTz
BizCalendarAddDays(const BizCalendar *cal, TimestampTz t, int32 n)
{
	int			jd,
				i;
	int64		tod;
	bool		found = false;

	if (n <= 0)
		return t;
	if (cal == NULL)
		return t + (int64) n * USECS_PER_DAY;
	bizcal_require_finite(t);

	/* Move to the next working instant */
	bizcal_local(cal, t, &jd, &tod);
	for (i = 0; i < BIZCAL_MAX_DAYS && !found; i++, jd++)
	{
		const BizPeriod *p;
		int			np = bizcal_day_periods(cal, jd, &p);

		for (int k = 0; k < np && !found; k++)
		{
			TimestampTz ps = bizcal_instant(cal, jd, p[k].start);

			if (bizcal_instant(cal, jd, p[k].end) >= t)
			{
				t = Max(ps, t);
				found = true;
			}
		}
	}
	if (!found)
		bizcal_no_working_time(cal);
	bizcal_local(cal, t, &jd, &tod);

	/* Count working days forward, keeping the local time of day */
	for (i = 0; n > 0; i++)
	{
		if (i >= BIZCAL_MAX_DAYS)
			bizcal_no_working_time(cal);
		jd++;
		if (bizcal_working_day(cal, jd))
			n--;
	}
	return bizcal_instant(cal, jd, tod);
}

/* The calendar of argument 0, or NULL for "around the clock". */
static BizCalendar *
bizcal_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		return NULL;
	return BizCalendarCached(fcinfo->flinfo, PG_GETARG_INT64(0));
}

static void
bizcal_refuse_negative(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_TD_BAD_BUSINESS_AMOUNT),
			 errmsg("cannot add a negative amount of business %s", what),
			 errhint("Business time only moves forward; use business_between to compare instants.")));
}

/*
 * ticketdesk_business_add(calendar_id, at, amount interval): the instant at
 * which amount of working time has passed after at. The amount is working
 * time (hours, minutes, seconds); days and months are refused, because a
 * business day is not 24 hours: use business_add_days.
 */
Datum
ticketdesk_business_add(PG_FUNCTION_ARGS)
{
	BizCalendar *cal;
	Interval   *amount;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	amount = PG_GETARG_INTERVAL_P(2);
	if (amount->month != 0 || amount->day != 0)
		ereport(ERROR,
				(errcode(ERRCODE_TD_BAD_BUSINESS_AMOUNT),
				 errmsg("business time is added in hours, minutes and seconds"),
				 errdetail("The amount has %d months and %d days.", amount->month, amount->day),
				 errhint("Use business_add_days for whole business days, or give the amount in hours.")));
	if (amount->time < 0)
		bizcal_refuse_negative("time");
	cal = bizcal_arg(fcinfo);
	PG_RETURN_TIMESTAMPTZ(BizCalendarAdd(cal, PG_GETARG_TIMESTAMPTZ(1), amount->time));
}

/* ticketdesk_business_add_days(calendar_id, at, days): see BizCalendarAddDays. */
Datum
ticketdesk_business_add_days(PG_FUNCTION_ARGS)
{
	BizCalendar *cal;
	int32		days;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	days = PG_GETARG_INT32(2);
	if (days < 0)
		bizcal_refuse_negative("days");
	cal = bizcal_arg(fcinfo);
	PG_RETURN_TIMESTAMPTZ(BizCalendarAddDays(cal, PG_GETARG_TIMESTAMPTZ(1), days));
}

/* ticketdesk_business_between(calendar_id, from, to): working time as an interval. */
Datum
ticketdesk_business_between(PG_FUNCTION_ARGS)
{
	BizCalendar *cal;
	Interval   *result;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	cal = bizcal_arg(fcinfo);
	result = palloc0(sizeof(Interval));
	result->time = BizCalendarBetween(cal, PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2));
	PG_RETURN_INTERVAL_P(result);
}

/*
 * ticketdesk_is_time_zone(name) is true when PostgreSQL knows a time zone by
 * that name (what bizcal resolves local times with). Much cheaper than a
 * lookup in pg_timezone_names, which reads the whole zone directory.
 */
PG_FUNCTION_INFO_V1(ticketdesk_is_time_zone);
Datum
ticketdesk_is_time_zone(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(name[0] != '\0' && pg_tzset(name) != NULL);
}
