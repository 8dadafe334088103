/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab accelerator rings: the bytes that cross between the card
 * (tokfab-dp) and an accelerator agent (tokfab-accel), on either transport
 * (rdma or shm). Normative prose: hwdocs/accel-rings.md; this header is the
 * one C definition of it. All multi-byte fields are little-endian; every
 * reserved field must be written as zero and is checked on receipt.
 *
 * Each side owns one REGION per connection, registered for the peer to write
 * into (RDMA: ibv_reg_mr + rkey; shm: a memfd passed over a unix socket):
 *
 *   accelerator region (card writes)          card region (accelerator writes)
 *   +0     struct tf_accel_ctl                +0     struct tf_accel_ctl
 *          db = {in_prod, resp_cons}                 db = {resp_prod, in_cons}
 *   +64    reserved (zero)                    +64    struct tf_accel_status
 *   +4096  INPUT ring (in_ring_bytes)         +4096  RESPONSE ring (resp_ring_bytes)
 *
 * A ring is a power-of-two byte array carrying RECORDS (struct tf_accel_rec,
 * 64-byte aligned, never wrapping: a PAD record fills the tail). Producer and
 * consumer indexes are free-running u32 byte counters (mod 2^32); the ring
 * offset of index i is i & (ring_bytes - 1). The producer publishes its index
 * by writing the doorbell word in the consumer's region (RDMA: WRITE_WITH_IMM,
 * imm = producer index; shm: a 64-bit store-release); the consumer returns
 * credits by writing its consumer index into the other half of the doorbell
 * word in the producer's region.
 */
#ifndef TOKFAB_ACCEL_RINGS_H
#define TOKFAB_ACCEL_RINGS_H

#include <stddef.h>
#include <stdint.h>

#define TF_ACCEL_MAGIC 0x52414654u /* "TFAR" little-endian */
#define TF_ACCEL_VERSION 2 /* 2: BATCH headers first, then the prompts */

/* Region layout (both sides). */
#define TF_ACCEL_CTL_OFF 0u
#define TF_ACCEL_STATUS_OFF 64u
#define TF_ACCEL_RING_OFF 4096u

/* Ring sizes: powers of two in [MIN, MAX]. */
#define TF_ACCEL_RING_MIN (16u * 1024)
#define TF_ACCEL_RING_MAX (64u * 1024 * 1024)
#define TF_ACCEL_REC_ALIGN 64u /* every record starts and ends on 64 bytes */

/* Limits every receiver enforces. */
#define TF_ACCEL_MAX_BATCH_REQS 256 /* requests in one BATCH record */
#define TF_ACCEL_MAX_PROMPT_BYTES (256u * 1024) /* payload of one request */
#define TF_ACCEL_MAX_CANCEL 256 /* handles in one CANCEL record */
#define TF_ACCEL_MAX_EVENTS 1024 /* events in one EVENTS record */
#define TF_ACCEL_MAX_CHUNK_TOKENS 64 /* tokens in one TOKENS event */
#define TF_ACCEL_MAX_TOKEN_TEXT 255 /* text bytes of one token */
#define TF_ACCEL_MAX_ERROR_MSG 200 /* message bytes of one ERROR event */
#define TF_ACCEL_MAX_PRIORITY 7
#define TF_ACCEL_MAX_TEMPERATURE 10000 /* milli-units: 10.000 */
#define TF_ACCEL_MAX_TOP_P 10000 /* 1e-4 units: 1.0000 (= off) */
#define TF_ACCEL_MAX_MODELS 8 /* models listed in the status block */

/* ------------------------------------------------------------------ */
/* Connection set-up                                                  */
/* ------------------------------------------------------------------ */

enum tf_accel_role {
	TF_ACCEL_ROLE_CARD = 1, /* connects; owns the response ring */
	TF_ACCEL_ROLE_ACCEL = 2, /* listens; owns the input ring */
};

/*
 * HELLO: each side describes its region to the other once per connection.
 * rdma: the card's in the rdma_cm CONNECT private data, the accelerator's in
 * the ACCEPT private data (56 bytes fit both). shm: one message each way on
 * the unix socket, the region's memfd attached with SCM_RIGHTS.
 */
struct tf_accel_hello {
	uint32_t magic; /* TF_ACCEL_MAGIC */
	uint16_t version; /* TF_ACCEL_VERSION */
	uint8_t role; /* enum tf_accel_role of the sender */
	uint8_t reserved0; /* must be zero */
	uint32_t epoch; /* card: new value per connection; accel: echoes it */
	uint32_t ring_bytes; /* size of the ring in the sender's region */
	uint64_t region_addr; /* rdma: virtual address of the region; shm: 0 */
	uint32_t rkey; /* rdma: rkey of the region; shm: 0 */
	uint32_t region_bytes; /* TF_ACCEL_RING_OFF + ring_bytes */
	uint32_t max_inflight; /* accel: requests it holds at once (request credits); card: 0 */
	uint32_t max_record_bytes; /* largest record the sender accepts in its ring */
	uint8_t reserved[16]; /* must be zero */
};

