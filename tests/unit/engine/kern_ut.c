/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every compiled kernel variant this CPU runs against a double-precision
 * naive reference, on random inputs.
 *
 * Tolerances (stated, and derived, not tuned): a float sum of n products
 * computed in any order, with or without FMA, is within gamma_n * sum|a_k b_k|
 * of the exact value, gamma_n = n*eps / (1 - n*eps), eps = FLT_EPSILON / 2.
 * The tests allow 2 * n * FLT_EPSILON * sum|a_k b_k| + 1e-30 (four times that
 * bound) for every matrix-product output and attention score; attention
 * outputs the same with the weights' magnitudes. rmsnorm, softmax and swiglu
 * are checked at 1e-5 relative.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"
#include "model.h"
#include "testutil.h"
#include "tf_cunit.h"

static int
tol_ok(double got, double exact, double absdot, uint32_t n)
{
	return fabs(got - exact) <= 2.0 * n * FLT_EPSILON * absdot + 1e-30;
}

struct shape {
	uint32_t rows, cols, nb;
};

static const struct shape g_shapes[] = {
	{ 1, 1, 1 },	  { 5, 3, 2 },	   { 16, 16, 1 },   { 17, 33, 13 },  { 100, 70, 13 },
	{ 288, 288, 32 }, { 768, 288, 7 }, { 64, 768, 64 }, { 33, 300, 40 }, { 40, 64, 25 },
};

/* Runs variant ops over the matrix (packing it first when it wants) for rows
 * [r0, r1) of every batch row; out keeps its other values. */
static void *
pack_for(const struct tf_kern_ops *ops, struct tf_matrix *m, enum tf_engine_precision prec)
{
	size_t n = tf_kern_pack_size(ops, m->rows, m->cols, prec);
	void *pk;

	m->packed = NULL;
	if (!n)
		return NULL;
	pk = aligned_alloc(64, (n + 63) & ~(size_t)63);
	CU_ASSERT_FATAL(pk != NULL);
	tf_kern_pack(ops, m, prec, pk);
	m->packed = pk;
	return pk;
}

static void
run_mm(const struct tf_kern_ops *ops, struct tf_matrix *m, int q8, float *out, const float *x,
       uint32_t nb, uint32_t r0, uint32_t r1)
{
	void *pk = pack_for(ops, m, q8 ? TF_ENGINE_INT8 : TF_ENGINE_FP32);

	(q8 ? ops->matmul_q8 : ops->matmul_f32)(out, m->rows, x, m->cols, nb, m, r0, r1);
	m->packed = NULL;
	free(pk);
}

