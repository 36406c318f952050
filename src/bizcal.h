/*
 * bizcal.h
 *		Business-time arithmetic (bizcal.c) and the SQLSTATEs of the
 *		automation modules (TD600-TD629, doc/errors.md).
 */
#ifndef BIZCAL_H
#define BIZCAL_H

#include "postgres.h"

#include "fmgr.h"
#include "datatype/timestamp.h"

#define ERRCODE_TD_NO_WORKING_TIME		MAKE_SQLSTATE('T','D','6','0','1')
#define ERRCODE_TD_BAD_TIME_ZONE		MAKE_SQLSTATE('T','D','6','0','3')
#define ERRCODE_TD_BAD_BUSINESS_AMOUNT	MAKE_SQLSTATE('T','D','6','0','4')
#define ERRCODE_TD_CALENDAR_NOT_FOUND	MAKE_SQLSTATE('T','D','6','0','5')
#define ERRCODE_TD_BAD_RRULE			MAKE_SQLSTATE('T','D','6','1','5')
#define ERRCODE_TD_SUBDAILY_RRULE		MAKE_SQLSTATE('T','D','6','1','6')

typedef struct BizCalendar BizCalendar;

extern BizCalendar *BizCalendarLoad(int32 tenant_id, int64 calendar_id, MemoryContext mcxt);
extern BizCalendar *BizCalendarCached(FmgrInfo *flinfo, int64 calendar_id);
extern TimestampTz BizCalendarAdd(const BizCalendar *cal, TimestampTz t, int64 amount);
extern TimestampTz BizCalendarAddDays(const BizCalendar *cal, TimestampTz t, int32 n);
extern int64 BizCalendarBetween(const BizCalendar *cal, TimestampTz a, TimestampTz b);

#endif							/* BIZCAL_H */
