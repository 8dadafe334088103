/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CUDA kernels (see cuda_kern.h). Straightforward on purpose: one block per
 * output row (matrix products: per (weight row, batch row)), a strided loop
 * over k and a shuffle reduction; the comparison test holds them to the
 * same error bound as the CPU variants.
 */
#include <cuda_runtime.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cuda_kern.h"

#define THREADS 128
#define GROUP	32

static char g_err[256];

const char *
tf_cuda_last_error(void)
{
	return g_err;
}

static int
fail(cudaError_t e, const char *what)
{
	snprintf(g_err, sizeof(g_err), "%s: %s", what, cudaGetErrorString(e));
	return -EIO;
}

#define CK(call)                                                                               \
	do {                                                                                   \
		cudaError_t e_ = (call);                                                       \
		if (e_ != cudaSuccess) {                                                       \
			rc = fail(e_, #call);                                                  \
			goto out;                                                              \
		}                                                                              \
	} while (0)

int
tf_cuda_probe(char *why, size_t len)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess || n == 0) {
		if (why)
			snprintf(why, len, "no CUDA GPU (%s)",
				 e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
		return -ENODEV;
	}
	if (why)
		snprintf(why, len, "%d CUDA device(s)", n);
	return 0;
}

/* Sum over the block (blockDim.x == THREADS); the result in every thread. */
__device__ static float
block_sum(float v)
{
	__shared__ float part[THREADS / 32];

	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_down_sync(0xffffffffu, v, o);
	__syncthreads(); /* part[] may still be read by a previous call */
	if (threadIdx.x % 32 == 0)
		part[threadIdx.x / 32] = v;
	__syncthreads();
	v = 0;
	for (int i = 0; i < THREADS / 32; i++)
		v += part[i];
	return v;
}

__device__ static float
block_max(float v)
{
	__shared__ float part[THREADS / 32];

	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
	__syncthreads();
	if (threadIdx.x % 32 == 0)
		part[threadIdx.x / 32] = v;
	__syncthreads();
	v = part[0];
	for (int i = 1; i < THREADS / 32; i++)
		v = fmaxf(v, part[i]);
	return v;
}

/* grid (rows, nb) */
__global__ static void
k_matmul_f32(float *out, const float *x, const float *w, unsigned rows, unsigned cols)
{
	unsigned r = blockIdx.x, b = blockIdx.y;
	const float *wr = w + (size_t)r * cols, *xb = x + (size_t)b * cols;
	float acc = 0;

	for (unsigned k = threadIdx.x; k < cols; k += THREADS)
		acc = fmaf(wr[k], xb[k], acc);
	acc = block_sum(acc);
	if (threadIdx.x == 0)
		out[(size_t)b * rows + r] = acc;
}

__global__ static void
k_matmul_q8(float *out, const float *x, const signed char *q, const float *scale, unsigned rows,
	    unsigned cols)
{
	unsigned r = blockIdx.x, b = blockIdx.y, groups = cols / GROUP;
	const signed char *qr = q + (size_t)r * cols;
	const float *xb = x + (size_t)b * cols, *sr = scale + (size_t)r * groups;
	float acc = 0;

	for (unsigned k = threadIdx.x; k < cols; k += THREADS)
		acc = fmaf((float)qr[k] * sr[k / GROUP], xb[k], acc);
	acc = block_sum(acc);
	if (threadIdx.x == 0)
		out[(size_t)b * rows + r] = acc;
}

__global__ static void
k_rmsnorm(float *out, const float *x, const float *w, unsigned n, float eps)
{
	const float *xr = x + (size_t)blockIdx.x * n;
	float *o = out + (size_t)blockIdx.x * n, ss = 0;

	for (unsigned i = threadIdx.x; i < n; i += THREADS)
		ss = fmaf(xr[i], xr[i], ss);
	ss = rsqrtf(block_sum(ss) / (float)n + eps);
	for (unsigned i = threadIdx.x; i < n; i += THREADS)
		o[i] = w[i] * (ss * xr[i]);
}

