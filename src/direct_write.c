/*
 * direct_write.c
 *		Writing rows of ticketdesk's own tables without an SQL statement.
 *
 * The triggers on ticket write rows that belong to ticketdesk, not to the
 * caller: the history of a change (ticket_event), the reason of a routing,
 * the agents' load counters (agent_load). Through SPI each such row costs
 * far more than itself: the plan cache is checked, an executor is started
 * for a one-row plan, the caller's policies are applied to a row the caller
 * did not write, and a second statement checks the foreign key. Here a row
 * is written the way logical replication applies one
 * (ExecSimpleRelationInsert, a look-up by primary key as
 * RelationFindReplTupleByIndex does it, ExecSimpleRelationUpdate): NOT
 * NULL, CHECK and domain constraints, the
 * indexes, and every row-level trigger, foreign-key checks included,
 * exactly as for an INSERT or UPDATE. What a statement has and this has
 * not: row-level security and privileges (the rows are ticketdesk's record
 * of a change the caller was allowed to make), statement-level triggers,
 * transition tables and rules. doc/security.md says so.
 *
 * A table may name tables its appended rows reference that the caller
 * vouches for, so that those foreign keys' checks on insert (each a query
 * taking a row lock: most of what an appended row costs) are left out.
 * Either the reference is true by construction (the history of a ticket,
 * written by the ticket's own trigger, refers to that ticket, which this
 * transaction has just written and holds locked; PostgreSQL itself skips
 * checks it can prove needless, RI_FKey_fk_upd_check_required), or the
 * caller does what the check does, cheaper: direct_key_share finds the
 * referenced row by its primary key and locks it FOR KEY SHARE. Every
 * other foreign key is checked.
 *
 * Columns the caller does not give get their defaults on insert, evaluated
 * as an INSERT would (a sequence, now(), current_user). Their expressions
 * are planned once per backend, and again after the table's definition
 * changes.
 *
 *		static const char *const cols[] = {"tenant_id", "ticket_id", ...};
 *		static const char *const vouched[] = {"ticket", NULL};
 *		static DirectTable history = {"ticket_event", lengthof(cols), cols, vouched};
 *		DirectWrite *w = direct_begin(&history);
 *		direct_append(w, values, nulls);		(or direct_update; as often as needed)
 *		direct_end(w);							(fires the AFTER triggers)
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteManip.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "storage/lmgr.h"
#include "utils/syscache.h"

#include "ticketdesk.h"

struct DirectWrite
{
	DirectTable *table;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* the row to write */
	TupleTableSlot *found;		/* the row to update, as found and locked */
	Relation   *indexes;		/* per index of the table: opened, or NULL (enter_indexes) */
};

/* Every table used in this backend, for the invalidation callback. */
static List *tables = NIL;
static bool callback_registered = false;

/* How many descriptions were made: each table's generation. */
static uint64 descriptions = 0;

/* A table's definition changed: describe it again at the next use. */
static void
direct_invalidate(Datum arg, Oid relid)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		DirectTable *t = lfirst(lc);

		if (relid == InvalidOid || relid == t->relid)
			t->valid = false;
	}
}

/* True for the insert check of a foreign key to the table relid. */
static bool
checks_reference_to(const Trigger *trigger, Oid relid)
{
	HeapTuple	tuple;
	bool		result;

	if (RI_FKey_trigger_type(trigger->tgfoid) != RI_TRIGGER_FK || !TRIGGER_FOR_INSERT(trigger->tgtype))
		return false;
	tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(trigger->tgconstraint));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "ticketdesk: cache lookup failed for constraint %u", trigger->tgconstraint);
	result = ((Form_pg_constraint) GETSTRUCT(tuple))->confrelid == relid;
	ReleaseSysCache(tuple);
	return result;
}

/* True for the insert check of a foreign key to one of the tables named. */
static bool
checks_reference_to_any(const Trigger *trigger, Oid nsp, const char *const *tables)
{
	for (int i = 0; tables[i] != NULL; i++)
		if (checks_reference_to(trigger, get_relname_relid(tables[i], nsp)))
			return true;
	return false;
}

/*
 * True for a row trigger that fires on UPDATE only, and only when columns
 * change none of which the caller writes: a trigger of UPDATE OF other
 * columns, or the update check of a foreign key on other columns.
 * PostgreSQL would skip either for every row these writes update
 * (TriggerEnabled, RI_FKey_fk_upd_check_required); a BEFORE one would still
 * make it lock the row a second time first.
 */
