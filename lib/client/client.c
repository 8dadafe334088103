/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtokfab-client: requests, token streams, retransmission with backoff,
 * resume of lost chunks, cancel and ping over one connected UDP socket
 * (hwdocs/protocol.md section 7.1). One table of request slots indexed by
 * request id; each request has one timer (its next retransmission, resume,
 * cancel step or overall deadline, whichever comes first) in a binary min-heap,
 * so a client with 100 000 requests in flight touches only the due ones.
 */
#include "client/client_int.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RX_BATCH 32

enum req_state {
	RS_FREE = 0,
	RS_SENDING, /* REQUEST (+fragments) sent, no response yet */
	RS_STREAMING, /* tokens or FINAL seen; lost data fetched with RESUME */
	RS_CANCELLING, /* CANCEL sent, waiting for the FINAL */
	RS_PINGING, /* PING sent, waiting for PONG */
};

struct req {
	uint64_t rid;
	uint8_t state;
	bool have_final;
	bool timed_out;
	bool clock_fixed; /* already retried once after REPLAY (clock offset) */
	bool rtt_done; /* its first answer was taken into the answer-time estimate */
	bool queued; /* the card's last answer was a beacon: it holds the request queued */
	uint16_t uerr_code; /* last unsigned ERROR code seen */
	uint32_t uerr_tx; /* ... during this transmission */
	uint32_t tx_count; /* transmissions of the REQUEST / PING */
	uint32_t tries; /* retransmissions since the last progress */
	uint32_t rto_ms;
	uint32_t next_seq; /* tokens held: 0 .. next_seq - 1 */
	uint64_t t_submit, t_next, t_deadline, t_cancel_end, t_resume;
	uint64_t t_due; /* when its timer fires: t_next, or t_deadline if earlier */
	uint32_t heap_pos; /* 1 + its place in the timer heap; 0: not there */
	uint64_t tx_real_us; /* realtime of the last PING sent */
	uint64_t ping_echo;
	int net_errno;
	struct tf_proto_request params; /* prompt points at prompt_buf */
	uint8_t *prompt_buf; /* owned copy of the prompt */
	struct tf_proto_final final;
	const struct tf_client_cb *cb;
	void *arg;
	struct tf_client_outcome out;
};

struct tf_client {
	int fd;
	struct tf_client_config cfg;
	struct tf_proto_key key;
	char server_desc[80];
	uint64_t rid_base, rid_next;
	uint32_t cap;
	unsigned inflight;
	struct req *reqs;
	uint32_t *heap; /* slot indices of armed requests, min-heap on t_due */
	uint32_t nheap;
	int64_t clock_offset_us;
	/*
	 * How long the card takes to answer a first transmission (RFC 6298 style:
	 * smoothed time and mean deviation, from requests answered without
	 * retransmission only): where a new request's first timeout starts.
	 */
	uint64_t srtt_us, rttvar_us;
	bool have_rtt;
	/*
	 * Backed-off first timeout (RFC 6298 5.5): a first transmission that timed
	 * out doubles it for later requests until a request is answered without a
	 * retransmission again. Otherwise, with every request retransmitted (Karn),
	 * the estimate would never learn that the card answers in seconds.
	 */
	uint32_t rto_backoff_ms;
	bool final_tokens; /* set FINAL_TOKENS (cleared when the card refuses it) */
	uint64_t rng;
	uint32_t req_piece, frag_piece;
	uint8_t tx[TF_PROTO_MAX_DGRAM];
	uint8_t rx[RX_BATCH][TF_PROTO_MAX_DGRAM + 1];
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH];
};

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
rnd(struct tf_client *c)
{
	/* xorshift64*: jitter and ping echoes only, never key material. */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545f4914f6cdd1dull;
}

/* rto_ms with +-25 % jitter, in microseconds. */
static uint64_t
jitter_us(struct tf_client *c, uint32_t ms)
{
	uint64_t us = (uint64_t)ms * 1000;

	return us * 3 / 4 + rnd(c) % (us / 2 + 1);
}

static void
event(struct tf_client *c, const struct req *r, const char *what)
{
	if (c->cfg.on_event)
		c->cfg.on_event(c->cfg.event_arg, r->rid, what);
}

/* ---- timers: a binary min-heap of request slots on t_due ---- */

static inline uint64_t
due_of(const struct req *r)
{
	if (r->state == RS_CANCELLING || r->t_next < r->t_deadline)
		return r->t_next;
	return r->t_deadline;
}

static inline void
heap_set(struct tf_client *c, uint32_t pos, uint32_t slot)
{
	c->heap[pos] = slot;
	c->reqs[slot].heap_pos = pos + 1;
}

static void
heap_up(struct tf_client *c, uint32_t pos)
{
	uint32_t slot = c->heap[pos];
	uint64_t t = c->reqs[slot].t_due;

	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;

		if (c->reqs[c->heap[parent]].t_due <= t)
			break;
		heap_set(c, pos, c->heap[parent]);
		pos = parent;
	}
	heap_set(c, pos, slot);
}

