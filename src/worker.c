/*
 * worker.c
 *		A delivery worker of one database: claims due outbox rows in a
 *		short transaction, delivers them with no transaction open, records
 *		the results in another short transaction, and sleeps until a commit
 *		wakes it, the next retry is due, or the fallback poll comes round.
 *
 * Every lock it takes is conditional, so DROP EXTENSION and TRUNCATE never
 * wait for it: when the outbox is locked it simply tries again shortly. It
 * runs on a primary only, and reports what it does in pg_stat_activity.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "jobs.h"
#include "notify.h"
#include "utils/jsonb.h"
#include "notify_shared.h"
#include "secret.h"
#include "ticketdesk.h"

PGDLLEXPORT void notify_worker_main(Datum arg);

static NotifyDb *my_slot = NULL;
static MemoryContext batch_cxt = NULL;

static void record_results(DeliveryItem *items, int n);

/*
 * Results whose row another transaction held locked when they were to be
 * recorded (record.c waits for no row lock): copied out of the batch's
 * memory, and tried again by each of the worker's transactions that
 * records, until their rows are free.
 */
static MemoryContext carried_cxt = NULL;
static DeliveryItem *carried = NULL;
static int	ncarried = 0;

/* The credentials of the batch's tenants (in batch_cxt). */
static DeliverySecrets *batch_secrets = NULL;
static int	batch_secrets_n = 0;

/* The worker's statement, prepared once per process (saved_plan). */
static SPIPlanPtr next_due_plan = NULL;

/* Take this worker's slot; false when another process already has it. */
static bool
claim_slot(Oid dboid, int index)
{
	NotifyDb   *free_slot = NULL;
	bool		ok = true;

	SpinLockAcquire(&notify_shared->mutex);
	for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
	{
		NotifyDb   *db = &notify_shared->dbs[i];

		if (db->dboid == dboid && db->index == index)
		{
			my_slot = db;
			if (db->pid != 0 && db->pid != MyProcPid && kill(db->pid, 0) == 0)
				ok = false;
			break;
		}
		if (free_slot == NULL && db->dboid == InvalidOid)
			free_slot = db;
	}
	if (my_slot == NULL && free_slot != NULL)
	{
		my_slot = free_slot;
		memset(my_slot, 0, sizeof(NotifyDb));
		my_slot->dboid = dboid;
		my_slot->index = index;
	}
	if (my_slot != NULL && ok)
	{
		my_slot->pid = MyProcPid;
		my_slot->procno = MyProc->pgprocno;
		my_slot->stopping = false;
	}
	else
		ok = false;
	SpinLockRelease(&notify_shared->mutex);
	return ok;
}

/* On exit, leave the slot; give it up entirely when there is nothing to serve. */
static void
release_slot(int code, Datum arg)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&notify_shared->mutex);
	if (my_slot->pid == MyProcPid)
	{
		my_slot->pid = 0;
		my_slot->procno = -1;
		if (!my_slot->serving)
			my_slot->dboid = InvalidOid;
	}
	SpinLockRelease(&notify_shared->mutex);
}

/*
 * notify_claim_slot takes a slot for another kind of worker (the mail
 * worker, mailpoll.c) and leaves it at exit; NULL when another process has it.
 */
NotifyDb *
notify_claim_slot(Oid dboid, int index)
{
	if (!claim_slot(dboid, index))
		return NULL;
	before_shmem_exit(release_slot, (Datum) 0);
	return my_slot;
}

/*
 * worker_begin_txn opens a short transaction and locks table relname of the
 * extension without waiting. On TXN_DONE the caller runs its SQL; it calls
 * worker_end_txn in every case. The mail worker (mailpoll.c) uses it too.
 */
TxnResult
worker_begin_txn(const char *activity, const char *relname)
{
	Oid			nsp;
	Oid			relid;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);

	nsp = get_namespace_oid("ticketdesk", true);
	relid = OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
	if (!OidIsValid(get_extension_oid("ticketdesk", true)) || !OidIsValid(relid))
		return TXN_NO_EXTENSION;
	if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
		return TXN_LOCKED;
	/* Locked now: a DROP that committed meanwhile shows here. */
	if (!OidIsValid(get_relname_relid(relname, nsp)))
		return TXN_NO_EXTENSION;
	return TXN_DONE;
}

