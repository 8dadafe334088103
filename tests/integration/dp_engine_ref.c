/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_engine_ref: test tool for tests/integration/test_dp_*.sh. Runs the
 * engine (libtfengine) alone on one prompt of token ids with the sampling
 * parameters a request carries, and prints the generated ids comma-separated,
 * so a test can compare what came through the card with what the engine
 * produces for the same seed.
 *   dp_engine_ref MODEL TOKENIZER IDS(1,2,3) MAX_NEW TEMP_MILLI TOP_P_1E4 SEED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/engine/engine.h"

int
main(int argc, char **argv)
{
	struct tf_engine_config cfg = { .threads = 1, .max_batch = 1 };
	struct tf_engine_seq_params p = { .cookie = 1 };
	struct tf_engine_event ev[64];
	struct tf_engine *e;
	int32_t ids[4096];
	uint32_t n = 0, out = 0;
	char err[256], *s, *tok;

	if (argc != 8) {
		fprintf(stderr, "usage: dp_engine_ref MODEL TOKENIZER IDS MAX_NEW TEMP_MILLI "
				"TOP_P_1E4 SEED\n");
		return 2;
	}
	cfg.checkpoint_path = argv[1];
	cfg.tokenizer_path = argv[2];
	s = strdup(argv[3]);
	for (tok = strtok(s, ","); tok && n < 4096; tok = strtok(NULL, ","))
		ids[n++] = (int32_t)strtol(tok, NULL, 0);
	free(s);
	p.prompt = ids;
	p.prompt_len = n;
	p.max_new_tokens = (uint32_t)strtoul(argv[4], NULL, 0);
	p.temperature = (float)strtoul(argv[5], NULL, 0) / 1000.0f;
	p.top_p = (float)strtoul(argv[6], NULL, 0) / 10000.0f;
	p.seed = strtoull(argv[7], NULL, 0);
	if (tf_engine_create(&cfg, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "dp_engine_ref: %s\n", err);
		return 1;
	}
	if (tf_engine_seq_add(e, &p) < 0) {
		fprintf(stderr, "dp_engine_ref: the engine refused the sequence\n");
		tf_engine_destroy(e);
		return 1;
	}
	while (!tf_engine_idle(e)) {
		int k = tf_engine_step(e, ev, sizeof(ev) / sizeof(ev[0]));

		if (k < 0)
			break;
		for (int i = 0; i < k; i++)
			if (ev[i].type == TF_ENGINE_EV_TOKEN)
				printf("%s%d", out++ ? "," : "", ev[i].token);
	}
	printf("\n");
	tf_engine_destroy(e);
	return 0;
}
