/* SPDX-License-Identifier: BSD-3-Clause */
/* Card side of the host queues: activations, request intake, completions. */
#include "card/bar_io.h"
#include "card/card_hostq.h"
#include "card/card_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct tf_card_hq {
	uint32_t gen; /* activation the card acted on */
	int serving; /* card_state == SERVING */
	uint32_t tenant_id;
	uint32_t sq_entries, cq_entries;
	uint32_t sq_head, cq_tail; /* the card's indexes (mirrored into the ring) */
	uint64_t submitted, completed;
};

static struct tf_hq_ctl *
ctl_of(struct tf_card_dev *dev, unsigned int q)
{
	return (struct tf_hq_ctl *)(dev->hq_base + (size_t)q * dev->hq_size);
}

static struct tf_hq_ring *
ring_of(struct tf_card_dev *dev, unsigned int q)
{
	return (struct tf_hq_ring *)(dev->hq_base + (size_t)q * dev->hq_size + TF_HQ_CTL_SIZE);
}

int
tf_card_hq_attach(struct tf_card_dev *dev)
{
	unsigned int q;

	if (!dev->hq_count)
		return 0;
	dev->hq = calloc(dev->hq_count, sizeof(*dev->hq));
	if (!dev->hq)
		return -ENOMEM;
	/* A new card process serves nothing until the driver activates again. */
	for (q = 0; q < dev->hq_count; q++) {
		struct tf_hq_ctl *c = ctl_of(dev, q);

		dev->hq[q].gen = tf_bar_rd32(&c->gen);
		tf_bar_wr32(&c->card_state, TF_HQ_CARD_IDLE);
		tf_bar_wr32(&c->card_gen, dev->hq[q].gen);
	}
	return 0;
}

void
tf_card_hq_detach(struct tf_card_dev *dev)
{
	free(dev->hq);
	dev->hq = NULL;
}

static void
set_card_state(struct tf_card_dev *dev, unsigned int q, uint32_t state, uint32_t reason)
{
	struct tf_hq_ctl *c = ctl_of(dev, q);

	dev->hq[q].serving = state == TF_HQ_CARD_SERVING;
	tf_bar_wr32(&c->card_reason, reason);
	tf_bar_wr32(&c->card_state, state);
	tf_bar_wr32(&c->card_gen, dev->hq[q].gen); /* last: the driver waits on it */
}

static int
pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* The host driver activated or released window q (gen moved). */
static void
take_control(struct tf_card_dev *dev, unsigned int q, uint32_t gen)
{
	struct tf_hq_ctl *c = ctl_of(dev, q);
	struct tf_hq_ring *r = ring_of(dev, q);
	struct tf_card_hq *h = &dev->hq[q];
	uint32_t sq, cq;

	memset(h, 0, sizeof(*h));
	h->gen = gen;
	if (tf_bar_rd32(&c->state) != TF_HQ_ACTIVE) {
		set_card_state(dev, q, TF_HQ_CARD_IDLE, TF_HQ_R_NONE);
		return;
	}
	sq = tf_bar_rd32(&c->sq_entries);
	cq = tf_bar_rd32(&c->cq_entries);
	h->tenant_id = tf_bar_rd32(&c->tenant_id);
	if (!pow2(sq) || !pow2(cq) || cq < sq || tf_bar_rd32(&c->flags) ||
	    TF_HQ_RING_BYTES(sq, cq) > dev->hq_size - TF_HQ_CTL_SIZE) {
		set_card_state(dev, q, TF_HQ_CARD_REFUSED, TF_HQ_R_GEOMETRY);
		return;
	}
	if (!h->tenant_id) {
		set_card_state(dev, q, TF_HQ_CARD_REFUSED, TF_HQ_R_TENANT);
		return;
	}
	h->sq_entries = sq;
	h->cq_entries = cq;
	tf_bar_wr32(&r->sq_head, 0);
	tf_bar_wr32(&r->cq_tail, 0);
	tf_bar_wr64(&c->submitted, 0);
	tf_bar_wr64(&c->completed, 0);
	set_card_state(dev, q, TF_HQ_CARD_SERVING, TF_HQ_R_NONE);
}

