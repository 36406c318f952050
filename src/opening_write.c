/*
 * opening_write.c
 *		The row of a ticket that open_ticket opens, written without an SQL
 *		statement when the caller's rights and policies can be checked here.
 *
 * open_ticket's INSERT was a third of an opening's cost before any trigger
 * of the other tables ran: the executor set up for a table of ten indexes,
 * generated columns and check constraints, the policies' init plans and
 * WITH CHECK options, the RETURNING projection, and after the row six
 * foreign-key checks, each a query with a row lock (doc/benchmarks.md,
 * "Session 6: opening a ticket"). open_ticket_write writes the same row the
 * way the history rows are written (direct_write.c): defaults, NOT NULL,
 * CHECK and domain constraints, generated columns, indexes and every
 * row-level trigger apply as for the INSERT. What a statement does besides,
 * this does itself, or declines and returns NULL, and open_ticket runs its
 * INSERT, which then says what is wrong:
 *
 *	- privileges: INSERT of the columns given and SELECT of every column
 *	  (RETURNING *), checked as the executor checks a statement's
 *	  (ExecCheckRTPerms);
 *	- row-level security: the policies on ticket are the four this file
 *	  knows (compared by name, command, kind, roles and expressions, deparsed,
 *	  whenever the table's definition changes); those that apply to the caller
 *	  are evaluated here on the row, before the write on the values given and
 *	  after it on the row as written (a BEFORE trigger may change it), with
 *	  the refusal an INSERT would give. Any other policy, a requester's
 *	  policy, or a row that fails: the INSERT decides;
 *	- statement-level triggers, transition tables, rules and BEFORE row
 *	  triggers other than ticketdesk's own: the INSERT;
 *	- foreign keys: every reference of the row as written is locked FOR KEY
 *	  SHARE by the referenced table's primary key (direct_key_share), as the
 *	  foreign key's check would lock it, instead of the check's query; a
 *	  reference that is gone (deleted meanwhile: open_ticket looked them up)
 *	  is refused as the check would refuse it (23503). The references the
 *	  caller holds already (OpeningHeld) are not locked again.
 *
 * Plain INSERTs into ticket (an ERP's) are statements and keep every check
 * of the table: only open_ticket calls this. doc/security.md says so.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "rewrite/rowsecurity.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/ruleutils.h"

#include "opening.h"
#include "principal.h"
#include "ticketdesk.h"

PG_FUNCTION_INFO_V1(ticketdesk_open_ticket_write);

/* The columns open_ticket's INSERT gives, in the order of the arguments. */
static const char *const opening_columns[OPENING_COLUMNS] = {
	[OPENING_TENANT] = "tenant_id", [OPENING_TYPE] = "type_id", [OPENING_CENTER] = "center_id",
	[OPENING_CATEGORY] = "category_id", [OPENING_CUSTOMER] = "customer_id",
	[OPENING_CONTACT] = "contact_id", [OPENING_REQUESTER_AGENT] = "requester_agent_id",
	[OPENING_REGISTERED_BY] = "registered_by", [OPENING_CHANNEL] = "channel",
	[OPENING_SUBJECT] = "subject", [OPENING_DESCRIPTION] = "description",
	[OPENING_REQUESTER_WEIGHT] = "requester_weight", [OPENING_DEADLINE] = "deadline",
	[OPENING_PLANNED] = "planned", [OPENING_SITE] = "site_id", [OPENING_PRODUCT] = "product_id",
	[OPENING_OBJECT_TEXT] = "object_text", [OPENING_INVOICE_REF] = "invoice_ref",
	[OPENING_ASSIGNEE] = "assignee_id", [OPENING_PARENT] = "parent_id"
};

/*
 * Every table a ticket refers to: the foreign keys to them are not checked
 * by their queries; each reference is locked by key below instead.
 */
static const char *const referenced[] = {
	"ticket_type", "center", "category", "internal_category", "customer", "contact",
	"agent", "site", "product", "ticket", NULL
};
static DirectTable ticket_table = {"ticket", lengthof(opening_columns), opening_columns, referenced};

