/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * llama2.c checkpoint: header checks, weight layout, mmap, int8 copy and the
 * RoPE tables. Every size is checked against the file before a pointer is made.
 */
#include "model.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"

#define LLAMA2C_MAGIC 0x616b3432u /* "ak42": llama2.c export versions >= 1 */

static int32_t
rd_i32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return (int32_t)le32toh(v);
}

static int
check_dim(const char *name, int32_t v, uint32_t max, char *err, size_t errlen)
{
	if (v <= 0 || (uint32_t)v > max)
		return tf_eng_err(err, errlen, -EINVAL,
				  "checkpoint header: %s = %d is outside 1..%u: not a llama2.c "
				  "legacy checkpoint, or a corrupt one",
				  name, v, max);
	return 0;
}

int
tf_model_header_parse(const void *buf, size_t len, struct tf_model_config *cfg,
		      struct tf_model_layout *lay, char *err, size_t errlen)
{
	const unsigned char *p = buf;
	int32_t h[7];
	uint64_t L, d, hd, kv, V, S, off, want;
	int rc;

	if (len < TF_MODEL_HEADER_BYTES)
		return tf_eng_err(err, errlen, -EINVAL,
				  "checkpoint is %zu bytes, shorter than its %u-byte header: "
				  "truncated or not a llama2.c checkpoint",
				  len, TF_MODEL_HEADER_BYTES);
	if ((uint32_t)rd_i32(p) == LLAMA2C_MAGIC)
		return tf_eng_err(err, errlen, -ENOTSUP,
				  "checkpoint uses llama2.c export version %d (magic \"ak42\"); "
				  "only the legacy fp32 layout is read: re-export it with "
				  "export.py --version 0",
				  rd_i32(p + 4));
	for (int i = 0; i < 7; i++)
		h[i] = rd_i32(p + 4 * i);

	memset(cfg, 0, sizeof(*cfg));
	if ((rc = check_dim("dim", h[0], TF_MODEL_MAX_DIM, err, errlen)) ||
	    (rc = check_dim("hidden_dim", h[1], TF_MODEL_MAX_HIDDEN, err, errlen)) ||
	    (rc = check_dim("n_layers", h[2], TF_MODEL_MAX_LAYERS, err, errlen)) ||
	    (rc = check_dim("n_heads", h[3], TF_MODEL_MAX_HEADS, err, errlen)) ||
	    (rc = check_dim("n_kv_heads", h[4], TF_MODEL_MAX_HEADS, err, errlen)) ||
	    (rc = check_dim("seq_len", h[6], TF_MODEL_MAX_SEQ, err, errlen)))
		return rc;
	if (h[5] == 0 || h[5] == INT32_MIN || (uint32_t)abs(h[5]) > TF_MODEL_MAX_VOCAB)
		return tf_eng_err(err, errlen, -EINVAL,
				  "checkpoint header: vocab_size = %d is outside 1..%u (negative "
				  "means an untied output head): corrupt checkpoint",
				  h[5], TF_MODEL_MAX_VOCAB);
	cfg->dim = (uint32_t)h[0];
	cfg->hidden_dim = (uint32_t)h[1];
	cfg->n_layers = (uint32_t)h[2];
	cfg->n_heads = (uint32_t)h[3];
	cfg->n_kv_heads = (uint32_t)h[4];
	cfg->shared = h[5] > 0;
	cfg->vocab_size = (uint32_t)abs(h[5]);
	cfg->seq_len = (uint32_t)h[6];
	if (cfg->dim % cfg->n_heads || (cfg->dim / cfg->n_heads) % 2)
		return tf_eng_err(err, errlen, -EINVAL,
				  "checkpoint header: dim %u is not n_heads %u times an even "
				  "head size: corrupt checkpoint",
				  cfg->dim, cfg->n_heads);
	if (cfg->n_kv_heads > cfg->n_heads || cfg->n_heads % cfg->n_kv_heads)
		return tf_eng_err(err, errlen, -EINVAL,
				  "checkpoint header: n_heads %u is not a multiple of n_kv_heads "
				  "%u: corrupt checkpoint",
				  cfg->n_heads, cfg->n_kv_heads);
	cfg->head_size = cfg->dim / cfg->n_heads;
	cfg->kv_dim = cfg->n_kv_heads * cfg->head_size;

