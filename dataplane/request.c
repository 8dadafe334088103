/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Requests on their owner's lcore: at-most-once lookup, reassembly of
 * multi-datagram prompts (zero copy: the pieces stay in their frames),
 * admission, CANCEL and RESUME, the end of a request and the response cache.
 */
#include <errno.h>
#include <string.h>

#include "dataplane/worker_int.h"

/* ---- request objects ---- */

struct tf_dp_req *
tf_dp_req_get(struct tf_dp_worker *w, uint32_t index)
{
	return index < w->nreqs ? &w->reqs[index] : NULL;
}

static void cache_evict_one(struct tf_dp_worker *w);

static struct tf_dp_req *
req_alloc(struct tf_dp_worker *w, struct tf_dp_tenant *t)
{
	struct tf_dp_req *r;
	uint32_t gen, idx;

	if (!w->free_head && w->ncached)
		cache_evict_one(w); /* the oldest finished request makes room */
	if (!w->free_head)
		return NULL;
	r = &w->reqs[w->free_head - 1];
	w->free_head = r->link;
	gen = r->gen + 1;
	idx = r->index;
	memset(r, 0, sizeof(*r));
	r->gen = gen ? gen : 1;
	r->index = idx;
	r->accel = -1;
	r->tenant = t;
	r->tenant_id = t->id;
	t->refs++;
	tf_tokbuf_init(&r->tb);
	tf_utf8s_init(&r->utf8);
	w->used++;
	return r;
}

void
tf_dp_req_release_prompt(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	uint32_t s = r->seg_head;

	while (s) {
		struct tf_dp_seg *sg = &w->segs[s - 1];
		uint32_t next = sg->next;

		w->frames_held--;
		w->io_ops->rx_free(w->io, sg->cookie);
		sg->next = w->seg_free;
		w->seg_free = s;
		s = next;
	}
	r->seg_head = 0;
	r->nsegs = 0;
}

static void
reasm_unlink(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	uint32_t *pp = &w->reasm_list;

	while (*pp) {
		struct tf_dp_req *x = &w->reqs[*pp - 1];

		if (x == r) {
			*pp = r->link;
			break;
		}
		pp = &x->link;
	}
	r->link = 0;
	if (r->reasm) {
		w->reasm[r->reasm - 1].next_free = w->reasm_free;
		w->reasm_free = r->reasm;
		w->nreasm_used--;
		r->reasm = 0;
	}
}

void
tf_dp_req_free(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	if (r->reasm)
		reasm_unlink(w, r);
	tf_dp_deadline_disarm(w, r);
	tf_dp_req_release_prompt(w, r);
	tf_tokbuf_free(&w->tok, &r->tb);
	if (r->tenant)
		tf_dp_tenant_put(w, r->tenant);
	r->tenant = NULL;
	r->state = TF_DP_REQ_FREE;
	r->link = w->free_head;
	w->free_head = r->index + 1;
	w->used--;
}

/* ---- response cache: finished requests, oldest first out ---- */

static void
cache_push(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	r->cache_next = 0;
	if (w->cache_tail)
		w->reqs[w->cache_tail - 1].cache_next = r->index + 1;
	else
		w->cache_head = r->index + 1;
	w->cache_tail = r->index + 1;
	w->ncached++;
}

static void
cache_evict_one(struct tf_dp_worker *w)
{
	struct tf_dp_req *r = &w->reqs[w->cache_head - 1];
	struct tf_dedupe_ent *e;

	w->cache_head = r->cache_next;
	if (!w->cache_head)
		w->cache_tail = 0;
	w->ncached--;
	/* The id stays known (REPLAY detail 2 for a retransmission) until it expires. */
	e = tf_dedupe_at(&w->ids, r->ded_pos, r->tenant_id, r->request_id);
	if (e)
		e->ref = 0;
	tf_dp_req_free(w, r);
	/* The next to go: its line loads while the caller works (every new request evicts one). */
	if (w->cache_head)
		__builtin_prefetch(&w->reqs[w->cache_head - 1]);
}

