/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-bench command line: every option checked, every error explained. */
#include "bench/bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: tokfab-bench --server ADDR[:PORT] --tenant ID[-LAST]:KEYFILE [...] "
		"[options]\n"
		"Load generator for a tokfab card (wire protocol v1 over UDP).\n"
		"Who:\n"
		"  -s, --server ADDR[:PORT]   the card (default port 7480)\n"
		"  -t, --tenant SPEC          ID:KEYFILE or FIRST-LAST:KEYFILE (repeatable); a "
		"'%%u'\n"
		"                             in KEYFILE is replaced by the tenant id (one key "
		"each)\n"
		"      --key-id N             key id of every tenant's key (0)\n"
		"Load (closed loop unless --rate):\n"
		"  -c, --concurrency N        requests kept in flight (closed loop, default 8)\n"
		"  -r, --rate R               Poisson arrivals, R requests/s (open loop)\n"
		"  -d, --duration S           measured seconds (10); with --requests, whichever "
		"first\n"
		"  -n, --requests N           stop after N requests were sent\n"
		"      --warmup S             seconds before the measurement starts (0)\n"
		"      --drain S              wait at most S s for requests in flight at the end\n"
		"                             (default: the request timeout)\n"
		"      --max-outstanding N    open loop: arrivals beyond N in flight are not sent\n"
		"                             and counted (default 10000)\n"
		"      --max-clients N        tenants with an open socket at once (4096)\n"
		"Requests:\n"
		"  -m, --model N              model id (1)\n"
		"      --prompt-len DIST      prompt tokens (16); DIST: N, A-B, uniform:A-B,\n"
		"                             exp:MEAN, exp:MEAN,MAX\n"
		"      --max-tokens DIST      max new tokens (32)\n"
		"      --vocab N              prompt ids drawn from [3, N) (256)\n"
		"      --prompt-text TEXT     send TEXT as the prompt instead of random ids\n"
		"      --temperature T        0..10 (0.8); --top-p P 0.0001..1 (0.95)\n"
		"      --seed N               base seed of prompts and sampling (1)\n"
		"      --priority 0-7         (3);  --text: ask for token text too\n"
		"      --timeout S            per request (60); --retries N (6); --rto-ms N (250)\n"
		"      --dgram BYTES          datagram size (1400)\n"
		"Output:\n"
		"      --json FILE            results as JSON (percentiles, histograms, series)\n"
		"      --plot FILE.png        latency percentiles and throughput over time "
		"(gnuplot)\n"
		"      --csv FILE             the per-second series as CSV\n"
		"      --log FILE             one JSON line per finished request\n"
		"      --api URL              tokfabd's API (e.g. http://127.0.0.1:8470): "
		"accelerator\n"
		"      --api-token FILE       utilisation, cost per 1k tokens, ledger usage\n"
		"      --progress S           progress line every S s on stderr (1; 0: none)\n"
		"  -q, --quiet                no progress line\n"
		"      --label TEXT           a name for this run in the JSON\n"
		"Exit: 0 the run completed (whatever the requests' outcomes; see the report),\n"
		"      1 it could not run, 2 bad arguments.\n");
}

static int
bad(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "tokfab-bench: %s '%s': %s (see --help)\n", opt, val, want);
	return -1;
}

static int
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end, want[96];

	snprintf(want, sizeof(want), "expected an integer from %llu to %llu",
		 (unsigned long long)min, (unsigned long long)max);
	if (*s < '0' || *s > '9')
		return bad(opt, s, want);
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return bad(opt, s, want);
	*out = v;
	return 0;
}

static int
parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (parse_u64(opt, s, min, max, &v))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int
parse_dbl(const char *opt, const char *s, double min, double max, bool min_open, double *out)
{
	char *end, want[96];
	double v;

	snprintf(want, sizeof(want), "expected a number %s %g and <= %g",
		 min_open ? ">" : ">=", min, max);
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || (min_open && v == min) ||
	    v > max)
		return bad(opt, s, want);
	*out = v;
	return 0;
}

static int
parse_tenant(struct bench_opts *o, const char *s)
{
	struct tf_tenant_spec sp, *n;
	char err[128];

	if (tf_tenant_spec_parse(s, &sp, err, sizeof(err)))
		return bad("--tenant", s, err);
	n = realloc(o->specs, (o->nspecs + 1) * sizeof(*n));
	if (!n)
		return bad("--tenant", s, "out of memory");
	o->specs = n;
	o->specs[o->nspecs++] = sp;
	return 0;
}

