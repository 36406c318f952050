/*
 * notify_requester.c
 *		Queueing the messages of an event told to the requester alone
 *		(registered, acknowledged) without the general recipients'
 *		statement of notify_ticket_event.
 *
 * Every opening of a ticket thanks its requester, so the "registered" event
 * is queued once per opening. notify_ticket_event queues any event with one
 * INSERT ... SELECT over the four audiences (requester, assignee,
 * dispatchers, watchers), DISTINCT ON, and notify_addresses with its three
 * kinds of recipient: a plan of about 45 nodes, set up again for every
 * event, for one recipient and usually one row (doc/benchmarks.md, "Session
 * 5: opening a ticket"). Here the same rules take three keyed statements,
 * each a plan of a few nodes kept for the backend: the ticket, the
 * requester with the channels the policy and the preference give, and one
 * INSERT into outbox per message.
 *
 * The rules are those of notify_ticket_event and notify_addresses
 * (schema/88_api_notify.sql), for the requester: the contact person, else
 * the employee (not when the employee made the change), else the customer;
 * the channels of notify_channels; one message per channel with a usable
 * address (not blank; for e-mail, one address), in the policy's channel
 * order; a message already queued for the event is skipped; the worker is
 * woken at commit when anything was queued. sql/notify shows each case.
 *
 * Like notify_ticket_event (SECURITY DEFINER) the statements do not run
 * with the caller's rights: they run as the bootstrap superuser with
 * search_path pinned (trusted.c), and name the event's tenant in every
 * look-up.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "notify_requester.h"
#include "ticketdesk.h"

/* Asks for the delivery worker to be woken at commit (launcher.c). */
extern Datum ticketdesk_notify_wake(PG_FUNCTION_ARGS);

/* The kinds of requester, in the order notify_addresses tries them. */
typedef enum RequesterKind
{
	REQUESTER_AGENT,
	REQUESTER_CONTACT,
	REQUESTER_CUSTOMER,
	REQUESTER_KINDS
} RequesterKind;

/* The ticket's requester and what the messages carry from it. */
static const char *const ticket_query =
"SELECT k.contact_id, k.requester_agent_id, k.customer_id, k.priority, k.reference"
"  FROM ticketdesk.ticket k WHERE k.tenant_id = $1 AND k.ticket_id = $2";

/*
 * A requester's name, addresses and language, and the channels it prefers
 * (NULL: none): notify_addresses' branch of its kind. $1 tenant, $2 the
 * requester's id. The channels of the event for it are notify_channels'
 * (policy_channels below).
 */
static const char *const requester_row[REQUESTER_KINDS] = {
	"SELECT a.name, a.email, a.phone, a.language, p.channels"
	"  FROM ticketdesk.agent a"
	"  LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = a.tenant_id AND p.agent_id = a.agent_id"
	" WHERE a.tenant_id = $1 AND a.agent_id = $2",
	"SELECT n.name, n.email, n.phone, n.language,"
	"       coalesce(p.channels, CASE n.preferred_channel WHEN 'sms' THEN '{sms}'::text[]"
	"                                                     WHEN 'email' THEN '{email}'::text[] END)"
	"  FROM ticketdesk.contact n"
	"  LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = n.tenant_id AND p.contact_id = n.contact_id"
	" WHERE n.tenant_id = $1 AND n.contact_id = $2",
	"SELECT u.name, u.email, coalesce(u.phone, u.work_phone), 'en', NULL::text[]"
	"  FROM ticketdesk.customer u WHERE u.tenant_id = $1 AND u.customer_id = $2"
};

/*
 * One message, written without a statement (direct_write.c): the columns
 * notify_ticket_event's INSERT gives; the others take their defaults. Its
 * references are true by construction and not checked again: the ticket
 * was read by key in this transaction, which writes it and holds its row;
 * the tenant, the contact and the agent are that ticket row's own (its
 * tenant, contact_id and requester_agent_id), which its foreign keys hold
 * while it refers to them (the tenant through the ticket's type): none of
 * them can be deleted, nor its key changed, before this transaction ends.
 */
static const char *const outbox_columns[] = {
	"tenant_id", "ticket_id", "event_id", "event", "channel", "recipient", "recipient_name",
	"agent_id", "contact_id", "language", "thread", "note"
};
static const char *const outbox_vouched[] = {"ticket", "tenant", "contact", "agent", NULL};
static DirectTable outbox_table = {"outbox", lengthof(outbox_columns), outbox_columns, outbox_vouched};

