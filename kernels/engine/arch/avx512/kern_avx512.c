/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AVX-512F kernels (built with -mavx512f -mfma; used only when CPUID says so).
 *
 * Matrix products read the packed panel layout (kern.h, P = 16 rows per
 * panel). A register tile is 2 panels (32 weight rows) x TOKS batch rows:
 * per k, two vector loads give 32 rows' weights, each batch row's x[k] is
 * broadcast and feeds two FMAs. 24 accumulators, no horizontal sums; the
 * weights stream sequentially, once per call for the whole batch. Every
 * output is one lane summed over k in order: identical in any tile shape.
 */
#include <immintrin.h>
#include <math.h>

#include "kern_avx512.h"

#define P 16 /* rows per panel = lanes */
#define TOKS 12 /* batch rows per tile */
#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* Dequantized weights of panel pq (int8 [cols][P]) at column k. */
AI __m512
deq(const int8_t *pq, uint32_t k, __m512 scale)
{
	__m512i q = _mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(pq + (size_t)k * P)));

	return _mm512_mul_ps(_mm512_cvtepi32_ps(q), scale);
}

AI void
fma_tile(__m512 acc[2][TOKS], __m512 w0, __m512 w1, const float *x, size_t ldx, uint32_t k,
	 const int R, const int T)
{
	UNROLL
	for (int j = 0; j < T; j++) {
		__m512 xb = _mm512_set1_ps(x[(size_t)j * ldx + k]);

		acc[0][j] = _mm512_fmadd_ps(w0, xb, acc[0][j]);
		if (R == 2)
			acc[1][j] = _mm512_fmadd_ps(w1, xb, acc[1][j]);
	}
}

/*
 * Rows [r, min(r + R * P, r1)) x batch rows [b, b + T). x points at batch row
 * b. pf: this is the first tile over these panels, so it prefetches ahead.
 */