static bool
updates_elsewhere(const Trigger *trigger, const DirectTable *t)
{
	const int16 *columns = trigger->tgattr;
	int			ncolumns = trigger->tgnattr;
	HeapTuple	constraint = NULL;
	bool		result = true;

	if (!TRIGGER_FOR_ROW(trigger->tgtype) || !TRIGGER_FOR_UPDATE(trigger->tgtype) ||
		TRIGGER_FOR_INSERT(trigger->tgtype) || TRIGGER_FOR_DELETE(trigger->tgtype))
		return false;
	if (RI_FKey_trigger_type(trigger->tgfoid) == RI_TRIGGER_FK)
	{
		bool		isnull;
		ArrayType  *conkey;

		constraint = SearchSysCache1(CONSTROID, ObjectIdGetDatum(trigger->tgconstraint));
		if (!HeapTupleIsValid(constraint))
			elog(ERROR, "ticketdesk: cache lookup failed for constraint %u", trigger->tgconstraint);
		conkey = DatumGetArrayTypeP(SysCacheGetAttr(CONSTROID, constraint, Anum_pg_constraint_conkey, &isnull));
		columns = (const int16 *) ARR_DATA_PTR(conkey);
		ncolumns = ARR_DIMS(conkey)[0];
	}
	else if (ncolumns == 0)
		return false;			/* UPDATE of any column */
	for (int i = 0; i < ncolumns && result; i++)
		result = (t->given[columns[i] - 1] == 0);
	if (constraint != NULL)
		ReleaseSysCache(constraint);
	return result;
}

/*
 * The table's triggers for these writes: without the insert checks of its
 * foreign keys to the tables the caller vouches for (see above), and
 * without the update triggers on columns it does not write; NULL when
 * every trigger stays.
 */
static TriggerDesc *
triggers_for_writes(Relation rel, const DirectTable *t)
{
	TriggerDesc *desc;
	int			kept = 0;

	if (rel->trigdesc == NULL)
		return NULL;
	desc = CopyTriggerDesc(rel->trigdesc);
	desc->trig_update_before_row = false;
	desc->trig_update_after_row = false;
	for (int i = 0; i < desc->numtriggers; i++)
	{
		Trigger    *trigger = &desc->triggers[i];
		int16		type = trigger->tgtype;

		if (t->vouched_references != NULL &&
			checks_reference_to_any(trigger, RelationGetNamespace(rel), t->vouched_references))
			continue;
		if (updates_elsewhere(trigger, t))
			continue;
		if (TRIGGER_FOR_ROW(type) && TRIGGER_FOR_UPDATE(type))
		{
			if (TRIGGER_FOR_BEFORE(type))
				desc->trig_update_before_row = true;
			else if (TRIGGER_FOR_AFTER(type))
				desc->trig_update_after_row = true;
		}
		desc->triggers[kept++] = *trigger;
	}
	if (kept == desc->numtriggers)
	{
		FreeTriggerDesc(desc);
		return NULL;
	}
	desc->numtriggers = kept;
	return desc;
}

/*
 * The WHEN clauses of the table's triggers for these writes (t->triggers),
 * planned once here, as TriggerEnabled plans each for a ResultRelInfo
 * without one (the trigger's stored expression read back, OLD and NEW made
 * the inner and outer tuple, ExecPrepareQual): every direct write makes a
 * new ResultRelInfo, so the executor read and planned them again for every
 * row (about 6,000 instructions for ticket_no_cycle's, an opening). Shared
 * by the writes as the CHECK constraints are. Built in the current context
 * (the table's).
 */
static void
prepare_trigger_when(DirectTable *t)
{
	TriggerDesc *triggers = t->triggers;

	t->trigger_when = NULL;
	if (triggers == NULL)
		return;
	for (int i = 0; i < triggers->numtriggers; i++)
	{
		Node	   *qual;

		if (triggers->triggers[i].tgqual == NULL)
			continue;
		if (t->trigger_when == NULL)
			t->trigger_when = palloc0(sizeof(ExprState *) * triggers->numtriggers);
		qual = stringToNode(triggers->triggers[i].tgqual);
		ChangeVarNodes(qual, PRS2_OLD_VARNO, INNER_VAR, 0);
		ChangeVarNodes(qual, PRS2_NEW_VARNO, OUTER_VAR, 0);
		qual = (Node *) make_ands_implicit((Expr *) qual);
		t->trigger_when[i] = ExecInitQual((List *) expression_planner((Expr *) qual), NULL);
	}
}

/*
 * The table's CHECK constraints, and its indexes' IndexInfo with their
 * predicates, planned once here: the executor would read and plan them
 * again for every write (ExecRelCheck, ExecOpenIndices,
 * ExecInsertIndexTuples), as for every statement. Built in the current
 * context (the table's).
 */
