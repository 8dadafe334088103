/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The load loop of tokfab-bench: one thread, one libtokfab-client (one UDP
 * socket) per tenant in use, epoll over their sockets, client timers run when
 * due. Closed loop keeps N requests in flight; open loop sends at Poisson
 * arrival times and measures every latency from the intended arrival time, so
 * a slow server cannot hide its queueing (no coordinated omission).
 */
#include "bench/bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000ull
#define MAX_PICK_TRIES 8

struct rq {
	struct rq *prev, *next; /* requests in flight (freed at the end if never done) */
	struct bench_run *r;
	uint32_t tenant;
	uint32_t tokens;
	uint64_t t_intended, t_last; /* monotonic ns */
	bool in_window, first_seen;
};

static struct rq g_live = { &g_live, &g_live, NULL, 0, 0, 0, 0, false, false };

static void
live_add(struct rq *q)
{
	q->next = &g_live;
	q->prev = g_live.prev;
	g_live.prev->next = q;
	g_live.prev = q;
}

static void
live_del(struct rq *q)
{
	q->prev->next = q->next;
	q->next->prev = q->prev;
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

double
bench_window_s(const struct bench_run *r)
{
	uint64_t end = r->t_stop_gen < r->t_end ? r->t_stop_gen : r->t_end;

	return end > r->t_warm ? (double)(end - r->t_warm) / 1e9 : 0;
}

static struct bench_sec *
sec_at(struct bench_run *r, uint64_t now)
{
	uint64_t s = (now - r->t0) / NS;

	if (s >= BENCH_MAX_SERIES)
		s = BENCH_MAX_SERIES - 1;
	if (s + 1 > r->nseries)
		r->nseries = (uint32_t)s + 1;
	return &r->series[s];
}

/* ---- keys and tenants --------------------------------------------------- */

static int
load_key(const char *path, uint8_t key[TF_PROTO_KEY_LEN], char *err, size_t errlen)
{
	char e[256];
	bool world;

	if (tf_client_load_key(path, key, &world, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "key file %s: %s", path, e);
		return -EINVAL;
	}
	return 0;
}

static int
load_tenants(struct bench_run *r, char *err, size_t errlen)
{
	const struct bench_opts *o = r->o;
	uint64_t n = 0, nk = 0;
	char path[PATH_MAX + 16];

	for (unsigned int i = 0; i < o->nspecs; i++) {
		n += (uint64_t)o->specs[i].last - o->specs[i].first + 1;
		nk += tf_tenant_spec_per_tenant(&o->specs[i])
			      ? o->specs[i].last - o->specs[i].first + 1
			      : 1;
	}
	if (n > 10000000) {
		snprintf(err, errlen, "%" PRIu64 " tenants: at most 10000000", n);
		return -E2BIG;
	}
	r->tenants = calloc(n, sizeof(*r->tenants));
	r->keys = calloc(nk, sizeof(*r->keys));
	r->open = calloc(n, sizeof(*r->open));
	r->active = calloc(n, sizeof(*r->active));
	if (!r->tenants || !r->keys || !r->open || !r->active) {
		snprintf(err, errlen, "out of memory for %" PRIu64 " tenants", n);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < o->nspecs; i++) {
		const struct tf_tenant_spec *sp = &o->specs[i];
		bool each = tf_tenant_spec_per_tenant(sp);

		if (!each && load_key(sp->key_path, r->keys[r->nkeys], err, errlen))
			return -EINVAL;
		for (uint64_t id = sp->first; id <= sp->last; id++) {
			struct bench_tenant *t = &r->tenants[r->ntenants++];

			t->id = (uint32_t)id;
			t->open_pos = -1;
			t->active_pos = -1;
			if (each) {
				tf_tenant_spec_key_path(sp, (uint32_t)id, path, sizeof(path));
				if (load_key(path, r->keys[r->nkeys], err, errlen))
					return -EINVAL;
				t->key = r->nkeys++;
			} else {
				t->key = r->nkeys;
			}
		}
		if (!each)
			r->nkeys++;
	}
	return 0;
}

/* ---- clients ------------------------------------------------------------ */

/* Answers the kernel dropped at this client's socket (its receive buffer was full). */
static void
client_count_drops(struct bench_run *r, const struct tf_client *c)
{
	int64_t d = tf_client_socket_drops(c);

	if (d > 0)
		r->socket_drops += (uint64_t)d;
}

static void
client_close(struct bench_run *r, uint32_t ti)
{
	struct bench_tenant *t = &r->tenants[ti];
	uint32_t last;

	if (!t->c)
		return;
	epoll_ctl(r->ep, EPOLL_CTL_DEL, tf_client_fd(t->c), NULL);
	client_count_drops(r, t->c);
	tf_client_destroy(t->c);
	t->c = NULL;
	last = r->open[--r->nopen];
	r->open[t->open_pos] = last;
	r->tenants[last].open_pos = t->open_pos;
	t->open_pos = -1;
}

/* Makes room for one more client: closes an idle one. 0, or -EAGAIN. */
static int
client_evict(struct bench_run *r)
{
	for (uint32_t k = 0; k < r->nopen; k++) {
		uint32_t pos = (r->hand + k) % r->nopen;
		uint32_t ti = r->open[pos];

		if (r->tenants[ti].inflight == 0) {
			client_close(r, ti);
			r->hand = r->nopen ? (pos + 1) % r->nopen : 0;
			return 0;
		}
	}
	return -EAGAIN;
}

static struct tf_client *
client_get(struct bench_run *r, uint32_t ti, int *rc)
{
	const struct bench_opts *o = r->o;
	struct bench_tenant *t = &r->tenants[ti];
	struct tf_client_config cfg;
	struct epoll_event ev;
	char err[256];

	*rc = 0;
	if (t->c)
		return t->c;
	if (r->nopen >= o->max_clients && client_evict(r) < 0) {
		*rc = -EAGAIN;
		return NULL;
	}
	tf_client_config_init(&cfg);
	cfg.server = o->server;
	cfg.tenant_id = t->id;
	cfg.key_id = o->key_id;
	memcpy(cfg.key, r->keys[t->key], TF_PROTO_KEY_LEN);
	cfg.max_dgram = o->dgram;
	cfg.rto_initial_ms = o->rto_ms;
	if (cfg.rto_max_ms < cfg.rto_initial_ms)
		cfg.rto_max_ms = cfg.rto_initial_ms;
	cfg.retries = o->retries;
	cfg.timeout_ms = o->timeout_ms;
	cfg.max_inflight = r->client_cap;
	*rc = tf_client_create(&cfg, &t->c, err, sizeof(err));
	memset(cfg.key, 0, sizeof(cfg.key));
	if (*rc < 0) {
		snprintf(r->fatal, sizeof(r->fatal), "cannot set up the client of tenant %u: %s",
			 t->id, err);
		return NULL;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = ti;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, tf_client_fd(t->c), &ev) < 0) {
		*rc = -errno;
		snprintf(r->fatal, sizeof(r->fatal), "epoll_ctl: %s", strerror(errno));
		tf_client_destroy(t->c);
		t->c = NULL;
		return NULL;
	}
	t->open_pos = (int32_t)r->nopen;
	r->open[r->nopen++] = ti;
	return t->c;
}

