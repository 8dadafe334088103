/* SPDX-License-Identifier: BSD-3-Clause */
/* Requests in flight by handle (see handles.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handles.h"

static inline uint32_t
slot_of(const struct tf_handles *h, uint64_t handle)
{
	/* Fibonacci hashing: handles are often sequential */
	return (uint32_t)((handle * 0x9e3779b97f4a7c15ull) >> 32) & h->mask;
}

int
tf_handles_init(struct tf_handles *h, uint32_t limit)
{
	uint32_t cap = 16;

	memset(h, 0, sizeof(*h));
	while (cap < 2ull * limit)
		cap <<= 1;
	h->ent = calloc(cap, sizeof(*h->ent));
	if (!h->ent)
		return -ENOMEM;
	h->mask = cap - 1;
	h->limit = limit;
	return 0;
}

void
tf_handles_fini(struct tf_handles *h)
{
	free(h->ent);
	memset(h, 0, sizeof(*h));
}

void
tf_handles_clear(struct tf_handles *h)
{
	if (h->ent)
		memset(h->ent, 0, (h->mask + 1ull) * sizeof(*h->ent));
	h->count = 0;
}

int
tf_handles_reset(struct tf_handles *h, uint32_t limit)
{
	if (h->ent && h->limit == limit) {
		tf_handles_clear(h);
		return 0;
	}
	tf_handles_fini(h);
	return tf_handles_init(h, limit);
}

struct tf_handle_ent *
tf_handles_find(const struct tf_handles *h, uint64_t handle)
{
	if (!h->ent)
		return NULL;
	for (uint32_t i = slot_of(h, handle);; i = (i + 1) & h->mask) {
		struct tf_handle_ent *e = &h->ent[i];

		if (!e->used)
			return NULL;
		if (e->handle == handle)
			return e;
	}
}

int
tf_handles_add(struct tf_handles *h, uint64_t handle, struct tf_handle_ent **out)
{
	uint32_t i;

	if (tf_handles_find(h, handle))
		return -EEXIST;
	if (h->count >= h->limit)
		return -ENOSPC;
	for (i = slot_of(h, handle); h->ent[i].used; i = (i + 1) & h->mask)
		;
	h->ent[i] = (struct tf_handle_ent){ .handle = handle, .used = 1 };
	h->count++;
	if (out)
		*out = &h->ent[i];
	return 0;
}

int
tf_handles_del(struct tf_handles *h, uint64_t handle)
{
	struct tf_handle_ent *e = tf_handles_find(h, handle);
	uint32_t hole, i;

	if (!e)
		return -ENOENT;
	hole = (uint32_t)(e - h->ent);
	h->ent[hole].used = 0;
	h->count--;
	/* backward shift: move later members of the cluster into the hole when
	 * their home slot does not lie cyclically in (hole, i] */
	for (i = (hole + 1) & h->mask; h->ent[i].used; i = (i + 1) & h->mask) {
		uint32_t home = slot_of(h, h->ent[i].handle);

		if (((i - home) & h->mask) >= ((i - hole) & h->mask)) {
			h->ent[hole] = h->ent[i];
			h->ent[i].used = 0;
			hole = i;
		}
	}
	return 0;
}
