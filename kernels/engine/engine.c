/* SPDX-License-Identifier: BSD-3-Clause */
/* libtfengine public API: setup, tokenizer access, sequences, stepping. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"
#include "errmsg.h"

#define DEF_BLOCK_SIZE 16u
#define DEF_MAX_BATCH 32u
#define DEF_PREFILL_CHUNK 64u
#define MAX_THREADS 256u
#define MAX_BATCH 1024u
#define MAX_SEQS 65536u
#define MAX_STEP_TOKENS 65536u

static int
fill_defaults(struct tf_engine_config *c, const struct tf_model_config *mc, char *err,
	      size_t errlen)
{
	long cpus;

	if (c->threads == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		c->threads = cpus > 0 ? (unsigned int)cpus : 1;
		if (c->threads > MAX_THREADS)
			c->threads = MAX_THREADS;
	}
	if (c->kv_block_size == 0)
		c->kv_block_size = DEF_BLOCK_SIZE;
	if (c->max_batch == 0)
		c->max_batch = DEF_MAX_BATCH;
	if (c->max_seqs == 0)
		c->max_seqs = 4 * c->max_batch;
	if (c->prefill_chunk == 0)
		c->prefill_chunk = DEF_PREFILL_CHUNK;
	if (c->step_tokens == 0)
		c->step_tokens = c->max_batch + c->prefill_chunk;
	if (c->threads > MAX_THREADS)
		return tf_eng_err(err, errlen, -EINVAL, "threads %u: at most %u", c->threads,
				  MAX_THREADS);
	if (c->kv_block_size > mc->seq_len)
		c->kv_block_size = mc->seq_len;
	if (c->max_batch > MAX_BATCH)
		return tf_eng_err(err, errlen, -EINVAL, "max_batch %u: at most %u", c->max_batch,
				  MAX_BATCH);
	if (c->max_seqs < c->max_batch || c->max_seqs > MAX_SEQS)
		return tf_eng_err(err, errlen, -EINVAL,
				  "max_seqs %u must be between max_batch (%u) and %u", c->max_seqs,
				  c->max_batch, MAX_SEQS);
	if (c->step_tokens < c->max_batch || c->step_tokens > MAX_STEP_TOKENS)
		return tf_eng_err(err, errlen, -EINVAL,
				  "step_tokens %u must be between max_batch (%u) and %u, so every "
				  "running sequence decodes at every step",
				  c->step_tokens, c->max_batch, MAX_STEP_TOKENS);
	if (c->kv_pool_blocks == 0) {
		uint64_t b = (uint64_t)c->max_batch *
			     ((mc->seq_len + c->kv_block_size - 1) / c->kv_block_size);

		c->kv_pool_blocks = b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
	}
	return 0;
}

int
tf_engine_create(const struct tf_engine_config *cfg, struct tf_engine **out, char *err,
		 size_t errlen)
{
	struct tf_engine *e;
	uint32_t per_seq_blocks;
	int rc;

	if (!cfg || !out || !cfg->checkpoint_path || !cfg->tokenizer_path)
		return tf_eng_err(err, errlen, -EINVAL,
				  "engine config needs a checkpoint path and a tokenizer path");
	e = calloc(1, sizeof(*e));
	if (!e)
		return tf_eng_err(err, errlen, -ENOMEM, "out of memory for the engine");
	e->cfg = *cfg;
	e->cfg.checkpoint_path = NULL;
	e->cfg.tokenizer_path = NULL;

	rc = tf_model_load(&e->model, cfg->checkpoint_path, cfg->precision, err, errlen);
	if (rc)
		goto err_free;
	rc = tf_tok_load(&e->tok, cfg->tokenizer_path, e->model.cfg.vocab_size, err, errlen);
	if (rc)
		goto err_model;
	e->ops = tf_kern_select(cfg->kernels, &rc);
	if (!e->ops) {
		tf_eng_err(err, errlen, rc,
			   rc == -ENOTSUP
				   ? "kernels \"%s\": this CPU lacks the instructions "
				     "(use \"auto\" or \"generic\")"
				   : "kernels \"%s\" unknown: use auto, generic, avx2, avx512, "
				     "avx512bf16 or amx",
			   cfg->kernels);
		goto err_tok;
	}
	rc = fill_defaults(&e->cfg, &e->model.cfg, err, errlen);
	if (rc)
		goto err_tok;
	rc = tf_model_pack(&e->model, e->ops, err, errlen);
	if (rc)
		goto err_tok;
	rc = tf_pool_create(e->cfg.threads, &e->pool);
	if (rc) {
		tf_eng_err(err, errlen, rc, "cannot start %u worker threads", e->cfg.threads);
		goto err_tok;
	}
	rc = tf_kv_create(&e->kv, e->model.cfg.n_layers, e->model.cfg.kv_dim, e->cfg.kv_block_size,
			  e->cfg.kv_pool_blocks, e->model.precision == TF_ENGINE_BF16 ? 2 : 4);
	if (rc) {
		tf_eng_err(err, errlen, rc,
			   "cannot allocate the KV pool (%u blocks of %u positions): lower "
			   "kv_pool_blocks or max_batch",
			   e->cfg.kv_pool_blocks, e->cfg.kv_block_size);
		goto err_pool;
	}
	rc = tf_runner_init(&e->run, &e->model, e->ops, e->pool, &e->kv, e->cfg.step_tokens,
			    e->cfg.max_batch);
	if (rc) {
		tf_eng_err(err, errlen, rc, "out of memory for the activations");
		goto err_kv;
	}

	per_seq_blocks = tf_kv_blocks_for(&e->kv, e->model.cfg.seq_len);
	e->seqs = calloc(e->cfg.max_seqs, sizeof(*e->seqs));
	e->tables = calloc(e->cfg.max_seqs, sizeof(*e->tables));
	e->order = calloc(e->cfg.max_seqs, sizeof(*e->order));
	e->rows = calloc(e->cfg.step_tokens, sizeof(*e->rows));
	e->logit_seq = calloc(e->cfg.max_batch, sizeof(*e->logit_seq));
	e->sampled = calloc(e->cfg.max_batch, sizeof(*e->sampled));
	e->scratch = calloc((size_t)e->cfg.threads * e->model.cfg.vocab_size, sizeof(*e->scratch));
	e->ev_cap = e->cfg.max_seqs + 2 * e->cfg.max_batch;
	e->evq = calloc(e->ev_cap, sizeof(*e->evq));
	e->ev_slot = calloc(e->ev_cap, sizeof(*e->ev_slot));
	rc = -ENOMEM;
	if (!e->seqs || !e->tables || !e->order || !e->rows || !e->logit_seq || !e->sampled ||
	    !e->scratch || !e->evq || !e->ev_slot) {
		tf_eng_err(err, errlen, rc, "out of memory for the sequence tables");
		goto err_tables;
	}
	for (uint32_t i = 0; i < e->cfg.max_seqs; i++) {
		e->seqs[i].blocks = calloc(per_seq_blocks, sizeof(uint32_t));
		if (!e->seqs[i].blocks) {
			tf_eng_err(err, errlen, rc, "out of memory for the block tables");
			goto err_tables;
		}
		e->tables[i] = e->seqs[i].blocks;
	}

	e->info = (struct tf_engine_model_info){
		.dim = e->model.cfg.dim,
		.hidden_dim = e->model.cfg.hidden_dim,
		.n_layers = e->model.cfg.n_layers,
		.n_heads = e->model.cfg.n_heads,
		.n_kv_heads = e->model.cfg.n_kv_heads,
		.vocab_size = e->model.cfg.vocab_size,
		.seq_len = e->model.cfg.seq_len,
		.shared_classifier = e->model.cfg.shared,
		.bos_id = TF_TOK_BOS,
		.eos_id = TF_TOK_EOS,
		.weight_bytes_per_token = tf_model_step_bytes(&e->model),
		.kernels = e->ops->name,
		.precision = e->model.precision,
		.threads = e->cfg.threads,
	};
	e->st.kv_blocks_total = e->kv.n_blocks;
	*out = e;
	return 0;

err_tables:
	if (e->seqs)
		for (uint32_t i = 0; i < e->cfg.max_seqs; i++)
			free(e->seqs[i].blocks);
	free(e->seqs);
	free(e->tables);
	free(e->order);
	free(e->rows);
	free(e->logit_seq);
	free(e->sampled);
	free(e->scratch);
	free(e->evq);
	free(e->ev_slot);
	tf_runner_fini(&e->run);
err_kv:
	tf_kv_destroy(&e->kv);
err_pool:
	tf_pool_destroy(e->pool);
err_tok:
	tf_tok_free(&e->tok);
err_model:
	tf_model_free(&e->model);
err_free:
	free(e);
	return rc;
}

void
tf_engine_destroy(struct tf_engine *e)
{
	if (!e)
		return;
	for (uint32_t i = 0; i < e->cfg.max_seqs; i++) {
		free(e->seqs[i].prompt);
		free(e->seqs[i].blocks);
	}
	free(e->seqs);
	free(e->tables);
	free(e->order);
	free(e->rows);
	free(e->logit_seq);
	free(e->sampled);
	free(e->scratch);
	free(e->evq);
	free(e->ev_slot);
	tf_runner_fini(&e->run);
	tf_kv_destroy(&e->kv);
	tf_pool_destroy(e->pool);
	tf_tok_free(&e->tok);
	tf_model_free(&e->model);
	free(e);
}

const struct tf_engine_model_info *
tf_engine_model(const struct tf_engine *e)
{
	return &e->info;
}

int
tf_engine_tokenize(struct tf_engine *e, const char *text, size_t len, unsigned int flags,
		   int32_t *ids, size_t cap)
{
	if (!e || (!text && len) || (!ids && cap) ||
	    (flags & ~(TF_ENGINE_TOK_BOS | TF_ENGINE_TOK_SPACE_PREFIX)))
		return -EINVAL;
	return tf_tok_encode(&e->tok, text ? text : "", len, flags, ids, cap);
}

const char *
tf_engine_token_text(const struct tf_engine *e, int32_t id, size_t *len)
{
	if (!e || id < 0 || (uint32_t)id >= e->tok.n)
		return NULL;
	if (len)
		*len = e->tok.pieces[id].text_len;
	return e->tok.pieces[id].text;
}

static struct tf_seq *
find_live(struct tf_engine *e, uint64_t cookie)
{
	for (uint32_t i = 0; i < e->cfg.max_seqs; i++)
		if (e->seqs[i].state != TF_SEQ_FREE && e->seqs[i].cookie == cookie)
			return &e->seqs[i];
	return NULL;
}

int
tf_engine_seq_add(struct tf_engine *e, const struct tf_engine_seq_params *p)
{
	const struct tf_model_config *mc;
	struct tf_seq *s = NULL;
	uint32_t max_new, need;
	int clamped = 0;

	if (!e || !p || !p->prompt)
		return -EINVAL;
	mc = &e->model.cfg;
	if (p->prompt_len == 0 || p->prompt_len > mc->seq_len || p->max_new_tokens == 0 ||
	    !(p->temperature >= 0.0f) || !isfinite(p->temperature) || !(p->top_p >= 0.0f) ||
	    !isfinite(p->top_p))
		return -EINVAL;
	for (uint32_t i = 0; i < p->prompt_len; i++)
		if (p->prompt[i] < 0 || (uint32_t)p->prompt[i] >= mc->vocab_size)
			return -EINVAL;
	max_new = p->max_new_tokens;
	if (max_new > mc->seq_len - p->prompt_len + 1) {
		max_new = mc->seq_len - p->prompt_len + 1;
		clamped = 1;
	}
	need = tf_kv_blocks_for(&e->kv, p->prompt_len + max_new - 1);
	if (need > e->kv.n_blocks)
		return -E2BIG;
	if (find_live(e, p->cookie))
		return -EEXIST;
	for (uint32_t i = 0; i < e->cfg.max_seqs && !s; i++)
		if (e->seqs[i].state == TF_SEQ_FREE)
			s = &e->seqs[i];
	if (!s)
		return -EAGAIN;
	s->prompt = malloc((size_t)p->prompt_len * sizeof(*s->prompt));
	if (!s->prompt)
		return -ENOMEM;
	memcpy(s->prompt, p->prompt, (size_t)p->prompt_len * sizeof(*s->prompt));
	s->cookie = p->cookie;
	s->priority = p->priority;
	s->arrival = e->arrivals++;
	s->prompt_len = p->prompt_len;
	s->max_new = max_new;
	s->clamped = clamped;
	s->temperature = p->temperature;
	s->top_p = p->top_p;
	s->rng = p->seed;
	s->prefilled = 0;
	s->generated = 0;
	s->last = -1;
	s->n_blocks = 0;
	s->chunk = 0;
	s->state = TF_SEQ_QUEUED;
	e->n_queued++;
	return 0;
}

int
tf_engine_seq_cancel(struct tf_engine *e, uint64_t cookie)
{
	struct tf_seq *s = find_live(e, cookie);

	if (!s || s->state == TF_SEQ_FINISHING)
		return -ENOENT;
	tf_sched_finish(e, s, TF_ENGINE_FINISH_CANCELLED);
	return 0;
}

size_t
tf_engine_event_cap(const struct tf_engine *e)
{
	return e->ev_cap;
}

int
tf_engine_step(struct tf_engine *e, struct tf_engine_event *ev, size_t cap)
{
	uint32_t n = 0;
	int rc;

	if (!e || (!ev && cap))
		return -EINVAL;
	/* A new step only once everything before it is delivered: the ring then
	 * holds at most one step's events plus one FINISHED per slot. */
	if (e->ev_count == 0 && e->n_running + e->n_queued > 0) {
		rc = tf_sched_step(e);
		if (rc)
			return rc;
	}
	while (n < cap && e->ev_count) {
		uint32_t slot = e->ev_slot[e->ev_head];

		ev[n++] = e->evq[e->ev_head];
		if (slot != UINT32_MAX)
			e->seqs[slot].state = TF_SEQ_FREE; /* the cookie may be reused now */
		e->ev_head = (e->ev_head + 1) % e->ev_cap;
		e->ev_count--;
	}
	return (int)n;
}

int
tf_engine_idle(const struct tf_engine *e)
{
	return e->n_running == 0 && e->n_queued == 0 && e->ev_count == 0;
}

void
tf_engine_stats(const struct tf_engine *e, struct tf_engine_stats *st)
{
	*st = e->st;
	st->running = e->n_running;
	st->queued = e->n_queued;
	st->kv_blocks_total = e->kv.n_blocks;
	st->kv_blocks_free = e->kv.n_free;
	st->kv_blocks_used = e->kv.n_blocks - e->kv.n_free;
	st->pending_events = e->ev_count;
}
