/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-accel's loop: cards' requests into the engines, every step's tokens
 * back to the cards, load and health out, credits returned. One thread; the
 * engines run their matrix products on their own worker threads inside
 * tf_engine_step().
 *
 * Every request accepted from a card ends with exactly one END or ERROR on
 * that card's connection (the card library enforces it too). On SIGTERM the
 * agent stops taking requests (ERROR SHUTDOWN, retryable), finishes what runs
 * for up to --drain-timeout, then fails the rest with SHUTDOWN (retryable).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "common/log.h"

#define STATUS_NS 100000000ull /* status block every 100 ms */
#define ACCEPT_NS 5000000ull /* look for new cards every 5 ms */
#define EV_BATCH 256

struct outev {
	uint8_t type; /* TF_ACCEL_EVT_* */
	uint8_t retryable;
	uint16_t code;
	uint64_t handle;
	uint32_t index;
	struct tf_accel_tok tok;
	const char *text;
	struct tf_accel_usage u;
	char msg[120];
};

struct conn {
	struct tf_xport *x;
	struct outev *q; /* events waiting for response-ring space */
	uint32_t q_head, q_tail, q_cap;
	uint64_t last_status_ns;
};

struct req {
	uint32_t gen; /* cookie = gen << 32 | slot */
	int used;
	int conn; /* -1: its card is gone, drop its events */
	int model;
	int in_engine; /* 0: waiting for an engine slot */
	uint64_t handle;
	uint64_t t_recv, t_added, t_first;
	struct tf_engine_seq_params p;
	int32_t *ids; /* prompt ids until added */
};

