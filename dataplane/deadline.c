/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Generation deadlines (hwdocs/dataplane.md, "Generation deadline"): every
 * admitted request must end within limits.generation_timeout_ms of its
 * admission, whatever its accelerator does. Admitted requests sit on a list
 * in admission order; with one timeout for the worker's life that is also
 * deadline order, so the timer pass looks at the head only and ends a bounded
 * number of overdue requests per pass (never a scan of the request pool).
 * A re-dispatch keeps the request's place: the deadline counts from admission.
 *
 * A request that was posted gets a CANCEL at its deadline; if the accelerator
 * has not ended it limits.cancel_grace_ms later, the transport gives it up
 * (tf_xport_forget: its credit is free, late events are dropped there), and an
 * accelerator holding limits.degraded_abandoned such requests is DEGRADED
 * (dispatch.c). hwdocs/accel-rings.md "Giving up on a request".
 */
#include "dataplane/worker_int.h"

void
tf_dp_deadline_arm(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	if (!w->lim.generation_timeout_ms || r->on_dl)
		return;
	r->gen_deadline_us = r->t_admit + (uint64_t)w->lim.generation_timeout_ms * 1000;
	r->dl_next = 0;
	r->dl_prev = w->dl_tail;
	if (w->dl_tail)
		w->reqs[w->dl_tail - 1].dl_next = r->index + 1;
	else
		w->dl_head = r->index + 1;
	w->dl_tail = r->index + 1;
	r->on_dl = 1;
}

void
tf_dp_deadline_disarm(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	if (!r->on_dl)
		return;
	if (r->dl_prev)
		w->reqs[r->dl_prev - 1].dl_next = r->dl_next;
	else
		w->dl_head = r->dl_next;
	if (r->dl_next)
		w->reqs[r->dl_next - 1].dl_prev = r->dl_prev;
	else
		w->dl_tail = r->dl_prev;
	r->dl_prev = r->dl_next = 0;
	r->on_dl = 0;
}

static unsigned int forget_due(struct tf_dp_worker *w, unsigned int max, int early);

/* Remembers to give up on r at its accelerator once the cancel grace passed. */
static void
forget_later(struct tf_dp_worker *w, const struct tf_dp_req *r)
{
	struct tf_dp_forget *f;

	if (!w->lim.cancel_grace_ms || r->accel < 0)
		return;
	if (w->forget_tail - w->forget_head == TF_DP_FORGET_Q)
		forget_due(w, 1, 1); /* full: the oldest goes now, a little early */
	f = &w->forget_q[w->forget_tail++ & (TF_DP_FORGET_Q - 1)];
	*f = (struct tf_dp_forget){ .handle = tf_dp_req_handle(r),
				    .at_us = w->now_us + (uint64_t)w->lim.cancel_grace_ms * 1000,
				    .accel_id = r->accel_id,
				    .accel = (uint16_t)r->accel };
}

unsigned int
tf_dp_deadline_forget(struct tf_dp_worker *w, unsigned int max)
{
	return forget_due(w, max, 0);
}

/* early: the oldest even if its grace has not passed (the queue is full). */
static unsigned int
forget_due(struct tf_dp_worker *w, unsigned int max, int early)
{
	unsigned int n = 0;

	while (w->forget_head != w->forget_tail && n < max) {
		const struct tf_dp_forget *f = &w->forget_q[w->forget_head & (TF_DP_FORGET_Q - 1)];
		struct tf_dp_accel *a = &w->accels[f->accel];

		if (f->at_us > w->now_us && !early)
			break;
		w->forget_head++;
		n++;
		/* -ENOENT: it ended meanwhile; -ENOTCONN: a loss ended it; the slot may be
		 * another accelerator's now (id differs) */
		if (a->id == f->accel_id && a->x && tf_xport_forget(a->x, f->handle) == 0)
			tf_dp_count(w, TF_EV_GEN_ABANDONED, 1);
	}
	return n;
}

/*
 * Ends one overdue request: stopped at its accelerator, then the FINAL of a
 * cut-off (TIMEOUT, detail 2 of protocol.md 5.1) with the tokens delivered so
 * far, billed for exactly those, one usage record. A CANCEL or a budget
 * cut-off already on its way keeps its own ending: the deadline only stops
 * waiting for the accelerator's confirmation.
 */
static void
expire_one(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	if (r->state == TF_DP_REQ_POSTED)
		forget_later(w, r);
	tf_dp_stop_at_accel(w, r);
	r->timed_out = 1;
	r->prompt_tokens = tf_dp_req_prompt_if_ran(r);
	if (r->cancel)
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CANCELLED, 0, TF_USAGE_CANCELLED);
	else if (r->cut)
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CUT_OFF, TF_PROTO_E_QUOTA_EXHAUSTED,
				 TF_USAGE_CUT_OFF);
	else
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CUT_OFF, TF_PROTO_E_TIMEOUT,
				 TF_USAGE_TIMEOUT);
}

unsigned int
tf_dp_deadline_expire(struct tf_dp_worker *w, unsigned int max)
{
	unsigned int n = 0;

	while (w->dl_head && n < max) {
		struct tf_dp_req *r = &w->reqs[w->dl_head - 1];

		if (r->gen_deadline_us > w->now_us)
			break;
		/* tf_dp_req_finish takes it off the list; be sure even if it did not. */
		expire_one(w, r);
		tf_dp_deadline_disarm(w, r);
		n++;
	}
	return n;
}
