/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-accel command line: every bad argument says what is wrong and what to do. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

void
agent_usage(void)
{
	fprintf(stderr,
		"usage: tokfab-accel --listen shm:NAME|rdma:ADDR:PORT [--listen ...]\n"
		"                    --model PATH --tokenizer PATH [--model-id N] [--model-name "
		"S]\n"
		"                    [--model PATH --tokenizer PATH ...] [options]\n"
		"  --listen URI         where cards connect (repeatable, up to %d)\n"
		"  --model PATH         llama2.c checkpoint; starts a model entry (up to %d)\n"
		"  --tokenizer PATH     tokenizer.bin of the model before it\n"
		"  --model-id N         model id cards ask for (default: 1, 2, ... in order)\n"
		"  --model-name S       name in the status block (default: file name)\n"
		"  --name ID            accelerator id reported to the card (default: host name)\n"
		"  --cost-per-hour X    operator cost of this accelerator per hour (e.g. 2.50)\n"
		"  --threads N          matrix-product threads per model (default: online CPUs)\n"
		"  --max-batch N        sequences per engine step (default 32)\n"
		"  --kv-blocks N        KV-cache blocks per model (default: max-batch full "
		"sequences)\n"
		"  --max-inflight N     requests each card may have in flight (default 256)\n"
		"  --in-ring BYTES      input ring per card, power of two (default 4194304)\n"
		"  --precision fp32|int8|bf16   weight precision (default fp32)\n"
		"  --kernels auto|generic|avx2|avx512|avx512bf16|amx\n"
		"  --drain-timeout SEC  on SIGTERM, finish in-flight work for this long (default "
		"30)\n"
		"  -n, --check          load the models, print what would be served, exit\n"
		"  -v, --verbose\n",
		AGENT_MAX_LISTEN, AGENT_MAX_MODELS);
}

static int
bad(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "tokfab-accel: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n");
	return -1;
}

static int
num(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || !*s || *end || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "tokfab-accel: %s '%s' is not a whole number between %u and %u\n",
			opt, s, lo, hi);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
readable(const char *opt, const char *path)
{
	if (access(path, R_OK) == 0)
		return 0;
	fprintf(stderr,
		"tokfab-accel: %s '%s': %s (give the path of an existing, readable "
		"file)\n",
		opt, path, strerror(errno));
	return -1;
}

enum {
	O_LISTEN = 256,
	O_MODEL,
	O_TOKENIZER,
	O_MODEL_ID,
	O_MODEL_NAME,
	O_NAME,
	O_COST,
	O_THREADS,
	O_MAX_BATCH,
	O_KV_BLOCKS,
	O_MAX_INFLIGHT,
	O_IN_RING,
	O_PRECISION,
	O_KERNELS,
	O_DRAIN,
};