static void
check_matmul(int q8)
{
	uint64_t rng = 0x1234567;

	for (unsigned v = 0; v < tf_kern_count(); v++) {
		int usable;
		const struct tf_kern_ops *ops = tf_kern_get(v, &usable);

		if (!usable) {
			printf("\n  (variant %s: not on this CPU, not tested here)", ops->name);
			continue;
		}
		for (size_t si = 0; si < sizeof(g_shapes) / sizeof(g_shapes[0]); si++) {
			struct shape sh = g_shapes[si];
			uint32_t R = sh.rows, C = q8 ? (sh.cols + 31) / 32 * 32 : sh.cols,
				 B = sh.nb;
			float *w = malloc(sizeof(float) * R * C),
			      *x = malloc(sizeof(float) * B * C);
			float *out = malloc(sizeof(float) * B * R),
			      *one = malloc(sizeof(float) * R);
			int8_t *q = malloc((size_t)R * C);
			float *sc = malloc(sizeof(float) * R * (C / 32 + 1));
			struct tf_matrix m = { .f32 = w, .rows = R, .cols = C };
			int bad = 0, bad_batch = 0, bad_range = 0;

			CU_ASSERT_FATAL(w && x && out && one && q && sc);
			for (size_t i = 0; i < (size_t)R * C; i++)
				w[i] = trng_f(&rng);
			for (size_t i = 0; i < (size_t)B * C; i++)
				x[i] = trng_f(&rng) * 3.0f;
			if (q8) {
				tf_q8_quantize(w, R, C, q, sc);
				m.q8 = q;
				m.scale = sc;
			}
			for (size_t i = 0; i < (size_t)B * R; i++)
				out[i] = NAN;
			run_mm(ops, &m, q8, out, x, B, 0, R);
			for (uint32_t b = 0; b < B; b++) {
				for (uint32_t r = 0; r < R; r++) {
					double exact = 0, absdot = 0;

					for (uint32_t k = 0; k < C; k++) {
						double wk =
							q8 ? (double)((float)q[(size_t)r * C + k] *
								      sc[(size_t)r * (C / 32) +
									 k / 32])
							   : w[(size_t)r * C + k];

						exact += wk * x[(size_t)b * C + k];
						absdot += fabs(wk * x[(size_t)b * C + k]);
					}
					bad += !tol_ok(out[(size_t)b * R + r], exact, absdot, C);
				}
			}
			/* A batch row alone gives bit-identical results. */
			for (uint32_t b = 0; b < B; b++) {
				run_mm(ops, &m, q8, one, x + (size_t)b * C, 1, 0, R);
				bad_batch +=
					memcmp(one, out + (size_t)b * R, sizeof(float) * R) != 0;
			}
			/* A row range writes exactly its rows. */
			if (R > 32) {
				for (size_t i = 0; i < (size_t)B * R; i++)
					out[i] = -7.0f;
				run_mm(ops, &m, q8, out, x, B, 32, R - 1);
				for (uint32_t b = 0; b < B; b++)
					for (uint32_t r = 0; r < R; r++)
						bad_range += (r >= 32 && r < R - 1) !=
							     (out[(size_t)b * R + r] != -7.0f);
			}
			if (bad || bad_batch || bad_range)
				printf("\n  %s %s %ux%u nb %u: %d outside tolerance, %d batch rows "
				       "differ alone, %d range errors",
				       ops->name, q8 ? "q8" : "f32", R, C, B, bad, bad_batch,
				       bad_range);
			CU_ASSERT_EQUAL(bad, 0);
			CU_ASSERT_EQUAL(bad_batch, 0);
			CU_ASSERT_EQUAL(bad_range, 0);
			free(w), free(x), free(out), free(one), free(q), free(sc);
		}
	}
}

static void
test_matmul_f32(void)
{
	check_matmul(0);
}

static void
test_matmul_q8(void)
{
	check_matmul(1);
}

/*
 * bf16 products: every variant against the double-precision sum of the same
 * bf16 products (the fp32 bound), rows past nb of the activations hold NaN
 * (a variant that reads them, AMX, must not let them reach a live output),
 * row strides wider than the padded K, a batch row alone bit-identical, row
 * ranges exact.
 */