void
tf_dp_cache_trim(struct tf_dp_worker *w, int need_chunks)
{
	uint64_t min_age = (uint64_t)w->lim.cache_min_ms * 1000;

	while (w->ncached) {
		struct tf_dp_req *r = &w->reqs[w->cache_head - 1];
		int over = w->ncached > w->lim.cache_entries;
		int low_tok = w->tok.nfree < (uint32_t)need_chunks;

		if (!over && !low_tok)
			break;
		/* Respect the minimum stay unless memory (not the entry count) is short. */
		if (!low_tok && w->now_us - r->t_final < min_age)
			break;
		cache_evict_one(w);
	}
}

/* ---- errors before admission ---- */

static void
refuse(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
       const struct tf_proto_msg *m, struct tf_dp_tenant *t, uint16_t code, uint32_t retry_ms,
       uint32_t detail)
{
	tf_dp_send_error(w, port, peer, m, tf_dp_tenant_key(t, m->key_id), code, retry_ms, detail);
}

/* Forgets a request that was never admitted: nothing stays behind. */
static void
abandon(struct tf_dp_worker *w, struct tf_dp_req *r)
{
	tf_dedupe_remove(&w->ids, r->tenant->id, r->request_id);
	tf_dp_req_free(w, r);
}

static uint32_t
retry_ms(const struct tf_dp_worker *w, uint64_t us)
{
	uint64_t ms = (us + 999) / 1000;

	if (us == 0 || us == UINT64_MAX)
		return w->lim.retry_after_ms;
	return (uint32_t)(ms > UINT32_MAX ? UINT32_MAX : ms);
}

/* ---- the REQUEST's fields ---- */

/* Checks a REQUEST against the model; 0, or sends the ERROR and returns -1. */
static int
check_request(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
	      const struct tf_proto_msg *m, struct tf_dp_tenant *t)
{
	const struct tf_proto_request *q = &m->u.req;
	const struct tf_dp_model *md = tf_dp_model_find(w, q->model_id);

	if (!md) {
		if (tf_dp_waiting_for_host(w)) {
			tf_dp_count_drop(w, TF_DROP_AUTH_UNCONFIGURED);
			refuse(w, port, peer, m, t, TF_PROTO_E_BUSY, w->host_wait_retry_ms, 0);
		} else {
			refuse(w, port, peer, m, t, TF_PROTO_E_UNKNOWN_MODEL, 0, q->model_id);
		}
		return -1;
	}
	if (q->max_new_tokens > md->max_new_tokens) {
		refuse(w, port, peer, m, t, TF_PROTO_E_TOO_LARGE, 0, md->max_new_tokens);
		return -1;
	}
	if (q->prompt_kind == TF_PROTO_PROMPT_TOKENS &&
	    q->prompt_total_len / 4 > md->max_prompt_tokens) {
		refuse(w, port, peer, m, t, TF_PROTO_E_TOO_LARGE, 0, md->max_prompt_tokens * 4);
		return -1;
	}
	return 0;
}

static void
take_header(struct tf_dp_req *r, const struct tf_proto_msg *m, const struct tf_dp_tenant *t)
{
	const struct tf_proto_request *q = &m->u.req;

	r->have_hdr = 1;
	r->model_id = q->model_id;
	r->max_new = q->max_new_tokens;
	r->prompt_total = q->prompt_total_len;
	r->kind = q->prompt_kind;
	r->prio = q->priority < t->max_prio ? q->priority : t->max_prio;
	r->want_text = !!(q->req_flags & TF_PROTO_RF_WANT_TEXT);
	r->final_tokens = !!(q->req_flags & TF_PROTO_RF_FINAL_TOKENS);
	r->temperature = q->temperature;
	r->top_p = q->top_p;
	r->seed = q->seed;
}

/* Inserts a piece into the request's list, sorted by prompt offset. */
static int
seg_add(struct tf_dp_worker *w, struct tf_dp_req *r, void *cookie, const uint8_t *p, uint32_t off,
	uint32_t len)
{
	uint32_t s = w->seg_free, *pp = &r->seg_head;
	struct tf_dp_seg *sg;

	if (!s || r->nsegs >= w->lim.max_segs || w->frames_held >= w->max_frames_held)
		return -ENOBUFS;
	w->frames_held++;
	sg = &w->segs[s - 1];
	w->seg_free = sg->next;
	sg->cookie = cookie;
	sg->p = p;
	sg->off = off;
	sg->len = len;
	while (*pp && w->segs[*pp - 1].off < off)
		pp = &w->segs[*pp - 1].next;
	sg->next = *pp;
	*pp = s;
	r->nsegs++;
	return 0;
}

