/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-lcore loop (run to completion): control messages, RX bursts of 32
 * from this lcore's queue on every port, frames handed over by other lcores,
 * the pipeline's poll step (transport, batches, timers), TX flush. Only
 * this lcore's own state and SPSC rings are touched: no locks, no shared
 * atomics on the fast path. Also the mbuf side of struct tf_dp_io_ops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include "dataplane/dp.h"

/* ---- struct tf_dp_io_ops over mbufs ---- */

static uint8_t *
io_tx_alloc(void *io, uint16_t port, uint32_t len, void **cookie)
{
	struct tf_dp_lcore *lc = io;
	struct rte_mbuf *m = rte_pktmbuf_alloc(lc->app->pool);

	(void)port;
	if (!m)
		return NULL;
	if (len > rte_pktmbuf_tailroom(m)) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	*cookie = m;
	return rte_pktmbuf_mtod(m, uint8_t *);
}

static void
flush_port(struct tf_dp_lcore *lc, uint16_t port)
{
	uint16_t n = lc->ntx[port], sent;

	if (!n)
		return;
	sent = rte_eth_tx_burst(port, (uint16_t)lc->wid, lc->txb[port], n);
	if (unlikely(sent < n)) {
		tf_dp_worker_count_drop(lc->w, TF_DROP_TX_FULL, n - sent);
		rte_pktmbuf_free_bulk(&lc->txb[port][sent], n - sent);
	}
	lc->ntx[port] = 0;
}

static void
io_tx_send(void *io, uint16_t port, void *cookie, uint32_t len)
{
	struct tf_dp_lcore *lc = io;
	struct rte_mbuf *m = cookie;

	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	lc->txb[port][lc->ntx[port]++] = m;
	if (lc->ntx[port] == TF_DP_RX_BURST)
		flush_port(lc, port);
}

static void
io_rx_free(void *io, void *cookie)
{
	(void)io;
	rte_pktmbuf_free(cookie);
}

static int
io_handoff(void *io, unsigned int to, uint16_t port, void *cookie, const uint8_t *frame,
	   uint32_t len)
{
	struct tf_dp_lcore *lc = io;
	struct rte_mbuf *m = cookie;

	(void)frame;
	(void)len;
	m->port = port;
	return rte_ring_sp_enqueue(lc->app->handoff[lc->wid][to], m) == 0 ? 0 : -ENOBUFS;
}

static int
io_usage_emit(void *io, const struct tf_dp_usage_ev *ev)
{
	struct tf_dp_lcore *lc = io;

	struct tf_dp_usage_ev copy = *ev;

	return rte_ring_sp_enqueue_elem(lc->app->usage[lc->wid], &copy, sizeof(copy)) == 0
		       ? 0
		       : -EAGAIN;
}

/* A received frame rewritten in place (ARP, ICMP): no RX metadata may reach the TX path. */
static void
io_rx_send(void *io, uint16_t port, void *cookie, uint32_t len)
{
	struct rte_mbuf *m = cookie;

	m->ol_flags = 0;
	io_tx_send(io, port, m, len);
}

const struct tf_dp_io_ops tf_dp_mbuf_io = {
	.tx_alloc = io_tx_alloc,
	.tx_send = io_tx_send,
	.rx_send = io_rx_send,
	.rx_free = io_rx_free,
	.handoff = io_handoff,
	.usage_emit = io_usage_emit,
};

/* ---- the loop ---- */

static inline void
rx_one(struct tf_dp_lcore *lc, uint16_t port, struct rte_mbuf *m, int handed)
{
	if (unlikely(m->nb_segs != 1)) {
		/* Our frames fit one buffer; a chained one is not ours to parse. */
		tf_dp_worker_count_drop(lc->w, TF_DROP_ETH_SHORT, 1);
		rte_pktmbuf_free(m);
		return;
	}
	if (handed)
		tf_dp_worker_rx_handoff(lc->w, port, m, rte_pktmbuf_mtod(m, uint8_t *),
					m->data_len);
	else
		tf_dp_worker_rx(lc->w, port, m, rte_pktmbuf_mtod(m, uint8_t *), m->data_len);
}

void
tf_dp_lcore_flush(struct tf_dp_lcore *lc)
{
	for (uint16_t i = 0; i < lc->app->nports; i++)
		flush_port(lc, lc->app->ports[i]);
}

