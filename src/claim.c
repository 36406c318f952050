/*
 * claim.c
 *		The worker's claim without a statement: the due outbox rows of the
 *		wanted channels, taken in next_attempt_at order from outbox_due_idx,
 *		each locked without waiting, leased by an update in place, and
 *		returned with the values of its ticket's placeholders, exactly as
 *		outbox_claim_values returns them.
 *
 * outbox_claim_values (PL/pgSQL: a CTE of the due rows FOR UPDATE SKIP
 * LOCKED, an UPDATE joined to it, a LATERAL subquery of six look-ups, the
 * rows handed back through PL/pgSQL's tuplestore) cost about 122,000
 * instructions a message in the worker. Its rules, all kept here:
 *  - due: next_attempt_at <= now(), status queued or sending, no lease or
 *	  one that has run out (a worker that died leaves its rows claimable
 *	  when their lease ends), the channel one of those wanted; in
 *	  next_attempt_at order, at most batch_size rows;
 *  - each row is locked without waiting: a row another transaction has
 *	  locked or is changing is skipped, as SKIP LOCKED skips it; a row
 *	  changed since the scan's snapshot is locked in its latest version and
 *	  claimed only when that version is still due, as the executor's
 *	  EvalPlanQual recheck does (under REPEATABLE READ such a row is a
 *	  serialization failure, as there). Two claims running at once never
 *	  take the same row: the second finds it locked, or, once the first has
 *	  committed, leased;
 *  - the claim: status sending, attempts + 1, leased_until = now() + lease,
 *	  written by direct_write.c as an UPDATE writes it (constraints,
 *	  indexes, row triggers): no indexed column changes, so it is a HOT
 *	  update when the page has room, as the statement's was;
 *  - the values of a row not rendered yet (body_text NULL), its ticket's,
 *	  read by primary key under the statement's snapshot (keyed_read.c):
 *	  reference, subject, description, the priority's name in the row's
 *	  language (priority_label), status, the centre's and the assignee's
 *	  names, the requester (the contact's name, else the requesting
 *	  agent's, else the customer's), the link (ticketdesk.base_url without
 *	  its trailing slashes, "/ticket/", the reference), the deadline as
 *	  to_char(deadline, 'YYYY-MM-DD HH24:MI'), the resolution; found is
 *	  true when the ticket exists, NULL otherwise.
 * The row is locked FOR NO KEY UPDATE (the lock the UPDATE itself takes),
 * not FOR UPDATE: nothing references the outbox, and the claim changes no
 * key. What a statement has and this has not: row-level security and
 * privileges; the worker runs as the bootstrap superuser, whom neither
 * applies to, and outbox_claim_direct, the SQL entry for tests, is for
 * superusers only.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "notify.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_outbox_claim_direct);

/* The columns the claim writes. */
static const char *const claim_columns[] = {"status", "attempts", "leased_until"};
enum
{
	W_STATUS, W_ATTEMPTS, W_LEASED
};
static DirectTable outbox_claim_table = {"outbox", lengthof(claim_columns), claim_columns, NULL};

/* The outbox's columns read, and which claimed row's column each is. */
static const char *const read_names[] = {
	"tenant_id", "outbox_id", "event", "channel", "recipient", "recipient_name", "agent_id",
	"language", "sender_name", "thread", "note", "vars", "subject", "body_text", "body_html",
	"payload", "message_key",
	/* not returned: */
	"ticket_id", "status", "next_attempt_at", "leased_until"
};
#define READ_RETURNED 17		/* the first 17 are claimed row columns 1-17 */
enum
{
	O_TICKET = READ_RETURNED, O_STATUS, O_NEXT, O_LEASED, O_NCOLUMNS
};

/* What was learnt of the outbox for its description's generation. */
static uint64 learnt_generation = 0;
static AttrNumber read_attnums[O_NCOLUMNS];
static Oid	due_index = InvalidOid;
static Oid	status_queued;
static Oid	status_sending;