struct agent {
	const struct agent_cfg *cfg;
	struct tf_xport_ctx *ctx;
	struct tf_xport_listener *l[AGENT_MAX_LISTEN];
	int nl;
	struct tf_engine *eng[AGENT_MAX_MODELS];
	struct tf_engine_event *eev[AGENT_MAX_MODELS];
	size_t eev_cap[AGENT_MAX_MODELS];
	struct conn conns[AGENT_MAX_CONNS];
	struct req *reqs;
	uint32_t nreqs, active;
	uint32_t *free_slots, nfree;
	uint32_t *pending, npending; /* FIFO of slots waiting for seq_add */
	int32_t *tokbuf; /* tokenizer output, seq_len of the largest model */
	uint32_t tokbuf_cap;
	int draining;
	uint64_t drain_deadline;
	uint64_t tokens_generated, requests_done, last_rate_ns, last_rate_tokens;
	uint32_t tokens_per_s;
	uint32_t busy_ppm; /* engines' busy share of the last second */
	uint64_t last_busy_ns;
	/* the loop's clock: read once per pass and once per engine step, not per
	 * request or token (CLOCK_MONOTONIC is a system call where the clocksource
	 * is not the TSC, e.g. the HPET in the VM tier's guests) */
	uint64_t now;
	struct tf_xport_event ev[EV_BATCH];
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t
us_since(uint64_t from, uint64_t to)
{
	uint64_t d = to > from ? (to - from) / 1000 : 0;

	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* ---- events to a card ------------------------------------------------------ */

static int
send_one(struct conn *c, const struct outev *o)
{
	switch (o->type) {
	case TF_ACCEL_EVT_TOKENS:
		return tf_xport_resp_tokens(c->x, o->handle, o->index, &o->tok, 1, o->text,
					    o->tok.text_len);
	case TF_ACCEL_EVT_END:
		return tf_xport_resp_end(c->x, o->handle, &o->u);
	default:
		return tf_xport_resp_error(c->x, o->handle, o->code, o->retryable, o->msg);
	}
}

/* 1 if the event went (or can never go), 0 if the ring is full for now. */
static int
try_send(struct conn *c, const struct outev *o)
{
	int rc = send_one(c, o);

	if (rc == -ENOBUFS) {
		tf_xport_resp_flush(c->x);
		rc = send_one(c, o);
	}
	if (rc == -ENOBUFS)
		return 0;
	if (rc && rc != -ENOTCONN)
		tf_log_warnx("dropping an event for request %" PRIu64 ": %s", o->handle,
			     strerror(-rc));
	return 1;
}

static void
q_drain(struct conn *c)
{
	while (c->q_head != c->q_tail && try_send(c, &c->q[c->q_head % c->q_cap]))
		c->q_head++;
}

static void
emit(struct agent *a, int ci, const struct outev *o)
{
	struct conn *c = &a->conns[ci];

	if (!c->x)
		return;
	q_drain(c);
	if (c->q_head == c->q_tail && try_send(c, o))
		return;
	if (c->q_tail - c->q_head == c->q_cap) {
		uint32_t cap = c->q_cap ? 2 * c->q_cap : 256;
		struct outev *q = malloc(cap * sizeof(*q));

		if (!q)
			tf_fatalx("out of memory for the response queue");
		for (uint32_t i = 0; i < c->q_tail - c->q_head; i++)
			q[i] = c->q[(c->q_head + i) % c->q_cap];
		c->q_tail -= c->q_head;
		c->q_head = 0;
		free(c->q);
		c->q = q;
		c->q_cap = cap;
	}
	c->q[c->q_tail++ % c->q_cap] = *o;
}

static void emit_error(struct agent *a, int ci, uint64_t handle, uint16_t code, const char *fmt,
		       ...) __attribute__((format(printf, 5, 6)));

static void
emit_error(struct agent *a, int ci, uint64_t handle, uint16_t code, const char *fmt, ...)
{
	struct outev o = { .type = TF_ACCEL_EVT_ERROR, .handle = handle, .code = code };
	va_list ap;

	o.retryable = code == TF_ACCEL_ERR_BUSY || code == TF_ACCEL_ERR_SHUTDOWN;
	va_start(ap, fmt);
	vsnprintf(o.msg, sizeof(o.msg), fmt, ap);
	va_end(ap);
	emit(a, ci, &o);
}

/* ---- requests ---------------------------------------------------------------- */

static struct req *
req_of_cookie(struct agent *a, uint64_t cookie)
{
	uint32_t slot = (uint32_t)cookie;

	if (slot >= a->nreqs || !a->reqs[slot].used ||
	    a->reqs[slot].gen != (uint32_t)(cookie >> 32))
		return NULL;
	return &a->reqs[slot];
}

static void
req_free(struct agent *a, struct req *r)
{
	free(r->ids);
	r->ids = NULL;
	r->used = 0;
	r->gen++;
	a->free_slots[a->nfree++] = (uint32_t)(r - a->reqs);
	a->active--;
}

static int
model_of(const struct agent *a, uint32_t id)
{
	for (int i = 0; i < a->cfg->nmodels; i++)
		if (a->cfg->models[i].id == id)
			return i;
	return -1;
}

/* Hands a request to its engine: 0 added, 1 must wait (engine full), -1 answered with an error. */
static int
req_add(struct agent *a, struct req *r)
{
	int rc = tf_engine_seq_add(a->eng[r->model], &r->p);

	if (rc == -EAGAIN)
		return 1;
	if (rc == 0) {
		r->in_engine = 1;
		r->t_added = a->now;
		free(r->ids);
		r->ids = NULL;
		r->p.prompt = NULL;
		return 0;
	}
	if (r->conn >= 0) {
		if (rc == -E2BIG)
			emit_error(a, r->conn, r->handle, TF_ACCEL_ERR_TOO_LARGE,
				   "prompt of %u tokens + %u new tokens needs more KV cache than "
				   "this accelerator has",
				   r->p.prompt_len, r->p.max_new_tokens);
		else if (rc == -EINVAL)
			emit_error(a, r->conn, r->handle, TF_ACCEL_ERR_BAD_REQUEST,
				   "the engine refused the request (token id out of range or bad "
				   "sampling value)");
		else
			emit_error(a, r->conn, r->handle, TF_ACCEL_ERR_INTERNAL, "engine error: %s",
				   strerror(-rc));
	}
	req_free(a, r);
	return -1;
}

static void
on_request(struct agent *a, int ci, const struct tf_xport_event *e)
{
	const struct tf_accel_req *h = e->u.request.hdr;
	const struct tf_engine_model_info *mi;
	struct req *r;
	uint32_t n, slot;
	int m, rc;

	if (a->draining) {
		emit_error(a, ci, h->handle, TF_ACCEL_ERR_SHUTDOWN,
			   "accelerator %s is shutting down: send it elsewhere", a->cfg->name);
		return;
	}
	m = model_of(a, h->model);
	if (m < 0) {
		emit_error(a, ci, h->handle, TF_ACCEL_ERR_UNKNOWN_MODEL,
			   "model id %u is not served by accelerator %s", h->model, a->cfg->name);
		return;
	}
	mi = tf_engine_model(a->eng[m]);
	if (h->prompt_fmt == TF_ACCEL_PROMPT_TOKENS) {
		n = h->prompt_bytes / 4;
		if (n > mi->seq_len) {
			emit_error(a, ci, h->handle, TF_ACCEL_ERR_TOO_LARGE,
				   "prompt of %u tokens exceeds the model's context of %u", n,
				   mi->seq_len);
			return;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t id;

			memcpy(&id, (const uint8_t *)e->u.request.prompt + 4 * i, 4);
			if (id >= mi->vocab_size) {
				emit_error(a, ci, h->handle, TF_ACCEL_ERR_BAD_REQUEST,
					   "prompt token %u is %u, outside the vocabulary of %u", i,
					   id, mi->vocab_size);
				return;
			}
			a->tokbuf[i] = (int32_t)id;
		}
	} else {
		rc = tf_engine_tokenize(a->eng[m], e->u.request.prompt, h->prompt_bytes,
					TF_ENGINE_TOK_BOS | TF_ENGINE_TOK_SPACE_PREFIX, a->tokbuf,
					mi->seq_len);
		if (rc == -ENOSPC) {
			emit_error(a, ci, h->handle, TF_ACCEL_ERR_TOO_LARGE,
				   "prompt text is longer than the model's context of %u tokens",
				   mi->seq_len);
			return;
		}
		if (rc <= 0) {
			emit_error(a, ci, h->handle, TF_ACCEL_ERR_BAD_REQUEST,
				   "prompt text could not be tokenized");
			return;
		}
		n = (uint32_t)rc;
	}
	if (!a->nfree) {
		emit_error(a, ci, h->handle, TF_ACCEL_ERR_BUSY, "accelerator %s is full",
			   a->cfg->name);
		return;
	}
	slot = a->free_slots[--a->nfree];
	r = &a->reqs[slot];
	r->used = 1;
	r->conn = ci;
	r->model = m;
	r->in_engine = 0;
	r->handle = h->handle;
	r->t_recv = a->now;
	r->t_added = r->t_first = 0;
	r->ids = malloc(n * sizeof(int32_t));
	if (!r->ids)
		tf_fatalx("out of memory for a prompt of %u tokens", n);
	memcpy(r->ids, a->tokbuf, n * sizeof(int32_t));
	r->p = (struct tf_engine_seq_params){
		.prompt = r->ids,
		.prompt_len = n,
		.max_new_tokens = h->sampling.max_new_tokens,
		.temperature = (float)h->sampling.temperature_milli / 1000.0f,
		.top_p = (float)h->sampling.top_p / 10000.0f,
		.seed = h->sampling.seed,
		.priority = h->sampling.priority,
		.cookie = (uint64_t)r->gen << 32 | slot,
	};
	a->active++;
	if (a->npending || req_add(a, r) == 1)
		a->pending[a->npending++] = slot; /* keeps arrival order behind earlier waiters */
}

static void
pending_retry(struct agent *a)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < a->npending; i++) {
		struct req *r = &a->reqs[a->pending[i]];

		if (k == i && req_add(a, r) != 1)
			continue; /* added or answered */
		a->pending[k++] = a->pending[i];
	}
	a->npending = k;
}

