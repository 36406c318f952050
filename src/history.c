/*
 * history.c
 *		The AFTER INSERT OR UPDATE trigger on ticketdesk.ticket: writes one
 *		ticket_event row per changed field, with the actor and the note of
 *		the move, in the same transaction as the change.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_ticket_history);

/* The fields whose changes are recorded, and the event kind of each. */
static const struct
{
	TicketColumn col;
	const char *kind;
}			tracked[] = {
	{TC_STATUS, "status"},
	{TC_ASSIGNEE_ID, "assignee"},
	{TC_CENTER_ID, "center"},
	{TC_TYPE_ID, "type"},
	{TC_CATEGORY_ID, "category"},
	{TC_INTERNAL_CATEGORY_ID, "internal_category"},
	{TC_REQUESTER_WEIGHT, "requester_weight"},
	{TC_DISPATCHER_WEIGHT, "dispatcher_weight"},
	{TC_PRIORITY, "priority"},
	{TC_PRIORITY_FIXED, "priority_fixed"},
	{TC_DEADLINE, "deadline"},
	{TC_PLANNED, "planned"},
	{TC_SUBJECT, "subject"},
	{TC_DESCRIPTION, "description"},
	{TC_CUSTOMER_ID, "customer"},
	{TC_CONTACT_ID, "contact"},
	{TC_REQUESTER_AGENT_ID, "requester_agent"},
	{TC_PRODUCT_ID, "product"},
	{TC_OBJECT_TEXT, "object_text"},
	{TC_INVOICE_REF, "invoice_ref"},
	{TC_SITE_ID, "site"},
	{TC_PARENT_ID, "parent"},
	{TC_RESOLUTION, "resolution"},
	{TC_STAGE, "stage"},
};

#define MAX_EVENTS (lengthof(tracked) + 1)

typedef struct EventList
{
	int			n;
	Datum		kind[MAX_EVENTS];
	Datum		old_value[MAX_EVENTS];
	Datum		new_value[MAX_EVENTS];
	bool		old_null[MAX_EVENTS];
	bool		new_null[MAX_EVENTS];
} EventList;

static SPIPlanPtr insert_plan = NULL;

/* The text form of a column, or a null Datum (also for no row). */
static Datum
column_text(const TicketRow *row, TicketColumn col, bool *isnull)
{
	Datum		value;

	if (row == NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	value = ticket_row_get(row, col, isnull);
	if (*isnull)
		return (Datum) 0;
	return CStringGetTextDatum(OidOutputFunctionCall(row->tc->typoutput[col], value));
}

static void
add_event(EventList *events, const char *kind, const TicketRow *oldrow, const TicketRow *newrow,
		  TicketColumn col)
{
	int			i = events->n++;

	events->kind[i] = CStringGetTextDatum(kind);
	events->old_value[i] = column_text(oldrow, col, &events->old_null[i]);
	events->new_value[i] = column_text(newrow, col, &events->new_null[i]);
}

static Datum
text_array(Datum *values, bool *nulls, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  TEXTOID, -1, false, TYPALIGN_INT));
}

static SPIPlanPtr insert_one_plan = NULL;

/* Prepare and keep a plan of the history insert. */
static SPIPlanPtr
history_saved_plan(SPIPlanPtr *plan, const char *query, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(query, 7, argtypes);

		if (p == NULL)
			elog(ERROR, "ticketdesk: could not prepare the history insert: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/*
 * Insert the collected events in one statement, through a saved plan: a
 * single VALUES row for the common case of one event (a cheaper plan than
 * unnesting arrays), else the arrays in event order.
 */
static void
insert_events(int32 tenant_id, int64 ticket_id, EventList *events)
{
	Oid			array_types[7] = {INT4OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, INT8OID};
	Oid			one_types[7] = {INT4OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		args[7];
	char		nulls[7] = "       ";
	bool		no_actor = true;
	bool		no_nulls[MAX_EVENTS] = {0};
	SPIPlanPtr	plan;

	SPI_connect();
	args[0] = Int32GetDatum(tenant_id);
	args[1] = Int64GetDatum(ticket_id);
	if (events->n == 1)
	{
		plan = history_saved_plan(&insert_one_plan,
								  "INSERT INTO ticketdesk.ticket_event"
								  "       (tenant_id, ticket_id, kind, old_value, new_value, note, actor_agent_id)"
								  " VALUES ($1, $2, $3, $4, $5, $6, $7)",
								  one_types);
		args[2] = events->kind[0];
		args[3] = events->old_value[0];
		args[4] = events->new_value[0];
		if (events->old_null[0])
			nulls[3] = 'n';
		if (events->new_null[0])
			nulls[4] = 'n';
	}
	else
	{
		plan = history_saved_plan(&insert_plan,
								  "INSERT INTO ticketdesk.ticket_event"
								  "       (tenant_id, ticket_id, kind, old_value, new_value, note, actor_agent_id)"
								  " SELECT $1, $2, e.kind, e.old_value, e.new_value, $6, $7"
								  "   FROM unnest($3, $4, $5) WITH ORDINALITY AS e(kind, old_value, new_value, n)"
								  "  ORDER BY e.n",
								  array_types);
		args[2] = text_array(events->kind, no_nulls, events->n);
		args[3] = text_array(events->old_value, events->old_null, events->n);
		args[4] = text_array(events->new_value, events->new_null, events->n);
	}
	if (ticketdesk_note != NULL && ticketdesk_note[0] != '\0')
		args[5] = CStringGetTextDatum(ticketdesk_note);
	else
		nulls[5] = 'n';
	/* The acting agent, when the ticket is of the session's tenant. */
	if (tenant_id == ticketdesk_tenant)
		args[6] = Int64GetDatum(current_agent_id(tenant_id, &no_actor));
	if (no_actor)
		nulls[6] = 'n';

	if (SPI_execute_plan(plan, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "ticketdesk: could not record the ticket history");
	SPI_finish();
}

/*
 * ticketdesk_ticket_history records a ticket's creation (its first status,
 * and its assignee if it was opened assigned) or, on update, every tracked
 * field that changed.
 */
Datum
ticketdesk_ticket_history(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	const TicketColumns *tc;
	TicketRow	oldrow;
	TicketRow	newrow;
	EventList	events;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ticket_history must be an AFTER INSERT OR UPDATE row trigger")));

	rel = trigdata->tg_relation;
	tc = ticket_columns(rel);
	events.n = 0;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		ticket_row_read(&newrow, tc, rel, trigdata->tg_trigtuple);
		add_event(&events, "created", NULL, &newrow, TC_STATUS);
		(void) ticket_row_get(&newrow, TC_ASSIGNEE_ID, &isnull);
		if (!isnull)
			add_event(&events, "assignee", NULL, &newrow, TC_ASSIGNEE_ID);
	}
	else
	{
		ticket_row_read(&oldrow, tc, rel, trigdata->tg_trigtuple);
		ticket_row_read(&newrow, tc, rel, trigdata->tg_newtuple);
		for (int i = 0; i < lengthof(tracked); i++)
			if (ticket_row_changed(&oldrow, &newrow, tracked[i].col))
				add_event(&events, tracked[i].kind, &oldrow, &newrow, tracked[i].col);
	}

	if (events.n > 0)
		insert_events(DatumGetInt32(ticket_row_get(&newrow, TC_TENANT_ID, &isnull)),
					  DatumGetInt64(ticket_row_get(&newrow, TC_TICKET_ID, &isnull)),
					  &events);

	return PointerGetDatum(NULL);
}
