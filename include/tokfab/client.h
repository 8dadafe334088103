/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtokfab-client: the client side of wire protocol v1
 * (hwdocs/protocol.md) over an ordinary kernel UDP socket.
 *
 * Non-blocking core, for many concurrent requests from one thread
 * (tokfab-bench):
 *
 *     tf_client_config_init(&cfg); ...fill...; tf_client_create(&cfg, &c, err, sizeof(err));
 *     tf_client_submit(c, &req, &cb, arg, &rid);     // as many as max_inflight
 *     loop: poll(tf_client_fd(c), POLLIN, tf_client_timeout_ms(c));
 *           tf_client_process(c);                    // callbacks fire from here
 *     tf_client_destroy(c);
 *
 * or tf_client_wait(c, ms) for poll + process in one call. Every request ends
 * with exactly one cb->on_done; cb->on_tokens delivers each token index once,
 * in order (retransmission, resume of lost chunks, duplicates and reordering
 * are handled inside). tf_client_generate() is the blocking call built on
 * top. Callbacks may call submit/cancel but must not destroy the client.
 *
 * All functions return 0 / -errno. Not thread-safe: one thread per client.
 */
#ifndef TOKFAB_CLIENT_H
#define TOKFAB_CLIENT_H

#include "tokfab/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tf_client;

struct tf_client_config {
	const char *server; /* "host", "host:port", "[v6addr]:port" */
	uint32_t tenant_id;
	uint8_t key_id;
	uint8_t key[TF_PROTO_KEY_LEN];
	uint32_t max_dgram; /* datagram size used (default 1400) */
	uint32_t rto_initial_ms; /* first retransmission timeout (250) */
	uint32_t rto_max_ms; /* backoff cap (4000) */
	/*
	 * The RESUME interval's cap while the card answers with progress beacons
	 * only (it holds the request queued): like TCP's persist timer, a request
	 * that has waited long is asked about rarely (30000; >= rto_max_ms).
	 */
	uint32_t beacon_max_ms;
	uint32_t retries; /* retransmissions without progress before giving up (6) */
	uint32_t timeout_ms; /* default per-request overall timeout (60000) */
	uint32_t cancel_wait_ms; /* how long a CANCEL waits for the FINAL (1000) */
	uint32_t max_inflight; /* concurrent requests + pings (256) */
	/*
	 * MAC algorithm that signs what the client sends (protocol.md 4.1):
	 * TF_PROTO_MAC_HMAC_SHA256 (default) or TF_PROTO_MAC_SIPHASH, which the
	 * tenant must be allowed to use. Responses verify under either.
	 */
	uint8_t mac_alg;
	/*
	 * Let the card put a request's last tokens into its FINAL (REQUEST flag
	 * FINAL_TOKENS, protocol.md 3.7; default true). A card that does not know
	 * the flag refuses it once; the client then stops setting it.
	 */
	bool final_tokens;
	/* Optional: called for each retransmission/resume/notable event (verbose). */
	void (*on_event)(void *arg, uint64_t request_id, const char *what);
	void *event_arg;
};

/* Fills every field with its default (server NULL, key zero). */
void tf_client_config_init(struct tf_client_config *cfg);

struct tf_client_request {
	uint32_t model_id;
	uint32_t max_new_tokens;
	uint8_t prompt_kind; /* TF_PROTO_PROMPT_TEXT or _TOKENS */
	const void *prompt; /* text bytes, or u32 LE ids; copied by submit */
	uint32_t prompt_len; /* bytes, 1 .. TF_PROTO_MAX_PROMPT */
	uint16_t temperature; /* thousandths, 0 .. 10000 */
	uint16_t top_p; /* ten-thousandths, 1 .. 10000 */
	uint64_t seed;
	uint8_t priority; /* 0 .. 7 */
	bool want_text; /* ask for token text pieces */
	uint32_t timeout_ms; /* 0: the config's */
};

/* New tokens of one request: indexes first_seq .. first_seq + n - 1. */
struct tf_client_tokens {
	uint32_t first_seq;
	uint32_t n;
	const uint8_t *ids; /* n u32 LE: tf_client_token_id() */
	const uint8_t *piece_lens; /* n bytes, NULL when the card sent no text */
	const uint8_t *text; /* concatenated pieces of these n tokens */
	uint32_t text_len;
};

static inline uint32_t
tf_client_token_id(const struct tf_client_tokens *t, uint32_t i)
{
	return tf_proto_ld32(t->ids + 4 * (size_t)i);
}

