/*
 * message_key.c
 *		message_key_new(): the outbox's message keys, ordered by time.
 *
 * Every outbox row has a key of its own: the Message-ID of its mail and the
 * idempotency key of its POST, which the mail gateway looks up again when
 * a reply names it (unique index (tenant_id, message_key)). A random UUID
 * (gen_random_uuid) puts every new key on a random leaf of that index, so
 * once the outbox outgrows shared_buffers nearly every message queued reads
 * and dirties a page of its own: in a benchmark run of 1.7 million
 * openings this one index had 178,000 block reads against 4,000 for the
 * primary key (doc/benchmarks.md, "Session 8"). The key made here is laid
 * out as RFC 9562's version 7: 48 bits of Unix time in milliseconds, then
 * 74 random bits (pg_strong_random), so new keys go to the right edge of
 * the index, as the primary key's do, and the key is still not guessable:
 * a reply cannot be attached to a ticket by naming a key it never saw.
 *
 * The random bits are taken from a pool of pg_strong_random's bytes that
 * this backend fills for KEYS_PER_FILL keys at a time: a call of
 * pg_strong_random costs about 8,500 instructions (OpenSSL's RAND_bytes,
 * its locks and parameters) whatever it is asked for, a tenth of a queued
 * message's outbox row, and every opening queues one (doc/benchmarks.md,
 * "Session 9: opening a ticket"). The bytes are as strong as before, each
 * used once and wiped as it is used; the pool belongs to the process that
 * filled it (a child forked meanwhile fills its own).
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ticketdesk_message_key_new);

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define UNIX_TO_POSTGRES_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC)

/* The random bytes of a key: all but the time's six. */
#define KEY_RANDOM_LEN (UUID_LEN - 6)
#define KEYS_PER_FILL 32

/* Strong random bytes not used yet: pool[used..], filled by pool_pid. */
static unsigned char pool[KEYS_PER_FILL * KEY_RANDOM_LEN];
static int	pool_used = sizeof(pool);
static int	pool_pid = 0;

/* The next KEY_RANDOM_LEN bytes of the pool into out, wiped from it. */
static void
random_from_pool(unsigned char *out)
{
	if (pool_pid != MyProcPid || pool_used + KEY_RANDOM_LEN > (int) sizeof(pool))
	{
		if (!pg_strong_random(pool, sizeof(pool)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random values for a message key")));
		pool_pid = MyProcPid;
		pool_used = 0;
	}
	memcpy(out, pool + pool_used, KEY_RANDOM_LEN);
	explicit_bzero(pool + pool_used, KEY_RANDOM_LEN);
	pool_used += KEY_RANDOM_LEN;
}

Datum
ticketdesk_message_key_new(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *key = palloc(sizeof(pg_uuid_t));
	uint64		unix_ms = (uint64) ((GetCurrentTimestamp() + UNIX_TO_POSTGRES_USECS) / 1000);

	random_from_pool(key->data + 6);
	/* bytes 0-5: the time, most significant first */
	for (int i = 0; i < 6; i++)
		key->data[i] = (unsigned char) (unix_ms >> (8 * (5 - i)));
	key->data[6] = (key->data[6] & 0x0f) | 0x70;	/* version 7 */
	key->data[8] = (key->data[8] & 0x3f) | 0x80;	/* variant RFC 9562 */
	PG_RETURN_UUID_P(key);
}
