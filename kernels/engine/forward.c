/* SPDX-License-Identifier: BSD-3-Clause */
#include "forward.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_ALIGN TF_KERN_ROW_ALIGN /* weight rows per task: whole panels */
#define CLS_CHUNK 2048u /* classifier rows per task at most: its output stays in L2 */

/* Up to three products that run as one parallel region. */
struct mm_item {
	float *out;
	size_t ldo;
	const float *x;
	size_t ldx;
	const struct tf_matrix *w;
	uint32_t chunk; /* weight rows per task */
	uint32_t ntasks;
};

struct mm_job {
	const struct tf_runner *r;
	uint32_t nb; /* batch rows */
	const uint16_t *xh; /* bf16: the items' common input, converted (kern.h) */
	size_t ldxh;
	uint32_t n_items;
	struct mm_item it[3];
	int swiglu; /* it[0] = w1 -> hb, it[1] = w3 -> hb2, same chunks */
	int top; /* the classifier: each task also finds its rows' largest logit */
};

struct att_job {
	const struct tf_runner *r;
	const struct tf_fwd_row *rows;
	const uint32_t *const *tables;
	uint32_t layer;
};

static uint32_t chunk_rows(const struct tf_runner *r, uint32_t rows);

static void *
zalloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

int
tf_runner_init(struct tf_runner *r, const struct tf_model *m, const struct tf_kern_ops *ops,
	       struct tf_pool *pool, struct tf_kv *kv, uint32_t max_rows, uint32_t max_logits)
{
	const struct tf_model_config *c = &m->cfg;
	size_t R = max_rows;

	memset(r, 0, sizeof(*r));
	r->model = m;
	r->ops = ops;
	r->pool = pool;
	r->kv = kv;
	r->max_rows = max_rows;
	r->max_logits = max_logits;
	r->x = zalloc(R * c->dim);
	r->xb = zalloc(R * c->dim);
	r->xb2 = zalloc(R * c->dim);
	r->q = zalloc(R * c->dim);
	r->k = zalloc(R * c->kv_dim);
	r->v = zalloc(R * c->kv_dim);
	r->hb = zalloc(R * c->hidden_dim);
	r->hb2 = zalloc(R * c->hidden_dim);
	r->xl = zalloc((size_t)max_logits * c->dim);
	r->logits = zalloc((size_t)max_logits * c->vocab_size);
	r->att = zalloc((size_t)tf_pool_threads(pool) * c->seq_len);
	r->ord = calloc(R ? R : 1, sizeof(*r->ord));
	r->top_chunk = chunk_rows(r, c->vocab_size);
	if (r->top_chunk > CLS_CHUNK)
		r->top_chunk = CLS_CHUNK;
	r->top_ld = (c->vocab_size + r->top_chunk - 1) / r->top_chunk;
	r->top = calloc((size_t)r->top_ld * (max_logits ? max_logits : 1), sizeof(*r->top));
	r->cls = zalloc((size_t)tf_pool_threads(pool) * (max_logits ? max_logits : 1) *
			r->top_chunk);
	r->full = calloc(max_logits ? max_logits : 1, 1);
	r->groups = calloc(R ? R : 1, sizeof(*r->groups));
	if (m->precision == TF_ENGINE_BF16) {
		size_t rows = TF_BF16_ROWS(max_rows > max_logits ? max_rows : max_logits);
		size_t cols = TF_BF16_KPAD(c->dim > c->hidden_dim ? c->dim : c->hidden_dim);
		size_t bytes = (rows * cols * sizeof(uint16_t) + 63) & ~(size_t)63;

		r->xh = aligned_alloc(64, bytes);
		if (r->xh)
			memset(r->xh, 0, bytes);
	}
	if (!r->x || !r->xb || !r->xb2 || !r->q || !r->k || !r->v || !r->hb || !r->hb2 || !r->xl ||
	    !r->logits || !r->att || !r->ord || !r->groups || !r->top || !r->cls || !r->full ||
	    (m->precision == TF_ENGINE_BF16 && !r->xh)) {
		tf_runner_fini(r);
		return -ENOMEM;
	}
	return 0;
}