static SPIPlanPtr ticket_plan;
static SPIPlanPtr requester_plan[REQUESTER_KINDS];

/* Whether text matches a regular expression, as the SQL operator ~ would. */
static bool
text_matches(Datum value, const char *pattern)
{
	return DatumGetBool(DirectFunctionCall2Coll(textregexeq, DEFAULT_COLLATION_OID, value,
												CStringGetTextDatum(pattern)));
}

/* The plans, prepared once per backend (within the trusted scope). */
static void
prepare_plans(void)
{
	if (ticket_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT8OID};

		ticket_plan = saved_plan(ticket_query, 2, types);
	}
	for (int kind = 0; kind < REQUESTER_KINDS; kind++)
		if (requester_plan[kind] == NULL)
		{
			Oid			types[2] = {INT4OID, INT8OID};

			requester_plan[kind] = saved_plan(requester_row[kind], 2, types);
		}
}

/* The text elements of an array, NULLs as NULL pointers. */
static int
text_elements(ArrayType *a, text ***elements)
{
	Datum	   *values;
	bool	   *nulls;
	int			n;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &values, &nulls, &n);
	*elements = palloc(sizeof(text *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*elements)[i] = nulls[i] ? NULL : DatumGetTextPP(values[i]);
	return n;
}

/* Whether two texts are equal (the default collation is deterministic). */
static bool
text_same(text *a, text *b)
{
	return a != NULL && b != NULL && VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* qsort order of texts in the default collation (ORDER BY c). */
static int
text_order(const void *a, const void *b)
{
	text	   *x = *(text *const *) a;
	text	   *y = *(text *const *) b;

	return varstr_cmp(VARDATA_ANY(x), VARSIZE_ANY_EXHDR(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(y),
					  DEFAULT_COLLATION_OID);
}

/*
 * The channels of event at priority (an enum value; none when priority_null)
 * for a recipient who prefers preference (NULL: no preference):
 * notify_channels (schema/88_api_notify.sql), on the tenant's rows of
 * notify_policy read through its primary key rather than by a statement.
 * The policy of the event before the one of every event ('*'), of the
 * priority before the one of every priority, an administrator's before the
 * seeded one (the table's unique key leaves one row per rank); its channels,
 * or those it allows that the recipient prefers, in text order; '{email}'
 * when no policy applies.
 */
static ArrayType *
policy_channels(int32 tenant_id, const char *event, Datum priority, bool priority_null,
				ArrayType *preference)
{
	Relation	rel = table_open(get_relname_relid("notify_policy", get_namespace_oid("ticketdesk", false)),
								 AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	AttrNumber	event_att = get_attnum(RelationGetRelid(rel), "event");
	AttrNumber	priority_att = get_attnum(RelationGetRelid(rel), "priority");
	AttrNumber	channels_att = get_attnum(RelationGetRelid(rel), "channels");
	AttrNumber	allowed_att = get_attnum(RelationGetRelid(rel), "allowed");
	AttrNumber	seeded_att = get_attnum(RelationGetRelid(rel), "seeded");
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan = index_beginscan(rel, index, snapshot, 1, 0);
	ScanKeyData key;
	int			best = -1;
	ArrayType  *channels = NULL;
	ArrayType  *allowed = NULL;
	ArrayType  *result;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(tenant_id));
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		char	   *row_event = TextDatumGetCString(slot_getattr(slot, event_att, &isnull));
		bool		every_event = strcmp(row_event, "*") == 0;
		Datum		row_priority = slot_getattr(slot, priority_att, &isnull);
		bool		every_priority = isnull;
		int			rank;

		if (!every_event && strcmp(row_event, event) != 0)
			continue;
		if (!every_priority &&
			(priority_null || DatumGetObjectId(row_priority) != DatumGetObjectId(priority)))
			continue;
		rank = (every_event ? 0 : 4) + (every_priority ? 0 : 2) +
			(DatumGetBool(slot_getattr(slot, seeded_att, &isnull)) ? 0 : 1);
		if (rank <= best)
			continue;
		best = rank;
		channels = DatumGetArrayTypePCopy(slot_getattr(slot, channels_att, &isnull));
		allowed = DatumGetArrayTypePCopy(slot_getattr(slot, allowed_att, &isnull));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);

	if (best < 0)
	{
		Datum		email = CStringGetTextDatum("email");

		return construct_array(&email, 1, TEXTOID, -1, false, TYPALIGN_INT);
	}
	result = channels;
	if (preference != NULL)
	{
		text	  **wanted;
		text	  **allow;
		int			nwanted = text_elements(preference, &wanted);
		int			nallow = text_elements(allowed, &allow);
		Datum	   *kept = palloc(sizeof(Datum) * Max(nallow, 1));
		text	  **picked = palloc(sizeof(text *) * Max(nallow, 1));
		int			npicked = 0;

		/* preference && allowed: ARRAY(those allowed it prefers, ORDER BY c) */
		for (int i = 0; i < nallow; i++)
			for (int j = 0; j < nwanted; j++)
				if (text_same(allow[i], wanted[j]))
				{
					picked[npicked++] = allow[i];
					break;
				}
		if (npicked > 0)
		{
			qsort(picked, npicked, sizeof(text *), text_order);
			for (int i = 0; i < npicked; i++)
				kept[i] = PointerGetDatum(picked[i]);
			result = construct_array(kept, npicked, TEXTOID, -1, false, TYPALIGN_INT);
		}
	}
	return result;
}

/*
 * Queue the messages of the requester and return how many were queued.
 * Runs in the trusted scope, connected to SPI.
 */
static uint64
queue_for_requester(int32 tenant_id, int64 ticket_id, int64 event_id, const char *event,
					Datum note, bool note_null, int64 actor, bool actor_null)
{
	Datum		args[2];
	Datum		values[lengthof(outbox_columns)];
	bool		isnull_of[lengthof(outbox_columns)];
	bool		sent_by[2] = {false, false};
	DirectWrite *write = NULL;
	bool		isnull;
	RequesterKind kind;
	Datum		requester_id;
	Datum		priority;
	bool		priority_null;
	Datum		reference;
	bool		reference_null;
	HeapTuple	row;
	TupleDesc	desc;
	Datum		preference;
	ArrayType  *channels;
	Datum	   *channel;
	bool	   *channel_null;
	int			nchannels;
	Datum		name;
	Datum		language;
	bool		language_null;
	Datum		email;
	bool		email_null;
	Datum		phone;
	bool		phone_null;
	uint64		queued = 0;

	/*
	 * The ticket as it is after the change. Not read-only: like the
	 * statements of a volatile function, the look-ups see the rows of the
	 * command that fired the trigger (the ticket's own INSERT, when the
	 * history row is written without a statement of its own).
	 */
	args[0] = Int32GetDatum(tenant_id);
	args[1] = Int64GetDatum(ticket_id);
	if (SPI_execute_plan(ticket_plan, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk: could not read ticket %lld", (long long) ticket_id);
	if (SPI_processed == 0)
		return 0;
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	/* The contact person, else the employee, else the customer. */
	requester_id = SPI_getbinval(row, desc, 1, &isnull);
	kind = REQUESTER_CONTACT;
	if (isnull)
	{
		requester_id = SPI_getbinval(row, desc, 2, &isnull);
		kind = REQUESTER_AGENT;
		/* The agent who made the change is not told about it. */
		if (!isnull && !actor_null && DatumGetInt64(requester_id) == actor)
			return 0;
	}
	if (isnull)
	{
		requester_id = SPI_getbinval(row, desc, 3, &isnull);
		kind = REQUESTER_CUSTOMER;
	}
	if (isnull)
		return 0;
	priority = SPI_getbinval(row, desc, 4, &priority_null);
	reference = SPI_getbinval(row, desc, 5, &reference_null);
	if (!reference_null)
		reference = PointerGetDatum(PG_DETOAST_DATUM_COPY(reference));

	/* The requester, then the channels of the event for it. */
	args[0] = Int32GetDatum(tenant_id);
	args[1] = requester_id;
	if (SPI_execute_plan(requester_plan[kind], args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk: could not read the requester of ticket %lld", (long long) ticket_id);
	if (SPI_processed == 0)
		return 0;
	row = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = SPI_tuptable->tupdesc;
	name = SPI_getbinval(row, desc, 1, &isnull);
	if (isnull)
		return 0;
	email = SPI_getbinval(row, desc, 2, &email_null);
	phone = SPI_getbinval(row, desc, 3, &phone_null);
	language = SPI_getbinval(row, desc, 4, &language_null);
	preference = SPI_getbinval(row, desc, 5, &isnull);
	channels = policy_channels(tenant_id, event, priority, priority_null,
							   isnull ? NULL : DatumGetArrayTypeP(preference));
	deconstruct_array(channels, TEXTOID, -1, false, TYPALIGN_INT,
					  &channel, &channel_null, &nchannels);

	/* A message per channel with a usable address, in the channels' order. */
	for (int i = 0; i < nchannels; i++)
	{
		char	   *ch;
		Datum		address = (Datum) 0;
		bool		address_null = true;

		if (channel_null[i])
			continue;
		ch = TextDatumGetCString(channel[i]);
		if (strcmp(ch, "email") == 0)
		{
			address = email;
			address_null = email_null;
		}
		else if (strcmp(ch, "sms") == 0)
		{
			address = phone;
			address_null = phone_null;
		}
		if (address_null || !text_matches(address, "\\S"))
			continue;
		if (strcmp(ch, "email") == 0 && !text_matches(address, "^[^\\s<>@\",;]+@[^\\s<>@\",;]+$"))
			continue;

		/*
		 * A channel named twice (a policy may) gives one message, as the
		 * INSERT's ON CONFLICT DO NOTHING did: the event is new, so no
		 * other message of it exists yet.
		 */
		if (sent_by[strcmp(ch, "email") == 0 ? 0 : 1])
			continue;
		sent_by[strcmp(ch, "email") == 0 ? 0 : 1] = true;

		memset(isnull_of, 0, sizeof(isnull_of));
		values[0] = Int32GetDatum(tenant_id);
		values[1] = Int64GetDatum(ticket_id);
		values[2] = Int64GetDatum(event_id);
		values[3] = CStringGetTextDatum(event);
		values[4] = channel[i];
		values[5] = address;
		values[6] = name;
		values[7] = requester_id;
		values[8] = requester_id;
		isnull_of[7] = kind != REQUESTER_AGENT;
		isnull_of[8] = kind != REQUESTER_CONTACT;
		values[9] = language;
		isnull_of[9] = language_null;
		values[10] = reference;
		isnull_of[10] = reference_null;
		values[11] = note;
		isnull_of[11] = note_null;
		if (write == NULL)
			write = direct_begin(&outbox_table);
		direct_append(write, values, isnull_of);
		queued++;
	}
	/* The row triggers after the rows: the foreign-key checks. */
	if (write != NULL)
		direct_end(write);
	return queued;
}

/*
 * notify_requester_queue queues the messages of event (registered or
 * acknowledged) for the requester of the ticket of the history row, and
 * asks for the delivery worker to be woken at commit when it queued any.
 */
void
notify_requester_queue(HeapTuple eventrow, TupleDesc tupdesc, const char *event)
{
	bool		isnull;
	int32		tenant_id = DatumGetInt32(notify_event_column(eventrow, tupdesc, "tenant_id", &isnull));
	int64		ticket_id = DatumGetInt64(notify_event_column(eventrow, tupdesc, "ticket_id", &isnull));
	int64		event_id = DatumGetInt64(notify_event_column(eventrow, tupdesc, "event_id", &isnull));
	bool		note_null;
	Datum		note = notify_event_column(eventrow, tupdesc, "note", &note_null);
	bool		actor_null;
	Datum		actor = notify_event_column(eventrow, tupdesc, "actor_agent_id", &actor_null);
	TrustedScope scope;
	volatile uint64 queued = 0;

	SPI_connect();
	trusted_enter(&scope);
	PG_TRY();
	{
		trusted_by_key();
		prepare_plans();
		queued = queue_for_requester(tenant_id, ticket_id, event_id, event, note, note_null,
									 actor_null ? 0 : DatumGetInt64(actor), actor_null);
		trusted_done(&scope);
	}
	PG_FINALLY();
	{
		trusted_leave(&scope);
	}
	PG_END_TRY();
	SPI_finish();
	if (queued > 0)
		(void) DirectFunctionCall1(ticketdesk_notify_wake, (Datum) 0);
}
