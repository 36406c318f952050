/*
 * mailparse.c
 *		Reads one inbound mail with GMime: headers decoded (RFC 2047, RFC 2231),
 *		bodies decoded (base64, quoted-printable) and converted to UTF-8, a text
 *		version of HTML-only mail, attachments and inline images, and the signs
 *		that a machine wrote the mail (auto-replies, bulk mail, bounces).
 *
 *		No PostgreSQL here, so that the libFuzzer harness links it alone. Every
 *		allocation is GLib's and is released by mail_parsed_free; nothing in
 *		here can longjmp.
 */
#include <ctype.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mailparse.h"

/* Bounds that keep a hostile mail from costing too much. */
#define MAIL_MAX_DEPTH			32
#define MAIL_MAX_ATTACHMENTS	500
#define MAIL_MAX_REFS			100
#define MAIL_MAX_RECIPIENTS		200

static bool default_utf8_valid(const char *text, size_t len);

bool		(*mail_utf8_valid) (const char *text, size_t len) = default_utf8_valid;

static GMimeParserOptions *parser_options = NULL;
static MailLogFunc log_func = NULL;

/* Work state while walking a message's parts. */
typedef struct MailWalk
{
	GString    *plain;
	GString    *html;
	GPtrArray  *attachments;
	const char *dsn_reason;
	int			unnamed;
} MailWalk;

static bool
default_utf8_valid(const char *text, size_t len)
{
	return g_utf8_validate(text, (gssize) len, NULL);
}

/* Pass GLib's messages on, instead of letting it write to stderr. */
static void
glib_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	int			severity = (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) ? 2
		: (level & G_LOG_LEVEL_WARNING) ? 1 : 0;

	if (log_func)
		log_func(severity, domain ? domain : "GLib", message ? message : "");
}

/*
 * mail_parse_init starts GMime once per process, with lenient parsing and the
 * charsets tried for undeclared 8-bit text, and sends GLib's log messages to
 * log (NULL: dropped). Call it before the first mail_parse; later calls do
 * nothing.
 */