__global__ static void
k_softmax(float *x, unsigned n)
{
	float *xr = x + (size_t)blockIdx.x * n, m = -INFINITY, s = 0;

	for (unsigned i = threadIdx.x; i < n; i += THREADS)
		m = fmaxf(m, xr[i]);
	m = block_max(m);
	for (unsigned i = threadIdx.x; i < n; i += THREADS) {
		xr[i] = expf(xr[i] - m);
		s += xr[i];
	}
	s = block_sum(s);
	for (unsigned i = threadIdx.x; i < n; i += THREADS)
		xr[i] /= s;
}

__global__ static void
k_swiglu(float *h1, const float *h3, unsigned n)
{
	unsigned i = blockIdx.x * THREADS + threadIdx.x;

	if (i < n) {
		float v = h1[i];

		h1[i] = v / (1.0f + expf(-v)) * h3[i];
	}
}

/* grid n: one block per position */
__global__ static void
k_attn_scores(float *att, const float *q, const float *k, size_t stride, unsigned hs, float div)
{
	const float *kt = k + blockIdx.x * stride;
	float acc = 0;

	for (unsigned i = threadIdx.x; i < hs; i += THREADS)
		acc = fmaf(q[i], kt[i], acc);
	acc = block_sum(acc);
	if (threadIdx.x == 0)
		att[blockIdx.x] = acc / div;
}

/* one thread per output element */
__global__ static void
k_attn_values(float *out, const float *att, const float *v, size_t stride, unsigned n, unsigned hs)
{
	unsigned i = blockIdx.x * THREADS + threadIdx.x;

	if (i < hs) {
		float acc = out[i];

		for (unsigned t = 0; t < n; t++)
			acc = fmaf(att[t], v[t * stride + i], acc);
		out[i] = acc;
	}
}

/* Device copies of host buffers, freed in reverse at the end. */
struct dbufs {
	void *p[6];
	int n;
};

static int
dput(struct dbufs *d, void **dst, const void *src, size_t bytes)
{
	cudaError_t e = cudaMalloc(dst, bytes ? bytes : 1);

	if (e != cudaSuccess)
		return fail(e, "cudaMalloc");
	d->p[d->n++] = *dst;
	if (src && bytes && (e = cudaMemcpy(*dst, src, bytes, cudaMemcpyHostToDevice)) != cudaSuccess)
		return fail(e, "cudaMemcpy to device");
	return 0;
}

static void
dfree(struct dbufs *d)
{
	while (d->n)
		cudaFree(d->p[--d->n]);
}

static int
finish(void *host, const void *dev, size_t bytes)
{
	cudaError_t e = cudaGetLastError();

	if (e != cudaSuccess)
		return fail(e, "kernel launch");
	if ((e = cudaDeviceSynchronize()) != cudaSuccess)
		return fail(e, "kernel run");
	if ((e = cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost)) != cudaSuccess)
		return fail(e, "cudaMemcpy to host");
	return 0;
}

int
tf_cuda_matmul_f32(float *out, const float *x, const float *w, uint32_t nb, uint32_t rows,
		   uint32_t cols)
{
	struct dbufs d = { { 0 }, 0 };
	void *dx, *dw, *dout;
	int rc;

	if ((rc = tf_cuda_probe(NULL, 0)) || (rc = dput(&d, &dx, x, sizeof(float) * nb * cols)) ||
	    (rc = dput(&d, &dw, w, sizeof(float) * rows * cols)) ||
	    (rc = dput(&d, &dout, NULL, sizeof(float) * nb * rows)))
		goto out;
	k_matmul_f32<<<dim3(rows, nb), THREADS>>>((float *)dout, (const float *)dx, (const float *)dw,
						   rows, cols);
	rc = finish(out, dout, sizeof(float) * nb * rows);
out:
	dfree(&d);
	return rc;
}

int
tf_cuda_matmul_q8(float *out, const float *x, const int8_t *q, const float *scale, uint32_t nb,
		  uint32_t rows, uint32_t cols)
{
	struct dbufs d = { { 0 }, 0 };
	void *dx, *dq, *ds, *dout;
	int rc;

	if (cols % GROUP)
		return -EINVAL;
	if ((rc = tf_cuda_probe(NULL, 0)) || (rc = dput(&d, &dx, x, sizeof(float) * nb * cols)) ||
	    (rc = dput(&d, &dq, q, (size_t)rows * cols)) ||
	    (rc = dput(&d, &ds, scale, sizeof(float) * rows * (cols / GROUP))) ||
	    (rc = dput(&d, &dout, NULL, sizeof(float) * nb * rows)))
		goto out;
	k_matmul_q8<<<dim3(rows, nb), THREADS>>>((float *)dout, (const float *)dx,
						  (const signed char *)dq, (const float *)ds, rows,
						  cols);
	rc = finish(out, dout, sizeof(float) * nb * rows);
out:
	dfree(&d);
	return rc;
}

