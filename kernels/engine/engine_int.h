/* SPDX-License-Identifier: BSD-3-Clause */
/* libtfengine internals shared by engine.c (API, setup) and sched.c (steps). */
#ifndef TF_ENGINE_INT_H
#define TF_ENGINE_INT_H

#include <stdint.h>

#include "engine.h"
#include "forward.h"
#include "kern.h"
#include "kvcache.h"
#include "model.h"
#include "pool.h"
#include "sample.h"
#include "tokenizer.h"

enum tf_seq_state {
	TF_SEQ_FREE = 0, /* slot unused */
	TF_SEQ_QUEUED, /* waiting for a batch slot and KV blocks */
	TF_SEQ_RUNNING, /* in the batch: prefilling, then decoding */
	TF_SEQ_FINISHING, /* ended; its FINISHED event is not delivered yet */
};

struct tf_seq {
	enum tf_seq_state state;
	uint64_t cookie;
	int32_t priority;
	uint64_t arrival; /* admission order among equal priorities */
	int32_t *prompt; /* (max prompt = seq_len) ids, owned by the slot */
	uint32_t prompt_len;
	uint32_t max_new; /* after clamping to the context */
	int clamped; /* max_new was cut by seq_len: end reason LENGTH */
	float temperature, top_p;
	uint64_t rng;
	uint32_t prefilled; /* prompt positions in the KV cache */
	uint32_t generated; /* TOKEN events produced */
	int32_t last; /* last sampled token: the next decode input */
	uint32_t *blocks; /* block table: (seq_len / block_size rounded up) ids */
	uint32_t n_blocks; /* blocks held */
	uint32_t chunk; /* prompt tokens in the step being run */
};

struct tf_engine {
	struct tf_engine_config cfg; /* with defaults filled in, paths not kept */
	struct tf_engine_model_info info;
	struct tf_model model;
	struct tf_tokenizer tok;
	const struct tf_kern_ops *ops;
	struct tf_pool *pool;
	struct tf_kv kv;
	struct tf_runner run;

	struct tf_seq *seqs; /* max_seqs slots */
	const uint32_t **tables; /* per slot: seqs[i].blocks */
	uint32_t n_running, n_queued;
	uint64_t arrivals;

	struct tf_fwd_row *rows; /* step_tokens */
	uint32_t *logit_seq; /* max_batch: slot of each logits row */
	int32_t *sampled; /* max_batch: token sampled from each logits row */
	uint32_t *order; /* max_seqs: running slots by priority */
	struct tf_prob_index *scratch; /* (threads, vocab_size) */
	uint32_t *ev_slot; /* per ring entry: slot a FINISHED event frees, or UINT32_MAX */

	struct tf_engine_event *evq; /* ring of ev_cap */
	uint32_t ev_cap, ev_head, ev_count;

	struct tf_engine_stats st;
};

/* sched.c */
int tf_sched_step(struct tf_engine *e);
void tf_sched_finish(struct tf_engine *e, struct tf_seq *s, enum tf_engine_finish_reason why);
void tf_sched_event(struct tf_engine *e, const struct tf_engine_event *ev, uint32_t slot);

#endif /* TF_ENGINE_INT_H */