static void
active_add(struct bench_run *r, uint32_t ti)
{
	struct bench_tenant *t = &r->tenants[ti];

	if (t->active_pos >= 0)
		return;
	t->active_pos = (int32_t)r->nactive;
	r->active[r->nactive++] = ti;
}

static void
active_del(struct bench_run *r, uint32_t ti)
{
	struct bench_tenant *t = &r->tenants[ti];
	uint32_t last;

	if (t->active_pos < 0)
		return;
	last = r->active[--r->nactive];
	r->active[t->active_pos] = last;
	r->tenants[last].active_pos = t->active_pos;
	t->active_pos = -1;
}

/* ---- callbacks ---------------------------------------------------------- */

static void
on_tokens(void *arg, uint64_t rid, const struct tf_client_tokens *tk)
{
	struct rq *q = arg;
	struct bench_run *r = q->r;
	uint64_t now = mono_ns(), us;

	(void)rid;
	if (!tk->n)
		return;
	sec_at(r, now)->tokens += tk->n;
	if (!q->first_seen) {
		q->first_seen = true;
		us = (now - q->t_intended) / 1000;
		tf_hist_add(&r->sec_ttft, us);
		if (q->in_window)
			tf_hist_add(&r->ttft, us);
	} else {
		/* the gap since the previous chunk, spread over this chunk's tokens */
		us = (now - q->t_last) / 1000 / tk->n;
		tf_hist_add_n(&r->sec_itl, us, tk->n);
		if (q->in_window)
			tf_hist_add_n(&r->itl, us, tk->n);
	}
	q->t_last = now;
	q->tokens += tk->n;
}

