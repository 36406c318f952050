/*
 * lifecycle.c
 *		The BEFORE INSERT OR UPDATE trigger on ticketdesk.ticket: the one place
 *		where every ticket change, from an API function or a plain UPDATE, is
 *		checked against the allowed moves and the input rules, normalised and
 *		stamped.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "priority.h"
#include "ticketdesk.h"
#include "routing.h"
#include "checklist.h"
#include "principal.h"

PG_FUNCTION_INFO_V1(ticketdesk_ticket_lifecycle);

/* Column replacements collected while checking, applied in one go. */
typedef struct RowEdit
{
	int			n;
	int			attnums[TC_COUNT];
	Datum		values[TC_COUNT];
	bool		nulls[TC_COUNT];
} RowEdit;

/* The timestamp column stamped when a ticket enters a status, if any. */
static const int status_stamp[TS_COUNT] = {
	[TS_NEW] = -1,
	[TS_ASSIGNED] = TC_ASSIGNED_AT,
	[TS_ACKNOWLEDGED] = TC_ACKNOWLEDGED_AT,
	[TS_IN_PROGRESS] = TC_STARTED_AT,
	[TS_WAITING] = -1,
	[TS_RESOLVED] = TC_RESOLVED_AT,
	[TS_CONFIRMED] = TC_CONFIRMED_AT,
	[TS_CLOSED] = TC_CLOSED_AT,
	[TS_CANCELLED] = TC_CANCELLED_AT,
};

static void
edit_set(RowEdit *edit, const TicketColumns *tc, TicketColumn col, Datum value, bool isnull)
{
	AttrNumber	attnum = tc->attnum[col];

	for (int i = 0; i < edit->n; i++)
	{
		if (edit->attnums[i] == attnum)
		{
			edit->values[i] = value;
			edit->nulls[i] = isnull;
			return;
		}
	}
	edit->attnums[edit->n] = attnum;
	edit->values[edit->n] = value;
	edit->nulls[edit->n] = isnull;
	edit->n++;
}

/* A bigint column of the row as it will be stored: edited, else as given. */
static Datum
edited_value(const RowEdit *edit, const TicketColumns *tc, const TicketRow *row,
			 TicketColumn col, bool *isnull)
{
	for (int i = 0; i < edit->n; i++)
		if (edit->attnums[i] == tc->attnum[col])
		{
			*isnull = edit->nulls[i];
			return edit->values[i];
		}
	return ticket_row_get(row, col, isnull);
}

/* Whether a bigint column will be stored other than the old version had it. */
static bool
id_changes(const RowEdit *edit, const TicketColumns *tc, const TicketRow *oldrow,
		   const TicketRow *newrow, TicketColumn col)
{
	bool		oldnull,
				newnull;
	Datum		oldval = ticket_row_get(oldrow, col, &oldnull);
	Datum		newval = edited_value(edit, tc, newrow, col, &newnull);

	if (oldnull || newnull)
		return oldnull != newnull;
	return DatumGetInt64(oldval) != DatumGetInt64(newval);
}

/*
 * set_handed_by edits handed_by as only the trigger sets it: null in a new
 * ticket; the login's agent (null: a role with no agent) when the assignee
 * or the centre will change, the trigger's own routing included; else the
 * old version's, whatever the statement gave. Read from the rows the
 * trigger has deformed already: handed_by is the table's last column, and
 * reaching it in a tuple walks every column before it.
 */
static void
set_handed_by(RowEdit *edit, const TicketColumns *tc, const TicketRow *oldrow, const TicketRow *newrow)
{
	int64		mover = 0;
	Datum		want = (Datum) 0;
	bool		want_null = true;
	bool		has_null;
	Datum		has = ticket_row_get(newrow, TC_HANDED_BY, &has_null);
	bool		isnull;

	if (oldrow != NULL &&
		(id_changes(edit, tc, oldrow, newrow, TC_ASSIGNEE_ID) ||
		 id_changes(edit, tc, oldrow, newrow, TC_CENTER_ID)))
	{
		want_null = !principal_login_agent(DatumGetInt32(ticket_row_get(newrow, TC_TENANT_ID, &isnull)),
										   &mover);
		want = Int64GetDatum(mover);
	}
	else if (oldrow != NULL)
		want = ticket_row_get(oldrow, TC_HANDED_BY, &want_null);
	if (want_null != has_null || (!want_null && DatumGetInt64(want) != DatumGetInt64(has)))
		edit_set(edit, tc, TC_HANDED_BY, want, want_null);
}

