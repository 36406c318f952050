/*
 * reference_guard.c
 *		One lock instead of a row lock per opening on the configuration rows
 *		every ticket names: its type, its centre and its category.
 *
 * A foreign key's check locks the referenced row FOR KEY SHARE, so that it
 * cannot be deleted (nor its key changed) before the referencing row
 * commits. Every opening names the same few types and centres, so those row
 * locks are taken by every concurrent opening on the same rows: a MultiXact
 * whenever two overlap, and about 16,000 instructions each
 * (doc/benchmarks.md, "Session 7"). Yet these rows are configuration: they
 * are deleted, or their keys changed, perhaps once a year.
 *
 * So the cost moves to the rare side. An opening that vouches for its
 * type, centre and category from the opening_references cache first takes
 * the reference guard in share mode (opening_type), and the statement-level
 * trigger reference_guard on ticket_type, center and category takes it in
 * exclusive mode before any row of theirs is deleted or has its key
 * changed. The two exclude each other:
 *	- a deletion waits for the openings in progress; once they commit, its
 *	  foreign-key check sees their tickets and refuses, as it would refuse
 *	  after their row locks;
 *	- an opening waits for a deletion in progress; once it commits, the
 *	  opening takes the guard, processes the invalidation holders_changed
 *	  sent, and the cache, read again with the latest snapshot, no longer
 *	  vouches for the row: the opening goes to open_ticket_sql, which
 *	  refuses.
 * Only openings wait for such a deletion, and only for as long as its
 * transaction lasts; transitions and everything else go on.
 *
 * The guard is an advisory lock of the database with a class of
 * ticketdesk's own in its fourth field, which no SQL advisory lock function
 * uses (they use 1 and 2), held until the transaction ends.
 *
 * Agents have a guard each. Every ticket names the agent who registered
 * it and every history row the agent who acted, and an intake account, an
 * ERP's login or a dispatcher at work is the same agent in every change:
 * her row was locked by every opening and every move (a MultiXact in about
 * one opening of two under four clients, and a WAL record each). Agents are
 * deactivated, hardly ever deleted (one who ever acted is named by history
 * and cannot be). So the login's own agent is held by her guard
 * (acting_agent, agent.c): taken in share mode once the principal has named
 * her, and the principal asked again, which processes invalidations first
 * and reads with the latest snapshot; the row trigger agent_guard takes it
 * in exclusive mode before her row is deleted or its key changed, and the
 * deletion sends its invalidation (holders_changed) before its commit
 * releases the guard. Her deletion waits for the openings and changes she
 * is making; once it commits, the principal no longer names her. Nobody
 * else waits. The lock tag holds the agent's id and a second class.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "opening.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_reference_guard);
PG_FUNCTION_INFO_V1(ticketdesk_agent_guard);

/* The fourth field of the guards' lock tags: "td", "te" */
#define REFERENCE_GUARD_CLASS 0x7464
#define AGENT_GUARD_CLASS 0x7465

/* The configuration tables whose rows the guard stands for in openings. */
const char *const guarded_configuration[] = {"ticket_type", "center", "category", NULL};

/*
 * A guard, until the transaction ends: the database's advisory-class lock
 * with the given id and class in its tag.
 */
static void
take_lock(uint64 id, uint16 class, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (id >> 32), (uint32) id, class);
	(void) LockAcquire(&tag, mode, false, false);
}

static void
take_guard(LOCKMODE mode)
{
	take_lock(0, REFERENCE_GUARD_CLASS, mode);
}

/* An opening's side: share mode, until the transaction ends. */
void
reference_guard_share(void)
{
	take_guard(ShareLock);
}

/*
 * reference_guard(): BEFORE DELETE OR UPDATE OF the key, FOR EACH
 * STATEMENT, on the guarded tables: exclusive mode, before any row changes.
 */
Datum
ticketdesk_reference_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		elog(ERROR, "ticketdesk: reference_guard must fire BEFORE, FOR EACH STATEMENT");
	take_guard(ExclusiveLock);
	return PointerGetDatum(NULL);
}

/* An agent's guard, in the given mode, until the transaction ends. */
static void
take_agent_guard(int64 agent_id, LOCKMODE mode)
{
	take_lock((uint64) agent_id, AGENT_GUARD_CLASS, mode);
}

/* An opening's or a change's side: share mode. */
void
agent_guard_share(int64 agent_id)
{
	take_agent_guard(agent_id, ShareLock);
}

/*
 * agent_guard(): BEFORE DELETE OR UPDATE OF the key ON agent, FOR EACH
 * ROW: the agent's guard in exclusive mode, before her row changes.
 */
Datum
ticketdesk_agent_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		isnull;
	Datum		agent_id;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "ticketdesk: agent_guard must fire BEFORE DELETE OR UPDATE, FOR EACH ROW");
	agent_id = heap_getattr(trigdata->tg_trigtuple,
							get_attnum(RelationGetRelid(trigdata->tg_relation), "agent_id"),
							RelationGetDescr(trigdata->tg_relation), &isnull);
	if (!isnull)
		take_agent_guard(DatumGetInt64(agent_id), ExclusiveLock);
	return PointerGetDatum(TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ?
						   trigdata->tg_trigtuple : trigdata->tg_newtuple);
}
