/*
 * principal.h
 *		Whom a database role acts as (src/principal.c), cached per backend.
 */
#ifndef TICKETDESK_PRINCIPAL_H
#define TICKETDESK_PRINCIPAL_H

#include "utils/array.h"

/* A mapped role used while ticketdesk.tenant names another tenant. */
#define ERRCODE_TD_TENANT_PINNED	MAKE_SQLSTATE('T','D','7','0','0')
/* A restricted role inserting a history row itself. */
#define ERRCODE_TD_FORGED_EVENT		MAKE_SQLSTATE('T','D','7','0','1')

typedef struct Principal
{
	Oid			role;			/* the key */
	bool		restricted;		/* in a restricted role, not in ticketdesk_admin */
	bool		mapped;			/* an active agent's or a contact's login role */
	int32		tenant_id;		/* the mapped tenant, if mapped */
	bool		has_agent;
	int64		agent_id;
	bool		has_contact;
	int64		contact_id;
	bool		has_customer;	/* the contact's customer */
	int64		customer_id;
	bool		has_login_agent;	/* an agent's login_role, active or not */
	int32		login_agent_tenant_id;
	int64		login_agent_id;
	bool		has_org_customer;	/* the customer lets requesters see all its tickets */
	int64		org_customer_id;
	ArrayType  *contacts;		/* bigint[]: the contacts whose tickets it sees */
	ArrayType  *centers;		/* bigint[]: the centres whose tickets it sees, ascending */
	bool		provisional;	/* read in parallel mode: read again after it */
} Principal;

extern const Principal *principal_of(Oid role);
extern bool principal_check_tenant(const Principal *p, int32 *tenant_id);
extern bool principal_login_agent(int32 tenant_id, int64 *agent_id);
extern bool principal_sees_center(const Principal *p, int64 center_id);

#endif