	/* Every product below is < 2^50 given the limits: no overflow in u64. */
	L = cfg->n_layers, d = cfg->dim, hd = cfg->hidden_dim, kv = cfg->kv_dim;
	V = cfg->vocab_size, S = cfg->seq_len;
	off = 0;
	lay->emb = off, off += V * d;
	lay->rms_att = off, off += L * d;
	lay->wq = off, off += L * d * d;
	lay->wk = off, off += L * kv * d;
	lay->wv = off, off += L * kv * d;
	lay->wo = off, off += L * d * d;
	lay->rms_ffn = off, off += L * d;
	lay->w1 = off, off += L * hd * d;
	lay->w2 = off, off += L * d * hd;
	lay->w3 = off, off += L * hd * d;
	lay->rms_final = off, off += d;
	lay->freq_cis = off, off += S * cfg->head_size; /* real + imag halves */
	if (cfg->shared) {
		lay->wcls = lay->emb;
	} else {
		lay->wcls = off;
		off += V * d;
	}
	lay->n_floats = off;
	want = TF_MODEL_HEADER_BYTES + off * sizeof(float);
	if ((uint64_t)len < want)
		return tf_eng_err(err, errlen, -EINVAL,
				  "checkpoint is truncated: %zu bytes, but its header (dim %u, "
				  "hidden %u, layers %u, heads %u/%u, vocab %u%s, seq_len %u) "
				  "needs %llu bytes",
				  len, cfg->dim, cfg->hidden_dim, cfg->n_layers, cfg->n_heads,
				  cfg->n_kv_heads, cfg->vocab_size, cfg->shared ? "" : " untied",
				  cfg->seq_len, (unsigned long long)want);
	if ((uint64_t)len > want)
		return tf_eng_err(err, errlen, -EINVAL,
				  "checkpoint is %zu bytes but its header implies %llu: header "
				  "and weights disagree (wrong file, or not a legacy llama2.c "
				  "checkpoint)",
				  len, (unsigned long long)want);
	return 0;
}

void
tf_q8_quantize(const float *w, uint32_t rows, uint32_t cols, int8_t *q, float *scale)
{
	uint32_t groups = cols / TF_Q8_GROUP;

	for (uint32_t r = 0; r < rows; r++) {
		for (uint32_t g = 0; g < groups; g++) {
			const float *src = w + (size_t)r * cols + (size_t)g * TF_Q8_GROUP;
			int8_t *dst = q + (size_t)r * cols + (size_t)g * TF_Q8_GROUP;
			float amax = 0.0f, s, inv;

			for (uint32_t k = 0; k < TF_Q8_GROUP; k++)
				amax = fmaxf(amax, fabsf(src[k]));
			s = amax / 127.0f;
			inv = s > 0.0f ? 1.0f / s : 0.0f;
			for (uint32_t k = 0; k < TF_Q8_GROUP; k++) {
				float v = roundf(src[k] * inv);

				dst[k] = (int8_t)fmaxf(-127.0f, fminf(127.0f, v));
			}
			scale[(size_t)r * groups + g] = s;
		}
	}
}

void
tf_bf16_convert(const float *w, size_t n, uint16_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = tf_bf16_round(w[i]);
}

static void
mat_set(struct tf_matrix *mx, const float *base, uint64_t off, uint32_t rows, uint32_t cols)
{
	mx->f32 = base + off;
	mx->rows = rows;
	mx->cols = cols;
	mx->q8 = NULL;
	mx->scale = NULL;
	mx->bf16 = NULL;
}

size_t
tf_model_matrices(struct tf_model *m, struct tf_matrix **out)
{
	size_t n = 0;

	for (uint32_t l = 0; l < m->cfg.n_layers; l++) {
		struct tf_layer *ly = &m->layers[l];

		out[n++] = &ly->wq, out[n++] = &ly->wk, out[n++] = &ly->wv, out[n++] = &ly->wo;
		out[n++] = &ly->w1, out[n++] = &ly->w2, out[n++] = &ly->w3;
	}
	out[n++] = &m->wcls;
	return n;
}

