/*
 * routing.c
 *		Workflow stages and the assignment function. Called by the lifecycle
 *		trigger when a ticket is opened without an assignee, or moved to a
 *		new stage without one, it picks the handler in this order:
 *		candidates (profile, centre, availability), sticky handler, customer
 *		affinity, least loaded, fair tie-break; or falls back to the
 *		centre's dispatcher queue or the tenant's administrator. The reason
 *		waits here until the ticket's AFTER trigger (load.c) records it.
 *
 *		Concurrency: the candidates' agent_load rows are locked in agent
 *		order; loads and availability are used only as of a snapshot that
 *		sees every change committed before the locks were granted; see
 *		doc/routing.md.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "routing.h"

/*
 * The candidates (the profile's holders in the centre tree, from
 * holders.c, in agent order), with their load rows locked in that order, so
 * routings never deadlock each other; and for each, read in the same
 * statement: load, last assignment, whether they are available now (not
 * absent, in their working hours, under their cap), and the sticky and
 * affinity evidence. Driven by the candidate list through primary keys (the
 * OFFSET 0 fence keeps the planner from scanning all load rows), so the
 * cost follows the number of candidates, not of agents or tickets. xmin
 * tells the caller whether a locked row changed after the statement's
 * snapshot was taken.
 */
static const char *const rank_sql =
"WITH holders AS ("
"  SELECT h.agent_id, h.name FROM unnest($2::bigint[], $3::text[]) AS h(agent_id, name)),"
" sticky AS ("
"  SELECT e.new_value, max(e.event_id) AS event_id FROM ticketdesk.ticket_event e"
"   WHERE $7 AND e.tenant_id = $1 AND e.ticket_id = $4 AND e.kind = 'assignee'"
"   GROUP BY e.new_value),"
" absent AS ("
"  SELECT DISTINCT b.agent_id FROM ticketdesk.agent_absence b"
"   WHERE b.tenant_id = $1 AND b.agent_id = ANY ($2) AND b.during @> now()),"
" hours AS ("
"  SELECT h.agent_id,"
"         bool_or(h.weekday = extract(isodow FROM now() AT TIME ZONE h.time_zone)"
"                 AND (now() AT TIME ZONE h.time_zone)::time >= h.starts"
"                 AND (now() AT TIME ZONE h.time_zone)::time < h.ends) AS on_duty"
"    FROM ticketdesk.agent_hours h"
"   WHERE h.tenant_id = $1 AND h.agent_id = ANY ($2)"
"   GROUP BY h.agent_id) "
"SELECT l.agent_id, c.name,"
"       CASE WHEN $6 THEN l.weighted_load ELSE l.open_tickets END,"
"       l.last_assigned_at,"
"       s.event_id,"
"       CASE WHEN $5 THEN (SELECT max(t.assigned_at) FROM ticketdesk.ticket t"
"                           WHERE t.tenant_id = $1 AND t.customer_id = $8"
"                             AND t.assignee_id = l.agent_id AND t.ticket_id <> $4) END,"
"       (l.load_cap IS NULL OR l.open_tickets < l.load_cap)"
"       AND b.agent_id IS NULL AND coalesce(w.on_duty, true),"
"       l.row_xmin"
"  FROM (SELECT * FROM holders ORDER BY agent_id OFFSET 0) AS c"
"  CROSS JOIN LATERAL (SELECT x.*, x.xmin AS row_xmin FROM ticketdesk.agent_load x"
"                      WHERE x.tenant_id = $1 AND x.agent_id = c.agent_id OFFSET 0) AS l"
"  LEFT JOIN sticky s ON s.new_value = l.agent_id::text"
"  LEFT JOIN absent b ON b.agent_id = l.agent_id"
"  LEFT JOIN hours w ON w.agent_id = l.agent_id"
"   FOR UPDATE OF l";

static SPIPlanPtr rank_plan = NULL;

/* What one routing knows about the ticket and its stage. */
typedef struct RouteCtx
{
	int32		tenant_id;
	int64		ticket_id;
	int64		center_id;
	int64		customer_id;	/* 0 when none */
	bool		affinity;		/* customer affinity applies */
	bool		weighted;		/* loads weigh priority */
	int16		stage;
	char	   *stage_name;
	char	   *profile_code;
	int64		profile_id;		/* 0 when the stage names none */
} RouteCtx;

/* One available candidate, as ranked. */
typedef struct Candidate
{
	int64		agent_id;
	char	   *name;
	int32		load;
	bool		never_assigned;
	TimestampTz last_assigned;
	int64		sticky;			/* latest assignee event for this ticket, 0: none */
	bool		has_affinity;
	TimestampTz affinity;
} Candidate;

