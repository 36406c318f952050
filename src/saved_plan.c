/*
 * saved_plan.c
 *		Preparing an SPI plan that lives for the whole backend.
 */
#include "postgres.h"

#include "executor/spi.h"

#include "ticketdesk.h"

/*
 * Prepare query and keep the plan beyond the current SPI connection. The
 * caller stores it in a static variable and prepares it once per backend;
 * PostgreSQL re-plans it when the tables it uses change.
 */
SPIPlanPtr
saved_plan(const char *query, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "ticketdesk: could not prepare \"%s\": %s",
			 query, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}
