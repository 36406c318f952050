/*
 * caller_policies.c
 *		Whether the calling role may see a row found by key: its SELECT
 *		privilege and its row-level security policies, evaluated on the row
 *		in C instead of by a statement run only for that.
 *
 * The quals are the ones the rewriter would add to the caller's SELECT of
 * the table (get_row_security_policies), planned once per role and per
 * description of the table (direct_describe's generation, which changes
 * with any CREATE, ALTER or DROP POLICY and any GRANT or REVOKE on it), and
 * evaluated on the row like a scan's quals. Whether row-level security
 * applies at all (the role's BYPASSRLS, the table's owner, the setting
 * row_security) is asked on every call, as the planner asks. When it cannot
 * tell as a statement would (no SELECT privilege, row_security = off where
 * policies apply, a policy with a sub-query), the answer is "unknown" and
 * the caller runs its statement, which then says what is wrong.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rowsecurity.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "ticketdesk.h"

/* The caller's SELECT quals of relid, or why there are none. */
static void
prepare(CallerPolicies *cp, Relation rel, Oid user, uint64 generation)
{
	Oid			relid = RelationGetRelid(rel);
	Query	   *query;
	RangeTblEntry *rte;
	List	   *quals = NIL;
	List	   *checks = NIL;
	bool		has_row_security = false;
	bool		has_sublinks = false;
	MemoryContext old;

	if (cp->cxt == NULL)
		cp->cxt = AllocSetContextCreate(CacheMemoryContext, "ticketdesk caller policies",
										ALLOCSET_SMALL_SIZES);
	MemoryContextReset(cp->cxt);
	cp->quals = NULL;
	cp->user = user;
	cp->generation = generation;
	cp->relid = relid;
	cp->privileged = pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK;

	old = MemoryContextSwitchTo(cp->cxt);
	query = makeNode(Query);
	query->commandType = CMD_SELECT;
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = AccessShareLock;
	rte->requiredPerms = ACL_SELECT;
	query->rtable = list_make1(rte);
	get_row_security_policies(query, rte, 1, &quals, &checks, &has_row_security, &has_sublinks);
	cp->sublinks = has_sublinks;
	if (quals != NIL && !has_sublinks)
		cp->quals = ExecInitQual((List *) expression_planner((Expr *) quals), NULL);
	MemoryContextSwitchTo(old);
}

/*
 * caller_sees_row: CALLER_SEES when the calling role may see row (a row of
 * rel, which generation describes), CALLER_HIDDEN when its policies hide
 * it, CALLER_UNKNOWN when only a statement can say.
 */
CallerAnswer
caller_sees_row(CallerPolicies *cp, Relation rel, uint64 generation, HeapTuple row)
{
	Oid			user = GetUserId();
	TupleTableSlot *slot;
	ExprContext *econtext;
	bool		seen;

	if (cp->cxt == NULL || cp->user != user || cp->generation != generation ||
		cp->relid != RelationGetRelid(rel))
		prepare(cp, rel, user, generation);
	if (!cp->privileged)
		return CALLER_UNKNOWN;
	switch (check_enable_rls(RelationGetRelid(rel), InvalidOid, true))
	{
		case RLS_NONE:
			return CALLER_SEES;
		case RLS_NONE_ENV:
			return CALLER_UNKNOWN;	/* the statement would refuse */
		default:
			break;
	}
	/* No quals: policies did not apply when they were prepared, now they do. */
	if (cp->sublinks || cp->quals == NULL)
		return CALLER_UNKNOWN;

	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	ExecStoreHeapTuple(row, slot, false);
	econtext = CreateStandaloneExprContext();
	econtext->ecxt_scantuple = slot;
	seen = ExecQual(cp->quals, econtext);
	FreeExprContext(econtext, true);
	ExecDropSingleTupleTableSlot(slot);
	return seen ? CALLER_SEES : CALLER_HIDDEN;
}
