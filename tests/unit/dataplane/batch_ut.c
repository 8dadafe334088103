/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/batch.c (flush policy) and dataplane/route.c. */
#include "dataplane/batch.h"
#include "dataplane/route.h"
#include "tf_cunit.h"

#include <string.h>

static struct tf_batch_item items[16];

static void
fill(unsigned int i, uint64_t t, uint32_t bytes, uint8_t prio)
{
	memset(&items[i], 0, sizeof(items[i]));
	items[i].enq_us = t;
	items[i].bytes = bytes;
	items[i].prio = prio;
}

static void
test_flush_at_max_batch(void)
{
	struct tf_batch_policy p = { .max_batch = 3,
				     .max_batch_bytes = 0,
				     .max_queue_delay_us = 100 };
	struct tf_batch_q q;
	struct tf_batch_item *out[8];

	tf_batch_q_init(&q);
	for (unsigned int i = 0; i < 4; i++) {
		fill(i, 10, 10, 0);
		tf_batch_q_push(&q, &items[i]);
		CU_ASSERT_EQUAL(tf_batch_q_due(&q, &p, 10),
				i >= 2 ? TF_BATCH_DUE_FULL : TF_BATCH_NOT_DUE);
	}
	CU_ASSERT_EQUAL(tf_batch_q_take(&q, &p, out, 8), 3);
	CU_ASSERT_PTR_EQUAL(out[0], &items[0]); /* FIFO */
	CU_ASSERT_PTR_EQUAL(out[2], &items[2]);
	CU_ASSERT_EQUAL(q.count, 1);
	CU_ASSERT_EQUAL(tf_batch_q_due(&q, &p, 10), TF_BATCH_NOT_DUE);
}

static void
test_flush_at_delay_and_bytes(void)
{
	struct tf_batch_policy p = { .max_batch = 8,
				     .max_batch_bytes = 100,
				     .max_queue_delay_us = 50 };
	struct tf_batch_q q;
	struct tf_batch_item *out[8];

	tf_batch_q_init(&q);
	CU_ASSERT_EQUAL(tf_batch_q_due(&q, &p, 1000), TF_BATCH_NOT_DUE);
	fill(0, 100, 30, 1);
	tf_batch_q_push(&q, &items[0]);
	CU_ASSERT_EQUAL(tf_batch_q_due(&q, &p, 149), TF_BATCH_NOT_DUE);
	CU_ASSERT_EQUAL(tf_batch_q_due(&q, &p, 150), TF_BATCH_DUE_DELAY);
	fill(1, 120, 40, 1);
	fill(2, 130, 40, 2);
	tf_batch_q_push(&q, &items[1]);
	tf_batch_q_push(&q, &items[2]);
	CU_ASSERT_EQUAL(tf_batch_q_due(&q, &p, 121), TF_BATCH_DUE_BYTES);
	/* Highest priority first, then FIFO; 40+30 fit, the next 40 does not. */
	CU_ASSERT_EQUAL(tf_batch_q_take(&q, &p, out, 8), 2);
	CU_ASSERT_PTR_EQUAL(out[0], &items[2]);
	CU_ASSERT_PTR_EQUAL(out[1], &items[0]);
	CU_ASSERT_EQUAL(q.bytes, 40);
	CU_ASSERT_EQUAL(tf_batch_q_oldest_us(&q), 120);
	/* An item larger than max_batch_bytes still leaves, alone. */
	fill(3, 140, 500, 0);
	tf_batch_q_push(&q, &items[3]);
	CU_ASSERT_EQUAL(tf_batch_q_take(&q, &p, out, 8), 1);
	CU_ASSERT_EQUAL(tf_batch_q_take(&q, &p, out, 8), 1);
	CU_ASSERT_PTR_EQUAL(out[0], &items[3]);
	CU_ASSERT_EQUAL(q.count, 0);
	CU_ASSERT_EQUAL(tf_batch_q_oldest_us(&q), UINT64_MAX);
}

static void
test_remove_and_push_front(void)
{
	struct tf_batch_policy p = { .max_batch = 8, .max_queue_delay_us = 0 };
	struct tf_batch_q q;
	struct tf_batch_item *out[8];

	tf_batch_q_init(&q);
	for (unsigned int i = 0; i < 3; i++) {
		fill(i, i, 1, 0);
		tf_batch_q_push(&q, &items[i]);
	}
	CU_ASSERT_EQUAL(tf_batch_q_remove(&q, &items[1]), 0);
	CU_ASSERT_EQUAL(tf_batch_q_remove(&q, &items[1]), -ENOENT);
	CU_ASSERT_EQUAL(tf_batch_q_remove(&q, &items[2]), 0); /* tail */
	fill(4, 9, 1, 0);
	tf_batch_q_push(&q, &items[4]);
	tf_batch_q_push_front(&q, &items[2]);
	CU_ASSERT_EQUAL(tf_batch_q_due(&q, &p, 9), TF_BATCH_DUE_DELAY); /* delay 0: at once */
	CU_ASSERT_EQUAL(tf_batch_q_take(&q, &p, out, 8), 3);
	CU_ASSERT_PTR_EQUAL(out[0], &items[2]);
	CU_ASSERT_PTR_EQUAL(out[1], &items[0]);
	CU_ASSERT_PTR_EQUAL(out[2], &items[4]);
}

static void
test_route_by_load_cost_health(void)
{
	/* score = (outstanding + work + 1) * cost_weight, x4 when degraded */
	struct tf_route_cand c[3] = {
		{ .outstanding = 100, .cost_weight = 1 }, /* 111 */
		{ .outstanding = 0, .cost_weight = 1 }, /* 11 */
		{ .outstanding = 0, .cost_weight = 20 }, /* 220 */
	};

	CU_ASSERT_EQUAL(tf_route_pick(c, 3, 10), 1);
	c[1].outstanding = 500; /* 511 */
	CU_ASSERT_EQUAL(tf_route_pick(c, 3, 10), 0);
	c[1].outstanding = 0;
	c[1].health = TF_ROUTE_DEGRADED; /* 44 */
	CU_ASSERT_EQUAL(tf_route_pick(c, 3, 10), 1);
	c[1].health = TF_ROUTE_DOWN;
	c[0].outstanding = 300; /* 311 > 220 */
	CU_ASSERT_EQUAL(tf_route_pick(c, 3, 10), 2);
	c[2].excluded = 1;
	CU_ASSERT_EQUAL(tf_route_pick(c, 3, 10), 0);
	c[0].no_credit = 1; /* still the only one left */
	CU_ASSERT_EQUAL(tf_route_pick(c, 3, 10), 0);
	c[2].excluded = 0;
	c[2].outstanding = 1000; /* worse score, but it has room */
	CU_ASSERT_EQUAL(tf_route_pick(c, 3, 10), 2);
	c[0].health = TF_ROUTE_DOWN;
	c[2].health = TF_ROUTE_DOWN;
	CU_ASSERT_EQUAL(tf_route_pick(c, 3, 10), -1);
	CU_ASSERT_EQUAL(tf_route_pick(c, 0, 10), -1);
}

static const struct tf_cunit_test batch_tests[] = {
	TF_TEST(test_flush_at_max_batch),
	TF_TEST(test_flush_at_delay_and_bytes),
	TF_TEST(test_remove_and_push_front),
	TF_TESTS_END,
};

static const struct tf_cunit_test route_tests[] = {
	TF_TEST(test_route_by_load_cost_health),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "batch", NULL, NULL, batch_tests }, { "route", NULL, NULL, route_tests })
