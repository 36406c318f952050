/*
 * config_cache.h
 *		A per-backend cache of what ticketdesk reads of its configuration,
 *		emptied when one of the tables it reads changes (config_cache.c).
 */
#ifndef CONFIG_CACHE_H
#define CONFIG_CACHE_H

#include "postgres.h"

#include "utils/hsearch.h"

/*
 * One cache, in a static variable. The caller fills the first five fields;
 * config_cache.c the rest.
 */
typedef struct ConfigCache
{
	const char *name;			/* of its memory context and hash table */
	int			nwatched;
	const char *const *watched; /* tables of schema ticketdesk whose changes
								 * empty it */
	Size		keysize;		/* of its hash table's entries; 0: none */
	Size		entrysize;
	bool		current;		/* opened, and not emptied since */
	MemoryContext cxt;			/* what it keeps, under CacheMemoryContext */
	HTAB	   *entries;		/* while current, when keysize > 0 */
	Oid		   *relids;			/* the watched tables' OIDs */
	struct ConfigCache *next;	/* the caches the callback empties */
} ConfigCache;

/* Loads the entry whose key is filled in (config_cache_get). */
typedef void (*ConfigCacheLoad) (void *entry, void *arg);

extern void config_cache_open(ConfigCache *cache);
extern void config_cache_empty(ConfigCache *cache);
extern void config_cache_lock(const ConfigCache *cache);
extern void *config_cache_get(ConfigCache *cache, const void *key, ConfigCacheLoad load, void *arg);

#endif							/* CONFIG_CACHE_H */
