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
 * character for character: lpad(ticket_id::text, 6, '0') below a million,
 * ticket_id::text from there (lpad also cuts a longer text to six).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_ticket_reference_of);

#define REFERENCE_DIGITS 6

Datum
ticketdesk_ticket_reference_of(PG_FUNCTION_ARGS)
{
	int64		ticket_id = PG_GETARG_INT64(0);
	char		number[MAXINT8LEN + 1];
	int			len = pg_lltoa(ticket_id, number);
	char		reference[3 + MAXINT8LEN + 1] = "TD-";

	if (ticket_id < 1000000)
	{
		int			pad = REFERENCE_DIGITS - len;

		if (pad > 0)
		{
			memset(reference + 3, '0', pad);
			memcpy(reference + 3 + pad, number, len + 1);
		}
		else
		{
			memcpy(reference + 3, number, REFERENCE_DIGITS);
			reference[3 + REFERENCE_DIGITS] = '\0';
		}
	}
	else
		memcpy(reference + 3, number, len + 1);
	PG_RETURN_TEXT_P(cstring_to_text(reference));
}
