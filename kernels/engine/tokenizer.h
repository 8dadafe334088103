/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * llama2.c tokenizer.bin: SentencePiece-style BPE driven by piece scores, with
 * <0xXX> byte-fallback pieces. Layout: hwdocs/model-format.md.
 */
#ifndef TF_ENGINE_TOKENIZER_H
#define TF_ENGINE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define TF_TOK_MAX_PIECE 1024u /* longest max_token_length accepted */
#define TF_TOK_BOS 1
#define TF_TOK_EOS 2

struct tf_tok_piece {
	const char *str; /* bytes as stored (NUL-terminated copy) */
	uint32_t len;
	float score;
	const char *text; /* what it decodes to: str, or the byte of <0xXX>, or "" */
	uint32_t text_len;
};

struct tf_tokenizer {
	uint32_t n; /* vocab size */
	uint32_t max_len; /* max_token_length from the file */
	struct tf_tok_piece *pieces;
	uint32_t *sorted; /* plain piece ids sorted by (bytes, id) for lookup */
	uint32_t n_plain; /* entries in sorted */
	char *strbuf; /* every piece's bytes, NUL after each */
	int32_t byte_id[256]; /* id of <0xXX>, or -1 when the vocab lacks it */
	uint32_t n_byte_ids; /* how many of the 256 exist */
	int32_t space_id; /* id of " ", -1 if none */
	unsigned char bytes[256]; /* backing store for byte pieces' text */
};

/* Parses a tokenizer.bin image of len bytes that must hold exactly
 * vocab_size pieces. -EINVAL with a message saying what is wrong. */
int tf_tok_parse(struct tf_tokenizer *t, const void *buf, size_t len, uint32_t vocab_size,
		 char *err, size_t errlen);
int tf_tok_load(struct tf_tokenizer *t, const char *path, uint32_t vocab_size, char *err,
		size_t errlen);
void tf_tok_free(struct tf_tokenizer *t);

/* Piece id whose bytes are exactly s[0..len), or -1. */
int32_t tf_tok_lookup(const struct tf_tokenizer *t, const char *s, size_t len);

/* flags: TF_ENGINE_TOK_*. Returns the id count, -ENOSPC (more than cap),
 * -ENOMEM. */
int tf_tok_encode(const struct tf_tokenizer *t, const char *text, size_t len, unsigned int flags,
		  int32_t *ids, size_t cap);

#endif /* TF_ENGINE_TOKENIZER_H */