/* A referenced table, to lock its rows by key. */
static DirectTable reference_tables[lengthof(referenced) - 1];

/* ticketdesk's own BEFORE row triggers on ticket. */
static const char *const own_before_triggers[] = {"ticket_lifecycle", "ticket_no_cycle", NULL};

/*
 * The policies on ticket this file evaluates (schema/95_roles.sql), as
 * deparse_expression prints them with search_path = pg_catalog, ticketdesk. The
 * requester's is known so that it can be recognised; a requester's opening
 * goes through the INSERT.
 */
typedef enum KnownPolicy
{
	POLICY_TENANT,
	POLICY_REQUESTER,
	POLICY_AGENT,
	POLICY_DISPATCHER,
	KNOWN_POLICIES
} KnownPolicy;

static const struct
{
	const char *name;
	bool		permissive;
	const char *role;			/* NULL: PUBLIC */
	const char *qual;
	const char *with_check;		/* NULL: none */
}			known_policies[KNOWN_POLICIES] = {
	{"tenant_isolation", true, NULL,
		"(tenant_id = session_tenant())",
	"(tenant_id = session_tenant())"},
	{"requester_rows", false, "ticketdesk_requester",
		"(contact_id = ANY (session_contacts()))",
	"(contact_id = session_contact())"},
	{"agent_rows", false, "ticketdesk_agent",
		"((assignee_id = session_agent()) OR "
		"(center_id = ANY (session_centers())) OR "
		"(handed_by = session_agent()) OR "
		"(EXISTS (SELECT 1 FROM watcher w WHERE ((w.tenant_id = ticket.tenant_id) AND "
		"(w.ticket_id = ticket.ticket_id) AND (w.agent_id = session_agent())))))",
	NULL},
	{"dispatcher_rows", false, "ticketdesk_dispatcher",
		"((center_id = ANY (session_centers())) OR "
		"(assignee_id = session_agent()) OR "
		"(handed_by = session_agent()))",
	NULL}
};

/*
 * What is known of the table, until its definition changes: the generation
 * of ticket_table's description (direct_describe) it was learnt at.
 */
static uint64 known_generation = 0;

/*
 * The foreign keys of ticket, as of known_generation: which referenced
 * table's rows are locked here (NULL: none of ours, its check runs), and
 * which of the caller's OpeningHeld flags may stand for its lock (0: none).
 * Named once per description of the table, not looked up for every opening.
 */
typedef struct KnownReference
{
	Oid			conoid;
	DirectTable *table;
	int			held_by;
	char	   *refname;
} KnownReference;
static KnownReference *known_references = NULL;
static int	nknown_references = 0;
static DirectTable *reference_table(const char *name);
static bool table_eligible = false; /* triggers, rules, policies as expected */
static Oid	policy_role[KNOWN_POLICIES];	/* InvalidOid: PUBLIC */
static Bitmapset *inserted_cols = NULL;
static Bitmapset *selected_cols = NULL;

/* An expression as pg_get_expr prints it under the pinned search_path. */
static char *
deparsed(Expr *expr, Relation rel)
{
	if (expr == NULL)
		return NULL;
	return deparse_expression((Node *) expr,
							  deparse_context_for(RelationGetRelationName(rel), RelationGetRelid(rel)),
							  false, false);
}

/* The policy's roles are exactly the one role (InvalidOid: PUBLIC). */
static bool
roles_are(ArrayType *roles, Oid role)
{
	Oid		   *r = (Oid *) ARR_DATA_PTR(roles);

	return ARR_NDIM(roles) == 1 && ArrayGetNItems(ARR_NDIM(roles), ARR_DIMS(roles)) == 1 &&
		r[0] == (OidIsValid(role) ? role : ACL_ID_PUBLIC);
}