static void
heap_down(struct tf_client *c, uint32_t pos)
{
	uint32_t slot = c->heap[pos];
	uint64_t t = c->reqs[slot].t_due;

	for (;;) {
		uint32_t k = 2 * pos + 1;

		if (k >= c->nheap)
			break;
		if (k + 1 < c->nheap && c->reqs[c->heap[k + 1]].t_due < c->reqs[c->heap[k]].t_due)
			k++;
		if (c->reqs[c->heap[k]].t_due >= t)
			break;
		heap_set(c, pos, c->heap[k]);
		pos = k;
	}
	heap_set(c, pos, slot);
}

/* (Re)places a request's timer after its t_next, t_deadline or state changed. */
static void
sched(struct tf_client *c, struct req *r)
{
	uint64_t old = r->t_due;
	uint32_t slot = (uint32_t)(r - c->reqs);

	r->t_due = due_of(r);
	if (!r->heap_pos) {
		c->heap[c->nheap] = slot;
		r->heap_pos = ++c->nheap;
		heap_up(c, c->nheap - 1);
	} else if (r->t_due < old) {
		heap_up(c, r->heap_pos - 1);
	} else if (r->t_due > old) {
		heap_down(c, r->heap_pos - 1);
	}
}

static void
unsched(struct tf_client *c, struct req *r)
{
	uint32_t pos = r->heap_pos;

	if (!pos)
		return;
	r->heap_pos = 0;
	if (--c->nheap == pos - 1)
		return; /* it was the last */
	heap_set(c, pos - 1, c->heap[c->nheap]);
	if (pos > 1 && c->reqs[c->heap[pos - 1]].t_due < c->reqs[c->heap[(pos - 2) / 2]].t_due)
		heap_up(c, pos - 1);
	else
		heap_down(c, pos - 1);
}

static void
arm(struct tf_client *c, struct req *r, uint64_t when)
{
	r->t_next = when;
	sched(c, r);
}

void
tf_client_config_init(struct tf_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_dgram = TF_PROTO_DEFAULT_DGRAM;
	cfg->rto_initial_ms = 250;
	cfg->rto_max_ms = 4000;
	cfg->beacon_max_ms = 30000;
	cfg->retries = 6;
	cfg->timeout_ms = 60000;
	cfg->cancel_wait_ms = 1000;
	cfg->max_inflight = 256;
	cfg->mac_alg = TF_PROTO_MAC_HMAC_SHA256;
	cfg->final_tokens = true;
}

int
tf_client_create(const struct tf_client_config *cfg, struct tf_client **out, char *err,
		 size_t errlen)
{
	struct tf_client *c;
	char dummy[8];
	int rc;

	if (!err) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	*out = NULL;
	if (cfg->max_dgram < TF_PROTO_HDR_LEN + TF_PROTO_MAC_LEN + TF_PROTO_REQUEST_FIXED + 64 ||
	    cfg->max_dgram > TF_PROTO_MAX_DGRAM) {
		snprintf(err, errlen, "datagram size %u out of range (%d..%d)", cfg->max_dgram,
			 TF_PROTO_HDR_LEN + TF_PROTO_MAC_LEN + TF_PROTO_REQUEST_FIXED + 64,
			 TF_PROTO_MAX_DGRAM);
		return -EINVAL;
	}
	if (cfg->max_inflight == 0 || cfg->max_inflight > (1u << 20) || cfg->rto_initial_ms == 0 ||
	    cfg->rto_max_ms < cfg->rto_initial_ms) {
		snprintf(err, errlen, "invalid client limits (max_inflight, rto)");
		return -EINVAL;
	}
	if (cfg->mac_alg != TF_PROTO_MAC_HMAC_SHA256 && cfg->mac_alg != TF_PROTO_MAC_SIPHASH) {
		snprintf(err, errlen, "MAC algorithm %u is not one of hmac (1) or siphash (2)",
			 cfg->mac_alg);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->cfg = *cfg;
	if (c->cfg.beacon_max_ms < c->cfg.rto_max_ms)
		c->cfg.beacon_max_ms = c->cfg.rto_max_ms;
	c->cap = cfg->max_inflight;
	c->reqs = calloc(c->cap, sizeof(*c->reqs));
	c->heap = calloc(c->cap, sizeof(*c->heap));
	if (!c->reqs || !c->heap) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto err_free;
	}
	c->final_tokens = cfg->final_tokens;
	rc = tf_proto_key_init(&c->key, cfg->mac_alg, cfg->key_id, cfg->key, sizeof(cfg->key));
	OPENSSL_cleanse(c->cfg.key, sizeof(c->cfg.key));
	if (rc) {
		snprintf(err, errlen, "cannot set up the key");
		goto err_reqs;
	}
	if ((size_t)getrandom(&c->rid_base, sizeof(c->rid_base), 0) != sizeof(c->rid_base) ||
	    (size_t)getrandom(&c->rng, sizeof(c->rng), 0) != sizeof(c->rng)) {
		rc = -errno;
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto err_key;
	}
	c->rng |= 1;
	c->rid_next = c->rid_base;
	c->req_piece =
		(cfg->max_dgram - TF_PROTO_HDR_LEN - TF_PROTO_MAC_LEN - TF_PROTO_REQUEST_FIXED) /
		TF_PROTO_FRAG_UNIT * TF_PROTO_FRAG_UNIT;
	c->frag_piece =
		(cfg->max_dgram - TF_PROTO_HDR_LEN - TF_PROTO_MAC_LEN - TF_PROTO_FRAGMENT_FIXED) /
		TF_PROTO_FRAG_UNIT * TF_PROTO_FRAG_UNIT;
	for (int i = 0; i < RX_BATCH; i++) {
		c->iov[i].iov_base = c->rx[i];
		c->iov[i].iov_len = sizeof(c->rx[i]);
		c->msgs[i].msg_hdr.msg_iov = &c->iov[i];
		c->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	c->fd = tf_client_connect(cfg->server, c->server_desc, sizeof(c->server_desc), err, errlen);
	if (c->fd < 0) {
		rc = c->fd;
		goto err_key;
	}
	*out = c;
	return 0;

err_key:
	tf_proto_key_wipe(&c->key);
err_reqs:
	free(c->heap);
	free(c->reqs);
err_free:
	free(c);
	return rc;
}

void
tf_client_destroy(struct tf_client *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->cap; i++)
		free(c->reqs[i].prompt_buf);
	close(c->fd);
	tf_proto_key_wipe(&c->key);
	free(c->heap);
	free(c->reqs);
	free(c);
}

