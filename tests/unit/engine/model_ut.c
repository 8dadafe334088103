/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checkpoint parsing (kernels/engine/model.c): a generated model loads, and
 * every malformed header or size is refused with -EINVAL / -ENOTSUP and a
 * message, never a crash: truncated files, extra bytes, zero / negative /
 * huge dimensions, inconsistent head counts, lying headers, the newer
 * llama2.c export format.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"
#include "model.h"
#include "testutil.h"
#include "tf_cunit.h"

static struct tmodel g_tm;
static unsigned char *g_img;
static size_t g_len;

static int
suite_init(void)
{
	if (tmodel_make(&g_tm, &TM_GQA))
		return -1;
	g_img = slurp(g_tm.model, &g_len);
	return g_img ? 0 : -1;
}

static int
suite_fini(void)
{
	free(g_img);
	tmodel_remove(&g_tm);
	return 0;
}

static int
parse(const void *buf, size_t len, char *err)
{
	struct tf_model_config c;
	struct tf_model_layout l;

	err[0] = '\0';
	return tf_model_header_parse(buf, len, &c, &l, err, 256);
}

/* A copy of the image with header field i set to v. */
static unsigned char *
with_field(int i, int32_t v)
{
	unsigned char *c = malloc(g_len);

	memcpy(c, g_img, g_len);
	memcpy(c + 4 * i, &v, 4);
	return c;
}

static void
test_valid(void)
{
	struct tf_model_config c;
	struct tf_model_layout l;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(tf_model_header_parse(g_img, g_len, &c, &l, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.dim, TM_GQA.dim);
	CU_ASSERT_EQUAL(c.n_kv_heads, TM_GQA.n_kv_heads);
	CU_ASSERT_EQUAL(c.kv_dim, TM_GQA.dim / TM_GQA.n_heads * TM_GQA.n_kv_heads);
	CU_ASSERT_EQUAL(c.shared, 1);
	CU_ASSERT_EQUAL(l.wcls, l.emb);
	CU_ASSERT_EQUAL(28 + l.n_floats * 4, g_len);
}

static void
test_truncated(void)
{
	static const size_t cuts[] = { 0, 1, 27, 28, 29, 1000 };
	char err[256];

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		CU_ASSERT_EQUAL(parse(g_img, cuts[i], err), -EINVAL);
	CU_ASSERT_EQUAL(parse(g_img, g_len / 2, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "truncated"));
	CU_ASSERT_EQUAL(parse(g_img, g_len - 1, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "truncated"));
}

static void
test_extra_bytes(void)
{
	unsigned char *c = malloc(g_len + 4);
	char err[256];

	memcpy(c, g_img, g_len);
	memset(c + g_len, 0, 4);
	CU_ASSERT_EQUAL(parse(c, g_len + 4, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "disagree"));
	free(c);
}

static void
test_bad_fields(void)
{
	static const struct {
		int field;
		int32_t value;
		const char *why;
	} cases[] = {
		{ 0, 0, "dim" },
		{ 0, -64, "dim" },
		{ 0, 1 << 20, "dim" },
		{ 1, 0, "hidden_dim" },
		{ 1, INT32_MAX, "hidden_dim" },
		{ 2, 0, "n_layers" },
		{ 2, 100000, "n_layers" },
		{ 3, 0, "n_heads" },
		{ 3, 3, "n_heads" },
		{ 3, 64, "even" },
		{ 4, 0, "n_kv_heads" },
		{ 4, 3, "n_kv_heads" },
		{ 4, 8, "n_kv_heads" },
		{ 5, 0, "vocab" },
		{ 5, INT32_MIN, "vocab" },
		{ 5, 1 << 30, "vocab" },
		{ 6, 0, "seq_len" },
		{ 6, -1, "seq_len" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *c = with_field(cases[i].field, cases[i].value);
		char err[256];

		CU_ASSERT_EQUAL(parse(c, g_len, err), -EINVAL);
		if (!strstr(err, cases[i].why))
			printf("\n  field %d = %d: message \"%s\" lacks \"%s\"", cases[i].field,
			       cases[i].value, err, cases[i].why);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].why));
		free(c);
	}
}