/* ---- admission ---- */

static void
refuse_counted(struct tf_dp_worker *w, struct tf_dp_req *r, const struct tf_proto_msg *m,
	       uint16_t code, uint32_t retry, uint32_t detail)
{
	struct tf_dp_model *md = tf_dp_model_find(w, r->model_id);

	r->tenant->st.refused++;
	if (md)
		md->st.refused++;
	tf_dp_send_error(w, r->port, &r->peer, m, tf_dp_tenant_key(r->tenant, r->key_id), code,
			 retry, detail);
	abandon(w, r);
}

/*
 * The prompt is complete and authenticated: validate text, reserve budget,
 * take rates, route. m is the message that completed it (answers echo it).
 */
static void
complete(struct tf_dp_worker *w, struct tf_dp_req *r, const struct tf_proto_msg *m)
{
	struct tf_dp_tenant *t = r->tenant;
	struct tf_proto_msg ref = *m;
	struct tf_dp_model *md;
	enum tf_admit_verdict v;
	uint64_t ra = 0;

	ref.type = TF_PROTO_T_REQUEST;
	if (r->reasm)
		reasm_unlink(w, r);
	r->t_complete = w->now_us;
	tf_dp_count(w, TF_EV_REQ_RX, 1);
	if (r->kind == TF_PROTO_PROMPT_TEXT) {
		for (uint32_t s = r->seg_head; s; s = w->segs[s - 1].next)
			tf_utf8s_feed(&r->utf8, w->segs[s - 1].p, w->segs[s - 1].len);
		if (!tf_utf8s_ok(&r->utf8)) {
			tf_dp_count_drop(w, TF_DROP_PROTO_MALFORMED);
			tf_dp_send_error(w, r->port, &r->peer, &ref, tf_dp_tenant_key(t, r->key_id),
					 TF_PROTO_E_MALFORMED, 0,
					 (uint32_t)TF_PROTO_R_BAD_FIELD << 16 |
						 (TF_PROTO_HDR_LEN + TF_PROTO_REQUEST_FIXED));
			abandon(w, r);
			return;
		}
	}
	md = tf_dp_model_find(w, r->model_id);
	if (!md) {
		refuse_counted(w, r, &ref, TF_PROTO_E_UNKNOWN_MODEL, 0, r->model_id);
		return;
	}
	if (w->draining || !tf_dp_model_available(w, r->model_id) ||
	    tf_dp_usage_backlog(w) + w->lim.max_queue >= w->backlog_cap) {
		refuse_counted(w, r, &ref, TF_PROTO_E_BUSY, w->lim.retry_after_ms, 0);
		return;
	}
	if (t->flags & TF_TENANT_F_DISABLED) {
		refuse_counted(w, r, &ref, TF_PROTO_E_QUOTA_EXHAUSTED, 0, 1);
		return;
	}
	/*
	 * Prompt tokens to reserve: exact for token ids; for text an upper bound
	 * (one token per byte at worst, plus BOS and the tokenizer's leading space).
	 */
	r->prompt_est =
		r->kind == TF_PROTO_PROMPT_TOKENS ? r->prompt_total / 4 : r->prompt_total + 3;
	r->work = r->prompt_est + r->max_new;
	r->price_per_1k = tf_dp_tenant_price(t, r->model_id);
	r->reserve_micro = tf_admit_cost(r->work, r->price_per_1k);
	v = tf_admit_try(&t->adm, &w->aq, r->work, r->reserve_micro, r->prio, w->now_us, &ra);
	switch (v) {
	case TF_ADMIT_OK:
		break;
	case TF_ADMIT_QUOTA:
		refuse_counted(w, r, &ref, TF_PROTO_E_QUOTA_EXHAUSTED, 0, 0);
		return;
	case TF_ADMIT_RATE:
		refuse_counted(w, r, &ref, TF_PROTO_E_RATE_LIMITED, retry_ms(w, ra), 0);
		return;
	case TF_ADMIT_BUSY:
		refuse_counted(w, r, &ref, TF_PROTO_E_BUSY, retry_ms(w, ra), 0);
		return;
	case TF_ADMIT_TOO_LARGE:
	default:
		refuse_counted(w, r, &ref, TF_PROTO_E_TOO_LARGE, 0,
			       (uint32_t)(t->adm.tok_rate.burst > UINT32_MAX
						  ? UINT32_MAX
						  : t->adm.tok_rate.burst));
		return;
	}
	r->state = TF_DP_REQ_QUEUED;
	r->t_admit = w->now_us;
	tf_dp_deadline_arm(w, r);
	tf_dp_count(w, TF_EV_REQ_ADMITTED, 1);
	t->st.requests++;
	t->st.active++;
	md->st.requests++;
	md->st.active++;
	if (tf_dp_route(w, r) < 0) {
		/* No accelerator took it after all: it was admitted, so it ends with a FINAL. */
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CUT_OFF, TF_PROTO_E_BUSY, TF_USAGE_INTERNAL);
	}
}