/* Whether the table's policies are the known ones. */
static bool
policies_known(Relation rel)
{
	bool		seen[KNOWN_POLICIES] = {false};
	ListCell   *lc;
	int			nestlevel;
	bool		result = true;

	if (rel->rd_rsdesc == NULL || list_length(rel->rd_rsdesc->policies) != KNOWN_POLICIES)
		return false;
	for (int k = 0; k < KNOWN_POLICIES; k++)
		policy_role[k] = known_policies[k].role == NULL ? InvalidOid
			: get_role_oid(known_policies[k].role, true);

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, ticketdesk", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	foreach(lc, rel->rd_rsdesc->policies)
	{
		RowSecurityPolicy *p = lfirst(lc);
		char	   *qual = deparsed(p->qual, rel);
		char	   *check = deparsed(p->with_check_qual, rel);
		int			k;

		for (k = 0; k < KNOWN_POLICIES; k++)
			if (strcmp(p->policy_name, known_policies[k].name) == 0)
				break;
		if (k == KNOWN_POLICIES || seen[k] || p->polcmd != '*' ||
			p->permissive != known_policies[k].permissive ||
			(known_policies[k].role != NULL && !OidIsValid(policy_role[k])) ||
			!roles_are(p->roles, policy_role[k]) ||
			qual == NULL || strcmp(qual, known_policies[k].qual) != 0 ||
			(check == NULL) != (known_policies[k].with_check == NULL) ||
			(check != NULL && strcmp(check, known_policies[k].with_check) != 0))
		{
			result = false;
			break;
		}
		seen[k] = true;
	}
	AtEOXact_GUC(true, nestlevel);
	return result;
}

/* Whether the table's triggers and rules are those a direct write keeps. */
static bool
triggers_known(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;

	if (rel->rd_rules != NULL)
		return false;
	if (td == NULL)
		return true;
	if (td->trig_insert_before_statement || td->trig_insert_after_statement ||
		td->trig_insert_instead_row || td->trig_insert_new_table)
		return false;
	for (int i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];
		bool		own = false;

		if (!TRIGGER_FOR_ROW(t->tgtype) || !TRIGGER_FOR_BEFORE(t->tgtype) ||
			!TRIGGER_FOR_INSERT(t->tgtype))
			continue;
		for (int k = 0; own_before_triggers[k] != NULL; k++)
			own = own || strcmp(t->tgname, own_before_triggers[k]) == 0;
		if (!own)
			return false;
	}
	return true;
}

/*
 * The OpeningHeld flag that stands for the reference of fk to refname: the
 * configuration tables' under the reference guard, the contact's, and the
 * registering agent's (only that column's: the ticket names agents in
 * other columns too).
 */
static int
reference_holder(Relation rel, ForeignKeyCacheInfo *fk, const char *refname)
{
	AttrNumber	registered_by = get_attnum(RelationGetRelid(rel), "registered_by");

	for (int g = 0; guarded_configuration[g] != NULL; g++)
		if (strcmp(guarded_configuration[g], refname) == 0)
			return HELD_CONFIGURATION;
	if (strcmp(refname, "contact") == 0)
		return HELD_CONTACT;
	if (strcmp(refname, "agent") == 0)
		for (int i = 0; i < fk->nkeys; i++)
			if (fk->conkey[i] == registered_by)
				return HELD_REGISTERING_AGENT;
	return 0;
}

/* Learn the table's foreign keys (KnownReference). */
static void
know_references(Relation rel)
{
	List	   *fks = RelationGetFKeyList(rel);
	ListCell   *lc;
	int			n = 0;

	for (int i = 0; i < nknown_references; i++)
		if (known_references[i].refname != NULL)
			pfree(known_references[i].refname);
	if (known_references != NULL)
		pfree(known_references);
	known_references = MemoryContextAllocZero(TopMemoryContext,
											  sizeof(KnownReference) * Max(list_length(fks), 1));
	foreach(lc, fks)
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);
		KnownReference *k = &known_references[n++];
		char	   *refname = get_rel_name(fk->confrelid);

		k->conoid = fk->conoid;
		if (refname == NULL || get_rel_namespace(fk->confrelid) != RelationGetNamespace(rel))
			continue;
		k->refname = MemoryContextStrdup(TopMemoryContext, refname);
		k->table = reference_table(refname);
		k->held_by = reference_holder(rel, fk, refname);
	}
	nknown_references = n;
}

