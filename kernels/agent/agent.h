/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-accel, the accelerator agent: serves one or more models (one
 * libtfengine instance each) to cards connected over libtfxport, in one
 * thread: accept, poll the input rings, add sequences to the engines
 * (continuous batching), stream every step's tokens back, publish load and
 * health, return credits.
 */
#ifndef TF_AGENT_H
#define TF_AGENT_H

#include <stdint.h>

#include "kernels/engine/engine.h"
#include "dataplane/xport/xport.h"

#define AGENT_MAX_MODELS TF_ACCEL_MAX_MODELS
#define AGENT_MAX_LISTEN 4
#define AGENT_MAX_CONNS 16

struct agent_model_cfg {
	const char *path;
	const char *tokenizer;
	uint32_t id;
	char name[28];
};

struct agent_cfg {
	const char *listen[AGENT_MAX_LISTEN];
	int nlisten;
	struct agent_model_cfg models[AGENT_MAX_MODELS];
	int nmodels;
	char name[32];
	uint32_t cost_per_hour_milli;
	uint32_t threads, max_batch, kv_blocks, max_inflight, in_ring;
	uint32_t drain_ms;
	enum tf_engine_precision precision;
	const char *kernels;
	int verbose;
	int check_only; /* -n: load, report, exit */
};

/* args.c: 0, or -1 after printing what was wrong and what to do. */
int agent_args_parse(int argc, char **argv, struct agent_cfg *cfg);
void agent_usage(void);

/* serve.c: runs until *stop; returns the exit status. */
int agent_serve(const struct agent_cfg *cfg, volatile int *stop, volatile int *hard_stop);

#endif /* TF_AGENT_H */
