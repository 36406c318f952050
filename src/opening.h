/*
 * opening.h
 *		Opening a ticket: the pieces open_ticket is made of (open_ticket.c,
 *		opening_refs.c, opening_write.c).
 */
#ifndef TICKETDESK_OPENING_H
#define TICKETDESK_OPENING_H

#include "access/htup.h"

/* The columns of open_ticket's row, in the order of its INSERT. */
typedef enum OpeningColumn
{
	OPENING_TENANT,
	OPENING_TYPE,
	OPENING_CENTER,
	OPENING_CATEGORY,
	OPENING_CUSTOMER,
	OPENING_CONTACT,
	OPENING_REQUESTER_AGENT,
	OPENING_REGISTERED_BY,
	OPENING_CHANNEL,
	OPENING_SUBJECT,
	OPENING_DESCRIPTION,
	OPENING_REQUESTER_WEIGHT,
	OPENING_DEADLINE,
	OPENING_PLANNED,
	OPENING_SITE,
	OPENING_PRODUCT,
	OPENING_OBJECT_TEXT,
	OPENING_INVOICE_REF,
	OPENING_ASSIGNEE,
	OPENING_PARENT,
	OPENING_COLUMNS
} OpeningColumn;

/* The type's id when the references pass open_ticket's checks, else 0. */
extern int64 opening_type(int32 tenant_id, int64 center_id, text *code,
						  bool has_category, int64 category_id);

/*
 * The referenced rows the caller of opening_write holds already, so that
 * the write does not lock them again.
 */
typedef enum OpeningHeld
{
	/* the type, centre and category given: vouched for under the reference guard */
	HELD_CONFIGURATION = 1 << 0,
	/* the registering agent given: the login's, held by her guard */
	HELD_REGISTERING_AGENT = 1 << 1,
	/* the contact given: found and locked by the caller */
	HELD_CONTACT = 1 << 2
} OpeningHeld;

/* The row written without a statement, or NULL when the INSERT must write it. */
extern HeapTupleHeader opening_write(const Datum *values, const bool *nulls, int held);

/* The reference guard (reference_guard.c) and the tables it stands for. */
extern void reference_guard_share(void);
extern const char *const guarded_configuration[];

#endif
