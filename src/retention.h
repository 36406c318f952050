/*
 * retention.h
 *		History retention (retention.c): the setting behind purge_history.
 */
#ifndef TICKETDESK_RETENTION_H
#define TICKETDESK_RETENTION_H

extern void retention_define_settings(void);

#endif							/* TICKETDESK_RETENTION_H */
