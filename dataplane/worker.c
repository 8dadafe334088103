/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One worker: its memory, the receive path (L2-L4, then the protocol:
 * header, owner, tenant, MAC, replay window, body), the poll step and what
 * observers read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/worker_int.h"

#define XSEGS_CAP 4096
/* Ids dropped from the at-most-once table per poll at most: twice a receive burst. */
#define EXPIRE_PER_POLL 64
/* Requests ended by their generation deadline per timer pass (1 ms) at most. */
#define DEADLINES_PER_TICK 64

void
tf_dp_worker_destroy(struct tf_dp_worker *w)
{
	if (!w)
		return;
	/*
	 * Forced teardown (a clean stop drains first): forget the batch queues and
	 * connections without re-dispatching, then release every request's frames.
	 */
	for (unsigned int i = 0; i < w->naccel_slots; i++) {
		tf_batch_q_init(&w->accels[i].q);
		if (w->accels[i].x)
			tf_xport_disconnect(w->accels[i].x);
		w->accels[i].x = NULL;
	}
	for (uint32_t i = 0; w->reqs && i < w->nreqs; i++)
		if (w->reqs[i].state != TF_DP_REQ_FREE)
			tf_dp_req_free(w, &w->reqs[i]);
	tf_dp_tables_destroy(w);
	for (unsigned int i = 0; i < w->nmem; i++)
		tf_xport_mem_unregister(w->xmem[i]);
	if (w->xctx)
		tf_xport_ctx_destroy(w->xctx);
	tf_tokarena_destroy(&w->tok);
	tf_dedupe_destroy(&w->ids);
	tf_usage_agg_fini(&w->agg);
	free(w->backlog);
	free(w->xsegs);
	free(w->xreqs);
	free(w->reasm);
	free(w->segs);
	free(w->reqs);
	free(w);
}

