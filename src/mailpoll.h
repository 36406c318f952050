/*
 * mailpoll.h
 *		The IMAP mail worker (mailpoll.c): one per database, started by the
 *		notification launcher in a slot of its own.
 */
#ifndef MAILPOLL_H
#define MAILPOLL_H

#include "notify_shared.h"

/* The launcher's slot index of a database's mail worker (notify workers count from 0). */
#define MAIL_WORKER_INDEX 1000

/* Settings (mailpoll.c defines them; mailin_define_settings registers them). */
extern bool mail_poll_enabled;
extern int	mail_poll_timeout_ms;
extern int	mail_poll_batch;

extern void mailpoll_define_settings(void);

#endif							/* MAILPOLL_H */
