/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Portable C kernels: the reference every SIMD variant is tested against,
 * and what runs on a CPU without AVX2. Written for clarity, not speed.
 */
#include <math.h>

#include "../../kern.h"

static void
matmul_f32(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
	   const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	uint32_t n = w->cols;

	for (uint32_t r = r0; r < r1; r++) {
		const float *wr = w->f32 + (size_t)r * n;

		for (uint32_t b = 0; b < nb; b++) {
			const float *xb = x + (size_t)b * ldx;
			float acc = 0.0f;

			for (uint32_t k = 0; k < n; k++)
				acc += wr[k] * xb[k];
			out[(size_t)b * ldo + r] = acc;
		}
	}
}

static void
matmul_q8(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
	  const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	uint32_t n = w->cols, groups = n / TF_Q8_GROUP;

	for (uint32_t r = r0; r < r1; r++) {
		const int8_t *qr = w->q8 + (size_t)r * n;
		const float *sr = w->scale + (size_t)r * groups;

		for (uint32_t b = 0; b < nb; b++) {
			const float *xb = x + (size_t)b * ldx;
			float acc = 0.0f;

			for (uint32_t k = 0; k < n; k++) {
				float wk = (float)qr[k] * sr[k / TF_Q8_GROUP];

				acc += wk * xb[k];
			}
			out[(size_t)b * ldo + r] = acc;
		}
	}
}

/* Each product of two bf16 values is exact in fp32: one rounding per step. */
void
tf_kern_matmul_bf16_generic(float *out, size_t ldo, const uint16_t *x, size_t ldx, uint32_t nb,
			    const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	uint32_t n = w->cols;

	for (uint32_t r = r0; r < r1; r++) {
		const uint16_t *wr = w->bf16 + (size_t)r * n;

		for (uint32_t b = 0; b < nb; b++) {
			const uint16_t *xb = x + (size_t)b * ldx;
			float acc = 0.0f;

			for (uint32_t k = 0; k < n; k++)
				acc += tf_bf16_float(wr[k]) * tf_bf16_float(xb[k]);
			out[(size_t)b * ldo + r] = acc;
		}
	}
}

void
tf_kern_to_bf16_generic(uint16_t *dst, const float *src, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		dst[i] = tf_bf16_round(src[i]);
}

static void
attn_scores(float *att, const float *q, const float *k, size_t ld, uint32_t n, uint32_t hs,
	    float div)
{
	for (uint32_t t = 0; t < n; t++) {
		float acc = 0.0f;

		for (uint32_t i = 0; i < hs; i++)
			acc += q[i] * k[i * ld + t];
		att[t] = acc / div;
	}
}

static void
attn_values(float *out, const float *att, const float *v, size_t stride, uint32_t n, uint32_t hs)
{
	for (uint32_t t = 0; t < n; t++)
		for (uint32_t i = 0; i < hs; i++)
			out[i] += att[t] * v[t * stride + i];
}

void
tf_kern_attn_scores_bf16_generic(float *att, const float *q, const uint16_t *k, size_t ld,
				 uint32_t n, uint32_t hs, float div)
{
	for (uint32_t t = 0; t < n; t++) {
		float acc = 0.0f;

		for (uint32_t i = 0; i < hs; i++)
			acc += q[i] * tf_bf16_float(k[i * ld + t]);
		att[t] = acc / div;
	}
}

void
tf_kern_attn_values_bf16_generic(float *out, const float *att, const uint16_t *v, size_t stride,
				 uint32_t n, uint32_t hs)
{
	for (uint32_t t = 0; t < n; t++)
		for (uint32_t i = 0; i < hs; i++)
			out[i] += att[t] * tf_bf16_float(v[t * stride + i]);
}

void
tf_kern_rmsnorm_generic(float *out, const float *x, const float *w, uint32_t n, float eps)
{
	float ss = 0.0f;

	for (uint32_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	ss = 1.0f / sqrtf(ss / (float)n + eps);
	for (uint32_t i = 0; i < n; i++)
		out[i] = w[i] * (ss * x[i]);
}

void
tf_kern_softmax_generic(float *x, uint32_t n)
{
	float max = x[0], sum = 0.0f;

	for (uint32_t i = 1; i < n; i++)
		max = x[i] > max ? x[i] : max;
	for (uint32_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	for (uint32_t i = 0; i < n; i++)
		x[i] /= sum;
}

void
tf_kern_swiglu_generic(float *h1, const float *h3, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		float v = h1[i];

		h1[i] = v * (1.0f / (1.0f + expf(-v))) * h3[i];
	}
}

int32_t
tf_kern_argmax_generic(const float *x, uint32_t n)
{
	float m = x[0];
	int32_t best = 0;
	int finite = 1;

	for (uint32_t i = 0; i < n; i++) {
		float v = x[i];

		finite &= v - v == 0.0f; /* false for inf and NaN */
		if (v > m) {
			m = v;
			best = (int32_t)i;
		}
	}
	return finite ? best : -1;
}

const struct tf_kern_ops tf_kern_generic = {
	.name = "generic",
	.matmul_f32 = matmul_f32,
	.matmul_q8 = matmul_q8,
	.matmul_bf16 = tf_kern_matmul_bf16_generic,
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
