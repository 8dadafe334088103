/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CUDA versions of the engine's kernels (same definitions as kern.h: row-major
 * weights, int8 with one scale per TF_Q8_GROUP weights). Built only where
 * nvcc exists (kernels/cuda/module.mk); elsewhere every call returns -ENODEV
 * and tf_cuda_probe() says why.
 *
 * These wrappers take host pointers, copy in, run the kernel, copy back: they
 * are what the comparison test drives. All return 0 or -errno (-ENODEV: no
 * usable GPU, -EIO: a CUDA call failed; tf_cuda_last_error() names it).
 */
#ifndef TF_CUDA_KERN_H
#define TF_CUDA_KERN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when a CUDA device can run kernels; else -ENODEV and the reason in why. */
int tf_cuda_probe(char *why, size_t len);
const char *tf_cuda_last_error(void);

/* out[b * rows + r] = sum_k w[r * cols + k] * x[b * cols + k] */
int tf_cuda_matmul_f32(float *out, const float *x, const float *w, uint32_t nb, uint32_t rows,
		       uint32_t cols);
/* the same with w[r][k] = q[r][k] * scale[r][k / 32]; cols % 32 == 0 */
int tf_cuda_matmul_q8(float *out, const float *x, const int8_t *q, const float *scale, uint32_t nb,
		      uint32_t rows, uint32_t cols);
/* per row of n: out = w * x / sqrt(mean(x^2) + eps) */
int tf_cuda_rmsnorm(float *out, const float *x, const float *w, uint32_t nrows, uint32_t n,
		    float eps);
/* per row of n, in place */
int tf_cuda_softmax(float *x, uint32_t nrows, uint32_t n);
/* h1 = silu(h1) * h3 */
int tf_cuda_swiglu(float *h1, const float *h3, uint32_t n);
/* att[t] = (q . k_t) / div; out += sum_t att[t] v_t; k_t, v_t stride floats apart */
int tf_cuda_attn_scores(float *att, const float *q, const float *k, size_t stride, uint32_t n,
			uint32_t hs, float div);
int tf_cuda_attn_values(float *out, const float *att, const float *v, size_t stride, uint32_t n,
			uint32_t hs);

#ifdef __cplusplus
}
#endif

#endif /* TF_CUDA_KERN_H */
