/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Compute kernels: one `const struct tf_kern_ops` per instruction-set variant
 * (arch/generic: portable C reference; arch/avx2; arch/avx512), chosen at run
 * time by CPUID. The forward pass only calls through the table.
 *
 * Matrix products: out[b * ldo + r] = sum_k W[r][k] * x[b * ldx + k] for every
 * batch row b < nb and weight row r in [r0, r1): the weight rows are read once
 * for the whole batch. Each (r, b) result is summed in the same order whatever
 * the batch size, the tile it falls in or the thread that computes it, so a
 * sequence gets bit-identical results alone or in a batch.
 *
 * int8 weights: W[r][k] = q[r][k] * scale[r][k / TF_Q8_GROUP] (rounded to fp32),
 * then the same fp32 product.
 */
#ifndef TF_ENGINE_KERN_H
#define TF_ENGINE_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef void tf_kern_matmul_fn(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
			       const struct tf_matrix *w, uint32_t r0, uint32_t r1);

struct tf_kern_ops {
	const char *name;
	tf_kern_matmul_fn *matmul_f32; /* uses w->f32 */
	tf_kern_matmul_fn *matmul_q8;  /* uses w->q8, w->scale; cols % TF_Q8_GROUP == 0 */
	float (*dot)(const float *a, const float *b, uint32_t n);
	void (*axpy)(float *y, float a, const float *x, uint32_t n); /* y += a * x */
	/* out = w * x / sqrt(mean(x^2) + eps) */
	void (*rmsnorm)(float *out, const float *x, const float *w, uint32_t n, float eps);
	void (*softmax)(float *x, uint32_t n);
	void (*swiglu)(float *h1, const float *h3, uint32_t n); /* h1 = silu(h1) * h3 */
};

extern const struct tf_kern_ops tf_kern_generic;
extern const struct tf_kern_ops tf_kern_avx2;
extern const struct tf_kern_ops tf_kern_avx512;

/* name NULL or "auto": the best variant this CPU runs. NULL with *rc set to
 * -ENOENT (unknown name) or -ENOTSUP (this CPU cannot run it). */
const struct tf_kern_ops *tf_kern_select(const char *name, int *rc);

/* Every compiled variant, best first; *usable says whether this CPU runs it. */
unsigned int tf_kern_count(void);
const struct tf_kern_ops *tf_kern_get(unsigned int i, int *usable);

/* The portable reference functions the SIMD tables reuse where SIMD buys nothing. */
void tf_kern_rmsnorm_generic(float *out, const float *x, const float *w, uint32_t n, float eps);
void tf_kern_softmax_generic(float *x, uint32_t n);
void tf_kern_swiglu_generic(float *h1, const float *h3, uint32_t n);

#endif /* TF_ENGINE_KERN_H */