static void
prepare_checks(DirectTable *t, Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	t->ncheck = constr != NULL ? constr->num_check : 0;
	t->checks = NULL;
	if (t->ncheck > 0)
	{
		t->checks = palloc0(sizeof(ExprState *) * t->ncheck);
		for (int i = 0; i < t->ncheck; i++)
			t->checks[i] = ExecInitExpr(expression_planner(stringToNode(constr->check[i].ccbin)), NULL);
	}
	t->nindexes = list_length(indexes);
	t->index_oids = palloc0(sizeof(Oid) * Max(t->nindexes, 1));
	t->index_infos = palloc0(sizeof(IndexInfo *) * Max(t->nindexes, 1));
	t->index_infos_shared = true;
	foreach(lc, indexes)
	{
		int			i = foreach_current_index(lc);
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		IndexInfo  *info = BuildIndexInfo(index);

		if (info->ii_Predicate != NIL)
			info->ii_PredicateState =
				ExecInitQual((List *) expression_planner((Expr *) info->ii_Predicate), NULL);
		/*
		 * A B-tree index of plain columns keeps no state of a write in its
		 * IndexInfo: every write may share it. Another (expressions are
		 * evaluated into it, exclusion constraints keep their operators
		 * there) gets its own from ExecOpenIndices.
		 */
		if (index->rd_rel->relam != BTREE_AM_OID || info->ii_Expressions != NIL ||
			info->ii_ExclusionOps != NULL)
			t->index_infos_shared = false;
		t->index_oids[i] = lfirst_oid(lc);
		t->index_infos[i] = info;
		index_close(index, AccessShareLock);
	}
}

/*
 * Plan the table's generated columns once, as ExecInitStoredGenerated plans
 * them for an INSERT on every new ResultRelInfo (about 24,000 instructions
 * an opening for ticket's two). All of them, as for an insert: a direct
 * update of such a table computes them all again, to the same values.
 */
static void
prepare_generated(DirectTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	t->generated = NULL;
	t->ngenerated = 0;
	if (desc->constr == NULL || !desc->constr->has_generated_stored)
		return;
	t->generated = palloc0(sizeof(ExprState *) * desc->natts);
	for (int a = 0; a < desc->natts; a++)
		if (TupleDescAttr(desc, a)->attgenerated == ATTRIBUTE_GENERATED_STORED)
		{
			Expr	   *expr = (Expr *) build_column_default(rel, a + 1);

			if (expr == NULL)
				elog(ERROR, "ticketdesk: no generation expression for column %d of %s", a + 1, t->relname);
			t->generated[a] = ExecInitExpr(expression_planner(expr), NULL);
			t->ngenerated++;
		}
}

/*
 * Find the caller's columns by name, the domains among their types, and
 * plan the defaults of the others, in a memory context of the table's own.
 * The old one goes at the end of the transaction, not now: an invalidation
 * may arrive while a write of this table is still open further up the
 * stack (a trigger of the table writing to it again), using it.
 */
static void
describe_table(DirectTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;

	if (t->cxt != NULL)
		MemoryContextSetParent(t->cxt, TopTransactionContext);
	t->cxt = AllocSetContextCreate(TopMemoryContext, "ticketdesk direct writes",
								   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(t->cxt);

	t->natts = desc->natts;
	t->written = NULL;
	t->given = palloc0(sizeof(int) * desc->natts);
	t->domain = palloc0(sizeof(Oid) * desc->natts);
	t->domain_cache = palloc0(sizeof(void *) * desc->natts);
	t->defaults = palloc0(sizeof(ExprState *) * desc->natts);
	for (int c = 0; c < t->ncolumns; c++)
	{
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), t->columns[c]);
		Oid			type;

		if (attnum == InvalidAttrNumber)
			elog(ERROR, "ticketdesk: table %s has no column %s", t->relname, t->columns[c]);
		t->given[attnum - 1] = c + 1;
		/* As an UPDATE's target list names them (logical replication's apply too). */
		t->written = bms_add_member(t->written, attnum - FirstLowInvalidHeapAttributeNumber);
		type = TupleDescAttr(desc, attnum - 1)->atttypid;
		if (get_typtype(type) == TYPTYPE_DOMAIN)
			t->domain[attnum - 1] = type;
	}
	for (int a = 0; a < desc->natts; a++)
	{
		Node	   *expr;

		/* A generated column is computed by the insert itself, not here. */
		if (t->given[a] != 0 || TupleDescAttr(desc, a)->attisdropped ||
			TupleDescAttr(desc, a)->attgenerated)
			continue;
		expr = build_column_default(rel, a + 1);
		if (expr != NULL)
			t->defaults[a] = ExecInitExpr(expression_planner((Expr *) expr), NULL);
	}
	t->triggers = triggers_for_writes(rel, t);
	prepare_trigger_when(t);
	prepare_checks(t, rel);
	prepare_generated(t, rel);
	MemoryContextSwitchTo(old);

	t->key_index = RelationGetPrimaryKeyIndex(rel);
	t->nkeys = 0;
	if (OidIsValid(t->key_index))
	{
		Relation	index = index_open(t->key_index, AccessShareLock);

		t->nkeys = index->rd_index->indnkeyatts;
		t->key_attnums = MemoryContextAlloc(t->cxt, sizeof(AttrNumber) * t->nkeys);
		t->key_scan = MemoryContextAlloc(t->cxt, sizeof(ScanKeyData) * t->nkeys);
		for (int k = 0; k < t->nkeys; k++)
		{
			Oid			opfamily = index->rd_opfamily[k];
			Oid			type = index->rd_opcintype[k];
			Oid			equality = get_opfamily_member(opfamily, type, type, BTEqualStrategyNumber);

			t->key_attnums[k] = index->rd_index->indkey.values[k];

			if (!OidIsValid(equality))
				elog(ERROR, "ticketdesk: no equality operator for the key of %s", t->relname);
			old = MemoryContextSwitchTo(t->cxt);
			ScanKeyEntryInitialize(&t->key_scan[k], 0, k + 1, BTEqualStrategyNumber, InvalidOid,
								   index->rd_indcollation[k], get_opcode(equality), (Datum) 0);
			MemoryContextSwitchTo(old);
		}
		index_close(index, AccessShareLock);
	}
	t->relid = RelationGetRelid(rel);
	t->generation = ++descriptions;
	t->valid = true;
	if (!list_member_ptr(tables, t))
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		tables = lappend(tables, t);
		MemoryContextSwitchTo(old);
	}
	if (!callback_registered)
	{
		ticketdesk_register_relcache_callback(direct_invalidate);
		callback_registered = true;
	}
}

