/*
 * agent.c
 *		The agent a session acts as: the setting ticketdesk.agent when set
 *		(and it must name an agent of the tenant), else the agent whose
 *		login_role is the current database role.
 *
 * Every history row asks for it, so it is C with saved plans rather than a
 * SQL function, which would be planned again on each call.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_current_agent);

static SPIPlanPtr by_id_plan = NULL;
static SPIPlanPtr by_role_plan = NULL;

static SPIPlanPtr
prepare_saved(const char *query, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "ticketdesk: could not prepare \"%s\": %s",
			 query, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * current_agent_id returns the acting agent of tenant_id, or sets *isnull
 * when there is none. An unknown ticketdesk.agent raises TD203.
 */
int64
current_agent_id(int32 tenant_id, bool *isnull)
{
	Datum		args[2];
	Oid			id_types[2] = {INT4OID, INT8OID};
	Oid			role_types[2] = {INT4OID, NAMEOID};
	int64		result = 0;

	*isnull = true;
	SPI_connect();
	args[0] = Int32GetDatum(tenant_id);
	if (ticketdesk_agent != 0)
	{
		if (by_id_plan == NULL)
			by_id_plan = prepare_saved("SELECT 1 FROM ticketdesk.agent"
									   " WHERE tenant_id = $1 AND agent_id = $2",
									   2, id_types);
		args[1] = Int64GetDatum((int64) ticketdesk_agent);
		if (SPI_execute_plan(by_id_plan, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "ticketdesk: could not look up the acting agent");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_TD_UNKNOWN_AGENT),
					 errmsg("the setting ticketdesk.agent names agent %d, which tenant %d does not have",
							ticketdesk_agent, tenant_id),
					 errhint("Set ticketdesk.agent to an agent of the current tenant, or to 0.")));
		result = ticketdesk_agent;
		*isnull = false;
	}
	else
	{
		if (by_role_plan == NULL)
			by_role_plan = prepare_saved("SELECT agent_id FROM ticketdesk.agent"
										 " WHERE tenant_id = $1 AND login_role = $2",
										 2, role_types);
		args[1] = DirectFunctionCall1(namein,
									  CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
		if (SPI_execute_plan(by_role_plan, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "ticketdesk: could not look up the acting agent");
		if (SPI_processed > 0)
			result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, isnull));
	}
	SPI_finish();
	return result;
}

/* ticketdesk_current_agent is current_agent() for the current tenant. */
Datum
ticketdesk_current_agent(PG_FUNCTION_ARGS)
{
	bool		isnull;
	int64		agent = current_agent_id(ticketdesk_tenant, &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_INT64(agent);
}
