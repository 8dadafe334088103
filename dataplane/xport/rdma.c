/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma backend: RC queue pairs set up with librdmacm (the accelerator
 * listens on ADDR:PORT, the card connects; HELLOs ride in the CONNECT and
 * ACCEPT private data). A record goes as RDMA WRITEs whose gather list points
 * at the caller's registered buffers (split at the device's max_sge); the
 * last of them is a WRITE_WITH_IMM -- the doorbell -- with imm = the new
 * producer index. The receiver learns producer indexes only from those
 * immediates (RC ordering: the data is placed before the doorbell
 * completes). Credit returns (the doorbell word) and the status block are
 * plain unsignalled WRITEs. Send completions are signalled
 * once per SIGNAL_EVERY work requests, or when nothing signalled is in
 * flight and a record waits for its completion; a signalled rewrite of the
 * doorbell word closes a gap when the sender goes quiet.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "xport_internal.h"

#define SQ_DEPTH 512
/* Receives: every record's doorbell (WRITE_WITH_IMM) takes one, and they are
 * reposted when this side next polls its CQ; a sender that gets ahead of a busy
 * (or descheduled) receiver by more than the queue holds draws an RNR NAK and
 * waits out the receiver's min_rnr_timer. */
#define RQ_DEPTH 2048
#define RNR_TIMER 12 /* IB encoding: 0.64 ms (rdma_cm leaves 0 = 655 ms) */
#define RQ_REFILL 16 /* repost receives in groups */
#define SIGNAL_EVERY 16 /* work requests per signalled completion */
#define MAX_SGE 32 /* most SGEs per WRITE we ask for */
#define WANT_INLINE 64
#define CM_CHECK_MS 2 /* how often an UP connection reads its CM events */
#define CM_TIMEOUT_MS 2000
#define ACCEPT_WAIT_MS 3000

struct rdma_dev {
	struct ibv_context *verbs;
	struct ibv_pd *pd;
};

struct rdma_ctx {
	int ndev;
	struct rdma_dev dev[TF_XPORT_MAX_DEVS];
};

struct rdma_conn {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	int dev;
	struct ibv_comp_channel *comp; /* completion events, for tf_xport_wait() */
	struct ibv_cq *cq;
	int cq_armed; /* notification requested, event not yet consumed */
	struct ibv_wc stash[32]; /* completions taken while arming, not yet handled */
	int nstash;
	struct ibv_mr *lmr;
	uint8_t *region;
	size_t region_bytes;
	uint64_t raddr;
	uint32_t rkey;
	uint32_t max_sge;
	uint32_t max_inline;
	uint64_t wr_posted; /* work requests posted, ever */
	uint64_t wr_done; /* ... known complete */
	uint64_t wr_last_sig; /* wr_posted when the last signalled one was posted */
	uint32_t sig_inflight; /* signalled work requests not yet completed */
	uint64_t slot_wr[TF_XPORT_TX_SLOTS]; /* wr_posted after each record's doorbell */
	uint32_t rq_depth; /* receives posted when none is in use */
	uint32_t rq_free; /* receives to repost */
	int qp_ok;
	uint64_t next_cm_ms;
	struct ibv_sge sge[TF_XPORT_MAX_SEGS + 2]; /* one post's SGEs, sliced per WR */
	struct ibv_send_wr wr[TF_XPORT_MAX_SEGS + 2];
};

struct rdma_listener {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
};

static struct rdma_ctx *
rctx(struct tf_xport_ctx *ctx, int create)
{
	int slot = tf_xport_backend_slot(&tf_xport_rdma_ops);

	if (slot < 0)
		return NULL;
	if (!ctx->bk[slot] && create)
		ctx->bk[slot] = calloc(1, sizeof(struct rdma_ctx));
	return ctx->bk[slot];
}

static void
mem_dereg_dev(struct tf_xport_mem *m, int d)
{
	if (m->dev_mr[d]) {
		ibv_dereg_mr(m->dev_mr[d]);
		m->dev_mr[d] = NULL;
	}
}

static int
mem_reg_dev(struct rdma_ctx *rc, struct tf_xport_mem *m, int d)
{
	struct ibv_mr *mr = ibv_reg_mr(rc->dev[d].pd, m->addr, m->len, IBV_ACCESS_LOCAL_WRITE);

	if (!mr)
		return -errno;
	m->dev_mr[d] = mr;
	m->lkey[d] = mr->lkey;
	return 0;
}

static int
rdma_mem_register(struct tf_xport_mem *m)
{
	struct rdma_ctx *rc = rctx(m->ctx, 0);

	for (int d = 0; rc && d < rc->ndev; d++) {
		int err = mem_reg_dev(rc, m, d);

		if (err) {
			while (d-- > 0)
				mem_dereg_dev(m, d);
			return err;
		}
	}
	return 0;
}

