/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * From admitted requests to accelerators and back: routing, per
 * (model, accelerator) batch queues flushed by the batching policy, one
 * gather-list post per batch (zero copy: segments point into the frames),
 * and the transport's events -- token chunks streamed to the client, END,
 * errors (re-dispatch to another accelerator when nothing was streamed yet),
 * connection up/down.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/route.h"
#include "dataplane/worker_int.h"

#define EV_BURST 64

static int
serves(const struct tf_dp_accel *a, uint32_t model)
{
	for (uint32_t i = 0; i < a->nmodels; i++)
		if (a->models[i] == model)
			return 1;
	return 0;
}

static enum tf_route_health
health_of(const struct tf_dp_accel *a)
{
	if (!a->id || a->deleted || a->state != TF_DP_ACCEL_UP)
		return TF_ROUTE_DOWN;
	return a->peer_flags_ok && !a->abandon_degraded ? TF_ROUTE_UP : TF_ROUTE_DEGRADED;
}

/*
 * Requests the card gave up on that the accelerator still holds (deadline.c):
 * DEGRADED from limits.degraded_abandoned of them until it has ended them all
 * (or reconnected). Returns the health state the worker reports.
 */
static uint32_t
accel_state(struct tf_dp_worker *w, struct tf_dp_accel *a)
{
	struct tf_xport_info xi;

	tf_xport_info(a->x, &xi);
	a->st.abandoned = xi.abandoned;
	if (w->lim.degraded_abandoned && xi.abandoned >= w->lim.degraded_abandoned)
		a->abandon_degraded = 1;
	else if (xi.abandoned == 0)
		a->abandon_degraded = 0;
	return a->peer_flags_ok && !a->abandon_degraded ? TF_HS_UP : TF_HS_DEGRADED;
}

int
tf_dp_model_available(struct tf_dp_worker *w, uint32_t model_id)
{
	for (unsigned int i = 0; i < w->naccel_slots; i++)
		if (health_of(&w->accels[i]) != TF_ROUTE_DOWN && serves(&w->accels[i], model_id))
			return 1;
	return 0;
}

int
tf_dp_route(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	struct tf_route_cand c[TF_DP_MAX_ACCELS];
	uint8_t map[TF_DP_MAX_ACCELS];
	unsigned int n = 0;
	struct tf_dp_accel *a;
	int k;

	for (unsigned int i = 0; i < w->naccel_slots; i++) {
		a = &w->accels[i];
		if (!a->id || !serves(a, r->model_id))
			continue;
		c[n] = (struct tf_route_cand){
			.outstanding = a->outstanding,
			.cost_weight = a->cost_weight,
			.health = (uint8_t)health_of(a),
			.excluded = (uint8_t)((r->excluded >> i) & 1),
			.no_credit = a->inflight + a->q.count >= a->max_outstanding,
		};
		map[n++] = (uint8_t)i;
	}
	k = tf_route_pick(c, n, r->work);
	if (k < 0)
		return -1;
	a = &w->accels[map[k]];
	r->accel = (int16_t)map[k];
	r->accel_id = a->id;
	r->state = TF_DP_REQ_QUEUED;
	a->outstanding += r->work;
	r->bi.enq_us = w->now_us;
	r->bi.bytes = (uint32_t)sizeof(struct tf_accel_req) + r->prompt_total;
	r->bi.prio = r->prio;
	tf_batch_q_push(&a->q, &r->bi);
	a->st.queued = a->q.count;
	return 0;
}

static struct tf_dp_req *
req_of_item(struct tf_batch_item *it)
{
	return (struct tf_dp_req *)((char *)it - offsetof(struct tf_dp_req, bi));
}

void
tf_dp_dequeue(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	struct tf_dp_accel *a;

	if (r->accel < 0)
		return;
	a = &w->accels[r->accel];
	if (tf_batch_q_remove(&a->q, &r->bi) == 0) {
		a->outstanding -= r->work;
		a->st.queued = a->q.count;
	}
}

