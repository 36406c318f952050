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
 * A row a trigger of the table has just seen written (keyed_row_written:
 * the ticket's history trigger hands over the ticket row it fires for) is
 * read by its tuple identifier instead of through the index
 * (keyed_begin_written), when the reader's snapshot sees exactly that
 * version and its key is the one asked for; otherwise through the index.
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
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "ticketdesk.h"

struct KeyedScan
{
	KeyedTable *table;
	Relation	rel;
	Relation	index;			/* NULL: the row handed over, in slot */
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		done;			/* the row handed over was read */
};

/*
 * The row version a row trigger last fired for (keyed_row_written): its
 * table, the table's file, where the version is and who wrote it.
 */
static struct
{
	Oid			relid;
	RelFileNode node;
	ItemPointerData tid;
	TransactionId xmin;
}			written;

static void begin_index_scan(KeyedScan *s, Snapshot snapshot, int nkeys, const Datum *key,
							 const bool *isnull);

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
		{
			t->key_attnum[c - t->ncolumns] = attnum;
			t->key_attlen[c - t->ncolumns] = TupleDescAttr(desc, attnum - 1)->attlen;
			t->key_attbyval[c - t->ncolumns] = TupleDescAttr(desc, attnum - 1)->attbyval;
		}
	}

	t->index = InvalidOid;
	t->key_unique = false;
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
			t->key_unique = index->rd_index->indisunique && index->rd_index->indimmediate &&
				index->rd_index->indnkeyatts == t->nkeys;
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

	s->table = t;
	s->rel = keyed_open(t);
	begin_index_scan(s, snapshot, nkeys, key, isnull);
	return s;
}

/* Start the scan of s, its table open, through the index. */
static void
begin_index_scan(KeyedScan *s, Snapshot snapshot, int nkeys, const Datum *key, const bool *isnull)
{
	KeyedTable *t = s->table;

	Assert(nkeys >= 1 && nkeys <= t->nkeys);
	s->done = false;
	s->index = index_open(t->index, AccessShareLock);
	s->slot = table_slot_create(s->rel, NULL);
	s->scan = index_beginscan(s->rel, s->index, snapshot, nkeys, 0);
	keyed_rescan(s, nkeys, key, isnull);
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
 * keyed_row_written hands over the row version a row trigger of INSERT or
 * UPDATE fires for (the new one), so that a reader of that row further down
 * the same trigger may find it without the index (keyed_begin_written). A
 * hint only, checked when used: one version is remembered, the last.
 */
void
keyed_row_written(TriggerData *trigdata)
{
	HeapTuple	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		tuple == NULL || tuple->t_data == NULL)
		return;
	written.relid = RelationGetRelid(trigdata->tg_relation);
	written.node = trigdata->tg_relation->rd_node;
	written.tid = tuple->t_self;
	written.xmin = HeapTupleHeaderGetXmin(tuple->t_data);
}

/*
 * Whether the row version handed over is the row of the table with this
 * key (all its columns) that snapshot sees, read into s->slot if so.
 *
 * Sound because: the version was written by this transaction, in a
 * subtransaction that did not abort (its xmin is current), so it stays
 * where it is, in the table's current file (the same relfilenode: not
 * truncated or rewritten since) until the transaction ends, and the block
 * exists; a snapshot sees at most one version of a row, and the key's
 * index is unique and not deferred, so at most one row with the key: if
 * snapshot sees this version and its key is the key asked for, the index
 * would have led to the same version. Only under a snapshot taken after
 * the write (read committed: the reader takes a new one): a transaction
 * snapshot (repeatable read, serializable) may still see a row of the
 * same key that another transaction deleted, and committed, before this
 * one wrote its own, and the index would give whichever comes first. A
 * version updated or deleted since
 * (by a later trigger, a later command of the transaction), or not yet
 * seen by snapshot, fails the visibility test, and the index decides.
 */
static bool
written_row_fits(KeyedScan *s, Snapshot snapshot, const Datum *key)
{
	KeyedTable *t = s->table;
	Relation	rel = s->rel;

	if (!t->key_unique || IsolationUsesXactSnapshot() || written.relid != RelationGetRelid(rel) ||
		!RelFileNodeEquals(written.node, rel->rd_node) ||
		!TransactionIdIsNormal(written.xmin) || !TransactionIdIsCurrentTransactionId(written.xmin))
		return false;
	s->slot = table_slot_create(rel, NULL);
	if (table_tuple_fetch_row_version(rel, &written.tid, snapshot, s->slot))
	{
		bool		same = true;

		for (int k = 0; k < t->nkeys && same; k++)
		{
			bool		isnull;
			Datum		value = slot_getattr(s->slot, t->key_attnum[k], &isnull);

			same = !isnull && datumIsEqual(value, key[k], t->key_attbyval[k], t->key_attlen[k]);
		}
		if (same)
			return true;
	}
	ExecDropSingleTupleTableSlot(s->slot);
	s->slot = NULL;
	return false;
}

/*
 * keyed_begin_written is keyed_begin with every key column given (none
 * NULL), for a row that a trigger this reading runs under may have handed
 * over (keyed_row_written): read without the index when it is the one.
 * snapshot must be one taken after that write (GetTransactionSnapshot
 * after CommandCounterIncrement, as notify_requester.c takes it).
 */
KeyedScan *
keyed_begin_written(KeyedTable *t, Snapshot snapshot, const Datum *key)
{
	KeyedScan  *s = palloc(sizeof(KeyedScan));

	s->table = t;
	s->rel = keyed_open(t);
	if (written_row_fits(s, snapshot, key))
	{
		s->index = NULL;
		s->scan = NULL;
		s->done = false;
		return s;
	}
	begin_index_scan(s, snapshot, t->nkeys, key, NULL);
	return s;
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

	if (s->index == NULL)
	{
		if (s->done)
			return false;
		s->done = true;
	}
	else if (!index_getnext_slot(s->scan, ForwardScanDirection, s->slot))
		return false;
	for (int c = 0; c < t->ncolumns; c++)
		values[c] = slot_getattr(s->slot, t->attnum[c], &nulls[c]);
	return true;
}

/* keyed_end ends the reading; the table and its index stay locked. */
void
keyed_end(KeyedScan *s)
{
	if (s->index != NULL)
	{
		index_endscan(s->scan);
		index_close(s->index, NoLock);
	}
	ExecDropSingleTupleTableSlot(s->slot);
	table_close(s->rel, NoLock);
	pfree(s);
}
