/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Batching policy of one (model, accelerator) queue, Triton-like: requests
 * wait in per-priority FIFOs; a batch is taken when max_batch requests or
 * max_batch_bytes of payload are waiting, or when the oldest has waited
 * max_queue_delay_us. Higher priorities leave first. The items are embedded
 * in the caller's request objects (no allocation).
 */
#ifndef TF_DP_BATCH_H
#define TF_DP_BATCH_H

#include <stdint.h>

#include "dataplane/admit.h"

struct tf_batch_item {
	struct tf_batch_item *next;
	uint64_t enq_us; /* when it joined the queue */
	uint32_t bytes; /* payload bytes it adds to a batch */
	uint8_t prio; /* 0..TF_ADMIT_PRIO_LEVELS-1 */
};

struct tf_batch_policy {
	uint32_t max_batch; /* requests per batch (>= 1) */
	uint32_t max_batch_bytes; /* payload bytes per batch (0 = unbounded) */
	uint64_t max_queue_delay_us; /* oldest request's longest wait (0 = flush at once) */
};

/* Why a batch is due. */
enum tf_batch_due {
	TF_BATCH_NOT_DUE = 0,
	TF_BATCH_DUE_FULL, /* max_batch requests waiting */
	TF_BATCH_DUE_BYTES, /* max_batch_bytes reached */
	TF_BATCH_DUE_DELAY, /* oldest waited max_queue_delay_us */
};

struct tf_batch_q {
	struct tf_batch_item *head[TF_ADMIT_PRIO_LEVELS];
	struct tf_batch_item *tail[TF_ADMIT_PRIO_LEVELS];
	uint32_t count;
	uint64_t bytes;
};

void tf_batch_q_init(struct tf_batch_q *q);
void tf_batch_q_push(struct tf_batch_q *q, struct tf_batch_item *it);
/* Puts an item back at the head of its priority (a batch that could not be posted). */
void tf_batch_q_push_front(struct tf_batch_q *q, struct tf_batch_item *it);
/* Removes a given item (cancel); returns 0, or -ENOENT when it is not queued. */
int tf_batch_q_remove(struct tf_batch_q *q, struct tf_batch_item *it);
/* Enqueue time of the oldest waiting item, or UINT64_MAX when empty. */
uint64_t tf_batch_q_oldest_us(const struct tf_batch_q *q);
/* Whether a batch should leave now, and why. */
enum tf_batch_due tf_batch_q_due(const struct tf_batch_q *q, const struct tf_batch_policy *p,
				 uint64_t now_us);
/*
 * Takes the next batch: at most max_batch items and (past the first) at most
 * max_batch_bytes, highest priority first, FIFO within a priority. Writes up
 * to max items to out and returns how many.
 */
unsigned int tf_batch_q_take(struct tf_batch_q *q, const struct tf_batch_policy *p,
			     struct tf_batch_item **out, unsigned int max);

#endif /* TF_DP_BATCH_H */
