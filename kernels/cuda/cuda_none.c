/* SPDX-License-Identifier: BSD-3-Clause */
/* Built instead of cuda_kern.cu where nvcc was not found: every kernel
 * reports -ENODEV, so callers (and the comparison test) say why. */
#include <errno.h>
#include <stdio.h>

#include "cuda_kern.h"

#define WHY "built without CUDA: nvcc was not found when tokfab was compiled"

int
tf_cuda_probe(char *why, size_t len)
{
	if (why)
		snprintf(why, len, "%s", WHY);
	return -ENODEV;
}

const char *
tf_cuda_last_error(void)
{
	return WHY;
}

int
tf_cuda_matmul_f32(float *out, const float *x, const float *w, uint32_t nb, uint32_t rows,
		   uint32_t cols)
{
	(void)out, (void)x, (void)w, (void)nb, (void)rows, (void)cols;
	return -ENODEV;
}

int
tf_cuda_matmul_q8(float *out, const float *x, const int8_t *q, const float *scale, uint32_t nb,
		  uint32_t rows, uint32_t cols)
{
	(void)out, (void)x, (void)q, (void)scale, (void)nb, (void)rows, (void)cols;
	return -ENODEV;
}

int
tf_cuda_rmsnorm(float *out, const float *x, const float *w, uint32_t nrows, uint32_t n, float eps)
{
	(void)out, (void)x, (void)w, (void)nrows, (void)n, (void)eps;
	return -ENODEV;
}

int
tf_cuda_softmax(float *x, uint32_t nrows, uint32_t n)
{
	(void)x, (void)nrows, (void)n;
	return -ENODEV;
}

int
tf_cuda_swiglu(float *h1, const float *h3, uint32_t n)
{
	(void)h1, (void)h3, (void)n;
	return -ENODEV;
}

int
tf_cuda_attn_scores(float *att, const float *q, const float *k, size_t stride, uint32_t n,
		    uint32_t hs, float div)
{
	(void)att, (void)q, (void)k, (void)stride, (void)n, (void)hs, (void)div;
	return -ENODEV;
}

int
tf_cuda_attn_values(float *out, const float *att, const float *v, size_t stride, uint32_t n,
		    uint32_t hs)
{
	(void)out, (void)att, (void)v, (void)stride, (void)n, (void)hs;
	return -ENODEV;
}
