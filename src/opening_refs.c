/*
 * opening_refs.c
 *		The references every opening names (the tenant, the centre, the
 *		ticket type by its code, the category), checked from a per-backend
 *		cache: open_ticket's look-up query of them, with its recursive walk
 *		up the centre tree and the policies' init plans, was a sixth of an
 *		opening's cost (doc/benchmarks.md, "Session 5: opening a ticket"),
 *		and the answers change only when an administrator changes the
 *		configuration.
 *
 * opening_references(tenant, center_id, type, category_id) returns the
 * type's id when all of them pass open_ticket's checks: the tenant exists,
 * the centre exists and is active, the type exists, and the category (if
 * given) exists, is active and is the centre's own or of a centre above it.
 * Whenever it cannot vouch for that it returns NULL, and open_ticket runs
 * its look-up query, which says what is wrong: a reference that fails, a
 * caller without SELECT on one of the tables, or a role whose tenant is not
 * the one asked for (the tables' policies would hide every row).
 *
 * These four tables carry no policy but the tenant's, and the query names
 * the tenant, so the answer is the caller's too; it is read as the
 * bootstrap superuser (trusted.c), like a catalog, and the holders_changed
 * statement trigger on each of them empties every backend's cache
 * (config_cache.c).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "config_cache.h"
#include "opening.h"
#include "principal.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_opening_references);

/*
 * The type's id when every reference passes, else no row or NULL: the
 * checks of open_ticket's look-up query, the same way. $1 tenant, $2
 * centre, $3 type code, $4 category or NULL.
 */
static const char *const references_sql =
"SELECT (SELECT x.type_id FROM ticketdesk.ticket_type x WHERE x.tenant_id = $1 AND x.code = $3)"
" WHERE EXISTS (SELECT 1 FROM ticketdesk.tenant x WHERE x.tenant_id = $1)"
"   AND EXISTS (SELECT 1 FROM ticketdesk.center x"
"                WHERE x.tenant_id = $1 AND x.center_id = $2 AND x.active)"
"   AND ($4 IS NULL OR EXISTS ("
"        SELECT 1 FROM ticketdesk.category g"
"         WHERE g.tenant_id = $1 AND g.category_id = $4 AND g.active"
"           AND EXISTS ("
"               WITH RECURSIVE up(id, parent) AS ("
"                   SELECT c.center_id, c.parent_id FROM ticketdesk.center c"
"                    WHERE c.tenant_id = $1 AND c.center_id = $2"
"                   UNION"
"                   SELECT c.center_id, c.parent_id FROM ticketdesk.center c"
"                     JOIN up ON c.tenant_id = $1 AND c.center_id = up.parent"
"               )"
"               SELECT 1 FROM up WHERE up.id = g.center_id)))";

/* A type code longer than this is looked up by the query every time. */
#define REFS_CODE_LEN 64

typedef struct RefsKey
{
	int32		tenant_id;
	bool		has_category;
	int64		center_id;
	int64		category_id;
	char		code[REFS_CODE_LEN];
} RefsKey;

typedef struct RefsEntry
{
	RefsKey		key;
	int64		type_id;		/* 0: some reference fails */
} RefsEntry;

/* The tables read, whose changes empty the cache. */
static const char *const watched[] = {"tenant", "center", "ticket_type", "category"};

static ConfigCache refs_cache = {"ticketdesk opening references", lengthof(watched), watched,
	sizeof(RefsKey), sizeof(RefsEntry)};

/*
 * The watched tables by name, for their OIDs (direct_table_oid: looked up
 * again only after a name changed, not four look-ups an opening).
 */
static DirectTable watched_tables[lengthof(watched)];

/* Whether the caller may read every table the look-up query reads. */
static bool
caller_reads_tables(void)
{
	Oid			user = GetUserId();

	for (int i = 0; i < lengthof(watched); i++)
	{
		watched_tables[i].relname = watched[i];
		if (pg_class_aclcheck(direct_table_oid(&watched_tables[i]), user, ACL_SELECT) != ACLCHECK_OK)
			return false;
	}
	return true;
}

/*
 * Run references_sql for the entry's key, code its type code as text: the
 * type's id, 0 when a reference fails.
 */
static void
refs_load(void *e, void *code)
{
	RefsEntry  *entry = e;
	const RefsKey *key = &entry->key;
	Oid			argtypes[4] = {INT4OID, INT8OID, TEXTOID, INT8OID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	TrustedScope scope;
	volatile int64 type_id = 0;

	config_cache_lock(&refs_cache);

	args[0] = Int32GetDatum(key->tenant_id);
	args[1] = Int64GetDatum(key->center_id);
	args[2] = PointerGetDatum(code);
	args[3] = Int64GetDatum(key->category_id);
	if (!key->has_category)
		nulls[3] = 'n';
	SPI_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	trusted_enter(&scope);
	PG_TRY();
	{
		bool		isnull;
		Datum		d;

		if (SPI_execute_with_args(references_sql, 4, argtypes, args, nulls, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "ticketdesk: could not check the references of an opening");
		if (SPI_processed > 0)
		{
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
				type_id = DatumGetInt64(d);
		}
		trusted_done(&scope);
	}
	PG_FINALLY();
	{
		trusted_leave(&scope);
	}
	PG_END_TRY();
	PopActiveSnapshot();
	SPI_finish();
	entry->type_id = type_id;
}

/*
 * opening_type: the ticket type's id when the tenant, the centre, the type
 * code and the category (when has_category) pass open_ticket's checks for
 * the caller; 0 when it cannot say so (open_ticket then asks its query).
 */
int64
opening_type(int32 tenant_id, int64 center_id, text *code, bool has_category, int64 category_id)
{
	RefsKey		key;
	RefsEntry  *entry;
	int32		session_tenant;

	if (VARSIZE_ANY_EXHDR(code) >= REFS_CODE_LEN)
		return 0;

	/* The policies would hide the rows of another tenant than the role's. */
	if (!principal_check_tenant(principal_of(GetUserId()), &session_tenant) ||
		session_tenant != tenant_id)
		return 0;
	if (!caller_reads_tables())
		return 0;

	memset(&key, 0, sizeof(key));
	key.tenant_id = tenant_id;
	key.center_id = center_id;
	key.has_category = has_category;
	key.category_id = has_category ? category_id : 0;
	memcpy(key.code, VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code));

	/*
	 * Openings hold the reference guard (reference_guard.c), so no type,
	 * centre or category vouched for now is deleted before they end; the
	 * changes committed by others before it was taken empty the cache first
	 * (config_cache_get).
	 */
	reference_guard_share();
	entry = config_cache_get(&refs_cache, &key, refs_load, code);
	return entry->type_id;
}

/*
 * opening_references(tenant, center_id, type, category_id): opening_type
 * for SQL, NULL when it cannot vouch.
 */
Datum
ticketdesk_opening_references(PG_FUNCTION_ARGS)
{
	int64		type_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	type_id = opening_type(PG_GETARG_INT32(0), PG_GETARG_INT64(1), PG_GETARG_TEXT_PP(2),
						   !PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3));
	if (type_id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(type_id);
}