/*
 * How often a name of a relation or of a schema changed, as this backend
 * learns of it (syscache callbacks on pg_class's and pg_namespace's name
 * caches; a reset of the caches counts too).
 */
static uint64 name_changes = 1;
static bool name_callbacks_registered = false;

static void
names_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	name_changes++;
}

/*
 * direct_table_oid returns the OID of the table's name in schema
 * ticketdesk (InvalidOid: none): what get_relname_relid(relname,
 * get_namespace_oid("ticketdesk")) returns, looked up again only after the
 * name caches it reads were invalidated (about 1,000 instructions, six
 * times an opening). The same answer: those look-ups read the same caches,
 * which change only when the same invalidations are processed; one
 * processed during the look-up makes the next call look up again. Nothing
 * is opened or locked.
 */
Oid
direct_table_oid(DirectTable *t)
{
	uint64		before;
	Oid			relid;

	if (!name_callbacks_registered)
	{
		CacheRegisterSyscacheCallback(RELNAMENSP, names_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACENAME, names_changed, (Datum) 0);
		name_callbacks_registered = true;
	}
	if (t->named_at == name_changes)
		return t->named_relid;
	before = name_changes;
	relid = get_relname_relid(t->relname, get_namespace_oid("ticketdesk", false));
	t->named_relid = relid;
	t->named_at = OidIsValid(relid) ? before : 0;
	return relid;
}

/*
 * direct_open_table opens the table by its name (direct_table_oid), locked
 * in lockmode until the transaction ends and locked before its description
 * is checked, so that the description is current; close it with
 * table_close(rel, NoLock). Direct writes open their table this way.
 */
Relation
direct_open_table(DirectTable *t, LOCKMODE lockmode)
{
	Oid			relid = direct_table_oid(t);
	Relation	rel;

	if (!OidIsValid(relid))
		elog(ERROR, "ticketdesk: table %s does not exist", t->relname);
	rel = table_open(relid, lockmode);
	if (!t->valid || t->relid != relid)
		describe_table(t, rel);
	return rel;
}

/*
 * Prepare the table's indexes for the write, as ExecOpenIndices does, with
 * the IndexInfo built when the table was described instead of a new one (a
 * tenth of an opening's set-up). They are opened as rows need them
 * (enter_indexes). When they cannot be shared, ExecOpenIndices opens and
 * builds them all, and the partial indexes get their planned predicates.
 */
static void
open_indexes(DirectWrite *w)
{
	DirectTable *t = w->table;
	ResultRelInfo *rri = w->rri;

	if (!t->index_infos_shared)
	{
		ExecOpenIndices(rri, false);
		for (int i = 0; i < rri->ri_NumIndices; i++)
			for (int k = 0; k < t->nindexes; k++)
				if (t->index_oids[k] == RelationGetRelid(rri->ri_IndexRelationDescs[i]))
					rri->ri_IndexRelationInfo[i]->ii_PredicateState = t->index_infos[k]->ii_PredicateState;
		return;
	}
	if (t->nindexes == 0)
		return;
	w->indexes = palloc0(sizeof(Relation) * t->nindexes);
	rri->ri_IndexRelationDescs = palloc(sizeof(Relation) * t->nindexes);
	rri->ri_IndexRelationInfo = palloc(sizeof(IndexInfo *) * t->nindexes);
}

/*
 * enter_indexes gives the executor the indexes the row in slot enters
 * (NULL: all of them), opening those not yet open. A partial index whose
 * predicate the row fails would take no entry of it, and opening it, with
 * its lock taken and released, is most of what it costs a write: an opening
 * writes a ticket that five of the table's nine indexes leave out
 * (doc/benchmarks.md, "Session 11"). ExecInsertIndexTuples tests the
 * predicates of the indexes given again, and enters the row in them. An
 * index left closed is safe: every operation that would conflict with its
 * lock conflicts with the table's, which the write holds.
 */