static void
rdma_mem_unregister(struct tf_xport_mem *m)
{
	for (int d = 0; d < TF_XPORT_MAX_DEVS; d++)
		mem_dereg_dev(m, d);
}

static void
rdma_ctx_release(struct tf_xport_ctx *ctx)
{
	int slot = tf_xport_backend_slot(&tf_xport_rdma_ops);
	struct rdma_ctx *rc = rctx(ctx, 0);

	if (!rc)
		return;
	for (int d = 0; d < rc->ndev; d++)
		ibv_dealloc_pd(rc->dev[d].pd);
	free(rc);
	ctx->bk[slot] = NULL;
}

/* The device index of verbs in ctx: a PD, and every registration of ctx on it. */
static int
dev_attach(struct tf_xport *x, struct ibv_context *verbs)
{
	struct rdma_ctx *rc = rctx(x->ctx, 1);
	struct tf_xport_mem *m;
	int d;

	if (!rc)
		return tf_xport_seterr(x, ENOMEM, "out of memory");
	for (d = 0; d < rc->ndev; d++)
		if (rc->dev[d].verbs == verbs)
			return d;
	if (rc->ndev == TF_XPORT_MAX_DEVS)
		return tf_xport_seterr(x, ENOSPC, "more than %d RDMA devices in one context",
				       TF_XPORT_MAX_DEVS);
	rc->dev[d].verbs = verbs;
	rc->dev[d].pd = ibv_alloc_pd(verbs);
	if (!rc->dev[d].pd)
		return tf_xport_seterr(x, errno, "ibv_alloc_pd on %s: %s",
				       ibv_get_device_name(verbs->device), strerror(errno));
	rc->ndev++;
	for (m = x->ctx->mems; m; m = m->next) {
		int err = mem_reg_dev(rc, m, d);

		if (err)
			return tf_xport_seterr(x, -err,
					       "ibv_reg_mr of %zu bytes on %s: %s (is the "
					       "memlock limit high enough? ulimit -l)",
					       m->len, ibv_get_device_name(verbs->device),
					       strerror(-err));
	}
	return d;
}

/* "ADDR:PORT" (IPv4 literal, or [IPv6]:PORT) -> sockaddr. */
static int
parse_addr(struct tf_xport *x, const char *s, struct sockaddr_storage *ss)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	char host[128];
	const char *colon = strrchr(s, ':');
	struct addrinfo *ai;
	size_t hl;
	int rc;

	if (!colon || colon == s || !colon[1])
		goto bad;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc)
		goto bad;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
bad:
	if (x)
		tf_xport_seterr(x, EINVAL,
				"rdma address '%s' is not ADDR:PORT with a numeric "
				"address and port",
				s);
	return -EINVAL;
}

