/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Token bucket in integer micro-units: refills at rate per second up to
 * burst, takes n at a time. Time comes in as microseconds from the caller
 * (the lcore's TSC-derived clock), so tests drive it by hand.
 */
#ifndef TF_DP_BUCKET_H
#define TF_DP_BUCKET_H

#include <stdint.h>

struct tf_bucket {
	uint64_t rate; /* units per second; 0 = unlimited */
	uint64_t burst; /* most units it holds */
	uint64_t level; /* micro-units (units * 1e6) available */
	uint64_t last_us; /* time of the last refill */
};

/* Sets rate and burst (burst 0 = one second's worth); a new bucket starts full. */
void tf_bucket_init(struct tf_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_us);
/* Changes rate and burst, keeping the level (clamped to the new burst). */
void tf_bucket_set(struct tf_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_us);
/*
 * 0 when n units are available now (does not take them), else the
 * microseconds until they will be (UINT64_MAX when n exceeds the burst).
 */
uint64_t tf_bucket_wait_us(struct tf_bucket *b, uint64_t n, uint64_t now_us);
/* Takes n units; call only after tf_bucket_wait_us() returned 0. */
void tf_bucket_take(struct tf_bucket *b, uint64_t n);

#endif /* TF_DP_BUCKET_H */
