/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The request pipeline of one lcore, on plain buffers: parse -> reassemble ->
 * authenticate -> dedupe -> admit -> batch -> transport -> respond. No DPDK
 * here: the lcore loop (lcore.c) hands in frames with an opaque cookie (the
 * mbuf) and implements struct tf_dp_io_ops; the unit tests and the benchmark
 * implement it over plain memory.
 *
 * Ownership: every tenant is owned by exactly one worker
 * (tf_dp_tenant_owner()); a frame for a tenant owned elsewhere is handed to
 * its owner through io->handoff, so a tenant's budget, rates, replay state,
 * request ids and requests are touched by one lcore only -- no locks, no
 * atomics. Models, accelerators and batching are known to every worker;
 * each worker has its own transport connection to every accelerator.
 *
 * Configuration arrives as the admin queue's command structures
 * (include/tokfab/bar.h), from the config file or from the host, through
 * tf_dp_worker_ctl_*(), called on the worker's own lcore (the main lcore
 * sends them over a per-worker ring and waits for the answer).
 */
#ifndef TF_DP_WORKER_H
#define TF_DP_WORKER_H

#include <stdint.h>

#include "dataplane/counters.h"
#include "dataplane/pkt.h"
#include "dataplane/usage_ev.h"
#include "tokfab/bar.h"
#include "tokfab/usage.h"

struct tf_dp_worker;
struct tf_xport_mem;

/* What the environment (DPDK edge, tests, bench) does for a worker. */
struct tf_dp_io_ops {
	/* A buffer for one outgoing frame of up to len bytes on port; NULL if none. */
	uint8_t *(*tx_alloc)(void *io, uint16_t port, uint32_t len, void **cookie);
	/* Sends a frame built in a tx_alloc buffer (queued; flushed by the edge). */
	void (*tx_send)(void *io, uint16_t port, void *cookie, uint32_t len);
	/* Sends a received frame back out, rewritten in place (ARP, ICMP replies). */
	void (*rx_send)(void *io, uint16_t port, void *cookie, uint32_t len);
	/* Releases a received frame. */
	void (*rx_free)(void *io, void *cookie);
	/* Passes a received frame to worker `to`; 0, or -ENOBUFS (the caller frees it). */
	int (*handoff)(void *io, unsigned int to, uint16_t port, void *cookie, const uint8_t *frame,
		       uint32_t len);
	/* Hands a usage event to the main lcore; 0, or -EAGAIN (kept and retried). */
	int (*usage_emit)(void *io, const struct tf_dp_usage_ev *ev);
};

/* Card-wide limits, from the configuration file (not the admin queue). */
struct tf_dp_limits {
	uint32_t tenants; /* tenants each worker holds at most (so the card at least) */
	uint32_t max_requests; /* request objects per worker (running + cached) */
	uint32_t max_queue; /* admitted, not ended, per worker */
	uint32_t reasm_contexts; /* prompts being reassembled at once, per worker */
	uint32_t reasm_timeout_ms; /* since the last piece */
	uint32_t replay_window_ms; /* timestamp window and id memory */
	uint32_t id_table; /* (tenant, request id) entries per worker */
	uint32_t cache_entries; /* finished requests kept per worker */
	uint64_t token_buffer_bytes; /* token buffers (resume + cache) per worker */
	uint32_t cache_min_ms; /* a finished request stays at least this long if room */
	uint32_t retry_after_ms; /* advice sent with BUSY, at least */
	uint32_t retry_after_max_ms; /* ... at most (full queue: its expected drain time) */
	uint32_t max_segs; /* prompt pieces per request */
	uint32_t dgram; /* response datagram size */
	uint32_t resp_ring_bytes; /* transport response ring */
	uint32_t
		accel_peer_timeout_ms; /* an accelerator silent this long with work is DOWN (0: 5000) */
	uint32_t accel_connect_timeout_ms; /* one connection attempt (0: 5000) */
	uint32_t generation_timeout_ms; /* admission to FINAL at most (0: no deadline) */
	uint32_t cancel_grace_ms; /* after a deadline's CANCEL, the transport gives the request
				   * up (frees its credit) this much later (0: never) */
	uint32_t degraded_abandoned; /* an accelerator still holding this many given-up
				      * requests is DEGRADED (0: never) */
	uint8_t udp_tx_csum; /* compute UDP checksums of responses */
};

void tf_dp_limits_default(struct tf_dp_limits *l);

