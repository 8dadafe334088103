/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtfxport: the transport between the card (tokfab-dp) and accelerator
 * agents (tokfab-accel). One API, two backends chosen by the URI scheme:
 *
 *   rdma:ADDR:PORT   RC queue pairs set up with librdmacm; batches go as one
 *                    RDMA WRITE whose gather list points straight into the
 *                    caller's registered buffers, then a WRITE_WITH_IMM
 *                    doorbell; the accelerator writes token events into the
 *                    card's response ring the same way.
 *   shm:NAME         a locally attached accelerator: the same rings in
 *                    memfd-backed shared memory, rendezvous over the unix
 *                    socket $TOKFAB_SHM_DIR/tokfab-NAME.sock (default
 *                    directory /dev/shm; a NAME containing '/' is the socket
 *                    path itself). The backend's stores into the peer's ring
 *                    ARE the one-sided write; doorbells are polled.
 *
 * Ring layout, credits, sequence numbers, wrap / overflow / reconnect rules:
 * hwdocs/accel-rings.md and include/tokfab/accel_rings.h.
 *
 * Threading: a context and every object made from it belong to one thread
 * at a time (a dataplane lcore, the agent's loop). Nothing here starts a
 * thread, takes a lock or blocks: connection set-up, reconnection with
 * back-off and liveness checks all advance inside tf_xport_poll().
 *
 * Errors: 0 / a count, or -errno. A connection that fails goes DOWN; the
 * reason is in tf_xport_last_error() and a specific counter is bumped.
 *
 * Card side (tokfab-dp):
 *
 *	tf_xport_ctx_create(&ctx);
 *	tf_xport_mem_register(ctx, pool_va, pool_len, &mem);  // mbuf pool memory
 *	tf_xport_connect(ctx, &(struct tf_xport_conn_cfg){ .uri = "rdma:10.0.0.2:7471" }, &x);
 *	loop:
 *		n = tf_xport_poll(x, ev, 64);     // UP/DOWN, BATCH_SENT, TOKENS, END, ERROR
 *		tf_xport_batch_post(x, reqs, nreq, cookie);  // -ENOBUFS/-EBUSY: no credits yet
 *		tf_xport_credits_return(x);        // after handling the events
 *
 * Accelerator side (tokfab-accel):
 *
 *	tf_xport_listen(ctx, &(struct tf_xport_listen_cfg){ .uri = "shm:a0" }, &l);
 *	tf_xport_accept(l, &x);                   // -EAGAIN while nobody connects
 *	n = tf_xport_poll(x, ev, 64);             // REQUEST, CANCEL, DOWN
 *	tf_xport_resp_tokens(x, ...); tf_xport_resp_end(x, ...); tf_xport_resp_flush(x);
 *	tf_xport_status_publish(x, &st);          // load + health, every ~100 ms
 */
#ifndef TF_XPORT_H
#define TF_XPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tokfab/accel_rings.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tf_xport_ctx; /* per-thread: registered memory, RDMA devices */
struct tf_xport; /* one connection (card <-> one accelerator) */
struct tf_xport_listener; /* accelerator side: where cards connect */
struct tf_xport_mem; /* a memory registration (rdma: one MR per device) */

/* ---- context and memory -------------------------------------------------- */

int tf_xport_ctx_create(struct tf_xport_ctx **out);
/* Every connection, listener and registration of ctx must be gone first. */
void tf_xport_ctx_destroy(struct tf_xport_ctx *ctx);

/*
 * Registers [addr, addr + len) for zero-copy gather (rdma: ibv_reg_mr on every
 * device this context uses, now and later; shm: recorded only, the backend
 * copies). The memory must stay valid until tf_xport_mem_unregister().
 */
int tf_xport_mem_register(struct tf_xport_ctx *ctx, void *addr, size_t len,
			  struct tf_xport_mem **out);
void tf_xport_mem_unregister(struct tf_xport_mem *m);

/* ---- connections ------------------------------------------------------- */

enum tf_xport_state {
	TF_XPORT_STATE_CONNECTING = 1, /* set-up in progress (card: also back-off wait) */
	TF_XPORT_STATE_UP = 2, /* rings usable */
	TF_XPORT_STATE_DOWN = 3, /* lost; card: reconnects after back-off; accel: final */
};

/* Card side: one per accelerator. 0 picks the default named. */
struct tf_xport_conn_cfg {
	const char *uri; /* "rdma:ADDR:PORT" or "shm:NAME" */
	uint32_t resp_ring_bytes; /* response ring, power of two; 0: 1 MiB */
	uint32_t reconnect_min_ms; /* first back-off after a loss; 0: 50 */
	uint32_t reconnect_max_ms; /* back-off doubles up to this; 0: 5000 */
	uint32_t peer_timeout_ms; /* requests in flight and no heartbeat for this
				      * long -> DOWN; 0: 5000 */
	uint32_t connect_timeout_ms; /* one set-up attempt; 0: 5000 */
};

/*
 * Starts connecting (non-blocking) and returns the connection in CONNECTING.
 * It stays valid until tf_xport_disconnect(), through any number of losses
 * and reconnections; each (re)connection is reported by an UP event.
 * -EINVAL: bad uri/sizes (tf_xport_strerror_cfg explains), -ENOENT: no such backend.
 */
int tf_xport_connect(struct tf_xport_ctx *ctx, const struct tf_xport_conn_cfg *cfg,
		     struct tf_xport **out);

/* Accelerator side. */
struct tf_xport_listen_cfg {
	const char *uri; /* "rdma:ADDR:PORT" (ADDR may be 0.0.0.0) or "shm:NAME" */
	uint32_t in_ring_bytes; /* input ring per connection, power of two; 0: 4 MiB */
	uint32_t max_inflight; /* request credits granted to each card; 0: 256 */
	uint32_t peer_timeout_ms; /* liveness of the card (shm: socket; rdma: CM/QP); 0: 5000 */
};

int tf_xport_listen(struct tf_xport_ctx *ctx, const struct tf_xport_listen_cfg *cfg,
		    struct tf_xport_listener **out);
/* A new connection, UP, or -EAGAIN when no card is connecting right now. */
int tf_xport_accept(struct tf_xport_listener *l, struct tf_xport **out);
void tf_xport_listener_close(struct tf_xport_listener *l);

/*
 * Closes the connection now. Card side: no further events; the caller owns
 * the fate of anything in flight (tf_xport_info().inflight says how many).
 */
void tf_xport_disconnect(struct tf_xport *x);

enum tf_xport_state tf_xport_state(const struct tf_xport *x);
/* Why the connection last failed, "" if it never did. Valid until the next call on x. */
const char *tf_xport_last_error(const struct tf_xport *x);
/* Message for the last tf_xport_connect/listen -EINVAL on this thread. */
const char *tf_xport_strerror_cfg(void);

struct tf_xport_info {
	enum tf_xport_state state;
	uint32_t epoch; /* connection epoch (card picks, +1 per reconnection) */
	uint32_t ring_free; /* card: input ring bytes writable now; accel: response ring */
	uint32_t max_record_bytes; /* largest record the peer accepts */
	uint32_t inflight; /* card: requests posted and not ended */
	uint32_t max_inflight; /* card: request credits granted by the accelerator */
	uint32_t abandoned; /* card: handles given up on (tf_xport_forget) whose END or
			     * ERROR has not come yet: the accelerator may still hold them */
	uint32_t connects; /* successful (re)connections so far */
	uint32_t peer_timeout_ms;
};
void tf_xport_info(const struct tf_xport *x, struct tf_xport_info *info);

/* ---- posting batches (card) ----------------------------------------------- */

/* One piece of a gather list. mem NULL: not registered, the backend copies it. */
struct tf_xport_seg {
	const void *addr;
	uint32_t len;
	struct tf_xport_mem *mem;
};

struct tf_xport_req {
	uint64_t handle; /* caller's id, unique among requests in flight */
	uint32_t tenant;
	uint32_t model;
	uint8_t prompt_fmt; /* enum tf_accel_prompt_fmt */
	struct tf_accel_sampling sampling; /* reserved bytes must be zero */
	const struct tf_xport_seg *segs; /* the prompt bytes, in order (zero copy) */
	uint32_t nsegs;
};

/* Bytes one BATCH record of these requests takes in the ring (64-aligned). */
uint32_t tf_xport_batch_bytes(const struct tf_xport_req *reqs, unsigned int n);

/*
 * Posts reqs[0..n) as one BATCH record: all or nothing. The segments' memory
 * must stay untouched until the BATCH_SENT event carrying cookie.
 *   -ENOTCONN  not UP
 *   -EBUSY     fewer request credits than n (wait for END/ERROR events)
 *   -ENOBUFS   not enough input-ring space now (wait for credits)
 *   -EMSGSIZE  the record exceeds the peer's max_record_bytes: split it
 *   -EINVAL    a field is out of range (hwdocs/accel-rings.md) or n is 0 / too many
 *   -EEXIST    a handle is already in flight on this connection
 */
int tf_xport_batch_post(struct tf_xport *x, const struct tf_xport_req *reqs, unsigned int n,
			uint64_t cookie);

/* Asks the accelerator to stop these requests; each still ends with END or ERROR. */
int tf_xport_cancel(struct tf_xport *x, const uint64_t *handles, unsigned int n);

/*
 * Card side: gives up on a request in flight without its END or ERROR
 * (hwdocs/accel-rings.md, "Giving up on a request"): its request credit is
 * free at once, no event for it is delivered any more, and events the
 * accelerator still sends for it are dropped and counted (rx_abandoned), never
 * taken for a protocol violation. The handle is remembered until its END or
 * ERROR arrives or the connection is re-established; while remembered, posting
 * the same handle again is refused with -EEXIST (the accelerator may still
 * hold it). Meant for after a tf_xport_cancel() the accelerator ignored.
 *   -ENOENT   the handle is not in flight (already ended, or never posted)
 *   -ENOSPC   max_inflight handles are remembered already: nothing changed
 *   -ENOTCONN not UP (a loss already ended every request in flight)
 */
int tf_xport_forget(struct tf_xport *x, uint64_t handle);

/* ---- responses (accelerator) ----------------------------------------------- */

/*
 * Append to the pending EVENTS record; tf_xport_resp_flush() writes it to the
 * card's response ring and rings its doorbell. -ENOBUFS: the pending record is
 * full or the ring lacks space: flush / poll (credits) and retry.
 * -ENOENT: the handle is not in flight on this connection.
 */
int tf_xport_resp_tokens(struct tf_xport *x, uint64_t handle, uint32_t index,
			 const struct tf_accel_tok *tok, unsigned int ntok, const void *text,
			 uint32_t text_bytes);
int tf_xport_resp_end(struct tf_xport *x, uint64_t handle, const struct tf_accel_usage *u);
int tf_xport_resp_error(struct tf_xport *x, uint64_t handle, uint16_t code, int retryable,
			const char *msg);
int tf_xport_resp_flush(struct tf_xport *x);

/* Writes the status block into the card's region (seqlock; gen handled here). */
int tf_xport_status_publish(struct tf_xport *x, const struct tf_accel_status *st);

/* ---- polling ------------------------------------------------------------- */

enum tf_xport_ev_type {
	TF_XPORT_EV_UP = 1, /* both: the connection is (again) usable */
	TF_XPORT_EV_DOWN = 2, /* both: the connection was lost (tf_xport_last_error) */
	TF_XPORT_EV_BATCH_SENT = 3, /* card: cookie's segments may be reused */
	TF_XPORT_EV_TOKENS = 4, /* card: tokens of handle */
	TF_XPORT_EV_END = 5, /* card: handle finished, usage */
	TF_XPORT_EV_ERROR = 6, /* card: handle failed (from the accelerator, or
				     * CONN_LOST / PROTOCOL made here); final */
	TF_XPORT_EV_REQUEST = 7, /* accel: a new request */
	TF_XPORT_EV_CANCEL = 8, /* accel: the card cancelled handle */
};

struct tf_xport_event {
	uint16_t type; /* enum tf_xport_ev_type */
	uint16_t reserved;
	uint32_t reserved2;
	uint64_t handle; /* request handle; BATCH_SENT: the cookie */
	union {
		struct {
			uint32_t index; /* completion index of tok[0] */
			uint32_t ntok;
			const struct tf_accel_tok *tok; /* validated copy */
			const char *text; /* text_bytes bytes, tok[i].text_len each */
			uint32_t text_bytes;
		} tokens;
		struct tf_accel_usage end;
		struct {
			uint16_t code; /* enum tf_accel_err */
			uint8_t retryable; /* 1: re-dispatch to another accelerator */
			const char *msg; /* msg_len bytes, not NUL-terminated */
			uint16_t msg_len;
		} error;
		struct {
			const struct tf_accel_req *hdr; /* validated copy */
			const void *prompt; /* hdr->prompt_bytes bytes (copy) */
		} request;
	} u;
};

/*
 * Polls completions and doorbells, advances set-up, reconnection and liveness,
 * and returns up to max events (0 if none). Pointers in events stay valid until
 * the next tf_xport_poll() on x. Consumed ring space goes back to the peer a
 * quarter of the ring at a time (here, in tf_xport_credits_return(), and with
 * every shm post).
 * Card side, on a loss: DOWN, then one ERROR (CONN_LOST, retryable) per request
 * in flight and BATCH_SENT for every unfinished batch -- nothing is left hanging.
 */
int tf_xport_poll(struct tf_xport *x, struct tf_xport_event *ev, unsigned int max);

/*
 * Sleeps until one of these connections or listeners may have something for
 * tf_xport_poll() / tf_xport_accept() (a peer's doorbell or completion, a lost
 * peer, a connecting card), or timeout_us passes. For a side that found
 * nothing to do, instead of spinning or sleeping blind. rdma arms each
 * connection's completion queue and sleeps on its completion channel (and the
 * connection manager's), so a doorbell wakes the caller at once; a backend that
 * cannot notify (shm: doorbells are memory words) is polled: the sleep is then
 * at most poll_us (a doorbell already rung returns at once). NULL entries are
 * skipped. Returns 1 when something may be ready (or already was), 0 when the
 * time ran out.
 */
int tf_xport_wait(struct tf_xport *const *xs, unsigned int nx, struct tf_xport_listener *const *ls,
		  unsigned int nl, uint32_t timeout_us, uint32_t poll_us);

/* Credit return: publishes how far this side consumed the peer's ring once a
 * quarter of the ring or more is unreturned (cheap no-op otherwise). */
int tf_xport_credits_return(struct tf_xport *x);

/* Card side: a consistent copy of the accelerator's status block; -EAGAIN if none yet. */
int tf_xport_peer_status(const struct tf_xport *x, struct tf_accel_status *out);

/* ---- counters ----------------------------------------------------------- */

/* Every rejection has its own counter (hwdocs/accel-rings.md, "Validation"). */
enum tf_xport_counter {
	TF_XPORT_C_BATCHES_TX, /* records posted */
	TF_XPORT_C_REQS_TX, /* requests posted (card) / events posted (accel) */
	TF_XPORT_C_BYTES_TX, /* record bytes written to the peer's ring */
	TF_XPORT_C_RECS_RX, /* records consumed */
	TF_XPORT_C_ENTRIES_RX, /* requests / events consumed */
	TF_XPORT_C_BYTES_RX,
	TF_XPORT_C_NO_RING_SPACE, /* post refused: -ENOBUFS */
	TF_XPORT_C_NO_REQ_CREDIT, /* post refused: -EBUSY */
	TF_XPORT_C_RX_BAD_INDEX, /* peer's producer index beyond the ring (overflow) */
	TF_XPORT_C_RX_BAD_CREDIT, /* peer's consumer index beyond what was produced */
	TF_XPORT_C_RX_BAD_REC, /* record type / len / flags / alignment wrong */
	TF_XPORT_C_RX_BAD_SEQ, /* record sequence number not the next one */
	TF_XPORT_C_RX_BAD_EPOCH, /* record from another connection */
	TF_XPORT_C_RX_BAD_ENTRY, /* entry length/count inconsistent with its record */
	TF_XPORT_C_RX_BAD_FIELD, /* request field out of range (answered with ERROR) */
	TF_XPORT_C_RX_DUP_HANDLE, /* request handle already in flight (answered) */
	TF_XPORT_C_RX_OVER_CREDIT, /* request beyond max_inflight (answered BUSY) */
	TF_XPORT_C_RX_UNKNOWN_HANDLE, /* event for a request not in flight */
	TF_XPORT_C_RX_BAD_TOKEN_INDEX, /* TOKENS index not contiguous */
	TF_XPORT_C_RX_BAD_TEXT, /* token text lengths inconsistent */
	TF_XPORT_C_RX_BAD_HELLO, /* connection set-up refused */
	TF_XPORT_C_CONN_LOST, /* connections lost (any cause) */
	TF_XPORT_C_PEER_TIMEOUT, /* ... of which: no heartbeat / socket dead */
	TF_XPORT_C_QP_ERROR, /* ... of which: rdma completion with an error */
	TF_XPORT_C_PROTOCOL, /* ... of which: the peer broke the ring rules */
	TF_XPORT_C_REQS_FAILED, /* requests reported CONN_LOST / PROTOCOL */
	TF_XPORT_C_ABANDONED, /* card: requests given up on (tf_xport_forget) */
	TF_XPORT_C_RX_ABANDONED, /* card: events for those, dropped */
	TF_XPORT_C_COUNT
};
void tf_xport_counters(const struct tf_xport *x, uint64_t out[TF_XPORT_C_COUNT]);
const char *tf_xport_counter_name(enum tf_xport_counter c);

/* ---- backends (plugin API) -------------------------------------------------
 * One const struct tf_xport_ops per backend, found by the URI scheme. The
 * generic layer (xport.c, ring.c, entry.c) owns ring producer/consumer logic,
 * validation, credits and events; a backend only moves bytes and reports
 * liveness. Hook arguments are defined in xport_internal.h.
 */
struct tf_xport_wr;

#define TF_XPORT_OPS_F_POST_RETURNS_CREDITS \
	0x1u /* post()'s doorbell word reaches the
						     * peer's memory: it returns credits too */

struct tf_xport_ops {
	const char *name; /* the URI scheme: "rdma", "shm" */
	uint32_t flags; /* TF_XPORT_OPS_F_* */
	/* card: start (non-blocking) a connection to x->addr; progress in poll */
	int (*connect)(struct tf_xport *x);
	/* accel: bind/listen on l->addr; accept one set-up connection or -EAGAIN */
	int (*listen)(struct tf_xport_listener *l);
	int (*accept)(struct tf_xport_listener *l, struct tf_xport *x);
	/* optional: 0 when certainly nothing is pending (cheap check before accept) */
	int (*accept_ready)(struct tf_xport_listener *l);
	void (*listener_close)(struct tf_xport_listener *l);
	/* make m usable as a gather source on every device of its context */
	int (*mem_register)(struct tf_xport_mem *m);
	void (*mem_unregister)(struct tf_xport_mem *m);
	/* post batch: write one record's gather list into the peer's ring at
	 * wr->ring_off (plus a PAD header first on wrap), then the doorbell word */
	int (*post)(struct tf_xport *x, const struct tf_xport_wr *wr);
	/* poll completions: set-up progress, send completions, doorbells,
	 * liveness; updates x's peer indexes; returns 0 or -errno (-> DOWN) */
	int (*poll)(struct tf_xport *x);
	/* return credits: write the doorbell word without a notification */
	int (*credits_return)(struct tf_xport *x, uint64_t db);
	/* write the status block into the peer's region (accel side) */
	int (*status_write)(struct tf_xport *x, const struct tf_accel_status *st);
	/* drop the connection's transport objects (QP, mappings); no events */
	void (*disconnect)(struct tf_xport *x);
	/* optional: free per-context state (protection domains) at ctx destroy */
	void (*ctx_release)(struct tf_xport_ctx *ctx);
	/* optional (tf_xport_wait): arm notifications and put up to max fds that
	 * become readable when x may have work into fds; returns how many (0: no
	 * notification, x must be polled), or -EAGAIN when work is already there
	 * (do not sleep). NULL: x must be polled */
	int (*wait_fds)(struct tf_xport *x, int *fds, unsigned int max);
	/* optional: after the sleep, consume the notifications wait_fds armed */
	void (*wait_done)(struct tf_xport *x);
	/* optional: an fd readable when a peer is connecting (accept would succeed) */
	int (*listener_fd)(struct tf_xport_listener *l);
};

/* Adds a backend besides the built-in "rdma" and "shm"; -EEXIST if the name is taken. */
int tf_xport_backend_register(const struct tf_xport_ops *ops);
const struct tf_xport_ops *tf_xport_backend_find(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* TF_XPORT_H */
