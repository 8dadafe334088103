/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-bench's histogram and distributions against exact references. */
#include "bench/dist.h"
#include "bench/hist.h"
#include "tf_cunit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct tf_hist g_h;

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Buckets tile the value space: contiguous, no overlap, index(range(i)) == i. */
static void
test_buckets_tile(void)
{
	uint64_t lo, hi, prev_hi = 0;

	for (unsigned int i = 0; i < TF_HIST_BUCKETS; i++) {
		tf_hist_range(i, &lo, &hi);
		CU_ASSERT(lo <= hi);
		if (i)
			CU_ASSERT_EQUAL(lo, prev_hi + 1);
		CU_ASSERT_EQUAL(tf_hist_index(lo), i);
		CU_ASSERT_EQUAL(tf_hist_index(hi), i);
		/* width at most 1/32 of the lower bound above the exact range */
		if (lo >= 2 * TF_HIST_SUB)
			CU_ASSERT(hi - lo + 1 <= lo / TF_HIST_SUB);
		prev_hi = hi;
	}
	CU_ASSERT_EQUAL(tf_hist_index(UINT64_MAX), TF_HIST_BUCKETS - 1);
	CU_ASSERT_EQUAL(tf_hist_index(0), 0);
	CU_ASSERT_EQUAL(tf_hist_index(63), 63);
	CU_ASSERT_EQUAL(tf_hist_index(64), 64);
}

/* Quantiles of random data within 1.6 % of the exact order statistic. */
static void
test_quantiles_vs_sorted(void)
{
	enum { N = 20000 };
	static uint64_t v[N];
	static const double qs[] = { 0.01, 0.5, 0.9, 0.99, 0.999 };
	struct tf_rng rng;

	tf_rng_seed(&rng, 42);
	for (int trial = 0; trial < 3; trial++) {
		tf_hist_reset(&g_h);
		for (int i = 0; i < N; i++) {
			/* log-uniform over 1 us .. 10 s: what latencies look like */
			v[i] = (uint64_t)exp(tf_rng_unit(&rng) * log(1e7)) + (uint64_t)trial;
			tf_hist_add(&g_h, v[i]);
		}
		qsort(v, N, sizeof(v[0]), cmp_u64);
		CU_ASSERT_EQUAL(g_h.count, N);
		CU_ASSERT_EQUAL(g_h.min, v[0]);
		CU_ASSERT_EQUAL(g_h.max, v[N - 1]);
		for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
			uint64_t exact = v[(size_t)ceil(qs[k] * N) - 1],
				 got = tf_hist_quantile(&g_h, qs[k]);
			double rel = fabs((double)got - (double)exact) / (double)exact;

			CU_ASSERT(rel <= 1.0 / 32 + 1e-9);
		}
	}
}

static void
test_small_exact_and_merge(void)
{
	struct tf_hist b;

	tf_hist_reset(&g_h);
	tf_hist_reset(&b);
	CU_ASSERT_EQUAL(tf_hist_quantile(&g_h, 0.5), 0);
	for (uint64_t i = 1; i <= 10; i++)
		tf_hist_add(&g_h, i);
	CU_ASSERT_EQUAL(tf_hist_quantile(&g_h, 0.5), 5);
	CU_ASSERT_EQUAL(tf_hist_quantile(&g_h, 0.9), 9);
	CU_ASSERT_EQUAL(tf_hist_quantile(&g_h, 0.99), 10);
	CU_ASSERT_EQUAL(tf_hist_quantile(&g_h, 0), 1);
	CU_ASSERT_EQUAL(tf_hist_quantile(&g_h, 1), 10);
	CU_ASSERT_DOUBLE_EQUAL(tf_hist_mean(&g_h), 5.5, 1e-12);
	tf_hist_add_n(&b, 1000, 10);
	tf_hist_merge(&g_h, &b);
	CU_ASSERT_EQUAL(g_h.count, 20);
	CU_ASSERT_EQUAL(g_h.max, 1000);
	CU_ASSERT_EQUAL(tf_hist_quantile(&g_h, 0.5), 10);
	CU_ASSERT(labs((long)tf_hist_quantile(&g_h, 0.75) - 1000) <= 16);
}

