/* SPDX-License-Identifier: BSD-3-Clause */
#include "gen.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- deterministic randomness -------------------------------------------- */

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1): exact in binary, so identical everywhere. */
static float
rng_sym(uint64_t *s)
{
	return (float)(rng_next(s) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static int errf(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int
tf_mkmodel_check(const struct tf_mkmodel_shape *s, char *err, size_t errlen)
{
	if (!s->dim || !s->hidden_dim || !s->n_layers || !s->n_heads || !s->n_kv_heads ||
	    !s->seq_len)
		return errf(err, errlen, -EINVAL, "every dimension must be at least 1");
	if (s->dim % s->n_heads || (s->dim / s->n_heads) % 2)
		return errf(err, errlen, -EINVAL,
			    "dim (%u) must be n_heads (%u) times an even head size", s->dim,
			    s->n_heads);
	if (s->n_kv_heads > s->n_heads || s->n_heads % s->n_kv_heads)
		return errf(err, errlen, -EINVAL,
			    "n_heads (%u) must be a multiple of n_kv_heads (%u)", s->n_heads,
			    s->n_kv_heads);
	if (s->vocab_size < TF_MKMODEL_MIN_VOCAB || s->vocab_size > (1u << 20))
		return errf(err, errlen, -EINVAL,
			    "vocab_size %u: between %u (specials + 256 byte pieces) and %u",
			    s->vocab_size, TF_MKMODEL_MIN_VOCAB, 1u << 20);
	if (s->dim > 16384 || s->hidden_dim > 65536 || s->n_layers > 256 || s->seq_len > 65536)
		return errf(err, errlen, -EINVAL,
			    "shape too large (dim <= 16384, hidden <= 65536, layers <= 256, "
			    "seq_len <= 65536)");
	return 0;
}

/* ---- tokenizer ------------------------------------------------------------ */

struct piece {
	char *s;
	uint32_t len;
	float score;
};

struct vocab {
	struct piece *p;
	uint32_t n, cap; /* cap = vocab_size */
	int32_t *hash; /* open addressing over pieces: id or -1 */
	uint32_t hmask;
};

static uint32_t
fnv(const char *s, uint32_t len)
{
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int32_t
vocab_find(const struct vocab *v, const char *s, uint32_t len)
{
	for (uint32_t h = fnv(s, len) & v->hmask;; h = (h + 1) & v->hmask) {
		int32_t id = v->hash[h];

		if (id < 0)
			return -1;
		if (v->p[id].len == len && memcmp(v->p[id].s, s, len) == 0)
			return id;
	}
}

/* Adds s unless present or the vocabulary is full; returns its id or -1. */
static int32_t
vocab_add(struct vocab *v, const char *s, uint32_t len, float score)
{
	int32_t id = vocab_find(v, s, len);
	uint32_t h;

	if (id >= 0 || v->n == v->cap)
		return id;
	v->p[v->n].s = malloc(len + 1);
	if (!v->p[v->n].s)
		return -1;
	memcpy(v->p[v->n].s, s, len);
	v->p[v->n].s[len] = '\0';
	v->p[v->n].len = len;
	v->p[v->n].score = score;
	for (h = fnv(s, len) & v->hmask; v->hash[h] >= 0; h = (h + 1) & v->hmask)
		;
	v->hash[h] = (int32_t)v->n;
	return (int32_t)v->n++;
}

static void
vocab_free(struct vocab *v)
{
	for (uint32_t i = 0; i < v->n; i++)
		free(v->p[i].s);
	free(v->p);
	free(v->hash);
}

/* A word of the training text: symbols (piece ids) and how often it occurs. */
struct word {
	int32_t *sym;
	uint32_t n;
	uint32_t count;
};

static int
is_wordch(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '\'';
}

/* Splits the corpus SentencePiece-style: a space joins the word after it,
 * and every line starts with one (the dummy prefix the encoder adds). */
static int
corpus_words(struct vocab *v, struct word **out, uint32_t *nout)
{
	size_t clen = strlen(tf_mkmodel_corpus), len = 0, i = 0;
	char *t = malloc(2 * clen + 2);
	struct word *w = NULL;
	uint32_t n = 0, cap = 0;

	if (!t)
		return -ENOMEM;
	t[len++] = ' ';
	for (size_t c = 0; c < clen; c++) {
		t[len++] = tf_mkmodel_corpus[c];
		if (tf_mkmodel_corpus[c] == '\n' && c + 1 < clen)
			t[len++] = ' ';
	}

	while (i < len) {
		size_t j = i;
		uint32_t k;

		if (t[j] == ' ' && j + 1 < len && is_wordch((unsigned char)t[j + 1]))
			j++;
		if (is_wordch((unsigned char)t[j]))
			while (j < len && is_wordch((unsigned char)t[j]))
				j++;
		else
			j++;
		for (k = 0; k < n; k++) /* same word seen before: count it */
			if (w[k].n == j - i && !memcmp(w[k].sym + w[k].n, t + i, j - i))
				break;
		if (k < n) {
			w[k].count++;
		} else {
			if (n == cap) {
				struct word *nw =
					realloc(w, (cap = cap ? 2 * cap : 256) * sizeof(*w));

				if (!nw)
					goto err;
				w = nw;
			}
			/* symbols, then the raw bytes for the comparison above */
			w[n].sym = malloc((j - i) * (sizeof(int32_t) + 1));
			if (!w[n].sym)
				goto err;
			w[n].n = (uint32_t)(j - i);
			w[n].count = 1;
			for (size_t c = 0; c < j - i; c++)
				w[n].sym[c] = vocab_find(v, t + i + c, 1);
			memcpy(w[n].sym + w[n].n, t + i, j - i);
			n++;
		}
		i = j;
	}
	free(t);
	*out = w;
	*nout = n;
	return 0;
err:
	for (uint32_t k = 0; k < n; k++)
		free(w[k].sym);
	free(w);
	free(t);
	return -ENOMEM;
}

#define PAIR_SLOTS 16384u /* > distinct pairs in the built-in text */

/* Learns merges until no pair occurs twice or the vocabulary is full. */
static int
learn_merges(struct vocab *v, uint32_t *n_merges)
{
	struct word *w;
	uint32_t nw, merges = 0, *pc;
	uint64_t *pk;
	int rc = corpus_words(v, &w, &nw);

	if (rc)
		return rc;
	pk = malloc(PAIR_SLOTS * sizeof(*pk));
	pc = malloc(PAIR_SLOTS * sizeof(*pc));
	if (!pk || !pc) {
		rc = -ENOMEM;
		goto out;
	}
	while (v->n < v->cap) {
		uint64_t best = UINT64_MAX;
		uint32_t best_count = 1;
		int32_t a, b, id;
		char buf[512];

		/* Count pairs; the tie-break on the smallest (a, b) keeps it deterministic. */
		memset(pk, 0xff, PAIR_SLOTS * sizeof(*pk));
		for (uint32_t i = 0; i < nw; i++) {
			for (uint32_t k = 0; k + 1 < w[i].n; k++) {
				uint64_t key = (uint64_t)(uint32_t)w[i].sym[k] << 32 |
					       (uint32_t)w[i].sym[k + 1];
				uint32_t h = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 40) &
					     (PAIR_SLOTS - 1);

				while (pk[h] != UINT64_MAX && pk[h] != key)
					h = (h + 1) & (PAIR_SLOTS - 1);
				if (pk[h] == UINT64_MAX) {
					pk[h] = key;
					pc[h] = 0;
				}
				pc[h] += w[i].count;
			}
		}
		for (uint32_t h = 0; h < PAIR_SLOTS; h++) {
			if (pk[h] == UINT64_MAX)
				continue;
			if (pc[h] < 2) /* a pair seen once teaches nothing */
				continue;
			if (pc[h] > best_count || (pc[h] == best_count && pk[h] < best)) {
				best = pk[h];
				best_count = pc[h];
			}
		}
		if (best == UINT64_MAX)
			break;
		a = (int32_t)(best >> 32);
		b = (int32_t)(best & 0xffffffffu);
		if (v->p[a].len + v->p[b].len > sizeof(buf))
			break;
		memcpy(buf, v->p[a].s, v->p[a].len);
		memcpy(buf + v->p[a].len, v->p[b].s, v->p[b].len);
		id = vocab_add(v, buf, v->p[a].len + v->p[b].len, -(float)merges);
		if (id < 0) {
			rc = -ENOMEM;
			break;
		}
		merges++;
		for (uint32_t i = 0; i < nw; i++) {
			uint32_t o = 0;

			for (uint32_t k = 0; k < w[i].n; k++) {
				if (k + 1 < w[i].n && w[i].sym[k] == a && w[i].sym[k + 1] == b) {
					w[i].sym[o++] = id;
					k++;
				} else {
					w[i].sym[o++] = w[i].sym[k];
				}
			}
			w[i].n = o;
		}
	}
out:
	for (uint32_t i = 0; i < nw; i++)
		free(w[i].sym);
	free(w);
	free(pk);
	free(pc);
	*n_merges = merges;
	return rc;
}

/* Pronounceable filler pieces ("ba", " tomi", ...) so a random model's output
 * reads as words rather than placeholders. */
static int
add_fillers(struct vocab *v, uint64_t seed, uint32_t first_score)
{
	static const char *const cons[] = { "b", "c", "d", "f", "g", "h", "j", "k",  "l",  "m", "n",
					    "p", "r", "s", "t", "v", "w", "z", "ch", "sh", "th" };
	static const char *const vow[] = { "a", "e", "i", "o", "u" };
	uint64_t rng = seed ^ 0x746f6b66616246ull;
	uint32_t i = 0, tries = 0;

	while (v->n < v->cap) {
		char buf[32];
		size_t len = 0;
		uint32_t syl = 1 + (uint32_t)(rng_next(&rng) % 3);

		if (++tries > 64u * v->cap)
			return -EDEADLK; /* cannot happen below 2^20 pieces */
		if (rng_next(&rng) & 1)
			buf[len++] = ' ';
		for (uint32_t k = 0; k < syl; k++) {
			const char *c = cons[rng_next(&rng) % (sizeof(cons) / sizeof(cons[0]))];
			const char *o = vow[rng_next(&rng) % (sizeof(vow) / sizeof(vow[0]))];

			memcpy(buf + len, c, strlen(c));
			len += strlen(c);
			memcpy(buf + len, o, strlen(o));
			len += strlen(o);
		}
		if (vocab_find(v, buf, (uint32_t)len) >= 0)
			continue;
		if (vocab_add(v, buf, (uint32_t)len, -(float)(first_score + i++)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int
build_vocab(struct vocab *v, const struct tf_mkmodel_shape *s)
{
	static const char *const specials[] = { "<unk>", "\n<s>\n", "\n</s>\n" };
	uint32_t hsize = 1, merges = 0;
	char buf[8];
	int rc;

	memset(v, 0, sizeof(*v));
	v->cap = s->vocab_size;
	while (hsize < 2 * v->cap)
		hsize <<= 1;
	v->hmask = hsize - 1;
	v->p = calloc(v->cap, sizeof(*v->p));
	v->hash = malloc(hsize * sizeof(*v->hash));
	if (!v->p || !v->hash)
		return -ENOMEM;
	memset(v->hash, 0xff, hsize * sizeof(*v->hash));
	for (int i = 0; i < 3; i++)
		if (vocab_add(v, specials[i], (uint32_t)strlen(specials[i]), 0.0f) < 0)
			return -ENOMEM;
	for (int b = 0; b < 256; b++) {
		snprintf(buf, sizeof(buf), "<0x%02X>", b);
		if (vocab_add(v, buf, 6, 0.0f) < 0)
			return -ENOMEM;
	}
	buf[0] = '\n';
	if (v->n < v->cap && vocab_add(v, buf, 1, -1e6f) < 0)
		return -ENOMEM;
	for (int c = 32; c < 127 && v->n < v->cap; c++) {
		buf[0] = (char)c;
		if (vocab_add(v, buf, 1, -1e6f) < 0)
			return -ENOMEM;
	}
	if ((rc = learn_merges(v, &merges)))
		return rc;
	return add_fillers(v, s->seed, merges + 1);
}

static int
write_tokenizer(const struct vocab *v, const char *path, char *err, size_t errlen)
{
	uint32_t max_len = 1;
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return errf(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
	for (uint32_t i = 0; i < v->n; i++)
		max_len = v->p[i].len > max_len ? v->p[i].len : max_len;
	uint32_t le = htole32(max_len);
	ok = fwrite(&le, 4, 1, f) == 1;
	for (uint32_t i = 0; ok && i < v->n; i++) {
		uint32_t score, len = htole32(v->p[i].len);

		memcpy(&score, &v->p[i].score, 4);
		score = htole32(score);
		ok = fwrite(&score, 4, 1, f) == 1 && fwrite(&len, 4, 1, f) == 1 &&
		     fwrite(v->p[i].s, 1, v->p[i].len, f) == v->p[i].len;
	}
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		return errf(err, errlen, -EIO, "cannot write %s: %s", path, strerror(errno));
	}
	return 0;
}

/* ---- weights --------------------------------------------------------------- */

struct wout {
	FILE *f;
	float buf[16384];
	size_t n;
	int ok;
};

static void
put(struct wout *o, float v)
{
	uint32_t u;

	memcpy(&u, &v, 4);
	u = htole32(u);
	memcpy(&o->buf[o->n++], &u, 4);
	if (o->n == sizeof(o->buf) / sizeof(o->buf[0])) {
		o->ok = o->ok && fwrite(o->buf, sizeof(float), o->n, o->f) == o->n;
		o->n = 0;
	}
}

/* n values uniform in [-a, a) (plus bias) from the stream. */
static void
put_uniform(struct wout *o, uint64_t *rng, uint64_t n, float a, float bias)
{
	for (uint64_t i = 0; i < n; i++)
		put(o, bias + a * rng_sym(rng));
}

static int
write_model(const struct tf_mkmodel_shape *s, const char *path, char *err, size_t errlen)
{
	uint64_t L = s->n_layers, d = s->dim, hd = s->hidden_dim, V = s->vocab_size;
	uint64_t kv = (uint64_t)s->n_kv_heads * (s->dim / s->n_heads), hs = s->dim / s->n_heads;
	float emb_a = 2.0f * sqrtf(3.0f) / sqrtf((float)d); /* logits std ~ 2 */
	float in_d = sqrtf(3.0f / (float)d), in_h = sqrtf(3.0f / (float)hd);
	uint64_t rng = s->seed;
	int32_t hdr[7] = { (int32_t)s->dim,
			   (int32_t)s->hidden_dim,
			   (int32_t)s->n_layers,
			   (int32_t)s->n_heads,
			   (int32_t)s->n_kv_heads,
			   s->untied ? -(int32_t)s->vocab_size : (int32_t)s->vocab_size,
			   (int32_t)s->seq_len };
	struct wout *o = calloc(1, sizeof(*o));

	if (!o)
		return errf(err, errlen, -ENOMEM, "out of memory");
	o->f = fopen(path, "wb");
	if (!o->f) {
		free(o);
		return errf(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
	}
	o->ok = 1;
	for (int i = 0; i < 7; i++) {
		uint32_t u = htole32((uint32_t)hdr[i]);

		o->ok = o->ok && fwrite(&u, 4, 1, o->f) == 1;
	}
	put_uniform(o, &rng, V * d, emb_a, 0.0f); /* token embedding */
	put_uniform(o, &rng, L * d, 0.1f, 1.0f); /* rms_att */
	put_uniform(o, &rng, L * d * d, in_d, 0.0f); /* wq */
	put_uniform(o, &rng, L * kv * d, in_d, 0.0f); /* wk */
	put_uniform(o, &rng, L * kv * d, in_d, 0.0f); /* wv */
	put_uniform(o, &rng, L * d * d, in_d, 0.0f); /* wo */
	put_uniform(o, &rng, L * d, 0.1f, 1.0f); /* rms_ffn */
	put_uniform(o, &rng, L * hd * d, in_d, 0.0f); /* w1 */
	put_uniform(o, &rng, L * d * hd, in_h, 0.0f); /* w2 */
	put_uniform(o, &rng, L * hd * d, in_d, 0.0f); /* w3 */
	put_uniform(o, &rng, d, 0.1f, 1.0f); /* rms_final */
	for (int part = 0; part < 2; part++) /* freq_cis real, imag (unused) */
		for (uint64_t p = 0; p < s->seq_len; p++)
			for (uint64_t i = 0; i < hs / 2; i++) {
				float f = (float)p / powf(10000.0f, (float)(2 * i) / (float)hs);

				put(o, part ? sinf(f) : cosf(f));
			}
	if (s->untied)
		put_uniform(o, &rng, V * d, emb_a, 0.0f); /* classifier */
	if (o->n)
		o->ok = o->ok && fwrite(o->buf, sizeof(float), o->n, o->f) == o->n;
	if (fclose(o->f) != 0)
		o->ok = 0;
	if (!o->ok) {
		free(o);
		unlink(path);
		return errf(err, errlen, -EIO, "cannot write %s: %s", path, strerror(errno));
	}
	free(o);
	return 0;
}

int
tf_mkmodel_write(const struct tf_mkmodel_shape *s, const char *model_path,
		 const char *tokenizer_path, char *err, size_t errlen)
{
	struct vocab v;
	int rc = tf_mkmodel_check(s, err, errlen);

	if (rc)
		return rc;
	if (model_path && (rc = write_model(s, model_path, err, errlen)))
		return rc;
	if (!tokenizer_path)
		return 0;
	rc = build_vocab(&v, s);
	if (rc)
		errf(err, errlen, rc, "building the tokenizer: %s", strerror(-rc));
	else
		rc = write_tokenizer(&v, tokenizer_path, err, errlen);
	vocab_free(&v);
	return rc;
}