unsigned int
tf_dp_lcore_iter(struct tf_dp_lcore *lc)
{
	struct tf_dp_app *app = lc->app;
	struct rte_mbuf *pkts[TF_DP_RX_BURST];
	unsigned int work = 0;
	uint64_t now = tf_dp_now_us(app);
	void *msg = NULL;

	tf_dp_worker_set_time(lc->w, now, now + app->wall_offset_us);
	if (unlikely(rte_ring_sc_dequeue(app->ctl[lc->wid], &msg) == 0)) {
		tf_dp_ctl_exec(lc->w, msg);
		work++;
	}
	for (uint16_t i = 0; i < app->nports; i++) {
		uint16_t port = app->ports[i];
		uint16_t n = rte_eth_rx_burst(port, (uint16_t)lc->wid, pkts, TF_DP_RX_BURST);

		/*
		 * The whole burst's table lines start loading before the first frame is
		 * worked on; then (many tenants) the tenant objects those lines point at.
		 */
		for (uint16_t k = 0; k < n; k++)
			tf_dp_worker_prefetch(lc->w, rte_pktmbuf_mtod(pkts[k], uint8_t *),
					      pkts[k]->data_len);
		for (uint16_t k = 0; k < n; k++)
			tf_dp_worker_prefetch_tenant(lc->w, rte_pktmbuf_mtod(pkts[k], uint8_t *),
						     pkts[k]->data_len);
		for (uint16_t k = 0; k < n; k++)
			rx_one(lc, port, pkts[k], 0);
		work += n;
	}
	for (unsigned int from = 0; app->nworkers > 1 && from < app->nworkers; from++) {
		unsigned int n;

		if (from == lc->wid)
			continue;
		n = rte_ring_sc_dequeue_burst(app->handoff[from][lc->wid], (void **)pkts,
					      TF_DP_RX_BURST, NULL);
		for (unsigned int k = 0; k < n; k++)
			rx_one(lc, pkts[k]->port, pkts[k], 1);
		work += n;
	}
	work += tf_dp_worker_poll(lc->w);
	tf_dp_lcore_flush(lc);
	return work;
}

int
tf_dp_lcore_main(void *arg)
{
	struct tf_dp_lcore *lc = arg;
	struct tf_dp_app *app = lc->app;

	TF_DP_LOG(INFO, "worker %u on lcore %u", lc->wid, rte_lcore_id());
	while (!app->quit) {
		if (tf_dp_lcore_iter(lc)) {
			lc->idle = 0;
			continue;
		}
		/* Idle: busy-poll by default; a shared machine may ask us to sleep a little. */
		if (++lc->idle > 64 && app->cfg.idle_sleep_us)
			usleep(app->cfg.idle_sleep_us);
		else
			rte_pause();
	}
	tf_dp_lcore_flush(lc);
	return 0;
}

/* ---- control messages from the main lcore ---- */

/* A message and the command it carries, on the heap: a late worker never reads a dead stack. */
struct ctl_box {
	struct tf_dp_ctl m;
	union {
		struct tf_aq_set_tenant tenant;
		struct tf_aq_tenant_balance balance;
		struct tf_aq_set_model model;
		struct tf_aq_set_accel accel;
		struct tf_aq_set_batching batching;
		struct tf_aq_set_usage_mode usage_mode;
	} cmd;
	struct tf_aq_tenant_info resp;
};

static size_t
cmd_size(uint32_t op)
{
	switch (op) {
	case TF_DP_CTL_SET_TENANT:
		return sizeof(struct tf_aq_set_tenant);
	case TF_DP_CTL_TENANT_BALANCE:
		return sizeof(struct tf_aq_tenant_balance);
	case TF_DP_CTL_SET_MODEL:
		return sizeof(struct tf_aq_set_model);
	case TF_DP_CTL_SET_ACCEL:
		return sizeof(struct tf_aq_set_accel);
	case TF_DP_CTL_SET_BATCHING:
		return sizeof(struct tf_aq_set_batching);
	case TF_DP_CTL_SET_USAGE_MODE:
		return sizeof(struct tf_aq_set_usage_mode);
	default:
		return 0;
	}
}

void
tf_dp_ctl_call(void *ctx, unsigned int wid, struct tf_dp_ctl *m)
{
	struct tf_dp_app *app = ctx;
	struct ctl_box *b;
	uint64_t deadline;

	if (!app->running || app->inline_worker) {
		/* Same thread as the worker (before launch, or single-lcore mode). */
		tf_dp_ctl_exec(app->workers[wid], m);
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		m->status = TF_AQ_S_INTERNAL;
		return;
	}
	b->m = *m;
	if (m->cmd && cmd_size(m->op)) {
		memcpy(&b->cmd, m->cmd, cmd_size(m->op));
		b->m.cmd = &b->cmd;
	}
	b->m.resp = m->resp ? &b->resp : NULL;
	b->m.done = 0;
	if (rte_ring_sp_enqueue(app->ctl[wid], &b->m) != 0) {
		free(b);
		m->status = TF_AQ_S_BUSY;
		return;
	}
	deadline = tf_dp_now_us(app) + TF_DP_CTL_TIMEOUT_MS * 1000ull;
	while (!__atomic_load_n(&b->m.done, __ATOMIC_ACQUIRE)) {
		if (tf_dp_now_us(app) > deadline) {
			/* The worker is stuck: answer BUSY and leave the box to it (leaked). */
			TF_DP_LOG(ERR, "worker %u did not answer a control message in %d ms", wid,
				  TF_DP_CTL_TIMEOUT_MS);
			m->status = TF_AQ_S_BUSY;
			return;
		}
		rte_pause();
	}
	m->status = b->m.status;
	m->detail = b->m.detail;
	if (m->resp)
		memcpy(m->resp, &b->resp, sizeof(b->resp));
	free(b);
}