/* The ticket's values and the names it refers to. */
static const char *const ticket_read_columns[] = {
	"reference", "subject", "description", "priority", "status", "center_id", "assignee_id",
	"contact_id", "requester_agent_id", "customer_id", "deadline", "resolution"
};
enum
{
	T_REFERENCE, T_SUBJECT, T_DESCRIPTION, T_PRIORITY, T_STATUS, T_CENTER, T_ASSIGNEE,
	T_CONTACT, T_REQUESTER_AGENT, T_CUSTOMER, T_DEADLINE, T_RESOLUTION
};
static const char *const ticket_keys[] = {"tenant_id", "ticket_id"};
static KeyedTable ticket_table = {"ticket", lengthof(ticket_read_columns), ticket_read_columns,
lengthof(ticket_keys), ticket_keys};
static const char *const name_column[] = {"name"};
static const char *const center_keys[] = {"tenant_id", "center_id"};
static const char *const agent_keys[] = {"tenant_id", "agent_id"};
static const char *const contact_keys[] = {"tenant_id", "contact_id"};
static const char *const customer_keys[] = {"tenant_id", "customer_id"};
static KeyedTable center_table = {"center", 1, name_column, 2, center_keys};
static KeyedTable agent_table = {"agent", 1, name_column, 2, agent_keys};
static KeyedTable contact_table = {"contact", 1, name_column, 2, contact_keys};
static KeyedTable customer_table = {"customer", 1, name_column, 2, customer_keys};

/*
 * The priorities' names in the languages priority_label knows
 * (schema/88_api_notify.sql), in UTF-8; any other language: the
 * priority's own label.
 */
static const struct
{
	const char *language;
	const char *names[4];		/* low, normal, high, urgent */
}			priority_names[] = {
	{"lt", {"žemas", "įprastas", "aukštas", "skubus"}},
	{"pl", {"niski", "normalny", "wysoki", "pilny"}},
	{"he", {"נמוכה", "רגילה", "גבוהה", "דחופה"}},
	{"ro", {"scăzută", "normală", "ridicată", "urgentă"}},
};
static const char *const priority_labels[4] = {"low", "normal", "high", "urgent"};

/*
 * The scans of the tables the values are read from, each opened at its
 * first use in a claim and started afresh for every row after.
 */
typedef struct ClaimReads
{
	KeyedScan  *ticket;
	KeyedScan  *center;
	KeyedScan  *agent;
	KeyedScan  *contact;
	KeyedScan  *customer;
} ClaimReads;

/* What the claim's change of one row needs (a DirectChange's argument). */
typedef struct ClaimChange
{
	TimestampTz leased_until;
} ClaimChange;

/* Learn the outbox's column numbers, its due index and status labels. */
static void
learn_outbox(Relation rel)
{
	Oid			nsp = RelationGetNamespace(rel);
	Oid			type;

	for (int c = 0; c < O_NCOLUMNS; c++)
	{
		read_attnums[c] = get_attnum(RelationGetRelid(rel), read_names[c]);
		if (read_attnums[c] == InvalidAttrNumber)
			elog(ERROR, "ticketdesk: table outbox has no column %s", read_names[c]);
	}
	due_index = get_relname_relid("outbox_due_idx", nsp);
	if (!OidIsValid(due_index))
		elog(ERROR, "ticketdesk: index outbox_due_idx does not exist");
	type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("outbox_status"),
						   ObjectIdGetDatum(nsp));
	if (!OidIsValid(type))
		elog(ERROR, "ticketdesk: type outbox_status does not exist");
	status_queued = DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum("queued"),
														 ObjectIdGetDatum(type)));
	status_sending = DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum("sending"),
														  ObjectIdGetDatum(type)));
	learnt_generation = outbox_claim_table.generation;
}

/* The claim's new values: sending, one attempt more, leased (a DirectChange). */
static void
claim_change(Datum *values, bool *nulls, void *arg)
{
	ClaimChange *c = (ClaimChange *) arg;
	int32		attempts;

	if (pg_add_s32_overflow(DatumGetInt32(values[W_ATTEMPTS]), 1, &attempts))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("integer out of range")));
	values[W_STATUS] = ObjectIdGetDatum(status_sending);
	nulls[W_STATUS] = false;
	values[W_ATTEMPTS] = Int32GetDatum(attempts);
	nulls[W_ATTEMPTS] = false;
	values[W_LEASED] = TimestampTzGetDatum(c->leased_until);
	nulls[W_LEASED] = false;
}

/* Whether a text value is one of the channels wanted. */
static bool
wanted_channel(Datum value, const char *const *channels, int nchannels)
{
	text	   *t = DatumGetTextPP(value);
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

	for (int i = 0; i < nchannels; i++)
		if (channels[i] != NULL && (int) strlen(channels[i]) == len && memcmp(channels[i], p, len) == 0)
			return true;
	return false;
}