static void
test_matmul_bf16(void)
{
	uint64_t rng = 0xbf16;

	for (unsigned v = 0; v < tf_kern_count(); v++) {
		int usable;
		const struct tf_kern_ops *ops = tf_kern_get(v, &usable);

		if (!usable) {
			printf("\n  (variant %s: not on this CPU, not tested here)", ops->name);
			continue;
		}
		for (size_t si = 0; si < sizeof(g_shapes) / sizeof(g_shapes[0]); si++) {
			struct shape sh = g_shapes[si];
			uint32_t R = sh.rows, C = sh.cols, B = sh.nb;
			size_t ld = TF_BF16_KPAD(C) + (si % 2) * 32, xrows = TF_BF16_ROWS(B) + 16;
			float *w = malloc(sizeof(float) * R * C),
			      *out = malloc(sizeof(float) * B * R);
			float *one = malloc(sizeof(float) * R);
			uint16_t *wh = malloc(sizeof(uint16_t) * R * C);
			uint16_t *xh = aligned_alloc(64, (xrows * ld * sizeof(uint16_t) + 63) &
								 ~(size_t)63);
			struct tf_matrix m = { .f32 = w, .bf16 = wh, .rows = R, .cols = C };
			int bad = 0, bad_batch = 0, bad_range = 0;
			void *pk;

			CU_ASSERT_FATAL(w && out && one && wh && xh);
			for (size_t i = 0; i < (size_t)R * C; i++)
				w[i] = trng_f(&rng);
			tf_bf16_convert(w, (size_t)R * C, wh);
			for (size_t i = 0; i < xrows * ld; i++)
				xh[i] = 0x7fc0; /* NaN: rows past B and the stride's tail */
			for (uint32_t b = 0; b < B; b++)
				for (size_t k = 0; k < TF_BF16_KPAD(C); k++)
					xh[b * ld + k] =
						k < C ? tf_bf16_round(trng_f(&rng) * 3.0f) : 0;
			for (size_t i = 0; i < (size_t)B * R; i++)
				out[i] = NAN;
			pk = pack_for(ops, &m, TF_ENGINE_BF16);
			ops->matmul_bf16(out, R, xh, ld, B, &m, 0, R);
			for (uint32_t b = 0; b < B; b++) {
				for (uint32_t r = 0; r < R; r++) {
					double exact = 0, absdot = 0;

					for (uint32_t k = 0; k < C; k++) {
						double p = (double)tf_bf16_float(
								   wh[(size_t)r * C + k]) *
							   tf_bf16_float(xh[b * ld + k]);

						exact += p;
						absdot += fabs(p);
					}
					bad += !tol_ok(out[(size_t)b * R + r], exact, absdot, C);
				}
			}
			for (uint32_t b = 0; b < B; b++) {
				ops->matmul_bf16(one, R, xh + b * ld, ld, 1, &m, 0, R);
				bad_batch +=
					memcmp(one, out + (size_t)b * R, sizeof(float) * R) != 0;
			}
			if (R > 32) {
				for (size_t i = 0; i < (size_t)B * R; i++)
					out[i] = -7.0f;
				ops->matmul_bf16(out, R, xh, ld, B, &m, 32, R - 1);
				for (uint32_t b = 0; b < B; b++)
					for (uint32_t r = 0; r < R; r++)
						bad_range += (r >= 32 && r < R - 1) !=
							     (out[(size_t)b * R + r] != -7.0f);
			}
			if (bad || bad_batch || bad_range)
				printf("\n  %s bf16 %ux%u nb %u: %d outside tolerance, %d batch "
				       "rows "
				       "differ alone, %d range errors",
				       ops->name, R, C, B, bad, bad_batch, bad_range);
			CU_ASSERT_EQUAL(bad, 0);
			CU_ASSERT_EQUAL(bad_batch, 0);
			CU_ASSERT_EQUAL(bad_range, 0);
			free(pk), free(w), free(out), free(one), free(wh), free(xh);
		}
	}
}

/* The nearest bf16 to a normal f, ties to even, worked out in double. */
static uint16_t
bf16_nearest(float f)
{
	uint32_t u, lo;
	float flo;
	double ulp, d;

	memcpy(&u, &f, sizeof(u));
	lo = u & 0xffff0000u;
	memcpy(&flo, &lo, sizeof(flo));
	ulp = ldexp(1.0, (int)((lo >> 23) & 0xff) - 127 - 7);
	d = fabs((double)f) - fabs((double)flo);
	if (d > ulp / 2 || (d == ulp / 2 && (lo & 0x10000u)))
		return (uint16_t)((lo >> 16) + 1); /* carries into the exponent: still right */
	return (uint16_t)(lo >> 16);
}

/* fp32 -> bf16: tf_bf16_round is round-to-nearest-even on normal numbers,
 * flushes denormals to signed zero, keeps NaN quiet; every variant's
 * to_bf16 gives exactly its bits at every length (vector bodies and tails). */
