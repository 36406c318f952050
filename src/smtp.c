/*
 * smtp.c
 *		E-mail: composes an outbox row as an RFC 5322 message (plain text and
 *		HTML alternatives, UTF-8, base64) and sets up a curl transfer for it.
 *
 * The Message-ID is made from the row's message_key, so every attempt to send
 * a row carries the same one: a receiver detects a duplicate by it. Replies
 * thread on the ticket's reference (References header and subject tag).
 */
#include "postgres.h"

#include <time.h>

#include <curl/curl.h>

#include "common/base64.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "notify.h"

PG_FUNCTION_INFO_V1(ticketdesk_outbox_mail);

/* The domain of the sender address, for Message-ID and References. */
static const char *
mail_domain(void)
{
	const char *at = strrchr(notify_mail_from, '@');

	return (at != NULL && at[1] != '\0') ? at + 1 : "ticketdesk.invalid";
}

/* True when s can stand in a header as it is. */
static bool
header_plain(const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
			return false;
	return true;
}

/*
 * Append s as RFC 2047 encoded words (UTF-8, base64), folded so no line
 * grows too long, and never splitting a character between two words.
 */
static void
append_encoded(StringInfo out, const char *s)
{
	int			len = strlen(s);
	int			pos = 0;
	bool		first = true;

	while (pos < len)
	{
		int			chunk = 0;
		char		enc[128];
		int			enclen;

		while (pos + chunk < len)
		{
			int			l = pg_utf_mblen((const unsigned char *) s + pos + chunk);

			if (chunk + l > 45)
				break;
			chunk += l;
		}
		if (chunk == 0)
			break;
		enclen = pg_b64_encode(s + pos, chunk, enc, sizeof(enc));
		if (!first)
			appendStringInfoString(out, "\r\n ");
		appendStringInfo(out, "=?UTF-8?B?%.*s?=", enclen, enc);
		pos += chunk;
		first = false;
	}
}

/* Append a header whose value is free text: plain, or encoded words. */
static void
append_text_header(StringInfo out, const char *name, const char *value)
{
	appendStringInfo(out, "%s: ", name);
	if (header_plain(value))
		appendStringInfoString(out, value);
	else
		append_encoded(out, value);
	appendStringInfoString(out, "\r\n");
}

/* Append an address header: display name (quoted or encoded) and address. */
static void
append_address_header(StringInfo out, const char *name, const char *display, const char *addr)
{
	appendStringInfo(out, "%s: ", name);
	if (display != NULL && display[0] != '\0')
	{
		if (header_plain(display))
			appendStringInfo(out, "\"%s\" ", display);
		else
		{
			append_encoded(out, display);
			appendStringInfoChar(out, ' ');
		}
	}
	appendStringInfo(out, "<%s>\r\n", addr);
}

/*
 * Append text as a base64 body in CRLF canonical form, 76 columns. Every 57
 * bytes of text encode to one full line of 76, so each line is encoded
 * straight into out; the text is copied in runs between its line ends, not
 * character by character (this ran for every mail the worker sent, and the
 * per-character appends and a formatted append per line made it a tenth of
 * the worker's instructions a mail).
 */
static void
append_base64_body(StringInfo out, const char *text)
{
	StringInfoData crlf;
	const char *p = text;

	initStringInfo(&crlf);
	for (;;)
	{
		const char *nl = strchr(p, '\n');

		if (nl == NULL)
		{
			appendBinaryStringInfo(&crlf, p, strlen(p));
			break;
		}
		appendBinaryStringInfo(&crlf, p, nl - p);
		if (nl == text || nl[-1] != '\r')
			appendBinaryStringInfo(&crlf, "\r\n", 2);
		else
			appendStringInfoChar(&crlf, '\n');
		p = nl + 1;
	}
	for (int i = 0; i < crlf.len; i += 57)
	{
		int			chunk = Min(57, crlf.len - i);
		int			enclen = pg_b64_enc_len(chunk);

		enlargeStringInfo(out, enclen + 2);
		out->len += pg_b64_encode(crlf.data + i, chunk, out->data + out->len, enclen);
		out->data[out->len++] = '\r';
		out->data[out->len++] = '\n';
		out->data[out->len] = '\0';
	}
	pfree(crlf.data);
}