/* ---- REQUEST and REQ_FRAGMENT ---- */

/* Adds one piece to a request being reassembled; consumes cookie. */
static void
add_piece(struct tf_dp_worker *w, struct tf_dp_req *r, void *cookie, const struct tf_proto_msg *m)
{
	struct tf_proto_reasm *ra = &w->reasm[r->reasm - 1].r;
	uint32_t total, off, len;
	const uint8_t *data;
	int rc;

	if (m->type == TF_PROTO_T_REQUEST) {
		if (!r->have_hdr) {
			if (check_request(w, r->port, &r->peer, m, r->tenant) < 0) {
				w->io_ops->rx_free(w->io, cookie);
				abandon(w, r);
				return;
			}
			take_header(r, m, r->tenant);
		}
		total = m->u.req.prompt_total_len;
		off = 0;
		data = m->u.req.prompt;
		len = m->u.req.prompt_len;
	} else {
		total = m->u.frag.prompt_total_len;
		off = m->u.frag.offset;
		data = m->u.frag.data;
		len = m->u.frag.len;
		tf_dp_count(w, TF_EV_FRAGS_RX, 1);
	}
	rc = tf_proto_reasm_add(ra, total, off, data, len);
	if (rc == 1 || (rc == 0 && len == 0)) {
		w->io_ops->rx_free(w->io, cookie); /* a duplicate piece */
	} else if (rc < 0) {
		enum tf_dp_drop d =
			rc == -TF_PROTO_R_FRAG_OVERLAP ? TF_DROP_REASM_OVERLAP : TF_DROP_REASM_LIE;
		uint32_t field =
			m->type == TF_PROTO_T_REQUEST ? TF_PROTO_HDR_LEN + 8 : TF_PROTO_HDR_LEN + 4;

		tf_dp_count_drop(w, d);
		tf_dp_send_error(w, r->port, &r->peer, m, tf_dp_tenant_key(r->tenant, r->key_id),
				 tf_proto_reason_error(-rc), 0, (uint32_t)(-rc) << 16 | field);
		w->io_ops->rx_free(w->io, cookie);
		abandon(w, r);
		return;
	} else if (seg_add(w, r, cookie, data, off, len) < 0) {
		tf_dp_count_drop(w, TF_DROP_REASM_NOMEM);
		tf_dp_send_error(w, r->port, &r->peer, m, tf_dp_tenant_key(r->tenant, r->key_id),
				 TF_PROTO_E_BUSY, w->lim.retry_after_ms, 0);
		w->io_ops->rx_free(w->io, cookie);
		abandon(w, r);
		return;
	}
	r->reasm_deadline_us = w->now_us + (uint64_t)w->lim.reasm_timeout_ms * 1000;
	if (r->have_hdr && tf_proto_reasm_done(ra))
		complete(w, r, m);
}

