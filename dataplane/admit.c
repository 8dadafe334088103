/* SPDX-License-Identifier: BSD-3-Clause */
/* Budget reservation/refund, rate buckets, priorities and queue bounds. */
#include "dataplane/admit.h"

#include <string.h>

void
tf_admit_tenant_init(struct tf_admit_tenant *t, const struct tf_admit_limits *lim, uint64_t now_us)
{
	memset(t, 0, sizeof(*t));
	t->unlimited = 1;
	tf_bucket_init(&t->req_rate, lim->req_per_s, lim->req_burst, now_us);
	tf_bucket_init(&t->tok_rate, lim->tok_per_s, lim->tok_burst, now_us);
	t->max_inflight = lim->max_inflight;
}

void
tf_admit_tenant_set_limits(struct tf_admit_tenant *t, const struct tf_admit_limits *lim,
			   uint64_t now_us)
{
	tf_bucket_set(&t->req_rate, lim->req_per_s, lim->req_burst, now_us);
	tf_bucket_set(&t->tok_rate, lim->tok_per_s, lim->tok_burst, now_us);
	t->max_inflight = lim->max_inflight;
}

void
tf_admit_tenant_set_balance(struct tf_admit_tenant *t, int64_t balance_micro, int unlimited)
{
	t->balance_micro = balance_micro;
	t->unlimited = (uint8_t) !!unlimited;
}

void
tf_admit_tenant_add_balance(struct tf_admit_tenant *t, int64_t delta_micro)
{
	t->balance_micro += delta_micro;
}

void
tf_admit_tenant_reset_period(struct tf_admit_tenant *t, int64_t budget_micro)
{
	t->balance_micro = budget_micro;
	t->used_micro = 0;
}

void
tf_admit_queue_init(struct tf_admit_queue *q, uint32_t max_depth, uint64_t retry_after_us,
		    uint64_t retry_max_us)
{
	memset(q, 0, sizeof(*q));
	q->depth = 0;
	for (unsigned int p = 0; p < TF_ADMIT_PRIO_LEVELS; p++)
		q->limit[p] = max_depth -
			      (uint32_t)(((uint64_t)max_depth * (TF_ADMIT_PRIO_LEVELS - 1 - p)) /
					 (2 * TF_ADMIT_PRIO_LEVELS));
	q->retry_after_us = retry_after_us;
	q->retry_max_us = retry_max_us > retry_after_us ? retry_max_us : retry_after_us;
}

#define RATE_SAMPLE_US 100000

void
tf_admit_queue_tick(struct tf_admit_queue *q, uint64_t now_us)
{
	uint64_t dt = now_us - q->tick_us, sample;

	if (!q->tick_us || now_us < q->tick_us) {
		q->tick_us = now_us ? now_us : 1;
		q->tick_ended = q->ended;
		return;
	}
	if (dt < RATE_SAMPLE_US)
		return;
	sample = (q->ended - q->tick_ended) * 1000000000ull / dt;
	q->rate_milli = q->rate_known ? (3 * q->rate_milli + sample) / 4 : sample;
	q->rate_known = 1;
	q->tick_us = now_us;
	q->tick_ended = q->ended;
}

uint64_t
tf_admit_busy_wait_us(const struct tf_admit_queue *q)
{
	uint64_t w;

	if (!q->rate_known)
		return q->retry_after_us;
	if (!q->rate_milli)
		return q->retry_max_us; /* nothing ends: come back late */
	w = (uint64_t)q->depth * 1000000000ull / q->rate_milli;
	if (w < q->retry_after_us)
		return q->retry_after_us;
	return w > q->retry_max_us ? q->retry_max_us : w;
}

static enum tf_admit_verdict
refuse(struct tf_admit_tenant *t, enum tf_admit_verdict v)
{
	t->refused[v]++;
	return v;
}

enum tf_admit_verdict
tf_admit_try(struct tf_admit_tenant *t, struct tf_admit_queue *q, uint64_t tokens,
	     uint64_t reserve_micro, unsigned int prio, uint64_t now_us, uint64_t *retry_after_us)
{
	uint64_t w_req, w_tok;

	*retry_after_us = 0;
	if (prio >= TF_ADMIT_PRIO_LEVELS)
		prio = TF_ADMIT_PRIO_LEVELS - 1;
	/* Budget first: no amount of waiting fixes an empty budget. */
	if (!t->unlimited && t->balance_micro - t->reserved_micro < (int64_t)reserve_micro)
		return refuse(t, TF_ADMIT_QUOTA);
	if (q->depth >= q->limit[prio] || (t->max_inflight && t->inflight >= t->max_inflight)) {
		*retry_after_us = tf_admit_busy_wait_us(q);
		return refuse(t, TF_ADMIT_BUSY);
	}
	w_tok = tf_bucket_wait_us(&t->tok_rate, tokens, now_us);
	if (w_tok == UINT64_MAX)
		return refuse(t, TF_ADMIT_TOO_LARGE);
	w_req = tf_bucket_wait_us(&t->req_rate, 1, now_us);
	if (w_req || w_tok) {
		*retry_after_us = w_req > w_tok ? w_req : w_tok;
		return refuse(t, TF_ADMIT_RATE);
	}
	tf_bucket_take(&t->req_rate, 1);
	tf_bucket_take(&t->tok_rate, tokens);
	t->reserved_micro += (int64_t)reserve_micro;
	t->inflight++;
	t->admitted++;
	q->depth++;
	return TF_ADMIT_OK;
}

uint64_t
tf_admit_end(struct tf_admit_tenant *t, struct tf_admit_queue *q, uint64_t reserve_micro,
	     uint64_t cost_micro)
{
	if (cost_micro > reserve_micro)
		cost_micro = reserve_micro;
	t->reserved_micro -= (int64_t)reserve_micro;
	t->balance_micro -= (int64_t)cost_micro;
	t->charged_micro += cost_micro;
	t->used_micro += cost_micro;
	t->inflight--;
	q->depth--;
	q->ended++;
	return cost_micro;
}