void
tf_runner_fini(struct tf_runner *r)
{
	free(r->x);
	free(r->xb);
	free(r->xb2);
	free(r->q);
	free(r->k);
	free(r->v);
	free(r->hb);
	free(r->hb2);
	free(r->xl);
	free(r->logits);
	free(r->att);
	free(r->ord);
	free(r->groups);
	free(r->top);
	free(r->cls);
	free(r->full);
	free(r->xh);
	memset(r, 0, sizeof(*r));
}

/* Weight rows per task: about four tasks per thread, never below CHUNK_ALIGN. */
static uint32_t
chunk_rows(const struct tf_runner *r, uint32_t rows)
{
	uint32_t t = tf_pool_threads(r->pool), c;

	if (t == 1)
		return rows;
	c = (rows + 4 * t - 1) / (4 * t);
	c = (c + CHUNK_ALIGN - 1) / CHUNK_ALIGN * CHUNK_ALIGN;
	return c ? c : CHUNK_ALIGN;
}

static void
mm_add(struct mm_job *j, float *out, size_t ldo, const float *x, size_t ldx,
       const struct tf_matrix *w)
{
	struct mm_item *it = &j->it[j->n_items++];

	it->out = out;
	it->ldo = ldo;
	it->x = x;
	it->ldx = ldx;
	it->w = w;
	it->chunk = chunk_rows(j->r, w->rows);
	it->ntasks = (w->rows + it->chunk - 1) / it->chunk;
}

static void
mm_one(const struct mm_job *j, const struct mm_item *it, uint32_t task)
{
	uint32_t r0 = task * it->chunk;
	uint32_t r1 = r0 + it->chunk < it->w->rows ? r0 + it->chunk : it->w->rows;

	switch (j->r->model->precision) {
	case TF_ENGINE_INT8:
		j->r->ops->matmul_q8(it->out, it->ldo, it->x, it->ldx, j->nb, it->w, r0, r1);
		break;
	case TF_ENGINE_BF16:
		j->r->ops->matmul_bf16(it->out, it->ldo, j->xh, j->ldxh, j->nb, it->w, r0, r1);
		break;
	default:
		j->r->ops->matmul_f32(it->out, it->ldo, it->x, it->ldx, j->nb, it->w, r0, r1);
		break;
	}
}

/*
 * The classifier, top_chunk vocabulary rows per task, into the worker's
 * scratch (it stays in L2): the largest logit of each batch row there, and
 * only the rows that sample from the whole distribution copied out.
 */
static void
cls_task(const struct mm_job *j, uint32_t task, unsigned int worker)
{
	const struct tf_runner *r = j->r;
	const struct mm_item *a = &j->it[0];
	uint32_t r0 = task * r->top_chunk;
	uint32_t r1 = r0 + r->top_chunk < a->w->rows ? r0 + r->top_chunk : a->w->rows;
	float *sc = r->cls + (size_t)worker * r->max_logits * r->top_chunk;
	struct mm_item slice = *a;
	struct tf_matrix w;

	tf_kern_rows(r->ops, r->model->precision, a->w, r0, r1, &w);
	slice.w = &w;
	slice.out = sc;
	slice.ldo = r->top_chunk;
	slice.chunk = r1 - r0;
	mm_one(j, &slice, 0);
	for (uint32_t b = 0; b < j->nb; b++) {
		const float *o = sc + (size_t)b * r->top_chunk;
		int32_t t = r->ops->argmax(o, r1 - r0);

		r->top[(size_t)b * r->top_ld + task] =
			(struct tf_top){ .v = t < 0 ? 0.0f : o[t],
					 .i = t < 0 ? -1 : (int32_t)r0 + t };
		if (r->full[b])
			memcpy(a->out + (size_t)b * a->ldo + r0, o, (r1 - r0) * sizeof(float));
	}
}

