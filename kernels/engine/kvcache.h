/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Paged KV cache: one pool of fixed-size blocks (block_size positions of
 * every layer's keys and values); a sequence owns a block table mapping its
 * position p to block table[p / block_size], slot p % block_size. Inside a
 * block, keys are stored transposed (tf_kv_keys), values by position.
 * Elements are fp32, or bf16 (rounded as tf_bf16_round) for the bf16
 * precision: half the bytes attention reads.
 */
#ifndef TF_ENGINE_KVCACHE_H
#define TF_ENGINE_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct tf_kv {
	uint32_t n_layers, kv_dim, block_size, n_blocks;
	uint32_t elt; /* bytes per element: 4 (fp32) or 2 (bf16) */
	unsigned char *k; /* (layer, block, kv_dim, block_size): transposed per block */
	unsigned char *v; /* (layer, block, block_size, kv_dim) */
	size_t bytes; /* of k + v */
	uint32_t *free_ids; /* stack of free block ids */
	uint32_t n_free;
};

/* elt: 4 for fp32 elements, 2 for bf16. */
int tf_kv_create(struct tf_kv *kv, uint32_t n_layers, uint32_t kv_dim, uint32_t block_size,
		 uint32_t n_blocks, uint32_t elt);
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

/* Keys of a block, transposed: (kv_dim, block_size) elements, element d of
 * slot s at [d * block_size + s], so one vector load gives one element of
 * consecutive positions (the attention kernels' layout, kern.h). */
static inline void *
tf_kv_keys(const struct tf_kv *kv, uint32_t layer, uint32_t block)
{
	return kv->k +
	       ((size_t)layer * kv->n_blocks + block) * kv->block_size * kv->kv_dim * kv->elt;
}

/* Values of a block: (block_size, kv_dim) elements, one position per row. */
static inline void *
tf_kv_vals(const struct tf_kv *kv, uint32_t layer, uint32_t block)
{
	return kv->v +
	       ((size_t)layer * kv->n_blocks + block) * kv->block_size * kv->kv_dim * kv->elt;
}

/* Stores elements [off, off + n) of one position's key and value (a head's
 * slice) in block, slot. */
static inline void
tf_kv_put(const struct tf_kv *kv, uint32_t layer, uint32_t block, uint32_t slot, uint32_t off,
	  uint32_t n, const float *k, const float *v)
{
	size_t ko = (size_t)off * kv->block_size + slot, vo = (size_t)slot * kv->kv_dim + off;

	if (kv->elt == 2) {
		uint16_t *kb = (uint16_t *)tf_kv_keys(kv, layer, block) + ko;
		uint16_t *vb = (uint16_t *)tf_kv_vals(kv, layer, block) + vo;

		for (uint32_t d = 0; d < n; d++) {
			kb[(size_t)d * kv->block_size] = tf_bf16_round(k[d]);
			vb[d] = tf_bf16_round(v[d]);
		}
		return;
	}
	float *kb = (float *)tf_kv_keys(kv, layer, block) + ko;
	float *vb = (float *)tf_kv_vals(kv, layer, block) + vo;

	for (uint32_t d = 0; d < n; d++) {
		kb[(size_t)d * kv->block_size] = k[d];
		vb[d] = v[d];
	}
}

#endif /* TF_ENGINE_KVCACHE_H */
