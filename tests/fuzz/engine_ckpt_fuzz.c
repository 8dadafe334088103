/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: a llama2.c checkpoint image (kernels/engine/model.c).
 * Whatever the bytes, parsing either fails cleanly or yields a layout that
 * lies inside the image; the model is then built over it (fp32, int8 and bf16) and
 * the far end of every tensor is read, so ASan sees any pointer past the
 * end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static volatile float g_sink;

static void
touch(const struct tf_matrix *m)
{
	if (m->f32)
		g_sink += m->f32[(size_t)m->rows * m->cols - 1];
	if (m->q8)
		g_sink += m->q8[(size_t)m->rows * m->cols - 1] + m->scale[0];
	if (m->bf16)
		g_sink += tf_bf16_float(m->bf16[(size_t)m->rows * m->cols - 1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_model_config c;
	struct tf_model_layout l;
	struct tf_model m;
	char err[256];

	if (tf_model_header_parse(data, size, &c, &l, err, sizeof(err)) != 0)
		return 0;
	if (28 + l.n_floats * 4 != size)
		abort(); /* parse accepted a size that does not match */
	for (int prec = 0; prec < 3; prec++) {
		/* the image must stay 4-byte aligned for the float pointers */
		void *copy = malloc(size);

		memcpy(copy, data, size);
		if (tf_model_init(&m, copy, size, (enum tf_engine_precision)prec, err,
				  sizeof(err)) == 0) {
			for (uint32_t i = 0; i < c.n_layers; i++) {
				const struct tf_layer *ly = &m.layers[i];

				touch(&ly->wq), touch(&ly->wk), touch(&ly->wv), touch(&ly->wo);
				touch(&ly->w1), touch(&ly->w2), touch(&ly->w3);
				g_sink += ly->rms_att[c.dim - 1] + ly->rms_ffn[c.dim - 1];
			}
			touch(&m.wcls);
			g_sink += m.emb[(size_t)c.vocab_size * c.dim - 1] + m.rms_final[c.dim - 1];
			g_sink += m.rope_cos[(size_t)c.seq_len * (c.head_size / 2) - 1];
			tf_model_free(&m);
		}
		free(copy);
	}
	return 0;
}
