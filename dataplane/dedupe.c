/* SPDX-License-Identifier: BSD-3-Clause */
/* The (tenant, request id) table behind at-most-once execution. */
#include "dataplane/dedupe.h"

#include "dataplane/bigmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t
hash_of(uint32_t tenant, uint64_t rid)
{
	uint64_t h = (rid ^ ((uint64_t)tenant << 32 | tenant)) * 0x9e3779b97f4a7c15ull;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(h >> 32);
}

static inline uint32_t
imask(const struct tf_dedupe *d)
{
	return 2 * d->cap - 1;
}

/*
 * An index slot: the key's 32-bit hash above the ring slot + 1, so a probe
 * past another key does not read the ring, and a deletion finds the home of
 * the slots it shifts without reading the ring either.
 */
#define MAX_CAP (1u << 23)

static inline uint32_t
hash_part(uint64_t v)
{
	return (uint32_t)(v >> 32);
}

static inline uint32_t
pos_of(uint64_t v)
{
	return (uint32_t)v - 1;
}

static inline uint64_t
slot_value(uint32_t h, uint32_t ring_slot)
{
	return (uint64_t)h << 32 | (ring_slot + 1);
}

int
tf_dedupe_create(struct tf_dedupe *d, uint32_t cap)
{
	uint32_t c = 16;

	memset(d, 0, sizeof(*d));
	while (c < cap && c < MAX_CAP)
		c <<= 1;
	d->cap = c;
	/* Far larger than the caches: huge pages spare a TLB miss per lookup (bigmem.h). */
	d->ring = tf_dp_bigmem_alloc((size_t)c * sizeof(*d->ring));
	d->index = tf_dp_bigmem_alloc(2 * (size_t)c * sizeof(*d->index));
	if (!d->ring || !d->index) {
		tf_dedupe_destroy(d);
		return -ENOMEM;
	}
	return 0;
}

void
tf_dedupe_destroy(struct tf_dedupe *d)
{
	tf_dp_bigmem_free(d->ring, (size_t)d->cap * sizeof(*d->ring));
	tf_dp_bigmem_free(d->index, 2 * (size_t)d->cap * sizeof(*d->index));
	memset(d, 0, sizeof(*d));
}

/* Index slot holding (tenant, rid) of hash h, or the empty slot where it would go (*found 0). */
static uint32_t
probe_h(const struct tf_dedupe *d, uint32_t tenant, uint64_t rid, uint32_t h, int *found)
{
	uint32_t m = imask(d), i = h & m;

	for (;;) {
		uint64_t v = d->index[i];

		if (v == 0) {
			*found = 0;
			return i;
		}
		if (hash_part(v) == h) {
			const struct tf_dedupe_ent *e = &d->ring[pos_of(v)];

			if (e->tenant_id == tenant && e->request_id == rid) {
				*found = 1;
				return i;
			}
		}
		i = (i + 1) & m;
	}
}

static uint32_t
probe(const struct tf_dedupe *d, uint32_t tenant, uint64_t rid, int *found)
{
	return probe_h(d, tenant, rid, hash_of(tenant, rid), found);
}

struct tf_dedupe_ent *
tf_dedupe_find(struct tf_dedupe *d, uint32_t tenant, uint64_t rid)
{
	int found;
	uint32_t i = probe(d, tenant, rid, &found);

	return found ? &d->ring[pos_of(d->index[i])] : NULL;
}

void
tf_dedupe_prefetch(const struct tf_dedupe *d, uint32_t tenant, uint64_t rid)
{
	__builtin_prefetch(&d->index[hash_of(tenant, rid) & imask(d)]);
}

struct tf_dedupe_ent *
tf_dedupe_at(struct tf_dedupe *d, uint32_t pos, uint32_t tenant, uint64_t rid)
{
	struct tf_dedupe_ent *e = pos < d->cap ? &d->ring[pos] : NULL;

	if (e && e->tenant_id == tenant && tenant != 0 && e->request_id == rid)
		return e;
	return tf_dedupe_find(d, tenant, rid);
}

/* Removes index slot i, shifting later members of its cluster back (no tombstones). */
static void
index_delete(struct tf_dedupe *d, uint32_t i)
{
	uint32_t m = imask(d), j = i;

	for (;;) {
		uint64_t v;
		uint32_t home;

		j = (j + 1) & m;
		v = d->index[j];
		if (v == 0)
			break;
		home = hash_part(v) & m;
		/* Move j into the hole at i unless its home lies cyclically in (i, j]. */
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
			d->index[i] = v;
			i = j;
		}
	}
	d->index[i] = 0;
	d->live--;
}