static uint32_t
room(struct tf_card_dev *dev, unsigned int q)
{
	struct tf_card_hq *h = &dev->hq[q];
	uint32_t used = h->cq_tail - tf_bar_rd32(&ring_of(dev, q)->cq_head);

	if (used > h->cq_entries) {
		set_card_state(dev, q, TF_HQ_CARD_BROKEN, TF_HQ_R_CQ_INDEX);
		return 0;
	}
	return h->cq_entries - used;
}

/* Writes one completion; the caller checked there is room. */
static void
post(struct tf_card_dev *dev, unsigned int q, const struct tf_hq_cqe *cqe)
{
	struct tf_card_hq *h = &dev->hq[q];
	uint8_t *cqbase =
		(uint8_t *)ring_of(dev, q) + TF_HQ_SQ_OFF + (size_t)h->sq_entries * TF_HQ_SQE_SIZE;

	memcpy(cqbase + (size_t)(h->cq_tail & (h->cq_entries - 1)) * TF_HQ_CQE_SIZE, cqe,
	       sizeof(*cqe));
	h->cq_tail++;
	tf_bar_wr32(&ring_of(dev, q)->cq_tail, h->cq_tail);
	if (cqe->type != TF_HQ_TOKENS) {
		h->completed++;
		tf_bar_wr64(&ctl_of(dev, q)->completed, h->completed);
	}
	dev->notify_pending |= 1u << TF_CARD_VEC_HOSTQ;
}

/* 0 or the byte offset in the SQE of the first field that breaks a rule, + 1. */
static uint32_t
sqe_bad_field(const struct tf_hq_sqe *s)
{
	unsigned int i;

	if (s->model_id == 0)
		return 1 + offsetof(struct tf_hq_sqe, model_id);
	if (s->n_prompt == 0 || s->n_prompt > TF_HQ_PROMPT_MAX)
		return 1 + offsetof(struct tf_hq_sqe, n_prompt);
	if (s->max_new_tokens == 0 || s->max_new_tokens > TF_HQ_NEW_TOKENS_MAX)
		return 1 + offsetof(struct tf_hq_sqe, max_new_tokens);
	if (s->flags)
		return 1 + offsetof(struct tf_hq_sqe, flags);
	if (s->reserved)
		return 1 + offsetof(struct tf_hq_sqe, reserved);
	for (i = s->n_prompt; i < TF_HQ_PROMPT_MAX; i++)
		if (s->prompt[i])
			return 1 + offsetof(struct tf_hq_sqe, prompt) + 4 * i;
	for (i = 0; i < sizeof(s->pad); i++)
		if (s->pad[i])
			return 1 + offsetof(struct tf_hq_sqe, pad) + i;
	return 0;
}

static void
post_error(struct tf_card_dev *dev, unsigned int q, uint64_t user_data, uint32_t error,
	   uint32_t detail)
{
	struct tf_hq_cqe e;

	memset(&e, 0, sizeof(e));
	e.user_data = user_data;
	e.type = TF_HQ_ERROR;
	e.status = error;
	e.u.done.detail = detail;
	post(dev, q, &e);
}

int
tf_card_hq_poll(struct tf_card_dev *dev, tf_card_hq_take_fn take, void *ctx, unsigned int budget)
{
	unsigned int q, taken = 0;

	for (q = 0; q < dev->hq_count; q++) {
		struct tf_hq_ctl *c = ctl_of(dev, q);
		struct tf_hq_ring *r = ring_of(dev, q);
		struct tf_card_hq *h = &dev->hq[q];
		uint32_t gen = tf_bar_rd32(&c->gen), tail, bad;

		if (gen != h->gen)
			take_control(dev, q, gen);
		if (!h->serving)
			continue;
		tail = tf_bar_rd32(&r->sq_tail);
		if (tail - h->sq_head > h->sq_entries) {
			set_card_state(dev, q, TF_HQ_CARD_BROKEN, TF_HQ_R_SQ_INDEX);
			continue;
		}
		/* One free completion slot per request taken: an error always fits. */
		while (h->sq_head != tail && taken < budget && room(dev, q) > 0) {
			struct tf_card_hq_req req = { .queue = q,
						      .gen = h->gen,
						      .tenant_id = h->tenant_id };
			int rc;

			/* Copy first: the application may scribble on the ring at any time. */
			memcpy(&req.sqe,
			       (uint8_t *)r + TF_HQ_SQ_OFF +
				       (size_t)(h->sq_head & (h->sq_entries - 1)) * TF_HQ_SQE_SIZE,
			       sizeof(req.sqe));
			h->sq_head++;
			tf_bar_wr32(&r->sq_head, h->sq_head);
			h->submitted++;
			tf_bar_wr64(&c->submitted, h->submitted);
			bad = sqe_bad_field(&req.sqe);
			if (bad) {
				post_error(dev, q, req.sqe.user_data, TF_HQ_E_BAD_SQE, bad - 1);
				continue;
			}
			rc = take(ctx, &req);
			if (rc)
				post_error(dev, q, req.sqe.user_data,
					   rc >= TF_HQ_E_BAD_SQE && rc <= TF_HQ_E_MAX
						   ? (uint32_t)rc
						   : TF_HQ_E_BUSY,
					   0);
			else
				taken++;
		}
	}
	return (int)taken;
}