static int
chan_nonblock(struct rdma_event_channel *ch)
{
	int fl = fcntl(ch->fd, F_GETFL);

	return fl < 0 || fcntl(ch->fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static int
post_recvs(struct tf_xport *x, struct rdma_conn *c, uint32_t n)
{
	struct ibv_recv_wr wr[RQ_REFILL], *bad;

	while (n) {
		uint32_t k = n < RQ_REFILL ? n : RQ_REFILL;

		memset(wr, 0, sizeof(wr));
		for (uint32_t i = 0; i < k; i++) {
			wr[i].wr_id = 0;
			wr[i].next = i + 1 < k ? &wr[i + 1] : NULL;
		}
		if (ibv_post_recv(c->id->qp, wr, &bad))
			return tf_xport_seterr(x, EIO, "ibv_post_recv failed: %s", strerror(errno));
		n -= k;
	}
	return 0;
}

/* CQ, QP, our region (remote write) and the receives, once the device is known. */
static int
qp_setup(struct tf_xport *x, struct rdma_conn *c)
{
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_device_attr da;
	struct rdma_ctx *rc;
	int d, err;

	d = dev_attach(x, c->id->verbs);
	if (d < 0)
		return d;
	c->dev = d;
	rc = rctx(x->ctx, 0);
	if (ibv_query_device(c->id->verbs, &da))
		return tf_xport_seterr(x, errno, "ibv_query_device: %s", strerror(errno));
	c->rq_depth = (uint32_t)da.max_qp_wr < RQ_DEPTH ? (uint32_t)da.max_qp_wr : RQ_DEPTH;
	c->comp = ibv_create_comp_channel(c->id->verbs);
	if (!c->comp)
		return tf_xport_seterr(x, errno, "ibv_create_comp_channel: %s", strerror(errno));
	err = fcntl(c->comp->fd, F_GETFL);
	if (err < 0 || fcntl(c->comp->fd, F_SETFL, err | O_NONBLOCK) < 0)
		return tf_xport_seterr(x, errno, "making the completion channel non-blocking: %s",
				       strerror(errno));
	c->cq = ibv_create_cq(c->id->verbs, (int)(SQ_DEPTH + c->rq_depth), NULL, c->comp, 0);
	if (!c->cq)
		return tf_xport_seterr(x, errno, "ibv_create_cq: %s", strerror(errno));
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.sq_sig_all = 0;
	qa.cap.max_send_wr = SQ_DEPTH;
	qa.cap.max_recv_wr = c->rq_depth;
	qa.cap.max_send_sge = (uint32_t)da.max_sge < MAX_SGE ? (uint32_t)da.max_sge : MAX_SGE;
	qa.cap.max_recv_sge = 1;
	qa.cap.max_inline_data = WANT_INLINE;
	if (rdma_create_qp(c->id, rc->dev[d].pd, &qa)) {
		qa.cap.max_inline_data = 0;
		if (rdma_create_qp(c->id, rc->dev[d].pd, &qa))
			return tf_xport_seterr(x, errno, "rdma_create_qp: %s", strerror(errno));
	}
	c->max_sge = qa.cap.max_send_sge;
	c->max_inline = qa.cap.max_inline_data;
	c->region_bytes = TF_ACCEL_RING_OFF + (size_t)x->lring_bytes;
	if (posix_memalign((void **)&c->region, 4096, c->region_bytes))
		return tf_xport_seterr(x, ENOMEM, "out of memory for a %zu-byte ring region",
				       c->region_bytes);
	memset(c->region, 0, c->region_bytes);
	c->lmr = ibv_reg_mr(rc->dev[d].pd, c->region, c->region_bytes,
			    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!c->lmr)
		return tf_xport_seterr(x, errno, "ibv_reg_mr of the ring region: %s",
				       strerror(errno));
	tf_xport_region_attach(x, c->region, x->lring_bytes);
	err = post_recvs(x, c, c->rq_depth);
	if (err)
		return err;
	c->qp_ok = 1;
	return 0;
}

static void
rd_close(struct tf_xport *x)
{
	struct rdma_conn *c = x->priv;

	if (!c)
		return;
	if (c->id) {
		if (c->qp_ok)
			rdma_disconnect(c->id);
		if (c->id->qp)
			rdma_destroy_qp(c->id);
	}
	if (c->cq) {
		struct ibv_cq *ecq;
		void *ectx;

		/* every completion event must be acknowledged before the CQ goes */
		while (c->comp && ibv_get_cq_event(c->comp, &ecq, &ectx) == 0)
			ibv_ack_cq_events(ecq, 1);
		ibv_destroy_cq(c->cq);
	}
	if (c->comp)
		ibv_destroy_comp_channel(c->comp);
	if (c->lmr)
		ibv_dereg_mr(c->lmr);
	free(c->region);
	x->lregion = NULL;
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->ch)
		rdma_destroy_event_channel(c->ch);
	free(c);
	x->priv = NULL;
}

static int
conn_new(struct tf_xport *x, struct rdma_conn **out)
{
	struct rdma_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return tf_xport_seterr(x, ENOMEM, "out of memory");
	x->priv = c;
	c->ch = rdma_create_event_channel();
	if (!c->ch)
		return tf_xport_seterr(x, errno,
				       "rdma_create_event_channel: %s (is an RDMA "
				       "device configured? rdma link show)",
				       strerror(errno));
	if (chan_nonblock(c->ch))
		return tf_xport_seterr(x, errno, "making the CM channel non-blocking failed");
	*out = c;
	return 0;
}

/* ---- card side --------------------------------------------------------------- */

static int
rdma_connect_start(struct tf_xport *x)
{
	struct sockaddr_storage ss;
	struct rdma_conn *c;
	int rc;

	rc = conn_new(x, &c);
	if (rc)
		return rc;
	rc = parse_addr(x, x->addr, &ss);
	if (rc)
		return rc;
	if (rdma_create_id(c->ch, &c->id, x, RDMA_PS_TCP))
		return tf_xport_seterr(x, errno, "rdma_create_id: %s", strerror(errno));
	if (rdma_resolve_addr(c->id, NULL, (struct sockaddr *)&ss, CM_TIMEOUT_MS))
		return tf_xport_seterr(x, errno,
				       "rdma_resolve_addr %s: %s (no RDMA device routes "
				       "there?)",
				       x->addr, strerror(errno));
	return 0;
}

static const char *
reject_why(uint8_t r)
{
	switch (r) {
	case TF_ACCEL_REJECT_BAD_HELLO:
		return "it found our hello malformed";
	case TF_ACCEL_REJECT_VERSION:
		return "it speaks another ring version";
	case TF_ACCEL_REJECT_FULL:
		return "it has no room for another card";
	default:
		return "no tokfab accelerator listens there";
	}
}

static int
card_route_resolved(struct tf_xport *x, struct rdma_conn *c)
{
	struct tf_accel_hello h;
	struct rdma_conn_param p = { 0 };
	int rc;

	rc = qp_setup(x, c);
	if (rc)
		return rc;
	tf_xport_hello_make(x, &h);
	h.region_addr = (uintptr_t)c->region;
	h.rkey = c->lmr->rkey;
	p.private_data = &h;
	p.private_data_len = sizeof(h);
	p.retry_count = 7;
	p.rnr_retry_count = 7;
	if (rdma_connect(c->id, &p))
		return tf_xport_seterr(x, errno, "rdma_connect to %s: %s", x->addr,
				       strerror(errno));
	return 0;
}

/*
 * Once connected: an RNR NAK this side sends (no receive posted for a
 * doorbell) makes the sender wait min_rnr_timer before it retries. rdma_cm
 * leaves it at 0, which the IB encoding makes 655 ms: a whole connection
 * stalled for each one. Best effort: a device that refuses keeps its own.
 */
static void
qp_tune(struct rdma_conn *c)
{
	struct ibv_qp_attr a = { .min_rnr_timer = RNR_TIMER };

	(void)ibv_modify_qp(c->id->qp, &a, IBV_QP_MIN_RNR_TIMER);
}

static int
peer_hello(struct tf_xport *x, struct rdma_conn *c, const void *pd, uint8_t len,
	   struct tf_accel_hello *h)
{
	if (!pd || len < sizeof(*h)) {
		x->cnt[TF_XPORT_C_RX_BAD_HELLO]++;
		return tf_xport_seterr(x, EPROTO,
				       "peer's connection data has %u bytes, not a %zu-"
				       "byte hello: is a tokfab peer at %s?",
				       len, sizeof(*h), x->addr);
	}
	memcpy(h, pd, sizeof(*h));
	if (tf_xport_hello_check(x, h))
		return -EPROTO;
	c->raddr = h->region_addr;
	c->rkey = h->rkey;
	return 0;
}

/* One CM event of a connection's own channel. */
static int
cm_event(struct tf_xport *x, struct rdma_conn *c, struct rdma_cm_event *ev)
{
	struct tf_accel_hello h;
	int rc = 0;

	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (rdma_resolve_route(c->id, CM_TIMEOUT_MS))
			rc = tf_xport_seterr(x, errno, "rdma_resolve_route: %s", strerror(errno));
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		rc = card_route_resolved(x, c);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		if (x->role == TF_ACCEL_ROLE_CARD && x->state == TF_XPORT_STATE_CONNECTING) {
			rc = peer_hello(x, c, ev->param.conn.private_data,
					ev->param.conn.private_data_len, &h);
			if (!rc) {
				qp_tune(c);
				rc = tf_xport_established(x, &h);
			}
		}
		break;
	case RDMA_CM_EVENT_REJECTED: {
		uint8_t why = 0;

		if (ev->param.conn.private_data && ev->param.conn.private_data_len >= 1)
			why = *(const uint8_t *)ev->param.conn.private_data;
		x->cnt[TF_XPORT_C_RX_BAD_HELLO] += why ? 1 : 0;
		rc = tf_xport_seterr(x, ECONNREFUSED,
				     "accelerator at %s refused the connection: %s", x->addr,
				     reject_why(why));
		break;
	}
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		rc = tf_xport_seterr(x, EHOSTUNREACH, "cannot reach %s over RDMA (%s, status %d)",
				     x->addr, rdma_event_str(ev->event), ev->status);
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		x->cnt[TF_XPORT_C_PEER_TIMEOUT]++;
		rc = tf_xport_seterr(x, ECONNRESET, "peer at %s disconnected (%s)", x->addr,
				     rdma_event_str(ev->event));
		break;
	default:
		break;
	}
	return rc;
}