/* worker_end_txn commits what worker_begin_txn opened. */
void
worker_end_txn(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* The delivery worker's transactions lock the outbox. */
static TxnResult
begin_txn(const char *activity)
{
	return worker_begin_txn(activity, "outbox");
}

/*
 * Lock without waiting the tables the claim renders from (outbox_message),
 * so that a DROP EXTENSION or TRUNCATE holding one of them is never made
 * to wait for the worker; false when one is locked.
 */
static bool
lock_render_tables(void)
{
	static const char *const tables[] = {"ticket", "agent", "contact", "customer", "center",
	"notify_template", "secret"};
	Oid			nsp = get_namespace_oid("ticketdesk", false);

	for (int i = 0; i < lengthof(tables); i++)
	{
		Oid			relid = get_relname_relid(tables[i], nsp);

		if (OidIsValid(relid) && !ConditionalLockRelationOid(relid, AccessShareLock))
			return false;
	}
	return true;
}

/* The channels whose destination is configured, into names (3 at most); how many. */
static int
configured_channels(const char **names)
{
	int			n = 0;

	if (notify_smtp_url[0] != '\0')
		names[n++] = "email";
	if (notify_sms_url[0] != '\0')
		names[n++] = "sms";
	if (notify_webhook_url[0] != '\0')
		names[n++] = "webhook";
	return n;
}

/* The channels as a text[] value. */
static Datum
channels_array(const char **names, int n)
{
	Datum		ch[3];

	for (int i = 0; i < n; i++)
		ch[i] = CStringGetTextDatum(names[i]);
	return PointerGetDatum(construct_array(ch, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* The columns of the placeholders' values, in RenderInput.values order. */
static const int claim_value_columns[RENDER_NVALUES] = {
	19, 20, 21, 22, 23, 24, 25, 26,		/* reference ... requester */
	CLAIM_RECIPIENT_NAME, 27, 28, 29,	/* recipient, link, deadline, resolution */
	CLAIM_NOTE
};

/* A text column's value in the memory current (the batch's), or NULL. */
static char *
column_text(const Datum *values, const bool *nulls, int col)
{
	return nulls[col - 1] ? NULL : TextDatumGetCString(values[col - 1]);
}

/*
 * The mail of a claimed item as outbox_mail(outbox_message) makes it, in
 * the batch's memory; NULL when it has no text (no template fits). Composed
 * here from the claim's columns: outbox_mail in the claim's statement made
 * a composite of the whole rendered row for every mail and read it back
 * column by column.
 */
static char *
compose_mail(DeliveryItem *item, const char *recipient_name, const char *thread)
{
	MemoryContext old;
	StringInfoData out;

	if (item->subject == NULL || item->body_text == NULL)
		return NULL;
	old = MemoryContextSwitchTo(batch_cxt);
	initStringInfo(&out);
	mail_compose(&out, item->sender, recipient_name, item->recipient, item->subject, thread,
				 item->key, item->language, item->body_text, item->body_html);
	MemoryContextSwitchTo(old);
	return out.data;
}

/* A secret of the tenant, else the setting's file (NULL: unreadable), in batch_cxt. */
static char *
tenant_secret(int32 tenant_id, const char *name, const char *file)
{
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);
	char	   *value = secret_lookup(tenant_id, name);

	if (value == NULL)
		value = file != NULL ? notify_read_secret(file) : pstrdup("");
	MemoryContextSwitchTo(old);
	return value;
}

/*
 * Give each item its tenant's credentials: the tenant's secrets
 * (smtp.password, sms.token, webhook.token), else the files named by
 * ticketdesk.smtp_password_file and ticketdesk.sms_token_file. Read in the
 * claim's transaction, once per tenant of the batch.
 */
static void
load_secrets(DeliveryItem *items, int n)
{
	batch_secrets = MemoryContextAllocZero(batch_cxt, sizeof(DeliverySecrets) * Max(n, 1));
	batch_secrets_n = 0;
	for (int i = 0; i < n; i++)
	{
		DeliverySecrets *sec = NULL;

		for (int j = 0; j < batch_secrets_n && sec == NULL; j++)
			if (batch_secrets[j].tenant_id == items[i].tenant_id)
				sec = &batch_secrets[j];
		if (sec == NULL)
		{
			sec = &batch_secrets[batch_secrets_n++];
			sec->tenant_id = items[i].tenant_id;
			sec->smtp_password = tenant_secret(sec->tenant_id, "smtp.password", notify_smtp_password_file);
			sec->sms_token = tenant_secret(sec->tenant_id, "sms.token", notify_sms_token_file);
			sec->webhook_token = tenant_secret(sec->tenant_id, "webhook.token", NULL);
		}
		items[i].secrets = sec;
	}
}

/* Wipe the batch's credentials from memory once delivery is over. */
static void
wipe_secrets(void)
{
	for (int j = 0; j < batch_secrets_n; j++)
	{
		char	   *v[3] = {batch_secrets[j].smtp_password, batch_secrets[j].sms_token,
		batch_secrets[j].webhook_token};

		for (int k = 0; k < 3; k++)
			if (v[k] != NULL)
				explicit_bzero(v[k], strlen(v[k]));
	}
	batch_secrets_n = 0;
}

/*
 * Claim a batch: due rows of the configured channels, each rendered from
 * its template (outbox_message) and composed for sending in the claim's
 * statement. The same transaction first records the results of the batch
 * delivered before (done), so one transaction per batch does both.
 * *next_due_ms says when the next row not claimed now falls due. TXN_DONE
 * means done is recorded (or has no table left to go to).
 */
static TxnResult
claim_batch(DeliveryItem **items, int *n, long *next_due_ms, DeliveryItem *done, int ndone)
{
	Oid			types[1] = {TEXTARRAYOID};
	Datum		args[1];
	const char *channel_names[3];
	int			channels;
	TxnResult	r;
	ClaimedRow *claimed;
	int			nclaimed;
	TimestampTz leased_until;
	MemoryContext old;

	*n = 0;
	*next_due_ms = notify_poll_interval_ms;
	r = begin_txn("ticketdesk notify: claiming due messages");
	if (r != TXN_DONE)
	{
		worker_end_txn();
		return r;
	}
	channels = configured_channels(channel_names);
	if (channels > 0 && !lock_render_tables())
	{
		worker_end_txn();
		return TXN_LOCKED;
	}
	/* The results of the batch delivered last, in the same transaction. */
	if (ndone > 0 || ncarried > 0)
		record_results(done, ndone);
	/* Nothing can be sent: the rows stay queued, and nothing is read. */
	if (channels == 0)
	{
		worker_end_txn();
		return TXN_DONE;
	}
	pgstat_report_activity(STATE_RUNNING, "ticketdesk notify: claiming due messages");

	/* The claim (claim.c), its rows in the batch's memory. */
	MemoryContextReset(batch_cxt);
	render_batch_begin(batch_cxt);
	leased_until = GetCurrentTransactionStartTimestamp() + (int64) notify_lease_ms * 1000;
	nclaimed = claim_due(notify_batch_size, leased_until, channel_names, channels, batch_cxt, &claimed);
	*items = MemoryContextAllocZero(batch_cxt, sizeof(DeliveryItem) * Max(nclaimed, 1));
	old = MemoryContextSwitchTo(batch_cxt);
	for (int i = 0; i < nclaimed; i++)
	{
		DeliveryItem *item = &(*items)[i];
		Datum	   *values = claimed[i].values;
		bool	   *nulls = claimed[i].nulls;
		char	   *channel;
		char	   *recipient_name;
		char	   *thread;

		channel = column_text(values, nulls, CLAIM_CHANNEL);
		recipient_name = column_text(values, nulls, CLAIM_RECIPIENT_NAME);
		thread = column_text(values, nulls, CLAIM_THREAD);
		item->tenant_id = DatumGetInt32(values[CLAIM_TENANT - 1]);
		item->outbox_id = DatumGetInt64(values[CLAIM_ID - 1]);
		item->tid = claimed[i].tid;
		item->leased_until = leased_until;
		item->channel = channel[0];
		item->recipient = column_text(values, nulls, CLAIM_RECIPIENT);
		item->key = DatumGetCString(DirectFunctionCall1(uuid_out, values[CLAIM_KEY - 1]));
		item->event = column_text(values, nulls, CLAIM_EVENT);
		item->body_text = column_text(values, nulls, CLAIM_BODY_TEXT);
		if (item->body_text != NULL)
		{
			/* Tried before: the text stored with the first attempt. */
			item->language = column_text(values, nulls, CLAIM_LANGUAGE);
			item->sender = column_text(values, nulls, CLAIM_SENDER);
			item->subject = column_text(values, nulls, CLAIM_SUBJECT);
			item->body_html = column_text(values, nulls, CLAIM_BODY_HTML);
			/* A mail has no JSON body; an HTTP channel's is what it sends (detoasted by the claim). */
			item->payload = nulls[CLAIM_PAYLOAD - 1] ? (Datum) 0 : values[CLAIM_PAYLOAD - 1];
			if (item->channel != 'e' && item->payload != (Datum) 0)
				item->data = JsonbToCString(NULL, &((Jsonb *) DatumGetPointer(item->payload))->root,
											VARSIZE(DatumGetPointer(item->payload)));
		}
		else
		{
			RenderInput in = {0};

			in.tenant_id = item->tenant_id;
			in.event = item->event;
			in.channel = channel;
			in.language = column_text(values, nulls, CLAIM_LANGUAGE);
			in.recipient = item->recipient;
			in.thread = thread;
			in.sender_name = column_text(values, nulls, CLAIM_SENDER);
			in.has_agent = !nulls[CLAIM_AGENT - 1];
			in.vars = nulls[CLAIM_VARS - 1] ? NULL : DatumGetPointer(values[CLAIM_VARS - 1]);
			in.found = !nulls[CLAIM_FOUND - 1];
			for (int v = 0; v < RENDER_NVALUES; v++)
				in.values[v] = column_text(values, nulls, claim_value_columns[v]);
			render_message(&in, item);
		}
		if (item->channel == 'e')
			item->data = compose_mail(item, recipient_name, thread);
		if (item->data == NULL)
		{
			/*
			 * No template of the event fits: final, the row is dead, and
			 * keeps no text (a body without a subject is no mail).
			 */
			item->done = true;
			item->permanent = true;
			item->subject = item->body_text = item->body_html = NULL;
			item->payload = (Datum) 0;
			item->error = psprintf("no template for event \"%s\" in \"%s\" or in English",
								   item->event, item->language);
			continue;
		}
		item->len = strlen(item->data);
	}
	MemoryContextSwitchTo(old);
	*n = nclaimed;
	load_secrets(*items, *n);

	/* When the next row not claimed now falls due. */
	if (next_due_plan == NULL)
		next_due_plan = saved_plan("SELECT ceil(extract(epoch FROM min(next_attempt_at) - clock_timestamp()) * 1000)::bigint"
								   "  FROM ticketdesk.outbox"
								   " WHERE next_attempt_at > now() AND status = 'queued' AND channel = ANY ($1)",
								   1, types);
	args[0] = channels_array(channel_names, channels);
	if (SPI_execute_plan(next_due_plan, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			*next_due_ms = Max(0, Min(DatumGetInt64(d), (int64) notify_poll_interval_ms));
	}
	worker_end_txn();
	return TXN_DONE;
}

static char *
copy_text(const char *s)
{
	return s == NULL ? NULL : pstrdup(s);
}

/* Copy into to (in the memory current) what recording item from needs. */
static void
carry_item(DeliveryItem *to, const DeliveryItem *from)
{
	memset(to, 0, sizeof(DeliveryItem));
	to->tenant_id = from->tenant_id;
	to->outbox_id = from->outbox_id;
	to->tid = from->tid;
	to->leased_until = from->leased_until;
	to->channel = from->channel;
	to->done = true;
	to->ok = from->ok;
	to->permanent = from->permanent;
	to->error = copy_text(from->error);
	to->language = copy_text(from->language);
	to->sender = copy_text(from->sender);
	to->subject = copy_text(from->subject);
	to->body_text = copy_text(from->body_text);
	to->body_html = copy_text(from->body_html);
	to->payload = from->payload == (Datum) 0 ? (Datum) 0 : datumCopy(from->payload, false, -1);
}

/* Count the items of a list that were recorded (their row not locked). */
static void
count_recorded(const DeliveryItem *items, int n, int *ok, int *failed)
{
	for (int i = 0; i < n; i++)
		if (!items[i].row_locked)
			*(items[i].ok ? ok : failed) += 1;
}

/*
 * Record the results of a batch and the text sent, in the transaction open
 * (record.c: each row updated where the claim wrote it), after the results
 * carried from before, and count them; the ones whose row is locked are
 * carried on.
 */
static void
record_results(DeliveryItem *items, int n)
{
	int			ok = 0;
	int			failed = 0;
	int			still = 0;
	MemoryContext cxt;
	MemoryContext old;
	DeliveryItem *kept;

	pgstat_report_activity(STATE_RUNNING, "ticketdesk notify: recording results");
	if (ncarried > 0)
		(void) record_write(carried, ncarried);
	(void) record_write(items, n);
	count_recorded(carried, ncarried, &ok, &failed);
	count_recorded(items, n, &ok, &failed);
	still = ncarried + n - ok - failed;

	SpinLockAcquire(&notify_shared->mutex);
	my_slot->batches += n > 0 ? 1 : 0;
	my_slot->delivered += ok;
	my_slot->failed += failed;
	SpinLockRelease(&notify_shared->mutex);

	/* The carried list anew: what is still locked, of both lists. */
	cxt = NULL;
	kept = NULL;
	if (still > 0)
	{
		cxt = AllocSetContextCreate(TopMemoryContext, "ticketdesk notify carried results",
									ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(cxt);
		kept = palloc(sizeof(DeliveryItem) * still);
		still = 0;
		for (int i = 0; i < ncarried; i++)
			if (carried[i].row_locked)
				carry_item(&kept[still++], &carried[i]);
		for (int i = 0; i < n; i++)
			if (items[i].row_locked)
				carry_item(&kept[still++], &items[i]);
		MemoryContextSwitchTo(old);
	}
	if (carried_cxt != NULL)
		MemoryContextDelete(carried_cxt);
	carried_cxt = cxt;
	carried = kept;
	ncarried = still;
}

/* One try at recording the results of a batch in a transaction of its own. */
static TxnResult
record_once(DeliveryItem *items, int n)
{
	TxnResult	r = begin_txn("ticketdesk notify: recording results");

	if (r == TXN_DONE)
		record_results(items, n);
	worker_end_txn();
	return r;
}

/*
 * Record the results of a batch in a transaction of its own (when the
 * worker stops; otherwise the next claim records them); waits out a locked
 * outbox.
 */
static void
record_batch(DeliveryItem *items, int n)
{
	while (record_once(items, n) == TXN_LOCKED)
	{
		/* Locked by DROP EXTENSION or TRUNCATE: wait a moment, then look again. */
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
	}
}

/*
 * Record the last batch's results now, in a transaction of their own,
 * before SQL that a SIGTERM stops at once. One try: false when the outbox
 * is locked (the results stay pending, and that SQL waits for a later turn).
 */
static bool
record_pending(DeliveryItem *pending, int *npending)
{
	if (*npending == 0)
		return true;
	if (record_once(pending, *npending) == TXN_LOCKED)
		return false;
	*npending = 0;
	return true;
}

/*
 * SIGTERM. Delivery stops at once (transfers under way are aborted by
 * deliver_progress) and the worker records the results before it leaves.
 * Pruning and the time-driven jobs are SQL that can run long or wait for a
 * row lock that somebody holds; there the worker stops as a backend does
 * (ProcDiePending: the next CHECK_FOR_INTERRUPTS ends it with FATAL). The
 * worker enters that SQL only with the last batch's results recorded; what
 * the SQL did is rolled back. (Results kept because their row was locked,
 * record_results, are lost then, as at any exit.)
 */
static volatile sig_atomic_t stop_at_once = false;

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	ShutdownRequestPending = true;
	if (stop_at_once)
	{
		InterruptPending = true;
		ProcDiePending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * Enter (true) or leave (false) SQL that a SIGTERM stops at once. A SIGTERM
 * that came just before entering counts as well; one that came after the
 * SQL ended (or while an error of it was handled) goes back to the
 * ordinary way out, which records the results first.
 */
static void
stop_at_once_in(bool on)
{
	stop_at_once = on;
	if (on && ShutdownRequestPending)
	{
		InterruptPending = true;
		ProcDiePending = true;
	}
	if (!on)
		ProcDiePending = false;
}

/* Delete sent rows older than the retention setting. */
static void
prune_sent(void)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(notify_retention_min)};

	stop_at_once_in(true);
	if (begin_txn("ticketdesk notify: pruning sent messages") == TXN_DONE)
		SPI_execute_with_args("SELECT ticketdesk.outbox_prune($1 * interval '1 min')",
							  1, types, args, NULL, false, 0);
	worker_end_txn();
	stop_at_once_in(false);
}

/*
 * Run the time-driven jobs of every tenant (ticketdesk.jobs_interval). An
 * error is logged and rolled back; delivery goes on and the jobs are tried
 * again at the next interval.
 */
static void
run_jobs(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	stop_at_once_in(true);
	PG_TRY();
	{
		if (begin_txn("ticketdesk jobs: running the time-driven jobs") == TXN_DONE)
			SPI_execute("SELECT ticketdesk.run_jobs_all_tenants()", false, 0);
		worker_end_txn();
	}
	PG_CATCH();
	{
		stop_at_once_in(false);
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_END_TRY();
	stop_at_once_in(false);
}

/* notify_worker_main is the entry point of a database's delivery worker. */
void
notify_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	int			index;
	TimestampTz last_prune = 0;
	TimestampTz last_jobs = 0;
	DeliveryItem *pending = NULL;	/* delivered, results not recorded yet */
	int			npending = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("ticketdesk notify worker");

	memcpy(&index, MyBgworkerEntry->bgw_extra, sizeof(int));
	if (!claim_slot(dboid, index))
		proc_exit(0);
	before_shmem_exit(release_slot, (Datum) 0);
	batch_cxt = AllocSetContextCreate(TopMemoryContext, "ticketdesk notify batch",
									  ALLOCSET_DEFAULT_SIZES);
	deliver_init();

	while (!ShutdownRequestPending)
	{
		DeliveryItem *items = NULL;
		int			n = 0;
		long		wait_ms = notify_poll_interval_ms;
		TxnResult	r;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (RecoveryInProgress())
			r = TXN_LOCKED;		/* a standby sends nothing */
		else
			r = claim_batch(&items, &n, &wait_ms, pending, npending);
		if (r != TXN_LOCKED)
			npending = 0;

		if (r == TXN_NO_EXTENSION)
		{
			SpinLockAcquire(&notify_shared->mutex);
			my_slot->serving = false;
			SpinLockRelease(&notify_shared->mutex);
			break;
		}
		SpinLockAcquire(&notify_shared->mutex);
		my_slot->serving = true;
		SpinLockRelease(&notify_shared->mutex);
		if (r == TXN_LOCKED)
			wait_ms = Min(wait_ms, 200);

		if (n > 0)
		{
			char		activity[64];

			snprintf(activity, sizeof(activity), "ticketdesk notify: delivering %d messages", n);
			pgstat_report_activity(STATE_RUNNING, activity);
			deliver_batch(items, n);
			wipe_secrets();
			/* The next claim records the results, at once. */
			pending = items;
			npending = n;
			wait_ms = 0;
		}

		if (index == 0 && GetCurrentTimestamp() - last_prune > 60 * USECS_PER_SEC && r == TXN_DONE &&
			!ShutdownRequestPending && record_pending(pending, &npending))
		{
			prune_sent();
			last_prune = GetCurrentTimestamp();
		}

		/* The first worker of a database also runs the jobs on their cadence. */
		if (index == 0 && automation_jobs_interval_s > 0 && r == TXN_DONE)
		{
			int64		every = (int64) automation_jobs_interval_s * USECS_PER_SEC;

			if (GetCurrentTimestamp() - last_jobs >= every && !ShutdownRequestPending &&
				record_pending(pending, &npending))
			{
				run_jobs();
				last_jobs = GetCurrentTimestamp();
			}
			wait_ms = Min(wait_ms, (every - (GetCurrentTimestamp() - last_jobs)) / 1000 + 1);
		}

		if (wait_ms > 0 && !ShutdownRequestPending)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
	}
	/* Results not recorded yet (the last batch's, those kept): record them before leaving. */
	if (npending > 0 || ncarried > 0)
		record_batch(pending, npending);
	deliver_shutdown();
	proc_exit(0);
}
