/*
 * launcher.c
 *		The notification launcher: shared state, waking on commit, and one
 *		delivery worker per database that has the extension.
 *
 * The launcher connects to no database. It lists the databases and starts
 * ticketdesk.notify_workers workers in each; they claim their batches
 * independently (SKIP LOCKED). A worker that finds no extension there exits and is not
 * started again until a CREATE EXTENSION commits somewhere (that commit asks
 * for a new scan). A worker that fails is started again after a pause. Before
 * DROP DATABASE the worker of that database is stopped, so it never blocks
 * the drop.
 *
 * A transaction that queues messages sets its database worker's latch when
 * it commits, through a transaction callback: a rolled-back transaction
 * wakes nobody. Shared memory holds process numbers and pids, never pointers.
 */
#include "postgres.h"

#include <signal.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "mailpoll.h"
#include "notify.h"
#include "notify_shared.h"

PG_FUNCTION_INFO_V1(ticketdesk_notify_wake);
PG_FUNCTION_INFO_V1(ticketdesk_notify_start_workers);
PG_FUNCTION_INFO_V1(ticketdesk_notify_worker_status);

PGDLLEXPORT void notify_launcher_main(Datum arg);

NotifyShared *notify_shared = NULL;

static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static ProcessUtility_hook_type prev_utility = NULL;

/* Pause before a failed worker is started again. */
#define RESTART_DELAY_MS 5000

/* notify_shmem_request asks for the shared state (shmem_request_hook). */
static void
notify_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(sizeof(NotifyShared));
}

/* notify_startup creates or attaches the shared state (shmem_startup_hook). */
static void
notify_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	notify_shared = ShmemInitStruct("ticketdesk notify", sizeof(NotifyShared), &found);
	if (!found)
	{
		memset(notify_shared, 0, sizeof(NotifyShared));
		SpinLockInit(&notify_shared->mutex);
		notify_shared->launcher_procno = -1;
		for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
			notify_shared->dbs[i].procno = -1;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Stop the workers of a database and wait (5 s at most) until they are gone. */
static void
notify_stop_db_worker(Oid dboid)
{
	SpinLockAcquire(&notify_shared->mutex);
	for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
		if (notify_shared->dbs[i].dboid == dboid)
		{
			notify_shared->dbs[i].stopping = true;
			if (notify_shared->dbs[i].pid != 0)
				kill(notify_shared->dbs[i].pid, SIGTERM);
		}
	SpinLockRelease(&notify_shared->mutex);
	for (int waited = 0; waited < 5000; waited += 10)
	{
		bool		gone = true;

		SpinLockAcquire(&notify_shared->mutex);
		for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
			if (notify_shared->dbs[i].dboid == dboid && notify_shared->dbs[i].pid != 0)
				gone = false;
		SpinLockRelease(&notify_shared->mutex);
		if (gone)
			return;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000);
	}
}

/* Before DROP DATABASE, stop that database's workers. */
static void
notify_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			   ProcessUtilityContext context, ParamListInfo params,
			   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (IsA(pstmt->utilityStmt, DropdbStmt))
	{
		Oid			dboid = get_database_oid(((DropdbStmt *) pstmt->utilityStmt)->dbname, true);

		if (OidIsValid(dboid))
			notify_stop_db_worker(dboid);
	}
	if (prev_utility)
		prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/* notify_install_hooks hooks shared memory and DROP DATABASE (preload only). */
void
notify_install_hooks(void)
{
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = notify_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = notify_startup;
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = notify_utility;
}

/* notify_register_launcher registers the launcher with the postmaster. */
void
notify_register_launcher(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "ticketdesk");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "notify_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "ticketdesk notify launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "ticketdesk notify launcher");
	RegisterBackgroundWorker(&bgw);
}

/* --- waking on commit ---------------------------------------------------- */

static bool wake_worker_at_commit = false;
static bool wake_launcher_at_commit = false;
static bool xact_callback_registered = false;