static int
cm_drain(struct tf_xport *x, struct rdma_conn *c)
{
	struct rdma_cm_event *ev, copy;
	int rc = 0;

	while (!rc && rdma_get_cm_event(c->ch, &ev) == 0) {
		/* the private data lives in the event: use it before the ack */
		copy = *ev;
		rc = cm_event(x, c, &copy);
		rdma_ack_cm_event(ev);
	}
	return rc;
}

/* ---- accelerator side ------------------------------------------------------------ */

static int
rd_listen(struct tf_xport_listener *l)
{
	struct rdma_listener *rl = calloc(1, sizeof(*rl));
	struct sockaddr_storage ss;
	int rc;

	if (!rl)
		return -ENOMEM;
	rc = parse_addr(NULL, l->addr, &ss);
	if (rc) {
		fprintf(stderr,
			"rdma listen address '%s' is not ADDR:PORT with a numeric address "
			"(0.0.0.0 for any) and port\n",
			l->addr);
		goto err;
	}
	rl->ch = rdma_create_event_channel();
	if (!rl->ch || chan_nonblock(rl->ch)) {
		rc = -errno ? -errno : -ENODEV;
		fprintf(stderr,
			"rdma_create_event_channel: %s (is an RDMA device configured? "
			"rdma link show)\n",
			strerror(-rc));
		goto err;
	}
	if (rdma_create_id(rl->ch, &rl->id, NULL, RDMA_PS_TCP) ||
	    rdma_bind_addr(rl->id, (struct sockaddr *)&ss) || rdma_listen(rl->id, 16)) {
		rc = -errno;
		fprintf(stderr,
			"cannot listen for RDMA connections on %s: %s (is an RDMA device "
			"on that address? rdma link show)\n",
			l->addr, strerror(errno));
		goto err;
	}
	l->priv = rl;
	return 0;
err:
	if (rl->id)
		rdma_destroy_id(rl->id);
	if (rl->ch)
		rdma_destroy_event_channel(rl->ch);
	free(rl);
	return rc;
}