int
tf_client_fd(const struct tf_client *c)
{
	return c->fd;
}

int64_t
tf_client_socket_drops(const struct tf_client *c)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	if (getsockopt(c->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0)
		return -errno;
	if (len <= SK_MEMINFO_DROPS * sizeof(mi[0]))
		return -ENOTSUP;
	return mi[SK_MEMINFO_DROPS];
}

unsigned
tf_client_inflight(const struct tf_client *c)
{
	return c->inflight;
}

uint64_t
tf_client_next_timer_us(const struct tf_client *c)
{
	return c->nheap ? c->reqs[c->heap[0]].t_due : UINT64_MAX;
}

uint64_t
tf_client_now_us(void)
{
	return mono_us();
}

int
tf_client_timeout_ms(const struct tf_client *c)
{
	uint64_t now, next = tf_client_next_timer_us(c);

	if (next == UINT64_MAX)
		return -1;
	now = mono_us();
	if (next <= now)
		return 0;
	return (int)((next - now + 999) / 1000);
}

static struct req *
lookup(struct tf_client *c, uint64_t rid)
{
	struct req *r = &c->reqs[(rid - c->rid_base) % c->cap];

	return r->state != RS_FREE && r->rid == rid ? r : NULL;
}

static void
note_send_error(struct tf_client *c, struct req *r, int err)
{
	/* Full socket buffers are like loss: the timers retransmit. */
	if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR)
		return;
	r->net_errno = err;
	event(c, r, err == ECONNREFUSED ? "port unreachable (ICMP)" : "send failed");
}

static void
send_dgram(struct tf_client *c, struct req *r, int n)
{
	if (n < 0) {
		/* Cannot happen with checked parameters; treat like a lost datagram. */
		event(c, r, "encode failed");
		return;
	}
	if (send(c->fd, c->tx, (size_t)n, 0) < 0)
		note_send_error(c, r, errno);
}

static void
hdr(struct tf_client *c, struct req *r, struct tf_proto_msg *m, uint8_t type, bool retransmit)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->flags = retransmit ? TF_PROTO_F_RETRANSMIT : 0;
	m->tenant_id = c->cfg.tenant_id;
	m->request_id = r->rid;
	m->timestamp_us = (uint64_t)((int64_t)real_us() + c->clock_offset_us);
}

/*
 * The REQUEST and every REQ_FRAGMENT (the card ignores duplicates). Each
 * retransmission starts at a different piece, the REQUEST counted as piece
 * 0 (the first transmission sends it first), so a receiver that drops the
 * tail of a long burst, or every n-th datagram, does not lose the same
 * pieces every time (protocol.md 7.1: pieces may arrive in any order).
 */
static void
send_request(struct tf_client *c, struct req *r, bool retransmit)
{
	struct tf_proto_msg m;
	const struct tf_proto_request *p = &r->params;
	uint32_t first = p->prompt_total_len <= c->req_piece ? p->prompt_total_len : c->req_piece;
	uint32_t nfrag = (p->prompt_total_len - first + c->frag_piece - 1) / c->frag_piece;
	uint32_t npieces = nfrag + 1;
	uint32_t start = (uint32_t)(((uint64_t)r->tx_count * npieces * 5 / 8) % npieces);

	for (uint32_t k = 0; k < npieces; k++) {
		uint32_t piece = (start + k) % npieces;
		uint32_t off = first + (piece - 1) * c->frag_piece;
		uint32_t len = p->prompt_total_len - off;

		if (piece == 0) {
			hdr(c, r, &m, TF_PROTO_T_REQUEST, retransmit);
			m.u.req = *p;
			m.u.req.prompt_len = first;
		} else {
			hdr(c, r, &m, TF_PROTO_T_FRAGMENT, retransmit);
			m.u.frag.prompt_total_len = p->prompt_total_len;
			m.u.frag.offset = off;
			m.u.frag.data = p->prompt + off;
			m.u.frag.len = len < c->frag_piece ? len : c->frag_piece;
		}
		send_dgram(c, r, tf_proto_encode(c->tx, sizeof(c->tx), &m, &c->key));
	}
	r->tx_count++;
}

