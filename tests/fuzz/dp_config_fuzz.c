/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: tokfab-dp's YAML configuration loader
 * (dataplane/config.c) on arbitrary bytes as the file. A key file it may name
 * (t.key) lies in a scratch folder. A refusal must name the file; an accepted
 * configuration must hold what the admin queue would accept from the host
 * (the file and the BAR configure the card through one path): every tenant,
 * model, accelerator and the batching, put in a submission entry, pass the
 * card's own check (lib/card check_aq.c).
 */
#include "card/check.h"
#include "dataplane/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64], g_path[128], g_key[128];

static void
cleanup(void)
{
	unlink(g_key);
	unlink(g_path);
	rmdir(g_dir);
}

static void
setup(void)
{
	FILE *f;

	snprintf(g_dir, sizeof(g_dir), "/tmp/tf-fuzz-dpcfg.%d", (int)getpid());
	mkdir(g_dir, 0700);
	snprintf(g_key, sizeof(g_key), "%s/t.key", g_dir);
	f = fopen(g_key, "w");
	if (f) {
		fputs("# a key\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		      f);
		fclose(f);
	}
	snprintf(g_path, sizeof(g_path), "%s/dp.yaml", g_dir);
	atexit(cleanup);
}

/* The structure as the payload of an admin entry must pass the card's check. */
static void
must_pass(uint16_t opcode, const void *obj, size_t len)
{
	struct tf_aq_sqe sqe;
	uint32_t detail = 0;
	int st;

	if (tf_aq_req_len(opcode) != (int)len || len > sizeof(sqe.payload))
		abort();
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = opcode;
	sqe.len = (uint32_t)len;
	memcpy(sqe.payload, obj, len);
	st = tf_aq_sqe_check(&sqe, &detail);
	if (st != TF_AQ_S_OK) {
		fprintf(stderr,
			"dp_config: the file gave %s that the admin queue refuses: %s at %u\n",
			tf_aq_opcode_name(opcode), tf_aq_status_name((uint16_t)st), detail);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_dp_config cfg;
	char err[1024];
	FILE *f;

	if (!g_path[0])
		setup();
	if (size > 65536)
		return 0;
	f = fopen(g_path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	err[0] = '\0';
	if (tf_dp_config_load(g_path, &cfg, err, sizeof(err)) == 0) {
		if ((cfg.ntenants && !cfg.tenants) || (cfg.nmodels && !cfg.models) ||
		    (cfg.naccels && !cfg.accels))
			abort();
		for (uint32_t i = 0; i < cfg.ntenants; i++)
			must_pass(TF_AQ_SET_TENANT, &cfg.tenants[i], sizeof(cfg.tenants[i]));
		for (uint32_t i = 0; i < cfg.nmodels; i++)
			must_pass(TF_AQ_SET_MODEL, &cfg.models[i], sizeof(cfg.models[i]));
		for (uint32_t i = 0; i < cfg.naccels; i++)
			must_pass(TF_AQ_SET_ACCEL, &cfg.accels[i], sizeof(cfg.accels[i]));
		must_pass(TF_AQ_SET_BATCHING, &cfg.batching, sizeof(cfg.batching));
		tf_dp_config_free(&cfg);
	} else if (!strstr(err, g_path) || !strchr(err, ':')) {
		fprintf(stderr, "dp_config: refusal without the file's name: %s\n", err);
		abort();
	}
	return 0;
}