void
mail_parse_init(MailLogFunc log)
{
	static const char *fallback[] = {"utf-8", "windows-1252", NULL};

	if (parser_options != NULL)
		return;
	log_func = log;
	g_log_set_default_handler(glib_log, NULL);
	g_mime_init();
	parser_options = g_mime_parser_options_new();
	g_mime_parser_options_set_address_compliance_mode(parser_options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(parser_options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_rfc2047_compliance_mode(parser_options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_allow_addresses_without_domain(parser_options, TRUE);
	g_mime_parser_options_set_fallback_charsets(parser_options, fallback);
}

/*
 * clean_text returns a valid UTF-8 copy of text: as it is when valid, else
 * decoded again with the fallback charsets, else with every byte above 0x7f
 * replaced. CR LF and lone CR become LF. NULL stays NULL.
 */
static char *
clean_text(const char *text, size_t len)
{
	char	   *copy;
	char	   *out;
	size_t		j = 0;

	if (text == NULL)
		return NULL;
	if (mail_utf8_valid(text, len))
		copy = g_strndup(text, len);
	else
	{
		copy = g_mime_utils_decode_8bit(parser_options, text, len);
		if (copy == NULL || !mail_utf8_valid(copy, strlen(copy)))
		{
			g_free(copy);
			copy = g_strndup(text, len);
			for (char *p = copy; *p; p++)
				if ((unsigned char) *p >= 0x80)
					*p = '?';
		}
	}
	/* Normalise line ends in place. */
	out = copy;
	for (size_t i = 0; copy[i] != '\0'; i++)
	{
		if (copy[i] == '\r')
		{
			out[j++] = '\n';
			if (copy[i + 1] == '\n')
				i++;
		}
		else
			out[j++] = copy[i];
	}
	out[j] = '\0';
	return out;
}

static char *
clean_str(const char *text)
{
	return text ? clean_text(text, strlen(text)) : NULL;
}

/* Trim white space at both ends, in place; returns its argument. */
static char *
trim(char *s)
{
	return s ? g_strstrip(s) : NULL;
}

/* The value of a header, decoded and trimmed, or NULL when absent or blank. */
static char *
header_value(GMimeObject *obj, const char *name)
{
	char	   *v = trim(clean_str(g_mime_object_get_header(obj, name)));

	if (v != NULL && *v == '\0')
	{
		g_free(v);
		return NULL;
	}
	return v;
}

/* Every value of a header that may occur more than once. */
static GPtrArray *
header_values(GMimeObject *obj, const char *name)
{
	GMimeHeaderList *headers = g_mime_object_get_header_list(obj);
	GPtrArray  *out = g_ptr_array_new_with_free_func(g_free);
	int			n = headers ? g_mime_header_list_get_count(headers) : 0;

	for (int i = 0; i < n; i++)
	{
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		const char *hname = h ? g_mime_header_get_name(h) : NULL;
		const char *value = h ? g_mime_header_get_value(h) : NULL;

		if (hname && value && g_ascii_strcasecmp(hname, name) == 0)
			g_ptr_array_add(out, trim(clean_str(value)));
	}
	return out;
}

/* Append addr, lower-cased, unless it is blank or already there. */
static void
add_address(GPtrArray *out, const char *addr)
{
	char	   *clean;

	if (addr == NULL || out->len >= MAIL_MAX_RECIPIENTS)
		return;
	clean = trim(clean_str(addr));
	for (char *p = clean; *p; p++)
		*p = g_ascii_tolower(*p);
	if (*clean == '\0')
	{
		g_free(clean);
		return;
	}
	for (guint i = 0; i < out->len; i++)
	{
		if (strcmp(g_ptr_array_index(out, i), clean) == 0)
		{
			g_free(clean);
			return;
		}
	}
	g_ptr_array_add(out, clean);
}

/* Append the mailboxes of an address list, groups included. */
static void
add_address_list(GPtrArray *out, InternetAddressList *list, int depth)
{
	int			n;

	if (list == NULL || depth > 4)
		return;
	n = internet_address_list_length(list);
	for (int i = 0; i < n; i++)
	{
		InternetAddress *ia = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			add_address(out, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
		else if (INTERNET_ADDRESS_IS_GROUP(ia))
			add_address_list(out, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
							 depth + 1);
	}
}

/* Append the addresses of a header such as Delivered-To, every occurrence. */
static void
add_header_addresses(GPtrArray *out, GMimeObject *obj, const char *name)
{
	GPtrArray  *values = header_values(obj, name);

	for (guint i = 0; i < values->len; i++)
	{
		InternetAddressList *list = internet_address_list_parse(parser_options,
																 g_ptr_array_index(values, i));

		add_address_list(out, list, 0);
		if (list)
			g_object_unref(list);
	}
	g_ptr_array_free(values, TRUE);
}

/* The first mailbox of an address list, and its display name. */
static void
first_mailbox(InternetAddressList *list, char **addr, char **name)
{
	GPtrArray  *one = g_ptr_array_new_with_free_func(g_free);

	add_address_list(one, list, 0);
	if (one->len > 0)
	{
		*addr = g_strdup(g_ptr_array_index(one, 0));
		if (name)
		{
			InternetAddress *ia = internet_address_list_get_address(list, 0);
			const char *n = ia ? internet_address_get_name(ia) : NULL;

			*name = trim(clean_str(n));
			if (*name && **name == '\0')
			{
				g_free(*name);
				*name = NULL;
			}
		}
	}
	g_ptr_array_free(one, TRUE);
}

/* Message ids of a References or In-Reply-To value, appended without duplicates. */
static void
add_refs(GPtrArray *out, const char *value)
{
	GMimeReferences *refs;
	int			n;

	if (value == NULL)
		return;
	refs = g_mime_references_parse(parser_options, value);
	if (refs == NULL)
		return;
	n = g_mime_references_length(refs);
	for (int i = 0; i < n && out->len < MAIL_MAX_REFS; i++)
	{
		char	   *id = trim(clean_str(g_mime_references_get_message_id(refs, i)));
		bool		seen = (*id == '\0');

		for (guint j = 0; j < out->len && !seen; j++)
			seen = strcmp(g_ptr_array_index(out, j), id) == 0;
		if (seen)
			g_free(id);
		else
			g_ptr_array_add(out, id);
	}
	g_mime_references_free(refs);
}

/* A GPtrArray of strings as a NULL-ended array, consuming the GPtrArray. */
static char **
to_strv(GPtrArray *arr)
{
	g_ptr_array_add(arr, NULL);
	return (char **) g_ptr_array_free(arr, FALSE);
}

/* The decoded content of a leaf part. */
static unsigned char *
part_bytes(GMimePart *part, size_t *len)
{
	GMimeDataWrapper *wrapper = g_mime_part_get_content(part);
	GMimeStream *stream = g_mime_stream_mem_new();
	GByteArray *bytes;
	unsigned char *out;

	if (wrapper)
		g_mime_data_wrapper_write_to_stream(wrapper, stream);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
	*len = bytes ? bytes->len : 0;
	out = g_malloc(*len + 1);
	if (*len > 0)
		memcpy(out, bytes->data, *len);
	g_object_unref(stream);
	return out;
}

static void
attachment_free(MailAttachment *a)
{
	if (a == NULL)
		return;
	g_free(a->filename);
	g_free(a->content_type);
	g_free(a->content_id);
	g_free(a->data);
	g_free(a);
}

/* A file name for a part that has none: part-N.subtype */
static char *
default_filename(MailWalk *walk, const char *mime_type)
{
	const char *sub = mime_type ? strchr(mime_type, '/') : NULL;
	bool		plain_ext = sub != NULL && strlen(sub + 1) <= 8;

	for (const char *p = sub ? sub + 1 : ""; *p && plain_ext; p++)
		plain_ext = g_ascii_isalnum(*p);
	walk->unnamed++;
	if (plain_ext)
		return g_strdup_printf("part-%d.%s", walk->unnamed, sub + 1);
	return g_strdup_printf("part-%d", walk->unnamed);
}

/* Store an attachment found while walking. */
static void
add_attachment(MailWalk *walk, char *filename, char *mime_type, const char *content_id,
			   bool is_inline, unsigned char *data, size_t len)
{
	MailAttachment *a;

	if (walk->attachments->len >= MAIL_MAX_ATTACHMENTS)
	{
		g_free(filename);
		g_free(mime_type);
		g_free(data);
		return;
	}
	a = g_new0(MailAttachment, 1);
	a->content_type = mime_type;
	a->filename = filename ? filename : default_filename(walk, mime_type);
	a->content_id = trim(clean_str(content_id));
	if (a->content_id && *a->content_id == '\0')
	{
		g_free(a->content_id);
		a->content_id = NULL;
	}
	a->is_inline = is_inline;
	a->data = data;
	a->len = len;
	g_ptr_array_add(walk->attachments, a);
}

/* The MIME type of a part as "type/subtype" in lower case. */
static char *
mime_type_of(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char	   *t = ct ? g_mime_content_type_get_mime_type(ct) : NULL;

	if (t == NULL)
		return g_strdup("application/octet-stream");
	for (char *p = t; *p; p++)
		*p = g_ascii_tolower(*p);
	return t;
}

/*
 * walk_part visits a part: text/plain and text/html that are not files make
 * the body; everything else is an attachment. A delivery report anywhere
 * marks the mail as one.
 */
static void
walk_part(MailWalk *walk, GMimeObject *obj, int depth)
{
	GMimeContentType *ct;

	if (obj == NULL || depth > MAIL_MAX_DEPTH)
		return;
	ct = g_mime_object_get_content_type(obj);
	if (ct && g_mime_content_type_is_type(ct, "message", "delivery-status"))
		walk->dsn_reason = "delivery status report";
	else if (ct && g_mime_content_type_is_type(ct, "message", "disposition-notification"))
		walk->dsn_reason = "read receipt";

	if (GMIME_IS_MULTIPART(obj))
	{
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int			n = g_mime_multipart_get_count(mp);

		if (ct && g_mime_content_type_is_type(ct, "multipart", "report"))
		{
			const char *rt = g_mime_object_get_content_type_parameter(obj, "report-type");

			if (rt && g_ascii_strcasecmp(rt, "delivery-status") == 0)
				walk->dsn_reason = "delivery status report";
			else if (rt && g_ascii_strcasecmp(rt, "disposition-notification") == 0)
				walk->dsn_reason = "read receipt";
		}
		for (int i = 0; i < n; i++)
			walk_part(walk, g_mime_multipart_get_part(mp, i), depth + 1);
	}
	else if (GMIME_IS_MESSAGE_PART(obj))
	{
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		GMimeStream *stream;
		GByteArray *bytes;
		unsigned char *data;
		size_t		len;
		char	   *name = NULL;

		if (inner == NULL)
			return;
		stream = g_mime_stream_mem_new();
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, stream);
		bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
		len = bytes ? bytes->len : 0;
		data = g_malloc(len + 1);
		if (len > 0)
			memcpy(data, bytes->data, len);
		g_object_unref(stream);
		if (g_mime_message_get_subject(inner))
		{
			char	   *subject = trim(clean_str(g_mime_message_get_subject(inner)));

			g_strdelimit(subject, "/\\:*?\"<>|\n\t", '_');
			if (*subject)
				name = g_strdup_printf("%.80s.eml", subject);
			g_free(subject);
		}
		add_attachment(walk, name ? name : g_strdup("message.eml"), g_strdup("message/rfc822"),
					   NULL, false, data, len);
	}
	else if (GMIME_IS_PART(obj))
	{
		GMimePart  *part = GMIME_PART(obj);
		const char *disposition = g_mime_object_get_disposition(obj);
		bool		is_file = g_mime_part_is_attachment(part) || g_mime_part_get_filename(part) != NULL;
		char	   *filename = trim(clean_str(g_mime_part_get_filename(part)));
		const char *content_id = g_mime_part_get_content_id(part);
		size_t		len;
		unsigned char *data;

		if (filename && *filename == '\0')
		{
			g_free(filename);
			filename = NULL;
		}
		if (GMIME_IS_TEXT_PART(obj) && !is_file && ct != NULL &&
			(g_mime_content_type_is_type(ct, "text", "plain") ||
			 g_mime_content_type_is_type(ct, "text", "html")))
		{
			bool		is_html = g_mime_content_type_is_type(ct, "text", "html");
			GString    *into = is_html ? walk->html : walk->plain;
			char	   *raw = g_mime_text_part_get_text(GMIME_TEXT_PART(obj));
			char	   *text = clean_str(raw);

			g_free(raw);
			/* Later HTML alternatives add nothing; later text pieces follow on. */
			if (text && *text && !(is_html && into->len > 0))
			{
				if (into->len > 0)
					g_string_append_c(into, '\n');
				g_string_append(into, text);
			}
			g_free(text);
			return;
		}
		data = part_bytes(part, &len);
		add_attachment(walk, filename, mime_type_of(obj), content_id,
					   (disposition && g_ascii_strcasecmp(disposition, "inline") == 0) ||
					   (disposition == NULL && content_id != NULL),
					   data, len);
	}
}

/* Why a machine sent this mail, from its headers; NULL when a person did. */
static char *
auto_reason(GMimeMessage *msg, const char *from_addr)
{
	GMimeObject *obj = GMIME_OBJECT(msg);
	char	   *v;
	char	   *reason = NULL;
	static const char *const autoreply_headers[] = {"X-Autoreply", "X-Autorespond", "X-Autoresponder"};

	if ((v = header_value(obj, "Auto-Submitted")) != NULL)
	{
		char	   *semi = strchr(v, ';');

		if (semi)
			*semi = '\0';
		g_strstrip(v);
		if (g_ascii_strcasecmp(v, "no") != 0)
			reason = g_strdup_printf("Auto-Submitted: %s", v);
		g_free(v);
		if (reason)
			return reason;
	}
	if ((v = header_value(obj, "Precedence")) != NULL)
	{
		if (g_ascii_strcasecmp(v, "bulk") == 0 || g_ascii_strcasecmp(v, "junk") == 0 ||
			g_ascii_strcasecmp(v, "list") == 0 || g_ascii_strcasecmp(v, "auto_reply") == 0)
			reason = g_strdup_printf("Precedence: %s", v);
		g_free(v);
		if (reason)
			return reason;
	}
	for (int i = 0; i < (int) G_N_ELEMENTS(autoreply_headers); i++)
	{
		if ((v = header_value(obj, autoreply_headers[i])) != NULL)
		{
			reason = g_strdup_printf("%s: %s", autoreply_headers[i], v);
			g_free(v);
			return reason;
		}
	}
	if ((v = header_value(obj, "Return-Path")) != NULL)
	{
		if (strcmp(v, "<>") == 0)
			reason = g_strdup("null return path (Return-Path: <>)");
		g_free(v);
		if (reason)
			return reason;
	}
	if (from_addr &&
		(g_ascii_strncasecmp(from_addr, "mailer-daemon@", 14) == 0 ||
		 g_ascii_strncasecmp(from_addr, "postmaster@", 11) == 0))
		return g_strdup_printf("bounce from %s", from_addr);
	return NULL;
}

/* Skip an mbox "From " separator line that some MTAs put first. */
static size_t
skip_mbox_line(const char *data, size_t len)
{
	const char *nl;

	if (len < 5 || memcmp(data, "From ", 5) != 0)
		return 0;
	nl = memchr(data, '\n', len);
	return nl ? (size_t) (nl - data) + 1 : 0;
}

/*
 * mail_parse reads one RFC 5322 message. It never fails outright: a mail it
 * cannot read comes back with error set. The caller caps the size first.
 */
MailParsed *
mail_parse(const char *data, size_t len)
{
	MailParsed *mail = g_new0(MailParsed, 1);
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	GPtrArray  *refs;
	GPtrArray  *recipients;
	GPtrArray  *loops;
	MailWalk	walk = {0};
	char	   *v;
	GDateTime  *date;
	size_t		skip;

	mail_parse_init(NULL);
	if (data == NULL || len == 0)
	{
		mail->error = g_strdup("the message is empty");
		return mail;
	}
	skip = skip_mbox_line(data, len);
	stream = g_mime_stream_mem_new_with_buffer(data + skip, len - skip);
	parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	msg = g_mime_parser_construct_message(parser, parser_options);
	g_object_unref(parser);
	if (msg == NULL)
	{
		mail->error = g_strdup("not a mail message: no header block");
		return mail;
	}
	if (g_mime_object_get_header_list(GMIME_OBJECT(msg)) == NULL ||
		g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(msg))) == 0)
	{
		g_object_unref(msg);
		mail->error = g_strdup("not a mail message: no headers");
		return mail;
	}

	/* Identity and threading. */
	mail->message_id = trim(clean_str(g_mime_message_get_message_id(msg)));
	if (mail->message_id && *mail->message_id == '\0')
	{
		g_free(mail->message_id);
		mail->message_id = NULL;
	}
	refs = g_ptr_array_new();
	v = header_value(GMIME_OBJECT(msg), "In-Reply-To");
	add_refs(refs, v);
	if (refs->len > 0)
		mail->in_reply_to = g_strdup(g_ptr_array_index(refs, 0));
	g_free(v);
	v = header_value(GMIME_OBJECT(msg), "References");
	add_refs(refs, v);
	g_free(v);
	mail->refs = to_strv(refs);

	/* People. */
	mail->subject = trim(clean_str(g_mime_message_get_subject(msg)));
	first_mailbox(g_mime_message_get_from(msg), &mail->from_addr, &mail->from_name);
	first_mailbox(g_mime_message_get_reply_to(msg), &mail->reply_to, NULL);
	recipients = g_ptr_array_new();
	add_address_list(recipients, g_mime_message_get_to(msg), 0);
	add_address_list(recipients, g_mime_message_get_cc(msg), 0);
	add_header_addresses(recipients, GMIME_OBJECT(msg), "Delivered-To");
	add_header_addresses(recipients, GMIME_OBJECT(msg), "X-Original-To");
	add_header_addresses(recipients, GMIME_OBJECT(msg), "Envelope-To");
	mail->recipients = to_strv(recipients);
	date = g_mime_message_get_date(msg);
	if (date)
	{
		mail->has_date = true;
		mail->date = g_date_time_to_unix(date);
	}

	/* Body and files. */
	walk.plain = g_string_new(NULL);
	walk.html = g_string_new(NULL);
	walk.attachments = g_ptr_array_new();
	walk_part(&walk, g_mime_message_get_mime_part(msg), 0);
	if (walk.plain->len > 0)
		mail->body = g_strdup(walk.plain->str);
	else if (walk.html->len > 0)
	{
		mail->body = mail_html_to_text(walk.html->str);
		mail->html_only = true;
	}
	else
		mail->body = g_strdup("");
	g_string_free(walk.plain, TRUE);
	g_string_free(walk.html, TRUE);
	mail->nattachments = (int) walk.attachments->len;
	g_ptr_array_add(walk.attachments, NULL);
	mail->attachments = (MailAttachment **) g_ptr_array_free(walk.attachments, FALSE);
	mail->reply_text = mail_reply_text(mail->body);

	/* Machine-made mail. */
	mail->auto_reason = auto_reason(msg, mail->from_addr);
	if (mail->auto_reason == NULL && walk.dsn_reason)
		mail->auto_reason = g_strdup(walk.dsn_reason);
	loops = header_values(GMIME_OBJECT(msg), "X-Loop");
	mail->x_loop = to_strv(loops);

	g_object_unref(msg);
	return mail;
}

/* mail_parse_failed returns a result that carries only an error. */
MailParsed *
mail_parse_failed(const char *error)
{
	MailParsed *mail = g_new0(MailParsed, 1);

	mail->error = g_strdup(error);
	return mail;
}

/* mail_parsed_free releases everything mail_parse returned. */
void
mail_parsed_free(MailParsed *mail)
{
	if (mail == NULL)
		return;
	g_free(mail->error);
	g_free(mail->message_id);
	g_free(mail->in_reply_to);
	g_strfreev(mail->refs);
	g_free(mail->subject);
	g_free(mail->from_name);
	g_free(mail->from_addr);
	g_free(mail->reply_to);
	g_strfreev(mail->recipients);
	g_free(mail->auto_reason);
	g_strfreev(mail->x_loop);
	g_free(mail->body);
	g_free(mail->reply_text);
	if (mail->attachments)
	{
		for (int i = 0; mail->attachments[i] != NULL; i++)
			attachment_free(mail->attachments[i]);
		g_free(mail->attachments);
	}
	g_free(mail);
}

/* ---- HTML to text ---------------------------------------------------------- */

/* Named entities worth knowing in mail; others are kept as written. */
static const struct
{
	const char *name;
	gunichar	ch;
}			html_entities[] = {
	{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
	{"nbsp", ' '}, {"copy", 0xA9}, {"reg", 0xAE}, {"euro", 0x20AC},
	{"ndash", 0x2013}, {"mdash", 0x2014}, {"hellip", 0x2026},
	{"laquo", 0xAB}, {"raquo", 0xBB}, {"bdquo", 0x201E}, {"ldquo", 0x201C},
	{"rdquo", 0x201D}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"bull", 0x2022},
	{"minus", 0x2212}, {"times", 0xD7}, {"deg", 0xB0}, {"middot", 0xB7}, {"trade", 0x2122},
};

/* Decode the entity at s (just after '&'); returns bytes used, 0 if none. */
static size_t
html_entity(const char *s, GString *out)
{
	const char *semi = strchr(s, ';');
	size_t		n;
	gunichar	ch = 0;

	if (semi == NULL || semi - s > 10 || semi == s)
		return 0;
	n = (size_t) (semi - s);
	if (s[0] == '#')
	{
		char	   *end;
		guint64		cp = (s[1] == 'x' || s[1] == 'X')
			? g_ascii_strtoull(s + 2, &end, 16) : g_ascii_strtoull(s + 1, &end, 10);

		if (end != semi)
			return 0;
		ch = (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) ? 0xFFFD : (gunichar) cp;
	}
	else
	{
		for (int i = 0; i < (int) G_N_ELEMENTS(html_entities); i++)
			if (strlen(html_entities[i].name) == n && strncmp(s, html_entities[i].name, n) == 0)
				ch = html_entities[i].ch;
		if (ch == 0)
			return 0;
	}
	g_string_append_unichar(out, ch);
	return n + 1;
}

/*
 * How many line breaks a tag stands for: 2 for blocks set apart by a blank
 * line (paragraphs, headings, lists, tables), 1 for lines (list items, rows,
 * divisions), 0 for inline tags. <br> is handled on its own.
 */
static int
html_tag_breaks(const char *name)
{
	static const char *const paragraphs[] = {
		"p", "ul", "ol", "table", "blockquote", "pre", "hr", "dl",
		"h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
	};
	static const char *const lines[] = {"div", "li", "tr", "dt", "dd", "center"};

	for (int i = 0; i < (int) G_N_ELEMENTS(paragraphs); i++)
		if (strcmp(name, paragraphs[i]) == 0)
			return 2;
	for (int i = 0; i < (int) G_N_ELEMENTS(lines); i++)
		if (strcmp(name, lines[i]) == 0)
			return 1;
	return 0;
}

/* End the text so far with at least n line breaks (none at the very start). */
static void
html_break(GString *out, int n)
{
	int			have = 0;

	if (out->len == 0)
		return;
	while (have < (int) out->len && out->str[out->len - 1 - have] == '\n')
		have++;
	for (; have < n; have++)
		g_string_append_c(out, '\n');
}

/*
 * mail_html_to_text derives readable text from HTML: tags dropped (block tags
 * become line breaks), script, style and head skipped, entities decoded, white
 * space collapsed as a browser would. Returns a g_malloc'd string.
 */
char *
mail_html_to_text(const char *html)
{
	GString    *out = g_string_new(NULL);
	GString    *result;
	const char *p = html;
	bool		space = false;

	while (p && *p)
	{
		if (*p == '<')
		{
			const char *q = p + 1;
			char		name[16];
			int			n = 0;
			char		quote = 0;
			bool		closing_tag = (*q == '/');

			if (strncmp(p, "<!--", 4) == 0)
			{
				const char *end = strstr(p + 4, "-->");

				p = end ? end + 3 : p + strlen(p);
				continue;
			}
			if (*q == '/')
				q++;
			while (g_ascii_isalnum(*q) && n < (int) sizeof(name) - 1)
				name[n++] = g_ascii_tolower(*q++);
			name[n] = '\0';
			/* Find the end of the tag, quotes respected. */
			while (*q && (quote || *q != '>'))
			{
				if (quote && *q == quote)
					quote = 0;
				else if (!quote && (*q == '"' || *q == '\''))
					quote = *q;
				q++;
			}
			p = *q ? q + 1 : q;
			if (!closing_tag && p[-1] == '>' && p[-2] != '/' &&
				(strcmp(name, "script") == 0 || strcmp(name, "style") == 0 ||
				 strcmp(name, "head") == 0 || strcmp(name, "title") == 0))
			{
				char	   *closing = g_strdup_printf("</%s", name);
				const char *end = p;

				/* Skip to the closing tag, case-insensitively. */
				while (*end && g_ascii_strncasecmp(end, closing, strlen(closing)) != 0)
					end++;
				g_free(closing);
				if (*end)
				{
					end = strchr(end, '>');
					p = end ? end + 1 : p + strlen(p);
				}
				else
					p = end;
				continue;
			}
			if (strcmp(name, "br") == 0)
			{
				g_string_append_c(out, '\n');
				space = false;
			}
			else if (html_tag_breaks(name) > 0)
			{
				html_break(out, html_tag_breaks(name));
				space = false;
			}
			else if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0)
				space = out->len > 0;
			continue;
		}
		if (g_ascii_isspace(*p))
		{
			space = out->len > 0;
			p++;
			continue;
		}
		if (space && out->len > 0 && out->str[out->len - 1] != '\n')
			g_string_append_c(out, ' ');
		space = false;
		if (*p == '&')
		{
			size_t		used = html_entity(p + 1, out);

			if (used > 0)
			{
				p += used + 1;
				continue;
			}
		}
		g_string_append_c(out, *p);
		p++;
	}

	/* Trim each line, and keep at most one empty line in a row. */
	result = g_string_new(NULL);
	{
		char	  **lines = g_strsplit(out->str, "\n", -1);
		int			blank = 0;

		for (int i = 0; lines[i]; i++)
		{
			g_strstrip(lines[i]);
			if (*lines[i] == '\0')
			{
				if (result->len > 0)
					blank++;
				continue;
			}
			if (result->len > 0)
				g_string_append(result, blank > 0 ? "\n\n" : "\n");
			blank = 0;
			g_string_append(result, lines[i]);
		}
		g_strfreev(lines);
	}
	g_string_free(out, TRUE);
	return g_string_free(result, FALSE);
}

