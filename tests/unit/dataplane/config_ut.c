/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/config.c: a full file, and every error naming line and key. */
#include "dataplane/config.h"
#include "tf_cunit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[] = "/tmp/tf-dp-config-ut.XXXXXX";
static char g_path[512];

static int
setup(void)
{
	char kp[600];
	FILE *f;

	if (!mkdtemp(g_dir))
		return 1;
	snprintf(kp, sizeof(kp), "%s/t42.key", g_dir);
	f = fopen(kp, "w");
	if (!f)
		return 1;
	fprintf(f, "# tenant 42, key "
		   "0\n\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
	fclose(f);
	snprintf(g_path, sizeof(g_path), "%s/dp.yaml", g_dir);
	return 0;
}

static int
teardown(void)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/t42.key", g_dir);
	unlink(p);
	unlink(g_path);
	rmdir(g_dir);
	return 0;
}

static void
write_cfg(const char *text)
{
	FILE *f = fopen(g_path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static const char good[] = "card:\n"
			   "  ipv4: 10.9.0.1\n"
			   "  udp_port: 7480\n"
			   "  stats_interval_s: 5\n"
			   "  udp_checksum: false\n"
			   "limits:\n"
			   "  max_requests: 1024\n"
			   "  max_queue: 512\n"
			   "  token_buffer_mb: 4\n"
			   "batching:\n"
			   "  max_batch: 8\n"
			   "  max_queue_delay_us: 100\n"
			   "models:\n"
			   "  - id: 7\n"
			   "    name: tiny\n"
			   "    max_new_tokens: 64\n"
			   "accelerators:\n"
			   "  - id: 1\n"
			   "    transport: shm\n"
			   "    address: a0\n"
			   "    cost_per_hour_micro: 1500000\n"
			   "    models: [7]\n"
			   "tenants:\n"
			   "  - id: 42\n"
			   "    name: alice\n"
			   "    key_file: t42.key\n"
			   "    budget_micro: 1000000\n"
			   "    rate_rps: 100\n"
			   "    prices:\n"
			   "      - model: 7\n"
			   "        per_1k_micro: 2000\n"
			   "  - id: 43\n"
			   "    key: 00112233445566778899aabbccddeeff\n"
			   "    unlimited: true\n"
			   "    priority: 3\n"
			   "    mac_algs: [hmac-sha256, siphash]\n";

static void
test_full_file(void)
{
	struct tf_dp_config c;
	char err[512] = "";

	write_cfg(good);
	CU_ASSERT_EQUAL_FATAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.ipv4, inet_addr("10.9.0.1"));
	CU_ASSERT_EQUAL(c.udp_port, 7480);
	CU_ASSERT_EQUAL(c.udp_checksum, 0);
	CU_ASSERT_EQUAL(c.limits.udp_tx_csum, 0);
	CU_ASSERT_EQUAL(c.limits.max_requests, 1024);
	CU_ASSERT_EQUAL(c.limits.token_buffer_bytes, 4u << 20);
	CU_ASSERT_EQUAL(c.batching.max_batch, 8);
	CU_ASSERT_EQUAL(c.batching.max_queue_delay_us, 100);
	CU_ASSERT_EQUAL(c.batching.max_batch_bytes, 1u << 20); /* default kept */
	CU_ASSERT_EQUAL_FATAL(c.nmodels, 1);
	CU_ASSERT_EQUAL(c.models[0].model_id, 7);
	CU_ASSERT_EQUAL(c.models[0].max_new_tokens, 64);
	CU_ASSERT_STRING_EQUAL(c.models[0].name, "tiny");
	CU_ASSERT_EQUAL_FATAL(c.naccels, 1);
	CU_ASSERT_EQUAL(c.accels[0].transport, TF_TRANSPORT_SHM);
	CU_ASSERT_STRING_EQUAL(c.accels[0].address, "a0");
	CU_ASSERT_EQUAL(c.accels[0].n_models, 1);
	CU_ASSERT_EQUAL(c.accels[0].cost_per_hour_micro, 1500000);
	CU_ASSERT_EQUAL_FATAL(c.ntenants, 2);
	CU_ASSERT_EQUAL(c.tenants[0].tenant_id, 42);
	CU_ASSERT_EQUAL(c.tenants[0].key_len, 32);
	CU_ASSERT_EQUAL(c.tenants[0].key[31], 0x1f);
	CU_ASSERT_EQUAL(c.tenants[0].budget_micro, 1000000);
	CU_ASSERT_EQUAL(c.tenants[0].flags, 0);
	CU_ASSERT_EQUAL(c.tenants[0].priority, TF_PRIORITY_MAX);
	CU_ASSERT_EQUAL(c.tenants[0].n_prices, 1);
	CU_ASSERT_EQUAL(c.tenants[0].prices[0].price_per_1k_micro, 2000);
	CU_ASSERT_EQUAL(c.tenants[1].key_len, 16);
	CU_ASSERT_EQUAL(c.tenants[1].flags, TF_TENANT_F_UNLIMITED);
	CU_ASSERT_EQUAL(c.tenants[1].priority, 3);
	CU_ASSERT_STRING_EQUAL(c.tenants[1].name, "tenant-43");
	CU_ASSERT_EQUAL(c.tenants[0].mac_algs, 0); /* not given: HMAC-SHA256 only */
	CU_ASSERT_EQUAL(c.tenants[1].mac_algs, TF_TENANT_MAC_HMAC_SHA256 | TF_TENANT_MAC_SIPHASH);
	tf_dp_config_free(&c);
}

/* Replaces the first occurrence of from in good by to; loads it; expects err to contain want. */
static void
expect_error(const char *from, const char *to, const char *want)
{
	char text[4096], err[512] = "";
	const char *p = strstr(good, from);
	struct tf_dp_config c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(p - good), good, to, p + strlen(from));
	write_cfg(text);
	CU_ASSERT_NOT_EQUAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	if (!strstr(err, want))
		fprintf(stderr, "\n  expected '%s' in: %s\n", want, err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
}

static void
test_errors_name_line_and_key(void)
{
	expect_error("ipv4: 10.9.0.1", "ipv4: 10.9.0", ":2: card.ipv4: expected a unicast IPv4");
	expect_error("udp_port: 7480", "udp_port: 70000",
		     ":3: card.udp_port: 70000 is out of range");
	expect_error("udp_checksum: false", "udp_checksum: maybe",
		     ":5: card.udp_checksum: expected true or false");
	expect_error("  max_queue: 512\n", "  max_queue: 512\n  max_queue: 3\n",
		     "key 'max_queue' given twice");
	expect_error("max_queue: 512", "max_queue: 2048",
		     "limits.max_queue: 2048 exceeds limits.max_requests");
	expect_error("  token_buffer_mb: 4\n", "  tokenbuffer: 4\n",
		     ":9: limits: unknown key 'tokenbuffer'");
	expect_error("max_batch: 8", "max_batch: eight",
		     ":11: batching.max_batch: expected an integer");
	expect_error("  - id: 7\n    name: tiny\n", "  - name: tiny\n",
		     ":14: models[0]: missing key 'id'");
	expect_error("transport: shm", "transport: tcp",
		     ":19: accelerators[0].transport: expected shm or rdma");
	expect_error("models: [7]", "models: [8]",
		     "accelerator 1 serves model 8, which is not in 'models'");
	expect_error("models: [7]", "models: [7, 7]",
		     "accelerators[0].models[1]: model 7 listed twice");
	expect_error("key_file: t42.key", "key_file: nope.key",
		     ":26: tenants[0].key_file: cannot open key file");
	expect_error("key: 00112233445566778899aabbccddeeff", "key: 0011",
		     ":33: tenants[1].key: value:1: a key is 32..128 hex digits");
	expect_error("    unlimited: true\n", "", "tenants[1]: missing key 'budget_micro'");
	expect_error("    rate_rps: 100\n", "    burst_requests: 10\n", "a burst needs its rate");
	expect_error("  - id: 43\n", "  - id: 42\n", "tenants: id 42 used twice");
	expect_error("priority: 3", "priority: 9", "tenants[1].priority: 9 is out of range 0..7");
	expect_error("per_1k_micro: 2000", "per_1k_micro: -5",
		     "prices[0].per_1k_micro: expected an integer");
	expect_error("mac_algs: [hmac-sha256, siphash]", "mac_algs: [siphash, md5]",
		     ":36: tenants[1].mac_algs[1]: 'md5' is not a MAC algorithm");
	expect_error("mac_algs: [hmac-sha256, siphash]", "mac_algs: [siphash, siphash]",
		     "tenants[1].mac_algs[1]: 'siphash' listed twice");
	expect_error("mac_algs: [hmac-sha256, siphash]", "mac_algs: []",
		     "tenants[1].mac_algs: name at least one MAC algorithm");
	expect_error("mac_algs: [hmac-sha256, siphash]", "mac_algs: siphash",
		     "tenants[1].mac_algs: expected a list");
	expect_error("card:\n", "card: [\n", "YAML syntax error");
	expect_error("  ipv4: 10.9.0.1\n", "", "card.ipv4: missing");
}

static void
test_missing_file(void)
{
	struct tf_dp_config c;
	char err[512] = "";

	CU_ASSERT_NOT_EQUAL(tf_dp_config_load("/nonexistent/dp.yaml", &c, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/dp.yaml: cannot open"));
}

/* The limits and card keys of this round: tenants, BUSY advice, accelerator timeouts, host wait. */
static void
test_round3_keys(void)
{
	static const char text[] = "card:\n"
				   "  ipv4: 10.9.0.1\n"
				   "  host_wait_s: 5\n"
				   "  host_settle_ms: 250\n"
				   "limits:\n"
				   "  tenants: 100000\n"
				   "  retry_after_max_ms: 2000\n"
				   "  accel_peer_timeout_ms: 30000\n"
				   "  accel_connect_timeout_ms: 8000\n"
				   "tenants:\n"
				   "  - id: 1\n"
				   "    key: 00112233445566778899aabbccddeeff\n"
				   "    unlimited: true\n"
				   "  - id: 2\n"
				   "    key: 00112233445566778899aabbccddeeff\n"
				   "    unlimited: true\n"
				   "  - id: 1\n"
				   "    key: 00112233445566778899aabbccddeeff\n"
				   "    unlimited: true\n";
	struct tf_dp_config c;
	char err[512] = "", buf[1024];

	write_cfg(text + 0);
	/* The same id twice is found (by sorting, not by comparing every pair). */
	CU_ASSERT_NOT_EQUAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "tenants: id 1 used twice"));
	/* The same file without the second id 1. */
	snprintf(buf, sizeof(buf), "%.*s", (int)(strrchr(text, '-') - text - 2), text);
	write_cfg(buf);
	CU_ASSERT_EQUAL_FATAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.host_wait_s, 5);
	CU_ASSERT_EQUAL(c.host_settle_ms, 250);
	CU_ASSERT_EQUAL(c.limits.tenants, 100000);
	CU_ASSERT_EQUAL(c.limits.retry_after_max_ms, 2000);
	CU_ASSERT_EQUAL(c.limits.accel_peer_timeout_ms, 30000);
	CU_ASSERT_EQUAL(c.limits.accel_connect_timeout_ms, 8000);
	CU_ASSERT_EQUAL(c.ntenants, 2);
	tf_dp_config_free(&c);
	/* Defaults. */
	write_cfg("card:\n  ipv4: 10.9.0.1\n");
	CU_ASSERT_EQUAL_FATAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.host_wait_s, 30);
	CU_ASSERT_EQUAL(c.host_settle_ms, 500);
	CU_ASSERT_EQUAL(c.limits.tenants, 131072);
	CU_ASSERT_EQUAL(c.limits.retry_after_max_ms, 5000);
	CU_ASSERT_EQUAL(c.limits.accel_peer_timeout_ms, 5000);
	tf_dp_config_free(&c);
	expect_error("udp_port: 7480", "udp_port: 7480\n  host_settle_ms: 0",
		     "card.host_settle_ms: 0 is out of range");
	expect_error("  max_queue: 512\n", "  max_queue: 512\n  tenants: 0\n",
		     "limits.tenants: 0 is out of range");
	expect_error("  max_queue: 512\n", "  max_queue: 512\n  accel_peer_timeout_ms: 10\n",
		     "limits.accel_peer_timeout_ms: 10 is out of range");
}