static void
mm_task(void *ctx, uint32_t task, unsigned int worker)
{
	const struct mm_job *j = ctx;

	if (j->swiglu) { /* w1 and w3 over the same rows, then silu(h1) * h3 there */
		const struct mm_item *a = &j->it[0];
		uint32_t r0 = task * a->chunk;
		uint32_t r1 = r0 + a->chunk < a->w->rows ? r0 + a->chunk : a->w->rows;

		mm_one(j, &j->it[0], task);
		mm_one(j, &j->it[1], task);
		for (uint32_t b = 0; b < j->nb; b++)
			j->r->ops->swiglu(j->it[0].out + (size_t)b * j->it[0].ldo + r0,
					  j->it[1].out + (size_t)b * j->it[1].ldo + r0, r1 - r0);
		return;
	}
	if (j->top) {
		cls_task(j, task, worker);
		return;
	}
	for (uint32_t i = 0; i < j->n_items; i++) {
		if (task < j->it[i].ntasks) {
			mm_one(j, &j->it[i], task);
			return;
		}
		task -= j->it[i].ntasks;
	}
}

/* bf16: the items' input (the same for all of them) goes to bf16 once, each
 * row padded with zeros to whole tiles. */
static void
mm_convert(struct mm_job *j)
{
	const struct tf_runner *r = j->r;
	const struct mm_item *it = &j->it[0];
	uint32_t cols = it->w->cols;
	size_t ld = TF_BF16_KPAD(cols);

	for (uint32_t b = 0; b < j->nb; b++) {
		r->ops->to_bf16(r->xh + b * ld, it->x + b * it->ldx, cols);
		memset(r->xh + b * ld + cols, 0, (ld - cols) * sizeof(uint16_t));
	}
	j->xh = r->xh;
	j->ldxh = ld;
}

static void
mm_run(struct mm_job *j)
{
	uint32_t n = 0;

	if (j->r->model->precision == TF_ENGINE_BF16)
		mm_convert(j);
	if (j->swiglu)
		n = j->it[0].ntasks;
	else
		for (uint32_t i = 0; i < j->n_items; i++)
			n += j->it[i].ntasks;
	tf_pool_run(j->r->pool, mm_task, j, n);
}

/* Rotary embedding on one head's slice (hs floats) at position pos. */
static void
rope_head(const struct tf_model *m, float *v, uint32_t pos)
{
	uint32_t half = m->cfg.head_size / 2;
	const float *cs = m->rope_cos + (size_t)pos * half, *sn = m->rope_sin + (size_t)pos * half;

	for (uint32_t f = 0; f < half; f++) {
		float a = v[2 * f], b = v[2 * f + 1];

		v[2 * f] = a * cs[f] - b * sn[f];
		v[2 * f + 1] = a * sn[f] + b * cs[f];
	}
}

/* Kv head kvh's slice of a block: keys (hs, block_size), values hs
 * elements per position, kv_dim apart. */
static const unsigned char *
key_slice(const struct tf_kv *kv, uint32_t layer, uint32_t block, uint32_t kvh, uint32_t hs)
{
	return (const unsigned char *)tf_kv_keys(kv, layer, block) +
	       (size_t)kvh * hs * kv->block_size * kv->elt;
}

static const unsigned char *
val_slice(const struct tf_kv *kv, uint32_t layer, uint32_t block, uint32_t kvh, uint32_t hs)
{
	return (const unsigned char *)tf_kv_vals(kv, layer, block) + (size_t)kvh * hs * kv->elt;
}

/* Asks for the key and value slices of kv head kvh over positions [0, n)
 * before they are read: a head's slice of a block is a few KiB, too short
 * for the hardware prefetchers to ramp up on, and the blocks are scattered. */
static void
prefetch_kv(const struct tf_runner *r, uint32_t layer, const uint32_t *table, uint32_t n,
	    uint32_t kvh)
{
	const struct tf_kv *kv = r->kv;
	uint32_t bs = kv->block_size, hs = r->model->cfg.head_size;
	size_t row = (size_t)kv->kv_dim * kv->elt;

	for (uint32_t t = 0; t < n; t += bs) {
		const unsigned char *kb = key_slice(kv, layer, table[t / bs], kvh, hs);
		const unsigned char *vb = val_slice(kv, layer, table[t / bs], kvh, hs);
		uint32_t m = n - t < bs ? n - t : bs;

		for (size_t o = 0; o < (size_t)hs * bs * kv->elt; o += 64)
			__builtin_prefetch(kb + o, 0, 3);
		for (uint32_t s = 0; s < m; s++)
			for (size_t o = 0; o < (size_t)hs * kv->elt; o += 64)
				__builtin_prefetch(vb + s * row + o, 0, 3);
	}
}