/* Learn the table: its columns, and whether it may be written directly. */
static void
know_table(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;

	old = MemoryContextSwitchTo(TopMemoryContext);
	bms_free(inserted_cols);
	bms_free(selected_cols);
	inserted_cols = NULL;
	selected_cols = NULL;
	for (int c = 0; c < lengthof(opening_columns); c++)
	{
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), opening_columns[c]);

		if (attnum == InvalidAttrNumber)
			elog(ERROR, "ticketdesk: table ticket has no column %s", opening_columns[c]);
		inserted_cols = bms_add_member(inserted_cols, attnum - FirstLowInvalidHeapAttributeNumber);
	}
	for (int a = 0; a < desc->natts; a++)
		if (!TupleDescAttr(desc, a)->attisdropped)
			selected_cols = bms_add_member(selected_cols, a + 1 - FirstLowInvalidHeapAttributeNumber);
	MemoryContextSwitchTo(old);
	know_references(rel);
	table_eligible = triggers_known(rel) && policies_known(rel);
}

/* The caller may INSERT these columns of ticket and read the row back. */
static bool
privileges_allow(Relation rel)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT | ACL_SELECT;
	rte->checkAsUser = InvalidOid;
	rte->insertedCols = inserted_cols;
	rte->selectedCols = selected_cols;
	return ExecCheckRTPerms(list_make1(rte), false);
}

/*
 * Whether the row (tenant, centre, assignee) passes the policy k for the
 * caller p: true only when the policy's expression is certainly true. The
 * agent's EXISTS on watcher counts as false: no watcher can name a ticket
 * that does not exist yet; and handed_by is null in a new ticket (only a
 * move sets it).
 */
static bool
policy_passes(KnownPolicy k, const Principal *p, bool has_tenant, int32 session_tenant,
			  int32 tenant, bool center_null, int64 center, bool assignee_null, int64 assignee)
{
	switch (k)
	{
		case POLICY_TENANT:
			return has_tenant && tenant == session_tenant;
		case POLICY_AGENT:
		case POLICY_DISPATCHER:
			return (!assignee_null && p->has_agent && assignee == p->agent_id) ||
				(!center_null && principal_sees_center(p, center));
		case POLICY_REQUESTER:
		default:
			return false;
	}
}

/*
 * The first policy that applies to current_user and the row does not pass,
 * in the order the executor checks them (the permissive ones together,
 * then the restrictive ones by name), or -1 when the row passes them all.
 */
static int
failing_policy(int32 tenant, bool center_null, int64 center, bool assignee_null, int64 assignee)
{
	static const KnownPolicy restrictive_by_name[] = {POLICY_AGENT, POLICY_DISPATCHER, POLICY_REQUESTER};
	Oid			user = GetUserId();
	const Principal *p = principal_of(user);
	int32		session_tenant = 0;
	bool		has_tenant = principal_check_tenant(p, &session_tenant);

	/* tenant_isolation, the only permissive one, applies to PUBLIC. */
	if (!policy_passes(POLICY_TENANT, p, has_tenant, session_tenant, tenant,
					   center_null, center, assignee_null, assignee))
		return POLICY_TENANT;
	for (int i = 0; i < lengthof(restrictive_by_name); i++)
	{
		KnownPolicy k = restrictive_by_name[i];

		if (has_privs_of_role(user, policy_role[k]) &&
			!policy_passes(k, p, has_tenant, session_tenant, tenant,
						   center_null, center, assignee_null, assignee))
			return k;
	}
	return -1;
}

