/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-baseline: the conventional front end (see baseline.h). Arguments,
 * tenants, one engine and one socket per worker thread, signals, and the
 * statistics tests/bench/bench_e2e.sh compares with the card path: requests,
 * tokens, and each thread's CPU time split into the engine's steps and
 * everything else (the front end's share: sockets, protocol, MACs, tables).
 */
#include "baseline/baseline.h"
#include "bench/tenants.h"
#include "common/log.h"
#include "tokfab/client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static volatile int g_stop;

static void
on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: tokfab-baseline --listen ADDR[:PORT] --model PATH --tokenizer PATH\n"
		"                       --tenant ID[-LAST]:KEYFILE [...] [options]\n"
		"The conventional front end tokfab's card replaces: a kernel UDP server on the\n"
		"host CPU (epoll + recvmmsg, one thread per core, each with its own engine),\n"
		"speaking wire protocol v1 so tokfab-bench drives it like a card.\n"
		"  --listen ADDR[:PORT]   where clients send requests (port 7480)\n"
		"  --model PATH           llama2.c checkpoint;  --tokenizer PATH  its "
		"tokenizer.bin\n"
		"  --model-id N           model id clients ask for (1)\n"
		"  --tenant SPEC          ID:KEYFILE or FIRST-LAST:KEYFILE ('%%u' in KEYFILE: per "
		"tenant)\n"
		"  --key-id N             key id of the tenants' keys (0)\n"
		"  --price MICRO          price per 1000 tokens in micro-units (2000)\n"
		"  --workers N            threads, each with a socket and an engine (online CPUs)\n"
		"  --engine-threads N     matrix-product threads per engine (1)\n"
		"  --max-batch N          sequences per engine step (32)\n"
		"  --max-new-tokens N     largest max_new_tokens accepted (256)\n"
		"  --max-requests N       live + cached requests per worker (65536)\n"
		"  --cache-ms N           finished requests kept for retransmits/RESUME (5000)\n"
		"  --stats-file FILE      JSON statistics written at exit\n"
		"  --usage-file FILE      one JSON line per finished request\n"
		"  -v                     verbose\n"
		"SIGINT/SIGTERM stop it (requests in flight are abandoned) and write the "
		"statistics.\n");
}

static int
bad(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "tokfab-baseline: %s '%s': %s (see --help)\n", opt, val, want);
	return -1;
}

static int
num(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end, want[96];

	snprintf(want, sizeof(want), "expected an integer from %llu to %llu",
		 (unsigned long long)min, (unsigned long long)max);
	errno = 0;
	if (*s < '0' || *s > '9')
		return bad(opt, s, want);
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return bad(opt, s, want);
	*out = v;
	return 0;
}