static void
send_small(struct tf_client *c, struct req *r, uint8_t type, bool retransmit)
{
	struct tf_proto_msg m;

	hdr(c, r, &m, type, retransmit);
	if (type == TF_PROTO_T_RESUME)
		m.u.resume.from_seq = r->next_seq;
	if (type == TF_PROTO_T_PING) {
		m.u.ping.echo = r->ping_echo;
		r->tx_real_us = real_us();
		r->tx_count++;
	}
	send_dgram(c, r, tf_proto_encode(c->tx, sizeof(c->tx), &m, &c->key));
}

static void
send_resume(struct tf_client *c, struct req *r, uint64_t now)
{
	send_small(c, r, TF_PROTO_T_RESUME, r->out.resumes > 0);
	r->out.resumes++;
	r->t_resume = now;
	event(c, r, "resume");
}

/* Ends a request: frees the slot first, so the callback may submit again. */
static void
finish(struct tf_client *c, struct req *r, int status, uint64_t now)
{
	struct tf_client_outcome o = r->out;
	const struct tf_client_cb *cb = r->cb;
	void *arg = r->arg;
	uint64_t rid = r->rid;

	o.status = status;
	o.has_final = r->have_final;
	o.final = r->final;
	o.timed_out = r->timed_out;
	o.total_us = now - r->t_submit;
	if (status == TF_CLIENT_S_NETWORK)
		o.net_errno = r->net_errno;
	unsched(c, r);
	free(r->prompt_buf);
	memset(r, 0, sizeof(*r));
	c->inflight--;
	if (cb && cb->on_done)
		cb->on_done(arg, rid, &o);
}

static void
finish_final(struct tf_client *c, struct req *r, uint64_t now)
{
	int status = TF_CLIENT_OK;

	if (r->final.finish_reason == TF_PROTO_FINISH_CUT_OFF)
		status = r->final.error_code;
	else if (r->timed_out)
		status = TF_CLIENT_S_TIMEOUT;
	finish(c, r, status, now);
}

static void
give_up(struct tf_client *c, struct req *r, uint64_t now)
{
	if (r->uerr_code) {
		r->out.unsigned_error = true;
		finish(c, r, r->uerr_code, now);
	} else if (r->net_errno) {
		finish(c, r, TF_CLIENT_S_NETWORK, now);
	} else {
		r->timed_out = true;
		finish(c, r, TF_CLIENT_S_TIMEOUT, now);
	}
}

static int
check_request(const struct tf_client_request *q)
{
	if (!q->prompt || q->prompt_len == 0 || q->prompt_len > TF_PROTO_MAX_PROMPT)
		return -EINVAL;
	if (q->prompt_kind > TF_PROTO_PROMPT_TEXT ||
	    (q->prompt_kind == TF_PROTO_PROMPT_TOKENS && q->prompt_len % 4))
		return -EINVAL;
	if (q->max_new_tokens == 0 || q->temperature > TF_PROTO_MAX_TEMPERATURE || q->top_p == 0 ||
	    q->top_p > TF_PROTO_MAX_TOP_P || q->priority > TF_PROTO_MAX_PRIORITY)
		return -EINVAL;
	return 0;
}

static struct req *
alloc_slot(struct tf_client *c)
{
	if (c->inflight >= c->cap)
		return NULL;
	/* Skip ids whose slot is busy: ids only need to be unique. */
	for (uint32_t i = 0; i < c->cap; i++) {
		uint64_t rid = c->rid_next++;
		struct req *r = &c->reqs[(rid - c->rid_base) % c->cap];

		if (r->state == RS_FREE) {
			memset(r, 0, sizeof(*r));
			r->rid = rid;
			c->inflight++;
			return r;
		}
	}
	return NULL;
}

/*
 * The first retransmission timeout of a new request: SRTT + 4 RTTVAR, at
 * least rto_initial; at most beacon_max (a card that answers in 15 s leaves a
 * client no way to tell a lost REQUEST from a queued one before that anyway).
 */
static uint32_t
rto_first(const struct tf_client *c)
{
	uint64_t ms;

	ms = c->have_rtt ? (c->srtt_us + 4 * c->rttvar_us + 999) / 1000 : 0;
	if (ms < c->rto_backoff_ms)
		ms = c->rto_backoff_ms;
	if (ms < c->cfg.rto_initial_ms)
		return c->cfg.rto_initial_ms;
	return ms > c->cfg.beacon_max_ms ? c->cfg.beacon_max_ms : (uint32_t)ms;
}

