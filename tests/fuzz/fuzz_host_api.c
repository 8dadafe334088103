/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: tokfabd's HTTP API handler (host/tokfabd/api.c) on arbitrary
 * requests: what a client can put in the method, path, query string,
 * Authorization header and body. The daemon has a configuration (two
 * tenants, one model, one accelerator), a ledger with a few usage records and
 * no card attached, so card pushes answer 503 after the request was parsed.
 *
 * Input: method \n path \n query \n authorization \n body (the rest, any
 * bytes). The query is split at '&' and each part at its first '=' (a part
 * without '=' has no value), as libmicrohttpd hands them over. An
 * authorization of exactly "*" is replaced by the right bearer token so the
 * /v1/ routes behind it are reachable.
 *
 * Every request must get a status 200..599 and, unless it is a static asset,
 * a body; a JSON response must parse and a refusal must carry a message. A
 * since/until the API accepts must be a time within its 2^34 s bound.
 */
#include "common/log.h"
#include "tokfabd/api.h"
#include "tokfabd/daemon.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "0123456789abcdef0123456789abcdef"
#define MAX_ARGS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64];
static struct tfd g_d;
static int g_ready;

static void
put_file(const char *name, const char *text)
{
	char p[192];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", g_dir, name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void
cleanup(void)
{
	static const char *const names[] = { "token",	      "acme.key",  "beta.key",
					     "tokfabd.yaml",  "ledger.db", "ledger.db-wal",
					     "ledger.db-shm", NULL };
	char p[192];

	if (g_d.api_ledger)
		tfd_ledger_close(g_d.api_ledger);
	if (g_d.ledger)
		tfd_ledger_close(g_d.ledger);
	g_d.api_ledger = g_d.ledger = NULL;
	for (int i = 0; names[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, names[i]);
		unlink(p);
	}
	rmdir(g_dir);
}

static void
setup(void)
{
	struct tf_eq_entry ev[4];
	struct tfd_commit_result res;
	struct tfd_config *cfg;
	char err[1024], path[192];
	uint64_t now = tfd_now_ns();

	tf_log_set_level(TF_LOG_ERR);
	snprintf(g_dir, sizeof(g_dir), "/tmp/tf-fuzz-api.%d", (int)getpid());
	mkdir(g_dir, 0700);
	put_file("token", TOKEN "\n");
	put_file("acme.key", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	put_file("beta.key", "ffeeddccbbaa99887766554433221100\n");
	put_file("tokfabd.yaml", "card:\n  access: shm:/nonexistent-tf-fuzz-api\n"
				 "ledger:\n  path: ledger.db\n  synchronous: normal\n"
				 "api:\n  listen: 127.0.0.1:0\n  token_file: token\n"
				 "log:\n  level: error\n"
				 "models:\n  - id: 1\n    name: tiny\n"
				 "accelerators:\n  - id: 4\n    address: /dev/shm/acc\n"
				 "    transport: shm\n    cost_per_hour: 3.60\n    models: [tiny]\n"
				 "tenants:\n  - id: 1\n    name: acme\n    key_file: acme.key\n"
				 "    budget: 10.00\n    prices: { tiny: 1.00 }\n"
				 "  - id: 2\n    name: beta\n    key_file: beta.key\n"
				 "    budget: unlimited\n");
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/tokfabd.yaml", g_dir);
	if (tfd_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_host_api: setup: %s\n", err);
		abort();
	}
	pthread_rwlock_init(&g_d.cfg_lock, NULL);
	pthread_mutex_init(&g_d.api_ledger_lock, NULL);
	pthread_mutex_init(&g_d.card_lock, NULL);
	pthread_mutex_init(&g_d.live_lock, NULL);
	tfd_health_init(&g_d.health);
	g_d.cfg = cfg;
	snprintf(g_d.cfg_path, sizeof(g_d.cfg_path), "%s", path);
	snprintf(path, sizeof(path), "%s/ledger.db", g_dir);
	if (tfd_ledger_open(path, 0, &g_d.ledger, err, sizeof(err)) ||
	    tfd_ledger_open(path, 0, &g_d.api_ledger, err, sizeof(err))) {
		fprintf(stderr, "fuzz_host_api: setup: %s\n", err);
		abort();
	}
	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 4; i++) {
		ev[i].seq = (uint64_t)i + 1;
		ev[i].type = TF_EQ_USAGE;
		ev[i].len = 64;
		ev[i].body.usage.tenant_id = i < 3 ? 1 : 2;
		ev[i].body.usage.model_id = 1;
		ev[i].body.usage.accel_id = 4;
		ev[i].body.usage.prompt_tokens = 10;
		ev[i].body.usage.completion_tokens = 90;
		ev[i].body.usage.cost_micro = 1000;
		ev[i].body.usage.end_time_ns = now - (uint64_t)i * 3600000000000ull;
	}
	if (tfd_ledger_commit(g_d.ledger, "FUZZ", 1, ev, 4, &res)) {
		fprintf(stderr, "fuzz_host_api: setup: ledger commit failed\n");
		abort();
	}
	tfd_metrics_count(&g_d, ev, 4);
	g_ready = 1;
}

/* The next '\n'-terminated field of [*p, end) as a fresh string; the rest if none. */
static char *
field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = (size_t)((nl ? nl : end) - *p);
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p = nl ? nl + 1 : end;
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct tfd_kv args[MAX_ARGS];
	struct tfd_response rs;
	struct tfd_request rq;
	char *method, *path, *query, *auth, *save = NULL;
	unsigned int n = 0;
	size_t blen;
	uint8_t *body;

	if (!g_ready)
		setup();
	if (size > TFD_API_BODY_MAX + 4096)
		return 0;
	method = field(&p, end);
	path = field(&p, end);
	query = field(&p, end);
	auth = field(&p, end);
	blen = (size_t)(end - p);
	body = malloc(blen + 1); /* exactly the body's bytes: ASan sees any overread */
	if (!body)
		abort();
	memcpy(body, p, blen);
	for (char *t = strtok_r(query, "&", &save); t && n < MAX_ARGS;
	     t = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(t, '=');

		if (eq)
			*eq++ = '\0';
		args[n].key = t;
		args[n].value = eq;
		n++;
	}
	/* A time the API accepts is a real one within the 2^34 s bound (no wrapped ns). */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t ns, now = 1700000000ull * 1000000000ull;

		if (args[i].value &&
		    (!strcmp(args[i].key, "since") || !strcmp(args[i].key, "until")) &&
		    tfd_api_parse_time(args[i].value, now, &ns) == 0 &&
		    ns / 1000000000ull > 1ull << 34)
			abort();
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.path = path;
	rq.args = args;
	rq.n_args = n;
	rq.authorization = !strcmp(auth, "*") ? "Bearer " TOKEN : auth;
	rq.body = blen ? (const char *)body : NULL;
	rq.body_len = blen;
	tfd_api_handle(&g_d, &rq, &rs);
	if (rs.status < 200 || rs.status > 599 || !rs.content_type)
		abort();
	if (!rs.static_body) {
		if (!rs.body || strlen(rs.body) != rs.body_len)
			abort();
		if (!strcmp(rs.content_type, "application/json")) {
			json_error_t je;
			json_t *j = json_loadb(rs.body, rs.body_len, 0, &je);

			if (!j)
				abort();
			if (rs.status >= 400 && !json_is_string(json_object_get(
							json_object_get(j, "error"), "message")))
				abort(); /* every refusal says what was wrong */
			json_decref(j);
		}
	}
	tfd_api_response_free(&rs);
	free(body);
	free(auth);
	free(query);
	free(path);
	free(method);
	return 0;
}