AI void
tile(float *out, size_t ldo, const float *x, size_t ldx, const struct tf_matrix *w, uint32_t r,
     uint32_t r1, const int R, const int T, const int q8, int pf)
{
	const uint32_t n = w->cols;
	__m512 acc[2][TOKS];
	__m512 w1 = _mm512_setzero_ps();

	UNROLL
	for (int j = 0; j < T; j++)
		acc[0][j] = acc[1][j] = _mm512_setzero_ps();
	if (!q8) {
		const float *p0 = (const float *)w->packed + (size_t)(r / P) * n * P;
		const float *p1 = p0 + (size_t)n * P;

		for (uint32_t k = 0; k < n; k++) {
			__m512 w0 = _mm512_load_ps(p0 + (size_t)k * P);

			if (R == 2)
				w1 = _mm512_load_ps(p1 + (size_t)k * P);
			if (pf) { /* the next panel pair, into L2, one pair ahead */
				_mm_prefetch((const char *)(p0 + (size_t)(2 * n + k) * P),
					     _MM_HINT_T1);
				_mm_prefetch((const char *)(p0 + (size_t)(3 * n + k) * P),
					     _MM_HINT_T1);
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
			__m512 sc0 = _mm512_load_ps(s0 + (size_t)g * P), sc1 = sc0;

			if (R == 2)
				sc1 = _mm512_load_ps(s1 + (size_t)g * P);
			if (pf) { /* the group after next: 512 bytes per panel */
				UNROLL
				for (int l = 0; l < 8; l++)
					_mm_prefetch(
						(const char *)((l < 4 ? q0 : q1) +
							       (size_t)(g + 2) * TF_Q8_GROUP * P +
							       (l % 4) * 64),
						_MM_HINT_T0);
			}
			for (uint32_t k = g * TF_Q8_GROUP; k < (g + 1) * TF_Q8_GROUP; k++) {
				__m512 w0 = deq(q0, k, sc0);

				if (R == 2)
					w1 = deq(q1, k, sc1);
				fma_tile(acc, w0, w1, x, ldx, k, R, T);
			}
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

/* Every batch row for weight rows [r, ...): full tiles, then the tail. */
AI void
panels(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb, const struct tf_matrix *w,
       uint32_t r, uint32_t r1, const int R, const int q8)
{
	uint32_t b = 0;
	int pf = r + 2 * P < w->rows; /* first tile over these panels, and a next pair exists */

	for (; b + TOKS <= nb; b += TOKS, pf = 0)
		tile(out + (size_t)b * ldo, ldo, x + (size_t)b * ldx, ldx, w, r, r1, R, TOKS, q8,
		     pf);
	out += (size_t)b * ldo;
	x += (size_t)b * ldx;
	switch (nb - b) {
	case 11:
		tile(out, ldo, x, ldx, w, r, r1, R, 11, q8, pf);
		break;
	case 10:
		tile(out, ldo, x, ldx, w, r, r1, R, 10, q8, pf);
		break;
	case 9:
		tile(out, ldo, x, ldx, w, r, r1, R, 9, q8, pf);
		break;
	case 8:
		tile(out, ldo, x, ldx, w, r, r1, R, 8, q8, pf);
		break;
	case 7:
		tile(out, ldo, x, ldx, w, r, r1, R, 7, q8, pf);
		break;
	case 6:
		tile(out, ldo, x, ldx, w, r, r1, R, 6, q8, pf);
		break;
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

void
tf_kern_avx512_matmul_f32(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
			  const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	matmul(out, ldo, x, ldx, nb, w, r0, r1, 0);
}

void
tf_kern_avx512_matmul_q8(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
			 const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	matmul(out, ldo, x, ldx, nb, w, r0, r1, 1);
}

#define HV 4 /* head sizes up to HV * 16 keep out in registers */

AI __mmask16
tail(uint32_t live)
{
	return live >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << live) - 1);
}

AI __mmask16
lanes(uint32_t hs, int c)
{
	return tail(hs - (uint32_t)c * 16);
}

/* 16 positions per vector (the keys are transposed): per head element i one
 * broadcast q[i] times k[i][t..t+16), in four chains over i (i mod 4),
 * summed pairwise at the end. No horizontal sums. */
void
tf_kern_avx512_attn_scores(float *att, const float *q, const float *k, size_t ld, uint32_t n,
			   uint32_t hs, float div)
{
	const __m512 vdiv = _mm512_set1_ps(div);

	for (uint32_t t = 0; t < n; t += 16) {
		const __mmask16 m = tail(n - t);
		const float *kt = k + t;
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		uint32_t i = 0;

		for (; i + 4 <= hs; i += 4) {
			a0 = _mm512_fmadd_ps(_mm512_set1_ps(q[i]),
					     _mm512_maskz_loadu_ps(m, kt + i * ld), a0);
			a1 = _mm512_fmadd_ps(_mm512_set1_ps(q[i + 1]),
					     _mm512_maskz_loadu_ps(m, kt + (i + 1) * ld), a1);
			a2 = _mm512_fmadd_ps(_mm512_set1_ps(q[i + 2]),
					     _mm512_maskz_loadu_ps(m, kt + (i + 2) * ld), a2);
			a3 = _mm512_fmadd_ps(_mm512_set1_ps(q[i + 3]),
					     _mm512_maskz_loadu_ps(m, kt + (i + 3) * ld), a3);
		}
		for (; i < hs; i++)
			a0 = _mm512_fmadd_ps(_mm512_set1_ps(q[i]),
					     _mm512_maskz_loadu_ps(m, kt + i * ld), a0);
		a0 = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
		_mm512_mask_storeu_ps(att + t, m, _mm512_div_ps(a0, vdiv));
	}
}

/* Even and odd positions in two sets of accumulators (the FMA latency, not
 * the loads, bounds one set), added at the end. */
void
tf_kern_avx512_attn_values(float *out, const float *att, const float *v, size_t stride, uint32_t n,
			   uint32_t hs)
{
	int nv = (int)((hs + 15) / 16);
	__m512 ov[HV], ow[HV];

	if (nv > HV) {
		tf_kern_generic.attn_values(out, att, v, stride, n, hs);
		return;
	}
	UNROLL
	for (int c = 0; c < HV; c++)
		ov[c] = ow[c] = _mm512_setzero_ps();
	UNROLL
	for (int c = 0; c < HV; c++)
		if (c < nv)
			ov[c] = _mm512_maskz_loadu_ps(lanes(hs, c), out + c * 16);
	for (uint32_t t = 0; t < n; t += 2) {
		__m512 a = _mm512_set1_ps(att[t]);
		__m512 b = _mm512_set1_ps(t + 1 < n ? att[t + 1] : 0.0f);
		const float *vt = v + t * stride, *vu = t + 1 < n ? vt + stride : vt;

		UNROLL
		for (int c = 0; c < HV; c++)
			if (c < nv) {
				ov[c] = _mm512_fmadd_ps(
					a, _mm512_maskz_loadu_ps(lanes(hs, c), vt + c * 16), ov[c]);
				ow[c] = _mm512_fmadd_ps(
					b, _mm512_maskz_loadu_ps(lanes(hs, c), vu + c * 16), ow[c]);
			}
	}
	UNROLL
	for (int c = 0; c < HV; c++)
		if (c < nv)
			_mm512_mask_storeu_ps(out + c * 16, lanes(hs, c),
					      _mm512_add_ps(ov[c], ow[c]));
}

/*
 * e^x: x = n ln2 + r (n integer, |r| <= ln2 / 2, ln2 split in two so n ln2
 * is exact), e^r by its Taylor polynomial to degree 7 (truncation below
 * 6e-9 relative), times 2^n by VSCALEFPS (overflow to inf, underflow to 0).
 * Within a few ulp of expf; NaN stays NaN (MIN/MAXPS return their second
 * operand when either is NaN).
 */
AI __m512
exp_ps(__m512 x)
{
	__m512 n, r, p;

	x = _mm512_min_ps(_mm512_set1_ps(88.8f), x);
	x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
	n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
				 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440054690583e-4f), r);
	p = _mm512_set1_ps(1.0f / 5040.0f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	return _mm512_scalef_ps(p, n);
}

void
tf_kern_avx512_softmax(float *x, uint32_t n)
{
	__m512 vmax = _mm512_set1_ps(-INFINITY), vsum = _mm512_setzero_ps(), vm;
	float max;

	for (uint32_t i = 0; i < n; i += 16)
		vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(vmax, tail(n - i), x + i));
	max = _mm512_reduce_max_ps(vmax);
	vm = _mm512_set1_ps(max);
	for (uint32_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n - i);
		__m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm));

		vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(m, e));
		_mm512_mask_storeu_ps(x + i, m, e);
	}
	vsum = _mm512_set1_ps(_mm512_reduce_add_ps(vsum));
	for (uint32_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n - i);

		_mm512_mask_storeu_ps(x + i, m,
				      _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vsum));
	}
}

