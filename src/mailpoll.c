/*
 * mailpoll.c
 *		The mail worker of one database: polls the due IMAP mailboxes of every
 *		tenant with libcurl, by UID, and takes each mail in its own short
 *		transaction (mail_take moves the mailbox's last UID in that same
 *		transaction), then marks it \Seen or moves it.
 *
 * No transaction is open during network I/O. A poll goes:
 *   SELECT the folder (custom command: its answer tells the UIDVALIDITY);
 *   mark again the mails at or below last_uid (a crash may have come between
 *   a commit and the marking); UID SEARCH UID last_uid+1:*; then for each new
 *   UID in order: fetch it (URL ;UIDVALIDITY=v;UID=n: curl refuses when the
 *   folder's UIDVALIDITY is no longer v), mail_poll_take in a transaction,
 *   commit, mark it. An error ends the poll of that mailbox and goes to
 *   mail_mailbox.last_error; the other mailboxes are polled all the same.
 *
 * The worker is separate from the notification workers so that a slow or
 * unreachable IMAP server never holds up notifications, and the other way
 * round. The launcher starts it in slot MAIL_WORKER_INDEX of each database.
 * It runs on a primary only; SIGTERM aborts a transfer at once (curl's
 * progress callback); every lock it takes is conditional.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "mailpoll.h"
#include "notify.h"
#include "secret.h"
#include "ticketdesk.h"

PGDLLEXPORT void mail_worker_main(Datum arg);

PG_FUNCTION_INFO_V1(ticketdesk_mail_poll_wake);

bool		mail_poll_enabled = true;
int			mail_poll_timeout_ms = 60000;
int			mail_poll_batch = 500;

/* The longest sleep when no mailbox is due (a commit that changes one wakes us). */
#define MAIL_IDLE_MS 60000


/* One due mailbox, as mail_poll_due returns it. */
typedef struct MailBox
{
	int32		tenant_id;
	int64		mailbox_id;
	char	   *url;
	char	   *username;
	char	   *secret_name;
	char	   *password;		/* NULL: the secret is missing */
	bool		move;
	char	   *move_to;
	int64		uidvalidity;	/* 0: never polled */
	int64		last_uid;
} MailBox;

/* What a transfer writes: the response, capped at limit bytes. */
typedef struct MailBuffer
{
	StringInfoData data;
	size_t		limit;
	size_t		total;			/* bytes the server sent, kept or not */
} MailBuffer;

static NotifyDb *my_slot = NULL;
static MemoryContext poll_cxt = NULL;

/*
 * mailpoll_define_settings registers the poller's settings;
 * mailin_define_settings calls it.
 */
void
mailpoll_define_settings(void)
{
	DefineCustomIntVariable("ticketdesk.mail_poll_timeout",
							"Time limit of one IMAP command or mail fetch.",
							NULL, &mail_poll_timeout_ms, 60000, 1000, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ticketdesk.mail_poll_batch",
							"The most mails taken from one mailbox in one poll.",
							"The rest waits for the next poll, so one full mailbox does not starve the others.",
							&mail_poll_batch, 500, 1, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	/* A server-start setting can only be defined while preloading. */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomBoolVariable("ticketdesk.mail_poll",
								 "Run a mail worker in each database to poll the IMAP mailboxes.",
								 "Needs ticketdesk.notify_worker: the notification launcher starts it.",
								 &mail_poll_enabled, true, PGC_POSTMASTER, 0,
								 NULL, NULL, NULL);
}

/* --- waking on commit ---------------------------------------------------- */

static bool wake_at_commit = false;
static bool wake_callback_registered = false;

static void
mail_wake_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		int			procno = -1;

		if (wake_at_commit)
		{
			SpinLockAcquire(&notify_shared->mutex);
			for (int i = 0; i < NOTIFY_MAX_SLOTS; i++)
				if (notify_shared->dbs[i].dboid == MyDatabaseId &&
					notify_shared->dbs[i].index == MAIL_WORKER_INDEX &&
					notify_shared->dbs[i].pid != 0)
					procno = notify_shared->dbs[i].procno;
			SpinLockRelease(&notify_shared->mutex);
			if (procno >= 0)
				SetLatch(&ProcGlobal->allProcs[procno].procLatch);
		}
		wake_at_commit = false;
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_PREPARE)
		wake_at_commit = false;
}

/*
 * ticketdesk_mail_poll_wake asks for this database's mail worker to be woken
 * when the current transaction commits; without the preloaded library it
 * does nothing.
 */