static int
resolve(struct bl_cfg *c)
{
	char host[256], *port = NULL, *p;
	struct addrinfo hints, *ai;
	int rc;

	snprintf(host, sizeof(host), "%s", c->listen);
	if (host[0] == '[') {
		p = strchr(host, ']');
		if (!p)
			return bad("--listen", c->listen, "unbalanced '['");
		*p = '\0';
		if (p[1] == ':')
			port = p + 2;
		memmove(host, host + 1, strlen(host));
	} else if ((p = strrchr(host, ':')) && !strchr(p + 1, ':') && strchr(host, ':') == p) {
		*p = '\0';
		port = p + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, port && *port ? port : "7480", &hints, &ai);
	if (rc)
		return bad("--listen", c->listen, gai_strerror(rc));
	memcpy(&c->addr, ai->ai_addr, ai->ai_addrlen);
	c->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int
add_tenants(struct bl_cfg *c, const char *spec, uint8_t key_id)
{
	struct tf_tenant_spec sp;
	uint8_t key[TF_PROTO_KEY_LEN];
	char err[256], path[PATH_MAX + 16];
	struct bl_tenant *n;
	bool world;

	if (tf_tenant_spec_parse(spec, &sp, err, sizeof(err)))
		return bad("--tenant", spec, err);
	for (uint64_t id = sp.first; id <= sp.last; id++) {
		tf_tenant_spec_key_path(&sp, (uint32_t)id, path, sizeof(path));
		if ((id == sp.first || tf_tenant_spec_per_tenant(&sp)) &&
		    tf_client_load_key(path, key, &world, err, sizeof(err)) < 0) {
			fprintf(stderr, "tokfab-baseline: key file %s: %s\n", path, err);
			return -1;
		}
		if ((c->ntenants & (c->ntenants - 1)) == 0) {
			n = realloc(c->tenants, (c->ntenants ? 2 * c->ntenants : 1) * sizeof(*n));
			if (!n)
				return bad("--tenant", spec, "out of memory");
			c->tenants = n;
		}
		n = &c->tenants[c->ntenants++];
		memset(n, 0, sizeof(*n));
		n->id = (uint32_t)id;
		tf_proto_key_init(&n->key, TF_PROTO_MAC_HMAC_SHA256, key_id, key, sizeof(key));
	}
	memset(key, 0, sizeof(key));
	return 0;
}

static int
cmp_tenant(const void *a, const void *b)
{
	uint32_t x = ((const struct bl_tenant *)a)->id, y = ((const struct bl_tenant *)b)->id;

	return x < y ? -1 : x > y;
}

/* 0 ok, 1 help, -1 error printed. */
static int
parse_args(int argc, char **argv, struct bl_cfg *c)
{
	enum {
		O_MODEL = 256,
		O_TOK,
		O_MID,
		O_TENANT,
		O_KEYID,
		O_PRICE,
		O_WORKERS,
		O_ETHREADS,
		O_BATCH,
		O_MAXNEW,
		O_MAXREQ,
		O_CACHE,
		O_STATS,
		O_USAGE
	};
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "model", required_argument, NULL, O_MODEL },
		{ "tokenizer", required_argument, NULL, O_TOK },
		{ "model-id", required_argument, NULL, O_MID },
		{ "tenant", required_argument, NULL, O_TENANT },
		{ "key-id", required_argument, NULL, O_KEYID },
		{ "price", required_argument, NULL, O_PRICE },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "engine-threads", required_argument, NULL, O_ETHREADS },
		{ "max-batch", required_argument, NULL, O_BATCH },
		{ "max-new-tokens", required_argument, NULL, O_MAXNEW },
		{ "max-requests", required_argument, NULL, O_MAXREQ },
		{ "cache-ms", required_argument, NULL, O_CACHE },
		{ "stats-file", required_argument, NULL, O_STATS },
		{ "usage-file", required_argument, NULL, O_USAGE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char **specs = NULL;
	unsigned int nspecs = 0;
	uint64_t v, key_id = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int ch, rc = -1;

	memset(c, 0, sizeof(*c));
	c->model_id = 1;
	c->workers = cpus > 0 && cpus <= BL_MAX_WORKERS ? (uint32_t)cpus : 1;
	c->engine_threads = 1;
	c->max_batch = 32;
	c->max_new_tokens = 256;
	c->max_requests = 65536;
	c->cache_ms = 5000;
	c->reasm_timeout_ms = 2000;
	c->replay_window_us = TF_PROTO_REPLAY_WINDOW_US;
	c->price_per_1k_micro = 2000;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "l:vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'l':
			c->listen = optarg;
			break;
		case O_MODEL:
			c->model = optarg;
			break;
		case O_TOK:
			c->tokenizer = optarg;
			break;
		case O_MID:
			if (num("--model-id", optarg, 1, UINT32_MAX, &v))
				goto out;
			c->model_id = (uint32_t)v;
			break;
		case O_TENANT: {
			const char **n = realloc(specs, (nspecs + 1) * sizeof(*n));

			if (!n)
				goto out;
			specs = n;
			specs[nspecs++] = optarg;
			break;
		}
		case O_KEYID:
			if (num("--key-id", optarg, 0, 255, &key_id))
				goto out;
			break;
		case O_PRICE:
			if (num("--price", optarg, 0, 1000000000000ull, &c->price_per_1k_micro))
				goto out;
			break;
		case O_WORKERS:
			if (num("--workers", optarg, 1, BL_MAX_WORKERS, &v))
				goto out;
			c->workers = (uint32_t)v;
			break;
		case O_ETHREADS:
			if (num("--engine-threads", optarg, 1, 256, &v))
				goto out;
			c->engine_threads = (uint32_t)v;
			break;
		case O_BATCH:
			if (num("--max-batch", optarg, 1, 1024, &v))
				goto out;
			c->max_batch = (uint32_t)v;
			break;
		case O_MAXNEW:
			if (num("--max-new-tokens", optarg, 1, 1u << 20, &v))
				goto out;
			c->max_new_tokens = (uint32_t)v;
			break;
		case O_MAXREQ:
			if (num("--max-requests", optarg, 16, 1u << 24, &v))
				goto out;
			c->max_requests = (uint32_t)v;
			break;
		case O_CACHE:
			if (num("--cache-ms", optarg, 0, 3600000, &v))
				goto out;
			c->cache_ms = (uint32_t)v;
			break;
		case O_STATS:
			c->stats_file = optarg;
			break;
		case O_USAGE:
			c->usage_file = optarg;
			break;
		case 'v':
			c->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			rc = 1;
			goto out;
		default:
			fprintf(stderr, "tokfab-baseline: see --help for the options\n");
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tokfab-baseline: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		goto out;
	}
	if (!c->listen || !c->model || !c->tokenizer || !nspecs) {
		fprintf(stderr, "tokfab-baseline: --listen, --model, --tokenizer and at least one "
				"--tenant are required (see --help)\n");
		goto out;
	}
	if (resolve(c))
		goto out;
	for (unsigned int i = 0; i < nspecs; i++)
		if (add_tenants(c, specs[i], (uint8_t)key_id))
			goto out;
	for (uint32_t i = 0; i < c->ntenants; i++)
		c->tenants[i].price_per_1k_micro = c->price_per_1k_micro;
	qsort(c->tenants, c->ntenants, sizeof(*c->tenants), cmp_tenant);
	for (uint32_t i = 1; i < c->ntenants; i++)
		if (c->tenants[i].id == c->tenants[i - 1].id) {
			fprintf(stderr, "tokfab-baseline: tenant %u is given twice\n",
				c->tenants[i].id);
			goto out;
		}
	rc = 0;