static void
enter_indexes(DirectWrite *w, TupleTableSlot *slot)
{
	DirectTable *t = w->table;
	ResultRelInfo *rri = w->rri;
	ExprContext *econtext = GetPerTupleExprContext(w->estate);
	int			n = 0;

	if (w->indexes == NULL)
		return;					/* no index, or ExecOpenIndices opened them all */
	econtext->ecxt_scantuple = slot;
	for (int k = 0; k < t->nindexes; k++)
	{
		ExprState  *predicate = t->index_infos[k]->ii_PredicateState;

		if (slot != NULL && predicate != NULL && !ExecQual(predicate, econtext))
			continue;
		if (w->indexes[k] == NULL)
			w->indexes[k] = index_open(t->index_oids[k], RowExclusiveLock);
		rri->ri_IndexRelationDescs[n] = w->indexes[k];
		rri->ri_IndexRelationInfo[n] = t->index_infos[k];
		n++;
	}
	rri->ri_NumIndices = n;
}

/* Close the indexes enter_indexes opened, and release their locks. */
static void
close_indexes(DirectWrite *w)
{
	if (w->indexes == NULL)
	{
		ExecCloseIndices(w->rri);
		w->rri->ri_NumIndices = 0;
		return;
	}
	for (int k = 0; k < w->table->nindexes; k++)
		if (w->indexes[k] != NULL)
		{
			index_close(w->indexes[k], RowExclusiveLock);
			w->indexes[k] = NULL;
		}
	w->rri->ri_NumIndices = 0;
}

/*
 * insert_row is ExecSimpleRelationInsert with the indexes chosen for the
 * row (enter_indexes) once the BEFORE triggers and the generated columns
 * made it what is stored: the BEFORE triggers, the generated columns, the
 * constraints, the heap, the indexes, the AFTER triggers queued. (An
 * insert checks no replica identity, and ticketdesk's tables are not
 * partitions.)
 */
static void
insert_row(DirectWrite *w, TupleTableSlot *slot)
{
	ResultRelInfo *rri = w->rri;
	TupleConstr *constr = RelationGetDescr(w->rel)->constr;
	List	   *recheck = NIL;

	if (rri->ri_TrigDesc != NULL && rri->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(w->estate, rri, slot))
		return;					/* a BEFORE trigger skipped the row */
	if (constr != NULL && constr->has_generated_stored)
		ExecComputeStoredGenerated(rri, w->estate, slot, CMD_INSERT);
	if (constr != NULL)
		ExecConstraints(rri, slot, w->estate);
	simple_table_tuple_insert(w->rel, slot);
	enter_indexes(w, slot);
	if (rri->ri_NumIndices > 0)
		recheck = ExecInsertIndexTuples(rri, slot, w->estate, false, false, NULL, NIL);
	ExecARInsertTriggers(w->estate, rri, slot, recheck, NULL);
	list_free(recheck);
}

/*
 * InitResultRelInfo with the table's triggers for these writes (NULL: all
 * of the table's). InitResultRelInfo copies the relation's TriggerDesc for
 * every write (CopyTriggerDesc: about 4,000 instructions for ticket's),
 * a copy that the table's own would replace at once: the relation is
 * shown to it without triggers, and the arrays it would size by them are
 * made here, as it makes them, for the table's; the WHEN clauses come
 * planned (prepare_trigger_when), where TriggerEnabled would plan them.
 */
static void
init_result_rel(ResultRelInfo *rri, Relation rel, DirectTable *t)
{
	TriggerDesc *triggers = t->triggers;
	TriggerDesc *all = rel->trigdesc;

	if (triggers == NULL)
	{
		InitResultRelInfo(rri, rel, 1, NULL, 0);
		return;
	}
	rel->trigdesc = NULL;
	PG_TRY();
	{
		InitResultRelInfo(rri, rel, 1, NULL, 0);
	}
	PG_FINALLY();
	{
		rel->trigdesc = all;
	}
	PG_END_TRY();
	rri->ri_TrigDesc = triggers;
	rri->ri_TrigFunctions = (FmgrInfo *) palloc0(triggers->numtriggers * sizeof(FmgrInfo));
	rri->ri_TrigWhenExprs = (ExprState **) palloc0(triggers->numtriggers * sizeof(ExprState *));
	if (t->trigger_when != NULL)
		memcpy(rri->ri_TrigWhenExprs, t->trigger_when, triggers->numtriggers * sizeof(ExprState *));
	rri->ri_TrigInstrument = NULL;
}

/*
 * Open the table for writing. Its AFTER triggers fire in direct_end, as
 * they fire at the end of a statement.
 */
DirectWrite *
direct_begin(DirectTable *t)
{
	DirectWrite *w = palloc0(sizeof(DirectWrite));
	RangeTblEntry *rte;
	Oid			relid;

	/*
	 * What ran before is seen, as by the next statement of a function: the
	 * row triggers fired in direct_end read with a snapshot taken now, as
	 * those of an INSERT through SPI do.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();

	w->table = t;
	w->rel = direct_open_table(t, RowExclusiveLock);
	relid = RelationGetRelid(w->rel);

	w->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = w->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	/* Triggers of UPDATE OF the columns written fire (TriggerEnabled). */
	rte->updatedCols = t->written;
	ExecInitRangeTable(w->estate, list_make1(rte));
	w->estate->es_output_cid = GetCurrentCommandId(true);

	w->rri = makeNode(ResultRelInfo);
	init_result_rel(w->rri, w->rel, t);
	open_indexes(w);
	if (t->ncheck > 0)
		w->rri->ri_ConstraintExprs = t->checks;
	if (t->ngenerated > 0)
	{
		w->rri->ri_GeneratedExprs = t->generated;
		w->rri->ri_NumGeneratedNeeded = t->ngenerated;
	}
	/* The AFTER triggers find it here rather than opening the table again. */
	w->estate->es_opened_result_relations = list_make1(w->rri);
	w->slot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(w->rel), &TTSOpsVirtual);

	AfterTriggerBeginQuery();
	return w;
}