/* limits.generation_timeout_ms: default, 0 = off, range, and a clear error. */
static void
test_generation_timeout_key(void)
{
	struct tf_dp_config c;
	char err[512] = "";

	write_cfg("card:\n  ipv4: 10.9.0.1\n");
	CU_ASSERT_EQUAL_FATAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.limits.generation_timeout_ms, 300000);
	tf_dp_config_free(&c);
	write_cfg("card:\n  ipv4: 10.9.0.1\nlimits:\n  generation_timeout_ms: 0\n");
	CU_ASSERT_EQUAL_FATAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.limits.generation_timeout_ms, 0);
	tf_dp_config_free(&c);
	write_cfg("card:\n  ipv4: 10.9.0.1\nlimits:\n  generation_timeout_ms: 1500\n");
	CU_ASSERT_EQUAL_FATAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.limits.generation_timeout_ms, 1500);
	tf_dp_config_free(&c);
	expect_error("  max_queue: 512\n", "  max_queue: 512\n  generation_timeout_ms: 5\n",
		     "limits.generation_timeout_ms: 5 ms is shorter than any generation: use 0");
	expect_error("  max_queue: 512\n", "  max_queue: 512\n  generation_timeout_ms: 86400001\n",
		     "limits.generation_timeout_ms: 86400001 is out of range 0..86400000");
	expect_error("  max_queue: 512\n", "  max_queue: 512\n  generation_timeout_ms: soon\n",
		     "limits.generation_timeout_ms: expected an integer");
}

