/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for host/tokfabd/api.c through tfd_api_handle(): authentication,
 * routing and methods, every query error, usage aggregation and export, tenant
 * updates pushed to a card (lib/card's card side in a thread, on a tmpfs BAR),
 * configuration reload (a bad file is refused, the old one stays), metrics.
 */
#include "card/card.h"
#include "card/host.h"
#include "tf_cunit.h"
#include "tokfabd/api.h"
#include "tokfabd/daemon.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "0123456789abcdef0123456789abcdef"

static char g_dir[64], g_cfg[128], g_bar[128];
static struct tfd g_d;

static void
write_file(const char *name, const char *text)
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
write_config(int broken)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "card:\n  access: shm:%s\n  key_grace_s: 60\n"
		 "ledger:\n  path: ledger.db\n  synchronous: normal\n"
		 "api:\n  listen: 127.0.0.1:0\n  token_file: token\n"
		 "models:\n  - id: 1\n    name: tiny\n"
		 "accelerators:\n  - id: 4\n    address: /dev/shm/acc\n    transport: shm\n"
		 "    cost_per_hour: 3.60\n    models: [tiny]\n"
		 "tenants:\n  - id: 1\n    name: acme\n    key_file: acme.key\n"
		 "    budget: 10.00\n    prices: { tiny: 1.00 }\n"
		 "  - id: 2\n    name: beta\n    key_file: beta.key\n    budget: unlimited\n%s",
		 g_bar, broken ? "  - id: 2\n" : "");
	write_file("tokfabd.yaml", text);
}

/* ------------------------------------------------------------- the card */

static int64_t g_balance = 0;
static uint32_t g_set_tenant_calls, g_last_key_id, g_last_prev_len;

static int
c_set_tenant(void *ctx, const struct tf_aq_set_tenant *c, struct tf_aq_tenant_info *r,
	     uint32_t *detail)
{
	(void)ctx;
	(void)detail;
	g_set_tenant_calls++;
	g_last_key_id = c->key_id;
	g_last_prev_len = c->prev_key_len;
	r->tenant_id = c->tenant_id;
	return TF_AQ_S_OK;
}

static int
c_balance(void *ctx, const struct tf_aq_tenant_balance *c, struct tf_aq_tenant_info *r,
	  uint32_t *detail)
{
	(void)ctx;
	if (c->tenant_id != 1) {
		*detail = c->tenant_id;
		return TF_AQ_S_NOT_FOUND;
	}
	if (c->op == TF_BALANCE_ADD)
		g_balance += (int64_t)c->amount;
	else if (c->op == TF_BALANCE_RESET_PERIOD)
		g_balance = 10000000;
	r->tenant_id = c->tenant_id;
	r->balance_micro = (uint64_t)g_balance;
	return TF_AQ_S_OK;
}

static const struct tf_card_admin_handlers g_h = {
	.set_tenant = c_set_tenant,
	.tenant_balance = c_balance,
};

static struct tf_card_dev *g_dev;
static volatile int g_card_stop;
static pthread_t g_card_thr;

static void *
card_run(void *arg)
{
	(void)arg;
	while (!g_card_stop) {
		tf_card_dev_poll_admin(g_dev, &g_h, NULL);
		tf_card_dev_heartbeat(g_dev);
		usleep(200);
	}
	return NULL;
}

