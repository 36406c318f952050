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

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

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
"SELECT k.contact_id, k.requester_agent_id, k.customer_id, k.priority::text, k.reference"
"  FROM ticketdesk.ticket k WHERE k.tenant_id = $1 AND k.ticket_id = $2";

/*
 * A requester's name, addresses and language, and the channels of the event
 * for it: notify_addresses' branch of its kind, then notify_channels. $1
 * tenant, $2 the requester's id, $3 event, $4 priority.
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

static const char *const requester_channels =
"SELECT r.name, r.email, r.phone, r.language,"
"       coalesce((SELECT CASE WHEN r.preference && p.allowed"
"                             THEN ARRAY(SELECT c FROM unnest(p.allowed) c"
"                                         WHERE c = ANY (r.preference) ORDER BY c)"
"                             ELSE p.channels END"
"                   FROM ticketdesk.notify_policy p"
"                  WHERE p.tenant_id = $1 AND p.event IN ($3, '*')"
"                    AND (p.priority = $4::ticketdesk.ticket_priority OR p.priority IS NULL)"
"                  ORDER BY p.event <> '*' DESC, p.priority IS NOT NULL DESC, p.seeded"
"                  LIMIT 1), '{email}')"
"  FROM (%s) AS r(name, email, phone, language, preference)";

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
			Oid			types[4] = {INT4OID, INT8OID, TEXTOID, TEXTOID};

			requester_plan[kind] = saved_plan(psprintf(requester_channels, requester_row[kind]),
											  4, types);
		}
}

/*
 * Queue the messages of the requester and return how many were queued.
 * Runs in the trusted scope, connected to SPI.
 */
static uint64
queue_for_requester(int32 tenant_id, int64 ticket_id, int64 event_id, const char *event,
					Datum note, bool note_null, int64 actor, bool actor_null)
{
	Datum		args[4];
	char		nulls[4];
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
	if (!priority_null)
		priority = PointerGetDatum(PG_DETOAST_DATUM_COPY(priority));
	reference = SPI_getbinval(row, desc, 5, &reference_null);
	if (!reference_null)
		reference = PointerGetDatum(PG_DETOAST_DATUM_COPY(reference));

	/* The requester and the channels of the event for it. */
	args[0] = Int32GetDatum(tenant_id);
	args[1] = requester_id;
	args[2] = CStringGetTextDatum(event);
	args[3] = priority;
	memset(nulls, ' ', sizeof(nulls));
	nulls[3] = priority_null ? 'n' : ' ';
	if (SPI_execute_plan(requester_plan[kind], args, nulls, false, 1) != SPI_OK_SELECT)
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
	channels = DatumGetArrayTypeP(SPI_getbinval(row, desc, 5, &isnull));
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