/* Outcome statuses beyond the wire error codes (1 .. 255). */
enum tf_client_status {
	TF_CLIENT_OK = 0, /* FINAL STOP / LENGTH / CANCELLED */
	/* 1 .. 255: enum tf_proto_error from an ERROR, or a FINAL CUT_OFF's error_code */
	TF_CLIENT_S_TIMEOUT = 256, /* no answer / no progress within retries, or overall timeout */
	TF_CLIENT_S_NETWORK = 257, /* datagrams could not be sent or were refused (ICMP) */
	TF_CLIENT_S_CANCELLED = 258, /* cancelled and no FINAL came back in cancel_wait_ms */
};

struct tf_client_outcome {
	int status; /* enum tf_client_status or a wire error code */
	bool has_final; /* final is valid (also for a timed-out or cut-off request) */
	bool unsigned_error; /* status came in an ERROR the card could not sign */
	bool timed_out; /* the client gave up (status TIMEOUT), maybe after a FINAL */
	struct tf_proto_final final;
	uint32_t retry_after_ms; /* from the ERROR, BUSY / RATE_LIMITED */
	uint32_t detail; /* ERROR detail */
	int net_errno; /* with TF_CLIENT_S_NETWORK: what send/recv said */
	uint32_t tokens; /* tokens delivered through on_tokens */
	uint32_t retransmits; /* REQUEST re-sends */
	uint32_t resumes; /* RESUMEs sent */
	uint64_t first_token_us; /* submit -> first token (0: none) */
	uint64_t total_us; /* submit -> done */
};

struct tf_client_pong {
	uint64_t rtt_us;
	int64_t clock_offset_us; /* card clock - local clock, at the midpoint */
	uint8_t min_version, max_version;
	uint16_t max_dgram;
};

struct tf_client_cb {
	void (*on_tokens)(void *arg, uint64_t rid, const struct tf_client_tokens *t);
	void (*on_done)(void *arg, uint64_t rid, const struct tf_client_outcome *o);
	/* For tf_client_ping(): called before on_done (status OK). */
	void (*on_pong)(void *arg, uint64_t rid, const struct tf_client_pong *p);
};

/*
 * Resolves cfg->server (default port TF_PROTO_PORT), opens and connects a
 * UDP socket. On failure writes a sentence to err (if given).
 */
int tf_client_create(const struct tf_client_config *cfg, struct tf_client **out, char *err,
		     size_t errlen);
void tf_client_destroy(struct tf_client *c);

/* The socket to poll for POLLIN. */
int tf_client_fd(const struct tf_client *c);
/* Milliseconds until the next timer is due (0: now), -1 when nothing is pending. */
int tf_client_timeout_ms(const struct tf_client *c);
/*
 * The same as a time on tf_client_now_us()'s clock (monotonic µs), UINT64_MAX
 * when nothing is pending: a loop over many clients reads the clock once.
 */
uint64_t tf_client_next_timer_us(const struct tf_client *c);
uint64_t tf_client_now_us(void);
/*
 * Datagrams the kernel dropped because the socket's receive buffer was full
 * (answers lost on this host, not in the network); -errno if unknown.
 */
int64_t tf_client_socket_drops(const struct tf_client *c);
unsigned tf_client_inflight(const struct tf_client *c);

/*
 * Sends a request (REQUEST + REQ_FRAGMENTs). -EINVAL: a field is out of
 * range; -EAGAIN: max_inflight reached (process first); -ENOMEM.
 */
int tf_client_submit(struct tf_client *c, const struct tf_client_request *req,
		     const struct tf_client_cb *cb, void *arg, uint64_t *rid);
/* Sends CANCEL; the request ends with its FINAL (CANCELLED) or S_CANCELLED. */
int tf_client_cancel(struct tf_client *c, uint64_t rid);
/* Sends a PING (signed): on_pong, then on_done. */
int tf_client_ping(struct tf_client *c, const struct tf_client_cb *cb, void *arg, uint64_t *rid);

/* Reads every pending datagram and runs due timers. Never blocks. */
int tf_client_process(struct tf_client *c);
/* poll() for up to max_ms (-1: until the next timer) then process; -EINTR on a signal. */
int tf_client_wait(struct tf_client *c, int max_ms);

/* Blocking: submit, then wait until done; out gets the outcome. */
int tf_client_generate(struct tf_client *c, const struct tf_client_request *req,
		       const struct tf_client_cb *cb, void *arg, struct tf_client_outcome *out);

/*
 * Key file (hwdocs/protocol.md 4.2): 64 hex digits; blank and '#' lines
 * ignored. -EINVAL with a sentence in err on a bad format; sets
 * *world_readable when group or others may read the file.
 */
int tf_client_load_key(const char *path, uint8_t key[TF_PROTO_KEY_LEN], bool *world_readable,
		       char *err, size_t errlen);

/* "BUSY", "TIMEOUT (no answer)", ... for any status. */
const char *tf_client_status_name(int status);

#ifdef __cplusplus
}
#endif

#endif /* TOKFAB_CLIENT_H */
