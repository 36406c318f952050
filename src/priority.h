/*
 * priority.h
 *		The priority matrix (priority.c): base priority from the most specific
 *		rule, moved by the weights and the deadline.
 */
#ifndef TICKETDESK_PRIORITY_H
#define TICKETDESK_PRIORITY_H

#include "ticketdesk.h"

#include "utils/timestamp.h"

#define ERRCODE_TD_ASAOF_REQUIRED		MAKE_SQLSTATE('T','D','5','0','4')
#define ERRCODE_TD_PRIORITY_COMPUTED	MAKE_SQLSTATE('T','D','5','0','3')

/*
 * priority_for_ticket decides the priority of a ticket row on its way in
 * (the lifecycle trigger calls it). It returns true and the value to store
 * in *value when the priority is to be (re)computed, false when the row's
 * priority stays as it is: fixed by the dispatcher, or nothing it depends
 * on changed. oldrow is NULL for an insert.
 */
extern bool priority_for_ticket(const TicketRow *oldrow, const TicketRow *newrow,
								TimestampTz as_of, Datum *value);

#endif							/* TICKETDESK_PRIORITY_H */