int
tf_dp_worker_create(const struct tf_dp_worker_params *p, struct tf_dp_worker **out)
{
	struct tf_dp_worker *w;
	const struct tf_dp_limits *l = &p->limits;
	uint32_t nsegs;
	int rc = -ENOMEM;

	*out = NULL;
	if (!p->nworkers || p->id >= p->nworkers || !p->io_ops || l->max_requests == 0 ||
	    l->tenants == 0 || l->tenants > TF_DP_TENANTS_MAX || l->max_queue == 0 ||
	    l->dgram < 128 || l->dgram > TF_PROTO_MAX_DGRAM || l->max_segs == 0 || p->nmem > 8)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->id = p->id;
	w->nworkers = p->nworkers;
	w->io_ops = p->io_ops;
	w->io = p->io;
	w->me = p->me;
	for (unsigned int i = 0; i < TF_DP_MAX_PORTS; i++)
		memcpy(w->port_mac[i], p->me.mac, 6);
	w->lim = *l;
	w->host_wait = p->host_wait;
	w->max_frames_held = p->pool_frames ? p->pool_frames / 2 / p->nworkers : UINT32_MAX;
	if (w->max_frames_held < 64)
		w->max_frames_held = 64;
	w->host_wait_retry_ms = p->host_wait_retry_ms ? p->host_wait_retry_ms : l->retry_after_ms;
	w->batching = (struct tf_batch_policy){ .max_batch = 16,
						.max_batch_bytes = 1u << 20,
						.max_queue_delay_us = 200 };
	tf_neigh_init(&w->neigh);

	w->nreqs = l->max_requests;
	w->reqs = calloc(w->nreqs, sizeof(*w->reqs));
	nsegs = l->max_requests + l->reasm_contexts * l->max_segs;
	w->segs = calloc(nsegs, sizeof(*w->segs));
	w->reasm = calloc(l->reasm_contexts ? l->reasm_contexts : 1, sizeof(*w->reasm));
	w->xreqs = calloc(TF_ACCEL_MAX_BATCH_REQS, sizeof(*w->xreqs));
	w->xsegs = calloc(XSEGS_CAP, sizeof(*w->xsegs));
	w->backlog_cap = 2 * l->max_queue + TF_DP_USAGE_BACKLOG_MIN + TF_DP_USAGE_AGG_GROUPS;
	w->backlog = calloc(w->backlog_cap, sizeof(*w->backlog));
	if (!w->reqs || !w->segs || !w->reasm || !w->xreqs || !w->xsegs || !w->backlog ||
	    tf_usage_agg_init(&w->agg, TF_DP_USAGE_AGG_GROUPS) < 0)
		goto err;
	w->xsegs_cap = XSEGS_CAP;
	w->records_port = UINT32_MAX;
	for (uint32_t i = 0; i < w->nreqs; i++) {
		w->reqs[i].index = i;
		w->reqs[i].link = i + 2 <= w->nreqs ? i + 2 : 0;
	}
	w->free_head = 1;
	w->nsegs_total = nsegs;
	for (uint32_t i = 0; i < nsegs; i++)
		w->segs[i].next = i + 2 <= nsegs ? i + 2 : 0;
	w->seg_free = 1;
	for (uint32_t i = 0; i < l->reasm_contexts; i++)
		w->reasm[i].next_free = i + 2 <= l->reasm_contexts ? i + 2 : 0;
	w->reasm_free = l->reasm_contexts ? 1 : 0;
	tf_admit_queue_init(&w->aq, l->max_queue, (uint64_t)l->retry_after_ms * 1000,
			    (uint64_t)l->retry_after_max_ms * 1000);
	rc = tf_dedupe_create(&w->ids, l->id_table);
	if (rc < 0)
		goto err;
	rc = tf_dp_tenants_create(&w->tenants, l->tenants);
	if (rc < 0)
		goto err;
	rc = tf_tokarena_create(&w->tok, l->token_buffer_bytes);
	if (rc < 0)
		goto err;
	rc = tf_xport_ctx_create(&w->xctx);
	if (rc < 0)
		goto err;
	for (unsigned int i = 0; i < p->nmem; i++) {
		rc = tf_xport_mem_register(w->xctx, p->mem[i].addr, p->mem[i].len, &w->xmem[i]);
		if (rc < 0)
			goto err;
		w->memr[i].lo = (uintptr_t)p->mem[i].addr;
		w->memr[i].hi = (uintptr_t)p->mem[i].addr + p->mem[i].len;
		w->nmem = i + 1;
	}
	*out = w;
	return 0;
err:
	tf_dp_worker_destroy(w);
	return rc;
}

void
tf_dp_worker_set_port_mac(struct tf_dp_worker *w, uint16_t port, const uint8_t mac[6])
{
	if (port < TF_DP_MAX_PORTS)
		memcpy(w->port_mac[port], mac, 6);
}

void
tf_dp_worker_set_time(struct tf_dp_worker *w, uint64_t mono_us, uint64_t wall_us)
{
	w->now_us = mono_us;
	w->wall_us = wall_us;
}

/* ---- receive ---- */

/*
 * An ERROR without a MAC, for a datagram we cannot authenticate: only when
 * it is no longer than what caused it (no amplification, protocol.md 4.4).
 */
static void
unsigned_error(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
	       const struct tf_proto_msg *m, uint32_t in_len, uint16_t code, uint32_t detail)
{
	if (code == 0 || in_len < TF_PROTO_HDR_LEN + TF_PROTO_ERROR_LEN)
		return;
	tf_dp_send_error(w, port, peer, m, NULL, code, 0, detail);
}

