/*
 * settings.c
 *		SQL-callable readers of the settings, and small text helpers.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_current_tenant);
PG_FUNCTION_INFO_V1(ticketdesk_max_attachment_bytes);
PG_FUNCTION_INFO_V1(ticketdesk_url_encode);

/*
 * ticketdesk_current_tenant returns the setting ticketdesk.tenant. It is what
 * every row-level security policy compares tenant_id with, so it must be cheap.
 */
Datum
ticketdesk_current_tenant(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ticketdesk_tenant);
}

/* ticketdesk_max_attachment_bytes returns ticketdesk.max_attachment_size in bytes. */
Datum
ticketdesk_max_attachment_bytes(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) ticketdesk_max_attachment_kb * 1024);
}

/*
 * ticketdesk_url_encode percent-encodes every byte outside RFC 3986's
 * unreserved set, so multi-byte UTF-8 comes out as its encoded bytes.
 */
Datum
ticketdesk_url_encode(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	StringInfoData out;

	initStringInfo(&out);
	for (int i = 0; i < len; i++)
	{
		unsigned char c = p[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~')
			appendStringInfoChar(&out, (char) c);
		else
			appendStringInfo(&out, "%%%02X", c);
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
