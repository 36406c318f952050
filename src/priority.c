/*
 * priority.c
 *		The priority matrix. The most specific rule of table priority_rule for
 *		a ticket's place in the centre/category tree and in the internal
 *		category tree gives a base priority; the requester's and the
 *		dispatcher's weights and the deadline then move it (doc/priority.md
 *		has the formula and a worked table).
 *
 * The rules and the three trees are cached per backend and per tenant, and
 * every resolved cell's base is remembered, so that a call costs two probes
 * of small hash tables whatever the number of rules. Statement triggers on the four tables send a
 * relcache invalidation, which empties the cache: this backend's at the next
 * command, the others' when the change commits.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "priority.h"

PG_FUNCTION_INFO_V1(ticketdesk_compute_priority);
PG_FUNCTION_INFO_V1(ticketdesk_priority_factors);
PG_FUNCTION_INFO_V1(ticketdesk_priority_matrix_changed);

/* Priorities, in the order of the SQL enum ticket_priority. */
typedef enum PriorityLevel
{
	PL_LOW,
	PL_NORMAL,
	PL_HIGH,
	PL_URGENT,
	PL_COUNT
} PriorityLevel;

static const char *const level_names[PL_COUNT] = {"low", "normal", "high", "urgent"};

/* How the deadline stands at the moment of the computation. */
typedef enum DeadlineState
{
	DS_NONE,
	DS_FAR,
	DS_NEAR,
	DS_PASSED
} DeadlineState;

static const char *const deadline_names[] = {"none", "far", "near", "passed"};
static const int deadline_shift[] = {0, 0, 1, 2};

/* The category side of a rule: the whole tenant, a centre or a category. */
typedef enum NodeKind
{
	NK_TENANT,
	NK_CENTER,
	NK_CATEGORY
} NodeKind;

/* The inputs of one computation; a false has_ flag stands for SQL null. */
typedef struct PriorityInputs
{
	bool		has_center;
	bool		has_category;
	bool		has_internal;
	bool		has_dispatcher;
	bool		has_deadline;
	int64		center_id;
	int64		category_id;
	int64		internal_id;
	int32		requester_weight;
	int32		dispatcher_weight;
	TimestampTz deadline;
	TimestampTz as_of;
} PriorityInputs;

/* Every step of one computation, for compute_priority and the explanation. */
typedef struct PriorityResult
{
	bool		has_rule;
	int64		rule_id;
	PriorityLevel base;
	int			requester_points;
	int			dispatcher_points;
	int			weight_shift;
	DeadlineState deadline;
	PriorityLevel priority;
} PriorityResult;

/* A tree node: a centre, a category or an internal category. */
typedef struct NodeEntry
{
	int64		id;				/* hash key */
	int64		parent_id;
	int64		center_id;		/* categories only: the category's centre */
	bool		has_parent;
} NodeEntry;

typedef struct RuleKey
{
	int32		kind;			/* NodeKind of the category side */
	int32		has_internal;	/* 0: any internal category */
	int64		node_id;
	int64		internal_id;
} RuleKey;

typedef struct RuleEntry
{
	RuleKey		key;
	int64		rule_id;
	PriorityLevel level;
} RuleEntry;

/* A cell of the matrix as the inputs give it. */
typedef struct CellKey
{
	int64		center_id;
	int64		category_id;
	int64		internal_id;
	uint32		present;		/* bit 0 centre, 1 category, 2 internal */
	uint32		pad;
} CellKey;

/* The outcome of resolving a cell: the rule that matched, if any. */
typedef struct CellRule
{
	int64		rule_id;
	PriorityLevel base;
	bool		has_rule;
} CellRule;

/*
 * The memo of resolved cells is a row per place on the category side (centre
 * and category, as given) holding one byte per internal category, plus one
 * for "none": the base priority, or ROW_UNRESOLVED. Rows are few and small,
 * so a computation touches two small hash tables and one byte, all of it
 * likely in the CPU cache.
 */
#define ROW_UNRESOLVED	0xFF

typedef struct RowKey
{
	int64		center_id;
	int64		category_id;
	uint32		present;		/* bit 0 centre, 1 category */
	uint32		pad;
} RowKey;