/* ---- The new part of a reply --------------------------------------------- */

/* True when a line has nothing but white space. */
static bool
is_blank(const char *line)
{
	for (; *line; line++)
		if (!g_ascii_isspace(*line))
			return false;
	return true;
}

/* True when a line is the "X wrote:" that mailers put above a quote. */
static bool
is_attribution(const char *line)
{
	static const char *const endings[] = {
		"wrote:", "rašė:", "napisał(a):", "napisał:", "napisała:", "a scris:",
		"כתב:", "כתבה:", "כתב/ה:", "schrieb:", "écrit :", "écrit:",
	};
	size_t		len = strlen(line);

	for (int i = 0; i < (int) G_N_ELEMENTS(endings); i++)
	{
		size_t		n = strlen(endings[i]);

		if (len >= n && strcmp(line + len - n, endings[i]) == 0)
			return true;
	}
	return false;
}

/* True when a line begins the header block of a quoted Outlook mail. */
static bool
is_header_line(const char *line, const char *const *names, int count)
{
	for (int i = 0; i < count; i++)
		if (g_str_has_prefix(line, names[i]))
			return true;
	return false;
}

/*
 * mail_reply_text returns what a reply adds: the body cut at the first quoted
 * line, the "On ... wrote:" line above a quote, an "Original Message"
 * separator or the From:/Sent: block of a quoted Outlook mail. When nothing
 * would be left the whole body is returned.
 */
