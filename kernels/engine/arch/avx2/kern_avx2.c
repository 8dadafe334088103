/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AVX2 + FMA kernels (built with -mavx2 -mfma; used only when CPUID says so).
 *
 * Matrix products read the packed panel layout (kern.h, P = 8 rows per
 * panel); a register tile is 2 panels (16 weight rows) x TOKS batch rows:
 * 12 accumulators + 2 weight vectors + 1 broadcast of the 16 ymm registers.
 * The same scheme as the AVX-512 variant; every output is one lane summed
 * over k in order, identical in any tile shape.
 */
#include <immintrin.h>

#include "../../kern.h"

#define P 8 /* rows per panel = lanes */
#define TOKS 6 /* batch rows per tile */
#define PF 16 /* prefetch distance in k steps (16 x 32 bytes per panel) */
#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

/* Lanes [0, live) set: masked loads and stores of a tail. */
AI __m256i
lane_mask(uint32_t live)
{
	static const int32_t lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

	return _mm256_loadu_si256((const __m256i *)(lanes + 8 - (live >= 8 ? 8 : live)));
}

AI float
hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AI __m256
deq(const int8_t *pq, uint32_t k, __m256 scale)
{
	__m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(pq + (size_t)k * P)));

	return _mm256_mul_ps(_mm256_cvtepi32_ps(q), scale);
}

AI void
fma_tile(__m256 acc[2][TOKS], __m256 w0, __m256 w1, const float *x, size_t ldx, uint32_t k,
	 const int R, const int T)
{
	UNROLL
	for (int j = 0; j < T; j++) {
		__m256 xb = _mm256_broadcast_ss(x + (size_t)j * ldx + k);

		acc[0][j] = _mm256_fmadd_ps(w0, xb, acc[0][j]);
		if (R == 2)
			acc[1][j] = _mm256_fmadd_ps(w1, xb, acc[1][j]);
	}
}

AI void
tile(float *out, size_t ldo, const float *x, size_t ldx, const struct tf_matrix *w, uint32_t r,
     uint32_t r1, const int R, const int T, const int q8, int pf)
{
	const uint32_t n = w->cols;
	__m256 acc[2][TOKS];
	__m256 w1 = _mm256_setzero_ps();

	UNROLL
	for (int j = 0; j < T; j++)
		acc[0][j] = acc[1][j] = _mm256_setzero_ps();
	if (!q8) {
		const float *p0 = (const float *)w->packed + (size_t)(r / P) * n * P;
		const float *p1 = p0 + (size_t)n * P;

		for (uint32_t k = 0; k < n; k++) {
			__m256 w0 = _mm256_load_ps(p0 + (size_t)k * P);

			if (R == 2)
				w1 = _mm256_load_ps(p1 + (size_t)k * P);
			if (pf && k % 2 == 0 && k + PF < n) { /* one line per two k steps */
				_mm_prefetch((const char *)(p0 + (size_t)(k + PF) * P),
					     _MM_HINT_T0);
				if (R == 2)
					_mm_prefetch((const char *)(p1 + (size_t)(k + PF) * P),
						     _MM_HINT_T0);
			}
			fma_tile(acc, w0, w1, x, ldx, k, R, T);
		}
	} else {
		const size_t pbytes = (size_t)n * P + (size_t)n / TF_Q8_GROUP * P * sizeof(float);
		const int8_t *q0 = (const int8_t *)w->packed + (size_t)(r / P) * pbytes;
		const int8_t *q1 = q0 + pbytes;
		const float *s0 = (const float *)(q0 + (size_t)n * P);
		const float *s1 = (const float *)(q1 + (size_t)n * P);

		for (uint32_t g = 0; g < n / TF_Q8_GROUP; g++) {
			__m256 sc0 = _mm256_load_ps(s0 + (size_t)g * P), sc1 = sc0;

			if (R == 2)
				sc1 = _mm256_load_ps(s1 + (size_t)g * P);
			if (pf) { /* the group after next: 256 bytes per panel */
				UNROLL
				for (int l = 0; l < 8; l++)
					_mm_prefetch(
						(const char *)((l < 4 ? q0 : q1) +
							       (size_t)(g + 2) * TF_Q8_GROUP * P +
							       (l % 4) * 64),
						_MM_HINT_T0);
			}
			for (uint32_t k = g * TF_Q8_GROUP; k < (g + 1) * TF_Q8_GROUP; k++) {
				__m256 w0 = deq(q0, k, sc0);

				if (R == 2)
					w1 = deq(q1, k, sc1);
				fma_tile(acc, w0, w1, x, ldx, k, R, T);
			}
		}
	}
	UNROLL
	for (int i = 0; i < R; i++) {
		__m256i m = lane_mask(r1 - (r + (uint32_t)i * P));

		UNROLL
		for (int j = 0; j < T; j++)
			_mm256_maskstore_ps(out + (size_t)j * ldo + r + (size_t)i * P, m,
					    acc[i][j]);
	}
}

