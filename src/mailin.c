/*
 * mailin.c
 *		The SQL side of the mail parser: ticketdesk.parse_mail(bytea) turns one
 *		raw message into a ticketdesk.mail_parsed row, which ingest_mail
 *		(schema/79_api_mail.sql) then threads and acts on.
 *
 *		GMime lives in mailparse.c, which knows nothing of PostgreSQL. Here the
 *		size is capped before parsing (GLib aborts the process when it runs
 *		out of memory), the GLib result is freed in PG_FINALLY so an error
 *		cannot leak it, and every text is checked with pg_verify_mbstr.
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "mailparse.h"
#include "mailpoll.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_parse_mail);

/* ticketdesk.mail_max_size, in kB */
int			ticketdesk_mail_max_kb = 25 * 1024;

/* The columns of ticketdesk.mail_parsed, in order. */
enum
{
	MP_ERROR,
	MP_MESSAGE_ID,
	MP_IN_REPLY_TO,
	MP_REFS,
	MP_SUBJECT,
	MP_FROM_NAME,
	MP_FROM_ADDR,
	MP_REPLY_TO,
	MP_RECIPIENTS,
	MP_SENT_AT,
	MP_AUTO_REASON,
	MP_X_LOOP,
	MP_BODY,
	MP_REPLY_TEXT,
	MP_HTML_ONLY,
	MP_PARTS,
	MP_COUNT
};

/* The columns of ticketdesk.mail_part, in order. */
enum
{
	PART_FILENAME,
	PART_CONTENT_TYPE,
	PART_CONTENT_ID,
	PART_IS_INLINE,
	PART_DATA,
	PART_COUNT
};

/*
 * mailin_define_settings registers ticketdesk.mail_max_size; _PG_init calls it.
 */