static void
test_bf16_round(void)
{
	static const uint32_t specials[] = {
		0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff,
		0x7f7f8000, 0x7f7f7fff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001,
		0xffbfffff, 0x3f808000, 0x3f818000, 0x3f80ffff, 0x3f807fff, 0x3f800000,
	};
	static const uint32_t lens[] = { 1, 15, 16, 17, 31, 32, 33, 100, 1000 };
	uint64_t rng = 31337;
	float *src = malloc(sizeof(float) * 1000);
	uint16_t *ref = malloc(2 * 1000), *got = malloc(2 * 1002);
	int bad = 0;

	CU_ASSERT_FATAL(src && ref && got);
	for (int i = 0; i < 200000; i++) {
		uint32_t u = (uint32_t)trng(&rng);
		float f;
		uint16_t h;

		if (i < (int)(sizeof(specials) / sizeof(specials[0])))
			u = specials[i];
		memcpy(&f, &u, sizeof(f));
		h = tf_bf16_round(f);
		if (isnan(f))
			bad += !isnan(tf_bf16_float(h)) || !(h & 0x40) || (h >> 15) != (u >> 31);
		else if (((u >> 23) & 0xff) == 0)
			bad += h != ((u >> 16) & 0x8000);
		else
			bad += h != bf16_nearest(f);
	}
	CU_ASSERT_EQUAL(bad, 0);
	for (unsigned v = 0; v < tf_kern_count(); v++) {
		int usable;
		const struct tf_kern_ops *ops = tf_kern_get(v, &usable);

		if (!usable)
			continue;
		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			uint32_t n = lens[li];

			for (uint32_t i = 0; i < n; i++) {
				uint32_t u = i < sizeof(specials) / sizeof(specials[0])
						     ? specials[i]
						     : (uint32_t)trng(&rng);

				memcpy(&src[i], &u, sizeof(u));
				ref[i] = tf_bf16_round(src[i]);
			}
			got[n] = got[n + 1] = 0x1234;
			ops->to_bf16(got, src, n);
			bad = memcmp(got, ref, 2 * n) != 0 || got[n] != 0x1234;
			if (bad)
				printf("\n  %s to_bf16 n %u differs", ops->name, n);
			CU_ASSERT_EQUAL(bad, 0);
		}
	}
	free(src), free(ref), free(got);
}

/* Quantization error per weight is at most half a step: |w - q*s| <= s/2. */
static void
test_q8_quantize_bound(void)
{
	uint64_t rng = 99;
	float w[4 * 64], sc[4 * 2];
	int8_t q[4 * 64];
	int bad = 0;

	for (int i = 0; i < 4 * 64; i++)
		w[i] = trng_f(&rng) * (i % 7 == 0 ? 10.0f : 1.0f);
	w[5] = 0; /* a zero group stays exact */
	for (int i = 64; i < 96; i++)
		w[i] = 0.0f;
	tf_q8_quantize(w, 4, 64, q, sc);
	for (int r = 0; r < 4; r++)
		for (int k = 0; k < 64; k++) {
			float s = sc[r * 2 + k / 32];

			bad += fabsf(w[r * 64 + k] - (float)q[r * 64 + k] * s) >
			       s * 0.5f * (1 + 1e-6f);
			bad += q[r * 64 + k] < -127;
		}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(sc[2], 0.0f); /* row 1, group 0 was all zero */
}

/* Keys transposed as in a KV block (element i of position t at k[i * ld + t],
 * ld wider than n), values by position, in fp32 and in bf16; every position count from 1 to 40
 * covers vector bodies and tails. A position's score is the same bits
 * whatever n (it is computed alone in its lane). */
