/*
 * trusted.c
 *		Running ticketdesk's own bookkeeping as the bootstrap superuser.
 *
 * Some reads and writes belong to ticketdesk, not to the caller: whom a role
 * acts as (principal.c), an agent's load counters (load.c). They run as the
 * bootstrap superuser, so the caller's grants and policies do not apply, and
 * with search_path pinned: a saved plan is parsed again under the path in
 * force when it runs, and an operator or function planted in the caller's
 * path must never run as superuser.
 *
 *		trusted_enter(&scope);
 *		PG_TRY();
 *		{
 *			... SPI ...
 *			trusted_done(&scope);
 *		}
 *		PG_FINALLY();
 *		{
 *			trusted_leave(&scope);
 *		}
 *		PG_END_TRY();
 *
 * On an error the search_path comes back with the (sub)transaction's abort.
 *
 * In parallel mode (a parallel worker evaluating a policy reads whom its
 * role acts as for itself, principal.c) no setting may change. There the
 * path is pushed as an override search path instead: name look-ups and the
 * plan cache's check of the path obey it just the same.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "ticketdesk.h"

static void
enter(TrustedScope *scope, bool override)
{
	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   scope->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	scope->path_pushed = override || IsInParallelMode();
	if (scope->path_pushed)
	{
		OverrideSearchPath path = {0};

		path.schemas = list_make1_oid(get_namespace_oid("ticketdesk", false));
		path.addCatalog = true;
		PushOverrideSearchPath(&path);
		return;
	}
	scope->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, ticketdesk", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Become the bootstrap superuser, with search_path = pg_catalog, ticketdesk. */
void
trusted_enter(TrustedScope *scope)
{
	enter(scope, false);
}

/*
 * trusted_enter_override is trusted_enter with the path always pushed as an
 * override search path, as in parallel mode, which costs less than setting
 * search_path and restoring it (no GUC nest level): for work that runs no
 * statement of its own (notify_requester.c reads and writes rows by key)
 * yet may run what resolves names as the superuser (a trigger of the table
 * written, a function in a default or a domain's check).
 */
void
trusted_enter_override(TrustedScope *scope)
{
	enter(scope, true);
}

/* The work succeeded: give the caller's search_path back. */
/*
 * Within a trusted scope: plan the statements as look-ups by key. The
 * planner prices a scan of every row of a table of a few pages below one
 * index probe (agent_load: 200 agents in 3 pages), and a generic plan keeps
 * that choice however large the table grows; reading 200 rows to update
 * one cost more than the rest of the load counter's statement. Plans built
 * here (a saved plan is built, and built again after an invalidation, only
 * when it runs) then use the primary key whatever the table's size.
 */
void
trusted_by_key(void)
{
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
trusted_done(TrustedScope *scope)
{
	if (scope->path_pushed)
		PopOverrideSearchPath();
	else
		AtEOXact_GUC(true, scope->save_nestlevel);
}

/* Whatever happened: become the caller again. */
void
trusted_leave(TrustedScope *scope)
{
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}
