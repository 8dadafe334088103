/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CUDA kernels (kernels/cuda) against the CPU reference kernels (the
 * generic variant) on random inputs, with the same stated bound as the CPU
 * variants: |gpu - exact| <= 2 * n * FLT_EPSILON * sum |a_k b_k| for sums of
 * n products; rmsnorm / softmax / swiglu within 1e-5 relative of the CPU.
 * Without a usable GPU (or when built without nvcc) it prints
 * "SKIPPED: <why>" and exits 77: never a pass.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_kern.h"
#include "kern.h"
#include "model.h"
#include "testutil.h"
#include "tf_cunit.h"

static int
close_rel(float a, float b, float rel, float abs_floor)
{
	return fabsf(a - b) <= rel * fabsf(b) + abs_floor;
}

static void
test_matmul(void)
{
	static const uint32_t shapes[][3] = {
		{ 1, 32, 1 }, { 17, 64, 5 }, { 288, 288, 8 }, { 100, 768, 3 }
	};
	uint64_t rng = 31;

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t R = shapes[s][0], C = shapes[s][1], B = shapes[s][2];
		float *w = malloc(sizeof(float) * R * C), *x = malloc(sizeof(float) * B * C);
		float *g = malloc(sizeof(float) * B * R), *sc = malloc(sizeof(float) * R * C / 32);
		int8_t *q = malloc((size_t)R * C);
		int bad = 0;

		for (size_t i = 0; i < (size_t)R * C; i++)
			w[i] = trng_f(&rng);
		for (size_t i = 0; i < (size_t)B * C; i++)
			x[i] = trng_f(&rng);
		tf_q8_quantize(w, R, C, q, sc);
		for (int q8 = 0; q8 < 2; q8++) {
			int rc = q8 ? tf_cuda_matmul_q8(g, x, q, sc, B, R, C)
				    : tf_cuda_matmul_f32(g, x, w, B, R, C);

			CU_ASSERT_EQUAL_FATAL(rc, 0);
			for (uint32_t b = 0; b < B; b++)
				for (uint32_t r = 0; r < R; r++) {
					double e = 0, ad = 0;

					for (uint32_t k = 0; k < C; k++) {
						double wk =
							q8 ? (double)((float)q[(size_t)r * C + k] *
								      sc[(size_t)r * (C / 32) +
									 k / 32])
							   : w[(size_t)r * C + k];

						e += wk * x[(size_t)b * C + k];
						ad += fabs(wk * x[(size_t)b * C + k]);
					}
					bad += fabs(g[(size_t)b * R + r] - e) >
					       2.0 * C * FLT_EPSILON * ad + 1e-30;
				}
		}
		CU_ASSERT_EQUAL(bad, 0);
		free(w), free(x), free(g), free(sc), free(q);
	}
}

static void
test_pointwise(void)
{
	uint64_t rng = 8;
	float x[4 * 300], w[300], cpu[4 * 300], gpu[4 * 300], h3[300];
	int bad = 0;

	for (int i = 0; i < 4 * 300; i++)
		x[i] = trng_f(&rng) * 3;
	for (int i = 0; i < 300; i++)
		w[i] = trng_f(&rng), h3[i] = trng_f(&rng);
	CU_ASSERT_EQUAL_FATAL(tf_cuda_rmsnorm(gpu, x, w, 4, 300, 1e-5f), 0);
	for (int r = 0; r < 4; r++)
		tf_kern_rmsnorm_generic(cpu + r * 300, x + r * 300, w, 300, 1e-5f);
	for (int i = 0; i < 4 * 300; i++)
		bad += !close_rel(gpu[i], cpu[i], 1e-5f, 1e-6f);
	for (int i = 0; i < 4 * 300; i++)
		gpu[i] = cpu[i] = x[i];
	CU_ASSERT_EQUAL_FATAL(tf_cuda_softmax(gpu, 4, 300), 0);
	for (int r = 0; r < 4; r++)
		tf_kern_softmax_generic(cpu + r * 300, 300);
	for (int i = 0; i < 4 * 300; i++)
		bad += !close_rel(gpu[i], cpu[i], 1e-5f, 1e-9f);
	for (int i = 0; i < 300; i++)
		gpu[i] = cpu[i] = x[i];
	CU_ASSERT_EQUAL_FATAL(tf_cuda_swiglu(gpu, h3, 300), 0);
	tf_kern_swiglu_generic(cpu, h3, 300);
	for (int i = 0; i < 300; i++)
		bad += !close_rel(gpu[i], cpu[i], 1e-5f, 1e-7f);
	CU_ASSERT_EQUAL(bad, 0);
}

static void
test_attention(void)
{
	uint64_t rng = 9;
	uint32_t hs = 48, n = 37, stride = 3 * 48;
	float q[48], k[37 * 144], v[37 * 144], att[37], out[48], out0[48];
	int bad = 0;

	for (uint32_t i = 0; i < hs; i++)
		q[i] = trng_f(&rng), out[i] = out0[i] = trng_f(&rng);
	for (uint32_t i = 0; i < n * stride; i++)
		k[i] = trng_f(&rng), v[i] = trng_f(&rng);
	CU_ASSERT_EQUAL_FATAL(tf_cuda_attn_scores(att, q, k, stride, n, hs, sqrtf(48.0f)), 0);
	for (uint32_t t = 0; t < n; t++) {
		double e = 0, ad = 0;

		for (uint32_t i = 0; i < hs; i++)
			e += (double)q[i] * k[t * stride + i],
				ad += fabs((double)q[i] * k[t * stride + i]);
		bad += fabs(att[t] - e / sqrt(48.0)) > 2.0 * hs * FLT_EPSILON * ad + 1e-6 * fabs(e);
	}
	CU_ASSERT_EQUAL_FATAL(tf_cuda_attn_values(out, att, v, stride, n, hs), 0);
	for (uint32_t i = 0; i < hs; i++) {
		double e = out0[i], ad = fabs(out0[i]);

		for (uint32_t t = 0; t < n; t++)
			e += (double)att[t] * v[t * stride + i],
				ad += fabs((double)att[t] * v[t * stride + i]);
		bad += fabs(out[i] - e) > 2.0 * (n + 1) * FLT_EPSILON * ad + 1e-30;
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static const struct tf_cunit_test g_tests[] = {
	TF_TEST(test_matmul),
	TF_TEST(test_pointwise),
	TF_TEST(test_attention),
	TF_TESTS_END,
};

int
main(void)
{
	static const struct tf_cunit_suite suites[] = { { "cuda", NULL, NULL, g_tests }, { NULL } };
	char why[256];

	if (tf_cuda_probe(why, sizeof(why)) != 0) {
		printf("SKIPPED: %s\n", why);
		return 77;
	}
	printf("CUDA: %s\n", why);
	return tf_cunit_run(suites);
}
