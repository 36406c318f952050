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
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"

#include "opening.h"

PG_FUNCTION_INFO_V1(ticketdesk_reference_guard);

/* The fourth field of the guard's lock tag: "td" */
#define REFERENCE_GUARD_CLASS 0x7464

/* The tables whose rows the guard stands for: openings do not lock them. */
const char *const guarded_references[] = {"ticket_type", "center", "category", NULL};

static void
take_guard(LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 0, REFERENCE_GUARD_CLASS);
	(void) LockAcquire(&tag, mode, false, false);
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
