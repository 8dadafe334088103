/* SPDX-License-Identifier: BSD-3-Clause */
/* See ref_llama.h. Deliberately simple: this is the yardstick. */
#include "ref_llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ref_llama {
	int dim, hidden, layers, heads, kv_heads, vocab, seq_len, shared;
	float *data; /* the whole file after the header */
	/* weights, llama2.c order */
	float *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
	/* state */
	float *x, *xb, *xb2, *hb, *hb2, *q, *att, *logits, *key_cache, *value_cache;
};

struct ref_llama *
ref_llama_open(const char *path)
{
	struct ref_llama *m = calloc(1, sizeof(*m));
	FILE *f = fopen(path, "rb");
	int32_t h[7];
	long size;
	float *p;
	int hs, kv_dim;

	if (!m || !f || fread(h, sizeof(h), 1, f) != 1) {
		fprintf(stderr, "ref_llama: cannot read %s\n", path);
		goto err;
	}
	m->dim = h[0], m->hidden = h[1], m->layers = h[2], m->heads = h[3], m->kv_heads = h[4];
	m->shared = h[5] > 0;
	m->vocab = abs(h[5]);
	m->seq_len = h[6];
	fseek(f, 0, SEEK_END);
	size = ftell(f) - (long)sizeof(h);
	fseek(f, sizeof(h), SEEK_SET);
	m->data = malloc((size_t)size);
	if (!m->data || fread(m->data, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "ref_llama: cannot read the weights of %s\n", path);
		goto err;
	}
	fclose(f);
	f = NULL;
	hs = m->dim / m->heads;
	kv_dim = m->kv_heads * hs;
	p = m->data;
	m->emb = p, p += (size_t)m->vocab * m->dim;
	m->rms_att = p, p += (size_t)m->layers * m->dim;
	m->wq = p, p += (size_t)m->layers * m->dim * m->dim;
	m->wk = p, p += (size_t)m->layers * m->dim * kv_dim;
	m->wv = p, p += (size_t)m->layers * m->dim * kv_dim;
	m->wo = p, p += (size_t)m->layers * m->dim * m->dim;
	m->rms_ffn = p, p += (size_t)m->layers * m->dim;
	m->w1 = p, p += (size_t)m->layers * m->dim * m->hidden;
	m->w2 = p, p += (size_t)m->layers * m->hidden * m->dim;
	m->w3 = p, p += (size_t)m->layers * m->dim * m->hidden;
	m->rms_final = p, p += m->dim;
	p += (size_t)m->seq_len * hs; /* freq_cis_real + freq_cis_imag */
	m->wcls = m->shared ? m->emb : p;

	m->x = calloc(m->dim, sizeof(float));
	m->xb = calloc(m->dim, sizeof(float));
	m->xb2 = calloc(m->dim, sizeof(float));
	m->hb = calloc(m->hidden, sizeof(float));
	m->hb2 = calloc(m->hidden, sizeof(float));
	m->q = calloc(m->dim, sizeof(float));
	m->att = calloc((size_t)m->heads * m->seq_len, sizeof(float));
	m->logits = calloc(m->vocab, sizeof(float));
	m->key_cache = calloc((size_t)m->layers * m->seq_len * kv_dim, sizeof(float));
	m->value_cache = calloc((size_t)m->layers * m->seq_len * kv_dim, sizeof(float));
	if (!m->x || !m->xb || !m->xb2 || !m->hb || !m->hb2 || !m->q || !m->att || !m->logits ||
	    !m->key_cache || !m->value_cache)
		goto err;
	return m;
err:
	if (f)
		fclose(f);
	ref_llama_close(m);
	return NULL;
}

void
ref_llama_close(struct ref_llama *m)
{
	if (!m)
		return;
	free(m->data);
	free(m->x);
	free(m->xb);
	free(m->xb2);
	free(m->hb);
	free(m->hb2);
	free(m->q);
	free(m->att);
	free(m->logits);
	free(m->key_cache);
	free(m->value_cache);
	free(m);
}

int
ref_llama_vocab(const struct ref_llama *m)
{
	return m->vocab;
}

int
ref_llama_seq_len(const struct ref_llama *m)
{
	return m->seq_len;
}

uint64_t
ref_llama_step_bytes(const struct ref_llama *m)
{
	uint64_t kv_dim = (uint64_t)m->kv_heads * (m->dim / m->heads);
	uint64_t per_layer =
		2ull * m->dim * m->dim + 2ull * kv_dim * m->dim + 3ull * m->hidden * m->dim;

	return 4 * (per_layer * m->layers + (uint64_t)m->vocab * m->dim +
		    (2ull * m->layers + 2) * m->dim);
}

