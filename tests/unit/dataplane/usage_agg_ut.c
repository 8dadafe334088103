/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/usage_agg.c: the per-worker usage aggregator. */
#include "dataplane/usage_agg.h"
#include "tf_cunit.h"
#include "tokfab/bar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct tf_usage_record
rec(uint32_t tenant, uint32_t model, uint32_t accel, uint16_t outcome, uint32_t p, uint32_t c,
    uint64_t cost, uint64_t end)
{
	struct tf_usage_record u = { .request_id = end,
				     .tenant_id = tenant,
				     .model_id = model,
				     .accel_id = accel,
				     .outcome = outcome,
				     .prompt_tokens = p,
				     .completion_tokens = c,
				     .compute_us = 7,
				     .cost_micro = cost,
				     .end_time_ns = end };
	return u;
}

static const struct tf_usage_agg *
find(const struct tf_usage_agg_table *t, uint32_t tenant, uint32_t model, uint32_t accel,
     uint16_t outcome)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->rows[i].tenant_id == tenant && t->rows[i].model_id == model &&
		    t->rows[i].accel_id == accel && t->rows[i].outcome == outcome)
			return &t->rows[i];
	return NULL;
}

/* Random requests over 40 groups: every group's sums equal a naive reference. */
static void
test_sums_exact(void)
{
	struct ref {
		uint64_t n, p, c, cost, first, last;
	} ref[2][5][2][2] = { 0 };
	struct tf_usage_agg_table t;
	uint32_t groups = 0;

	CU_ASSERT_EQUAL_FATAL(tf_usage_agg_init(&t, 64), 0);
	srand(12345);
	for (int i = 0; i < 20000; i++) {
		uint32_t te = (uint32_t)rand() % 2, mo = (uint32_t)rand() % 5,
			 ac = (uint32_t)rand() % 2, oc = (uint32_t)rand() % 2;
		uint32_t p = (uint32_t)rand() % (1u << 24), c = (uint32_t)rand() % 5000;
		uint64_t cost = ((uint64_t)rand() << 20) | (uint64_t)rand();
		uint64_t end = 1000000 + (uint64_t)(rand() % 100000);
		struct tf_usage_record u = rec(te + 1, mo + 1, ac, (uint16_t)oc, p, c, cost, end);
		struct ref *r = &ref[te][mo][ac][oc];

		CU_ASSERT_EQUAL_FATAL(tf_usage_agg_add(&t, &u), 0);
		if (!r->n++) {
			groups++;
			r->first = end;
		}
		r->p += p;
		r->c += c;
		r->cost += cost;
		r->first = end < r->first ? end : r->first;
		r->last = end > r->last ? end : r->last;
	}
	CU_ASSERT_EQUAL(t.n, groups);
	for (uint32_t te = 0; te < 2; te++)
		for (uint32_t mo = 0; mo < 5; mo++)
			for (uint32_t ac = 0; ac < 2; ac++)
				for (uint16_t oc = 0; oc < 2; oc++) {
					const struct ref *r = &ref[te][mo][ac][oc];
					const struct tf_usage_agg *a =
						find(&t, te + 1, mo + 1, ac, oc);

					if (!r->n) {
						CU_ASSERT_PTR_NULL(a);
						continue;
					}
					CU_ASSERT_PTR_NOT_NULL_FATAL(a);
					CU_ASSERT_EQUAL(a->requests, r->n);
					CU_ASSERT_EQUAL(a->prompt_tokens, r->p);
					CU_ASSERT_EQUAL(a->completion_tokens, r->c);
					CU_ASSERT_EQUAL(a->cost_micro, r->cost);
					CU_ASSERT_EQUAL(a->compute_us, 7 * r->n);
					CU_ASSERT_EQUAL(a->first_end_ns, r->first);
					CU_ASSERT_EQUAL(a->last_end_ns, r->last);
					CU_ASSERT_EQUAL(a->flags, 0);
					CU_ASSERT_EQUAL(a->reserved0, 0);
					CU_ASSERT_EQUAL(a->reserved1, 0);
				}
	tf_usage_agg_fini(&t);
}

/* A full table refuses a new group and keeps what it has; known groups still add. */
static void
test_full_table(void)
{
	struct tf_usage_agg_table t;
	struct tf_usage_record u;

	CU_ASSERT_EQUAL_FATAL(tf_usage_agg_init(&t, 3), 0);
	for (uint32_t i = 1; i <= 3; i++) {
		u = rec(i, 1, 1, 0, 10, 20, 30, 100 + i);
		CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), 0);
	}
	u = rec(4, 1, 1, 0, 10, 20, 30, 200);
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), -ENOSPC);
	CU_ASSERT_EQUAL(t.n, 3);
	CU_ASSERT_PTR_NULL(find(&t, 4, 1, 1, 0));
	u = rec(2, 1, 1, 0, 1, 2, 3, 300);
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), 0);
	CU_ASSERT_EQUAL(find(&t, 2, 1, 1, 0)->requests, 2);
	CU_ASSERT_EQUAL(find(&t, 2, 1, 1, 0)->completion_tokens, 22);
	/* The same group with another outcome or accelerator is another group. */
	u = rec(2, 1, 1, TF_USAGE_CANCELLED, 1, 2, 3, 300);
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), -ENOSPC);
	u = rec(2, 1, 2, 0, 1, 2, 3, 300);
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), -ENOSPC);
	/* Rows keep the order their groups appeared in. */
	CU_ASSERT_EQUAL(t.rows[0].tenant_id, 1);
	CU_ASSERT_EQUAL(t.rows[2].tenant_id, 3);
	tf_usage_agg_clear(&t);
	CU_ASSERT_EQUAL(t.n, 0);
	u = rec(4, 1, 1, 0, 10, 20, 30, 200);
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), 0);
	CU_ASSERT_EQUAL(find(&t, 4, 1, 1, 0)->requests, 1);
	CU_ASSERT_PTR_NULL(find(&t, 2, 1, 1, 0));
	tf_usage_agg_fini(&t);
}

/* A group at its request-count or cost bound asks for a flush instead of wrapping. */
static void
test_group_bounds(void)
{
	struct tf_usage_agg_table t;
	struct tf_usage_record u = rec(1, 1, 1, 0, 1, 1, TF_MONEY_MAX / 2, 5);
	struct tf_usage_agg *a;

	CU_ASSERT_EQUAL_FATAL(tf_usage_agg_init(&t, 4), 0);
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), 0);
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), 0);
	u.cost_micro = 1;
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), -ENOSPC); /* 2^62 + 1 */
	a = &t.rows[0];
	CU_ASSERT_EQUAL(a->requests, 2);
	CU_ASSERT_EQUAL(a->cost_micro, TF_MONEY_MAX);
	u.tenant_id = 2;
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), 0);
	t.rows[1].requests = UINT32_MAX;
	CU_ASSERT_EQUAL(tf_usage_agg_add(&t, &u), -ENOSPC);
	CU_ASSERT_EQUAL(t.rows[1].requests, UINT32_MAX);
	tf_usage_agg_fini(&t);
	CU_ASSERT_EQUAL(tf_usage_agg_init(&t, 0), -EINVAL);
}

static const struct tf_cunit_test agg_tests[] = {
	TF_TEST(test_sums_exact),
	TF_TEST(test_full_table),
	TF_TEST(test_group_bounds),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "usage_agg", NULL, NULL, agg_tests })