/* Ends a request the engine never got (pending) with a final event; frees it. */
static void
pending_drop(struct agent *a, uint32_t slot)
{
	for (uint32_t i = 0; i < a->npending; i++)
		if (a->pending[i] == slot) {
			memmove(&a->pending[i], &a->pending[i + 1],
				(a->npending - i - 1) * sizeof(*a->pending));
			a->npending--;
			break;
		}
	req_free(a, &a->reqs[slot]);
}

static void
on_cancel(struct agent *a, int ci, uint64_t handle)
{
	for (uint32_t s = 0; s < a->nreqs; s++) {
		struct req *r = &a->reqs[s];

		if (!r->used || r->conn != ci || r->handle != handle)
			continue;
		if (r->in_engine) {
			tf_engine_seq_cancel(a->eng[r->model], r->p.cookie);
		} else {
			struct outev o = { .type = TF_ACCEL_EVT_END,
					   .handle = handle,
					   .u = { .reason = TF_ACCEL_FINISH_CANCELLED,
						  .queue_us = us_since(r->t_recv, a->now),
						  .total_us = us_since(r->t_recv, a->now) } };

			emit(a, ci, &o);
			pending_drop(a, s);
		}
		return;
	}
}

/* A card's connection is gone: its requests stop; their events are dropped. */
static void
conn_gone(struct agent *a, int ci)
{
	struct conn *c = &a->conns[ci];
	uint32_t stopped = 0;

	for (uint32_t s = 0; s < a->nreqs; s++) {
		struct req *r = &a->reqs[s];

		if (!r->used || r->conn != ci)
			continue;
		stopped++;
		r->conn = -1;
		if (r->in_engine)
			tf_engine_seq_cancel(a->eng[r->model], r->p.cookie);
		else
			pending_drop(a, s);
	}
	tf_log_info("card connection %d closed (%s); %u requests of it stopped", ci,
		    tf_xport_last_error(c->x), stopped);
	{
		uint64_t v[TF_XPORT_C_COUNT];

		tf_xport_counters(c->x, v);
		for (int k = 0; k < TF_XPORT_C_COUNT; k++)
			if (v[k])
				tf_log_debug("connection %d: %s = %" PRIu64, ci,
					     tf_xport_counter_name((enum tf_xport_counter)k), v[k]);
		tf_log_debug("connection %d: %u events still queued", ci, c->q_tail - c->q_head);
	}
	tf_xport_disconnect(c->x);
	free(c->q);
	memset(c, 0, sizeof(*c));
}

