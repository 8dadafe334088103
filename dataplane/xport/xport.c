/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtfxport generic layer: contexts, memory registrations, connection life
 * (set-up, loss, reconnection with back-off), posting batches and responses
 * through the ring logic, consuming and validating the peer's records, and
 * the events and counters the caller sees. Backends only move bytes.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xport_internal.h"

/* ---- backends ------------------------------------------------------------ */

static const struct tf_xport_ops *g_backends[TF_XPORT_MAX_BACKENDS] = {
	&tf_xport_shm_ops,
	&tf_xport_rdma_ops,
};

int
tf_xport_backend_register(const struct tf_xport_ops *ops)
{
	int i;

	if (!ops || !ops->name || !ops->post || !ops->poll || !ops->disconnect)
		return -EINVAL;
	for (i = 0; i < TF_XPORT_MAX_BACKENDS && g_backends[i]; i++)
		if (!strcmp(g_backends[i]->name, ops->name))
			return -EEXIST;
	if (i == TF_XPORT_MAX_BACKENDS)
		return -ENOSPC;
	g_backends[i] = ops;
	return 0;
}

const struct tf_xport_ops *
tf_xport_backend_find(const char *name)
{
	for (int i = 0; i < TF_XPORT_MAX_BACKENDS && g_backends[i]; i++)
		if (!strcmp(g_backends[i]->name, name))
			return g_backends[i];
	return NULL;
}

int
tf_xport_backend_slot(const struct tf_xport_ops *ops)
{
	for (int i = 0; i < TF_XPORT_MAX_BACKENDS; i++)
		if (g_backends[i] == ops)
			return i;
	return -1;
}

/* ---- small helpers --------------------------------------------------------- */

uint64_t
tf_xport_now_ms(void)
{
	struct timespec ts;

	/* millisecond timers only: the coarse clock is a plain memory read, while
	 * CLOCK_MONOTONIC can cost a syscall where the clocksource is not the TSC */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
tf_xport_seterr(struct tf_xport *x, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap);
	va_end(ap);
	return -err;
}

static __thread char g_cfg_err[256];

