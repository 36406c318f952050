/*
 * notify_requester.h
 *		Queueing an event told to the requester alone (notify_requester.c),
 *		called by the notification gate (notify_gate.c).
 */
#ifndef NOTIFY_REQUESTER_H
#define NOTIFY_REQUESTER_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

/* A column of a history row, found by name (notify_gate.c). */
extern Datum notify_event_column(HeapTuple tuple, TupleDesc tupdesc, const char *column,
								 bool *isnull);

extern void notify_requester_queue(HeapTuple eventrow, TupleDesc tupdesc, const char *event);

#endif							/* NOTIFY_REQUESTER_H */