/* A new (tenant, request id): start it. Consumes cookie. */
static void
start(struct tf_dp_worker *w, uint16_t port, void *cookie, const struct tf_pkt_peer *peer,
      const struct tf_proto_msg *m, struct tf_dp_tenant *t)
{
	int single =
		m->type == TF_PROTO_T_REQUEST && m->u.req.prompt_len == m->u.req.prompt_total_len;
	struct tf_dedupe_ent *e;
	struct tf_dp_req *r;
	uint64_t ra;

	if (w->draining) {
		refuse(w, port, peer, m, t, TF_PROTO_E_BUSY, w->lim.retry_after_ms, 0);
		goto drop;
	}
	if (m->type == TF_PROTO_T_REQUEST && check_request(w, port, peer, m, t) < 0)
		goto drop;
	if (!single && w->nreasm_used >= w->lim.reasm_contexts) {
		tf_dp_count_drop(w, TF_DROP_REASM_NOMEM);
		refuse(w, port, peer, m, t, TF_PROTO_E_BUSY, w->lim.retry_after_ms, 0);
		goto drop;
	}
	if (TF_DP_UNLIKELY(w->frames_held >= w->max_frames_held)) {
		/*
		 * Queued prompts stay in their packet buffers (zero copy): past this
		 * worker's share of the pool, no buffer would be left to receive or to
		 * answer with. "Not now", for as long as the queue needs to move.
		 */
		tf_dp_count_drop(w, TF_DROP_FRAMES_HELD);
		refuse(w, port, peer, m, t, TF_PROTO_E_BUSY,
		       retry_ms(w, tf_admit_busy_wait_us(&w->aq)), 0);
		goto drop;
	}
	r = req_alloc(w, t);
	if (!r) {
		refuse(w, port, peer, m, t, TF_PROTO_E_BUSY, w->lim.retry_after_ms, 0);
		goto drop;
	}
	r->request_id = m->request_id;
	r->key_id = m->key_id;
	r->mac_alg = m->mac_alg;
	r->port = port;
	r->peer = *peer; /* every answer goes where the first piece came from */
	e = tf_dedupe_insert(&w->ids, t->id, m->request_id, r->index + 1,
			     w->now_us + (uint64_t)w->lim.replay_window_ms * 1000, w->now_us, &ra);
	if (!e) {
		/* Every remembered id is still inside the replay window. */
		tf_dp_req_free(w, r);
		refuse(w, port, peer, m, t, TF_PROTO_E_BUSY, retry_ms(w, ra), 0);
		goto drop;
	}
	r->ded_pos = tf_dedupe_pos(&w->ids, e);
	if (single) {
		take_header(r, m, t);
		r->state = TF_DP_REQ_REASM; /* not admitted yet; complete() decides */
		if (m->u.req.prompt_len &&
		    seg_add(w, r, cookie, m->u.req.prompt, 0, m->u.req.prompt_len) < 0) {
			tf_dp_count_drop(w, TF_DROP_REASM_NOMEM);
			refuse(w, port, peer, m, t, TF_PROTO_E_BUSY, w->lim.retry_after_ms, 0);
			abandon(w, r);
			goto drop;
		}
		complete(w, r, m);
		return;
	}
	r->state = TF_DP_REQ_REASM;
	r->reasm = w->reasm_free;
	w->reasm_free = w->reasm[r->reasm - 1].next_free;
	w->nreasm_used++;
	tf_proto_reasm_init(&w->reasm[r->reasm - 1].r, NULL, 0);
	r->link = w->reasm_list;
	w->reasm_list = r->index + 1;
	add_piece(w, r, cookie, m);
	return;
drop:
	w->io_ops->rx_free(w->io, cookie);
}