/* The first answer to a request sent once: how long the card took (Karn: no retransmission). */
static void
rtt_sample(struct tf_client *c, struct req *r, uint64_t now)
{
	uint64_t s = now - r->t_submit, d;

	r->rtt_done = true;
	if (r->tx_count != 1)
		return;
	c->rto_backoff_ms = 0; /* answered in time again: the estimate rules */
	if (!c->have_rtt) {
		c->srtt_us = s;
		c->rttvar_us = s / 2;
		c->have_rtt = true;
		return;
	}
	d = s > c->srtt_us ? s - c->srtt_us : c->srtt_us - s;
	c->rttvar_us = (3 * c->rttvar_us + d) / 4;
	c->srtt_us = (7 * c->srtt_us + s) / 8;
}

int
tf_client_submit(struct tf_client *c, const struct tf_client_request *q,
		 const struct tf_client_cb *cb, void *arg, uint64_t *rid)
{
	struct req *r;
	uint8_t *copy;
	uint64_t now = mono_us();
	int rc = check_request(q);

	if (rc)
		return rc;
	copy = malloc(q->prompt_len);
	if (!copy)
		return -ENOMEM;
	r = alloc_slot(c);
	if (!r) {
		free(copy);
		return -EAGAIN;
	}
	memcpy(copy, q->prompt, q->prompt_len);
	r->prompt_buf = copy;
	r->params = (struct tf_proto_request){
		.model_id = q->model_id,
		.max_new_tokens = q->max_new_tokens,
		.prompt_total_len = q->prompt_len,
		.prompt_kind = q->prompt_kind,
		.priority = q->priority,
		.req_flags = (uint16_t)((q->want_text ? TF_PROTO_RF_WANT_TEXT : 0) |
					(c->final_tokens ? TF_PROTO_RF_FINAL_TOKENS : 0)),
		.temperature = q->temperature,
		.top_p = q->top_p,
		.seed = q->seed,
		.prompt = copy,
		.prompt_len = q->prompt_len,
	};
	r->state = RS_SENDING;
	r->cb = cb;
	r->arg = arg;
	r->t_submit = now;
	r->t_deadline = now + (uint64_t)(q->timeout_ms ? q->timeout_ms : c->cfg.timeout_ms) * 1000;
	r->rto_ms = rto_first(c);
	send_request(c, r, false);
	arm(c, r, now + jitter_us(c, r->rto_ms));
	if (rid)
		*rid = r->rid;
	return 0;
}

int
tf_client_ping(struct tf_client *c, const struct tf_client_cb *cb, void *arg, uint64_t *rid)
{
	uint64_t now = mono_us();
	struct req *r = alloc_slot(c);

	if (!r)
		return -EAGAIN;
	r->state = RS_PINGING;
	r->cb = cb;
	r->arg = arg;
	r->t_submit = now;
	r->t_deadline = now + (uint64_t)c->cfg.timeout_ms * 1000;
	r->rto_ms = c->cfg.rto_initial_ms;
	r->ping_echo = rnd(c);
	send_small(c, r, TF_PROTO_T_PING, false);
	arm(c, r, now + jitter_us(c, r->rto_ms));
	if (rid)
		*rid = r->rid;
	return 0;
}

static void
start_cancel(struct tf_client *c, struct req *r, uint64_t now)
{
	r->state = RS_CANCELLING;
	r->t_cancel_end = now + (uint64_t)c->cfg.cancel_wait_ms * 1000;
	r->rto_ms = c->cfg.rto_initial_ms;
	send_small(c, r, TF_PROTO_T_CANCEL, false);
	arm(c, r, now + jitter_us(c, r->rto_ms));
	event(c, r, "cancel");
}

int
tf_client_cancel(struct tf_client *c, uint64_t rid)
{
	struct req *r = lookup(c, rid);

	if (!r || r->state == RS_PINGING)
		return -ENOENT;
	if (r->state != RS_CANCELLING)
		start_cancel(c, r, mono_us());
	return 0;
}

/*
 * An answer arrived: the card holds the request (stop re-sending it) and the
 * path works (the retry limit counts silent timeouts only). New tokens
 * (fresh) also restart the timeout at its initial value; a progress beacon or
 * a duplicate does not (protocol.md 7.1): the RESUME interval of a request the
 * card keeps queued grows to rto_max instead of polling every rto_initial.
 */
static void
progress(struct tf_client *c, struct req *r, uint64_t now, bool fresh)
{
	if (r->state == RS_SENDING)
		r->state = RS_STREAMING;
	if (r->state != RS_STREAMING)
		return;
	r->tries = 0;
	r->queued = !fresh;
	if (fresh)
		r->rto_ms = c->cfg.rto_initial_ms;
	arm(c, r, now + jitter_us(c, r->rto_ms));
}