/* REJECT reason (rdma: 1 byte of reject private data; shm: reply hello with magic 0). */
enum tf_accel_reject {
	TF_ACCEL_REJECT_BAD_HELLO = 1, /* magic, role, sizes or reserved wrong */
	TF_ACCEL_REJECT_VERSION = 2, /* version not spoken */
	TF_ACCEL_REJECT_FULL = 3, /* the accelerator has no room for another card */
};

/* ------------------------------------------------------------------ */
/* Control block and status (offsets 0 and 64 of each region)         */
/* ------------------------------------------------------------------ */

/*
 * The doorbell word, written only by the peer as one aligned 64-bit value:
 * low 32 bits = the peer's producer index on the ring in THIS region,
 * high 32 bits = the peer's consumer index on the ring in the OTHER region
 * (credit return).
 */
struct tf_accel_ctl {
	uint64_t db;
	uint8_t reserved[56]; /* must be zero */
};
#define TF_ACCEL_DB(prod, cons) ((uint64_t)(uint32_t)(prod) | ((uint64_t)(uint32_t)(cons) << 32))
#define TF_ACCEL_DB_PROD(db) ((uint32_t)(db))
#define TF_ACCEL_DB_CONS(db) ((uint32_t)((db) >> 32))

/* status flags */
#define TF_ACCEL_ST_HEALTHY 0x1u /* engine loaded and stepping */
#define TF_ACCEL_ST_DRAINING 0x2u /* shutting down: accepts no new requests */

struct tf_accel_model_ent {
	uint32_t model_id;
	char name[28]; /* NUL-padded; not necessarily NUL-terminated */
};

/*
 * Load and health, written by the accelerator into the card's region
 * (rdma: plain RDMA WRITE; shm: stores) as a seqlock: gen odd while being
 * written, gen_end == gen when complete. Advisory: the card reads a copy,
 * retries on a torn read, and never trusts it for memory safety.
 */
struct tf_accel_status {
	uint32_t gen; /* bumped before and after each update */
	uint32_t flags; /* TF_ACCEL_ST_* */
	uint32_t heartbeat_ms; /* accelerator's monotonic clock, ms (liveness) */
	uint32_t max_inflight; /* request credits (same as hello) */
	uint32_t active; /* requests accepted and not finished */
	uint32_t running; /* sequences in the engine's batch */
	uint32_t queued; /* waiting for a batch slot / KV blocks */
	uint32_t kv_blocks_used;
	uint32_t kv_blocks_total;
	uint32_t tokens_per_s; /* generated tokens per second, last second */
	uint64_t tokens_generated; /* since start */
	uint64_t requests_done; /* since start */
	uint32_t cost_per_hour_milli; /* operator-configured cost, milli-units per hour */
	uint32_t nmodels; /* entries used in models[] */
	struct tf_accel_model_ent models[TF_ACCEL_MAX_MODELS];
	char name[32]; /* accelerator id (--name), NUL-padded */
	uint32_t busy_ppm; /* share of the last second spent computing engine steps, ppm */
	uint8_t reserved[48]; /* must be zero */
	uint32_t gen_end; /* == gen when the copy is consistent */
};

/* ------------------------------------------------------------------ */
/* Records (both rings)                                               */
/* ------------------------------------------------------------------ */

enum tf_accel_rec_type {
	TF_ACCEL_REC_PAD = 1, /* either ring: skip to the ring's end */
	TF_ACCEL_REC_BATCH = 2, /* input ring: count requests */
	TF_ACCEL_REC_CANCEL = 3, /* input ring: count u64 handles to stop */
	TF_ACCEL_REC_EVENTS = 4, /* response ring: count events */
};

struct tf_accel_rec {
	uint16_t type; /* enum tf_accel_rec_type */
	uint16_t epoch; /* low 16 bits of the connection's epoch */
	uint32_t len; /* bytes incl. this header, multiple of 64, <= max_record_bytes */
	uint32_t seq; /* 1, 2, 3, ... per ring and connection (PAD records included) */
	uint16_t count; /* entries that follow; 0 for PAD */
	uint16_t flags; /* must be zero */
};