/*
 * One (sequence, kv head): for each of the sequence's rows in position
 * order, RoPE on the key head and its query heads, the key / value slice into
 * the cache, then per query head scores over the sequence so far, softmax,
 * weighted sum of values into xb. Only this task touches this kv head of
 * this sequence, so a row sees the keys of the earlier rows of the call.
 * Keys are transposed (block_size apart per element), values kv_dim
 * elements apart per position; fp32 or bf16 as the cache holds them.
 */
static void
att_task(void *ctx, uint32_t task, unsigned int worker)
{
	const struct att_job *j = ctx;
	const struct tf_runner *r = j->r;
	const struct tf_model *m = r->model;
	const struct tf_model_config *c = &m->cfg;
	const struct tf_kern_ops *ops = r->ops;
	const struct tf_kv *kv = r->kv;
	const struct tf_att_group *g = &r->groups[task / c->n_kv_heads];
	uint32_t kvh = task % c->n_kv_heads, hs = c->head_size, G = c->n_heads / c->n_kv_heads;
	uint32_t bs = kv->block_size, L = j->layer;
	float *att = r->att + (size_t)worker * c->seq_len;
	float div = sqrtf((float)hs);

	for (uint32_t gi = 0; gi < g->n; gi++) {
		uint32_t i = r->ord[g->start + gi];
		const struct tf_fwd_row *row = &j->rows[i];
		const uint32_t *table = j->tables[row->seq];
		uint32_t p = row->pos, n = p + 1;
		float *k = r->k + (size_t)i * c->kv_dim + (size_t)kvh * hs;

		prefetch_kv(r, L, table, n, kvh);
		rope_head(m, k, p);
		tf_kv_put(kv, L, table[p / bs], p % bs, kvh * hs, hs, k,
			  r->v + (size_t)i * c->kv_dim + (size_t)kvh * hs);
		for (uint32_t h = kvh * G; h < (kvh + 1) * G; h++) {
			float *q = r->q + (size_t)i * c->dim + (size_t)h * hs;
			float *out = r->xb + (size_t)i * c->dim + (size_t)h * hs;

			rope_head(m, q, p);
			for (uint32_t t = 0; t < n; t += bs) {
				const void *kb = key_slice(kv, L, table[t / bs], kvh, hs);
				uint32_t cnt = n - t < bs ? n - t : bs;

				if (kv->elt == 2)
					ops->attn_scores_bf16(att + t, q, kb, bs, cnt, hs, div);
				else
					ops->attn_scores(att + t, q, kb, bs, cnt, hs, div);
			}
			ops->softmax(att, n);
			memset(out, 0, hs * sizeof(float));
			for (uint32_t t = 0; t < n; t += bs) {
				const void *vb = val_slice(kv, L, table[t / bs], kvh, hs);
				uint32_t cnt = n - t < bs ? n - t : bs;

				if (kv->elt == 2)
					ops->attn_values_bf16(out, att + t, vb, c->kv_dim, cnt, hs);
				else
					ops->attn_values(out, att + t, vb, c->kv_dim, cnt, hs);
			}
		}
	}
}