static struct tf_xport_mem *
mem_of(const struct tf_dp_worker *w, const void *p)
{
	uintptr_t v = (uintptr_t)p;

	for (unsigned int i = 0; i < w->nmem; i++)
		if (v >= w->memr[i].lo && v < w->memr[i].hi)
			return w->xmem[i];
	return NULL;
}

/* Hands a request that cannot run where it was routed to another accelerator, or ends it. */
static void
reroute_or_fail(struct tf_dp_worker *w, struct tf_dp_req *r, uint16_t code, uint16_t outcome)
{
	struct tf_dp_accel *a = r->accel >= 0 ? &w->accels[r->accel] : NULL;

	if (a)
		r->excluded |= 1ull << r->accel;
	if (r->seg_head && r->tb.count == 0 && r->attempts < 4 && !r->cancel && !r->cut &&
	    tf_dp_route(w, r) == 0) {
		tf_dp_count(w, TF_EV_REQ_REDISPATCHED, 1);
		if (a)
			a->st.redispatched++;
		return;
	}
	r->prompt_tokens = 0;
	tf_dp_req_finish(w, r, TF_PROTO_FINISH_CUT_OFF, code, outcome);
}

/* Posts one batch from a's queue; returns requests posted, 0 when it must wait. */
static unsigned int
post_batch(struct tf_dp_worker *w, struct tf_dp_accel *a, enum tf_batch_due why)
{
	struct tf_batch_item *items[TF_ACCEL_MAX_BATCH_REQS];
	struct tf_xport_info info;
	uint32_t avail, nseg = 0;
	unsigned int n, k;
	int rc;

	tf_dp_phase_start(w);
	tf_xport_info(a->x, &info);
	tf_dp_phase_end(w, TF_DP_PH_XPORT_POST);
	avail = info.max_inflight > info.inflight ? info.max_inflight - info.inflight : 0;
	if (a->max_outstanding > a->inflight && a->max_outstanding - a->inflight < avail)
		avail = a->max_outstanding - a->inflight;
	else if (a->max_outstanding <= a->inflight)
		avail = 0;
	if (avail == 0) {
		tf_dp_count(w, TF_EV_XPORT_BUSY, 1);
		return 0;
	}
	n = tf_batch_q_take(&a->q, &w->batching, items,
			    avail < TF_ACCEL_MAX_BATCH_REQS ? avail : TF_ACCEL_MAX_BATCH_REQS);
	/* Build the gather lists; stop where the scratch list is full. */
	for (k = 0; k < n; k++) {
		struct tf_dp_req *r = req_of_item(items[k]);
		struct tf_xport_req *x = &w->xreqs[k];

		if (nseg + r->nsegs > w->xsegs_cap && k > 0)
			break;
		memset(x, 0, sizeof(*x));
		x->handle = tf_dp_req_handle(r);
		x->tenant = r->tenant->id;
		x->model = r->model_id;
		x->prompt_fmt = r->kind == TF_PROTO_PROMPT_TEXT ? TF_ACCEL_PROMPT_TEXT
								: TF_ACCEL_PROMPT_TOKENS;
		x->sampling.max_new_tokens = r->max_new;
		x->sampling.temperature_milli = r->temperature;
		x->sampling.top_p = r->top_p;
		x->sampling.priority = r->prio;
		x->sampling.seed = r->seed;
		x->segs = &w->xsegs[nseg];
		x->nsegs = r->nsegs;
		for (uint32_t s = r->seg_head; s; s = w->segs[s - 1].next) {
			const struct tf_dp_seg *sg = &w->segs[s - 1];

			w->xsegs[nseg].addr = sg->p;
			w->xsegs[nseg].len = sg->len;
			w->xsegs[nseg].mem = mem_of(w, sg->p);
			nseg++;
		}
	}
	/* What did not fit goes back to the head, in order. */
	for (unsigned int j = n; j > k; j--)
		tf_batch_q_push_front(&a->q, items[j - 1]);
	n = k;
	tf_dp_phase_end(w, TF_DP_PH_BATCH);
	for (;;) {
		rc = tf_xport_batch_post(a->x, w->xreqs, n, ++w->batch_seq);
		if (rc != -EMSGSIZE || n == 1)
			break;
		/* Over the peer's record size: send the first half now, the rest later. */
		for (unsigned int j = n; j > n / 2; j--)
			tf_batch_q_push_front(&a->q, items[j - 1]);
		n /= 2;
	}
	tf_dp_phase_end(w, TF_DP_PH_XPORT_POST);
	if (rc == 0) {
		for (k = 0; k < n; k++) {
			struct tf_dp_req *r = req_of_item(items[k]);

			r->state = TF_DP_REQ_POSTED;
			r->t_flush = w->now_us;
			r->attempts++;
		}
		a->inflight += n;
		a->st.requests += n;
		a->st.batches++;
		a->st.queued = a->q.count;
		tf_dp_count(w, TF_EV_BATCHES, 1);
		tf_dp_count(w, TF_EV_BATCH_REQS, n);
		tf_dp_count(w,
			    why == TF_BATCH_DUE_FULL	? TF_EV_FLUSH_FULL
			    : why == TF_BATCH_DUE_BYTES ? TF_EV_FLUSH_BYTES
							: TF_EV_FLUSH_DELAY,
			    1);
		return n;
	}
	if (rc == -EBUSY || rc == -ENOBUFS || rc == -ENOTCONN) {
		for (unsigned int j = n; j > 0; j--)
			tf_batch_q_push_front(&a->q, items[j - 1]);
		tf_dp_count(w, TF_EV_XPORT_BUSY, 1);
		return 0;
	}
	/* The transport refused our own record (-EINVAL, -EEXIST, -EMSGSIZE alone): fail them. */
	for (k = 0; k < n; k++) {
		struct tf_dp_req *r = req_of_item(items[k]);

		a->outstanding -= r->work;
		r->prompt_tokens = 0;
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CUT_OFF, TF_PROTO_E_INTERNAL,
				 TF_USAGE_INTERNAL);
	}
	return n;
}