static void
rdma_listener_close(struct tf_xport_listener *l)
{
	struct rdma_listener *rl = l->priv;

	if (!rl)
		return;
	rdma_destroy_id(rl->id);
	rdma_destroy_event_channel(rl->ch);
	free(rl);
	l->priv = NULL;
}

static void
reject_id(struct rdma_cm_id *id, uint8_t why)
{
	rdma_reject(id, &why, 1);
	rdma_destroy_id(id);
}

/* Waits (bounded) for ESTABLISHED on the new connection's own channel. */
static int
wait_established(struct tf_xport *x, struct rdma_conn *c)
{
	uint64_t end = tf_xport_now_ms() + ACCEPT_WAIT_MS;
	struct rdma_cm_event *ev;

	while (tf_xport_now_ms() < end) {
		struct pollfd pfd = { .fd = c->ch->fd, .events = POLLIN };
		enum rdma_cm_event_type t;

		poll(&pfd, 1, 50);
		if (rdma_get_cm_event(c->ch, &ev))
			continue;
		t = ev->event;
		rdma_ack_cm_event(ev);
		if (t == RDMA_CM_EVENT_ESTABLISHED)
			return 0;
		return tf_xport_seterr(x, ECONNRESET, "card's connection failed during set-up (%s)",
				       rdma_event_str(t));
	}
	return tf_xport_seterr(x, ETIMEDOUT, "card did not complete the connection in %d ms",
			       ACCEPT_WAIT_MS);
}