/* A routing reason waiting for the ticket's AFTER trigger. */
typedef struct PendingEvent
{
	int32		tenant_id;
	int64		ticket_id;
	SubTransactionId subxid;
	char	   *rule;
	char	   *note;
} PendingEvent;

static List *pending = NIL;
static bool callbacks_registered = false;

/* Forget pending reasons at the end of the transaction. */
static void
routing_xact_callback(XactEvent event, void *arg)
{
	pending = NIL;
}

/* Drop the reasons of an aborted subtransaction; hand a committed one's to its parent. */
static void
routing_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, pending)
		{
			PendingEvent *e = lfirst(lc);

			if (e->subxid == mySubid)
				pending = foreach_delete_current(pending, lc);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending)
		{
			PendingEvent *e = lfirst(lc);

			if (e->subxid == mySubid)
				e->subxid = parentSubid;
		}
	}
}

/* Keep the reason of a routing until the ticket's AFTER trigger takes it. */
static void
routing_stash(const RouteCtx *ctx, const char *rule, const char *note)
{
	MemoryContext old;
	PendingEvent *e;

	if (!callbacks_registered)
	{
		RegisterXactCallback(routing_xact_callback, NULL);
		RegisterSubXactCallback(routing_subxact_callback, NULL);
		callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	e = palloc(sizeof(PendingEvent));
	e->tenant_id = ctx->tenant_id;
	e->ticket_id = ctx->ticket_id;
	e->subxid = GetCurrentSubTransactionId();
	e->rule = pstrdup(rule);
	e->note = pstrdup(note);
	pending = lappend(pending, e);
	MemoryContextSwitchTo(old);
}

/*
 * routing_take_event returns (and forgets) the routing reason recorded for
 * the ticket by its BEFORE trigger, if any.
 */
bool
routing_take_event(int32 tenant_id, int64 ticket_id, char **rule, char **note)
{
	ListCell   *lc;

	foreach(lc, pending)
	{
		PendingEvent *e = lfirst(lc);

		if (e->tenant_id == tenant_id && e->ticket_id == ticket_id)
		{
			*rule = e->rule;
			*note = e->note;
			pending = foreach_delete_current(pending, lc);
			return true;
		}
	}
	return false;
}

/*
 * routing_saved_plan returns the plan kept in *slot, preparing and keeping
 * it on first use. The plan is generic: planning these queries costs more
 * than running them, and their best plan does not depend on the values.
 */
SPIPlanPtr
routing_saved_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "ticketdesk: could not prepare a routing query: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

/* Read an int8 column of the current SPI result row, 0 for NULL. */
static int64
spi_int8(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* The stage as people read it: stage 2 "Repair" (profile fitters). */
static char *
stage_label(const RouteCtx *ctx)
{
	if (ctx->profile_id == 0)
		return psprintf("stage %d \"%s\"", ctx->stage, ctx->stage_name);
	return psprintf("stage %d \"%s\" (profile %s)", ctx->stage, ctx->stage_name, ctx->profile_code);
}

/*
 * route_fallback sends the ticket to the dispatcher queue of its centre,
 * or to the tenant's administrator when no dispatcher serves the centre.
 * With only_without_dispatcher (tickets without a workflow), a centre with
 * a dispatcher keeps its classic queue and nothing is recorded.
 */
static void
route_fallback(const RouteCtx *ctx, const char *why, bool only_without_dispatcher,
			   RoutingDecision *decision)
{
	const RouteCentre *centre = routing_centre(ctx->tenant_id, ctx->center_id);

	if (centre->has_dispatcher)
	{
		if (!only_without_dispatcher)
			routing_stash(ctx, "dispatcher_queue",
						  psprintf("%s: to the dispatcher queue of centre %s", why, centre->center_code));
	}
	else if (centre->admin_id != 0)
	{
		decision->agent_id = centre->admin_id;
		routing_stash(ctx, "administrator",
					  psprintf("%s; centre %s has no dispatcher: to the administrator %s",
							   why, centre->center_code, centre->admin_name));
	}
	else if (!only_without_dispatcher)
		routing_stash(ctx, "dispatcher_queue",
					  psprintf("%s; centre %s has no dispatcher and the tenant no administrator: left in the queue",
							   why, centre->center_code));
}

/*
 * route_candidates locks and reads the profile's holders in the centre
 * (routing_holders, rank_sql). It returns how many there are; the available
 * ones, with their evidence, go to *out and their number to *available.
 *
 * The statement runs on a snapshot taken here. When a locked load row
 * turns out newer than that snapshot (a routing, a load change or an
 * availability change committed meanwhile: recording an absence or working
 * hours updates the agent's load row), availability read from other tables
 * may be stale, so the statement runs once more: the rows are ours now, and
 * a new snapshot sees every change made before the locks were granted.
 */
static int
route_candidates(const RouteCtx *ctx, bool sticky, Candidate **out, int *available)
{
	Oid			argtypes[8] = {INT4OID, INT8ARRAYOID, TEXTARRAYOID, INT8OID, BOOLOID, BOOLOID, BOOLOID, INT8OID};
	Datum		args[8];
	char		nulls[8] = "        ";
	SPIPlanPtr	plan = routing_saved_plan(&rank_plan, rank_sql, 8, argtypes);
	const int64 *holder_ids;
	char	   *const *holder_names;
	int			n = routing_holders(ctx->tenant_id, ctx->profile_id, ctx->center_id,
									&holder_ids, &holder_names);
	Datum	   *ids;
	Datum	   *names;
	Candidate  *c;
	int			m = 0;

	*available = 0;
	if (n == 0)
		return 0;
	ids = palloc(sizeof(Datum) * n);
	names = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		ids[i] = Int64GetDatum(holder_ids[i]);
		names[i] = CStringGetTextDatum(holder_names[i]);
	}

	args[0] = Int32GetDatum(ctx->tenant_id);
	args[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = Int64GetDatum(ctx->ticket_id);
	args[4] = BoolGetDatum(ctx->affinity);
	args[5] = BoolGetDatum(ctx->weighted);
	args[6] = BoolGetDatum(sticky);
	args[7] = Int64GetDatum(ctx->customer_id);
	if (ctx->customer_id == 0)
		nulls[7] = 'n';

	for (int attempt = 0;; attempt++)
	{
		Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
		bool		changed = false;
		int			ret = SPI_execute_snapshot(plan, args, nulls, snap, InvalidSnapshot,
											   false, false, 0);

		if (ret != SPI_OK_SELECT)
			elog(ERROR, "ticketdesk: a routing query failed");
		for (int i = 0; i < SPI_processed && attempt == 0; i++)
		{
			bool		isnull;
			TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[i],
																	 SPI_tuptable->tupdesc, 8, &isnull));

			if (!TransactionIdIsCurrentTransactionId(xmin) && XidInMVCCSnapshot(xmin, snap))
				changed = true;
		}
		UnregisterSnapshot(snap);
		if (!changed)
			break;
	}

	c = palloc0(sizeof(Candidate) * Max(SPI_processed, 1));
	for (int i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		/* Skip the absent, those outside their hours and those at their cap. */
		d = SPI_getbinval(tup, desc, 7, &isnull);
		if (isnull || !DatumGetBool(d))
			continue;
		c[m].agent_id = spi_int8(i, 1);
		c[m].name = SPI_getvalue(tup, desc, 2);
		c[m].load = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		d = SPI_getbinval(tup, desc, 4, &isnull);
		c[m].never_assigned = isnull;
		c[m].last_assigned = isnull ? 0 : DatumGetTimestampTz(d);
		c[m].sticky = spi_int8(i, 5);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		c[m].has_affinity = !isnull;
		c[m].affinity = isnull ? 0 : DatumGetTimestampTz(d);
		m++;
	}
	*out = c;
	*available = m;
	return n;
}

