/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * At-most-once: every (tenant, request id) the card has seen a piece of,
 * per lcore (the lcore that owns the tenant). An entry points at the
 * request object (ref != 0) while the request is being reassembled, runs,
 * or sits in the response cache; when the response leaves the cache the
 * entry stays, without ref, until its expiry (at least the replay window
 * after it was made), so a retransmission is recognised and answered
 * REPLAY instead of running twice.
 *
 * Entries live in a FIFO ring in insertion order (expiry order) with an
 * open-addressing index (linear probing, backward-shift deletion) beside it.
 * An index slot holds the key's 32-bit hash and its ring slot, so probing
 * and deleting read the ring only for a real hash match: one cache line of
 * the index per lookup. Sized for the replay window (rate x window), the
 * table is far larger than the caches, so each lookup is a cache (and TLB)
 * miss: callers prefetch (tf_dedupe_prefetch) as soon as they know the key,
 * keep the ring slot of what they insert (tf_dedupe_at) instead of looking it
 * up again, and expiry prefetches the index slots of the entries it drops next.
 * Nothing is allocated after create.
 */
#ifndef TF_DP_DEDUPE_H
#define TF_DP_DEDUPE_H

#include <stdint.h>

struct tf_dedupe_ent {
	uint64_t request_id;
	uint32_t tenant_id; /* 0 = dead slot (removed before expiry) */
	uint32_t ref; /* caller's request reference, 0 = none */
	uint64_t expire_us; /* may be dropped once ref == 0 and this has passed */
};

struct tf_dedupe {
	struct tf_dedupe_ent *ring; /* cap entries */
	uint64_t *index; /* 2 * cap slots: hash << 32 | (ring slot + 1), 0 = empty */
	uint32_t cap; /* power of two */
	uint32_t head, tail; /* free-running ring positions */
	uint32_t live; /* entries in the index */
	uint64_t moved; /* entries with a ref moved from head to tail */
};

/* cap is rounded up to a power of two (16 .. 2^23). 0 or -ENOMEM. */
int tf_dedupe_create(struct tf_dedupe *d, uint32_t cap);
void tf_dedupe_destroy(struct tf_dedupe *d);

/* The entry of (tenant, rid), or NULL. Valid until the next insert/expire/remove. */
struct tf_dedupe_ent *tf_dedupe_find(struct tf_dedupe *d, uint32_t tenant, uint64_t rid);

/* Starts loading the index line of (tenant, rid): call it well before find/insert. */
void tf_dedupe_prefetch(const struct tf_dedupe *d, uint32_t tenant, uint64_t rid);

/* The ring slot of an entry (stable until expiry moves a referenced entry). */
static inline uint32_t
tf_dedupe_pos(const struct tf_dedupe *d, const struct tf_dedupe_ent *e)
{
	return (uint32_t)(e - d->ring);
}

/*
 * The entry of (tenant, rid) through the ring slot its insert returned:
 * no index lookup when it is still there, a find when expiry moved it.
 */
struct tf_dedupe_ent *tf_dedupe_at(struct tf_dedupe *d, uint32_t pos, uint32_t tenant,
				   uint64_t rid);

/*
 * Adds (tenant, rid) -- it must not be present -- with ref and expiry.
 * Returns the entry, or NULL when the table is full of entries that may not
 * go yet; then *retry_us says when the oldest may (UINT64_MAX: all hold a ref).
 */
struct tf_dedupe_ent *tf_dedupe_insert(struct tf_dedupe *d, uint32_t tenant, uint64_t rid,
				       uint32_t ref, uint64_t expire_us, uint64_t now_us,
				       uint64_t *retry_us);

/*
 * Forgets (tenant, rid) at once (a request refused before admission). Its
 * ring slot comes back at once when it is the newest (the usual case: refused
 * right after the insert); an older one stays dead until the head passes it.
 * 0 or -ENOENT.
 */
int tf_dedupe_remove(struct tf_dedupe *d, uint32_t tenant, uint64_t rid);

/* Drops up to max expired entries without a ref from the head; returns how many. */
unsigned int tf_dedupe_expire(struct tf_dedupe *d, uint64_t now_us, unsigned int max);

static inline uint32_t
tf_dedupe_count(const struct tf_dedupe *d)
{
	return d->live;
}

#endif /* TF_DP_DEDUPE_H */