/* Append the current time as an RFC 5322 date, in UTC. */
static void
append_date(StringInfo out)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	appendStringInfo(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
					 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
					 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * mail_compose appends the whole message to out and returns out->data.
 * thread is the ticket's reference (NULL for mail about no ticket).
 */
char *
mail_compose(StringInfo out, const char *from_name, const char *to_name,
			 const char *to_addr, const char *subject, const char *thread,
			 const char *key, const char *language, const char *body_text,
			 const char *body_html)
{
	const char *domain = mail_domain();

	append_date(out);
	append_address_header(out, "From", from_name, notify_mail_from);
	append_address_header(out, "To", to_name, to_addr);
	append_text_header(out, "Subject", subject);
	appendStringInfo(out, "Message-ID: <%s@%s>\r\n", key, domain);
	if (thread != NULL)
	{
		appendStringInfo(out, "References: <%s@%s>\r\n", thread, domain);
		appendStringInfo(out, "In-Reply-To: <%s@%s>\r\n", thread, domain);
		append_text_header(out, "X-Ticketdesk-Reference", thread);
	}
	appendStringInfoString(out, "Auto-Submitted: auto-generated\r\n");
	append_text_header(out, "X-Loop", notify_mail_from);
	appendStringInfoString(out, "X-Auto-Response-Suppress: All\r\n");
	appendStringInfo(out, "Content-Language: %s\r\n", language);
	appendStringInfoString(out, "MIME-Version: 1.0\r\n");
	if (body_html == NULL)
	{
		appendStringInfoString(out, "Content-Type: text/plain; charset=UTF-8\r\n"
							   "Content-Transfer-Encoding: base64\r\n\r\n");
		append_base64_body(out, body_text);
		return out->data;
	}
	appendStringInfo(out, "Content-Type: multipart/alternative; boundary=\"=_td_%s\"\r\n\r\n", key);
	appendStringInfo(out, "--=_td_%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
					 "Content-Transfer-Encoding: base64\r\n\r\n", key);
	append_base64_body(out, body_text);
	appendStringInfo(out, "--=_td_%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
					 "Content-Transfer-Encoding: base64\r\n\r\n", key);
	append_base64_body(out, body_html);
	appendStringInfo(out, "--=_td_%s--\r\n", key);
	return out->data;
}

/* A text attribute of a composite, or NULL. */
static char *
row_text(HeapTupleHeader row, const char *name)
{
	bool		isnull;
	Datum		d = GetAttributeByName(row, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * ticketdesk_outbox_mail returns the e-mail an outbox row is sent as, with
 * the Date of now. The worker sends exactly this text.
 */
Datum
ticketdesk_outbox_mail(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	bool		isnull;
	Datum		key = GetAttributeByName(row, "message_key", &isnull);
	char	   *recipient = row_text(row, "recipient");
	char	   *subject = row_text(row, "subject");
	char	   *body_text = row_text(row, "body_text");
	char	   *language = row_text(row, "language");
	StringInfoData out;

	if (isnull || recipient == NULL || subject == NULL || body_text == NULL || language == NULL)
		PG_RETURN_NULL();
	initStringInfo(&out);
	mail_compose(&out, row_text(row, "sender_name"), row_text(row, "recipient_name"),
				 recipient, subject, row_text(row, "thread"),
				 DatumGetCString(DirectFunctionCall1(uuid_out, key)),
				 language, body_text, row_text(row, "body_html"));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* curl's read callback: hands out the composed message. */
static size_t
smtp_read(char *buf, size_t size, size_t nitems, void *arg)
{
	DeliveryItem *item = (DeliveryItem *) arg;
	size_t		n = Min(size * nitems, item->len - item->sent);

	memcpy(buf, item->data + item->sent, n);
	item->sent += n;
	return n;
}

/*
 * smtp_setup prepares easy handle h to send item; rcpt receives the list
 * of recipients the caller frees after the transfer. Returns an error
 * message when the transfer cannot be made, else NULL.
 */
const char *
smtp_setup(void *handle, DeliveryItem *item, void **rcpt)
{
	const DeliverySecrets *secrets = item->secrets;
	CURL	   *h = (CURL *) handle;
	struct curl_slist *list = NULL;
	char		addr[1024];

	snprintf(addr, sizeof(addr), "<%s>", item->recipient);
	list = curl_slist_append(list, addr);
	*rcpt = list;
	snprintf(addr, sizeof(addr), "<%s>", notify_mail_from);
	curl_easy_setopt(h, CURLOPT_URL, notify_smtp_url);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, addr);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, list);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, smtp_read);
	curl_easy_setopt(h, CURLOPT_READDATA, item);
	curl_easy_setopt(h, CURLOPT_INFILESIZE, (long) item->len);
	if (notify_smtp_starttls)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
	if (notify_smtp_user[0] != '\0')
	{
		if (secrets->smtp_password == NULL)
			return "no secret smtp.password for the tenant, and the file named by ticketdesk.smtp_password_file could not be read";
		curl_easy_setopt(h, CURLOPT_USERNAME, notify_smtp_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, secrets->smtp_password);
	}
	return NULL;
}
