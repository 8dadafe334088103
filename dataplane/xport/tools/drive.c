/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-xport-drive: exercises libtfxport from outside the dataplane.
 *
 *   --connect URI ...   card side: sends requests to one or more
 *                       accelerators, checks every answer (tokens in order,
 *                       END usage), re-dispatches requests that fail
 *                       retryably (connection lost) to another accelerator,
 *                       and exits non-zero if any request is left without an
 *                       answer. With --bench: posts flat out and reports
 *                       batches/s, requests/s and bytes/s beside a memcpy of
 *                       the same bytes.
 *   --serve URI --echo  accelerator side for transport tests and benchmarks
 *                       only: answers each request at once with one token
 *                       echoing the prompt's first token id, then END. It
 *                       measures the transport, not a model; tokfab-accel is
 *                       the real accelerator.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "xport/xport.h"

#define MAX_CONNS 8
#define ECHO_SPIN 4096 /* empty polls before the echo peer sleeps */
#define MAX_ATTEMPTS 4

static volatile sig_atomic_t g_stop;

struct req_state {
	int conn; /* where it is in flight, -1: waiting to be (re)sent */
	int failed_on; /* connection that last failed it retryably, -1: none */
	int attempts;
	int done; /* 1 ended, 2 failed with a final error */
	uint32_t tokens;
	uint32_t text_bytes;
	char text[512];
};

struct opts {
	const char *uris[MAX_CONNS];
	int nuris;
	const char *serve;
	int echo;
	unsigned int requests, batch, max_new, model, prompt_tokens;
	unsigned int temperature, seed, timeout_ms, seconds, peer_timeout_ms;
	const char *prompt_text;
	int print, bench, expect_tokens, quiet, progress;
	uint32_t in_ring, resp_ring, max_inflight;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Loop timers (accept, status every 100 ms): the coarse clock is a memory read,
 * while CLOCK_MONOTONIC is a system call where the clocksource is not the TSC
 * (the VM tier's guests use the HPET: ~17 % of the echo peer's time per loop). */
static uint64_t
coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: tokfab-xport-drive --connect URI [--connect URI ...] [options]\n"
		"       tokfab-xport-drive --serve URI --echo [--max-inflight N]\n"
		"  URI: rdma:ADDR:PORT or shm:NAME\n"
		"  --requests N         requests to send (default 8)\n"
		"  --batch N            requests per batch (default 4)\n"
		"  --prompt TEXT        text prompt (default: token ids 1..--prompt-tokens)\n"
		"  --prompt-tokens N    token-id prompt length (default 8)\n"
		"  --max-new-tokens N   (default 16)   --model ID (default 1)\n"
		"  --temperature-milli N --seed N\n"
		"  --timeout-ms N       give up waiting for answers (default 60000)\n"
		"  --peer-timeout-ms N  declare an accelerator dead after N ms without heartbeat\n"
		"  --expect-tokens      fail unless every request ended with >= 1 token\n"
		"  --print              print each request's generated text\n"
		"  --progress           print 'drive: progress tokens=N' every 50 tokens\n"
		"  --bench --seconds N  post flat out against an --echo peer; report rates\n");
}

