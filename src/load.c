/*
 * load.c
 *		The AFTER INSERT OR UPDATE trigger ticket_load: keeps each agent's
 *		load counters (agent_load) true as tickets are opened, assigned,
 *		moved and finished, and records the routing reason that the BEFORE
 *		trigger left for this ticket. Routing reads the counters; it never
 *		counts tickets.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "routing.h"

PG_FUNCTION_INFO_V1(ticketdesk_ticket_load);

/* What one version of a ticket adds to its holder's load. */
typedef struct LoadShare
{
	int64		agent_id;		/* 0: counts for nobody */
	int32		weight;			/* priority_weight() of its priority */
} LoadShare;

static SPIPlanPtr upsert_plan = NULL;

/* True for the statuses in which work is expected from the holder. */
static bool
status_counts(TicketStatus s)
{
	return s == TS_ASSIGNED || s == TS_ACKNOWLEDGED || s == TS_IN_PROGRESS;
}

/* The weight of a priority, as SQL's priority_weight: low 1 ... urgent 4. */
static int32
priority_weight(const TicketColumns *tc, Datum priority)
{
	static const char *const names[] = {"low", "normal", "high", "urgent"};
	char	   *label = OidOutputFunctionCall(tc->typoutput[TC_PRIORITY], priority);

	for (int i = 0; i < lengthof(names); i++)
		if (strcmp(label, names[i]) == 0)
			return i + 1;
	return lengthof(names);
}

static LoadShare
load_share(const TicketRow *row)
{
	LoadShare	share = {0};
	bool		isnull;
	Datum		value;

	value = ticket_row_get(row, TC_ASSIGNEE_ID, &isnull);
	if (isnull)
		return share;
	if (!status_counts(ticket_status_from_datum(row->tc->typid[TC_STATUS],
												ticket_row_get(row, TC_STATUS, &isnull))))
		return share;
	share.agent_id = DatumGetInt64(value);
	share.weight = priority_weight(row->tc, ticket_row_get(row, TC_PRIORITY, &isnull));
	return share;
}

/* A change of one agent's counters. */
typedef struct LoadDelta
{
	int32		count;
	int32		weight;
	bool		assigned;		/* a new assignment: stamp last_assigned_at */
} LoadDelta;

/* The columns of agent_load that a change writes, in this order. */
static const char *const load_columns[] = {"open_tickets", "weighted_load", "last_assigned_at"};
static DirectTable agent_load = {"agent_load", lengthof(load_columns), load_columns, NULL};

static void
add_delta(Datum *values, bool *nulls, void *arg)
{
	const LoadDelta *d = arg;

	values[0] = Int32GetDatum(DatumGetInt32(values[0]) + d->count);
	values[1] = Int32GetDatum(DatumGetInt32(values[1]) + d->weight);
	if (d->assigned)
	{
		values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
		nulls[2] = false;
	}
}

/*
 * The counters of an agent who has no load row, which trigger
 * agent_load_row makes for every agent: an upsert, in case it is missing
 * all the same (a row deleted by hand).
 */
