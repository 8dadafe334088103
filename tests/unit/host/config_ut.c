/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for host/tokfabd/config.c: a full valid file parses to the right
 * values, and every error case is refused with "file:line: key: ..." naming
 * the right line and key.
 */
#include "tf_cunit.h"
#include "tokfabd/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];
static char g_path[128];

static void
write_file(const char *name, const char *text)
{
	char p[192];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", g_dir, name);
	f = fopen(p, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

static int
suite_init(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/tf-cfg-ut.%d", (int)getpid());
	mkdir(g_dir, 0700);
	snprintf(g_path, sizeof(g_path), "%s/tokfabd.yaml", g_dir);
	return 0;
}

static int
suite_fini(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd) == 0 ? 0 : 0;
}

static void
files(void)
{
	write_file("token", "0123456789abcdef0123456789abcdef\n");
	write_file("acme.key",
		   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	write_file("short.key", "0011223344\n");
	write_file("nothex.key", "this is not hex at all, not at all, no no no no no no no\n");
}

/* The valid base document; tests append or replace lines of it. */
static const char g_base[] = "card:\n" /* 1 */
			     "  access: shm:/dev/shm/tokfab0\n" /* 2 */
			     "  watchdog_periods: 4\n" /* 3 */
			     "ledger:\n" /* 4 */
			     "  path: ledger.db\n" /* 5 */
			     "  synchronous: normal\n" /* 6 */
			     "api:\n" /* 7 */
			     "  listen: 0.0.0.0:9000\n" /* 8 */
			     "  token_file: token\n" /* 9 */
			     "batching:\n" /* 10 */
			     "  max_batch: 8\n" /* 11 */
			     "models:\n" /* 12 */
			     "  - id: 1\n" /* 13 */
			     "    name: llama-tiny\n" /* 14 */
			     "    max_new_tokens: 128\n" /* 15 */
			     "accelerators:\n" /* 16 */
			     "  - id: 7\n" /* 17 */
			     "    address: 10.0.0.2:7471\n" /* 18 */
			     "    transport: rdma\n" /* 19 */
			     "    cost_per_hour: 2.5\n" /* 20 */
			     "    models: [llama-tiny]\n" /* 21 */
			     "tenants:\n" /* 22 */
			     "  - id: 3\n" /* 23 */
			     "    name: acme\n" /* 24 */
			     "    key_file: acme.key\n" /* 25 */
			     "    budget: 12.50\n" /* 26 */
			     "    period: day\n" /* 27 */
			     "    rate: { requests_per_s: 10, burst_requests: 20 }\n" /* 28 */
			     "    prices: { llama-tiny: 0.002 }\n"; /* 29 */

static struct tfd_config *
load(const char *text, char *err, size_t len)
{
	struct tfd_config *cfg = NULL;

	files();
	write_file("tokfabd.yaml", text);
	if (tfd_config_load(g_path, &cfg, err, len) < 0)
		return NULL;
	return cfg;
}

/* Replaces line n (1-based) of the base document with repl ("" deletes it). */
static void
base_with(int n, const char *repl, char *out, size_t len)
{
	const char *p = g_base;

	out[0] = '\0';
	for (int line = 1; *p; line++) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p + 1) : strlen(p);

		if (line == n)
			strncat(out, repl, len - strlen(out) - 1);
		else
			strncat(out, p, l < len - strlen(out) - 1 ? l : len - strlen(out) - 1);
		p += l;
	}
}

/* Loads text, expects a refusal whose message contains ":line: key". */
static void
expect_error(const char *text, int line, const char *key, const char *also)
{
	char err[1024], want[256];
	struct tfd_config *cfg = load(text, err, sizeof(err));

	CU_ASSERT_PTR_NULL(cfg);
	tfd_config_free(cfg);
	snprintf(want, sizeof(want), "%s:%d: %s", g_path, line, key);
	if (!strstr(err, want))
		fprintf(stderr, "\n  expected '%s' in: %s\n", want, err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	if (also) {
		if (!strstr(err, also))
			fprintf(stderr, "\n  expected '%s' in: %s\n", also, err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, also));
	}
}