static void
proto_rx(struct tf_dp_worker *w, uint16_t port, void *cookie, uint8_t *frame,
	 const struct tf_pkt_info *info, uint32_t frame_len)
{
	const uint8_t *p = frame + info->payload_off;
	uint32_t n = info->payload_len;
	struct tf_pkt_peer peer = { .has_vlan = info->nvlan > 0,
				    .vlan_tci = info->nvlan ? info->vlan_tci[0] : 0,
				    .ip = info->src_ip,
				    .port = info->src_port };
	const struct tf_proto_key *k;
	struct tf_dp_tenant *t;
	struct tf_proto_msg m;
	unsigned int owner;
	int rc;

	memcpy(peer.mac, info->src_mac, 6);
	rc = tf_proto_decode_hdr(p, n, &m);
	if (TF_DP_UNLIKELY(rc < 0)) {
		w->c.proto[-rc]++;
		if (rc == -TF_PROTO_R_BAD_MAGIC || n < TF_PROTO_HDR_LEN) {
			tf_dp_count_drop(w, TF_DROP_PROTO_MALFORMED);
		} else if (rc == -TF_PROTO_R_BAD_VERSION) {
			tf_dp_count_drop(w, TF_DROP_PROTO_VERSION);
			unsigned_error(w, port, &peer, &m, n, TF_PROTO_E_UNSUPPORTED_VERSION,
				       TF_PROTO_VERSION);
		} else {
			/* The header fields we echo are loaded before any check fails. */
			m.tenant_id = tf_proto_ld32(p + 8);
			m.request_id = tf_proto_ld64(p + 16);
			m.type = p[5];
			tf_dp_count_drop(w, TF_DROP_PROTO_MALFORMED);
			unsigned_error(w, port, &peer, &m, n, tf_proto_reason_error(-rc),
				       (uint32_t)-rc << 16 | m.bad_off);
		}
		goto drop;
	}
	if (TF_DP_UNLIKELY(tf_proto_type_is_response(m.type))) {
		tf_dp_count_drop(w, TF_DROP_PROTO_TYPE);
		goto drop;
	}
	owner = tf_dp_tenant_owner(m.tenant_id, w->nworkers);
	if (owner != w->id) {
		if (w->io_ops->handoff(w->io, owner, port, cookie, frame, frame_len) == 0) {
			tf_dp_count(w, TF_EV_HANDOFF_OUT, 1);
			return;
		}
		tf_dp_count_drop(w, TF_DROP_HANDOFF_FULL);
		goto drop;
	}
	/*
	 * The at-most-once table is far larger than the caches: start loading its
	 * line now, so the MAC check below hides the miss (requests, fragments,
	 * cancels and resumes all look their id up).
	 */
	if (m.type != TF_PROTO_T_PING)
		tf_dedupe_prefetch(&w->ids, m.tenant_id, m.request_id);
	t = tf_dp_tenant_find(w, m.tenant_id);
	if (TF_DP_UNLIKELY(!t)) {
		if (tf_dp_waiting_for_host(w)) {
			/* Not configured yet (restarted): "not yet", retryable (protocol.md 7.1). */
			tf_dp_count_drop(w, TF_DROP_AUTH_UNCONFIGURED);
			if (n >= TF_PROTO_HDR_LEN + TF_PROTO_ERROR_LEN)
				tf_dp_send_error(w, port, &peer, &m, NULL, TF_PROTO_E_BUSY,
						 w->host_wait_retry_ms, 0);
			goto drop;
		}
		tf_dp_count_drop(w, TF_DROP_AUTH_TENANT);
		unsigned_error(w, port, &peer, &m, n, TF_PROTO_E_UNKNOWN_TENANT, 0);
		goto drop;
	}
	k = tf_dp_tenant_key(t, m.key_id);
	if (TF_DP_UNLIKELY(k && !(k->algs & TF_PROTO_MAC_BIT(m.mac_alg)))) {
		/* A known algorithm this tenant may not use (protocol.md 4.1, policy). */
		w->c.proto[TF_PROTO_R_BAD_MAC_ALG]++;
		tf_dp_count_drop(w, TF_DROP_AUTH_MAC_ALG);
		unsigned_error(w, port, &peer, &m, n, TF_PROTO_E_UNSUPPORTED,
			       (uint32_t)TF_PROTO_R_BAD_MAC_ALG << 16 |
				       offsetof(struct tf_proto_wire_hdr, mac_alg));
		goto drop;
	}
	rc = k ? tf_proto_verify(k, &m) : -TF_PROTO_R_BAD_MAC;
	if (TF_DP_UNLIKELY(rc < 0)) {
		w->c.proto[-rc]++;
		tf_dp_count_drop(w, TF_DROP_AUTH_MAC);
		unsigned_error(w, port, &peer, &m, n, TF_PROTO_E_BAD_MAC, 0);
		goto drop;
	}
	/* Authenticated from here on: answers are signed with the key that verified. */
	rc = tf_proto_check_time(m.timestamp_us, w->wall_us,
				 (uint64_t)w->lim.replay_window_ms * 1000);
	if (TF_DP_UNLIKELY(rc < 0)) {
		w->c.proto[-rc]++;
		tf_dp_count_drop(w, TF_DROP_AUTH_REPLAY);
		tf_dp_send_error(w, port, &peer, &m, k, TF_PROTO_E_REPLAY, 0, 1);
		goto drop;
	}
	rc = tf_proto_decode_body(&m);
	if (TF_DP_UNLIKELY(rc < 0)) {
		uint16_t code = tf_proto_reason_error(-rc);

		w->c.proto[-rc]++;
		tf_dp_count_drop(w, TF_DROP_PROTO_MALFORMED);
		if (code)
			tf_dp_send_error(w, port, &peer, &m, k, code, 0,
					 code == TF_PROTO_E_TOO_LARGE
						 ? TF_PROTO_MAX_PROMPT
						 : (uint32_t)-rc << 16 | m.bad_off);
		goto drop;
	}
	if (tf_neigh_learn(&w->neigh, info->src_ip, info->src_mac, peer.has_vlan, peer.vlan_tci,
			   w->now_us))
		tf_dp_count(w, TF_EV_ARP_LEARNED, 1);
	switch (m.type) {
	case TF_PROTO_T_REQUEST:
	case TF_PROTO_T_FRAGMENT:
		tf_dp_on_request(w, port, cookie, &peer, &m, t);
		return;
	case TF_PROTO_T_CANCEL:
		tf_dp_on_cancel(w, port, &peer, &m, t);
		break;
	case TF_PROTO_T_RESUME:
		tf_dp_on_resume(w, port, &peer, &m, t);
		break;
	case TF_PROTO_T_PING:
		tf_dp_send_pong(w, port, &peer, &m, k);
		break;
	default:
		tf_dp_count_drop(w, TF_DROP_PROTO_TYPE);
		break;
	}
drop:
	w->io_ops->rx_free(w->io, cookie);
}