typedef struct RowEntry
{
	RowKey		key;
	uint8	   *bases;			/* per internal category index, then none */
	char		status;			/* simplehash's */
} RowEntry;

/* An internal category's dense index into the rows. */
typedef struct IndexEntry
{
	int64		id;
	int32		index;
	char		status;			/* simplehash's */
} IndexEntry;

/* MurmurHash3's 64-bit finaliser. */
static inline uint64
mix64(uint64 h)
{
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static inline uint32
row_hash(const RowKey *k)
{
	uint64		h = hash_combine64(mix64((uint64) k->center_id),
								   mix64((uint64) k->category_id + ((uint64) k->present << 56)));

	return (uint32) (h ^ (h >> 32));
}

#define SH_PREFIX		rows
#define SH_ELEMENT_TYPE	RowEntry
#define SH_KEY_TYPE		RowKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	row_hash(&(k))
#define SH_EQUAL(tb, a, b)	(memcmp(&(a), &(b), sizeof(RowKey)) == 0)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define SH_PREFIX		indexes
#define SH_ELEMENT_TYPE	IndexEntry
#define SH_KEY_TYPE		int64
#define SH_KEY			id
#define SH_HASH_KEY(tb, k)	((uint32) mix64((uint64) (k)))
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Memo bytes kept per tenant before the memo starts again. */
#define MAX_MEMO_BYTES	(64 * 1024 * 1024)

/* One tenant's matrix. */
typedef struct TenantMatrix
{
	int32		tenant_id;		/* hash key */
	bool		provisional;	/* read in parallel mode: rebuild after it */
	HTAB	   *centers;
	HTAB	   *categories;
	HTAB	   *internals;
	HTAB	   *rules;
	indexes_hash *internal_index;
	int32		ninternal;
	MemoryContext memo_cxt;		/* the rows and their bytes */
	rows_hash  *rows;
	Size		memo_bytes;
} TenantMatrix;

/* The tables whose changes empty the cache. */
enum
{
	PT_RULE,
	PT_CENTER,
	PT_CATEGORY,
	PT_INTERNAL,
	PT_COUNT
};
static const char *const table_names[PT_COUNT] = {
	"priority_rule", "center", "category", "internal_category"
};

static MemoryContext matrix_cxt = NULL;
static HTAB *tenants = NULL;
static TenantMatrix *last_matrix = NULL;
static Oid	watched_relids[PT_COUNT];
static uint64 inval_count = 0;	/* invalidations seen */
static uint64 cache_count = 0;	/* inval_count the cache is current with */

/* The enum OIDs of each priority, for the type they were read from. */
static Oid	level_type = InvalidOid;
static Oid	level_oid[PL_COUNT];

static Datum
level_to_datum(Oid enumtype, PriorityLevel level)
{
	if (enumtype != level_type)
	{
		enum_label_oids(enumtype, "ticket_priority", level_names, PL_COUNT, level_oid);
		level_type = enumtype;
	}
	return ObjectIdGetDatum(level_oid[level]);
}

static PriorityLevel
level_from_datum(Oid enumtype, Datum value)
{
	Oid			oid = DatumGetObjectId(value);

	(void) level_to_datum(enumtype, PL_LOW);
	for (int l = 0; l < PL_COUNT; l++)
		if (level_oid[l] == oid)
			return (PriorityLevel) l;
	elog(ERROR, "ticketdesk: unknown ticket_priority value %u", oid);
}

/* Note that the matrix or a tree changed; the next lookup starts afresh. */
static void
matrix_invalidate(Datum arg, Oid relid)
{
	for (int t = 0; t < PT_COUNT; t++)
		if (relid == InvalidOid || relid == watched_relids[t])
		{
			inval_count++;
			return;
		}
}

/* Drop every cached matrix if an invalidation came since they were read. */
static void
matrix_cache_check(void)
{
	HASHCTL		ctl;

	if (matrix_cxt == NULL)
	{
		matrix_cxt = AllocSetContextCreate(CacheMemoryContext, "ticketdesk priority matrix",
										   ALLOCSET_DEFAULT_SIZES);
		ticketdesk_register_relcache_callback(matrix_invalidate);
	}
	else if (tenants != NULL && cache_count == inval_count)
		return;

	MemoryContextReset(matrix_cxt);
	last_matrix = NULL;
	cache_count = inval_count;
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(TenantMatrix);
	ctl.hcxt = matrix_cxt;
	tenants = hash_create("ticketdesk priority tenants", 8, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static HTAB *
node_table(const char *name, int size)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(NodeEntry);
	ctl.hcxt = matrix_cxt;
	return hash_create(name, size, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static AttrNumber
column_attnum(Relation rel, const char *name)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "ticketdesk: table %s has no column \"%s\"",
			 RelationGetRelationName(rel), name);
	return attnum;
}

static int64
column_int64(HeapTuple tup, TupleDesc desc, AttrNumber attnum, bool *present)
{
	bool		isnull;
	Datum		value = heap_getattr(tup, attnum, desc, &isnull);

	*present = !isnull;
	return isnull ? 0 : DatumGetInt64(value);
}

/*
 * Read one tenant's rows of a table into the matrix m: the table is locked
 * (by the caller) and read through its primary key, whose first column is
 * tenant_id, with the snapshot snap. Row-level security does not apply: the
 * callers only ever compute for the current tenant or for a row already
 * admitted to the ticket table.
 */
static void
read_table(TenantMatrix *m, int table, Snapshot snap)
{
	Relation	rel = table_open(watched_relids[table], NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			pkey = RelationGetPrimaryKeyIndex(rel);
	AttrNumber	id_att = 0,
				parent_att = 0,
				center_att = 0,
				category_att = 0,
				internal_att = 0,
				priority_att = 0;
	HTAB	   *nodes = NULL;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	switch (table)
	{
		case PT_RULE:
			id_att = column_attnum(rel, "rule_id");
			center_att = column_attnum(rel, "center_id");
			category_att = column_attnum(rel, "category_id");
			internal_att = column_attnum(rel, "internal_category_id");
			priority_att = column_attnum(rel, "priority");
			break;
		case PT_CENTER:
			id_att = column_attnum(rel, "center_id");
			nodes = m->centers;
			break;
		case PT_CATEGORY:
			id_att = column_attnum(rel, "category_id");
			center_att = column_attnum(rel, "center_id");
			nodes = m->categories;
			break;
		case PT_INTERNAL:
			id_att = column_attnum(rel, "internal_category_id");
			nodes = m->internals;
			break;
	}
	if (nodes != NULL)
		parent_att = column_attnum(rel, "parent_id");

	ScanKeyInit(&key, column_attnum(rel, "tenant_id"), BTEqualStrategyNumber,
				F_INT4EQ, Int32GetDatum(m->tenant_id));
	scan = systable_beginscan(rel, pkey, OidIsValid(pkey), snap, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		present;
		int64		id = column_int64(tup, desc, id_att, &present);

		if (nodes != NULL)
		{
			NodeEntry  *node = hash_search(nodes, &id, HASH_ENTER, NULL);

			if (table == PT_INTERNAL)
			{
				bool		found;

				indexes_insert(m->internal_index, id, &found)->index = m->ninternal++;
			}
			node->parent_id = column_int64(tup, desc, parent_att, &node->has_parent);
			node->center_id = center_att ? column_int64(tup, desc, center_att, &present) : 0;
		}
		else
		{
			RuleKey		rk;
			RuleEntry  *rule;
			bool		has_center,
						has_category,
						isnull;
			int64		center_id = column_int64(tup, desc, center_att, &has_center);
			int64		category_id = column_int64(tup, desc, category_att, &has_category);
			Datum		level;

			memset(&rk, 0, sizeof(rk));
			rk.kind = has_category ? NK_CATEGORY : has_center ? NK_CENTER : NK_TENANT;
			rk.node_id = has_category ? category_id : center_id;
			rk.internal_id = column_int64(tup, desc, internal_att, &present);
			rk.has_internal = present;
			rule = hash_search(m->rules, &rk, HASH_ENTER, NULL);
			rule->rule_id = id;
			level = heap_getattr(tup, priority_att, desc, &isnull);
			rule->level = isnull ? PL_NORMAL
				: level_from_datum(TupleDescAttr(desc, priority_att - 1)->atttypid, level);
		}
	}
	systable_endscan(scan);
	table_close(rel, NoLock);
}

/*
 * Build the matrix of one tenant. The tables are read like catalogs: locked
 * first, so that pending invalidations are processed, then with the latest
 * snapshot. A cached matrix therefore never reflects an older state than the
 * invalidations already seen, even in REPEATABLE READ. In parallel mode no
 * new snapshot may be taken: the statement's snapshot is used, and the
 * matrix is read again after the parallel operation.
 */
static TenantMatrix *
matrix_build(int32 tenant_id)
{
	Oid			nsp = get_namespace_oid("ticketdesk", false);
	TenantMatrix *m;
	Snapshot	snap;
	HASHCTL		ctl;
	bool		found;

	for (int t = 0; t < PT_COUNT; t++)
	{
		Relation	rel;
		Oid			pkey;

		watched_relids[t] = get_relname_relid(table_names[t], nsp);
		if (!OidIsValid(watched_relids[t]))
			elog(ERROR, "ticketdesk: table %s is missing", table_names[t]);
		rel = table_open(watched_relids[t], AccessShareLock);
		pkey = RelationGetPrimaryKeyIndex(rel);
		if (OidIsValid(pkey))
			LockRelationOid(pkey, AccessShareLock);
		table_close(rel, NoLock);
	}
	/* Locking may have processed invalidations. */
	matrix_cache_check();

	m = hash_search(tenants, &tenant_id, HASH_ENTER, &found);
	m->provisional = IsInParallelMode();
	m->centers = node_table("ticketdesk priority centres", 64);
	m->categories = node_table("ticketdesk priority categories", 256);
	m->internals = node_table("ticketdesk priority internal categories", 64);
	ctl.keysize = sizeof(RuleKey);
	ctl.entrysize = sizeof(RuleEntry);
	ctl.hcxt = matrix_cxt;
	m->rules = hash_create("ticketdesk priority rules", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	m->internal_index = indexes_create(matrix_cxt, 64, NULL);
	m->ninternal = 0;
	m->memo_cxt = AllocSetContextCreate(matrix_cxt, "ticketdesk priority memo",
										ALLOCSET_DEFAULT_SIZES);
	m->rows = rows_create(m->memo_cxt, 256, NULL);
	m->memo_bytes = 0;

	snap = RegisterSnapshot(m->provisional ? GetActiveSnapshot() : GetLatestSnapshot());
	for (int t = 0; t < PT_COUNT; t++)
		read_table(m, t, snap);
	UnregisterSnapshot(snap);
	return m;
}

/* The matrix of a tenant, read on first use after any change. */
static TenantMatrix *
matrix_get(int32 tenant_id)
{
	TenantMatrix *m;

	if (last_matrix != NULL && cache_count == inval_count &&
		last_matrix->tenant_id == tenant_id &&
		(!last_matrix->provisional || IsInParallelMode()))
		return last_matrix;

	matrix_cache_check();
	m = hash_search(tenants, &tenant_id, HASH_FIND, NULL);
	if (m == NULL || (m->provisional && !IsInParallelMode()))
		m = matrix_build(tenant_id);
	last_matrix = m;
	return m;
}

static void
not_found(const char *kind, int sqlstate, int64 id, int32 tenant_id)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s " INT64_FORMAT " does not exist", kind, id),
			 errdetail("Tenant %d has no %s with id " INT64_FORMAT ".", tenant_id, kind, id),
			 errhint("Check the %s id, and that the setting ticketdesk.tenant names the right tenant.", kind)));
}

/*
 * Walk up a tree from id, appending each node to chain (at most the size
 * of the tree: a longer walk means a cycle, which only a restore without
 * triggers could have left behind). Returns false if id is unknown.
 */
static bool
walk_up(HTAB *nodes, int64 id, const char *tree, int64 **chain, int *n, int *cap)
{
	long		limit = hash_get_num_entries(nodes);
	NodeEntry  *node = hash_search(nodes, &id, HASH_FIND, NULL);

	if (node == NULL)
		return false;
	for (long steps = 0; node != NULL; steps++)
	{
		if (steps > limit)
			ereport(ERROR,
					(errcode(MAKE_SQLSTATE('T', 'D', '4', '0', '5')),
					 errmsg("the %s tree has a cycle through " INT64_FORMAT, tree, id),
					 errdetail("Walking up from " INT64_FORMAT " never reaches a root.", id),
					 errhint("Set parent_id of one node of the cycle to null or to a node outside it.")));
		if (*n == *cap)
		{
			*cap *= 2;
			*chain = repalloc(*chain, sizeof(int64) * *cap);
		}
		(*chain)[(*n)++] = node->id;
		node = node->has_parent ? hash_search(nodes, &node->parent_id, HASH_FIND, NULL) : NULL;
	}
	return true;
}

/*
 * Find the most specific rule for a cell: walking the category side from the
 * category up its tree, then from the centre (the ticket's, else the
 * category's) up the centre tree, then the whole tenant; and for each of
 * those the internal category side from the internal category up its tree,
 * then any internal category. The first rule met wins. With strict, unknown
 * ids are errors; without (the trigger), they are skipped and the foreign
 * keys report them.
 */
static void
matrix_resolve(TenantMatrix *m, const CellKey *cell, bool strict, CellRule *out)
{
	int			ncat = 0,
				catcap = 8,
				ncen = 0,
				cencap = 8,
				nint = 0,
				intcap = 8;
	int64	   *categories = palloc(sizeof(int64) * catcap);
	int64	   *centers = palloc(sizeof(int64) * cencap);
	int64	   *internals = palloc(sizeof(int64) * intcap);
	int64		center_id = cell->center_id;
	bool		has_center = (cell->present & 1) != 0;
	RuleKey		rk;

	if (cell->present & 2)
	{
		NodeEntry  *category = hash_search(m->categories, &cell->category_id, HASH_FIND, NULL);

		if (category == NULL && strict)
			not_found("category", MAKE_SQLSTATE('T', 'D', '2', '0', '6'), cell->category_id, m->tenant_id);
		if (category != NULL)
		{
			walk_up(m->categories, cell->category_id, "category", &categories, &ncat, &catcap);
			if (!has_center)
			{
				center_id = category->center_id;
				has_center = true;
			}
		}
	}
	if (has_center && !walk_up(m->centers, center_id, "centre", &centers, &ncen, &cencap) && strict)
		not_found("center", MAKE_SQLSTATE('T', 'D', '2', '0', '2'), center_id, m->tenant_id);
	if ((cell->present & 4) &&
		!walk_up(m->internals, cell->internal_id, "internal category", &internals, &nint, &intcap) &&
		strict)
		not_found("internal category", MAKE_SQLSTATE('T', 'D', '2', '1', '0'), cell->internal_id, m->tenant_id);

	out->has_rule = false;
	out->rule_id = 0;
	out->base = PL_NORMAL;
	memset(&rk, 0, sizeof(rk));
	for (int f = 0; f < ncat + ncen + 1; f++)
	{
		rk.kind = f < ncat ? NK_CATEGORY : f < ncat + ncen ? NK_CENTER : NK_TENANT;
		rk.node_id = f < ncat ? categories[f] : f < ncat + ncen ? centers[f - ncat] : 0;
		for (int s = 0; s <= nint; s++)
		{
			RuleEntry  *rule;

			rk.has_internal = s < nint;
			rk.internal_id = s < nint ? internals[s] : 0;
			rule = hash_search(m->rules, &rk, HASH_FIND, NULL);
			if (rule != NULL)
			{
				out->has_rule = true;
				out->rule_id = rule->rule_id;
				out->base = rule->level;
				goto done;
			}
		}
	}
done:
	pfree(categories);
	pfree(centers);
	pfree(internals);
}

/* Refuse a weight outside 1..5 (the requester's must be given). */
static void
check_weight(const char *name, bool present, int32 weight)
{
	if (!present || weight < 1 || weight > 5)
		ereport(ERROR,
				(errcode(ERRCODE_TD_WEIGHT_OUT_OF_RANGE),
				 errmsg("%s must be between 1 and 5", name),
				 present ? errdetail("It is %d.", weight) : errdetail("It is missing."),
				 errhint("1 is the least important, 5 the most; 3 is normal.")));
}

/*
 * The base priority of a cell from the memo, resolving and remembering it
 * on first use. Cells with an internal category the matrix does not know
 * are resolved each time (an error with strict).
 */
static PriorityLevel
memo_base(TenantMatrix *m, const CellKey *cell, bool strict)
{
	RowKey		key;
	RowEntry   *row;
	IndexEntry *internal = NULL;
	int32		index = m->ninternal;
	CellRule	resolved;
	bool		found;

	if (cell->present & 4)
	{
		internal = indexes_lookup(m->internal_index, cell->internal_id);
		if (internal == NULL)
		{
			matrix_resolve(m, cell, strict, &resolved);
			return resolved.base;
		}
		index = internal->index;
	}

	memset(&key, 0, sizeof(key));
	key.center_id = cell->center_id;
	key.category_id = cell->category_id;
	key.present = cell->present & 3;
	row = rows_lookup(m->rows, key);
	if (row != NULL && row->bases[index] != ROW_UNRESOLVED)
		return (PriorityLevel) row->bases[index];

	matrix_resolve(m, cell, strict, &resolved);
	if (row == NULL)
	{
		Size		bytes = m->ninternal + 1;

		if (m->memo_bytes + bytes > MAX_MEMO_BYTES)
		{
			MemoryContextReset(m->memo_cxt);
			m->rows = rows_create(m->memo_cxt, 256, NULL);
			m->memo_bytes = 0;
		}
		row = rows_insert(m->rows, key, &found);
		row->bases = MemoryContextAlloc(m->memo_cxt, bytes);
		memset(row->bases, ROW_UNRESOLVED, bytes);
		m->memo_bytes += bytes + sizeof(RowEntry);
	}
	row->bases[index] = (uint8) resolved.base;
	return resolved.base;
}

/*
 * priority_compute runs the whole computation for one tenant: the matrix
 * gives the base, the weights and the deadline move it, and the result stays
 * between low and urgent. With want_rule the rule that matched is looked up
 * too (the memo keeps only the base).
 */
static void
priority_compute(int32 tenant_id, const PriorityInputs *in, bool strict, bool want_rule,
				 PriorityResult *r)
{
	TenantMatrix *m;
	CellKey		key;
	int			level;

	check_weight("requester_weight", true, in->requester_weight);
	if (in->has_dispatcher)
		check_weight("dispatcher_weight", true, in->dispatcher_weight);

	m = matrix_get(tenant_id);
	memset(&key, 0, sizeof(key));
	key.center_id = in->has_center ? in->center_id : 0;
	key.category_id = in->has_category ? in->category_id : 0;
	key.internal_id = in->has_internal ? in->internal_id : 0;
	key.present = (in->has_center ? 1 : 0) | (in->has_category ? 2 : 0) | (in->has_internal ? 4 : 0);

	r->has_rule = false;
	r->rule_id = 0;
	if (want_rule)
	{
		CellRule	resolved;

		matrix_resolve(m, &key, strict, &resolved);
		r->has_rule = resolved.has_rule;
		r->rule_id = resolved.rule_id;
		r->base = resolved.base;
	}
	else
		r->base = memo_base(m, &key, strict);

	/* The dispatcher's weight counts twice the requester's. */
	r->requester_points = in->requester_weight - 3;
	r->dispatcher_points = in->has_dispatcher ? 2 * (in->dispatcher_weight - 3) : 0;
	r->weight_shift = (r->requester_points + r->dispatcher_points) / 2;

	r->deadline = DS_NONE;
	if (in->has_deadline)
	{
		int64		left;

		if (in->deadline <= in->as_of)
			r->deadline = DS_PASSED;
		else if (!pg_sub_s64_overflow(in->deadline, in->as_of, &left) &&
				 left <= (int64) ticketdesk_deadline_near_min * USECS_PER_MINUTE)
			r->deadline = DS_NEAR;
		else
			r->deadline = DS_FAR;
	}

	level = (int) r->base + r->weight_shift + deadline_shift[r->deadline];
	r->priority = (PriorityLevel) Max(PL_LOW, Min(PL_URGENT, level));
}

/* Read the seven SQL arguments shared by compute_priority and priority_factors. */
static void
inputs_from_args(FunctionCallInfo fcinfo, PriorityInputs *in)
{
	memset(in, 0, sizeof(*in));
	in->has_center = !PG_ARGISNULL(0);
	in->center_id = in->has_center ? PG_GETARG_INT64(0) : 0;
	in->has_category = !PG_ARGISNULL(1);
	in->category_id = in->has_category ? PG_GETARG_INT64(1) : 0;
	in->has_internal = !PG_ARGISNULL(2);
	in->internal_id = in->has_internal ? PG_GETARG_INT64(2) : 0;
	if (PG_ARGISNULL(3))
		check_weight("requester_weight", false, 0);
	in->requester_weight = PG_GETARG_INT32(3);
	in->has_dispatcher = !PG_ARGISNULL(4);
	in->dispatcher_weight = in->has_dispatcher ? PG_GETARG_INT32(4) : 0;
	in->has_deadline = !PG_ARGISNULL(5);
	in->deadline = in->has_deadline ? PG_GETARG_TIMESTAMPTZ(5) : 0;
	if (in->has_deadline && PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_TD_ASAOF_REQUIRED),
				 errmsg("as_of must be given with a deadline"),
				 errdetail("Whether a deadline is near or passed depends on the moment of the computation."),
				 errhint("Pass as_of, or leave it out to use now().")));
	in->as_of = PG_ARGISNULL(6) ? 0 : PG_GETARG_TIMESTAMPTZ(6);
}