static int
model_quantize(struct tf_model *m, char *err, size_t errlen)
{
	const struct tf_model_config *c = &m->cfg;
	struct tf_matrix **mats;
	size_t n, bytes = 0;
	unsigned char *mem;

	if (c->dim % TF_Q8_GROUP || c->hidden_dim % TF_Q8_GROUP)
		return tf_eng_err(err, errlen, -ENOTSUP,
				  "int8 needs dim and hidden_dim to be multiples of %u (this "
				  "model has %u and %u): load it with precision fp32",
				  TF_Q8_GROUP, c->dim, c->hidden_dim);
	mats = calloc((size_t)c->n_layers * 7 + 1, sizeof(*mats));
	if (!mats)
		return tf_eng_err(err, errlen, -ENOMEM, "out of memory for the int8 weights");
	n = tf_model_matrices(m, mats);
	for (size_t i = 0; i < n; i++) {
		size_t e = (size_t)mats[i]->rows * mats[i]->cols;

		bytes += e + e / TF_Q8_GROUP * sizeof(float);
	}
	mem = malloc(bytes);
	if (!mem) {
		free(mats);
		return tf_eng_err(err, errlen, -ENOMEM,
				  "out of memory: the int8 weights need %zu bytes", bytes);
	}
	m->q8_mem = mem;
	for (size_t i = 0; i < n; i++) {
		struct tf_matrix *mx = mats[i];
		size_t e = (size_t)mx->rows * mx->cols;
		float *scale = (float *)mem; /* scales first: keeps them 4-byte aligned */
		int8_t *q = (int8_t *)(mem + e / TF_Q8_GROUP * sizeof(float));

		tf_q8_quantize(mx->f32, mx->rows, mx->cols, q, scale);
		mx->q8 = q;
		mx->scale = scale;
		mem += e + e / TF_Q8_GROUP * sizeof(float);
	}
	free(mats);
	return 0;
}

/* bf16 copies of every matrix (the classifier too, even when it is the
 * embedding: the embedding rows stay fp32). */
static int
model_bf16(struct tf_model *m, char *err, size_t errlen)
{
	struct tf_matrix **mats;
	size_t n, elems = 0;
	uint16_t *mem;

	mats = calloc((size_t)m->cfg.n_layers * 7 + 1, sizeof(*mats));
	if (!mats)
		return tf_eng_err(err, errlen, -ENOMEM, "out of memory for the bf16 weights");
	n = tf_model_matrices(m, mats);
	for (size_t i = 0; i < n; i++)
		elems += (size_t)mats[i]->rows * mats[i]->cols;
	mem = malloc(elems * sizeof(uint16_t));
	if (!mem) {
		free(mats);
		return tf_eng_err(err, errlen, -ENOMEM,
				  "out of memory: the bf16 weights need %zu bytes",
				  elems * sizeof(uint16_t));
	}
	m->bf16_mem = mem;
	for (size_t i = 0; i < n; i++) {
		size_t e = (size_t)mats[i]->rows * mats[i]->cols;

		tf_bf16_convert(mats[i]->f32, e, mem);
		mats[i]->bf16 = mem;
		mem += e;
	}
	free(mats);
	return 0;
}

static int
model_rope(struct tf_model *m)
{
	uint32_t half = m->cfg.head_size / 2;
	size_t n = (size_t)m->cfg.seq_len * half;

	m->rope_cos = malloc(n * sizeof(float));
	m->rope_sin = malloc(n * sizeof(float));
	if (!m->rope_cos || !m->rope_sin)
		return -ENOMEM;
	for (uint32_t pos = 0; pos < m->cfg.seq_len; pos++) {
		for (uint32_t i = 0; i < half; i++) {
			float freq =
				1.0f / powf(10000.0f, (float)(2 * i) / (float)m->cfg.head_size);
			float val = (float)pos * freq;

			m->rope_cos[(size_t)pos * half + i] = cosf(val);
			m->rope_sin[(size_t)pos * half + i] = sinf(val);
		}
	}
	return 0;
}