static void
set_proc_latch(int procno)
{
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/* Set the latches of this database's workers; without any, ask for a scan. */
static void
wake_db_worker(void)
{
	int			procnos[NOTIFY_MAX_SLOTS];
	int			n = 0;
	bool		counted = false;

	SpinLockAcquire(&notify_shared->mutex);
	for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
	{
		NotifyDb   *db = &notify_shared->dbs[i];

		/* The mail worker has a wake of its own (mail_poll_wake). */
		if (db->dboid == MyDatabaseId && db->pid != 0 && db->index != MAIL_WORKER_INDEX)
		{
			procnos[n++] = db->procno;
			if (db->index == 0)
			{
				db->wakes++;
				counted = true;
			}
		}
	}
	if (!counted)
		notify_shared->rescan = true;
	SpinLockRelease(&notify_shared->mutex);
	for (int i = 0; i < n; i++)
		set_proc_latch(procnos[i]);
	if (!counted)
		set_proc_latch(notify_shared->launcher_procno);
}

static void
notify_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_worker_at_commit)
				wake_db_worker();
			if (wake_launcher_at_commit)
			{
				SpinLockAcquire(&notify_shared->mutex);
				notify_shared->rescan = true;
				SpinLockRelease(&notify_shared->mutex);
				set_proc_latch(notify_shared->launcher_procno);
			}
			wake_worker_at_commit = wake_launcher_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* Rolled back, or left to the poll after COMMIT PREPARED. */
			wake_worker_at_commit = wake_launcher_at_commit = false;
			break;
		default:
			break;
	}
}

