/*
 * history.c
 *		The AFTER INSERT OR UPDATE trigger on ticketdesk.ticket: writes one
 *		ticket_event row per changed field, with the actor and the note of
 *		the move, in the same transaction as the change.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"

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
	HistoryEvent event[MAX_EVENTS];
} EventList;

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
	HistoryEvent *e = &events->event[events->n++];

	e->kind = kind;
	e->old_value = column_text(oldrow, col, &e->old_null);
	e->new_value = column_text(newrow, col, &e->new_null);
}

/*
 * history_append appends events of a ticket to ticket_event, in order
 * (direct_write.c: no SQL statement; the table's triggers fire as for an
 * INSERT), with the note (NULL or empty: none) and the acting agent when
 * the ticket is of the session's tenant. Only a trigger on the ticket may
 * call it: the rows' reference to the ticket is not checked again, nor is
 * the acting agent's when it is agent_locked (0: none), an agent the
 * ticket's own foreign key holds in this transaction, nor when her guard
 * holds her (acting_agent); any other is locked as the foreign key's check
 * would lock her.
 */
void
history_append(int32 tenant_id, int64 ticket_id, const HistoryEvent *events, int n,
			   const char *note, int64 agent_locked)
{
	static const char *const columns[] = {
		"tenant_id", "ticket_id", "kind", "old_value", "new_value", "note", "actor_agent_id"
	};
	/*
	 * Every row refers to the ticket whose trigger writes it, and to the
	 * acting agent, whose row is locked here as the foreign key's check
	 * would lock it.
	 */
	static const char *const vouched[] = {"ticket", "agent", NULL};
	static DirectTable ticket_event = {"ticket_event", lengthof(columns), columns, vouched};
	static DirectTable agent = {"agent", 0, NULL, NULL};
	Datum		values[7];
	bool		nulls[7] = {false};
	bool		no_actor = true;
	bool		actor_held = false;
	DirectWrite *write;

	values[0] = Int32GetDatum(tenant_id);
	values[1] = Int64GetDatum(ticket_id);
	if (note != NULL && note[0] != '\0')
		values[5] = CStringGetTextDatum(note);
	else
		nulls[5] = true;
	if (tenant_id == ticketdesk_tenant)
		values[6] = Int64GetDatum(acting_agent(tenant_id, &no_actor, &actor_held));
	nulls[6] = no_actor;
	if (!no_actor && !actor_held && DatumGetInt64(values[6]) != agent_locked)
	{
		Datum		key[2] = {values[0], values[6]};

		if (!direct_key_share(&agent, key))
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("the acting agent %lld does not exist", (long long) DatumGetInt64(values[6])),
					 errdetail("A ticket's history names the agent who made the change; agent %lld of tenant %d was deleted meanwhile.",
							   (long long) DatumGetInt64(values[6]), tenant_id),
					 errhint("Act as an existing agent (setting ticketdesk.agent or the role's agent), or as nobody.")));
	}

	write = direct_begin(&ticket_event);
	for (int i = 0; i < n; i++)
	{
		values[2] = CStringGetTextDatum(events[i].kind);
		values[3] = events[i].old_value;
		nulls[3] = events[i].old_null;
		values[4] = events[i].new_value;
		nulls[4] = events[i].new_null;
		direct_append(write, values, nulls);
	}
	direct_close_indexes(write);
	direct_end(write);
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
	int64		agent_locked = 0;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ticket_history must be an AFTER INSERT OR UPDATE row trigger")));

	keyed_row_written(trigdata);	/* the requester's message reads it (keyed_read.c) */
	rel = trigdata->tg_relation;
	tc = ticket_columns(rel);
	events.n = 0;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		Datum		registered_by;

		ticket_row_read(&newrow, tc, rel, trigdata->tg_trigtuple);
		add_event(&events, "created", NULL, &newrow, TC_STATUS);
		(void) ticket_row_get(&newrow, TC_ASSIGNEE_ID, &isnull);
		if (!isnull)
			add_event(&events, "assignee", NULL, &newrow, TC_ASSIGNEE_ID);

		/*
		 * The agent who registers the ticket is usually the one acting. The
		 * new row's foreign key to that agent holds the agent's row in this
		 * transaction (its check fires before this trigger, by name;
		 * open_ticket_write locks it before any AFTER trigger, or her guard
		 * holds her, see acting_agent; a deferred check fails the whole
		 * transaction, this history row included), so
		 * the history row's reference to the same agent needs no lock of its
		 * own. Not under session_replication_role = replica, where foreign
		 * keys are not checked.
		 */
		registered_by = ticket_row_get(&newrow, TC_REGISTERED_BY, &isnull);
		if (!isnull && SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA)
			agent_locked = DatumGetInt64(registered_by);
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
		history_append(DatumGetInt32(ticket_row_get(&newrow, TC_TENANT_ID, &isnull)),
					   DatumGetInt64(ticket_row_get(&newrow, TC_TICKET_ID, &isnull)),
					   events.event, events.n, ticketdesk_note, agent_locked);

	return PointerGetDatum(NULL);
}