static void
on_tokens(struct tf_client *c, struct req *r, const struct tf_proto_tokens *t, uint64_t now)
{
	uint32_t end = t->first_seq + t->n_tokens, skip, poff = 0;
	struct tf_client_tokens out;

	if (r->state == RS_PINGING)
		return;
	progress(c, r, now, t->n_tokens > 0 && end > r->next_seq);
	if (t->first_seq > r->next_seq) {
		/* A gap (or a beacon saying the card has more): fetch from next_seq. */
		if (now - r->t_resume >= (uint64_t)r->rto_ms * 1000 || r->out.resumes == 0)
			send_resume(c, r, now);
		return;
	}
	if (end <= r->next_seq)
		return; /* duplicate or beacon */
	skip = r->next_seq - t->first_seq;
	if (t->piece_lens)
		for (uint32_t i = 0; i < skip; i++)
			poff += t->piece_lens[i];
	out.first_seq = r->next_seq;
	out.n = end - r->next_seq;
	out.ids = t->ids + 4 * (size_t)skip;
	out.piece_lens = t->piece_lens ? t->piece_lens + skip : NULL;
	out.text = t->text ? t->text + poff : NULL;
	out.text_len = t->text_len - poff;
	if (r->out.tokens == 0)
		r->out.first_token_us = now - r->t_submit;
	r->out.tokens += out.n;
	r->next_seq = end;
	if (r->cb && r->cb->on_tokens)
		r->cb->on_tokens(r->arg, r->rid, &out);
	if (r->have_final && r->next_seq >= r->final.completion_tokens)
		finish_final(c, r, now);
}

static void
on_final(struct tf_client *c, struct req *r, const struct tf_proto_final *f, uint64_t now)
{
	uint64_t rid = r->rid;

	if (r->state == RS_PINGING)
		return;
	/*
	 * The last tokens may ride in the FINAL (3.7): they come first, as a
	 * TOKENS would (also in a repeated FINAL, which may bring tokens that
	 * were missing); delivering them may complete the request.
	 */
	if ((f->final_flags & TF_PROTO_FF_HAS_TOKENS) && f->tokens.first_seq <= r->next_seq) {
		on_tokens(c, r, &f->tokens, now);
		if (r->state == RS_FREE || r->rid != rid)
			return;
	}
	if (r->have_final)
		return;
	progress(c, r, now, true);
	r->have_final = true;
	r->final = *f;
	if (r->next_seq >= f->completion_tokens)
		finish_final(c, r, now);
	else
		send_resume(c, r, now); /* tokens are missing: fetch them first */
}

static void
on_error(struct tf_client *c, struct req *r, const struct tf_proto_msg *m, uint64_t now)
{
	const struct tf_proto_err *e = &m->u.err;
	int code = e->code <= TF_PROTO_E_MAX ? e->code : TF_PROTO_E_INTERNAL;

	r->out.retry_after_ms = e->retry_after_ms;
	r->out.detail = e->detail;
	switch (code) {
	case TF_PROTO_E_BUSY:
	case TF_PROTO_E_RATE_LIMITED:
		/* Nothing ran: send again after retry_after, same id. */
		if (r->state == RS_SENDING && r->tries < c->cfg.retries) {
			event(c, r,
			      code == TF_PROTO_E_BUSY ? "busy, waiting" : "rate limited, waiting");
			arm(c, r,
			    now + (uint64_t)e->retry_after_ms * 1000 + jitter_us(c, r->rto_ms) / 4);
			return;
		}
		break;
	case TF_PROTO_E_REPLAY:
		/* Our clock is off: adopt the card's (its ERROR is signed) and retry once. */
		if (e->detail == 1 && !r->clock_fixed && r->state == RS_SENDING) {
			c->clock_offset_us = (int64_t)(m->timestamp_us - real_us());
			r->clock_fixed = true;
			event(c, r, "clock offset corrected from the card's REPLAY error");
			send_request(c, r, true);
			arm(c, r, now + jitter_us(c, r->rto_ms));
			return;
		}
		break;
	case TF_PROTO_E_UNSUPPORTED:
		/* A card that predates FINAL_TOKENS (protocol.md 3.7): send again without it. */
		if (r->state == RS_SENDING && (r->params.req_flags & TF_PROTO_RF_FINAL_TOKENS) &&
		    e->detail == ((uint32_t)TF_PROTO_R_BAD_FLAGS << 16 |
				  (TF_PROTO_HDR_LEN +
				   offsetof(struct tf_proto_wire_request, req_flags)))) {
			c->final_tokens = false;
			r->params.req_flags &= (uint16_t)~TF_PROTO_RF_FINAL_TOKENS;
			event(c, r, "the card does not know FINAL_TOKENS: sending without it");
			send_request(c, r, false);
			arm(c, r, now + jitter_us(c, r->rto_ms));
			return;
		}
		break;
	case TF_PROTO_E_UNKNOWN_REQUEST:
		if (r->state == RS_CANCELLING) {
			finish(c, r, r->have_final ? TF_CLIENT_OK : TF_CLIENT_S_CANCELLED, now);
			return;
		}
		break;
	}
	finish(c, r, code, now);
}

