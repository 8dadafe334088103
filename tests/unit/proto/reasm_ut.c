/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/proto/reasm.c: overlaps, gaps, lying totals, oversize, duplicates. */
#include "tf_cunit.h"
#include "ut_proto.h"

#include <stdlib.h>

static uint8_t g_src[TF_PROTO_MAX_PROMPT];
static uint8_t g_dst[TF_PROTO_MAX_PROMPT];

static int
suite_init(void)
{
	for (size_t i = 0; i < sizeof(g_src); i++)
		g_src[i] = (uint8_t)(i * 31 + (i >> 8));
	return 0;
}

static int
add(struct tf_proto_reasm *r, uint32_t total, uint32_t off, uint32_t len)
{
	return tf_proto_reasm_add(r, total, off, g_src + off, len);
}

static void
test_in_order_and_reverse(void)
{
	struct tf_proto_reasm r;
	const uint32_t total = 10000, piece = 1344;

	tf_proto_reasm_init(&r, g_dst, sizeof(g_dst));
	for (uint32_t off = 0; off < total; off += piece) {
		CU_ASSERT_FALSE(tf_proto_reasm_done(&r));
		CU_ASSERT_EQUAL(add(&r, total, off, off + piece > total ? total - off : piece), 0);
	}
	CU_ASSERT_TRUE(tf_proto_reasm_done(&r));
	CU_ASSERT_EQUAL(memcmp(g_dst, g_src, total), 0);

	memset(g_dst, 0, total);
	tf_proto_reasm_init(&r, g_dst, sizeof(g_dst));
	for (int64_t off = (total - 1) / piece * piece; off >= 0; off -= piece)
		CU_ASSERT_EQUAL(add(&r, total, (uint32_t)off,
				    (uint32_t)off + piece > total ? total - (uint32_t)off : piece),
				0);
	CU_ASSERT_TRUE(tf_proto_reasm_done(&r));
	CU_ASSERT_EQUAL(memcmp(g_dst, g_src, total), 0);
}

