/*
 * agent.c
 *		The agent a session acts as: the setting ticketdesk.agent when set
 *		(and it must name an agent of the tenant), else the agent whose
 *		login_role is the current database role.
 *
 * Every history row asks for it, so it is C: the login's agent comes from
 * the per-backend principal cache (principal.c), ticketdesk.agent is checked
 * with a saved plan.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "principal.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_current_agent);

static SPIPlanPtr by_id_plan = NULL;

/*
 * current_agent_id returns the acting agent of tenant_id, or sets *isnull
 * when there is none. An unknown ticketdesk.agent raises TD203.
 */
int64
current_agent_id(int32 tenant_id, bool *isnull)
{
	Datum		args[2];
	Oid			id_types[2] = {INT4OID, INT8OID};
	int64		result = 0;

	/* The agent whose login_role is the current role, from the principal cache. */
	if (ticketdesk_agent == 0)
	{
		*isnull = !principal_login_agent(tenant_id, &result);
		return result;
	}

	SPI_connect();
	if (by_id_plan == NULL)
		by_id_plan = saved_plan("SELECT 1 FROM ticketdesk.agent"
								   " WHERE tenant_id = $1 AND agent_id = $2",
								   2, id_types);
	args[0] = Int32GetDatum(tenant_id);
	args[1] = Int64GetDatum((int64) ticketdesk_agent);
	if (SPI_execute_plan(by_id_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk: could not look up the acting agent");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_TD_UNKNOWN_AGENT),
				 errmsg("the setting ticketdesk.agent names agent %d, which tenant %d does not have",
						ticketdesk_agent, tenant_id),
				 errhint("Set ticketdesk.agent to an agent of the current tenant, or to 0.")));
	SPI_finish();
	*isnull = false;
	return ticketdesk_agent;
}

/*
 * acting_agent is current_agent_id, and sets *held when the agent's row is
 * held by her guard (reference_guard.c) until the transaction ends, so that
 * a reference to her needs no row lock: the login's own agent, when the
 * principal still names her once the guard is taken (a deletion committed
 * before has sent its invalidation, which principal_of processes first).
 * When it no longer does (she was deleted meanwhile, or the login mapped
 * to another agent), she is returned unheld, for the caller to lock her
 * row as the foreign key's check would, and to refuse her if she is gone,
 * as before the guard. An agent named by ticketdesk.agent was checked with
 * the statement's snapshot, which may be older than a guard: not held.
 */
int64
acting_agent(int32 tenant_id, bool *isnull, bool *held)
{
	int64		agent = current_agent_id(tenant_id, isnull);

	*held = false;
	if (ticketdesk_agent == 0 && !*isnull)
	{
		bool		again_null;
		int64		again;

		agent_guard_share(agent);
		again = current_agent_id(tenant_id, &again_null);
		*held = !again_null && again == agent;
	}
	return agent;
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
