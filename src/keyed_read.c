/*
 * keyed_read.c
 *		Reading rows of ticketdesk's tables by key without a statement.
 *
 * A saved plan of a keyed SELECT still costs an executor start and end
 * for every run (a LEFT JOIN's nested loop set up again each time: about
 * 50,000 instructions for a row). Here the row is found the way an index
 * scan finds it, under the snapshot the caller pushed (the one a statement
 * at that point would take: see notify_requester.c), with the table's
 * relation, the index and the attribute numbers of the columns read kept
 * per backend. What a statement has and this has not: row-level security
 * and privileges. Use it only where the statement ran as the bootstrap
 * superuser (trusted.c), which neither applies to, and name the tenant in
 * every key, as those statements did.
 *
 * What is kept is forgotten whenever a row of pg_class, pg_attribute,
 * pg_index, pg_constraint or pg_type changes (syscache callbacks,
 * catalog_changes_seen: ticketdesk's relcache callbacks
 * already take nine of the ten slots PostgreSQL has), and found again at
 * the next use, after the table is locked.
 *
 *		static const char *const cols[] = {"name", "email"};
 *		static const char *const keys[] = {"tenant_id", "agent_id"};
 *		static KeyedTable agents = {"agent", lengthof(cols), cols, lengthof(keys), keys};
 *		KeyedScan  *s = keyed_begin(&agents, GetActiveSnapshot(), 2, key, NULL);
 *		while (keyed_next(s, values, nulls)) ...
 *		keyed_end(s);
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "executor/tuptable.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "ticketdesk.h"

struct KeyedScan
{
	KeyedTable *table;
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
};

/* How often the catalogs changed: what a table learnt is valid until then. */
static uint64 catalog_changes = 1;
static bool callbacks_registered = false;

static void
catalog_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	catalog_changes++;
}

/*
 * catalog_changes_seen returns a number that changes whenever a row of
 * pg_class, pg_attribute, pg_index, pg_constraint or pg_type changed (as
 * this backend learns of it, when it takes a lock or ends a command): what
 * is learnt of these catalogs may be kept until it changes.
 */
