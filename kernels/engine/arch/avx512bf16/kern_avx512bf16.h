/* SPDX-License-Identifier: BSD-3-Clause */
/* What the amx table shares with the avx512bf16 one (kern_avx512bf16.c). */
#ifndef TF_ENGINE_KERN_AVX512BF16_H
#define TF_ENGINE_KERN_AVX512BF16_H

#include "../../kern.h"

void tf_kern_avx512bf16_to_bf16(uint16_t *dst, const float *src, uint32_t n);
void tf_kern_avx512bf16_attn_scores(float *att, const float *q, const uint16_t *k, size_t ld,
				    uint32_t n, uint32_t hs, float div);
void tf_kern_avx512bf16_attn_values(float *out, const float *att, const uint16_t *v, size_t stride,
				    uint32_t n, uint32_t hs);

#endif /* TF_ENGINE_KERN_AVX512BF16_H */
