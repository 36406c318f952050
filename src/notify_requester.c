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
 * 5: opening a ticket"). Here the same rules take no statement at all:
 * the ticket, the requester, its preference and the tenant's policies are
 * read by key (keyed_read.c), under the snapshot a statement would take,
 * and each message is written into outbox directly (direct_write.c)
 * (doc/benchmarks.md, "Session 7: the requester's message").
 *
 * The rules are those of notify_ticket_event and notify_addresses
 * (schema/88_api_notify.sql), for the requester: the contact person, else
 * the employee (not when the employee made the change), else the customer;
 * the channels of notify_channels; one message per channel with a usable
 * address (not blank; for e-mail, one address), in the policy's channel
 * order; a message already queued for the event is skipped; the worker is
 * woken at commit when anything was queued. sql/notify shows each case.
 *
 * Like notify_ticket_event (SECURITY DEFINER) the reads and writes do not
 * run with the caller's rights: they run as the bootstrap superuser with
 * names resolved in pg_catalog and ticketdesk only (trusted.c), and name
 * the event's tenant in every key.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "config_cache.h"
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

/*
 * The ticket's requester and what the messages carry from it, by the
 * ticket's primary key.
 */
enum
{
	TK_CONTACT, TK_AGENT, TK_CUSTOMER, TK_PRIORITY, TK_REFERENCE
};
static const char *const ticket_read[] = {
	"contact_id", "requester_agent_id", "customer_id", "priority", "reference"
};
static const char *const ticket_key[] = {"tenant_id", "ticket_id"};
static KeyedTable ticket_table = {"ticket", lengthof(ticket_read), ticket_read,
	lengthof(ticket_key), ticket_key};

/*
 * A requester's name, addresses and language, by its primary key:
 * notify_addresses' branch of its kind (an agent; a contact and its
 * preferred channel; a customer and its two phones).
 */
enum
{
	RQ_NAME, RQ_EMAIL, RQ_PHONE, RQ_LANGUAGE, RQ_PREFERRED_CHANNEL,
	RQ_WORK_PHONE = RQ_LANGUAGE /* a customer's: it has no language */
};
static const char *const agent_read[] = {"name", "email", "phone", "language"};
static const char *const agent_key[] = {"tenant_id", "agent_id"};
static const char *const contact_read[] = {"name", "email", "phone", "language", "preferred_channel"};
static const char *const contact_key[] = {"tenant_id", "contact_id"};
static const char *const customer_read[] = {"name", "email", "phone", "work_phone"};
static const char *const customer_key[] = {"tenant_id", "customer_id"};
static KeyedTable requester_table[REQUESTER_KINDS] = {
	{"agent", lengthof(agent_read), agent_read, lengthof(agent_key), agent_key},
	{"contact", lengthof(contact_read), contact_read, lengthof(contact_key), contact_key},
	{"customer", lengthof(customer_read), customer_read, lengthof(customer_key), customer_key}
};

/*
 * The channels an agent or a contact prefers: notify_addresses' LEFT JOIN
 * (p.tenant_id, p.agent_id) or (p.tenant_id, p.contact_id), through the
 * table's unique key (tenant_id, agent_id, contact_id), the other id NULL
 * (its CHECK: exactly one of them is set).
 */
static const char *const preference_read[] = {"channels"};
static const char *const preference_key[] = {"tenant_id", "agent_id", "contact_id"};
static KeyedTable preference_table = {"notify_preference", lengthof(preference_read), preference_read,
	lengthof(preference_key), preference_key};

/* The tenant's channel policies (policy_channels). */
enum
{
	PO_EVENT, PO_PRIORITY, PO_CHANNELS, PO_ALLOWED, PO_SEEDED
};
static const char *const policy_read[] = {"event", "priority", "channels", "allowed", "seeded"};
static const char *const policy_key[] = {"tenant_id"};
static KeyedTable policy_table = {"notify_policy", lengthof(policy_read), policy_read,
	lengthof(policy_key), policy_key};

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

/* Whether text matches a regular expression, as the SQL operator ~ would. */
static bool
text_matches(Datum value, const char *pattern)
{
	return DatumGetBool(DirectFunctionCall2Coll(textregexeq, DEFAULT_COLLATION_OID, value,
												CStringGetTextDatum(pattern)));
}