/*
 * The first call of a statement (per call site) takes in the invalidations
 * of changes committed since, so that each statement sees committed rules,
 * as a READ COMMITTED query would; the rest of the statement then keeps the
 * same matrix. Returns the result type, remembered in fn_extra.
 */
static Oid
statement_start(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
	{
		Oid		   *rettype = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Oid));

		AcceptInvalidationMessages();
		*rettype = get_func_rettype(fcinfo->flinfo->fn_oid);
		fcinfo->flinfo->fn_extra = rettype;
	}
	return *(Oid *) fcinfo->flinfo->fn_extra;
}

/*
 * ticketdesk_compute_priority returns the priority of a cell of the matrix
 * for the current tenant, given both weights, the deadline and the moment.
 */
Datum
ticketdesk_compute_priority(PG_FUNCTION_ARGS)
{
	Oid			rettype = statement_start(fcinfo);
	PriorityInputs in;
	PriorityResult r;

	inputs_from_args(fcinfo, &in);
	priority_compute(ticketdesk_tenant, &in, true, false, &r);
	return level_to_datum(rettype, r.priority);
}

/*
 * ticketdesk_priority_factors returns every step of the computation of
 * compute_priority with the same arguments: the rule that matched, the base,
 * the points of each weight, the shift they make, the deadline's state, and
 * the result.
 */