static int
suite_init(void)
{
	struct tf_card_dev_params p = { .serial = "API-UT",
					.fw_version_str = "1",
					.flags = TF_CARD_F_FRESH };
	struct tfd_config *cfg;
	char err[1024], path[192];
	const char *why;

	snprintf(g_dir, sizeof(g_dir), "/tmp/tf-api-ut.%d", (int)getpid());
	mkdir(g_dir, 0700);
	snprintf(g_bar, sizeof(g_bar), "/dev/shm/tf-api-ut.%d", (int)getpid());
	snprintf(g_cfg, sizeof(g_cfg), "%s/tokfabd.yaml", g_dir);
	write_file("token", TOKEN "\n");
	write_file("acme.key",
		   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	write_file("beta.key", "ffeeddccbbaa99887766554433221100\n");
	write_config(0);
	if (tfd_config_load(g_cfg, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	pthread_rwlock_init(&g_d.cfg_lock, NULL);
	pthread_mutex_init(&g_d.api_ledger_lock, NULL);
	pthread_mutex_init(&g_d.card_lock, NULL);
	pthread_mutex_init(&g_d.live_lock, NULL);
	tfd_health_init(&g_d.health);
	g_d.cfg = cfg;
	snprintf(g_d.cfg_path, sizeof(g_d.cfg_path), "%s", g_cfg);
	snprintf(path, sizeof(path), "%s/ledger.db", g_dir);
	if (tfd_ledger_open(path, 0, &g_d.ledger, err, sizeof(err)) ||
	    tfd_ledger_open(path, 0, &g_d.api_ledger, err, sizeof(err)))
		return -1;
	/* A card, attached and enabled. */
	p.path = g_bar;
	if (tf_card_dev_create(&p, &g_dev) < 0)
		return -1;
	pthread_create(&g_card_thr, NULL, card_run, NULL);
	snprintf(path, sizeof(path), "shm:%s", g_bar);
	if (tf_card_host_open(path, &g_d.card, &why) < 0 || g_d.card->ops->reset(g_d.card, 2000))
		return -1;
	return 0;
}

static int
suite_fini(void)
{
	char cmd[128];

	g_card_stop = 1;
	pthread_join(g_card_thr, NULL);
	tf_card_host_close(g_d.card);
	tf_card_dev_destroy(g_dev);
	unlink(g_bar);
	tfd_ledger_close(g_d.ledger);
	tfd_ledger_close(g_d.api_ledger);
	tfd_config_free(g_d.cfg);
	tfd_metrics_fini(&g_d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd) == 0 ? 0 : 0;
}

/* ------------------------------------------------------------ helpers */

static struct tfd_response g_rs;

static int
req(const char *method, const char *path, const char *auth, const char *body,
    const struct tfd_kv *args, unsigned int nargs)
{
	struct tfd_request rq = { .method = method,
				  .path = path,
				  .authorization = auth,
				  .body = body,
				  .body_len = body ? strlen(body) : 0,
				  .args = args,
				  .n_args = nargs };

	tfd_api_response_free(&g_rs);
	tfd_api_handle(&g_d, &rq, &g_rs);
	return g_rs.status;
}

#define AUTH "Bearer " TOKEN

static json_t *
body_json(void)
{
	json_error_t e;

	return json_loadb(g_rs.body ? g_rs.body : "", g_rs.body_len, 0, &e);
}

/* A string member, or a placeholder that fails the comparison (never NULL). */
static const char *
str_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "(missing or not a string)";
}

static const char *
err_msg(json_t *j)
{
	return json_string_value(json_object_get(json_object_get(j, "error"), "message"));
}

/* ------------------------------------------------------------- tests */

static void
test_auth_and_routing(void)
{
	json_t *j;

	CU_ASSERT_EQUAL(req("GET", "/v1/tenants", NULL, NULL, NULL, 0), 401);
	CU_ASSERT_STRING_EQUAL(g_rs.header_name, "WWW-Authenticate");
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants", "Bearer wrong", NULL, NULL, 0), 401);
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants", "Bearer " TOKEN "x", NULL, NULL, 0), 401);
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants", "Basic " TOKEN, NULL, NULL, 0), 401);
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants", AUTH, NULL, NULL, 0), 200);
	CU_ASSERT_EQUAL(req("GET", "/healthz", NULL, NULL, NULL, 0), 200);
	CU_ASSERT_EQUAL(req("GET", "/metrics", NULL, NULL, NULL, 0), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(g_rs.body, "# TYPE tokfab_tokens_total counter"));
	CU_ASSERT_EQUAL(req("GET", "/", NULL, NULL, NULL, 0), 200);
	CU_ASSERT_PTR_NOT_NULL(g_rs.static_body);
	CU_ASSERT_EQUAL(req("GET", "/v1/nothing", AUTH, NULL, NULL, 0), 404);
	j = body_json();
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "error"), "code")),
			404);
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/etc/passwd", NULL, NULL, NULL, 0), 404);
	CU_ASSERT_EQUAL(req("DELETE", "/v1/health", AUTH, NULL, NULL, 0), 405);
	CU_ASSERT_STRING_EQUAL(g_rs.header_value, "GET");
	CU_ASSERT_EQUAL(req("GET", "/v1/config/reload", AUTH, NULL, NULL, 0), 405);
	CU_ASSERT_EQUAL(req("POST", "/metrics", NULL, NULL, NULL, 0), 405);
}

