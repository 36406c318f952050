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
 * relcache invalidation for it, which empties every backend's cache
 * (config_cache.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"

#include "config_cache.h"
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

static ConfigCache config_cache = {"ticketdesk routing configuration", lengthof(watched), watched,
	sizeof(ConfigKey), sizeof(ConfigEntry)};

/* A text column of the only result row, copied into the cache; NULL stays NULL. */
static char *
config_text(int col)
{
	char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return value == NULL ? NULL : MemoryContextStrdup(config_cache.cxt, value);
}

/* An int8 column of the only result row, 0 for NULL. */
static int64
config_int8(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* Run the query of the entry's key (stage_sql or centre_sql) and keep its answer in it. */
static void
config_load(void *e, void *arg)
{
	ConfigEntry *entry = e;
	const ConfigKey *key = &entry->key;
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3];
	bool		isnull;

	config_cache_lock(&config_cache);

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

/*
 * routing_stage returns what routing needs to know about stage `stage` of
 * the workflow of ticket type type_id (has_workflow false when the type has
 * none). The strings belong to the cache: use them before the next command.
 */
const RouteStage *
routing_stage(int32 tenant_id, int64 type_id, int16 stage)
{
	ConfigKey	key;
	ConfigEntry *entry;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.stage = stage;
	key.id = type_id;
	entry = config_cache_get(&config_cache, &key, config_load, NULL);
	return &entry->u.stage;
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
	ConfigEntry *entry;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.centre = true;
	key.id = center_id;
	entry = config_cache_get(&config_cache, &key, config_load, NULL);
	return &entry->u.centre;
}
