/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/bucket.c and dataplane/admit.c. */
#include "dataplane/admit.h"
#include "dataplane/bucket.h"
#include "tf_cunit.h"

#include <string.h>

static void
test_bucket_refill_and_wait(void)
{
	struct tf_bucket b;

	tf_bucket_init(&b, 10, 5, 0); /* 10/s, burst 5, starts full */
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 5, 0), 0);
	tf_bucket_take(&b, 5);
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 1, 0), 100000); /* one unit per 100 ms */
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 1, 50000), 50000);
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 1, 100000), 0);
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 6, 100000), UINT64_MAX); /* beyond the burst */
	/* A long idle period refills to the burst, not beyond, and never overflows. */
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 5, UINT64_MAX / 2), 0);
	tf_bucket_take(&b, 5);
	CU_ASSERT_NOT_EQUAL(tf_bucket_wait_us(&b, 1, UINT64_MAX / 2), 0);
	/* rate 0 = unlimited */
	tf_bucket_init(&b, 0, 0, 0);
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 1000000, 0), 0);
}

static void
test_bucket_set_keeps_level(void)
{
	struct tf_bucket b;

	tf_bucket_init(&b, 100, 100, 0);
	tf_bucket_take(&b, 90);
	tf_bucket_set(&b, 1000, 1000, 0);
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 10, 0), 0);
	CU_ASSERT_NOT_EQUAL(tf_bucket_wait_us(&b, 11, 0), 0);
	tf_bucket_set(&b, 1, 2, 0); /* clamp */
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 2, 0), 0);
	CU_ASSERT_EQUAL(tf_bucket_wait_us(&b, 3, 0), UINT64_MAX);
}

static struct tf_admit_limits nolim;

static void
test_budget_reserved_and_refunded_exactly(void)
{
	struct tf_admit_tenant t;
	struct tf_admit_queue q;
	uint64_t ra;
	uint64_t price = 2000; /* 2 micro-units per token */
	uint64_t r50 = tf_admit_cost(50, price);

	CU_ASSERT_EQUAL(r50, 100);
	tf_admit_tenant_init(&t, &nolim, 0);
	tf_admit_queue_init(&q, 100, 1000, 1000);
	tf_admit_tenant_set_balance(&t, 250, 0);
	/* Two reservations of 100 fit in 250, the third does not. */
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 50, r50, 0, 0, &ra), TF_ADMIT_OK);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 50, r50, 0, 0, &ra), TF_ADMIT_OK);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 50, r50, 3, 0, &ra), TF_ADMIT_QUOTA);
	CU_ASSERT_EQUAL(ra, 0);
	CU_ASSERT_EQUAL(t.reserved_micro, 200);
	/* First ends after 20 tokens: charged 40, 60 refunded -> 210 left, 100 reserved. */
	CU_ASSERT_EQUAL(tf_admit_end(&t, &q, r50, tf_admit_cost(20, price)), 40);
	CU_ASSERT_EQUAL(t.balance_micro, 210);
	CU_ASSERT_EQUAL(t.reserved_micro, 100);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 50, r50, 0, 0, &ra), TF_ADMIT_OK);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 5, 10, 0, 0, &ra), TF_ADMIT_OK); /* 210-200 = 10 */
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 1, 0, 0, &ra), TF_ADMIT_QUOTA);
	/* A request can never be charged more than it reserved. */
	CU_ASSERT_EQUAL(tf_admit_end(&t, &q, r50, 1000), 100);
	CU_ASSERT_EQUAL(q.depth, 2);
	CU_ASSERT_EQUAL(t.inflight, 2);
	CU_ASSERT_EQUAL(t.refused[TF_ADMIT_QUOTA], 2);
}

static void
test_dry_when_host_lowers_balance(void)
{
	struct tf_admit_tenant t;
	struct tf_admit_queue q;
	uint64_t ra;

	tf_admit_tenant_init(&t, &nolim, 0);
	tf_admit_queue_init(&q, 10, 0, 0);
	CU_ASSERT(!tf_admit_dry(&t)); /* unlimited */
	tf_admit_tenant_set_balance(&t, 1000, 0);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 10, 600, 1, 0, &ra), TF_ADMIT_OK);
	CU_ASSERT(!tf_admit_dry(&t));
	tf_admit_tenant_set_balance(&t, 100, 0);
	CU_ASSERT(tf_admit_dry(&t));
	tf_admit_end(&t, &q, 600, 50); /* cut off after 50 worth */
	CU_ASSERT(!tf_admit_dry(&t));
	CU_ASSERT_EQUAL(t.balance_micro, 50);
	tf_admit_tenant_add_balance(&t, 25);
	CU_ASSERT_EQUAL(t.balance_micro, 75);
	CU_ASSERT_EQUAL(t.used_micro, 50);
	tf_admit_tenant_reset_period(&t, 1000);
	CU_ASSERT_EQUAL(t.balance_micro, 1000);
	CU_ASSERT_EQUAL(t.used_micro, 0);
	CU_ASSERT_EQUAL(t.charged_micro, 50);
}