static void
commit_usage(void)
{
	struct tf_eq_entry ev[6];
	struct tfd_commit_result res;
	uint64_t now = tfd_now_ns();

	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 6; i++) {
		ev[i].seq = (uint64_t)i + 1;
		ev[i].type = TF_EQ_USAGE;
		ev[i].len = 64;
		ev[i].body.usage.tenant_id = i < 4 ? 1 : 2;
		ev[i].body.usage.model_id = 1;
		ev[i].body.usage.accel_id = 4;
		ev[i].body.usage.prompt_tokens = 100;
		ev[i].body.usage.completion_tokens = 900;
		ev[i].body.usage.cost_micro = 1000;
		ev[i].body.usage.end_time_ns = now - (uint64_t)i * 1000000000ull;
	}
	CU_ASSERT_FATAL(tfd_ledger_commit(g_d.ledger, "API-UT", 1, ev, 6, &res) == 0);
	tfd_metrics_count(&g_d, ev, 6);
}

static void
test_usage_queries(void)
{
	struct tfd_kv group[] = { { "group", "tenant" } };
	struct tfd_kv byname[] = { { "tenant", "acme" }, { "since", "-1h" } };
	struct tfd_kv csv[] = { { "group", "tenant,model" }, { "format", "csv" } };
	struct tfd_kv raw[] = { { "raw", "1" }, { "limit", "2" } };
	struct tfd_kv bad[][1] = { { { "since", "yesterday" } }, { { "group", "colour" } },
				   { { "tenant", "nobody" } },	 { { "accelerator", "-3" } },
				   { { "bucket", "0" } },	 { { "format", "xml" } },
				   { { "limit", "0" } },	 { { "until", "-5x" } } };
	json_t *j, *rows;

	commit_usage();
	CU_ASSERT_EQUAL(req("GET", "/v1/usage", AUTH, NULL, group, 1), 200);
	j = body_json();
	rows = json_object_get(j, "rows");
	CU_ASSERT_EQUAL(json_array_size(rows), 2);
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_array_get(rows, 0), "tenant")), "acme");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(rows, 0), "requests")),
			4);
	CU_ASSERT_EQUAL(
		json_integer_value(json_object_get(json_array_get(rows, 0), "completion_tokens")),
		3600);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(rows, 0), "cost")),
			       "0.004");
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/v1/usage", AUTH, NULL, byname, 2), 200);
	j = body_json();
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(
				json_array_get(json_object_get(j, "rows"), 0), "requests")),
			4);
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/v1/usage", AUTH, NULL, csv, 2), 200);
	CU_ASSERT_STRING_EQUAL(g_rs.content_type, "text/csv");
	CU_ASSERT_PTR_NOT_NULL(
		strstr(g_rs.body, "bucket,tenant,model,accelerator,outcome,requests"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g_rs.body, ",acme,tiny,,,4,400,3600,4000,0.004\n"));
	CU_ASSERT_EQUAL(req("GET", "/v1/usage", AUTH, NULL, raw, 2), 200);
	j = body_json();
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "records")), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
				       json_array_get(json_object_get(j, "records"), 0), "card")),
			       "API-UT");
	json_decref(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(req("GET", "/v1/usage", AUTH, NULL, bad[i], 1), 400);
		j = body_json();
		CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(j), bad[i][0].key));
		json_decref(j);
	}
}

/*
 * 64-bit identifiers survive every output: request ids and epochs >= 2^63
 * (SQLite's INTEGER is signed) come back with their unsigned value in the raw
 * JSON (16 hex digits, as the epoch) and the CSV export (unsigned decimal).
 */