Datum
ticketdesk_priority_factors(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	PriorityInputs in;
	PriorityResult r;
	Datum		values[8];
	bool		nulls[8] = {0};
	Oid			enumtype;

	(void) statement_start(fcinfo);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticketdesk: priority_factors must return a record");
	desc = BlessTupleDesc(desc);
	enumtype = TupleDescAttr(desc, 1)->atttypid;

	inputs_from_args(fcinfo, &in);
	priority_compute(ticketdesk_tenant, &in, true, true, &r);

	values[0] = Int64GetDatum(r.rule_id);
	nulls[0] = !r.has_rule;
	values[1] = level_to_datum(enumtype, r.base);
	values[2] = Int32GetDatum(r.requester_points);
	values[3] = Int32GetDatum(r.dispatcher_points);
	nulls[3] = !in.has_dispatcher;
	values[4] = Int32GetDatum(r.weight_shift);
	values[5] = CStringGetTextDatum(deadline_names[r.deadline]);
	values[6] = Int32GetDatum(deadline_shift[r.deadline]);
	values[7] = level_to_datum(enumtype, r.priority);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

static int64
row_int64(const TicketRow *row, TicketColumn col, bool *present)
{
	bool		isnull;
	Datum		value = ticket_row_get(row, col, &isnull);

	*present = !isnull;
	return isnull ? 0 : DatumGetInt64(value);
}

/*
 * priority_for_ticket: see priority.h. A ticket the dispatcher fixed keeps
 * its priority. Otherwise the priority is computed on insert, and on update
 * when the centre, the category, the internal category, a weight or the
 * deadline changed, when the fix is released, or when the update sets the
 * priority itself: that is allowed only to the computed value (the
 * priority ageing job writes it so), anything else must fix the priority.
 * The rows are the trigger's, already taken apart (ticket_row_read).
 */
bool
priority_for_ticket(const TicketRow *oldrow, const TicketRow *newrow,
					TimestampTz as_of, Datum *value)
{
	static const TicketColumn inputs[] = {
		TC_CENTER_ID, TC_CATEGORY_ID, TC_INTERNAL_CATEGORY_ID,
		TC_REQUESTER_WEIGHT, TC_DISPATCHER_WEIGHT, TC_DEADLINE
	};
	const TicketColumns *tc = newrow->tc;
	bool		isnull;
	Datum		fixed = ticket_row_get(newrow, TC_PRIORITY_FIXED, &isnull);
	bool		recompute = (oldrow == NULL);
	bool		hand_set = false;
	PriorityInputs in;
	PriorityResult r;
	Datum		computed;

	if (!isnull && DatumGetBool(fixed))
		return false;
	if (oldrow != NULL)
	{
		for (int i = 0; i < lengthof(inputs) && !recompute; i++)
			recompute = ticket_row_changed(oldrow, newrow, inputs[i]);
		if (ticket_row_changed(oldrow, newrow, TC_PRIORITY_FIXED))
			recompute = true;
		else if (ticket_row_changed(oldrow, newrow, TC_PRIORITY))
			recompute = hand_set = true;
	}
	if (!recompute)
		return false;

	memset(&in, 0, sizeof(in));
	in.center_id = row_int64(newrow, TC_CENTER_ID, &in.has_center);
	in.category_id = row_int64(newrow, TC_CATEGORY_ID, &in.has_category);
	in.internal_id = row_int64(newrow, TC_INTERNAL_CATEGORY_ID, &in.has_internal);
	in.requester_weight = DatumGetInt16(ticket_row_get(newrow, TC_REQUESTER_WEIGHT, &isnull));
	if (isnull)
		check_weight("requester_weight", false, 0);
	in.dispatcher_weight = DatumGetInt16(ticket_row_get(newrow, TC_DISPATCHER_WEIGHT, &isnull));
	in.has_dispatcher = !isnull;
	in.deadline = DatumGetTimestampTz(ticket_row_get(newrow, TC_DEADLINE, &isnull));
	in.has_deadline = !isnull;
	in.as_of = as_of;

	/* Rules committed by others since this transaction last looked. */
	AcceptInvalidationMessages();
	priority_compute(DatumGetInt32(ticket_row_get(newrow, TC_TENANT_ID, &isnull)),
					 &in, false, false, &r);
	computed = level_to_datum(tc->typid[TC_PRIORITY], r.priority);

	if (hand_set && DatumGetObjectId(ticket_row_get(newrow, TC_PRIORITY, &isnull)) !=
		DatumGetObjectId(computed))
		ereport(ERROR,
				(errcode(ERRCODE_TD_PRIORITY_COMPUTED),
				 errmsg("the priority of ticket %s is computed",
						TextDatumGetCString(ticket_row_get(oldrow, TC_REFERENCE, &isnull))),
				 errdetail("The matrix, the weights and the deadline give %s; the update set %s.",
						   level_names[r.priority],
						   level_names[level_from_datum(tc->typid[TC_PRIORITY],
														ticket_row_get(newrow, TC_PRIORITY, &isnull))]),
				 errhint("To set a priority by hand, fix it: ticketdesk.fix_priority(ticket_id, priority), "
						 "or set priority_fixed = true in the same update.")));
	*value = computed;
	return true;
}

/*
 * ticketdesk_priority_matrix_changed is the statement trigger on the rule
 * table and the three trees: it invalidates the cached matrix in every
 * backend.
 */
Datum
ticketdesk_priority_matrix_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("priority_matrix_changed must be called as a trigger")));

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