Datum
ticketdesk_mail_poll_wake(PG_FUNCTION_ARGS)
{
	if (notify_shared != NULL)
	{
		if (!wake_callback_registered)
		{
			RegisterXactCallback(mail_wake_callback, NULL);
			wake_callback_registered = true;
		}
		wake_at_commit = true;
	}
	PG_RETURN_VOID();
}

/* --- short transactions (worker_begin_txn, worker.c) ----------------------- */

/* Set when the extension here is of a version without the poller. */
static bool mail_poller_missing = false;

/*
 * The mail worker's transactions lock mail_mailbox. With the library newer
 * than the extension (before ALTER EXTENSION UPDATE) the poller's functions
 * are missing: then nothing is done, and the worker looks again later.
 */
static TxnResult
mail_begin_txn(const char *activity)
{
	TxnResult	r = worker_begin_txn(activity, "mail_mailbox");

	mail_poller_missing = false;
	if (r == TXN_DONE &&
		!OidIsValid(LookupFuncName(list_make2(makeString("ticketdesk"), makeString("mail_poll_due")),
								   0, NULL, true)))
	{
		mail_poller_missing = true;
		r = TXN_LOCKED;
	}
	return r;
}

/*
 * Roll back after an ERROR caught in the worker and return its message
 * (in poll_cxt); the error goes to the server log too.
 */
static char *
mail_abort_txn(MemoryContext cxt)
{
	ErrorData  *edata;
	char	   *message;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
	message = MemoryContextStrdup(poll_cxt, edata->message ? edata->message : "unknown error");
	FreeErrorData(edata);
	return message;
}

static char *
mail_copy(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(poll_cxt, v) : NULL;
}

static int64
mail_int8(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * The due mailboxes, with their passwords read from the secrets; *n is
 * their number. Everything is in poll_cxt.
 */
static TxnResult
mail_due_boxes(MailBox **boxes, int *n)
{
	TxnResult	r;

	*n = 0;
	r = mail_begin_txn("ticketdesk mail: looking for due mailboxes");
	if (r == TXN_DONE)
	{
		if (SPI_execute("SELECT * FROM ticketdesk.mail_poll_due()", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "ticketdesk mail worker: mail_poll_due failed");
		*boxes = MemoryContextAllocZero(poll_cxt, sizeof(MailBox) * Max(SPI_processed, 1));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			SPITupleTable *tt = SPI_tuptable;
			HeapTuple	tup = tt->vals[i];
			MailBox    *box = &(*boxes)[i];
			bool		isnull;

			box->tenant_id = DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
			box->mailbox_id = mail_int8(tup, tt->tupdesc, 2);
			box->url = mail_copy(tup, tt->tupdesc, 3);
			box->username = mail_copy(tup, tt->tupdesc, 4);
			box->secret_name = mail_copy(tup, tt->tupdesc, 5);
			box->move = strcmp(SPI_getvalue(tup, tt->tupdesc, 6), "move") == 0;
			box->move_to = mail_copy(tup, tt->tupdesc, 7);
			box->uidvalidity = mail_int8(tup, tt->tupdesc, 8);
			box->last_uid = mail_int8(tup, tt->tupdesc, 9);
			(*n)++;
		}
		/* secret_lookup connects to SPI itself; the values go to poll_cxt. */
		for (int i = 0; i < *n; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(poll_cxt);

			(*boxes)[i].password = secret_lookup((*boxes)[i].tenant_id, (*boxes)[i].secret_name);
			MemoryContextSwitchTo(old);
		}
	}
	worker_end_txn();
	return r;
}

/* Milliseconds until the next poll is due, MAIL_IDLE_MS at most. */
static long
mail_next_due(void)
{
	long		wait_ms = MAIL_IDLE_MS;

	if (mail_begin_txn("ticketdesk mail: when is the next poll") == TXN_DONE &&
		SPI_execute("SELECT ticketdesk.mail_poll_next()", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			wait_ms = Min(DatumGetInt64(d), (int64) MAIL_IDLE_MS);
	}
	worker_end_txn();
	return wait_ms;
}

/*
 * Take one fetched mail in a transaction of its own. Returns NULL when it
 * committed, else the error (the transaction rolled back).
 */
static char *
mail_take_one(MailBox *box, int64 uidvalidity, int64 uid, const char *raw, size_t len)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *error = NULL;

	PG_TRY();
	{
		Oid			types[5] = {INT4OID, INT8OID, INT8OID, INT8OID, BYTEAOID};
		Datum		args[5];
		bytea	   *data = palloc(VARHDRSZ + len);
		TxnResult	r;

		SET_VARSIZE(data, VARHDRSZ + len);
		memcpy(VARDATA(data), raw, len);
		args[0] = Int32GetDatum(box->tenant_id);
		args[1] = Int64GetDatum(box->mailbox_id);
		args[2] = Int64GetDatum(uidvalidity);
		args[3] = Int64GetDatum(uid);
		args[4] = PointerGetDatum(data);
		r = mail_begin_txn("ticketdesk mail: taking in a mail");
		if (r == TXN_DONE)
		{
			if (SPI_execute_with_args("SELECT ticketdesk.mail_poll_take($1, $2, $3, $4, $5)",
									  5, types, args, NULL, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "ticketdesk mail worker: mail_poll_take failed");
		}
		else
			error = MemoryContextStrdup(poll_cxt, r == TXN_LOCKED
										? "the mailbox table is locked"
										: "the extension is gone");
		worker_end_txn();
		MemoryContextSwitchTo(cxt);
		pfree(data);
	}
	PG_CATCH();
	{
		error = mail_abort_txn(cxt);
	}
	PG_END_TRY();
	return error;
}

/* Record the end of a poll; an error is logged and forgotten. */
static void
mail_poll_done(MailBox *box, const char *error)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		Oid			types[3] = {INT4OID, INT8OID, TEXTOID};
		Datum		args[3];
		char		nulls[3] = {' ', ' ', error ? ' ' : 'n'};

		args[0] = Int32GetDatum(box->tenant_id);
		args[1] = Int64GetDatum(box->mailbox_id);
		args[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
		if (mail_begin_txn("ticketdesk mail: recording a poll") == TXN_DONE)
			SPI_execute_with_args("SELECT ticketdesk.mail_poll_done($1, $2, $3)",
								  3, types, args, nulls, false, 1);
		worker_end_txn();
		MemoryContextSwitchTo(cxt);
	}
	PG_CATCH();
	{
		(void) mail_abort_txn(cxt);
	}
	PG_END_TRY();
}

/* --- IMAP with libcurl ------------------------------------------------------ */

/* Abort a transfer at once when the worker is asked to stop. */
static int
mail_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return ShutdownRequestPending ? 1 : 0;
}