static void
expect_line_error(int n, const char *repl, int line, const char *key, const char *also)
{
	char text[4096];

	base_with(n, repl, text, sizeof(text));
	expect_error(text, line, key, also);
}

static void
test_valid_file(void)
{
	char err[1024];
	struct tfd_config *cfg = load(g_base, err, sizeof(err));
	char ledger[160];

	if (!cfg)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->card_access, "shm:/dev/shm/tokfab0");
	CU_ASSERT_EQUAL(cfg->watchdog_periods, 4);
	snprintf(ledger, sizeof(ledger), "%s/ledger.db", g_dir);
	CU_ASSERT_STRING_EQUAL(cfg->ledger_path, ledger);
	CU_ASSERT_EQUAL(cfg->ledger_sync_full, 0);
	CU_ASSERT_EQUAL(cfg->ledger_batch_max, 1024); /* defaults: group commit */
	CU_ASSERT_EQUAL(cfg->ledger_commit_interval_ms, 100);
	CU_ASSERT_EQUAL(cfg->ledger_records,
			TF_USAGE_MODE_REQUEST); /* default: a row per request */
	CU_ASSERT_EQUAL(cfg->ledger_aggregate_ms, 100);
	CU_ASSERT_STRING_EQUAL(cfg->listen_addr, "0.0.0.0");
	CU_ASSERT_EQUAL(cfg->listen_port, 9000);
	CU_ASSERT_STRING_EQUAL(cfg->api_token, "0123456789abcdef0123456789abcdef");
	CU_ASSERT_EQUAL(cfg->batching.max_batch, 8);
	CU_ASSERT_EQUAL(cfg->batching.max_queue_delay_us, 2000); /* default */
	CU_ASSERT_EQUAL(cfg->n_models, 1);
	CU_ASSERT_EQUAL(cfg->models[0].max_new_tokens, 128);
	CU_ASSERT_EQUAL(cfg->models[0].max_prompt_tokens, 4096);
	CU_ASSERT_EQUAL(cfg->n_accels, 1);
	CU_ASSERT_EQUAL(cfg->accels[0].transport, TF_TRANSPORT_RDMA);
	CU_ASSERT_EQUAL(cfg->accels[0].cost_per_hour_micro, 2500000);
	CU_ASSERT_EQUAL(cfg->accels[0].models[0], 1);
	CU_ASSERT_EQUAL(cfg->n_tenants, 1);
	CU_ASSERT_EQUAL(cfg->tenants[0].id, 3);
	CU_ASSERT_EQUAL(cfg->tenants[0].key_len, 32);
	CU_ASSERT_EQUAL(cfg->tenants[0].key[1], 0x11);
	CU_ASSERT_EQUAL(cfg->tenants[0].budget_micro, 12500000);
	CU_ASSERT_EQUAL(cfg->tenants[0].period, TFD_PERIOD_DAY);
	CU_ASSERT_EQUAL(cfg->tenants[0].rate_rps, 10);
	CU_ASSERT_EQUAL(cfg->tenants[0].burst_requests, 20);
	CU_ASSERT_EQUAL(cfg->tenants[0].n_prices, 1);
	CU_ASSERT_EQUAL(cfg->tenants[0].prices[0].model_id, 1);
	CU_ASSERT_EQUAL(cfg->tenants[0].prices[0].price_per_1k_micro, 2000);
	tfd_config_free(cfg);
}

/* ledger.records: aggregate with its window. */
static void
test_ledger_records_aggregate(void)
{
	char text[4096], err[1024];
	struct tfd_config *cfg;

	base_with(6, "  records: aggregate\n  aggregate_ms: 250\n", text, sizeof(text));
	cfg = load(text, err, sizeof(err));
	if (!cfg)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->ledger_records, TF_USAGE_MODE_AGGREGATE);
	CU_ASSERT_EQUAL(cfg->ledger_aggregate_ms, 250);
	tfd_config_free(cfg);
}