/* Unsigned ERRORs are advisory (protocol.md 4.4): believed when repeated. */
static void
on_unsigned_error(struct tf_client *c, struct req *r, const struct tf_proto_err *e, uint64_t now)
{
	uint16_t code = e->code <= TF_PROTO_E_MAX ? e->code : TF_PROTO_E_INTERNAL;

	if (r->state != RS_SENDING && r->state != RS_PINGING)
		return;
	if (code == TF_PROTO_E_BUSY && r->state == RS_SENDING) {
		/*
		 * A card that cannot authenticate the tenant yet (restarted, waiting for
		 * its host's configuration: dataplane.md) answers BUSY unsigned. Wait and
		 * send again as for a signed BUSY, within the retry limit; a forger gains
		 * no more than by dropping datagrams, so the wait is capped at rto_max.
		 */
		uint32_t wait = e->retry_after_ms < c->cfg.rto_max_ms ? e->retry_after_ms
								      : c->cfg.rto_max_ms;

		r->uerr_code = code;
		r->uerr_tx = r->tx_count;
		r->out.retry_after_ms = e->retry_after_ms;
		if (r->tries >= c->cfg.retries) {
			r->out.unsigned_error = true;
			finish(c, r, code, now);
			return;
		}
		event(c, r, "busy (unsigned: the card is not configured yet?), waiting");
		arm(c, r, now + (uint64_t)wait * 1000 + jitter_us(c, r->rto_ms) / 4);
		return;
	}
	if (r->uerr_code == code && r->uerr_tx != r->tx_count) {
		r->out.unsigned_error = true;
		r->out.detail = e->detail;
		finish(c, r, code, now);
		return;
	}
	r->uerr_code = code;
	r->uerr_tx = r->tx_count;
	if (r->tries >= c->cfg.retries) {
		give_up(c, r, now);
		return;
	}
	r->tries++;
	event(c, r, "unsigned error, sending again to confirm");
	if (r->state == RS_PINGING)
		send_small(c, r, TF_PROTO_T_PING, true);
	else
		send_request(c, r, true);
}

static void
on_pong(struct tf_client *c, struct req *r, const struct tf_proto_msg *m, uint64_t now)
{
	struct tf_client_pong p;
	uint64_t real = real_us();

	if (r->state != RS_PINGING || m->u.pong.echo != r->ping_echo)
		return;
	p.rtt_us = real > r->tx_real_us ? real - r->tx_real_us : 0;
	p.clock_offset_us = (int64_t)m->timestamp_us - (int64_t)(r->tx_real_us + p.rtt_us / 2);
	p.min_version = m->u.pong.min_version;
	p.max_version = m->u.pong.max_version;
	p.max_dgram = m->u.pong.max_dgram;
	if (r->cb && r->cb->on_pong)
		r->cb->on_pong(r->arg, r->rid, &p);
	finish(c, r, TF_CLIENT_OK, now);
}

static void
handle(struct tf_client *c, const uint8_t *buf, size_t len, uint64_t now)
{
	struct tf_proto_msg m;
	struct req *r;

	if (tf_proto_decode(buf, len, &m) != 0 || !tf_proto_type_is_response(m.type) ||
	    m.tenant_id != c->cfg.tenant_id)
		return;
	r = lookup(c, m.request_id);
	if (!r)
		return; /* finished, never ours, or a replay */
	if (m.mac_alg == TF_PROTO_MAC_NONE) {
		on_unsigned_error(c, r, &m.u.err, now);
		return;
	}
	if (tf_proto_verify(&c->key, &m) != 0)
		return; /* forged or corrupted: as if lost */
	if (r->state == RS_SENDING && !r->rtt_done)
		rtt_sample(c, r, now);
	switch (m.type) {
	case TF_PROTO_T_TOKENS:
		on_tokens(c, r, &m.u.tokens, now);
		break;
	case TF_PROTO_T_FINAL:
		on_final(c, r, &m.u.final, now);
		break;
	case TF_PROTO_T_ERROR:
		on_error(c, r, &m, now);
		break;
	case TF_PROTO_T_PONG:
		on_pong(c, r, &m, now);
		break;
	}
}

