/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Thread pool for the parallel regions of a step.
 *
 * A region is published as (generation, next task) in one 64-bit word;
 * threads claim tasks with a compare-and-swap that also checks the
 * generation, so a worker that was descheduled for a whole region can never
 * claim a task of a later one with stale arguments. The caller returns as
 * soon as every task has completed: it never waits for idle workers to check
 * in, which matters on shared, oversubscribed cores.
 */
#include "pool.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPIN_ROUNDS 2000 /* pause loops (tens of microseconds) before sleeping */

struct tf_pool_worker {
	struct tf_pool *pool;
	pthread_t tid;
	unsigned int index;
};

struct tf_pool {
	unsigned int threads;
	struct tf_pool_worker *workers; /* threads - 1 */
	/* the current region; written before claim publishes it */
	tf_pool_fn *fn;
	void *ctx;
	_Atomic uint32_t ntasks; /* read racily before a claim: atomic */
	_Atomic uint64_t claim; /* generation << 32 | next task */
	_Atomic uint32_t gen; /* generation, the workers' futex word */
	_Atomic uint32_t completed; /* tasks of this region done (the caller's futex word) */
	_Atomic uint32_t stop;
	_Atomic uint32_t sleepers; /* workers in futex_wait on gen */
	_Atomic uint32_t waiting; /* 1: the caller is in futex_wait on completed */
};

static void
futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	syscall(SYS_futex, (uintptr_t)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void
futex_wake(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, (uintptr_t)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Claims and runs tasks of generation g until none is left. */
static void
run_tasks(struct tf_pool *p, uint32_t g, unsigned int worker)
{
	uint64_t v = atomic_load(&p->claim);

	for (;;) {
		uint32_t t = (uint32_t)v;

		/* ntasks may belong to a newer region here; then the CAS fails */
		if ((uint32_t)(v >> 32) != g || t >= p->ntasks)
			return;
		if (!atomic_compare_exchange_weak(&p->claim, &v, v + 1))
			continue;
		/* holding an unfinished task of g: its arguments stay put */
		p->fn(p->ctx, t, worker);
		if (atomic_fetch_add(&p->completed, 1) + 1 == p->ntasks && atomic_load(&p->waiting))
			futex_wake(&p->completed);
		v = atomic_load(&p->claim);
	}
}

static void *
worker_main(void *arg)
{
	struct tf_pool_worker *w = arg;
	struct tf_pool *p = w->pool;
	uint32_t seen = 0;

	for (;;) {
		uint32_t g;
		int spins = 0;

		while ((g = atomic_load(&p->gen)) == seen) {
			if (++spins < SPIN_ROUNDS) {
				__builtin_ia32_pause();
				continue;
			}
			/* The futex re-checks gen == seen, so a bump after our load
			 * is never missed; the bumper wakes when sleepers > 0. */
			atomic_fetch_add(&p->sleepers, 1);
			futex_wait(&p->gen, seen);
			atomic_fetch_sub(&p->sleepers, 1);
		}
		seen = g;
		if (atomic_load(&p->stop))
			return NULL;
		run_tasks(p, g, w->index);
	}
}

int
tf_pool_create(unsigned int threads, struct tf_pool **out)
{
	struct tf_pool *p;
	int rc;

	if (threads == 0 || threads > 1024)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->threads = threads;
	p->workers = calloc(threads, sizeof(*p->workers));
	if (!p->workers) {
		free(p);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i + 1 < threads; i++) {
		p->workers[i].pool = p;
		p->workers[i].index = i + 1;
		rc = pthread_create(&p->workers[i].tid, NULL, worker_main, &p->workers[i]);
		if (rc) {
			p->threads = i + 1; /* tear down only what started */
			tf_pool_destroy(p);
			return -rc;
		}
	}
	*out = p;
	return 0;
}

void
tf_pool_destroy(struct tf_pool *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	atomic_fetch_add(&p->gen, 1);
	futex_wake(&p->gen);
	for (unsigned int i = 0; i + 1 < p->threads; i++)
		pthread_join(p->workers[i].tid, NULL);
	free(p->workers);
	free(p);
}

unsigned int
tf_pool_threads(const struct tf_pool *p)
{
	return p->threads;
}

void
tf_pool_run(struct tf_pool *p, tf_pool_fn *fn, void *ctx, uint32_t ntasks)
{
	uint32_t g, c;
	int spins = 0;

	if (p->threads == 1 || ntasks <= 1) {
		for (uint32_t t = 0; t < ntasks; t++)
			fn(ctx, t, 0);
		return;
	}
	/* Close the claim word first (new generation, no task left): a worker
	 * still holding the previous generation's word then fails its CAS
	 * whatever ntasks it reads below. Every task of the previous region has
	 * completed, so nobody is using fn / ctx. */
	g = atomic_load(&p->gen) + 1;
	atomic_store(&p->claim, (uint64_t)g << 32 | UINT32_MAX);
	p->fn = fn;
	p->ctx = ctx;
	p->ntasks = ntasks;
	atomic_store(&p->completed, 0);
	atomic_store(&p->claim, (uint64_t)g << 32); /* open */
	atomic_store(&p->gen, g);
	if (atomic_load(&p->sleepers))
		futex_wake(&p->gen);
	run_tasks(p, g, 0);
	while ((c = atomic_load(&p->completed)) != ntasks) {
		if (++spins < SPIN_ROUNDS) {
			__builtin_ia32_pause();
			continue;
		}
		atomic_store(&p->waiting, 1);
		futex_wait(&p->completed, c);
		atomic_store(&p->waiting, 0);
	}
}