static struct tf_dp_req *
req_of_handle(struct tf_dp_worker *w, uint64_t h)
{
	struct tf_dp_req *r = tf_dp_req_get(w, (uint32_t)h);

	if (!r || r->gen != (uint32_t)(h >> 32) || r->state != TF_DP_REQ_POSTED)
		return NULL;
	return r;
}

/* The request left the accelerator (END or ERROR): its bookkeeping there ends. */
static void
left_accel(struct tf_dp_accel *a, struct tf_dp_req *r)
{
	a->inflight--;
	a->outstanding -= r->work;
}

void
tf_dp_stop_at_accel(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	struct tf_dp_accel *a;
	uint64_t h;

	if (r->state == TF_DP_REQ_QUEUED) {
		tf_dp_dequeue(w, r);
		return;
	}
	if (r->state != TF_DP_REQ_POSTED || r->accel < 0)
		return;
	a = &w->accels[r->accel];
	h = tf_dp_req_handle(r);
	/* As a client's CANCEL does; the accelerator's own credit ends with its END/ERROR. */
	if (a->x && !r->cancel && !r->cut)
		tf_xport_cancel(a->x, &h, 1);
	left_accel(a, r);
	r->xport_done = 1;
	r->state = TF_DP_REQ_QUEUED;
}

/*
 * An event for no request that is posted: stale. Counted when it is for one
 * that its deadline ended (the slot still holds it, same generation); those
 * events are ignored like every stale one: never streamed, billed or recorded.
 */
static void
stale_event(struct tf_dp_worker *w, uint64_t h)
{
	const struct tf_dp_req *r = tf_dp_req_get(w, (uint32_t)h);

	if (r && r->gen == (uint32_t)(h >> 32) && r->timed_out)
		tf_dp_count(w, TF_EV_GEN_LATE, 1);
}

/*
 * Free token-buffer chunks below which a request does not hold tokens back:
 * held tokens must still be in the buffer when they go out.
 */
#define HOLD_MIN_FREE_CHUNKS 256

