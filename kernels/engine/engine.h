/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtfengine: the inference engine that tokfab-accel runs.
 *
 * A Llama-architecture decoder (RMSNorm, RoPE, multi-head / grouped-query
 * attention, SwiGLU) loaded from a llama2.c checkpoint plus its tokenizer.bin
 * (format: hwdocs/model-format.md). Sequences join and leave at every step
 * (continuous batching); the KV cache is paged; each step runs the prompt
 * chunks and one batched decode of every running sequence together.
 *
 * Threading: every function here must be called from one thread at a time
 * (the caller's loop). The engine runs its own worker pthreads inside
 * tf_engine_step() for the big matrix products.
 *
 * Errors: functions return 0 (or a count) on success and -errno on failure.
 *
 * Typical loop:
 *
 *	tf_engine_create(&cfg, &e, err, sizeof(err));
 *	n = tf_engine_tokenize(e, text, len, TF_ENGINE_TOK_BOS | TF_ENGINE_TOK_SPACE_PREFIX,
 *			       ids, cap);
 *	tf_engine_seq_add(e, &(struct tf_engine_seq_params){ .prompt = ids, ... });
 *	while (!tf_engine_idle(e)) {
 *		n = tf_engine_step(e, ev, tf_engine_event_cap(e));
 *		for each ev: TOKEN -> tf_engine_token_text(e, ev.token, &len)
 *			     FINISHED -> usage (ev.prompt_tokens, ev.completion_tokens)
 *	}
 *	tf_engine_destroy(e);
 */
#ifndef TF_ENGINE_H
#define TF_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tf_engine;

/* Weight precision the matrix products run in. */
enum tf_engine_precision {
	TF_ENGINE_FP32 = 0, /* the checkpoint's fp32 weights (SIMD kernels: a packed copy) */
	TF_ENGINE_INT8 = 1, /* int8 with one fp32 scale per 32 weights, made at load */
	TF_ENGINE_BF16 = 2, /* bf16 weights (rounded at load) times bf16 activations,
			     * fp32 sums, bf16 KV cache: AMX tiles / AVX512-BF16 where
			     * the CPU has them (elsewhere the portable kernels:
			     * correct, slow); accuracy bound: hwdocs/model-format.md */
};

/* Everything tf_engine_create() needs; 0 / NULL picks the default named. */
struct tf_engine_config {
	const char *checkpoint_path; /* llama2.c .bin (legacy, version 0) */
	const char *tokenizer_path; /* llama2.c tokenizer.bin */
	enum tf_engine_precision precision;
	unsigned int threads; /* threads for matrix products; 0: online CPUs */
	unsigned int kv_block_size; /* positions per KV block; 0: 16 */
	unsigned int kv_pool_blocks; /* KV blocks in the pool; 0: max_batch full-length sequences */
	unsigned int max_batch; /* sequences running at once; 0: 32 */
	unsigned int max_seqs; /* running + queued sequences; 0: 4 * max_batch */
	unsigned int step_tokens; /* tokens per step (decode + prefill), >= max_batch;
					 * 0: max_batch + prefill_chunk */
	unsigned int prefill_chunk; /* prompt tokens per sequence per step; 0: 64 */
	const char *kernels; /* NULL or "auto": best for this CPU; else "generic",
					 * "avx2", "avx512", "avx512bf16", "amx"
					 * (-ENOTSUP if the CPU lacks it) */
};

/* What was loaded (tf_engine_model()). */
struct tf_engine_model_info {
	uint32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
	uint32_t shared_classifier; /* 1: output head tied to the token embedding */
	int32_t bos_id, eos_id; /* 1 and 2 (llama convention) */
	uint64_t weight_bytes_per_token; /* bytes of weights one decode step reads */
	const char *kernels; /* "generic", "avx2", "avx512", "avx512bf16" or "amx" */
	enum tf_engine_precision precision;
	uint32_t threads;
};

/*
 * Loads the checkpoint and tokenizer, checks every size against the files,
 * builds the KV pool and worker threads. On failure returns -errno and, when
 * err is not NULL, a message saying what was wrong and what to do.
 */
int tf_engine_create(const struct tf_engine_config *cfg, struct tf_engine **out, char *err,
		     size_t errlen);
void tf_engine_destroy(struct tf_engine *e);
const struct tf_engine_model_info *tf_engine_model(const struct tf_engine *e);

/* ---- tokenizer ---------------------------------------------------------- */

#define TF_ENGINE_TOK_BOS 0x1u /* start with the BOS id */
#define TF_ENGINE_TOK_SPACE_PREFIX \
	0x2u /* SentencePiece's dummy " " before non-empty text
					 * (how llama2.c / TinyStories models were trained) */

/*
 * BPE-encodes len bytes of text (any bytes: what no token covers goes through
 * the <0xXX> byte-fallback tokens). Returns the number of ids written, or
 * -ENOSPC when more than cap ids are needed, -EINVAL on bad arguments.
 */
int tf_engine_tokenize(struct tf_engine *e, const char *text, size_t len, unsigned int flags,
		       int32_t *ids, size_t cap);

/*
 * The bytes one token stands for (byte-fallback tokens give their one byte;
 * BOS/EOS give ""). Valid until tf_engine_destroy(); NUL-terminated, but a
 * byte token may itself be 0, so use *len. NULL for an id out of range.
 */
const char *tf_engine_token_text(const struct tf_engine *e, int32_t id, size_t *len);

/* ---- sequences ---------------------------------------------------------- */

struct tf_engine_seq_params {
	const int32_t *prompt; /* token ids (copied); each in [0, vocab_size) */
	uint32_t prompt_len; /* 1 .. seq_len */
	uint32_t max_new_tokens; /* >= 1; the context length may end it sooner */
	float temperature; /* 0: greedy (argmax); > 0: sample */
	float top_p; /* nucleus: 0 or >= 1 disables, else (0, 1) */
	uint64_t seed; /* per-request RNG seed: same seed, same tokens */
	int32_t priority; /* larger runs first (admission and step budget) */
	uint64_t cookie; /* caller's id, unique among live sequences */
};

/*
 * Queues a sequence. It starts running at a later tf_engine_step() when a
 * batch slot and KV blocks for its whole extent (prompt + max_new_tokens) are
 * free; higher priority first, then arrival order. Running sequences are
 * never failed for lack of KV memory.
 *   -EAGAIN  all max_seqs slots are taken: retry after a step finishes one
 *   -E2BIG   it needs more KV blocks than the whole pool has: never fits
 *   -EEXIST  the cookie is live already
 *   -EINVAL  bad params (empty prompt, prompt longer than seq_len, token out
 *            of range, max_new_tokens 0, temperature < 0 or NaN, ...)
 */
int tf_engine_seq_add(struct tf_engine *e, const struct tf_engine_seq_params *p);

/*
 * Ends a queued or running sequence now: its KV blocks are freed and a
 * FINISHED event with reason CANCELLED is delivered by the next
 * tf_engine_step(). -ENOENT when no live sequence has this cookie.
 */
int tf_engine_seq_cancel(struct tf_engine *e, uint64_t cookie);

/* ---- stepping ----------------------------------------------------------- */

enum tf_engine_event_type {
	TF_ENGINE_EV_TOKEN = 1, /* one generated token of a sequence */
	TF_ENGINE_EV_FINISHED = 2, /* the sequence ended; its cookie is free again */
};

enum tf_engine_finish_reason {
	TF_ENGINE_FINISH_EOS = 1, /* sampled EOS (or BOS, the TinyStories separator) */
	TF_ENGINE_FINISH_MAX_TOKENS = 2, /* produced max_new_tokens */
	TF_ENGINE_FINISH_LENGTH = 3, /* the model's context (seq_len) is full */
	TF_ENGINE_FINISH_CANCELLED = 4, /* tf_engine_seq_cancel() */
	TF_ENGINE_FINISH_ERROR = 5, /* the model produced non-finite logits */
};

struct tf_engine_event {
	uint64_t cookie;
	uint16_t type; /* enum tf_engine_event_type */
	uint16_t reason; /* FINISHED: enum tf_engine_finish_reason */
	int32_t token; /* TOKEN: the token id */
	uint32_t index; /* TOKEN: 0-based index among the completion tokens */
	uint32_t prompt_tokens; /* FINISHED: prompt tokens processed */
	uint32_t completion_tokens; /* FINISHED: TOKEN events delivered (EOS not counted) */
};

/*
 * Runs ONE scheduler step: admits queued sequences, runs prompt chunks and one
 * decode of every running sequence as one batch, samples, and returns the
 * number of events written to ev (or -errno). Events of one sequence come in
 * order. With cap >= tf_engine_event_cap() every event of the step comes back
 * in the same call; with a smaller cap the rest wait (in order) for the next
 * calls, which deliver them before running further steps.
 */
int tf_engine_step(struct tf_engine *e, struct tf_engine_event *ev, size_t cap);
size_t tf_engine_event_cap(const struct tf_engine *e);

/* 1 when nothing is queued, running or waiting to be delivered. */
int tf_engine_idle(const struct tf_engine *e);

struct tf_engine_stats {
	uint32_t running; /* sequences in the batch */
	uint32_t queued; /* waiting for admission */
	uint32_t kv_blocks_used, kv_blocks_free, kv_blocks_total;
	uint32_t pending_events; /* produced but not yet delivered */
	uint64_t steps; /* tf_engine_step() calls that ran a batch */
	uint64_t prompt_tokens; /* prompt tokens prefilled */
	uint64_t tokens_generated; /* TOKEN events produced */
	uint64_t busy_ns; /* wall time spent computing steps */
};

void tf_engine_stats(const struct tf_engine *e, struct tf_engine_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* TF_ENGINE_H */
