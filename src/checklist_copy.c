/*
 * checklist_copy.c
 *		The AFTER INSERT trigger on ticket that copies the ticket type's
 *		checklist template onto the new ticket (R13).
 *
 * Most types have no template, so most openings copy nothing. The
 * PL/pgSQL trigger it replaces asked with an EXISTS statement first: a
 * PL/pgSQL call, a statement and its snapshot for every opening (about
 * 54,000 instructions, doc/benchmarks.md "Session 6: opening a ticket").
 * Here the template's index is probed directly with the latest snapshot,
 * which sees every template the statement would see (and perhaps more: one
 * the caller's policies hide, or one committed meanwhile); only when it
 * finds one does the copy run, as the same INSERT ... SELECT as before, as
 * the caller, under the caller's policies, which then decide what is copied.
 * A probe that finds none is remembered until checklist_template changes
 * (below).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "config_cache.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_ticket_checklist_copy);

/* The copy: $1 tenant, $2 the new ticket, $3 its type. */
static const char *const copy_sql =
"INSERT INTO ticketdesk.checklist_item (tenant_id, ticket_id, position, title, required, template_id)"
" SELECT t.tenant_id, $2, t.position, t.title, t.required, t.template_id"
"   FROM ticketdesk.checklist_template t"
"  WHERE t.tenant_id = $1 AND t.type_id = $3"
"  ORDER BY t.position, t.template_id";

static SPIPlanPtr copy_plan = NULL;

/*
 * The tenants' types known to have no template. Most openings name such a
 * type, and the probe below cost about 14,000 instructions an opening
 * (doc/benchmarks.md, "Session 8: opening a ticket (branch opening8)").
 * The answer is kept per backend until checklist_template changes: its
 * statement trigger holders_changed (holders.c) sends a relcache
 * invalidation of the table with every change, which empties the cache
 * (config_cache.c).
 */
typedef struct NoTemplateKey
{
	int32		tenant_id;
	int64		type_id;
} NoTemplateKey;

/* Enough for every tenant's types; beyond it the answers start again. */
#define NO_TEMPLATE_MAX 100000

static const char *const template_watched[] = {"checklist_template"};
static ConfigCache no_template = {"ticketdesk types without a checklist template", 1, template_watched,
	sizeof(NoTemplateKey), sizeof(NoTemplateKey)};

/*
 * Whether a checklist template of the type may exist: any row of
 * checklist_template with the tenant and type, in the latest snapshot;
 * false at once when that was the answer before and the table has not
 * changed since.
 */
static bool
template_may_exist(Datum tenant_id, Datum type_id)
{
	NoTemplateKey key;
	Oid			nsp;
	Relation	rel;
	Oid			indexid;
	Relation	index;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[2];
	bool		found;

	memset(&key, 0, sizeof(key));
	key.tenant_id = DatumGetInt32(tenant_id);
	key.type_id = DatumGetInt64(type_id);

	/* Changes committed by others since the last command count first. */
	AcceptInvalidationMessages();
	if (no_template.current && hash_search(no_template.entries, &key, HASH_FIND, NULL) != NULL)
		return false;

	/* Locked first, so that the invalidations of changes up to now are processed. */
	nsp = get_namespace_oid("ticketdesk", false);
	rel = table_open(get_relname_relid("checklist_template", nsp), AccessShareLock);
	config_cache_open(&no_template);
	indexid = get_relname_relid("checklist_template_type_idx", nsp);
	if (!OidIsValid(indexid))
		elog(ERROR, "ticketdesk: index checklist_template_type_idx does not exist");
	index = index_open(indexid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, tenant_id);
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, type_id);
	scan = index_beginscan(rel, index, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);

	/*
	 * Kept only while the cache opened after the lock is current: an
	 * invalidation processed during the probe (a change committed after
	 * the lock) leaves it unkept. One processed later empties it before
	 * the next answer.
	 */
	if (!found && no_template.current)
	{
		if (hash_get_num_entries(no_template.entries) >= NO_TEMPLATE_MAX)
		{
			config_cache_empty(&no_template);
			config_cache_open(&no_template);
		}
		(void) hash_search(no_template.entries, &key, HASH_ENTER, NULL);
	}
	return found;
}

/*
 * ticketdesk_ticket_checklist_copy copies the checklist template of the new
 * ticket's type onto it, if the type has one.
 */
Datum
ticketdesk_ticket_checklist_copy(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const TicketColumns *tc;
	Datum		args[3];
	bool		tenant_null;
	bool		ticket_null;
	bool		type_null;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ticket_checklist_copy must be an AFTER INSERT row trigger")));

	tc = ticket_columns(trigdata->tg_relation);
	args[0] = ticket_get(tc, trigdata->tg_relation, trigdata->tg_trigtuple, TC_TENANT_ID, &tenant_null);
	args[1] = ticket_get(tc, trigdata->tg_relation, trigdata->tg_trigtuple, TC_TICKET_ID, &ticket_null);
	args[2] = ticket_get(tc, trigdata->tg_relation, trigdata->tg_trigtuple, TC_TYPE_ID, &type_null);
	if (tenant_null || ticket_null || type_null || !template_may_exist(args[0], args[2]))
		return PointerGetDatum(NULL);

	SPI_connect();
	if (copy_plan == NULL)
	{
		Oid			types[3] = {INT4OID, INT8OID, INT8OID};

		copy_plan = saved_plan(copy_sql, 3, types);
	}
	if (SPI_execute_plan(copy_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "ticketdesk: could not copy the checklist of ticket %lld",
			 (long long) DatumGetInt64(args[1]));
	SPI_finish();
	return PointerGetDatum(NULL);
}
