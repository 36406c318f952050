/*
 * retention.c
 *		History retention: the append-only guard of the history tables and
 *		purge_history, the one way to remove old history.
 *
 * The guard lets a DELETE of a history row through only while purge_history
 * runs in this backend, for the tenant it purges. The permission is a
 * backend-local variable that only purge_history sets, and clears again on
 * every exit: no setting, function or statement of a session can set it.
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "retention.h"

PG_FUNCTION_INFO_V1(ticketdesk_history_guard);
PG_FUNCTION_INFO_V1(ticketdesk_history_purge_guard);
PG_FUNCTION_INFO_V1(ticketdesk_purge_history);

#define ERRCODE_TD_HISTORY_APPEND_ONLY	MAKE_SQLSTATE('T','D','4','0','6')
#define ERRCODE_TD_RETENTION_TOO_SHORT	MAKE_SQLSTATE('T','D','7','2','0')
#define ERRCODE_TD_PURGE_RECORD_FORGED	MAKE_SQLSTATE('T','D','7','2','1')

/* ticketdesk.history_retention_floor, in minutes */
static int	retention_floor_min = 365 * 24 * 60;

/* The purge under way in this backend, if any. */
static bool purge_active = false;
static int32 purge_tenant = 0;

/*
 * The whole purge is one statement: the tickets finished before the cutoff,
 * their history rows older than the cutoff, and the record of the purge.
 * $1 tenant, $2 cutoff, $3 older_than.
 */
static const char *const purge_query =
"WITH done AS ("
"    SELECT t.ticket_id FROM ticketdesk.ticket t"
"     WHERE t.tenant_id = $1"
"       AND ((t.status = 'closed' AND t.closed_at < $2)"
"         OR (t.status = 'cancelled' AND t.cancelled_at < $2))),"
" ev AS (DELETE FROM ticketdesk.ticket_event e USING done d"
"         WHERE e.tenant_id = $1 AND e.ticket_id = d.ticket_id AND e.at < $2 RETURNING 1),"
" ap AS (DELETE FROM ticketdesk.approval a USING done d"
"         WHERE a.tenant_id = $1 AND a.ticket_id = d.ticket_id AND a.decided_at < $2 RETURNING 1),"
" gb AS (DELETE FROM ticketdesk.gate_bypass g USING done d"
"         WHERE g.tenant_id = $1 AND g.ticket_id = d.ticket_id AND g.at < $2 RETURNING 1)"
" INSERT INTO ticketdesk.history_purge (tenant_id, older_than, cutoff, events, approvals, bypasses)"
" SELECT $1, $3, $2, (SELECT count(*) FROM ev), (SELECT count(*) FROM ap), (SELECT count(*) FROM gb)"
" RETURNING events + approvals + bypasses";

/*
 * retention_define_settings registers ticketdesk.history_retention_floor;
 * _PG_init calls it.
 */
void
retention_define_settings(void)
{
	DefineCustomIntVariable("ticketdesk.history_retention_floor",
							"The shortest time purge_history may keep the history of finished tickets.",
							"purge_history refuses a shorter older_than (TD720). Only a superuser may change it.",
							&retention_floor_min,
							365 * 24 * 60, 24 * 60, INT_MAX,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);
}

/* The operation a row or statement trigger fired for, as TG_OP spells it. */
static const char *
retention_trigger_op(TriggerData *trigdata)
{
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		return "INSERT";
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return "UPDATE";
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		return "DELETE";
	return "TRUNCATE";
}

static TriggerData *
retention_trigger_data(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s can only be called as a trigger", name)));
	return (TriggerData *) fcinfo->context;
}

/* True when the purge under way removes rows of the tenant of this row. */
static bool
retention_purging_row(TriggerData *trigdata)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	int			attnum;
	bool		isnull;
	Datum		tenant;

	if (!purge_active || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return false;
	attnum = SPI_fnumber(desc, "tenant_id");
	if (attnum <= 0)
		return false;
	tenant = heap_getattr(trigdata->tg_trigtuple, attnum, desc, &isnull);
	return !isnull && DatumGetInt32(tenant) == purge_tenant;
}

/*
 * ticketdesk_history_guard is the BEFORE UPDATE OR DELETE (row) and BEFORE
 * TRUNCATE (statement) trigger of the history tables: ticket_event, approval,
 * gate_bypass. It refuses every change (TD406) except the DELETEs that
 * purge_history makes of its tenant's rows. Returns the row to delete.
 */
