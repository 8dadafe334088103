/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Batched forward pass: a set of rows (sequence, position, token) from any
 * number of sequences (prompt chunks and decode steps mixed) goes through the
 * model together; every matrix product covers all rows at once. Keys and
 * values land in the paged KV cache; attention reads each row's sequence
 * through its block table. Logits are computed only for rows that ask.
 */
#ifndef TF_ENGINE_FORWARD_H
#define TF_ENGINE_FORWARD_H

#include <stdint.h>

#include "kern.h"
#include "kvcache.h"
#include "model.h"
#include "pool.h"

#define TF_RMS_EPS 1e-5f

struct tf_fwd_row {
	uint32_t seq; /* index into the block tables */
	uint32_t pos; /* position in its sequence (< seq_len) */
	int32_t token; /* input token id (< vocab_size) */
	int32_t logit_row; /* row of logits to fill, or -1 */
	uint32_t top_only; /* 1: only tf_runner_top() of that logits row is needed
			    * (greedy): the row's logits are not written */
};

/* A classifier task's largest logit of one row: value and index (-1: a
 * logit of the chunk is not finite). */
struct tf_top {
	float v;
	int32_t i;
};

/* Rows [start, start + n) of tf_runner.ord: one sequence's rows of a call. */
struct tf_att_group {
	uint32_t start, n;
};

struct tf_runner {
	const struct tf_model *model;
	const struct tf_kern_ops *ops;
	struct tf_pool *pool;
	struct tf_kv *kv;
	uint32_t max_rows, max_logits;
	/* activations, one row per input row */
	float *x; /* (rows, dim) residual stream */
	float *xb; /* (rows, dim) normed input / attention output */
	float *xb2; /* (rows, dim) projection output */
	float *q; /* (rows, dim) */
	float *k, *v; /* (rows, kv_dim) before they go to the cache */
	float *hb; /* (rows, hidden_dim) */
	float *hb2; /* (rows, hidden_dim) */
	float *xl; /* (logits rows, dim) final-normed rows that want logits */
	float *logits; /* (logits rows, vocab) */
	float *att; /* (threads, seq_len) attention scores */
	uint32_t *ord; /* (rows) row indices by (sequence, position) */
	struct tf_att_group *groups; /* (rows) per sequence of a call, longest first */
	struct tf_top *top; /* (logits rows, top_ld) argmax of each classifier chunk */
	uint32_t top_ld, top_tasks, top_chunk; /* classifier tasks: top_chunk rows each */
	float *cls; /* (threads, max_logits, top_chunk) each worker's classifier chunk */
	uint8_t *full; /* (max_logits) 1: the row's logits are written */
	uint16_t *xh; /* bf16 only: (TF_BF16_ROWS(rows), TF_BF16_KPAD(max(dim, hidden)))
		       * the input of the products being run, in bf16 */
};

int tf_runner_init(struct tf_runner *r, const struct tf_model *m, const struct tf_kern_ops *ops,
		   struct tf_pool *pool, struct tf_kv *kv, uint32_t max_rows, uint32_t max_logits);
void tf_runner_fini(struct tf_runner *r);

/*
 * Runs rows[0..n) (n <= max_rows; logit rows < max_logits, each used once);
 * tables[rows[i].seq] is that sequence's block table, covering every
 * position up to rows[i].pos. Rows of one sequence come in position order
 * and attend to everything before them, earlier rows of the same call too.
 */
void tf_runner_forward(struct tf_runner *r, const struct tf_fwd_row *rows, uint32_t n,
		       const uint32_t *const *tables);

/* After tf_runner_forward(): the index of the largest logit of logits row
 * `row` (the first of equals), -1 when any is not finite: exactly
 * ops->argmax over the row, found chunk by chunk while each chunk of the
 * classifier's output was in a worker's cache. */
int32_t tf_runner_top(const struct tf_runner *r, uint32_t row);

#endif /* TF_ENGINE_FORWARD_H */
