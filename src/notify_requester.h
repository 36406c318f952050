/*
 * notify_requester.h
 *		Queueing an event told to the requester alone (notify_requester.c).
 */
#ifndef NOTIFY_REQUESTER_H
#define NOTIFY_REQUESTER_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

extern void notify_requester_queue(HeapTuple eventrow, TupleDesc tupdesc, const char *event);

#endif							/* NOTIFY_REQUESTER_H */