/* Sends what the requests that held tokens during this event burst still hold. */
static void
flush_held(struct tf_dp_worker *w)
{
	for (uint32_t i = 0; i < w->nheld; i++) {
		struct tf_dp_req *r = &w->reqs[w->held[i]];

		if (r->held && r->tok_sent < r->tb.count)
			tf_dp_resend(w, r, r->tok_sent, 0);
		r->held = 0;
	}
	w->nheld = 0;
}

static void
on_tokens(struct tf_dp_worker *w, struct tf_dp_req *r, const struct tf_xport_event *ev)
{
	const char *text = ev->u.tokens.text;
	int hold;

	if (r->cancel || r->cut)
		return; /* stopped: nothing more reaches the client or the bill */
	if (ev->u.tokens.index != r->tb.count)
		return; /* the transport checks contiguity; never stream out of order */
	if (r->seg_head)
		tf_dp_req_release_prompt(w, r); /* it ran: no re-dispatch from here on */
	for (uint32_t i = 0; i < ev->u.tokens.ntok; i++) {
		uint32_t l = r->want_text ? ev->u.tokens.tok[i].text_len : 0;

		/*
		 * Keep enough chunks free for tokens to be held to the end of a burst
		 * (one datagram per short request): a full arena made every token its
		 * own datagram at 10^5 requests in flight. The cache gives way first.
		 */
		if (w->tok.nfree < HOLD_MIN_FREE_CHUNKS + 4)
			tf_dp_cache_trim(w, HOLD_MIN_FREE_CHUNKS + 4);
		tf_tokbuf_append(&w->tok, &r->tb, ev->u.tokens.tok[i].id, text, l);
		text += ev->u.tokens.tok[i].text_len;
	}
	/*
	 * A client that accepts its last tokens in the FINAL gets them at the end
	 * of this event burst, unless the END arrives in the same burst: then they
	 * ride in the FINAL (protocol.md 3.7: one datagram and one MAC fewer).
	 */
	hold = r->final_tokens && w->tok.nfree >= HOLD_MIN_FREE_CHUNKS &&
	       w->nheld < sizeof(w->held) / sizeof(w->held[0]);
	if (hold) {
		if (!r->held) {
			r->held = 1;
			w->held[w->nheld++] = r->index;
		}
	} else {
		if (r->tok_sent < ev->u.tokens.index)
			tf_dp_resend(w, r, r->tok_sent, 0); /* it held some: those first */
		else
			tf_dp_send_tokens(w, r, ev->u.tokens.index, ev->u.tokens.tok,
					  ev->u.tokens.ntok, ev->u.tokens.text, 0);
	}
	tf_dp_count(w, TF_EV_TOKENS_OUT, ev->u.tokens.ntok);
	if (TF_DP_UNLIKELY(w->ndry) && tf_admit_dry(&r->tenant->adm)) {
		/* The host lowered the balance below what runs: stop, bill what was sent. */
		struct tf_dp_accel *a = &w->accels[r->accel];
		uint64_t h = tf_dp_req_handle(r);

		r->cut = 1;
		if (a->x)
			tf_xport_cancel(a->x, &h, 1);
	}
}

static void
on_end(struct tf_dp_worker *w, struct tf_dp_accel *a, struct tf_dp_req *r,
       const struct tf_accel_usage *u)
{
	uint8_t fin;

	left_accel(a, r);
	r->xport_done = 1;
	r->prompt_tokens = u->prompt_tokens;
	if (r->cut) {
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CUT_OFF, TF_PROTO_E_QUOTA_EXHAUSTED,
				 TF_USAGE_CUT_OFF);
		return;
	}
	if (r->cancel || u->reason == TF_ACCEL_FINISH_CANCELLED) {
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CANCELLED, 0, TF_USAGE_CANCELLED);
		return;
	}
	fin = u->reason == TF_ACCEL_FINISH_EOS ? TF_PROTO_FINISH_STOP : TF_PROTO_FINISH_LENGTH;
	tf_dp_req_finish(w, r, fin, 0, TF_USAGE_OK);
}

