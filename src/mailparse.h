/*
 * mailparse.h
 *		Parsing and classifying one inbound mail with GMime. This part knows
 *		nothing of PostgreSQL: the backend (mailin.c), the libFuzzer harness
 *		(test/fuzz) and anything else can call it. Everything it returns is
 *		allocated with GLib and released by mail_parsed_free.
 */
#ifndef MAILPARSE_H
#define MAILPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One attachment or inline image of a mail. */
typedef struct MailAttachment
{
	char	   *filename;		/* UTF-8, never NULL */
	char	   *content_type;	/* "type/subtype", lower case */
	char	   *content_id;		/* without angle brackets, or NULL */
	bool		is_inline;		/* shown in the body (inline image) */
	unsigned char *data;		/* decoded content */
	size_t		len;
} MailAttachment;

/* What a mail says, decoded to UTF-8. */
typedef struct MailParsed
{
	char	   *error;			/* why the mail could not be read, or NULL */
	char	   *message_id;		/* without angle brackets, or NULL */
	char	   *in_reply_to;	/* the first id of In-Reply-To, or NULL */
	char	  **refs;			/* References then In-Reply-To ids, NULL-ended */
	char	   *subject;		/* decoded (RFC 2047), or NULL */
	char	   *from_name;
	char	   *from_addr;		/* lower case, or NULL */
	char	   *reply_to;		/* lower case, or NULL */
	char	  **recipients;		/* To, Cc, Delivered-To, X-Original-To: lower case, NULL-ended */
	bool		has_date;
	int64_t		date;			/* Unix seconds */
	char	   *auto_reason;	/* why the mail is machine-made, or NULL */
	char	  **x_loop;			/* X-Loop values, NULL-ended */
	char	   *body;			/* the text, from text/plain or derived from HTML */
	char	   *reply_text;		/* the body without the quoted earlier mail */
	bool		html_only;		/* body was derived from HTML */
	MailAttachment **attachments;	/* NULL-ended */
	int			nattachments;
} MailParsed;

/*
 * The UTF-8 check applied to every decoded text; the backend replaces it with
 * one based on pg_verify_mbstr. Invalid text is decoded again with the
 * fallback charsets.
 */
extern bool (*mail_utf8_valid) (const char *text, size_t len);

/* Where GLib's log messages go: level 0 debug, 1 warning, 2 critical. */
typedef void (*MailLogFunc) (int level, const char *domain, const char *message);

extern void mail_parse_init(MailLogFunc log);
extern MailParsed *mail_parse(const char *data, size_t len);
extern MailParsed *mail_parse_failed(const char *error);
extern void mail_parsed_free(MailParsed *mail);
extern char *mail_html_to_text(const char *html);
extern char *mail_reply_text(const char *body);

#endif							/* MAILPARSE_H */