static void
load_upsert(int32 tenant_id, int64 agent_id, const LoadDelta *d)
{
	static const char *const sql =
	"INSERT INTO ticketdesk.agent_load AS l (tenant_id, agent_id) VALUES ($1, $2)"
	" ON CONFLICT (tenant_id, agent_id) DO UPDATE"
	"   SET open_tickets = l.open_tickets + $3,"
	"       weighted_load = l.weighted_load + $4,"
	"       last_assigned_at = CASE WHEN $5 THEN clock_timestamp()"
	"                               ELSE l.last_assigned_at END";
	Oid			argtypes[5] = {INT4OID, INT8OID, INT4OID, INT4OID, BOOLOID};
	Datum		args[5];
	TrustedScope scope;

	args[0] = Int32GetDatum(tenant_id);
	args[1] = Int64GetDatum(agent_id);
	args[2] = Int32GetDatum(d->count);
	args[3] = Int32GetDatum(d->weight);
	args[4] = BoolGetDatum(d->assigned);
	SPI_connect();
	/* ticketdesk's bookkeeping, whatever the caller may write (trusted.c). */
	trusted_enter(&scope);
	PG_TRY();
	{
		if (SPI_execute_plan(routing_saved_plan(&upsert_plan, sql, 5, argtypes),
							 args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "ticketdesk: could not update the load counters");
		trusted_done(&scope);
	}
	PG_FINALLY();
	{
		trusted_leave(&scope);
	}
	PG_END_TRY();
	SPI_finish();
}

/*
 * Change one agent's counters by count and weight; a new assignment also
 * stamps last_assigned_at. The row is found by its key and locked as an
 * UPDATE would (direct_write.c).
 */
static void
load_apply(DirectWrite *w, int32 tenant_id, int64 agent_id, int count, int32 weight, bool assigned)
{
	LoadDelta	d = {count, weight, assigned};
	Datum		key[2] = {Int32GetDatum(tenant_id), Int64GetDatum(agent_id)};

	if (!direct_update(w, key, add_delta, &d))
		load_upsert(tenant_id, agent_id, &d);
}

/* Record the routing reason as a history row of kind "routing". */
static void
record_routing(int32 tenant_id, int64 ticket_id, const char *rule, const char *note)
{
	HistoryEvent event = {"routing", (Datum) 0, CStringGetTextDatum(rule), true, false};

	history_append(tenant_id, ticket_id, &event, 1, note, 0);
}

/*
 * ticketdesk_ticket_load moves the ticket's share of load from its old
 * holder to its new one (only when holder, counting status or priority
 * changed), then records a pending routing reason.
 */
Datum
ticketdesk_ticket_load(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	const TicketColumns *tc;
	TicketRow	newrow;
	LoadShare	before = {0};
	LoadShare	after;
	bool		isnull;
	bool		assigned;
	int32		tenant_id;
	int64		ticket_id;
	char	   *rule;
	char	   *note;
	bool		has_event;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ticket_load must be an AFTER INSERT OR UPDATE row trigger")));

	rel = trigdata->tg_relation;
	tc = ticket_columns(rel);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		TicketRow	oldrow;

		ticket_row_read(&oldrow, tc, rel, trigdata->tg_trigtuple);
		ticket_row_read(&newrow, tc, rel, trigdata->tg_newtuple);
		before = load_share(&oldrow);
		assigned = ticket_row_changed(&oldrow, &newrow, TC_ASSIGNEE_ID);
	}
	else
	{
		ticket_row_read(&newrow, tc, rel, trigdata->tg_trigtuple);
		(void) ticket_row_get(&newrow, TC_ASSIGNEE_ID, &isnull);
		assigned = !isnull;
	}
	after = load_share(&newrow);
	tenant_id = DatumGetInt32(ticket_row_get(&newrow, TC_TENANT_ID, &isnull));
	ticket_id = DatumGetInt64(ticket_row_get(&newrow, TC_TICKET_ID, &isnull));
	has_event = routing_take_event(tenant_id, ticket_id, &rule, &note);

	/* Most updates move no load: same holder and weight, or nobody's. */
	if (before.agent_id == after.agent_id && before.weight == after.weight && !has_event)
		return PointerGetDatum(NULL);

	/*
	 * The counters are bookkeeping of ticketdesk, not the caller's: whoever
	 * may move the ticket (a requester reopening it, too) moves its load,
	 * whatever the caller may read or write in agent_load. The tenant is
	 * the ticket's, which the caller's policies already let through.
	 */
	if (before.agent_id != after.agent_id || before.weight != after.weight)
	{
		DirectWrite *w = direct_begin(&agent_load);

		if (before.agent_id == after.agent_id)
			load_apply(w, tenant_id, after.agent_id, 0, after.weight - before.weight, false);
		else
		{
			/* Lower agent id first: two moves in opposite directions cannot deadlock. */
			bool		new_first = after.agent_id != 0 &&
				(before.agent_id == 0 || after.agent_id < before.agent_id);

			if (new_first)
				load_apply(w, tenant_id, after.agent_id, 1, after.weight, assigned);
			if (before.agent_id != 0)
				load_apply(w, tenant_id, before.agent_id, -1, -before.weight, false);
			if (!new_first && after.agent_id != 0)
				load_apply(w, tenant_id, after.agent_id, 1, after.weight, assigned);
		}
		direct_end(w);
	}
	if (has_event)
		record_routing(tenant_id, ticket_id, rule, note);
	return PointerGetDatum(NULL);
}
