/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: tokenizer.bin (kernels/engine/tokenizer.c). Input: a
 * 2-byte vocabulary size, then the file. A file that parses is used: its
 * pieces' text, a lookup of every piece, and an encode of the input's own
 * bytes, which must decode back exactly whenever the vocabulary has all 256
 * byte pieces (abort otherwise: that is a bug).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_tokenizer t;
	uint32_t vocab;
	char err[256];
	int32_t *ids;
	char *back;
	size_t tlen, at = 0;
	int n;

	if (size < 2)
		return 0;
	vocab = (uint32_t)(data[0] | data[1] << 8) % 4096 + 1;
	if (tf_tok_parse(&t, data + 2, size - 2, vocab, err, sizeof(err)) != 0)
		return 0;
	for (uint32_t i = 0; i < t.n; i++) {
		int32_t id = tf_tok_lookup(&t, t.pieces[i].str, t.pieces[i].len);

		if (id >= 0 && (t.pieces[id].len != t.pieces[i].len ||
				memcmp(t.pieces[id].str, t.pieces[i].str, t.pieces[i].len) != 0))
			abort();
	}
	/* text: the input itself (capped) */
	tlen = size - 2 < 2048 ? size - 2 : 2048;
	ids = malloc((tlen + 3) * sizeof(*ids));
	back = malloc(tlen + 2);
	n = tf_tok_encode(&t, (const char *)data + 2, tlen, TF_ENGINE_TOK_SPACE_PREFIX, ids,
			  tlen + 3);
	if (n < 0)
		abort(); /* cap was enough: can only fail for memory */
	for (int i = 0; i < n; i++) {
		if (ids[i] < 0 || (uint32_t)ids[i] >= t.n)
			abort();
		if (at + t.pieces[ids[i]].text_len <= tlen + 1)
			memcpy(back + at, t.pieces[ids[i]].text, t.pieces[ids[i]].text_len);
		at += t.pieces[ids[i]].text_len;
	}
	if (t.n_byte_ids == 256 && tlen > 0 &&
	    (at != tlen + 1 || back[0] != ' ' || memcmp(back + 1, data + 2, tlen) != 0))
		abort();
	free(ids);
	free(back);
	tf_tok_free(&t);
	return 0;
}