static uint64
catalog_changes_seen(void)
{
	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(RELOID, catalog_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(ATTNUM, catalog_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(INDEXRELID, catalog_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(CONSTROID, catalog_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(TYPEOID, catalog_changed, (Datum) 0);
		callbacks_registered = true;
	}
	return catalog_changes;
}

/*
 * Learn the table's facts from rel, opened and locked: the attribute
 * numbers of the columns read and of the key, and a valid btree index
 * whose leading columns are the key, the primary key if it is one.
 */
static void
learn_table(KeyedTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *indexes = RelationGetIndexList(rel);
	Oid			primary = RelationGetPrimaryKeyIndex(rel);
	ListCell   *lc;

	Assert(t->ncolumns <= KEYED_MAX_COLUMNS && t->nkeys <= KEYED_MAX_KEYS);
	for (int c = 0; c < t->ncolumns + t->nkeys; c++)
	{
		const char *name = c < t->ncolumns ? t->columns[c] : t->keys[c - t->ncolumns];
		AttrNumber	attnum = InvalidAttrNumber;

		for (int a = 0; a < desc->natts; a++)
			if (!TupleDescAttr(desc, a)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, a)->attname), name) == 0)
				attnum = a + 1;
		if (attnum == InvalidAttrNumber)
			elog(ERROR, "ticketdesk: table %s has no column %s", t->relname, name);
		if (c < t->ncolumns)
		{
			t->attnum[c] = attnum;
			t->attlen[c] = TupleDescAttr(desc, attnum - 1)->attlen;
			t->attbyval[c] = TupleDescAttr(desc, attnum - 1)->attbyval;
		}
		else
			t->key_attnum[c - t->ncolumns] = attnum;
	}

	t->index = InvalidOid;
	foreach(lc, indexes)
	{
		Oid			indexid = lfirst_oid(lc);
		Relation	index = index_open(indexid, AccessShareLock);
		bool		fits = index->rd_rel->relam == BTREE_AM_OID && index->rd_index->indisvalid &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			index->rd_index->indnkeyatts >= t->nkeys;

		for (int k = 0; fits && k < t->nkeys; k++)
			fits = index->rd_index->indkey.values[k] == t->key_attnum[k];
		if (fits && (!OidIsValid(t->index) || indexid == primary))
		{
			t->index = indexid;
			for (int k = 0; k < t->nkeys; k++)
			{
				Oid			type = index->rd_opcintype[k];
				Oid			equality = get_opfamily_member(index->rd_opfamily[k], type, type,
														   BTEqualStrategyNumber);

				if (!OidIsValid(equality) ||
					type != TupleDescAttr(desc, t->key_attnum[k] - 1)->atttypid)
					elog(ERROR, "ticketdesk: no equality on %s.%s in its index",
						 t->relname, t->keys[k]);
				t->key_proc[k] = get_opcode(equality);
				t->key_collation[k] = index->rd_indcollation[k];
			}
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	if (!OidIsValid(t->index))
		elog(ERROR, "ticketdesk: table %s has no index on its key", t->relname);
}

/*
 * Open the table (locked AccessShareLock until the transaction ends, as a
 * SELECT locks it), its facts current: looked up again when the catalogs
 * changed, also while the lock was being taken.
 */
static Relation
keyed_open(KeyedTable *t)
{
	(void) catalog_changes_seen();
	for (;;)
	{
		uint64		before = catalog_changes;
		Relation	rel;

		if (t->learnt != before)
		{
			t->relid = get_relname_relid(t->relname, get_namespace_oid("ticketdesk", false));
			if (!OidIsValid(t->relid))
				elog(ERROR, "ticketdesk: table %s does not exist", t->relname);
		}
		rel = try_table_open(t->relid, AccessShareLock);
		if (rel != NULL && catalog_changes == before)
		{
			if (t->learnt != before)
			{
				learn_table(t, rel);
				t->learnt = before;
			}
			return rel;
		}
		/* Dropped, or changed while it was locked: look it up again. */
		if (rel != NULL)
			table_close(rel, AccessShareLock);
		t->learnt = 0;
	}
}

/*
 * keyed_begin starts reading the rows of the table whose first nkeys key
 * columns have the values key (NULL where isnull says so: IS NULL), seen
 * by snapshot.
 */
KeyedScan *
keyed_begin(KeyedTable *t, Snapshot snapshot, int nkeys, const Datum *key, const bool *isnull)
{
	KeyedScan  *s = palloc(sizeof(KeyedScan));

	Assert(nkeys >= 1 && nkeys <= t->nkeys);
	s->table = t;
	s->rel = keyed_open(t);
	s->index = index_open(t->index, AccessShareLock);
	s->slot = table_slot_create(s->rel, NULL);
	s->scan = index_beginscan(s->rel, s->index, snapshot, nkeys, 0);
	keyed_rescan(s, nkeys, key, isnull);
	return s;
}

/*
 * keyed_rescan starts the scan s afresh for the rows whose first nkeys key
 * columns have the values key (as keyed_begin): a caller reading many rows
 * of a table in one transaction opens its scan once.
 */
void
keyed_rescan(KeyedScan *s, int nkeys, const Datum *key, const bool *isnull)
{
	KeyedTable *t = s->table;
	ScanKeyData scankeys[KEYED_MAX_KEYS];

	Assert(nkeys >= 1 && nkeys <= t->nkeys && nkeys == s->scan->numberOfKeys);
	for (int k = 0; k < nkeys; k++)
	{
		if (isnull != NULL && isnull[k])
			ScanKeyEntryInitialize(&scankeys[k], SK_ISNULL | SK_SEARCHNULL, k + 1,
								   InvalidStrategy, InvalidOid, InvalidOid, InvalidOid, (Datum) 0);
		else
			ScanKeyEntryInitialize(&scankeys[k], 0, k + 1, BTEqualStrategyNumber, InvalidOid,
								   t->key_collation[k], t->key_proc[k], key[k]);
	}
	index_rescan(s->scan, scankeys, nkeys, NULL, 0);
}

/*
 * keyed_next reads the next row into values and nulls (the table's
 * columns read, in its order): false when there is none. A value passed by
 * reference stays valid until the next call or keyed_end; datumCopy what
 * is kept longer.
 */
bool
keyed_next(KeyedScan *s, Datum *values, bool *nulls)
{
	KeyedTable *t = s->table;

	if (!index_getnext_slot(s->scan, ForwardScanDirection, s->slot))
		return false;
	for (int c = 0; c < t->ncolumns; c++)
		values[c] = slot_getattr(s->slot, t->attnum[c], &nulls[c]);
	return true;
}

/* keyed_end ends the reading; the table and its index stay locked. */
void
keyed_end(KeyedScan *s)
{
	index_endscan(s->scan);
	ExecDropSingleTupleTableSlot(s->slot);
	index_close(s->index, NoLock);
	table_close(s->rel, NoLock);
	pfree(s);
}