static const char *
finish_name(uint8_t f)
{
	static const char *const n[] = { "stop", "length", "cancelled", "cut_off" };

	return f <= TF_PROTO_FINISH_MAX ? n[f] : "unknown";
}

static void
count_error(struct bench_run *r, const char *name)
{
	uint32_t i;

	for (i = 0; i < r->nerrs; i++)
		if (!strcmp(r->errs[i].name, name))
			break;
	if (i == r->nerrs) {
		if (r->nerrs == BENCH_MAX_ERR_CLASSES)
			i = r->nerrs - 1; /* "other" absorbs the rest */
		else
			snprintf(r->errs[r->nerrs++].name, sizeof(r->errs[0].name), "%s", name);
	}
	r->errs[i].n++;
}

static void
on_done(void *arg, uint64_t rid, const struct tf_client_outcome *oc)
{
	struct rq *q = arg;
	struct bench_run *r = q->r;
	struct bench_tenant *t = &r->tenants[q->tenant];
	uint64_t now = mono_ns(), e2e = (now - q->t_intended) / 1000;
	struct bench_sec *s = sec_at(r, now);
	char cls[48];
	bool ok = oc->status == TF_CLIENT_OK;

	if (ok)
		snprintf(cls, sizeof(cls), "ok");
	else if (oc->has_final && oc->status < 256)
		snprintf(cls, sizeof(cls), "CUT_OFF %s", tf_proto_error_name((uint16_t)oc->status));
	else
		snprintf(cls, sizeof(cls), "%s", tf_client_status_name(oc->status));
	s->done++;
	if (ok)
		s->ok++;
	else
		s->errors++;
	if (q->in_window) {
		r->win_done++;
		if (ok) {
			r->win_ok++;
			tf_hist_add(&r->e2e, e2e);
		} else {
			r->win_errors++;
			count_error(r, cls);
		}
		r->win_tokens += oc->tokens;
		if (oc->has_final) {
			r->win_prompt_tokens += oc->final.prompt_tokens;
			r->win_cost_micro += oc->final.cost_micro;
		}
	} else {
		r->warmup_done++;
	}
	r->retransmits += oc->retransmits;
	r->resumes += oc->resumes;
	if (ok)
		t->ok++;
	else
		t->errors++;
	t->tokens += oc->tokens;
	if (r->log) {
		fprintf(r->log,
			"{\"t\":%.6f,\"tenant\":%u,\"request_id\":\"0x%016" PRIx64
			"\",\"status\":\"%s\","
			"\"code\":%d,\"tokens\":%u,\"has_final\":%s",
			(double)(q->t_intended - r->t0) / 1e9, t->id, rid, cls, oc->status,
			oc->tokens, oc->has_final ? "true" : "false");
		if (oc->has_final)
			fprintf(r->log,
				",\"finish\":\"%s\",\"prompt_tokens\":%u,\"completion_tokens\":%u,"
				"\"cost_micro\":%" PRIu64 ",\"accel\":%u",
				finish_name(oc->final.finish_reason), oc->final.prompt_tokens,
				oc->final.completion_tokens, oc->final.cost_micro,
				oc->final.accel_id);
		fprintf(r->log,
			",\"ttft_us\":%" PRIu64 ",\"e2e_us\":%" PRIu64
			",\"retransmits\":%u,\"resumes\":%u,\"warmup\":%s}\n",
			q->first_seen ? oc->first_token_us : 0, e2e, oc->retransmits, oc->resumes,
			q->in_window ? "false" : "true");
	}
	if (--t->inflight == 0)
		active_del(r, q->tenant);
	r->inflight--;
	r->t_last_done = now;
	live_del(q);
	free(q);
}

static const struct tf_client_cb g_cb = {
	.on_tokens = on_tokens,
	.on_done = on_done,
};

