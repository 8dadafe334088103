/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of the per-lcore pipeline (worker.h): the objects one worker
 * owns and the functions its files share. Not for use outside dataplane/.
 */
#ifndef TF_DP_WORKER_INT_H
#define TF_DP_WORKER_INT_H

#include <stdint.h>
#include <time.h>

#include "dataplane/admit.h"
#include "dataplane/batch.h"
#include "dataplane/dedupe.h"
#include "dataplane/neigh.h"
#include "dataplane/tenants.h"
#include "dataplane/tokbuf.h"
#include "dataplane/usage_agg.h"
#include "dataplane/utf8s.h"
#include "dataplane/worker.h"
#include "dataplane/xport/xport.h"
#include "tokfab/proto.h"

#define TF_DP_MAX_MODELS 64
#define TF_DP_MAX_ACCELS 64

#define TF_DP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TF_DP_LIKELY(x) __builtin_expect(!!(x), 1)

struct tf_dp_model {
	uint32_t id; /* 0 = free slot */
	char name[TF_NAME_LEN];
	uint32_t max_prompt_tokens;
	uint32_t max_new_tokens;
	struct tf_dp_obj_stats st;
};

/* Accelerator health as this worker sees its connection. */
enum tf_dp_accel_state {
	TF_DP_ACCEL_CONNECTING = 0, /* not usable yet */
	TF_DP_ACCEL_UP, /* usable */
	TF_DP_ACCEL_DOWN, /* lost; the transport reconnects */
};

struct tf_dp_accel {
	uint32_t id; /* 0 = free slot */
	uint16_t transport; /* enum tf_transport */
	char address[TF_ADDR_LEN];
	uint64_t cost_per_hour_micro;
	uint32_t weight; /* routing weight 1..1000 (higher: preferred) */
	uint32_t max_outstanding;
	uint32_t nmodels;
	uint32_t models[TF_MAX_ACCEL_MODELS];
	uint32_t cost_weight; /* derived: what the router multiplies the load by */
	struct tf_xport *x;
	uint8_t state; /* enum tf_dp_accel_state */
	uint8_t peer_flags_ok; /* status block says healthy */
	uint8_t deleted; /* removed: no new work; freed when nothing in flight */
	uint32_t inflight; /* requests posted, not ended */
	uint64_t outstanding; /* tokens of work routed here, not ended */
	struct tf_batch_q q;
	uint64_t next_status_us;
	uint8_t abandon_degraded; /* DEGRADED: holds >= limits.degraded_abandoned given-up requests */
	struct tf_dp_obj_stats st;
};

/* A request whose CANCEL its deadline sent, to be given up on at its accelerator. */
struct tf_dp_forget {
	uint64_t handle;
	uint64_t at_us; /* limits.cancel_grace_ms after the CANCEL */
	uint32_t accel_id;
	uint16_t accel; /* slot */
};

#define TF_DP_FORGET_Q 4096 /* pending give-ups per worker (power of two) */

/* Where a request object is in its life. */
enum tf_dp_req_state {
	TF_DP_REQ_FREE = 0,
	TF_DP_REQ_REASM, /* pieces arriving; not admitted */
	TF_DP_REQ_QUEUED, /* admitted, waiting in a batch queue */
	TF_DP_REQ_POSTED, /* posted to an accelerator, streaming */
	TF_DP_REQ_DONE, /* FINAL sent, in the response cache */
};

/* One piece of a prompt: bytes in a received frame (zero copy). */
struct tf_dp_seg {
	void *cookie; /* the frame (mbuf) holding them */
	const uint8_t *p;
	uint32_t off; /* offset in the prompt */
	uint32_t len;
	uint32_t next; /* seg index + 1 */
};