/*
 * A staff login sees a ticket it handed on (the policies of
 * 95_roles.sql) but changes it no more, unless it holds the ticket or sees
 * its centre's queue: its move gave the ticket away. Checked here rather
 * than by a policy of UPDATE, which every staff UPDATE of a ticket would
 * plan and evaluate: this reads only the old version, and only when it
 * names a mover.
 */
static void
refuse_change_of_handed_on(const TicketColumns *tc, const TicketRow *oldrow)
{
	bool		isnull;
	Datum		handed_by = ticket_row_get(oldrow, TC_HANDED_BY, &isnull);
	const Principal *p;
	Datum		value;

	if (isnull)
		return;
	p = principal_of(GetUserId());
	if (!p->restricted || !p->has_login_agent || p->login_agent_id != DatumGetInt64(handed_by))
		return;
	value = ticket_row_get(oldrow, TC_ASSIGNEE_ID, &isnull);
	if (!isnull && DatumGetInt64(value) == p->login_agent_id)
		return;
	value = ticket_row_get(oldrow, TC_CENTER_ID, &isnull);
	if (!isnull && principal_sees_center(p, DatumGetInt64(value)))
		return;
	value = ticket_row_get(oldrow, TC_REFERENCE, &isnull);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("ticket %s was handed on by you: you may see it, not change it",
					isnull ? "?" : TextDatumGetCString(value)),
			 errdetail("Your move gave it to another holder or centre; you neither hold it nor see that centre's queue."),
			 errhint("Ask its holder, or a dispatcher of its centre.")));
}

/* True for the statuses in which somebody must hold the ticket. */
static bool
status_needs_assignee(TicketStatus s)
{
	return s == TS_ASSIGNED || s == TS_ACKNOWLEDGED || s == TS_IN_PROGRESS || s == TS_WAITING;
}

/* True for the statuses after the work is done. */
static bool
status_is_finished(TicketStatus s)
{
	return s == TS_RESOLVED || s == TS_CONFIRMED || s == TS_CLOSED;
}

/* True when a text value is missing or only white space. */
static bool
text_is_blank(Datum value, bool isnull)
{
	text	   *t;
	const char *p;
	int			len;

	if (isnull)
		return true;
	t = DatumGetTextPP(value);
	p = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	for (int i = 0; i < len; i++)
		if (!isspace((unsigned char) p[i]))
			return false;
	return true;
}

/* The allowed target statuses as a readable list, for error details. */
static char *
status_list(uint32 mask)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int s = 0; s < TS_COUNT; s++)
	{
		if (mask & (1u << s))
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", ticket_status_name(s));
	}
	if (buf.len == 0)
		appendStringInfoString(&buf, "none");
	return buf.data;
}

/*
 * Refuse a change to a column that is fixed once the ticket exists, or that
 * only this trigger writes: the lifecycle times.
 */
static void
check_immutable(const TicketRow *oldrow, const TicketRow *newrow)
{
	static const TicketColumn fixed[] = {
		TC_TENANT_ID, TC_TICKET_ID, TC_CREATED_AT, TC_UPDATED_AT, TC_ASSIGNED_AT,
		TC_ACKNOWLEDGED_AT, TC_STARTED_AT, TC_RESOLVED_AT, TC_CONFIRMED_AT,
		TC_CLOSED_AT, TC_CANCELLED_AT,
	};

	for (int i = 0; i < lengthof(fixed); i++)
	{
		if (ticket_row_changed(oldrow, newrow, fixed[i]))
			ereport(ERROR,
					(errcode(ERRCODE_TD_IMMUTABLE_COLUMN),
					 errmsg("column %s of a ticket cannot be changed", ticket_column_name(fixed[i])),
					 i < 3 ? errdetail("A ticket keeps its tenant, its number and its creation time for life.")
					 : errdetail("The lifecycle times are stamped by ticketdesk alone."),
					 i < 3 ? errhint("Open a new ticket instead.")
					 : errhint("Change the status with a lifecycle move; the times follow.")));
	}
}

/*
 * Check the requester, the subject, the weights, the deadline and the
 * planned period.
 */