out:
	free(specs);
	return rc;
}

static int
worker_open(struct bl_worker *w, const struct bl_cfg *c)
{
	struct tf_engine_config ec = {
		.checkpoint_path = c->model,
		.tokenizer_path = c->tokenizer,
		.threads = c->engine_threads,
		.max_batch = c->max_batch,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	int one = 1, rc;

	rc = tf_engine_create(&ec, &w->eng, w->err, sizeof(w->err));
	if (rc < 0)
		return rc;
	w->fd = socket(c->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (w->fd < 0 || setsockopt(w->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		snprintf(w->err, sizeof(w->err), "socket: %s", strerror(errno));
		return -errno;
	}
	{
		int sz = 4 << 20;

		setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(w->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	if (bind(w->fd, (const struct sockaddr *)&c->addr, c->addrlen) < 0) {
		snprintf(w->err, sizeof(w->err),
			 "cannot listen on %s: %s (is something else using "
			 "the port?)",
			 c->listen, strerror(errno));
		return -errno;
	}
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
		snprintf(w->err, sizeof(w->err), "epoll: %s", strerror(errno));
		return -errno;
	}
	return bl_reqtab_init(&w->tab, c->max_requests);
}

static void
stats_write(const struct bl_cfg *c, struct bl_worker *ws, double wall_s, double proc_cpu_s)
{
	struct bl_stats t;
	FILE *f;

	memset(&t, 0, sizeof(t));
	for (uint32_t i = 0; i < c->workers; i++) {
		const struct bl_stats *s = &ws[i].st;

		t.rx_dgrams += s->rx_dgrams;
		t.tx_dgrams += s->tx_dgrams;
		t.rx_batches += s->rx_batches;
		t.requests += s->requests;
		t.finished += s->finished;
		t.busy += s->busy;
		t.errors_sent += s->errors_sent;
		t.dropped += s->dropped;
		t.prompt_tokens += s->prompt_tokens;
		t.completion_tokens += s->completion_tokens;
		t.retransmits += s->retransmits;
		t.resumes += s->resumes;
		t.cpu_s += s->cpu_s;
		t.engine_cpu_s += s->engine_cpu_s;
		t.engine_busy_ns += s->engine_busy_ns;
	}
	fprintf(stderr,
		"tokfab-baseline: %" PRIu64 " requests finished, %" PRIu64
		" tokens; CPU %.3f s (engine steps %.3f s, front end %.3f s) in %.1f s\n",
		t.finished, t.completion_tokens, t.cpu_s, t.engine_cpu_s, t.cpu_s - t.engine_cpu_s,
		wall_s);
	if (!c->stats_file)
		return;
	f = fopen(c->stats_file, "w");
	if (!f) {
		fprintf(stderr, "tokfab-baseline: --stats-file %s: %s\n", c->stats_file,
			strerror(errno));
		return;
	}
	fprintf(f,
		"{\"workers\":%u,\"wall_s\":%.6f,\"process_cpu_s\":%.6f,\"threads_cpu_s\":%.6f,"
		"\"engine_cpu_s\":%.6f,\"frontend_cpu_s\":%.6f,\"engine_busy_s\":%.6f,"
		"\"requests\":%" PRIu64 ",\"finished\":%" PRIu64 ",\"busy\":%" PRIu64
		",\"errors_sent\":%" PRIu64 ",\"rx_dgrams\":%" PRIu64 ",\"tx_dgrams\":%" PRIu64
		",\"rx_batches\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"prompt_tokens\":%" PRIu64
		",\"completion_tokens\":%" PRIu64 ",\"retransmits\":%" PRIu64
		",\"resumes\":%" PRIu64 "}\n",
		c->workers, wall_s, proc_cpu_s, t.cpu_s, t.engine_cpu_s, t.cpu_s - t.engine_cpu_s,
		t.engine_busy_ns / 1e9, t.requests, t.finished, t.busy, t.errors_sent, t.rx_dgrams,
		t.tx_dgrams, t.rx_batches, t.dropped, t.prompt_tokens, t.completion_tokens,
		t.retransmits, t.resumes);
	fclose(f);
}

int
main(int argc, char **argv)
{
	static struct bl_worker ws[BL_MAX_WORKERS];
	pthread_mutex_t usage_lock = PTHREAD_MUTEX_INITIALIZER;
	struct timespec t0, t1;
	struct sigaction sa;
	struct rusage ru;
	FILE *usage_f = NULL;
	struct bl_cfg c;
	uint32_t started = 0;
	int rc, ret = 1;

	rc = parse_args(argc, argv, &c);
	if (rc)
		return rc > 0 ? 0 : 2;
	tf_log_init("tokfab-baseline", c.verbose ? TF_LOG_DEBUG : TF_LOG_INFO, 0);
	if (c.usage_file) {
		usage_f = fopen(c.usage_file, "a");
		if (!usage_f) {
			fprintf(stderr, "tokfab-baseline: --usage-file %s: %s\n", c.usage_file,
				strerror(errno));
			goto out;
		}
	}
	for (uint32_t i = 0; i < c.workers; i++)
		ws[i].fd = ws[i].ep = -1;
	for (uint32_t i = 0; i < c.workers; i++) {
		ws[i].cfg = &c;
		ws[i].idx = i;
		ws[i].stop = &g_stop;
		ws[i].usage = usage_f;
		ws[i].usage_lock = &usage_lock;
		if (worker_open(&ws[i], &c) < 0) {
			fprintf(stderr, "tokfab-baseline: worker %u: %s\n", i, ws[i].err);
			goto out;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; started < c.workers; started++)
		if (pthread_create(&ws[started].thread, NULL, bl_worker_main, &ws[started]) != 0) {
			fprintf(stderr, "tokfab-baseline: cannot start worker %u\n", started);
			g_stop = 1;
			break;
		}
	fprintf(stderr, "tokfab-baseline: serving model %u on %s with %u worker(s), %u tenant(s)\n",
		c.model_id, c.listen, c.workers, c.ntenants);
	for (uint32_t i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru);
	stats_write(&c, ws, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
			    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	ret = started == c.workers ? 0 : 1;
out:
	for (uint32_t i = 0; i < c.workers; i++) {
		if (ws[i].eng)
			tf_engine_destroy(ws[i].eng);
		if (ws[i].fd >= 0)
			close(ws[i].fd);
		if (ws[i].ep >= 0)
			close(ws[i].ep);
		bl_reqtab_fini(&ws[i].tab);
	}
	if (usage_f)
		fclose(usage_f);
	for (uint32_t i = 0; i < c.ntenants; i++)
		tf_proto_key_wipe(&c.tenants[i].key);
	free(c.tenants);
	return ret;
}
