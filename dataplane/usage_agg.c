/* SPDX-License-Identifier: BSD-3-Clause */
/* Sums finished requests per (tenant, model, accelerator, outcome). */
#include "dataplane/usage_agg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokfab/bar.h"

int
tf_usage_agg_init(struct tf_usage_agg_table *t, uint32_t cap)
{
	uint32_t slots = 2;

	memset(t, 0, sizeof(*t));
	if (cap == 0 || cap > (1u << 20))
		return -EINVAL;
	while (slots < 2 * cap) /* load factor <= 1/2: short probes */
		slots <<= 1;
	t->rows = calloc(cap, sizeof(*t->rows));
	t->slots = calloc(slots, sizeof(*t->slots));
	if (!t->rows || !t->slots) {
		tf_usage_agg_fini(t);
		return -ENOMEM;
	}
	t->cap = cap;
	t->mask = slots - 1;
	return 0;
}

void
tf_usage_agg_fini(struct tf_usage_agg_table *t)
{
	free(t->rows);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static uint32_t
hash(uint32_t tenant, uint32_t model, uint32_t accel, uint16_t outcome)
{
	uint64_t h = (uint64_t)tenant * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)model << 32 | accel) * 0xc2b2ae3d27d4eb4full;
	h ^= (uint64_t)outcome * 0x165667b19e3779f9ull;
	h ^= h >> 29;
	return (uint32_t)(h ^ h >> 32);
}

int
tf_usage_agg_add(struct tf_usage_agg_table *t, const struct tf_usage_record *u)
{
	uint32_t i = hash(u->tenant_id, u->model_id, u->accel_id, u->outcome) & t->mask;
	struct tf_usage_agg *a;

	for (;; i = (i + 1) & t->mask) {
		if (!t->slots[i]) {
			if (t->n == t->cap)
				return -ENOSPC;
			a = &t->rows[t->n];
			memset(a, 0, sizeof(*a));
			a->tenant_id = u->tenant_id;
			a->model_id = u->model_id;
			a->accel_id = u->accel_id;
			a->outcome = u->outcome;
			a->first_end_ns = u->end_time_ns;
			t->slots[i] = ++t->n;
			break;
		}
		a = &t->rows[t->slots[i] - 1];
		if (a->tenant_id == u->tenant_id && a->model_id == u->model_id &&
		    a->accel_id == u->accel_id && a->outcome == u->outcome) {
			if (a->requests == UINT32_MAX ||
			    a->cost_micro + u->cost_micro > TF_MONEY_MAX)
				return -ENOSPC;
			break;
		}
	}
	a->requests++;
	a->prompt_tokens += u->prompt_tokens;
	a->completion_tokens += u->completion_tokens;
	a->cost_micro += u->cost_micro;
	a->compute_us += u->compute_us;
	if (u->end_time_ns < a->first_end_ns)
		a->first_end_ns = u->end_time_ns;
	if (u->end_time_ns > a->last_end_ns)
		a->last_end_ns = u->end_time_ns;
	return 0;
}

void
tf_usage_agg_clear(struct tf_usage_agg_table *t)
{
	memset(t->slots, 0, ((size_t)t->mask + 1) * sizeof(*t->slots));
	t->n = 0;
}
