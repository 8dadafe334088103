/* SPDX-License-Identifier: BSD-3-Clause */
/* Group commit policy: N events or T since the first, whichever comes first. */
#include "tokfabd/group_commit.h"

void
tfd_gc_init(struct tfd_gc *g, uint32_t batch_max, uint32_t eq_depth, uint32_t interval_ms)
{
	uint32_t n = batch_max ? batch_max : 1;

	if (eq_depth >= 4 && n > eq_depth / 4)
		n = eq_depth / 4;
	*g = (struct tfd_gc){ .max_events = n, .interval_us = (uint64_t)interval_ms * 1000 };
}

void
tfd_gc_read(struct tfd_gc *g, uint32_t n, uint64_t now_us)
{
	if (g->last_us && now_us > g->last_us) {
		uint64_t inst = (uint64_t)n * 1000000u / (now_us - g->last_us);

		/* Smoothed over ~4 looks; a first look takes the instant rate. */
		g->rate = g->rate ? (3 * g->rate + inst) / 4 : inst;
	}
	g->last_us = now_us;
	if (n && !g->pending)
		g->first_us = now_us;
	g->pending += n;
}

bool
tfd_gc_due(const struct tfd_gc *g, uint64_t now_us)
{
	if (!g->pending)
		return false;
	return g->pending >= g->max_events || now_us - g->first_us >= g->interval_us;
}

uint64_t
tfd_gc_wait_us(const struct tfd_gc *g, uint64_t now_us)
{
	uint64_t left, wait;

	if (!g->pending || tfd_gc_due(g, now_us))
		return 0;
	left = g->first_us + g->interval_us - now_us;
	wait = left;
	if (g->rate) {
		/* Half the time the current rate needs to fill the batch. */
		uint64_t fill = (uint64_t)(g->max_events - g->pending) * 1000000u / g->rate;

		if (fill / 2 < wait)
			wait = fill / 2;
	}
	if (wait < TFD_GC_MIN_WAIT_US)
		wait = left < TFD_GC_MIN_WAIT_US ? left : TFD_GC_MIN_WAIT_US;
	return wait ? wait : 1;
}

void
tfd_gc_committed(struct tfd_gc *g)
{
	g->pending = 0;
	g->first_us = 0;
}