/*
 * The address rules of notify_addresses: an address is usable when it is
 * not blank (~ '\S'), and for e-mail when it is one address
 * (~ '^[^\s<>@",;]+@[^\s<>@",;]+$'). Decided here only where the answer
 * does not depend on what the regular expression's locale counts as space:
 * text of printable ASCII (33-126, never space in any locale) for the
 * e-mail rule, and for the blank rule any such character in the text. For
 * anything else (spaces, control characters, any byte beyond ASCII) the
 * expressions themselves decide, as in SQL.
 */
static bool
address_usable(Datum value, bool email)
{
	text	   *address = DatumGetTextPP(value);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(address);
	int			len = VARSIZE_ANY_EXHDR(address);
	bool		printable = true;
	int			at = -1;
	int			ats = 0;
	bool		forbidden = false;

	for (int i = 0; i < len; i++)
	{
		if (p[i] < 33 || p[i] > 126)
		{
			printable = false;
			continue;
		}
		if (p[i] == '@')
		{
			at = i;
			ats++;
		}
		else if (strchr("<>\",;", p[i]) != NULL)
			forbidden = true;
	}
	if (!printable)
	{
		if (!text_matches(value, "\\S"))
			return false;
		return !email || text_matches(value, "^[^\\s<>@\",;]+@[^\\s<>@\",;]+$");
	}
	if (len == 0)
		return false;
	return !email || (ats == 1 && at > 0 && at < len - 1 && !forbidden);
}

/*
 * The first row of a keyed table with these key values, its columns
 * copied into the current memory context; false when there is none. With
 * written, every key column given: a row that the trigger this runs under
 * may have handed over (keyed_begin_written).
 */
