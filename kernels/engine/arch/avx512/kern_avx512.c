/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AVX-512F kernels (built with -mavx512f -mfma; used only when CPUID says so).
 *
 * Matrix product register tile: ROWS weight rows x TOKS batch rows, one
 * 16-lane accumulator each (24 of the 32 zmm registers), so the weight
 * vectors loaded for a k step feed TOKS FMAs and the weights stream from
 * memory once per step for the whole batch. Each accumulator sums its k
 * steps in order and is reduced the same way in every tile shape.
 */
#include <immintrin.h>

#include "../../kern.h"

#define ROWS 4
#define TOKS 6
#define AI   static inline __attribute__((always_inline))

/* 16 weights of row r from column k (int8: dequantized to fp32). */
AI __m512
load_w(const struct tf_matrix *w, uint32_t r, uint32_t k, __mmask16 m, const int q8)
{
	size_t at = (size_t)r * w->cols + k;

	if (q8) { /* cols % TF_Q8_GROUP == 0: never masked */
		__m512 s = _mm512_set1_ps(w->scale[at / TF_Q8_GROUP]);
		__m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(w->q8 + at)));

		return _mm512_mul_ps(_mm512_cvtepi32_ps(q), s);
	}
	return _mm512_maskz_loadu_ps(m, w->f32 + at);
}

AI void
tile(float *out, size_t ldo, const float *x, size_t ldx, const struct tf_matrix *w, uint32_t r,
     uint32_t b, const int R, const int T, const int q8)
{
	const uint32_t n = w->cols;
	__m512 acc[ROWS][TOKS];
	uint32_t k;

	for (int i = 0; i < R; i++)
		for (int j = 0; j < T; j++)
			acc[i][j] = _mm512_setzero_ps();
	for (k = 0; k < n; k += 16) {
		__mmask16 m = n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - k)) - 1);
		__m512 wv[ROWS];

		for (int i = 0; i < R; i++)
			wv[i] = load_w(w, r + i, k, m, q8);
		for (int j = 0; j < T; j++) {
			__m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)(b + j) * ldx + k);

			for (int i = 0; i < R; i++)
				acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
		}
	}
	for (int j = 0; j < T; j++)
		for (int i = 0; i < R; i++)
			out[(size_t)(b + j) * ldo + r + i] = _mm512_reduce_add_ps(acc[i][j]);
}

/* Dispatches the batch tail to a tile with a constant row count. */
AI void
row_block(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
	  const struct tf_matrix *w, uint32_t r, const int R, const int q8)
{
	uint32_t b = 0;

	for (; b + TOKS <= nb; b += TOKS)
		tile(out, ldo, x, ldx, w, r, b, R, TOKS, q8);
	switch (nb - b) {
	case 5: tile(out, ldo, x, ldx, w, r, b, R, 5, q8); break;
	case 4: tile(out, ldo, x, ldx, w, r, b, R, 4, q8); break;
	case 3: tile(out, ldo, x, ldx, w, r, b, R, 3, q8); break;
	case 2: tile(out, ldo, x, ldx, w, r, b, R, 2, q8); break;
	case 1: tile(out, ldo, x, ldx, w, r, b, R, 1, q8); break;
	default: break;
	}
}

AI void
matmul(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
       const struct tf_matrix *w, uint32_t r0, uint32_t r1, const int q8)
{
	uint32_t r = r0;

	for (; r + ROWS <= r1; r += ROWS)
		row_block(out, ldo, x, ldx, nb, w, r, ROWS, q8);
	for (; r < r1; r++)
		row_block(out, ldo, x, ldx, nb, w, r, 1, q8);
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

static float
dot(const float *a, const float *b, uint32_t n)
{
	__m512 acc = _mm512_setzero_ps();

	for (uint32_t k = 0; k < n; k += 16) {
		__mmask16 m = n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - k)) - 1);

		acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), _mm512_maskz_loadu_ps(m, b + k),
				      acc);
	}
	return _mm512_reduce_add_ps(acc);
}

static void
axpy(float *y, float a, const float *x, uint32_t n)
{
	__m512 av = _mm512_set1_ps(a);

	for (uint32_t k = 0; k < n; k += 16) {
		__mmask16 m = n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - k)) - 1);
		__m512 yv = _mm512_maskz_loadu_ps(m, y + k);

		_mm512_mask_storeu_ps(y + k, m, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + k), yv));
	}
}

const struct tf_kern_ops tf_kern_avx512 = {
	.name = "avx512",
	.matmul_f32 = matmul_f32,
	.matmul_q8 = matmul_q8,
	.dot = dot,
	.axpy = axpy,
	.rmsnorm = tf_kern_rmsnorm_generic,
	.softmax = tf_kern_softmax_generic,
	.swiglu = tf_kern_swiglu_generic,
};
