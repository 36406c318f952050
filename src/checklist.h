/*
 * checklist.h
 *		The completion gate: open checklist items and missing approvals stop
 *		a ticket from being finished (checklist.c).
 */
#ifndef TICKETDESK_CHECKLIST_H
#define TICKETDESK_CHECKLIST_H

#include "ticketdesk.h"

extern void completion_gate(const TicketColumns *tc, Relation rel,
							HeapTuple oldtup, HeapTuple newtup,
							TicketStatus from, TicketStatus to);

#endif							/* TICKETDESK_CHECKLIST_H */