struct tf_dp_worker_params {
	unsigned int id; /* 0..nworkers-1 */
	unsigned int nworkers;
	const struct tf_dp_io_ops *io_ops;
	void *io;
	struct tf_pkt_addr me; /* our MAC/IPv4/UDP port (the MAC is per port, see set_port_mac) */
	struct tf_dp_limits limits;
	/*
	 * Optional: nonzero while the card waits for its host's configuration
	 * (hostwait.h); a request of an unknown tenant or model then gets BUSY
	 * (unsigned for an unknown tenant) with host_wait_retry_ms as retry-after.
	 */
	const volatile uint8_t *host_wait;
	uint32_t host_wait_retry_ms;
	/*
	 * Packet buffers of the card (the mbuf pool), 0 if unbounded: a worker
	 * keeps at most half of them divided by the workers holding queued prompts
	 * (zero copy), and answers BUSY beyond (frames_held).
	 */
	uint32_t pool_frames;
	/* Memory the prompts live in (the mbuf pool), registered for zero-copy gather. */
	struct {
		void *addr;
		uint64_t len;
	} mem[8];
	unsigned int nmem;
};

/* Which worker owns a tenant. */
static inline unsigned int
tf_dp_tenant_owner(uint32_t tenant_id, unsigned int nworkers)
{
	return (unsigned int)(((uint64_t)(tenant_id * 2654435761u) * nworkers) >> 32);
}

int tf_dp_worker_create(const struct tf_dp_worker_params *p, struct tf_dp_worker **out);
void tf_dp_worker_destroy(struct tf_dp_worker *w);

/* Our MAC on a port (ports may differ); port ids < TF_DP_MAX_PORTS. */
#define TF_DP_MAX_PORTS 8
void tf_dp_worker_set_port_mac(struct tf_dp_worker *w, uint16_t port, const uint8_t mac[6]);

/* The clocks, set by the edge before each burst: monotonic and wall (realtime) µs. */
void tf_dp_worker_set_time(struct tf_dp_worker *w, uint64_t mono_us, uint64_t wall_us);

/*
 * A hint for a receive burst: call it for every frame of the burst before
 * handing any of them in. For a plain IPv4/UDP tokfab datagram it starts
 * loading the at-most-once table line of its (tenant, request id), which is
 * almost always a cache miss; the burst's work then hides it. Reads the
 * frame only; anything else is ignored.
 */
void tf_dp_worker_prefetch(const struct tf_dp_worker *w, const uint8_t *frame, uint32_t len);
/*
 * The second pass over the burst (after tf_dp_worker_prefetch for all of it):
 * reads the tenant index line the first pass asked for and starts loading the
 * tenant object's lines that every request touches. Does nothing while the
 * worker's tenants fit the caches anyway (TF_DP_TENANTS_CACHED, 512).
 */
void tf_dp_worker_prefetch_tenant(const struct tf_dp_worker *w, const uint8_t *frame, uint32_t len);

/* One received frame. The worker owns cookie from here (frees, keeps or sends it). */
void tf_dp_worker_rx(struct tf_dp_worker *w, uint16_t port, void *cookie, uint8_t *frame,
		     uint32_t len);
/* A frame another worker received and handed over (counted apart from port RX). */
void tf_dp_worker_rx_handoff(struct tf_dp_worker *w, uint16_t port, void *cookie, uint8_t *frame,
			     uint32_t len);

/*
 * Everything that is not a received frame: transport completions and token
 * streams, batch flushes, timers (reassembly, cache, id expiry), usage
 * backlog. Call once per loop iteration. Returns the work done (0 = idle).
 */
unsigned int tf_dp_worker_poll(struct tf_dp_worker *w);

/*
 * Phase clock (benchmarks, diagnosis of slow poll steps): while acc is set,
 * every tf_dp_worker_poll() adds the ticks (TSC on x86-64, else ns) it spent
 * in each phase to acc[phase]; the caller reads and clears it between steps.
 * NULL turns it off (the default: one predicted branch per phase).
 */
enum tf_dp_phase {
	TF_DP_PH_XPORT_POLL = 0, /* tf_xport_poll, credits, peer status (libtfxport) */
	TF_DP_PH_EVENTS, /* token/END/ERROR events: responses, finish, usage */
	TF_DP_PH_BATCH, /* taking a batch from the queue, building gather lists */
	TF_DP_PH_XPORT_POST, /* tf_xport_info + tf_xport_batch_post (libtfxport) */
	TF_DP_PH_EXPIRE, /* at-most-once ids leaving the table */
	TF_DP_PH_TIMERS, /* admission tick, reassembly timeouts, cache trim */
	TF_DP_PH_USAGE, /* usage backlog to the main lcore */
	TF_DP_PH_MAX
};
void tf_dp_worker_set_phase_clock(struct tf_dp_worker *w, uint64_t *acc);

/*
 * Drain: refuse new requests (BUSY), let running ones finish. Returns the
 * requests still running or queued (0 = drained) and usage records not yet
 * handed over.
 */
void tf_dp_worker_drain(struct tf_dp_worker *w);
unsigned int tf_dp_worker_busy(const struct tf_dp_worker *w);

