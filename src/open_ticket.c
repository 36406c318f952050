/*
 * open_ticket.c
 *		ticketdesk.open_ticket: the usual request opened in C, anything
 *		else by open_ticket_sql, the same checks as queries.
 *
 * An opening's PL/pgSQL body cost about 165,000 instructions besides the
 * writes it asks for (doc/benchmarks.md, "Session 7: open_ticket in C"):
 * the function's two settings set and reset, a look-up statement, a dozen
 * expressions and the twenty-column row assigned twice. Most requests name
 * a centre, a type, a category and a contact and nothing else that needs a
 * look-up (a web form, a phone call, the mail gateway), and their checks
 * are two: the references that opening_type vouches for from its cache
 * (held by the reference guard, reference_guard.c), and the contact, found
 * and locked by key as its foreign key would lock it, with the caller's own
 * policies evaluated on the row (caller_policies.c), since they may hide
 * it. Such a request is opened here.
 *
 * Everything else goes to open_ticket_sql (schema/82_api_ticket.sql), the
 * PL/pgSQL body this function replaced, with the same arguments: a customer,
 * an agent, a site, a product, a parent or a planned period to check, a
 * weight out of range, a reference the cache cannot vouch for, a contact
 * the caller does not see, or a row opening_write leaves to the INSERT.
 * Every refusal therefore comes from the one place that has always given
 * it, and this file never refuses anything itself. Nothing is written
 * before the hand-over, so nothing is written twice.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "opening.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_open_ticket);

/* open_ticket's arguments, in the order of its signature. */
typedef enum OpenTicketArg
{
	ARG_SUBJECT,
	ARG_CENTER,
	ARG_DESCRIPTION,
	ARG_TYPE,
	ARG_CUSTOMER,
	ARG_CONTACT,
	ARG_REQUESTER_AGENT,
	ARG_CATEGORY,
	ARG_CHANNEL,
	ARG_REQUESTER_WEIGHT,
	ARG_DEADLINE,
	ARG_PLANNED_FROM,
	ARG_PLANNED_TO,
	ARG_SITE,
	ARG_PRODUCT,
	ARG_OBJECT_TEXT,
	ARG_INVOICE_REF,
	ARG_ASSIGNEE,
	ARG_REGISTERED_BY,
	ARG_PARENT,
	OPEN_TICKET_ARGS
} OpenTicketArg;

/* Arguments whose checks only open_ticket_sql makes: given, it opens. */
static const OpenTicketArg checked_by_queries[] = {
	ARG_CUSTOMER, ARG_REQUESTER_AGENT, ARG_PLANNED_FROM, ARG_PLANNED_TO, ARG_SITE,
	ARG_PRODUCT, ARG_ASSIGNEE, ARG_REGISTERED_BY, ARG_PARENT
};

/*
 * The contact's customer, read as the caller: a contact the caller's
 * policies hide is not found, as by open_ticket_sql's look-up. Operators
 * are named with their schema, so the caller's search_path cannot swap
 * them. A generic plan, as open_ticket_sql's plan_cache_mode asks for.
 * Used when caller_sees_row cannot tell.
 */
static const char *const contact_query =
"SELECT n.customer_id FROM ticketdesk.contact n"
" WHERE n.tenant_id OPERATOR(pg_catalog.=) $1 AND n.contact_id OPERATOR(pg_catalog.=) $2";
static SPIPlanPtr contact_plan = NULL;

/* The contact, found and locked by key, and the caller's policies on it. */
static DirectTable contact_table = {"contact", 0, NULL, NULL};
static CallerPolicies contact_policies;
static uint64 contact_generation = 0;
static AttrNumber contact_customer_att = InvalidAttrNumber;