struct tf_dp_req {
	uint8_t state; /* enum tf_dp_req_state */
	uint8_t have_hdr; /* REQUEST seen (fields below valid) */
	uint8_t key_id; /* the key that verified it: responses are signed with it */
	uint8_t prio;
	uint8_t kind; /* enum tf_proto_prompt_kind */
	uint8_t want_text;
	uint8_t cancel; /* the client asked to cancel */
	uint8_t finished; /* FINAL sent */
	uint8_t cut; /* tenant ran dry: cancelled at the accelerator, FINAL on END */
	uint8_t xport_done; /* the accelerator ended it (END/ERROR seen) */
	uint8_t attempts; /* dispatches so far */
	uint8_t mac_alg; /* of the datagram that created it: responses are signed under it */
	uint8_t final_tokens; /* the client accepts its last tokens in the FINAL */
	uint8_t held; /* tokens wait in the buffer until the end of this event burst */
	uint8_t timed_out; /* ended by its generation deadline (late accelerator events: counted) */
	uint16_t port;
	uint32_t gen;
	uint32_t index; /* own index in the pool */
	/*
	 * Its tenant while it runs; NULL once finished (in the response cache it
	 * holds no reference: answering from the cache points it at the tenant the
	 * datagram was authenticated for, same id, for that answer only).
	 */
	struct tf_dp_tenant *tenant;
	uint32_t tenant_id;
	uint64_t request_id;
	struct tf_pkt_peer peer;
	uint32_t ded_pos; /* ring slot of its at-most-once entry (tf_dedupe_at) */
	/* the REQUEST */
	uint32_t model_id;
	uint32_t max_new;
	uint32_t prompt_total;
	uint16_t temperature, top_p;
	uint64_t seed;
	/* prompt pieces, sorted by offset */
	uint32_t seg_head; /* seg index + 1 */
	uint32_t nsegs;
	uint32_t reasm; /* reassembly context index + 1 */
	struct tf_utf8s utf8;
	uint64_t reasm_deadline_us;
	/* admission */
	uint64_t reserve_micro;
	uint64_t price_per_1k;
	uint32_t prompt_est; /* tokens reserved for the prompt */
	uint32_t work; /* prompt_est + max_new: what routing counts */
	/* routing and batching */
	int16_t accel; /* index into w->accels, -1 none */
	uint64_t excluded; /* accelerators that failed this request (bit per index) */
	struct tf_batch_item bi;
	/* streaming */
	struct tf_tokbuf tb;
	uint32_t tok_sent; /* tokens [0, tok_sent) went out (streamed or re-sent) */
	uint32_t prompt_tokens; /* from the accelerator's END */
	uint8_t finish; /* enum tf_proto_finish */
	uint16_t error_code; /* with CUT_OFF */
	uint16_t outcome; /* enum tf_usage_outcome */
	uint32_t accel_id;
	uint64_t cost_micro;
	/* times (monotonic µs) */
	uint64_t t_complete; /* prompt complete and authenticated */
	uint64_t t_admit;
	uint64_t t_flush;
	uint64_t t_final;
	/* generation deadline (limits.generation_timeout_ms from admission; deadline.c) */
	uint64_t gen_deadline_us;
	uint32_t dl_prev, dl_next; /* deadline list, admission order (req index + 1) */
	uint8_t on_dl;
	/* response cache FIFO */
	uint32_t cache_next; /* req index + 1 */
	/* free list / reassembly list */
	uint32_t link; /* req index + 1 */
};

struct tf_dp_reasm_ctx {
	struct tf_proto_reasm r;
	uint32_t next_free;
};

#define TF_DP_USAGE_BACKLOG_MIN 1024
#define TF_DP_USAGE_AGG_GROUPS 1024 /* groups one worker sums at once (aggregate mode) */

struct tf_dp_worker {
	/* hot: the rx path */
	unsigned int id, nworkers;
	const struct tf_dp_io_ops *io_ops;
	void *io;
	uint64_t now_us; /* monotonic */
	uint64_t wall_us; /* realtime */
	struct tf_pkt_addr me;
	uint8_t port_mac[TF_DP_MAX_PORTS][6];
	uint8_t draining;
	uint16_t ip_id;
	struct tf_dp_counters c;
	struct tf_dp_limits lim;
	const volatile uint8_t *host_wait; /* see tf_dp_worker_params */
	uint32_t host_wait_retry_ms;
	struct tf_neigh neigh;

	/* tenants owned here */
	struct tf_dp_tenant_tab tenants;
	uint32_t ndry; /* tenants whose balance the host lowered below their reservations */
	struct tf_dp_model models[TF_DP_MAX_MODELS];
	struct tf_dp_accel accels[TF_DP_MAX_ACCELS];
	unsigned int naccel_slots;
	/* give-ups due (deadline.c), FIFO in time order: one grace for the worker's life */
	struct tf_dp_forget forget_q[TF_DP_FORGET_Q];
	uint32_t forget_head, forget_tail; /* free-running */
	struct tf_batch_policy batching;

	/* requests */
	struct tf_dp_req *reqs;
	uint32_t nreqs;
	uint32_t free_head; /* req index + 1 */
	uint32_t used;
	struct tf_admit_queue aq;
	struct tf_dedupe ids;
	struct tf_tokarena tok;
	uint32_t cache_head, cache_tail, ncached;
	struct tf_dp_seg *segs;
	uint32_t nsegs_total, seg_free;
	uint32_t frames_held; /* received frames holding prompt pieces */
	uint32_t max_frames_held; /* ... at most: this worker's share of the packet buffers */
	struct tf_dp_reasm_ctx *reasm;
	uint32_t reasm_free, nreasm_used;
	uint32_t reasm_list; /* requests in REASM state (req index + 1), for timeouts */
	uint64_t next_timer_us;
	uint32_t dl_head, dl_tail; /* admitted requests by deadline (= admission order) */