/* True when a should be picked before b by load, then by fair rotation. */
static bool
load_before(const Candidate *a, const Candidate *b)
{
	if (a->load != b->load)
		return a->load < b->load;
	if (a->never_assigned != b->never_assigned)
		return a->never_assigned;
	if (a->last_assigned != b->last_assigned)
		return a->last_assigned < b->last_assigned;
	return a->agent_id < b->agent_id;
}

/*
 * route_pick applies the rules in order (sticky handler, customer
 * affinity, least loaded, fair tie-break) to the available candidates and
 * records which one decided.
 */
static int64
route_pick(const RouteCtx *ctx, Candidate *c, int n)
{
	const char *label = stage_label(ctx);
	int			best = -1;
	int			second = -1;

	/* Sticky handler: who handled an earlier stage, the most recent first. */
	for (int i = 0; i < n; i++)
		if (c[i].sticky != 0 && (best < 0 || c[i].sticky > c[best].sticky))
			best = i;
	if (best >= 0)
	{
		routing_stash(ctx, "sticky",
					  psprintf("%s: %s handled an earlier stage of this ticket", label, c[best].name));
		return c[best].agent_id;
	}

	/* Customer affinity: who handled this customer most recently. */
	for (int i = 0; i < n; i++)
		if (c[i].has_affinity && (best < 0 || c[i].affinity > c[best].affinity))
			best = i;
	if (best >= 0)
	{
		routing_stash(ctx, "affinity",
					  psprintf("%s: %s handled this customer most recently", label, c[best].name));
		return c[best].agent_id;
	}

	/* Least loaded, then the one assigned least recently. */
	for (int i = 0; i < n; i++)
	{
		if (best < 0 || load_before(&c[i], &c[best]))
		{
			second = best;
			best = i;
		}
		else if (second < 0 || load_before(&c[i], &c[second]))
			second = i;
	}
	if (second < 0)
		routing_stash(ctx, "only_candidate",
					  psprintf("%s: %s is the only available holder of the profile", label, c[best].name));
	else if (c[best].load < c[second].load)
		routing_stash(ctx, "least_loaded",
					  psprintf("%s: %s has the least load (%d, next %d)",
							   label, c[best].name, c[best].load, c[second].load));
	else
		routing_stash(ctx, "round_robin",
					  psprintf("%s: %s was assigned least recently among %d candidates with load %d",
							   label, c[best].name, n, c[best].load));
	return c[best].agent_id;
}