/* Whether the row in slot is due now, of a channel wanted (the claim's WHERE). */
static bool
row_due(TupleTableSlot *slot, TimestampTz now, const char *const *channels, int nchannels)
{
	bool		isnull;
	Datum		d;
	Oid			status;

	d = slot_getattr(slot, read_attnums[O_NEXT], &isnull);
	if (isnull || DatumGetTimestampTz(d) > now)
		return false;
	d = slot_getattr(slot, read_attnums[O_STATUS], &isnull);
	status = isnull ? InvalidOid : DatumGetObjectId(d);
	if (status != status_queued && status != status_sending)
		return false;
	d = slot_getattr(slot, read_attnums[O_LEASED], &isnull);
	if (!isnull && DatumGetTimestampTz(d) > now)
		return false;
	d = slot_getattr(slot, read_attnums[3], &isnull);	/* channel */
	return !isnull && wanted_channel(d, channels, nchannels);
}

/* A copy of a value of the tuple descriptor's attribute att, detoasted, in the current memory. */
static Datum
copy_value(Form_pg_attribute att, Datum d)
{
	if (att->attlen == -1)
		return PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
	return datumCopy(d, att->attbyval, att->attlen);
}

/* A C string as a text value in the database's encoding. */
static Datum
utf8_text(const char *s)
{
	return CStringGetTextDatum(pg_any_to_server(s, strlen(s), PG_UTF8));
}

/* priority_label(priority, language): the priority's name in the language. */
static Datum
priority_label(Datum priority, const char *language)
{
	char	   *label = DatumGetCString(DirectFunctionCall1(enum_out, priority));

	for (int l = 0; language != NULL && l < lengthof(priority_names); l++)
		if (strcmp(priority_names[l].language, language) == 0)
			for (int p = 0; p < lengthof(priority_labels); p++)
				if (strcmp(priority_labels[p], label) == 0)
					return utf8_text(priority_names[l].names[p]);
	return CStringGetTextDatum(label);
}

/* Start *scan (opened at its first use) on the rows of t whose key is (tenant, id). */
static void
keyed_start(KeyedScan **scan, KeyedTable *t, int32 tenant_id, Datum id)
{
	Datum		key[2];

	key[0] = Int32GetDatum(tenant_id);
	key[1] = id;
	if (*scan == NULL)
		*scan = keyed_begin(t, GetActiveSnapshot(), 2, key, NULL);
	else
		keyed_rescan(*scan, 2, key, NULL);
}

/*
 * The name of the row of a table keyed by (tenant, id), copied into the
 * current memory; false when id is NULL, there is no such row, or its name
 * is NULL.
 */
static bool
read_name(KeyedScan **scan, KeyedTable *t, int32 tenant_id, Datum id, bool id_null, Datum *name)
{
	Datum		value;
	bool		isnull = true;

	if (id_null)
		return false;
	keyed_start(scan, t, tenant_id, id);
	if (keyed_next(*scan, &value, &isnull) && !isnull)
		*name = PointerGetDatum(PG_DETOAST_DATUM_COPY(value));
	else
		isnull = true;
	return !isnull;
}

/*
 * Fill the ticket's placeholder values of a claimed row (columns found to
 * resolution), as outbox_claim_values' LATERAL subquery takes them.
 */
