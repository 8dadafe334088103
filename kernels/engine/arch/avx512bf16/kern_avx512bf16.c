/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AVX-512 with the BF16 extension (built with -mavx512f -mavx512bw
 * -mavx512vl -mavx512bf16; used only when CPUID says so): the AVX-512F
 * kernels for everything but the bf16 products, which use VDPBF16PS.
 *
 * bf16 products read the packed pair layout (kern.h: panel of 16 rows, per
 * column pair the two weights of each row side by side). A register tile is
 * 2 panels (32 weight rows) x TOKS batch rows: per column pair, two vector
 * loads give 32 rows' weight pairs, each batch row's (x[2k], x[2k+1]) is
 * broadcast as one dword and feeds two VDPBF16PS (32 products each). Every
 * output is one lane summed over k in the same order whatever the tile.
 */
#include <immintrin.h>
#include <string.h>

#include "../avx512/kern_avx512.h"
#include "kern_avx512bf16.h"

#define P 16 /* rows per panel = lanes */
#define TOKS 12 /* batch rows per tile */
#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

AI __m512bh
pair_bcast(const uint16_t *x)
{
	int32_t v;

	memcpy(&v, x, sizeof(v));
	return (__m512bh)_mm512_set1_epi32(v);
}

/* Rows [r, min(r + R * P, r1)) x batch rows [0, T) of x / out. */
AI void
tile(float *out, size_t ldo, const uint16_t *x, size_t ldx, const struct tf_matrix *w, uint32_t r,
     uint32_t r1, const int R, const int T, int pf)
{
	const size_t K = TF_BF16_KPAD(w->cols), pairs = (w->cols + 1) / 2;
	const uint16_t *p0 = (const uint16_t *)w->packed + (size_t)(r / P) * K * P;
	const uint16_t *p1 = p0 + K * P;
	__m512 acc[2][TOKS];
	__m512bh w0, w1 = (__m512bh)_mm512_setzero_si512();

	UNROLL
	for (int j = 0; j < T; j++)
		acc[0][j] = acc[1][j] = _mm512_setzero_ps();
	for (size_t kp = 0; kp < pairs; kp++) {
		w0 = (__m512bh)_mm512_load_si512(p0 + kp * 2 * P);
		if (R == 2)
			w1 = (__m512bh)_mm512_load_si512(p1 + kp * 2 * P);
		if (pf) { /* the next panel pair, into L2, one pair ahead */
			_mm_prefetch((const char *)(p0 + (2 * K + kp * 2) * P), _MM_HINT_T1);
			_mm_prefetch((const char *)(p0 + (3 * K + kp * 2) * P), _MM_HINT_T1);
		}
		UNROLL
		for (int j = 0; j < T; j++) {
			__m512bh xb = pair_bcast(x + (size_t)j * ldx + 2 * kp);

			acc[0][j] = _mm512_dpbf16_ps(acc[0][j], w0, xb);
			if (R == 2)
				acc[1][j] = _mm512_dpbf16_ps(acc[1][j], w1, xb);
		}
	}
	UNROLL
	for (int i = 0; i < R; i++) {
		uint32_t live = r1 - (r + (uint32_t)i * P);
		__mmask16 m = live >= P ? (__mmask16)0xffff : (__mmask16)((1u << live) - 1);

		UNROLL
		for (int j = 0; j < T; j++)
			_mm512_mask_storeu_ps(out + (size_t)j * ldo + r + (size_t)i * P, m,
					      acc[i][j]);
	}
}

AI void
panels(float *out, size_t ldo, const uint16_t *x, size_t ldx, uint32_t nb,
       const struct tf_matrix *w, uint32_t r, uint32_t r1, const int R)
{
	uint32_t b = 0;
	int pf = r + 2 * P < w->rows;

	for (; b + TOKS <= nb; b += TOKS, pf = 0)
		tile(out + (size_t)b * ldo, ldo, x + (size_t)b * ldx, ldx, w, r, r1, R, TOKS, pf);
	out += (size_t)b * ldo;
	x += (size_t)b * ldx;
	switch (nb - b) {
#define TAIL(t)                                             \
	case t:                                             \
		tile(out, ldo, x, ldx, w, r, r1, R, t, pf); \
		break;
		TAIL(11)
		TAIL(10)
		TAIL(9)
		TAIL(8)
		TAIL(7)
		TAIL(6)
		TAIL(5)
		TAIL(4)
		TAIL(3)
		TAIL(2)
		TAIL(1)
#undef TAIL
	default:
		break;
	}
}

static void
matmul_bf16(float *out, size_t ldo, const uint16_t *x, size_t ldx, uint32_t nb,
	    const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	for (uint32_t r = r0; r < r1; r += 2 * P) {
		if (r1 - r > P)
			panels(out, ldo, x, ldx, nb, w, r, r1, 2);
		else
			panels(out, ldo, x, ldx, nb, w, r, r1, 1);
	}
}

AI __mmask16
tail(uint32_t live)
{
	return live >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << live) - 1);
}

