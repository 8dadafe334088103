/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The usage aggregator of one worker (aggregate mode, hwdocs/usage-record.md
 * "Usage aggregate"): finished requests summed per (tenant, model,
 * accelerator, outcome) for one window of card CLOCK_REALTIME. Pure: no
 * DPDK, no locks; the worker owns its table (usage.c decides when to flush).
 */
#ifndef TF_DP_USAGE_AGG_H
#define TF_DP_USAGE_AGG_H

#include <stdint.h>

#include "tokfab/usage.h"

struct tf_usage_agg_table {
	struct tf_usage_agg *rows; /* n in use, in the order their group first appeared */
	uint32_t *slots; /* open addressing, row index + 1 (0 = empty) */
	uint32_t cap; /* rows at most */
	uint32_t n;
	uint32_t mask; /* slots - 1 */
	uint64_t window; /* the rows' window: end_time_ns / window_ns */
};

/* cap groups (1..2^20). 0 or -ENOMEM / -EINVAL. */
int tf_usage_agg_init(struct tf_usage_agg_table *t, uint32_t cap);
void tf_usage_agg_fini(struct tf_usage_agg_table *t);

/*
 * Adds one finished request's record to its group. 0; -ENOSPC when it cannot
 * be added without flushing first (a new group and the table is full, or a
 * group's request count or cost would pass its bound); the table is unchanged.
 */
int tf_usage_agg_add(struct tf_usage_agg_table *t, const struct tf_usage_record *u);

/* Forgets every group (after the caller took rows[0..n)). */
void tf_usage_agg_clear(struct tf_usage_agg_table *t);

#endif /* TF_DP_USAGE_AGG_H */