static void
test_u64_ids(void)
{
	struct tfd_kv raw[] = { { "raw", "1" }, { "tenant", "7" } };
	struct tfd_kv csv[] = { { "raw", "1" }, { "tenant", "7" }, { "format", "csv" } };
	struct tf_eq_entry ev[2];
	struct tfd_commit_result res;
	json_t *j, *recs;

	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 2; i++) {
		ev[i].seq = (uint64_t)i + 1;
		ev[i].type = TF_EQ_USAGE;
		ev[i].len = 64;
		ev[i].body.usage.tenant_id = 7;
		ev[i].body.usage.model_id = 1;
		ev[i].body.usage.accel_id = 4;
		ev[i].body.usage.end_time_ns = tfd_now_ns() + (uint64_t)i;
	}
	ev[0].body.usage.request_id = 0xfedcba9876543210ull;
	ev[1].body.usage.request_id = UINT64_MAX;
	CU_ASSERT_FATAL(tfd_ledger_commit(g_d.ledger, "U64", 0x8000000000000001ull, ev, 2, &res) ==
			0);
	CU_ASSERT_EQUAL(req("GET", "/v1/usage", AUTH, NULL, raw, 2), 200);
	j = body_json();
	recs = json_object_get(j, "records");
	CU_ASSERT_FATAL(json_array_size(recs) == 2);
	CU_ASSERT_STRING_EQUAL(str_of(json_array_get(recs, 0), "request_id"), "fedcba9876543210");
	CU_ASSERT_STRING_EQUAL(str_of(json_array_get(recs, 1), "request_id"), "ffffffffffffffff");
	CU_ASSERT_STRING_EQUAL(str_of(json_array_get(recs, 0), "epoch"), "8000000000000001");
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/v1/usage", AUTH, NULL, csv, 3), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(g_rs.body, "U64,9223372036854775809,1,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g_rs.body, ",18364758544493064720,7,1,4,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g_rs.body, ",18446744073709551615,7,1,4,"));
	CU_ASSERT_PTR_NULL(strstr(g_rs.body, ",-"));
}

/*
 * An unlimited tenant has no budget and no balance: the card's balance figure
 * for it (negative once it has spent) is not shown as money anywhere.
 */
static void
test_unlimited_balance(void)
{
	struct tfd_tenant_live live[2];
	json_t *j;

	memset(live, 0, sizeof(live));
	live[0].id = 1;
	live[0].have_card = 1;
	live[0].info.balance_micro = 5000000;
	live[1].id = 2;
	live[1].have_card = 1;
	live[1].info.balance_micro = (uint64_t)-1234567; /* spent, never refilled */
	pthread_mutex_lock(&g_d.live_lock);
	free(g_d.tenants);
	g_d.tenants = calloc(2, sizeof(live));
	memcpy(g_d.tenants, live, sizeof(live));
	g_d.n_tenants = 2;
	pthread_mutex_unlock(&g_d.live_lock);
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants/2", AUTH, NULL, NULL, 0), 200);
	j = body_json();
	CU_ASSERT_STRING_EQUAL(str_of(j, "balance"), "unlimited");
	CU_ASSERT_STRING_EQUAL(str_of(j, "budget"), "unlimited");
	CU_ASSERT_PTR_NULL(json_object_get(j, "balance_micro"));
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants/1", AUTH, NULL, NULL, 0), 200);
	j = body_json();
	CU_ASSERT_STRING_EQUAL(str_of(j, "balance"), "5.00");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "balance_micro")), 5000000);
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/metrics", NULL, NULL, NULL, 0), 200);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(g_rs.body, "tokfab_tenant_balance_micro{tenant=\"acme\"} 5000000\n"));
	CU_ASSERT_PTR_NULL(strstr(g_rs.body, "tokfab_tenant_balance_micro{tenant=\"beta\"}"));
	CU_ASSERT_PTR_NULL(strstr(g_rs.body, "-1234567"));
}

