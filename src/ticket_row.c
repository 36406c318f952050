/*
 * ticket_row.c
 *		Finds the ticket table's columns by name once per backend, so the
 *		triggers read and replace them by attribute number.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "ticketdesk.h"

static const char *const column_names[TC_COUNT] = {
	[TC_TENANT_ID] = "tenant_id",
	[TC_TICKET_ID] = "ticket_id",
	[TC_REFERENCE] = "reference",
	[TC_TYPE_ID] = "type_id",
	[TC_CENTER_ID] = "center_id",
	[TC_CATEGORY_ID] = "category_id",
	[TC_INTERNAL_CATEGORY_ID] = "internal_category_id",
	[TC_SUBJECT] = "subject",
	[TC_DESCRIPTION] = "description",
	[TC_CUSTOMER_ID] = "customer_id",
	[TC_CONTACT_ID] = "contact_id",
	[TC_REQUESTER_AGENT_ID] = "requester_agent_id",
	[TC_PRODUCT_ID] = "product_id",
	[TC_OBJECT_TEXT] = "object_text",
	[TC_INVOICE_REF] = "invoice_ref",
	[TC_REQUESTER_WEIGHT] = "requester_weight",
	[TC_DISPATCHER_WEIGHT] = "dispatcher_weight",
	[TC_PRIORITY] = "priority",
	[TC_DEADLINE] = "deadline",
	[TC_PLANNED] = "planned",
	[TC_SITE_ID] = "site_id",
	[TC_STATUS] = "status",
	[TC_ASSIGNEE_ID] = "assignee_id",
	[TC_PARENT_ID] = "parent_id",
	[TC_RESOLUTION] = "resolution",
	[TC_CREATED_AT] = "created_at",
	[TC_UPDATED_AT] = "updated_at",
	[TC_ASSIGNED_AT] = "assigned_at",
	[TC_ACKNOWLEDGED_AT] = "acknowledged_at",
	[TC_STARTED_AT] = "started_at",
	[TC_RESOLVED_AT] = "resolved_at",
	[TC_CONFIRMED_AT] = "confirmed_at",
	[TC_CLOSED_AT] = "closed_at",
	[TC_CANCELLED_AT] = "cancelled_at",
	[TC_PRIORITY_FIXED] = "priority_fixed",
	[TC_STAGE] = "stage",
	[TC_CHANNEL] = "channel",
	[TC_REGISTERED_BY] = "registered_by",
	[TC_HANDED_BY] = "handed_by",
};

/*
 * Columns a database of an older version lacks until it is updated: the
 * one library serves every version (doc/operations.md), so their attnum
 * stays InvalidAttrNumber there and the triggers leave them alone.
 */
static const bool column_optional[TC_COUNT] = {
	[TC_HANDED_BY] = true,
};

static TicketColumns cached;
static bool callback_registered = false;

/* Forget the attribute numbers when the ticket table's definition changes. */
static void
ticket_columns_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cached.relid)
		cached.relid = InvalidOid;
}

/* ticket_column_name returns the SQL name of a ticket column. */
const char *
ticket_column_name(TicketColumn col)
{
	return column_names[col];
}

/*
 * ticket_columns returns the attribute numbers and types of the ticket
 * columns in rel, looked up by name on first use after any change to rel.
 */
const TicketColumns *
ticket_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (cached.relid == RelationGetRelid(rel))
		return &cached;

	if (!callback_registered)
	{
		ticketdesk_register_relcache_callback(ticket_columns_invalidate);
		callback_registered = true;
	}

	for (int c = 0; c < TC_COUNT; c++)
	{
		cached.attnum[c] = InvalidAttrNumber;
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), column_names[c]) == 0)
			{
				bool		isvarlena;

				cached.attnum[c] = att->attnum;
				cached.typid[c] = att->atttypid;
				cached.typlen[c] = att->attlen;
				cached.typbyval[c] = att->attbyval;
				getTypeOutputInfo(att->atttypid, &cached.typoutput[c], &isvarlena);
				break;
			}
		}
		if (cached.attnum[c] == InvalidAttrNumber && !column_optional[c])
			elog(ERROR, "ticketdesk: table %s has no column \"%s\"",
				 RelationGetRelationName(rel), column_names[c]);
	}
	cached.relid = RelationGetRelid(rel);
	return &cached;
}

/* ticket_get returns one column of a ticket row. */
Datum
ticket_get(const TicketColumns *tc, Relation rel, HeapTuple tup,
		   TicketColumn col, bool *isnull)
{
	return heap_getattr(tup, tc->attnum[col], RelationGetDescr(rel), isnull);
}

/* Do two values of a column differ (a null differs from any value)? */
static bool
column_values_differ(const TicketColumns *tc, TicketColumn col,
					 Datum oldval, bool oldnull, Datum newval, bool newnull)
{
	if (oldnull || newnull)
		return oldnull != newnull;
	return !datumIsEqual(oldval, newval, tc->typbyval[col], tc->typlen[col]);
}

/* ticket_column_changed says whether a column differs between two row versions. */
bool
ticket_column_changed(const TicketColumns *tc, Relation rel,
					  HeapTuple oldtup, HeapTuple newtup, TicketColumn col)
{
	bool		oldnull,
				newnull;
	Datum		oldval = ticket_get(tc, rel, oldtup, col, &oldnull);
	Datum		newval = ticket_get(tc, rel, newtup, col, &newnull);

	return column_values_differ(tc, col, oldval, oldnull, newval, newnull);
}

/* ticket_row_read deforms a ticket row once (into the current memory context). */
void
ticket_row_read(TicketRow *row, const TicketColumns *tc, Relation rel, HeapTuple tup)
{
	TupleDesc	desc = RelationGetDescr(rel);

	row->tc = tc;
	row->values = palloc(desc->natts * sizeof(Datum));
	row->isnull = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(tup, desc, row->values, row->isnull);
}

/* ticket_row_get returns one column of a deformed row. */
Datum
ticket_row_get(const TicketRow *row, TicketColumn col, bool *isnull)
{
	int			i = row->tc->attnum[col] - 1;

	*isnull = row->isnull[i];
	return row->values[i];
}

/* ticket_row_changed says whether a column differs between two deformed versions. */
bool
ticket_row_changed(const TicketRow *oldrow, const TicketRow *newrow, TicketColumn col)
{
	bool		oldnull,
				newnull;
	Datum		oldval = ticket_row_get(oldrow, col, &oldnull);
	Datum		newval = ticket_row_get(newrow, col, &newnull);

	return column_values_differ(newrow->tc, col, oldval, oldnull, newval, newnull);
}