void
tf_dp_on_request(struct tf_dp_worker *w, uint16_t port, void *cookie,
		 const struct tf_pkt_peer *peer, struct tf_proto_msg *m, struct tf_dp_tenant *t)
{
	struct tf_dedupe_ent *e = tf_dedupe_find(&w->ids, t->id, m->request_id);
	struct tf_dp_req *r;

	if (!e) {
		start(w, port, cookie, peer, m, t);
		return;
	}
	if (!e->ref) {
		/* It ran, and its response left the cache: never run it twice. */
		refuse(w, port, peer, m, t, TF_PROTO_E_REPLAY, 0, 2);
		w->io_ops->rx_free(w->io, cookie);
		return;
	}
	r = &w->reqs[e->ref - 1];
	switch (r->state) {
	case TF_DP_REQ_REASM:
		add_piece(w, r, cookie, m);
		return;
	case TF_DP_REQ_QUEUED:
	case TF_DP_REQ_POSTED:
		/* The client has seen nothing yet: RESUME from 0 (tokens so far, or a beacon). */
		tf_dp_count_drop(w, TF_DROP_DUP_INFLIGHT);
		if (m->type == TF_PROTO_T_REQUEST)
			tf_dp_resend(w, r, 0, 0);
		break;
	case TF_DP_REQ_DONE:
		if (m->type == TF_PROTO_T_REQUEST) {
			tf_dp_count(w, TF_EV_RETX_ANSWERED, 1);
			r->tenant = t;
			tf_dp_resend(w, r, 0, TF_PROTO_F_FROM_CACHE);
			r->tenant = NULL;
		}
		break;
	default:
		break;
	}
	w->io_ops->rx_free(w->io, cookie);
}

/* ---- CANCEL and RESUME ---- */

void
tf_dp_on_cancel(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
		struct tf_proto_msg *m, struct tf_dp_tenant *t)
{
	struct tf_dedupe_ent *e = tf_dedupe_find(&w->ids, t->id, m->request_id);
	struct tf_dp_req *r;

	if (!e) {
		refuse(w, port, peer, m, t, TF_PROTO_E_UNKNOWN_REQUEST, 0, 0);
		return;
	}
	if (!e->ref) {
		refuse(w, port, peer, m, t, TF_PROTO_E_REPLAY, 0, 2);
		return;
	}
	r = &w->reqs[e->ref - 1];
	switch (r->state) {
	case TF_DP_REQ_REASM:
		/* Never admitted: nothing ran, nothing is billed, nothing stays. */
		r->finish = TF_PROTO_FINISH_CANCELLED;
		r->finished = 1;
		r->t_final = w->now_us;
		tf_dp_send_final(w, r, 0);
		abandon(w, r);
		break;
	case TF_DP_REQ_QUEUED:
		tf_dp_dequeue(w, r);
		tf_dp_req_finish(w, r, TF_PROTO_FINISH_CANCELLED, 0, TF_USAGE_CANCELLED);
		break;
	case TF_DP_REQ_POSTED:
		if (!r->cancel) {
			struct tf_dp_accel *a = &w->accels[r->accel];
			uint64_t h = tf_dp_req_handle(r);

			r->cancel = 1;
			if (a->x)
				tf_xport_cancel(a->x, &h, 1);
		}
		/* The FINAL goes out when the accelerator confirms (END or ERROR). */
		break;
	case TF_DP_REQ_DONE:
		r->tenant = t;
		tf_dp_send_final(w, r, TF_PROTO_F_FROM_CACHE);
		r->tenant = NULL;
		break;
	default:
		break;
	}
	tf_dp_count(w, TF_EV_REQ_CANCELLED, 1);
}

void
tf_dp_on_resume(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
		struct tf_proto_msg *m, struct tf_dp_tenant *t)
{
	struct tf_dedupe_ent *e = tf_dedupe_find(&w->ids, t->id, m->request_id);
	uint32_t from = m->u.resume.from_seq;
	struct tf_dp_req *r;

	if (!e) {
		refuse(w, port, peer, m, t, TF_PROTO_E_UNKNOWN_REQUEST, 0, 0);
		return;
	}
	if (!e->ref) {
		refuse(w, port, peer, m, t, TF_PROTO_E_RESUME_UNAVAILABLE, 0, UINT32_MAX);
		return;
	}
	r = &w->reqs[e->ref - 1];
	tf_dp_count(w, TF_EV_RESUMES, 1);
	if (r->state == TF_DP_REQ_REASM) {
		tf_dp_send_beacon(w, r, 0);
		return;
	}
	if (from < r->tb.first_avail && from < r->tb.count) {
		/* Answers go to the recorded address only (protocol.md 7.4). */
		tf_dp_send_error(w, r->port, &r->peer, m, tf_dp_tenant_key(t, r->key_id),
				 TF_PROTO_E_RESUME_UNAVAILABLE, 0, r->tb.first_avail);
		return;
	}
	if (r->state == TF_DP_REQ_DONE) {
		r->tenant = t;
		tf_dp_resend(w, r, from, TF_PROTO_F_FROM_CACHE);
		r->tenant = NULL;
		return;
	}
	tf_dp_resend(w, r, from, 0);
}

