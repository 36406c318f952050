/*
 * secret.h
 *		Reading a tenant's secrets (schema/63_secret.sql) from C, for the
 *		worker's connections to mail servers and gateways.
 */
#ifndef TICKETDESK_SECRET_H
#define TICKETDESK_SECRET_H

extern char *secret_lookup(int tenant_id, const char *name);

#endif
