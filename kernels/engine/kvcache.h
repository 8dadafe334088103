/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Paged KV cache: one pool of fixed-size blocks (block_size positions of
 * every layer's keys and values); a sequence owns a block table mapping its
 * position p to block table[p / block_size], slot p % block_size.
 */
#ifndef TF_ENGINE_KVCACHE_H
#define TF_ENGINE_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

struct tf_kv {
	uint32_t n_layers, kv_dim, block_size, n_blocks;
	float *k; /* (layer, block, block_size, kv_dim) */
	float *v; /* same */
	size_t bytes; /* of k + v */
	uint32_t *free_ids; /* stack of free block ids */
	uint32_t n_free;
};

int tf_kv_create(struct tf_kv *kv, uint32_t n_layers, uint32_t kv_dim, uint32_t block_size,
		 uint32_t n_blocks);
void tf_kv_destroy(struct tf_kv *kv);

/* Takes n blocks (all or none): -ENOSPC when fewer than n are free. */
int tf_kv_alloc(struct tf_kv *kv, uint32_t n, uint32_t *ids);
void tf_kv_free(struct tf_kv *kv, const uint32_t *ids, uint32_t n);

/* Blocks a sequence of len positions needs. */
static inline uint32_t
tf_kv_blocks_for(const struct tf_kv *kv, uint32_t len)
{
	return (len + kv->block_size - 1) / kv->block_size;
}

/* Key / value vector (kv_dim floats) of a position held in block, slot. */
static inline float *
tf_kv_key(const struct tf_kv *kv, uint32_t layer, uint32_t block, uint32_t slot)
{
	return kv->k +
	       (((size_t)layer * kv->n_blocks + block) * kv->block_size + slot) * kv->kv_dim;
}

static inline float *
tf_kv_val(const struct tf_kv *kv, uint32_t layer, uint32_t block, uint32_t slot)
{
	return kv->v +
	       (((size_t)layer * kv->n_blocks + block) * kv->block_size + slot) * kv->kv_dim;
}

#endif /* TF_ENGINE_KVCACHE_H */