/* ---- the end of an admitted request ---- */

void
tf_dp_req_finish(struct tf_dp_worker *w, struct tf_dp_req *r, uint8_t finish, uint16_t error_code,
		 uint16_t outcome)
{
	struct tf_dp_tenant *t = r->tenant;
	struct tf_dp_model *md = tf_dp_model_find(w, r->model_id);
	uint64_t cost;

	if (r->finished)
		return;
	r->finished = 1;
	tf_dp_deadline_disarm(w, r);
	r->finish = finish;
	r->error_code = error_code;
	r->outcome = outcome;
	r->t_final = w->now_us;
	if (!r->t_flush)
		r->t_flush = r->t_final;
	cost = tf_admit_cost((uint64_t)r->prompt_tokens + r->tb.count, r->price_per_1k);
	r->cost_micro = tf_admit_end(&t->adm, &w->aq, r->reserve_micro, cost);
	if (TF_DP_UNLIKELY(t->dry))
		tf_dp_tenant_recheck_dry(w, t);
	t->st.active--;
	t->st.prompt_tokens += r->prompt_tokens;
	t->st.completion_tokens += r->tb.count;
	t->st.cost_micro += r->cost_micro;
	if (md) {
		md->st.active--;
		md->st.prompt_tokens += r->prompt_tokens;
		md->st.completion_tokens += r->tb.count;
		md->st.cost_micro += r->cost_micro;
	}
	if (r->accel >= 0) {
		struct tf_dp_accel *a = &w->accels[r->accel];

		a->st.prompt_tokens += r->prompt_tokens;
		a->st.completion_tokens += r->tb.count;
		a->st.cost_micro += r->cost_micro;
	}
	switch (outcome) {
	case TF_USAGE_OK:
		tf_dp_count(w, TF_EV_REQ_DONE, 1);
		break;
	case TF_USAGE_CUT_OFF:
		tf_dp_count(w, TF_EV_REQ_CUTOFF, 1);
		break;
	case TF_USAGE_CANCELLED:
		break;
	case TF_USAGE_TIMEOUT: /* a failure too, counted as such below */
		tf_dp_count(w, TF_EV_GEN_TIMEOUT, 1);
		/* fall through */
	default:
		tf_dp_count(w, TF_EV_REQ_FAILED, 1);
		t->st.failed++;
		if (md)
			md->st.failed++;
		break;
	}
	tf_dp_send_final(w, r, 0);
	tf_dp_usage_emit(w, r);
	tf_dp_req_release_prompt(w, r);
	r->state = TF_DP_REQ_DONE;
	/*
	 * Cached requests hold no tenant reference: evicting one (once per new
	 * request when the cache is full) then never touches a tenant object, a
	 * cache miss each with 10^5 tenants; a deleted tenant goes when it ends.
	 */
	tf_dp_tenant_put(w, t);
	r->tenant = NULL;
	cache_push(w, r);
	tf_dp_cache_trim(w, 0);
}

/* ---- reassembly deadlines ---- */

void
tf_dp_reasm_timers(struct tf_dp_worker *w)
{
	uint32_t i = w->reasm_list;

	while (i) {
		struct tf_dp_req *r = &w->reqs[i - 1];

		i = r->link;
		if (r->reasm_deadline_us > w->now_us)
			continue;
		tf_dp_count_drop(w, TF_DROP_REASM_TIMEOUT);
		if (r->have_hdr) {
			struct tf_proto_msg m = { .type = TF_PROTO_T_REQUEST,
						  .mac_alg = r->mac_alg,
						  .tenant_id = r->tenant->id,
						  .request_id = r->request_id,
						  .key_id = r->key_id };

			tf_dp_send_error(w, r->port, &r->peer, &m,
					 tf_dp_tenant_key(r->tenant, r->key_id), TF_PROTO_E_TIMEOUT,
					 0, 1);
		}
		abandon(w, r);
	}
}
