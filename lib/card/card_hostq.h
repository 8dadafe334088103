/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtfcard, card side of the host queues (include/tokfab/hostq.h,
 * hwdocs/kmod.md "Host queues"): per-process SQ/CQ rings in the card's BAR,
 * handed out by the host driver, through which host-local programs submit
 * inference requests. Enabled by tf_card_dev_params.hq_count / hq_size with
 * TF_FEAT_HOST_QUEUES. Same thread rules as card.h (one thread).
 *
 * Loop:
 *	tf_card_hq_poll(dev, take, ctx, budget);   // activations, releases, new requests
 *	... later, for a request taken:
 *	tf_card_hq_tokens(dev, &req, toks, n);     // -EAGAIN: CQ full, retry later
 *	tf_card_hq_done(dev, &req, &done);         // exactly one per request
 *
 * A request belongs to one activation of its window (req.gen): when the
 * owner releases the queue, completions for it return -ESTALE and are
 * dropped. Completions raise vector TF_CARD_VEC_HOSTQ (flushed by
 * tf_card_dev_poll_admin() like the others).
 */
#ifndef TF_CARD_CARD_HOSTQ_H
#define TF_CARD_CARD_HOSTQ_H

#include <stdint.h>

#include "card/card.h"
#include "tokfab/hostq.h"

#define TF_CARD_VEC_HOSTQ 2u /* new completions on a host queue */

/* A request taken from a host queue: a checked private copy. */
struct tf_card_hq_req {
	unsigned int queue; /* window index */
	uint32_t gen; /* activation it belongs to */
	uint32_t tenant_id; /* the queue's tenant, set by the host driver */
	struct tf_hq_sqe sqe;
};

/* How a request ended (TF_HQ_DONE). */
struct tf_card_hq_done {
	uint32_t outcome; /* enum tf_usage_outcome */
	uint32_t prompt_tokens;
	uint32_t completion_tokens;
	uint64_t cost_micro;
	uint64_t event_seq; /* its usage record's sequence number, 0 if none */
};

/*
 * Takes a checked request: returns 0 when the caller will complete it, or an
 * enum tf_hq_error to refuse it (the library completes it with TF_HQ_ERROR).
 */
typedef int (*tf_card_hq_take_fn)(void *ctx, const struct tf_card_hq_req *req);

/*
 * Acts on activations and releases by the host driver, then takes up to
 * budget new requests (one per free completion slot at least). Requests that
 * break hostq.h's rules are completed with TF_HQ_ERROR / TF_HQ_E_BAD_SQE by
 * the library. Returns the number of requests handed to take().
 */
int tf_card_hq_poll(struct tf_card_dev *dev, tf_card_hq_take_fn take, void *ctx,
		    unsigned int budget);

/* Completion slots free on the request's queue (0 when stale or broken). */
uint32_t tf_card_hq_room(struct tf_card_dev *dev, const struct tf_card_hq_req *req);

/*
 * Posts n tokens (split into TF_HQ_CQE_TOKENS per entry), then the end.
 * 0, -EAGAIN (not enough room: nothing written, retry), -ESTALE (the queue
 * was released or re-activated: drop the request), -EINVAL.
 */
int tf_card_hq_tokens(struct tf_card_dev *dev, const struct tf_card_hq_req *req,
		      const uint32_t *tokens, unsigned int n);
int tf_card_hq_done(struct tf_card_dev *dev, const struct tf_card_hq_req *req,
		    const struct tf_card_hq_done *done);
int tf_card_hq_error(struct tf_card_dev *dev, const struct tf_card_hq_req *req, uint32_t error,
		     uint32_t detail);

#endif /* TF_CARD_CARD_HOSTQ_H */