/*
 * Put a caller's value into the row to write, checked against its domain
 * as the coercion of an INSERT's or UPDATE's target list would check it.
 */
static void
set_given(DirectWrite *w, int a, Datum value, bool isnull)
{
	DirectTable *t = w->table;

	if (OidIsValid(t->domain[a]))
		domain_check(value, isnull, t->domain[a], &t->domain_cache[a], t->cxt);
	w->slot->tts_values[a] = value;
	w->slot->tts_isnull[a] = isnull;
}

/*
 * Append one row: values and nulls are the table's given columns, in the
 * order it names them; the other columns get their defaults.
 */
void
direct_append(DirectWrite *w, const Datum *values, const bool *nulls)
{
	DirectTable *t = w->table;
	TupleTableSlot *slot = w->slot;
	ExprContext *econtext = GetPerTupleExprContext(w->estate);

	ExecClearTuple(slot);
	for (int a = 0; a < t->natts; a++)
	{
		int			c = t->given[a];

		if (c != 0)
			set_given(w, a, values[c - 1], nulls[c - 1]);
		else if (t->defaults[a] != NULL)
			slot->tts_values[a] = ExecEvalExprSwitchContext(t->defaults[a], econtext,
															&slot->tts_isnull[a]);
		else
		{
			slot->tts_values[a] = (Datum) 0;
			slot->tts_isnull[a] = true;
		}
	}
	ExecStoreVirtualTuple(slot);
	insert_row(w, slot);
	ResetPerTupleExprContext(w->estate);
}

/* Whether the row in slot has the primary key key (its columns' values, in the key's order). */
static bool
slot_has_key(DirectTable *t, TupleTableSlot *slot, const Datum *key)
{
	for (int k = 0; k < t->nkeys; k++)
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, t->key_attnums[k], &isnull);

		if (isnull || !DatumGetBool(FunctionCall2Coll(&t->key_scan[k].sk_func, t->key_scan[k].sk_collation, value, key[k])))
			return false;
	}
	return true;
}

/*
 * Find the row of rel whose primary key is key (its columns' values, in
 * the key's order) and lock it in lockmode, into found. False when there is
 * no such row. This is RelationFindReplTupleByIndex (logical replication's
 * look-up) with the key's scan keys prepared once per table, not looked up
 * in the catalogs for every row: a dirty snapshot sees rows that concurrent
 * transactions are writing, and their end is waited for; a row changed or
 * deleted between the look-up and the lock is looked up again. With wait
 * LockWaitSkip it waits for nobody: a row another transaction is writing
 * or holds locked is not taken, and *locked says so.
 */
static bool
find_by_key_wait(DirectTable *t, Relation rel, const Datum *key, LockTupleMode lockmode,
				 LockWaitPolicy wait, TupleTableSlot *found, bool *locked_out)
{
	ScanKeyData scankeys[INDEX_MAX_KEYS];
	SnapshotData dirty;
	Relation	index;
	IndexScanDesc scan;
	bool		result;

	if (!OidIsValid(t->key_index))
		elog(ERROR, "ticketdesk: table %s has no primary key", t->relname);
	memcpy(scankeys, t->key_scan, sizeof(ScanKeyData) * t->nkeys);
	for (int k = 0; k < t->nkeys; k++)
		scankeys[k].sk_argument = key[k];

	*locked_out = false;
	index = index_open(t->key_index, RowExclusiveLock);
	InitDirtySnapshot(dirty);
	scan = index_beginscan(rel, index, &dirty, t->nkeys, 0);
	for (;;)
	{
		TransactionId writer;
		TM_FailureData failure;
		TM_Result	locked;

		index_rescan(scan, scankeys, t->nkeys, NULL, 0);
		result = index_getnext_slot(scan, ForwardScanDirection, found);
		if (!result)
			break;
		ExecMaterializeSlot(found);
		writer = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
		if (TransactionIdIsValid(writer))
		{
			if (wait == LockWaitSkip)
			{
				*locked_out = true;
				result = false;
				break;
			}
			XactLockTableWait(writer, NULL, NULL, XLTW_None);
			continue;
		}
		PushActiveSnapshot(GetLatestSnapshot());
		locked = table_tuple_lock(rel, &found->tts_tid, GetActiveSnapshot(), found,
								  GetCurrentCommandId(false), lockmode, wait, 0, &failure);
		PopActiveSnapshot();
		if (locked == TM_Ok)
			break;
		if (locked == TM_WouldBlock)
		{
			*locked_out = true;
			result = false;
			break;
		}
		if (locked != TM_Updated && locked != TM_Deleted)
			elog(ERROR, "ticketdesk: unexpected result %d locking a row of %s", locked, t->relname);
	}
	index_endscan(scan);
	index_close(index, NoLock);
	return result;
}

