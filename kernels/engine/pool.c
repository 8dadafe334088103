/* SPDX-License-Identifier: BSD-3-Clause */
#include "pool.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPIN_ROUNDS 4000 /* ~ tens of microseconds of pause before sleeping */

struct tf_pool_worker {
	struct tf_pool *pool;
	pthread_t tid;
	unsigned int index;
};

struct tf_pool {
	unsigned int threads;
	struct tf_pool_worker *workers; /* threads - 1 */
	/* the region being run */
	tf_pool_fn *fn;
	void *ctx;
	uint32_t ntasks;
	_Atomic uint32_t next;	  /* next task to claim */
	_Atomic uint32_t gen;	  /* bumped to start a region (futex word) */
	_Atomic uint32_t done;	  /* workers finished with this region (futex word) */
	_Atomic uint32_t stop;
	_Atomic uint32_t sleepers; /* workers in futex_wait on gen */
	_Atomic uint32_t waiting;  /* 1: the caller is in futex_wait on done */
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

static inline void
cpu_relax(void)
{
	__builtin_ia32_pause();
}

static void
run_tasks(struct tf_pool *p, unsigned int worker)
{
	uint32_t t;

	while ((t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->ntasks)
		p->fn(p->ctx, t, worker);
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

		while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
			if (++spins < SPIN_ROUNDS) {
				cpu_relax();
				continue;
			}
			/* The futex re-checks gen == seen, so a bump after our load
			 * is never missed; the bumper wakes when sleepers > 0. */
			atomic_fetch_add(&p->sleepers, 1);
			futex_wait(&p->gen, seen);
			atomic_fetch_sub(&p->sleepers, 1);
		}
		seen = g;
		if (atomic_load_explicit(&p->stop, memory_order_relaxed))
			return NULL;
		run_tasks(p, w->index);
		if (atomic_fetch_add(&p->done, 1) + 1 == p->threads - 1 && atomic_load(&p->waiting))
			futex_wake(&p->done);
	}
}

int
tf_pool_create(unsigned int threads, struct tf_pool **out)
{
	struct tf_pool *p;
	unsigned int i;
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
	for (i = 0; i + 1 < threads; i++) {
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
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
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
	uint32_t want = p->threads - 1, d;
	int spins = 0;

	if (want == 0 || ntasks <= 1) {
		for (uint32_t t = 0; t < ntasks; t++)
			fn(ctx, t, 0);
		return;
	}
	p->fn = fn;
	p->ctx = ctx;
	p->ntasks = ntasks;
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	atomic_store_explicit(&p->done, 0, memory_order_relaxed);
	atomic_fetch_add(&p->gen, 1);
	if (atomic_load(&p->sleepers))
		futex_wake(&p->gen);
	run_tasks(p, 0);
	/* Workers read fn/ctx/ntasks: wait for each to check in before they change. */
	while ((d = atomic_load(&p->done)) != want) {
		if (++spins < SPIN_ROUNDS) {
			cpu_relax();
			continue;
		}
		atomic_store(&p->waiting, 1);
		futex_wait(&p->done, d);
		atomic_store(&p->waiting, 0);
	}
}