/* ---- engine events ------------------------------------------------------------- */

static uint16_t
finish_reason(uint16_t r)
{
	switch (r) {
	case TF_ENGINE_FINISH_EOS:
		return TF_ACCEL_FINISH_EOS;
	case TF_ENGINE_FINISH_MAX_TOKENS:
		return TF_ACCEL_FINISH_MAX_TOKENS;
	case TF_ENGINE_FINISH_LENGTH:
		return TF_ACCEL_FINISH_LENGTH;
	default:
		return TF_ACCEL_FINISH_CANCELLED;
	}
}

static void
on_engine_event(struct agent *a, int m, const struct tf_engine_event *ev)
{
	struct req *r = req_of_cookie(a, ev->cookie);
	uint64_t t = a->now;

	if (!r)
		return;
	if (ev->type == TF_ENGINE_EV_TOKEN) {
		struct outev o = { .type = TF_ACCEL_EVT_TOKENS,
				   .handle = r->handle,
				   .index = ev->index };
		size_t len = 0;
		const char *text = tf_engine_token_text(a->eng[m], ev->token, &len);

		a->tokens_generated++;
		if (!r->t_first)
			r->t_first = t;
		if (r->conn < 0)
			return;
		if (!text)
			len = 0;
		if (len > TF_ACCEL_MAX_TOKEN_TEXT)
			len = TF_ACCEL_MAX_TOKEN_TEXT;
		o.tok.id = (uint32_t)ev->token;
		o.tok.text_len = (uint16_t)len;
		o.text = text;
		emit(a, r->conn, &o);
		return;
	}
	/* FINISHED */
	if (r->conn >= 0) {
		if (ev->reason == TF_ENGINE_FINISH_ERROR) {
			emit_error(a, r->conn, r->handle, TF_ACCEL_ERR_INTERNAL,
				   "the model produced non-finite values for this request");
		} else {
			struct outev o = { .type = TF_ACCEL_EVT_END, .handle = r->handle };

			o.u.prompt_tokens = ev->prompt_tokens;
			o.u.completion_tokens = ev->completion_tokens;
			o.u.reason = finish_reason(ev->reason);
			o.u.queue_us = us_since(r->t_recv, r->t_added);
			o.u.first_token_us = r->t_first ? us_since(r->t_recv, r->t_first) : 0;
			o.u.total_us = us_since(r->t_recv, t);
			emit(a, r->conn, &o);
		}
	}
	a->requests_done++;
	req_free(a, r);
}

