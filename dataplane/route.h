/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Routing a request to one accelerator of the pool serving its model:
 * lowest (outstanding work + this request) x cost weight x health penalty;
 * a down or excluded accelerator is never chosen. Pure function over the
 * candidates the caller lists.
 */
#ifndef TF_DP_ROUTE_H
#define TF_DP_ROUTE_H

#include <stdint.h>

/* Health of an accelerator as the router sees it. */
enum tf_route_health {
	TF_ROUTE_UP = 0, /* full weight */
	TF_ROUTE_DEGRADED = 1, /* looks 4x as loaded as it is */
	TF_ROUTE_DOWN = 2, /* never chosen */
};

struct tf_route_cand {
	uint64_t outstanding; /* tokens of work queued or running there (this lcore's view) */
	uint32_t cost_weight; /* relative cost, e.g. cost per hour per unit of speed (>= 1) */
	uint8_t health; /* enum tf_route_health */
	uint8_t excluded; /* e.g. just failed this request */
	uint8_t no_credit; /* transport has no room now: choose only if nothing else */
};

/*
 * Index of the best candidate for a request of `work` tokens, or -1 when
 * none can take it.
 */
int tf_route_pick(const struct tf_route_cand *c, unsigned int n, uint64_t work);

#endif /* TF_DP_ROUTE_H */
