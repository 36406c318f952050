/*
 * routing.h
 *		Workflow stages and automatic assignment (routing.c), and the load
 *		counters kept by the ticket_load trigger (load.c).
 */
#ifndef ROUTING_H
#define ROUTING_H

#include "ticketdesk.h"

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

/* The routing event waiting for the ticket's AFTER trigger, if any. */
extern bool routing_take_event(int32 tenant_id, int64 ticket_id,
							   char **rule, char **note);

#endif							/* ROUTING_H */