/* ---- status ---------------------------------------------------------------------- */

static void
status_fill(struct agent *a, struct tf_accel_status *st, uint64_t t)
{
	memset(st, 0, sizeof(*st));
	st->flags = TF_ACCEL_ST_HEALTHY | (a->draining ? TF_ACCEL_ST_DRAINING : 0);
	st->heartbeat_ms = (uint32_t)(t / 1000000);
	st->max_inflight = a->cfg->max_inflight;
	st->active = a->active;
	st->queued = a->npending;
	for (int m = 0; m < a->cfg->nmodels; m++) {
		struct tf_engine_stats es;

		tf_engine_stats(a->eng[m], &es);
		st->running += es.running;
		st->queued += es.queued;
		st->kv_blocks_used += es.kv_blocks_used;
		st->kv_blocks_total += es.kv_blocks_total;
		st->models[m].model_id = a->cfg->models[m].id;
		memcpy(st->models[m].name, a->cfg->models[m].name, sizeof(st->models[m].name));
	}
	st->nmodels = (uint32_t)a->cfg->nmodels;
	st->tokens_per_s = a->tokens_per_s;
	st->tokens_generated = a->tokens_generated;
	st->requests_done = a->requests_done;
	st->cost_per_hour_milli = a->cfg->cost_per_hour_milli;
	memcpy(st->name, a->cfg->name, sizeof(st->name));
	st->busy_ppm = a->busy_ppm;
}

/* ---- set-up and the loop ----------------------------------------------------------- */

static int
engines_create(struct agent *a)
{
	char err[256];

	for (int m = 0; m < a->cfg->nmodels; m++) {
		const struct agent_model_cfg *mc = &a->cfg->models[m];
		struct tf_engine_config ec = {
			.checkpoint_path = mc->path,
			.tokenizer_path = mc->tokenizer,
			.precision = a->cfg->precision,
			.threads = a->cfg->threads,
			.kv_pool_blocks = a->cfg->kv_blocks,
			.max_batch = a->cfg->max_batch,
			.kernels = a->cfg->kernels,
		};
		const struct tf_engine_model_info *mi;
		int rc;

		err[0] = '\0';
		rc = tf_engine_create(&ec, &a->eng[m], err, sizeof(err));
		if (rc) {
			tf_log_warnx("model %u (%s): %s", mc->id, mc->path,
				     err[0] ? err : strerror(-rc));
			return -1;
		}
		mi = tf_engine_model(a->eng[m]);
		a->eev_cap[m] = tf_engine_event_cap(a->eng[m]);
		a->eev[m] = calloc(a->eev_cap[m], sizeof(*a->eev[m]));
		if (!a->eev[m])
			return -1;
		if (mi->seq_len > a->tokbuf_cap)
			a->tokbuf_cap = mi->seq_len;
		tf_log_info("model %u '%s': dim %u, %u layers, vocab %u, context %u, %s kernels, "
			    "%u threads",
			    mc->id, mc->name, mi->dim, mi->n_layers, mi->vocab_size, mi->seq_len,
			    mi->kernels, mi->threads);
	}
	a->tokbuf = calloc(a->tokbuf_cap + 1, sizeof(int32_t));
	return a->tokbuf ? 0 : -1;
}