	/* transport */
	struct tf_xport_ctx *xctx;
	struct tf_xport_mem *xmem[8];
	struct {
		uintptr_t lo, hi;
	} memr[8];
	unsigned int nmem;
	uint64_t batch_seq;
	struct tf_xport_req *xreqs; /* scratch for one batch */
	uint32_t held[64]; /* requests holding tokens during one event burst (req index) */
	uint32_t nheld;
	struct tf_xport_seg *xsegs; /* scratch gather list */
	uint32_t xsegs_cap;

	/* phase clock (tf_dp_worker_set_phase_clock): NULL = off */
	uint64_t *ph_acc;
	uint64_t ph_t;

	/* usage events not yet accepted by the main lcore (FIFO ring) */
	struct tf_dp_usage_ev *backlog;
	uint32_t backlog_cap, backlog_head, backlog_tail;
	/* aggregate mode (SET_USAGE_MODE): requests summed, not yet in the backlog */
	struct tf_usage_agg_table agg;
	uint64_t agg_window_ns; /* 0: one record per request */
	uint32_t records_port; /* requests from this port always get records (host queues); or ~0 */

	/* scratch for building datagrams */
	uint8_t scratch_ids[4 * TF_ACCEL_MAX_CHUNK_TOKENS * 8];
	uint8_t scratch_lens[TF_ACCEL_MAX_CHUNK_TOKENS * 8];
	uint8_t scratch_text[TF_PROTO_MAX_DGRAM];
};

/* ---- shared between the worker's files ---- */

static inline void
tf_dp_count_drop(struct tf_dp_worker *w, enum tf_dp_drop d)
{
	w->c.drop[d]++;
}

static inline void
tf_dp_count(struct tf_dp_worker *w, enum tf_dp_ev e, uint64_t n)
{
	w->c.ev[e] += n;
}

