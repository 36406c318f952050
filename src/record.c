/*
 * record.c
 *		The worker's results, written to the outbox without a statement: each
 *		row found where the claim wrote it (its key checked, its update chain
 *		followed), else by its primary key, and updated as outbox_record
 *		updates it (direct_write.c's direct_update_at: the row locked, its
 *		constraints, indexes and row triggers as for an UPDATE).
 *
 * outbox_record (PL/pgSQL, one UPDATE ... FROM unnest of 13 arrays) cost
 * about 120,000 instructions a message in the worker, of which the
 * statement's own work (the arrays made and unnested, the join, the SET
 * list's expressions, the executor started for every batch) was about a
 * third; the row's new version and its index entries are the rest, and
 * stay. The rules are outbox_record's, which stays for administrators and
 * tests:
 *  - a delivery: sent, sent_at now, no next attempt;
 *  - a final refusal, or the attempts used up: dead, the error kept;
 *  - else queued again after an exponential backoff with jitter (half the
 *    delay fixed, half random), capped;
 *  - the text sent is stored with the first result (a retry sends the same);
 *  - only a row still leased (sending) is changed: a row cancelled
 *    meanwhile stays as it is; and here, only while it holds the lease of
 *    the claim that took it (leased_until unchanged), so a late result
 *    never overwrites a later claim's.
 * The key columns of every index are among the columns given, with their
 * own values: PostgreSQL then takes the new index entries for changed ones
 * (no bottom-up deletion pass, doc/benchmarks.md session 5, item 17), as
 * outbox_record's SET list names them.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "notify.h"
#include "ticketdesk.h"

static const char *const record_columns[] = {
	"status", "attempts", "sent_at", "leased_until", "last_error", "next_attempt_at",
	"language", "sender_name", "subject", "body_html", "payload", "body_text",
	"outbox_id", "message_key", "ticket_id", "event_id"
};
enum
{
	R_STATUS, R_ATTEMPTS, R_SENT_AT, R_LEASED, R_ERROR, R_NEXT,
	R_LANGUAGE, R_SENDER, R_SUBJECT, R_HTML, R_PAYLOAD, R_TEXT
};

static DirectTable outbox_table = {"outbox", lengthof(record_columns), record_columns, NULL};

/* The labels of outbox_status, for the table's generation they were read in. */
static uint64 labels_generation = 0;
static Oid	status_sending;
static Oid	status_sent;
static Oid	status_dead;
static Oid	status_queued;

static Oid
status_label(Oid type, const char *label)
{
	return DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum(label), ObjectIdGetDatum(type)));
}

static void
read_labels(void)
{
	Oid			type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("outbox_status"),
									   ObjectIdGetDatum(get_namespace_oid("ticketdesk", false)));

	if (!OidIsValid(type))
		elog(ERROR, "ticketdesk: type outbox_status does not exist");
	status_sending = status_label(type, "sending");
	status_sent = status_label(type, "sent");
	status_dead = status_label(type, "dead");
	status_queued = status_label(type, "queued");
	labels_generation = outbox_table.generation;
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s == NULL ? (Datum) 0 : CStringGetTextDatum(s);
}

/* The new values of one row from its current ones and the item's result (a DirectChange). */
static void
record_change(Datum *values, bool *nulls, void *arg)
{
	DeliveryItem *item = (DeliveryItem *) arg;
	int32		attempts = DatumGetInt32(values[R_ATTEMPTS]);
	TimestampTz now = GetCurrentTimestamp();

	/*
	 * Only a row still under this claim's lease: not one cancelled or
	 * retried meanwhile, nor one claimed again after the lease ran out (a
	 * result kept while another transaction held the row locked, or a
	 * delivery that outlasted the lease), whose new claim records its own.
	 */
	if (nulls[R_STATUS] || DatumGetObjectId(values[R_STATUS]) != status_sending ||
		nulls[R_LEASED] || DatumGetTimestampTz(values[R_LEASED]) != item->leased_until)
		return;
	nulls[R_LEASED] = true;
	nulls[R_SENT_AT] = nulls[R_NEXT] = true;
	if (item->ok)
	{
		values[R_STATUS] = ObjectIdGetDatum(status_sent);
		values[R_SENT_AT] = TimestampTzGetDatum(now);
		nulls[R_SENT_AT] = false;
	}
	else
	{
		values[R_ERROR] = CStringGetTextDatum(item->error != NULL ? item->error : "not delivered");
		nulls[R_ERROR] = false;
		if (item->permanent || attempts >= notify_max_attempts)
			values[R_STATUS] = ObjectIdGetDatum(status_dead);
		else
		{
			double		delay_ms = Min((double) notify_backoff_cap_ms,
									   notify_backoff_base_ms * pow(2.0, Min(attempts - 1, 40)));

			delay_ms *= 0.5 + pg_prng_double(&pg_global_prng_state) / 2;
			values[R_STATUS] = ObjectIdGetDatum(status_queued);
			values[R_NEXT] = TimestampTzGetDatum(now + (int64) (delay_ms * 1000.0));
			nulls[R_NEXT] = false;
		}
	}
	/* The text sent, with the first result. */
	if (nulls[R_TEXT] && item->body_text != NULL)
	{
		values[R_LANGUAGE] = text_or_null(item->language, &nulls[R_LANGUAGE]);
		values[R_SENDER] = text_or_null(item->sender, &nulls[R_SENDER]);
		values[R_SUBJECT] = text_or_null(item->subject, &nulls[R_SUBJECT]);
		values[R_HTML] = text_or_null(item->body_html, &nulls[R_HTML]);
		values[R_PAYLOAD] = item->payload;
		nulls[R_PAYLOAD] = (item->payload == (Datum) 0);
		values[R_TEXT] = CStringGetTextDatum(item->body_text);
		nulls[R_TEXT] = false;
	}
}

/*
 * record_write records the results of n delivered items in the transaction
 * open; returns how many rows it changed or left (a row no longer there is
 * not counted). It waits for no row lock: a row another transaction is
 * writing or holds locked (an administrator's open transaction, a mass
 * UPDATE) is left as it is and its item marked row_locked, for the worker
 * to record in a later transaction. Waiting there stopped the worker's
 * deliveries for as long as the lock was held, and could deadlock with the
 * other transaction.
 */
int
record_write(DeliveryItem *items, int n)
{
	DirectWrite *w = direct_begin(&outbox_table);
	int			found = 0;

	if (labels_generation != outbox_table.generation)
		read_labels();
	for (int i = 0; i < n; i++)
	{
		Datum		key[2];
		DirectFound r;

		key[0] = Int32GetDatum(items[i].tenant_id);
		key[1] = Int64GetDatum(items[i].outbox_id);
		r = direct_update_at(w, key, &items[i].tid, record_change, &items[i]);
		items[i].row_locked = (r == DIRECT_LOCKED);
		if (r == DIRECT_DONE)
			found++;
	}
	direct_end(w);
	return found;
}
