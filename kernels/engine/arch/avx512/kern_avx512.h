/* SPDX-License-Identifier: BSD-3-Clause */
/* The AVX-512F kernels the avx512bf16 and amx tables share (kern_avx512.c). */
#ifndef TF_ENGINE_KERN_AVX512_H
#define TF_ENGINE_KERN_AVX512_H

#include "../../kern.h"

tf_kern_matmul_fn tf_kern_avx512_matmul_f32;
tf_kern_matmul_fn tf_kern_avx512_matmul_q8;
void tf_kern_avx512_attn_scores(float *att, const float *q, const float *k, size_t ld, uint32_t n,
				uint32_t hs, float div);
void tf_kern_avx512_attn_values(float *out, const float *att, const float *v, size_t stride,
				uint32_t n, uint32_t hs);
int32_t tf_kern_avx512_argmax(const float *x, uint32_t n);
void tf_kern_avx512_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps);
void tf_kern_avx512_softmax(float *x, uint32_t n);
void tf_kern_avx512_swiglu(float *h1, const float *h3, uint32_t n);

#endif /* TF_ENGINE_KERN_AVX512_H */
