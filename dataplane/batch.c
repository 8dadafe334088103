/* SPDX-License-Identifier: BSD-3-Clause */
/* Per (model, accelerator) batch queue and its flush policy. */
#include "dataplane/batch.h"

#include <errno.h>
#include <string.h>

void
tf_batch_q_init(struct tf_batch_q *q)
{
	memset(q, 0, sizeof(*q));
}

void
tf_batch_q_push(struct tf_batch_q *q, struct tf_batch_item *it)
{
	unsigned int p = it->prio < TF_ADMIT_PRIO_LEVELS ? it->prio : TF_ADMIT_PRIO_LEVELS - 1;

	it->prio = (uint8_t)p;
	it->next = NULL;
	if (q->tail[p])
		q->tail[p]->next = it;
	else
		q->head[p] = it;
	q->tail[p] = it;
	q->count++;
	q->bytes += it->bytes;
}

void
tf_batch_q_push_front(struct tf_batch_q *q, struct tf_batch_item *it)
{
	unsigned int p = it->prio < TF_ADMIT_PRIO_LEVELS ? it->prio : TF_ADMIT_PRIO_LEVELS - 1;

	it->prio = (uint8_t)p;
	it->next = q->head[p];
	q->head[p] = it;
	if (!q->tail[p])
		q->tail[p] = it;
	q->count++;
	q->bytes += it->bytes;
}

int
tf_batch_q_remove(struct tf_batch_q *q, struct tf_batch_item *it)
{
	unsigned int p = it->prio < TF_ADMIT_PRIO_LEVELS ? it->prio : TF_ADMIT_PRIO_LEVELS - 1;
	struct tf_batch_item *prev = NULL;

	for (struct tf_batch_item *cur = q->head[p]; cur; prev = cur, cur = cur->next) {
		if (cur != it)
			continue;
		if (prev)
			prev->next = cur->next;
		else
			q->head[p] = cur->next;
		if (q->tail[p] == cur)
			q->tail[p] = prev;
		cur->next = NULL;
		q->count--;
		q->bytes -= cur->bytes;
		return 0;
	}
	return -ENOENT;
}

uint64_t
tf_batch_q_oldest_us(const struct tf_batch_q *q)
{
	uint64_t oldest = UINT64_MAX;

	/* FIFO per priority: each head is the oldest of its priority. */
	for (unsigned int p = 0; p < TF_ADMIT_PRIO_LEVELS; p++)
		if (q->head[p] && q->head[p]->enq_us < oldest)
			oldest = q->head[p]->enq_us;
	return oldest;
}

enum tf_batch_due
tf_batch_q_due(const struct tf_batch_q *q, const struct tf_batch_policy *p, uint64_t now_us)
{
	uint64_t oldest;

	if (q->count == 0)
		return TF_BATCH_NOT_DUE;
	if (q->count >= p->max_batch)
		return TF_BATCH_DUE_FULL;
	if (p->max_batch_bytes && q->bytes >= p->max_batch_bytes)
		return TF_BATCH_DUE_BYTES;
	oldest = tf_batch_q_oldest_us(q);
	if (now_us >= oldest && now_us - oldest >= p->max_queue_delay_us)
		return TF_BATCH_DUE_DELAY;
	return TF_BATCH_NOT_DUE;
}

unsigned int
tf_batch_q_take(struct tf_batch_q *q, const struct tf_batch_policy *p, struct tf_batch_item **out,
		unsigned int max)
{
	unsigned int n = 0;
	uint64_t bytes = 0;

	if (max > p->max_batch)
		max = p->max_batch;
	for (int pr = TF_ADMIT_PRIO_LEVELS - 1; pr >= 0 && n < max; pr--) {
		while (q->head[pr] && n < max) {
			struct tf_batch_item *it = q->head[pr];

			/* The first item always goes, however large; later ones must fit. */
			if (n && p->max_batch_bytes && bytes + it->bytes > p->max_batch_bytes)
				return n;
			q->head[pr] = it->next;
			if (!q->head[pr])
				q->tail[pr] = NULL;
			it->next = NULL;
			q->count--;
			q->bytes -= it->bytes;
			bytes += it->bytes;
			out[n++] = it;
		}
	}
	return n;
}