static void
test_dist_parse(void)
{
	struct tf_dist d;
	char err[256], buf[64];

	CU_ASSERT_EQUAL(tf_dist_parse("32", 1000, &d, err, sizeof(err)), 0);
	CU_ASSERT(d.kind == TF_DIST_FIXED && d.a == 32);
	CU_ASSERT_EQUAL(tf_dist_parse("16-64", 1000, &d, err, sizeof(err)), 0);
	CU_ASSERT(d.kind == TF_DIST_UNIFORM && d.a == 16 && d.b == 64);
	CU_ASSERT_EQUAL(tf_dist_parse("uniform:1-2", 1000, &d, err, sizeof(err)), 0);
	CU_ASSERT(d.kind == TF_DIST_UNIFORM && d.a == 1 && d.b == 2);
	CU_ASSERT_EQUAL(tf_dist_parse("exp:40", 1000, &d, err, sizeof(err)), 0);
	CU_ASSERT(d.kind == TF_DIST_EXP && d.a == 40 && d.b == 0);
	CU_ASSERT_EQUAL(tf_dist_parse("exp:40,200", 1000, &d, err, sizeof(err)), 0);
	tf_dist_format(&d, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "exp:40,200");
	static const char *const bad[] = { "",		"0",	   "-3",	"abc",	"16-",
					   "-16",	"64-16",   "5x",	"exp:", "exp:0",
					   "exp:40,10", "exp:40,", "uniform:5", "1001", "16-2000",
					   "1.5",	" 3",	   "exp:4,5,6" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(tf_dist_parse(bad[i], 1000, &d, err, sizeof(err)), -22);
		CU_ASSERT(strstr(err, "exp:MEAN") != NULL);
	}
}

static void
test_dist_sample(void)
{
	struct tf_dist d;
	struct tf_rng rng;
	char err[128];
	double sum = 0;
	uint32_t lo = UINT32_MAX, hi = 0;

	tf_rng_seed(&rng, 7);
	tf_dist_parse("10-20", 100, &d, err, sizeof(err));
	for (int i = 0; i < 10000; i++) {
		uint32_t v = tf_dist_sample(&d, &rng);

		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	CU_ASSERT(lo == 10 && hi == 20);
	tf_dist_parse("exp:40,100", 1000, &d, err, sizeof(err));
	for (int i = 0; i < 100000; i++) {
		uint32_t v = tf_dist_sample(&d, &rng);

		CU_ASSERT_FATAL(v >= 1 && v <= 100);
		sum += v;
	}
	/* exponential mean 40 capped at 100: 40 * (1 - e^-2.5) = 36.7 (rounding ~ +0) */
	CU_ASSERT(fabs(sum / 100000 - 36.7) < 0.6);
	/* Poisson gaps: mean and the fraction below the mean (1 - 1/e) */
	sum = 0;
	int below = 0;
	for (int i = 0; i < 100000; i++) {
		double g = tf_rng_exp(&rng, 2.0);

		sum += g;
		below += g < 2.0;
	}
	CU_ASSERT(fabs(sum / 100000 - 2.0) < 0.03);
	CU_ASSERT(fabs(below / 100000.0 - (1 - exp(-1))) < 0.01);
}

static const struct tf_cunit_test g_tests[] = {
	TF_TEST(test_buckets_tile),	     TF_TEST(test_quantiles_vs_sorted),
	TF_TEST(test_small_exact_and_merge), TF_TEST(test_dist_parse),
	TF_TEST(test_dist_sample),	     TF_TESTS_END,
};

TF_CUNIT_MAIN({ "bench_hist", NULL, NULL, g_tests })