/* find_by_key_wait that waits for a concurrent writer or lock holder. */
static bool
find_by_key(DirectTable *t, Relation rel, const Datum *key, LockTupleMode lockmode,
			TupleTableSlot *found)
{
	bool		locked;

	return find_by_key_wait(t, rel, key, lockmode, LockWaitBlock, found, &locked);
}

/*
 * Update the row whose primary key is key (its columns' values, in the
 * key's order): find it and lock it as an UPDATE would, waiting for a
 * concurrent writer and then reading the row it left, let change compute
 * the given columns' new values from their current ones, and write them.
 * False when there is no such row.
 */
bool
direct_update(DirectWrite *w, const Datum *key, DirectChange change, void *arg)
{
	if (!find_by_key(w->table, w->rel, key, LockTupleNoKeyExclusive, direct_found_slot(w)))
		return false;
	direct_update_found(w, change, arg);
	return true;
}

/*
 * Find the row whose primary key is key starting from hint, where a version
 * of it was (the caller wrote it earlier), and lock its latest version in
 * lockmode, into found; false when hint holds no tuple of that key any
 * more, or the row cannot be locked there (deleted, or changed in a way
 * the caller should look it up by key for). What is at hint is read
 * whatever its visibility, but only as a line pointer that still holds a
 * tuple, and trusted only when its key is key: the slot's pin on the page
 * keeps it from being pruned until it is locked. table_tuple_lock then
 * waits for a concurrent writer (unless wait is LockWaitSkip: *locked then
 * says another transaction has the row) and follows the row's update
 * chain, as an UPDATE does.
 */
static bool
find_at_hint(DirectTable *t, Relation rel, const Datum *key, ItemPointer hint, LockTupleMode lockmode,
			 LockWaitPolicy wait, TupleTableSlot *found, bool *locked_out)
{
	TM_FailureData failure;
	TM_Result	locked;

	*locked_out = false;
	if (!table_tuple_fetch_row_version(rel, hint, SnapshotAny, found) || !slot_has_key(t, found, key))
		return false;
	PushActiveSnapshot(GetLatestSnapshot());
	locked = table_tuple_lock(rel, hint, GetActiveSnapshot(), found, GetCurrentCommandId(false), lockmode,
							  wait, TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &failure);
	PopActiveSnapshot();
	*locked_out = (locked == TM_WouldBlock);
	/* The latest version, locked; its key checked again (nothing should change it). */
	return locked == TM_Ok && slot_has_key(t, found, key);
}

/*
 * direct_update_at is direct_update for a row a version of which the
 * caller wrote at hint (direct_written_tid) earlier: it is found from
 * there, without a look-up in the primary key, when it can be, else by
 * its key. It waits for nobody: a row that another transaction is writing
 * or holds locked is left as it is (DIRECT_LOCKED), for the caller to try
 * again later.
 */
DirectFound
direct_update_at(DirectWrite *w, const Datum *key, ItemPointer hint, DirectChange change, void *arg)
{
	TupleTableSlot *found = direct_found_slot(w);
	bool		locked = false;

	if (!(ItemPointerIsValid(hint) &&
		  find_at_hint(w->table, w->rel, key, hint, LockTupleNoKeyExclusive, LockWaitSkip, found, &locked)))
	{
		if (locked)
			return DIRECT_LOCKED;
		if (!find_by_key_wait(w->table, w->rel, key, LockTupleNoKeyExclusive, LockWaitSkip, found, &locked))
			return locked ? DIRECT_LOCKED : DIRECT_MISSING;
	}
	direct_update_found(w, change, arg);
	return DIRECT_DONE;
}

/* direct_written_tid gives where the last row updated by direct_update_found was written. */
void
direct_written_tid(DirectWrite *w, ItemPointer tid)
{
	ItemPointerCopy(&w->slot->tts_tid, tid);
}

/*
 * direct_found_slot returns the slot of the table's rows that
 * direct_update_found updates: a caller that finds and locks a row itself
 * puts it there.
 */
TupleTableSlot *
direct_found_slot(DirectWrite *w)
{
	if (w->found == NULL)
		w->found = table_slot_create(w->rel, &w->estate->es_tupleTable);
	return w->found;
}

/* direct_relation returns the table the write opened (locked RowExclusiveLock). */
Relation
direct_relation(DirectWrite *w)
{
	return w->rel;
}

/*
 * direct_update_found updates the row in direct_found_slot, which the
 * caller found and locked (at least LockTupleNoKeyExclusive, its latest
 * version) in this transaction: change computes the given columns' new
 * values from their current ones, and the row is written as direct_update
 * writes it (constraints, domains, indexes, row triggers).
 */
