/*
 * route_config.c
 *		What routing reads about the configuration, cached per backend: a
 *		type's workflow stage (its name, profile and the load policy) by
 *		tenant, type and stage, and a centre's fallback (whether it or one
 *		above it has an active dispatcher, the tenant's administrator, the
 *		centre's code) by tenant and centre. Every opening routes, and these
 *		two queries were an eighth of its cost; the answers change only when
 *		an administrator changes the configuration.
 *
 * The holders_changed statement trigger on every table read here sends a
 * relcache invalidation for it, which empties every backend's cache: this
 * backend's at the next command, the others' when the change commits. The
 * tables are read like catalogs (as in holders.c): locked first, so that
 * pending invalidations are processed, then with the latest snapshot.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "routing.h"

/* The workflow of the type, the stage's name and profile, the load policy. */
static const char *const stage_sql =
"SELECT tt.workflow_id, s.name, s.profile_id, p.code,"
"       coalesce((SELECT r.weigh_by_priority FROM ticketdesk.routing_policy r"
"                  WHERE r.tenant_id = $1), false)"
"  FROM ticketdesk.ticket_type tt"
"  LEFT JOIN ticketdesk.workflow_stage s"
"         ON s.tenant_id = tt.tenant_id AND s.workflow_id = tt.workflow_id AND s.position = $3"
"  LEFT JOIN ticketdesk.profile p ON p.tenant_id = s.tenant_id AND p.profile_id = s.profile_id"
" WHERE tt.tenant_id = $1 AND tt.type_id = $2"
" LIMIT 1";

/* Whether the centre (or one above) has a dispatcher, and the tenant's administrator. */
static const char *const centre_sql =
CENTRE_CHAIN
"SELECT EXISTS (SELECT 1 FROM ticketdesk.center_member m"
"                 JOIN ticketdesk.agent a ON a.tenant_id = m.tenant_id AND a.agent_id = m.agent_id"
"                WHERE m.tenant_id = $1 AND m.role = 'dispatcher' AND a.active"
"                  AND m.center_id IN (SELECT up.center_id FROM up)),"
"       a.agent_id, a.name,"
"       (SELECT c.code FROM ticketdesk.center c WHERE c.tenant_id = $1 AND c.center_id = $3)"
"  FROM (SELECT $2::bigint) AS unused(x)"
"  LEFT JOIN ticketdesk.routing_policy r ON r.tenant_id = $1"
"  LEFT JOIN ticketdesk.agent a"
"         ON a.tenant_id = r.tenant_id AND a.agent_id = r.admin_agent_id AND a.active";

typedef struct ConfigKey
{
	int32		tenant_id;
	bool		centre;			/* a centre's fallback, else a type's stage */
	int16		stage;
	int64		id;				/* the type, or the centre */
} ConfigKey;

typedef struct ConfigEntry
{
	ConfigKey	key;
	union
	{
		RouteStage	stage;
		RouteCentre centre;
	}			u;
} ConfigEntry;

/* The tables whose changes empty the cache. */
static const char *const watched[] = {"ticket_type", "workflow_stage", "profile", "routing_policy",
"center", "center_member", "agent"};

static HTAB *config_cache = NULL;
static MemoryContext config_cxt = NULL;
static Oid	watched_relids[lengthof(watched)];
static bool callback_registered = false;

/* Empty the cache when a watched table changes or is dropped. */
static void
config_cache_invalidate(Datum arg, Oid relid)
{
	bool		hit = (relid == InvalidOid);

	for (int i = 0; i < lengthof(watched) && !hit; i++)
		hit = (relid == watched_relids[i]);
	if (hit && config_cache != NULL)
	{
		config_cache = NULL;
		MemoryContextReset(config_cxt);
	}
}