static void
test_attention(void)
{
	static const uint32_t hss[] = { 2, 8, 16, 47, 48, 64, 72, 100 };
	uint64_t rng = 4242;

	for (unsigned v = 0; v < tf_kern_count(); v++) {
		int usable;
		const struct tf_kern_ops *ops = tf_kern_get(v, &usable);

		if (!usable)
			continue;
		for (size_t a = 0; a < sizeof(hss) / sizeof(hss[0]); a++) {
			for (uint32_t n = 1; n <= 40; n += (n < 18 ? 1 : 11)) {
				uint32_t hs = hss[a], stride = hs * 3 + 1, ld = n + 3;
				float q[128], k[128 * 43], val[40 * 301], att[40], att1[40],
					out[128], out0[128];
				uint16_t kh[128 * 43], vh[40 * 301];
				float div = sqrtf((float)hs);
				int bad = 0;

				for (uint32_t i = 0; i < hs; i++)
					q[i] = trng_f(&rng), out0[i] = out[i] = trng_f(&rng);
				for (uint32_t i = 0; i < hs * ld; i++)
					k[i] = trng_f(&rng);
				for (uint32_t i = 0; i < n * stride; i++)
					val[i] = trng_f(&rng);
				ops->attn_scores(att, q, k, ld, n, hs, div);
				for (uint32_t t = 0; t < n; t++) {
					double e = 0, ad = 0;

					for (uint32_t i = 0; i < hs; i++) {
						e += (double)q[i] * k[i * ld + t];
						ad += fabs((double)q[i] * k[i * ld + t]);
					}
					bad += !tol_ok(att[t], e / div, ad / div + 1e-7 * fabs(e),
						       hs);
				}
				ops->attn_scores(att1, q, k, ld, 1, hs, div);
				bad += memcmp(att1, att, sizeof(float)) != 0;
				ops->attn_values(out, att, val, stride, n, hs);
				for (uint32_t i = 0; i < hs; i++) {
					double e = out0[i], ad = fabs(out0[i]);

					for (uint32_t t = 0; t < n; t++) {
						e += (double)att[t] * val[t * stride + i];
						ad += fabs((double)att[t] * val[t * stride + i]);
					}
					bad += !tol_ok(out[i], e, ad, n + 1);
				}
				/* the same over bf16 keys and values (widened exactly) */
				for (uint32_t i = 0; i < hs * ld; i++)
					kh[i] = tf_bf16_round(k[i]);
				for (uint32_t i = 0; i < n * stride; i++)
					vh[i] = tf_bf16_round(val[i]);
				memcpy(out, out0, sizeof(float) * hs);
				ops->attn_scores_bf16(att, q, kh, ld, n, hs, div);
				for (uint32_t t = 0; t < n; t++) {
					double e = 0, ad = 0;

					for (uint32_t i = 0; i < hs; i++) {
						double p = (double)q[i] *
							   tf_bf16_float(kh[i * ld + t]);

						e += p, ad += fabs(p);
					}
					bad += !tol_ok(att[t], e / div, ad / div + 1e-7 * fabs(e),
						       hs);
				}
				ops->attn_values_bf16(out, att, vh, stride, n, hs);
				for (uint32_t i = 0; i < hs; i++) {
					double e = out0[i], ad = fabs(out0[i]);

					for (uint32_t t = 0; t < n; t++) {
						double p = (double)att[t] *
							   tf_bf16_float(vh[t * stride + i]);

						e += p, ad += fabs(p);
					}
					bad += !tol_ok(out[i], e, ad, n + 1);
				}
				if (bad)
					printf("\n  %s attention hs %u n %u: %d bad", ops->name, hs,
					       n, bad);
				CU_ASSERT_EQUAL(bad, 0);
			}
		}
	}
}

/* rmsnorm, softmax and swiglu of every variant at 1e-5 relative to double
 * (the SIMD ones use their own e^x), over lengths that leave vector tails;
 * softmax keeps a NaN a NaN. */
static void
test_pointwise(void)
{
	static const uint32_t lens[] = { 1, 5, 16, 17, 40, 288, 300 };
	uint64_t rng = 77;
	float x[300], w[300], o[300], h1[300], h3[300], sm[300];

	for (unsigned v = 0; v < tf_kern_count(); v++) {
		int usable;
		const struct tf_kern_ops *ops = tf_kern_get(v, &usable);

		if (!usable)
			continue;
		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			uint32_t n = lens[li];
			double ss = 0, mx = -1e30, sum = 0;
			int bad = 0;

			for (uint32_t i = 0; i < n; i++) {
				x[i] = trng_f(&rng) * (li % 2 ? 40 : 4), w[i] = trng_f(&rng);
				h1[i] = x[i], h3[i] = w[i], sm[i] = x[i];
				ss += (double)x[i] * x[i];
				mx = fmax(mx, x[i]);
			}
			ops->rmsnorm(o, x, w, n, 1e-5f);
			for (uint32_t i = 0; i < n; i++)
				bad += fabs(o[i] - w[i] * x[i] / sqrt(ss / n + 1e-5)) >
				       1e-5 * (fabs(w[i] * x[i]) + 1e-6);
			ops->softmax(sm, n);
			for (uint32_t i = 0; i < n; i++)
				sum += exp(x[i] - mx);
			for (uint32_t i = 0; i < n; i++)
				bad += fabs(sm[i] - exp(x[i] - mx) / sum) >
				       1e-5 * exp(x[i] - mx) / sum + 1e-9;
			ops->swiglu(h1, h3, n);
			for (uint32_t i = 0; i < n; i++) {
				double e = x[i] / (1 + exp(-(double)x[i])) * w[i];

				bad += fabs(h1[i] - e) > 1e-5 * fabs(e) + 1e-7;
			}
			sm[0] = 1.0f, sm[n - 1] = NAN;
			ops->softmax(sm, n);
			bad += !isnan(sm[0]);
			if (bad)
				printf("\n  %s pointwise n %u: %d bad", ops->name, n, bad);
			CU_ASSERT_EQUAL(bad, 0);
		}
	}
}

