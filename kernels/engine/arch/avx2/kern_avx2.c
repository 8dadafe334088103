/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AVX2 + FMA kernels (built with -mavx2 -mfma; used only when CPUID says so).
 *
 * Matrix product register tile: ROWS weight rows x TOKS batch rows, one
 * 8-lane accumulator each (8 of the 16 ymm registers, 4 hold weights), the
 * same scheme as the AVX-512 variant. Tails use masked loads, so every
 * (row, batch row) result is summed in the same order in every tile shape.
 */
#include <immintrin.h>

#include "../../kern.h"

#define ROWS 4
#define TOKS 2
#define AI   static inline __attribute__((always_inline))

AI __m256i
tail_mask(uint32_t left)
{
	static const int32_t lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

	return _mm256_loadu_si256((const __m256i *)(lanes + 8 - (left >= 8 ? 8 : left)));
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
load_w(const struct tf_matrix *w, uint32_t r, uint32_t k, __m256i m, const int q8)
{
	size_t at = (size_t)r * w->cols + k;

	if (q8) { /* cols % TF_Q8_GROUP == 0: never masked */
		__m256 s = _mm256_set1_ps(w->scale[at / TF_Q8_GROUP]);
		__m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w->q8 + at)));

		return _mm256_mul_ps(_mm256_cvtepi32_ps(q), s);
	}
	return _mm256_maskload_ps(w->f32 + at, m);
}

AI void
tile(float *out, size_t ldo, const float *x, size_t ldx, const struct tf_matrix *w, uint32_t r,
     uint32_t b, const int R, const int T, const int q8)
{
	const uint32_t n = w->cols;
	__m256 acc[ROWS][TOKS];

	for (int i = 0; i < R; i++)
		for (int j = 0; j < T; j++)
			acc[i][j] = _mm256_setzero_ps();
	for (uint32_t k = 0; k < n; k += 8) {
		__m256i m = tail_mask(n - k);
		__m256 wv[ROWS];

		for (int i = 0; i < R; i++)
			wv[i] = load_w(w, r + i, k, m, q8);
		for (int j = 0; j < T; j++) {
			__m256 xv = _mm256_maskload_ps(x + (size_t)(b + j) * ldx + k, m);

			for (int i = 0; i < R; i++)
				acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
		}
	}
	for (int j = 0; j < T; j++)
		for (int i = 0; i < R; i++)
			out[(size_t)(b + j) * ldo + r + i] = hsum(acc[i][j]);
}

AI void
row_block(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
	  const struct tf_matrix *w, uint32_t r, const int R, const int q8)
{
	uint32_t b = 0;

	for (; b + TOKS <= nb; b += TOKS)
		tile(out, ldo, x, ldx, w, r, b, R, TOKS, q8);
	if (b < nb)
		tile(out, ldo, x, ldx, w, r, b, R, 1, q8);
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
	__m256 acc = _mm256_setzero_ps();

	for (uint32_t k = 0; k < n; k += 8) {
		__m256i m = tail_mask(n - k);

		acc = _mm256_fmadd_ps(_mm256_maskload_ps(a + k, m), _mm256_maskload_ps(b + k, m), acc);
	}
	return hsum(acc);
}

static void
axpy(float *y, float a, const float *x, uint32_t n)
{
	__m256 av = _mm256_set1_ps(a);

	for (uint32_t k = 0; k < n; k += 8) {
		__m256i m = tail_mask(n - k);
		__m256 yv = _mm256_maskload_ps(y + k, m);

		_mm256_maskstore_ps(y + k, m, _mm256_fmadd_ps(av, _mm256_maskload_ps(x + k, m), yv));
	}
}

const struct tf_kern_ops tf_kern_avx2 = {
	.name = "avx2",
	.matmul_f32 = matmul_f32,
	.matmul_q8 = matmul_q8,
	.dot = dot,
	.axpy = axpy,
	.rmsnorm = tf_kern_rmsnorm_generic,
	.softmax = tf_kern_softmax_generic,
	.swiglu = tf_kern_swiglu_generic,
};
