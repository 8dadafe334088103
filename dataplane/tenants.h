/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tenants one worker owns: an open-addressing index of 8-byte slots
 * (tenant id << 32 | object slot + 1: the id is in the index, so a lookup
 * reads one cache line of it and then the tenant object, whatever the number
 * of tenants), linear probing and backward-shift deletion (no tombstones),
 * at most half full. Tenant objects live in chunks of 1024 allocated when
 * first needed and kept until the table goes: an observer on another thread
 * may read any object below the high-water mark at any time. Slots of deleted
 * tenants come back through a free list once nothing refers to them.
 *
 * Sized by configuration (limits.tenants, hwdocs/dataplane.md): 16 bytes of
 * index per tenant up front, the objects as tenants arrive.
 */
#ifndef TF_DP_TENANTS_H
#define TF_DP_TENANTS_H

#include <stdint.h>

#include "dataplane/admit.h"
#include "dataplane/worker.h"
#include "tokfab/bar.h"
#include "tokfab/proto.h"

/*
 * A tenant, owned by one worker. Ordered by use: what every request reads or
 * writes first (lookup result, admission, counters, prices, the key), what only
 * configuration touches last; 64-byte aligned so the hot part starts a line.
 */
struct tf_dp_tenant {
	uint32_t id;
	uint32_t flags; /* TF_TENANT_F_UNLIMITED | TF_TENANT_F_DISABLED */
	uint32_t slot; /* its place in the worker's tenant table */
	uint32_t refs; /* request objects pointing here */
	uint8_t has_prev;
	uint8_t max_prio;
	uint8_t deleted; /* removed from the table; the slot frees when refs == 0 */
	uint8_t in_use; /* the slot holds a tenant (objects are reused, never freed
			 * while workers run: telemetry may be reading them) */
	uint8_t dry; /* counted in the worker's ndry: balance below what runs */
	uint32_t nprices;
	struct tf_admit_tenant adm;
	struct tf_dp_obj_stats st;
	struct tf_aq_price prices[TF_MAX_PRICES];
	struct tf_proto_key key;
	/* configuration only */
	struct tf_proto_key prev_key;
	int64_t budget_micro;
	char name[TF_NAME_LEN];
} __attribute__((aligned(64)));

/*
 * Starts loading what a request reads and writes of its tenant: the header,
 * admission state and counters, the first prices, and the key (every
 * algorithm's state): about ten lines, a miss each once the tenants no longer
 * fit the caches.
 */
static inline void
tf_dp_tenant_prefetch(const struct tf_dp_tenant *t)
{
	for (unsigned int off = 0; off < __builtin_offsetof(struct tf_dp_tenant, prices) + 32;
	     off += 64)
		__builtin_prefetch((const char *)t + off, 1);
	for (unsigned int off = 0; off < sizeof(t->key); off += 64)
		__builtin_prefetch((const char *)&t->key + off);
}

/* Tenants of one worker below which their objects stay in the caches: no prefetching. */
#define TF_DP_TENANTS_CACHED 512

#define TF_DP_TENANT_CHUNK 1024u /* objects per allocation */
#define TF_DP_TENANTS_MAX (1u << 24) /* limits.tenants at most */

struct tf_dp_tenant_tab {
	uint64_t *index; /* nidx slots: id << 32 | (slot + 1); 0 = empty */
	uint32_t imask; /* nidx - 1 (nidx: power of two >= 2 * cap) */
	uint32_t cap; /* objects at most */
	uint32_t count; /* tenants in the index */
	uint32_t hwm; /* slots handed out so far: objects [0, hwm) exist */
	uint32_t *free; /* released slots (LIFO) */
	uint32_t nfree;
	struct tf_dp_tenant **chunk; /* cap / TF_DP_TENANT_CHUNK (rounded up) */
};

/* cap: 1 .. TF_DP_TENANTS_MAX. 0, -EINVAL or -ENOMEM. */
int tf_dp_tenants_create(struct tf_dp_tenant_tab *t, uint32_t cap);
void tf_dp_tenants_destroy(struct tf_dp_tenant_tab *t);

static inline uint32_t
tf_dp_tenants_hash(uint32_t id)
{
	/*
	 * Not the owner function's multiplier (worker.h): with several workers each
	 * owns the ids whose product's top bits select it, and those bits must not
	 * pick the index slot too.
	 */
	uint32_t h = id ^ (id >> 16);

	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	return h ^ (h >> 16);
}

/* The object of slot s (s < hwm). */
static inline struct tf_dp_tenant *
tf_dp_tenants_obj(const struct tf_dp_tenant_tab *t, uint32_t s)
{
	return &t->chunk[s / TF_DP_TENANT_CHUNK][s % TF_DP_TENANT_CHUNK];
}

/* The tenant with this id, or NULL: one index line, then the object. */
static inline struct tf_dp_tenant *
tf_dp_tenants_find(const struct tf_dp_tenant_tab *t, uint32_t id)
{
	uint32_t i = tf_dp_tenants_hash(id) & t->imask;

	for (;;) {
		uint64_t v = t->index[i];

		if (v == 0)
			return 0;
		if ((uint32_t)(v >> 32) == id)
			return tf_dp_tenants_obj(t, (uint32_t)v - 1);
		i = (i + 1) & t->imask;
	}
}

/* Starts loading the index line of id (the receive burst's first pass). */
static inline void
tf_dp_tenants_prefetch(const struct tf_dp_tenant_tab *t, uint32_t id)
{
	__builtin_prefetch(&t->index[tf_dp_tenants_hash(id) & t->imask]);
}

/*
 * A new tenant: a zeroed object with its id set, in the index. NULL when the
 * table holds cap objects (deleted ones still referenced count) or memory
 * runs out. The id must not be present.
 */
struct tf_dp_tenant *tf_dp_tenants_add(struct tf_dp_tenant_tab *t, uint32_t id);

/* Takes id out of the index (lookups miss it from now); its object stays. */
void tf_dp_tenants_unlink(struct tf_dp_tenant_tab *t, uint32_t id);

/* The object's slot may be reused (nothing refers to it any more). */
void tf_dp_tenants_release(struct tf_dp_tenant_tab *t, struct tf_dp_tenant *o);

/* Slot of an object (for iteration and release). */
uint32_t tf_dp_tenants_slot(const struct tf_dp_tenant_tab *t, const struct tf_dp_tenant *o);

#endif /* TF_DP_TENANTS_H */
