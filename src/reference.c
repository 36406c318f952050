/*
 * reference.c
 *		ticket_reference_of(bigint) RETURNS text: the generation expression
 *		of ticket.reference, "TD-" and the ticket number, at least six digits
 *		("TD-000042", "TD-1234567").
 *
 * A C function rather than the CASE it replaces (0.4) because PostgreSQL 15
 * reads back and plans every generation expression of a table for each
 * statement that writes a row of it, a status change included; a function
 * call is the smallest expression there is. The result is the CASE's,
 * character for character, for every number a ticket gets from its
 * sequence: lpad(ticket_id::text, 6, '0') below a million, ticket_id::text
 * from there. Only a negative number of seven characters or more (which no
 * sequence gives) differs: lpad cut it to six, which made two numbers one
 * reference; it is kept whole since 0.10, so that every number has a
 * reference of its own.
 *
 * ticket_number_of(text) RETURNS bigint is the inverse: the number whose
 * reference the text is, exactly (NULL for any other text). Since 0.10 a
 * ticket is found by its reference through the primary key with it, and
 * ticket has no index on the reference: the reference is unique because
 * the number is.
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_ticket_reference_of);
PG_FUNCTION_INFO_V1(ticketdesk_ticket_number_of);

#define REFERENCE_DIGITS 6

Datum
ticketdesk_ticket_reference_of(PG_FUNCTION_ARGS)
{
	int64		ticket_id = PG_GETARG_INT64(0);
	char		number[MAXINT8LEN + 1];
	int			len = pg_lltoa(ticket_id, number);
	char		reference[3 + MAXINT8LEN + 1] = "TD-";
	int			pad = REFERENCE_DIGITS - len;

	/* Only numbers below a million can be shorter than six characters. */
	if (pad > 0)
	{
		memset(reference + 3, '0', pad);
		memcpy(reference + 3 + pad, number, len + 1);
	}
	else
		memcpy(reference + 3, number, len + 1);
	PG_RETURN_TEXT_P(cstring_to_text(reference));
}

/*
 * ticketdesk_ticket_number_of is ticket_number_of(text): the number of a
 * reference as ticket_reference_of writes it ("TD-", six digits or more
 * without a needless leading zero), else NULL. Negative numbers (which no
 * sequence gives) have no inverse here.
 */
Datum
ticketdesk_ticket_number_of(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			ndigits = len - 3;
	int64		number = 0;

	if (ndigits < REFERENCE_DIGITS || ndigits > MAXINT8LEN || memcmp(p, "TD-", 3) != 0)
		PG_RETURN_NULL();
	/* Six digits may start with zeros; more may not (TD-0123456 is no reference). */
	if (ndigits > REFERENCE_DIGITS && p[3] == '0')
		PG_RETURN_NULL();
	for (int i = 3; i < len; i++)
	{
		if (p[i] < '0' || p[i] > '9' ||
			pg_mul_s64_overflow(number, 10, &number) ||
			pg_add_s64_overflow(number, p[i] - '0', &number))
			PG_RETURN_NULL();
	}
	PG_RETURN_INT64(number);
}
