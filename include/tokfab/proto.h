/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab wire protocol v1: the one C definition of hwdocs/protocol.md.
 *
 * Every datagram is
 *
 *     header (32 bytes) | payload (payload_len bytes) | MAC (0 or 16 bytes)
 *
 * All integers are little-endian. The wire structs below document the
 * layout and are checked with static asserts; the codec (libtfproto) never
 * casts a received buffer to them: it loads each field with tf_proto_ld*(),
 * which are safe on unaligned buffers (a UDP payload in an mbuf starts at
 * offset 42) and compile to single moves on x86-64 and aarch64.
 *
 * API (stable since the first commit; changes are listed in "API history"):
 *
 *   Decode (no allocation, results point into the caller's buffer):
 *     tf_proto_decode_hdr()   header only: magic, version, type, flags,
 *                             MAC algorithm, lengths. Enough to look up the
 *                             tenant's key.
 *     tf_proto_decode_body()  the type's payload, every field checked.
 *     tf_proto_decode()       both.
 *   Authenticate:
 *     tf_proto_key_init()     pre-keys a tenant secret once, for every MAC
 *                             algorithm (HMAC midstates, SipHash subkey).
 *     tf_proto_key_restrict() narrows the algorithms a key accepts (policy).
 *     tf_proto_verify()       constant-time MAC check of a decoded message
 *                             under the algorithm its header names
 *                             (tf_proto_verify_burst(): a whole RX burst).
 *     tf_proto_check_time()   replay window on the header timestamp.
 *     tf_proto_keyfile_read() a tenant key file (4.2), the one reader the
 *                             client, tokfabd and tokfab-dp share.
 *   Encode:
 *     tf_proto_encode()       any message from a struct tf_proto_msg, signed.
 *     tf_proto_hdr_write() + tf_proto_sign()
 *                             build in place (payload already in the buffer).
 *     tf_proto_encode_reject() the ERROR (or silence) for a refused datagram.
 *   Helpers for receivers (pure logic on plain memory, fixed bounds; the
 *   dataplane may reuse them):
 *     struct tf_proto_reasm   prompt reassembly from REQUEST + REQ_FRAGMENTs
 *                             (overlaps, gaps, lying totals, oversize).
 *
 * Every function returns 0 (or a length) on success and -TF_PROTO_R_* on
 * failure: a drop reason with its own counter slot (TF_PROTO_R_COUNT) and a
 * wire error code (tf_proto_reason_error()).
 *
 * API history:
 *   v1.0  first version.
 *   v1.1  added tf_proto_verify_burst(), tf_proto_encode_reject() (additions only).
 *   v1.2  mac_alg 2 (SipHash-2-4-128); struct tf_proto_key.algs and
 *         tf_proto_key_restrict(); tf_proto_encode() signs with m->mac_alg
 *         when it is set (0: the key's default, as before); tf_proto_mac_alg_name()
 *         and tf_proto_mac_alg_parse(); REQUEST req_flags FINAL_TOKENS and a
 *         FINAL that carries the last token chunk (struct tf_proto_final
 *         final_flags + tokens). Wire: additions behind the REQUEST flag only.
 */
#ifndef TOKFAB_PROTO_H
#define TOKFAB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

#define TF_PROTO_PORT 7480 /* default UDP port of a card */
#define TF_PROTO_MAGIC0 'T'
#define TF_PROTO_MAGIC1 'K'
#define TF_PROTO_MAGIC2 'F'
#define TF_PROTO_MAGIC3 'B'
#define TF_PROTO_MAGIC_LE 0x42464b54u /* "TKFB" loaded as a LE u32 */
#define TF_PROTO_VERSION 1

#define TF_PROTO_HDR_LEN 32
#define TF_PROTO_MAC_LEN 16 /* every algorithm's tag: 128 bits */
#define TF_PROTO_KEY_LEN 32 /* tenant secret */

/* Largest UDP payload a receiver accepts (IPv4, 1500-byte MTU). */
#define TF_PROTO_MAX_DGRAM 1472
/* What senders use by default: fits IPv6 and one level of tunnelling. */
#define TF_PROTO_DEFAULT_DGRAM 1400
/* Smallest datagram that can be valid: header + MAC, empty payload. */
#define TF_PROTO_MIN_DGRAM (TF_PROTO_HDR_LEN + TF_PROTO_MAC_LEN)

/* Prompt limits. A prompt spans one REQUEST and any REQ_FRAGMENTs. */
#define TF_PROTO_MAX_PROMPT (256u * 1024u) /* bytes, text or token ids */
#define TF_PROTO_FRAG_UNIT 64u /* fragment offset alignment */
#define TF_PROTO_FRAG_UNITS (TF_PROTO_MAX_PROMPT / TF_PROTO_FRAG_UNIT)

/* Request field ranges. */
#define TF_PROTO_MAX_PRIORITY 7
#define TF_PROTO_DEFAULT_PRIORITY 3
#define TF_PROTO_MAX_TEMPERATURE 10000 /* milli: 10.000 */
#define TF_PROTO_MAX_TOP_P 10000 /* 1e-4 units: 1.0000 */

/* Replay window default: |server clock - header timestamp| must be below. */
#define TF_PROTO_REPLAY_WINDOW_US (30ull * 1000 * 1000)

/* Message types. Bit 7 set: card -> client. */
enum tf_proto_type {
	TF_PROTO_T_REQUEST = 0x01, /* new request + first part of the prompt */
	TF_PROTO_T_FRAGMENT = 0x02, /* more prompt bytes of a request */
	TF_PROTO_T_CANCEL = 0x03, /* stop generating; FINAL still reported */
	TF_PROTO_T_RESUME = 0x04, /* re-send tokens from index N */
	TF_PROTO_T_PING = 0x05, /* liveness, key and clock check */
	TF_PROTO_T_TOKENS = 0x81, /* token chunk, in order, sequence-numbered */
	TF_PROTO_T_FINAL = 0x82, /* end of a request, with usage */
	TF_PROTO_T_ERROR = 0x83, /* request (or datagram) refused */
	TF_PROTO_T_PONG = 0x84, /* answer to PING */
};
#define TF_PROTO_T_RESPONSE_BIT 0x80

/* Header flags. Unknown bits set -> ERROR UNSUPPORTED (detail: the flags). */
#define TF_PROTO_F_RETRANSMIT 0x01 /* sender: this repeats an earlier message */
#define TF_PROTO_F_FROM_CACHE 0x02 /* card: replayed from the response cache */
#define TF_PROTO_F_KNOWN (TF_PROTO_F_RETRANSMIT | TF_PROTO_F_FROM_CACHE)

/* MAC algorithms (header mac_alg). */
enum tf_proto_mac_alg {
	TF_PROTO_MAC_NONE = 0, /* only on ERRORs the card cannot sign */
	TF_PROTO_MAC_HMAC_SHA256 = 1, /* HMAC-SHA256, first 16 bytes */
	TF_PROTO_MAC_SIPHASH = 2, /* SipHash-2-4-128 under a subkey derived from the secret */
	/* 3..255 reserved. */
};
#define TF_PROTO_MAC_ALG_MAX TF_PROTO_MAC_SIPHASH
/* A set of algorithms: bit (1 << alg). */
#define TF_PROTO_MAC_BIT(alg) (1u << (alg))
#define TF_PROTO_MAC_ALGS_KNOWN \
	(TF_PROTO_MAC_BIT(TF_PROTO_MAC_HMAC_SHA256) | TF_PROTO_MAC_BIT(TF_PROTO_MAC_SIPHASH))

/* REQUEST prompt_kind. */
enum tf_proto_prompt_kind {
	TF_PROTO_PROMPT_TOKENS = 0, /* u32 LE token ids */
	TF_PROTO_PROMPT_TEXT = 1, /* UTF-8 text, tokenized by the card */
};

/* REQUEST req_flags. */
#define TF_PROTO_RF_WANT_TEXT 0x0001 /* TOKENS carry each token's text bytes */
#define TF_PROTO_RF_FINAL_TOKENS 0x0002 /* the client accepts a FINAL carrying tokens */
#define TF_PROTO_RF_KNOWN (TF_PROTO_RF_WANT_TEXT | TF_PROTO_RF_FINAL_TOKENS)

/* TOKENS chunk_flags. */
#define TF_PROTO_CF_HAS_TEXT 0x01
#define TF_PROTO_CF_KNOWN TF_PROTO_CF_HAS_TEXT

/* FINAL final_flags (only to a REQUEST that set TF_PROTO_RF_FINAL_TOKENS). */
#define TF_PROTO_FF_HAS_TOKENS 0x01 /* a token chunk follows the 32 fixed bytes */
#define TF_PROTO_FF_KNOWN TF_PROTO_FF_HAS_TOKENS

/* FINAL finish_reason. */
enum tf_proto_finish {
	TF_PROTO_FINISH_STOP = 0, /* end-of-sequence token */
	TF_PROTO_FINISH_LENGTH = 1, /* max_new_tokens reached */
	TF_PROTO_FINISH_CANCELLED = 2, /* client sent CANCEL */
	TF_PROTO_FINISH_CUT_OFF = 3, /* card stopped it; error_code says why */
};
#define TF_PROTO_FINISH_MAX TF_PROTO_FINISH_CUT_OFF

/* Wire error codes (ERROR.code, FINAL.error_code). 0 is never sent. */
enum tf_proto_error {
	TF_PROTO_E_BAD_MAC = 1, /* MAC does not verify: wrong key */
	TF_PROTO_E_REPLAY = 2, /* timestamp outside window / id reused */
	TF_PROTO_E_UNKNOWN_TENANT = 3, /* tenant id not configured */
	TF_PROTO_E_UNKNOWN_MODEL = 4, /* model id not served */
	TF_PROTO_E_QUOTA_EXHAUSTED = 5, /* tenant's token budget used up */
	TF_PROTO_E_RATE_LIMITED = 6, /* tenant over its rate: retry_after */
	TF_PROTO_E_BUSY = 7, /* card or pool overloaded: retry_after */
	TF_PROTO_E_TOO_LARGE = 8, /* prompt or limits over the maximum */
	TF_PROTO_E_MALFORMED = 9, /* a field is invalid (detail: offset) */
	TF_PROTO_E_TIMEOUT = 10, /* reassembly or generation timed out */
	TF_PROTO_E_INTERNAL = 11, /* card or accelerator failure */
	TF_PROTO_E_UNSUPPORTED_VERSION = 12, /* detail: highest version supported */
	TF_PROTO_E_UNSUPPORTED = 13, /* unknown type/flags/alg/kind */
	TF_PROTO_E_UNKNOWN_REQUEST = 14, /* CANCEL/RESUME of an unknown id */
	TF_PROTO_E_RESUME_UNAVAILABLE = 15, /* tokens before N no longer buffered */
};
#define TF_PROTO_E_MAX TF_PROTO_E_RESUME_UNAVAILABLE

/* ------------------------------------------------------------------ */
/* Wire layout (documentation + static asserts; all fields LE)        */
/* ------------------------------------------------------------------ */

struct tf_proto_wire_hdr {
	uint8_t magic[4]; /* "TKFB" */
	uint8_t version; /* TF_PROTO_VERSION */
	uint8_t type; /* enum tf_proto_type */
	uint8_t flags; /* TF_PROTO_F_* */
	uint8_t mac_alg; /* enum tf_proto_mac_alg */
	uint32_t tenant_id; /* who is asking (echoed in responses) */
	uint16_t payload_len; /* bytes between header and MAC */
	uint8_t key_id; /* which of the tenant's keys signed (rotation) */
	uint8_t reserved; /* must be zero */
	uint64_t request_id; /* client-chosen, unique per tenant */
	uint64_t timestamp_us; /* sender's clock, µs since the Unix epoch */
};

struct tf_proto_wire_request {
	uint32_t model_id;
	uint32_t max_new_tokens; /* >= 1 */
	uint32_t prompt_total_len; /* bytes of the whole prompt, 1..MAX_PROMPT */
	uint8_t prompt_kind; /* enum tf_proto_prompt_kind */
	uint8_t priority; /* 0 (lowest) .. 7 */
	uint16_t req_flags; /* TF_PROTO_RF_* */
	uint16_t temperature; /* milli-units, 0 = greedy, <= 10000 */
	uint16_t top_p; /* 1e-4 units, 1..10000 */
	uint32_t reserved; /* must be zero */
	uint64_t seed; /* sampling seed */
	/* followed by prompt bytes [0, payload_len - 32) */
};

struct tf_proto_wire_fragment {
	uint32_t prompt_total_len; /* must equal the REQUEST's */
	uint32_t offset; /* multiple of TF_PROTO_FRAG_UNIT */
	/* followed by prompt bytes [offset, offset + payload_len - 8) */
};

struct tf_proto_wire_resume {
	uint32_t from_seq; /* first token index wanted */
	uint32_t reserved; /* must be zero */
};

struct tf_proto_wire_ping {
	uint64_t echo; /* returned in PONG */
	uint64_t reserved; /* must be zero */
};

struct tf_proto_wire_tokens {
	uint32_t first_seq; /* index of the first token in this chunk */
	uint16_t n_tokens; /* 0 = progress beacon (still working) */
	uint8_t chunk_flags; /* TF_PROTO_CF_* */
	uint8_t reserved; /* must be zero */
	/* u32 ids[n_tokens]; if HAS_TEXT: u8 piece_len[n_tokens], text bytes */
};

struct tf_proto_wire_final {
	uint8_t finish_reason; /* enum tf_proto_finish */
	uint8_t final_flags; /* TF_PROTO_FF_*; 0 unless the REQUEST set FINAL_TOKENS */
	uint16_t error_code; /* enum tf_proto_error when CUT_OFF, else 0 */
	uint32_t prompt_tokens;
	uint32_t completion_tokens; /* = tokens streamed, indexes 0..n-1 */
	uint32_t accel_id; /* which accelerator ran it */
	uint64_t cost_micro; /* cost in micro-units of the currency */
	uint32_t queue_us; /* admitted -> first batch */
	uint32_t total_us; /* prompt complete -> FINAL */
	/* with TF_PROTO_FF_HAS_TOKENS: a TOKENS payload (struct tf_proto_wire_tokens ...) */
};

struct tf_proto_wire_error {
	uint16_t code; /* enum tf_proto_error */
	uint8_t ref_type; /* type of the message refused */
	uint8_t reserved; /* must be zero */
	uint32_t retry_after_ms; /* BUSY, RATE_LIMITED: wait this long; else 0 */
	uint32_t detail; /* code-specific, see protocol.md */
};

struct tf_proto_wire_pong {
	uint64_t echo; /* PING.echo */
	uint8_t min_version; /* versions the card speaks */
	uint8_t max_version;
	uint16_t max_dgram; /* largest datagram the card accepts */
	uint32_t reserved; /* must be zero */
};

#define TF_PROTO_REQUEST_FIXED 32
#define TF_PROTO_FRAGMENT_FIXED 8
#define TF_PROTO_TOKENS_FIXED 8
#define TF_PROTO_CANCEL_LEN 0
#define TF_PROTO_RESUME_LEN 8
#define TF_PROTO_PING_LEN 16
#define TF_PROTO_PONG_LEN 16
#define TF_PROTO_FINAL_LEN 32 /* without tokens; with: 32 + a TOKENS payload */
#define TF_PROTO_ERROR_LEN 12

_Static_assert(sizeof(struct tf_proto_wire_hdr) == TF_PROTO_HDR_LEN, "hdr size");
_Static_assert(offsetof(struct tf_proto_wire_hdr, version) == 4, "hdr.version");
_Static_assert(offsetof(struct tf_proto_wire_hdr, type) == 5, "hdr.type");
_Static_assert(offsetof(struct tf_proto_wire_hdr, flags) == 6, "hdr.flags");
_Static_assert(offsetof(struct tf_proto_wire_hdr, mac_alg) == 7, "hdr.mac_alg");
_Static_assert(offsetof(struct tf_proto_wire_hdr, tenant_id) == 8, "hdr.tenant_id");
_Static_assert(offsetof(struct tf_proto_wire_hdr, payload_len) == 12, "hdr.payload_len");
_Static_assert(offsetof(struct tf_proto_wire_hdr, key_id) == 14, "hdr.key_id");
_Static_assert(offsetof(struct tf_proto_wire_hdr, reserved) == 15, "hdr.reserved");
_Static_assert(offsetof(struct tf_proto_wire_hdr, request_id) == 16, "hdr.request_id");
_Static_assert(offsetof(struct tf_proto_wire_hdr, timestamp_us) == 24, "hdr.timestamp_us");

_Static_assert(sizeof(struct tf_proto_wire_request) == TF_PROTO_REQUEST_FIXED, "request size");
_Static_assert(offsetof(struct tf_proto_wire_request, max_new_tokens) == 4, "req.max_new");
_Static_assert(offsetof(struct tf_proto_wire_request, prompt_total_len) == 8, "req.total");
_Static_assert(offsetof(struct tf_proto_wire_request, prompt_kind) == 12, "req.kind");
_Static_assert(offsetof(struct tf_proto_wire_request, priority) == 13, "req.priority");
_Static_assert(offsetof(struct tf_proto_wire_request, req_flags) == 14, "req.flags");
_Static_assert(offsetof(struct tf_proto_wire_request, temperature) == 16, "req.temperature");
_Static_assert(offsetof(struct tf_proto_wire_request, top_p) == 18, "req.top_p");
_Static_assert(offsetof(struct tf_proto_wire_request, reserved) == 20, "req.reserved");
_Static_assert(offsetof(struct tf_proto_wire_request, seed) == 24, "req.seed");

_Static_assert(sizeof(struct tf_proto_wire_fragment) == TF_PROTO_FRAGMENT_FIXED, "frag size");
_Static_assert(offsetof(struct tf_proto_wire_fragment, offset) == 4, "frag.offset");
_Static_assert(sizeof(struct tf_proto_wire_resume) == TF_PROTO_RESUME_LEN, "resume size");
_Static_assert(sizeof(struct tf_proto_wire_ping) == TF_PROTO_PING_LEN, "ping size");
_Static_assert(sizeof(struct tf_proto_wire_pong) == TF_PROTO_PONG_LEN, "pong size");
_Static_assert(offsetof(struct tf_proto_wire_pong, min_version) == 8, "pong.min_version");
_Static_assert(offsetof(struct tf_proto_wire_pong, max_dgram) == 10, "pong.max_dgram");
_Static_assert(offsetof(struct tf_proto_wire_pong, reserved) == 12, "pong.reserved");

_Static_assert(sizeof(struct tf_proto_wire_tokens) == TF_PROTO_TOKENS_FIXED, "tokens size");
_Static_assert(offsetof(struct tf_proto_wire_tokens, n_tokens) == 4, "tokens.n");
_Static_assert(offsetof(struct tf_proto_wire_tokens, chunk_flags) == 6, "tokens.flags");

_Static_assert(sizeof(struct tf_proto_wire_final) == TF_PROTO_FINAL_LEN, "final size");
_Static_assert(offsetof(struct tf_proto_wire_final, final_flags) == 1, "final.final_flags");
_Static_assert(offsetof(struct tf_proto_wire_final, error_code) == 2, "final.error_code");
_Static_assert(offsetof(struct tf_proto_wire_final, prompt_tokens) == 4, "final.prompt");
_Static_assert(offsetof(struct tf_proto_wire_final, completion_tokens) == 8, "final.compl");
_Static_assert(offsetof(struct tf_proto_wire_final, accel_id) == 12, "final.accel_id");
_Static_assert(offsetof(struct tf_proto_wire_final, cost_micro) == 16, "final.cost");
_Static_assert(offsetof(struct tf_proto_wire_final, queue_us) == 24, "final.queue_us");
_Static_assert(offsetof(struct tf_proto_wire_final, total_us) == 28, "final.total_us");

_Static_assert(sizeof(struct tf_proto_wire_error) == TF_PROTO_ERROR_LEN, "error size");
_Static_assert(offsetof(struct tf_proto_wire_error, ref_type) == 2, "error.ref_type");
_Static_assert(offsetof(struct tf_proto_wire_error, retry_after_ms) == 4, "error.retry");
_Static_assert(offsetof(struct tf_proto_wire_error, detail) == 8, "error.detail");

/* An unsigned reply (mac_alg NONE) is never longer than what caused it. */
_Static_assert(TF_PROTO_HDR_LEN + TF_PROTO_ERROR_LEN <=
		       TF_PROTO_HDR_LEN + TF_PROTO_PING_LEN + TF_PROTO_MAC_LEN,
	       "an unsigned ERROR fits in the smallest PING");

/* ------------------------------------------------------------------ */
/* Unaligned little-endian loads and stores                            */
/* ------------------------------------------------------------------ */

static inline uint16_t
tf_proto_ld16(const uint8_t *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
#else
	return (uint16_t)(p[0] | p[1] << 8);
#endif
}

static inline uint32_t
tf_proto_ld32(const uint8_t *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
#else
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

static inline uint64_t
tf_proto_ld64(const uint8_t *p)
{
	return (uint64_t)tf_proto_ld32(p) | (uint64_t)tf_proto_ld32(p + 4) << 32;
}

static inline void
tf_proto_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
tf_proto_st32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, sizeof(v));
#else
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
#endif
}

static inline void
tf_proto_st64(uint8_t *p, uint64_t v)
{
	tf_proto_st32(p, (uint32_t)v);
	tf_proto_st32(p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------ */
/* Decoded messages: views into the datagram (no copies)              */
/* ------------------------------------------------------------------ */

struct tf_proto_request {
	uint32_t model_id;
	uint32_t max_new_tokens;
	uint32_t prompt_total_len;
	uint8_t prompt_kind;
	uint8_t priority;
	uint16_t req_flags;
	uint16_t temperature;
	uint16_t top_p;
	uint64_t seed;
	const uint8_t *prompt; /* prompt bytes [0, prompt_len) of the whole */
	uint32_t prompt_len;
};

struct tf_proto_fragment {
	uint32_t prompt_total_len;
	uint32_t offset;
	const uint8_t *data; /* prompt bytes [offset, offset + len) */
	uint32_t len;
};

struct tf_proto_resume {
	uint32_t from_seq;
};

struct tf_proto_ping {
	uint64_t echo;
};

struct tf_proto_pong {
	uint64_t echo;
	uint8_t min_version;
	uint8_t max_version;
	uint16_t max_dgram;
};

struct tf_proto_tokens {
	uint32_t first_seq;
	uint16_t n_tokens;
	uint8_t chunk_flags;
	const uint8_t *ids; /* n_tokens u32 LE: tf_proto_token_id() */
	const uint8_t *piece_lens; /* n_tokens u8, NULL without HAS_TEXT */
	const uint8_t *text; /* concatenated pieces, text_len bytes */
	uint32_t text_len;
};

struct tf_proto_final {
	uint8_t finish_reason;
	uint8_t final_flags; /* TF_PROTO_FF_* */
	uint16_t error_code;
	uint32_t prompt_tokens;
	uint32_t completion_tokens;
	uint32_t accel_id;
	uint64_t cost_micro;
	uint32_t queue_us;
	uint32_t total_us;
	/*
	 * With TF_PROTO_FF_HAS_TOKENS: the stream's last chunk (n_tokens >= 1,
	 * first_seq + n_tokens == completion_tokens); the receiver takes these
	 * tokens before the FINAL.
	 */
	struct tf_proto_tokens tokens;
};

struct tf_proto_err {
	uint16_t code;
	uint8_t ref_type;
	uint32_t retry_after_ms;
	uint32_t detail;
};

struct tf_proto_msg {
	/* header */
	uint8_t version;
	uint8_t type;
	uint8_t flags;
	uint8_t mac_alg;
	uint8_t key_id;
	uint16_t payload_len;
	uint32_t tenant_id;
	uint64_t request_id;
	uint64_t timestamp_us;
	/* set by decode: the datagram and where its parts are */
	const uint8_t *raw; /* start of the header */
	uint32_t signed_len; /* header + payload: what the MAC covers */
	const uint8_t *payload; /* raw + TF_PROTO_HDR_LEN */
	const uint8_t *mac; /* raw + signed_len; NULL when mac_alg NONE */
	/* set by decode_body, read by encode (by type) */
	union {
		struct tf_proto_request req;
		struct tf_proto_fragment frag;
		struct tf_proto_resume resume;
		struct tf_proto_ping ping;
		struct tf_proto_pong pong;
		struct tf_proto_tokens tokens;
		struct tf_proto_final final;
		struct tf_proto_err err;
	} u;
	/* set by a failed decode: byte offset in the datagram of the bad field */
	uint32_t bad_off;
};

static inline uint32_t
tf_proto_token_id(const struct tf_proto_tokens *t, uint32_t i)
{
	return tf_proto_ld32(t->ids + 4 * (size_t)i);
}

static inline bool
tf_proto_type_is_response(uint8_t type)
{
	return (type & TF_PROTO_T_RESPONSE_BIT) != 0;
}

/* ------------------------------------------------------------------ */
/* Drop reasons: return values (negated), counters, wire errors       */
/* ------------------------------------------------------------------ */

enum tf_proto_reason {
	TF_PROTO_R_OK = 0,
	TF_PROTO_R_TRUNCATED, /* shorter than header, or than header+payload+MAC */
	TF_PROTO_R_BAD_MAGIC, /* not tokfab: drop without reply */
	TF_PROTO_R_BAD_VERSION, /* -> UNSUPPORTED_VERSION */
	TF_PROTO_R_BAD_TYPE, /* unknown type -> UNSUPPORTED */
	TF_PROTO_R_BAD_FLAGS, /* unknown header/request/chunk flag -> UNSUPPORTED */
	TF_PROTO_R_BAD_MAC_ALG, /* unknown MAC algorithm -> UNSUPPORTED */
	TF_PROTO_R_TRAILING, /* datagram longer than header says (lying length) */
	TF_PROTO_R_BAD_LEN, /* payload_len wrong for the type */
	TF_PROTO_R_RESERVED, /* a reserved field is not zero */
	TF_PROTO_R_BAD_FIELD, /* a value out of range (bad_off says which) */
	TF_PROTO_R_TOO_LARGE, /* prompt or datagram over the limit */
	TF_PROTO_R_BAD_MAC, /* MAC does not verify */
	TF_PROTO_R_NO_MAC, /* unsigned where a MAC is required */
	TF_PROTO_R_REPLAY, /* timestamp outside the replay window */
	TF_PROTO_R_FRAG_TOTAL, /* fragment total differs from the request's */
	TF_PROTO_R_FRAG_RANGE, /* fragment past the end of the prompt */
	TF_PROTO_R_FRAG_ALIGN, /* fragment offset/length not unit-aligned */
	TF_PROTO_R_FRAG_OVERLAP, /* fragment partly overlaps received bytes */
	TF_PROTO_R_FRAG_CONFLICT, /* duplicate fragment with different bytes */
	TF_PROTO_R_BAD_KIND, /* unknown prompt kind -> UNSUPPORTED */
	TF_PROTO_R_NOSPACE, /* encode: buffer too small */
	TF_PROTO_R_COUNT
};

/* Short stable name ("bad_magic") for counters and logs. */
const char *tf_proto_reason_name(int reason);
/* Wire error code for a drop reason (0: drop silently, e.g. bad magic). */
uint16_t tf_proto_reason_error(int reason);
/* "BAD_MAC", ... ; "UNKNOWN" for codes this version does not know. */
const char *tf_proto_error_name(uint16_t code);
/* One sentence: what it means and what to do. */
const char *tf_proto_error_hint(uint16_t code);
const char *tf_proto_type_name(uint8_t type);

/* ------------------------------------------------------------------ */
/* Decode                                                              */
/* ------------------------------------------------------------------ */

/*
 * Checks magic, version, type, flags, MAC algorithm, reserved byte and that
 * len == 32 + payload_len + MAC length exactly; fills the header fields and
 * raw/payload/mac/signed_len. On -TF_PROTO_R_BAD_VERSION the header fields
 * up to request_id are still filled so an UNSUPPORTED_VERSION reply can echo
 * them.
 */
int tf_proto_decode_hdr(const void *buf, size_t len, struct tf_proto_msg *m);
/* Validates and decodes the payload of a header-decoded message into m->u. */
int tf_proto_decode_body(struct tf_proto_msg *m);
/* Both. Does not check the MAC or the timestamp. */
int tf_proto_decode(const void *buf, size_t len, struct tf_proto_msg *m);

/* ------------------------------------------------------------------ */
/* Authentication                                                      */
/* ------------------------------------------------------------------ */

/*
 * A tenant key, pre-keyed for every algorithm at once: init computes the
 * HMAC inner and outer midstates and derives the SipHash subkey
 * (protocol.md 4.1), so a MAC costs only the message's own work. Plain
 * memory, no pointers inside: copy it freely (per-lcore tables), wipe with
 * tf_proto_key_wipe().
 */
struct tf_proto_key {
	uint8_t alg; /* default algorithm: what signs a message that names none */
	uint8_t key_id; /* header key_id this key answers to */
	uint8_t algs; /* algorithms it verifies and signs: TF_PROTO_MAC_BIT(alg) */
	uint8_t pad_[5];
	_Alignas(16) uint8_t state[256]; /* per-algorithm state (opaque) */
};

/*
 * alg is the default (signing) algorithm; the key accepts every known
 * algorithm until tf_proto_key_restrict(). -TF_PROTO_R_BAD_MAC_ALG for an
 * unknown alg, -EINVAL without a secret.
 */
int tf_proto_key_init(struct tf_proto_key *k, uint8_t alg, uint8_t key_id, const uint8_t *secret,
		      size_t secret_len);
/*
 * Accept only the algorithms in algs (TF_PROTO_MAC_BIT set, a non-empty
 * subset of TF_PROTO_MAC_ALGS_KNOWN); the default moves to the lowest one
 * allowed if it is not. 0 or -EINVAL.
 */
int tf_proto_key_restrict(struct tf_proto_key *k, uint32_t algs);
void tf_proto_key_wipe(struct tf_proto_key *k);
/*
 * Key files (protocol.md 4.2): the secret as hex digits on one line, blanks
 * (space, tab, CR, ...) around them ignored, blank lines and lines whose
 * first non-blank character is '#' ignored, nothing else allowed.
 * tf_proto_keyfile_parse() reads len bytes of text (no NUL needed; a NUL is
 * an invalid character) into key[0, *key_len), accepting min..max bytes;
 * tf_proto_keyfile_read() reads the file at path (at most 64 KiB) and sets
 * *world_readable (may be NULL) when group or others may read it. Both
 * return 0, or -EINVAL with "what was wrong and where" (path:line) in err,
 * or -errno (read_file: cannot open or read; -EFBIG: too large). The text
 * and, on failure, key are wiped.
 */
int tf_proto_keyfile_parse(const char *name, const char *text, size_t len, size_t min, size_t max,
			   uint8_t *key, size_t *key_len, char *err, size_t errlen);
int tf_proto_keyfile_read(const char *path, size_t min, size_t max, uint8_t *key, size_t *key_len,
			  bool *world_readable, char *err, size_t errlen);
/* MAC of len bytes (header + payload) under the default algorithm into out[TF_PROTO_MAC_LEN]. */
void tf_proto_mac(const struct tf_proto_key *k, const void *data, size_t len, uint8_t *out);
/* "hmac-sha256", "siphash", "none"; "unknown" otherwise. */
const char *tf_proto_mac_alg_name(uint8_t alg);
/* "hmac" / "hmac-sha256" / "1", "siphash" / "siphash-2-4" / "2" -> alg; -EINVAL otherwise. */
int tf_proto_mac_alg_parse(const char *s);
/*
 * 0 if m (header-decoded) carries a valid MAC under k with the algorithm its
 * header names (which k must accept); -TF_PROTO_R_NO_MAC if unsigned;
 * -TF_PROTO_R_BAD_MAC otherwise (constant-time compare).
 */
int tf_proto_verify(const struct tf_proto_key *k, const struct tf_proto_msg *m);
/*
 * Burst form for a receive loop: rc[i] = tf_proto_verify(keys[i], msgs[i]);
 * returns how many verified. Same results as the loop. Today it is the loop:
 * interleaving two SHA-NI streams was measured and gains nothing on the
 * build CPUs (hwdocs/performance.md); the entry point stays so a receive
 * loop need not change when a variant that pays is added.
 */
unsigned tf_proto_verify_burst(const struct tf_proto_key *const *keys,
			       const struct tf_proto_msg *const *msgs, unsigned n, int *rc);
/* 0 if |now_us - ts_us| <= window_us, else -TF_PROTO_R_REPLAY. */
int tf_proto_check_time(uint64_t ts_us, uint64_t now_us, uint64_t window_us);

/* ------------------------------------------------------------------ */
/* Encode                                                              */
/* ------------------------------------------------------------------ */

/*
 * Encodes m (header fields + m->u for m->type) into buf and signs it with k
 * (k NULL: mac_alg NONE, allowed for ERROR only) under m->mac_alg, or the
 * key's default algorithm when m->mac_alg is 0 (-TF_PROTO_R_BAD_MAC_ALG if
 * k does not accept it). m->payload_len is computed, not read. Returns the
 * datagram length or -TF_PROTO_R_NOSPACE / -TF_PROTO_R_BAD_* if m would not
 * decode. Variable parts are copied from m->u's pointers: req.prompt/prompt_len,
 * frag.data/len, tokens.ids (n_tokens u32 LE) + piece_lens + text, and
 * final.tokens the same way when final.final_flags has HAS_TOKENS.
 */
int tf_proto_encode(void *buf, size_t cap, const struct tf_proto_msg *m,
		    const struct tf_proto_key *k);

/*
 * In-place building: write the 32-byte header of m (payload_len and mac_alg
 * as given) at buf; put the payload after it yourself; then tf_proto_sign()
 * appends the MAC over buf[0, 32 + payload_len) under the algorithm the
 * header names (k must accept it) and returns the datagram length. buf must
 * have room for the MAC.
 */
void tf_proto_hdr_write(void *buf, const struct tf_proto_msg *m);
int tf_proto_sign(void *buf, size_t cap, const struct tf_proto_key *k);

/*
 * The ERROR answering a datagram that failed with `reason` (from decode,
 * verify, check_time or reassembly), following protocol.md 4.4 and 5:
 * echoes tenant, request id and type from in (as far as decode_hdr filled
 * it), detail per 5.1/5.2 (reason << 16 | field offset for MALFORMED and
 * UNSUPPORTED). k NULL: unsigned (when the tenant or MAC is unknown).
 * Returns the datagram length, or 0 when nothing must be sent: a reason
 * that is dropped silently (bad magic), a datagram too short to echo, an
 * unsigned reply that would be longer than in_len (no amplification), or a
 * response type (never answer an answer).
 */
int tf_proto_encode_reject(void *buf, size_t cap, const struct tf_proto_msg *in, size_t in_len,
			   int reason, const struct tf_proto_key *k, uint64_t now_us);

/*
 * Highest number of tokens one TOKENS datagram of dgram bytes can carry (a
 * FINAL with tokens carries TF_PROTO_FINAL_LEN bytes fewer: pass dgram - 32).
 */
uint32_t tf_proto_tokens_capacity(uint32_t dgram, bool with_text, uint32_t text_bytes);

/* ------------------------------------------------------------------ */
/* Prompt reassembly (REQUEST + REQ_FRAGMENTs)                         */
/* ------------------------------------------------------------------ */

/*
 * Tracks which 64-byte units of a prompt arrived, in a fixed bitmap (512
 * bytes for the 256 KiB maximum), and optionally copies bytes into a caller
 * buffer. Fragments may arrive in any order, before or after the REQUEST.
 * Rules (protocol.md "Fragments"):
 *   - every fragment repeats the total; a different total: FRAG_TOTAL
 *   - total > TF_PROTO_MAX_PROMPT: TOO_LARGE; offset + len > total: FRAG_RANGE
 *   - offset and (unless it ends the prompt) len are multiples of 64: FRAG_ALIGN
 *   - every byte already received: duplicate (returns 1; with a buffer the
 *     bytes must be equal, else FRAG_CONFLICT); some: FRAG_OVERLAP
 * Gaps are what is left when the caller's deadline passes with !done.
 */
struct tf_proto_reasm {
	uint32_t total; /* 0 until the first piece */
	uint32_t received; /* bytes */
	uint8_t *buf; /* NULL: track only */
	uint32_t cap;
	uint32_t pad_;
	uint64_t bitmap[TF_PROTO_FRAG_UNITS / 64];
};

void tf_proto_reasm_init(struct tf_proto_reasm *r, void *buf, uint32_t cap);
/* 0: new bytes taken; 1: duplicate, ignored; -TF_PROTO_R_*: reject. */
int tf_proto_reasm_add(struct tf_proto_reasm *r, uint32_t total, uint32_t offset, const void *data,
		       uint32_t len);
static inline bool
tf_proto_reasm_done(const struct tf_proto_reasm *r)
{
	return r->total != 0 && r->received == r->total;
}

/* True if the n bytes are well-formed UTF-8 (no overlongs, no surrogates). */
bool tf_proto_utf8_valid(const uint8_t *s, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* TOKFAB_PROTO_H */