static void rx(struct tf_dp_worker *w, uint16_t port, void *cookie, uint8_t *frame, uint32_t len);

void
tf_dp_worker_prefetch(const struct tf_dp_worker *w, const uint8_t *f, uint32_t len)
{
	const uint8_t *p = f + 42; /* untagged Ethernet + 20-byte IPv4 header + UDP */

	/* The common frame only; tf_dp_worker_rx() parses and checks everything anyway. */
	if (len < 42 + TF_PROTO_HDR_LEN || f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45 ||
	    f[23] != 17 || tf_proto_ld32(p) != TF_PROTO_MAGIC_LE)
		return;
	tf_dp_tenants_prefetch(&w->tenants, tf_proto_ld32(p + 8));
	tf_dedupe_prefetch(&w->ids, tf_proto_ld32(p + 8), tf_proto_ld64(p + 16));
}

void
tf_dp_worker_prefetch_tenant(const struct tf_dp_worker *w, const uint8_t *f, uint32_t len)
{
	const uint8_t *p = f + 42;
	const struct tf_dp_tenant *t;

	if (w->tenants.count <= TF_DP_TENANTS_CACHED || len < 42 + TF_PROTO_HDR_LEN ||
	    f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45 || f[23] != 17 ||
	    tf_proto_ld32(p) != TF_PROTO_MAGIC_LE)
		return;
	t = tf_dp_tenants_find(&w->tenants, tf_proto_ld32(p + 8));
	if (t)
		tf_dp_tenant_prefetch(t);
}

