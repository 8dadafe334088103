/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One tokfab-baseline worker thread: its own SO_REUSEPORT socket (the kernel
 * spreads client flows over the workers), epoll + recvmmsg, the protocol
 * (libtfproto: decode, MAC, replay window, reassembly), its own engine
 * (libtfengine) stepped between receive bursts, TOKENS per engine step and
 * FINAL through sendmmsg. Everything on the host CPU: this is the data path
 * the card takes off the host.
 */
#include "baseline/baseline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define RX_BATCH 32
#define TX_BATCH 64
#define DGRAM TF_PROTO_DEFAULT_DGRAM

struct wctx {
	struct bl_worker *w;
	const struct bl_cfg *cfg;
	uint32_t vocab, seq_len;
	uint32_t nreasm; /* requests still being reassembled */
	uint64_t now; /* realtime us, refreshed per burst */
	struct tf_engine_event *ev;
	size_t evcap;
	int32_t *tokbuf;
	struct mmsghdr rm[RX_BATCH];
	struct iovec riov[RX_BATCH];
	struct sockaddr_storage raddr[RX_BATCH];
	uint8_t rx[RX_BATCH][TF_PROTO_MAX_DGRAM + 1];
	struct mmsghdr tm[TX_BATCH];
	struct iovec tiov[TX_BATCH];
	struct sockaddr_storage taddr[TX_BATCH];
	uint8_t tx[TX_BATCH][TF_PROTO_MAX_DGRAM];
	unsigned int ntx;
};

static uint64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static double
thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- sending ------------------------------------------------------------ */

static void
tx_flush(struct wctx *x)
{
	unsigned int off = 0;
	int n;

	while (off < x->ntx) {
		n = sendmmsg(x->w->fd, x->tm + off, x->ntx - off, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			x->w->st.dropped += x->ntx - off;
			break;
		}
		x->w->st.tx_dgrams += (uint64_t)n;
		off += (unsigned int)n;
	}
	x->ntx = 0;
}

/* Encodes m for peer into the next TX slot. */
static void
tx_msg(struct wctx *x, const struct tf_proto_msg *m, const struct tf_proto_key *k,
       const struct sockaddr_storage *peer, socklen_t plen)
{
	unsigned int i;
	int len;

	if (x->ntx == TX_BATCH)
		tx_flush(x);
	i = x->ntx;
	len = tf_proto_encode(x->tx[i], sizeof(x->tx[i]), m, k);
	if (len <= 0) {
		x->w->st.dropped++;
		return;
	}
	memcpy(&x->taddr[i], peer, plen);
	x->tiov[i].iov_base = x->tx[i];
	x->tiov[i].iov_len = (size_t)len;
	memset(&x->tm[i], 0, sizeof(x->tm[i]));
	x->tm[i].msg_hdr.msg_name = &x->taddr[i];
	x->tm[i].msg_hdr.msg_namelen = plen;
	x->tm[i].msg_hdr.msg_iov = &x->tiov[i];
	x->tm[i].msg_hdr.msg_iovlen = 1;
	x->ntx++;
}

static void
hdr(struct wctx *x, struct tf_proto_msg *m, uint8_t type, uint32_t tenant, uint8_t key_id,
    uint64_t rid, uint8_t flags)
{
	memset(m, 0, sizeof(*m));
	m->version = TF_PROTO_VERSION;
	m->type = type;
	m->flags = flags;
	m->tenant_id = tenant;
	m->key_id = key_id;
	m->request_id = rid;
	m->timestamp_us = x->now;
}

static void
tx_error(struct wctx *x, const struct tf_proto_msg *in, const struct tf_proto_key *k, uint16_t code,
	 uint32_t retry_after, uint32_t detail, const struct sockaddr_storage *peer, socklen_t plen)
{
	struct tf_proto_msg m;

	hdr(x, &m, TF_PROTO_T_ERROR, in->tenant_id, in->key_id, in->request_id, 0);
	m.u.err.code = code;
	m.u.err.ref_type = in->type;
	m.u.err.retry_after_ms = retry_after;
	m.u.err.detail = detail;
	tx_msg(x, &m, k, peer, plen);
	x->w->st.errors_sent++;
}

