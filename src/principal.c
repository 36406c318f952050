/*
 * principal.c
 *		Whom a database role acts as: its tenant, agent or contact, the
 *		contacts whose tickets it sees, its customer and the centres it
 *		oversees. Every row-level security policy asks for these, so they are
 *		cached per backend, keyed by role, and computed on a miss with saved
 *		plans run as the bootstrap superuser (no policy, no ACL of the caller).
 *
 * The cache is emptied by relcache invalidations of the tables the answers
 * are read from (agent, contact, customer, center, center_member: their
 * statement triggers send one, see schema/87_api_routing.sql and
 * schema/95_roles.sql) and by syscache invalidations of roles and role
 * memberships (a role renamed, dropped, granted or revoked). This backend's
 * own changes take effect at its next command and are undone by a rollback;
 * other backends' changes when they commit. The tables are read like
 * catalogs: locked first, so that pending invalidations are processed, then
 * with the latest snapshot.
 *
 * The session_* functions are PARALLEL SAFE, so that the policies may call
 * them directly (an init plan per call costs every statement several
 * executor nodes) and still let scans run in parallel. A parallel worker
 * (or the leader in parallel mode) cannot take a new snapshot or change a
 * setting: it reads the principal with the statement's snapshot and the
 * search path pushed as an override (trusted.c), and such an entry is read
 * again once parallel mode ends, as the priority matrix is (priority.c).
 *
 * The tenant pin (TD700) depends on the setting ticketdesk.tenant and is
 * checked whenever that setting differs from the last call's.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "principal.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_session_tenant);
PG_FUNCTION_INFO_V1(ticketdesk_session_agent);
PG_FUNCTION_INFO_V1(ticketdesk_session_contact);
PG_FUNCTION_INFO_V1(ticketdesk_session_contacts);
PG_FUNCTION_INFO_V1(ticketdesk_session_customer);
PG_FUNCTION_INFO_V1(ticketdesk_session_org_customer);
PG_FUNCTION_INFO_V1(ticketdesk_session_centers);
PG_FUNCTION_INFO_V1(ticketdesk_role_principal);
PG_FUNCTION_INFO_V1(ticketdesk_role_is_restricted);
PG_FUNCTION_INFO_V1(ticketdesk_role_contacts);
PG_FUNCTION_INFO_V1(ticketdesk_role_customer);
PG_FUNCTION_INFO_V1(ticketdesk_role_org_customer);
PG_FUNCTION_INFO_V1(ticketdesk_role_centers);
PG_FUNCTION_INFO_V1(ticketdesk_forbid_forged_event);

/* The tables whose changes empty the cache. */
static const char *const watched[] = {"agent", "contact", "customer", "center", "center_member"};

static HTAB *principal_cache = NULL;
static MemoryContext principal_cxt = NULL;
static Oid	watched_relids[lengthof(watched)];
static bool callbacks_registered = false;

/* Bumped by every invalidation, so a load that raced one is redone. */
static uint64 principal_generation = 0;

static SPIPlanPtr agent_plan = NULL;
static SPIPlanPtr contact_plan = NULL;
static SPIPlanPtr org_plan = NULL;
static SPIPlanPtr centers_plan = NULL;

/* Empty the cache. */
static void
principal_cache_reset(void)
{
	principal_generation++;
	if (principal_cache != NULL)
	{
		principal_cache = NULL;
		MemoryContextReset(principal_cxt);
	}
}

/* Empty the cache when a watched table changes or is dropped. */
static void
principal_relcache_callback(Datum arg, Oid relid)
{
	bool		hit = (relid == InvalidOid);

	for (int i = 0; i < lengthof(watched) && !hit; i++)
		hit = (relid == watched_relids[i]);
	if (hit)
		principal_cache_reset();
}

/* Empty the cache when a role or a role membership changes. */
static void
principal_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	principal_cache_reset();
}