void
tf_dp_worker_rx(struct tf_dp_worker *w, uint16_t port, void *cookie, uint8_t *frame, uint32_t len)
{
	tf_dp_count(w, TF_EV_RX_PKTS, 1);
	tf_dp_count(w, TF_EV_RX_BYTES, len);
	rx(w, port, cookie, frame, len);
}

void
tf_dp_worker_rx_handoff(struct tf_dp_worker *w, uint16_t port, void *cookie, uint8_t *frame,
			uint32_t len)
{
	tf_dp_count(w, TF_EV_HANDOFF_IN, 1);
	rx(w, port, cookie, frame, len);
}

static void
rx(struct tf_dp_worker *w, uint16_t port, void *cookie, uint8_t *frame, uint32_t len)
{
	struct tf_pkt_addr me = w->me;
	struct tf_pkt_info info;
	enum tf_dp_drop why;
	uint32_t out;

	memcpy(me.mac, w->port_mac[port < TF_DP_MAX_PORTS ? port : 0], 6);
	switch (tf_pkt_parse(frame, len, &me, &info, &why)) {
	case TF_PKT_UDP:
		if (info.nvlan)
			tf_dp_count(w, TF_EV_VLAN_TAGGED, 1);
		proto_rx(w, port, cookie, frame, &info, len);
		return;
	case TF_PKT_ARP_REQ:
		if (tf_neigh_learn(&w->neigh, info.src_ip, info.src_mac, info.nvlan > 0,
				   info.nvlan ? info.vlan_tci[0] : 0, w->now_us))
			tf_dp_count(w, TF_EV_ARP_LEARNED, 1);
		out = tf_pkt_arp_reply(frame, &info, &me);
		w->io_ops->rx_send(w->io, port, cookie, out);
		tf_dp_count(w, TF_EV_ARP_REPLIES, 1);
		tf_dp_count(w, TF_EV_TX_PKTS, 1);
		tf_dp_count(w, TF_EV_TX_BYTES, out);
		return;
	case TF_PKT_ARP_OTHER:
		if (tf_neigh_learn(&w->neigh, info.src_ip, info.src_mac, info.nvlan > 0,
				   info.nvlan ? info.vlan_tci[0] : 0, w->now_us))
			tf_dp_count(w, TF_EV_ARP_LEARNED, 1);
		break;
	case TF_PKT_ICMP_ECHO:
		out = tf_pkt_icmp_echo_reply(frame, &info, &me);
		w->io_ops->rx_send(w->io, port, cookie, out);
		tf_dp_count(w, TF_EV_ICMP_REPLIES, 1);
		tf_dp_count(w, TF_EV_TX_PKTS, 1);
		tf_dp_count(w, TF_EV_TX_BYTES, out);
		return;
	case TF_PKT_DROP:
	default:
		tf_dp_count_drop(w, why);
		break;
	}
	w->io_ops->rx_free(w->io, cookie);
}

/* ---- poll ---- */