static int
setup(struct agent *a)
{
	a->nreqs = AGENT_MAX_CONNS * a->cfg->max_inflight;
	a->reqs = calloc(a->nreqs, sizeof(*a->reqs));
	a->free_slots = calloc(a->nreqs, sizeof(*a->free_slots));
	a->pending = calloc(a->nreqs, sizeof(*a->pending));
	if (!a->reqs || !a->free_slots || !a->pending)
		return -1;
	for (uint32_t i = 0; i < a->nreqs; i++)
		a->free_slots[a->nfree++] = a->nreqs - 1 - i;
	if (engines_create(a))
		return -1;
	if (a->cfg->check_only)
		return 0;
	if (tf_xport_ctx_create(&a->ctx))
		return -1;
	for (int i = 0; i < a->cfg->nlisten; i++) {
		struct tf_xport_listen_cfg lc = { .uri = a->cfg->listen[i],
						  .in_ring_bytes = a->cfg->in_ring,
						  .max_inflight = a->cfg->max_inflight };
		int rc = tf_xport_listen(a->ctx, &lc, &a->l[i]);

		if (rc == -EADDRINUSE) {
			tf_log_warnx("--listen %s: another accelerator already listens there: stop "
				     "it or pick another name/port",
				     lc.uri);
			return -1;
		}
		if (rc) {
			tf_log_warnx("--listen %s: %s", lc.uri,
				     rc == -EINVAL || rc == -ENOENT ? tf_xport_strerror_cfg()
								    : strerror(-rc));
			return -1;
		}
		a->nl++;
		tf_log_info("listening on %s", lc.uri);
	}
	return 0;
}

static void
teardown(struct agent *a)
{
	for (int i = 0; i < AGENT_MAX_CONNS; i++)
		if (a->conns[i].x) {
			tf_xport_disconnect(a->conns[i].x);
			free(a->conns[i].q);
		}
	for (int i = 0; i < a->nl; i++)
		tf_xport_listener_close(a->l[i]);
	if (a->ctx)
		tf_xport_ctx_destroy(a->ctx);
	for (int m = 0; m < AGENT_MAX_MODELS; m++) {
		if (a->eng[m])
			tf_engine_destroy(a->eng[m]);
		free(a->eev[m]);
	}
	for (uint32_t s = 0; a->reqs && s < a->nreqs; s++)
		free(a->reqs[s].ids);
	free(a->reqs);
	free(a->free_slots);
	free(a->pending);
	free(a->tokbuf);
}

static void
accept_cards(struct agent *a)
{
	for (int i = 0; i < a->nl; i++) {
		struct tf_xport *x;
		int rc, ci;

		while ((rc = tf_xport_accept(a->l[i], &x)) != -EAGAIN) {
			if (rc) {
				tf_log_warnx("a card's connection on %s failed during set-up: %s",
					     a->cfg->listen[i], strerror(-rc));
				continue;
			}
			for (ci = 0; ci < AGENT_MAX_CONNS && a->conns[ci].x; ci++)
				;
			if (ci == AGENT_MAX_CONNS) {
				tf_log_warnx("more than %d cards connected: refusing one",
					     AGENT_MAX_CONNS);
				tf_xport_disconnect(x);
				continue;
			}
			a->conns[ci].x = x;
			a->conns[ci].last_status_ns = 0;
			tf_log_info("card connected on %s (connection %d)", a->cfg->listen[i], ci);
		}
	}
}

