/*
 * notify_values.c
 *		The rules of the notification domains (schema/65_outbox.sql) in C.
 *
 * They were regular expressions, and every outbox row an opening queues
 * checks three of them: about 9,000 instructions each in PostgreSQL's regex
 * engine (doc/benchmarks.md, "Session 7"), for strings of a few bytes. The
 * rules are the same, byte for byte:
 *	- notify_event, '^[a-z_]{1,40}$': 1 to 40 characters, each a to z or
 *	  "_" (a multibyte character is never one of them);
 *	- language_code, '^[a-z]{2}$': two characters a to z;
 *	- notify_recipient, '\S': a character that is not a space. A printable
 *	  ASCII character other than the blank is certainly one; whether a
 *	  control character or a multibyte one counts as a space depends on the
 *	  locale, so a text with neither is left to the regular expression.
 * Each returns false when the rule fails, so the refusal is the domain's
 * own (23514).
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_notify_event_valid);
PG_FUNCTION_INFO_V1(ticketdesk_language_code_valid);
PG_FUNCTION_INFO_V1(ticketdesk_not_blank);

/* Whether every byte is a to z (or "_" when underscore) and there are min to max. */
static bool
lower_letters(text *value, int min, int max, bool underscore)
{
	const char *p = VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);

	if (len < min || len > max)
		return false;
	for (int i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (underscore && p[i] == '_')))
			return false;
	return true;
}

Datum
ticketdesk_notify_event_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lower_letters(PG_GETARG_TEXT_PP(0), 1, 40, true));
}

Datum
ticketdesk_language_code_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lower_letters(PG_GETARG_TEXT_PP(0), 2, 2, false));
}

Datum
ticketdesk_not_blank(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	const char *p = VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);
	Oid			collation = OidIsValid(PG_GET_COLLATION()) ? PG_GET_COLLATION() : DEFAULT_COLLATION_OID;

	for (int i = 0; i < len; i++)
		if (p[i] > ' ' && p[i] < 0x7f)
			PG_RETURN_BOOL(true);
	return DirectFunctionCall2Coll(textregexeq, collation, PointerGetDatum(value),
								   CStringGetTextDatum("\\S"));
}
