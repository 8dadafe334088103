/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AMX (built with -mamx-tile -mamx-bf16 plus the AVX-512 flags; used only
 * when CPUID, XCR0 and the kernel's ARCH_REQ_XCOMP_PERM allow it, kern.c):
 * the avx512bf16 table with the bf16 products on AMX tiles.
 *
 * Tiles (palette 1, every tile 16 rows x 64 bytes):
 *   A (tmm4, tmm5): 16 batch rows x 32 bf16 activations (row stride ldx)
 *   B (tmm6, tmm7): one 1 KiB block of a packed panel: 16 column pairs x
 *                   16 weight rows x 2 (kern.h layout, contiguous)
 *   C (tmm0..3):    16 batch rows x 16 weight rows, fp32
 * A block is up to 2 batch blocks x 2 panels (32 x 32 outputs); TDPBF16PS
 * runs over the padded K in 32-column steps. Each output depends only on its
 * batch row and weight row, so a batch row gets the same bits alone or in a
 * batch. Batch rows are taken 16 at a time: the activation buffer has
 * TF_BF16_ROWS(nb) readable rows; outputs of rows >= nb are never stored.
 */
#include <immintrin.h>
#include <string.h>

#include "../avx512/kern_avx512.h"
#include "../avx512bf16/kern_avx512bf16.h"

#define P 16 /* weight rows per panel = C tile columns */
#define AI static inline __attribute__((always_inline))

struct tilecfg {
	uint8_t palette;
	uint8_t start_row;
	uint8_t reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

static void
tiles_config(void)
{
	struct tilecfg c;

	memset(&c, 0, sizeof(c));
	c.palette = 1;
	for (int i = 0; i < 8; i++) {
		c.rows[i] = 16;
		c.colsb[i] = 64;
	}
	_tile_loadconfig(&c);
}

/* C tile -> out rows [b, b + 16) x weight rows [r, r + 16), clipped to nb
 * and r1. */
#define STORE(t, out, ldo, b, nb, r, r1)                                                           \
	do {                                                                                       \
		if ((b) + 16 <= (nb) && (r) + P <= (r1)) {                                         \
			_tile_stored(t, (out) + (size_t)(b) * (ldo) + (r), (ldo) * sizeof(float)); \
		} else {                                                                           \
			float buf_[16][P] __attribute__((aligned(64)));                            \
			_tile_stored(t, buf_, P * sizeof(float));                                  \
			store_part(out, ldo, buf_, b, nb, r, r1);                                  \
		}                                                                                  \
	} while (0)

static void
store_part(float *out, size_t ldo, float buf[16][P], uint32_t b, uint32_t nb, uint32_t r,
	   uint32_t r1)
{
	uint32_t live = r1 - r, rows = nb - b < 16 ? nb - b : 16;
	__mmask16 m = live >= P ? (__mmask16)0xffff : (__mmask16)((1u << live) - 1);

	for (uint32_t i = 0; i < rows; i++)
		_mm512_mask_storeu_ps(out + (size_t)(b + i) * ldo + r, m, _mm512_load_ps(buf[i]));
}

/*
 * NB batch blocks (1 or 2, from batch row b) x NP panels (1 or 2, from
 * weight row r; p0 is the first panel, the second follows it at pstride).
 */
AI void
block(float *out, size_t ldo, const uint16_t *x, size_t ldx, uint32_t nb, uint32_t b,
      const uint16_t *p0, size_t pstride, uint32_t ktiles, uint32_t r, uint32_t r1, const int NB,
      const int NP)
{
	const uint16_t *x0 = x + (size_t)b * ldx, *x1 = x0 + 16 * ldx;

	_tile_zero(0);
	if (NP == 2)
		_tile_zero(1);
	if (NB == 2) {
		_tile_zero(2);
		if (NP == 2)
			_tile_zero(3);
	}
	for (uint32_t kt = 0; kt < ktiles; kt++) {
		_tile_loadd(4, x0 + (size_t)kt * 32, ldx * sizeof(uint16_t));
		_tile_loadd(6, p0 + (size_t)kt * 16 * 2 * P, 2 * P * sizeof(uint16_t));
		if (NP == 2)
			_tile_loadd(7, p0 + pstride + (size_t)kt * 16 * 2 * P,
				    2 * P * sizeof(uint16_t));
		_tile_dpbf16ps(0, 4, 6);
		if (NP == 2)
			_tile_dpbf16ps(1, 4, 7);
		if (NB == 2) {
			_tile_loadd(5, x1 + (size_t)kt * 32, ldx * sizeof(uint16_t));
			_tile_dpbf16ps(2, 5, 6);
			if (NP == 2)
				_tile_dpbf16ps(3, 5, 7);
		}
	}
	STORE(0, out, ldo, b, nb, r, r1);
	if (NP == 2)
		STORE(1, out, ldo, b, nb, r + P, r1);
	if (NB == 2) {
		STORE(2, out, ldo, b + 16, nb, r, r1);
		if (NP == 2)
			STORE(3, out, ldo, b + 16, nb, r + P, r1);
	}
}

static void
matmul_bf16(float *out, size_t ldo, const uint16_t *x, size_t ldx, uint32_t nb,
	    const struct tf_matrix *w, uint32_t r0, uint32_t r1)
{
	const size_t K = TF_BF16_KPAD(w->cols), pstride = K * P;
	const uint32_t ktiles = (uint32_t)(K / 32);

	tiles_config();
	for (uint32_t r = r0; r < r1; r += 2 * P) {
		const uint16_t *p0 = (const uint16_t *)w->packed + (size_t)(r / P) * pstride;
		int two_p = r1 - r > P;

		for (uint32_t b = 0; b < nb; b += 32) {
			int two_b = nb - b > 16;

			if (two_b && two_p)
				block(out, ldo, x, ldx, nb, b, p0, pstride, ktiles, r, r1, 2, 2);
			else if (two_b)
				block(out, ldo, x, ldx, nb, b, p0, pstride, ktiles, r, r1, 2, 1);
			else if (two_p)
				block(out, ldo, x, ldx, nb, b, p0, pstride, ktiles, r, r1, 1, 2);
			else
				block(out, ldo, x, ldx, nb, b, p0, pstride, ktiles, r, r1, 1, 1);
		}
	}
	_tile_release(); /* back to the init state: context switches save no tiles */
}

const struct tf_kern_ops tf_kern_amx = {
	.name = "amx",
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
