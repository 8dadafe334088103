/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-request token buffers (resume and the response cache): every token a
 * request streamed (id + text piece) is appended to a chain of fixed-size
 * chunks from one per-lcore arena, so RESUME from token N and retransmits
 * of finished requests are answered without regenerating.
 *
 * Bounded: the arena has a fixed number of chunks. When it is empty a
 * request reuses its own oldest chunk (its buffered range then starts later:
 * RESUME before it gets RESUME_UNAVAILABLE); the caller evicts finished
 * requests from the response cache to keep chunks free.
 */
#ifndef TF_DP_TOKBUF_H
#define TF_DP_TOKBUF_H

#include <stdint.h>

#define TF_TOKBUF_CHUNK_BYTES 1024u
#define TF_TOKBUF_MAX_PIECE 255u

struct tf_tokbuf_chunk {
	uint32_t next; /* chunk index + 1, 0 = last */
	uint32_t first; /* token index of the first token here */
	uint16_t ntok;
	uint16_t used; /* bytes of data used */
	/* records: u32 id (LE), u8 len, len bytes of text */
	uint8_t data[TF_TOKBUF_CHUNK_BYTES - 12];
};

struct tf_tokarena {
	struct tf_tokbuf_chunk *chunks;
	uint32_t nchunks;
	uint32_t free_head; /* chunk index + 1, 0 = none */
	uint32_t nfree;
	uint64_t steals; /* a request reused its own oldest chunk */
};

/* One request's tokens: [first_avail, count) are buffered. */
struct tf_tokbuf {
	uint32_t head, tail; /* chunk index + 1, 0 = none */
	uint32_t count; /* tokens appended so far (the next index) */
	uint32_t first_avail;
	uint32_t nchunks;
	uint32_t text_bytes; /* text bytes appended so far */
};

/* bytes / TF_TOKBUF_CHUNK_BYTES chunks (at least 2). 0 or -ENOMEM. */
int tf_tokarena_create(struct tf_tokarena *a, uint64_t bytes);
void tf_tokarena_destroy(struct tf_tokarena *a);

static inline void
tf_tokbuf_init(struct tf_tokbuf *b)
{
	*b = (struct tf_tokbuf){ 0 };
}

/*
 * Appends token `index` (must equal b->count). Returns 0; never fails: when
 * no chunk is free the request's oldest one is reused, and with none at all
 * the token is counted but not kept (first_avail moves past it).
 */
int tf_tokbuf_append(struct tf_tokarena *a, struct tf_tokbuf *b, uint32_t id, const void *text,
		     uint32_t len);

/*
 * Copies tokens from index `from` (first_avail <= from <= count): at most
 * max_tok ids (LE u32 into ids), their piece lengths (lens, may be NULL) and
 * text (at most max_text bytes into text, may be NULL). Stops early rather
 * than split a token's text. Returns the number of tokens copied and the text
 * bytes in *text_len.
 */
uint32_t tf_tokbuf_read(const struct tf_tokarena *a, const struct tf_tokbuf *b, uint32_t from,
			uint8_t *ids, uint8_t *lens, uint8_t *text, uint32_t max_tok,
			uint32_t max_text, uint32_t *text_len);

/* Returns every chunk of b to the arena. */
void tf_tokbuf_free(struct tf_tokarena *a, struct tf_tokbuf *b);

#endif /* TF_DP_TOKBUF_H */
