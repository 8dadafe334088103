/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Model generator behind tokfab-mkmodel: a llama2.c checkpoint of any shape
 * with deterministic pseudo-random weights, and a matching tokenizer.bin
 * (specials, 256 byte-fallback pieces, printable ASCII, BPE merges learned
 * from a built-in text, then syllable pieces up to the vocabulary size).
 * The same shape and seed give the same bytes on every machine.
 */
#ifndef TF_MKMODEL_GEN_H
#define TF_MKMODEL_GEN_H

#include <stddef.h>
#include <stdint.h>

struct tf_mkmodel_shape {
	uint32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
	int untied; /* 1: separate output head (header vocab_size negative) */
	uint64_t seed;
};

#define TF_MKMODEL_MIN_VOCAB 259u /* <unk> <s> </s> + 256 byte pieces */

/* Checks the shape; -EINVAL with a message. */
int tf_mkmodel_check(const struct tf_mkmodel_shape *s, char *err, size_t errlen);
/* Writes the checkpoint (NULL: skip) and the tokenizer (NULL: skip). */
int tf_mkmodel_write(const struct tf_mkmodel_shape *s, const char *model_path,
		     const char *tokenizer_path, char *err, size_t errlen);

/* The built-in training text (NUL-terminated). */
extern const char tf_mkmodel_corpus[];

#endif /* TF_MKMODEL_GEN_H */
