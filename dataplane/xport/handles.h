/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Requests in flight on one connection, by handle: an open-addressing table
 * (linear probing, backward-shift deletion) sized at twice the request
 * credits, so a lookup touches one or two cache lines and nothing allocates
 * on the fast path.
 */
#ifndef TF_XPORT_HANDLES_H
#define TF_XPORT_HANDLES_H

#include <stdint.h>

struct tf_handle_ent {
	uint64_t handle;
	uint32_t next_index; /* card: completion index the next TOKENS must carry */
	uint32_t used;
};

struct tf_handles {
	struct tf_handle_ent *ent;
	uint32_t mask; /* capacity - 1 (power of two) */
	uint32_t count;
	uint32_t limit; /* most entries allowed (request credits) */
};

/* Room for limit entries; 0 or -ENOMEM. */
int tf_handles_init(struct tf_handles *h, uint32_t limit);
void tf_handles_fini(struct tf_handles *h);
void tf_handles_clear(struct tf_handles *h);
/* Empty and sized for limit (allocates again only when limit changed); 0 or -ENOMEM. */
int tf_handles_reset(struct tf_handles *h, uint32_t limit);

struct tf_handle_ent *tf_handles_find(const struct tf_handles *h, uint64_t handle);
/* -EEXIST if present, -ENOSPC at the limit. */
int tf_handles_add(struct tf_handles *h, uint64_t handle, struct tf_handle_ent **out);
/* -ENOENT if absent. */
int tf_handles_del(struct tf_handles *h, uint64_t handle);

/* Iteration: for (i = 0; i <= mask; i++) if (ent[i].used) ... */

#endif /* TF_XPORT_HANDLES_H */