/* Fails everything still running with SHUTDOWN (retryable). */
static void
fail_all(struct agent *a)
{
	for (uint32_t s = 0; s < a->nreqs; s++) {
		struct req *r = &a->reqs[s];

		if (!r->used)
			continue;
		if (r->conn >= 0)
			emit_error(a, r->conn, r->handle, TF_ACCEL_ERR_SHUTDOWN,
				   "accelerator %s stopped before this request finished",
				   a->cfg->name);
		if (r->in_engine) {
			tf_engine_seq_cancel(a->eng[r->model], r->p.cookie);
			r->conn = -1; /* the CANCELLED event that follows frees it */
		} else {
			pending_drop(a, s);
		}
	}
	a->npending = 0;
}

/* Last flushes so the final events reach the cards (bounded). */
static void
final_flush(struct agent *a)
{
	uint64_t end = now_ns() + 1000000000ull;
	int left = 1;

	while (left && now_ns() < end) {
		left = 0;
		for (int ci = 0; ci < AGENT_MAX_CONNS; ci++) {
			struct conn *c = &a->conns[ci];

			if (!c->x || tf_xport_state(c->x) != TF_XPORT_STATE_UP)
				continue;
			tf_xport_poll(c->x, a->ev, 0);
			q_drain(c);
			tf_xport_resp_flush(c->x);
			left |= c->q_head != c->q_tail;
		}
	}
}

/*
 * Nothing to do: sleep until a card's doorbell (rdma wakes us at once), a
 * connecting card or a signal, at most until the next status block is due;
 * shm connections are polled every poll_ns. 1 if something woke us.
 */
static int
idle_wait(struct agent *a, uint64_t t, uint64_t poll_ns)
{
	struct tf_xport *xs[AGENT_MAX_CONNS];
	uint64_t until = STATUS_NS;
	unsigned int n = 0;

	for (int ci = 0; ci < AGENT_MAX_CONNS; ci++) {
		struct conn *c = &a->conns[ci];

		if (!c->x)
			continue;
		xs[n++] = c->x;
		if (c->last_status_ns + STATUS_NS <= t)
			until = 0;
		else if (c->last_status_ns + STATUS_NS - t < until)
			until = c->last_status_ns + STATUS_NS - t;
	}
	if (a->draining && a->drain_deadline > t && a->drain_deadline - t < until)
		until = a->drain_deadline - t;
	return tf_xport_wait(xs, n, a->l, (unsigned int)a->nl, (uint32_t)(until / 1000),
			     (uint32_t)(poll_ns / 1000));
}