static void
read_ticket_values(ClaimReads *reads, ClaimedRow *row, Datum ticket_id, const char *language)
{
	int32		tenant_id = DatumGetInt32(row->values[CLAIM_TENANT - 1]);
	Datum		v[lengthof(ticket_read_columns)];
	bool		n[lengthof(ticket_read_columns)];
	Datum		name;
	static const struct
	{
		int			column;
		int			value;
	}			copied[] = {
		{CLAIM_REFERENCE, T_REFERENCE}, {CLAIM_TICKET_SUBJECT, T_SUBJECT},
		{CLAIM_DESCRIPTION, T_DESCRIPTION}, {CLAIM_RESOLUTION, T_RESOLUTION}
	};

	keyed_start(&reads->ticket, &ticket_table, tenant_id, ticket_id);
	if (!keyed_next(reads->ticket, v, n))
		return;
	row->values[CLAIM_FOUND - 1] = BoolGetDatum(true);
	row->nulls[CLAIM_FOUND - 1] = false;
	for (int i = 0; i < lengthof(copied); i++)
		if (!n[copied[i].value])
		{
			row->values[copied[i].column - 1] = PointerGetDatum(PG_DETOAST_DATUM_COPY(v[copied[i].value]));
			row->nulls[copied[i].column - 1] = false;
		}
	if (!n[T_PRIORITY])
	{
		row->values[CLAIM_PRIORITY - 1] = priority_label(v[T_PRIORITY], language);
		row->nulls[CLAIM_PRIORITY - 1] = false;
	}
	if (!n[T_STATUS])
	{
		row->values[CLAIM_STATUS - 1] = CStringGetTextDatum(DatumGetCString(DirectFunctionCall1(enum_out, v[T_STATUS])));
		row->nulls[CLAIM_STATUS - 1] = false;
	}
	if (!n[T_REFERENCE])
	{
		const char *base = notify_base_url != NULL ? notify_base_url : "";
		int			len = strlen(base);
		StringInfoData link;

		/* rtrim(base_url, '/') || '/ticket/' || reference */
		while (len > 0 && base[len - 1] == '/')
			len--;
		initStringInfo(&link);
		appendBinaryStringInfo(&link, base, len);
		appendStringInfoString(&link, "/ticket/");
		appendStringInfoString(&link, TextDatumGetCString(v[T_REFERENCE]));
		row->values[CLAIM_LINK - 1] = CStringGetTextDatum(link.data);
		row->nulls[CLAIM_LINK - 1] = false;
	}
	/* to_char of an infinite time is NULL */
	if (!n[T_DEADLINE] && !TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(v[T_DEADLINE])))
	{
		row->values[CLAIM_DEADLINE - 1] =
			DirectFunctionCall2Coll(timestamptz_to_char, DEFAULT_COLLATION_OID, v[T_DEADLINE],
									CStringGetTextDatum("YYYY-MM-DD HH24:MI"));
		row->nulls[CLAIM_DEADLINE - 1] = false;
	}
	/* The ids are by value (bigint): still valid as the ticket's scan moves on. */
	if (read_name(&reads->center, &center_table, tenant_id, v[T_CENTER], n[T_CENTER], &name))
	{
		row->values[CLAIM_CENTER - 1] = name;
		row->nulls[CLAIM_CENTER - 1] = false;
	}
	if (read_name(&reads->agent, &agent_table, tenant_id, v[T_ASSIGNEE], n[T_ASSIGNEE], &name))
	{
		row->values[CLAIM_ASSIGNEE - 1] = name;
		row->nulls[CLAIM_ASSIGNEE - 1] = false;
	}
	/* coalesce(the contact's name, the requesting agent's, the customer's) */
	if (read_name(&reads->contact, &contact_table, tenant_id, v[T_CONTACT], n[T_CONTACT], &name) ||
		read_name(&reads->agent, &agent_table, tenant_id, v[T_REQUESTER_AGENT], n[T_REQUESTER_AGENT], &name) ||
		read_name(&reads->customer, &customer_table, tenant_id, v[T_CUSTOMER], n[T_CUSTOMER], &name))
	{
		row->values[CLAIM_REQUESTER - 1] = name;
		row->nulls[CLAIM_REQUESTER - 1] = false;
	}
}

/*
 * claim_due claims up to batch_size due rows of the channels (nchannels C
 * strings; a NULL one matches nothing) for the lease ending at
 * leased_until, in the transaction open, and returns how many; *rows gets
 * them, each with the columns of outbox_claim_values, allocated in cxt
 * (values passed by reference detoasted there).
 */
