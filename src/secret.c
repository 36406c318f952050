/*
 * secret.c
 *		The worker's way to a tenant's secret.
 *
 * The worker runs as a superuser, which row-level security does not stop, so
 * a plain query by key is enough. The value is returned in the caller's
 * memory context; it must never be put into a log line or an error message.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "secret.h"
#include "ticketdesk.h"

/*
 * The value of secret `name` of `tenant_id`, or NULL when there is none.
 * Needs a transaction; works whether or not the caller is connected to SPI.
 */
char *
secret_lookup(int tenant_id, const char *name)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		args[2];
	char	   *result = NULL;

	SPI_connect();
	if (plan == NULL)
	{
		plan = saved_plan("SELECT value FROM ticketdesk.secret WHERE tenant_id = $1 AND name = $2",
						  2, argtypes);
	}
	args[0] = Int32GetDatum(tenant_id);
	args[1] = CStringGetTextDatum(name);
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading secret %s failed", name);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		/* SPI_palloc: the caller's context, which outlives SPI_finish. */
		if (!isnull)
		{
			char	   *plain = TextDatumGetCString(value);

			result = SPI_palloc(strlen(plain) + 1);
			strcpy(result, plain);
		}
	}
	SPI_finish();
	return result;
}