Datum
ticketdesk_history_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = retention_trigger_data(fcinfo, "forbid_history_change");

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && retention_purging_row(trigdata))
		return PointerGetDatum(trigdata->tg_trigtuple);

	ereport(ERROR,
			(errcode(ERRCODE_TD_HISTORY_APPEND_ONLY),
			 errmsg("the ticket history is append-only"),
			 errdetail("%s on %s was refused.", retention_trigger_op(trigdata),
					   RelationGetRelationName(trigdata->tg_relation)),
			 errhint("History rows are never changed; record a correction as a new change. "
					 "Old history is removed only by purge_history.")));
	PG_RETURN_NULL();
}

/*
 * ticketdesk_history_purge_guard is the trigger of history_purge, the record
 * of the purges: rows are inserted by purge_history only (TD721), and never
 * changed or removed (TD406). Returns the row to insert.
 */
Datum
ticketdesk_history_purge_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = retention_trigger_data(fcinfo, "history_purge_guard");

	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_TD_HISTORY_APPEND_ONLY),
				 errmsg("the record of history purges is append-only"),
				 errdetail("%s on %s was refused.", retention_trigger_op(trigdata),
						   RelationGetRelationName(trigdata->tg_relation))));
	if (!retention_purging_row(trigdata))
		ereport(ERROR,
				(errcode(ERRCODE_TD_PURGE_RECORD_FORGED),
				 errmsg("history purges are recorded by purge_history only"),
				 errdetail("Role %s tried to insert a history_purge row directly.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("Call ticketdesk.purge_history(older_than).")));
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/* Refuses (42501) a caller that is neither a superuser nor a ticketdesk_admin. */
static void
retention_check_caller(void)
{
	Oid			admin = get_role_oid("ticketdesk_admin", true);

	if (superuser() || (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("only an administrator may purge the history"),
			 errdetail("Role %s is not a member of ticketdesk_admin.",
					   GetUserNameFromId(GetUserId(), false)),
			 errhint("Ask an administrator of the tenant, or schedule the purge as one.")));
}

/* The tenant the caller acts for (TD700 when a pinned role names another). */
static int32
retention_session_tenant(void)
{
	bool		isnull;
	Datum		tenant;

	if (SPI_execute("SELECT ticketdesk.session_tenant()", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the session's tenant");
	tenant = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role %s acts for no tenant", GetUserNameFromId(GetUserId(), false)),
				 errhint("Map the role to an agent of the tenant, or set ticketdesk.tenant.")));
	return DatumGetInt32(tenant);
}

/*
 * ticketdesk_purge_history removes the history (events, approvals, gate
 * bypasses) older than older_than of the current tenant's tickets that were
 * closed or cancelled before now() - older_than, and records the purge in
 * history_purge. Refuses callers other than administrators and superusers
 * (42501) and an older_than below ticketdesk.history_retention_floor
 * (TD720). Returns the number of rows removed.
 */
Datum
ticketdesk_purge_history(PG_FUNCTION_ARGS)
{
	Interval   *older_than = PG_ARGISNULL(0) ? NULL : PG_GETARG_INTERVAL_P(0);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz cutoff = 0;
	TimestampTz floor_cutoff = now - (int64) retention_floor_min * USECS_PER_MINUTE;
	Oid			argtypes[3] = {INT4OID, TIMESTAMPTZOID, INTERVALOID};
	Datum		args[3];
	int32		tenant;
	int64		removed = 0;
	bool		isnull;

	retention_check_caller();
	if (older_than != NULL)
		cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
														 TimestampTzGetDatum(now),
														 IntervalPGetDatum(older_than)));
	if (older_than == NULL || cutoff > floor_cutoff)
		ereport(ERROR,
				(errcode(ERRCODE_TD_RETENTION_TOO_SHORT),
				 errmsg("the history must be kept for at least %d days", retention_floor_min / (24 * 60)),
				 errdetail("purge_history was asked to keep %s.",
						   older_than == NULL ? "nothing" :
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(older_than)))),
				 errhint("Pass a longer interval; a superuser sets the floor with ticketdesk.history_retention_floor.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	tenant = retention_session_tenant();

	args[0] = Int32GetDatum(tenant);
	args[1] = TimestampTzGetDatum(cutoff);
	args[2] = IntervalPGetDatum(older_than);
	purge_active = true;
	purge_tenant = tenant;
	PG_TRY();
	{
		if (SPI_execute_with_args(purge_query, 3, argtypes, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING
			|| SPI_processed != 1)
			elog(ERROR, "purge_history recorded no purge");
		removed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	PG_FINALLY();
	{
		purge_active = false;
		purge_tenant = 0;
	}
	PG_END_TRY();

	SPI_finish();
	PG_RETURN_INT64(removed);
}
