/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-bench: a load generator over the wire (libtokfab-client), as an
 * operator would use to size a deployment. One thread drives every request
 * (non-blocking client API, one UDP socket per tenant, epoll); a second
 * thread samples the daemon's API once a second when --api is given.
 *
 *   args.c    command line -> struct bench_opts (every bad value explained)
 *   run.c     the load loop: closed (N concurrent) or open (Poisson) arrivals,
 *             tenants' clients, callbacks -> histograms, series, request log
 *   api.c     tokfabd's HTTP API: accelerator utilisation, costs, ledger usage
 *   report.c  text summary, JSON, gnuplot PNG
 *   hist.c    log-bucketed histogram;  dist.c  random numbers, distributions
 */
#ifndef TF_BENCH_H
#define TF_BENCH_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/dist.h"
#include "bench/hist.h"
#include "bench/tenants.h"
#include "tokfab/client.h"

#define BENCH_MAX_SERIES 7200 /* seconds of per-second series */
#define BENCH_MAX_ACCELS 64
#define BENCH_MAX_ERR_CLASSES 40

enum bench_mode {
	BENCH_CLOSED = 1, /* keep N requests in flight */
	BENCH_OPEN = 2, /* Poisson arrivals at a fixed rate */
};

struct bench_opts {
	const char *server;
	struct tf_tenant_spec *specs; /* tenant ranges (tenants.h) */
	unsigned int nspecs;
	uint8_t key_id;
	uint32_t model_id;
	enum bench_mode mode;
	uint32_t concurrency;
	double rate; /* requests/s (open loop) */
	double duration_s, warmup_s, drain_s;
	uint64_t max_requests; /* 0: by duration only */
	struct tf_dist prompt_len, max_tokens;
	uint32_t vocab; /* prompt token ids are drawn from [3, vocab) */
	const char *prompt_text; /* fixed text prompt instead of random ids */
	uint16_t temperature; /* thousandths */
	uint16_t top_p; /* ten-thousandths */
	uint64_t seed;
	uint8_t priority;
	bool want_text;
	uint32_t timeout_ms, retries, rto_ms, dgram;
	uint32_t max_outstanding, max_clients;
	const char *json_path, *plot_path, *log_path, *csv_path;
	const char *api_url, *api_token_path;
	double progress_s;
	bool quiet;
	const char *label;
};

/* args.c: 0 ok, 1 help printed, -1 error printed (exit 2). */
int bench_args_parse(int argc, char **argv, struct bench_opts *o);
void bench_opts_free(struct bench_opts *o);

struct bench_tenant {
	uint32_t id;
	uint32_t key; /* index into bench_run.keys */
	struct tf_client *c;
	uint32_t inflight;
	int32_t open_pos; /* position in bench_run.open, -1 when closed */
	int32_t active_pos; /* position in bench_run.active, -1 when idle */
	uint64_t ok, errors, tokens;
};

struct bench_err_class {
	char name[48];
	uint64_t n;
};

/* One second of the run (index = second since the start, warm-up included). */
struct bench_sec {
	uint32_t done, ok, errors, tokens, inflight;
	uint64_t ttft_p50, ttft_p99, itl_p50, itl_p99; /* microseconds */
};

/* What the API sampler saw of one accelerator. */
struct bench_accel {
	uint32_t id;
	char transport[8];
	uint64_t cost_per_hour_micro;
	double busy_sum; /* utilisation samples inside the window */
	uint32_t busy_n;
	double busy_last;
	int64_t cost_per_1k_micro; /* tokfabd's figure at the end (-1: none) */
	/* from the ledger, requests that ended inside the window */
	uint64_t requests, prompt_tokens, completion_tokens, billed_micro;
};

struct bench_api {
	char url[512];
	char token[256];
	pthread_t thread;
	bool running;
	volatile int stop;
	pthread_mutex_t lock;
	double window_start, window_end; /* monotonic seconds, set by run.c */
	uint32_t naccels;
	struct bench_accel accels[BENCH_MAX_ACCELS];
	uint32_t samples, failures;
	char last_error[2048];
	bool have_usage;
};

struct bench_run {
	const struct bench_opts *o;
	struct tf_rng rng;
	uint8_t (*keys)[TF_PROTO_KEY_LEN];
	uint32_t nkeys;
	struct bench_tenant *tenants;
	uint32_t ntenants;
	uint32_t *open; /* tenants with a client */
	uint32_t nopen, hand;
	uint32_t *active; /* tenants with requests in flight */
	uint32_t nactive;
	uint32_t client_cap; /* max_inflight of each client */
	int ep;
	/* times: monotonic ns */
	uint64_t t0, t_warm, t_end, t_stop_gen, t_last_done;
	uint64_t next_arrival;
	bool generating;
	/* counters (window = submitted at or after t_warm, before t_end) */
	uint64_t submitted, inflight, max_inflight_seen;
	uint64_t warmup_done, win_done, win_ok, win_errors;
	uint64_t win_tokens, win_prompt_tokens, win_cost_micro;
	uint64_t not_sent_pool, not_sent_outstanding, unfinished;
	uint64_t retransmits, resumes;
	uint64_t socket_drops; /* answers the kernel dropped at the clients' sockets */
	struct bench_err_class errs[BENCH_MAX_ERR_CLASSES];
	uint32_t nerrs;
	struct tf_hist ttft, itl, e2e; /* window, microseconds */
	struct tf_hist sec_ttft, sec_itl; /* the current second */
	struct bench_sec *series;
	uint32_t nseries;
	double cpu_s;
	FILE *log;
	struct bench_api *api;
	char fatal[512];
};

/* run.c */
int bench_run_init(struct bench_run *r, const struct bench_opts *o, char *err, size_t errlen);
int bench_run_go(struct bench_run *r, volatile int *stop);
void bench_run_fini(struct bench_run *r);
double bench_window_s(const struct bench_run *r);

/* api.c */
int bench_api_init(struct bench_api *a, const char *url, const char *token_path, char *err,
		   size_t errlen);
int bench_api_start(struct bench_api *a);
void bench_api_set_window(struct bench_api *a, double start, double end);
/* Stops the sampler, reads the ledger's usage since unix time `since`. */
void bench_api_finish(struct bench_api *a, double since_unix, double until_unix);
void bench_api_fini(struct bench_api *a);
double bench_mono_s(void);

/* report.c */
void bench_report_text(const struct bench_run *r, FILE *f);
int bench_report_json(const struct bench_run *r, const char *path, char *err, size_t errlen);
int bench_report_csv(const struct bench_run *r, const char *path, char *err, size_t errlen);
int bench_report_plot(const struct bench_run *r, const char *path, char *err, size_t errlen);

#endif /* TF_BENCH_H */
