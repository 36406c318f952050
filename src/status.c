/*
 * status.c
 *		Maps the SQL enum ticket_status to the C enum TicketStatus by label,
 *		so the C code never depends on enum OIDs.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "fmgr.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#include "ticketdesk.h"

static const char *const status_names[TS_COUNT] = {
	[TS_NEW] = "new",
	[TS_ASSIGNED] = "assigned",
	[TS_ACKNOWLEDGED] = "acknowledged",
	[TS_IN_PROGRESS] = "in_progress",
	[TS_WAITING] = "waiting",
	[TS_RESOLVED] = "resolved",
	[TS_CONFIRMED] = "confirmed",
	[TS_CLOSED] = "closed",
	[TS_CANCELLED] = "cancelled",
};

/* The enum OIDs of each status, for the enum type they were read from. */
static Oid	loaded_type = InvalidOid;
static Oid	status_oid[TS_COUNT];

/*
 * enum_label_oids fills oids[i] with the OID of the label labels[i] of the
 * enum type enumtype (named typname in the error for a missing label).
 */
void
enum_label_oids(Oid enumtype, const char *typname, const char *const *labels,
				int nlabels, Oid *oids)
{
	CatCList   *list;

	memset(oids, 0, sizeof(Oid) * nlabels);
	list = SearchSysCacheList1(ENUMTYPOIDNAME, ObjectIdGetDatum(enumtype));
	for (int i = 0; i < list->n_members; i++)
	{
		HeapTuple	tup = &list->members[i]->tuple;
		Form_pg_enum en = (Form_pg_enum) GETSTRUCT(tup);

		for (int l = 0; l < nlabels; l++)
			if (strcmp(NameStr(en->enumlabel), labels[l]) == 0)
				oids[l] = en->oid;
	}
	ReleaseSysCacheList(list);

	for (int l = 0; l < nlabels; l++)
		if (!OidIsValid(oids[l]))
			elog(ERROR, "ticketdesk: enum %s lacks the label \"%s\"", typname, labels[l]);
}

/*
 * Read the labels of enumtype from pg_enum. A dropped and recreated
 * extension has a new type OID, which makes this run again.
 */
static void
load_statuses(Oid enumtype)
{
	enum_label_oids(enumtype, "ticket_status", status_names, TS_COUNT, status_oid);
	loaded_type = enumtype;
}

/* ticket_status_from_datum returns the status an enum value stands for. */
TicketStatus
ticket_status_from_datum(Oid enumtype, Datum value)
{
	Oid			oid = DatumGetObjectId(value);

	if (enumtype != loaded_type)
		load_statuses(enumtype);
	for (int s = 0; s < TS_COUNT; s++)
		if (status_oid[s] == oid)
			return (TicketStatus) s;
	/* A label added after load: read the labels again once. */
	load_statuses(enumtype);
	for (int s = 0; s < TS_COUNT; s++)
		if (status_oid[s] == oid)
			return (TicketStatus) s;
	elog(ERROR, "ticketdesk: unknown ticket_status value %u", oid);
}

/* ticket_status_to_datum returns the enum value of a status. */
Datum
ticket_status_to_datum(Oid enumtype, TicketStatus status)
{
	if (enumtype != loaded_type)
		load_statuses(enumtype);
	return ObjectIdGetDatum(status_oid[status]);
}

/* ticket_status_name returns the SQL label of a status. */
const char *
ticket_status_name(TicketStatus status)
{
	return status_names[status];
}

/* The phase of each status: what the queue and job indexes select on. */
static const char *const phase_names[] = {"open", "resolved", "confirmed", "finished"};
static Oid	loaded_phase_type = InvalidOid;
static Oid	phase_oid[lengthof(phase_names)];

PG_FUNCTION_INFO_V1(ticketdesk_ticket_phase_of);

/*
 * ticket_phase_of(ticket_status) RETURNS ticket_phase: the generation
 * expression of ticket.phase. A C function rather than a CASE because
 * PostgreSQL 15 reads and prepares generation expressions again for every
 * statement, and a function call is the smallest expression there is.
 */
Datum
ticketdesk_ticket_phase_of(PG_FUNCTION_ARGS)
{
	Oid			phasetype = get_fn_expr_rettype(fcinfo->flinfo);
	int			phase;

	if (!OidIsValid(phasetype))
		elog(ERROR, "ticketdesk: ticket_phase_of cannot tell its result type");
	if (phasetype != loaded_phase_type)
	{
		enum_label_oids(phasetype, "ticket_phase", phase_names, lengthof(phase_names), phase_oid);
		loaded_phase_type = phasetype;
	}
	switch (ticket_status_from_datum(get_fn_expr_argtype(fcinfo->flinfo, 0), PG_GETARG_DATUM(0)))
	{
		case TS_RESOLVED:
			phase = 1;
			break;
		case TS_CONFIRMED:
			phase = 2;
			break;
		case TS_CLOSED:
		case TS_CANCELLED:
			phase = 3;
			break;
		default:
			phase = 0;
			break;
	}
	PG_RETURN_OID(phase_oid[phase]);
}