static int
live(struct tf_card_dev *dev, const struct tf_card_hq_req *req)
{
	if (req->queue >= dev->hq_count)
		return -EINVAL;
	if (dev->hq[req->queue].gen != req->gen || !dev->hq[req->queue].serving ||
	    tf_bar_rd32(&ctl_of(dev, req->queue)->gen) != req->gen)
		return -ESTALE;
	return 0;
}

uint32_t
tf_card_hq_room(struct tf_card_dev *dev, const struct tf_card_hq_req *req)
{
	return live(dev, req) ? 0 : room(dev, req->queue);
}

int
tf_card_hq_tokens(struct tf_card_dev *dev, const struct tf_card_hq_req *req, const uint32_t *tokens,
		  unsigned int n)
{
	unsigned int need = (n + TF_HQ_CQE_TOKENS - 1) / TF_HQ_CQE_TOKENS, i, k;
	int rc = live(dev, req);

	if (rc)
		return rc;
	if (need > dev->hq[req->queue].cq_entries)
		return -EINVAL;
	if (room(dev, req->queue) < need)
		return dev->hq[req->queue].serving ? -EAGAIN : -ESTALE;
	for (i = 0; i < n; i += k) {
		struct tf_hq_cqe e;

		k = n - i < TF_HQ_CQE_TOKENS ? n - i : TF_HQ_CQE_TOKENS;
		memset(&e, 0, sizeof(e));
		e.user_data = req->sqe.user_data;
		e.type = TF_HQ_TOKENS;
		e.count = (uint16_t)k;
		memcpy(e.u.tokens, tokens + i, k * sizeof(*tokens));
		post(dev, req->queue, &e);
	}
	return 0;
}

int
tf_card_hq_done(struct tf_card_dev *dev, const struct tf_card_hq_req *req,
		const struct tf_card_hq_done *done)
{
	struct tf_hq_cqe e;
	int rc = live(dev, req);

	if (rc)
		return rc;
	if (done->outcome > TF_USAGE_OUTCOME_MAX)
		return -EINVAL;
	if (room(dev, req->queue) < 1)
		return dev->hq[req->queue].serving ? -EAGAIN : -ESTALE;
	memset(&e, 0, sizeof(e));
	e.user_data = req->sqe.user_data;
	e.type = TF_HQ_DONE;
	e.status = done->outcome;
	e.u.done.prompt_tokens = done->prompt_tokens;
	e.u.done.completion_tokens = done->completion_tokens;
	e.u.done.cost_micro = done->cost_micro;
	e.u.done.event_seq = done->event_seq;
	post(dev, req->queue, &e);
	return 0;
}

int
tf_card_hq_error(struct tf_card_dev *dev, const struct tf_card_hq_req *req, uint32_t error,
		 uint32_t detail)
{
	int rc = live(dev, req);

	if (rc)
		return rc;
	if (error < TF_HQ_E_BAD_SQE || error > TF_HQ_E_MAX)
		return -EINVAL;
	if (room(dev, req->queue) < 1)
		return dev->hq[req->queue].serving ? -EAGAIN : -ESTALE;
	post_error(dev, req->queue, req->sqe.user_data, error, detail);
	return 0;
}