int
tf_model_init(struct tf_model *m, const void *buf, size_t len, enum tf_engine_precision prec,
	      char *err, size_t errlen)
{
	struct tf_model_layout lay;
	const float *w;
	uint64_t d, kv, hd;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = tf_model_header_parse(buf, len, &m->cfg, &lay, err, errlen);
	if (rc)
		return rc;
	if (prec != TF_ENGINE_FP32 && prec != TF_ENGINE_INT8 && prec != TF_ENGINE_BF16)
		return tf_eng_err(err, errlen, -EINVAL,
				  "precision %d is none of fp32 (0), int8 (1), bf16 (2)",
				  (int)prec);
	m->precision = prec;
	m->map = buf;
	m->map_len = len;
	w = (const float *)((const unsigned char *)buf + TF_MODEL_HEADER_BYTES);
	d = m->cfg.dim, kv = m->cfg.kv_dim, hd = m->cfg.hidden_dim;

	m->layers = calloc(m->cfg.n_layers, sizeof(*m->layers));
	if (!m->layers) {
		rc = tf_eng_err(err, errlen, -ENOMEM, "out of memory for the layer table");
		goto err;
	}
	m->emb = w + lay.emb;
	m->rms_final = w + lay.rms_final;
	mat_set(&m->wcls, w, lay.wcls, m->cfg.vocab_size, m->cfg.dim);
	for (uint32_t l = 0; l < m->cfg.n_layers; l++) {
		struct tf_layer *ly = &m->layers[l];

		ly->rms_att = w + lay.rms_att + l * d;
		ly->rms_ffn = w + lay.rms_ffn + l * d;
		mat_set(&ly->wq, w, lay.wq + l * d * d, m->cfg.dim, m->cfg.dim);
		mat_set(&ly->wk, w, lay.wk + l * kv * d, m->cfg.kv_dim, m->cfg.dim);
		mat_set(&ly->wv, w, lay.wv + l * kv * d, m->cfg.kv_dim, m->cfg.dim);
		mat_set(&ly->wo, w, lay.wo + l * d * d, m->cfg.dim, m->cfg.dim);
		mat_set(&ly->w1, w, lay.w1 + l * hd * d, m->cfg.hidden_dim, m->cfg.dim);
		mat_set(&ly->w2, w, lay.w2 + l * d * hd, m->cfg.dim, m->cfg.hidden_dim);
		mat_set(&ly->w3, w, lay.w3 + l * hd * d, m->cfg.hidden_dim, m->cfg.dim);
	}
	if (model_rope(m)) {
		rc = tf_eng_err(err, errlen, -ENOMEM, "out of memory for the RoPE tables");
		goto err;
	}
	if (prec == TF_ENGINE_INT8 && (rc = model_quantize(m, err, errlen)))
		goto err;
	if (prec == TF_ENGINE_BF16 && (rc = model_bf16(m, err, errlen)))
		goto err;
	return 0;
err:
	m->map = NULL; /* the caller still owns buf */
	tf_model_free(m);
	return rc;
}

int
tf_model_load(struct tf_model *m, const char *path, enum tf_engine_precision prec, char *err,
	      size_t errlen)
{
	struct stat st;
	void *map;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return tf_eng_err(err, errlen, rc, "cannot open checkpoint %s: %s", path,
				  strerror(-rc));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return tf_eng_err(err, errlen, -EINVAL, "checkpoint %s is not a regular file",
				  path);
	}
	if ((uint64_t)st.st_size < TF_MODEL_HEADER_BYTES) {
		close(fd);
		return tf_eng_err(err, errlen, -EINVAL,
				  "checkpoint %s is %lld bytes, shorter than its header: "
				  "truncated or not a llama2.c checkpoint",
				  path, (long long)st.st_size);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	rc = -errno;
	close(fd);
	if (map == MAP_FAILED)
		return tf_eng_err(err, errlen, rc, "cannot map checkpoint %s: %s", path,
				  strerror(-rc));
	rc = tf_model_init(m, map, (size_t)st.st_size, prec, err, errlen);
	if (rc) {
		munmap(map, (size_t)st.st_size);
		return rc;
	}
	m->mapped = 1;
	return 0;
}

void
tf_model_free(struct tf_model *m)
{
	if (m->pack_mem)
		munmap(m->pack_mem, m->pack_len);
	free(m->q8_mem);
	free(m->bf16_mem);
	free(m->rope_cos);
	free(m->rope_sin);
	free(m->layers);
	if (m->mapped && m->map)
		munmap((void *)(uintptr_t)m->map, m->map_len);
	memset(m, 0, sizeof(*m));
}

uint64_t
tf_model_step_bytes(const struct tf_model *m)
{
	const struct tf_model_config *c = &m->cfg;
	uint64_t per_layer = (uint64_t)c->dim * c->dim * 2 + (uint64_t)c->kv_dim * c->dim * 2 +
			     (uint64_t)c->hidden_dim * c->dim * 3;
	uint64_t elems = per_layer * c->n_layers + (uint64_t)c->vocab_size * c->dim;
	uint64_t small = ((uint64_t)c->n_layers * 2 * c->dim + c->dim + c->dim) * sizeof(float);

	if (m->precision == TF_ENGINE_INT8)
		return elems + elems / TF_Q8_GROUP * sizeof(float) + small;
	if (m->precision == TF_ENGINE_BF16)
		return elems * sizeof(uint16_t) + small;
	return elems * sizeof(float) + small;
}