/* Keep what the server sends, up to the buffer's limit; count the rest. */
static size_t
mail_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	MailBuffer *buf = (MailBuffer *) arg;
	size_t		n = size * nmemb;

	if (buf->total < buf->limit)
		appendBinaryStringInfo(&buf->data, ptr, Min(n, buf->limit - buf->total));
	buf->total += n;
	return n;
}

/*
 * Run one IMAP request on h: url, and command as a custom request (NULL
 * for a fetch). Returns NULL or the error; the response is in buf.
 */
static char *
mail_imap(CURL *h, const char *url, const char *command, MailBuffer *buf, const char *errbuf)
{
	CURLcode	rc;

	resetStringInfo(&buf->data);
	buf->total = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, command);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		return NULL;
	if (ShutdownRequestPending)
		return psprintf("%s: interrupted by shutdown", command ? command : "fetch");
	return psprintf("%s: %s%s%s", command ? command : "fetch", curl_easy_strerror(rc),
					errbuf[0] ? ": " : "", errbuf);
}

/* The folder of an IMAP URL (the path after the host, decoded), as an IMAP quoted string. */
static char *
mail_folder(CURL *h, const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
	int			len;
	char	   *name = curl_easy_unescape(h, slash ? slash + 1 : "INBOX", 0, &len);
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoChar(&q, '"');
	for (int i = 0; i < len; i++)
	{
		/* Drop a trailing slash: imap://host/INBOX/ is INBOX. */
		if (name[i] == '/' && i == len - 1)
			break;
		if (name[i] == '"' || name[i] == '\\')
			appendStringInfoChar(&q, '\\');
		appendStringInfoChar(&q, name[i]);
	}
	appendStringInfoChar(&q, '"');
	curl_free(name);
	return q.data;
}

/* A folder name (move_to) as an IMAP quoted string. */
static char *
mail_quote(const char *name)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoChar(&q, '"');
	for (const char *p = name; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(&q, '\\');
		appendStringInfoChar(&q, *p);
	}
	appendStringInfoChar(&q, '"');
	return q.data;
}

