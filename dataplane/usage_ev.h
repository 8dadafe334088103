/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One usage event on its way from a worker to the card's event queue: a
 * per-request record or (aggregate mode) a usage aggregate. The type is the
 * event-queue type it will be posted as (include/tokfab/bar.h).
 */
#ifndef TF_DP_USAGE_EV_H
#define TF_DP_USAGE_EV_H

#include <stdint.h>

#include "tokfab/bar.h"
#include "tokfab/usage.h"

struct tf_dp_usage_ev {
	uint16_t type; /* TF_EQ_USAGE (u.rec) or TF_EQ_USAGE_AGG (u.agg) */
	uint16_t reserved[3];
	union {
		struct tf_usage_record rec;
		struct tf_usage_agg agg;
	} u;
};

#endif /* TF_DP_USAGE_EV_H */
