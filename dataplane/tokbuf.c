/* SPDX-License-Identifier: BSD-3-Clause */
/* Chunked, bounded token buffers for RESUME and the response cache. */
#include "dataplane/tokbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokfab/proto.h"

int
tf_tokarena_create(struct tf_tokarena *a, uint64_t bytes)
{
	uint64_t n = bytes / TF_TOKBUF_CHUNK_BYTES;

	memset(a, 0, sizeof(*a));
	if (n < 2)
		n = 2;
	if (n > (1u << 26))
		n = 1u << 26;
	a->chunks = malloc(n * sizeof(*a->chunks));
	if (!a->chunks)
		return -ENOMEM;
	a->nchunks = (uint32_t)n;
	memset(a->chunks, 0, n * sizeof(*a->chunks)); /* fault the pages in now, not later */
	for (uint32_t i = 0; i < a->nchunks; i++)
		a->chunks[i].next = i + 2 <= a->nchunks ? i + 2 : 0;
	a->free_head = 1;
	a->nfree = a->nchunks;
	return 0;
}

void
tf_tokarena_destroy(struct tf_tokarena *a)
{
	free(a->chunks);
	memset(a, 0, sizeof(*a));
}

static uint32_t
chunk_get(struct tf_tokarena *a)
{
	uint32_t c = a->free_head;

	if (!c)
		return 0;
	a->free_head = a->chunks[c - 1].next;
	a->nfree--;
	return c;
}

static void
chunk_put(struct tf_tokarena *a, uint32_t c)
{
	a->chunks[c - 1].next = a->free_head;
	a->free_head = c;
	a->nfree++;
}

/* Unlinks b's oldest chunk, advancing first_avail past its tokens. */
static uint32_t
drop_oldest(struct tf_tokbuf *b, struct tf_tokarena *a)
{
	uint32_t c = b->head;
	struct tf_tokbuf_chunk *ch = &a->chunks[c - 1];

	b->head = ch->next;
	if (!b->head)
		b->tail = 0;
	b->nchunks--;
	b->first_avail = b->head ? a->chunks[b->head - 1].first : b->count;
	return c;
}

int
tf_tokbuf_append(struct tf_tokarena *a, struct tf_tokbuf *b, uint32_t id, const void *text,
		 uint32_t len)
{
	struct tf_tokbuf_chunk *ch = b->tail ? &a->chunks[b->tail - 1] : NULL;
	uint32_t need, c;

	if (len > TF_TOKBUF_MAX_PIECE)
		len = TF_TOKBUF_MAX_PIECE;
	need = 5 + len;
	if (!ch || ch->used + need > sizeof(ch->data)) {
		c = chunk_get(a);
		if (!c && b->nchunks >= 2) {
			c = drop_oldest(b, a); /* reuse our own oldest chunk */
			a->steals++;
		}
		if (!c) {
			/* Nothing to keep it in: count it, keep nothing before it. */
			tf_tokbuf_free(a, b);
			b->count++;
			b->first_avail = b->count;
			b->text_bytes += len;
			return 0;
		}
		ch = &a->chunks[c - 1];
		ch->next = 0;
		ch->first = b->count;
		ch->ntok = 0;
		ch->used = 0;
		if (b->tail)
			a->chunks[b->tail - 1].next = c;
		else {
			b->head = c;
			b->first_avail = b->count;
		}
		b->tail = c;
		b->nchunks++;
	}
	tf_proto_st32(ch->data + ch->used, id);
	ch->data[ch->used + 4] = (uint8_t)len;
	if (len)
		memcpy(ch->data + ch->used + 5, text, len);
	ch->used = (uint16_t)(ch->used + need);
	ch->ntok++;
	b->count++;
	b->text_bytes += len;
	return 0;
}

uint32_t
tf_tokbuf_read(const struct tf_tokarena *a, const struct tf_tokbuf *b, uint32_t from, uint8_t *ids,
	       uint8_t *lens, uint8_t *text, uint32_t max_tok, uint32_t max_text,
	       uint32_t *text_len)
{
	uint32_t n = 0, tl = 0, c = b->head;

	*text_len = 0;
	if (from < b->first_avail || from >= b->count)
		return 0;
	/* Find the chunk holding `from`. */
	while (c) {
		const struct tf_tokbuf_chunk *ch = &a->chunks[c - 1];

		if (from < ch->first + ch->ntok)
			break;
		c = ch->next;
	}
	for (; c && n < max_tok; c = a->chunks[c - 1].next) {
		const struct tf_tokbuf_chunk *ch = &a->chunks[c - 1];
		uint32_t off = 0, idx = ch->first;

		for (uint16_t k = 0; k < ch->ntok && n < max_tok; k++, idx++) {
			uint32_t l = ch->data[off + 4];

			if (idx >= from) {
				if (text && tl + l > max_text)
					goto out;
				memcpy(ids + 4 * (size_t)n, ch->data + off, 4);
				if (lens)
					lens[n] = (uint8_t)l;
				if (text && l)
					memcpy(text + tl, ch->data + off + 5, l);
				tl += l;
				n++;
			}
			off += 5 + l;
		}
	}
out:
	*text_len = text ? tl : 0;
	return n;
}

void
tf_tokbuf_free(struct tf_tokarena *a, struct tf_tokbuf *b)
{
	uint32_t c = b->head;

	while (c) {
		uint32_t next = a->chunks[c - 1].next;

		chunk_put(a, c);
		c = next;
	}
	b->head = b->tail = 0;
	b->nchunks = 0;
	b->first_avail = b->count;
}