/* A datagram refused by the codec: the ERROR the spec asks for, or nothing. */
static void
tx_reject(struct wctx *x, const struct tf_proto_msg *in, size_t in_len, int reason,
	  const struct tf_proto_key *k, const struct sockaddr_storage *peer, socklen_t plen)
{
	unsigned int i;
	int len;

	if (x->ntx == TX_BATCH)
		tx_flush(x);
	i = x->ntx;
	len = tf_proto_encode_reject(x->tx[i], sizeof(x->tx[i]), in, in_len, reason, k, x->now);
	if (len <= 0)
		return;
	memcpy(&x->taddr[i], peer, plen);
	x->tiov[i].iov_base = x->tx[i];
	x->tiov[i].iov_len = (size_t)len;
	memset(&x->tm[i], 0, sizeof(x->tm[i]));
	x->tm[i].msg_hdr.msg_name = &x->taddr[i];
	x->tm[i].msg_hdr.msg_namelen = plen;
	x->tm[i].msg_hdr.msg_iov = &x->tiov[i];
	x->tm[i].msg_hdr.msg_iovlen = 1;
	x->ntx++;
	x->w->st.errors_sent++;
}

/* TOKENS for indexes [from, r->ntok), as many datagrams as needed; a beacon if none. */
static void
tx_tokens(struct wctx *x, struct bl_req *r, uint32_t from, uint8_t flags)
{
	const uint32_t room = DGRAM - TF_PROTO_HDR_LEN - TF_PROTO_MAC_LEN - TF_PROTO_TOKENS_FIXED;
	struct tf_proto_msg m;
	uint32_t toff = 0;

	if (r->want_text)
		for (uint32_t i = 0; i < from && i < r->ntok; i++)
			toff += r->plen[i];
	do {
		uint32_t n = 0, bytes = 0, tb = 0;

		while (from + n < r->ntok && n < 65535) {
			uint32_t add = 4 + (r->want_text ? 1u + r->plen[from + n] : 0u);

			if (bytes + add > room)
				break;
			bytes += add;
			tb += r->want_text ? r->plen[from + n] : 0;
			n++;
		}
		hdr(x, &m, TF_PROTO_T_TOKENS, r->tenant_id, r->key_id, r->rid, flags);
		m.u.tokens.first_seq = from < r->ntok ? from : r->ntok;
		m.u.tokens.n_tokens = (uint16_t)n;
		m.u.tokens.ids = r->ids + 4 * (size_t)from;
		if (r->want_text) {
			m.u.tokens.chunk_flags = TF_PROTO_CF_HAS_TEXT;
			m.u.tokens.piece_lens = r->plen + from;
			m.u.tokens.text = r->text + toff;
			m.u.tokens.text_len = tb;
		}
		tx_msg(x, &m, &r->t->key, &r->peer, r->peerlen);
		from += n;
		toff += tb;
	} while (from < r->ntok);
}

static void
tx_final(struct wctx *x, struct bl_req *r, uint8_t flags)
{
	struct tf_proto_msg m;

	hdr(x, &m, TF_PROTO_T_FINAL, r->tenant_id, r->key_id, r->rid, flags);
	m.u.final = r->final;
	tx_msg(x, &m, &r->t->key, &r->peer, r->peerlen);
}

/* ---- requests ----------------------------------------------------------- */

