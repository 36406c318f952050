/*
 * checklist.c
 *		The completion gate, called by the lifecycle trigger for every status
 *		change, from an API function or a plain UPDATE alike (R13):
 *	- a ticket cannot be finished (resolved, confirmed or closed) while
 *	  required checklist items are open;
 *	- a ticket of a type that requires approval cannot be closed before a
 *	  manager approved its resolution;
 *	- an administrator's bypass, recorded in table gate_bypass by the same
 *	  transaction, lets one move through.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "checklist.h"

#define ERRCODE_TD_CHECKLIST_OPEN		MAKE_SQLSTATE('T','D','5','7','0')
#define ERRCODE_TD_APPROVAL_MISSING		MAKE_SQLSTATE('T','D','5','7','1')

static SPIPlanPtr gate_plan = NULL;

static bool
status_is_finished(TicketStatus s)
{
	return s == TS_RESOLVED || s == TS_CONFIRMED || s == TS_CLOSED;
}

/* True when one of the bypass records was written by this transaction. */
static bool
bypass_in_this_transaction(Datum xids)
{
	ArrayType  *array = DatumGetArrayTypeP(xids);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		TransactionId xid;

		if (nulls[i])
			continue;
		xid = (TransactionId) strtoul(TextDatumGetCString(elems[i]), NULL, 10);
		if (TransactionIdIsCurrentTransactionId(xid))
			return true;
	}
	return false;
}

/* The open items as a quoted, comma-separated list. */
static char *
item_list(Datum items, int *count)
{
	ArrayType  *array = DatumGetArrayTypeP(items);
	Datum	   *elems;
	bool	   *nulls;
	StringInfoData buf;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, count);
	initStringInfo(&buf);
	for (int i = 0; i < *count; i++)
		appendStringInfo(&buf, "%s\"%s\"", i > 0 ? ", " : "",
						 nulls[i] ? "" : TextDatumGetCString(elems[i]));
	return buf.data;
}

/*
 * completion_gate refuses a move into a finished status while required
 * checklist items are open, and a move to closed while a required approval
 * is missing, unless this transaction recorded a bypass for the move.
 */
void
completion_gate(const TicketColumns *tc, Relation rel,
				HeapTuple oldtup, HeapTuple newtup,
				TicketStatus from, TicketStatus to)
{
	bool		check_items = status_is_finished(to) && !status_is_finished(from);
	bool		check_approval = (to == TS_CLOSED);
	Oid			argtypes[7] = {INT4OID, INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID, BOOLOID, BOOLOID};
	Datum		args[7];
	char		nulls[8] = "       ";
	bool		isnull;
	Datum		open_items,
				approval_missing,
				bypass_xids;
	char	   *reference;
	char	   *items = NULL;
	int			nitems = 0;
	bool		missing;
	MemoryContext caller = CurrentMemoryContext;

	if (!check_items && !check_approval)
		return;

	args[0] = ticket_get(tc, rel, oldtup, TC_TENANT_ID, &isnull);
	args[1] = ticket_get(tc, rel, oldtup, TC_TICKET_ID, &isnull);
	args[2] = ticket_get(tc, rel, newtup, TC_TYPE_ID, &isnull);
	args[3] = ticket_get(tc, rel, oldtup, TC_RESOLVED_AT, &isnull);
	if (isnull)
		nulls[3] = 'n';
	args[4] = CStringGetTextDatum(ticket_status_name(to));
	args[5] = BoolGetDatum(check_items);
	args[6] = BoolGetDatum(check_approval);

	SPI_connect();
	if (gate_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT open_items, approval_missing, bypass_xids"
									   "  FROM ticketdesk.completion_gate_state($1, $2, $3, $4,"
									   "       $5::ticketdesk.ticket_status, $6, $7)",
									   7, argtypes);

		if (plan == NULL)
			elog(ERROR, "ticketdesk: could not prepare the completion gate: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		gate_plan = plan;
	}
	/*
	 * Read with the latest snapshot: a checklist change that this update
	 * waited for (its trigger holds a share lock on the ticket) is seen.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_plan(gate_plan, args, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "ticketdesk: could not check the completion gate");
	PopActiveSnapshot();

	open_items = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	approval_missing = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	bypass_xids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	missing = DatumGetBool(approval_missing);

	/* Copy what the error needs out of SPI's memory. */
	if (!bypass_in_this_transaction(bypass_xids))
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		items = item_list(open_items, &nitems);
		MemoryContextSwitchTo(spi);
	}
	else
		missing = false;
	SPI_finish();

	if (items == NULL)
		return;
	reference = TextDatumGetCString(ticket_get(tc, rel, oldtup, TC_REFERENCE, &isnull));
	if (nitems > 0)
		ereport(ERROR,
				(errcode(ERRCODE_TD_CHECKLIST_OPEN),
				 errmsg("ticket %s cannot be %s: %d required checklist item%s open",
						reference, ticket_status_name(to), nitems, nitems == 1 ? " is" : "s are"),
				 errdetail("Open: %s.", items),
				 errhint("Tick the items with ticketdesk.check_item, or have an administrator "
						 "bypass the gate with ticketdesk.override_gate.")));
	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_TD_APPROVAL_MISSING),
				 errmsg("ticket %s cannot be closed before a manager approves its resolution", reference),
				 errdetail("Tickets of this type need a manager's approval (table approval_policy)."),
				 errhint("A dispatcher of the ticket's centre or the assignee's supervisor approves "
						 "with ticketdesk.approve.")));
}