/* Create the cache if an invalidation (or the first use) left none. */
static void
principal_cache_create(void)
{
	HASHCTL		ctl;
	Oid			nsp = get_namespace_oid("ticketdesk", false);

	if (!callbacks_registered)
	{
		principal_cxt = AllocSetContextCreate(CacheMemoryContext, "ticketdesk principals",
											  ALLOCSET_SMALL_SIZES);
		ticketdesk_register_relcache_callback(principal_relcache_callback);
		CacheRegisterSyscacheCallback(AUTHOID, principal_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, principal_syscache_callback, (Datum) 0);
		callbacks_registered = true;
	}
	for (int i = 0; i < lengthof(watched); i++)
		watched_relids[i] = get_relname_relid(watched[i], nsp);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(Principal);
	ctl.hcxt = principal_cxt;
	principal_cache = hash_create("ticketdesk principals", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* True when role is a member of the role named group (which may not exist). */
static bool
member_of(Oid role, const char *group)
{
	Oid			group_oid = get_role_oid(group, true);

	return OidIsValid(group_oid) && is_member_of_role(role, group_oid);
}

/* Run a saved plan; the first row's columns go to values/nulls. False: no row. */
static bool
principal_fetch(SPIPlanPtr plan, Datum *args, int ncols, Datum *values, bool *nulls)
{
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "ticketdesk: could not look up the session's principal");
	if (SPI_processed == 0)
		return false;
	for (int i = 0; i < ncols; i++)
		values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
	return true;
}

/* Copy a bigint[] result into the cache's context. */
static ArrayType *
principal_keep_array(Datum value, bool isnull)
{
	MemoryContext old = MemoryContextSwitchTo(principal_cxt);
	ArrayType  *result;

	if (isnull)
		result = construct_empty_array(INT8OID);
	else
		result = DatumGetArrayTypePCopy(value);
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * Read what role acts as into p (arrays in the cache's context). Runs as the
 * bootstrap superuser, with the latest snapshot and search_path =
 * pg_catalog, ticketdesk: a saved plan is parsed again under the search_path
 * current when it runs (if that differs from its own), so the path is set for
 * every run, not only for the first, and an operator or function planted in
 * the caller's path is never chosen.
 */
static void
principal_load(Oid role, Principal *p)
{
	Oid			nsp = get_namespace_oid("ticketdesk", false);
	char	   *rolname = GetUserNameFromId(role, true);
	TrustedScope scope;
	Datum		args[3];
	Datum		values[4];
	bool		nulls[4];

	memset(p, 0, sizeof(*p));
	p->role = role;
	p->restricted = !member_of(role, "ticketdesk_admin")
		&& (member_of(role, "ticketdesk_dispatcher") || member_of(role, "ticketdesk_agent")
			|| member_of(role, "ticketdesk_requester") || member_of(role, "ticketdesk_intake"));
	if (rolname == NULL)
	{
		p->contacts = principal_keep_array((Datum) 0, true);
		p->centers = principal_keep_array((Datum) 0, true);
		return;
	}

	for (int i = 0; i < lengthof(watched); i++)
		LockRelationOid(get_relname_relid(watched[i], nsp), AccessShareLock);

	p->provisional = IsInParallelMode();
	trusted_enter(&scope);
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(p->provisional ? GetActiveSnapshot() : GetLatestSnapshot());
		if (agent_plan == NULL)
		{
			Oid			name_type[1] = {NAMEOID};
			Oid			org_types[2] = {INT4OID, INT8OID};
			Oid			centers_types[3] = {INT4OID, INT8OID, BOOLOID};

			agent_plan = saved_plan(
										   "SELECT tenant_id, agent_id, active FROM ticketdesk.agent"
										   " WHERE login_role = $1",
										   1, name_type);
			contact_plan = saved_plan(
											 "SELECT c.tenant_id, c.contact_id, c.customer_id,"
											 "       coalesce(cu.requesters_see_organisation, false)"
											 "  FROM ticketdesk.contact c"
											 "  LEFT JOIN ticketdesk.customer cu"
											 "    ON cu.tenant_id = c.tenant_id AND cu.customer_id = c.customer_id"
											 " WHERE c.login_role = $1",
											 1, name_type);
			org_plan = saved_plan(
										 "SELECT array_agg(contact_id ORDER BY contact_id)"
										 "  FROM ticketdesk.contact WHERE tenant_id = $1 AND customer_id = $2",
										 2, org_types);
			centers_plan = saved_plan(
											 "WITH RECURSIVE down(center_id) AS ("
											 "    SELECT m.center_id FROM ticketdesk.center_member m"
											 "     WHERE m.tenant_id = $1 AND m.agent_id = $2 AND m.role = 'dispatcher' AND $3"
											 "    UNION"
											 "    SELECT c.center_id FROM ticketdesk.center c"
											 "      JOIN down ON c.tenant_id = $1 AND c.parent_id = down.center_id"
											 ")"
											 "SELECT array_agg(DISTINCT x) FROM ("
											 "    SELECT center_id AS x FROM down"
											 "    UNION ALL"
											 "    SELECT m.center_id FROM ticketdesk.center_member m"
											 "      JOIN ticketdesk.center c ON c.tenant_id = m.tenant_id AND c.center_id = m.center_id"
											 "     WHERE m.tenant_id = $1 AND m.agent_id = $2 AND c.members_see_queue"
											 ") s",
											 3, centers_types);
		}

		/* An active agent's login is mapped to the agent; an inactive one's is not. */
		args[0] = DirectFunctionCall1(namein, CStringGetDatum(rolname));
		if (principal_fetch(agent_plan, args, 3, values, nulls))
		{
			p->has_login_agent = true;
			p->login_agent_tenant_id = DatumGetInt32(values[0]);
			p->login_agent_id = DatumGetInt64(values[1]);
		}
		if (p->has_login_agent && DatumGetBool(values[2]))
		{
			p->mapped = true;
			p->tenant_id = p->login_agent_tenant_id;
			p->has_agent = true;
			p->agent_id = p->login_agent_id;
		}
		else if (principal_fetch(contact_plan, args, 4, values, nulls))
		{
			p->mapped = true;
			p->tenant_id = DatumGetInt32(values[0]);
			p->has_contact = true;
			p->contact_id = DatumGetInt64(values[1]);
			p->has_customer = !nulls[2];
			p->customer_id = nulls[2] ? 0 : DatumGetInt64(values[2]);
			p->has_org_customer = p->has_customer && DatumGetBool(values[3]);
			p->org_customer_id = p->customer_id;
		}

		/* The contacts whose tickets it sees: itself, or its customer's. */
		if (p->has_org_customer)
		{
			args[0] = Int32GetDatum(p->tenant_id);
			args[1] = Int64GetDatum(p->org_customer_id);
			principal_fetch(org_plan, args, 1, values, nulls);
			p->contacts = principal_keep_array(values[0], nulls[0]);
		}
		else if (p->has_contact)
		{
			Datum		self = Int64GetDatum(p->contact_id);
			MemoryContext old = MemoryContextSwitchTo(principal_cxt);

			p->contacts = construct_array(&self, 1, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE);
			MemoryContextSwitchTo(old);
		}
		else
			p->contacts = principal_keep_array((Datum) 0, true);

		/* The centres it oversees as a dispatcher, and the open queues. */
		if (p->has_agent)
		{
			args[0] = Int32GetDatum(p->tenant_id);
			args[1] = Int64GetDatum(p->agent_id);
			args[2] = BoolGetDatum(member_of(role, "ticketdesk_dispatcher"));
			principal_fetch(centers_plan, args, 1, values, nulls);
			p->centers = principal_keep_array(values[0], nulls[0]);
		}
		else
			p->centers = principal_keep_array((Datum) 0, true);

		PopActiveSnapshot();
		SPI_finish();
		trusted_done(&scope);
	}
	PG_FINALLY();
	{
		trusted_leave(&scope);
	}
	PG_END_TRY();
}

/*
 * principal_of returns what role acts as, from the cache or loaded into it.
 * The result is valid until the next invalidation: use it at once.
 */
const Principal *
principal_of(Oid role)
{
	Principal  *entry = NULL;

	/* Changes committed by others since the last command empty the cache first. */
	AcceptInvalidationMessages();
	if (principal_cache != NULL)
		entry = hash_search(principal_cache, &role, HASH_FIND, NULL);
	if (entry == NULL || (entry->provisional && !IsInParallelMode()))
	{
		Principal	loaded;
		uint64		generation;
		bool		found;

		/* A load that an invalidation interrupted may be stale: again. */
		do
		{
			if (principal_cache == NULL)
				principal_cache_create();
			generation = principal_generation;
			principal_load(role, &loaded);
		} while (generation != principal_generation);
		entry = hash_search(principal_cache, &role, HASH_ENTER, &found);
		*entry = loaded;
	}
	return entry;
}

/*
 * principal_check_tenant refuses (TD700) a mapped role whose session works
 * for another tenant than its own. Returns the tenant p acts for, or false
 * (an unmapped restricted role acts for none).
 */
bool
principal_check_tenant(const Principal *p, int32 *tenant_id)
{
	if (p->mapped)
	{
		if (p->tenant_id != ticketdesk_tenant)
		{
			char	   *rolname = GetUserNameFromId(p->role, true);

			ereport(ERROR,
					(errcode(ERRCODE_TD_TENANT_PINNED),
					 errmsg("role %s cannot act for tenant %d", rolname, ticketdesk_tenant),
					 errdetail("Role %s is mapped to tenant %d.", rolname, p->tenant_id),
					 errhint("Set ticketdesk.tenant to %d, or connect as a role of tenant %d.",
							 p->tenant_id, ticketdesk_tenant)));
		}
		*tenant_id = p->tenant_id;
		return true;
	}
	*tenant_id = ticketdesk_tenant;
	return !p->restricted;
}

/*
 * principal_login_agent finds the agent (active or not) of tenant_id whose
 * login_role is the current role, as a look-up of table agent by the current
 * role would: under row-level security only when the current tenant pin
 * allows it (TD700 otherwise, none for an unmapped restricted role). False:
 * there is none.
 */
bool
principal_login_agent(int32 tenant_id, int64 *agent_id)
{
	const Principal *p = principal_of(GetUserId());
	int32		session_tenant;

	if (check_enable_rls(watched_relids[0], InvalidOid, true) == RLS_ENABLED &&
		(!principal_check_tenant(p, &session_tenant) || session_tenant != tenant_id))
		return false;
	if (!p->has_login_agent || p->login_agent_tenant_id != tenant_id)
		return false;
	*agent_id = p->login_agent_id;
	return true;
}

/*
 * principal_sees_center says whether center_id is certainly among the
 * centres whose tickets p sees (session_centers()): a list holding a null
 * says so of no centre, as "= ANY" would not be true of one not found.
 */
bool
principal_sees_center(const Principal *p, int64 center_id)
{
	int			n = ArrayGetNItems(ARR_NDIM(p->centers), ARR_DIMS(p->centers));
	int64	   *v = (int64 *) ARR_DATA_PTR(p->centers);

	if (ARR_HASNULL(p->centers))
		return false;
	for (int i = 0; i < n; i++)
		if (v[i] == center_id)
			return true;
	return false;
}

/*
 * ticketdesk_forbid_forged_event is the BEFORE INSERT trigger on
 * ticket_event: a restricted role may not insert history rows of its own
 * making (TD701), only through the ticket's trigger (trigger depth 2 or more).
 */
Datum
ticketdesk_forbid_forged_event(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	LOCAL_FCINFO(depth_fcinfo, 0);

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("forbid_forged_event must be a BEFORE INSERT row trigger")));

	InitFunctionCallInfoData(*depth_fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	if (DatumGetInt32(pg_trigger_depth(depth_fcinfo)) < 2 && principal_of(GetUserId())->restricted)
		ereport(ERROR,
				(errcode(ERRCODE_TD_FORGED_EVENT),
				 errmsg("history events are written by ticketdesk only"),
				 errdetail("Role %s tried to insert a ticket_event row directly.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("Change the ticket; its trigger records the event.")));
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/* The principal of the role named by argument 0, pinned to the session's tenant. */
static const Principal *
principal_arg(FunctionCallInfo fcinfo)
{
	Name		rolname = PG_GETARG_NAME(0);
	const Principal *p = principal_of(get_role_oid(NameStr(*rolname), false));
	int32		tenant_id;

	(void) principal_check_tenant(p, &tenant_id);
	return p;
}

/* The principal of current_user, pinned to the session's tenant. */
static const Principal *
principal_current(void)
{
	const Principal *p = principal_of(GetUserId());
	int32		tenant_id;

	(void) principal_check_tenant(p, &tenant_id);
	return p;
}

/* Return a cached bigint, or NULL when there is none. */
#define PRINCIPAL_RETURN_OPTIONAL(has, value) \
	do { \
		if (!(has)) \
			PG_RETURN_NULL(); \
		PG_RETURN_INT64(value); \
	} while (0)

/* Return a copy of a cached array. */
#define PRINCIPAL_RETURN_ARRAY(a) \
	PG_RETURN_ARRAYTYPE_P(DatumGetArrayTypePCopy(PointerGetDatum(a)))

/*
 * What a session_* function answered at one call site (an FmgrInfo: one
 * place in one statement's expressions), and under what: the role, the
 * setting ticketdesk.tenant and the cache's generation. A policy calls the
 * function for every row it filters; while none of these changes the
 * answer cannot, so the row pays a comparison, not a look-up. An answer
 * given in parallel mode is asked again after it, as its principal is read
 * again.
 */
typedef struct SessionAnswer
{
	Oid			role;
	int32		tenant_setting;
	uint64		generation;
	bool		provisional;
	bool		isnull;
	Datum		value;
} SessionAnswer;

typedef Datum (*SessionQuestion) (const Principal *p, bool *isnull);

static Datum
session_answer(FunctionCallInfo fcinfo, SessionQuestion question, bool is_array)
{
	SessionAnswer *a = fcinfo->flinfo->fn_extra;
	Oid			role = GetUserId();

	/* Changes committed by others since the last command empty the cache. */
	AcceptInvalidationMessages();
	if (a == NULL || a->role != role || a->tenant_setting != ticketdesk_tenant ||
		a->generation != principal_generation || (a->provisional && !IsInParallelMode()))
	{
		const Principal *p = principal_current();
		bool		isnull = false;
		Datum		value = question(p, &isnull);
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (a == NULL)
			a = palloc0(sizeof(SessionAnswer));
		else if (is_array && !a->isnull)
			pfree(DatumGetPointer(a->value));
		a->isnull = isnull;
		/* The cache's array lives only until the next invalidation: copied. */
		a->value = (isnull || !is_array) ? value : PointerGetDatum(DatumGetArrayTypePCopy(value));
		MemoryContextSwitchTo(old);
		a->role = role;
		a->tenant_setting = ticketdesk_tenant;
		a->generation = principal_generation;
		a->provisional = p->provisional;
		fcinfo->flinfo->fn_extra = a;
	}
	fcinfo->isnull = a->isnull;
	return a->value;
}

static Datum
tenant_of(const Principal *p, bool *isnull)
{
	int32		tenant_id;

	*isnull = !principal_check_tenant(p, &tenant_id);
	return Int32GetDatum(tenant_id);
}

static Datum
agent_of(const Principal *p, bool *isnull)
{
	*isnull = !p->has_agent;
	return Int64GetDatum(p->agent_id);
}

static Datum
contact_of(const Principal *p, bool *isnull)
{
	*isnull = !p->has_contact;
	return Int64GetDatum(p->contact_id);
}

static Datum
contacts_of(const Principal *p, bool *isnull)
{
	return PointerGetDatum(p->contacts);
}

static Datum
customer_of(const Principal *p, bool *isnull)
{
	*isnull = !p->has_customer;
	return Int64GetDatum(p->customer_id);
}

static Datum
org_customer_of(const Principal *p, bool *isnull)
{
	*isnull = !p->has_org_customer;
	return Int64GetDatum(p->org_customer_id);
}

static Datum
centers_of(const Principal *p, bool *isnull)
{
	return PointerGetDatum(p->centers);
}

/* session_tenant(): the tenant current_user acts for (NULL: none). */
Datum
ticketdesk_session_tenant(PG_FUNCTION_ARGS)
{
	return session_answer(fcinfo, tenant_of, false);
}

/* session_agent(): the agent mapped to current_user, if any. */
Datum
ticketdesk_session_agent(PG_FUNCTION_ARGS)
{
	return session_answer(fcinfo, agent_of, false);
}

/* session_contact(): the contact mapped to current_user, if any. */
Datum
ticketdesk_session_contact(PG_FUNCTION_ARGS)
{
	return session_answer(fcinfo, contact_of, false);
}

/* session_contacts(): the contacts whose tickets current_user sees. */
Datum
ticketdesk_session_contacts(PG_FUNCTION_ARGS)
{
	return session_answer(fcinfo, contacts_of, true);
}

/* session_customer(): the customer of current_user's contact, if any. */
Datum
ticketdesk_session_customer(PG_FUNCTION_ARGS)
{
	return session_answer(fcinfo, customer_of, false);
}

/* session_org_customer(): the customer whose tickets current_user sees whole. */
Datum
ticketdesk_session_org_customer(PG_FUNCTION_ARGS)
{
	return session_answer(fcinfo, org_customer_of, false);
}

/* session_centers(): the centres whose tickets current_user sees. */
Datum
ticketdesk_session_centers(PG_FUNCTION_ARGS)
{
	return session_answer(fcinfo, centers_of, true);
}

/* role_principal(r, OUT tenant_id, OUT agent_id, OUT contact_id). */
Datum
ticketdesk_role_principal(PG_FUNCTION_ARGS)
{
	Name		rolname = PG_GETARG_NAME(0);
	const Principal *p = principal_of(get_role_oid(NameStr(*rolname), false));
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3];
	int32		tenant_id;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticketdesk: role_principal must return a record");
	nulls[0] = !principal_check_tenant(p, &tenant_id);
	values[0] = Int32GetDatum(tenant_id);
	nulls[1] = !p->has_agent;
	values[1] = Int64GetDatum(p->agent_id);
	nulls[2] = !p->has_contact;
	values[2] = Int64GetDatum(p->contact_id);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* role_is_restricted(r): r is limited to the rows of one person. */
Datum
ticketdesk_role_is_restricted(PG_FUNCTION_ARGS)
{
	Name		rolname = PG_GETARG_NAME(0);

	PG_RETURN_BOOL(principal_of(get_role_oid(NameStr(*rolname), false))->restricted);
}

/* role_contacts(r): the contacts whose tickets r sees. */
Datum
ticketdesk_role_contacts(PG_FUNCTION_ARGS)
{
	PRINCIPAL_RETURN_ARRAY(principal_arg(fcinfo)->contacts);
}

/* role_customer(r): the customer of r's contact, if any. */
Datum
ticketdesk_role_customer(PG_FUNCTION_ARGS)
{
	const Principal *p = principal_arg(fcinfo);

	PRINCIPAL_RETURN_OPTIONAL(p->has_customer, p->customer_id);
}

/* role_org_customer(r): the customer whose tickets r sees whole, if any. */
Datum
ticketdesk_role_org_customer(PG_FUNCTION_ARGS)
{
	const Principal *p = principal_arg(fcinfo);

	PRINCIPAL_RETURN_OPTIONAL(p->has_org_customer, p->org_customer_id);
}

/* role_centers(r): the centres whose tickets r sees. */
Datum
ticketdesk_role_centers(PG_FUNCTION_ARGS)
{
	PRINCIPAL_RETURN_ARRAY(principal_arg(fcinfo)->centers);
}