/* Mark the mails of a UID set as taken: \Seen, or moved to move_to. */
static char *
mail_mark(CURL *h, MailBox *box, const char *uids, MailBuffer *buf, const char *errbuf)
{
	char	   *command = box->move
		? psprintf("UID MOVE %s %s", uids, mail_quote(box->move_to))
		: psprintf("UID STORE %s +FLAGS.SILENT (\\Seen)", uids);

	return mail_imap(h, box->url, command, buf, errbuf);
}

static int
mail_cmp_uid(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* The UIDs above `above` in the answers to UID SEARCH, sorted; *n their number. */
static int64 *
mail_search_result(const char *response, int64 above, int *n)
{
	int			cap = 64;
	int64	   *uids = palloc(sizeof(int64) * cap);
	const char *line = response;

	*n = 0;
	while ((line = strstr(line, "* SEARCH")) != NULL)
	{
		const char *p = line + 8;

		while (*p == ' ')
		{
			char	   *end;
			int64		uid = strtoll(p + 1, &end, 10);

			if (end == p + 1)
				break;
			/* n:* always names the last mail, even when its UID is below n. */
			if (uid > above)
			{
				if (*n == cap)
					uids = repalloc(uids, sizeof(int64) * (cap *= 2));
				uids[(*n)++] = uid;
			}
			p = end;
		}
		line = p;
	}
	qsort(uids, *n, sizeof(int64), mail_cmp_uid);
	return uids;
}

/*
 * Poll one mailbox; returns NULL or the error that ended the poll. Mails
 * taken before an error stay taken.
 */
static char *
mail_poll_box(MailBox *box)
{
	CURL	   *h;
	char		errbuf[CURL_ERROR_SIZE] = "";
	MailBuffer	buf;
	char	   *error = NULL;
	int64		uidvalidity;
	int64		above;
	int64	   *uids;
	int			n;
	const char *v;

	if (box->password == NULL)
		return psprintf("the secret %s does not exist: set it with set_secret('%s', …)",
						box->secret_name, box->secret_name);
	pgstat_report_activity(STATE_RUNNING,
							psprintf("ticketdesk mail: polling mailbox " INT64_FORMAT " of tenant %d",
									 box->mailbox_id, box->tenant_id));
	h = curl_easy_init();
	if (h == NULL)
		return pstrdup("could not create a curl handle");
	initStringInfo(&buf.data);
	buf.limit = MaxAllocSize - 1;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERNAME, box->username);
	curl_easy_setopt(h, CURLOPT_PASSWORD, box->password);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) mail_poll_timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) Min(mail_poll_timeout_ms, 10000));
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, mail_progress);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mail_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (notify_tls_ca_file[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, notify_tls_ca_file);

	/* The folder's UIDVALIDITY, from the answer to SELECT. */
	error = mail_imap(h, box->url, psprintf("SELECT %s", mail_folder(h, box->url)), &buf, errbuf);
	if (error == NULL)
	{
		v = strstr(buf.data.data, "[UIDVALIDITY ");
		uidvalidity = v ? strtoll(v + 13, NULL, 10) : 0;
		if (uidvalidity <= 0)
			error = pstrdup("the server named no UIDVALIDITY for the folder");
	}
	if (error != NULL)
		goto done;

	/*
	 * A new UIDVALIDITY: the folder was recreated and UIDs start again, so
	 * every mail in it is looked at; Message-IDs keep the ones taken before
	 * from being taken twice. Otherwise mark again what was taken (a crash
	 * may have come between a commit and its marking), then look above it.
	 */
	above = (uidvalidity == box->uidvalidity) ? box->last_uid : 0;
	if (above > 0)
		error = mail_mark(h, box, psprintf("1:" INT64_FORMAT, above), &buf, errbuf);
	if (error == NULL)
		error = mail_imap(h, box->url, psprintf("UID SEARCH UID " INT64_FORMAT ":*", above + 1), &buf, errbuf);
	if (error != NULL)
		goto done;
	uids = mail_search_result(buf.data.data, above, &n);

	/* Keep one byte over the limit: ingest_mail then records the mail as too large. */
	buf.limit = (size_t) ticketdesk_mail_max_kb * 1024 + 1;
	for (int i = 0; i < Min(n, mail_poll_batch) && !ShutdownRequestPending; i++)
	{
		char	   *url = psprintf("%s;UIDVALIDITY=" INT64_FORMAT ";UID=" INT64_FORMAT,
								   box->url, uidvalidity, uids[i]);
		char		activity[96];

		/* A trailing slash before ;UID would name a folder "INBOX/". */
		if (url[strlen(box->url) - 1] == '/')
			memmove(url + strlen(box->url) - 1, url + strlen(box->url), strlen(url) - strlen(box->url) + 1);
		snprintf(activity, sizeof(activity), "ticketdesk mail: fetching UID " INT64_FORMAT " of mailbox " INT64_FORMAT,
				 uids[i], box->mailbox_id);
		pgstat_report_activity(STATE_RUNNING, activity);
		error = mail_imap(h, url, NULL, &buf, errbuf);
		if (error == NULL && buf.total == 0)
			error = psprintf("UID " INT64_FORMAT ": the server sent no mail", uids[i]);
		if (error == NULL)
		{
			char	   *e = mail_take_one(box, uidvalidity, uids[i], buf.data.data, buf.data.len);

			if (e != NULL)
				error = psprintf("UID " INT64_FORMAT ": %s", uids[i], e);
		}
		if (error == NULL)
			error = mail_mark(h, box, psprintf(INT64_FORMAT, uids[i]), &buf, errbuf);
		pfree(url);
		if (error != NULL)
			break;
	}

done:
	pgstat_report_activity(STATE_IDLE, NULL);
	curl_easy_cleanup(h);
	return error;
}

