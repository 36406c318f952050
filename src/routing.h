/*
 * routing.h
 *		Workflow stages and automatic assignment (routing.c), and the load
 *		counters kept by the ticket_load trigger (load.c).
 */
#ifndef ROUTING_H
#define ROUTING_H

#include "executor/spi.h"

#include "ticketdesk.h"

/* The centre and the centres above it, for queries that take $1 tenant, $3 centre. */
#define CENTRE_CHAIN \
	"WITH RECURSIVE up(center_id, parent_id) AS (" \
	"  SELECT c.center_id, c.parent_id FROM ticketdesk.center c" \
	"   WHERE c.tenant_id = $1 AND c.center_id = $3" \
	"  UNION" \
	"  SELECT c.center_id, c.parent_id FROM ticketdesk.center c" \
	"    JOIN up ON c.tenant_id = $1 AND c.center_id = up.parent_id) "

/* What the lifecycle trigger must write into the row after routing. */
typedef struct RoutingDecision
{
	bool		set_stage;		/* stage must be written */
	int16		stage;
	int64		agent_id;		/* the new assignee; 0 leaves it in the queue */
} RoutingDecision;

extern void routing_decide(const TicketColumns *tc, Relation rel,
						   HeapTuple oldtup, HeapTuple newtup,
						   TicketStatus status, bool assignee_null,
						   RoutingDecision *decision);

/* The agents who may take a stage of the profile in the centre (holders.c). */
extern int	routing_holders(int32 tenant_id, int64 profile_id, int64 center_id,
							const int64 **agent_ids, char *const **names);

/* A stage of a type's workflow, as routing reads it (route_config.c). */
typedef struct RouteStage
{
	bool		has_workflow;	/* the type has a workflow */
	char	   *stage_name;		/* NULL when the workflow has no such stage */
	int64		profile_id;		/* 0 when the stage names none */
	char	   *profile_code;
	bool		weighted;		/* loads weigh priority */
} RouteStage;

/* Where a ticket of a centre goes when nobody can be picked (route_config.c). */
typedef struct RouteCentre
{
	bool		has_dispatcher; /* the centre or one above has an active one */
	int64		admin_id;		/* the tenant's active administrator, 0: none */
	char	   *admin_name;
	char	   *center_code;
} RouteCentre;

extern const RouteStage *routing_stage(int32 tenant_id, int64 type_id, int16 stage);
extern const RouteCentre *routing_centre(int32 tenant_id, int64 center_id);

/* A saved, generic SPI plan, prepared on first use. */
extern SPIPlanPtr routing_saved_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes);

/* The routing event waiting for the ticket's AFTER trigger, if any. */
extern bool routing_take_event(int32 tenant_id, int64 ticket_id,
							   char **rule, char **note);

#endif							/* ROUTING_H */
