/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * llama2.c checkpoint (legacy "version 0" .bin): header parsing, the weight
 * layout it implies, memory mapping and the int8 / bf16 copies. hwdocs/model-format.md
 * is the normative description of the bytes.
 */
#ifndef TF_ENGINE_MODEL_H
#define TF_ENGINE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define TF_MODEL_HEADER_BYTES 28u /* 7 x int32 little endian */
#define TF_Q8_GROUP 32u /* weights per int8 scale */

/* fp32 -> bf16 as VCVTNEPS2BF16 does it: round to nearest even, denormal
 * inputs to signed zero, NaN kept quiet. */
static inline uint16_t
tf_bf16_round(float f)
{
	uint32_t u;

	__builtin_memcpy(&u, &f, sizeof(u));
	if ((u & 0x7f800000u) == 0)
		return (uint16_t)((u >> 16) & 0x8000u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x0040u);
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float
tf_bf16_float(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	__builtin_memcpy(&f, &u, sizeof(f));
	return f;
}

/* Limits a header must respect (far above any model this engine is for). */
#define TF_MODEL_MAX_DIM 16384u
#define TF_MODEL_MAX_HIDDEN 65536u
#define TF_MODEL_MAX_LAYERS 256u
#define TF_MODEL_MAX_HEADS 1024u
#define TF_MODEL_MAX_VOCAB 1048576u
#define TF_MODEL_MAX_SEQ 65536u

struct tf_model_config {
	uint32_t dim; /* transformer width */
	uint32_t hidden_dim; /* SwiGLU inner width */
	uint32_t n_layers;
	uint32_t n_heads; /* query heads */
	uint32_t n_kv_heads; /* key/value heads (GQA when < n_heads) */
	uint32_t vocab_size; /* |header value| */
	uint32_t seq_len; /* context length */
	uint32_t shared; /* 1: classifier == token embedding (header vocab > 0) */
	uint32_t head_size; /* dim / n_heads */
	uint32_t kv_dim; /* n_kv_heads * head_size */
};

/* Offsets in floats from the first weight (right after the header). */
struct tf_model_layout {
	uint64_t emb; /* (vocab, dim) */
	uint64_t rms_att; /* (layer, dim) */
	uint64_t wq; /* (layer, dim rows, dim cols) */
	uint64_t wk; /* (layer, kv_dim, dim) */
	uint64_t wv; /* (layer, kv_dim, dim) */
	uint64_t wo; /* (layer, dim, dim) */
	uint64_t rms_ffn; /* (layer, dim) */
	uint64_t w1; /* (layer, hidden, dim) */
	uint64_t w2; /* (layer, dim, hidden) */
	uint64_t w3; /* (layer, hidden, dim) */
	uint64_t rms_final; /* (dim) */
	uint64_t freq_cis; /* (2, seq_len, head_size / 2): unused, RoPE is computed */
	uint64_t wcls; /* (vocab, dim); == emb when shared */
	uint64_t n_floats; /* every float in the file */
};

/* A weight matrix, rows x cols, row-major; y = W x. */
struct tf_matrix {
	const float *f32; /* (rows, cols), in the mapping */
	const int8_t *q8; /* (rows, cols) when int8, else NULL */
	const float *scale; /* (rows, cols / TF_Q8_GROUP) when int8 */
	const uint16_t *bf16; /* (rows, cols) when bf16, else NULL */
	const void *packed; /* the kernel variant's layout (kern.h), or NULL */
	uint32_t rows, cols;
};

struct tf_layer {
	const float *rms_att; /* (dim) */
	const float *rms_ffn; /* (dim) */
	struct tf_matrix wq, wk, wv, wo, w1, w2, w3;
};

struct tf_model {
	struct tf_model_config cfg;
	enum tf_engine_precision precision;
	const void *map; /* whole file */
	size_t map_len;
	int mapped; /* 1: map came from mmap (unmap at free) */
	const float *emb; /* (vocab, dim) */
	const float *rms_final; /* (dim) */
	struct tf_layer *layers;
	struct tf_matrix wcls; /* (vocab, dim) */
	float *rope_cos; /* (seq_len, head_size / 2) */
	float *rope_sin;
	void *q8_mem; /* int8 weights and scales when precision is int8 */
	void *bf16_mem; /* bf16 weights when precision is bf16 */
	void *pack_mem; /* packed copies for the kernel variant (tf_model_pack) */
	size_t pack_len;
};

/*
 * Checks a checkpoint image of len bytes (the whole file) and fills cfg and
 * lay. Every field is checked before use; the file size must be exactly what
 * the header implies. -EINVAL / -EFBIG / -ENOTSUP with a message in err.
 */
int tf_model_header_parse(const void *buf, size_t len, struct tf_model_config *cfg,
			  struct tf_model_layout *lay, char *err, size_t errlen);

/* Builds m over a checked image buf (not copied; must outlive m). */
int tf_model_init(struct tf_model *m, const void *buf, size_t len, enum tf_engine_precision prec,
		  char *err, size_t errlen);
/* Maps path read-only and calls tf_model_init(). */
int tf_model_load(struct tf_model *m, const char *path, enum tf_engine_precision prec, char *err,
		  size_t errlen);
void tf_model_free(struct tf_model *m);

/* Every matrix the forward pass multiplies by (7 per layer + the
 * classifier) into out; returns how many. */
size_t tf_model_matrices(struct tf_model *m, struct tf_matrix **out);

struct tf_kern_ops;
/* Makes the packed copy of every matrix the variant wants (kern.h, pack.c). */
int tf_model_pack(struct tf_model *m, const struct tf_kern_ops *ops, char *err, size_t errlen);

/* Bytes of weights one decode step reads (every matrix, one embedding row). */
uint64_t tf_model_step_bytes(const struct tf_model *m);

/* bf16 copy of n weights (tf_bf16_round each). */
void tf_bf16_convert(const float *w, size_t n, uint16_t *out);

/* int8 per-group quantization of rows x cols (cols % TF_Q8_GROUP == 0). */
void tf_q8_quantize(const float *w, uint32_t rows, uint32_t cols, int8_t *q, float *scale);

#endif /* TF_ENGINE_MODEL_H */