/* Create the cache if an invalidation (or the first use) left none. */
static void
config_cache_create(void)
{
	HASHCTL		ctl;
	Oid			nsp = get_namespace_oid("ticketdesk", false);

	if (!callback_registered)
	{
		ticketdesk_register_relcache_callback(config_cache_invalidate);
		config_cxt = AllocSetContextCreate(CacheMemoryContext, "ticketdesk routing configuration",
										   ALLOCSET_SMALL_SIZES);
		callback_registered = true;
	}
	for (int i = 0; i < lengthof(watched); i++)
		watched_relids[i] = get_relname_relid(watched[i], nsp);
	ctl.keysize = sizeof(ConfigKey);
	ctl.entrysize = sizeof(ConfigEntry);
	ctl.hcxt = config_cxt;
	config_cache = hash_create("ticketdesk routing configuration", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* A text column of the only result row, copied into the cache; NULL stays NULL. */
static char *
config_text(int col)
{
	char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return value == NULL ? NULL : MemoryContextStrdup(config_cxt, value);
}

/* An int8 column of the only result row, 0 for NULL. */
static int64
config_int8(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* Run the entry's query (stage_sql or centre_sql) and keep its answer in *entry. */
static void
config_load(const ConfigKey *key, ConfigEntry *entry)
{
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3];
	Oid			nsp = get_namespace_oid("ticketdesk", false);
	bool		isnull;

	for (int i = 0; i < lengthof(watched); i++)
		LockRelationOid(get_relname_relid(watched[i], nsp), AccessShareLock);

	args[0] = Int32GetDatum(key->tenant_id);
	SPI_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	if (!key->centre)
	{
		argtypes[2] = INT2OID;
		args[1] = Int64GetDatum(key->id);
		args[2] = Int16GetDatum(key->stage);
		if (SPI_execute_with_args(stage_sql, 3, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "ticketdesk: could not read the workflow of ticket type " INT64_FORMAT, key->id);
		memset(&entry->u.stage, 0, sizeof(RouteStage));
		if (SPI_processed > 0 && config_int8(1) != 0)
		{
			entry->u.stage.has_workflow = true;
			entry->u.stage.stage_name = config_text(2);
			entry->u.stage.profile_id = config_int8(3);
			entry->u.stage.profile_code = config_text(4);
			entry->u.stage.weighted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 5, &isnull));
		}
	}
	else
	{
		args[1] = Int64GetDatum(0);
		args[2] = Int64GetDatum(key->id);
		if (SPI_execute_with_args(centre_sql, 3, argtypes, args, NULL, true, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "ticketdesk: could not read the fallback of centre " INT64_FORMAT, key->id);
		entry->u.centre.has_dispatcher = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
																	SPI_tuptable->tupdesc, 1, &isnull));
		entry->u.centre.admin_id = config_int8(2);
		entry->u.centre.admin_name = config_text(3);
		entry->u.centre.center_code = config_text(4);
	}
	PopActiveSnapshot();
	SPI_finish();
}

/* The cached entry of the key, read on first use. */
static ConfigEntry *
config_lookup(const ConfigKey *key)
{
	ConfigEntry *entry = NULL;
	bool		found;

	/* Changes committed by others since the last command empty the cache first. */
	AcceptInvalidationMessages();
	if (config_cache != NULL)
		entry = hash_search(config_cache, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;

	/*
	 * Loading may process invalidations that empty the cache (and free what
	 * was loaded into it): then again.
	 */
	for (;;)
	{
		ConfigEntry loaded;

		if (config_cache == NULL)
			config_cache_create();
		loaded.key = *key;
		config_load(key, &loaded);
		if (config_cache == NULL)
			continue;
		entry = hash_search(config_cache, key, HASH_ENTER, &found);
		*entry = loaded;
		return entry;
	}
}

/*
 * routing_stage returns what routing needs to know about stage `stage` of
 * the workflow of ticket type type_id (has_workflow false when the type has
 * none). The strings belong to the cache: use them before the next command.
 */
const RouteStage *
routing_stage(int32 tenant_id, int64 type_id, int16 stage)
{
	ConfigKey	key;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.stage = stage;
	key.id = type_id;
	return &config_lookup(&key)->u.stage;
}

/*
 * routing_centre returns the fallback of centre center_id: whether it or
 * one above it has an active dispatcher, the tenant's active administrator
 * (admin_id 0 when none) and the centre's code. The strings belong to the
 * cache: use them before the next command.
 */
const RouteCentre *
routing_centre(int32 tenant_id, int64 center_id)
{
	ConfigKey	key;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.centre = true;
	key.id = center_id;
	return &config_lookup(&key)->u.centre;
}
