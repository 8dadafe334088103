/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtfxport internals: the objects behind the public handles and what the
 * generic layer (xport.c) and the backends (shm.c, rdma.c) say to each other.
 * Not for consumers of the library.
 */
#ifndef TF_XPORT_INTERNAL_H
#define TF_XPORT_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "entry.h"
#include "handles.h"
#include "ring.h"
#include "xport.h"

#define TF_XPORT_MAX_DEVS 8 /* RDMA devices one context uses */
#define TF_XPORT_MAX_BACKENDS 8
#define TF_XPORT_POLL_MAX 256 /* events per tf_xport_poll() call */
#define TF_XPORT_MAX_SEGS 2048 /* gather segments in one batch */
#define TF_XPORT_TX_SLOTS 32 /* records in flight (staging slots) per connection */
#define TF_XPORT_BOUNCE 16384u /* card: bytes per slot for unregistered segments */
#define TF_XPORT_ACCEL_REC 65536u /* accel: largest EVENTS record it builds */

#define TF_XPORT_DEF_RESP_RING (1u << 20)
#define TF_XPORT_DEF_IN_RING (4u << 20)
#define TF_XPORT_DEF_MAX_INFLIGHT 256
#define TF_XPORT_DEF_MAX_REC (1u << 20) /* records accepted: min(ring / 4, this) */

struct tf_xport_mem {
	struct tf_xport_ctx *ctx;
	struct tf_xport_mem *next;
	void *addr;
	size_t len;
	void *dev_mr[TF_XPORT_MAX_DEVS]; /* backend's per-device registration */
	uint32_t lkey[TF_XPORT_MAX_DEVS];
};

struct tf_xport_ctx {
	struct tf_xport_mem *mems;
	void *bk[TF_XPORT_MAX_BACKENDS]; /* backend state per context, by backend slot */
	unsigned int users; /* connections + listeners */
};

/* A staging slot: one record this side has written and the transport may
 * still be reading (rdma: until its send completion). */
struct tf_tx_slot {
	uint64_t post_seq; /* 1, 2, ... per connection */
	uint64_t cookie;
	int has_cookie;
};

/* What a backend's post() writes: one record (plus a PAD on wrap) and the doorbell. */
struct tf_xport_wr {
	uint32_t ring_off; /* record offset in the peer's ring */
	uint32_t len; /* record length (64-aligned) */
	uint32_t pad_off, pad_len; /* pad_len > 0: pad_hdr goes at pad_off first */
	const struct tf_accel_rec *pad_hdr; /* in staging */
	const struct tf_xport_seg *segs; /* the record's bytes, in order (<= len) */
	unsigned int nsegs;
	uint64_t db; /* doorbell word after the data */
	uint64_t post_seq; /* report tf_xport_tx_done(x, post_seq) */
	uint8_t *bounce; /* staging space for segs whose mem is NULL */
	uint32_t bounce_len;
};

struct tf_xport_listener {
	const struct tf_xport_ops *ops;
	struct tf_xport_ctx *ctx;
	struct tf_xport_listen_cfg cfg;
	char addr[128]; /* after "scheme:" */
	void *priv; /* backend */
};

struct tf_xport {
	const struct tf_xport_ops *ops;
	struct tf_xport_ctx *ctx;
	enum tf_accel_role role;
	enum tf_xport_state state;
	char addr[128];
	struct tf_xport_conn_cfg ccfg; /* card */
	uint32_t epoch;
	uint32_t max_inflight; /* card: granted by the peer; accel: what we grant */
	uint32_t peer_timeout_ms;

	/* our region (the peer writes into it) */
	uint8_t *lregion;
	uint32_t lregion_bytes;
	uint32_t lring_bytes;
	uint32_t lmax_rec; /* announced max_record_bytes */
	struct tf_accel_hello peer; /* the peer's HELLO, validated */

	struct tf_ring tx; /* we produce into the peer's ring */
	struct tf_ring rx; /* we consume the ring in our region */
	uint32_t rx_returned; /* consumer index last published */
	uint32_t rx_peer_prod; /* set by the backend's poll: newest producer index */

