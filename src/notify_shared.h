/*
 * notify_shared.h
 *		The shared state of the notification launcher and workers: one slot
 *		per worker, a database having ticketdesk.notify_workers of them. It
 *		holds pids and process numbers only.
 */
#ifndef NOTIFY_SHARED_H
#define NOTIFY_SHARED_H

#include "storage/spin.h"

#define NOTIFY_MAX_SLOTS 128

typedef struct NotifyDb
{
	Oid			dboid;			/* InvalidOid: a free slot */
	int			index;			/* which of the database's workers */
	pid_t		pid;			/* the worker, 0 when none runs */
	int			procno;			/* its PGPROC number, for its latch */
	bool		serving;		/* it found the extension: restart it if it fails */
	bool		stopping;		/* DROP DATABASE asked it to stop: do not restart */
	uint64		wakes;			/* commits that woke the database's workers */
	uint64		batches;
	uint64		delivered;
	uint64		failed;
} NotifyDb;

typedef struct NotifyShared
{
	slock_t		mutex;
	pid_t		launcher_pid;
	int			launcher_procno;
	bool		rescan;			/* a CREATE EXTENSION committed: look for databases */
	NotifyDb	dbs[NOTIFY_MAX_SLOTS];
} NotifyShared;

extern NotifyShared *notify_shared;

/* A worker's slot, for workers other than the notify workers (worker.c). */
extern NotifyDb *notify_claim_slot(Oid dboid, int index);

/* A worker's short transaction with a conditional lock on one table (worker.c). */
typedef enum TxnResult
{
	TXN_DONE,
	TXN_LOCKED,					/* the table is locked (DROP, TRUNCATE): try again shortly */
	TXN_NO_EXTENSION
} TxnResult;

extern TxnResult worker_begin_txn(const char *activity, const char *relname);
extern void worker_end_txn(void);

#endif							/* NOTIFY_SHARED_H */
