/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Compute kernels: one `const struct tf_kern_ops` per instruction-set variant
 * (arch/generic: portable C reference; arch/avx2; arch/avx512;
 * arch/avx512bf16: AVX-512 plus VDPBF16PS for bf16 products; arch/amx: the
 * same plus AMX tiles for them), chosen at run time by CPUID. The forward
 * pass only calls through the table.
 *
 * Matrix products: out[b * ldo + r] = sum_k W[r][k] * x[b * ldx + k] for every
 * batch row b < nb and weight row r in [r0, r1): the weight rows are read once
 * for the whole batch. Each (r, b) result is summed in the same order whatever
 * the batch size, the tile it falls in or the thread that computes it, so a
 * sequence gets bit-identical results alone or in a batch.
 *
 * int8 weights: W[r][k] = q[r][k] * scale[r][k / TF_Q8_GROUP] (rounded to fp32),
 * then the same fp32 product.
 *
 * bf16 products: W and x both bf16 (x converted by to_bf16() before the
 * product), every product exact in fp32, summed in fp32: out = sum_k W x.
 * x rows hold ldx >= TF_BF16_KPAD(cols) bf16 values, those in [cols,
 * TF_BF16_KPAD(cols)) zero, and TF_BF16_ROWS(nb) rows are readable (a
 * variant may compute rows past nb from them; it never writes them). Each
 * (r, b) result depends on W row r and x row b only: bit-identical alone or
 * in a batch, within one variant. Variants may sum in different orders
 * (AMX, VDPBF16PS): they agree with the reference within the fp32 bound.
 *
 * Weight layout: the generic variant reads W row-major in place. A SIMD
 * variant with panel = P reads a packed copy (tf_kern_pack()): rows in panels
 * of P, each panel k-major (P weights of column k side by side), so one
 * vector load gives P rows' weights for one k and a tile accumulates
 * out[b][r..r+P) with broadcast FMAs and no horizontal sums. r0 must then be a
 * multiple of P (chunks of TF_KERN_ROW_ALIGN rows satisfy every variant).
 *   fp32 panel p: float  [cols][P]                      (rows past the end: 0)
 *   int8 panel p: int8_t [cols][P], then float [cols / TF_Q8_GROUP][P] scales
 * bf16 (panel_bf16 = P, 16 for every variant that packs): columns in pairs,
 * the pair of each row side by side, K padded with zeros to TF_BF16_KPAD:
 *   bf16 panel p: uint16_t [TF_BF16_KPAD(cols) / 2][P][2]
 * so 16 pair-rows (32 columns) of a panel are one 1 KiB AMX B tile and one
 * pair-row is one VDPBF16PS operand.
 */
#ifndef TF_ENGINE_KERN_H
#define TF_ENGINE_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef void tf_kern_matmul_fn(float *out, size_t ldo, const float *x, size_t ldx, uint32_t nb,
			       const struct tf_matrix *w, uint32_t r0, uint32_t r1);
typedef void tf_kern_matmul_bf16_fn(float *out, size_t ldo, const uint16_t *x, size_t ldx,
				    uint32_t nb, const struct tf_matrix *w, uint32_t r0,
				    uint32_t r1);

#define TF_KERN_ROW_ALIGN 32u /* a multiple of every variant's panel */
#define TF_BF16_KPAD(n) (((n) + 31u) / 32u * 32u) /* bf16 columns, padded to AMX tiles */
#define TF_BF16_ROWS(n) (((n) + 15u) / 16u * 16u) /* bf16 activation rows readable */