static int
cmp_row(const void *a, const void *b, void *ctx)
{
	const struct tf_fwd_row *rows = ctx;
	const struct tf_fwd_row *x = &rows[*(const uint32_t *)a], *y = &rows[*(const uint32_t *)b];

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int
cmp_group(const void *a, const void *b)
{
	const struct tf_att_group *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1; /* long prompt chunks first: they end last */
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The rows of each sequence, in position order (attention's tasks). */
static uint32_t
group_rows(struct tf_runner *r, const struct tf_fwd_row *rows, uint32_t n)
{
	uint32_t ng = 0;

	for (uint32_t i = 0; i < n; i++)
		r->ord[i] = i;
	qsort_r(r->ord, n, sizeof(*r->ord), cmp_row, (void *)(uintptr_t)rows);
	for (uint32_t i = 0; i < n; i++) {
		if (i == 0 || rows[r->ord[i]].seq != rows[r->ord[i - 1]].seq)
			r->groups[ng++] = (struct tf_att_group){ .start = i };
		r->groups[ng - 1].n++;
	}
	qsort(r->groups, ng, sizeof(*r->groups), cmp_group);
	return ng;
}

static void
add_rows(float *x, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

void
tf_runner_forward(struct tf_runner *r, const struct tf_fwd_row *rows, uint32_t n,
		  const uint32_t *const *tables)
{
	const struct tf_model *m = r->model;
	const struct tf_model_config *c = &m->cfg;
	const struct tf_kern_ops *ops = r->ops;
	uint32_t d = c->dim, kvd = c->kv_dim, hd = c->hidden_dim, nl = 0;
	uint32_t ng = group_rows(r, rows, n);
	struct mm_job j;

	for (uint32_t i = 0; i < n; i++)
		memcpy(r->x + (size_t)i * d, m->emb + (size_t)rows[i].token * d, d * sizeof(float));

	for (uint32_t l = 0; l < c->n_layers; l++) {
		const struct tf_layer *ly = &m->layers[l];
		struct att_job aj = { .r = r, .rows = rows, .tables = tables, .layer = l };

		for (uint32_t i = 0; i < n; i++)
			ops->rmsnorm(r->xb + (size_t)i * d, r->x + (size_t)i * d, ly->rms_att, d,
				     TF_RMS_EPS);
		j = (struct mm_job){ .r = r, .nb = n };
		mm_add(&j, r->q, d, r->xb, d, &ly->wq);
		mm_add(&j, r->k, kvd, r->xb, d, &ly->wk);
		mm_add(&j, r->v, kvd, r->xb, d, &ly->wv);
		mm_run(&j);

		tf_pool_run(r->pool, att_task, &aj, ng * c->n_kv_heads);

		j = (struct mm_job){ .r = r, .nb = n };
		mm_add(&j, r->xb2, d, r->xb, d, &ly->wo);
		mm_run(&j);
		add_rows(r->x, r->xb2, (size_t)n * d);

		for (uint32_t i = 0; i < n; i++)
			ops->rmsnorm(r->xb + (size_t)i * d, r->x + (size_t)i * d, ly->rms_ffn, d,
				     TF_RMS_EPS);
		j = (struct mm_job){ .r = r, .nb = n, .swiglu = 1 };
		mm_add(&j, r->hb, hd, r->xb, d, &ly->w1);
		mm_add(&j, r->hb2, hd, r->xb, d, &ly->w3);
		mm_run(&j);

		j = (struct mm_job){ .r = r, .nb = n };
		mm_add(&j, r->xb2, d, r->hb, hd, &ly->w2);
		mm_run(&j);
		add_rows(r->x, r->xb2, (size_t)n * d);
	}

	for (uint32_t i = 0; i < n; i++) {
		if (rows[i].logit_row < 0)
			continue;
		ops->rmsnorm(r->xl + (size_t)rows[i].logit_row * d, r->x + (size_t)i * d,
			     m->rms_final, d, TF_RMS_EPS);
		r->full[rows[i].logit_row] = !rows[i].top_only;
		if ((uint32_t)rows[i].logit_row + 1 > nl)
			nl = (uint32_t)rows[i].logit_row + 1;
	}
	if (nl) {
		j = (struct mm_job){ .r = r, .nb = nl, .top = 1 };
		mm_add(&j, r->logits, c->vocab_size, r->xl, d, &m->wcls);
		j.it[0].ntasks = r->top_tasks = r->top_ld;
		mm_run(&j);
	}
}

int32_t
tf_runner_top(const struct tf_runner *r, uint32_t row)
{
	const struct tf_top *t = r->top + (size_t)row * r->top_ld;
	struct tf_top best = t[0];

	/* chunks in order, a later one only when strictly larger: the first
	 * index of the largest value, as one argmax over the row */
	for (uint32_t i = 0; i < r->top_tasks; i++) {
		if (t[i].i < 0)
			return -1;
		if (t[i].v > best.v)
			best = t[i];
	}
	return best.i;
}
