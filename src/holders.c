/*
 * holders.c
 *		Who may take a stage: the active holders of a profile who are members
 *		of a centre or of one above it, cached per backend by tenant, profile
 *		and centre, in agent order, with their names.
 *
 * Statement triggers on agent, agent_profile, center_member and center send a
 * relcache invalidation for their table, which empties every backend's cache:
 * this backend's at the next command, the others' when the change commits.
 * The tables are read like catalogs: locked first, so that pending
 * invalidations are processed, then with the latest snapshot.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "routing.h"

PG_FUNCTION_INFO_V1(ticketdesk_holders_changed);

typedef struct HoldersKey
{
	int32		tenant_id;
	int64		profile_id;
	int64		center_id;
} HoldersKey;

typedef struct HoldersEntry
{
	HoldersKey	key;
	int			n;
	int64	   *agent_ids;		/* ascending */
	char	  **names;
} HoldersEntry;

/* The tables whose changes empty the cache. */
static const char *const watched[] = {"agent", "agent_profile", "center_member", "center"};

static HTAB *holders_cache = NULL;
static MemoryContext holders_cxt = NULL;
static Oid	watched_relids[lengthof(watched)];
static bool callback_registered = false;

/* Empty the cache when a watched table changes or is dropped. */
static void
holders_cache_invalidate(Datum arg, Oid relid)
{
	bool		hit = (relid == InvalidOid);

	for (int i = 0; i < lengthof(watched) && !hit; i++)
		hit = (relid == watched_relids[i]);
	if (hit && holders_cache != NULL)
	{
		holders_cache = NULL;
		MemoryContextReset(holders_cxt);
	}
}

/* Read the holders of one key into entry (its arrays in the cache's context). */
static void
holders_load(const HoldersKey *key, HoldersEntry *entry)
{
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3];
	Oid			nsp = get_namespace_oid("ticketdesk", false);

	for (int i = 0; i < lengthof(watched); i++)
		LockRelationOid(get_relname_relid(watched[i], nsp), AccessShareLock);

	args[0] = Int32GetDatum(key->tenant_id);
	args[1] = Int64GetDatum(key->profile_id);
	args[2] = Int64GetDatum(key->center_id);
	SPI_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args(
							  CENTRE_CHAIN
							  "SELECT ap.agent_id, a.name"
							  "  FROM ticketdesk.agent_profile ap"
							  "  JOIN ticketdesk.agent a ON a.tenant_id = ap.tenant_id AND a.agent_id = ap.agent_id"
							  " WHERE ap.tenant_id = $1 AND ap.profile_id = $2 AND a.active"
							  "   AND EXISTS (SELECT 1 FROM ticketdesk.center_member m"
							  "                WHERE m.tenant_id = $1 AND m.agent_id = ap.agent_id"
							  "                  AND m.center_id IN (SELECT up.center_id FROM up))"
							  " ORDER BY ap.agent_id",
							  3, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk: could not read the holders of profile " INT64_FORMAT,
			 key->profile_id);
	PopActiveSnapshot();

	entry->n = SPI_processed;
	entry->agent_ids = MemoryContextAlloc(holders_cxt, sizeof(int64) * Max(entry->n, 1));
	entry->names = MemoryContextAlloc(holders_cxt, sizeof(char *) * Max(entry->n, 1));
	for (int i = 0; i < entry->n; i++)
	{
		bool		isnull;

		entry->agent_ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));
		entry->names[i] = MemoryContextStrdup(holders_cxt,
											  SPI_getvalue(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 2));
	}
	SPI_finish();
}

/* Create the cache if an invalidation (or the first use) left none. */
static void
holders_cache_create(void)
{
	HASHCTL		ctl;
	Oid			nsp = get_namespace_oid("ticketdesk", false);

	if (!callback_registered)
	{
		ticketdesk_register_relcache_callback(holders_cache_invalidate);
		holders_cxt = AllocSetContextCreate(CacheMemoryContext, "ticketdesk holders",
											ALLOCSET_DEFAULT_SIZES);
		callback_registered = true;
	}
	for (int i = 0; i < lengthof(watched); i++)
		watched_relids[i] = get_relname_relid(watched[i], nsp);
	ctl.keysize = sizeof(HoldersKey);
	ctl.entrysize = sizeof(HoldersEntry);
	ctl.hcxt = holders_cxt;
	holders_cache = hash_create("ticketdesk holders", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * routing_holders returns how many agents may take a stage of the profile
 * for a ticket of the centre, and their ids (ascending) and names. The
 * arrays belong to the cache: use them before the next command.
 */
int
routing_holders(int32 tenant_id, int64 profile_id, int64 center_id,
				const int64 **agent_ids, char *const **names)
{
	HoldersKey	key;
	HoldersEntry *entry = NULL;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.profile_id = profile_id;
	key.center_id = center_id;

	/* Changes committed by others since the last command empty the cache first. */
	AcceptInvalidationMessages();
	if (holders_cache != NULL)
		entry = hash_search(holders_cache, &key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		HoldersEntry loaded;

		/* Loading may process invalidations that empty the cache: then again. */
		do
		{
			if (holders_cache == NULL)
				holders_cache_create();
			holders_load(&key, &loaded);
		} while (holders_cache == NULL);
		entry = hash_search(holders_cache, &key, HASH_ENTER, NULL);
		entry->n = loaded.n;
		entry->agent_ids = loaded.agent_ids;
		entry->names = loaded.names;
	}
	*agent_ids = entry->agent_ids;
	*names = entry->names;
	return entry->n;
}

/*
 * ticketdesk_holders_changed is the statement trigger on the tables that
 * decide who holds what where: it invalidates the cached holders in every
 * backend. The other caches of configuration listen to the same
 * invalidations (route_config.c, opening_refs.c, checklist_copy.c for
 * checklist_template, and notify_requester.c for notify_policy).
 */
Datum
ticketdesk_holders_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("holders_changed must be called as a trigger")));

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