static void
serve_loop(struct agent *a, volatile int *stop, volatile int *hard_stop)
{
	uint64_t last_accept = 0, idle_ns = 0;

	for (;;) {
		uint64_t t = a->now = now_ns();
		int work = 0, backlog = 0;

		if (*stop && !a->draining) {
			a->draining = 1;
			a->drain_deadline = t + (uint64_t)a->cfg->drain_ms * 1000000ull;
			tf_log_info("stopping: finishing %u requests in flight (up to %u ms)",
				    a->active, a->cfg->drain_ms);
		}
		if (*hard_stop && a->draining)
			a->drain_deadline = t;
		if (a->draining && (a->active == 0 || t >= a->drain_deadline)) {
			if (a->active)
				tf_log_warnx("drain timeout: failing %u requests with SHUTDOWN "
					     "(retryable)",
					     a->active);
			fail_all(a);
			for (int m = 0; m < a->cfg->nmodels; m++)
				while (!tf_engine_idle(a->eng[m]) &&
				       tf_engine_step(a->eng[m], a->eev[m], a->eev_cap[m]) > 0)
					; /* deliver the CANCELLED events: frees the slots */
			final_flush(a);
			return;
		}
		if (t - last_accept > ACCEPT_NS) {
			last_accept = t;
			accept_cards(a);
		}
		for (int ci = 0; ci < AGENT_MAX_CONNS; ci++) {
			struct conn *c = &a->conns[ci];
			int n;

			if (!c->x)
				continue;
			n = tf_xport_poll(c->x, a->ev, EV_BATCH);
			for (int k = 0; k < n; k++) {
				const struct tf_xport_event *e = &a->ev[k];

				work = 1;
				if (e->type == TF_XPORT_EV_REQUEST)
					on_request(a, ci, e);
				else if (e->type == TF_XPORT_EV_CANCEL)
					on_cancel(a, ci, e->handle);
			}
			if (tf_xport_state(c->x) == TF_XPORT_STATE_DOWN) {
				conn_gone(a, ci);
				continue;
			}
			q_drain(c);
			backlog |= c->q_head != c->q_tail;
		}
		if (a->npending)
			pending_retry(a);
		/* a card that cannot take more events holds the engines back */
		for (int m = 0; !backlog && m < a->cfg->nmodels; m++) {
			int n;

			if (tf_engine_idle(a->eng[m]))
				continue;
			n = tf_engine_step(a->eng[m], a->eev[m], a->eev_cap[m]);
			a->now = now_ns();
			if (n < 0) {
				tf_log_warnx("model %u: engine step failed: %s",
					     a->cfg->models[m].id, strerror(-n));
				continue;
			}
			work = 1;
			for (int k = 0; k < n; k++)
				on_engine_event(a, m, &a->eev[m][k]);
		}
		t = a->now;
		if (t - a->last_rate_ns >= 1000000000ull) {
			a->tokens_per_s = (uint32_t)((a->tokens_generated - a->last_rate_tokens) *
						     1000000000ull / (t - a->last_rate_ns + 1));
			uint64_t busy = 0;

			for (int m = 0; m < a->cfg->nmodels; m++) {
				struct tf_engine_stats es;

				tf_engine_stats(a->eng[m], &es);
				busy += es.busy_ns;
			}
			a->busy_ppm = (uint32_t)((busy - a->last_busy_ns) * 1000000ull /
						 (t - a->last_rate_ns + 1));
			if (a->busy_ppm > 1000000)
				a->busy_ppm = 1000000;
			a->last_busy_ns = busy;
			a->last_rate_ns = t;
			a->last_rate_tokens = a->tokens_generated;
		}
		for (int ci = 0; ci < AGENT_MAX_CONNS; ci++) {
			struct conn *c = &a->conns[ci];

			if (!c->x)
				continue;
			tf_xport_resp_flush(c->x);
			tf_xport_credits_return(c->x);
			if (t - c->last_status_ns >= STATUS_NS) {
				struct tf_accel_status st;

				status_fill(a, &st, t);
				tf_xport_status_publish(c->x, &st);
				c->last_status_ns = t;
			}
		}
		if (work) {
			idle_ns = 0;
		} else {
			/* idle: poll shm cards with a back-off from 20 us to 1 ms */
			idle_ns = idle_ns ? (idle_ns * 2 > 1000000 ? 1000000 : idle_ns * 2) : 20000;
			if (idle_wait(a, t, idle_ns))
				last_accept = 0; /* woken: a card may be connecting */
		}
	}
}

int
agent_serve(const struct agent_cfg *cfg, volatile int *stop, volatile int *hard_stop)
{
	struct agent *a = calloc(1, sizeof(*a));
	int rc = 1;

	if (!a)
		tf_fatalx("out of memory");
	a->cfg = cfg;
	if (setup(a))
		goto out;
	if (cfg->check_only) {
		printf("tokfab-accel: %d model(s) load; would serve:", cfg->nmodels);
		for (int m = 0; m < cfg->nmodels; m++)
			printf(" %u=%s", cfg->models[m].id, cfg->models[m].name);
		printf("\n");
		rc = 0;
		goto out;
	}
	tf_log_info("accelerator %s ready: %d model(s), %u request credits per card", cfg->name,
		    cfg->nmodels, cfg->max_inflight);
	serve_loop(a, stop, hard_stop);
	tf_log_info("stopped: %" PRIu64 " requests done, %" PRIu64 " tokens generated",
		    a->requests_done, a->tokens_generated);
	rc = 0;
out:
	teardown(a);
	free(a);
	return rc;
}