char *
mail_reply_text(const char *body)
{
	static const char *const from_names[] = {"From:", "Nuo:", "Od:", "De:", "מאת:", "*From:*"};
	static const char *const next_names[] = {
		"Sent:", "Date:", "To:", "Subject:", "Išsiųsta:", "Kam:", "Tema:", "Wysłano:",
		"Do:", "Temat:", "Trimis:", "Către:", "Subiect:", "נשלח:", "אל:", "נושא:", "*Sent:*",
	};
	char	  **lines;
	int			n;
	int			cut;
	GString    *out;

	if (body == NULL)
		return g_strdup("");
	lines = g_strsplit(body, "\n", -1);
	n = (int) g_strv_length(lines);
	cut = n;
	for (int i = 0; i < n && cut == n; i++)
	{
		char	   *line = g_strstrip(g_strdup(lines[i]));

		if (line[0] == '>')
		{
			cut = i;
			/* The line above a quote that ends with ':' introduces it. */
			for (int k = i - 1; k >= 0; k--)
			{
				char	   *above = g_strstrip(g_strdup(lines[k]));
				bool		blank = *above == '\0';
				bool		intro = !blank && above[strlen(above) - 1] == ':';

				g_free(above);
				if (blank)
					continue;
				if (intro)
					cut = k;
				break;
			}
		}
		else if (is_attribution(line))
		{
			cut = i;
			/* Gmail wraps a long attribution onto a second line. */
			if (i >= 1 && !is_blank(lines[i - 1]) && (i < 2 || is_blank(lines[i - 2])))
				cut = i - 1;
		}
		else if (strstr(line, "Original Message") != NULL ||
				 strstr(line, "Originalnachricht") != NULL ||
				 (strlen(line) >= 10 && strspn(line, "_") == strlen(line)))
			cut = i;
		else if (is_header_line(line, from_names, G_N_ELEMENTS(from_names)))
		{
			for (int k = i + 1; k < n && k <= i + 4; k++)
			{
				char	   *next = g_strstrip(g_strdup(lines[k]));

				if (is_header_line(next, next_names, G_N_ELEMENTS(next_names)))
					cut = i;
				g_free(next);
			}
		}
		g_free(line);
	}

	out = g_string_new(NULL);
	for (int i = 0; i < cut; i++)
	{
		g_string_append(out, lines[i]);
		g_string_append_c(out, '\n');
	}
	g_strfreev(lines);
	g_strstrip(out->str);
	out->len = strlen(out->str);
	if (out->len == 0)
	{
		g_string_free(out, TRUE);
		return g_strdup(body);
	}
	return g_string_free(out, FALSE);
}