/* A header that claims more than the file holds (or less). */
static void
test_lying_header(void)
{
	static const struct {
		int field;
		int32_t value;
	} cases[] = { { 0, 128 },  { 1, 193 }, { 2, 3 },   { 5, 513 },
		      { 5, -512 }, { 6, 65 },  { 1, 191 }, { 2, 1 } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *c = with_field(cases[i].field, cases[i].value);
		char err[256];

		CU_ASSERT_EQUAL(parse(c, g_len, err), -EINVAL);
		CU_ASSERT(strstr(err, "truncated") || strstr(err, "disagree"));
		free(c);
	}
}

static void
test_newer_format(void)
{
	unsigned char *c = with_field(0, 0x616b3432);
	char err[256];

	CU_ASSERT_EQUAL(parse(c, g_len, err), -ENOTSUP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "version"));
	free(c);
}

static void
test_load_errors(void)
{
	struct tf_model m;
	char err[256];

	CU_ASSERT_EQUAL(
		tf_model_load(&m, "/nonexistent/model.bin", TF_ENGINE_FP32, err, sizeof(err)),
		-ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/model.bin"));
	CU_ASSERT_EQUAL(tf_model_load(&m, g_tm.dir, TF_ENGINE_FP32, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(
		tf_model_load(&m, g_tm.model, (enum tf_engine_precision)7, err, sizeof(err)),
		-EINVAL);
}

static void
test_load_and_layout(void)
{
	struct tf_model m;
	char err[256];
	uint64_t d = TM_GQA.dim, kv = d / TM_GQA.n_heads * TM_GQA.n_kv_heads, h = TM_GQA.hidden_dim;
	uint64_t mats =
		TM_GQA.n_layers * (2 * d * d + 2 * kv * d + 3 * h * d) + TM_GQA.vocab_size * d;
	uint64_t small = (2ull * TM_GQA.n_layers + 2) * d * 4;

	CU_ASSERT_EQUAL_FATAL(tf_model_load(&m, g_tm.model, TF_ENGINE_FP32, err, sizeof(err)), 0);
	/* the classifier is the embedding (tied); layer pointers follow the layout */
	CU_ASSERT_PTR_EQUAL(m.wcls.f32, m.emb);
	CU_ASSERT_PTR_EQUAL(m.layers[1].wq.f32, m.layers[0].wq.f32 + d * d);
	CU_ASSERT_EQUAL(m.layers[0].wk.rows, kv);
	CU_ASSERT_EQUAL(m.layers[0].w2.cols, h);
	CU_ASSERT_EQUAL(tf_model_step_bytes(&m), mats * 4 + small);
	tf_model_free(&m);
	CU_ASSERT_EQUAL_FATAL(tf_model_load(&m, g_tm.model, TF_ENGINE_INT8, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(m.layers[0].w1.q8);
	CU_ASSERT_EQUAL(tf_model_step_bytes(&m), mats + mats / 32 * 4 + small);
	tf_model_free(&m);
}

static void
test_int8_needs_groups(void)
{
	struct tmodel odd;
	struct tf_model m;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(tmodel_make(&odd, &TM_ODD), 0);
	CU_ASSERT_EQUAL(tf_model_load(&m, odd.model, TF_ENGINE_INT8, err, sizeof(err)), -ENOTSUP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "fp32"));
	CU_ASSERT_EQUAL(tf_model_load(&m, odd.model, TF_ENGINE_FP32, err, sizeof(err)), 0);
	tf_model_free(&m);
	tmodel_remove(&odd);
}

static const struct tf_cunit_test g_tests[] = {
	TF_TEST(test_valid),
	TF_TEST(test_truncated),
	TF_TEST(test_extra_bytes),
	TF_TEST(test_bad_fields),
	TF_TEST(test_lying_header),
	TF_TEST(test_newer_format),
	TF_TEST(test_load_errors),
	TF_TEST(test_load_and_layout),
	TF_TEST(test_int8_needs_groups),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "model", suite_init, suite_fini, g_tests })
