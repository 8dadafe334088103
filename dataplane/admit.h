/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Admission: a tenant's budget, rates, priorities and the queue bounds.
 *
 * Budget is RESERVED when a request is admitted: the cost of its prompt plus
 * max_new_tokens at the tenant's price for the model. When the request ends
 * the actual cost is charged and the rest of the reservation released, so
 * concurrent requests can never spend more than the balance. The balance
 * can be lowered by the host while requests run: a tenant whose balance no
 * longer covers its reservations is "dry", and its running requests are
 * cut off at their next token chunk (tf_admit_dry()).
 *
 * All of a tenant's admission state lives on the one lcore that owns the
 * tenant: no sharing, no atomics.
 */
#ifndef TF_DP_ADMIT_H
#define TF_DP_ADMIT_H

#include <stdint.h>

#include "dataplane/bucket.h"

#define TF_ADMIT_PRIO_LEVELS 8 /* 0 = lowest .. 7 = highest (the wire protocol's) */

/* Why a request was not admitted. */
enum tf_admit_verdict {
	TF_ADMIT_OK = 0,
	TF_ADMIT_QUOTA, /* budget exhausted: no retry helps until the host tops it up */
	TF_ADMIT_RATE, /* request or token rate exceeded: retry after */
	TF_ADMIT_BUSY, /* queue depth bound for this priority reached: retry after */
	TF_ADMIT_TOO_LARGE, /* needs more tokens than the token-rate burst can ever hold */
};

/* Per-tenant limits, from the configuration / the host. 0 = unlimited. */
struct tf_admit_limits {
	uint64_t req_per_s, req_burst;
	uint64_t tok_per_s, tok_burst;
	uint32_t max_inflight;
};

/* A tenant's admission state (owned by one lcore). */
struct tf_admit_tenant {
	int64_t balance_micro; /* what the tenant may still spend (host-set, minus charges) */
	int64_t reserved_micro; /* sum of the reservations of its running requests */
	uint8_t unlimited; /* no budget enforcement (balance not configured) */
	uint32_t inflight; /* admitted, not yet ended */
	struct tf_bucket req_rate;
	struct tf_bucket tok_rate;
	uint32_t max_inflight;
	/* counters */
	uint64_t used_micro; /* charged this period (RESET_PERIOD clears it) */
	uint64_t charged_micro; /* charged since start */
	uint64_t admitted; /* requests admitted since start */
	uint64_t refused[5]; /* by enum tf_admit_verdict */
};

/* Queue bounds of one lcore: how many requests may wait or run, by priority. */
struct tf_admit_queue {
	uint32_t depth; /* admitted, not ended */
	uint32_t limit[TF_ADMIT_PRIO_LEVELS]; /* depth at which a priority is refused */
	uint64_t retry_after_us; /* least advice sent with BUSY */
	uint64_t retry_max_us; /* most advice sent with BUSY */
	/* how fast requests end: what a BUSY's retry-after is sized by */
	uint64_t ended; /* requests ended since start */
	uint64_t tick_us, tick_ended; /* at the last sample (0: none yet) */
	uint64_t rate_milli; /* requests ended per second x 1000, smoothed */
	uint8_t rate_known; /* rate_milli holds a sample */
};

/* Cost in micro-units of tokens at price_per_1k_micro (round half up), as usage.h. */
static inline uint64_t
tf_admit_cost(uint64_t tokens, uint64_t price_per_1k_micro)
{
	return (tokens * price_per_1k_micro + 500) / 1000;
}

void tf_admit_tenant_init(struct tf_admit_tenant *t, const struct tf_admit_limits *lim,
			  uint64_t now_us);
void tf_admit_tenant_set_limits(struct tf_admit_tenant *t, const struct tf_admit_limits *lim,
				uint64_t now_us);
/* The host sets the balance (absolute) or lifts enforcement (unlimited != 0). */
void tf_admit_tenant_set_balance(struct tf_admit_tenant *t, int64_t balance_micro, int unlimited);
/* The host tops the balance up (or down, negative delta). */
void tf_admit_tenant_add_balance(struct tf_admit_tenant *t, int64_t delta_micro);
/* A new period: balance := budget, used := 0. */
void tf_admit_tenant_reset_period(struct tf_admit_tenant *t, int64_t budget_micro);

/*
 * Sets the per-priority depth bounds from one max depth: the highest priority
 * may fill the queue, each lower one stops 1/16 of it earlier (lowest: 9/16).
 */
void tf_admit_queue_init(struct tf_admit_queue *q, uint32_t max_depth, uint64_t retry_after_us,
			 uint64_t retry_max_us);
/*
 * Samples the end rate (call it at least every 100 ms): each sample covers at
 * least 100 ms, smoothed over about four.
 */
void tf_admit_queue_tick(struct tf_admit_queue *q, uint64_t now_us);
/*
 * The retry-after of a BUSY for a full queue: the time the requests queued now
 * take to end at the recent rate (when a refused client sending again has a fair
 * chance), within [retry_after_us, retry_max_us]; retry_after_us while the rate
 * is unknown. Under sustained overload a fixed short advice multiplied the
 * card's load by the retry limit (every refused request came back at once).
 */
uint64_t tf_admit_busy_wait_us(const struct tf_admit_queue *q);

/*
 * Decides whether a request of `tokens` (prompt + max new) costing
 * `reserve_micro` at priority prio may start now. On OK the reservation is
 * made, the rates are taken and the queue depth counted; otherwise nothing
 * changes and *retry_after_us says when trying again can help (0: never).
 */
enum tf_admit_verdict tf_admit_try(struct tf_admit_tenant *t, struct tf_admit_queue *q,
				   uint64_t tokens, uint64_t reserve_micro, unsigned int prio,
				   uint64_t now_us, uint64_t *retry_after_us);

/*
 * Ends an admitted request: charges cost_micro (never more than it reserved:
 * the reservation bounds what a request may cost) and releases the rest.
 * Returns what was charged.
 */
uint64_t tf_admit_end(struct tf_admit_tenant *t, struct tf_admit_queue *q, uint64_t reserve_micro,
		      uint64_t cost_micro);

/* True when the balance no longer covers the running reservations (cut off). */
static inline int
tf_admit_dry(const struct tf_admit_tenant *t)
{
	return !t->unlimited && t->balance_micro < t->reserved_micro;
}

#endif /* TF_DP_ADMIT_H */