/* Whether open_ticket's row may be written here, on the values given. */
static bool
may_write_directly(Relation rel, const Datum *values, const bool *nulls)
{
	uint64		generation = direct_describe(&ticket_table, rel);
	int			rls;

	if (generation != known_generation)
	{
		know_table(rel);
		known_generation = generation;
	}
	if (!table_eligible)
	{
		elog(DEBUG1, "ticketdesk: open_ticket inserts: the triggers, rules or policies of ticket are not those known");
		return false;
	}
	if (!privileges_allow(rel))
	{
		elog(DEBUG1, "ticketdesk: open_ticket inserts: privileges");
		return false;
	}
	rls = check_enable_rls(RelationGetRelid(rel), InvalidOid, false);
	if (rls != RLS_ENABLED)
		return true;
	if (nulls[OPENING_TENANT] ||
		failing_policy(DatumGetInt32(values[OPENING_TENANT]),
					   nulls[OPENING_CENTER], nulls[OPENING_CENTER] ? 0 : DatumGetInt64(values[OPENING_CENTER]),
					   nulls[OPENING_ASSIGNEE],
					   nulls[OPENING_ASSIGNEE] ? 0 : DatumGetInt64(values[OPENING_ASSIGNEE])) >= 0)
	{
		elog(DEBUG1, "ticketdesk: open_ticket inserts: a policy");
		return false;
	}
	return true;
}

/*
 * The row as written still passes the caller's policies (a BEFORE trigger
 * may have changed it); the refusal is the executor's.
 */
static void
check_policies_written(Relation rel, HeapTuple tuple)
{
	const TicketColumns *tc = ticket_columns(rel);
	bool		tenant_null;
	bool		center_null;
	bool		assignee_null;
	Datum		tenant;
	Datum		center;
	Datum		assignee;
	int			failed;

	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) != RLS_ENABLED)
		return;
	tenant = ticket_get(tc, rel, tuple, TC_TENANT_ID, &tenant_null);
	center = ticket_get(tc, rel, tuple, TC_CENTER_ID, &center_null);
	assignee = ticket_get(tc, rel, tuple, TC_ASSIGNEE_ID, &assignee_null);
	failed = tenant_null ? POLICY_TENANT
		: failing_policy(DatumGetInt32(tenant), center_null, center_null ? 0 : DatumGetInt64(center),
						 assignee_null, assignee_null ? 0 : DatumGetInt64(assignee));
	if (failed == POLICY_TENANT)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("new row violates row-level security policy for table \"%s\"",
						RelationGetRelationName(rel))));
	if (failed >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("new row violates row-level security policy \"%s\" for table \"%s\"",
						known_policies[failed].name, RelationGetRelationName(rel))));
}

/* The referenced table named name, to lock its rows by key. */
static DirectTable *
reference_table(const char *name)
{
	for (int i = 0; referenced[i] != NULL; i++)
		if (strcmp(referenced[i], name) == 0)
		{
			if (reference_tables[i].relname == NULL)
				reference_tables[i].relname = referenced[i];
			return &reference_tables[i];
		}
	return NULL;
}

/* A column's value as text, for a foreign key's refusal. */
static char *
value_text(TupleDesc desc, AttrNumber attnum, Datum value)
{
	Oid			output;
	bool		varlena;

	getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &output, &varlena);
	return OidOutputFunctionCall(output, value);
}

/*
 * Whether the reference of fk in the row as written is one the caller holds
 * already (held, OpeningHeld), with the very values given (a BEFORE trigger
 * may have changed them).
 */
static bool
held_reference(TupleDesc desc, const KnownReference *k, ForeignKeyCacheInfo *fk, const Datum *key,
			   const Datum *given, const bool *given_null, int held)
{
	bool		holds = (k->held_by & held) != 0;

	for (int i = 0; i < fk->nkeys && holds; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, fk->conkey[i] - 1);
		int			c = ticket_table.given[fk->conkey[i] - 1];

		holds = c != 0 && !given_null[c - 1] &&
			datumIsEqual(key[i], given[c - 1], att->attbyval, att->attlen);
	}
	return holds;
}

/*
 * Lock every row the written ticket refers to FOR KEY SHARE, as the
 * foreign keys' checks would; refuse a reference that is gone as they do.
 * The references the caller holds already (held_reference, with the values
 * given) are left as they are.
 */