/* Key files as protocol.md 4.2 (what the client accepts): blanks (a CR too) around the digits, indented comments. */
static void
test_key_file_blanks(void)
{
	struct tf_dp_config c;
	char kp[600], err[512] = "";
	FILE *f;

	snprintf(kp, sizeof(kp), "%s/t42.key", g_dir);
	f = fopen(kp, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "  # tenant 42, key 0\n\n"
		   " \r\t000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f  \r\n");
	fclose(f);
	write_cfg(good);
	CU_ASSERT_EQUAL(tf_dp_config_load(g_path, &c, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "\n  %s\n", err);
	if (!err[0]) {
		CU_ASSERT_EQUAL(c.tenants[0].key_len, 32);
		CU_ASSERT_EQUAL(c.tenants[0].key[31], 0x1f);
		tf_dp_config_free(&c);
	}
	f = fopen(kp, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "# tenant 42, key 0\n"
		   "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
	fclose(f);
}

static const struct tf_cunit_test config_tests[] = {
	TF_TEST(test_full_file),
	TF_TEST(test_errors_name_line_and_key),
	TF_TEST(test_missing_file),
	TF_TEST(test_round3_keys),
	TF_TEST(test_generation_timeout_key),
	TF_TEST(test_key_file_blanks),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "config", setup, teardown, config_tests })