	/* staging: registered, holds headers, doorbell/status sources, bounce */
	uint8_t *stg;
	size_t stg_bytes;
	struct tf_xport_mem *stg_mem;
	uint32_t slot_bytes;
	struct tf_tx_slot slots[TF_XPORT_TX_SLOTS];
	uint64_t post_seq; /* last posted */
	uint64_t done_seq; /* last completed */
	uint64_t *db_src; /* staging: source of doorbell / credit writes */
	struct tf_accel_status *st_src; /* staging: source of status writes */
	struct tf_xport_seg *segs; /* TF_XPORT_MAX_SEGS */

	/* accel: EVENTS record being built in the current slot */
	uint32_t ev_len; /* bytes used (0: none pending) */
	uint16_t ev_count;
	struct {
		uint64_t handle;
		uint16_t code;
	} * deferred; /* errors not yet appended */
	uint32_t ndeferred, deferred_cap;
	struct tf_accel_status st_last;

	struct tf_handles inflight;
	struct tf_handles forgotten; /* card: given up on, END/ERROR not seen yet */

	/* rx record copies: two halves so a partly delivered record survives a poll */
	uint8_t *arena;
	uint32_t arena_half;
	int arena_cur;
	int cur_half; /* the half cur_rec lives in */
	uint32_t arena_used;
	uint8_t *cur_rec; /* record being delivered (in the arena) */
	uint32_t cur_len;
	uint16_t cur_type;
	unsigned int cur_n, cur_i;
	struct tf_entry_req *reqs; /* TF_ACCEL_MAX_BATCH_REQS (accel) */
	struct tf_entry_evt *evts; /* TF_ACCEL_MAX_EVENTS (card) */
	uint64_t *cancels; /* TF_ACCEL_MAX_CANCEL */
	struct tf_accel_req *req_out; /* TF_XPORT_POLL_MAX: hdr copies handed out */

	/* events made here (UP, DOWN, BATCH_SENT, CONN_LOST errors), FIFO */
	struct tf_xport_event *q;
	uint32_t q_head, q_tail, q_cap;

	/* connection management (card) */
	uint64_t next_attempt_ms;
	uint32_t backoff_ms;
	uint64_t attempt_start_ms;
	uint32_t connects;
	uint32_t last_hb;
	uint64_t last_hb_change_ms;

	uint64_t cnt[TF_XPORT_C_COUNT];
	char err[256];
	void *priv; /* backend */
};

/* ---- for backends ------------------------------------------------------- */

uint64_t tf_xport_now_ms(void);
int tf_xport_backend_slot(const struct tf_xport_ops *ops);

/* Records why x failed (printf-style); returns -err for chaining. */
int tf_xport_seterr(struct tf_xport *x, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Allocates our region for a connection (page-aligned, zeroed): for shm the
 * backend passes its own mapping instead and calls tf_xport_region_attach().
 */
void tf_xport_region_attach(struct tf_xport *x, uint8_t *region, uint32_t ring_bytes);

/* Our HELLO (role, epoch, ring, limits); the backend fills region_addr/rkey. */
void tf_xport_hello_make(const struct tf_xport *x, struct tf_accel_hello *h);
/* Checks the peer's HELLO against this spec and x; 0 or -EPROTO with x->err set. */
int tf_xport_hello_check(struct tf_xport *x, const struct tf_accel_hello *h);

/* The set-up finished: peer's HELLO accepted; rings reset; UP (queues EV_UP on the card). */
int tf_xport_established(struct tf_xport *x, const struct tf_accel_hello *peer);

/* Every record posted up to post_seq has been read by the transport. */
void tf_xport_tx_done(struct tf_xport *x, uint64_t post_seq);

/* Atomic access to a doorbell word in shared memory. */
static inline uint64_t
tf_xport_db_load(const void *p)
{
	return atomic_load_explicit((const _Atomic uint64_t *)p, memory_order_acquire);
}

static inline void
tf_xport_db_store(void *p, uint64_t v)
{
	atomic_store_explicit((_Atomic uint64_t *)p, v, memory_order_release);
}

extern const struct tf_xport_ops tf_xport_shm_ops;
extern const struct tf_xport_ops tf_xport_rdma_ops;

#endif /* TF_XPORT_INTERNAL_H */