static void
rmsnorm(float *o, const float *x, const float *w, int n)
{
	float ss = 0.0f;

	for (int j = 0; j < n; j++)
		ss += x[j] * x[j];
	ss /= n;
	ss += 1e-5f;
	ss = 1.0f / sqrtf(ss);
	for (int j = 0; j < n; j++)
		o[j] = w[j] * (ss * x[j]);
}

static void
softmax(float *x, int n)
{
	float max = x[0], sum = 0.0f;

	for (int i = 1; i < n; i++)
		if (x[i] > max)
			max = x[i];
	for (int i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	for (int i = 0; i < n; i++)
		x[i] /= sum;
}

/* W (d, n) @ x (n) -> xout (d) */
static void
matmul(float *xout, const float *x, const float *w, int n, int d)
{
	for (int i = 0; i < d; i++) {
		float val = 0.0f;

		for (int j = 0; j < n; j++)
			val += w[(size_t)i * n + j] * x[j];
		xout[i] = val;
	}
}

float *
ref_llama_forward(struct ref_llama *m, int token, int pos)
{
	int dim = m->dim, hs = dim / m->heads, kv_dim = m->kv_heads * hs;
	int kv_mul = m->heads / m->kv_heads, hidden = m->hidden;

	memcpy(m->x, m->emb + (size_t)token * dim, dim * sizeof(float));
	for (int l = 0; l < m->layers; l++) {
		size_t loff = (size_t)l * m->seq_len * kv_dim;
		float *k = m->key_cache + loff + (size_t)pos * kv_dim;
		float *v = m->value_cache + loff + (size_t)pos * kv_dim;

		rmsnorm(m->xb, m->x, m->rms_att + (size_t)l * dim, dim);
		matmul(m->q, m->xb, m->wq + (size_t)l * dim * dim, dim, dim);
		matmul(k, m->xb, m->wk + (size_t)l * dim * kv_dim, dim, kv_dim);
		matmul(v, m->xb, m->wv + (size_t)l * dim * kv_dim, dim, kv_dim);

		for (int i = 0; i < dim; i += 2) {
			int head_dim = i % hs;
			float freq = 1.0f / powf(10000.0f, head_dim / (float)hs);
			float val = pos * freq, fcr = cosf(val), fci = sinf(val);
			int rotn = i < kv_dim ? 2 : 1;

			for (int r = 0; r < rotn; r++) {
				float *vec = r == 0 ? m->q : k;
				float v0 = vec[i], v1 = vec[i + 1];

				vec[i] = v0 * fcr - v1 * fci;
				vec[i + 1] = v0 * fci + v1 * fcr;
			}
		}

		for (int h = 0; h < m->heads; h++) {
			float *q = m->q + h * hs, *att = m->att + (size_t)h * m->seq_len;
			float *xb = m->xb + h * hs;

			for (int t = 0; t <= pos; t++) {
				float *kt = m->key_cache + loff + (size_t)t * kv_dim +
					    (h / kv_mul) * hs;
				float score = 0.0f;

				for (int i = 0; i < hs; i++)
					score += q[i] * kt[i];
				att[t] = score / sqrtf(hs);
			}
			softmax(att, pos + 1);
			memset(xb, 0, hs * sizeof(float));
			for (int t = 0; t <= pos; t++) {
				float *vt = m->value_cache + loff + (size_t)t * kv_dim +
					    (h / kv_mul) * hs;

				for (int i = 0; i < hs; i++)
					xb[i] += att[t] * vt[i];
			}
		}
		matmul(m->xb2, m->xb, m->wo + (size_t)l * dim * dim, dim, dim);
		for (int i = 0; i < dim; i++)
			m->x[i] += m->xb2[i];

		rmsnorm(m->xb, m->x, m->rms_ffn + (size_t)l * dim, dim);
		matmul(m->hb, m->xb, m->w1 + (size_t)l * dim * hidden, dim, hidden);
		matmul(m->hb2, m->xb, m->w3 + (size_t)l * dim * hidden, dim, hidden);
		for (int i = 0; i < hidden; i++) {
			float val = m->hb[i];

			val *= 1.0f / (1.0f + expf(-val));
			m->hb[i] = val * m->hb2[i];
		}
		matmul(m->xb, m->hb, m->w2 + (size_t)l * dim * hidden, hidden, dim);
		for (int i = 0; i < dim; i++)
			m->x[i] += m->xb[i];
	}
	rmsnorm(m->x, m->x, m->rms_final, dim);
	matmul(m->logits, m->x, m->wcls, dim, m->vocab);
	return m->logits;
}