/* ---- configuration (admin queue semantics, hwdocs/queues.md) ---------------
 * Each returns an enum tf_aq_status and may set *detail. Called on the
 * worker's own lcore. Tenant commands go to the owner only; model, accel
 * and batching commands to every worker.
 */
int tf_dp_worker_set_tenant(struct tf_dp_worker *w, const struct tf_aq_set_tenant *cmd,
			    struct tf_aq_tenant_info *resp, uint32_t *detail);
int tf_dp_worker_del_tenant(struct tf_dp_worker *w, uint32_t tenant_id, uint32_t *detail);
int tf_dp_worker_tenant_balance(struct tf_dp_worker *w, const struct tf_aq_tenant_balance *cmd,
				struct tf_aq_tenant_info *resp, uint32_t *detail);
int tf_dp_worker_get_tenant(struct tf_dp_worker *w, uint32_t tenant_id,
			    struct tf_aq_tenant_info *resp, uint32_t *detail);
int tf_dp_worker_set_model(struct tf_dp_worker *w, const struct tf_aq_set_model *cmd,
			   uint32_t *detail);
int tf_dp_worker_del_model(struct tf_dp_worker *w, uint32_t model_id, uint32_t *detail);
int tf_dp_worker_set_accel(struct tf_dp_worker *w, const struct tf_aq_set_accel *cmd,
			   uint32_t *detail);
int tf_dp_worker_del_accel(struct tf_dp_worker *w, uint32_t accel_id, uint32_t *detail);
/*
 * SET_USAGE_MODE (checked by lib/card): what the worker summed so far goes to
 * its usage FIFO first, then the mode changes.
 */
int tf_dp_worker_set_usage_mode(struct tf_dp_worker *w, const struct tf_aq_set_usage_mode *cmd,
				uint32_t *detail);
/*
 * Requests that arrive on port keep per-request usage records in every mode
 * (the host-queue port: its completions carry the record's sequence number).
 * Call before the worker runs.
 */
void tf_dp_worker_keep_records_port(struct tf_dp_worker *w, uint16_t port);
int tf_dp_worker_set_batching(struct tf_dp_worker *w, const struct tf_aq_set_batching *cmd,
			      uint32_t *detail);

/* ---- observation (read from another thread: plain loads, summed by the reader) ---- */

const struct tf_dp_counters *tf_dp_worker_counters(const struct tf_dp_worker *w);
/* For the edge: counts what it dropped itself (full TX queue, multi-segment frames). */
void tf_dp_worker_count_drop(struct tf_dp_worker *w, enum tf_dp_drop d, uint64_t n);

/* Per-tenant / per-model / per-accelerator counters of one worker. */
struct tf_dp_obj_stats {
	uint64_t requests; /* admitted */
	uint64_t refused; /* refused at admission */
	uint64_t failed; /* ended with CUT_OFF other than quota / an accelerator error */
	uint64_t prompt_tokens;
	uint64_t completion_tokens;
	uint64_t cost_micro;
	uint64_t batches; /* accelerators: batches posted */
	uint64_t errors; /* accelerators: errors reported */
	uint64_t redispatched;
	uint32_t active; /* gauge: running now */
	uint32_t queued; /* gauge: waiting in a batch queue */
	uint32_t state; /* accelerators: enum tf_health_state; tenants: flags */
	uint32_t busy_ppm; /* accelerators: engine busy share of the last second (status block) */
	uint32_t abandoned; /* accelerators: requests given up on that it still holds */
	int64_t balance_micro; /* tenants */
	int64_t reserved_micro; /* tenants */
};

/* Iterates the objects a worker knows; returns 0, or -ENOENT past the last. */
int tf_dp_worker_tenant_stats(const struct tf_dp_worker *w, unsigned int i, uint32_t *id,
			      struct tf_dp_obj_stats *st);
int tf_dp_worker_model_stats(const struct tf_dp_worker *w, unsigned int i, uint32_t *id,
			     struct tf_dp_obj_stats *st);
int tf_dp_worker_accel_stats(const struct tf_dp_worker *w, unsigned int i, uint32_t *id,
			     struct tf_dp_obj_stats *st);

/* Gauges of one worker. */
struct tf_dp_worker_gauges {
	uint32_t requests_used; /* request objects in use (incl. cache) */
	uint32_t active; /* admitted, not ended */
	uint32_t queued; /* in batch queues */
	uint32_t reasm; /* reassembly contexts in use */
	uint32_t cached; /* finished requests in the response cache */
	uint32_t ids; /* (tenant, id) entries */
	uint32_t usage_backlog; /* records not yet handed to the main lcore */
	uint32_t tok_free_chunks;
	uint32_t frames_held; /* receive buffers holding prompt pieces */
};
void tf_dp_worker_gauges(const struct tf_dp_worker *w, struct tf_dp_worker_gauges *g);

#endif /* TF_DP_WORKER_H */