static void
check_input(const TicketRow *row)
{
	bool		isnull;
	Datum		value;
	static const TicketColumn requesters[] = {TC_CUSTOMER_ID, TC_CONTACT_ID, TC_REQUESTER_AGENT_ID};
	bool		has_requester = false;

	for (int i = 0; i < lengthof(requesters); i++)
	{
		(void) ticket_row_get(row, requesters[i], &isnull);
		has_requester |= !isnull;
	}
	if (!has_requester)
		ereport(ERROR,
				(errcode(ERRCODE_TD_REQUESTER_REQUIRED),
				 errmsg("a ticket needs a requester"),
				 errdetail("customer_id, contact_id and requester_agent_id are all missing."),
				 errhint("Name the customer, the contact person or the employee who asks.")));

	value = ticket_row_get(row, TC_SUBJECT, &isnull);
	if (text_is_blank(value, isnull))
		ereport(ERROR,
				(errcode(ERRCODE_TD_SUBJECT_REQUIRED),
				 errmsg("a ticket needs a subject"),
				 errdetail("The subject is missing or blank."),
				 errhint("Give a short summary of the request as the subject.")));

	/*
	 * The weights' range is the domain ticket_weight's (weight_in_range);
	 * what is left here is the requester's weight missing.
	 */
	(void) ticket_row_get(row, TC_REQUESTER_WEIGHT, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_TD_WEIGHT_OUT_OF_RANGE),
				 errmsg("%s must be between 1 and 5", ticket_column_name(TC_REQUESTER_WEIGHT)),
				 errdetail("It is missing."),
				 errhint("1 is the least important, 5 the most; 3 is normal.")));

	value = ticket_row_get(row, TC_DEADLINE, &isnull);
	if (!isnull)
	{
		bool		creatednull;
		Datum		created = ticket_row_get(row, TC_CREATED_AT, &creatednull);

		if (!creatednull && DatumGetTimestampTz(value) < DatumGetTimestampTz(created))
		{
			/* timestamptz_to_str returns a static buffer: copy each result */
			char	   *deadline_text = pstrdup(timestamptz_to_str(DatumGetTimestampTz(value)));
			char	   *created_text = pstrdup(timestamptz_to_str(DatumGetTimestampTz(created)));

			ereport(ERROR,
					(errcode(ERRCODE_TD_DEADLINE_BEFORE_OPEN),
					 errmsg("the deadline is before the ticket was opened"),
					 errdetail("The deadline is %s; the ticket was opened at %s.",
							   deadline_text, created_text),
					 errhint("Give a deadline after the moment the ticket was opened.")));
		}
	}

	value = ticket_row_get(row, TC_PLANNED, &isnull);
	if (!isnull)
	{
		RangeType  *range = DatumGetRangeTypeP(value);
		TypeCacheEntry *typcache = lookup_type_cache(RangeTypeGetOid(range), TYPECACHE_RANGE_INFO);
		RangeBound	lower,
					upper;
		bool		empty;

		range_deserialize(typcache, range, &lower, &upper, &empty);
		if (empty || lower.infinite || upper.infinite)
			ereport(ERROR,
					(errcode(ERRCODE_TD_BAD_PLANNED_PERIOD),
					 errmsg("the planned period must have a start and an end"),
					 errdetail("The planned period is %s.", empty ? "empty" : "open-ended"),
					 errhint("Give the first and the last moment of the planned work, the start before the end.")));
	}
}

/*
 * ticketdesk_ticket_lifecycle validates a ticket insert or update and
 * returns the row to store:
 *	- a new ticket starts as new, or as assigned when it names an assignee;
 *	- setting an assignee on a new ticket assigns it; returning a ticket to
 *	  new (reject, redirect) releases its assignee; a new holder of work
 *	  under way starts again at assigned; a closed or cancelled ticket keeps
 *	  its holder;
 *	- any other status change must be allowed by table transition;
 *	- finished work has a resolution; the input rules hold (requester,
 *	  subject, weights, deadline, planned period);
 *	- the priority is computed from the matrix unless it is fixed;
 *	- times are stamped by the trigger alone: updated_at, the time each
 *	  status was entered; reopening clears the finished-work times;
 *	- handed_by is the trigger's alone (set_handed_by).
 */