int
claim_due(int batch_size, TimestampTz leased_until, const char *const *channels, int nchannels,
		  MemoryContext cxt, ClaimedRow **rows)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	DirectWrite *w;
	Relation	rel;
	TupleDesc	desc;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *seen;
	TupleTableSlot *locked;
	ScanKeyData key;
	Snapshot	snapshot;
	ClaimChange change;
	ClaimReads	reads = {0};
	int			n = 0;
	int			lock_flags = IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION;

	if (batch_size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_ROW_COUNT_IN_LIMIT_CLAUSE),
				 errmsg("LIMIT must not be negative")));
	*rows = MemoryContextAllocZero(cxt, sizeof(ClaimedRow) * Max(batch_size, 1));
	if (batch_size == 0 || nchannels == 0)
		return 0;

	/* A new snapshot that sees what this transaction wrote, as a statement's. */
	w = direct_begin(&outbox_claim_table);
	rel = direct_relation(w);
	desc = RelationGetDescr(rel);
	if (learnt_generation != outbox_claim_table.generation)
		learn_outbox(rel);
	snapshot = GetActiveSnapshot();
	change.leased_until = leased_until;

	/* next_attempt_at <= now(), in the index's order */
	index = index_open(due_index, AccessShareLock);
	ScanKeyInit(&key, 1, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE, TimestampTzGetDatum(now));
	seen = table_slot_create(rel, NULL);
	locked = direct_found_slot(w);
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (n < batch_size && index_getnext_slot(scan, ForwardScanDirection, seen))
	{
		TM_FailureData failure;
		TM_Result	result;
		ClaimedRow *row;
		MemoryContext old;
		Datum		ticket_id;
		bool		ticket_null;

		CHECK_FOR_INTERRUPTS();
		if (!row_due(seen, now, channels, nchannels))
			continue;
		/* Lock it without waiting; its latest version when it changed since. */
		result = table_tuple_lock(rel, &seen->tts_tid, snapshot, locked, GetCurrentCommandId(true),
								  LockTupleNoKeyExclusive, LockWaitSkip, lock_flags, &failure);
		switch (result)
		{
			case TM_Ok:
				break;
			case TM_WouldBlock:	/* locked or being changed: skipped */
			case TM_SelfModified:	/* by this command: not again */
			case TM_Deleted:
				continue;
			case TM_Updated:
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent update")));
				continue;
			default:
				elog(ERROR, "ticketdesk: unexpected result %d locking an outbox row", result);
		}
		/* The locked version must still be due (EvalPlanQual's recheck). */
		if (!row_due(locked, now, channels, nchannels))
			continue;

		row = &(*rows)[n++];
		old = MemoryContextSwitchTo(cxt);
		for (int c = 0; c < READ_RETURNED; c++)
		{
			Datum		d = slot_getattr(locked, read_attnums[c], &row->nulls[c]);

			row->values[c] = row->nulls[c] ? (Datum) 0
				: copy_value(TupleDescAttr(desc, read_attnums[c] - 1), d);
		}
		for (int c = READ_RETURNED; c < CLAIM_NCOLUMNS; c++)
		{
			row->values[c] = (Datum) 0;
			row->nulls[c] = true;
		}
		ticket_id = slot_getattr(locked, read_attnums[O_TICKET], &ticket_null);

		/* The values only for a row not rendered yet, and only when it has a ticket. */
		if (row->nulls[CLAIM_BODY_TEXT - 1] && !ticket_null)
			read_ticket_values(&reads, row, ticket_id,
							   row->nulls[CLAIM_LANGUAGE - 1] ? NULL
							   : TextDatumGetCString(row->values[CLAIM_LANGUAGE - 1]));
		MemoryContextSwitchTo(old);

		direct_update_found(w, claim_change, &change);
		direct_written_tid(w, &row->tid);
	}
	index_endscan(scan);
	index_close(index, NoLock);
	ExecDropSingleTupleTableSlot(seen);
	{
		KeyedScan  *opened[] = {reads.ticket, reads.center, reads.agent, reads.contact, reads.customer};

		for (int i = 0; i < lengthof(opened); i++)
			if (opened[i] != NULL)
				keyed_end(opened[i]);
	}
	direct_end(w);
	return n;
}

/*
 * ticketdesk_outbox_claim_direct is outbox_claim_direct(batch_size, lease,
 * channels): claim_due as a set of rows of outbox_claim_values' columns,
 * for tests and for comparing the two. Superusers only: it applies no
 * row-level security.
 */
Datum
ticketdesk_outbox_claim_direct(PG_FUNCTION_ARGS)
{
	int32		batch_size = PG_GETARG_INT32(0);
	TimestampTz leased_until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																	   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
																	   PG_GETARG_DATUM(1)));
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nchannels;
	const char **channels;
	ClaimedRow *rows;
	int			n;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function outbox_claim_direct"),
				 errdetail("It applies no row-level security."),
				 errhint("Use ticketdesk.outbox_claim_values.")));
	InitMaterializedSRF(fcinfo, 0);
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &nchannels);
	channels = palloc(sizeof(char *) * Max(nchannels, 1));
	for (int i = 0; i < nchannels; i++)
		channels[i] = elem_nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	n = claim_due(batch_size, leased_until, channels, nchannels, CurrentMemoryContext, &rows);
	for (int i = 0; i < n; i++)
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, rows[i].values, rows[i].nulls);
	return (Datum) 0;
}