static uint16_t
wire_error_of(uint16_t accel_code)
{
	switch (accel_code) {
	case TF_ACCEL_ERR_UNKNOWN_MODEL:
		return TF_PROTO_E_UNKNOWN_MODEL;
	case TF_ACCEL_ERR_TOO_LARGE:
		return TF_PROTO_E_TOO_LARGE;
	case TF_ACCEL_ERR_BUSY:
	case TF_ACCEL_ERR_SHUTDOWN:
		return TF_PROTO_E_BUSY;
	case TF_ACCEL_ERR_BAD_REQUEST:
		return TF_PROTO_E_MALFORMED;
	default:
		return TF_PROTO_E_INTERNAL;
	}
}

static void
on_error(struct tf_dp_worker *w, struct tf_dp_accel *a, struct tf_dp_req *r,
	 const struct tf_xport_event *ev)
{
	uint16_t code = ev->u.error.code;

	left_accel(a, r);
	a->st.errors++;
	r->xport_done = 1;
	r->prompt_tokens = tf_dp_req_prompt_if_ran(r);
	if (r->cut) {
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CUT_OFF, TF_PROTO_E_QUOTA_EXHAUSTED,
				 TF_USAGE_CUT_OFF);
		return;
	}
	if (r->cancel || code == TF_ACCEL_ERR_CANCELLED) {
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CANCELLED, 0, TF_USAGE_CANCELLED);
		return;
	}
	if (ev->u.error.retryable) {
		r->state = TF_DP_REQ_QUEUED;
		reroute_or_fail(w, r, wire_error_of(code), TF_USAGE_ACCEL_FAILED);
		return;
	}
	tf_dp_req_finish(w, r, TF_PROTO_FINISH_CUT_OFF, wire_error_of(code),
			 code == TF_ACCEL_ERR_BAD_REQUEST ? TF_USAGE_INTERNAL
							  : TF_USAGE_ACCEL_FAILED);
}

/* The connection went down: what waits in its queue goes elsewhere, or ends. */
static void
drain_queue(struct tf_dp_worker *w, struct tf_dp_accel *a)
{
	struct tf_batch_policy all = { .max_batch = TF_ACCEL_MAX_BATCH_REQS };
	struct tf_batch_item *items[TF_ACCEL_MAX_BATCH_REQS];
	unsigned int n;

	while ((n = tf_batch_q_take(&a->q, &all, items, TF_ACCEL_MAX_BATCH_REQS)) > 0) {
		for (unsigned int k = 0; k < n; k++) {
			struct tf_dp_req *r = req_of_item(items[k]);

			a->outstanding -= r->work;
			reroute_or_fail(w, r, TF_PROTO_E_INTERNAL, TF_USAGE_ACCEL_FAILED);
		}
	}
	a->st.queued = 0;
}

