/*
 * notify_gate.c
 *		The AFTER INSERT row trigger ticket_event_notify: decides in C whether
 *		a history row is an event anybody is told about, and only then calls
 *		the PL/pgSQL trigger function named by its argument
 *		(notify_ticket_event), which queues the messages.
 *
 * Why not a WHEN clause: PostgreSQL 15 reads a trigger's WHEN expression
 * back from its stored node string and plans it again for every statement
 * that inserts a history row, that is for every ticket change; that was 3%
 * of a status transition (doc/benchmarks.md). Most history rows (a move to
 * in_progress or waiting, a priority, a centre) notify nobody.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "notify_requester.h"

PG_FUNCTION_INFO_V1(ticketdesk_notify_event_gate);

/* The called trigger function, looked up once per statement. */
typedef struct GateCallee
{
	FmgrInfo	flinfo;
} GateCallee;

/* A column of the new history row, found by name. */
Datum
notify_event_column(HeapTuple tuple, TupleDesc tupdesc, const char *column, bool *isnull)
{
	int			attnum = SPI_fnumber(tupdesc, column);

	if (attnum <= 0)
		elog(ERROR, "ticketdesk: ticket_event has no column \"%s\"", column);
	return heap_getattr(tuple, attnum, tupdesc, isnull);
}

/* A text column of the new history row, or NULL. */
static char *
event_text(HeapTuple tuple, TupleDesc tupdesc, const char *column)
{
	bool		isnull;
	Datum		value = notify_event_column(tuple, tupdesc, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(value);
}

static bool
text_in(const char *value, const char *const *set, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(value, set[i]) == 0)
			return true;
	return false;
}

/*
 * The events of doc/notify.md ("From events to messages"): the opening, a
 * new assignee, and the status moves somebody is told about. A move back to
 * new is a rejection only from assigned or acknowledged.
 */
static bool
event_notifies(const char *kind, const char *old_value, const char *new_value)
{
	static const char *const told[] = {"acknowledged", "resolved", "confirmed", "closed", "cancelled"};
	static const char *const rejectable[] = {"assigned", "acknowledged"};

	if (strcmp(kind, "created") == 0)
		return true;
	if (strcmp(kind, "assignee") == 0)
		return new_value != NULL;
	if (strcmp(kind, "status") != 0 || new_value == NULL)
		return false;
	if (strcmp(new_value, "new") == 0)
		return old_value != NULL && text_in(old_value, rejectable, lengthof(rejectable));
	return text_in(new_value, told, lengthof(told));
}

static GateCallee *
gate_callee(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	GateCallee *callee = (GateCallee *) fcinfo->flinfo->fn_extra;

	if (callee == NULL)
	{
		Relation	rel = trigdata->tg_relation;
		char	   *schema = get_namespace_name(RelationGetNamespace(rel));
		List	   *name = list_make2(makeString(schema),
									  makeString(trigdata->tg_trigger->tgargs[0]));
		Oid			fn = LookupFuncName(name, 0, NULL, false);

		if (get_func_rettype(fn) != TRIGGEROID)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("function %s.%s() is not a trigger function",
							schema, trigdata->tg_trigger->tgargs[0]),
					 errhint("The argument of notify_event_gate names the trigger function it calls.")));
		callee = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GateCallee));
		fmgr_info_cxt(fn, &callee->flinfo, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = callee;
	}
	return callee;
}

Datum
ticketdesk_notify_event_gate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	char	   *kind;
	char	   *new_value;
	GateCallee *callee;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("notify_event_gate must be an AFTER INSERT row trigger with one argument"),
				 errhint("CREATE TRIGGER ... AFTER INSERT ON ticket_event FOR EACH ROW EXECUTE FUNCTION notify_event_gate('notify_ticket_event').")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;
	kind = event_text(tuple, tupdesc, "kind");
	if (kind == NULL ||
		!event_notifies(kind, event_text(tuple, tupdesc, "old_value"),
						event_text(tuple, tupdesc, "new_value")))
		return PointerGetDatum(NULL);

	/*
	 * The events told to the requester alone, the opening's thank-you above
	 * all, are queued in C (notify_requester.c); the others by the function.
	 */
	if (strcmp(kind, "created") == 0)
	{
		notify_requester_queue(tuple, tupdesc, "registered");
		return PointerGetDatum(NULL);
	}
	new_value = event_text(tuple, tupdesc, "new_value");
	if (strcmp(kind, "status") == 0 && new_value != NULL && strcmp(new_value, "acknowledged") == 0)
	{
		notify_requester_queue(tuple, tupdesc, "acknowledged");
		return PointerGetDatum(NULL);
	}

	/* Call the queueing function as the trigger it is, with this row. */
	callee = gate_callee(fcinfo, trigdata);
	{
		LOCAL_FCINFO(callee_fcinfo, 0);

		InitFunctionCallInfoData(*callee_fcinfo, &callee->flinfo, 0, InvalidOid,
								 fcinfo->context, NULL);
		(void) FunctionCallInvoke(callee_fcinfo);
	}
	return PointerGetDatum(NULL);
}