void
direct_update_found(DirectWrite *w, DirectChange change, void *arg)
{
	DirectTable *t = w->table;
	Datum	   *values = palloc(sizeof(Datum) * Max(t->ncolumns, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(t->ncolumns, 1));
	EPQState	epq;

	/* The new row: the row found, with the given columns changed. */
	slot_getallattrs(w->found);
	for (int a = 0; a < t->natts; a++)
		if (t->given[a] != 0)
		{
			values[t->given[a] - 1] = w->found->tts_values[a];
			nulls[t->given[a] - 1] = w->found->tts_isnull[a];
		}
	change(values, nulls, arg);
	ExecClearTuple(w->slot);
	for (int a = 0; a < t->natts; a++)
		if (t->given[a] != 0)
			set_given(w, a, values[t->given[a] - 1], nulls[t->given[a] - 1]);
		else
		{
			w->slot->tts_values[a] = w->found->tts_values[a];
			w->slot->tts_isnull[a] = w->found->tts_isnull[a];
		}
	ExecStoreVirtualTuple(w->slot);

	EvalPlanQualInit(&epq, w->estate, NULL, NIL, -1);
	enter_indexes(w, NULL);		/* an update that is not HOT enters every index it may */
	ExecSimpleRelationUpdate(w->rri, w->estate, &epq, w->found, w->slot);
	EvalPlanQualEnd(&epq);
	pfree(values);
	pfree(nulls);
}

/* Fire the AFTER triggers of the rows written, and close the table. */
void
direct_end(DirectWrite *w)
{
	AfterTriggerEndQuery(w->estate);
	PopActiveSnapshot();
	close_indexes(w);
	ExecCloseResultRelations(w->estate);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
	table_close(w->rel, NoLock);
	pfree(w);
}

/*
 * direct_close_indexes says that the caller appends or updates no more rows
 * with w: the table's indexes are closed now, their locks released, as
 * direct_end would release them (ExecCloseIndices), but before the AFTER
 * triggers fire there rather than after. Nothing else changes. The locks
 * of a write's indexes (ticket has ten) otherwise fill PostgreSQL's sixteen
 * fast-path slots while its AFTER triggers write the other tables, whose
 * locks then go to the shared lock table, at about twice the cost to take
 * and to release (doc/benchmarks.md, "Session 9: opening a ticket"). The
 * table itself stays locked until the transaction ends, as before, and
 * every operation that would conflict with an index's lock conflicts with
 * the table's too, or waits for this transaction's end.
 */
void
direct_close_indexes(DirectWrite *w)
{
	close_indexes(w);
}

/*
 * direct_key_share does what a foreign-key check does for a reference the
 * caller vouches for: it finds the row of the table whose primary key is
 * key (its columns' values, in the key's order), waiting for a concurrent
 * writer, and locks it FOR KEY SHARE, so that it cannot be deleted or its
 * key changed before this transaction ends. False when there is no such
 * row.
 */
bool
direct_key_share(DirectTable *t, const Datum *key)
{
	HeapTuple	row = direct_key_share_row(t, key, NULL);

	if (row == NULL)
		return false;
	heap_freetuple(row);
	return true;
}

/*
 * direct_key_share_row is direct_key_share that returns a copy of the row
 * it locked (NULL: none), and, when generation is not NULL, the generation
 * of the table's description (direct_describe) into it.
 */
HeapTuple
direct_key_share_row(DirectTable *t, const Datum *key, uint64 *generation)
{
	Relation	rel = direct_open_table(t, RowShareLock);
	TupleTableSlot *found = table_slot_create(rel, NULL);
	HeapTuple	row = NULL;

	if (find_by_key(t, rel, key, LockTupleKeyShare, found))
		row = ExecCopySlotHeapTuple(found);
	if (generation != NULL)
		*generation = t->generation;
	ExecDropSingleTupleTableSlot(found);
	table_close(rel, NoLock);
	return row;
}

/*
 * direct_append_returning is direct_append that also returns a copy of the
 * row as written, after the BEFORE triggers and with its generated columns,
 * as an INSERT's RETURNING sees it; NULL when a BEFORE trigger skipped it.
 */
HeapTuple
direct_append_returning(DirectWrite *w, const Datum *values, const bool *nulls)
{
	ItemPointerSetInvalid(&w->slot->tts_tid);
	direct_append(w, values, nulls);
	if (!ItemPointerIsValid(&w->slot->tts_tid))
		return NULL;
	return ExecCopySlotHeapTuple(w->slot);
}

/*
 * direct_describe makes the table's description current for rel, the table
 * opened and locked by the caller, and returns its generation: a number
 * that changes whenever the table's definition changed and it was described
 * again, so that a caller may keep what it learns of the definition until
 * then without a cache invalidation callback of its own.
 */
uint64
direct_describe(DirectTable *t, Relation rel)
{
	if (!t->valid || t->relid != RelationGetRelid(rel))
		describe_table(t, rel);
	return t->generation;
}