enum {
	O_KEY_ID = 256,
	O_WARMUP,
	O_DRAIN,
	O_MAX_OUT,
	O_MAX_CLIENTS,
	O_PROMPT_LEN,
	O_MAX_TOKENS,
	O_VOCAB,
	O_PROMPT_TEXT,
	O_TEMP,
	O_TOP_P,
	O_SEED,
	O_PRIO,
	O_TEXT,
	O_TIMEOUT,
	O_RETRIES,
	O_RTO,
	O_DGRAM,
	O_JSON,
	O_PLOT,
	O_CSV,
	O_LOG,
	O_API,
	O_API_TOKEN,
	O_PROGRESS,
	O_LABEL,
};

int
bench_args_parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "tenant", required_argument, NULL, 't' },
		{ "key-id", required_argument, NULL, O_KEY_ID },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "drain", required_argument, NULL, O_DRAIN },
		{ "max-outstanding", required_argument, NULL, O_MAX_OUT },
		{ "max-clients", required_argument, NULL, O_MAX_CLIENTS },
		{ "model", required_argument, NULL, 'm' },
		{ "prompt-len", required_argument, NULL, O_PROMPT_LEN },
		{ "max-tokens", required_argument, NULL, O_MAX_TOKENS },
		{ "vocab", required_argument, NULL, O_VOCAB },
		{ "prompt-text", required_argument, NULL, O_PROMPT_TEXT },
		{ "temperature", required_argument, NULL, O_TEMP },
		{ "top-p", required_argument, NULL, O_TOP_P },
		{ "seed", required_argument, NULL, O_SEED },
		{ "priority", required_argument, NULL, O_PRIO },
		{ "text", no_argument, NULL, O_TEXT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "retries", required_argument, NULL, O_RETRIES },
		{ "rto-ms", required_argument, NULL, O_RTO },
		{ "dgram", required_argument, NULL, O_DGRAM },
		{ "json", required_argument, NULL, O_JSON },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "csv", required_argument, NULL, O_CSV },
		{ "log", required_argument, NULL, O_LOG },
		{ "api", required_argument, NULL, O_API },
		{ "api-token", required_argument, NULL, O_API_TOKEN },
		{ "progress", required_argument, NULL, O_PROGRESS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "label", required_argument, NULL, O_LABEL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	uint32_t u32;
	double d;
	int ch, have_conc = 0, have_drain = 0, have_maxout = 0;

	memset(o, 0, sizeof(*o));
	o->model_id = 1;
	o->mode = BENCH_CLOSED;
	o->concurrency = 8;
	o->duration_s = 10;
	o->prompt_len = (struct tf_dist){ TF_DIST_FIXED, 16, 0 };
	o->max_tokens = (struct tf_dist){ TF_DIST_FIXED, 32, 0 };
	o->vocab = 256;
	o->temperature = 800;
	o->top_p = 9500;
	o->seed = 1;
	o->priority = TF_PROTO_DEFAULT_PRIORITY;
	o->timeout_ms = 60000;
	o->retries = 6;
	o->rto_ms = 250;
	o->dgram = TF_PROTO_DEFAULT_DGRAM;
	o->max_outstanding = 10000;
	o->max_clients = 4096;
	o->progress_s = 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:t:c:r:d:n:m:qh", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->server = optarg;
			break;
		case 't':
			if (parse_tenant(o, optarg))
				return -1;
			break;
		case O_KEY_ID:
			if (parse_u32("--key-id", optarg, 0, 255, &u32))
				return -1;
			o->key_id = (uint8_t)u32;
			break;
		case 'c':
			if (parse_u32("--concurrency", optarg, 1, 1u << 20, &o->concurrency))
				return -1;
			have_conc = 1;
			break;
		case 'r':
			if (parse_dbl("--rate", optarg, 0, 1e7, true, &o->rate))
				return -1;
			o->mode = BENCH_OPEN;
			break;
		case 'd':
			if (parse_dbl("--duration", optarg, 0, 86400, true, &o->duration_s))
				return -1;
			break;
		case 'n':
			if (parse_u64("--requests", optarg, 1, UINT64_MAX / 2, &o->max_requests))
				return -1;
			break;
		case O_WARMUP:
			if (parse_dbl("--warmup", optarg, 0, 3600, false, &o->warmup_s))
				return -1;
			break;
		case O_DRAIN:
			if (parse_dbl("--drain", optarg, 0, 3600, false, &o->drain_s))
				return -1;
			have_drain = 1;
			break;
		case O_MAX_OUT:
			if (parse_u32("--max-outstanding", optarg, 1, 1u << 20,
				      &o->max_outstanding))
				return -1;
			have_maxout = 1;
			break;
		case O_MAX_CLIENTS:
			if (parse_u32("--max-clients", optarg, 1, 1u << 20, &o->max_clients))
				return -1;
			break;
		case 'm':
			if (parse_u32("--model", optarg, 1, UINT32_MAX, &o->model_id))
				return -1;
			break;
		case O_PROMPT_LEN:
			if (tf_dist_parse(optarg, TF_PROTO_MAX_PROMPT / 4, &o->prompt_len, err,
					  sizeof(err)))
				return bad("--prompt-len", optarg, err);
			break;
		case O_MAX_TOKENS:
			if (tf_dist_parse(optarg, 1u << 20, &o->max_tokens, err, sizeof(err)))
				return bad("--max-tokens", optarg, err);
			break;
		case O_VOCAB:
			if (parse_u32("--vocab", optarg, 4, 1u << 24, &o->vocab))
				return -1;
			break;
		case O_PROMPT_TEXT:
			if (!optarg[0] || strlen(optarg) > TF_PROTO_MAX_PROMPT)
				return bad("--prompt-text", optarg,
					   "expected 1 to 262144 bytes of text");
			o->prompt_text = optarg;
			break;
		case O_TEMP:
			if (parse_dbl("--temperature", optarg, 0, 10, false, &d))
				return -1;
			o->temperature = (uint16_t)lround(d * 1000);
			break;
		case O_TOP_P:
			if (parse_dbl("--top-p", optarg, 0.0001, 1, false, &d))
				return -1;
			o->top_p = (uint16_t)lround(d * 10000);
			break;
		case O_SEED:
			if (parse_u64("--seed", optarg, 0, UINT64_MAX, &o->seed))
				return -1;
			break;
		case O_PRIO:
			if (parse_u32("--priority", optarg, 0, TF_PROTO_MAX_PRIORITY, &u32))
				return -1;
			o->priority = (uint8_t)u32;
			break;
		case O_TEXT:
			o->want_text = true;
			break;
		case O_TIMEOUT:
			if (parse_dbl("--timeout", optarg, 0, 86400, true, &d))
				return -1;
			o->timeout_ms = (uint32_t)ceil(d * 1000);
			break;
		case O_RETRIES:
			if (parse_u32("--retries", optarg, 0, 100, &o->retries))
				return -1;
			break;
		case O_RTO:
			if (parse_u32("--rto-ms", optarg, 1, 60000, &o->rto_ms))
				return -1;
			break;
		case O_DGRAM:
			if (parse_u32("--dgram", optarg,
				      TF_PROTO_HDR_LEN + TF_PROTO_MAC_LEN + TF_PROTO_REQUEST_FIXED +
					      64,
				      TF_PROTO_MAX_DGRAM, &o->dgram))
				return -1;
			break;
		case O_JSON:
			o->json_path = optarg;
			break;
		case O_PLOT:
			o->plot_path = optarg;
			break;
		case O_CSV:
			o->csv_path = optarg;
			break;
		case O_LOG:
			o->log_path = optarg;
			break;
		case O_API:
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
				return bad("--api", optarg,
					   "expected http://HOST:PORT or https://HOST:PORT "
					   "(tokfabd's API)");
			if (strlen(optarg) > 400)
				return bad("--api", optarg, "URL too long");
			o->api_url = optarg;
			break;
		case O_API_TOKEN:
			o->api_token_path = optarg;
			break;
		case O_PROGRESS:
			if (parse_dbl("--progress", optarg, 0, 3600, false, &o->progress_s))
				return -1;
			break;
		case 'q':
			o->quiet = true;
			break;
		case O_LABEL:
			o->label = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			fprintf(stderr, "tokfab-bench: see --help for the options\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tokfab-bench: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return -1;
	}
	if (!o->server) {
		fprintf(stderr, "tokfab-bench: --server ADDR[:PORT] is required (the card)\n");
		return -1;
	}
	if (!o->nspecs) {
		fprintf(stderr, "tokfab-bench: at least one --tenant ID:KEYFILE is required\n");
		return -1;
	}
	if (o->mode == BENCH_OPEN && have_conc) {
		fprintf(stderr, "tokfab-bench: give --concurrency (closed loop) or --rate (open "
				"loop), not both\n");
		return -1;
	}
	if (o->mode == BENCH_CLOSED) {
		if (have_maxout && o->max_outstanding < o->concurrency) {
			fprintf(stderr,
				"tokfab-bench: --max-outstanding %u is below --concurrency %u\n",
				o->max_outstanding, o->concurrency);
			return -1;
		}
		o->max_outstanding = o->concurrency;
	}
	if (!!o->api_url != !!o->api_token_path) {
		fprintf(stderr, "tokfab-bench: --api and --api-token go together (the API needs "
				"its bearer token file)\n");
		return -1;
	}
	if (!o->prompt_text && o->prompt_len.kind == TF_DIST_FIXED && o->prompt_len.a == 0) {
		fprintf(stderr, "tokfab-bench: --prompt-len must be at least 1\n");
		return -1;
	}
	if (!have_drain)
		o->drain_s = o->timeout_ms / 1000.0 + 1;
	return 0;
}

void
bench_opts_free(struct bench_opts *o)
{
	free(o->specs);
	o->specs = NULL;
}