static int
parse_u(const char *s, const char *what, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > UINT32_MAX) {
		tf_log_warnx("%s '%s' is not a number", what, s);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

/* ---- echo accelerator --------------------------------------------------- */

static int
serve_echo(const struct opts *o)
{
	struct tf_xport_listen_cfg lc = { .uri = o->serve,
					  .in_ring_bytes = o->in_ring,
					  .max_inflight = o->max_inflight };
	struct tf_xport *conns[MAX_CONNS] = { 0 };
	static struct tf_xport_event ev[256];
	struct tf_xport_listener *l;
	struct tf_xport_ctx *ctx;
	uint64_t last_st = 0, served = 0, last_accept = 0;
	unsigned int idle = 0;
	int rc;

	if (tf_xport_ctx_create(&ctx))
		tf_fatalx("out of memory");
	rc = tf_xport_listen(ctx, &lc, &l);
	if (rc)
		tf_fatalx("cannot listen on %s: %s", o->serve,
			  rc == -EINVAL || rc == -ENOENT ? tf_xport_strerror_cfg() : strerror(-rc));
	tf_log_info("echo accelerator listening on %s", o->serve);
	while (!g_stop) {
		struct tf_xport *x;
		uint64_t t = coarse_ns();
		int busy = 0;

		if (t - last_accept > 5000000ull && (last_accept = t) &&
		    tf_xport_accept(l, &x) == 0) {
			int i;

			for (i = 0; i < MAX_CONNS && conns[i]; i++)
				;
			if (i == MAX_CONNS)
				tf_xport_disconnect(x);
			else
				conns[i] = x;
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			if (!conns[i])
				continue;
			x = conns[i];
			int n = tf_xport_poll(x, ev, 256);

			for (int k = 0; k < n; k++) {
				const struct tf_xport_event *e = &ev[k];
				struct tf_accel_usage u = { .completion_tokens = 1,
							    .reason = TF_ACCEL_FINISH_MAX_TOKENS };
				struct tf_accel_tok tok = { 0 };

				if (e->type == TF_XPORT_EV_DOWN)
					break;
				if (e->type != TF_XPORT_EV_REQUEST)
					continue;
				if (e->u.request.hdr->prompt_fmt == TF_ACCEL_PROMPT_TOKENS) {
					memcpy(&tok.id, e->u.request.prompt, 4);
					u.prompt_tokens = e->u.request.hdr->prompt_bytes / 4;
				} else {
					u.prompt_tokens = 1;
				}
				while ((rc = tf_xport_resp_tokens(x, e->handle, 0, &tok, 1, "",
								  0)) == -ENOBUFS) {
					tf_xport_resp_flush(x);
					tf_xport_poll(x, ev, 0); /* completions only */
				}
				while (tf_xport_resp_end(x, e->handle, &u) == -ENOBUFS) {
					tf_xport_resp_flush(x);
					tf_xport_poll(x, ev, 0); /* completions only */
				}
				served++;
				busy = 1;
			}
			if (tf_xport_state(x) == TF_XPORT_STATE_DOWN) {
				tf_log_info("card connection closed: %s", tf_xport_last_error(x));
				tf_xport_disconnect(x);
				conns[i] = NULL;
				continue;
			}
			tf_xport_resp_flush(x);
			tf_xport_credits_return(x);
			if (t - last_st > 100000000ull) {
				struct tf_accel_status st = { .flags = TF_ACCEL_ST_HEALTHY,
							      .heartbeat_ms =
								      (uint32_t)(t / 1000000),
							      .max_inflight = o->max_inflight,
							      .requests_done = served,
							      .nmodels = 1 };

				st.models[0].model_id = o->model;
				snprintf(st.models[0].name, sizeof(st.models[0].name), "echo");
				snprintf(st.name, sizeof(st.name), "echo");
				tf_xport_status_publish(x, &st);
			}
		}
		if (t - last_st > 100000000ull)
			last_st = t;
		/* idle: keep polling (yielding) while a card is sending -- sleeping
		 * there costs a wake-up per record: measured in the VM tier, an echo
		 * that slept after one empty poll halved the batch-1 rate -- and sleep
		 * until a doorbell or a connecting card (rdma) only once nothing came
		 * for ECHO_SPIN polls; a peer that cannot notify (shm) is polled */
		if (busy)
			idle = 0;
		else if (++idle < ECHO_SPIN || !tf_xport_wait(conns, MAX_CONNS, &l, 1, 5000, 0))
			sched_yield();
	}
	for (int i = 0; i < MAX_CONNS; i++)
		tf_xport_disconnect(conns[i]);
	tf_xport_listener_close(l);
	tf_xport_ctx_destroy(ctx);
	tf_log_info("echo accelerator served %" PRIu64 " requests", served);
	return 0;
}

/* ---- card side ------------------------------------------------------------ */

struct card {
	const struct opts *o;
	struct tf_xport_ctx *ctx;
	struct tf_xport *x[MAX_CONNS];
	int n;
	struct tf_xport_mem *mem;
	uint8_t *prompt;
	uint32_t prompt_bytes;
	uint8_t fmt;
	struct req_state *rs;
	unsigned int next_rr;
	uint64_t redispatched, failed, ended, tokens;
	struct tf_xport_event ev[256];
};

/* An UP connection with credits, round robin; avoid (if another will do). */
static int
pick_conn(struct card *c, unsigned int need, int avoid)
{
	for (int k = 0; k < c->n; k++) {
		int i = (int)((c->next_rr + (unsigned int)k) % (unsigned int)c->n);
		struct tf_xport_info in;

		tf_xport_info(c->x[i], &in);
		if (i == avoid && k + 1 < c->n)
			continue;
		if (in.state == TF_XPORT_STATE_UP && in.inflight + need <= in.max_inflight) {
			c->next_rr = (unsigned int)i + 1;
			return i;
		}
	}
	return -1;
}

/* Sends up to o->batch waiting requests as one batch; returns how many went. */
static unsigned int
send_some(struct card *c)
{
	struct tf_xport_req reqs[256];
	struct tf_xport_seg seg[256];
	unsigned int n = 0;
	int ci;

	unsigned int first = 0;

	while (first < c->o->requests && (c->rs[first].done || c->rs[first].conn >= 0))
		first++;
	if (first == c->o->requests)
		return 0;
	ci = pick_conn(c, 1, c->rs[first].failed_on);
	if (ci < 0)
		return 0;
	for (unsigned int i = first; i < c->o->requests && n < c->o->batch; i++) {
		struct req_state *r = &c->rs[i];

		if (r->done || r->conn >= 0 || (r->failed_on == ci && c->n > 1))
			continue;
		seg[n] = (struct tf_xport_seg){ c->prompt, c->prompt_bytes, c->mem };
		reqs[n] = (struct tf_xport_req){
			.handle = i,
			.tenant = 1,
			.model = c->o->model,
			.prompt_fmt = c->fmt,
			.sampling = { .max_new_tokens = c->o->max_new,
				      .temperature_milli = (uint16_t)c->o->temperature,
				      .top_p = 10000,
				      .priority = 3,
				      .seed = c->o->seed + i },
			.segs = &seg[n],
			.nsegs = 1,
		};
		n++;
	}
	while (n) {
		struct tf_xport_info in;
		int rc;

		tf_xport_info(c->x[ci], &in);
		if (in.inflight + n > in.max_inflight)
			n = in.max_inflight - in.inflight;
		if (!n)
			return 0;
		rc = tf_xport_batch_post(c->x[ci], reqs, n, (uint64_t)ci);
		if (rc == 0)
			break;
		if (rc == -EMSGSIZE && n > 1) {
			n /= 2;
			continue;
		}
		return 0; /* no credits now: later */
	}
	for (unsigned int k = 0; k < n; k++) {
		struct req_state *r = &c->rs[reqs[k].handle];

		r->conn = ci;
		r->attempts++;
	}
	return n;
}

static void
handle_event(struct card *c, int ci, const struct tf_xport_event *e)
{
	struct req_state *r;

	switch (e->type) {
	case TF_XPORT_EV_UP:
		tf_log_info("connection %d up", ci);
		return;
	case TF_XPORT_EV_DOWN:
		tf_log_info("connection %d down: %s", ci, tf_xport_last_error(c->x[ci]));
		return;
	case TF_XPORT_EV_BATCH_SENT:
		return;
	default:
		break;
	}
	if (e->handle >= c->o->requests) {
		tf_log_warnx("event for unknown handle %" PRIu64, e->handle);
		return;
	}
	r = &c->rs[e->handle];
	switch (e->type) {
	case TF_XPORT_EV_TOKENS:
		if (e->u.tokens.index != r->tokens)
			tf_log_warnx("request %" PRIu64 ": token %u out of order", e->handle,
				     e->u.tokens.index);
		r->tokens += e->u.tokens.ntok;
		c->tokens += e->u.tokens.ntok;
		if (c->o->progress && c->tokens / 50 != (c->tokens - e->u.tokens.ntok) / 50) {
			printf("drive: progress tokens=%" PRIu64 " ended=%" PRIu64 "\n", c->tokens,
			       c->ended);
			fflush(stdout);
		}
		if (r->text_bytes + e->u.tokens.text_bytes < sizeof(r->text)) {
			memcpy(r->text + r->text_bytes, e->u.tokens.text, e->u.tokens.text_bytes);
			r->text_bytes += e->u.tokens.text_bytes;
		}
		break;
	case TF_XPORT_EV_END:
		if (e->u.end.completion_tokens != r->tokens)
			tf_log_warnx("request %" PRIu64 ": END says %u tokens, %u streamed",
				     e->handle, e->u.end.completion_tokens, r->tokens);
		r->done = 1;
		r->conn = -1;
		c->ended++;
		if (c->o->print)
			printf("request %" PRIu64 " (%u tokens, reason %u): %.*s\n", e->handle,
			       r->tokens, e->u.end.reason, (int)r->text_bytes, r->text);
		break;
	case TF_XPORT_EV_ERROR:
		r->conn = -1;
		if (e->u.error.retryable && r->attempts < MAX_ATTEMPTS) {
			r->failed_on = ci;
			/* tokens already streamed cannot be taken back: restart clean */
			c->tokens -= r->tokens;
			r->tokens = 0;
			r->text_bytes = 0;
			c->redispatched++;
			if (!c->o->quiet)
				tf_log_info("request %" PRIu64 " failed retryably on %d (%.*s): "
					    "re-dispatching",
					    e->handle, ci, e->u.error.msg_len, e->u.error.msg);
		} else {
			r->done = 2;
			c->failed++;
			tf_log_warnx("request %" PRIu64 " failed: code %u: %.*s", e->handle,
				     e->u.error.code, e->u.error.msg_len, e->u.error.msg);
		}
		break;
	default:
		break;
	}
}

static int
card_setup(struct card *c, const struct opts *o)
{
	int rc;

	c->o = o;
	if (tf_xport_ctx_create(&c->ctx))
		return -ENOMEM;
	if (o->prompt_text) {
		c->prompt_bytes = (uint32_t)strlen(o->prompt_text);
		c->fmt = TF_ACCEL_PROMPT_TEXT;
	} else {
		c->prompt_bytes = 4 * o->prompt_tokens;
		c->fmt = TF_ACCEL_PROMPT_TOKENS;
	}
	if (!c->prompt_bytes)
		tf_fatalx("the prompt is empty: give --prompt TEXT or --prompt-tokens N >= 1");
	c->prompt = aligned_alloc(4096, (c->prompt_bytes + 4095) & ~4095u);
	if (!c->prompt)
		return -ENOMEM;
	if (o->prompt_text) {
		memcpy(c->prompt, o->prompt_text, c->prompt_bytes);
	} else {
		for (unsigned int i = 0; i < o->prompt_tokens; i++) {
			uint32_t id = 1 + i % 200;

			memcpy(c->prompt + 4 * i, &id, 4);
		}
	}
	/* the prompt lives in registered memory: zero-copy gather on rdma */
	rc = tf_xport_mem_register(c->ctx, c->prompt, (c->prompt_bytes + 4095) & ~4095u, &c->mem);
	if (rc)
		tf_fatalx("registering the prompt buffer: %s", strerror(-rc));
	for (int i = 0; i < o->nuris; i++) {
		struct tf_xport_conn_cfg cc = { .uri = o->uris[i],
						.resp_ring_bytes = o->resp_ring,
						.reconnect_min_ms = 50,
						.peer_timeout_ms = o->peer_timeout_ms };

		rc = tf_xport_connect(c->ctx, &cc, &c->x[i]);
		if (rc)
			tf_fatalx("%s", tf_xport_strerror_cfg());
		c->n++;
	}
	c->rs = calloc(o->requests ? o->requests : 1, sizeof(*c->rs));
	if (!c->rs)
		return -ENOMEM;
	for (unsigned int i = 0; i < o->requests; i++)
		c->rs[i].conn = c->rs[i].failed_on = -1;
	return 0;
}

static void
card_teardown(struct card *c)
{
	for (int i = 0; i < c->n; i++) {
		uint64_t v[TF_XPORT_C_COUNT];

		tf_xport_counters(c->x[i], v);
		for (int k = 0; k < TF_XPORT_C_COUNT; k++)
			if (v[k] && k >= TF_XPORT_C_NO_RING_SPACE && !c->o->quiet)
				tf_log_info("connection %d: %s = %" PRIu64, i,
					    tf_xport_counter_name((enum tf_xport_counter)k), v[k]);
		tf_xport_disconnect(c->x[i]);
	}
	tf_xport_mem_unregister(c->mem);
	tf_xport_ctx_destroy(c->ctx);
	free(c->prompt);
	free(c->rs);
}

static void
poll_all(struct card *c)
{
	for (int i = 0; i < c->n; i++) {
		int n = tf_xport_poll(c->x[i], c->ev, 256);

		for (int k = 0; k < n; k++)
			handle_event(c, i, &c->ev[k]);
		tf_xport_credits_return(c->x[i]);
	}
}

static int
run_card(const struct opts *o)
{
	struct card c = { 0 };
	uint64_t deadline = now_ns() + (uint64_t)o->timeout_ms * 1000000ull;
	unsigned int answered = 0, short_tokens = 0;

	if (card_setup(&c, o))
		tf_fatalx("out of memory");
	/* spread the work: start once every accelerator is connected (or 10 s passed) */
	for (uint64_t dl = now_ns() + 10000000000ull; !g_stop && now_ns() < dl;) {
		int up = 0;

		poll_all(&c);
		for (int i = 0; i < c.n; i++)
			up += tf_xport_state(c.x[i]) == TF_XPORT_STATE_UP;
		if (up == c.n)
			break;
		usleep(1000);
	}
	while (!g_stop && now_ns() < deadline) {
		poll_all(&c);
		answered = 0;
		for (unsigned int i = 0; i < o->requests; i++)
			answered += c.rs[i].done != 0;
		if (answered == o->requests)
			break;
		if (!send_some(&c))
			usleep(50);
	}
	for (unsigned int i = 0; i < o->requests; i++)
		if (c.rs[i].done == 1 && c.rs[i].tokens == 0)
			short_tokens++;
	printf("drive: requests=%u answered=%u ended=%" PRIu64 " failed=%" PRIu64
	       " redispatched=%" PRIu64 " tokens=%" PRIu64 "\n",
	       o->requests, answered, c.ended, c.failed, c.redispatched, c.tokens);
	fflush(stdout);
	card_teardown(&c);
	if (answered != o->requests) {
		tf_log_warnx("%u of %u requests got no answer within %u ms", o->requests - answered,
			     o->requests, o->timeout_ms);
		return 1;
	}
	if (o->expect_tokens && (short_tokens || c.failed)) {
		tf_log_warnx("%u requests ended without tokens, %" PRIu64 " failed", short_tokens,
			     c.failed);
		return 1;
	}
	return 0;
}

/* ---- benchmark --------------------------------------------------------------- */

static double
bench_memcpy(uint32_t rec_bytes, uint64_t batches)
{
	size_t ring = 4u << 20;
	uint8_t *dst = aligned_alloc(4096, ring), *src = aligned_alloc(4096, rec_bytes + 64);
	uint64_t t0, t1;
	size_t off = 0;

	if (!dst || !src)
		tf_fatalx("out of memory");
	memset(src, 1, rec_bytes + 64);
	memset(dst, 0, ring);
	t0 = now_ns();
	for (uint64_t i = 0; i < batches; i++) {
		if (off + rec_bytes > ring)
			off = 0;
		memcpy(dst + off, src, rec_bytes);
		off += (rec_bytes + 63) & ~63u;
		__asm__ volatile("" ::: "memory");
	}
	t1 = now_ns();
	free(dst);
	free(src);
	return (double)(t1 - t0) / 1e9;
}

static int
run_bench(const struct opts *o)
{
	struct card c = { 0 };
	struct opts ob = *o;
	struct tf_xport_req reqs[256];
	struct tf_xport_seg seg[256];
	uint64_t t0, t_end, batches = 0, reqs_sent = 0, done = 0, bytes = 0, h = 0;
	uint64_t cnt[TF_XPORT_C_COUNT];
	uint32_t rec;
	double secs, mc;
	int up = 0;

	ob.requests = 0;
	if (card_setup(&c, &ob))
		tf_fatalx("out of memory");
	/* wait for the connection */
	for (uint64_t dl = now_ns() + 10000000000ull; !up && now_ns() < dl;) {
		int n = tf_xport_poll(c.x[0], c.ev, 256);

		for (int k = 0; k < n; k++)
			up |= c.ev[k].type == TF_XPORT_EV_UP;
		usleep(100);
	}
	if (!up)
		tf_fatalx("no connection to %s: %s", o->uris[0], tf_xport_last_error(c.x[0]));
	for (unsigned int i = 0; i < o->batch; i++) {
		seg[i] = (struct tf_xport_seg){ c.prompt, c.prompt_bytes, c.mem };
		reqs[i] =
			(struct tf_xport_req){ .model = o->model,
					       .prompt_fmt = c.fmt,
					       .sampling = { .max_new_tokens = 1, .top_p = 10000 },
					       .segs = &seg[i],
					       .nsegs = 1 };
	}
	rec = tf_xport_batch_bytes(reqs, o->batch);
	t0 = now_ns();
	t_end = t0 + (uint64_t)o->seconds * 1000000000ull;
	for (uint64_t it = 0; !g_stop && ((++it & 1023) || now_ns() < t_end);) {
		int n = tf_xport_poll(c.x[0], c.ev, 256);

		for (int k = 0; k < n; k++) {
			if (c.ev[k].type == TF_XPORT_EV_END)
				done++;
			else if (c.ev[k].type == TF_XPORT_EV_DOWN)
				tf_fatalx("connection lost during the benchmark: %s",
					  tf_xport_last_error(c.x[0]));
		}
		tf_xport_credits_return(c.x[0]);
		for (int burst = 0; burst < 8; burst++) {
			for (unsigned int i = 0; i < o->batch; i++)
				reqs[i].handle = h + i;
			if (tf_xport_batch_post(c.x[0], reqs, o->batch, batches))
				break;
			h += o->batch;
			batches++;
			reqs_sent += o->batch;
			bytes += rec;
		}
	}
	secs = (double)(now_ns() - t0) / 1e9;
	tf_xport_counters(c.x[0], cnt);
	mc = bench_memcpy(rec, batches ? batches : 1);
	printf("bench_xport: uri=%s batch=%u prompt_bytes=%u record_bytes=%u seconds=%.2f\n",
	       o->uris[0], o->batch, c.prompt_bytes, rec, secs);
	printf("bench_xport: batches_per_s=%.0f requests_per_s=%.0f MB_per_s=%.1f "
	       "answered_per_s=%.0f\n",
	       (double)batches / secs, (double)reqs_sent / secs, (double)bytes / secs / 1e6,
	       (double)done / secs);
	/* the answers: EVENTS records the accelerator wrote back into our ring */
	printf("bench_xport: resp_records_per_s=%.0f resp_bytes_per_record=%.0f\n",
	       (double)cnt[TF_XPORT_C_RECS_RX] / secs,
	       cnt[TF_XPORT_C_RECS_RX]
		       ? (double)cnt[TF_XPORT_C_BYTES_RX] / (double)cnt[TF_XPORT_C_RECS_RX]
		       : 0.0);
	printf("bench_xport: memcpy_same_bytes MB_per_s=%.1f batches_per_s=%.0f "
	       "ratio_xport_vs_memcpy=%.3f\n",
	       (double)bytes / mc / 1e6, (double)batches / mc, mc / secs);
	card_teardown(&c);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "serve", required_argument, NULL, 's' },
		{ "echo", no_argument, NULL, 'e' },
		{ "requests", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "prompt-tokens", required_argument, NULL, 'P' },
		{ "max-new-tokens", required_argument, NULL, 'm' },
		{ "model", required_argument, NULL, 'M' },
		{ "temperature-milli", required_argument, NULL, 'T' },
		{ "seed", required_argument, NULL, 'S' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 'D' },
		{ "max-inflight", required_argument, NULL, 'I' },
		{ "peer-timeout-ms", required_argument, NULL, 'Z' },
		{ "in-ring", required_argument, NULL, 'R' },
		{ "resp-ring", required_argument, NULL, 'r' },
		{ "expect-tokens", no_argument, NULL, 'x' },
		{ "print", no_argument, NULL, 'o' },
		{ "bench", no_argument, NULL, 'B' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .requests = 8,
			  .batch = 4,
			  .max_new = 16,
			  .model = 1,
			  .prompt_tokens = 8,
			  .timeout_ms = 60000,
			  .seconds = 3,
			  .peer_timeout_ms = 3000,
			  .max_inflight = 256 };
	unsigned int v;
	int ch;

	tf_log_init("tokfab-xport-drive", TF_LOG_INFO, 0);
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (o.nuris == MAX_CONNS)
				tf_fatalx("at most %d --connect", MAX_CONNS);
			o.uris[o.nuris++] = optarg;
			break;
		case 's':
			o.serve = optarg;
			break;
		case 'e':
			o.echo = 1;
			break;
		case 'p':
			o.prompt_text = optarg;
			break;
		case 'x':
			o.expect_tokens = 1;
			break;
		case 'o':
			o.print = 1;
			break;
		case 'B':
			o.bench = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'g':
			o.progress = 1;
			break;
		case 'h':
			usage();
			return 0;
		case '?':
			usage();
			return 2;
		default:
			if (parse_u(optarg, "option value", &v))
				return 2;
			switch (ch) {
			case 'n':
				o.requests = v;
				break;
			case 'b':
				o.batch = v;
				break;
			case 'P':
				o.prompt_tokens = v;
				break;
			case 'm':
				o.max_new = v;
				break;
			case 'M':
				o.model = v;
				break;
			case 'T':
				o.temperature = v;
				break;
			case 'S':
				o.seed = v;
				break;
			case 't':
				o.timeout_ms = v;
				break;
			case 'D':
				o.seconds = v;
				break;
			case 'I':
				o.max_inflight = v;
				break;
			case 'Z':
				o.peer_timeout_ms = v;
				break;
			case 'R':
				o.in_ring = v;
				break;
			case 'r':
				o.resp_ring = v;
				break;
			}
			break;
		}
	}
	if (optind < argc) {
		tf_log_warnx("unexpected argument '%s'", argv[optind]);
		usage();
		return 2;
	}
	if (o.batch == 0 || o.batch > 256)
		tf_fatalx("--batch must be 1..256");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (o.serve) {
		if (!o.echo)
			tf_fatalx("--serve needs --echo (the real accelerator is tokfab-accel)");
		return serve_echo(&o);
	}
	if (!o.nuris) {
		usage();
		return 2;
	}
	return o.bench ? run_bench(&o) : run_card(&o);
}