static void
test_tenants_and_updates(void)
{
	json_t *j;
	char key[200], path[192];
	FILE *f;
	uint32_t calls;

	CU_ASSERT_EQUAL(req("GET", "/v1/tenants", AUTH, NULL, NULL, 0), 200);
	j = body_json();
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "tenants")), 2);
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants/2", AUTH, NULL, NULL, 0), 200);
	j = body_json();
	CU_ASSERT(json_is_true(json_object_get(j, "unlimited")));
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants/9", AUTH, NULL, NULL, 0), 404);
	CU_ASSERT_EQUAL(req("GET", "/v1/tenants/abc", AUTH, NULL, NULL, 0), 404);

	/* Bodies that are refused before anything happens. */
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, NULL, NULL, 0), 400);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{not json", NULL, 0), 400);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "[1]", NULL, 0), 400);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"colour\":1}", NULL, 0), 400);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"topup\":\"-5\"}", NULL, 0), 400);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"topup\":\"1.1234567\"}", NULL, 0),
			400);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"reset_period\":1}", NULL, 0), 400);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{}", NULL, 0), 400);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/9", AUTH, "{\"topup\":\"1\"}", NULL, 0), 404);

	/* Top-up reaches the card. */
	g_balance = 0;
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"topup\":\"2.50\"}", NULL, 0), 200);
	CU_ASSERT_EQUAL(g_balance, 2500000);
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"reset_period\":true}", NULL, 0), 200);
	CU_ASSERT_EQUAL(g_balance, 10000000);
	/* The card's own refusal comes back as a conflict with its reason. */
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/2", AUTH, "{\"topup\":1}", NULL, 0), 409);
	j = body_json();
	CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(j), "NOT_FOUND"));
	json_decref(j);

	/* A budget change is stored and pushed with SET_TENANT. */
	calls = g_set_tenant_calls;
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"budget\":\"20\"}", NULL, 0), 200);
	CU_ASSERT_EQUAL(g_set_tenant_calls, calls + 1);
	j = body_json();
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "budget")), "20.00");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "budget_source")), "api");
	json_decref(j);

	/* Key rotation: new key printed once, file rewritten, old key kept as prev
	 * (key_id 0 by default, as tokfab-client and tokfab-dp, so the next is 1). */
	CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"rotate_key\":true}", NULL, 0), 200);
	j = body_json();
	CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(j, "new_key"))), 64);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "key_id")), 1);
	CU_ASSERT_EQUAL(g_last_key_id, 1);
	CU_ASSERT_EQUAL(g_last_prev_len, 32);
	snprintf(path, sizeof(path), "%s/acme.key", g_dir);
	f = fopen(path, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_PTR_NOT_NULL(fgets(key, sizeof(key), f));
	fclose(f);
	CU_ASSERT_EQUAL(strncmp(key, json_string_value(json_object_get(j, "new_key")), 64), 0);
	json_decref(j);
	CU_ASSERT_EQUAL(g_d.cfg->tenants[0].key[0],
			(uint8_t)strtoul((char[3]){ key[0], key[1], 0 }, NULL, 16));

	/* Without a card: 503, and the message says why. */
	pthread_mutex_lock(&g_d.card_lock);
	{
		struct tf_card_host *h = g_d.card;

		g_d.card = NULL;
		pthread_mutex_unlock(&g_d.card_lock);
		CU_ASSERT_EQUAL(req("PUT", "/v1/tenants/1", AUTH, "{\"topup\":\"1\"}", NULL, 0),
				503);
		pthread_mutex_lock(&g_d.card_lock);
		g_d.card = h;
	}
	pthread_mutex_unlock(&g_d.card_lock);
}

static void
test_reload(void)
{
	json_t *j;

	write_config(1); /* duplicate tenant id */
	CU_ASSERT_EQUAL(req("POST", "/v1/config/reload", AUTH, NULL, NULL, 0), 422);
	j = body_json();
	CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(j), "the old one stays"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(j), "tokfabd.yaml:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err_msg(j), "tenants[2]"));
	json_decref(j);
	CU_ASSERT_EQUAL(g_d.cfg->n_tenants, 2); /* old config still in place */
	write_config(0);
	CU_ASSERT_EQUAL(req("POST", "/v1/config/reload", AUTH, NULL, NULL, 0), 200);
	CU_ASSERT_EQUAL(g_d.push_requested, 1);
}

