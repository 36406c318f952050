/*
 * relcache_callbacks.c
 *		One relcache callback for all of ticketdesk's per-backend caches.
 *
 * PostgreSQL 15 gives a backend ten relcache callbacks in all
 * (MAX_RELCACHE_CALLBACKS), and the core takes some of them (the plan
 * cache, the type cache). Registered one by one, ticketdesk's caches filled
 * the list: the tenth of them failed with "out of relcache_callback_list
 * slots" (FATAL), and any other extension loaded in the same backend would
 * have met the same. The caches register here instead, and take one slot
 * together; each is called as PostgreSQL would call it.
 */
#include "postgres.h"

#include "utils/inval.h"

#include "ticketdesk.h"

/* More than ticketdesk has caches; an error names the limit if it grows. */
#define TICKETDESK_RELCACHE_CALLBACKS 16

static RelcacheCallbackFunction callbacks[TICKETDESK_RELCACHE_CALLBACKS];
static int	ncallbacks = 0;

/* Tell every registered cache that relid (InvalidOid: every relation) changed. */
static void
dispatch(Datum arg, Oid relid)
{
	for (int i = 0; i < ncallbacks; i++)
		callbacks[i] ((Datum) 0, relid);
}

/*
 * ticketdesk_register_relcache_callback is CacheRegisterRelcacheCallback
 * for ticketdesk's caches; like it, a callback registered stays for the
 * backend's life (call it once per cache).
 */
void
ticketdesk_register_relcache_callback(RelcacheCallbackFunction func)
{
	if (ncallbacks == 0)
		CacheRegisterRelcacheCallback(dispatch, (Datum) 0);
	if (ncallbacks >= TICKETDESK_RELCACHE_CALLBACKS)
		elog(FATAL, "ticketdesk: out of relcache callback slots");
	callbacks[ncallbacks++] = func;
}
