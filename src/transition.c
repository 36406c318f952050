/*
 * transition.c
 *		The allowed status moves, read from table ticketdesk.transition and
 *		cached per backend as one bit mask of target statuses per source status.
 *
 * A statement trigger on the table sends a relcache invalidation for it, which
 * empties every backend's cache: this backend's at the next command, the
 * others' when the change commits.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "storage/lmgr.h"

#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_transition_changed);

typedef struct TransitionKey
{
	int32		tenant_id;
	int64		type_id;
} TransitionKey;

typedef struct TransitionEntry
{
	TransitionKey key;
	uint32		allowed[TS_COUNT];	/* bit t set: from s to t is allowed */
} TransitionEntry;

static HTAB *transition_cache = NULL;
static Oid	transition_relid = InvalidOid;
static bool callback_registered = false;

/* Empty the cache when the transition table changes or is dropped. */
static void
transition_cache_invalidate(Datum arg, Oid relid)
{
	if (transition_cache != NULL &&
		(relid == InvalidOid || relid == transition_relid))
	{
		hash_destroy(transition_cache);
		transition_cache = NULL;
	}
}

static TicketStatus
status_from_label(const char *label)
{
	for (int s = 0; s < TS_COUNT; s++)
		if (strcmp(label, ticket_status_name(s)) == 0)
			return (TicketStatus) s;
	elog(ERROR, "ticketdesk: unknown status \"%s\" in table transition", label);
}

/*
 * Read the moves that apply to one tenant and ticket type into allowed: the
 * type's own rows if it has any, else the tenant's default rows.
 *
 * The table is read like a catalog: locked first, so that pending
 * invalidations are processed, then with the latest snapshot. A cached entry
 * therefore never reflects an older state than the invalidations already
 * seen, even when the caller runs in REPEATABLE READ.
 */
static void
load_transitions(int32 tenant_id, int64 type_id, uint32 *allowed)
{
	uint32		typed[TS_COUNT] = {0};
	uint32		fallback[TS_COUNT] = {0};
	bool		has_typed = false;
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2];

	args[0] = Int32GetDatum(tenant_id);
	args[1] = Int64GetDatum(type_id);

	LockRelationOid(get_relname_relid("transition", get_namespace_oid("ticketdesk", false)),
					AccessShareLock);
	SPI_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args("SELECT type_id IS NOT NULL, from_status::text, to_status::text"
							  "  FROM ticketdesk.transition"
							  " WHERE tenant_id = $1 AND (type_id = $2 OR type_id IS NULL)",
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk: could not read table transition");
	PopActiveSnapshot();

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		is_typed = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
		TicketStatus from = status_from_label(SPI_getvalue(tup, desc, 2));
		TicketStatus to = status_from_label(SPI_getvalue(tup, desc, 3));

		if (is_typed)
		{
			typed[from] |= 1u << to;
			has_typed = true;
		}
		else
			fallback[from] |= 1u << to;
	}
	SPI_finish();

	memcpy(allowed, has_typed ? typed : fallback, sizeof(typed));
}

/* Create the cache if an invalidation (or the first use) left none. */
static void
transition_cache_create(void)
{
	HASHCTL		ctl;

	if (!callback_registered)
	{
		ticketdesk_register_relcache_callback(transition_cache_invalidate);
		callback_registered = true;
	}
	ctl.keysize = sizeof(TransitionKey);
	ctl.entrysize = sizeof(TransitionEntry);
	transition_cache = hash_create("ticketdesk transitions", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS);
	transition_relid = get_relname_relid("transition",
										 get_namespace_oid("ticketdesk", false));
}

/*
 * transition_allowed says whether a ticket of the given tenant and type may
 * move from one status to another. It also returns, in *allowed_from, the
 * bit mask of every status reachable from 'from', for error messages.
 */
bool
transition_allowed(int32 tenant_id, int64 type_id,
				   TicketStatus from, TicketStatus to, uint32 *allowed_from)
{
	TransitionKey key;
	TransitionEntry *entry = NULL;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.type_id = type_id;

	if (transition_cache != NULL)
		entry = hash_search(transition_cache, &key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		uint32		allowed[TS_COUNT];

		/* Loading may process invalidations that destroy the cache. */
		load_transitions(tenant_id, type_id, allowed);
		if (transition_cache == NULL)
			transition_cache_create();
		entry = hash_search(transition_cache, &key, HASH_ENTER, NULL);
		memcpy(entry->allowed, allowed, sizeof(allowed));
	}

	*allowed_from = entry->allowed[from];
	return (entry->allowed[from] & (1u << to)) != 0;
}

/*
 * ticketdesk_transition_changed is the statement trigger on table transition:
 * it invalidates the cached moves in every backend.
 */
Datum
ticketdesk_transition_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("transition_changed must be called as a trigger")));

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
