/* SPDX-License-Identifier: BSD-3-Clause */
/* Token buckets for per-tenant request and token rates. */
#include "dataplane/bucket.h"

#define MICRO 1000000ull

static uint64_t
cap_of(const struct tf_bucket *b)
{
	return b->burst * MICRO;
}

static void
refill(struct tf_bucket *b, uint64_t now_us)
{
	uint64_t dt, cap = cap_of(b), room;

	if (now_us <= b->last_us)
		return;
	dt = now_us - b->last_us;
	b->last_us = now_us;
	room = cap - b->level;
	/* rate * dt micro-units; compare by division to never overflow. */
	if (dt >= room / b->rate + 1)
		b->level = cap;
	else
		b->level += b->rate * dt;
	if (b->level > cap)
		b->level = cap;
}

void
tf_bucket_init(struct tf_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_us)
{
	b->rate = rate;
	b->burst = burst ? burst : rate;
	b->level = cap_of(b);
	b->last_us = now_us;
}

void
tf_bucket_set(struct tf_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_us)
{
	if (b->rate)
		refill(b, now_us);
	b->rate = rate;
	b->burst = burst ? burst : rate;
	if (b->level > cap_of(b))
		b->level = cap_of(b);
	b->last_us = now_us;
}

uint64_t
tf_bucket_wait_us(struct tf_bucket *b, uint64_t n, uint64_t now_us)
{
	uint64_t need;

	if (b->rate == 0)
		return 0;
	if (n > b->burst)
		return UINT64_MAX;
	refill(b, now_us);
	need = n * MICRO;
	if (b->level >= need)
		return 0;
	return (need - b->level + b->rate - 1) / b->rate;
}

void
tf_bucket_take(struct tf_bucket *b, uint64_t n)
{
	if (b->rate == 0)
		return;
	b->level -= n * MICRO;
}
