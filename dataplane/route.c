/* SPDX-License-Identifier: BSD-3-Clause */
/* Choosing an accelerator by outstanding work, cost weight and health. */
#include "dataplane/route.h"

int
tf_route_pick(const struct tf_route_cand *c, unsigned int n, uint64_t work)
{
	unsigned __int128 best = 0, score;
	int best_i = -1, best_credit = 0;

	for (unsigned int i = 0; i < n; i++) {
		int credit;

		if (c[i].health == TF_ROUTE_DOWN || c[i].excluded)
			continue;
		score = (unsigned __int128)(c[i].outstanding + work + 1) *
			(c[i].cost_weight ? c[i].cost_weight : 1);
		if (c[i].health == TF_ROUTE_DEGRADED)
			score *= 4;
		credit = !c[i].no_credit;
		/* One with room beats one without; then the lower score; ties: lower index. */
		if (best_i < 0 || credit > best_credit || (credit == best_credit && score < best)) {
			best = score;
			best_i = (int)i;
			best_credit = credit;
		}
	}
	return best_i;
}