static void
test_file_level_errors(void)
{
	char err[512];
	struct tfd_config *cfg = NULL;

	CU_ASSERT_EQUAL(tfd_config_load("/nonexistent/tokfabd.yaml", &cfg, err, sizeof(err)),
			-ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));
	expect_error("", 0, "(file)", "empty");
	expect_error("card: [\n", 2, "(syntax)", NULL);
	expect_error("- a\n- b\n", 1, "(top level)", "expected a mapping");
	expect_error("api:\n  token_file: token\nbogus: 1\n", 3, "(top level)",
		     "unknown key 'bogus'");
	expect_error("api:\n  token_file: token\napi:\n  token_file: token\n", 3, "(top level)",
		     "appears twice");
	expect_error("card:\n  access: auto\n", 1, "api", "missing");
}

static void
test_section_errors(void)
{
	expect_line_error(2, "  access: /dev/shm/x\n", 2, "card.access", "auto, shm:PATH");
	expect_line_error(3, "  watchdog_periods: 1\n", 3, "card.watchdog_periods",
			  "range 2..1000");
	expect_line_error(3, "  watchdog_periods: lots\n", 3, "card.watchdog_periods",
			  "whole number");
	expect_line_error(3, "  watchdog: 3\n", 3, "card", "unknown key 'watchdog'");
	expect_line_error(6, "  synchronous: sometimes\n", 6, "ledger.synchronous",
			  "full or normal");
	expect_line_error(6, "  commit_interval_ms: 60000\n", 6, "ledger.commit_interval_ms",
			  "range 0..10000");
	expect_line_error(6, "  commit_interval_ms: soon\n", 6, "ledger.commit_interval_ms",
			  "whole number");
	expect_line_error(6, "  records: sometimes\n", 6, "ledger.records",
			  "request (a ledger row");
	expect_line_error(6, "  records: [aggregate]\n", 6, "ledger.records", NULL);
	expect_line_error(6, "  records: aggregate\n  aggregate_ms: 0\n", 7, "ledger.aggregate_ms",
			  "range 1..60000");
	expect_line_error(6, "  records: aggregate\n  aggregate_ms: 70\n", 7, "ledger.aggregate_ms",
			  "does not divide 60000");
	expect_line_error(6, "  aggregate_ms: often\n", 6, "ledger.aggregate_ms", "whole number");
	expect_line_error(8, "  listen: localhost\n", 8, "api.listen", "ADDRESS:PORT");
	expect_line_error(8, "  listen: 127.0.0.1:99999\n", 8, "api.listen", "0..65535");
	expect_line_error(9, "  token_file: missing-token\n", 9, "api.token_file", "cannot read");
	expect_line_error(9, "  token_file: short.key\n", 9, "api.token_file", "shorter than 16");
	expect_line_error(9, "  token_file: token\n  tls_cert: c.pem\n", 8, "api", "together");
	expect_line_error(11, "  max_batch: 0\n", 11, "batching.max_batch", "range");
	expect_line_error(11, "  max_batch: [1]\n", 11, "batching.max_batch", "whole number");
}

static void
test_model_and_accel_errors(void)
{
	expect_line_error(13, "  - id: 0\n", 13, "models[0].id", "range");
	expect_line_error(14, "    name: \"\"\n", 14, "models[0].name", "1..31 characters");
	expect_line_error(14, "    name: a-name-that-is-longer-than-thirty-one-chars\n", 14,
			  "models[0].name", "1..31");
	expect_line_error(15, "    max_new_tokens: 2000000\n", 15, "models[0].max_new_tokens",
			  "range");
	expect_line_error(15, "    max_new_tokens: 1\n  - id: 1\n    name: other\n", 16,
			  "models[1]", "already used");
	expect_line_error(15, "    max_new_tokens: 1\n  - id: 2\n    name: llama-tiny\n", 17,
			  "models[1]", "already used");
	expect_error("api:\n  token_file: token\nmodels: 3\n", 3, "models", "expected a list");
	expect_error("api:\n  token_file: token\nmodels: [3]\n", 3, "models[0]",
		     "expected a mapping");
	expect_line_error(19, "    transport: carrier-pigeon\n", 19, "accelerators[0].transport",
			  "shm or rdma");
	expect_line_error(20, "    cost_per_hour: abc\n", 20, "accelerators[0].cost_per_hour",
			  "12.50");
	expect_line_error(20, "    cost_per_hour: -1\n", 20, "accelerators[0].cost_per_hour", NULL);
	expect_line_error(20, "    cost_per_hour: 1.1234567\n", 20, "accelerators[0].cost_per_hour",
			  "6 decimals");
	expect_line_error(21, "    models: [gpt-99]\n", 21, "accelerators[0].models",
			  "not a model");
	expect_line_error(21, "    models: []\n", 21, "accelerators[0].models", "at least one");
	expect_line_error(21, "    models: [1, llama-tiny]\n", 21, "accelerators[0].models",
			  "listed twice");
	expect_line_error(21, "", 17, "accelerators[0].models", "missing");
	expect_line_error(18, "", 17, "accelerators[0].address", "missing");
}