/* Poll every due mailbox once; *wait_ms says when the next falls due. */
static TxnResult
mail_poll_round(long *wait_ms)
{
	MailBox    *boxes = NULL;
	int			n = 0;
	TxnResult	r;

	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextReset(poll_cxt);
	r = mail_due_boxes(&boxes, &n);
	if (r != TXN_DONE)
	{
		*wait_ms = mail_poller_missing ? MAIL_IDLE_MS : 200;
		return r;
	}
	/* Everything of the round lives in poll_cxt, reset at the next. */
	for (int i = 0; i < n && !ShutdownRequestPending; i++)
	{
		char	   *error;

		MemoryContextSwitchTo(poll_cxt);
		error = mail_poll_box(&boxes[i]);
		/* A shutdown in the middle says nothing about the mailbox. */
		if (!ShutdownRequestPending)
		{
			if (error != NULL)
				ereport(LOG,
						(errmsg("ticketdesk mail worker: polling mailbox " INT64_FORMAT " of tenant %d failed: %s",
								boxes[i].mailbox_id, boxes[i].tenant_id, error)));
			mail_poll_done(&boxes[i], error);
		}
		if (boxes[i].password != NULL)
			explicit_bzero(boxes[i].password, strlen(boxes[i].password));
	}
	*wait_ms = mail_next_due();
	/*
	 * Nothing was due a moment ago, yet "due now": a mailbox that fell due
	 * in between, or a database still at 0.8, whose mail_poll_next() said 0
	 * for "no mailbox enabled" and made this worker poll in a loop. A second
	 * is soon enough for the one and stops the loop of the other.
	 */
	if (n == 0 && *wait_ms == 0)
		*wait_ms = 1000;
	MemoryContextSwitchTo(TopMemoryContext);
	return TXN_DONE;
}

static void
mail_set_serving(bool serving)
{
	SpinLockAcquire(&notify_shared->mutex);
	my_slot->serving = serving;
	SpinLockRelease(&notify_shared->mutex);
}

/* mail_worker_main is the entry point of a database's mail worker. */
void
mail_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("ticketdesk mail worker");

	my_slot = notify_claim_slot(dboid, MAIL_WORKER_INDEX);
	if (my_slot == NULL)
		proc_exit(0);
	poll_cxt = AllocSetContextCreate(TopMemoryContext, "ticketdesk mail poll", ALLOCSET_DEFAULT_SIZES);
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl")));

	while (!ShutdownRequestPending)
	{
		long		wait_ms = 5000;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* A standby polls nothing: the mail waits for the primary. */
		if (!RecoveryInProgress())
		{
			TxnResult	r = mail_poll_round(&wait_ms);

			if (r == TXN_NO_EXTENSION)
			{
				mail_set_serving(false);
				break;
			}
			mail_set_serving(true);
		}
		if (wait_ms > 0 && !ShutdownRequestPending)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
	}
	curl_global_cleanup();
	proc_exit(0);
}