static bool
keyed_get(KeyedTable *t, Snapshot snapshot, int nkeys, const Datum *key, const bool *key_null,
		  bool written, Datum *values, bool *nulls)
{
	KeyedScan  *scan = written ? keyed_begin_written(t, snapshot, key) :
		keyed_begin(t, snapshot, nkeys, key, key_null);
	bool		found = keyed_next(scan, values, nulls);

	if (found)
		for (int c = 0; c < t->ncolumns; c++)
			if (!nulls[c])
				values[c] = t->attlen[c] == -1 ?
					PointerGetDatum(PG_DETOAST_DATUM_COPY(values[c])) :
					datumCopy(values[c], t->attbyval[c], t->attlen[c]);
	keyed_end(scan);
	return found;
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

/* A row of the tenant's notify_policy, as policy_channels ranks it. */
typedef struct PolicyRow
{
	text	   *event;
	bool		every_priority; /* priority NULL */
	Oid			priority;
	bool		seeded;
	ArrayType  *channels;
	ArrayType  *allowed;
} PolicyRow;

/*
 * The tenant's policies, kept per backend: every opening thanks its
 * requester, and reading the tenant's rows of notify_policy by key cost an
 * opening some 16,000 instructions for rows that hardly ever change. The
 * statement trigger holders_changed on notify_policy sends a relcache
 * invalidation for the table at every change, which empties the cache: this
 * backend's at its next command (and when the change rolls back), the
 * others' when it commits. One tenant at a time: another tenant's message
 * reads its rows again. Used under READ COMMITTED only, where a statement
 * sees what was committed before it began: under REPEATABLE READ the
 * message's snapshot may be older than the rows kept, so the rows are read
 * under it every time, as before.
 */
static const char *const policy_watched[] = {"notify_policy"};
static ConfigCache policy_cache = {"ticketdesk channel policies", 1, policy_watched};
static int32 policy_tenant;
static int	policy_n;
static PolicyRow *policy_rows;	/* NULL until read whole */

/* The tenant's rows of notify_policy under snapshot, in memory cxt; how many. */
static int
policy_read_rows(int32 tenant_id, Snapshot snapshot, MemoryContext cxt, PolicyRow **rows)
{
	Datum		key = Int32GetDatum(tenant_id);
	KeyedScan  *scan = keyed_begin(&policy_table, snapshot, 1, &key, NULL);
	Datum		row[lengthof(policy_read)];
	bool		null[lengthof(policy_read)];
	int			n = 0;
	int			size = 16;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	*rows = palloc(sizeof(PolicyRow) * size);
	while (keyed_next(scan, row, null))
	{
		PolicyRow  *r;

		if (n == size)
		{
			size *= 2;
			*rows = repalloc(*rows, sizeof(PolicyRow) * size);
		}
		r = &(*rows)[n++];
		r->event = DatumGetTextPCopy(row[PO_EVENT]);
		r->every_priority = null[PO_PRIORITY];
		r->priority = null[PO_PRIORITY] ? InvalidOid : DatumGetObjectId(row[PO_PRIORITY]);
		r->seeded = DatumGetBool(row[PO_SEEDED]);
		r->channels = DatumGetArrayTypePCopy(row[PO_CHANNELS]);
		r->allowed = DatumGetArrayTypePCopy(row[PO_ALLOWED]);
	}
	MemoryContextSwitchTo(old);
	keyed_end(scan);
	return n;
}

/*
 * The tenant's policies: the kept ones under READ COMMITTED (read again
 * after a change or for another tenant), else read under snapshot.
 */
static int
policy_rows_of(int32 tenant_id, Snapshot snapshot, PolicyRow **rows)
{
	if (IsolationUsesXactSnapshot())
		return policy_read_rows(tenant_id, snapshot, CurrentMemoryContext, rows);
	/* Changes others committed since the last command empty the cache first. */
	AcceptInvalidationMessages();

	/*
	 * Read as a catalog is read: the table locked first (which takes in the
	 * invalidations still pending), then under the latest snapshot, so that
	 * no change the rows miss can have had its invalidation taken in
	 * already. Reading may take in invalidations that empty the cache
	 * again: then read again.
	 */
	while (!policy_cache.current || policy_rows == NULL || policy_tenant != tenant_id)
	{
		Snapshot	latest;
		PolicyRow  *got;

		/* Nothing kept until the rows are read whole (an error may stop the reading). */
		policy_rows = NULL;
		config_cache_empty(&policy_cache);
		config_cache_lock(&policy_cache);
		config_cache_open(&policy_cache);
		if (!OidIsValid(policy_cache.relids[0]))
			elog(ERROR, "ticketdesk: table notify_policy does not exist");
		latest = RegisterSnapshot(GetLatestSnapshot());
		policy_n = policy_read_rows(tenant_id, latest, policy_cache.cxt, &got);
		UnregisterSnapshot(latest);
		policy_rows = got;
		policy_tenant = tenant_id;
	}
	*rows = policy_rows;
	return policy_n;
}

/*
 * The channels of event at priority (an enum value; none when priority_null)
 * for a recipient who prefers preference (NULL: no preference):
 * notify_channels (schema/88_api_notify.sql), on the tenant's rows of
 * notify_policy (policy_rows_of). The policy of the event before the one of
 * every event ('*'), of the priority before the one of every priority, an
 * administrator's before the seeded one (the table's unique key leaves one
 * row per rank); its channels, or those it allows that the recipient
 * prefers, in text order; '{email}' when no policy applies. The result is
 * the caller's (a copy, or made here).
 */
static ArrayType *
policy_channels(int32 tenant_id, const char *event, Datum priority, bool priority_null,
				ArrayType *preference, Snapshot snapshot)
{
	PolicyRow  *rows;
	int			nrows = policy_rows_of(tenant_id, snapshot, &rows);
	int			event_len = strlen(event);
	int			best = -1;
	ArrayType  *channels = NULL;
	ArrayType  *allowed = NULL;
	ArrayType  *result;

	for (int i = 0; i < nrows; i++)
	{
		PolicyRow  *r = &rows[i];
		bool		every_event = VARSIZE_ANY_EXHDR(r->event) == 1 && *VARDATA_ANY(r->event) == '*';
		int			rank;

		if (!every_event && (VARSIZE_ANY_EXHDR(r->event) != event_len ||
							 memcmp(VARDATA_ANY(r->event), event, event_len) != 0))
			continue;
		if (!r->every_priority &&
			(priority_null || r->priority != DatumGetObjectId(priority)))
			continue;
		rank = (every_event ? 0 : 4) + (r->every_priority ? 0 : 2) + (r->seeded ? 0 : 1);
		if (rank <= best)
			continue;
		best = rank;
		channels = r->channels;
		allowed = r->allowed;
	}

	if (best < 0)
	{
		Datum		email = CStringGetTextDatum("email");

		return construct_array(&email, 1, TEXTOID, -1, false, TYPALIGN_INT);
	}
	/* The kept rows are the cache's: the caller gets a copy. */
	result = (ArrayType *) DatumGetPointer(datumCopy(PointerGetDatum(channels), false, -1));
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
 * Runs in the trusted scope.
 */
static uint64
queue_for_requester(int32 tenant_id, int64 ticket_id, int64 event_id, const char *event,
					Datum note, bool note_null, int64 actor, bool actor_null)
{
	Datum		key[3];
	bool		key_null[3] = {false, false, false};
	Datum		ticket[lengthof(ticket_read)];
	bool		ticket_null[lengthof(ticket_read)];
	Datum		requester[KEYED_MAX_COLUMNS];
	bool		requester_null[KEYED_MAX_COLUMNS];
	Datum		preference = (Datum) 0;
	bool		preference_null = true;
	Datum		values[lengthof(outbox_columns)];
	bool		isnull_of[lengthof(outbox_columns)];
	bool		sent_by[2] = {false, false};
	DirectWrite *write = NULL;
	RequesterKind kind;
	Datum		requester_id;
	Snapshot	snapshot;
	ArrayType  *channels;
	Datum	   *channel;
	bool	   *channel_null;
	int			nchannels;
	Datum		phone;
	bool		phone_null;
	uint64		queued = 0;

	/*
	 * What the statements of notify_ticket_event would see (a volatile
	 * function's statement, or one through SPI not read-only): a new
	 * command, so that the rows of the command that fired the trigger are
	 * seen (the ticket's own INSERT, when the history row is written without
	 * a statement of its own), and a snapshot taken now.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	snapshot = GetActiveSnapshot();

	/*
	 * The ticket as it is after the change: usually the very row version
	 * the ticket's history trigger, which wrote the history row whose
	 * trigger this is, handed over (history.c, keyed_row_written), unless
	 * the row changed again since.
	 */
	key[0] = Int32GetDatum(tenant_id);
	key[1] = Int64GetDatum(ticket_id);
	if (!keyed_get(&ticket_table, snapshot, 2, key, NULL, true, ticket, ticket_null))
	{
		PopActiveSnapshot();
		return 0;
	}

	/* The contact person, else the employee, else the customer. */
	kind = REQUESTER_CONTACT;
	requester_id = ticket[TK_CONTACT];
	if (ticket_null[TK_CONTACT])
	{
		kind = REQUESTER_AGENT;
		requester_id = ticket[TK_AGENT];
		/* The agent who made the change is not told about it. */
		if (!ticket_null[TK_AGENT] && !actor_null && DatumGetInt64(requester_id) == actor)
		{
			PopActiveSnapshot();
			return 0;
		}
	}
	if (kind == REQUESTER_AGENT && ticket_null[TK_AGENT])
	{
		kind = REQUESTER_CUSTOMER;
		requester_id = ticket[TK_CUSTOMER];
		if (ticket_null[TK_CUSTOMER])
		{
			PopActiveSnapshot();
			return 0;
		}
	}

	/* The requester, its preference, then the channels of the event for it. */
	key[1] = requester_id;
	if (!keyed_get(&requester_table[kind], snapshot, 2, key, NULL, false, requester, requester_null) ||
		requester_null[RQ_NAME])
	{
		PopActiveSnapshot();
		return 0;
	}
	phone = requester[RQ_PHONE];
	phone_null = requester_null[RQ_PHONE];
	if (kind == REQUESTER_CUSTOMER)
	{
		/* coalesce(u.phone, u.work_phone), 'en', no preference */
		if (phone_null)
		{
			phone = requester[RQ_WORK_PHONE];
			phone_null = requester_null[RQ_WORK_PHONE];
		}
		requester[RQ_LANGUAGE] = CStringGetTextDatum("en");
		requester_null[RQ_LANGUAGE] = false;
	}
	else
	{
		/* (tenant, agent_id, NULL) or (tenant, NULL, contact_id) */
		key[1] = key[2] = requester_id;
		key_null[1] = kind != REQUESTER_AGENT;
		key_null[2] = kind != REQUESTER_CONTACT;
		preference_null = !keyed_get(&preference_table, snapshot, 3, key, key_null, false,
									 &preference, &preference_null) || preference_null;
		/* A contact without a preference: her preferred channel, if any. */
		if (kind == REQUESTER_CONTACT && preference_null && !requester_null[RQ_PREFERRED_CHANNEL])
		{
			char	   *preferred = TextDatumGetCString(requester[RQ_PREFERRED_CHANNEL]);

			if (strcmp(preferred, "sms") == 0 || strcmp(preferred, "email") == 0)
			{
				Datum		one = CStringGetTextDatum(preferred);

				preference = PointerGetDatum(construct_array(&one, 1, TEXTOID, -1, false, TYPALIGN_INT));
				preference_null = false;
			}
		}
	}
	channels = policy_channels(tenant_id, event, ticket[TK_PRIORITY], ticket_null[TK_PRIORITY],
							   preference_null ? NULL : DatumGetArrayTypeP(preference), snapshot);
	PopActiveSnapshot();
	deconstruct_array(channels, TEXTOID, -1, false, TYPALIGN_INT,
					  &channel, &channel_null, &nchannels);

	/* A message per channel with a usable address, in the channels' order. */
	for (int i = 0; i < nchannels; i++)
	{
		char	   *ch;
		bool		email;
		Datum		address = (Datum) 0;
		bool		address_null = true;

		if (channel_null[i])
			continue;
		ch = TextDatumGetCString(channel[i]);
		email = strcmp(ch, "email") == 0;
		if (email)
		{
			address = requester[RQ_EMAIL];
			address_null = requester_null[RQ_EMAIL];
		}
		else if (strcmp(ch, "sms") == 0)
		{
			address = phone;
			address_null = phone_null;
		}
		if (address_null || !address_usable(address, email))
			continue;

		/*
		 * A channel named twice (a policy may) gives one message, as the
		 * INSERT's ON CONFLICT DO NOTHING did: the event is new, so no
		 * other message of it exists yet.
		 */
		if (sent_by[email ? 0 : 1])
			continue;
		sent_by[email ? 0 : 1] = true;

		memset(isnull_of, 0, sizeof(isnull_of));
		values[0] = Int32GetDatum(tenant_id);
		values[1] = Int64GetDatum(ticket_id);
		values[2] = Int64GetDatum(event_id);
		values[3] = CStringGetTextDatum(event);
		values[4] = channel[i];
		values[5] = address;
		values[6] = requester[RQ_NAME];
		values[7] = requester_id;
		values[8] = requester_id;
		isnull_of[7] = kind != REQUESTER_AGENT;
		isnull_of[8] = kind != REQUESTER_CONTACT;
		values[9] = requester[RQ_LANGUAGE];
		isnull_of[9] = requester_null[RQ_LANGUAGE];
		values[10] = ticket[TK_REFERENCE];
		isnull_of[10] = ticket_null[TK_REFERENCE];
		values[11] = note;
		isnull_of[11] = note_null;
		if (write == NULL)
			write = direct_begin(&outbox_table);
		direct_append(write, values, isnull_of);
		queued++;
	}
	/* The row triggers after the rows. */
	if (write != NULL)
	{
		direct_close_indexes(write);
		direct_end(write);
	}
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

	trusted_enter_override(&scope);
	PG_TRY();
	{
		queued = queue_for_requester(tenant_id, ticket_id, event_id, event, note, note_null,
									 actor_null ? 0 : DatumGetInt64(actor), actor_null);
		trusted_done(&scope);
	}
	PG_FINALLY();
	{
		trusted_leave(&scope);
	}
	PG_END_TRY();
	if (queued > 0)
		(void) DirectFunctionCall1(ticketdesk_notify_wake, (Datum) 0);
}