static void
register_xact_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(notify_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

/*
 * ticketdesk_notify_wake asks for this database's worker to be woken when
 * the current transaction commits. Without the preloaded library (no
 * worker) it does nothing.
 */
Datum
ticketdesk_notify_wake(PG_FUNCTION_ARGS)
{
	if (notify_shared != NULL && !wake_worker_at_commit)
	{
		register_xact_callback();
		wake_worker_at_commit = true;
	}
	PG_RETURN_VOID();
}

/* ticketdesk_notify_start_workers asks the launcher for a scan at commit. */
Datum
ticketdesk_notify_start_workers(PG_FUNCTION_ARGS)
{
	if (notify_shared != NULL)
	{
		register_xact_callback();
		wake_launcher_at_commit = true;
	}
	PG_RETURN_VOID();
}

/*
 * ticketdesk_notify_worker_status returns this database's workers: the pid
 * of the first (NULL when none runs), the commits that woke them, and the
 * batches claimed and the messages delivered and failed since they started.
 */
Datum
ticketdesk_notify_worker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6] = {0};
	bool		nulls[6] = {true, false, false, false, false, false};
	int64		sums[5] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "notify_worker_status must return a record");
	if (notify_shared != NULL)
	{
		SpinLockAcquire(&notify_shared->mutex);
		for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
		{
			NotifyDb   *db = &notify_shared->dbs[i];

			if (db->dboid != MyDatabaseId || db->index == MAIL_WORKER_INDEX)
				continue;
			if (db->pid != 0 && db->index == 0)
			{
				values[0] = Int32GetDatum(db->pid);
				nulls[0] = false;
			}
			sums[0] += db->pid != 0 ? 1 : 0;
			sums[1] += db->wakes;
			sums[2] += db->batches;
			sums[3] += db->delivered;
			sums[4] += db->failed;
		}
		SpinLockRelease(&notify_shared->mutex);
	}
	for (int i = 0; i < 5; i++)
		values[i + 1] = Int64GetDatum(sums[i]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* --- the launcher -------------------------------------------------------- */

typedef struct LauncherEntry
{
	Oid			dboid;
	int			index;
	BackgroundWorkerHandle *handle;
	TimestampTz restart_at;		/* 0: running or not to be restarted */
} LauncherEntry;

static LauncherEntry entries[NOTIFY_MAX_SLOTS];

/* The databases that accept connections and are not templates. */
static List *
list_databases(void)
{
	List	   *result = NIL;
	MemoryContext outer = CurrentMemoryContext;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		if (!db->datallowconn || db->datistemplate || db->datconnlimit == -2)
			continue;
		old = MemoryContextSwitchTo(outer);
		result = lappend_oid(result, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

static LauncherEntry *
entry_for(Oid dboid, int index, bool create)
{
	LauncherEntry *free_entry = NULL;

	for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
	{
		if (entries[i].dboid == dboid && entries[i].index == index)
			return &entries[i];
		if (free_entry == NULL && entries[i].dboid == InvalidOid)
			free_entry = &entries[i];
	}
	if (create && free_entry != NULL)
	{
		free_entry->dboid = dboid;
		free_entry->index = index;
		free_entry->handle = NULL;
		free_entry->restart_at = 0;
		return free_entry;
	}
	return NULL;
}

static void
start_worker(LauncherEntry *e)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "ticketdesk");
	if (e->index == MAIL_WORKER_INDEX)
	{
		snprintf(bgw.bgw_function_name, BGW_MAXLEN, "mail_worker_main");
		snprintf(bgw.bgw_name, BGW_MAXLEN, "ticketdesk mail worker %u", e->dboid);
		snprintf(bgw.bgw_type, BGW_MAXLEN, "ticketdesk mail worker");
	}
	else
	{
		snprintf(bgw.bgw_function_name, BGW_MAXLEN, "notify_worker_main");
		snprintf(bgw.bgw_name, BGW_MAXLEN, "ticketdesk notify worker %u/%d", e->dboid, e->index);
		snprintf(bgw.bgw_type, BGW_MAXLEN, "ticketdesk notify worker");
	}
	bgw.bgw_main_arg = ObjectIdGetDatum(e->dboid);
	memcpy(bgw.bgw_extra, &e->index, sizeof(int));
	bgw.bgw_notify_pid = MyProcPid;
	e->restart_at = 0;
	if (!RegisterDynamicBackgroundWorker(&bgw, &e->handle))
	{
		ereport(WARNING,
				(errmsg("ticketdesk could not start a notify worker for database %u", e->dboid),
				 errhint("Raise max_worker_processes.")));
		e->handle = NULL;
		e->restart_at = GetCurrentTimestamp() + RESTART_DELAY_MS * 1000L;
	}
}

/* The shared slot's view of a database: still serving, or being dropped. */
static void
slot_state(Oid dboid, int index, bool *serving, bool *stopping)
{
	*serving = *stopping = false;
	SpinLockAcquire(&notify_shared->mutex);
	for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
		if (notify_shared->dbs[i].dboid == dboid && notify_shared->dbs[i].index == index)
		{
			*serving = notify_shared->dbs[i].serving;
			*stopping = notify_shared->dbs[i].stopping;
			if (*stopping && notify_shared->dbs[i].pid == 0)
				notify_shared->dbs[i].dboid = InvalidOid;
		}
	SpinLockRelease(&notify_shared->mutex);
}

/* Forget stopped workers; plan a restart for those that still serve. */
static void
reap_workers(TimestampTz now)
{
	for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
	{
		LauncherEntry *e = &entries[i];
		pid_t		pid;
		bool		serving,
					stopping;

		if (e->dboid == InvalidOid || e->handle == NULL)
			continue;
		if (GetBackgroundWorkerPid(e->handle, &pid) != BGWH_STOPPED)
			continue;
		pfree(e->handle);
		e->handle = NULL;
		slot_state(e->dboid, e->index, &serving, &stopping);
		if (serving && !stopping)
			e->restart_at = now + RESTART_DELAY_MS * 1000L;
		else
			e->dboid = InvalidOid;
	}
}

/* notify_launcher_main is the launcher's entry point. */
void
notify_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("ticketdesk notify launcher");

	SpinLockAcquire(&notify_shared->mutex);
	notify_shared->launcher_pid = MyProcPid;
	notify_shared->launcher_procno = MyProc->pgprocno;
	notify_shared->rescan = true;
	SpinLockRelease(&notify_shared->mutex);

	while (!ShutdownRequestPending)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		timeout = 60000;
		bool		rescan;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		reap_workers(now);

		SpinLockAcquire(&notify_shared->mutex);
		rescan = notify_shared->rescan;
		notify_shared->rescan = false;
		SpinLockRelease(&notify_shared->mutex);
		if (rescan)
		{
			List	   *dbs = list_databases();
			ListCell   *lc;

			foreach(lc, dbs)
			{
				for (int k = 0; k < notify_workers; k++)
				{
					LauncherEntry *e = entry_for(lfirst_oid(lc), k, true);

					if (e != NULL && e->handle == NULL)
						start_worker(e);
				}
				/* And the database's mail worker (mailpoll.c). */
				if (mail_poll_enabled)
				{
					LauncherEntry *e = entry_for(lfirst_oid(lc), MAIL_WORKER_INDEX, true);

					if (e != NULL && e->handle == NULL)
						start_worker(e);
				}
			}
			list_free(dbs);
		}

		/* Restart failed workers whose pause is over. */
		for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
		{
			LauncherEntry *e = &entries[i];

			if (e->dboid == InvalidOid || e->handle != NULL || e->restart_at == 0)
				continue;
			if (e->restart_at <= now)
				start_worker(e);
			else
				timeout = Min(timeout, (e->restart_at - now) / 1000 + 1);
		}

		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}