static void
test_maximum_prompt_random_order(void)
{
	struct tf_proto_reasm r;
	enum { N = TF_PROTO_MAX_PROMPT / 1344 + 1 };
	uint32_t order[N];

	for (uint32_t i = 0; i < N; i++)
		order[i] = i;
	srand(7);
	for (uint32_t i = N - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	memset(g_dst, 0, sizeof(g_dst));
	tf_proto_reasm_init(&r, g_dst, sizeof(g_dst));
	for (uint32_t i = 0; i < N; i++) {
		uint32_t off = order[i] * 1344;
		uint32_t len = off + 1344 > TF_PROTO_MAX_PROMPT ? TF_PROTO_MAX_PROMPT - off : 1344;

		CU_ASSERT_EQUAL(add(&r, TF_PROTO_MAX_PROMPT, off, len), 0);
	}
	CU_ASSERT_TRUE(tf_proto_reasm_done(&r));
	CU_ASSERT_EQUAL(memcmp(g_dst, g_src, sizeof(g_src)), 0);
}

static void
test_duplicates_and_conflicts(void)
{
	struct tf_proto_reasm r;
	uint8_t other[128];

	tf_proto_reasm_init(&r, g_dst, sizeof(g_dst));
	CU_ASSERT_EQUAL(add(&r, 300, 64, 128), 0);
	/* A retransmission of the same piece: duplicate, ignored. */
	CU_ASSERT_EQUAL(add(&r, 300, 64, 128), 1);
	CU_ASSERT_EQUAL(r.received, 128);
	/* Covered entirely by earlier pieces: also a duplicate. */
	CU_ASSERT_EQUAL(add(&r, 300, 64, 64), 1);
	/* Same range, different bytes: conflict. */
	memcpy(other, g_src + 64, sizeof(other));
	other[5] ^= 1;
	CU_ASSERT_EQUAL(tf_proto_reasm_add(&r, 300, 64, other, 128), -TF_PROTO_R_FRAG_CONFLICT);
	CU_ASSERT_EQUAL(r.received, 128);
	/* Without a buffer, duplicates cannot be compared and are just ignored. */
	tf_proto_reasm_init(&r, NULL, 0);
	CU_ASSERT_EQUAL(add(&r, 300, 64, 128), 0);
	CU_ASSERT_EQUAL(tf_proto_reasm_add(&r, 300, 64, other, 128), 1);
}

static void
test_overlaps(void)
{
	struct tf_proto_reasm r;

	tf_proto_reasm_init(&r, g_dst, sizeof(g_dst));
	CU_ASSERT_EQUAL(add(&r, 1000, 128, 128), 0);
	/* Starts before, ends inside. */
	CU_ASSERT_EQUAL(add(&r, 1000, 64, 128), -TF_PROTO_R_FRAG_OVERLAP);
	/* Starts inside, ends after. */
	CU_ASSERT_EQUAL(add(&r, 1000, 192, 128), -TF_PROTO_R_FRAG_OVERLAP);
	/* Covers it entirely and more. */
	CU_ASSERT_EQUAL(add(&r, 1000, 0, 512), -TF_PROTO_R_FRAG_OVERLAP);
	/* The final, short piece overlapping the previous unit. */
	CU_ASSERT_EQUAL(add(&r, 1000, 960, 40), 0);
	CU_ASSERT_EQUAL(add(&r, 1000, 896, 104), -TF_PROTO_R_FRAG_OVERLAP);
	CU_ASSERT_EQUAL(r.received, 168);
}

static void
test_lying_totals_range_align_size(void)
{
	struct tf_proto_reasm r;
	uint8_t small[256];

	tf_proto_reasm_init(&r, g_dst, sizeof(g_dst));
	CU_ASSERT_EQUAL(add(&r, 1000, 0, 64), 0);
	CU_ASSERT_EQUAL(add(&r, 999, 64, 64), -TF_PROTO_R_FRAG_TOTAL);
	CU_ASSERT_EQUAL(add(&r, 2000, 64, 64), -TF_PROTO_R_FRAG_TOTAL);
	CU_ASSERT_EQUAL(add(&r, 1000, 960, 64), -TF_PROTO_R_FRAG_RANGE);
	CU_ASSERT_EQUAL(tf_proto_reasm_add(&r, 1000, 0xffffffc0u, g_src, 64),
			-TF_PROTO_R_FRAG_RANGE);
	CU_ASSERT_EQUAL(add(&r, 1000, 65, 64), -TF_PROTO_R_FRAG_ALIGN);
	CU_ASSERT_EQUAL(add(&r, 1000, 128, 63), -TF_PROTO_R_FRAG_ALIGN);
	CU_ASSERT_EQUAL(add(&r, 0, 0, 0), -TF_PROTO_R_TOO_LARGE);
	CU_ASSERT_EQUAL(add(&r, TF_PROTO_MAX_PROMPT + 1, 0, 64), -TF_PROTO_R_TOO_LARGE);
	/* The caller's buffer bounds the total too. */
	tf_proto_reasm_init(&r, small, sizeof(small));
	CU_ASSERT_EQUAL(add(&r, 257, 0, 64), -TF_PROTO_R_TOO_LARGE);
	CU_ASSERT_EQUAL(add(&r, 256, 0, 64), 0);
}

static void
test_gap_is_not_done(void)
{
	struct tf_proto_reasm r;

	tf_proto_reasm_init(&r, NULL, 0);
	CU_ASSERT_FALSE(tf_proto_reasm_done(&r));
	CU_ASSERT_EQUAL(add(&r, 200, 0, 64), 0);
	CU_ASSERT_EQUAL(add(&r, 200, 128, 72), 0);
	/* [64, 128) never came: not done, however long the caller waits. */
	CU_ASSERT_FALSE(tf_proto_reasm_done(&r));
	CU_ASSERT_EQUAL(r.received, 136);
	CU_ASSERT_EQUAL(add(&r, 200, 64, 64), 0);
	CU_ASSERT_TRUE(tf_proto_reasm_done(&r));
	/* A REQUEST with no prompt bytes only sets the total. */
	tf_proto_reasm_init(&r, NULL, 0);
	CU_ASSERT_EQUAL(add(&r, 64, 0, 0), 1);
	CU_ASSERT_EQUAL(r.total, 64);
	CU_ASSERT_FALSE(tf_proto_reasm_done(&r));
}

static void
test_utf8(void)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "plain ascii", true },
		{ "caf\xc3\xa9", true },
		{ "\xe2\x82\xac", true }, /* euro sign */
		{ "\xf0\x9f\x98\x80", true }, /* emoji */
		{ "\xc3", false }, /* truncated */
		{ "\xc0\xaf", false }, /* overlong */
		{ "\xe0\x80\xaf", false }, /* overlong */
		{ "\xed\xa0\x80", false }, /* surrogate */
		{ "\xf4\x90\x80\x80", false }, /* > U+10FFFF */
		{ "\xff", false },
		{ "\x80", false },
		{ "a\xe2\x82", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(
			tf_proto_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s)),
			cases[i].ok);
}

static const struct tf_cunit_test reasm_tests[] = {
	TF_TEST(test_in_order_and_reverse),
	TF_TEST(test_maximum_prompt_random_order),
	TF_TEST(test_duplicates_and_conflicts),
	TF_TEST(test_overlaps),
	TF_TEST(test_lying_totals_range_align_size),
	TF_TEST(test_gap_is_not_done),
	TF_TEST(test_utf8),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "reasm", suite_init, NULL, reasm_tests })
