/*
 * fuzz_mail.c
 *		libFuzzer harness over the parse-and-classify code (src/mailparse.c):
 *		every input is parsed as a mail, and also run through the HTML-to-text
 *		and reply-cutting helpers. A GLib critical warning (an API misused on
 *		odd input) aborts, so the fuzzer reports it like a crash.
 *
 *		Build and run with test/fuzz/run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "mailparse.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_log(int level, const char *domain, const char *message)
{
	if (level >= 2)
	{
		fprintf(stderr, "%s critical: %s\n", domain, message);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MailParsed *mail;
	char	   *text;

	mail_parse_init(fuzz_log);
	mail = mail_parse((const char *) data, size);
	/* Whatever comes back is whole: a body or an error, files with names. */
	if (mail->error == NULL && (mail->body == NULL || mail->reply_text == NULL))
		abort();
	for (int i = 0; i < mail->nattachments; i++)
		if (mail->attachments[i]->filename == NULL || mail->attachments[i]->filename[0] == '\0')
			abort();
	if (mail->body && !g_utf8_validate(mail->body, -1, NULL))
		abort();
	mail_parsed_free(mail);

	/* The text helpers on their own, with the input as text. */
	text = g_strndup((const char *) data, size);
	g_free(mail_html_to_text(text));
	g_free(mail_reply_text(text));
	g_free(text);
	return 0;
}
