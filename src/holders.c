/*
 * holders.c
 *		Who may take a stage: the active holders of a profile who are members
 *		of a centre or of one above it, cached per backend by tenant, profile
 *		and centre, in agent order, with their names.
 *
 * Statement triggers on agent, agent_profile, center_member and center send a
 * relcache invalidation for their table, which empties every backend's cache
 * (config_cache.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"

#include "config_cache.h"
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

static ConfigCache holders_cache = {"ticketdesk holders", lengthof(watched), watched,
	sizeof(HoldersKey), sizeof(HoldersEntry)};

/* Read the holders of the entry's key into it (its arrays in the cache's context). */
static void
holders_load(void *e, void *arg)
{
	HoldersEntry *entry = e;
	const HoldersKey *key = &entry->key;
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3];

	config_cache_lock(&holders_cache);

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
	entry->agent_ids = MemoryContextAlloc(holders_cache.cxt, sizeof(int64) * Max(entry->n, 1));
	entry->names = MemoryContextAlloc(holders_cache.cxt, sizeof(char *) * Max(entry->n, 1));
	for (int i = 0; i < entry->n; i++)
	{
		bool		isnull;

		entry->agent_ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));
		entry->names[i] = MemoryContextStrdup(holders_cache.cxt,
											  SPI_getvalue(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 2));
	}
	SPI_finish();
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
	HoldersEntry *entry;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.profile_id = profile_id;
	key.center_id = center_id;
	entry = config_cache_get(&holders_cache, &key, holders_load, NULL);
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