struct tf_kern_ops {
	const char *name;
	uint32_t panel; /* rows per packed panel; 0: W read row-major in place */
	tf_kern_matmul_fn *matmul_f32; /* w->f32, or w->packed when panel */
	tf_kern_matmul_fn *matmul_q8; /* w->q8 + w->scale, or w->packed; cols % TF_Q8_GROUP == 0 */
	uint32_t panel_bf16; /* 0: matmul_bf16 reads w->bf16 row-major; else 16 */
	tf_kern_matmul_bf16_fn *matmul_bf16; /* w->bf16, or w->packed */
	/* dst[i] = tf_bf16_round(src[i]), i < n (exact: every variant alike) */
	void (*to_bf16)(uint16_t *dst, const float *src, uint32_t n);
	/* Attention over n positions of one KV block: key element i of position
	 * t at k[i * ld + t] (the cache's transposed keys), value vector t (hs
	 * floats) at v + t * stride: att[t] = (q . k_t) / div;
	 * out += sum_t att[t] v_t. Each att[t] depends on q and k_t only, and
	 * out's sum on (att, v) only, so a position gives the same bits in any
	 * call that covers it with the same block. */
	void (*attn_scores)(float *att, const float *q, const float *k, size_t ld, uint32_t n,
			    uint32_t hs, float div);
	void (*attn_values)(float *out, const float *att, const float *v, size_t stride, uint32_t n,
			    uint32_t hs);
	/* The same over a bf16 KV cache (the bf16 precision): each key / value
	 * element widened to fp32 (exact), then the fp32 arithmetic above. */
	void (*attn_scores_bf16)(float *att, const float *q, const uint16_t *k, size_t ld,
				 uint32_t n, uint32_t hs, float div);
	void (*attn_values_bf16)(float *out, const float *att, const uint16_t *v, size_t stride,
				 uint32_t n, uint32_t hs);
	/* out = w * x / sqrt(mean(x^2) + eps) */
	void (*rmsnorm)(float *out, const float *x, const float *w, uint32_t n, float eps);
	void (*softmax)(float *x, uint32_t n);
	void (*swiglu)(float *h1, const float *h3, uint32_t n); /* h1 = silu(h1) * h3 */
	/* Index of the largest of x[0..n) (the first of equals), -1 if any is
	 * not finite. Exact: every variant returns the same index. */
	int32_t (*argmax)(const float *x, uint32_t n);
};

extern const struct tf_kern_ops tf_kern_generic;
extern const struct tf_kern_ops tf_kern_avx2;
extern const struct tf_kern_ops tf_kern_avx512;
extern const struct tf_kern_ops tf_kern_avx512bf16;
extern const struct tf_kern_ops tf_kern_amx;

/* name NULL or "auto": the best variant this CPU runs. NULL with *rc set to
 * -ENOENT (unknown name) or -ENOTSUP (this CPU cannot run it). */
const struct tf_kern_ops *tf_kern_select(const char *name, int *rc);

/* Every compiled variant, best first; *usable says whether this CPU runs it. */
unsigned int tf_kern_count(void);
const struct tf_kern_ops *tf_kern_get(unsigned int i, int *usable);

/* Bytes of the packed copy of a rows x cols matrix of precision prec for
 * ops (0: that variant reads it unpacked). */
size_t tf_kern_pack_size(const struct tf_kern_ops *ops, uint32_t rows, uint32_t cols,
			 enum tf_engine_precision prec);
/* Writes it into dst (64-byte aligned, tf_kern_pack_size() bytes) from w's
 * f32, q8 + scale, or bf16 weights. */
void tf_kern_pack(const struct tf_kern_ops *ops, const struct tf_matrix *w,
		  enum tf_engine_precision prec, void *dst);

/* Rows [r0, r1) of w (r0 a multiple of TF_KERN_ROW_ALIGN) as a matrix of
 * their own, in every layout w has (row-major and ops' packed one). */
void tf_kern_rows(const struct tf_kern_ops *ops, enum tf_engine_precision prec,
		  const struct tf_matrix *w, uint32_t r0, uint32_t r1, struct tf_matrix *out);

/* The portable reference functions the SIMD tables reuse where SIMD buys nothing. */
void tf_kern_rmsnorm_generic(float *out, const float *x, const float *w, uint32_t n, float eps);
void tf_kern_softmax_generic(float *x, uint32_t n);
void tf_kern_swiglu_generic(float *h1, const float *h3, uint32_t n);
int32_t tf_kern_argmax_generic(const float *x, uint32_t n);
void tf_kern_matmul_bf16_generic(float *out, size_t ldo, const uint16_t *x, size_t ldx, uint32_t nb,
				 const struct tf_matrix *w, uint32_t r0, uint32_t r1);
void tf_kern_to_bf16_generic(uint16_t *dst, const float *src, uint32_t n);
void tf_kern_attn_scores_bf16_generic(float *att, const float *q, const uint16_t *k, size_t ld,
				      uint32_t n, uint32_t hs, float div);
void tf_kern_attn_values_bf16_generic(float *out, const float *att, const uint16_t *v,
				      size_t stride, uint32_t n, uint32_t hs);

#endif /* TF_ENGINE_KERN_H */