/* ---- requests ----------------------------------------------------------- */

static uint8_t g_prompt[TF_PROTO_MAX_PROMPT];

/* Sends one request intended at t (ns). 0, -EAGAIN (no client/slot free), or fatal. */
static int
submit(struct bench_run *r, uint64_t t)
{
	const struct bench_opts *o = r->o;
	struct tf_client_request req;
	struct tf_client *c;
	uint64_t rid;
	struct rq *q;
	uint32_t ti, n;
	int rc = -EAGAIN;

	memset(&req, 0, sizeof(req));
	req.model_id = o->model_id;
	req.max_new_tokens = tf_dist_sample(&o->max_tokens, &r->rng);
	if (o->prompt_text) {
		req.prompt_kind = TF_PROTO_PROMPT_TEXT;
		req.prompt = o->prompt_text;
		req.prompt_len = (uint32_t)strlen(o->prompt_text);
	} else {
		n = tf_dist_sample(&o->prompt_len, &r->rng);
		for (uint32_t i = 0; i < n; i++)
			tf_proto_st32(g_prompt + 4 * i,
				      (uint32_t)tf_rng_range(&r->rng, 3, o->vocab - 1));
		req.prompt_kind = TF_PROTO_PROMPT_TOKENS;
		req.prompt = g_prompt;
		req.prompt_len = 4 * n;
	}
	req.temperature = o->temperature;
	req.top_p = o->top_p;
	req.seed = o->seed + r->submitted;
	req.priority = o->priority;
	req.want_text = o->want_text;
	q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(r->fatal, sizeof(r->fatal), "out of memory");
		return -ENOMEM;
	}
	q->r = r;
	q->t_intended = t;
	q->in_window = t >= r->t_warm && t < r->t_end;
	for (int k = 0; k < MAX_PICK_TRIES; k++) {
		ti = (uint32_t)tf_rng_range(&r->rng, 0, r->ntenants - 1);
		c = client_get(r, ti, &rc);
		if (!c) {
			if (rc != -EAGAIN)
				break;
			continue;
		}
		q->tenant = ti;
		rc = tf_client_submit(c, &req, &g_cb, q, &rid);
		if (rc == 0)
			break;
		if (rc != -EAGAIN) {
			snprintf(r->fatal, sizeof(r->fatal), "submit: %s", strerror(-rc));
			break;
		}
	}
	if (rc) {
		free(q);
		return rc;
	}
	live_add(q);
	r->submitted++;
	r->inflight++;
	if (r->inflight > r->max_inflight_seen)
		r->max_inflight_seen = r->inflight;
	if (r->tenants[ti].inflight++ == 0)
		active_add(r, ti);
	return 0;
}

/* ---- the loop ----------------------------------------------------------- */