/* 16 bf16 -> 16 fp32 (exact: the bits move up 16 places). */
AI __m512
widen(__mmask16 m, const uint16_t *p)
{
	__m256i h = _mm256_maskz_loadu_epi16(m, p);

	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* As tf_kern_avx512_attn_scores over bf16 keys: 16 positions per vector,
 * four chains over the head elements. */
void
tf_kern_avx512bf16_attn_scores(float *att, const float *q, const uint16_t *k, size_t ld, uint32_t n,
			       uint32_t hs, float div)
{
	const __m512 vdiv = _mm512_set1_ps(div);

	for (uint32_t t = 0; t < n; t += 16) {
		const __mmask16 m = tail(n - t);
		const uint16_t *kt = k + t;
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		uint32_t i = 0;

		for (; i + 4 <= hs; i += 4) {
			a0 = _mm512_fmadd_ps(_mm512_set1_ps(q[i]), widen(m, kt + i * ld), a0);
			a1 = _mm512_fmadd_ps(_mm512_set1_ps(q[i + 1]), widen(m, kt + (i + 1) * ld),
					     a1);
			a2 = _mm512_fmadd_ps(_mm512_set1_ps(q[i + 2]), widen(m, kt + (i + 2) * ld),
					     a2);
			a3 = _mm512_fmadd_ps(_mm512_set1_ps(q[i + 3]), widen(m, kt + (i + 3) * ld),
					     a3);
		}
		for (; i < hs; i++)
			a0 = _mm512_fmadd_ps(_mm512_set1_ps(q[i]), widen(m, kt + i * ld), a0);
		a0 = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
		_mm512_mask_storeu_ps(att + t, m, _mm512_div_ps(a0, vdiv));
	}
}

#define HV 4 /* head sizes up to HV * 16 keep out in registers */

/* As tf_kern_avx512_attn_values over bf16 values: even and odd positions in
 * two sets of accumulators, added at the end. */
void
tf_kern_avx512bf16_attn_values(float *out, const float *att, const uint16_t *v, size_t stride,
			       uint32_t n, uint32_t hs)
{
	int nv = (int)((hs + 15) / 16);
	__m512 ov[HV], ow[HV];

	if (nv > HV) {
		tf_kern_attn_values_bf16_generic(out, att, v, stride, n, hs);
		return;
	}
	UNROLL
	for (int c = 0; c < HV; c++)
		ov[c] = ow[c] = _mm512_setzero_ps();
	UNROLL
	for (int c = 0; c < HV; c++)
		if (c < nv)
			ov[c] = _mm512_maskz_loadu_ps(tail(hs - (uint32_t)c * 16), out + c * 16);
	for (uint32_t t = 0; t < n; t += 2) {
		__m512 a = _mm512_set1_ps(att[t]);
		__m512 b = _mm512_set1_ps(t + 1 < n ? att[t + 1] : 0.0f);
		const uint16_t *vt = v + t * stride, *vu = t + 1 < n ? vt + stride : vt;

		UNROLL
		for (int c = 0; c < HV; c++)
			if (c < nv) {
				__mmask16 m = tail(hs - (uint32_t)c * 16);

				ov[c] = _mm512_fmadd_ps(a, widen(m, vt + c * 16), ov[c]);
				ow[c] = _mm512_fmadd_ps(b, widen(m, vu + c * 16), ow[c]);
			}
	}
	UNROLL
	for (int c = 0; c < HV; c++)
		if (c < nv)
			_mm512_mask_storeu_ps(out + c * 16, tail(hs - (uint32_t)c * 16),
					      _mm512_add_ps(ov[c], ow[c]));
}

/* VCVTNEPS2BF16: the rounding tf_bf16_round() spells out. */
void
tf_kern_avx512bf16_to_bf16(uint16_t *dst, const float *src, uint32_t n)
{
	uint32_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16),
						 _mm512_loadu_ps(src + i));

		_mm512_storeu_si512(dst + i, (__m512i)h);
	}
	for (; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
		__m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));

		_mm256_mask_storeu_epi16(dst + i, m, (__m256i)h);
	}
}

const struct tf_kern_ops tf_kern_avx512bf16 = {
	.name = "avx512bf16",
	.panel = P,
	.matmul_f32 = tf_kern_avx512_matmul_f32,
	.matmul_q8 = tf_kern_avx512_matmul_q8,
	.panel_bf16 = P,
	.matmul_bf16 = matmul_bf16,
	.to_bf16 = tf_kern_avx512bf16_to_bf16,
	.attn_scores = tf_kern_avx512_attn_scores,
	.attn_values = tf_kern_avx512_attn_values,
	.attn_scores_bf16 = tf_kern_avx512bf16_attn_scores,
	.attn_values_bf16 = tf_kern_avx512bf16_attn_values,
	.rmsnorm = tf_kern_avx512_rmsnorm,
	.softmax = tf_kern_avx512_softmax,
	.swiglu = tf_kern_avx512_swiglu,
	.argmax = tf_kern_avx512_argmax,
};