/* argmax is exact: every variant returns the generic's index, ties to the
 * first, and -1 for any NaN or infinity. */
static void
test_argmax(void)
{
	static const uint32_t ns[] = { 1, 2, 15, 16, 17, 33, 1000, 32000 };
	uint64_t rng = 5;
	float *x = malloc(sizeof(float) * 32000);

	for (unsigned v = 0; v < tf_kern_count(); v++) {
		int usable;
		const struct tf_kern_ops *ops = tf_kern_get(v, &usable);

		if (!usable)
			continue;
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			uint32_t n = ns[i];

			for (uint32_t k = 0; k < n; k++)
				x[k] = trng_f(&rng) * 5 - 6; /* all negative */
			CU_ASSERT_EQUAL(ops->argmax(x, n), tf_kern_argmax_generic(x, n));
			x[n - 1] = 2.0f, x[n / 2] = 2.0f; /* tie: the first wins */
			CU_ASSERT_EQUAL(ops->argmax(x, n), (int32_t)(n / 2));
			x[n / 3] = NAN;
			CU_ASSERT_EQUAL(ops->argmax(x, n), -1);
			x[n / 3] = -INFINITY;
			CU_ASSERT_EQUAL(ops->argmax(x, n), -1);
			x[n / 3] = 0;
			x[n - 1] = INFINITY;
			CU_ASSERT_EQUAL(ops->argmax(x, n), -1);
		}
	}
	free(x);
}

static void
test_select(void)
{
	const struct tf_kern_ops *ops;
	int rc, usable, seen_generic = 0;

	ops = tf_kern_select(NULL, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
	CU_ASSERT_EQUAL(rc, 0);
	/* auto picks the first usable variant in best-first order */
	for (unsigned i = 0; i < tf_kern_count(); i++) {
		const struct tf_kern_ops *v = tf_kern_get(i, &usable);

		if (usable) {
			CU_ASSERT_PTR_EQUAL(ops, v);
			break;
		}
	}
	for (unsigned i = 0; i < tf_kern_count(); i++) {
		const struct tf_kern_ops *v = tf_kern_get(i, &usable);

		seen_generic |= v == &tf_kern_generic && usable;
		CU_ASSERT_PTR_EQUAL(tf_kern_select(v->name, &rc), usable ? v : NULL);
		CU_ASSERT_EQUAL(rc, usable ? 0 : -ENOTSUP);
	}
	CU_ASSERT(seen_generic);
	CU_ASSERT_PTR_NULL(tf_kern_select("sse9", &rc));
	CU_ASSERT_EQUAL(rc, -ENOENT);
	printf("\n  auto selects: %s", ops->name);
}

static const struct tf_cunit_test g_tests[] = {
	TF_TEST(test_select),	   TF_TEST(test_matmul_f32),
	TF_TEST(test_matmul_q8),   TF_TEST(test_q8_quantize_bound),
	TF_TEST(test_matmul_bf16), TF_TEST(test_bf16_round),
	TF_TEST(test_attention),   TF_TEST(test_pointwise),
	TF_TEST(test_argmax),	   TF_TESTS_END,
};

TF_CUNIT_MAIN({ "kern", NULL, NULL, g_tests })