Datum
ticketdesk_ticket_lifecycle(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	const TicketColumns *tc;
	HeapTuple	newtup;
	HeapTuple	oldtup = NULL;
	TicketRow	oldrow;
	TicketRow	newrow;			/* newtup as it came, read before any edit */
	bool		is_insert;
	RowEdit		edit = {0};
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	Oid			statustype;
	TicketStatus status;
	TicketStatus old_status = TS_NEW;
	bool		isnull;
	bool		assignee_null;
	Datum		value;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ticket_lifecycle must be a BEFORE INSERT OR UPDATE row trigger")));

	rel = trigdata->tg_relation;
	tc = ticket_columns(rel);
	statustype = tc->typid[TC_STATUS];
	is_insert = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	if (is_insert)
	{
		newtup = trigdata->tg_trigtuple;
		ticket_row_read(&newrow, tc, rel, newtup);
		oldrow = newrow;		/* no old version: nothing reads as changed */
	}
	else
	{
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
		ticket_row_read(&oldrow, tc, rel, oldtup);
		ticket_row_read(&newrow, tc, rel, newtup);
		check_immutable(&oldrow, &newrow);
		old_status = ticket_status_from_datum(statustype,
											  ticket_row_get(&oldrow, TC_STATUS, &isnull));
	}

	value = ticket_row_get(&newrow, TC_STATUS, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("the status of a ticket cannot be null")));
	status = ticket_status_from_datum(statustype, value);
	(void) ticket_row_get(&newrow, TC_ASSIGNEE_ID, &assignee_null);

	/*
	 * A plain UPDATE of the centre is a redirect, as redirect() makes it: the
	 * ticket goes to the new centre's queue (or to the assignee the same
	 * UPDATE names), and the transition table decides whether it may.
	 */
	if (!is_insert && status == old_status && old_status != TS_NEW &&
		ticket_row_changed(&oldrow, &newrow, TC_CENTER_ID))
	{
		if (!assignee_null && ticket_row_changed(&oldrow, &newrow, TC_ASSIGNEE_ID))
			status = TS_ASSIGNED;
		else
			status = TS_NEW;
	}

	/* The workflow stage, and automatic routing when nobody was named (routing.c). */
	{
		RoutingDecision route;

		routing_decide(tc, rel, oldtup, newtup, status, assignee_null, &route);
		if (route.set_stage)
			edit_set(&edit, tc, TC_STAGE, Int16GetDatum(route.stage), false);
		if (route.agent_id != 0)
		{
			edit_set(&edit, tc, TC_ASSIGNEE_ID, Int64GetDatum(route.agent_id), false);
			assignee_null = false;
			status = TS_ASSIGNED;
		}
	}

	/* Naming an assignee on a new ticket is assigning it. */
	if (old_status == TS_NEW && status == TS_NEW && !assignee_null)
		status = TS_ASSIGNED;

	if (is_insert)
	{
		if (status != TS_NEW && status != TS_ASSIGNED)
			ereport(ERROR,
					(errcode(ERRCODE_TD_INVALID_TRANSITION),
					 errmsg("a ticket cannot start as %s", ticket_status_name(status)),
					 errdetail("A ticket starts as new, or as assigned when it names an assignee."),
					 errhint("Open the ticket, then move it with the lifecycle functions. "
							 "To restore a dump, run pg_restore or psql with PGOPTIONS='-c session_replication_role=replica'.")));
	}
	else
	{
		bool		assignee_changed = ticket_row_changed(&oldrow, &newrow, TC_ASSIGNEE_ID);

		/* Back in the queue nobody holds it. */
		if (status == TS_NEW && old_status != TS_NEW && !assignee_null)
		{
			edit_set(&edit, tc, TC_ASSIGNEE_ID, (Datum) 0, true);
			assignee_null = true;
		}

		/* A new holder of work under way starts again at assigned. */
		if (status == old_status && assignee_changed && !assignee_null &&
			(status == TS_ACKNOWLEDGED || status == TS_IN_PROGRESS || status == TS_WAITING))
			status = TS_ASSIGNED;

		/* A closed or cancelled ticket keeps the holder it ended with. */
		if (status == old_status && assignee_changed &&
			(status == TS_CLOSED || status == TS_CANCELLED))
			ereport(ERROR,
					(errcode(ERRCODE_TD_TICKET_FINISHED),
					 errmsg("the assignee of a %s ticket cannot be changed", ticket_status_name(status)),
					 errdetail("Ticket %s is %s.",
							   TextDatumGetCString(ticket_row_get(&oldrow, TC_REFERENCE, &isnull)),
							   ticket_status_name(status)),
					 errhint("Reopen the ticket first.")));

		if (status != old_status)
		{
			uint32		allowed;
			int32		tenant_id = DatumGetInt32(ticket_row_get(&oldrow, TC_TENANT_ID, &isnull));
			int64		type_id = DatumGetInt64(ticket_row_get(&newrow, TC_TYPE_ID, &isnull));

			if (!transition_allowed(tenant_id, type_id, old_status, status, &allowed))
				ereport(ERROR,
						(errcode(ERRCODE_TD_INVALID_TRANSITION),
						 errmsg("ticket %s cannot move from %s to %s",
								TextDatumGetCString(ticket_row_get(&oldrow, TC_REFERENCE, &isnull)),
								ticket_status_name(old_status), ticket_status_name(status)),
						 errdetail("From %s the allowed next statuses are: %s.",
								   ticket_status_name(old_status), status_list(allowed)),
						 errhint("Use a move allowed from the current status, or add the move to table ticketdesk.transition.")));
			completion_gate(tc, rel, oldtup, newtup, old_status, status);
		}

		/* Finished work always says what was done. */
		value = ticket_row_get(&newrow, TC_RESOLUTION, &isnull);
		if (status_is_finished(status) && text_is_blank(value, isnull))
			ereport(ERROR,
					(errcode(ERRCODE_TD_RESOLUTION_REQUIRED),
					 errmsg("a %s ticket needs a resolution text", ticket_status_name(status)),
					 errdetail("The resolution is missing or blank."),
					 errhint("Say what was done, so the requester can confirm it.")));
	}

	if (status_needs_assignee(status) && assignee_null)
		ereport(ERROR,
				(errcode(ERRCODE_TD_ASSIGNEE_REQUIRED),
				 errmsg("a ticket that is %s needs an assignee", ticket_status_name(status)),
				 errdetail("Only new, resolved, confirmed, closed and cancelled tickets may have no assignee."),
				 errhint("Assign the ticket to an agent first.")));

	check_input(&newrow);

	/* The priority: computed from the matrix unless the dispatcher fixed it. */
	if (priority_for_ticket(is_insert ? NULL : &oldrow, &newrow,
							GetCurrentTransactionStartTimestamp(), &value))
		edit_set(&edit, tc, TC_PRIORITY, value, false);

	/* Stamp the times. */
	edit_set(&edit, tc, TC_STATUS, ticket_status_to_datum(statustype, status), false);
	edit_set(&edit, tc, TC_UPDATED_AT, now, false);
	if (is_insert || status != old_status)
	{
		int			stamp = status_stamp[status];

		if (stamp >= 0)
		{
			/* Work starts once; resuming after waiting keeps the first start. */
			(void) ticket_row_get(&newrow, stamp, &isnull);
			if (stamp != TC_STARTED_AT || isnull)
				edit_set(&edit, tc, stamp, now, false);
		}
	}
	if (!is_insert && status_is_finished(old_status) && !status_is_finished(status))
	{
		/* Reopened: the finished-work times and the resolution start again. */
		edit_set(&edit, tc, TC_RESOLVED_AT, (Datum) 0, true);
		edit_set(&edit, tc, TC_CONFIRMED_AT, (Datum) 0, true);
		edit_set(&edit, tc, TC_CLOSED_AT, (Datum) 0, true);
		edit_set(&edit, tc, TC_RESOLUTION, (Datum) 0, true);
	}
	if (!is_insert && old_status == TS_CANCELLED && status != TS_CANCELLED)
		edit_set(&edit, tc, TC_CANCELLED_AT, (Datum) 0, true);
	/* Whoever holds it now has not acknowledged it yet. */
	if (status == TS_ASSIGNED)
		edit_set(&edit, tc, TC_ACKNOWLEDGED_AT, (Datum) 0, true);
	if (!assignee_null &&
		(is_insert || ticket_row_changed(&oldrow, &newrow, TC_ASSIGNEE_ID)))
	{
		edit_set(&edit, tc, TC_ASSIGNED_AT, now, false);
	}

	/*
	 * A move that hands the ticket on (a new assignee or centre: a
	 * rejection, a hand-over, a redirection) names the agent who made it.
	 * Row-level security lets that agent go on seeing the ticket, which the
	 * move itself needs: PostgreSQL checks an UPDATE's new row against what
	 * its maker may read (doc/security.md). Nobody else writes handed_by: a
	 * value given in an INSERT or UPDATE is replaced, so no one can show a
	 * ticket to another agent by naming them. A database not yet updated
	 * to 0.12 has no such column.
	 */
	if (tc->attnum[TC_HANDED_BY] != InvalidAttrNumber)
	{
		if (!is_insert)
			refuse_change_of_handed_on(tc, &oldrow);
		set_handed_by(&edit, tc, is_insert ? NULL : &oldrow, &newrow);
	}

	newtup = heap_modify_tuple_by_cols(newtup, RelationGetDescr(rel), edit.n,
									   edit.attnums, edit.values, edit.nulls);
	return PointerGetDatum(newtup);
}
