/*
 * config_cache.c
 *		What the per-backend caches of the configuration share: the tables
 *		each one watches, its memory context, the relcache callback that
 *		empties it and the load of an entry on a miss.
 *
 * A statement trigger on each watched table (holders_changed) sends a
 * relcache invalidation for it at every change, which empties every
 * backend's cache that watches it: this backend's at its next command (and
 * when the change rolls back), the others' when it commits. The tables are
 * read like catalogs: locked first (config_cache_lock), so that pending
 * invalidations are processed, then with the latest snapshot.
 *
 * Emptying only marks the cache: its memory is reset when it is opened
 * again, since a load may be writing into it when an invalidation comes.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "config_cache.h"
#include "ticketdesk.h"

/* Every cache opened once, for the callback. */
static ConfigCache *caches = NULL;

/* Empty each cache that watches relid (InvalidOid: every relation). */
static void
config_cache_invalidate(Datum arg, Oid relid)
{
	for (ConfigCache *c = caches; c != NULL; c = c->next)
		for (int i = 0; i < c->nwatched; i++)
			if (relid == InvalidOid || relid == c->relids[i])
			{
				config_cache_empty(c);
				break;
			}
}

/*
 * config_cache_open makes the cache current if it is not: its memory reset,
 * the watched tables' OIDs looked up again (a table renamed or created
 * again since has another) and a new hash table.
 */
void
config_cache_open(ConfigCache *c)
{
	HASHCTL		ctl;
	Oid			nsp;

	if (c->current)
		return;
	nsp = get_namespace_oid("ticketdesk", false);
	if (c->cxt == NULL)
	{
		c->relids = MemoryContextAllocZero(TopMemoryContext, sizeof(Oid) * c->nwatched);
		c->cxt = AllocSetContextCreateInternal(CacheMemoryContext, c->name, ALLOCSET_SMALL_SIZES);
		if (caches == NULL)
			ticketdesk_register_relcache_callback(config_cache_invalidate);
		c->next = caches;
		caches = c;
	}
	else
		MemoryContextReset(c->cxt);
	for (int i = 0; i < c->nwatched; i++)
		c->relids[i] = get_relname_relid(c->watched[i], nsp);
	if (c->keysize > 0)
	{
		ctl.keysize = c->keysize;
		ctl.entrysize = c->entrysize;
		ctl.hcxt = c->cxt;
		c->entries = hash_create(c->name, 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	c->current = true;
}

/* config_cache_empty forgets what the cache keeps, until it is opened again. */
void
config_cache_empty(ConfigCache *c)
{
	c->current = false;
}

/* config_cache_lock locks the watched tables, by name, in AccessShareLock. */
void
config_cache_lock(const ConfigCache *c)
{
	Oid			nsp = get_namespace_oid("ticketdesk", false);

	for (int i = 0; i < c->nwatched; i++)
		LockRelationOid(get_relname_relid(c->watched[i], nsp), AccessShareLock);
}

/*
 * config_cache_get returns the cache's entry of key, which load fills in on
 * a miss (given an entry with the key set, and arg). The entry belongs to
 * the cache: use it before the next command.
 */
void *
config_cache_get(ConfigCache *c, const void *key, ConfigCacheLoad load, void *arg)
{
	void	   *entry = NULL;
	void	   *loaded;

	/* Changes committed by others since the last command empty the cache first. */
	AcceptInvalidationMessages();
	if (c->current)
		entry = hash_search(c->entries, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;

	/* Loading may process invalidations that empty the cache: then again. */
	loaded = palloc(c->entrysize);
	memcpy(loaded, key, c->keysize);
	do
	{
		config_cache_open(c);
		load(loaded, arg);
	} while (!c->current);
	entry = hash_search(c->entries, key, HASH_ENTER, NULL);
	memcpy(entry, loaded, c->entrysize);
	pfree(loaded);
	return entry;
}