static void
lock_references(Relation rel, HeapTuple tuple, const Datum *given, const bool *given_null, int held)
{
	TupleDesc	desc = RelationGetDescr(rel);
	ListCell   *lc;

	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);
		const KnownReference *k = NULL;
		DirectTable *t;
		const char *refname;
		Datum		key[INDEX_MAX_KEYS];
		bool		isnull = false;

		for (int i = 0; i < nknown_references && k == NULL; i++)
			if (known_references[i].conoid == fk->conoid)
				k = &known_references[i];
		if (k == NULL)
			elog(ERROR, "ticketdesk: the foreign key %u of ticket is not known", fk->conoid);
		t = k->table;
		refname = k->refname;
		if (t == NULL)
			continue;			/* not vouched for: its check runs */
		for (int i = 0; i < fk->nkeys && !isnull; i++)
			key[i] = heap_getattr(tuple, fk->conkey[i], desc, &isnull);
		if (isnull)
			continue;			/* MATCH SIMPLE: a NULL column is no reference */
		if (held_reference(desc, k, fk, key, given, given_null, held))
			continue;
		if (!direct_key_share(t, key))
		{
			StringInfoData cols;
			StringInfoData vals;
			char	   *conname = get_constraint_name(fk->conoid);

			initStringInfo(&cols);
			initStringInfo(&vals);
			for (int i = 0; i < fk->nkeys; i++)
			{
				appendStringInfo(&cols, "%s%s", i > 0 ? ", " : "",
								 NameStr(TupleDescAttr(desc, fk->conkey[i] - 1)->attname));
				appendStringInfo(&vals, "%s%s", i > 0 ? ", " : "",
								 value_text(desc, fk->conkey[i], key[i]));
			}
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("insert or update on table \"%s\" violates foreign key constraint \"%s\"",
							RelationGetRelationName(rel), conname),
					 errdetail("Key (%s)=(%s) is not present in table \"%s\".",
							   cols.data, vals.data, refname),
					 errtableconstraint(rel, conname)));
		}
		/* The key was searched in the primary key's order: it must be the FK's. */
		if (t->nkeys != fk->nkeys)
			elog(ERROR, "ticketdesk: the foreign key %u does not reference the primary key of %s",
				 fk->conoid, refname);
		for (int i = 0; i < fk->nkeys; i++)
			if (t->key_attnums[i] != fk->confkey[i])
				elog(ERROR, "ticketdesk: the foreign key %u does not reference the primary key of %s",
					 fk->conoid, refname);
	}
}

/*
 * opening_write writes the ticket of open_ticket's INSERT (values and nulls
 * in opening_columns' order) and returns it as INSERT ... RETURNING * would,
 * or returns NULL, having written nothing, when the row must go through the
 * INSERT (see above). held (OpeningHeld): the references the caller holds.
 */
HeapTupleHeader
opening_write(const Datum *values, const bool *nulls, int held)
{
	Relation	rel;
	DirectWrite *write;
	HeapTuple	tuple;
	Datum		result;

	rel = direct_open_table(&ticket_table, RowExclusiveLock);
	if (!may_write_directly(rel, values, nulls))
	{
		table_close(rel, NoLock);
		return NULL;
	}

	write = direct_begin(&ticket_table);
	tuple = direct_append_returning(write, values, nulls);
	if (tuple == NULL)
		elog(ERROR, "ticketdesk: a BEFORE trigger of ticket skipped the row");
	direct_close_indexes(write);	/* the one row is written */
	check_policies_written(rel, tuple);
	lock_references(rel, tuple, values, nulls, held);
	direct_end(write);

	result = heap_copy_tuple_as_datum(tuple, RelationGetDescr(rel));
	table_close(rel, NoLock);
	return DatumGetHeapTupleHeader(result);
}

/*
 * open_ticket_write(the columns of open_ticket's INSERT, in its order):
 * opening_write for SQL.
 */
Datum
ticketdesk_open_ticket_write(PG_FUNCTION_ARGS)
{
	Datum		values[lengthof(opening_columns)];
	bool		nulls[lengthof(opening_columns)];
	HeapTupleHeader result;

	for (int i = 0; i < lengthof(opening_columns); i++)
	{
		nulls[i] = PG_ARGISNULL(i);
		values[i] = nulls[i] ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	result = opening_write(values, nulls, 0);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_HEAPTUPLEHEADER(result);
}