/* ---- input ring: BATCH ----------------------------------------------
 * struct tf_accel_rec, then count struct tf_accel_req back to back, then
 * the count prompts (prompt_bytes each) in the same order, byte-packed (no
 * alignment), then padding up to rec.len (contents undefined, ignored).
 * Headers first: the card sends them as one gather segment and each prompt
 * straight from its packet buffer.
 */
enum tf_accel_prompt_fmt {
	TF_ACCEL_PROMPT_TOKENS = 0, /* u32 LE token ids; prompt_bytes % 4 == 0 */
	TF_ACCEL_PROMPT_TEXT = 1, /* UTF-8 text: the accelerator tokenizes it */
};

struct tf_accel_sampling {
	uint32_t max_new_tokens; /* >= 1 */
	uint16_t temperature_milli; /* 0 = greedy; <= TF_ACCEL_MAX_TEMPERATURE */
	uint16_t top_p; /* 1e-4 units, 1 .. TF_ACCEL_MAX_TOP_P */
	uint8_t priority; /* 0 (lowest) .. TF_ACCEL_MAX_PRIORITY */
	uint8_t reserved[7]; /* must be zero */
	uint64_t seed; /* per-request RNG seed */
};

struct tf_accel_req {
	uint64_t handle; /* card's id, echoed in every event; unique in flight */
	uint32_t tenant; /* tenant id (for the accelerator's accounting) */
	uint32_t model; /* model id: one listed in the status block */
	uint32_t prompt_bytes; /* payload bytes after this header, 1..MAX_PROMPT_BYTES */
	uint8_t prompt_fmt; /* enum tf_accel_prompt_fmt */
	uint8_t reserved0; /* must be zero */
	uint16_t flags; /* must be zero */
	struct tf_accel_sampling sampling;
	uint8_t reserved[16]; /* must be zero */
};

/* ---- input ring: CANCEL ------------------------------------------------
 * struct tf_accel_rec, then count u64 handles. Each named request still ends
 * with exactly one END or ERROR event (CANCELLED); unknown handles are ignored.
 */

/* ---- response ring: EVENTS ----------------------------------------------
 * struct tf_accel_rec, then count events, each starting on 8 bytes:
 * struct tf_accel_evt + body, len a multiple of 8.
 */
enum tf_accel_evt_type {
	TF_ACCEL_EVT_TOKENS = 1, /* generated tokens, in order */
	TF_ACCEL_EVT_END = 2, /* the request finished; usage */
	TF_ACCEL_EVT_ERROR = 3, /* the request failed; no END follows */
};

struct tf_accel_evt {
	uint16_t type; /* enum tf_accel_evt_type */
	uint16_t flags; /* must be zero */
	uint32_t len; /* bytes incl. this header, multiple of 8 */
	uint64_t handle; /* the request's handle */
};

/*
 * TOKENS body: this, then ntok struct tf_accel_tok, then text_bytes of text
 * (each token's text in order), then zero padding to 8.
 * sum(tok[i].text_len) == text_bytes.
 */
struct tf_accel_evt_tokens {
	uint32_t index; /* completion-token index of tok[0]: 0, then contiguous */
	uint16_t ntok; /* 1 .. TF_ACCEL_MAX_CHUNK_TOKENS */
	uint16_t text_bytes; /* <= ntok * TF_ACCEL_MAX_TOKEN_TEXT */
};

struct tf_accel_tok {
	uint32_t id; /* token id */
	uint16_t text_len; /* bytes of this token's text, <= TF_ACCEL_MAX_TOKEN_TEXT */
	uint16_t reserved; /* must be zero */
};

enum tf_accel_finish {
	TF_ACCEL_FINISH_EOS = 1, /* the model ended the sequence */
	TF_ACCEL_FINISH_MAX_TOKENS = 2, /* max_new_tokens produced */
	TF_ACCEL_FINISH_LENGTH = 3, /* the model's context is full */
	TF_ACCEL_FINISH_CANCELLED = 4, /* the card cancelled it */
};

/* END body. */
struct tf_accel_usage {
	uint32_t prompt_tokens; /* prompt tokens processed */
	uint32_t completion_tokens; /* == tokens streamed (indexes 0..n-1) */
	uint16_t reason; /* enum tf_accel_finish */
	uint16_t reserved; /* must be zero */
	uint32_t queue_us; /* received -> first step that ran it */
	uint32_t first_token_us; /* received -> first token */
	uint32_t total_us; /* received -> finished */
};