/* The contact's customer by contact_query. */
static bool
contact_customer_by_query(int32 tenant_id, int64 contact_id, Datum *customer, bool *customer_null)
{
	Datum		args[2] = {Int32GetDatum(tenant_id), Int64GetDatum(contact_id)};
	bool		found;

	SPI_connect();
	if (contact_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT8OID};
		SPIPlanPtr	plan = SPI_prepare_cursor(contact_query, 2, types, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "ticketdesk: could not prepare \"%s\": %s",
				 contact_query, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		contact_plan = plan;
	}
	if (SPI_execute_plan(contact_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk: could not look up contact %lld", (long long) contact_id);
	found = SPI_processed > 0;
	if (found)
		*customer = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, customer_null);
	SPI_finish();
	return found;
}

/*
 * The contact's customer into *customer (*customer_null when the contact
 * has none); false when the caller does not see the contact. The contact
 * is found and locked FOR KEY SHARE by key, as the ticket's foreign key
 * would lock it (*locked), and the caller's policies are evaluated on the
 * row; only when they cannot be is the statement run.
 */
static bool
contact_customer(int32 tenant_id, int64 contact_id, Datum *customer, bool *customer_null,
				 bool *locked)
{
	Datum		key[2] = {Int32GetDatum(tenant_id), Int64GetDatum(contact_id)};
	uint64		generation;
	HeapTuple	row = direct_key_share_row(&contact_table, key, &generation);
	Relation	rel;
	CallerAnswer answer;

	*locked = row != NULL;
	if (row == NULL)
		return false;
	rel = table_open(contact_table.relid, NoLock);
	if (generation != contact_generation)
	{
		contact_customer_att = get_attnum(RelationGetRelid(rel), "customer_id");
		contact_generation = generation;
	}
	answer = caller_sees_row(&contact_policies, rel, generation, row);
	if (answer == CALLER_SEES && contact_customer_att != InvalidAttrNumber)
		*customer = heap_getattr(row, contact_customer_att, RelationGetDescr(rel), customer_null);
	table_close(rel, NoLock);
	if (answer == CALLER_UNKNOWN || contact_customer_att == InvalidAttrNumber)
		return contact_customer_by_query(tenant_id, contact_id, customer, customer_null);
	return answer == CALLER_SEES;
}

/* open_ticket_sql, found once per call site. */
typedef struct QueriesCall
{
	FmgrInfo	flinfo;
} QueriesCall;

/* Whether the request is one open_directly may open. */
static bool
usual_request(FunctionCallInfo fcinfo)
{
	int32		weight;

	if (PG_ARGISNULL(ARG_CENTER) || PG_ARGISNULL(ARG_TYPE) || PG_ARGISNULL(ARG_REQUESTER_WEIGHT))
		return false;
	for (int i = 0; i < lengthof(checked_by_queries); i++)
		if (!PG_ARGISNULL(checked_by_queries[i]))
			return false;
	weight = PG_GETARG_INT32(ARG_REQUESTER_WEIGHT);
	return weight >= 1 && weight <= 5;
}

/*
 * Open the usual request: the row, or NULL when open_ticket_sql must
 * (having written nothing).
 */
static HeapTupleHeader
open_directly(FunctionCallInfo fcinfo)
{
	Datum		values[OPENING_COLUMNS];
	bool		nulls[OPENING_COLUMNS];
	int32		tenant_id = ticketdesk_tenant;
	int64		type_id;
	int64		registered_by;
	bool		contact_locked = false;
	int			held = HELD_CONFIGURATION;
	bool		agent_held;

	type_id = opening_type(tenant_id, PG_GETARG_INT64(ARG_CENTER), PG_GETARG_TEXT_PP(ARG_TYPE),
						   !PG_ARGISNULL(ARG_CATEGORY),
						   PG_ARGISNULL(ARG_CATEGORY) ? 0 : PG_GETARG_INT64(ARG_CATEGORY));
	if (type_id == 0)
		return NULL;

	memset(nulls, true, sizeof(nulls));
#define GIVE(column, value) (values[column] = (value), nulls[column] = false)
#define PASS(column, arg) (values[column] = PG_GETARG_DATUM(arg), nulls[column] = PG_ARGISNULL(arg))
	GIVE(OPENING_TENANT, Int32GetDatum(tenant_id));
	GIVE(OPENING_TYPE, Int64GetDatum(type_id));
	PASS(OPENING_CENTER, ARG_CENTER);
	PASS(OPENING_CATEGORY, ARG_CATEGORY);
	PASS(OPENING_CONTACT, ARG_CONTACT);
	PASS(OPENING_CHANNEL, ARG_CHANNEL);
	PASS(OPENING_SUBJECT, ARG_SUBJECT);
	PASS(OPENING_DESCRIPTION, ARG_DESCRIPTION);
	PASS(OPENING_REQUESTER_WEIGHT, ARG_REQUESTER_WEIGHT);
	PASS(OPENING_DEADLINE, ARG_DEADLINE);
	PASS(OPENING_OBJECT_TEXT, ARG_OBJECT_TEXT);
	PASS(OPENING_INVOICE_REF, ARG_INVOICE_REF);
#undef GIVE
#undef PASS

	/* The customer is the contact's. */
	if (!PG_ARGISNULL(ARG_CONTACT) &&
		!contact_customer(tenant_id, PG_GETARG_INT64(ARG_CONTACT),
						  &values[OPENING_CUSTOMER], &nulls[OPENING_CUSTOMER], &contact_locked))
		return NULL;

	registered_by = acting_agent(tenant_id, &nulls[OPENING_REGISTERED_BY], &agent_held);
	values[OPENING_REGISTERED_BY] = Int64GetDatum(registered_by);
	if (agent_held)
		held |= HELD_REGISTERING_AGENT;
	if (contact_locked)
		held |= HELD_CONTACT;

	return opening_write(values, nulls, held);
}

/* open_ticket_sql with this call's arguments. */
static Datum
open_by_queries(FunctionCallInfo fcinfo)
{
	QueriesCall *call = fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(inner, OPEN_TICKET_ARGS);
	Datum		result;

	if (call == NULL)
	{
		Oid		   *argtypes;
		int			nargs;
		List	   *name = list_make2(makeString("ticketdesk"), makeString("open_ticket_sql"));

		get_func_signature(fcinfo->flinfo->fn_oid, &argtypes, &nargs);
		call = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(QueriesCall));
		fmgr_info_cxt(LookupFuncName(name, nargs, argtypes, false), &call->flinfo,
					  fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = call;
	}
	InitFunctionCallInfoData(*inner, &call->flinfo, OPEN_TICKET_ARGS, fcinfo->fncollation, NULL, NULL);
	for (int i = 0; i < OPEN_TICKET_ARGS; i++)
		inner->args[i] = fcinfo->args[i];
	result = FunctionCallInvoke(inner);
	fcinfo->isnull = inner->isnull;
	return result;
}

/*
 * open_ticket(subject, center_id, ...): opens a ticket and returns its row
 * (schema/82_api_ticket.sql has the signature and doc/reference.md the
 * story).
 */
Datum
ticketdesk_open_ticket(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = NULL;

	if (PG_NARGS() != OPEN_TICKET_ARGS)
		elog(ERROR, "ticketdesk: open_ticket called with %d arguments", PG_NARGS());
	if (usual_request(fcinfo))
	{
		/* Like a statement of a volatile PL/pgSQL function: this command's rows seen. */
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		row = open_directly(fcinfo);
		PopActiveSnapshot();
	}
	if (row == NULL)
		return open_by_queries(fcinfo);
	PG_RETURN_HEAPTUPLEHEADER(row);
}