static int
rdma_accept_ready(struct tf_xport_listener *l)
{
	struct rdma_listener *rl = l->priv;
	struct pollfd p = { .fd = rl->ch->fd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

static int
rdma_accept_one(struct tf_xport_listener *l, struct tf_xport *x)
{
	struct rdma_listener *rl = l->priv;
	struct rdma_conn_param p = { 0 };
	struct tf_accel_hello h, mine;
	struct rdma_cm_event *ev;
	struct rdma_cm_id *id;
	struct rdma_conn *c;
	uint8_t pdlen;
	int rc;

	for (;;) {
		if (rdma_get_cm_event(rl->ch, &ev))
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
			break;
		rdma_ack_cm_event(ev);
	}
	id = ev->id;
	pdlen = ev->param.conn.private_data_len;
	memset(&h, 0, sizeof(h));
	if (ev->param.conn.private_data && pdlen >= sizeof(h))
		memcpy(&h, ev->param.conn.private_data, sizeof(h));
	rdma_ack_cm_event(ev);

	rc = conn_new(x, &c);
	if (rc) {
		reject_id(id, TF_ACCEL_REJECT_FULL);
		return rc;
	}
	if (pdlen < sizeof(h) || tf_xport_hello_check(x, &h)) {
		if (pdlen < sizeof(h))
			tf_xport_seterr(x, EPROTO, "connect request without a hello (%u bytes)",
					pdlen);
		reject_id(id, h.magic == TF_ACCEL_MAGIC && h.version != TF_ACCEL_VERSION
				      ? TF_ACCEL_REJECT_VERSION
				      : TF_ACCEL_REJECT_BAD_HELLO);
		rc = -EPROTO;
		goto err;
	}
	c->id = id;
	id->context = x;
	if (rdma_migrate_id(id, c->ch)) {
		rc = tf_xport_seterr(x, errno, "rdma_migrate_id: %s", strerror(errno));
		goto err_reject;
	}
	c->raddr = h.region_addr;
	c->rkey = h.rkey;
	x->epoch = h.epoch;
	rc = qp_setup(x, c);
	if (rc)
		goto err_reject;
	tf_xport_hello_make(x, &mine);
	mine.region_addr = (uintptr_t)c->region;
	mine.rkey = c->lmr->rkey;
	p.private_data = &mine;
	p.private_data_len = sizeof(mine);
	p.retry_count = 7;
	p.rnr_retry_count = 7;
	c->qp_ok = 0;
	if (rdma_accept(id, &p)) {
		rc = tf_xport_seterr(x, errno, "rdma_accept: %s", strerror(errno));
		goto err;
	}
	c->qp_ok = 1;
	rc = wait_established(x, c);
	if (rc)
		goto err;
	qp_tune(c);
	rc = tf_xport_established(x, &h);
	if (rc)
		goto err;
	return 0;
err_reject:
	rdma_reject(id, &(uint8_t){ TF_ACCEL_REJECT_FULL }, 1);
err:
	rd_close(x);
	return rc == -EAGAIN ? -EPROTO : rc;
}

/* ---- data path ------------------------------------------------------------------ */

static void
wr_write(struct ibv_send_wr *w, struct rdma_conn *c, uint64_t roff, struct ibv_sge *sge, int nsge)
{
	memset(w, 0, sizeof(*w));
	w->opcode = IBV_WR_RDMA_WRITE;
	w->sg_list = sge;
	w->num_sge = nsge;
	w->wr.rdma.remote_addr = c->raddr + roff;
	w->wr.rdma.rkey = c->rkey;
}

/* A small source: inline when the QP allows, else from registered staging. */
static void
small_src(struct tf_xport *x, struct rdma_conn *c, struct ibv_send_wr *w, struct ibv_sge *sge,
	  const void *src, uint32_t len)
{
	sge->addr = (uintptr_t)src;
	sge->length = len;
	sge->lkey = x->stg_mem->lkey[c->dev];
	if (len <= c->max_inline)
		w->send_flags |= IBV_SEND_INLINE;
}

static int
sq_room(const struct rdma_conn *c, uint32_t n)
{
	return c->wr_posted - c->wr_done + n + 1 <= SQ_DEPTH; /* one kept for a flush */
}

static void
maybe_signal(struct rdma_conn *c, struct ibv_send_wr *last, int want)
{
	if (want || c->wr_posted - c->wr_last_sig >= SIGNAL_EVERY) {
		last->send_flags |= IBV_SEND_SIGNALED;
		last->wr_id = c->wr_posted; /* cumulative count up to and including it */
		c->wr_last_sig = c->wr_posted;
		c->sig_inflight++;
	}
}

static int
rdma_post(struct tf_xport *x, const struct tf_xport_wr *wr)
{
	struct rdma_conn *c = x->priv;
	uint64_t roff = TF_ACCEL_RING_OFF + wr->ring_off;
	struct ibv_send_wr *w = c ? c->wr : NULL, *bad;
	struct ibv_sge *sg = c ? c->sge : NULL;
	uint32_t nw = 0, ns = 0, bused = 0, first, cnt = 0;
	uint64_t wroff = roff, bytes = 0;
	int err;

	if (!c || !c->qp_ok)
		return -ENOTCONN;
	if (wr->pad_len) {
		wr_write(&w[nw], c, TF_ACCEL_RING_OFF + wr->pad_off, &sg[ns], 1);
		small_src(x, c, &w[nw], &sg[ns], wr->pad_hdr, sizeof(*wr->pad_hdr));
		ns++;
		nw++;
	}
	/* the record: gather list straight from the caller's buffers, split at max_sge */
	first = ns;
	for (unsigned int i = 0; i < wr->nsegs; i++) {
		const struct tf_xport_seg *s = &wr->segs[i];
		struct ibv_sge *g = &sg[ns];

		if (s->mem) {
			if (!s->mem->dev_mr[c->dev])
				return tf_xport_seterr(x, EINVAL,
						       "segment memory is not registered "
						       "on this RDMA device");
			g->addr = (uintptr_t)s->addr;
			g->lkey = s->mem->lkey[c->dev];
		} else {
			/* unregistered: copied into the slot's bounce area */
			if (bused + s->len > wr->bounce_len)
				return -EINVAL;
			memcpy(wr->bounce + bused, s->addr, s->len);
			g->addr = (uintptr_t)(wr->bounce + bused);
			g->lkey = x->stg_mem->lkey[c->dev];
			bused += s->len;
		}
		g->length = s->len;
		ns++;
		cnt++;
		bytes += s->len;
		if (cnt == c->max_sge || i + 1 == wr->nsegs) {
			wr_write(&w[nw], c, wroff, &sg[first], (int)cnt);
			nw++;
			wroff = roff + bytes;
			first = ns;
			cnt = 0;
		}
	}
	/* the doorbell: the record's last WRITE carries imm = the new producer index;
	 * RC ordering places every byte before the peer sees its completion */
	w[nw - 1].opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	w[nw - 1].imm_data = htobe32(TF_ACCEL_DB_PROD(wr->db));
	if (!sq_room(c, nw))
		return -ENOBUFS;
	for (uint32_t i = 0; i + 1 < nw; i++)
		w[i].next = &w[i + 1];
	w[nw - 1].next = NULL;
	c->wr_posted += nw;
	/* a record waiting for its completion needs a signal in flight */
	maybe_signal(c, &w[nw - 1], c->sig_inflight == 0);
	c->slot_wr[wr->post_seq % TF_XPORT_TX_SLOTS] = c->wr_posted;
	err = ibv_post_send(c->id->qp, w, &bad);
	if (err) {
		c->wr_posted -= nw;
		if (w[nw - 1].send_flags & IBV_SEND_SIGNALED)
			c->sig_inflight--;
		if (err == ENOMEM)
			return -ENOBUFS;
		x->cnt[TF_XPORT_C_QP_ERROR]++;
		return tf_xport_seterr(x, err, "ibv_post_send: %s", strerror(err));
	}
	return 0;
}

/* An unsignalled (or rate-signalled) small WRITE into the peer's region. */
static int
post_small(struct tf_xport *x, uint64_t roff, const void *src, uint32_t len)
{
	struct rdma_conn *c = x->priv;
	struct ibv_send_wr w, *bad;
	struct ibv_sge g;
	int err;

	if (!c || !c->qp_ok)
		return -ENOTCONN;
	if (!sq_room(c, 1))
		return -ENOBUFS;
	wr_write(&w, c, roff, &g, 1);
	small_src(x, c, &w, &g, src, len);
	c->wr_posted++;
	maybe_signal(c, &w, 0);
	err = ibv_post_send(c->id->qp, &w, &bad);
	if (err) {
		c->wr_posted--;
		if (w.send_flags & IBV_SEND_SIGNALED)
			c->sig_inflight--;
		if (err == ENOMEM)
			return -ENOBUFS;
		x->cnt[TF_XPORT_C_QP_ERROR]++;
		return tf_xport_seterr(x, err, "ibv_post_send: %s", strerror(err));
	}
	return 0;
}

static int
rdma_credits_return(struct tf_xport *x, uint64_t db)
{
	/* inline copies db at post time; without inline the staging word is the source */
	*x->db_src = db;
	return post_small(x, TF_ACCEL_CTL_OFF, x->db_src, sizeof(db));
}

static int
rdma_status_write(struct tf_xport *x, const struct tf_accel_status *st)
{
	*x->st_src = *st;
	return post_small(x, TF_ACCEL_STATUS_OFF, x->st_src, sizeof(*st));
}

/*
 * A signalled WRITE so waiting records complete when the sender goes quiet:
 * it rewrites the peer's doorbell word with what it already holds (our
 * producer index and the credits already returned), so it changes nothing.
 * (Not a zero-byte WRITE: Soft-RoCE handles those badly.)
 */
static int
post_flush(struct tf_xport *x, struct rdma_conn *c)
{
	struct ibv_send_wr w, *bad;
	struct ibv_sge g;
	int err;

	if (!sq_room(c, 0))
		return 0; /* completions are on their way anyway */
	*x->db_src = TF_ACCEL_DB(x->tx.prod, x->rx_returned);
	wr_write(&w, c, TF_ACCEL_CTL_OFF, &g, 1);
	small_src(x, c, &w, &g, x->db_src, sizeof(*x->db_src));
	c->wr_posted++;
	maybe_signal(c, &w, 1);
	err = ibv_post_send(c->id->qp, &w, &bad);
	if (err) {
		c->wr_posted--;
		c->sig_inflight--;
		if (err == ENOMEM)
			return 0;
		x->cnt[TF_XPORT_C_QP_ERROR]++;
		return tf_xport_seterr(x, err, "ibv_post_send: %s", strerror(err));
	}
	return 0;
}

static void
send_done(struct tf_xport *x, struct rdma_conn *c, uint64_t upto)
{
	uint64_t seq = x->done_seq;

	if (upto > c->wr_done)
		c->wr_done = upto;
	while (seq < x->post_seq && c->slot_wr[(seq + 1) % TF_XPORT_TX_SLOTS] <= c->wr_done)
		seq++;
	if (seq > x->done_seq)
		tf_xport_tx_done(x, seq);
}

static int
wc_handle(struct tf_xport *x, struct rdma_conn *c, const struct ibv_wc *wc, int n)
{
	for (int i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS) {
			x->cnt[TF_XPORT_C_QP_ERROR]++;
			c->qp_ok = 0;
			return tf_xport_seterr(x, EIO,
					       "RDMA completion failed with '%s' "
					       "(peer %s dead or unreachable?)",
					       ibv_wc_status_str(wc[i].status), x->addr);
		}
		if (wc[i].opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
			x->rx_peer_prod = be32toh(wc[i].imm_data);
			c->rq_free++;
		} else if (wc[i].opcode & IBV_WC_RECV) {
			c->rq_free++; /* a plain SEND is not part of this protocol */
		} else {
			c->sig_inflight--;
			send_done(x, c, wc[i].wr_id);
		}
	}
	return 0;
}

static int
rdma_poll(struct tf_xport *x)
{
	struct rdma_conn *c = x->priv;
	struct ibv_wc wc[32];
	uint64_t now;
	int n, rc;

	if (!c)
		return -ENOTCONN;
	if (x->state == TF_XPORT_STATE_CONNECTING)
		return cm_drain(x, c);
	now = tf_xport_now_ms();
	if (now >= c->next_cm_ms) {
		c->next_cm_ms = now + CM_CHECK_MS;
		rc = cm_drain(x, c);
		if (rc)
			return rc;
	}
	if (c->nstash) {
		rc = wc_handle(x, c, c->stash, c->nstash);
		c->nstash = 0;
		if (rc)
			return rc;
	}
	while ((n = ibv_poll_cq(c->cq, 32, wc)) > 0) {
		rc = wc_handle(x, c, wc, n);
		if (rc)
			return rc;
	}
	if (n < 0)
		return tf_xport_seterr(x, EIO, "ibv_poll_cq failed");
	if (c->rq_free >= RQ_REFILL) {
		rc = post_recvs(x, c, c->rq_free);
		if (rc)
			return rc;
		c->rq_free = 0;
	}
	if (c->sig_inflight == 0 && x->done_seq < x->post_seq)
		return post_flush(x, c);
	return 0;
}

/*
 * tf_xport_wait(): arm the CQ (one event for the next completion), then look
 * once more -- completions that came before the arming raise no event; what
 * that look takes is kept for the next poll. The CM channel wakes us on a
 * disconnect.
 */
static int
rdma_wait_fds(struct tf_xport *x, int *fds, unsigned int max)
{
	struct rdma_conn *c = x->priv;

	if (!c || !c->qp_ok || !c->comp || max < 2)
		return 0;
	if (c->nstash)
		return -EAGAIN;
	if (!c->cq_armed) {
		if (ibv_req_notify_cq(c->cq, 0))
			return 0;
		c->cq_armed = 1;
	}
	c->nstash = ibv_poll_cq(c->cq, 32, c->stash);
	if (c->nstash != 0) {
		if (c->nstash < 0)
			c->nstash = 0;
		return -EAGAIN; /* rdma_poll handles them (or the error) */
	}
	fds[0] = c->comp->fd;
	fds[1] = c->ch->fd;
	return 2;
}

static void
rdma_wait_done(struct tf_xport *x)
{
	struct rdma_conn *c = x->priv;
	struct ibv_cq *ecq;
	void *ectx;

	while (c && c->comp && ibv_get_cq_event(c->comp, &ecq, &ectx) == 0) {
		ibv_ack_cq_events(ecq, 1);
		c->cq_armed = 0;
	}
}

static int
rdma_listener_fd(struct tf_xport_listener *l)
{
	struct rdma_listener *rl = l->priv;

	return rl ? rl->ch->fd : -1;
}

const struct tf_xport_ops tf_xport_rdma_ops = {
	.name = "rdma",
	.connect = rdma_connect_start,
	.listen = rd_listen,
	.accept = rdma_accept_one,
	.accept_ready = rdma_accept_ready,
	.listener_close = rdma_listener_close,
	.mem_register = rdma_mem_register,
	.mem_unregister = rdma_mem_unregister,
	.post = rdma_post,
	.poll = rdma_poll,
	.credits_return = rdma_credits_return,
	.status_write = rdma_status_write,
	.disconnect = rd_close,
	.ctx_release = rdma_ctx_release,
	.wait_fds = rdma_wait_fds,
	.wait_done = rdma_wait_done,
	.listener_fd = rdma_listener_fd,
};
