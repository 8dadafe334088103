/* SPDX-License-Identifier: BSD-3-Clause */
/* The per-worker tenant table (tenants.h). */
#include "dataplane/tenants.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/worker_int.h"

int
tf_dp_tenants_create(struct tf_dp_tenant_tab *t, uint32_t cap)
{
	uint32_t nidx = 64;

	memset(t, 0, sizeof(*t));
	if (cap == 0 || cap > TF_DP_TENANTS_MAX)
		return -EINVAL;
	while (nidx < 2 * cap)
		nidx <<= 1;
	t->cap = cap;
	t->imask = nidx - 1;
	t->index = calloc(nidx, sizeof(*t->index));
	t->free = calloc(cap, sizeof(*t->free));
	t->chunk = calloc((cap + TF_DP_TENANT_CHUNK - 1) / TF_DP_TENANT_CHUNK, sizeof(*t->chunk));
	if (!t->index || !t->free || !t->chunk) {
		tf_dp_tenants_destroy(t);
		return -ENOMEM;
	}
	return 0;
}

void
tf_dp_tenants_destroy(struct tf_dp_tenant_tab *t)
{
	if (t->chunk) {
		for (uint32_t s = 0; s < t->hwm; s++) {
			struct tf_dp_tenant *o = tf_dp_tenants_obj(t, s);

			tf_proto_key_wipe(&o->key);
			tf_proto_key_wipe(&o->prev_key);
		}
		for (uint32_t c = 0; c < (t->cap + TF_DP_TENANT_CHUNK - 1) / TF_DP_TENANT_CHUNK;
		     c++)
			free(t->chunk[c]);
	}
	free(t->chunk);
	free(t->free);
	free(t->index);
	memset(t, 0, sizeof(*t));
}

/* A slot for a new object: a released one, or the next never used (its chunk made on demand). */
static int
slot_get(struct tf_dp_tenant_tab *t, uint32_t *s)
{
	uint32_t c;

	if (t->nfree) {
		*s = t->free[--t->nfree];
		return 0;
	}
	if (t->hwm == t->cap)
		return -ENOSPC;
	c = t->hwm / TF_DP_TENANT_CHUNK;
	if (!t->chunk[c]) {
		t->chunk[c] = aligned_alloc(64, TF_DP_TENANT_CHUNK * sizeof(struct tf_dp_tenant));
		if (!t->chunk[c])
			return -ENOMEM;
		memset(t->chunk[c], 0, TF_DP_TENANT_CHUNK * sizeof(struct tf_dp_tenant));
	}
	*s = t->hwm;
	/* Observers read objects below hwm: the chunk first, then the mark. */
	__atomic_store_n(&t->hwm, t->hwm + 1, __ATOMIC_RELEASE);
	return 0;
}

struct tf_dp_tenant *
tf_dp_tenants_add(struct tf_dp_tenant_tab *t, uint32_t id)
{
	uint32_t i = tf_dp_tenants_hash(id) & t->imask, s;
	struct tf_dp_tenant *o;

	while (t->index[i])
		i = (i + 1) & t->imask;
	if (slot_get(t, &s) < 0)
		return NULL;
	o = tf_dp_tenants_obj(t, s);
	memset(o, 0, sizeof(*o));
	o->id = id;
	o->slot = s;
	t->index[i] = (uint64_t)id << 32 | (s + 1);
	t->count++;
	return o;
}

void
tf_dp_tenants_unlink(struct tf_dp_tenant_tab *t, uint32_t id)
{
	uint32_t m = t->imask, i = tf_dp_tenants_hash(id) & m, j;

	for (;;) {
		uint64_t v = t->index[i];

		if (v == 0)
			return;
		if ((uint32_t)(v >> 32) == id)
			break;
		i = (i + 1) & m;
	}
	/* Backward shift: move later members of the cluster into the hole unless their home lies in (i, j]. */
	for (j = i;;) {
		uint64_t v;
		uint32_t home;

		j = (j + 1) & m;
		v = t->index[j];
		if (v == 0)
			break;
		home = tf_dp_tenants_hash((uint32_t)(v >> 32)) & m;
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
			t->index[i] = v;
			i = j;
		}
	}
	t->index[i] = 0;
	t->count--;
}

void
tf_dp_tenants_release(struct tf_dp_tenant_tab *t, struct tf_dp_tenant *o)
{
	t->free[t->nfree++] = o->slot;
}

uint32_t
tf_dp_tenants_slot(const struct tf_dp_tenant_tab *t, const struct tf_dp_tenant *o)
{
	(void)t;
	return o->slot;
}
