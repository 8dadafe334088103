/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: tokfabd's configuration loader on arbitrary bytes as the YAML
 * file (the key and token files it names exist in a scratch directory). It
 * must refuse with a message or accept a configuration whose invariants hold.
 */
#include "tokfabd/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64], g_cfg[128];

/* The scratch folder goes when the fuzzer exits (it left one per run behind). */
static void
cleanup(void)
{
	char p[192];

	for (const char *n = "token\0k.key\0c.yaml\0"; *n; n += strlen(n) + 1) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, n);
		unlink(p);
	}
	rmdir(g_dir);
}

static void
setup(void)
{
	char p[192];
	FILE *f;

	snprintf(g_dir, sizeof(g_dir), "/tmp/tf-fuzz-cfg.%d", (int)getpid());
	mkdir(g_dir, 0700);
	snprintf(p, sizeof(p), "%s/token", g_dir);
	f = fopen(p, "w");
	if (f) {
		fputs("0123456789abcdef0123456789abcdef\n", f);
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/k.key", g_dir);
	f = fopen(p, "w");
	if (f) {
		fputs("00112233445566778899aabbccddeeff\n", f);
		fclose(f);
	}
	snprintf(g_cfg, sizeof(g_cfg), "%s/c.yaml", g_dir);
	atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfd_config *cfg = NULL;
	char err[1024];
	FILE *f;

	if (!g_cfg[0])
		setup();
	f = fopen(g_cfg, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (tfd_config_load(g_cfg, &cfg, err, sizeof(err)) == 0) {
		for (uint32_t i = 0; i < cfg->n_tenants; i++)
			if (cfg->tenants[i].key_len < TF_KEY_MIN || cfg->tenants[i].id == 0 ||
			    cfg->tenants[i].n_prices > TF_MAX_PRICES ||
			    cfg->tenants[i].budget_micro > TF_MONEY_MAX)
				abort();
		for (uint32_t i = 0; i < cfg->n_accels; i++)
			if (cfg->accels[i].n_models == 0 ||
			    cfg->accels[i].n_models > TF_MAX_ACCEL_MODELS)
				abort();
		tfd_config_free(cfg);
	} else if (strncmp(err, g_cfg, strlen(g_cfg)) != 0) {
		abort(); /* every refusal names the file */
	}
	return 0;
}