/* Phase clock (worker.h): ticks of the TSC where there is one. */
static inline uint64_t
tf_dp_ticks(void)
{
#if defined(__x86_64__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

static inline void
tf_dp_phase_start(struct tf_dp_worker *w)
{
	if (TF_DP_UNLIKELY(w->ph_acc != NULL))
		w->ph_t = tf_dp_ticks();
}

/* The time since the last mark goes to phase ph. */
static inline void
tf_dp_phase_end(struct tf_dp_worker *w, enum tf_dp_phase ph)
{
	if (TF_DP_UNLIKELY(w->ph_acc != NULL)) {
		uint64_t t = tf_dp_ticks();

		w->ph_acc[ph] += t - w->ph_t;
		w->ph_t = t;
	}
}

/* The card has not been configured by its host yet (hostwait.h): unknown means "not yet". */
static inline int
tf_dp_waiting_for_host(const struct tf_dp_worker *w)
{
	return w->host_wait && *w->host_wait;
}

static inline uint64_t
tf_dp_req_handle(const struct tf_dp_req *r)
{
	return (uint64_t)r->gen << 32 | r->index;
}

/*
 * Prompt tokens of a request that ended without the accelerator's usage (an
 * error, a deadline): a prompt of token ids is known and ran if tokens came; a
 * text prompt's count only the accelerator knew.
 */
static inline uint32_t
tf_dp_req_prompt_if_ran(const struct tf_dp_req *r)
{
	return r->tb.count && r->kind == TF_PROTO_PROMPT_TOKENS ? r->prompt_total / 4 : 0;
}

/* tables.c */
struct tf_dp_tenant *tf_dp_tenant_find(struct tf_dp_worker *w, uint32_t id);
const struct tf_proto_key *tf_dp_tenant_key(const struct tf_dp_tenant *t, uint8_t key_id);
uint64_t tf_dp_tenant_price(const struct tf_dp_tenant *t, uint32_t model_id);
void tf_dp_tenant_put(struct tf_dp_worker *w, struct tf_dp_tenant *t);
/*
 * Re-reads whether t is dry (tf_admit_dry) and keeps w->ndry in step: only the
 * host lowering a balance makes a tenant dry, and only that or the end of its
 * requests makes it wet again, so these are the places that call it; the token
 * path then reads a tenant's balance only while some tenant is dry.
 */
void tf_dp_tenant_recheck_dry(struct tf_dp_worker *w, struct tf_dp_tenant *t);
struct tf_dp_model *tf_dp_model_find(struct tf_dp_worker *w, uint32_t id);
void tf_dp_tables_destroy(struct tf_dp_worker *w);

/* respond.c */
/* k NULL: unsigned (the caller checked the datagram was at least as long). */
void tf_dp_send_error(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
		      const struct tf_proto_msg *m, const struct tf_proto_key *k, uint16_t code,
		      uint32_t retry_after_ms, uint32_t detail);
void tf_dp_send_pong(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
		     const struct tf_proto_msg *m, const struct tf_proto_key *k);
void tf_dp_send_tokens(struct tf_dp_worker *w, struct tf_dp_req *r, uint32_t first,
		       const struct tf_accel_tok *tok, uint32_t ntok, const char *text,
		       uint8_t flags);
void tf_dp_send_beacon(struct tf_dp_worker *w, struct tf_dp_req *r, uint8_t flags);
/*
 * The FINAL of a finished request; tokens it still holds (tok_sent < count)
 * go first, the last chunk inside the FINAL when the client accepts that.
 */
void tf_dp_send_final(struct tf_dp_worker *w, struct tf_dp_req *r, uint8_t flags);
/*
 * Re-sends buffered tokens from `from`, then the FINAL if finished (carrying
 * the last chunk when the client accepts that), or a beacon if nothing was
 * there to send.
 */
void tf_dp_resend(struct tf_dp_worker *w, struct tf_dp_req *r, uint32_t from, uint8_t flags);

/* request.c */
void tf_dp_on_request(struct tf_dp_worker *w, uint16_t port, void *cookie,
		      const struct tf_pkt_peer *peer, struct tf_proto_msg *m,
		      struct tf_dp_tenant *t);
void tf_dp_on_cancel(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
		     struct tf_proto_msg *m, struct tf_dp_tenant *t);
void tf_dp_on_resume(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
		     struct tf_proto_msg *m, struct tf_dp_tenant *t);
struct tf_dp_req *tf_dp_req_get(struct tf_dp_worker *w, uint32_t index);
void tf_dp_req_release_prompt(struct tf_dp_worker *w, struct tf_dp_req *r);
void tf_dp_req_free(struct tf_dp_worker *w, struct tf_dp_req *r);
void tf_dp_reasm_timers(struct tf_dp_worker *w);
/* Ends an admitted request: charge, FINAL, usage record, into the cache. */
void tf_dp_req_finish(struct tf_dp_worker *w, struct tf_dp_req *r, uint8_t finish,
		      uint16_t error_code, uint16_t outcome);
void tf_dp_cache_trim(struct tf_dp_worker *w, int need_chunks);

/* dispatch.c */
int tf_dp_route(struct tf_dp_worker *w, struct tf_dp_req *r);
int tf_dp_model_available(struct tf_dp_worker *w, uint32_t model_id);
unsigned int tf_dp_dispatch_poll(struct tf_dp_worker *w);
void tf_dp_accel_close(struct tf_dp_worker *w, struct tf_dp_accel *a);
int tf_dp_accel_open(struct tf_dp_worker *w, struct tf_dp_accel *a);
/* A queued request leaves its batch queue (cancel). */
void tf_dp_dequeue(struct tf_dp_worker *w, struct tf_dp_req *r);

/*
 * The accelerator side of stopping a request on the card's initiative (its
 * generation deadline): out of its batch queue, or CANCEL sent to the
 * accelerator and the request's share of it released now (the accelerator's
 * later END/ERROR for it is ignored). Leaves the request QUEUED with no
 * accelerator work; the caller ends it.
 */
void tf_dp_stop_at_accel(struct tf_dp_worker *w, struct tf_dp_req *r);

/* deadline.c */
/* An admitted request gets its deadline (no-op when generation_timeout_ms is 0). */
void tf_dp_deadline_arm(struct tf_dp_worker *w, struct tf_dp_req *r);
/* It ended: off the list. */
void tf_dp_deadline_disarm(struct tf_dp_worker *w, struct tf_dp_req *r);
/* Ends at most max requests whose deadline passed; returns how many. */
unsigned int tf_dp_deadline_expire(struct tf_dp_worker *w, unsigned int max);
/* Gives up (tf_xport_forget) on at most max timed-out requests whose cancel grace passed. */
unsigned int tf_dp_deadline_forget(struct tf_dp_worker *w, unsigned int max);

/* usage.c */
void tf_dp_usage_emit(struct tf_dp_worker *w, const struct tf_dp_req *r);
unsigned int tf_dp_usage_flush(struct tf_dp_worker *w);
/* Aggregate mode: the window ended (or force): the groups go to the backlog. */
void tf_dp_usage_agg_poll(struct tf_dp_worker *w, int force);
/*
 * Events that may still need backlog room: queued, plus one per group being
 * summed (admission keeps this + max_queue below backlog_cap).
 */
static inline uint32_t
tf_dp_usage_backlog(const struct tf_dp_worker *w)
{
	return w->backlog_tail - w->backlog_head + w->agg.n;
}

#endif /* TF_DP_WORKER_INT_H */
