/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for host/tokfabd/quota.c: periods in UTC, re-seeding, costs. */
#include "tf_cunit.h"
#include "tokfabd/quota.h"

#include <time.h>

#define NS 1000000000ull

/* 2024-02-29T13:45:10Z, a Thursday in a leap year. */
static const uint64_t g_now = 1709214310ull * NS;

static uint64_t
utc(int y, int mo, int d, int h)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h };

	return (uint64_t)timegm(&tm) * NS;
}

static void
test_period_starts(void)
{
	CU_ASSERT_EQUAL(tfd_period_start(TFD_PERIOD_HOUR, g_now), utc(2024, 2, 29, 13));
	CU_ASSERT_EQUAL(tfd_period_start(TFD_PERIOD_DAY, g_now), utc(2024, 2, 29, 0));
	CU_ASSERT_EQUAL(tfd_period_start(TFD_PERIOD_WEEK, g_now), utc(2024, 2, 26, 0)); /* Monday */
	CU_ASSERT_EQUAL(tfd_period_start(TFD_PERIOD_MONTH, g_now), utc(2024, 2, 1, 0));
	/* A Sunday belongs to the week that started the Monday before. */
	CU_ASSERT_EQUAL(tfd_period_start(TFD_PERIOD_WEEK, utc(2024, 3, 3, 23)),
			utc(2024, 2, 26, 0));
	/* Exactly on a boundary: that period. */
	CU_ASSERT_EQUAL(tfd_period_start(TFD_PERIOD_MONTH, utc(2024, 3, 1, 0)), utc(2024, 3, 1, 0));
}

static void
test_period_next(void)
{
	CU_ASSERT_EQUAL(tfd_period_next(TFD_PERIOD_MONTH, utc(2024, 2, 1, 0)), utc(2024, 3, 1, 0));
	CU_ASSERT_EQUAL(tfd_period_next(TFD_PERIOD_MONTH, utc(2024, 12, 1, 0)), utc(2025, 1, 1, 0));
	CU_ASSERT_EQUAL(tfd_period_next(TFD_PERIOD_DAY, utc(2024, 2, 28, 0)), utc(2024, 2, 29, 0));
	CU_ASSERT_EQUAL(tfd_period_next(TFD_PERIOD_WEEK, utc(2024, 2, 26, 0)), utc(2024, 3, 4, 0));
	CU_ASSERT_EQUAL(tfd_period_next(TFD_PERIOD_HOUR, utc(2024, 2, 29, 23)), utc(2024, 3, 1, 0));
}

static void
test_reseed(void)
{
	CU_ASSERT_EQUAL(tfd_quota_reseed(1000, 0, 0), 1000);
	CU_ASSERT_EQUAL(tfd_quota_reseed(1000, 500, 300), 1200);
	CU_ASSERT_EQUAL(tfd_quota_reseed(1000, 0, 1500), 0); /* overspent: never negative */
	CU_ASSERT_EQUAL(tfd_quota_reseed(TF_MONEY_MAX, (int64_t)TF_MONEY_MAX, 0), TF_MONEY_MAX);
}

static void
test_costs(void)
{
	/* usage-record.md: round half up per request */
	CU_ASSERT_EQUAL(tfd_cost_micro(1000, 2000), 2000);
	CU_ASSERT_EQUAL(tfd_cost_micro(1, 2000), 2);
	CU_ASSERT_EQUAL(tfd_cost_micro(1, 499), 0);
	CU_ASSERT_EQUAL(tfd_cost_micro(1, 500), 1);
	CU_ASSERT_EQUAL(tfd_cost_micro(0, 500), 0);
	/* 2.50/h, one hour, 50 000 tokens -> 0.05 per 1k tokens = 50 000 micro */
	CU_ASSERT_EQUAL(tfd_accel_cost_per_1k(2500000, 3600, 50000), 50000);
	/* half an hour of a 3.60/h accelerator over 1 800 tokens -> 1.00 per 1k */
	CU_ASSERT_EQUAL(tfd_accel_cost_per_1k(3600000, 1800, 1800), 1000000);
	CU_ASSERT_EQUAL(tfd_accel_cost_per_1k(3600000, 3600, 0), -1);
}

static const struct tf_cunit_test quota_tests[] = {
	TF_TEST(test_period_starts),
	TF_TEST(test_period_next),
	TF_TEST(test_reseed),
	TF_TEST(test_costs),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "host_quota", NULL, NULL, quota_tests })