int
agent_args_parse(int argc, char **argv, struct agent_cfg *cfg)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "model", required_argument, NULL, O_MODEL },
		{ "tokenizer", required_argument, NULL, O_TOKENIZER },
		{ "model-id", required_argument, NULL, O_MODEL_ID },
		{ "model-name", required_argument, NULL, O_MODEL_NAME },
		{ "name", required_argument, NULL, O_NAME },
		{ "cost-per-hour", required_argument, NULL, O_COST },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "max-batch", required_argument, NULL, O_MAX_BATCH },
		{ "kv-blocks", required_argument, NULL, O_KV_BLOCKS },
		{ "max-inflight", required_argument, NULL, O_MAX_INFLIGHT },
		{ "in-ring", required_argument, NULL, O_IN_RING },
		{ "precision", required_argument, NULL, O_PRECISION },
		{ "kernels", required_argument, NULL, O_KERNELS },
		{ "drain-timeout", required_argument, NULL, O_DRAIN },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent_model_cfg *m = NULL;
	int ch, explicit_id[AGENT_MAX_MODELS] = { 0 };
	uint32_t v;

	memset(cfg, 0, sizeof(*cfg));
	cfg->max_inflight = 256;
	cfg->drain_ms = 30000;
	cfg->precision = TF_ENGINE_FP32;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":nvh", lo, NULL)) != -1) {
		switch (ch) {
		case O_LISTEN:
			if (cfg->nlisten == AGENT_MAX_LISTEN)
				return bad("more than %s --listen addresses", "4", "");
			if (strncmp(optarg, "shm:", 4) && strncmp(optarg, "rdma:", 5))
				return bad("--listen '%s' is neither shm:NAME nor rdma:ADDR:PORT%s",
					   optarg, "");
			cfg->listen[cfg->nlisten++] = optarg;
			break;
		case O_MODEL:
			if (cfg->nmodels == AGENT_MAX_MODELS)
				return bad("more than %s --model entries", "8", "");
			if (readable("--model", optarg))
				return -1;
			m = &cfg->models[cfg->nmodels++];
			m->path = optarg;
			break;
		case O_TOKENIZER:
			if (!m)
				return bad(
					"--tokenizer '%s' comes before any --model: give --model "
					"PATH first%s",
					optarg, "");
			if (m->tokenizer)
				return bad("model '%s' has two --tokenizer options (second: '%s')",
					   m->path, optarg);
			if (readable("--tokenizer", optarg))
				return -1;
			m->tokenizer = optarg;
			break;
		case O_MODEL_ID:
			if (!m)
				return bad("--model-id '%s' comes before any --model%s", optarg,
					   "");
			if (num("--model-id", optarg, 0, UINT32_MAX, &m->id))
				return -1;
			explicit_id[cfg->nmodels - 1] = 1;
			break;
		case O_MODEL_NAME:
			if (!m)
				return bad("--model-name '%s' comes before any --model%s", optarg,
					   "");
			if (!*optarg || strlen(optarg) >= sizeof(m->name))
				return bad("--model-name '%s' must be 1..27 characters%s", optarg,
					   "");
			strcpy(m->name, optarg);
			break;
		case O_NAME:
			if (!*optarg || strlen(optarg) >= sizeof(cfg->name))
				return bad("--name '%s' must be 1..31 characters%s", optarg, "");
			strcpy(cfg->name, optarg);
			break;
		case O_COST: {
			char *end;
			double d;

			errno = 0;
			d = strtod(optarg, &end);
			if (errno || !*optarg || *end || !isfinite(d) || d < 0 || d > 4e6)
				return bad("--cost-per-hour '%s' is not a number between 0 and "
					   "4000000%s",
					   optarg, "");
			cfg->cost_per_hour_milli = (uint32_t)llround(d * 1000);
			break;
		}
		case O_THREADS:
			if (num("--threads", optarg, 1, 256, &cfg->threads))
				return -1;
			break;
		case O_MAX_BATCH:
			if (num("--max-batch", optarg, 1, 1024, &cfg->max_batch))
				return -1;
			break;
		case O_KV_BLOCKS:
			if (num("--kv-blocks", optarg, 1, UINT32_MAX, &cfg->kv_blocks))
				return -1;
			break;
		case O_MAX_INFLIGHT:
			if (num("--max-inflight", optarg, 1, 65536, &cfg->max_inflight))
				return -1;
			break;
		case O_IN_RING:
			if (num("--in-ring", optarg, TF_ACCEL_RING_MIN, TF_ACCEL_RING_MAX, &v))
				return -1;
			if (v & (v - 1))
				return bad("--in-ring %s is not a power of two (e.g. 4194304)%s",
					   optarg, "");
			cfg->in_ring = v;
			break;
		case O_PRECISION:
			if (!strcmp(optarg, "fp32"))
				cfg->precision = TF_ENGINE_FP32;
			else if (!strcmp(optarg, "int8"))
				cfg->precision = TF_ENGINE_INT8;
			else if (!strcmp(optarg, "bf16"))
				cfg->precision = TF_ENGINE_BF16;
			else
				return bad("--precision '%s' is neither fp32 nor int8 nor bf16%s",
					   optarg, "");
			break;
		case O_KERNELS:
			if (strcmp(optarg, "auto") && strcmp(optarg, "generic") &&
			    strcmp(optarg, "avx2") && strcmp(optarg, "avx512") &&
			    strcmp(optarg, "avx512bf16") && strcmp(optarg, "amx"))
				return bad("--kernels '%s' is not auto, generic, avx2, avx512, "
					   "avx512bf16 or amx%s",
					   optarg, "");
			cfg->kernels = optarg;
			break;
		case O_DRAIN:
			if (num("--drain-timeout", optarg, 0, 3600, &v))
				return -1;
			cfg->drain_ms = v * 1000;
			break;
		case 'n':
			cfg->check_only = 1;
			break;
		case 'v':
			cfg->verbose = 1;
			break;
		case 'h':
			agent_usage();
			exit(0);
		case ':':
			return bad("option '%s' needs a value%s", argv[optind - 1], "");
		default:
			return bad("unknown option '%s' (see --help)%s", argv[optind - 1], "");
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s' (options start with --)%s", argv[optind], "");
	if (!cfg->nmodels)
		return bad("no --model given: tokfab-accel needs at least one --model PATH "
			   "--tokenizer PATH%s%s",
			   "", "");
	if (!cfg->nlisten && !cfg->check_only)
		return bad("no --listen given: add --listen shm:NAME or --listen "
			   "rdma:ADDR:PORT%s%s",
			   "", "");
	for (int i = 0; i < cfg->nmodels; i++) {
		struct agent_model_cfg *mi = &cfg->models[i];
		const char *base;

		if (!mi->tokenizer)
			return bad("model '%s' has no --tokenizer: put --tokenizer PATH after its "
				   "--model%s",
				   mi->path, "");
		if (!explicit_id[i])
			mi->id = (uint32_t)i + 1;
		for (int k = 0; k < i; k++)
			if (cfg->models[k].id == mi->id)
				return bad("models '%s' and '%s' have the same model id: give "
					   "distinct --model-id values",
					   cfg->models[k].path, mi->path);
		if (!mi->name[0]) {
			base = strrchr(mi->path, '/');
			snprintf(mi->name, sizeof(mi->name), "%s", base ? base + 1 : mi->path);
			if (strrchr(mi->name, '.'))
				*strrchr(mi->name, '.') = '\0';
		}
	}
	if (!cfg->name[0] && gethostname(cfg->name, sizeof(cfg->name) - 1))
		strcpy(cfg->name, "accel");
	cfg->name[sizeof(cfg->name) - 1] = '\0';
	return 0;
}