int
tf_cuda_rmsnorm(float *out, const float *x, const float *w, uint32_t nrows, uint32_t n, float eps)
{
	struct dbufs d = { { 0 }, 0 };
	void *dx, *dw, *dout;
	int rc;

	if ((rc = tf_cuda_probe(NULL, 0)) || (rc = dput(&d, &dx, x, sizeof(float) * nrows * n)) ||
	    (rc = dput(&d, &dw, w, sizeof(float) * n)) ||
	    (rc = dput(&d, &dout, NULL, sizeof(float) * nrows * n)))
		goto out;
	k_rmsnorm<<<nrows, THREADS>>>((float *)dout, (const float *)dx, (const float *)dw, n, eps);
	rc = finish(out, dout, sizeof(float) * nrows * n);
out:
	dfree(&d);
	return rc;
}

int
tf_cuda_softmax(float *x, uint32_t nrows, uint32_t n)
{
	struct dbufs d = { { 0 }, 0 };
	void *dx;
	int rc;

	if ((rc = tf_cuda_probe(NULL, 0)) || (rc = dput(&d, &dx, x, sizeof(float) * nrows * n)))
		goto out;
	k_softmax<<<nrows, THREADS>>>((float *)dx, n);
	rc = finish(x, dx, sizeof(float) * nrows * n);
out:
	dfree(&d);
	return rc;
}

int
tf_cuda_swiglu(float *h1, const float *h3, uint32_t n)
{
	struct dbufs d = { { 0 }, 0 };
	void *d1, *d3;
	int rc;

	if ((rc = tf_cuda_probe(NULL, 0)) || (rc = dput(&d, &d1, h1, sizeof(float) * n)) ||
	    (rc = dput(&d, &d3, h3, sizeof(float) * n)))
		goto out;
	k_swiglu<<<(n + THREADS - 1) / THREADS, THREADS>>>((float *)d1, (const float *)d3, n);
	rc = finish(h1, d1, sizeof(float) * n);
out:
	dfree(&d);
	return rc;
}

int
tf_cuda_attn_scores(float *att, const float *q, const float *k, size_t stride, uint32_t n,
		    uint32_t hs, float div)
{
	struct dbufs d = { { 0 }, 0 };
	void *dq, *dk, *da;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = tf_cuda_probe(NULL, 0)) || (rc = dput(&d, &dq, q, sizeof(float) * hs)) ||
	    (rc = dput(&d, &dk, k, sizeof(float) * ((n - 1) * stride + hs))) ||
	    (rc = dput(&d, &da, NULL, sizeof(float) * n)))
		goto out;
	k_attn_scores<<<n, THREADS>>>((float *)da, (const float *)dq, (const float *)dk, stride, hs,
				       div);
	rc = finish(att, da, sizeof(float) * n);
out:
	dfree(&d);
	return rc;
}

int
tf_cuda_attn_values(float *out, const float *att, const float *v, size_t stride, uint32_t n,
		    uint32_t hs)
{
	struct dbufs d = { { 0 }, 0 };
	void *dout, *da, *dv;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = tf_cuda_probe(NULL, 0)) || (rc = dput(&d, &dout, out, sizeof(float) * hs)) ||
	    (rc = dput(&d, &da, att, sizeof(float) * n)) ||
	    (rc = dput(&d, &dv, v, sizeof(float) * ((n - 1) * stride + hs))))
		goto out;
	k_attn_values<<<(hs + THREADS - 1) / THREADS, THREADS>>>((float *)dout, (const float *)da,
								  (const float *)dv, stride, n, hs);
	rc = finish(out, dout, sizeof(float) * hs);
out:
	dfree(&d);
	return rc;
}
