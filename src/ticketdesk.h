/*
 * ticketdesk.h
 *		Declarations shared by the ticketdesk modules: settings, SQLSTATEs,
 *		ticket columns, statuses and the transition cache.
 */
#ifndef TICKETDESK_H
#define TICKETDESK_H

#include "postgres.h"

#include "access/htup.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/rel.h"

/* Settings (ticketdesk.c) */
extern int	ticketdesk_tenant;
extern int	ticketdesk_agent;
extern char *ticketdesk_note;
extern int	ticketdesk_max_attachment_kb;
extern int	ticketdesk_deadline_near_min;

/* An SPI plan kept for the whole backend (saved_plan.c). */
extern SPIPlanPtr saved_plan(const char *query, int nargs, Oid *argtypes);

/* relcache_callbacks.c: one PostgreSQL relcache callback for all the caches */
extern void ticketdesk_register_relcache_callback(RelcacheCallbackFunction func);

/*
 * A table of ticketdesk's that the triggers write rows of without an SQL
 * statement (direct_write.c). The caller fills the first four fields, in a
 * static variable; direct_write.c fills the rest on first use.
 */
typedef struct DirectTable
{
	const char *relname;		/* a table in schema ticketdesk */
	int			ncolumns;
	const char *const *columns; /* the columns the caller gives, in order */
	const char *const *vouched_references;	/* tables whose references the
											 * caller vouches for, NULL-ended;
											 * or NULL */
	bool		valid;
	Oid			relid;
	Oid			key_index;		/* its primary key */
	int			nkeys;
	AttrNumber *key_attnums;	/* the key's columns */
	struct ScanKeyData *key_scan;	/* equality on each key column, no value */
	int			natts;
	int		   *given;			/* per attribute: 1 + its index in columns, or 0 */
	struct Bitmapset *written;	/* the given columns, as an RTE's updatedCols */
	Oid		   *domain;			/* per given attribute: its domain, or 0 */
	void	  **domain_cache;	/* per given attribute: domain_check's */
	struct ExprState **defaults;	/* per attribute not given: its default */
	int			ncheck;			/* its CHECK constraints, planned */
	struct ExprState **checks;
	int			nindexes;		/* its indexes, in RelationGetIndexList's order, */
	Oid		   *index_oids;
	struct IndexInfo **index_infos; /* described, predicates planned */
	bool		index_infos_shared; /* every write may use them */
	struct ExprState **generated;	/* per attribute: its generation, planned */
	int			ngenerated;
	struct TriggerDesc *triggers;	/* without the vouched references' checks */
	struct ExprState **trigger_when;	/* per trigger of triggers: its WHEN
										 * clause, planned; NULL: none */
	MemoryContext cxt;
	uint64		generation;		/* changes whenever it is described again */
	uint64		named_at;		/* when named_relid was looked up; 0: never */
	Oid			named_relid;	/* the OID its name had then */
} DirectTable;

/*
 * A calling role's SELECT privilege and row-level security policies on one
 * table, evaluated on rows found by key (caller_policies.c). The caller
 * keeps one, zeroed, in a static variable per table.
 */
typedef enum CallerAnswer
{
	CALLER_SEES,
	CALLER_HIDDEN,
	CALLER_UNKNOWN				/* only a statement can say */
} CallerAnswer;

typedef struct CallerPolicies
{
	MemoryContext cxt;
	Oid			user;			/* the role the quals are for */
	Oid			relid;
	uint64		generation;		/* of the table's description */
	bool		privileged;		/* the role has SELECT on the table */
	bool		sublinks;		/* a policy has a sub-query */
	struct ExprState *quals;	/* its policies' quals, planned; NULL: none */
} CallerPolicies;

extern CallerAnswer caller_sees_row(CallerPolicies *policies, Relation rel, uint64 generation,
									HeapTuple row);

typedef struct DirectWrite DirectWrite;

/* Computes the given columns' new values from their current ones. */
typedef void (*DirectChange) (Datum *values, bool *nulls, void *arg);

extern DirectWrite *direct_begin(DirectTable *table);
extern void direct_append(DirectWrite *write, const Datum *values, const bool *nulls);
extern bool direct_update(DirectWrite *write, const Datum *key, DirectChange change, void *arg);
extern TupleTableSlot *direct_found_slot(DirectWrite *write);
extern Relation direct_relation(DirectWrite *write);
extern void direct_update_found(DirectWrite *write, DirectChange change, void *arg);
/* What direct_update_at did with a row. */
typedef enum DirectFound
{
	DIRECT_DONE,				/* updated */
	DIRECT_MISSING,				/* no such row */
	DIRECT_LOCKED				/* another transaction has it: left as it is */
} DirectFound;
extern DirectFound direct_update_at(DirectWrite *write, const Datum *key, ItemPointer hint,
									DirectChange change, void *arg);