enum tf_accel_err {
	TF_ACCEL_ERR_BAD_REQUEST = 1, /* a field of the request entry is invalid */
	TF_ACCEL_ERR_UNKNOWN_MODEL = 2, /* model id not served by this accelerator */
	TF_ACCEL_ERR_TOO_LARGE = 3, /* prompt (+ max_new_tokens) exceeds the context / pool */
	TF_ACCEL_ERR_BUSY = 4, /* over request credits or engine full (retryable) */
	TF_ACCEL_ERR_SHUTDOWN = 5, /* the agent is stopping (retryable) */
	TF_ACCEL_ERR_CANCELLED = 6, /* cancelled before it produced anything */
	TF_ACCEL_ERR_DUP_HANDLE = 7, /* handle already in flight */
	TF_ACCEL_ERR_INTERNAL = 8, /* engine failure */
	TF_ACCEL_ERR_CONN_LOST = 9, /* card side only, never on the ring: connection lost */
	TF_ACCEL_ERR_PROTOCOL = 10, /* card side only: the peer broke this spec */
};
#define TF_ACCEL_ERR_MAX TF_ACCEL_ERR_PROTOCOL

/* ERROR body: this, then msg_len bytes of text (not NUL-terminated), zero padding to 8. */
struct tf_accel_evt_error {
	uint16_t code; /* enum tf_accel_err */
	uint8_t retryable; /* 1: another accelerator may succeed */
	uint8_t reserved0; /* must be zero */
	uint16_t msg_len; /* <= TF_ACCEL_MAX_ERROR_MSG */
	uint16_t reserved; /* must be zero */
};

/* ------------------------------------------------------------------ */
/* Sizes and offsets                                                  */
/* ------------------------------------------------------------------ */

_Static_assert(sizeof(struct tf_accel_hello) == 56, "hello fits rdma_cm REQ private data");
_Static_assert(offsetof(struct tf_accel_hello, epoch) == 8, "hello.epoch");
_Static_assert(offsetof(struct tf_accel_hello, ring_bytes) == 12, "hello.ring_bytes");
_Static_assert(offsetof(struct tf_accel_hello, region_addr) == 16, "hello.region_addr");
_Static_assert(offsetof(struct tf_accel_hello, rkey) == 24, "hello.rkey");
_Static_assert(offsetof(struct tf_accel_hello, region_bytes) == 28, "hello.region_bytes");
_Static_assert(offsetof(struct tf_accel_hello, max_inflight) == 32, "hello.max_inflight");
_Static_assert(offsetof(struct tf_accel_hello, max_record_bytes) == 36, "hello.max_record");
_Static_assert(sizeof(struct tf_accel_ctl) == 64, "ctl size");
_Static_assert(sizeof(struct tf_accel_model_ent) == 32, "model entry size");
_Static_assert(offsetof(struct tf_accel_status, tokens_generated) == 40, "status.tokens");
_Static_assert(offsetof(struct tf_accel_status, models) == 64, "status.models");
_Static_assert(offsetof(struct tf_accel_status, name) == 320, "status.name");
_Static_assert(offsetof(struct tf_accel_status, busy_ppm) == 352, "status.busy_ppm");
_Static_assert(offsetof(struct tf_accel_status, gen_end) == 404, "status.gen_end");
_Static_assert(sizeof(struct tf_accel_status) == 408, "status size");
_Static_assert(TF_ACCEL_STATUS_OFF + sizeof(struct tf_accel_status) <= TF_ACCEL_RING_OFF,
	       "status fits before the ring");
_Static_assert(sizeof(struct tf_accel_rec) == 16, "rec size");
_Static_assert(offsetof(struct tf_accel_rec, seq) == 8, "rec.seq");
_Static_assert(offsetof(struct tf_accel_rec, count) == 12, "rec.count");
_Static_assert(sizeof(struct tf_accel_sampling) == 24, "sampling size");
_Static_assert(offsetof(struct tf_accel_sampling, seed) == 16, "sampling.seed");
_Static_assert(sizeof(struct tf_accel_req) == 64, "req size");
_Static_assert(offsetof(struct tf_accel_req, prompt_bytes) == 16, "req.prompt_bytes");
_Static_assert(offsetof(struct tf_accel_req, prompt_fmt) == 20, "req.prompt_fmt");
_Static_assert(offsetof(struct tf_accel_req, sampling) == 24, "req.sampling");
_Static_assert(sizeof(struct tf_accel_evt) == 16, "evt size");
_Static_assert(sizeof(struct tf_accel_evt_tokens) == 8, "tokens body size");
_Static_assert(sizeof(struct tf_accel_tok) == 8, "tok size");
_Static_assert(sizeof(struct tf_accel_usage) == 24, "usage size");
_Static_assert(sizeof(struct tf_accel_evt_error) == 8, "error body size");

#endif /* TOKFAB_ACCEL_RINGS_H */
