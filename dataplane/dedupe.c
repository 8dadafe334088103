/* SPDX-License-Identifier: BSD-3-Clause */
/* The (tenant, request id) table behind at-most-once execution. */
#include "dataplane/dedupe.h"

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
 * An index slot: ring slot + 1 in the low 24 bits, 8 bits of the key's hash
 * above them, so a probe past another key rarely has to read the ring.
 */
#define POS_BITS 24
#define POS_MASK ((1u << POS_BITS) - 1)

static inline uint32_t
tag_of(uint32_t h)
{
	return h & 0xff000000u;
}

static inline uint32_t
pos_of(uint32_t v)
{
	return (v & POS_MASK) - 1;
}

int
tf_dedupe_create(struct tf_dedupe *d, uint32_t cap)
{
	uint32_t c = 16;

	memset(d, 0, sizeof(*d));
	while (c < cap && c < (1u << (POS_BITS - 1)))
		c <<= 1;
	d->cap = c;
	d->ring = calloc(c, sizeof(*d->ring));
	d->index = calloc(2 * (size_t)c, sizeof(*d->index));
	if (!d->ring || !d->index) {
		free(d->ring);
		free(d->index);
		memset(d, 0, sizeof(*d));
		return -ENOMEM;
	}
	/* Touch every page now: no page fault on the fast path later. */
	memset(d->ring, 0, (size_t)c * sizeof(*d->ring));
	memset(d->index, 0, 2 * (size_t)c * sizeof(*d->index));
	return 0;
}

void
tf_dedupe_destroy(struct tf_dedupe *d)
{
	free(d->ring);
	free(d->index);
	memset(d, 0, sizeof(*d));
}

/* Index slot holding (tenant, rid), or the empty slot where it would go (*found 0). */
static uint32_t
probe(const struct tf_dedupe *d, uint32_t tenant, uint64_t rid, int *found)
{
	uint32_t h = hash_of(tenant, rid), m = imask(d), i = h & m, tag = tag_of(h);

	for (;;) {
		uint32_t v = d->index[i];

		if (v == 0) {
			*found = 0;
			return i;
		}
		if (tag_of(v) == tag) {
			const struct tf_dedupe_ent *e = &d->ring[pos_of(v)];

			if (e->tenant_id == tenant && e->request_id == rid) {
				*found = 1;
				return i;
			}
		}
		i = (i + 1) & m;
	}
}

static inline uint32_t
slot_value(uint32_t tenant, uint64_t rid, uint32_t ring_slot)
{
	return tag_of(hash_of(tenant, rid)) | (ring_slot + 1);
}

struct tf_dedupe_ent *
tf_dedupe_find(struct tf_dedupe *d, uint32_t tenant, uint64_t rid)
{
	int found;
	uint32_t i = probe(d, tenant, rid, &found);

	return found ? &d->ring[pos_of(d->index[i])] : NULL;
}

/* Removes index slot i, shifting later members of its cluster back (no tombstones). */
static void
index_delete(struct tf_dedupe *d, uint32_t i)
{
	uint32_t m = imask(d), j = i;

	for (;;) {
		uint32_t v, home;

		j = (j + 1) & m;
		v = d->index[j];
		if (v == 0)
			break;
		home = hash_of(d->ring[pos_of(v)].tenant_id, d->ring[pos_of(v)].request_id) & m;
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
		d->index[i] = slot_value(keep.tenant_id, keep.request_id, ts);
		d->tail++;
		d->moved++;
	}
}

unsigned int
tf_dedupe_expire(struct tf_dedupe *d, uint64_t now_us, unsigned int max)
{
	unsigned int n = 0, moves = 0;

	while (d->head != d->tail && n < max) {
		struct tf_dedupe_ent *e = &d->ring[d->head & (d->cap - 1)];

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
	uint32_t ts, i;
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
	i = probe(d, tenant, rid, &found);
	if (found)
		return NULL; /* caller bug: present already; *retry_us 0 */
	ts = d->tail & (d->cap - 1);
	e = &d->ring[ts];
	e->tenant_id = tenant;
	e->request_id = rid;
	e->ref = ref;
	e->expire_us = expire_us;
	d->index[i] = slot_value(tenant, rid, ts);
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
	return 0;
}