static void
test_tenant_errors(void)
{
	expect_line_error(25, "    key_file: nope.key\n", 25, "tenants[0].key_file",
			  "cannot open key file");
	expect_line_error(25, "    key_file: short.key\n", 25, "tenants[0].key_file",
			  "short.key:1: a key is 32..128 hex digits");
	expect_line_error(25, "    key_file: nothex.key\n", 25, "tenants[0].key_file",
			  "character 1 is not a hex digit");
	expect_line_error(25, "", 23, "tenants[0].key_file", "missing");
	expect_line_error(26, "    budget: lots\n", 26, "tenants[0].budget", "12.50");
	expect_line_error(26, "", 23, "tenants[0].budget", "unlimited");
	expect_line_error(27, "    period: fortnight\n", 27, "tenants[0].period",
			  "hour, day, week or month");
	expect_line_error(28, "    rate: { burst_requests: 20 }\n", 28, "tenants[0].rate",
			  "needs requests_per_s");
	expect_line_error(28, "    rate: { rps: 20 }\n", 28, "tenants[0].rate",
			  "unknown key 'rps'");
	expect_line_error(29, "    prices: { gpt-99: 1 }\n", 29, "tenants[0].prices",
			  "not a model");
	expect_line_error(29, "    prices: { llama-tiny: cheap }\n", 29, "tenants[0].prices",
			  "0.002");
	expect_line_error(29, "    priority: 9\n", 29, "tenants[0].priority", "range");
	expect_line_error(29, "    colour: blue\n", 29, "tenants[0]", "unknown key 'colour'");
	expect_line_error(29, "  - id: 3\n    name: other\n    key_file: acme.key\n    budget: 1\n",
			  29, "tenants[1]", "already used");
	expect_line_error(29, "    prices: { llama-tiny: 0.002, 1: 0.003 }\n", 29,
			  "tenants[0].prices", "given twice");
	expect_line_error(24, "    name: acme\n    name: acme\n", 25, "tenants[0]",
			  "appears twice");
}

/* tenants[].mac_algs maps names to SET_TENANT's TF_TENANT_MAC_* bits; default none (HMAC). */
static void
test_tenant_mac_algs(void)
{
	char err[1024], text[4096];
	struct tfd_config *cfg = load(g_base, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->tenants[0].mac_algs, 0);
	tfd_config_free(cfg);
	base_with(29, "    prices: { llama-tiny: 0.002 }\n    mac_algs: [hmac-sha256, siphash]\n",
		  text, sizeof(text));
	cfg = load(text, err, sizeof(err));
	if (!cfg)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->tenants[0].mac_algs,
			TF_TENANT_MAC_HMAC_SHA256 | TF_TENANT_MAC_SIPHASH);
	tfd_config_free(cfg);
	base_with(29, "    prices: { llama-tiny: 0.002 }\n    mac_algs: [siphash]\n", text,
		  sizeof(text));
	cfg = load(text, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->tenants[0].mac_algs, TF_TENANT_MAC_SIPHASH);
	tfd_config_free(cfg);
	expect_line_error(29, "    prices: { llama-tiny: 0.002 }\n    mac_algs: [md5]\n", 30,
			  "tenants[0].mac_algs", "not a MAC algorithm");
	expect_line_error(29,
			  "    prices: { llama-tiny: 0.002 }\n    mac_algs: [siphash, siphash]\n",
			  30, "tenants[0].mac_algs", "listed twice");
	expect_line_error(29, "    prices: { llama-tiny: 0.002 }\n    mac_algs: []\n", 30,
			  "tenants[0].mac_algs", "at least one");
	expect_line_error(29, "    prices: { llama-tiny: 0.002 }\n    mac_algs: siphash\n", 30,
			  "tenants[0].mac_algs", NULL);
}

