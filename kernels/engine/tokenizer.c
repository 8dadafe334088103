/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokenizer.bin parsing, BPE encoding and piece text. Every length in the
 * file is checked before it is used; text of any bytes encodes (what no piece
 * covers goes through the <0xXX> pieces) and decodes back to the same bytes.
 */
#include "tokenizer.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "errmsg.h"

static int32_t
rd_i32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return (int32_t)le32toh(v);
}

static float
rd_f32(const unsigned char *p)
{
	uint32_t v;
	float f;

	memcpy(&v, p, sizeof(v));
	v = le32toh(v);
	memcpy(&f, &v, sizeof(f));
	return f;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "<0xHH>" -> HH, else -1. */
static int
byte_piece(const char *s, uint32_t len)
{
	int hi, lo;

	if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
		return -1;
	hi = hexval(s[3]);
	lo = hexval(s[4]);
	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int
cmp_bytes(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
cmp_ids(const void *a, const void *b, void *ctx)
{
	const struct tf_tokenizer *t = ctx;
	const struct tf_tok_piece *pa = &t->pieces[*(const uint32_t *)a];
	const struct tf_tok_piece *pb = &t->pieces[*(const uint32_t *)b];
	int c = cmp_bytes(pa->str, pa->len, pb->str, pb->len);

	if (c)
		return c;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* A piece is plain when its text is its bytes: only plain pieces are looked
 * up and merged, so decoding always gives back the encoded bytes. */
static int
is_plain(const struct tf_tok_piece *p)
{
	return p->text == p->str;
}

int
tf_tok_parse(struct tf_tokenizer *t, const void *buf, size_t len, uint32_t vocab_size, char *err,
	     size_t errlen)
{
	const unsigned char *p = buf;
	size_t off, strbytes = 0;
	uint32_t n_plain = 0;
	int32_t max_len;
	char *sp;
	int rc;

	memset(t, 0, sizeof(*t));
	if (vocab_size == 0)
		return tf_eng_err(err, errlen, -EINVAL, "tokenizer: vocab_size 0");
	if (len < 4)
		return tf_eng_err(err, errlen, -EINVAL,
				  "tokenizer is %zu bytes, too short for max_token_length: "
				  "truncated or not a llama2.c tokenizer.bin",
				  len);
	max_len = rd_i32(p);
	if (max_len < 1 || (uint32_t)max_len > TF_TOK_MAX_PIECE)
		return tf_eng_err(err, errlen, -EINVAL,
				  "tokenizer: max_token_length %d is outside 1..%u: not a "
				  "llama2.c tokenizer.bin",
				  max_len, TF_TOK_MAX_PIECE);
	/* Pass 1: check every record. */
	off = 4;
	for (uint32_t i = 0; i < vocab_size; i++) {
		int32_t plen;
		float score;

		if (len - off < 8)
			return tf_eng_err(err, errlen, -EINVAL,
					  "tokenizer is truncated at piece %u of %u (offset %zu): "
					  "wrong file, or it belongs to a model with a smaller "
					  "vocabulary",
					  i, vocab_size, off);
		score = rd_f32(p + off);
		plen = rd_i32(p + off + 4);
		if (!isfinite(score))
			return tf_eng_err(err, errlen, -EINVAL,
					  "tokenizer: piece %u has a non-finite score", i);
		if (plen < 0 || plen > max_len)
			return tf_eng_err(err, errlen, -EINVAL,
					  "tokenizer: piece %u has length %d, outside 0..%d "
					  "(max_token_length): corrupt tokenizer.bin",
					  i, plen, max_len);
		off += 8;
		if (len - off < (size_t)plen)
			return tf_eng_err(err, errlen, -EINVAL,
					  "tokenizer is truncated inside piece %u of %u", i,
					  vocab_size);
		off += (size_t)plen;
		strbytes += (size_t)plen + 1;
	}
	if (off != len)
		return tf_eng_err(err, errlen, -EINVAL,
				  "tokenizer has %zu bytes after its %u pieces: it belongs to a "
				  "model with a larger vocabulary (use the model's own "
				  "tokenizer.bin)",
				  len - off, vocab_size);

	/* Pass 2: copy. */
	t->n = vocab_size;
	t->max_len = (uint32_t)max_len;
	t->pieces = calloc(vocab_size, sizeof(*t->pieces));
	t->sorted = calloc(vocab_size, sizeof(*t->sorted));
	t->strbuf = malloc(strbytes);
	if (!t->pieces || !t->sorted || !t->strbuf) {
		rc = tf_eng_err(err, errlen, -ENOMEM, "out of memory for the tokenizer");
		goto err;
	}
	for (int i = 0; i < 256; i++) {
		t->byte_id[i] = -1;
		t->bytes[i] = (unsigned char)i;
	}
	off = 4;
	sp = t->strbuf;
	for (uint32_t i = 0; i < vocab_size; i++) {
		struct tf_tok_piece *pc = &t->pieces[i];
		int b;

		pc->score = rd_f32(p + off);
		pc->len = (uint32_t)rd_i32(p + off + 4);
		memcpy(sp, p + off + 8, pc->len);
		sp[pc->len] = '\0';
		pc->str = sp;
		pc->text = sp;
		pc->text_len = pc->len;
		sp += pc->len + 1;
		off += 8 + pc->len;
		if ((i == TF_TOK_BOS || i == TF_TOK_EOS) && vocab_size > TF_TOK_EOS) {
			pc->text = "";
			pc->text_len = 0;
		} else if ((b = byte_piece(pc->str, pc->len)) >= 0) {
			pc->text = (const char *)&t->bytes[b];
			pc->text_len = 1;
			if (t->byte_id[b] < 0) {
				t->byte_id[b] = (int32_t)i;
				t->n_byte_ids++;
			}
		}
		if (is_plain(pc))
			t->sorted[n_plain++] = i;
	}
	qsort_r(t->sorted, n_plain, sizeof(*t->sorted), cmp_ids, t);
	t->n_plain = n_plain; /* lookups bisect sorted[0 .. n_plain) */
	t->space_id = tf_tok_lookup(t, " ", 1);
	return 0;
err:
	tf_tok_free(t);
	return rc;
}

int
tf_tok_load(struct tf_tokenizer *t, const char *path, uint32_t vocab_size, char *err, size_t errlen)
{
	struct stat st;
	void *map;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return tf_eng_err(err, errlen, rc, "cannot open tokenizer %s: %s", path,
				  strerror(-rc));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 4) {
		close(fd);
		return tf_eng_err(err, errlen, -EINVAL,
				  "tokenizer %s is not a regular file of at least 4 bytes", path);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	rc = -errno;
	close(fd);
	if (map == MAP_FAILED)
		return tf_eng_err(err, errlen, rc, "cannot map tokenizer %s: %s", path,
				  strerror(-rc));
	rc = tf_tok_parse(t, map, (size_t)st.st_size, vocab_size, err, errlen);
	munmap(map, (size_t)st.st_size); /* the pieces were copied */
	return rc;
}

void
tf_tok_free(struct tf_tokenizer *t)
{
	free(t->pieces);
	free(t->sorted);
	free(t->strbuf);
	memset(t, 0, sizeof(*t));
}

int32_t
tf_tok_lookup(const struct tf_tokenizer *t, const char *s, size_t len)
{
	uint32_t lo = 0, hi = t->n_plain;

	if (len > t->max_len)
		return -1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct tf_tok_piece *pc = &t->pieces[t->sorted[mid]];
		int c = cmp_bytes(pc->str, pc->len, s, (uint32_t)len);

		if (c == 0)
			return (int32_t)t->sorted[mid]; /* lowest id among equal pieces */
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Best merge of pieces a and b: the plain piece spelling a+b, or -1. */
static int32_t
pair_merge(const struct tf_tokenizer *t, int32_t a, int32_t b, char *buf)
{
	const struct tf_tok_piece *pa = &t->pieces[a], *pb = &t->pieces[b];

	if (!is_plain(pa) || !is_plain(pb) || pa->len + pb->len > t->max_len)
		return -1;
	memcpy(buf, pa->str, pa->len);
	memcpy(buf + pa->len, pb->str, pb->len);
	return tf_tok_lookup(t, buf, pa->len + pb->len);
}

/* Appends the pieces for one UTF-8 sequence (or stray byte) s[0..n). */
static size_t
push_group(const struct tf_tokenizer *t, const unsigned char *s, size_t n, int32_t *out)
{
	int32_t id = tf_tok_lookup(t, (const char *)s, n);
	size_t k = 0;

	if (id >= 0) {
		out[0] = id;
		return 1;
	}
	for (size_t i = 0; i < n; i++) /* byte fallback; <unk> (0) if the vocab lacks it */
		out[k++] = t->byte_id[s[i]] >= 0 ? t->byte_id[s[i]] : 0;
	return k;
}

int
tf_tok_encode(const struct tf_tokenizer *t, const char *text, size_t len, unsigned int flags,
	      int32_t *ids, size_t cap)
{
	const unsigned char *s = (const unsigned char *)text;
	int32_t *tok = NULL, *cand = NULL;
	size_t n = 0, first, i;
	char *buf = NULL;
	int rc;

	if (len > (size_t)INT32_MAX / 2)
		return -EINVAL;
	tok = malloc((len + 3) * sizeof(*tok));
	cand = malloc((len + 3) * sizeof(*cand));
	buf = malloc(2 * (size_t)t->max_len + 1);
	if (!tok || !cand || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	if ((flags & TF_ENGINE_TOK_BOS) && t->n > TF_TOK_BOS)
		tok[n++] = TF_TOK_BOS;
	first = n;
	if ((flags & TF_ENGINE_TOK_SPACE_PREFIX) && len > 0)
		n += push_group(t, (const unsigned char *)" ", 1, tok + n);
	for (i = 0; i < len;) {
		size_t g = 1;

		if ((s[i] & 0xC0) != 0x80) /* lead byte: take its continuation bytes */
			while (g < 4 && i + g < len && (s[i + g] & 0xC0) == 0x80)
				g++;
		n += push_group(t, s + i, g, tok + n);
		i += g;
	}

	/* Merge the best-scoring adjacent pair until none merges. cand[i] caches
	 * the merge of (tok[i], tok[i+1]); a merge only changes its neighbours. */
	for (i = first; i + 1 < n; i++)
		cand[i] = pair_merge(t, tok[i], tok[i + 1], buf);
	for (;;) {
		size_t best = SIZE_MAX;
		float best_score = -INFINITY;

		for (i = first; i + 1 < n; i++) {
			if (cand[i] >= 0 &&
			    (best == SIZE_MAX || t->pieces[cand[i]].score > best_score)) {
				best = i;
				best_score = t->pieces[cand[i]].score;
			}
		}
		if (best == SIZE_MAX)
			break;
		tok[best] = cand[best];
		memmove(tok + best + 1, tok + best + 2, (n - best - 2) * sizeof(*tok));
		memmove(cand + best + 1, cand + best + 2, (n - best - 2) * sizeof(*cand));
		n--;
		if (best > first)
			cand[best - 1] = pair_merge(t, tok[best - 1], tok[best], buf);
		if (best + 1 < n)
			cand[best] = pair_merge(t, tok[best], tok[best + 1], buf);
	}
	if (n > cap) {
		rc = -ENOSPC;
		goto out;
	}
	memcpy(ids, tok, n * sizeof(*tok));
	rc = (int)n;
out:
	free(tok);
	free(cand);
	free(buf);
	return rc;
}