AI void
panels(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb, const struct tf_matrix *w,
       uint32_t r, uint32_t r1, const int R, const int q8)
{
	uint32_t b = 0;
	int pf = 1;

	for (; b + TOKS <= nb; b += TOKS, pf = 0)
		tile(out + (size_t)b * ldo, ldo, x + (size_t)b * ldx, ldx, w, r, r1, R, TOKS, q8,
		     pf);
	out += (size_t)b * ldo;
	x += (size_t)b * ldx;
	switch (nb - b) {
	case 5:
		tile(out, ldo, x, ldx, w, r, r1, R, 5, q8, pf);
		break;
	case 4:
		tile(out, ldo, x, ldx, w, r, r1, R, 4, q8, pf);
		break;
	case 3:
		tile(out, ldo, x, ldx, w, r, r1, R, 3, q8, pf);
		break;
	case 2:
		tile(out, ldo, x, ldx, w, r, r1, R, 2, q8, pf);
		break;
	case 1:
		tile(out, ldo, x, ldx, w, r, r1, R, 1, q8, pf);
		break;
	default:
		break;
	}
}

AI void
matmul(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb, const struct tf_matrix *w,
       uint32_t r0, uint32_t r1, const int q8)
{
	for (uint32_t r = r0; r < r1; r += 2 * P) {
		if (r1 - r > P)
			panels(out, ldo, x, ldx, nb, w, r, r1, 2, q8);
		else
			panels(out, ldo, x, ldx, nb, w, r, r1, 1, q8);
	}
}

static void
matmul_f32(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
	   const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	matmul(out, ldo, x, ldx, nb, w, r0, r1, 0);
}

static void
matmul_q8(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
	  const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	matmul(out, ldo, x, ldx, nb, w, r0, r1, 1);
}

#define HV 8 /* head sizes up to HV * 8 keep q / out in registers */

/* 8 positions per vector (the keys are transposed): per head element one
 * broadcast q[i] times k[i][t..t+8), four chains over i, summed pairwise. */
static void
attn_scores(float *att, const float *q, const float *k, size_t ld, uint32_t n, uint32_t hs,
	    float div)
{
	const __m256 vdiv = _mm256_set1_ps(div);

	for (uint32_t t = 0; t < n; t += 8) {
		const __m256i m = lane_mask(n - t);
		const float *kt = k + t;
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		uint32_t i = 0;

		for (; i + 4 <= hs; i += 4) {
			a0 = _mm256_fmadd_ps(_mm256_set1_ps(q[i]),
					     _mm256_maskload_ps(kt + i * ld, m), a0);
			a1 = _mm256_fmadd_ps(_mm256_set1_ps(q[i + 1]),
					     _mm256_maskload_ps(kt + (i + 1) * ld, m), a1);
			a2 = _mm256_fmadd_ps(_mm256_set1_ps(q[i + 2]),
					     _mm256_maskload_ps(kt + (i + 2) * ld, m), a2);
			a3 = _mm256_fmadd_ps(_mm256_set1_ps(q[i + 3]),
					     _mm256_maskload_ps(kt + (i + 3) * ld, m), a3);
		}
		for (; i < hs; i++)
			a0 = _mm256_fmadd_ps(_mm256_set1_ps(q[i]),
					     _mm256_maskload_ps(kt + i * ld, m), a0);
		a0 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
		_mm256_maskstore_ps(att + t, m, _mm256_div_ps(a0, vdiv));
	}
}

static void
attn_values(float *out, const float *att, const float *v, size_t stride, uint32_t n, uint32_t hs)
{
	int nv = (int)((hs + 7) / 8);
	__m256 ov[HV];

	if (nv > HV) {
		tf_kern_generic.attn_values(out, att, v, stride, n, hs);
		return;
	}
	UNROLL
	for (int c = 0; c < HV; c++)
		ov[c] = _mm256_setzero_ps();
	UNROLL
	for (int c = 0; c < HV; c++)
		if (c < nv)
			ov[c] = _mm256_maskload_ps(out + c * 8, lane_mask(hs - (uint32_t)c * 8));
	for (uint32_t t = 0; t < n; t++) {
		__m256 a = _mm256_set1_ps(att[t]);

		UNROLL
		for (int c = 0; c < HV; c++)
			if (c < nv)
				ov[c] = _mm256_fmadd_ps(
					a,
					_mm256_maskload_ps(v + t * stride + c * 8,
							   lane_mask(hs - (uint32_t)c * 8)),
					ov[c]);
	}
	UNROLL
	for (int c = 0; c < HV; c++)
		if (c < nv)
			_mm256_maskstore_ps(out + c * 8, lane_mask(hs - (uint32_t)c * 8), ov[c]);
}

const struct tf_kern_ops tf_kern_avx2 = {
	.name = "avx2",
	.panel = P,
	.matmul_f32 = matmul_f32,
	.matmul_q8 = matmul_q8,
	.matmul_bf16 = tf_kern_matmul_bf16_generic, /* no bf16 instructions */
	.to_bf16 = tf_kern_to_bf16_generic,
	.attn_scores = attn_scores,
	.attn_values = attn_values,
	.attn_scores_bf16 = tf_kern_attn_scores_bf16_generic,
	.attn_values_bf16 = tf_kern_attn_values_bf16_generic,
	.rmsnorm = tf_kern_rmsnorm_generic,
	.softmax = tf_kern_softmax_generic,
	.swiglu = tf_kern_swiglu_generic,
	.argmax = tf_kern_argmax_generic,
};