static unsigned int
poll_accel(struct tf_dp_worker *w, struct tf_dp_accel *a)
{
	struct tf_xport_event ev[EV_BURST];
	unsigned int work = 0;
	int n;

	tf_dp_phase_start(w);
	n = tf_xport_poll(a->x, ev, EV_BURST);
	tf_dp_phase_end(w, TF_DP_PH_XPORT_POLL);
	for (int i = 0; i < n; i++) {
		struct tf_dp_req *r;

		switch (ev[i].type) {
		case TF_XPORT_EV_UP:
			a->state = TF_DP_ACCEL_UP;
			a->peer_flags_ok = 1;
			a->abandon_degraded = 0; /* a new epoch: it holds nothing */
			a->st.abandoned = 0;
			a->st.state = TF_HS_UP;
			break;
		case TF_XPORT_EV_DOWN:
			a->state = TF_DP_ACCEL_DOWN;
			a->st.state = TF_HS_DOWN;
			drain_queue(w, a);
			break;
		case TF_XPORT_EV_BATCH_SENT:
			break;
		case TF_XPORT_EV_TOKENS:
			r = req_of_handle(w, ev[i].handle);
			if (r)
				on_tokens(w, r, &ev[i]);
			else
				stale_event(w, ev[i].handle);
			break;
		case TF_XPORT_EV_END:
			r = req_of_handle(w, ev[i].handle);
			if (r)
				on_end(w, a, r, &ev[i].u.end);
			else
				stale_event(w, ev[i].handle);
			break;
		case TF_XPORT_EV_ERROR:
			r = req_of_handle(w, ev[i].handle);
			if (r)
				on_error(w, a, r, &ev[i]);
			else
				stale_event(w, ev[i].handle);
			break;
		default:
			break;
		}
	}
	if (w->nheld)
		flush_held(w);
	tf_dp_phase_end(w, TF_DP_PH_EVENTS);
	if (n > 0) {
		tf_xport_credits_return(a->x);
		work += (unsigned int)n;
	}
	if (w->now_us >= a->next_status_us && a->state == TF_DP_ACCEL_UP) {
		struct tf_accel_status st;

		a->next_status_us = w->now_us + 100000;
		if (tf_xport_peer_status(a->x, &st) == 0) {
			a->peer_flags_ok = (st.flags & TF_ACCEL_ST_HEALTHY) &&
					   !(st.flags & TF_ACCEL_ST_DRAINING);
			a->st.busy_ppm = st.busy_ppm <= 1000000 ? st.busy_ppm : 1000000;
		}
		a->st.state = accel_state(w, a);
	}
	tf_dp_phase_end(w, TF_DP_PH_XPORT_POLL);
	return work;
}

unsigned int
tf_dp_dispatch_poll(struct tf_dp_worker *w)
{
	unsigned int work = 0;

	for (unsigned int i = 0; i < w->naccel_slots; i++) {
		struct tf_dp_accel *a = &w->accels[i];
		enum tf_batch_due why;

		if (!a->id || !a->x)
			continue;
		work += poll_accel(w, a);
		if (a->state != TF_DP_ACCEL_UP)
			continue;
		while ((why = tf_batch_q_due(&a->q, &w->batching, w->now_us)) != TF_BATCH_NOT_DUE) {
			unsigned int posted = post_batch(w, a, why);

			if (!posted)
				break;
			work += posted;
		}
	}
	return work;
}

int
tf_dp_accel_open(struct tf_dp_worker *w, struct tf_dp_accel *a)
{
	char uri[TF_ADDR_LEN + 8];
	struct tf_xport_conn_cfg cfg = { .uri = uri,
					 .resp_ring_bytes = w->lim.resp_ring_bytes,
					 .peer_timeout_ms = w->lim.accel_peer_timeout_ms,
					 .connect_timeout_ms = w->lim.accel_connect_timeout_ms };

	snprintf(uri, sizeof(uri), "%s:%s", a->transport == TF_TRANSPORT_RDMA ? "rdma" : "shm",
		 a->address);
	a->state = TF_DP_ACCEL_CONNECTING;
	a->st.state = TF_HS_DOWN;
	return tf_xport_connect(w->xctx, &cfg, &a->x);
}

void
tf_dp_accel_close(struct tf_dp_worker *w, struct tf_dp_accel *a)
{
	unsigned int idx = (unsigned int)(a - w->accels);

	if (!a->x)
		return;
	/* Queued work goes elsewhere; what runs there ends now (re-dispatched or failed). */
	a->state = TF_DP_ACCEL_DOWN;
	drain_queue(w, a);
	for (uint32_t i = 0; i < w->nreqs && a->inflight; i++) {
		struct tf_dp_req *r = &w->reqs[i];

		if (r->state == TF_DP_REQ_POSTED && r->accel == (int16_t)idx) {
			left_accel(a, r);
			r->state = TF_DP_REQ_QUEUED;
			reroute_or_fail(w, r, TF_PROTO_E_INTERNAL, TF_USAGE_ACCEL_FAILED);
		}
	}
	tf_xport_disconnect(a->x);
	a->x = NULL;
	a->inflight = 0;
	a->outstanding = 0;
}
