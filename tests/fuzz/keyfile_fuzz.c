/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: tenant key files (hwdocs/protocol.md 4.2) on arbitrary
 * bytes, through the three readers that take them: libtokfab-client's
 * tf_client_load_key(), tokfabd's configuration (tenants[].key_file) and
 * tokfab-dp's configuration (tenants[].key_file). The same file serves the
 * client and the card, so whatever the client accepts, tokfabd and tokfab-dp
 * must accept too, with the same 32 bytes; every refusal says what was wrong.
 */
#include "dataplane/config.h"
#include "tokfab/client.h"
#include "tokfabd/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64], g_key[128], g_tfd[128], g_dp[128], g_token[128];

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static void
cleanup(void)
{
	unlink(g_key);
	unlink(g_tfd);
	unlink(g_dp);
	unlink(g_token);
	rmdir(g_dir);
}

static void
setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/tf-fuzz-key.%d", (int)getpid());
	mkdir(g_dir, 0700);
	snprintf(g_key, sizeof(g_key), "%s/t.key", g_dir);
	snprintf(g_tfd, sizeof(g_tfd), "%s/tokfabd.yaml", g_dir);
	snprintf(g_dp, sizeof(g_dp), "%s/dp.yaml", g_dir);
	snprintf(g_token, sizeof(g_token), "%s/token", g_dir);
	put(g_token, "0123456789abcdef0123456789abcdef\n");
	put(g_tfd,
	    "log:\n  level: error\napi:\n  token_file: token\n"
	    "tenants:\n  - id: 1\n    name: t\n    key_file: t.key\n    budget: unlimited\n");
	put(g_dp, "card:\n  ipv4: 10.9.0.1\ntenants:\n  - id: 1\n    key_file: t.key\n    "
		  "unlimited: true\n");
	atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ckey[TF_PROTO_KEY_LEN];
	struct tfd_config *tc = NULL;
	struct tf_dp_config dc;
	char err[1024], terr[1024], derr[1024];
	int crc, trc, drc;
	FILE *f;

	if (!g_dir[0])
		setup();
	/* Text files: a NUL byte ends a line for one reader and the file for another. */
	if (size >= 4000 || memchr(data, 0, size))
		return 0;
	f = fopen(g_key, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);

	err[0] = '\0';
	crc = tf_client_load_key(g_key, ckey, NULL, err, sizeof(err));
	if (crc && !strstr(err, g_key))
		abort(); /* the client's refusal names the file */
	terr[0] = derr[0] = '\0';
	trc = tfd_config_load(g_tfd, &tc, terr, sizeof(terr));
	if (trc && !strstr(terr, g_tfd))
		abort();
	drc = tf_dp_config_load(g_dp, &dc, derr, sizeof(derr));
	if (drc && !strstr(derr, g_dp))
		abort();
	if (crc == 0) {
		if (trc || drc) {
			fprintf(stderr,
				"keyfile: the client accepts this key file, %s refuses it: %s\n",
				trc ? "tokfabd" : "tokfab-dp", trc ? terr : derr);
			abort();
		}
		if (tc->n_tenants != 1 || tc->tenants[0].key_len != TF_PROTO_KEY_LEN ||
		    memcmp(tc->tenants[0].key, ckey, TF_PROTO_KEY_LEN) || dc.ntenants != 1 ||
		    dc.tenants[0].key_len != TF_PROTO_KEY_LEN ||
		    memcmp(dc.tenants[0].key, ckey, TF_PROTO_KEY_LEN))
			abort(); /* a different key from the same file */
	}
	if (trc == 0)
		tfd_config_free(tc);
	if (drc == 0)
		tf_dp_config_free(&dc);
	return 0;
}
