/* SPDX-License-Identifier: BSD-3-Clause */
#include "kvcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int
tf_kv_create(struct tf_kv *kv, uint32_t n_layers, uint32_t kv_dim, uint32_t block_size,
	     uint32_t n_blocks, uint32_t elt)
{
	size_t per;

	memset(kv, 0, sizeof(*kv));
	if (!n_layers || !kv_dim || !block_size || !n_blocks || (elt != 2 && elt != 4))
		return -EINVAL;
	per = (size_t)n_layers * n_blocks * block_size * kv_dim * elt;
	if (per / n_layers / n_blocks / block_size / elt != kv_dim)
		return -EOVERFLOW;
	kv->n_layers = n_layers;
	kv->kv_dim = kv_dim;
	kv->block_size = block_size;
	kv->n_blocks = n_blocks;
	kv->elt = elt;
	kv->bytes = 2 * per;
	/* Anonymous mapping: pages are touched (and zeroed) only when used. */
	kv->k = mmap(NULL, kv->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (kv->k == MAP_FAILED) {
		kv->k = NULL;
		return -ENOMEM;
	}
	madvise(kv->k, kv->bytes, MADV_HUGEPAGE); /* a hint: fewer TLB misses if granted */
	kv->v = kv->k + per;
	kv->free_ids = malloc((size_t)n_blocks * sizeof(*kv->free_ids));
	if (!kv->free_ids) {
		munmap(kv->k, kv->bytes);
		kv->k = NULL;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n_blocks; i++) /* pop order: block 0 first */
		kv->free_ids[i] = n_blocks - 1 - i;
	kv->n_free = n_blocks;
	return 0;
}

void
tf_kv_destroy(struct tf_kv *kv)
{
	if (kv->k)
		munmap(kv->k, kv->bytes);
	free(kv->free_ids);
	memset(kv, 0, sizeof(*kv));
}

int
tf_kv_alloc(struct tf_kv *kv, uint32_t n, uint32_t *ids)
{
	if (n > kv->n_free)
		return -ENOSPC;
	for (uint32_t i = 0; i < n; i++)
		ids[i] = kv->free_ids[--kv->n_free];
	return 0;
}

void
tf_kv_free(struct tf_kv *kv, const uint32_t *ids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		kv->free_ids[kv->n_free++] = ids[i];
}