static void
test_health_and_time(void)
{
	json_t *j;
	uint64_t ns = 0, now = 1709214310ull * 1000000000ull;

	tfd_health_set(&g_d.health, TF_HC_ACCEL, 4, TF_HS_DEGRADED, "errors", now);
	CU_ASSERT_EQUAL(req("GET", "/v1/health", AUTH, NULL, NULL, 0), 200);
	j = body_json();
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "overall")), "degraded");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "components")), 1);
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/v1/accelerators", AUTH, NULL, NULL, 0), 200);
	j = body_json();
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(
			json_array_get(json_object_get(j, "accelerators"), 0), "state")),
		"degraded");
	json_decref(j);
	CU_ASSERT_EQUAL(req("GET", "/v1/live", AUTH, NULL, NULL, 0), 200);
	j = body_json();
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "tokens_per_s")), 60);
	/*
	 * Totals per tenant since the ledger began, from memory (the dashboard's
	 * table; it no longer scans the raw records every 2 s): commit_usage()
	 * metered 4 requests of tenant 1 and 2 of tenant 2, 100 + 900 tokens each.
	 */
	{
		json_t *ts = json_object_get(j, "tenants"), *t;
		size_t i;
		int seen = 0;

		CU_ASSERT_EQUAL(json_array_size(ts), 2);
		json_array_foreach(ts, i, t)
		{
			json_int_t id = json_integer_value(json_object_get(t, "tenant_id"));
			json_int_t n = json_integer_value(json_object_get(t, "requests"));
			json_int_t tok = json_integer_value(json_object_get(t, "tokens"));

			if (id == 1 && n == 4 && tok == 4000)
				seen |= 1;
			if (id == 2 && n == 2 && tok == 2000)
				seen |= 2;
		}
		CU_ASSERT_EQUAL(seen, 3);
	}
	json_decref(j);

	CU_ASSERT_EQUAL(tfd_api_parse_time("1700000000", now, &ns), 0);
	CU_ASSERT_EQUAL(ns, 1700000000ull * 1000000000ull);
	CU_ASSERT_EQUAL(tfd_api_parse_time("2024-02-29T13:45:10Z", now, &ns), 0);
	CU_ASSERT_EQUAL(ns, now);
	CU_ASSERT_EQUAL(tfd_api_parse_time("-2h", now, &ns), 0);
	CU_ASSERT_EQUAL(ns, now - 7200ull * 1000000000ull);
	CU_ASSERT_EQUAL(tfd_api_parse_time("now", now, &ns), 0);
	CU_ASSERT_EQUAL(ns, now);
	CU_ASSERT_EQUAL(tfd_api_parse_time("-2w", now, &ns), -EINVAL);
	CU_ASSERT_EQUAL(tfd_api_parse_time("2024-02-30", now, &ns), -EINVAL);
	CU_ASSERT_EQUAL(tfd_api_parse_time("", now, &ns), -EINVAL);
	CU_ASSERT_EQUAL(tfd_api_parse_time("99999999999999", now, &ns), -EINVAL);
	/* RFC 3339 as strictly as the number form: no day timegm() would roll over, no
	 * year past the 2^34 s bound (ns would wrap). */
	CU_ASSERT_EQUAL(tfd_api_parse_time("2024-02-30T00:00:00Z", now, &ns), -EINVAL);
	CU_ASSERT_EQUAL(tfd_api_parse_time("2023-02-29T00:00:00Z", now, &ns), -EINVAL);
	CU_ASSERT_EQUAL(tfd_api_parse_time("2024-01-01T24:00:00Z", now, &ns), -EINVAL);
	CU_ASSERT_EQUAL(tfd_api_parse_time("9999-12-31T23:59:59Z", now, &ns), -EINVAL);
	tfd_api_response_free(&g_rs);
}

static const struct tf_cunit_test api_tests[] = {
	TF_TEST(test_auth_and_routing),	   TF_TEST(test_usage_queries),
	TF_TEST(test_tenants_and_updates), TF_TEST(test_reload),
	TF_TEST(test_health_and_time),	   TF_TEST(test_u64_ids),
	TF_TEST(test_unlimited_balance),   TF_TESTS_END,
};

TF_CUNIT_MAIN({ "host_api", suite_init, suite_fini, api_tests })