unsigned int
tf_dp_worker_poll(struct tf_dp_worker *w)
{
	unsigned int work;

	tf_dp_phase_start(w);
	work = tf_dp_dispatch_poll(w);

	/*
	 * Ids leave the at-most-once table a few at a time on every poll, more
	 * than a receive burst can add: in batches of a millisecond's worth they
	 * stalled one poll for ~100 µs at 1 M requests/s (each one a cache miss),
	 * the p99 of every request in flight meanwhile.
	 */
	tf_dp_phase_start(w);
	tf_dedupe_expire(&w->ids, w->now_us, EXPIRE_PER_POLL);
	tf_dp_phase_end(w, TF_DP_PH_EXPIRE);
	if (w->now_us >= w->next_timer_us) {
		w->next_timer_us = w->now_us + 1000;
		tf_admit_queue_tick(&w->aq, w->now_us);
		if (w->reasm_list)
			tf_dp_reasm_timers(w);
		if (w->dl_head)
			work += tf_dp_deadline_expire(w, DEADLINES_PER_TICK);
		if (w->forget_head != w->forget_tail)
			work += tf_dp_deadline_forget(w, DEADLINES_PER_TICK);
		tf_dp_cache_trim(w, 0);
		tf_dp_phase_end(w, TF_DP_PH_TIMERS);
	}
	if (w->agg.n)
		tf_dp_usage_agg_poll(w, w->draining);
	if (w->backlog_head != w->backlog_tail) {
		work += tf_dp_usage_flush(w);
		tf_dp_phase_end(w, TF_DP_PH_USAGE);
	}
	tf_dp_count(w, TF_EV_POLLS, 1);
	return work;
}

void
tf_dp_worker_set_phase_clock(struct tf_dp_worker *w, uint64_t *acc)
{
	w->ph_acc = acc;
}

void
tf_dp_worker_drain(struct tf_dp_worker *w)
{
	w->draining = 1;
}

unsigned int
tf_dp_worker_busy(const struct tf_dp_worker *w)
{
	return w->aq.depth + tf_dp_usage_backlog(w);
}

/* ---- observation ---- */

const struct tf_dp_counters *
tf_dp_worker_counters(const struct tf_dp_worker *w)
{
	return &w->c;
}

void
tf_dp_worker_count_drop(struct tf_dp_worker *w, enum tf_dp_drop d, uint64_t n)
{
	if (d >= 0 && d < TF_DROP_MAX)
		w->c.drop[d] += n;
}

int
tf_dp_worker_tenant_stats(const struct tf_dp_worker *w, unsigned int i, uint32_t *id,
			  struct tf_dp_obj_stats *st)
{
	const struct tf_dp_tenant *t;

	if (i >= __atomic_load_n(&w->tenants.hwm, __ATOMIC_ACQUIRE))
		return -ENOENT;
	t = tf_dp_tenants_obj(&w->tenants, i);
	if (!t->in_use || t->deleted) {
		*id = 0;
		return 0;
	}
	*id = t->id;
	*st = t->st;
	st->refused = t->st.refused;
	st->balance_micro = t->adm.balance_micro;
	st->reserved_micro = t->adm.reserved_micro;
	st->active = t->adm.inflight;
	return 0;
}

int
tf_dp_worker_model_stats(const struct tf_dp_worker *w, unsigned int i, uint32_t *id,
			 struct tf_dp_obj_stats *st)
{
	if (i >= TF_DP_MAX_MODELS)
		return -ENOENT;
	*id = w->models[i].id;
	*st = w->models[i].st;
	return 0;
}

int
tf_dp_worker_accel_stats(const struct tf_dp_worker *w, unsigned int i, uint32_t *id,
			 struct tf_dp_obj_stats *st)
{
	const struct tf_dp_accel *a;

	if (i >= w->naccel_slots)
		return -ENOENT;
	a = &w->accels[i];
	*id = a->id;
	*st = a->st;
	st->active = a->inflight;
	st->queued = a->q.count;
	return 0;
}

void
tf_dp_worker_gauges(const struct tf_dp_worker *w, struct tf_dp_worker_gauges *g)
{
	g->requests_used = w->used;
	g->active = w->aq.depth;
	g->queued = 0;
	for (unsigned int i = 0; i < w->naccel_slots; i++)
		g->queued += w->accels[i].q.count;
	g->reasm = w->nreasm_used;
	g->cached = w->ncached;
	g->ids = tf_dedupe_count(&w->ids);
	g->usage_backlog = w->backlog_tail - w->backlog_head;
	g->tok_free_chunks = w->tok.nfree;
	g->frames_held = w->frames_held;
}
