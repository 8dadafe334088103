/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-mkmodel: writes a llama2.c checkpoint of a chosen shape with
 * deterministic pseudo-random weights, and a matching tokenizer.bin, so tests
 * and the demo need nothing downloaded.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "gen.h"

static const struct preset {
	const char *name;
	struct tf_mkmodel_shape shape;
	const char *what;
} g_presets[] = {
	{ "stories15m", { 288, 768, 6, 6, 6, 32000, 256, 0, 1 }, "TinyStories-15M shape" },
	{ "stories42m", { 512, 1376, 8, 8, 8, 32000, 1024, 0, 1 }, "TinyStories-42M shape" },
	{ "tiny", { 64, 192, 2, 4, 2, 512, 128, 0, 1 }, "small GQA model for tests" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: tokfab-mkmodel [--preset NAME] [--dim N] [--hidden N] [--layers N]\n"
		   "                      [--heads N] [--kv-heads N] [--vocab N] [--seq-len N]\n"
		   "                      [--untied] [--seed N] -o MODEL.bin [-t TOKENIZER.bin]\n"
		   "Writes a llama2.c (legacy fp32) checkpoint with deterministic random weights\n"
		   "and a matching tokenizer. Presets (flags after --preset override them):\n");
	for (size_t i = 0; i < sizeof(g_presets) / sizeof(g_presets[0]); i++) {
		const struct tf_mkmodel_shape *s = &g_presets[i].shape;

		fprintf(f, "  %-11s dim %u hidden %u layers %u heads %u/%u vocab %u seq %u: %s\n",
			g_presets[i].name, s->dim, s->hidden_dim, s->n_layers, s->n_heads,
			s->n_kv_heads, s->vocab_size, s->seq_len, g_presets[i].what);
	}
}

static uint32_t
num(const char *opt, const char *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 0);
	if (errno || *end || n == 0 || n > UINT32_MAX)
		tf_fatalx("%s %s: expected a positive integer", opt, v);
	return (uint32_t)n;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "preset", required_argument, NULL, 'p' },
		{ "dim", required_argument, NULL, 'd' },
		{ "hidden", required_argument, NULL, 'H' },
		{ "layers", required_argument, NULL, 'l' },
		{ "heads", required_argument, NULL, 'n' },
		{ "kv-heads", required_argument, NULL, 'k' },
		{ "vocab", required_argument, NULL, 'v' },
		{ "seq-len", required_argument, NULL, 's' },
		{ "untied", no_argument, NULL, 'u' },
		{ "seed", required_argument, NULL, 'S' },
		{ "output", required_argument, NULL, 'o' },
		{ "tokenizer", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tf_mkmodel_shape s = g_presets[0].shape;
	const char *model = NULL, *tok = NULL;
	char err[512];
	int c;

	tf_log_init("tokfab-mkmodel", TF_LOG_INFO, 0);
	while ((c = getopt_long(argc, argv, "o:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': {
			size_t i;

			for (i = 0; i < sizeof(g_presets) / sizeof(g_presets[0]); i++)
				if (strcmp(optarg, g_presets[i].name) == 0)
					break;
			if (i == sizeof(g_presets) / sizeof(g_presets[0]))
				tf_fatalx("unknown preset %s (see --help)", optarg);
			s = g_presets[i].shape;
			break;
		}
		case 'd':
			s.dim = num("--dim", optarg);
			break;
		case 'H':
			s.hidden_dim = num("--hidden", optarg);
			break;
		case 'l':
			s.n_layers = num("--layers", optarg);
			break;
		case 'n':
			s.n_heads = num("--heads", optarg);
			break;
		case 'k':
			s.n_kv_heads = num("--kv-heads", optarg);
			break;
		case 'v':
			s.vocab_size = num("--vocab", optarg);
			break;
		case 's':
			s.seq_len = num("--seq-len", optarg);
			break;
		case 'u':
			s.untied = 1;
			break;
		case 'S': {
			char *end;

			errno = 0;
			s.seed = strtoull(optarg, &end, 0);
			if (errno || *end)
				tf_fatalx("--seed %s: expected an integer", optarg);
			break;
		}
		case 'o':
			model = optarg;
			break;
		case 't':
			tok = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (!model && !tok)) {
		usage(stderr);
		return 2;
	}
	if (tf_mkmodel_write(&s, model, tok, err, sizeof(err)))
		tf_fatalx("%s", err);
	printf("dim %u hidden %u layers %u heads %u kv_heads %u vocab %u%s seq_len %u seed %" PRIu64
	       "%s%s%s%s\n",
	       s.dim, s.hidden_dim, s.n_layers, s.n_heads, s.n_kv_heads, s.vocab_size,
	       s.untied ? " (untied)" : "", s.seq_len, s.seed, model ? " -> " : "",
	       model ? model : "", tok ? " + " : "", tok ? tok : "");
	return 0;
}