static const struct bl_tenant *
tenant_find(const struct bl_cfg *cfg, uint32_t id)
{
	uint32_t lo = 0, hi = cfg->ntenants;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (cfg->tenants[mid].id == id)
			return &cfg->tenants[mid];
		if (cfg->tenants[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int
tok_append(struct bl_req *r, int32_t id, const char *piece, size_t plen)
{
	if (r->ntok == r->cap) {
		uint32_t nc = r->cap ? r->cap * 2 : 32;
		uint8_t *ni = realloc(r->ids, 4 * (size_t)nc), *np;

		if (!ni)
			return -ENOMEM;
		r->ids = ni;
		if (r->want_text) {
			np = realloc(r->plen, nc);
			if (!np)
				return -ENOMEM;
			r->plen = np;
		}
		r->cap = nc;
	}
	tf_proto_st32(r->ids + 4 * (size_t)r->ntok, (uint32_t)id);
	if (r->want_text) {
		if (plen > 255)
			plen = 255;
		if (r->text_len + plen > r->text_cap) {
			uint32_t nc = r->text_cap ? r->text_cap * 2 : 256;
			uint8_t *nt;

			while (nc < r->text_len + plen)
				nc *= 2;
			nt = realloc(r->text, nc);
			if (!nt)
				return -ENOMEM;
			r->text = nt;
			r->text_cap = nc;
		}
		memcpy(r->text + r->text_len, piece, plen);
		r->text_len += (uint32_t)plen;
		r->plen[r->ntok] = (uint8_t)plen;
	}
	r->ntok++;
	return 0;
}

static void
req_drop(struct wctx *x, struct bl_req *r)
{
	if (r->state == BL_REASM)
		x->nreasm--;
	bl_reqtab_del(&x->w->tab, r);
}

/* The whole prompt is here: tokens into the engine, or an ERROR and nothing left behind. */
static void
req_start(struct wctx *x, struct bl_req *r, const uint8_t *prompt)
{
	struct tf_proto_msg in;
	uint32_t total = r->p.prompt_total_len, n;
	int rc;

	hdr(x, &in, TF_PROTO_T_REQUEST, r->tenant_id, r->key_id, r->rid, 0);
	if (r->p.prompt_kind == TF_PROTO_PROMPT_TOKENS) {
		n = total / 4;
		if (n > x->seq_len) {
			tx_error(x, &in, &r->t->key, TF_PROTO_E_TOO_LARGE, 0, x->seq_len * 4,
				 &r->peer, r->peerlen);
			goto drop;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t id = tf_proto_ld32(prompt + 4 * i);

			if (id >= x->vocab) {
				tx_error(x, &in, &r->t->key, TF_PROTO_E_MALFORMED, 0,
					 (uint32_t)TF_PROTO_R_BAD_FIELD << 16, &r->peer,
					 r->peerlen);
				goto drop;
			}
			x->tokbuf[i] = (int32_t)id;
		}
	} else {
		if (!tf_proto_utf8_valid(prompt, total)) {
			tx_error(x, &in, &r->t->key, TF_PROTO_E_MALFORMED, 0,
				 (uint32_t)TF_PROTO_R_BAD_FIELD << 16, &r->peer, r->peerlen);
			goto drop;
		}
		rc = tf_engine_tokenize(x->w->eng, (const char *)prompt, total,
					TF_ENGINE_TOK_BOS | TF_ENGINE_TOK_SPACE_PREFIX, x->tokbuf,
					x->seq_len);
		if (rc <= 0) {
			tx_error(x, &in, &r->t->key, TF_PROTO_E_TOO_LARGE, 0, x->seq_len, &r->peer,
				 r->peerlen);
			goto drop;
		}
		n = (uint32_t)rc;
	}
	rc = tf_engine_seq_add(x->w->eng, &(struct tf_engine_seq_params){
						  .prompt = x->tokbuf,
						  .prompt_len = n,
						  .max_new_tokens = r->p.max_new_tokens,
						  .temperature = (float)r->p.temperature / 1000.0f,
						  .top_p = (float)r->p.top_p / 10000.0f,
						  .seed = r->p.seed,
						  .priority = r->p.priority,
						  .cookie = (uint64_t)(uintptr_t)r,
					  });
	if (rc == -EAGAIN) {
		x->w->st.busy++;
		tx_error(x, &in, &r->t->key, TF_PROTO_E_BUSY, 20, 0, &r->peer, r->peerlen);
		goto drop;
	}
	if (rc < 0) {
		tx_error(x, &in, &r->t->key,
			 rc == -E2BIG ? TF_PROTO_E_TOO_LARGE : TF_PROTO_E_MALFORMED, 0, 0, &r->peer,
			 r->peerlen);
		goto drop;
	}
	if (r->state == BL_REASM)
		x->nreasm--;
	free(r->prompt);
	r->prompt = NULL;
	r->state = BL_RUN;
	r->final.prompt_tokens = n;
	r->t_complete_us = x->now;
	x->w->st.requests++;
	return;
drop:
	req_drop(x, r);
}

static void
on_request(struct wctx *x, const struct tf_proto_msg *m, const struct bl_tenant *t,
	   const struct sockaddr_storage *peer, socklen_t plen)
{
	const struct tf_proto_request *q = &m->u.req;
	struct bl_req *r = bl_reqtab_find(&x->w->tab, m->tenant_id, m->request_id);
	int rc;

	if (m->flags & TF_PROTO_F_RETRANSMIT)
		x->w->st.retransmits++;
	if (r && r->state == BL_RUN) { /* no response seen yet: RESUME from 0 */
		tx_tokens(x, r, 0, 0);
		return;
	}
	if (r && r->state == BL_DONE) { /* from the response cache */
		if (r->ntok)
			tx_tokens(x, r, 0, TF_PROTO_F_FROM_CACHE);
		tx_final(x, r, TF_PROTO_F_FROM_CACHE);
		return;
	}
	if (q->model_id != x->cfg->model_id) {
		tx_error(x, m, &t->key, TF_PROTO_E_UNKNOWN_MODEL, 0, q->model_id, peer, plen);
		return;
	}
	if (q->max_new_tokens > x->cfg->max_new_tokens) {
		tx_error(x, m, &t->key, TF_PROTO_E_TOO_LARGE, 0, x->cfg->max_new_tokens, peer,
			 plen);
		return;
	}
	if (!r) {
		r = bl_reqtab_add(&x->w->tab, m->tenant_id, m->request_id);
		if (!r) {
			x->w->st.busy++;
			tx_error(x, m, &t->key, TF_PROTO_E_BUSY, 50, 0, peer, plen);
			return;
		}
		r->state = BL_REASM;
		x->nreasm++;
	}
	/* the REQUEST (maybe after fragments) fixes the parameters and the address */
	r->t = t;
	r->key_id = m->key_id;
	r->p = *q;
	r->p.prompt = NULL;
	r->want_text = q->req_flags & TF_PROTO_RF_WANT_TEXT;
	memcpy(&r->peer, peer, plen);
	r->peerlen = plen;
	r->t_first_us = x->now;
	if (q->prompt_len == q->prompt_total_len && !r->prompt) {
		req_start(x, r, q->prompt);
		return;
	}
	if (!r->prompt) {
		r->prompt = malloc(q->prompt_total_len);
		if (!r->prompt) {
			tx_error(x, m, &t->key, TF_PROTO_E_BUSY, 50, 0, peer, plen);
			req_drop(x, r);
			return;
		}
		tf_proto_reasm_init(&r->reasm, r->prompt, q->prompt_total_len);
	}
	rc = tf_proto_reasm_add(&r->reasm, q->prompt_total_len, 0, q->prompt, q->prompt_len);
	if (rc < 0) {
		tx_reject(x, m, m->signed_len + TF_PROTO_MAC_LEN, -rc, &t->key, peer, plen);
		req_drop(x, r);
		return;
	}
	r->deadline_us = x->now + (uint64_t)x->cfg->reasm_timeout_ms * 1000;
	if (tf_proto_reasm_done(&r->reasm))
		req_start(x, r, r->prompt);
}

static void
on_fragment(struct wctx *x, const struct tf_proto_msg *m, const struct bl_tenant *t,
	    const struct sockaddr_storage *peer, socklen_t plen)
{
	const struct tf_proto_fragment *f = &m->u.frag;
	struct bl_req *r = bl_reqtab_find(&x->w->tab, m->tenant_id, m->request_id);
	int rc;

	if (r && r->state != BL_REASM)
		return; /* a late duplicate of a complete prompt */
	if (!r) {
		r = bl_reqtab_add(&x->w->tab, m->tenant_id, m->request_id);
		if (!r) {
			tx_error(x, m, &t->key, TF_PROTO_E_BUSY, 50, 0, peer, plen);
			return;
		}
		r->state = BL_REASM;
		x->nreasm++;
		r->t = t;
		r->key_id = m->key_id;
		memcpy(&r->peer, peer, plen);
		r->peerlen = plen;
	}
	if (!r->prompt) {
		r->prompt = malloc(f->prompt_total_len);
		if (!r->prompt) {
			req_drop(x, r);
			return;
		}
		tf_proto_reasm_init(&r->reasm, r->prompt, f->prompt_total_len);
	}
	rc = tf_proto_reasm_add(&r->reasm, f->prompt_total_len, f->offset, f->data, f->len);
	if (rc < 0) {
		tx_reject(x, m, m->signed_len + TF_PROTO_MAC_LEN, -rc, &t->key, peer, plen);
		req_drop(x, r);
		return;
	}
	r->deadline_us = x->now + (uint64_t)x->cfg->reasm_timeout_ms * 1000;
	/* complete only once the REQUEST itself (its parameters) arrived */
	if (tf_proto_reasm_done(&r->reasm) && r->p.prompt_total_len)
		req_start(x, r, r->prompt);
}

static void
on_cancel(struct wctx *x, const struct tf_proto_msg *m, const struct bl_tenant *t,
	  const struct sockaddr_storage *peer, socklen_t plen)
{
	struct bl_req *r = bl_reqtab_find(&x->w->tab, m->tenant_id, m->request_id);

	if (!r || r->state == BL_REASM) {
		if (r)
			req_drop(x, r);
		tx_error(x, m, &t->key, TF_PROTO_E_UNKNOWN_REQUEST, 0, 0, peer, plen);
		return;
	}
	if (r->state == BL_DONE) {
		tx_final(x, r, TF_PROTO_F_FROM_CACHE);
		return;
	}
	if (!r->cancelled) {
		r->cancelled = true;
		tf_engine_seq_cancel(x->w->eng, (uint64_t)(uintptr_t)r);
	}
}

static void
on_resume(struct wctx *x, const struct tf_proto_msg *m, const struct bl_tenant *t,
	  const struct sockaddr_storage *peer, socklen_t plen)
{
	struct bl_req *r = bl_reqtab_find(&x->w->tab, m->tenant_id, m->request_id);

	x->w->st.resumes++;
	if (!r || r->state == BL_REASM) {
		tx_error(x, m, &t->key, TF_PROTO_E_UNKNOWN_REQUEST, 0, 0, peer, plen);
		return;
	}
	tx_tokens(x, r, m->u.resume.from_seq < r->ntok ? m->u.resume.from_seq : r->ntok, 0);
	if (r->state == BL_DONE)
		tx_final(x, r, 0);
}

static void
on_ping(struct wctx *x, const struct tf_proto_msg *m, const struct bl_tenant *t,
	const struct sockaddr_storage *peer, socklen_t plen)
{
	struct tf_proto_msg p;

	hdr(x, &p, TF_PROTO_T_PONG, m->tenant_id, m->key_id, m->request_id, 0);
	p.u.pong.echo = m->u.ping.echo;
	p.u.pong.min_version = TF_PROTO_VERSION;
	p.u.pong.max_version = TF_PROTO_VERSION;
	p.u.pong.max_dgram = TF_PROTO_MAX_DGRAM;
	tx_msg(x, &p, &t->key, peer, plen);
}

static void
on_dgram(struct wctx *x, const uint8_t *buf, size_t len, const struct sockaddr_storage *peer,
	 socklen_t plen)
{
	const struct bl_tenant *t;
	struct tf_proto_msg m;
	int rc;

	x->w->st.rx_dgrams++;
	rc = tf_proto_decode_hdr(buf, len, &m);
	if (rc < 0) {
		tx_reject(x, &m, len, -rc, NULL, peer, plen);
		return;
	}
	if (tf_proto_type_is_response(m.type))
		return;
	t = tenant_find(x->cfg, m.tenant_id);
	if (!t || t->key.key_id != m.key_id) {
		struct tf_proto_msg e;

		hdr(x, &e, TF_PROTO_T_ERROR, m.tenant_id, m.key_id, m.request_id, 0);
		e.u.err.code = TF_PROTO_E_UNKNOWN_TENANT;
		e.u.err.ref_type = m.type;
		tx_msg(x, &e, NULL, peer, plen); /* unsigned: 44 bytes, never amplifies */
		x->w->st.errors_sent++;
		return;
	}
	rc = tf_proto_verify(&t->key, &m);
	if (rc == 0)
		rc = tf_proto_check_time(m.timestamp_us, x->now, x->cfg->replay_window_us);
	if (rc == 0)
		rc = tf_proto_decode_body(&m);
	if (rc < 0) {
		tx_reject(x, &m, len, -rc,
			  rc == -TF_PROTO_R_BAD_MAC || rc == -TF_PROTO_R_NO_MAC ? NULL : &t->key,
			  peer, plen);
		return;
	}
	switch (m.type) {
	case TF_PROTO_T_REQUEST:
		on_request(x, &m, t, peer, plen);
		break;
	case TF_PROTO_T_FRAGMENT:
		on_fragment(x, &m, t, peer, plen);
		break;
	case TF_PROTO_T_CANCEL:
		on_cancel(x, &m, t, peer, plen);
		break;
	case TF_PROTO_T_RESUME:
		on_resume(x, &m, t, peer, plen);
		break;
	case TF_PROTO_T_PING:
		on_ping(x, &m, t, peer, plen);
		break;
	default:
		break;
	}
}

/* ---- the engine --------------------------------------------------------- */

static void
usage_line(struct wctx *x, const struct bl_req *r)
{
	struct bl_worker *w = x->w;

	if (!w->usage)
		return;
	pthread_mutex_lock(w->usage_lock);
	fprintf(w->usage,
		"{\"end_us\":%" PRIu64 ",\"tenant\":%u,\"request_id\":%" PRIu64 ",\"worker\":%u,"
		"\"prompt_tokens\":%u,\"completion_tokens\":%u,\"cost_micro\":%" PRIu64
		",\"finish\":%u}\n",
		x->now, r->tenant_id, r->rid, w->idx, r->final.prompt_tokens,
		r->final.completion_tokens, r->final.cost_micro, r->final.finish_reason);
	pthread_mutex_unlock(w->usage_lock);
}

static void
finish(struct wctx *x, struct bl_req *r, const struct tf_engine_event *e)
{
	struct bl_worker *w = x->w;
	uint64_t toks;

	switch (e->reason) {
	case TF_ENGINE_FINISH_EOS:
		r->final.finish_reason = TF_PROTO_FINISH_STOP;
		break;
	case TF_ENGINE_FINISH_CANCELLED:
		r->final.finish_reason = TF_PROTO_FINISH_CANCELLED;
		break;
	case TF_ENGINE_FINISH_ERROR:
		r->final.finish_reason = TF_PROTO_FINISH_CUT_OFF;
		r->final.error_code = TF_PROTO_E_INTERNAL;
		break;
	default:
		r->final.finish_reason = TF_PROTO_FINISH_LENGTH;
	}
	r->final.prompt_tokens = e->prompt_tokens;
	r->final.completion_tokens = r->ntok;
	r->final.accel_id = w->idx + 1;
	toks = (uint64_t)r->final.prompt_tokens + r->final.completion_tokens;
	r->final.cost_micro = (toks * r->t->price_per_1k_micro + 500) / 1000;
	r->final.queue_us =
		(uint32_t)(r->t_engine_us > r->t_complete_us ? r->t_engine_us - r->t_complete_us
							     : 0);
	r->final.total_us = (uint32_t)(x->now - r->t_complete_us);
	tx_final(x, r, 0);
	w->st.finished++;
	w->st.prompt_tokens += r->final.prompt_tokens;
	w->st.completion_tokens += r->final.completion_tokens;
	usage_line(x, r);
	bl_reqtab_done(&w->tab, r, x->now, x->cfg->cache_ms);
}

static void
engine_step(struct wctx *x)
{
	struct bl_worker *w = x->w;
	double c0 = thread_cpu_s();
	int n = tf_engine_step(w->eng, x->ev, x->evcap);

	w->st.engine_cpu_s += thread_cpu_s() - c0;
	x->now = real_us();
	for (int i = 0; i < n; i++) {
		const struct tf_engine_event *e = &x->ev[i];
		struct bl_req *r = (struct bl_req *)(uintptr_t)e->cookie;

		if (e->type == TF_ENGINE_EV_TOKEN) {
			size_t plen = 0;
			const char *piece =
				r->want_text ? tf_engine_token_text(w->eng, e->token, &plen) : NULL;

			if (!r->ntok)
				r->t_engine_us = x->now;
			if (tok_append(r, e->token, piece ? piece : "", piece ? plen : 0) < 0)
				continue;
			tx_tokens(x, r, r->ntok - 1, 0);
			r->sent = r->ntok;
		} else if (e->type == TF_ENGINE_EV_FINISHED) {
			finish(x, r, e);
		}
	}
}

/* Reassemblies past their deadline: ERROR TIMEOUT (a gap), freed. */
static void
reasm_expire(struct wctx *x)
{
	struct bl_reqtab *t = &x->w->tab;

	for (uint32_t i = 0; x->nreasm && i <= t->mask; i++) {
		struct bl_req *r = t->b[i], *next;

		for (; r; r = next) {
			next = r->hnext;
			if (r->state != BL_REASM || x->now < r->deadline_us)
				continue;
			if (r->p.prompt_total_len) {
				struct tf_proto_msg in;

				hdr(x, &in, TF_PROTO_T_REQUEST, r->tenant_id, r->key_id, r->rid, 0);
				tx_error(x, &in, &r->t->key, TF_PROTO_E_TIMEOUT, 0, 1, &r->peer,
					 r->peerlen);
			}
			req_drop(x, r);
		}
	}
}

void *
bl_worker_main(void *arg)
{
	struct bl_worker *w = arg;
	const struct tf_engine_model_info *mi = tf_engine_model(w->eng);
	struct epoll_event ev;
	struct tf_engine_stats es;
	uint64_t next_timer = 0;
	struct wctx *x;

	x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(w->err, sizeof(w->err), "out of memory");
		return NULL;
	}
	x->w = w;
	x->cfg = w->cfg;
	x->vocab = mi->vocab_size;
	x->seq_len = mi->seq_len;
	x->evcap = tf_engine_event_cap(w->eng);
	x->ev = calloc(x->evcap, sizeof(*x->ev));
	x->tokbuf = calloc(x->seq_len, sizeof(*x->tokbuf));
	if (!x->ev || !x->tokbuf) {
		snprintf(w->err, sizeof(w->err), "out of memory");
		goto out;
	}
	for (int i = 0; i < RX_BATCH; i++) {
		x->riov[i].iov_base = x->rx[i];
		x->riov[i].iov_len = sizeof(x->rx[i]);
		x->rm[i].msg_hdr.msg_iov = &x->riov[i];
		x->rm[i].msg_hdr.msg_iovlen = 1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	while (!*w->stop) {
		int idle = tf_engine_idle(w->eng), n;

		n = epoll_wait(w->ep, &ev, 1, idle ? 50 : 0);
		(void)n;
		x->now = real_us();
		for (;;) {
			for (int i = 0; i < RX_BATCH; i++) {
				x->rm[i].msg_hdr.msg_name = &x->raddr[i];
				x->rm[i].msg_hdr.msg_namelen = sizeof(x->raddr[i]);
			}
			n = recvmmsg(w->fd, x->rm, RX_BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			w->st.rx_batches++;
			for (int i = 0; i < n; i++)
				on_dgram(x, x->rx[i], x->rm[i].msg_len, &x->raddr[i],
					 x->rm[i].msg_hdr.msg_namelen);
			if (n < RX_BATCH)
				break;
		}
		if (!tf_engine_idle(w->eng))
			engine_step(x);
		tx_flush(x);
		if (x->now >= next_timer) {
			next_timer = x->now + 50000;
			bl_reqtab_expire(&w->tab, x->now, x->cfg->cache_ms);
			reasm_expire(x);
			tx_flush(x);
		}
	}
out:
	w->st.cpu_s = thread_cpu_s();
	tf_engine_stats(w->eng, &es);
	w->st.engine_busy_ns = es.busy_ns;
	free(x->ev);
	free(x->tokbuf);
	free(x);
	return NULL;
}