static int cfg_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
cfg_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_cfg_err, sizeof(g_cfg_err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *
tf_xport_strerror_cfg(void)
{
	return g_cfg_err;
}

/* "scheme:rest" -> backend + rest. */
static int
parse_uri(const char *uri, const struct tf_xport_ops **ops, char *addr, size_t addrlen)
{
	const char *colon = uri ? strchr(uri, ':') : NULL;
	char scheme[16];
	size_t n;

	if (!colon || colon == uri || (size_t)(colon - uri) >= sizeof(scheme))
		return cfg_err("transport address '%s' is not 'rdma:ADDR:PORT' or 'shm:NAME'",
			       uri ? uri : "(null)");
	n = (size_t)(colon - uri);
	memcpy(scheme, uri, n);
	scheme[n] = '\0';
	*ops = tf_xport_backend_find(scheme);
	if (!*ops) {
		cfg_err("unknown transport '%s' in '%s': use 'rdma:ADDR:PORT' or 'shm:NAME'",
			scheme, uri);
		return -ENOENT;
	}
	if (!colon[1] || strlen(colon + 1) >= addrlen)
		return cfg_err("transport address '%s' has an empty or too long part after '%s:'",
			       uri, scheme);
	strcpy(addr, colon + 1);
	return 0;
}

static int
check_ring_size(const char *what, uint32_t v)
{
	if (!tf_ring_size_ok(v))
		return cfg_err("%s %u is not a power of two between %u and %u bytes", what, v,
			       TF_ACCEL_RING_MIN, TF_ACCEL_RING_MAX);
	return 0;
}

/* ---- context and memory ------------------------------------------------- */

int
tf_xport_ctx_create(struct tf_xport_ctx **out)
{
	struct tf_xport_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return -ENOMEM;
	*out = ctx;
	return 0;
}

void
tf_xport_ctx_destroy(struct tf_xport_ctx *ctx)
{
	if (!ctx)
		return;
	while (ctx->mems)
		tf_xport_mem_unregister(ctx->mems);
	for (int i = 0; i < TF_XPORT_MAX_BACKENDS && g_backends[i]; i++)
		if (g_backends[i]->ctx_release)
			g_backends[i]->ctx_release(ctx);
	free(ctx);
}

int
tf_xport_mem_register(struct tf_xport_ctx *ctx, void *addr, size_t len, struct tf_xport_mem **out)
{
	struct tf_xport_mem *m;
	int rc;

	if (!ctx || !addr || !len)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ctx = ctx;
	m->addr = addr;
	m->len = len;
	for (int i = 0; i < TF_XPORT_MAX_BACKENDS && g_backends[i]; i++) {
		if (!g_backends[i]->mem_register)
			continue;
		rc = g_backends[i]->mem_register(m);
		if (rc) {
			for (int j = 0; j < i; j++)
				if (g_backends[j]->mem_unregister)
					g_backends[j]->mem_unregister(m);
			free(m);
			return rc;
		}
	}
	m->next = ctx->mems;
	ctx->mems = m;
	*out = m;
	return 0;
}

void
tf_xport_mem_unregister(struct tf_xport_mem *m)
{
	struct tf_xport_mem **pp;

	if (!m)
		return;
	for (int i = 0; i < TF_XPORT_MAX_BACKENDS && g_backends[i]; i++)
		if (g_backends[i]->mem_unregister)
			g_backends[i]->mem_unregister(m);
	for (pp = &m->ctx->mems; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	free(m);
}

/* ---- connection objects ----------------------------------------------------- */

static uint8_t *
slot_buf(const struct tf_xport *x, uint64_t post_seq)
{
	return x->stg + (size_t)(post_seq % TF_XPORT_TX_SLOTS) * x->slot_bytes;
}

/* Offsets inside a staging slot. */
#define SLOT_PAD 0u
#define SLOT_REC 128u

static void
xport_free(struct tf_xport *x)
{
	if (!x)
		return;
	tf_xport_mem_unregister(x->stg_mem);
	free(x->stg);
	free(x->arena);
	free(x->reqs);
	free(x->evts);
	free(x->cancels);
	free(x->req_out);
	free(x->segs);
	free(x->q);
	free(x->deferred);
	tf_handles_fini(&x->inflight);
	tf_handles_fini(&x->forgotten);
	x->ctx->users--;
	free(x);
}

static int
xport_alloc(struct tf_xport_ctx *ctx, const struct tf_xport_ops *ops, enum tf_accel_role role,
	    uint32_t lring, struct tf_xport **out)
{
	struct tf_xport *x = calloc(1, sizeof(*x));
	size_t rec_area;
	int rc = -ENOMEM;

	if (!x)
		return -ENOMEM;
	ctx->users++;
	x->ctx = ctx;
	x->ops = ops;
	x->role = role;
	x->lring_bytes = lring;
	x->lmax_rec = lring / 4 < TF_XPORT_DEF_MAX_REC ? lring / 4 : TF_XPORT_DEF_MAX_REC;
	if (role == TF_ACCEL_ROLE_CARD)
		rec_area = tf_ring_align(sizeof(struct tf_accel_rec) +
					 TF_ACCEL_MAX_BATCH_REQS * sizeof(struct tf_accel_req)) +
			   TF_XPORT_BOUNCE;
	else
		rec_area = TF_XPORT_ACCEL_REC;
	x->slot_bytes = (uint32_t)(SLOT_REC + rec_area);
	/* slots, then one page for the doorbell and status sources */
	x->stg_bytes = (size_t)x->slot_bytes * TF_XPORT_TX_SLOTS + 4096;
	if (posix_memalign((void **)&x->stg, 4096, x->stg_bytes))
		goto err;
	memset(x->stg, 0, x->stg_bytes);
	x->db_src = (uint64_t *)(void *)(x->stg + (size_t)x->slot_bytes * TF_XPORT_TX_SLOTS);
	x->st_src = (struct tf_accel_status *)(void *)((uint8_t *)x->db_src + 64);
	rc = tf_xport_mem_register(ctx, x->stg, x->stg_bytes, &x->stg_mem);
	if (rc)
		goto err;
	rc = -ENOMEM;
	x->arena_half = 2 * x->lmax_rec;
	if (posix_memalign((void **)&x->arena, 64, 2 * (size_t)x->arena_half))
		goto err;
	x->segs = calloc(TF_XPORT_MAX_SEGS, sizeof(*x->segs));
	x->req_out = calloc(TF_XPORT_POLL_MAX, sizeof(*x->req_out));
	x->cancels = calloc(TF_ACCEL_MAX_CANCEL, sizeof(*x->cancels));
	if (role == TF_ACCEL_ROLE_CARD)
		x->evts = calloc(TF_ACCEL_MAX_EVENTS, sizeof(*x->evts));
	else
		x->reqs = calloc(TF_ACCEL_MAX_BATCH_REQS, sizeof(*x->reqs));
	if (!x->segs || !x->req_out || !x->cancels || (!x->evts && !x->reqs))
		goto err;
	*out = x;
	return 0;
err:
	xport_free(x);
	return rc;
}

void
tf_xport_region_attach(struct tf_xport *x, uint8_t *region, uint32_t ring_bytes)
{
	x->lregion = region;
	x->lring_bytes = ring_bytes;
	x->lregion_bytes = TF_ACCEL_RING_OFF + ring_bytes;
}

void
tf_xport_hello_make(const struct tf_xport *x, struct tf_accel_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = TF_ACCEL_MAGIC;
	h->version = TF_ACCEL_VERSION;
	h->role = (uint8_t)x->role;
	h->epoch = x->epoch;
	h->ring_bytes = x->lring_bytes;
	h->region_bytes = TF_ACCEL_RING_OFF + x->lring_bytes;
	h->max_inflight = x->role == TF_ACCEL_ROLE_ACCEL ? x->max_inflight : 0;
	h->max_record_bytes = x->lmax_rec;
}

int
tf_xport_hello_check(struct tf_xport *x, const struct tf_accel_hello *h)
{
	enum tf_accel_role want =
		x->role == TF_ACCEL_ROLE_CARD ? TF_ACCEL_ROLE_ACCEL : TF_ACCEL_ROLE_CARD;
	static const uint8_t zero16[16];

	x->cnt[TF_XPORT_C_RX_BAD_HELLO]++; /* undone on success */
	if (h->magic != TF_ACCEL_MAGIC)
		return tf_xport_seterr(x, EPROTO,
				       "peer's hello has magic 0x%08x, not 0x%08x: "
				       "is a tokfab peer listening there?",
				       h->magic, TF_ACCEL_MAGIC);
	if (h->version != TF_ACCEL_VERSION)
		return tf_xport_seterr(x, EPROTO,
				       "peer speaks ring version %u, this build %u: "
				       "upgrade the older side",
				       h->version, TF_ACCEL_VERSION);
	if (h->role != want || h->reserved0 || memcmp(h->reserved, zero16, sizeof(zero16)))
		return tf_xport_seterr(x, EPROTO,
				       "peer's hello has role %u (want %u) or "
				       "non-zero reserved bytes",
				       h->role, want);
	if (!tf_ring_size_ok(h->ring_bytes) || h->region_bytes != TF_ACCEL_RING_OFF + h->ring_bytes)
		return tf_xport_seterr(x, EPROTO, "peer's ring of %u bytes (region %u) is invalid",
				       h->ring_bytes, h->region_bytes);
	if ((h->max_record_bytes & (TF_ACCEL_REC_ALIGN - 1)) || h->max_record_bytes < 4096 ||
	    h->max_record_bytes > h->ring_bytes / 4)
		return tf_xport_seterr(x, EPROTO, "peer's max_record_bytes %u is invalid",
				       h->max_record_bytes);
	if (x->role == TF_ACCEL_ROLE_CARD) {
		if (h->max_inflight == 0)
			return tf_xport_seterr(x, EPROTO, "accelerator grants 0 request credits");
		if (h->epoch != x->epoch)
			return tf_xport_seterr(x, EPROTO, "accelerator echoed epoch %u, sent %u",
					       h->epoch, x->epoch);
	} else {
		if (h->max_inflight != 0 || h->epoch == 0)
			return tf_xport_seterr(x, EPROTO,
					       "card's hello has max_inflight %u and "
					       "epoch %u (want 0 and non-zero)",
					       h->max_inflight, h->epoch);
	}
	x->cnt[TF_XPORT_C_RX_BAD_HELLO]--;
	return 0;
}

static void
q_push(struct tf_xport *x, const struct tf_xport_event *ev)
{
	if (x->q_tail - x->q_head == x->q_cap) {
		/* grow (rare: sized at set-up for everything one loss can produce) */
		uint32_t cap = x->q_cap ? 2 * x->q_cap : 64;
		struct tf_xport_event *q = malloc(cap * sizeof(*q));

		if (!q)
			return; /* cannot happen in practice; the event is lost */
		for (uint32_t i = 0; i < x->q_tail - x->q_head; i++)
			q[i] = x->q[(x->q_head + i) % x->q_cap];
		x->q_tail -= x->q_head;
		x->q_head = 0;
		free(x->q);
		x->q = q;
		x->q_cap = cap;
	}
	x->q[x->q_tail++ % x->q_cap] = *ev;
}

static int
q_reserve(struct tf_xport *x, uint32_t need)
{
	uint32_t len = x->q_tail - x->q_head;
	struct tf_xport_event *q;
	uint32_t cap = 64;

	if (x->q_cap >= len + need)
		return 0;
	while (cap < len + need)
		cap *= 2;
	q = malloc(cap * sizeof(*q));
	if (!q)
		return -ENOMEM;
	for (uint32_t i = 0; i < len; i++)
		q[i] = x->q[(x->q_head + i) % x->q_cap];
	free(x->q);
	x->q = q;
	x->q_head = 0;
	x->q_tail = len;
	x->q_cap = cap;
	return 0;
}

int
tf_xport_established(struct tf_xport *x, const struct tf_accel_hello *peer)
{
	uint32_t limit;
	int rc;

	rc = tf_xport_hello_check(x, peer);
	if (rc)
		return rc;
	x->peer = *peer;
	if (x->role == TF_ACCEL_ROLE_CARD) {
		x->max_inflight = peer->max_inflight;
		tf_ring_init(&x->tx, peer->ring_bytes, peer->max_record_bytes, (uint16_t)x->epoch,
			     0);
		tf_ring_init(&x->rx, x->lring_bytes, x->lmax_rec, (uint16_t)x->epoch,
			     1u << TF_ACCEL_REC_EVENTS);
	} else {
		x->epoch = peer->epoch;
		tf_ring_init(&x->tx, peer->ring_bytes, peer->max_record_bytes, (uint16_t)x->epoch,
			     0);
		tf_ring_init(&x->rx, x->lring_bytes, x->lmax_rec, (uint16_t)x->epoch,
			     (1u << TF_ACCEL_REC_BATCH) | (1u << TF_ACCEL_REC_CANCEL));
	}
	limit = x->max_inflight;
	/* a new epoch: the accelerator holds nothing of the old one (forgotten included) */
	if (tf_handles_reset(&x->inflight, limit) || tf_handles_reset(&x->forgotten, limit))
		return tf_xport_seterr(x, ENOMEM, "out of memory for %u requests", limit);
	/* room for DOWN + one event per request and slot when this connection is lost */
	if (q_reserve(x, limit + TF_XPORT_TX_SLOTS + 8))
		return tf_xport_seterr(x, ENOMEM, "out of memory for the event queue");
	if (x->role == TF_ACCEL_ROLE_ACCEL && x->deferred_cap < limit + TF_ACCEL_MAX_BATCH_REQS) {
		free(x->deferred);
		x->deferred_cap = limit + TF_ACCEL_MAX_BATCH_REQS;
		x->deferred = calloc(x->deferred_cap, sizeof(*x->deferred));
		if (!x->deferred)
			return tf_xport_seterr(x, ENOMEM, "out of memory");
	}
	x->ndeferred = 0;
	x->rx_returned = 0;
	x->rx_peer_prod = 0;
	x->ev_len = 0;
	x->ev_count = 0;
	x->cur_rec = NULL;
	x->cur_n = x->cur_i = 0;
	x->state = TF_XPORT_STATE_UP;
	x->connects++;
	x->backoff_ms = x->ccfg.reconnect_min_ms;
	x->last_hb_change_ms = tf_xport_now_ms();
	x->last_hb = 0;
	q_push(x, &(struct tf_xport_event){ .type = TF_XPORT_EV_UP });
	return 0;
}

void
tf_xport_tx_done(struct tf_xport *x, uint64_t post_seq)
{
	while (x->done_seq < post_seq && x->done_seq < x->post_seq) {
		struct tf_tx_slot *s = &x->slots[++x->done_seq % TF_XPORT_TX_SLOTS];

		if (s->has_cookie) {
			q_push(x, &(struct tf_xport_event){ .type = TF_XPORT_EV_BATCH_SENT,
							    .handle = s->cookie });
			s->has_cookie = 0;
		}
	}
}

/* An UP connection was lost: DOWN, then every request in flight fails. */
static void
conn_lost(struct tf_xport *x, enum tf_xport_counter why, uint16_t code)
{
	static const char lost[] = "connection to the accelerator lost";
	static const char proto[] = "accelerator broke the ring protocol";

	if (x->state != TF_XPORT_STATE_UP)
		return;
	x->ops->disconnect(x);
	x->cnt[TF_XPORT_C_CONN_LOST]++;
	if (why != TF_XPORT_C_CONN_LOST)
		x->cnt[why]++;
	x->state = TF_XPORT_STATE_DOWN;
	q_push(x, &(struct tf_xport_event){ .type = TF_XPORT_EV_DOWN });
	if (x->role == TF_ACCEL_ROLE_CARD) {
		for (uint32_t i = 0; x->inflight.ent && i <= x->inflight.mask; i++) {
			struct tf_handle_ent *e = &x->inflight.ent[i];
			struct tf_xport_event ev = { .type = TF_XPORT_EV_ERROR,
						     .handle = e->handle };

			if (!e->used)
				continue;
			ev.u.error.code = code;
			ev.u.error.retryable = 1;
			ev.u.error.msg = code == TF_ACCEL_ERR_PROTOCOL ? proto : lost;
			ev.u.error.msg_len = (uint16_t)strlen(ev.u.error.msg);
			q_push(x, &ev);
			x->cnt[TF_XPORT_C_REQS_FAILED]++;
		}
		x->next_attempt_ms = tf_xport_now_ms() + x->backoff_ms;
	}
	tf_handles_clear(&x->inflight);
	tf_handles_clear(&x->forgotten);
	/* the transport is gone: nothing reads the staging slots any more */
	tf_xport_tx_done(x, x->post_seq);
	x->ev_len = 0;
	x->ndeferred = 0;
}

static void
protocol_violation(struct tf_xport *x, enum tf_xport_counter c, const char *what)
{
	x->cnt[c]++;
	tf_xport_seterr(x, EPROTO, "peer broke the ring protocol (%s): connection reset", what);
	conn_lost(x, TF_XPORT_C_PROTOCOL, TF_ACCEL_ERR_PROTOCOL);
}

static enum tf_xport_counter
ring_counter(enum tf_ring_err e)
{
	switch (e) {
	case TF_RING_E_INDEX:
		return TF_XPORT_C_RX_BAD_INDEX;
	case TF_RING_E_CREDIT:
		return TF_XPORT_C_RX_BAD_CREDIT;
	case TF_RING_E_SEQ:
		return TF_XPORT_C_RX_BAD_SEQ;
	case TF_RING_E_EPOCH:
		return TF_XPORT_C_RX_BAD_EPOCH;
	default:
		return TF_XPORT_C_RX_BAD_REC;
	}
}

static const char *
ring_what(enum tf_ring_err e)
{
	switch (e) {
	case TF_RING_E_INDEX:
		return "producer index out of range";
	case TF_RING_E_CREDIT:
		return "credit return out of range";
	case TF_RING_E_SEQ:
		return "record sequence number skipped";
	case TF_RING_E_EPOCH:
		return "record of another connection";
	default:
		return "malformed record header";
	}
}

/* A set-up attempt failed: try again after the back-off (card). */
static void
attempt_failed(struct tf_xport *x)
{
	x->ops->disconnect(x);
	x->state = TF_XPORT_STATE_DOWN;
	x->next_attempt_ms = tf_xport_now_ms() + x->backoff_ms;
	x->backoff_ms = x->backoff_ms * 2 > x->ccfg.reconnect_max_ms ? x->ccfg.reconnect_max_ms
								     : x->backoff_ms * 2;
}

static void
start_attempt(struct tf_xport *x)
{
	int rc;

	if (++x->epoch == 0)
		x->epoch = 1;
	x->state = TF_XPORT_STATE_CONNECTING;
	x->attempt_start_ms = tf_xport_now_ms();
	rc = x->ops->connect(x);
	if (rc < 0) {
		if (!x->err[0])
			tf_xport_seterr(x, -rc, "connecting to %s:%s: %s", x->ops->name, x->addr,
					strerror(-rc));
		attempt_failed(x);
	}
}

int
tf_xport_connect(struct tf_xport_ctx *ctx, const struct tf_xport_conn_cfg *cfg,
		 struct tf_xport **out)
{
	const struct tf_xport_ops *ops;
	struct tf_xport_conn_cfg c;
	char addr[128];
	struct tf_xport *x;
	int rc;

	if (!ctx || !cfg || !out)
		return cfg_err("tf_xport_connect: missing context, configuration or result");
	c = *cfg;
	rc = parse_uri(c.uri, &ops, addr, sizeof(addr));
	if (rc)
		return rc;
	if (!ops->connect)
		return cfg_err("transport '%s' cannot connect", ops->name);
	if (!c.resp_ring_bytes)
		c.resp_ring_bytes = TF_XPORT_DEF_RESP_RING;
	rc = check_ring_size("response ring size", c.resp_ring_bytes);
	if (rc)
		return rc;
	if (!c.reconnect_min_ms)
		c.reconnect_min_ms = 50;
	if (!c.reconnect_max_ms)
		c.reconnect_max_ms = 5000;
	if (c.reconnect_max_ms < c.reconnect_min_ms)
		return cfg_err("reconnect_max_ms %u is below reconnect_min_ms %u",
			       c.reconnect_max_ms, c.reconnect_min_ms);
	if (!c.peer_timeout_ms)
		c.peer_timeout_ms = 5000;
	if (!c.connect_timeout_ms)
		c.connect_timeout_ms = 5000;
	rc = xport_alloc(ctx, ops, TF_ACCEL_ROLE_CARD, c.resp_ring_bytes, &x);
	if (rc)
		return rc;
	c.uri = NULL; /* not kept: the caller's string */
	x->ccfg = c;
	x->peer_timeout_ms = c.peer_timeout_ms;
	snprintf(x->addr, sizeof(x->addr), "%s", addr);
	x->backoff_ms = c.reconnect_min_ms;
	/* epochs start somewhere unpredictable so a stale peer cannot guess */
	x->epoch = (uint32_t)(tf_xport_now_ms() * 2654435761u) ^ (uint32_t)getpid();
	start_attempt(x);
	*out = x;
	return 0;
}

int
tf_xport_listen(struct tf_xport_ctx *ctx, const struct tf_xport_listen_cfg *cfg,
		struct tf_xport_listener **out)
{
	struct tf_xport_listener *l;
	const struct tf_xport_ops *ops;
	char addr[128];
	int rc;

	if (!ctx || !cfg || !out)
		return cfg_err("tf_xport_listen: missing context, configuration or result");
	rc = parse_uri(cfg->uri, &ops, addr, sizeof(addr));
	if (rc)
		return rc;
	if (!ops->listen || !ops->accept)
		return cfg_err("transport '%s' cannot listen", ops->name);
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->ops = ops;
	l->ctx = ctx;
	l->cfg = *cfg;
	l->cfg.uri = NULL;
	if (!l->cfg.in_ring_bytes)
		l->cfg.in_ring_bytes = TF_XPORT_DEF_IN_RING;
	if (!l->cfg.max_inflight)
		l->cfg.max_inflight = TF_XPORT_DEF_MAX_INFLIGHT;
	if (!l->cfg.peer_timeout_ms)
		l->cfg.peer_timeout_ms = 5000;
	rc = check_ring_size("input ring size", l->cfg.in_ring_bytes);
	if (!rc && l->cfg.max_inflight > 65536)
		rc = cfg_err("max_inflight %u is over 65536", l->cfg.max_inflight);
	if (rc) {
		free(l);
		return rc;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	rc = ops->listen(l);
	if (rc) {
		free(l);
		return rc;
	}
	ctx->users++;
	*out = l;
	return 0;
}

int
tf_xport_accept(struct tf_xport_listener *l, struct tf_xport **out)
{
	struct tf_xport *x;
	int rc;

	/* nothing pending: answer before allocating a connection's memory */
	if (l->ops->accept_ready && !l->ops->accept_ready(l))
		return -EAGAIN;
	rc = xport_alloc(l->ctx, l->ops, TF_ACCEL_ROLE_ACCEL, l->cfg.in_ring_bytes, &x);
	if (rc)
		return rc;
	x->max_inflight = l->cfg.max_inflight;
	x->peer_timeout_ms = l->cfg.peer_timeout_ms;
	snprintf(x->addr, sizeof(x->addr), "%s", l->addr);
	x->state = TF_XPORT_STATE_CONNECTING;
	rc = l->ops->accept(l, x);
	if (rc) {
		xport_free(x);
		return rc;
	}
	/* the backend called tf_xport_established(): drop the UP event, the
	 * caller learns it from the return value */
	x->q_head = x->q_tail;
	*out = x;
	return 0;
}

void
tf_xport_listener_close(struct tf_xport_listener *l)
{
	if (!l)
		return;
	l->ops->listener_close(l);
	l->ctx->users--;
	free(l);
}

void
tf_xport_disconnect(struct tf_xport *x)
{
	if (!x)
		return;
	if (x->state != TF_XPORT_STATE_DOWN)
		x->ops->disconnect(x);
	xport_free(x);
}

enum tf_xport_state
tf_xport_state(const struct tf_xport *x)
{
	return x->state;
}

const char *
tf_xport_last_error(const struct tf_xport *x)
{
	return x->err;
}

void
tf_xport_info(const struct tf_xport *x, struct tf_xport_info *info)
{
	memset(info, 0, sizeof(*info));
	info->state = x->state;
	info->epoch = x->epoch;
	if (x->state == TF_XPORT_STATE_UP) {
		info->ring_free = tf_ring_free(&x->tx);
		info->max_record_bytes = x->tx.max_rec;
	}
	info->inflight = x->inflight.count;
	info->max_inflight = x->max_inflight;
	info->abandoned = x->forgotten.count;
	info->connects = x->connects;
	info->peer_timeout_ms = x->peer_timeout_ms;
}

/* ---- producing ------------------------------------------------------------- */

uint32_t
tf_xport_batch_bytes(const struct tf_xport_req *reqs, unsigned int n)
{
	uint64_t len = sizeof(struct tf_accel_rec);

	for (unsigned int i = 0; i < n; i++) {
		len += sizeof(struct tf_accel_req);
		for (uint32_t k = 0; k < reqs[i].nsegs; k++)
			len += reqs[i].segs[k].len;
	}
	if (len > UINT32_MAX - TF_ACCEL_REC_ALIGN)
		return UINT32_MAX;
	return tf_ring_align((uint32_t)len);
}

/* Credits the peer returned (its consumer index on our tx ring). */
static int
refresh_credits(struct tf_xport *x)
{
	uint64_t db = tf_xport_db_load(x->lregion + TF_ACCEL_CTL_OFF);
	enum tf_ring_err e = tf_ring_prod_credit(&x->tx, TF_ACCEL_DB_CONS(db));

	if (e) {
		protocol_violation(x, ring_counter(e), ring_what(e));
		return -ENOTCONN;
	}
	return 0;
}

static int
slot_free(const struct tf_xport *x)
{
	return x->post_seq - x->done_seq < TF_XPORT_TX_SLOTS;
}

/* Writes one record (already built in the current slot / segs) and commits it. */
static int
post_record(struct tf_xport *x, const struct tf_ring_resv *rv, const struct tf_xport_seg *segs,
	    unsigned int nsegs, uint8_t *bounce, uint32_t bounce_len)
{
	uint8_t *slot = slot_buf(x, x->post_seq + 1);
	struct tf_accel_rec *pad = (struct tf_accel_rec *)(void *)(slot + SLOT_PAD);
	struct tf_xport_wr wr = {
		.ring_off = rv->off,
		.len = rv->len,
		.pad_off = rv->pad_off,
		.pad_len = rv->pad_len,
		.pad_hdr = pad,
		.segs = segs,
		.nsegs = nsegs,
		.db = TF_ACCEL_DB(rv->new_prod, x->rx.cons),
		.post_seq = x->post_seq + 1,
		.bounce = bounce,
		.bounce_len = bounce_len,
	};
	int rc;

	if (rv->pad_len)
		tf_ring_pad_hdr(&x->tx, rv, pad);
	x->post_seq++;
	rc = x->ops->post(x, &wr);
	if (rc < 0) {
		x->post_seq--;
		return rc;
	}
	tf_ring_prod_commit(&x->tx, rv);
	if (x->ops->flags & TF_XPORT_OPS_F_POST_RETURNS_CREDITS)
		x->rx_returned = x->rx.cons;
	x->cnt[TF_XPORT_C_BATCHES_TX]++;
	x->cnt[TF_XPORT_C_BYTES_TX] += rv->len;
	return 0;
}

/* A post the backend refused: out of send queue -> retry later; else the link is gone. */
static int
post_failed(struct tf_xport *x, int rc)
{
	if (rc == -ENOBUFS || rc == -EAGAIN || rc == -ENOMEM) {
		x->cnt[TF_XPORT_C_NO_RING_SPACE]++;
		return -ENOBUFS;
	}
	conn_lost(x, TF_XPORT_C_QP_ERROR, TF_ACCEL_ERR_CONN_LOST);
	return -ENOTCONN;
}

static int
build_req_hdr(const struct tf_xport_req *r, struct tf_accel_req *h)
{
	uint64_t bytes = 0;

	for (uint32_t k = 0; k < r->nsegs; k++) {
		if (!r->segs[k].addr && r->segs[k].len)
			return -EINVAL;
		bytes += r->segs[k].len;
	}
	if (bytes == 0 || bytes > TF_ACCEL_MAX_PROMPT_BYTES)
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	h->handle = r->handle;
	h->tenant = r->tenant;
	h->model = r->model;
	h->prompt_bytes = (uint32_t)bytes;
	h->prompt_fmt = r->prompt_fmt;
	h->sampling = r->sampling;
	return tf_entry_req_check(h, NULL) ? -EINVAL : 0;
}

int
tf_xport_batch_post(struct tf_xport *x, const struct tf_xport_req *reqs, unsigned int n,
		    uint64_t cookie)
{
	struct tf_ring_resv rv;
	uint8_t *slot, *rec;
	unsigned int nseg = 0, added = 0;
	uint64_t segtotal = 0;
	uint32_t len;
	int rc;

	if (x->role != TF_ACCEL_ROLE_CARD || x->state != TF_XPORT_STATE_UP)
		return -ENOTCONN;
	if (n == 0 || n > TF_ACCEL_MAX_BATCH_REQS || !reqs)
		return -EINVAL;
	if (x->inflight.count + n > x->max_inflight) {
		x->cnt[TF_XPORT_C_NO_REQ_CREDIT]++;
		return -EBUSY;
	}
	for (unsigned int i = 0; i < n; i++)
		segtotal += reqs[i].nsegs;
	if (segtotal + 1 > TF_XPORT_MAX_SEGS)
		return -EINVAL;
	if (!slot_free(x)) {
		x->cnt[TF_XPORT_C_NO_RING_SPACE]++;
		return -ENOBUFS;
	}
	if (refresh_credits(x))
		return -ENOTCONN;
	len = tf_xport_batch_bytes(reqs, n);
	rc = tf_ring_prod_reserve(&x->tx, len, &rv);
	if (rc) {
		if (rc == -ENOBUFS)
			x->cnt[TF_XPORT_C_NO_RING_SPACE]++;
		return rc;
	}
	slot = slot_buf(x, x->post_seq + 1);
	rec = slot + SLOT_REC;
	/* the record header and every request header: one contiguous piece of
	 * registered staging; then the prompts straight from the caller's buffers
	 * (a batch of n one-buffer prompts is a gather list of 1 + n) */
	x->segs[nseg++] = (struct tf_xport_seg){
		rec, (uint32_t)(sizeof(struct tf_accel_rec) + n * sizeof(struct tf_accel_req)),
		x->stg_mem
	};
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *h = rec + sizeof(struct tf_accel_rec) + i * sizeof(struct tf_accel_req);
		struct tf_accel_req req;

		rc = build_req_hdr(&reqs[i], &req);
		if (rc)
			goto unwind;
		memcpy(h, &req, sizeof(req));
		for (uint32_t k = 0; k < reqs[i].nsegs; k++)
			if (reqs[i].segs[k].len)
				x->segs[nseg++] = reqs[i].segs[k];
		/* given up on, but the accelerator may still hold it (and answer it) */
		if (x->forgotten.count && tf_handles_find(&x->forgotten, reqs[i].handle)) {
			rc = -EEXIST;
			goto unwind;
		}
		rc = tf_handles_add(&x->inflight, reqs[i].handle, NULL);
		if (rc) {
			rc = rc == -EEXIST ? -EEXIST : -EBUSY;
			goto unwind;
		}
		added++;
	}
	tf_ring_rec_hdr(&x->tx, &rv, TF_ACCEL_REC_BATCH, (uint16_t)n,
			(struct tf_accel_rec *)(void *)rec);
	x->slots[(x->post_seq + 1) % TF_XPORT_TX_SLOTS] = (struct tf_tx_slot){
		.post_seq = x->post_seq + 1, .cookie = cookie, .has_cookie = 1
	};
	rc = post_record(x, &rv, x->segs, nseg,
			 rec + tf_ring_align(sizeof(struct tf_accel_rec) +
					     TF_ACCEL_MAX_BATCH_REQS * sizeof(struct tf_accel_req)),
			 TF_XPORT_BOUNCE);
	if (rc) {
		x->slots[(x->post_seq + 1) % TF_XPORT_TX_SLOTS].has_cookie = 0;
		goto unwind_post;
	}
	x->cnt[TF_XPORT_C_REQS_TX] += n;
	return 0;
unwind_post:
	for (unsigned int i = 0; i < added; i++)
		tf_handles_del(&x->inflight, reqs[i].handle);
	return post_failed(x, rc);
unwind:
	for (unsigned int i = 0; i < added; i++)
		tf_handles_del(&x->inflight, reqs[i].handle);
	return rc;
}

int
tf_xport_cancel(struct tf_xport *x, const uint64_t *handles, unsigned int n)
{
	struct tf_ring_resv rv;
	struct tf_xport_seg seg;
	uint8_t *rec;
	uint32_t len;
	int rc;

	if (x->role != TF_ACCEL_ROLE_CARD || x->state != TF_XPORT_STATE_UP)
		return -ENOTCONN;
	if (n == 0 || n > TF_ACCEL_MAX_CANCEL || !handles)
		return -EINVAL;
	if (!slot_free(x))
		return -ENOBUFS;
	if (refresh_credits(x))
		return -ENOTCONN;
	len = (uint32_t)(sizeof(struct tf_accel_rec) + 8u * n);
	rc = tf_ring_prod_reserve(&x->tx, len, &rv);
	if (rc)
		return rc;
	rec = slot_buf(x, x->post_seq + 1) + SLOT_REC;
	tf_ring_rec_hdr(&x->tx, &rv, TF_ACCEL_REC_CANCEL, (uint16_t)n,
			(struct tf_accel_rec *)(void *)rec);
	memcpy(rec + sizeof(struct tf_accel_rec), handles, 8ull * n);
	seg = (struct tf_xport_seg){ rec, len, x->stg_mem };
	x->slots[(x->post_seq + 1) % TF_XPORT_TX_SLOTS] =
		(struct tf_tx_slot){ .post_seq = x->post_seq + 1 };
	rc = post_record(x, &rv, &seg, 1, NULL, 0);
	return rc ? post_failed(x, rc) : 0;
}

int
tf_xport_forget(struct tf_xport *x, uint64_t handle)
{
	int rc;

	if (x->role != TF_ACCEL_ROLE_CARD || x->state != TF_XPORT_STATE_UP)
		return -ENOTCONN;
	if (!tf_handles_find(&x->inflight, handle))
		return -ENOENT;
	rc = tf_handles_add(&x->forgotten, handle, NULL);
	if (rc)
		return rc; /* -ENOSPC: the table is full; -EEXIST cannot happen (posts refuse) */
	tf_handles_del(&x->inflight, handle);
	x->cnt[TF_XPORT_C_ABANDONED]++;
	return 0;
}

/* ---- responses (accelerator) ------------------------------------------------ */

static uint32_t
ev_cap(const struct tf_xport *x)
{
	uint32_t cap = x->slot_bytes - SLOT_REC;

	return cap < x->tx.max_rec ? cap : x->tx.max_rec;
}

/* Room for len more bytes in the pending EVENTS record; flushes a full one. */
static int
ev_room(struct tf_xport *x, uint32_t len, uint8_t **dst)
{
	int rc;

	if (x->state != TF_XPORT_STATE_UP)
		return -ENOTCONN;
	if (x->ev_len && (x->ev_len + len > ev_cap(x) || x->ev_count == TF_ACCEL_MAX_EVENTS)) {
		rc = tf_xport_resp_flush(x);
		if (rc)
			return rc;
	}
	if (!x->ev_len) {
		if (!slot_free(x))
			return -ENOBUFS;
		x->ev_len = sizeof(struct tf_accel_rec);
		x->ev_count = 0;
	}
	if (x->ev_len + len > ev_cap(x))
		return -EMSGSIZE;
	*dst = slot_buf(x, x->post_seq + 1) + SLOT_REC + x->ev_len;
	return 0;
}

static int
ev_error(struct tf_xport *x, uint64_t handle, uint16_t code, int retryable, const char *msg)
{
	uint32_t mlen = msg ? (uint32_t)strnlen(msg, TF_ACCEL_MAX_ERROR_MSG) : 0;
	uint32_t len = tf_entry_error_len(mlen);
	uint8_t *dst;
	int rc;

	rc = ev_room(x, len, &dst);
	if (rc)
		return rc;
	rc = tf_entry_put_error(dst, len, handle, code, retryable, msg, mlen);
	if (rc < 0)
		return rc;
	x->ev_len += (uint32_t)rc;
	x->ev_count++;
	return 0;
}

static int
retryable_code(uint16_t code)
{
	return code == TF_ACCEL_ERR_BUSY || code == TF_ACCEL_ERR_SHUTDOWN;
}

static const char *
code_msg(uint16_t code)
{
	switch (code) {
	case TF_ACCEL_ERR_DUP_HANDLE:
		return "request handle already in flight on this connection";
	case TF_ACCEL_ERR_BUSY:
		return "over the accelerator's request credits";
	default:
		return "request entry has a field out of range (hwdocs/accel-rings.md)";
	}
}

/* Rejections decided here (bad field, duplicate, over credit): appended when room. */
static void
reject(struct tf_xport *x, uint64_t handle, uint16_t code)
{
	if (x->ndeferred == 0 &&
	    ev_error(x, handle, code, retryable_code(code), code_msg(code)) == 0)
		return;
	if (x->ndeferred < x->deferred_cap) {
		x->deferred[x->ndeferred].handle = handle;
		x->deferred[x->ndeferred].code = code;
		x->ndeferred++;
	}
}

int
tf_xport_resp_tokens(struct tf_xport *x, uint64_t handle, uint32_t index,
		     const struct tf_accel_tok *tok, unsigned int ntok, const void *text,
		     uint32_t text_bytes)
{
	uint32_t len;
	uint8_t *dst;
	int rc;

	if (x->role != TF_ACCEL_ROLE_ACCEL)
		return -EINVAL;
	if (ntok == 0 || ntok > TF_ACCEL_MAX_CHUNK_TOKENS || text_bytes > UINT16_MAX)
		return -EINVAL;
	if (!tf_handles_find(&x->inflight, handle))
		return -ENOENT;
	len = tf_entry_tokens_len(ntok, text_bytes);
	rc = ev_room(x, len, &dst);
	if (rc)
		return rc;
	rc = tf_entry_put_tokens(dst, len, handle, index, tok, ntok, text, text_bytes);
	if (rc < 0)
		return rc;
	x->ev_len += (uint32_t)rc;
	x->ev_count++;
	return 0;
}

int
tf_xport_resp_end(struct tf_xport *x, uint64_t handle, const struct tf_accel_usage *u)
{
	uint8_t *dst;
	int rc;

	if (x->role != TF_ACCEL_ROLE_ACCEL || !u)
		return -EINVAL;
	if (!tf_handles_find(&x->inflight, handle))
		return -ENOENT;
	rc = ev_room(x, TF_ENTRY_END_LEN, &dst);
	if (rc)
		return rc;
	rc = tf_entry_put_end(dst, TF_ENTRY_END_LEN, handle, u);
	if (rc < 0)
		return rc;
	x->ev_len += (uint32_t)rc;
	x->ev_count++;
	tf_handles_del(&x->inflight, handle);
	return 0;
}

int
tf_xport_resp_error(struct tf_xport *x, uint64_t handle, uint16_t code, int retryable,
		    const char *msg)
{
	int rc;

	if (x->role != TF_ACCEL_ROLE_ACCEL)
		return -EINVAL;
	if (code < TF_ACCEL_ERR_BAD_REQUEST || code > TF_ACCEL_ERR_INTERNAL)
		return -EINVAL;
	if (!tf_handles_find(&x->inflight, handle))
		return -ENOENT;
	rc = ev_error(x, handle, code, retryable, msg);
	if (rc)
		return rc;
	tf_handles_del(&x->inflight, handle);
	return 0;
}

int
tf_xport_resp_flush(struct tf_xport *x)
{
	struct tf_ring_resv rv;
	struct tf_xport_seg seg;
	uint8_t *rec;
	int rc;

	if (x->role != TF_ACCEL_ROLE_ACCEL)
		return -EINVAL;
	if (x->state != TF_XPORT_STATE_UP)
		return -ENOTCONN;
	/* rejections that did not fit earlier go first */
	while (x->ndeferred) {
		uint32_t i = x->ndeferred - 1;
		uint32_t len = tf_entry_error_len((uint32_t)strlen(code_msg(x->deferred[i].code)));

		if (x->ev_len &&
		    (x->ev_len + len > ev_cap(x) || x->ev_count == TF_ACCEL_MAX_EVENTS))
			break;
		if (ev_error(x, x->deferred[i].handle, x->deferred[i].code,
			     retryable_code(x->deferred[i].code), code_msg(x->deferred[i].code)))
			break;
		x->ndeferred--;
	}
	if (!x->ev_len)
		return 0;
	if (refresh_credits(x))
		return -ENOTCONN;
	rc = tf_ring_prod_reserve(&x->tx, x->ev_len, &rv);
	if (rc) {
		if (rc == -ENOBUFS)
			x->cnt[TF_XPORT_C_NO_RING_SPACE]++;
		return rc;
	}
	rec = slot_buf(x, x->post_seq + 1) + SLOT_REC;
	tf_ring_rec_hdr(&x->tx, &rv, TF_ACCEL_REC_EVENTS, x->ev_count,
			(struct tf_accel_rec *)(void *)rec);
	/* padding up to the 64-byte record end is undefined; zero it anyway */
	memset(rec + x->ev_len, 0, rv.len - x->ev_len);
	seg = (struct tf_xport_seg){ rec, rv.len, x->stg_mem };
	x->slots[(x->post_seq + 1) % TF_XPORT_TX_SLOTS] =
		(struct tf_tx_slot){ .post_seq = x->post_seq + 1 };
	rc = post_record(x, &rv, &seg, 1, NULL, 0);
	if (rc)
		return post_failed(x, rc);
	x->cnt[TF_XPORT_C_REQS_TX] += x->ev_count;
	x->ev_len = 0;
	x->ev_count = 0;
	return 0;
}

int
tf_xport_status_publish(struct tf_xport *x, const struct tf_accel_status *st)
{
	if (x->role != TF_ACCEL_ROLE_ACCEL || !st)
		return -EINVAL;
	if (x->state != TF_XPORT_STATE_UP)
		return -ENOTCONN;
	if (!x->ops->status_write)
		return -EOPNOTSUPP;
	uint32_t gen = (x->st_last.gen + 2) & ~1u;

	x->st_last = *st;
	x->st_last.gen = x->st_last.gen_end = gen;
	memset(x->st_last.reserved, 0, sizeof(x->st_last.reserved));
	return x->ops->status_write(x, &x->st_last);
}

int
tf_xport_peer_status(const struct tf_xport *x, struct tf_accel_status *out)
{
	const struct tf_accel_status *s;
	uint32_t g1, g2;

	if (x->role != TF_ACCEL_ROLE_CARD || !x->lregion)
		return -EINVAL;
	s = (const struct tf_accel_status *)(const void *)(x->lregion + TF_ACCEL_STATUS_OFF);
	g1 = atomic_load_explicit((const _Atomic uint32_t *)&s->gen, memory_order_acquire);
	memcpy(out, s, sizeof(*out));
	atomic_thread_fence(memory_order_acquire);
	g2 = atomic_load_explicit((const _Atomic uint32_t *)&s->gen, memory_order_relaxed);
	/* gen unchanged across the copy (seqlock) and the copy itself whole (gen_end) */
	if (g1 == 0 || (g1 & 1) || g1 != g2 || out->gen != g1 || out->gen_end != g1)
		return -EAGAIN;
	if (out->nmodels > TF_ACCEL_MAX_MODELS)
		out->nmodels = TF_ACCEL_MAX_MODELS;
	out->name[sizeof(out->name) - 1] = '\0';
	return 0;
}

/* ---- consuming ------------------------------------------------------------ */

int
tf_xport_credits_return(struct tf_xport *x)
{
	int rc;

	if (x->state != TF_XPORT_STATE_UP)
		return -ENOTCONN;
	/* a quarter of the ring at a time: records are at most a quarter of it
	 * (hwdocs/accel-rings.md), so a waiting producer always gets room */
	if (x->rx.cons - x->rx_returned < x->rx.size / 4)
		return 0;
	rc = x->ops->credits_return(x, TF_ACCEL_DB(x->tx.prod, x->rx.cons));
	if (rc < 0)
		return post_failed(x, rc);
	x->rx_returned = x->rx.cons;
	return 0;
}

/* Copies and structurally validates the next record into cur; 1 if one is ready. */
static int
rx_next_record(struct tf_xport *x)
{
	const uint8_t *ring = x->lregion + TF_ACCEL_RING_OFF;

	for (;;) {
		struct tf_accel_rec hdr;
		enum tf_ring_err e;
		uint32_t off;
		uint8_t *dst;
		int n;

		if (tf_ring_avail(&x->rx) == 0)
			return 0;
		off = tf_ring_off(&x->rx, x->rx.cons);
		memcpy(&hdr, ring + off, sizeof(hdr));
		e = tf_ring_cons_check(&x->rx, &hdr);
		if (e) {
			protocol_violation(x, ring_counter(e), ring_what(e));
			return -1;
		}
		if (hdr.type == TF_ACCEL_REC_PAD) {
			tf_ring_cons_advance(&x->rx, hdr.len);
			continue;
		}
		if (x->arena_used + hdr.len > x->arena_half)
			return 0; /* the next poll has room */
		dst = x->arena + (size_t)x->arena_cur * x->arena_half + x->arena_used;
		memcpy(dst, ring + off, hdr.len);
		memcpy(dst, &hdr, sizeof(hdr)); /* the header that was checked */
		x->arena_used += hdr.len;
		tf_ring_cons_advance(&x->rx, hdr.len);
		x->cnt[TF_XPORT_C_RECS_RX]++;
		x->cnt[TF_XPORT_C_BYTES_RX] += hdr.len;
		switch (hdr.type) {
		case TF_ACCEL_REC_BATCH:
			n = tf_entry_batch_parse(dst, hdr.len, x->reqs, TF_ACCEL_MAX_BATCH_REQS);
			break;
		case TF_ACCEL_REC_CANCEL:
			n = tf_entry_cancel_parse(dst, hdr.len, x->cancels, TF_ACCEL_MAX_CANCEL);
			break;
		default: /* EVENTS: the only other type tf_ring_cons_check lets through */
			n = tf_entry_events_parse(dst, hdr.len, x->evts, TF_ACCEL_MAX_EVENTS);
			break;
		}
		if (n < 0) {
			protocol_violation(x,
					   n == -TF_ENTRY_E_TEXT ? TF_XPORT_C_RX_BAD_TEXT
								 : TF_XPORT_C_RX_BAD_ENTRY,
					   n == -TF_ENTRY_E_TEXT ? "token text lengths inconsistent"
								 : "malformed entry");
			return -1;
		}
		x->cur_rec = dst;
		x->cur_half = x->arena_cur;
		x->cur_type = hdr.type;
		x->cur_n = (unsigned int)n;
		x->cur_i = 0;
		return 1;
	}
}

/* Card: one event of the current EVENTS record -> ev; 0 delivered, 1 skipped, -1 fatal. */
static int
deliver_card(struct tf_xport *x, const struct tf_entry_evt *e, struct tf_xport_event *ev)
{
	struct tf_handle_ent *h = tf_handles_find(&x->inflight, e->handle);

	if (!h && x->forgotten.count && tf_handles_find(&x->forgotten, e->handle)) {
		/* given up on (tf_xport_forget): dropped; its END / ERROR ends the memory */
		x->cnt[TF_XPORT_C_RX_ABANDONED]++;
		if (e->type != TF_ACCEL_EVT_TOKENS)
			tf_handles_del(&x->forgotten, e->handle);
		return 1;
	}
	if (!h) {
		protocol_violation(x, TF_XPORT_C_RX_UNKNOWN_HANDLE,
				   "event for a request not in flight");
		return -1;
	}
	memset(ev, 0, sizeof(*ev));
	ev->handle = e->handle;
	switch (e->type) {
	case TF_ACCEL_EVT_TOKENS:
		if (e->u.tokens.index != h->next_index) {
			protocol_violation(x, TF_XPORT_C_RX_BAD_TOKEN_INDEX, "token index gap");
			return -1;
		}
		h->next_index += e->u.tokens.ntok;
		ev->type = TF_XPORT_EV_TOKENS;
		ev->u.tokens.index = e->u.tokens.index;
		ev->u.tokens.ntok = e->u.tokens.ntok;
		ev->u.tokens.tok = e->u.tokens.tok;
		ev->u.tokens.text = e->u.tokens.text;
		ev->u.tokens.text_bytes = e->u.tokens.text_bytes;
		return 0;
	case TF_ACCEL_EVT_END:
		if (e->u.end.completion_tokens != h->next_index) {
			protocol_violation(x, TF_XPORT_C_RX_BAD_TOKEN_INDEX,
					   "END counts other tokens than were streamed");
			return -1;
		}
		ev->type = TF_XPORT_EV_END;
		ev->u.end = e->u.end;
		break;
	default:
		ev->type = TF_XPORT_EV_ERROR;
		ev->u.error.code = e->u.error.code;
		ev->u.error.retryable = e->u.error.retryable;
		ev->u.error.msg = e->u.error.msg;
		ev->u.error.msg_len = e->u.error.msg_len;
		break;
	}
	tf_handles_del(&x->inflight, e->handle);
	return 0;
}

/* Accelerator: one request of the current BATCH -> ev; 0 delivered, 1 rejected. */
static int
deliver_req(struct tf_xport *x, const struct tf_entry_req *r, struct tf_xport_event *ev,
	    struct tf_accel_req *hcopy)
{
	int rc;

	if (tf_entry_req_check(&r->hdr, NULL)) {
		x->cnt[TF_XPORT_C_RX_BAD_FIELD]++;
		reject(x, r->hdr.handle, TF_ACCEL_ERR_BAD_REQUEST);
		return 1;
	}
	rc = tf_handles_add(&x->inflight, r->hdr.handle, NULL);
	if (rc == -EEXIST) {
		x->cnt[TF_XPORT_C_RX_DUP_HANDLE]++;
		reject(x, r->hdr.handle, TF_ACCEL_ERR_DUP_HANDLE);
		return 1;
	}
	if (rc) {
		x->cnt[TF_XPORT_C_RX_OVER_CREDIT]++;
		reject(x, r->hdr.handle, TF_ACCEL_ERR_BUSY);
		return 1;
	}
	*hcopy = r->hdr;
	memset(ev, 0, sizeof(*ev));
	ev->type = TF_XPORT_EV_REQUEST;
	ev->handle = r->hdr.handle;
	ev->u.request.hdr = hcopy;
	ev->u.request.prompt = r->prompt;
	return 0;
}

static unsigned int
q_drain(struct tf_xport *x, struct tf_xport_event *ev, unsigned int max)
{
	unsigned int n = 0;

	while (n < max && x->q_head != x->q_tail)
		ev[n++] = x->q[x->q_head++ % x->q_cap];
	return n;
}

static void
check_liveness(struct tf_xport *x, uint64_t now)
{
	const struct tf_accel_status *s;
	uint32_t hb;

	if (x->role != TF_ACCEL_ROLE_CARD)
		return;
	if (x->inflight.count == 0) {
		x->last_hb_change_ms = now;
		return;
	}
	s = (const struct tf_accel_status *)(const void *)(x->lregion + TF_ACCEL_STATUS_OFF);
	hb = atomic_load_explicit((const _Atomic uint32_t *)&s->heartbeat_ms, memory_order_relaxed);
	if (hb != x->last_hb) {
		x->last_hb = hb;
		x->last_hb_change_ms = now;
	} else if (now - x->last_hb_change_ms > x->peer_timeout_ms) {
		tf_xport_seterr(x, ETIMEDOUT,
				"accelerator sent no heartbeat for %u ms with %u "
				"requests in flight: declared dead",
				x->peer_timeout_ms, x->inflight.count);
		conn_lost(x, TF_XPORT_C_PEER_TIMEOUT, TF_ACCEL_ERR_CONN_LOST);
	}
}

int
tf_xport_poll(struct tf_xport *x, struct tf_xport_event *ev, unsigned int max)
{
	unsigned int n, nreq = 0;
	uint64_t now;
	int rc;

	if (max > TF_XPORT_POLL_MAX)
		max = TF_XPORT_POLL_MAX;
	/* pointers handed out by the previous call die now */
	if (x->cur_rec && x->cur_i < x->cur_n)
		x->arena_cur = x->cur_half ^ 1; /* keep the partly delivered record's half */
	x->arena_used = 0;
	n = q_drain(x, ev, max);
	now = tf_xport_now_ms();

	if (x->state == TF_XPORT_STATE_DOWN) {
		if (x->role == TF_ACCEL_ROLE_CARD && now >= x->next_attempt_ms)
			start_attempt(x);
		return (int)n;
	}
	rc = x->ops->poll(x);
	if (rc < 0) {
		if (x->state == TF_XPORT_STATE_UP)
			conn_lost(x, TF_XPORT_C_CONN_LOST, TF_ACCEL_ERR_CONN_LOST);
		else if (x->state == TF_XPORT_STATE_CONNECTING)
			attempt_failed(x);
		return (int)(n + q_drain(x, ev + n, max - n));
	}
	if (x->state == TF_XPORT_STATE_CONNECTING) {
		if (x->role == TF_ACCEL_ROLE_CARD &&
		    now - x->attempt_start_ms > x->ccfg.connect_timeout_ms) {
			tf_xport_seterr(x, ETIMEDOUT, "no answer from %s:%s within %u ms",
					x->ops->name, x->addr, x->ccfg.connect_timeout_ms);
			attempt_failed(x);
		}
		return (int)(n + q_drain(x, ev + n, max - n));
	}
	if (x->state != TF_XPORT_STATE_UP)
		return (int)(n + q_drain(x, ev + n, max - n));

	if (x->rx_peer_prod != x->rx.prod) {
		enum tf_ring_err e = tf_ring_cons_doorbell(&x->rx, x->rx_peer_prod);

		if (e) {
			protocol_violation(x, ring_counter(e), ring_what(e));
			return (int)(n + q_drain(x, ev + n, max - n));
		}
	}
	while (n < max && x->state == TF_XPORT_STATE_UP) {
		if (!x->cur_rec || x->cur_i >= x->cur_n) {
			x->cur_rec = NULL;
			if (rx_next_record(x) <= 0)
				break;
		}
		if (x->cur_type == TF_ACCEL_REC_EVENTS) {
			int d = deliver_card(x, &x->evts[x->cur_i], &ev[n]);

			if (d < 0)
				break;
			if (d == 0)
				n++;
		} else if (x->cur_type == TF_ACCEL_REC_BATCH) {
			if (deliver_req(x, &x->reqs[x->cur_i], &ev[n], &x->req_out[nreq]) == 0) {
				n++;
				nreq++;
			}
		} else {
			uint64_t h = x->cancels[x->cur_i];

			if (tf_handles_find(&x->inflight, h)) {
				memset(&ev[n], 0, sizeof(ev[n]));
				ev[n].type = TF_XPORT_EV_CANCEL;
				ev[n].handle = h;
				n++;
			}
		}
		x->cur_i++;
		x->cnt[TF_XPORT_C_ENTRIES_RX]++;
	}
	if (x->state == TF_XPORT_STATE_UP) {
		tf_xport_credits_return(x);
		check_liveness(x, now);
	}
	return (int)(n + q_drain(x, ev + n, max - n));
}

/* ---- sleeping when idle ------------------------------------------------------ */

#define WAIT_FDS 64

/* Work the generic layer already holds for the caller: no sleeping. */
static int
has_pending(const struct tf_xport *x)
{
	return x->q_head != x->q_tail || (x->state == TF_XPORT_STATE_UP &&
					  (x->rx_peer_prod != x->rx.prod || tf_ring_avail(&x->rx) ||
					   (x->cur_rec && x->cur_i < x->cur_n)));
}

int
tf_xport_wait(struct tf_xport *const *xs, unsigned int nx, struct tf_xport_listener *const *ls,
	      unsigned int nl, uint32_t timeout_us, uint32_t poll_us)
{
	struct pollfd pfd[WAIT_FDS];
	int fds[WAIT_FDS];
	unsigned int n = 0;
	struct timespec ts;
	int rc;

	for (unsigned int i = 0; i < nl; i++) {
		int fd = ls[i] && ls[i]->ops->listener_fd ? ls[i]->ops->listener_fd(ls[i]) : -1;

		if (fd < 0 || n == WAIT_FDS) {
			if (ls[i] && timeout_us > poll_us)
				timeout_us = poll_us; /* cannot sleep on it: poll it */
			continue;
		}
		pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	for (unsigned int i = 0; i < nx; i++) {
		struct tf_xport *x = xs[i];
		int k;

		if (!x)
			continue;
		if (has_pending(x))
			return 1;
		if (x->state != TF_XPORT_STATE_UP || !x->ops->wait_fds) {
			/* set-up and back-off advance in poll; no notification: poll */
			if (timeout_us > poll_us)
				timeout_us = poll_us;
			continue;
		}
		k = x->ops->wait_fds(x, fds, WAIT_FDS - n);
		if (k == -EAGAIN)
			return 1;
		if (k <= 0) {
			if (timeout_us > poll_us)
				timeout_us = poll_us;
			continue;
		}
		for (int j = 0; j < k; j++)
			pfd[n++] = (struct pollfd){ .fd = fds[j], .events = POLLIN };
	}
	ts.tv_sec = timeout_us / 1000000;
	ts.tv_nsec = (long)(timeout_us % 1000000) * 1000;
	rc = ppoll(pfd, n, &ts, NULL);
	for (unsigned int i = 0; i < nx; i++)
		if (xs[i] && xs[i]->state == TF_XPORT_STATE_UP && xs[i]->ops->wait_done)
			xs[i]->ops->wait_done(xs[i]);
	return rc > 0;
}

/* ---- counters ------------------------------------------------------------- */

void
tf_xport_counters(const struct tf_xport *x, uint64_t out[TF_XPORT_C_COUNT])
{
	memcpy(out, x->cnt, sizeof(x->cnt));
}

static const char *const g_counter_names[TF_XPORT_C_COUNT] = {
	[TF_XPORT_C_BATCHES_TX] = "records_tx",
	[TF_XPORT_C_REQS_TX] = "entries_tx",
	[TF_XPORT_C_BYTES_TX] = "bytes_tx",
	[TF_XPORT_C_RECS_RX] = "records_rx",
	[TF_XPORT_C_ENTRIES_RX] = "entries_rx",
	[TF_XPORT_C_BYTES_RX] = "bytes_rx",
	[TF_XPORT_C_NO_RING_SPACE] = "no_ring_space",
	[TF_XPORT_C_NO_REQ_CREDIT] = "no_request_credit",
	[TF_XPORT_C_RX_BAD_INDEX] = "rx_bad_index",
	[TF_XPORT_C_RX_BAD_CREDIT] = "rx_bad_credit",
	[TF_XPORT_C_RX_BAD_REC] = "rx_bad_rec",
	[TF_XPORT_C_RX_BAD_SEQ] = "rx_bad_seq",
	[TF_XPORT_C_RX_BAD_EPOCH] = "rx_bad_epoch",
	[TF_XPORT_C_RX_BAD_ENTRY] = "rx_bad_entry",
	[TF_XPORT_C_RX_BAD_FIELD] = "rx_bad_field",
	[TF_XPORT_C_RX_DUP_HANDLE] = "rx_dup_handle",
	[TF_XPORT_C_RX_OVER_CREDIT] = "rx_over_credit",
	[TF_XPORT_C_RX_UNKNOWN_HANDLE] = "rx_unknown_handle",
	[TF_XPORT_C_RX_BAD_TOKEN_INDEX] = "rx_bad_token_index",
	[TF_XPORT_C_RX_BAD_TEXT] = "rx_bad_text",
	[TF_XPORT_C_RX_BAD_HELLO] = "rx_bad_hello",
	[TF_XPORT_C_CONN_LOST] = "conn_lost",
	[TF_XPORT_C_PEER_TIMEOUT] = "peer_timeout",
	[TF_XPORT_C_QP_ERROR] = "qp_error",
	[TF_XPORT_C_PROTOCOL] = "protocol",
	[TF_XPORT_C_REQS_FAILED] = "reqs_failed",
	[TF_XPORT_C_ABANDONED] = "abandoned",
	[TF_XPORT_C_RX_ABANDONED] = "rx_abandoned",
};

const char *
tf_xport_counter_name(enum tf_xport_counter c)
{
	return (unsigned int)c < TF_XPORT_C_COUNT ? g_counter_names[c] : "?";
}
