/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The scheduler: one step = admit queued sequences while batch slots and KV
 * blocks last (highest priority first, arrival order among equals; admission
 * stops at the first that does not fit), then fill the step's token budget
 * with one decode row per decoding sequence and prompt chunks, run the rows
 * as one batch, sample every sequence that produced logits, emit events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 1 when a should run before b. */
static int
before(const struct tf_seq *a, const struct tf_seq *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return a->arrival < b->arrival;
}

static int
cmp_order(const void *x, const void *y, void *ctx)
{
	const struct tf_seq *seqs = ctx;
	const struct tf_seq *a = &seqs[*(const uint32_t *)x], *b = &seqs[*(const uint32_t *)y];

	return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

void
tf_sched_event(struct tf_engine *e, const struct tf_engine_event *ev, uint32_t slot)
{
	uint32_t at = (e->ev_head + e->ev_count) % e->ev_cap;

	/* Capacity holds by construction: see tf_engine_event_cap(). */
	e->evq[at] = *ev;
	e->ev_slot[at] = slot;
	e->ev_count++;
}

void
tf_sched_finish(struct tf_engine *e, struct tf_seq *s, enum tf_engine_finish_reason why)
{
	struct tf_engine_event ev = {
		.cookie = s->cookie,
		.type = TF_ENGINE_EV_FINISHED,
		.reason = (uint16_t)why,
		.token = -1,
		.prompt_tokens = s->prefilled,
		.completion_tokens = s->generated,
	};

	if (s->state == TF_SEQ_RUNNING)
		e->n_running--;
	else if (s->state == TF_SEQ_QUEUED)
		e->n_queued--;
	tf_kv_free(&e->kv, s->blocks, s->n_blocks);
	s->n_blocks = 0;
	free(s->prompt);
	s->prompt = NULL;
	s->state = TF_SEQ_FINISHING;
	tf_sched_event(e, &ev, (uint32_t)(s - e->seqs));
}

static uint32_t
seq_positions(const struct tf_seq *s)
{
	return s->prompt_len + s->max_new - 1; /* the last token is never fed back */
}

static void
admit(struct tf_engine *e)
{
	while (e->n_running < e->cfg.max_batch && e->n_queued) {
		struct tf_seq *best = NULL;
		uint32_t need;

		for (uint32_t i = 0; i < e->cfg.max_seqs; i++) {
			struct tf_seq *s = &e->seqs[i];

			if (s->state == TF_SEQ_QUEUED && (!best || before(s, best)))
				best = s;
		}
		need = tf_kv_blocks_for(&e->kv, seq_positions(best));
		if (tf_kv_alloc(&e->kv, need, best->blocks))
			return; /* pool full: admission stops, running ones keep theirs */
		best->n_blocks = need;
		best->state = TF_SEQ_RUNNING;
		e->n_queued--;
		e->n_running++;
	}
}

struct sample_job {
	struct tf_engine *e;
	int32_t *tok;
};

static void
sample_task(void *ctx, uint32_t j, unsigned int worker)
{
	struct sample_job *sj = ctx;
	struct tf_engine *e = sj->e;
	struct tf_seq *s = &e->seqs[e->logit_seq[j]];
	uint32_t V = e->model.cfg.vocab_size;

	sj->tok[j] = tf_sample(e->run.logits + (size_t)j * V, V, s->temperature, s->top_p, &s->rng,
			       e->scratch + (size_t)worker * V, tf_runner_top(&e->run, j),
			       e->ops->softmax);
}

static void
emit(struct tf_engine *e, struct tf_seq *s, int32_t tok)
{
	struct tf_engine_event ev = { .cookie = s->cookie, .type = TF_ENGINE_EV_TOKEN };

	if (tok < 0) {
		tf_sched_finish(e, s, TF_ENGINE_FINISH_ERROR);
		return;
	}
	if (tok == e->info.eos_id || tok == e->info.bos_id) {
		tf_sched_finish(e, s, TF_ENGINE_FINISH_EOS);
		return;
	}
	ev.token = tok;
	ev.index = s->generated++;
	s->last = tok;
	e->st.tokens_generated++;
	tf_sched_event(e, &ev, UINT32_MAX);
	if (s->generated == s->max_new)
		tf_sched_finish(e, s,
				s->clamped ? TF_ENGINE_FINISH_LENGTH : TF_ENGINE_FINISH_MAX_TOKENS);
}

int
tf_sched_step(struct tf_engine *e)
{
	uint64_t t0 = now_ns();
	uint32_t n_order = 0, n = 0, nl = 0, budget = e->cfg.step_tokens;
	struct sample_job sj = { .e = e, .tok = e->sampled };

	admit(e);
	for (uint32_t i = 0; i < e->cfg.max_seqs; i++)
		if (e->seqs[i].state == TF_SEQ_RUNNING)
			e->order[n_order++] = i;
	if (!n_order)
		return 0;
	qsort_r(e->order, n_order, sizeof(*e->order), cmp_order, e->seqs);

	/* Decoding sequences first: one row each (step_tokens >= max_batch). */
	for (uint32_t o = 0; o < n_order && budget; o++) {
		struct tf_seq *s = &e->seqs[e->order[o]];

		if (s->prefilled < s->prompt_len)
			continue;
		e->rows[n++] = (struct tf_fwd_row){ .seq = e->order[o],
						    .pos = s->prompt_len + s->generated - 1,
						    .token = s->last,
						    .logit_row = (int32_t)nl,
						    .top_only = s->temperature <= 0.0f };
		e->logit_seq[nl++] = e->order[o];
		budget--;
	}
	/* Then prompt chunks, by priority, while the budget lasts. */
	for (uint32_t o = 0; o < n_order && budget; o++) {
		struct tf_seq *s = &e->seqs[e->order[o]];
		uint32_t c = s->prompt_len - s->prefilled;

		if (!c)
			continue;
		c = c < e->cfg.prefill_chunk ? c : e->cfg.prefill_chunk;
		c = c < budget ? c : budget;
		for (uint32_t i = 0; i < c; i++)
			e->rows[n++] = (struct tf_fwd_row){ .seq = e->order[o],
							    .pos = s->prefilled + i,
							    .token = s->prompt[s->prefilled + i],
							    .logit_row = -1 };
		if (s->prefilled + c == s->prompt_len) {
			e->rows[n - 1].logit_row = (int32_t)nl;
			e->rows[n - 1].top_only = s->temperature <= 0.0f;
			e->logit_seq[nl++] = e->order[o];
		}
		s->chunk = c;
		budget -= c;
	}

	tf_runner_forward(&e->run, e->rows, n, e->tables);

	for (uint32_t o = 0; o < n_order; o++) {
		struct tf_seq *s = &e->seqs[e->order[o]];

		s->prefilled += s->chunk;
		e->st.prompt_tokens += s->chunk;
		s->chunk = 0;
	}
	tf_pool_run(e->pool, sample_task, &sj, nl);
	for (uint32_t j = 0; j < nl; j++)
		emit(e, &e->seqs[e->logit_seq[j]], e->sampled[j]);
	e->st.steps++;
	e->st.busy_ns += now_ns() - t0;
	return 0;
}