int
bench_run_init(struct bench_run *r, const struct bench_opts *o, char *err, size_t errlen)
{
	struct rlimit rl;
	uint64_t cap;
	int rc;

	memset(r, 0, sizeof(*r));
	r->o = o;
	r->ep = -1;
	tf_rng_seed(&r->rng, o->seed);
	tf_hist_reset(&r->ttft);
	tf_hist_reset(&r->itl);
	tf_hist_reset(&r->e2e);
	tf_hist_reset(&r->sec_ttft);
	tf_hist_reset(&r->sec_itl);
	rc = load_tenants(r, err, errlen);
	if (rc)
		return rc;
	cap = r->ntenants == 1 ? o->max_outstanding
			       : 4 * ((uint64_t)o->max_outstanding + r->ntenants - 1) / r->ntenants;
	if (cap < 16)
		cap = 16;
	if (cap > o->max_outstanding)
		cap = o->max_outstanding;
	r->client_cap = (uint32_t)cap;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want =
			(rlim_t)(r->ntenants < o->max_clients ? r->ntenants : o->max_clients) + 256;

		if (rl.rlim_cur < want) {
			rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
			if (rl.rlim_cur < want) {
				snprintf(err, errlen,
					 "can open only %llu files but --max-clients needs %llu: "
					 "lower "
					 "--max-clients or raise 'ulimit -n'",
					 (unsigned long long)rl.rlim_cur, (unsigned long long)want);
				return -EMFILE;
			}
		}
	}
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->series = calloc(BENCH_MAX_SERIES, sizeof(*r->series));
	if (r->ep < 0 || !r->series) {
		snprintf(err, errlen, "cannot set up: %s", strerror(errno));
		return -ENOMEM;
	}
	if (o->log_path) {
		r->log = fopen(o->log_path, "w");
		if (!r->log) {
			snprintf(err, errlen, "--log %s: %s", o->log_path, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

void
bench_run_fini(struct bench_run *r)
{
	for (uint32_t i = 0; i < r->ntenants && r->tenants; i++)
		if (r->tenants[i].c)
			tf_client_destroy(r->tenants[i].c);
	while (g_live.next != &g_live) { /* unfinished: their clients are gone */
		struct rq *q = g_live.next;

		live_del(q);
		free(q);
	}
	if (r->ep >= 0)
		close(r->ep);
	if (r->log)
		fclose(r->log);
	if (r->keys)
		memset(r->keys, 0, (size_t)r->nkeys * sizeof(*r->keys));
	free(r->keys);
	free(r->tenants);
	free(r->open);
	free(r->active);
	free(r->series);
}

static void
close_second(struct bench_run *r, uint64_t at)
{
	struct bench_sec *s = sec_at(r, at - 1);

	s->ttft_p50 = tf_hist_quantile(&r->sec_ttft, 0.5);
	s->ttft_p99 = tf_hist_quantile(&r->sec_ttft, 0.99);
	s->itl_p50 = tf_hist_quantile(&r->sec_itl, 0.5);
	s->itl_p99 = tf_hist_quantile(&r->sec_itl, 0.99);
	s->inflight = (uint32_t)r->inflight;
	tf_hist_reset(&r->sec_ttft);
	tf_hist_reset(&r->sec_itl);
}

static void
progress(struct bench_run *r, uint64_t now, uint64_t *last_t, uint64_t *last_done,
	 uint64_t *last_tok, bool tty)
{
	double dt = (double)(now - *last_t) / 1e9, el = (double)(now - r->t0) / 1e9;
	uint64_t done = r->win_done + r->warmup_done, tok = 0;
	const char *phase = now < r->t_warm ? "warm-up" : r->generating ? "run" : "drain";

	for (uint32_t i = 0; i < r->nseries; i++)
		tok += r->series[i].tokens;
	fprintf(stderr,
		"%s[%6.1fs %-7s] sent %" PRIu64 " done %" PRIu64 " in flight %" PRIu64
		" | %.0f req/s %.0f tok/s | TTFT p50 %.2f ms p99 %.2f ms | errors %" PRIu64 "%s",
		tty ? "\r" : "", el, phase, r->submitted, done, r->inflight,
		dt > 0 ? (double)(done - *last_done) / dt : 0,
		dt > 0 ? (double)(tok - *last_tok) / dt : 0,
		tf_hist_quantile(&r->ttft, 0.5) / 1000.0, tf_hist_quantile(&r->ttft, 0.99) / 1000.0,
		r->win_errors, tty ? "   " : "\n");
	*last_t = now;
	*last_done = done;
	*last_tok = tok;
}

int
bench_run_go(struct bench_run *r, volatile int *stop)
{
	const struct bench_opts *o = r->o;
	struct epoll_event evs[256];
	uint64_t now, cnow, next_tick, next_prog, drain_end = 0, arrivals = 0;
	uint64_t lp_t, lp_done = 0, lp_tok = 0;
	double mean_gap_ns = o->mode == BENCH_OPEN ? 1e9 / o->rate : 0;
	bool tty = isatty(STDERR_FILENO), show = !o->quiet && o->progress_s > 0;
	struct rusage ru;
	int n, wait_ms, rc;

	r->t0 = mono_ns();
	r->t_warm = r->t0 + (uint64_t)(o->warmup_s * 1e9);
	r->t_end = r->t_warm + (uint64_t)(o->duration_s * 1e9);
	r->t_stop_gen = UINT64_MAX;
	r->next_arrival = r->t0;
	r->generating = true;
	next_tick = r->t0 + NS;
	next_prog = r->t0 + (uint64_t)(o->progress_s * 1e9);
	lp_t = r->t0;
	if (r->api)
		bench_api_set_window(r->api, (double)r->t_warm / 1e9, (double)r->t_end / 1e9);
	while (!*stop) {
		now = mono_ns();
		if (r->generating &&
		    (now >= r->t_end || (o->max_requests && arrivals >= o->max_requests))) {
			r->generating = false;
			r->t_stop_gen = now;
			drain_end = now + (uint64_t)(o->drain_s * 1e9);
			if (r->api)
				bench_api_set_window(r->api, (double)r->t_warm / 1e9,
						     (double)(now < r->t_end ? now : r->t_end) /
							     1e9);
		}
		if (r->generating && o->mode == BENCH_CLOSED) {
			while (r->inflight < o->concurrency &&
			       (!o->max_requests || arrivals < o->max_requests)) {
				rc = submit(r, now);
				if (rc == -EAGAIN)
					break;
				if (rc)
					return rc;
				arrivals++;
			}
		} else if (r->generating) {
			while (r->next_arrival <= now &&
			       (!o->max_requests || arrivals < o->max_requests)) {
				uint64_t t = r->next_arrival;

				r->next_arrival += (uint64_t)tf_rng_exp(&r->rng, mean_gap_ns) + 1;
				arrivals++;
				if (r->inflight >= o->max_outstanding) {
					if (t >= r->t_warm)
						r->not_sent_outstanding++;
					continue;
				}
				rc = submit(r, t);
				if (rc == -EAGAIN) {
					if (t >= r->t_warm)
						r->not_sent_pool++;
					continue;
				}
				if (rc)
					return rc;
			}
		} else if (r->inflight == 0) {
			break;
		} else if (now >= drain_end) {
			r->unfinished = r->inflight;
			break;
		}
		/* how long to sleep: the next arrival, timer, second or progress line */
		{
			uint64_t until = next_tick;

			if (show && next_prog < until)
				until = next_prog;
			if (r->generating && o->mode == BENCH_OPEN && r->next_arrival < until)
				until = r->next_arrival;
			if (!r->generating && drain_end < until)
				until = drain_end;
			wait_ms = until > now ? (int)((until - now + 999999) / 1000000) : 0;
			if (r->generating && o->mode == BENCH_CLOSED &&
			    r->inflight < o->concurrency)
				wait_ms =
					wait_ms > 1 ? 1 : wait_ms; /* no client slot: retry soon */
			/* one clock read for every client's next timer (absolute times) */
			cnow = tf_client_now_us();
			for (uint32_t i = 0; i < r->nactive; i++) {
				uint64_t t = tf_client_next_timer_us(r->tenants[r->active[i]].c);
				uint64_t ms = t <= cnow ? 0 : (t - cnow + 999) / 1000;

				if (ms < (uint64_t)wait_ms)
					wait_ms = (int)ms;
			}
		}
		n = epoll_wait(r->ep, evs, 256, wait_ms);
		if (n < 0 && errno != EINTR) {
			snprintf(r->fatal, sizeof(r->fatal), "epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct bench_tenant *t = &r->tenants[evs[i].data.u32];

			if (t->c)
				tf_client_process(t->c);
		}
		cnow = tf_client_now_us();
		for (uint32_t i = r->nactive; i-- > 0;) {
			struct tf_client *c;

			if (i >= r->nactive)
				continue;
			c = r->tenants[r->active[i]].c;
			if (tf_client_next_timer_us(c) <= cnow)
				tf_client_process(c);
		}
		now = mono_ns();
		while (now >= next_tick) {
			close_second(r, next_tick);
			next_tick += NS;
		}
		if (show && now >= next_prog) {
			progress(r, now, &lp_t, &lp_done, &lp_tok, tty);
			next_prog = now + (uint64_t)(o->progress_s * 1e9);
		}
	}
	if (r->generating) { /* stopped by a signal */
		r->generating = false;
		r->t_stop_gen = mono_ns();
		r->unfinished = r->inflight;
	}
	close_second(r, mono_ns() + 1);
	for (uint32_t i = 0; i < r->nopen; i++)
		client_count_drops(r, r->tenants[r->open[i]].c);
	if (show)
		progress(r, mono_ns(), &lp_t, &lp_done, &lp_tok, tty);
	if (show && tty)
		fputc('\n', stderr);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		r->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
			   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return 0;
}