/* Pops the head ring slot (dead or droppable), or moves a ref-holding one to the tail. */
static void
pop_head(struct tf_dedupe *d, int move)
{
	uint32_t hs = d->head & (d->cap - 1);
	struct tf_dedupe_ent *e = &d->ring[hs];
	int found;
	uint32_t i;

	d->head++;
	if (e->tenant_id == 0)
		return; /* dead: not in the index */
	i = probe(d, e->tenant_id, e->request_id, &found);
	if (!move) {
		index_delete(d, i);
		e->tenant_id = 0;
		return;
	}
	/* Same entry, new ring slot at the tail (there is room: head just advanced). */
	{
		uint32_t ts = d->tail & (d->cap - 1);
		struct tf_dedupe_ent keep = *e; /* ts may be e's own slot when the ring is full */

		e->tenant_id = 0;
		d->ring[ts] = keep;
		d->index[i] = slot_value(hash_of(keep.tenant_id, keep.request_id), ts);
		d->tail++;
		d->moved++;
	}
}

/* Expiry walks the ring in order: the index lines of the entries a few ahead are loaded meanwhile. */
#define EXPIRE_PREFETCH 8

unsigned int
tf_dedupe_expire(struct tf_dedupe *d, uint64_t now_us, unsigned int max)
{
	unsigned int n = 0, moves = 0;

	while (d->head != d->tail && n < max) {
		struct tf_dedupe_ent *e = &d->ring[d->head & (d->cap - 1)];

		if (d->tail - d->head > EXPIRE_PREFETCH) {
			const struct tf_dedupe_ent *a =
				&d->ring[(d->head + EXPIRE_PREFETCH) & (d->cap - 1)];

			if (a->tenant_id && a->expire_us <= now_us)
				tf_dedupe_prefetch(d, a->tenant_id, a->request_id);
		}

		if (e->tenant_id == 0) {
			d->head++;
			continue;
		}
		if (e->expire_us > now_us)
			break;
		if (e->ref) {
			/* Still referenced: keep it, behind the younger ones. Bounded per call. */
			if (++moves > max || moves > d->cap)
				break;
			pop_head(d, 1);
			continue;
		}
		pop_head(d, 0);
		n++;
	}
	return n;
}

struct tf_dedupe_ent *
tf_dedupe_insert(struct tf_dedupe *d, uint32_t tenant, uint64_t rid, uint32_t ref,
		 uint64_t expire_us, uint64_t now_us, uint64_t *retry_us)
{
	struct tf_dedupe_ent *e;
	uint32_t ts, i, h;
	int found;

	*retry_us = 0;
	if (d->tail - d->head == d->cap) {
		tf_dedupe_expire(d, now_us, 64);
		while (d->tail - d->head == d->cap &&
		       d->ring[d->head & (d->cap - 1)].tenant_id == 0)
			d->head++;
	}
	if (d->tail - d->head == d->cap) {
		/* Full of entries that must stay: say when the oldest may go. */
		e = &d->ring[d->head & (d->cap - 1)];
		*retry_us =
			e->ref ? UINT64_MAX : (e->expire_us > now_us ? e->expire_us - now_us : 1);
		return NULL;
	}
	h = hash_of(tenant, rid);
	i = probe_h(d, tenant, rid, h, &found);
	if (found)
		return NULL; /* caller bug: present already; *retry_us 0 */
	ts = d->tail & (d->cap - 1);
	e = &d->ring[ts];
	e->tenant_id = tenant;
	e->request_id = rid;
	e->ref = ref;
	e->expire_us = expire_us;
	d->index[i] = slot_value(h, ts);
	d->tail++;
	d->live++;
	return e;
}

int
tf_dedupe_remove(struct tf_dedupe *d, uint32_t tenant, uint64_t rid)
{
	int found;
	uint32_t i = probe(d, tenant, rid, &found);

	if (!found)
		return -ENOENT;
	d->ring[pos_of(d->index[i])].tenant_id = 0; /* dead until the head passes it */
	index_delete(d, i);
	/*
	 * The newest entries give their slots back at once: a request refused
	 * before admission is removed right after its insert, and under overload
	 * most are (with their retransmissions); as dead slots they would fill the
	 * ring with nothing and refuse admitted-to-be requests for a whole window.
	 */
	while (d->tail != d->head && d->ring[(d->tail - 1) & (d->cap - 1)].tenant_id == 0)
		d->tail--;
	return 0;
}
