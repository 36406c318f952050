/*
 * weight.c
 *		The check of the domain ticket_weight (schema/00_types.sql): a
 *		requester's or dispatcher's weight is 1 to 5. It raises the desk's
 *		own error (TD302) instead of returning false, so a plain INSERT or
 *		UPDATE of a ticket is refused as the API functions refuse it, not
 *		with the generic domain error.
 */
#include "postgres.h"

#include "fmgr.h"

#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_weight_in_range);

Datum
ticketdesk_weight_in_range(PG_FUNCTION_ARGS)
{
	int16		weight = PG_GETARG_INT16(0);

	if (weight < 1 || weight > 5)
		ereport(ERROR,
				(errcode(ERRCODE_TD_WEIGHT_OUT_OF_RANGE),
				 errmsg("a weight must be between 1 and 5"),
				 errdetail("It is %d.", weight),
				 errhint("1 is the least important, 5 the most; 3 is normal.")));
	PG_RETURN_BOOL(true);
}