static void
test_money_and_hex(void)
{
	uint64_t m = 0;
	uint8_t buf[8];
	size_t n = 0;
	char s[40];

	CU_ASSERT_EQUAL(tfd_money_parse("12.5", TF_MONEY_MAX, &m), 0);
	CU_ASSERT_EQUAL(m, 12500000);
	CU_ASSERT_EQUAL(tfd_money_parse("0.000001", TF_MONEY_MAX, &m), 0);
	CU_ASSERT_EQUAL(m, 1);
	CU_ASSERT_EQUAL(tfd_money_parse("7", TF_MONEY_MAX, &m), 0);
	CU_ASSERT_EQUAL(m, 7000000);
	CU_ASSERT_EQUAL(tfd_money_parse("1.", TF_MONEY_MAX, &m), -EINVAL);
	CU_ASSERT_EQUAL(tfd_money_parse(".5", TF_MONEY_MAX, &m), -EINVAL);
	CU_ASSERT_EQUAL(tfd_money_parse("1e3", TF_MONEY_MAX, &m), -EINVAL);
	CU_ASSERT_EQUAL(tfd_money_parse("99999999999999999999", TF_MONEY_MAX, &m), -EINVAL);
	CU_ASSERT_EQUAL(tfd_money_parse("5", 4000000, &m), -EINVAL);
	CU_ASSERT_EQUAL(tfd_money_parse("4", 4000000, &m), 0);
	tfd_money_format(12500000, s, sizeof(s));
	CU_ASSERT_STRING_EQUAL(s, "12.50");
	tfd_money_format(1, s, sizeof(s));
	CU_ASSERT_STRING_EQUAL(s, "0.000001");
	tfd_money_format(-2000000, s, sizeof(s));
	CU_ASSERT_STRING_EQUAL(s, "-2.00");
	CU_ASSERT_EQUAL(tfd_hex_decode(" 0a0B\n", buf, sizeof(buf), &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(buf[1], 0x0b);
	CU_ASSERT_EQUAL(tfd_hex_decode("0a0", buf, sizeof(buf), &n), -EINVAL);
	CU_ASSERT_EQUAL(tfd_hex_decode("00112233445566778899", buf, sizeof(buf), &n), -EINVAL);
}

/* Key files as protocol.md 4.2: blank lines and '#' lines ignored (the client's and the card's rule). */
static void
test_key_file_comments(void)
{
	char text[4096], err[1024];
	struct tfd_config *cfg = NULL;

	base_with(25, "    key_file: spec.key\n", text, sizeof(text));
	files();
	write_file("spec.key",
		   "# tenant 42, key 0\n\n"
		   "  000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \n"
		   "   # rotated on 2024-05-01\n");
	write_file("tokfabd.yaml", text);
	err[0] = '\0';
	CU_ASSERT_EQUAL(tfd_config_load(g_path, &cfg, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "\n  %s\n", err);
	if (cfg) {
		CU_ASSERT_EQUAL(cfg->tenants[0].key_len, 32);
		CU_ASSERT_EQUAL(cfg->tenants[0].key[0], 0x00);
		CU_ASSERT_EQUAL(cfg->tenants[0].key[31], 0x1f);
		tfd_config_free(cfg);
	}
	/* A second key line is still refused, comments or not. */
	write_file("spec.key", "# two keys\n00112233445566778899aabbccddeeff\n"
			       "# and\n00112233445566778899aabbccddeeff\n");
	expect_error(text, 25, "tenants[0].key_file", "more than one key line");
}

static const struct tf_cunit_test config_tests[] = {
	TF_TEST(test_valid_file),
	TF_TEST(test_ledger_records_aggregate),
	TF_TEST(test_file_level_errors),
	TF_TEST(test_section_errors),
	TF_TEST(test_model_and_accel_errors),
	TF_TEST(test_tenant_errors),
	TF_TEST(test_tenant_mac_algs),
	TF_TEST(test_money_and_hex),
	TF_TEST(test_key_file_comments),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "host_config", suite_init, suite_fini, config_tests })