/* A request's timer fired: retransmit, resume, cancel step, give up, or its deadline. */
static void
fire(struct tf_client *c, struct req *r, uint64_t now)
{
	uint64_t next;
	uint32_t cap;

	if (r->state != RS_CANCELLING && now >= r->t_deadline) {
		r->timed_out = true;
		if (r->state == RS_PINGING) {
			finish(c, r, TF_CLIENT_S_TIMEOUT, now);
			return;
		}
		event(c, r, "overall timeout");
		start_cancel(c, r, now);
		return;
	}
	switch (r->state) {
	case RS_SENDING:
	case RS_PINGING:
	case RS_STREAMING:
		/* Refused twice (ICMP port unreachable): nobody listens. */
		if (r->tries >= c->cfg.retries || (r->net_errno == ECONNREFUSED && r->tries >= 2)) {
			give_up(c, r, now);
			return;
		}
		r->tries++;
		if (r->state == RS_STREAMING) {
			send_resume(c, r, now);
		} else {
			if (r->state == RS_SENDING && r->tx_count == 1) {
				/* A first transmission unanswered in time: later ones wait longer. */
				uint32_t b = r->rto_ms * 2 > c->cfg.beacon_max_ms
						     ? c->cfg.beacon_max_ms
						     : r->rto_ms * 2;

				if (b > c->rto_backoff_ms)
					c->rto_backoff_ms = b;
			}
			r->out.retransmits++;
			event(c, r, "retransmit");
			if (r->state == RS_PINGING)
				send_small(c, r, TF_PROTO_T_PING, true);
			else
				send_request(c, r, true);
		}
		/*
		 * While the card's last answer was a beacon (it holds the request
		 * queued) the interval may grow to beacon_max; the answer to this
		 * transmission says again, and silence caps it at rto_max.
		 */
		cap = r->queued ? c->cfg.beacon_max_ms : c->cfg.rto_max_ms;
		r->queued = false;
		r->rto_ms = r->rto_ms * 2 > cap ? cap : r->rto_ms * 2;
		arm(c, r, now + jitter_us(c, r->rto_ms));
		break;
	case RS_CANCELLING:
		if (now >= r->t_cancel_end) {
			if (r->have_final)
				finish_final(c, r, now);
			else
				finish(c, r,
				       r->timed_out ? TF_CLIENT_S_TIMEOUT : TF_CLIENT_S_CANCELLED,
				       now);
			return;
		}
		if (r->have_final)
			send_resume(c, r, now);
		else
			send_small(c, r, TF_PROTO_T_CANCEL, true);
		next = now + jitter_us(c, r->rto_ms);
		arm(c, r, next < r->t_cancel_end ? next : r->t_cancel_end);
		break;
	}
}

/*
 * Every due timer, earliest first. Each fire() leaves its request due later
 * than now or ends it, so this stops; callbacks may submit (new timers) meanwhile.
 */
static void
timers(struct tf_client *c, uint64_t now)
{
	while (c->nheap) {
		struct req *r = &c->reqs[c->heap[0]];

		if (r->t_due > now)
			break;
		fire(c, r, now);
	}
}

int
tf_client_process(struct tf_client *c)
{
	int n;

	for (;;) {
		n = recvmmsg(c->fd, c->msgs, RX_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* ICMP port/host unreachable on the connected socket. */
			for (uint32_t i = 0; i < c->cap; i++)
				if (c->reqs[i].state != RS_FREE)
					c->reqs[i].net_errno = errno;
			if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			size_t len = c->msgs[i].msg_len;

			/* Longer than any valid datagram (or truncated): ignore. */
			if (len > TF_PROTO_MAX_DGRAM || (c->msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
				continue;
			handle(c, c->rx[i], len, mono_us());
		}
		if (n < RX_BATCH)
			break;
	}
	timers(c, mono_us());
	return 0;
}

int
tf_client_wait(struct tf_client *c, int max_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int t = tf_client_timeout_ms(c);

	if (max_ms >= 0 && (t < 0 || max_ms < t))
		t = max_ms;
	if (poll(&pfd, 1, t) < 0 && errno == EINTR)
		return -EINTR;
	return tf_client_process(c);
}

struct gen_ctx {
	const struct tf_client_cb *user;
	void *arg;
	struct tf_client_outcome *out;
	bool done;
};

static void
gen_tokens(void *arg, uint64_t rid, const struct tf_client_tokens *t)
{
	struct gen_ctx *g = arg;

	if (g->user && g->user->on_tokens)
		g->user->on_tokens(g->arg, rid, t);
}

static void
gen_done(void *arg, uint64_t rid, const struct tf_client_outcome *o)
{
	struct gen_ctx *g = arg;

	*g->out = *o;
	g->done = true;
	if (g->user && g->user->on_done)
		g->user->on_done(g->arg, rid, o);
}

int
tf_client_generate(struct tf_client *c, const struct tf_client_request *req,
		   const struct tf_client_cb *cb, void *arg, struct tf_client_outcome *out)
{
	static const struct tf_client_cb gen_cb = { .on_tokens = gen_tokens, .on_done = gen_done };
	struct gen_ctx g = { .user = cb, .arg = arg, .out = out };
	int rc = tf_client_submit(c, req, &gen_cb, &g, NULL);

	while (!rc && !g.done) {
		rc = tf_client_wait(c, -1);
		if (rc == -EINTR)
			rc = 0;
	}
	return rc;
}

const char *
tf_client_status_name(int status)
{
	switch (status) {
	case TF_CLIENT_OK:
		return "OK";
	case TF_CLIENT_S_TIMEOUT:
		return "TIMEOUT (no answer from the card)";
	case TF_CLIENT_S_NETWORK:
		return "NETWORK (datagrams refused or not sent)";
	case TF_CLIENT_S_CANCELLED:
		return "CANCELLED (no final usage received)";
	}
	return tf_proto_error_name((uint16_t)status);
}