extern void direct_written_tid(DirectWrite *write, ItemPointer tid);
extern void direct_end(DirectWrite *write);
extern void direct_close_indexes(DirectWrite *write);
extern bool direct_key_share(DirectTable *table, const Datum *key);
extern HeapTuple direct_key_share_row(DirectTable *table, const Datum *key, uint64 *generation);
extern HeapTuple direct_append_returning(DirectWrite *write, const Datum *values, const bool *nulls);
extern uint64 direct_describe(DirectTable *table, Relation rel);
extern Relation direct_open_table(DirectTable *table, LOCKMODE lockmode);
extern Oid	direct_table_oid(DirectTable *table);

/* One row of a ticket's history (history.c). */
typedef struct HistoryEvent
{
	const char *kind;
	Datum		old_value;		/* text */
	Datum		new_value;		/* text */
	bool		old_null;
	bool		new_null;
} HistoryEvent;

extern void history_append(int32 tenant_id, int64 ticket_id, const HistoryEvent *events, int n,
						   const char *note, int64 agent_locked);

/*
 * A table of ticketdesk's read by key without a statement (keyed_read.c).
 * The caller fills the first five fields, in a static variable;
 * keyed_read.c fills the rest on first use and after catalog changes.
 */
#define KEYED_MAX_COLUMNS 16
#define KEYED_MAX_KEYS 4
typedef struct KeyedTable
{
	const char *relname;		/* a table in schema ticketdesk */
	int			ncolumns;
	const char *const *columns; /* the columns read, in order */
	int			nkeys;
	const char *const *keys;	/* the leading columns of an index */
	uint64		learnt;			/* when the facts below were learnt; 0: never */
	Oid			relid;
	Oid			index;
	AttrNumber	attnum[KEYED_MAX_COLUMNS];
	int16		attlen[KEYED_MAX_COLUMNS];
	bool		attbyval[KEYED_MAX_COLUMNS];
	AttrNumber	key_attnum[KEYED_MAX_KEYS];
	int16		key_attlen[KEYED_MAX_KEYS];
	bool		key_attbyval[KEYED_MAX_KEYS];
	Oid			key_proc[KEYED_MAX_KEYS];	/* equality of each key column */
	Oid			key_collation[KEYED_MAX_KEYS];
	bool		key_unique;		/* the index is unique (not deferred) on
								 * exactly the key */
} KeyedTable;

typedef struct KeyedScan KeyedScan;

extern KeyedScan *keyed_begin(KeyedTable *table, Snapshot snapshot, int nkeys, const Datum *key,
							  const bool *isnull);
extern void keyed_rescan(KeyedScan *scan, int nkeys, const Datum *key, const bool *isnull);
extern bool keyed_next(KeyedScan *scan, Datum *values, bool *nulls);
extern void keyed_end(KeyedScan *scan);
extern KeyedScan *keyed_begin_written(KeyedTable *table, Snapshot snapshot, const Datum *key);
extern void keyed_row_written(struct TriggerData *trigdata);

/* ticketdesk's own bookkeeping as the bootstrap superuser (trusted.c). */
typedef struct TrustedScope
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		path_pushed;	/* parallel mode: search_path as an override */
} TrustedScope;

extern void trusted_enter(TrustedScope *scope);
extern void trusted_enter_override(TrustedScope *scope);
extern void trusted_by_key(void);
extern void trusted_done(TrustedScope *scope);
extern void trusted_leave(TrustedScope *scope);

/* Inbound mail (mailin.c) */
extern int	ticketdesk_mail_max_kb;
extern void mailin_define_settings(void);

/*
 * ticketdesk's own SQLSTATEs, class TD. doc/errors.md lists them all; the
 * SQL parts of the extension raise the same codes by their text.
 */
#define ERRCODE_TD_INVALID_TRANSITION	MAKE_SQLSTATE('T','D','4','0','1')
#define ERRCODE_TD_ASSIGNEE_REQUIRED	MAKE_SQLSTATE('T','D','4','0','2')
#define ERRCODE_TD_IMMUTABLE_COLUMN		MAKE_SQLSTATE('T','D','4','0','3')
#define ERRCODE_TD_SUBJECT_REQUIRED		MAKE_SQLSTATE('T','D','3','0','1')
#define ERRCODE_TD_WEIGHT_OUT_OF_RANGE	MAKE_SQLSTATE('T','D','3','0','2')
#define ERRCODE_TD_DEADLINE_BEFORE_OPEN	MAKE_SQLSTATE('T','D','3','0','3')
#define ERRCODE_TD_BAD_PLANNED_PERIOD	MAKE_SQLSTATE('T','D','3','0','4')
#define ERRCODE_TD_RESOLUTION_REQUIRED	MAKE_SQLSTATE('T','D','3','0','6')
#define ERRCODE_TD_UNKNOWN_AGENT		MAKE_SQLSTATE('T','D','2','0','3')
#define ERRCODE_TD_REQUESTER_REQUIRED	MAKE_SQLSTATE('T','D','3','0','8')
#define ERRCODE_TD_TICKET_FINISHED		MAKE_SQLSTATE('T','D','4','0','7')