void
tf_kern_avx512_swiglu(float *h1, const float *h3, uint32_t n)
{
	const __m512 one = _mm512_set1_ps(1.0f);

	for (uint32_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n - i);
		__m512 v = _mm512_maskz_loadu_ps(m, h1 + i);
		__m512 s = _mm512_div_ps(
			v, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), v))));

		_mm512_mask_storeu_ps(h1 + i, m,
				      _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, h3 + i)));
	}
}

void
tf_kern_avx512_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, sc;
	float ss;

	for (uint32_t i = 0; i < n; i += 32) {
		__m512 v = _mm512_maskz_loadu_ps(tail(n - i), x + i);
		__m512 u = i + 16 < n ? _mm512_maskz_loadu_ps(tail(n - i - 16), x + i + 16)
				      : _mm512_setzero_ps();

		a0 = _mm512_fmadd_ps(v, v, a0);
		a1 = _mm512_fmadd_ps(u, u, a1);
	}
	ss = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
	sc = _mm512_set1_ps(1.0f / sqrtf(ss / (float)n + eps));
	for (uint32_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n - i);

		_mm512_mask_storeu_ps(
			out + i, m,
			_mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + i),
				      _mm512_mul_ps(sc, _mm512_maskz_loadu_ps(m, x + i))));
	}
}

/* Per lane: the largest value and the first index holding it; then the
 * smallest index among lanes holding the overall largest. */
int32_t
tf_kern_avx512_argmax(const float *x, uint32_t n)
{
	__m512 vmax = _mm512_set1_ps(-INFINITY);
	__m512i vidx = _mm512_setzero_si512(),
		idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m512i step = _mm512_set1_epi32(16);
	__mmask16 bad = 0;
	float m;
	int32_t best = INT32_MAX;

	for (uint32_t k = 0; k < n; k += 16) {
		__mmask16 live = n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - k)) - 1);
		__m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), live, x + k);
		__mmask16 gt = _mm512_cmp_ps_mask(v, vmax, _CMP_GT_OQ);

		/* v - v is 0 for finite v, NaN for inf and NaN */
		bad |= live &
		       ~_mm512_cmp_ps_mask(_mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_EQ_OQ);
		vmax = _mm512_mask_mov_ps(vmax, gt, v);
		vidx = _mm512_mask_mov_epi32(vidx, gt, idx);
		idx = _mm512_add_epi32(idx, step);
	}
	if (bad)
		return -1;
	m = _mm512_reduce_max_ps(vmax);
	if (m == -INFINITY) /* n == 0 cannot happen; all -inf was caught above */
		return 0;
	best = _mm512_mask_reduce_min_epi32(_mm512_cmp_ps_mask(vmax, _mm512_set1_ps(m), _CMP_EQ_OQ),
					    vidx);
	return best;
}

const struct tf_kern_ops tf_kern_avx512 = {
	.name = "avx512",
	.panel = P,
	.matmul_f32 = tf_kern_avx512_matmul_f32,
	.matmul_q8 = tf_kern_avx512_matmul_q8,
	.matmul_bf16 = tf_kern_matmul_bf16_generic, /* AVX-512F has no bf16 products */
	.to_bf16 = tf_kern_to_bf16_generic,
	.attn_scores = tf_kern_avx512_attn_scores,
	.attn_values = tf_kern_avx512_attn_values,
	.attn_scores_bf16 = tf_kern_attn_scores_bf16_generic, /* 16-bit masks need AVX512BW */
	.attn_values_bf16 = tf_kern_attn_values_bf16_generic,
	.rmsnorm = tf_kern_avx512_rmsnorm,
	.softmax = tf_kern_avx512_softmax,
	.swiglu = tf_kern_avx512_swiglu,
	.argmax = tf_kern_avx512_argmax,
};