void
mailin_define_settings(void)
{
	DefineCustomIntVariable("ticketdesk.mail_max_size",
							"The largest inbound mail that is parsed.",
							"Larger mail is recorded as a failed intake without its content.",
							&ticketdesk_mail_max_kb,
							25 * 1024, 16, 256 * 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	mailpoll_define_settings();
}

/* GLib's messages go to the server log; never an ERROR from here. */
static void
mailin_log(int level, const char *domain, const char *message)
{
	ereport(level >= 2 ? LOG : DEBUG1,
			(errmsg_internal("%s: %s", domain, message)));
}

static bool
mailin_utf8_valid(const char *text, size_t len)
{
	return len < INT_MAX && pg_verify_mbstr(PG_UTF8, text, (int) len, true);
}

/* A text datum from parser output (valid UTF-8), in the database encoding. */
static Datum
mailin_text(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	if (s == NULL)
		return (Datum) 0;
	return PointerGetDatum(cstring_to_text(pg_any_to_server(s, strlen(s), PG_UTF8)));
}

/* A text[] datum from a NULL-ended array of strings. */
static Datum
mailin_text_array(char **strv)
{
	int			n = 0;
	Datum	   *elems;

	while (strv && strv[n])
		n++;
	elems = palloc(sizeof(Datum) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		elems[i] = mailin_text(strv[i], &isnull);
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* The mail_part[] datum of a mail's attachments. */
static Datum
mailin_parts(const MailParsed *mail, Oid array_type)
{
	Oid			part_type = get_element_type(array_type);
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(part_type, -1);
	Datum	   *elems = palloc(sizeof(Datum) * (mail->nattachments + 1));
	int16		typlen;
	bool		typbyval;
	char		typalign;

	BlessTupleDesc(desc);
	for (int i = 0; i < mail->nattachments; i++)
	{
		const MailAttachment *a = mail->attachments[i];
		Datum		values[PART_COUNT];
		bool		nulls[PART_COUNT] = {0};
		bytea	   *data = palloc(VARHDRSZ + a->len);

		SET_VARSIZE(data, VARHDRSZ + a->len);
		if (a->len > 0)
			memcpy(VARDATA(data), a->data, a->len);
		values[PART_FILENAME] = mailin_text(a->filename, &nulls[PART_FILENAME]);
		values[PART_CONTENT_TYPE] = mailin_text(a->content_type, &nulls[PART_CONTENT_TYPE]);
		values[PART_CONTENT_ID] = mailin_text(a->content_id, &nulls[PART_CONTENT_ID]);
		values[PART_IS_INLINE] = BoolGetDatum(a->is_inline);
		values[PART_DATA] = PointerGetDatum(data);
		elems[i] = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	}
	get_typlenbyvalalign(part_type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, mail->nattachments, part_type,
										   typlen, typbyval, typalign));
}

/* The mail_parsed row of a parse result. */
static Datum
mailin_row(const MailParsed *mail, TupleDesc desc)
{
	Datum		values[MP_COUNT];
	bool		nulls[MP_COUNT] = {0};
	bool		parsed = (mail->error == NULL);

	if (desc->natts != MP_COUNT)
		elog(ERROR, "ticketdesk: type mail_parsed has %d columns, expected %d", desc->natts, MP_COUNT);
	values[MP_ERROR] = mailin_text(mail->error, &nulls[MP_ERROR]);
	values[MP_MESSAGE_ID] = mailin_text(mail->message_id, &nulls[MP_MESSAGE_ID]);
	values[MP_IN_REPLY_TO] = mailin_text(mail->in_reply_to, &nulls[MP_IN_REPLY_TO]);
	values[MP_REFS] = mailin_text_array(mail->refs);
	nulls[MP_REFS] = !parsed;
	values[MP_SUBJECT] = mailin_text(mail->subject, &nulls[MP_SUBJECT]);
	values[MP_FROM_NAME] = mailin_text(mail->from_name, &nulls[MP_FROM_NAME]);
	values[MP_FROM_ADDR] = mailin_text(mail->from_addr, &nulls[MP_FROM_ADDR]);
	values[MP_REPLY_TO] = mailin_text(mail->reply_to, &nulls[MP_REPLY_TO]);
	values[MP_RECIPIENTS] = mailin_text_array(mail->recipients);
	nulls[MP_RECIPIENTS] = !parsed;
	nulls[MP_SENT_AT] = true;
	if (mail->has_date)
	{
		TimestampTz ts = time_t_to_timestamptz((pg_time_t) mail->date);

		if (IS_VALID_TIMESTAMP(ts))
		{
			values[MP_SENT_AT] = TimestampTzGetDatum(ts);
			nulls[MP_SENT_AT] = false;
		}
	}
	values[MP_AUTO_REASON] = mailin_text(mail->auto_reason, &nulls[MP_AUTO_REASON]);
	values[MP_X_LOOP] = mailin_text_array(mail->x_loop);
	nulls[MP_X_LOOP] = !parsed;
	values[MP_BODY] = mailin_text(mail->body, &nulls[MP_BODY]);
	values[MP_REPLY_TEXT] = mailin_text(mail->reply_text, &nulls[MP_REPLY_TEXT]);
	values[MP_HTML_ONLY] = BoolGetDatum(mail->html_only);
	nulls[MP_HTML_ONLY] = !parsed;
	if (parsed)
		values[MP_PARTS] = mailin_parts(mail, TupleDescAttr(desc, MP_PARTS)->atttypid);
	else
		nulls[MP_PARTS] = true;
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * ticketdesk_parse_mail parses one raw message and returns what it says as a
 * mail_parsed row. It does not raise an error for a mail it cannot read, or
 * one larger than ticketdesk.mail_max_size: the row's error says why.
 */
Datum
ticketdesk_parse_mail(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(raw);
	size_t		limit = (size_t) ticketdesk_mail_max_kb * 1024;
	TupleDesc	desc;
	MailParsed *volatile mail = NULL;
	Datum		result = (Datum) 0;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticketdesk: parse_mail must return a composite type");
	desc = BlessTupleDesc(desc);

	mail_utf8_valid = mailin_utf8_valid;
	mail_parse_init(mailin_log);
	PG_TRY();
	{
		if (len > limit)
		{
			char	   *why = psprintf("the message has %zu bytes; the limit (ticketdesk.mail_max_size) is %zu bytes",
									   len, limit);

			mail = mail_parse_failed(why);
		}
		else
			mail = mail_parse(VARDATA_ANY(raw), len);
		result = mailin_row(mail, desc);
	}
	PG_FINALLY();
	{
		mail_parsed_free(mail);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(result);
}