/* Ticket statuses, in the order of the SQL enum ticket_status. */
typedef enum TicketStatus
{
	TS_NEW,
	TS_ASSIGNED,
	TS_ACKNOWLEDGED,
	TS_IN_PROGRESS,
	TS_WAITING,
	TS_RESOLVED,
	TS_CONFIRMED,
	TS_CLOSED,
	TS_CANCELLED,
	TS_COUNT
} TicketStatus;

extern TicketStatus ticket_status_from_datum(Oid enumtype, Datum value);
extern Datum ticket_status_to_datum(Oid enumtype, TicketStatus status);
extern const char *ticket_status_name(TicketStatus status);
extern void enum_label_oids(Oid enumtype, const char *typname,
							const char *const *labels, int nlabels, Oid *oids);

/* The ticket columns the triggers read or write (ticket_row.c). */
typedef enum TicketColumn
{
	TC_TENANT_ID,
	TC_TICKET_ID,
	TC_REFERENCE,
	TC_TYPE_ID,
	TC_CENTER_ID,
	TC_CATEGORY_ID,
	TC_INTERNAL_CATEGORY_ID,
	TC_SUBJECT,
	TC_DESCRIPTION,
	TC_CUSTOMER_ID,
	TC_CONTACT_ID,
	TC_REQUESTER_AGENT_ID,
	TC_PRODUCT_ID,
	TC_OBJECT_TEXT,
	TC_INVOICE_REF,
	TC_REQUESTER_WEIGHT,
	TC_DISPATCHER_WEIGHT,
	TC_PRIORITY,
	TC_DEADLINE,
	TC_PLANNED,
	TC_SITE_ID,
	TC_STATUS,
	TC_ASSIGNEE_ID,
	TC_PARENT_ID,
	TC_RESOLUTION,
	TC_CREATED_AT,
	TC_UPDATED_AT,
	TC_ASSIGNED_AT,
	TC_ACKNOWLEDGED_AT,
	TC_STARTED_AT,
	TC_RESOLVED_AT,
	TC_CONFIRMED_AT,
	TC_CLOSED_AT,
	TC_CANCELLED_AT,
	TC_PRIORITY_FIXED,
	TC_STAGE,
	TC_CHANNEL,
	TC_REGISTERED_BY,
	TC_HANDED_BY,				/* since 0.12: may be missing (optional) */
	TC_COUNT
} TicketColumn;

typedef struct TicketColumns
{
	Oid			relid;
	AttrNumber	attnum[TC_COUNT];
	Oid			typid[TC_COUNT];
	int16		typlen[TC_COUNT];
	bool		typbyval[TC_COUNT];
	Oid			typoutput[TC_COUNT];
} TicketColumns;

extern const TicketColumns *ticket_columns(Relation rel);
extern const char *ticket_column_name(TicketColumn col);
extern Datum ticket_get(const TicketColumns *tc, Relation rel, HeapTuple tup,
						TicketColumn col, bool *isnull);
extern bool ticket_column_changed(const TicketColumns *tc, Relation rel,
								  HeapTuple oldtup, HeapTuple newtup, TicketColumn col);

/*
 * A ticket row deformed once, for code that reads many of its columns:
 * heap_getattr walks a row with nulls from its start for every column read.
 */
typedef struct TicketRow
{
	const TicketColumns *tc;
	Datum	   *values;			/* by attribute number - 1 */
	bool	   *isnull;
} TicketRow;

extern void ticket_row_read(TicketRow *row, const TicketColumns *tc, Relation rel, HeapTuple tup);
extern Datum ticket_row_get(const TicketRow *row, TicketColumn col, bool *isnull);
extern bool ticket_row_changed(const TicketRow *oldrow, const TicketRow *newrow, TicketColumn col);

/* The acting agent (agent.c). */
extern int64 current_agent_id(int32 tenant_id, bool *isnull);

/*
 * The acting agent and whether her row is held by her guard (agent.c,
 * reference_guard.c) rather than to be locked.
 */
extern int64 acting_agent(int32 tenant_id, bool *isnull, bool *held);
extern void agent_guard_share(int64 agent_id);

/* The transition cache (transition.c). */
extern bool transition_allowed(int32 tenant_id, int64 type_id,
							   TicketStatus from, TicketStatus to,
							   uint32 *allowed_from);

#endif							/* TICKETDESK_H */
