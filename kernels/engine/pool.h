/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fixed set of worker pthreads that run the tasks of one parallel region
 * together with the calling thread. Workers spin briefly between regions
 * (the regions of one step follow each other within microseconds), then
 * sleep on a futex.
 */
#ifndef TF_ENGINE_POOL_H
#define TF_ENGINE_POOL_H

#include <stdint.h>

struct tf_pool;

/* task in [0, ntasks); worker in [0, threads): index for per-thread scratch. */
typedef void tf_pool_fn(void *ctx, uint32_t task, unsigned int worker);

/* threads counts the caller: 1 means no extra thread. */
int tf_pool_create(unsigned int threads, struct tf_pool **out);
void tf_pool_destroy(struct tf_pool *p);
unsigned int tf_pool_threads(const struct tf_pool *p);

/* Runs fn for every task and returns when all have finished. */
void tf_pool_run(struct tf_pool *p, tf_pool_fn *fn, void *ctx, uint32_t ntasks);

#endif /* TF_ENGINE_POOL_H */
