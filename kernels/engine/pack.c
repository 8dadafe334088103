/* SPDX-License-Identifier: BSD-3-Clause */
/* Packed weight copies for the SIMD variants' panel layouts (kern.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "errmsg.h"
#include "kern.h"
#include "model.h"

static size_t
panel_of(const struct tf_kern_ops *ops, enum tf_engine_precision prec)
{
	return prec == TF_ENGINE_BF16 ? ops->panel_bf16 : ops->panel;
}

size_t
tf_kern_pack_size(const struct tf_kern_ops *ops, uint32_t rows, uint32_t cols,
		  enum tf_engine_precision prec)
{
	size_t P = panel_of(ops, prec), panels;

	if (!P)
		return 0;
	panels = (rows + P - 1) / P;
	if (prec == TF_ENGINE_BF16)
		return panels * TF_BF16_KPAD((size_t)cols) * P * sizeof(uint16_t);
	if (prec == TF_ENGINE_INT8)
		return panels * ((size_t)cols * P + (size_t)cols / TF_Q8_GROUP * P * sizeof(float));
	return panels * (size_t)cols * P * sizeof(float);
}

/* bf16 panel p: [K / 2][P][2], K = TF_BF16_KPAD(cols), zeros past the matrix. */
static void
pack_bf16(size_t P, const struct tf_matrix *w, uint16_t *dst)
{
	size_t panels = (w->rows + P - 1) / P, K = TF_BF16_KPAD((size_t)w->cols);

	for (size_t p = 0; p < panels; p++) {
		uint16_t *pp = dst + p * K * P;

		for (size_t l = 0; l < P; l++) {
			size_t r = p * P + l;

			for (size_t k = 0; k < K; k++)
				pp[(k / 2) * P * 2 + l * 2 + k % 2] =
					r < w->rows && k < w->cols ? w->bf16[r * w->cols + k] : 0;
		}
	}
}

void
tf_kern_pack(const struct tf_kern_ops *ops, const struct tf_matrix *w,
	     enum tf_engine_precision prec, void *dst)
{
	size_t P = panel_of(ops, prec), panels = (w->rows + P - 1) / P, G = w->cols / TF_Q8_GROUP;

	if (prec == TF_ENGINE_BF16) {
		pack_bf16(P, w, dst);
		return;
	}
	for (size_t p = 0; p < panels; p++) {
		for (size_t l = 0; l < P; l++) {
			size_t r = p * P + l;
			int live = r < w->rows;

			if (prec == TF_ENGINE_FP32) {
				float *pf = (float *)dst + p * w->cols * P;

				for (size_t k = 0; k < w->cols; k++)
					pf[k * P + l] = live ? w->f32[r * w->cols + k] : 0.0f;
				continue;
			}
			int8_t *pq = (int8_t *)dst + p * (w->cols * P + G * P * sizeof(float));
			float *ps = (float *)(pq + w->cols * P);

			for (size_t k = 0; k < w->cols; k++)
				pq[k * P + l] = live ? w->q8[r * w->cols + k] : 0;
			for (size_t g = 0; g < G; g++)
				ps[g * P + l] = live ? w->scale[r * G + g] : 0.0f;
		}
	}
}

void
tf_kern_rows(const struct tf_kern_ops *ops, enum tf_engine_precision prec,
	     const struct tf_matrix *w, uint32_t r0, uint32_t r1, struct tf_matrix *out)
{
	size_t P = panel_of(ops, prec), n = w->cols;

	*out = *w;
	out->rows = r1 - r0;
	out->f32 = w->f32 ? w->f32 + (size_t)r0 * n : NULL;
	out->q8 = w->q8 ? w->q8 + (size_t)r0 * n : NULL;
	out->scale = w->scale ? w->scale + (size_t)r0 * (n / TF_Q8_GROUP) : NULL;
	out->bf16 = w->bf16 ? w->bf16 + (size_t)r0 * n : NULL;
	if (w->packed && P)
		out->packed = (const unsigned char *)w->packed +
			      r0 / P * tf_kern_pack_size(ops, (uint32_t)P, w->cols, prec);
}

int
tf_model_pack(struct tf_model *m, const struct tf_kern_ops *ops, char *err, size_t errlen)
{
	enum tf_engine_precision prec = m->precision;
	struct tf_matrix **mats;
	size_t n, bytes = 0;
	unsigned char *mem;

	if (!panel_of(ops, prec))
		return 0;
	mats = calloc((size_t)m->cfg.n_layers * 7 + 1, sizeof(*mats));
	if (!mats)
		return tf_eng_err(err, errlen, -ENOMEM, "out of memory for the packed weights");
	n = tf_model_matrices(m, mats);
	for (size_t i = 0; i < n; i++)
		bytes += (tf_kern_pack_size(ops, mats[i]->rows, mats[i]->cols, prec) + 63) &
			 ~(size_t)63;
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		free(mats);
		return tf_eng_err(err, errlen, -ENOMEM,
				  "out of memory: the packed weights need %zu bytes", bytes);
	}
	madvise(mem, bytes, MADV_HUGEPAGE); /* a hint: the weights stream with fewer TLB misses */
	m->pack_mem = mem;
	m->pack_len = bytes;
	for (size_t i = 0; i < n; i++) {
		tf_kern_pack(ops, mats[i], prec, mem);
		mats[i]->packed = mem;
		mem += (tf_kern_pack_size(ops, mats[i]->rows, mats[i]->cols, prec) + 63) &
		       ~(size_t)63;
	}
	/* int8 / bf16 row-major copies are only the source of the packed ones */
	free(m->q8_mem);
	m->q8_mem = NULL;
	free(m->bf16_mem);
	m->bf16_mem = NULL;
	for (size_t i = 0; i < n; i++)
		mats[i]->q8 = NULL, mats[i]->scale = NULL, mats[i]->bf16 = NULL;
	free(mats);
	return 0;
}