/*
 * routing_decide is called by the lifecycle trigger for every insert and
 * for updates that move a ticket to another stage. On insert it sets the
 * first stage of the type's workflow; when no assignee was named (an
 * explicit choice always wins) it routes: it returns the agent to assign,
 * or 0 to leave the ticket in the dispatcher queue.
 */
void
routing_decide(const TicketColumns *tc, Relation rel, HeapTuple oldtup, HeapTuple newtup,
			   TicketStatus status, bool assignee_null, RoutingDecision *decision)
{
	bool		is_insert = (oldtup == NULL);
	bool		isnull;
	bool		stage_null;
	bool		want_route;
	Datum		value;
	int64		type_id;
	RouteCtx	ctx = {0};
	const RouteStage *stage;
	bool		has_workflow;

	memset(decision, 0, sizeof(*decision));
	value = ticket_get(tc, rel, newtup, TC_STAGE, &stage_null);
	ctx.stage = stage_null ? 1 : DatumGetInt16(value);
	want_route = assignee_null && status == TS_NEW;
	if (is_insert)
	{
		if (!want_route && !stage_null)
			return;
	}
	else if (!want_route || stage_null ||
			 !ticket_column_changed(tc, rel, oldtup, newtup, TC_STAGE))
		return;

	ctx.tenant_id = DatumGetInt32(ticket_get(tc, rel, newtup, TC_TENANT_ID, &isnull));
	ctx.ticket_id = DatumGetInt64(ticket_get(tc, rel, newtup, TC_TICKET_ID, &isnull));
	ctx.center_id = DatumGetInt64(ticket_get(tc, rel, newtup, TC_CENTER_ID, &isnull));
	type_id = DatumGetInt64(ticket_get(tc, rel, newtup, TC_TYPE_ID, &isnull));
	value = ticket_get(tc, rel, newtup, TC_CUSTOMER_ID, &isnull);
	ctx.customer_id = isnull ? 0 : DatumGetInt64(value);
	if (ctx.customer_id != 0)
	{
		/* Affinity counts for linked tickets and those the scheduler opens. */
		(void) ticket_get(tc, rel, newtup, TC_PARENT_ID, &isnull);
		ctx.affinity = !isnull;
		value = ticket_get(tc, rel, newtup, TC_CHANNEL, &isnull);
		if (!isnull && strcmp(OidOutputFunctionCall(tc->typoutput[TC_CHANNEL], value), "schedule") == 0)
			ctx.affinity = true;
	}

	/* The cache's strings are copied: a later look-up may empty it. */
	stage = routing_stage(ctx.tenant_id, type_id, ctx.stage);
	has_workflow = stage->has_workflow;
	if (has_workflow)
	{
		ctx.stage_name = stage->stage_name ? pstrdup(stage->stage_name) : "(none)";
		ctx.profile_id = stage->profile_id;
		ctx.profile_code = stage->profile_code ? pstrdup(stage->profile_code) : NULL;
		ctx.weighted = stage->weighted;
		if (is_insert && stage_null)
		{
			decision->set_stage = true;
			decision->stage = 1;
		}
	}

	SPI_connect();
	if (!want_route)
		;
	else if (!has_workflow)
	{
		if (is_insert)
			route_fallback(&ctx, "the ticket type has no workflow", true, decision);
	}
	else if (ctx.profile_id == 0)
		route_fallback(&ctx, psprintf("%s has no profile", stage_label(&ctx)), false, decision);
	else
	{
		Candidate  *cands;
		int			m;
		int			n = route_candidates(&ctx, !is_insert, &cands, &m);

		if (n == 0)
			route_fallback(&ctx, psprintf("%s: nobody in the centre holds the profile", stage_label(&ctx)),
						   false, decision);
		else if (m == 0)
			route_fallback(&ctx, psprintf("%s: none of the %d holders of the profile is available",
										  stage_label(&ctx), n),
						   false, decision);
		else
			decision->agent_id = route_pick(&ctx, cands, m);
	}
	SPI_finish();
}