static void
test_rate_limits_give_retry_after(void)
{
	struct tf_admit_limits lim = {
		.req_per_s = 2, .req_burst = 2, .tok_per_s = 100, .tok_burst = 100
	};
	struct tf_admit_tenant t;
	struct tf_admit_queue q;
	uint64_t ra;

	tf_admit_tenant_init(&t, &lim, 0);
	tf_admit_queue_init(&q, 10, 0, 0);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 10, 0, 0, 0, &ra), TF_ADMIT_OK);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 10, 0, 0, 0, &ra), TF_ADMIT_OK);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 10, 0, 0, 0, &ra), TF_ADMIT_RATE);
	CU_ASSERT_EQUAL(ra, 500000); /* 2 requests/s: next one in 0.5 s */
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 10, 0, 0, 500000, &ra), TF_ADMIT_OK);
	/* Token rate: 100 tokens burst, 30 used + 10 refilled (0.5 s x ... capped) */
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 101, 0, 0, 10000000, &ra), TF_ADMIT_TOO_LARGE);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 100, 0, 0, 10000000, &ra), TF_ADMIT_OK);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 50, 0, 0, 20000000, &ra), TF_ADMIT_OK);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 60, 0, 0, 20000000, &ra), TF_ADMIT_RATE);
	CU_ASSERT_EQUAL(ra, 100000); /* 10 tokens missing at 100/s */
	/* A refused request took nothing. */
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 50, 0, 0, 20000000 + 1000000, &ra), TF_ADMIT_OK);
}

static void
test_queue_bounds_by_priority(void)
{
	struct tf_admit_tenant t;
	struct tf_admit_queue q;
	uint64_t ra;
	unsigned int n = 0;

	tf_admit_tenant_init(&t, &nolim, 0);
	tf_admit_queue_init(&q, 16, 250, 250);
	CU_ASSERT_EQUAL(q.limit[7], 16);
	CU_ASSERT_EQUAL(q.limit[0], 9);
	while (tf_admit_try(&t, &q, 1, 0, 0, 0, &ra) == TF_ADMIT_OK)
		n++;
	CU_ASSERT_EQUAL(n, 9);
	CU_ASSERT_EQUAL(ra, 250);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 0, 6, 0, &ra), TF_ADMIT_OK); /* 10 < 15 */
	/* Highest priority still gets in until the queue is full. */
	for (n = 0; tf_admit_try(&t, &q, 1, 0, 7, 0, &ra) == TF_ADMIT_OK; n++)
		;
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT_EQUAL(q.depth, 16);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 0, 7, 0, &ra), TF_ADMIT_BUSY);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 0, 200, 0, &ra), TF_ADMIT_BUSY); /* clamped */
	/* Per-tenant in-flight bound. */
	tf_admit_tenant_init(&t, &(struct tf_admit_limits){ .max_inflight = 1 }, 0);
	tf_admit_queue_init(&q, 8, 0, 0);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 0, 3, 0, &ra), TF_ADMIT_OK);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 0, 3, 0, &ra), TF_ADMIT_BUSY);
	tf_admit_end(&t, &q, 0, 0);
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 0, 3, 0, &ra), TF_ADMIT_OK);
}

/*
 * A full queue's BUSY says how long the queued requests take to end at the
 * recent rate (bounded), not a fixed short time: under sustained overload every
 * refused client came back after 20 ms, a multiple of the card's load.
 */
static void
test_busy_retry_after_tracks_drain_time(void)
{
	struct tf_admit_tenant t;
	struct tf_admit_queue q;
	uint64_t ra, now = 1000000;

	tf_admit_tenant_init(&t, &nolim, 0);
	tf_admit_queue_init(&q, 100, 20000, 5000000);
	while (tf_admit_try(&t, &q, 1, 0, 7, now, &ra) == TF_ADMIT_OK)
		;
	CU_ASSERT_EQUAL(q.depth, 100);
	/* Rate not known yet: the configured least. */
	CU_ASSERT_EQUAL(ra, 20000);
	tf_admit_queue_tick(&q, now);
	/* 50 requests end per 100 ms (500/s), each replaced at once: the queue stays full. */
	for (int s = 0; s < 8; s++) {
		for (int i = 0; i < 50; i++) {
			tf_admit_end(&t, &q, 0, 0);
			CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 0, 7, now, &ra), TF_ADMIT_OK);
		}
		now += 100000;
		tf_admit_queue_tick(&q, now);
	}
	CU_ASSERT_EQUAL(tf_admit_try(&t, &q, 1, 0, 7, now, &ra), TF_ADMIT_BUSY);
	/* 100 queued at 500/s: 200 ms. */
	CU_ASSERT(ra >= 190000 && ra <= 210000);
	/* Slower (the accelerator stalls): the advice grows, up to the most. */
	for (int s = 0; s < 100; s++) {
		now += 100000;
		tf_admit_queue_tick(&q, now);
	}
	CU_ASSERT_EQUAL(tf_admit_busy_wait_us(&q), 5000000);
	/* Faster than the least: the least. */
	tf_admit_queue_init(&q, 4, 20000, 5000000);
	q.rate_milli = 1000000000; /* 10^6/s */
	q.rate_known = 1;
	q.depth = 4;
	CU_ASSERT_EQUAL(tf_admit_busy_wait_us(&q), 20000);
}

static const struct tf_cunit_test bucket_tests[] = {
	TF_TEST(test_bucket_refill_and_wait),
	TF_TEST(test_bucket_set_keeps_level),
	TF_TESTS_END,
};

static const struct tf_cunit_test admit_tests[] = {
	TF_TEST(test_budget_reserved_and_refunded_exactly),
	TF_TEST(test_dry_when_host_lowers_balance),
	TF_TEST(test_rate_limits_give_retry_after),
	TF_TEST(test_queue_bounds_by_priority),
	TF_TEST(test_busy_retry_after_tracks_drain_time),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "bucket", NULL, NULL, bucket_tests }, { "admit", NULL, NULL, admit_tests })
