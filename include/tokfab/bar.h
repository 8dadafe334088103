/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card's BAR: register block, admin queue (host -> card commands and their
 * completions) and event queue (card -> host usage records and health events).
 *
 * Normative prose: hwdocs/registers.md and hwdocs/queues.md. This header is the
 * one C definition, shared by the card side (lib/card, tokfab-dp), the
 * userspace host driver (lib/card "shm" access path, tokfabd) and the kernel
 * module (it only uses <linux/types.h> types, so kmod/ can include it).
 *
 * Every multi-byte field is little-endian. Every "reserved" field is written
 * as zero and checked to be zero by the receiver. Layout is fixed by the
 * _Static_asserts at the end; queue offsets, depths and entry sizes are read
 * from the register block, never assumed.
 *
 * ABI history
 *   1.0  first version.
 *   1.1  host queues: hq_off, hq_count, hq_size, TF_FEAT_HOST_QUEUES
 *        (include/tokfab/hostq.h, hwdocs/kmod.md "Host queues");
 *        firmware update over the admin queue: FW_WRITE, FW_INFO,
 *        TF_FEAT_FW_UPDATE.
 *   1.2  usage aggregation: SET_USAGE_MODE, TF_EQ_USAGE_AGG events
 *        (struct tf_usage_agg), TF_FEAT_USAGE_AGG.
 */
#ifndef TOKFAB_BAR_H
#define TOKFAB_BAR_H

#include <linux/types.h>

#include "tokfab/usage.h"

/* ---------------------------------------------------------------- identity */

#define TF_BAR_MAGIC 0x42414654u /* bytes "TFAB" at offset 0 */
#define TF_ABI_MAJOR 1u /* incompatible changes: hosts refuse another major */
#define TF_ABI_MINOR 2u /* compatible additions (fields in reserved space) */
#define TF_ABI_VERSION(maj, min) (((maj) << 16) | (min))
#define TF_ABI_VERSION_MAJOR(v) ((v) >> 16)
#define TF_ABI_VERSION_MINOR(v) ((v)&0xffffu)

/* PCI-style ids the card reports (and the real card's PCI function uses). */
#define TF_PCI_VENDOR_ID 0x1de5u /* placeholder vendor id of the emulated card */
#define TF_PCI_DEVICE_ID 0x7f01u

/* fw_version register: major << 24 | minor << 16 | patch. */
#define TF_FW_VERSION(maj, min, pat) (((maj) << 24) | ((min) << 16) | (pat))

#define TF_BAR_REGS_SIZE 4096u
#define TF_NAME_LEN 32u /* tenant and model names, serial, firmware version string */
#define TF_ADDR_LEN 64u /* accelerator address */
#define TF_KEY_MIN 16u /* tenant MAC key length bounds, bytes */
#define TF_KEY_MAX 64u
#define TF_MAX_PRICES 16u /* per-model prices in one SET_TENANT */
#define TF_MAX_ACCEL_MODELS 16u

/* card_features / host_features bits. */
#define TF_FEAT_HEALTH_EVENTS (1ull << 0) /* the card posts TF_EQ_HEALTH events */
#define TF_FEAT_FW_ACTIVATE (1ull << 1) /* TF_AQ_FW_ACTIVATE is implemented */
#define TF_FEAT_IVSHMEM_DOORBELL (1ull << 2) /* card serves ivshmem doorbells/vectors */
#define TF_FEAT_HOST_QUEUES (1ull << 3) /* hq_* registers valid: host queue windows (1.1) */
#define TF_FEAT_FW_UPDATE (1ull << 4) /* FW_WRITE and FW_INFO are implemented (1.1) */
#define TF_FEAT_USAGE_AGG (1ull << 5) /* SET_USAGE_MODE and TF_EQ_USAGE_AGG events (1.2) */
#define TF_FEAT_KNOWN_MASK                                                        \
	(TF_FEAT_HEALTH_EVENTS | TF_FEAT_FW_ACTIVATE | TF_FEAT_IVSHMEM_DOORBELL | \
	 TF_FEAT_HOST_QUEUES | TF_FEAT_FW_UPDATE | TF_FEAT_USAGE_AGG)

/* status register bits (card-written). */
#define TF_STATUS_READY (1u << 0) /* admin queue enabled and being served */
#define TF_STATUS_FAILED (1u << 1) /* fatal error, see fail_reason; cleared by a reset */
#define TF_STATUS_STOPPING (1u << 2) /* orderly shutdown: heartbeat is about to stop */
#define TF_STATUS_DISABLED (1u << 3) /* saw ENABLE cleared, admin queue reset: host may enable */
#define TF_STATUS_KNOWN_MASK \
	(TF_STATUS_READY | TF_STATUS_FAILED | TF_STATUS_STOPPING | TF_STATUS_DISABLED)

/* fail_reason register values (valid while TF_STATUS_FAILED is set). */
enum tf_fail_reason {
	TF_FAIL_NONE = 0,
	TF_FAIL_AQ_INDEX = 1, /* host's aq_sq_tail or aq_cq_head out of range */
	TF_FAIL_FEATURES = 2, /* host_features has a bit the card does not offer */
	TF_FAIL_INTERNAL = 3, /* card internal error */
};

/* control register bits (host-written). */
#define TF_CONTROL_ENABLE (1u << 0) /* host wants the admin queue served */
#define TF_CONTROL_KNOWN_MASK TF_CONTROL_ENABLE

/*
 * The register block: the first TF_BAR_REGS_SIZE bytes of the BAR. Three
 * groups, each in its own cache lines so the two sides never write the same
 * line: identity/layout (card writes once, before magic), card-written live
 * registers, host-written live registers.
 */
struct tf_bar_regs {
	/* 0x000: identity and layout. The card writes magic last (release). */
	__le32 magic; /* TF_BAR_MAGIC; 0 while the card initialises */
	__le32 abi_version; /* TF_ABI_VERSION(major, minor) */
	__le32 bar_size; /* bytes of the whole BAR, a power of two */
	__le32 regs_size; /* TF_BAR_REGS_SIZE */
	__le64 card_features; /* TF_FEAT_* the card offers */
	__le64 epoch; /* random, != 0, fixed for the life of this BAR; see queues.md */
	__le16 vendor_id;
	__le16 device_id;
	__le32 fw_version; /* TF_FW_VERSION() of the running firmware */
	__le32 aq_depth; /* admin SQ and CQ entries, power of two, 2..1024 */
	__le32 eq_depth; /* event queue entries, power of two, 2..2^20 */
	__le32 aq_sqe_size; /* bytes per SQ entry (>= sizeof(struct tf_aq_sqe)) */
	__le32 aq_cqe_size; /* bytes per CQ entry (>= sizeof(struct tf_aq_cqe)) */
	__le32 eq_entry_size; /* bytes per event entry (>= sizeof(struct tf_eq_entry)) */
	__le32 hb_period_ms; /* the card bumps heartbeat at least this often */
	/* 0x040 */
	__le64 aq_sq_off; /* BAR offset of the admin SQ, 64-byte aligned */
	__le64 aq_cq_off; /* BAR offset of the admin CQ, 64-byte aligned */
	__le64 eq_off; /* BAR offset of the event queue, 64-byte aligned */
	__le32 max_tenants;
	__le32 max_models;
	__le32 max_accels;
	__le32 reserved_064;
	__le64 hq_off; /* 1.1: BAR offset of the host queue windows, 4 KiB aligned */
	__le32 hq_count; /* 1.1: windows, 0..TF_HQ_MAX (0 without TF_FEAT_HOST_QUEUES) */
	__le32 hq_size; /* 1.1: bytes per window, power of two (include/tokfab/hostq.h) */
	__le64 reserved_078;
	/* 0x080 */
	char serial[TF_NAME_LEN]; /* printable ASCII, NUL-terminated, NUL-padded */
	char fw_version_str[TF_NAME_LEN]; /* e.g. "1.0.0", same rules */
	/* 0x0c0 */
	__u8 reserved_0c0[64];

	/* 0x100: card-written live registers. */
	__le32 status; /* TF_STATUS_* */
	__le32 fail_reason; /* enum tf_fail_reason */
	__le64 heartbeat; /* +1 at least every hb_period_ms while the card runs */
	__le32 boot_count; /* +1 each time a card process attaches to this BAR */
	__le32 aq_sq_head; /* SQ entries consumed (free-running) */
	__le32 aq_cq_tail; /* CQ entries produced (free-running) */
	__le32 reserved_11c;
	__le64 eq_prod_seq; /* highest event sequence number posted (0 = none yet) */
	__le64 eq_freed_seq; /* highest acknowledgement the card has taken */
	__le64 eq_full_count; /* posts refused because the queue was full */
	__le32 bad_ack_count; /* eq_ack_seq writes the card ignored (out of range) */
	__le32 aq_error_count; /* commands completed with a status other than OK */
	/* 0x140 */
	__u8 reserved_140[64];

	/* 0x180: host-written live registers. */
	__le32 control; /* TF_CONTROL_* */
	__le32 reserved_184;
	__le64 host_features; /* TF_FEAT_* the host uses (subset of card_features) */
	__le32 aq_sq_tail; /* SQ entries submitted (free-running): the admin doorbell */
	__le32 aq_cq_head; /* CQ entries consumed (free-running) */
	__le64 eq_ack_seq; /* highest event sequence number committed by the host */
	__le64 host_heartbeat; /* informational: the host driver's liveness counter */
	__u8 reserved_1a8[24];
	/* 0x1c0 */
	__u8 reserved_1c0[TF_BAR_REGS_SIZE - 0x1c0];
};

/* ------------------------------------------------------------- admin queue */

#define TF_AQ_DEPTH_MIN 2u
#define TF_AQ_DEPTH_MAX 1024u
#define TF_AQ_ENTRY_SIZE 512u
#define TF_AQ_PAYLOAD_MAX 496u

/* Opcodes (tf_aq_sqe.opcode). Request and response payloads in brackets. */
enum tf_aq_opcode {
	TF_AQ_IDENTIFY = 0x01, /* [none] -> [tf_aq_identity] */
	TF_AQ_GET_HEALTH = 0x02, /* [tf_aq_get_health] -> [tf_aq_health] */
	TF_AQ_GET_STATS = 0x03, /* [tf_aq_get_stats] -> [tf_aq_card_stats | tf_aq_accel_stats] */
	TF_AQ_SET_TENANT = 0x10, /* [tf_aq_set_tenant] -> [tf_aq_tenant_info] */
	TF_AQ_DEL_TENANT = 0x11, /* [tf_aq_id] -> [none] */
	TF_AQ_TENANT_BALANCE = 0x12, /* [tf_aq_tenant_balance] -> [tf_aq_tenant_info] */
	TF_AQ_GET_TENANT = 0x13, /* [tf_aq_id] -> [tf_aq_tenant_info] */
	TF_AQ_SET_MODEL = 0x20, /* [tf_aq_set_model] -> [none] */
	TF_AQ_DEL_MODEL = 0x21, /* [tf_aq_id] -> [none] */
	TF_AQ_SET_ACCEL = 0x30, /* [tf_aq_set_accel] -> [none] */
	TF_AQ_DEL_ACCEL = 0x31, /* [tf_aq_id] -> [none] */
	TF_AQ_SET_BATCHING = 0x40, /* [tf_aq_set_batching] -> [none] */
	TF_AQ_SET_USAGE_MODE = 0x41, /* [tf_aq_set_usage_mode] -> [none] (1.2) */
	TF_AQ_FW_ACTIVATE = 0x50, /* [tf_aq_fw_activate] -> [tf_aq_fw_status] */
	TF_AQ_FW_WRITE = 0x51, /* [tf_aq_fw_write] -> [tf_aq_fw_write_status] (1.1) */
	TF_AQ_FW_INFO = 0x52, /* [none] -> [tf_aq_fw_info] (1.1) */
};

/* Completion status (tf_aq_cqe.status); detail says more, per status. */
enum tf_aq_status {
	TF_AQ_S_OK = 0,
	TF_AQ_S_BAD_OPCODE = 1, /* unknown opcode; detail = opcode */
	TF_AQ_S_BAD_FIELD = 2, /* detail = byte offset in the SQE of the first bad field */
	TF_AQ_S_NOT_FOUND = 3, /* detail = the id that does not exist */
	TF_AQ_S_NO_SPACE = 4, /* table full; detail = its capacity */
	TF_AQ_S_BUSY = 5, /* try again later */
	TF_AQ_S_UNSUPPORTED = 6, /* valid but not implemented by this card */
	TF_AQ_S_CONFLICT = 7, /* refers to an unknown object or one still in use; detail = id */
	TF_AQ_S_INTERNAL = 8, /* card internal error */
	/* TF_AQ_FW_ACTIVATE only: */
	TF_AQ_S_FW_NO_IMAGE = 0x100, /* the slot holds no image */
	TF_AQ_S_FW_BAD_SIGNATURE = 0x101, /* the image's signature does not verify */
	TF_AQ_S_FW_BAD_DIGEST = 0x102, /* image SHA-256 differs from the command's */
	TF_AQ_S_FW_ROLLBACK = 0x103, /* image older than the anti-rollback floor */
	TF_AQ_S_FW_BUSY = 0x104, /* an update or activation is in progress */
};

/* Submission queue entry. */
struct tf_aq_sqe {
	__le16 opcode; /* enum tf_aq_opcode */
	__le16 flags; /* reserved, must be 0 */
	__le32 cmd_id; /* host's tag, echoed in the completion */
	__le32 len; /* payload bytes: exactly the opcode's request size */
	__le32 reserved; /* must be 0 */
	__u8 payload[TF_AQ_PAYLOAD_MAX]; /* bytes past len must be 0 */
};

/* Completion queue entry. */
struct tf_aq_cqe {
	__le32 cmd_id; /* the SQE's cmd_id */
	__le16 opcode; /* the SQE's opcode */
	__le16 status; /* enum tf_aq_status */
	__le32 detail; /* see enum tf_aq_status */
	__le32 len; /* response payload bytes: the opcode's response size when OK, else 0 */
	__u8 payload[TF_AQ_PAYLOAD_MAX]; /* bytes past len are 0 */
};

/* TF_AQ_IDENTIFY response. */
struct tf_aq_identity {
	__le16 vendor_id;
	__le16 device_id;
	__le32 abi_version;
	__le32 fw_version;
	__le32 boot_count;
	__le64 card_features;
	__le64 epoch;
	__le32 max_tenants;
	__le32 max_models;
	__le32 max_accels;
	__le32 n_ports;
	char serial[TF_NAME_LEN];
	char fw_version_str[TF_NAME_LEN];
};

/* DEL_TENANT, GET_TENANT, DEL_MODEL, DEL_ACCEL request. */
struct tf_aq_id {
	__le32 id; /* != 0 */
	__le32 reserved; /* must be 0 */
};

/* SET_TENANT flags. */
#define TF_TENANT_F_SET_BALANCE \
	(1u << 0) /* set balance := balance_micro (else keep; new: budget) */
#define TF_TENANT_F_UNLIMITED (1u << 1) /* no budget enforcement (rates still apply) */
#define TF_TENANT_F_DISABLED (1u << 2) /* refuse every request of this tenant */
#define TF_TENANT_F_KNOWN_MASK \
	(TF_TENANT_F_SET_BALANCE | TF_TENANT_F_UNLIMITED | TF_TENANT_F_DISABLED)
/*
 * SET_TENANT mac_algs: the wire MAC algorithms (protocol.md 4.1) the tenant may
 * sign with, bit (1 << mac_alg). 0 = HMAC-SHA256 only (the default).
 */
#define TF_TENANT_MAC_HMAC_SHA256 (1u << 1) /* mac_alg 1 */
#define TF_TENANT_MAC_SIPHASH (1u << 2) /* mac_alg 2: SipHash-2-4-128 */
#define TF_TENANT_MAC_KNOWN_MASK (TF_TENANT_MAC_HMAC_SHA256 | TF_TENANT_MAC_SIPHASH)
#define TF_PRIORITY_MAX 7u
#define TF_MONEY_MAX (1ull << 62) /* bound of every micro-unit amount */
#define TF_PRICE_MAX (1ull << 40) /* bound of price_per_1k_micro */

struct tf_aq_price {
	__le32 model_id; /* != 0, unique within the command */
	__le32 reserved; /* must be 0 */
	__le64 price_per_1k_micro; /* charge per 1000 tokens (prompt + completion), micro-units */
};

/*
 * TF_AQ_SET_TENANT: create or replace a tenant. Budgets and balances are money:
 * micro-units of the operator's currency, charged per request at the tenant's
 * price for the model (hwdocs/usage-record.md, "Cost"). Rates: 0 = unlimited;
 * a burst of 0 means one second's worth of the rate. Models without a price
 * entry are charged 0. Two keys may be live during a key rotation.
 */
struct tf_aq_set_tenant {
	__le32 tenant_id; /* != 0 */
	__le32 flags; /* TF_TENANT_F_* */
	char name[TF_NAME_LEN]; /* 1..31 printable ASCII, NUL-padded */
	__le16 key_len; /* TF_KEY_MIN..TF_KEY_MAX */
	__u8 key_id; /* wire header key_id this key answers to */
	__u8 prev_key_id; /* key_id of prev_key; != key_id when prev_key_len != 0 */
	__le16 prev_key_len; /* 0 (none) or TF_KEY_MIN..TF_KEY_MAX */
	__le16 mac_algs; /* TF_TENANT_MAC_* the tenant may sign with; 0 = HMAC-SHA256 only */
	__u8 key[TF_KEY_MAX]; /* MAC key; bytes past key_len must be 0 */
	__u8 prev_key[TF_KEY_MAX]; /* previous key, still accepted; bytes past prev_key_len 0 */
	__le64 budget_micro; /* per period; 0 with TF_TENANT_F_UNLIMITED; <= TF_MONEY_MAX */
	__le64 balance_micro; /* with TF_TENANT_F_SET_BALANCE: <= TF_MONEY_MAX, else 0 */
	__le32 rate_rps; /* requests per second, 0 = unlimited */
	__le32 burst_requests; /* bucket size, requests; 0 when rate_rps is 0 */
	__le32 rate_tps; /* tokens per second, 0 = unlimited */
	__le32 burst_tokens; /* bucket size, tokens; 0 when rate_tps is 0 */
	__le32 priority; /* highest request priority allowed, 0..TF_PRIORITY_MAX */
	__le32 max_inflight; /* requests in flight, 0 = unlimited, <= 2^20 */
	__le32 n_prices; /* 0..TF_MAX_PRICES */
	__le32 reserved2; /* must be 0 */
	struct tf_aq_price prices[TF_MAX_PRICES]; /* entries past n_prices must be 0 */
};

/* TENANT_BALANCE operations. */
enum tf_balance_op {
	TF_BALANCE_ADD = 1, /* top-up: balance += amount */
	TF_BALANCE_SET = 2, /* balance := amount */
	TF_BALANCE_RESET_PERIOD = 3, /* new period: balance := budget; used := 0; amount 0 */
};

struct tf_aq_tenant_balance {
	__le32 tenant_id; /* != 0 */
	__le32 op; /* enum tf_balance_op */
	__le64 amount; /* micro-units, <= TF_MONEY_MAX; 0 for RESET_PERIOD */
};

/* SET_TENANT, TENANT_BALANCE and GET_TENANT response: the card's view. */
struct tf_aq_tenant_info {
	__le32 tenant_id;
	__le32 flags; /* TF_TENANT_F_* as stored (SET_BALANCE never) */
	__le64 budget_micro;
	__le64 balance_micro; /* signed (two's complement): charges so far are out of it */
	__le64 reserved_micro; /* held by requests in flight; admission grants balance - reserved */
	__le64 used_micro; /* charged this period */
	__le64 requests; /* admitted since the card booted */
	__le64 refused; /* refused since the card booted */
	__le32 active_requests;
	__le32 reserved0;
};

/* TF_AQ_SET_MODEL. */
struct tf_aq_set_model {
	__le32 model_id; /* != 0 */
	__le32 flags; /* reserved, must be 0 */
	char name[TF_NAME_LEN]; /* 1..31 printable ASCII, NUL-padded */
	__le32 max_prompt_tokens; /* 1..2^20 */
	__le32 max_new_tokens; /* 1..2^20 */
	__le64 reserved; /* must be 0 */
};

enum tf_transport {
	TF_TRANSPORT_SHM = 1, /* locally attached accelerator, shared-memory rings */
	TF_TRANSPORT_RDMA = 2, /* RDMA RC queue pairs */
};

/* TF_AQ_SET_ACCEL: create or replace an accelerator pool entry. */
struct tf_aq_set_accel {
	__le32 accel_id; /* != 0 */
	__le16 transport; /* enum tf_transport */
	__le16 flags; /* reserved, must be 0 */
	char address[TF_ADDR_LEN]; /* 1..63 printable ASCII, NUL-padded: "host:port" or a path */
	__le64 cost_per_hour_micro; /* operator's cost of this accelerator, micro-units/hour */
	__le32 weight; /* routing weight 1..1000 */
	__le32 max_outstanding; /* requests in flight, 1..65536 */
	__le32 n_models; /* 1..TF_MAX_ACCEL_MODELS */
	__le32 reserved; /* must be 0 */
	__le32 models[TF_MAX_ACCEL_MODELS]; /* != 0, unique; entries past n_models 0 */
};

/* TF_AQ_SET_BATCHING: card-wide batching parameters (Triton-like). */
struct tf_aq_set_batching {
	__le32 max_batch; /* 1..1024 requests */
	__le32 max_batch_bytes; /* 1..16 MiB */
	__le32 max_queue_delay_us; /* 0..1 000 000 */
	__le32 reserved; /* must be 0 */
};

/*
 * TF_AQ_SET_USAGE_MODE (1.2): how the card reports finished requests on the
 * event queue. REQUEST (the default after every card start): one
 * TF_EQ_USAGE record per request. AGGREGATE: one TF_EQ_USAGE_AGG event per
 * (tenant, model, accelerator, outcome) and worker per window of
 * aggregate_ms (card CLOCK_REALTIME multiples of it); requests of the host
 * queues keep their per-request records. The card posts what it has summed
 * so far before the command completes its switch (no request is lost or
 * counted twice across a change). An unknown mode: BAD_FIELD, detail 16.
 */
enum tf_usage_mode {
	TF_USAGE_MODE_REQUEST = 1,
	TF_USAGE_MODE_AGGREGATE = 2,
};
#define TF_USAGE_AGG_MS_MAX 60000u /* aggregate_ms divides it: windows never straddle a minute */

struct tf_aq_set_usage_mode {
	__le32 mode; /* enum tf_usage_mode */
	__le32 aggregate_ms; /* AGGREGATE: 1..60000 and a divisor of 60000; REQUEST: 0 */
	__le64 reserved; /* must be 0 */
};

/* TF_AQ_GET_STATS request. */
enum tf_stats_scope {
	TF_STATS_CARD = 1, /* id must be 0 -> struct tf_aq_card_stats */
	TF_STATS_ACCEL = 2, /* id = accel id -> struct tf_aq_accel_stats */
};

struct tf_aq_get_stats {
	__le32 scope; /* enum tf_stats_scope */
	__le32 id;
};

/* Counters since the card process attached (uptime_ns and eq_* filled by lib/card). */
struct tf_aq_card_stats {
	__le64 uptime_ns;
	__le64 rx_packets;
	__le64 rx_requests;
	__le64 requests_ok;
	__le64 requests_refused;
	__le64 requests_failed;
	__le64 prompt_tokens;
	__le64 completion_tokens;
	__le64 drops_malformed;
	__le64 drops_auth;
	__le64 drops_replay;
	__le64 active_requests; /* gauge */
	__le64 queued_requests; /* gauge: waiting in batches */
	__le64 eq_posted; /* events posted */
	__le64 eq_acked; /* events freed by acknowledgement */
	__le64 eq_full; /* posts refused for lack of room */
};

struct tf_aq_accel_stats {
	__le32 accel_id;
	__le16 state; /* enum tf_health_state */
	__le16 reserved; /* 0 */
	__le64 requests;
	__le64 tokens; /* completion tokens generated */
	__le64 batches;
	__le32 outstanding; /* requests in flight now */
	__le32 busy_ppm; /* utilisation over the last second, parts per million */
	__le64 errors;
};

/* TF_AQ_GET_HEALTH: a page of the card's component table. */
struct tf_aq_get_health {
	__le32 first; /* index of the first entry wanted */
	__le32 reserved; /* must be 0 */
};

struct tf_aq_health_entry {
	__le16 component; /* enum tf_health_component */
	__le16 state; /* enum tf_health_state */
	__le32 component_id;
	__le32 reason; /* enum tf_health_reason */
	__le32 reserved; /* 0 */
	__le64 since_ns; /* card CLOCK_REALTIME of the last change */
};

#define TF_AQ_HEALTH_MAX 20u
struct tf_aq_health {
	__le32 total; /* entries in the card's table */
	__le32 count; /* entries in this page, 0..TF_AQ_HEALTH_MAX */
	struct tf_aq_health_entry e[TF_AQ_HEALTH_MAX];
};

/* TF_AQ_FW_ACTIVATE. */
#define TF_FW_ACT_F_NOW (1u << 0) /* reset into the image now (else at next boot) */
#define TF_FW_ACT_F_KNOWN_MASK TF_FW_ACT_F_NOW

struct tf_aq_fw_activate {
	__le32 slot; /* 0 = A, 1 = B */
	__le32 flags; /* TF_FW_ACT_F_* */
	__le32 version; /* expected image version (TF_FW_VERSION), 0 = any */
	__le32 reserved; /* must be 0 */
	__u8 sha256[32]; /* expected image digest; all zero = do not check */
};

struct tf_aq_fw_status {
	__le32 running_slot;
	__le32 next_slot; /* slot the next boot will use */
	__le32 running_version;
	__le32 next_version;
};

/*
 * TF_AQ_FW_WRITE (1.1): carries a signed image to the card's flash, in order,
 * TF_FW_WRITE_CHUNK bytes at a time. offset 0 starts an image (a partial one
 * is dropped); each next chunk starts where the card's `received` is. With
 * FINAL (offset + len == total_len) the card verifies the whole image and
 * writes it to the inactive slot (ACTIVATE: and boots it next).
 */
#define TF_FW_WRITE_CHUNK 480u
#define TF_FW_WRITE_F_FINAL (1u << 0)
#define TF_FW_WRITE_F_ACTIVATE (1u << 1) /* with FINAL only */
#define TF_FW_WRITE_F_KNOWN_MASK (TF_FW_WRITE_F_FINAL | TF_FW_WRITE_F_ACTIVATE)
#define TF_FW_NO_SLOT 0xffffffffu

struct tf_aq_fw_write {
	__le32 offset; /* of data in the image */
	__le32 total_len; /* the image's bytes, the same in every chunk, >= 1 */
	__le16 len; /* 1..TF_FW_WRITE_CHUNK, offset + len <= total_len */
	__le16 flags; /* TF_FW_WRITE_F_*; FINAL iff offset + len == total_len */
	__le32 reserved; /* must be 0 */
	__u8 data[TF_FW_WRITE_CHUNK]; /* bytes past len must be 0 */
};

struct tf_aq_fw_write_status {
	__le32 received; /* image bytes the card holds */
	__le32 slot; /* FINAL: the slot written (0 = A, 1 = B); else TF_FW_NO_SLOT */
	__le32 version; /* FINAL: the image's TF_FW_VERSION; else 0 */
	__le32 reserved; /* 0 */
};

/* TF_AQ_FW_INFO (1.1): what the card's flash holds. Versions: TF_FW_VERSION, 0 = none. */
struct tf_aq_fw_info {
	__le32 running_version; /* = the fw_version register */
	__le32 next_slot; /* slot the next boot starts (0 = A, 1 = B), TF_FW_NO_SLOT: none */
	__le32 next_version; /* its image's version */
	__le32 active_slot; /* last confirmed slot, TF_FW_NO_SLOT: none */
	__le32 slot_version[2]; /* image version in slot A and B, 0 = empty or unreadable */
	__le32 slot_state[2]; /* slot states of hwdocs/flash-layout.md */
};

/* ------------------------------------------------------------- event queue */

#define TF_EQ_DEPTH_MIN 2u
#define TF_EQ_DEPTH_MAX (1u << 20)
#define TF_EQ_ENTRY_SIZE 128u
#define TF_EQ_BODY_MAX 112u

enum tf_eq_type {
	TF_EQ_USAGE = 1, /* body: struct tf_usage_record */
	TF_EQ_HEALTH = 2, /* body: struct tf_health_event */
	TF_EQ_USAGE_AGG = 3, /* body: struct tf_usage_agg (1.2, aggregate mode) */
};

/* Event entry for sequence number seq lives at slot seq & (eq_depth - 1). */
struct tf_eq_entry {
	__le64 seq; /* >= 1, consecutive */
	__le16 type; /* enum tf_eq_type */
	__le16 len; /* body bytes: sizeof the type's body */
	__le32 reserved; /* must be 0 */
	union {
		struct tf_usage_record usage;
		struct tf_health_event health;
		struct tf_usage_agg agg;
		__u8 raw[TF_EQ_BODY_MAX]; /* bytes past len are 0 */
	} body;
};

/* ------------------------------------------------------------ layout checks */

#define TF_BAR_OFF(type, field) __builtin_offsetof(struct type, field)
_Static_assert(sizeof(struct tf_bar_regs) == TF_BAR_REGS_SIZE, "register block is 4 KiB");
_Static_assert(TF_BAR_OFF(tf_bar_regs, abi_version) == 0x004, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, card_features) == 0x010, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, epoch) == 0x018, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, vendor_id) == 0x020, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, aq_depth) == 0x028, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, hb_period_ms) == 0x03c, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, aq_sq_off) == 0x040, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, eq_off) == 0x050, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, max_tenants) == 0x058, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, hq_off) == 0x068, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, hq_size) == 0x074, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, serial) == 0x080, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, fw_version_str) == 0x0a0, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, status) == 0x100, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, heartbeat) == 0x108, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, boot_count) == 0x110, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, aq_sq_head) == 0x114, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, aq_cq_tail) == 0x118, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, eq_prod_seq) == 0x120, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, eq_freed_seq) == 0x128, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, eq_full_count) == 0x130, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, bad_ack_count) == 0x138, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, control) == 0x180, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, host_features) == 0x188, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, aq_sq_tail) == 0x190, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, aq_cq_head) == 0x194, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, eq_ack_seq) == 0x198, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, host_heartbeat) == 0x1a0, "regs");
_Static_assert(TF_BAR_OFF(tf_bar_regs, reserved_1c0) == 0x1c0, "regs");

_Static_assert(sizeof(struct tf_aq_sqe) == TF_AQ_ENTRY_SIZE, "SQE is 512 bytes");
_Static_assert(sizeof(struct tf_aq_cqe) == TF_AQ_ENTRY_SIZE, "CQE is 512 bytes");
_Static_assert(TF_BAR_OFF(tf_aq_sqe, payload) == 16, "sqe");
_Static_assert(TF_BAR_OFF(tf_aq_cqe, payload) == 16, "cqe");
_Static_assert(sizeof(struct tf_aq_identity) == 112, "identity");
_Static_assert(sizeof(struct tf_aq_id) == 8, "id");
_Static_assert(sizeof(struct tf_aq_price) == 16, "price");
_Static_assert(sizeof(struct tf_aq_set_tenant) == 480, "set tenant");
_Static_assert(TF_BAR_OFF(tf_aq_set_tenant, key_len) == 40, "set tenant");
_Static_assert(TF_BAR_OFF(tf_aq_set_tenant, prev_key_len) == 44, "set tenant");
_Static_assert(TF_BAR_OFF(tf_aq_set_tenant, key) == 48, "set tenant");
_Static_assert(TF_BAR_OFF(tf_aq_set_tenant, prev_key) == 112, "set tenant");
_Static_assert(TF_BAR_OFF(tf_aq_set_tenant, budget_micro) == 176, "set tenant");
_Static_assert(TF_BAR_OFF(tf_aq_set_tenant, rate_rps) == 192, "set tenant");
_Static_assert(TF_BAR_OFF(tf_aq_set_tenant, max_inflight) == 212, "set tenant");
_Static_assert(TF_BAR_OFF(tf_aq_set_tenant, prices) == 224, "set tenant");
_Static_assert(sizeof(struct tf_aq_tenant_balance) == 16, "balance");
_Static_assert(sizeof(struct tf_aq_tenant_info) == 64, "tenant info");
_Static_assert(sizeof(struct tf_aq_set_model) == 56, "set model");
_Static_assert(sizeof(struct tf_aq_set_accel) == 160, "set accel");
_Static_assert(TF_BAR_OFF(tf_aq_set_accel, cost_per_hour_micro) == 72, "set accel");
_Static_assert(TF_BAR_OFF(tf_aq_set_accel, models) == 96, "set accel");
_Static_assert(sizeof(struct tf_aq_set_batching) == 16, "batching");
_Static_assert(sizeof(struct tf_aq_set_usage_mode) == 16, "usage mode");
_Static_assert(sizeof(struct tf_aq_get_stats) == 8, "get stats");
_Static_assert(sizeof(struct tf_aq_card_stats) == 128, "card stats");
_Static_assert(sizeof(struct tf_aq_accel_stats) == 48, "accel stats");
_Static_assert(sizeof(struct tf_aq_get_health) == 8, "get health");
_Static_assert(sizeof(struct tf_aq_health_entry) == 24, "health entry");
_Static_assert(sizeof(struct tf_aq_health) == 488, "health page");
_Static_assert(sizeof(struct tf_aq_health) <= TF_AQ_PAYLOAD_MAX, "health page fits");
_Static_assert(sizeof(struct tf_aq_set_tenant) <= TF_AQ_PAYLOAD_MAX, "tenant fits");
_Static_assert(sizeof(struct tf_aq_fw_activate) == 48, "fw activate");
_Static_assert(sizeof(struct tf_aq_fw_status) == 16, "fw status");
_Static_assert(sizeof(struct tf_aq_fw_write) == TF_AQ_PAYLOAD_MAX, "fw write");
_Static_assert(TF_BAR_OFF(tf_aq_fw_write, data) == 16, "fw write");
_Static_assert(sizeof(struct tf_aq_fw_write_status) == 16, "fw write status");
_Static_assert(sizeof(struct tf_aq_fw_info) == 32, "fw info");
_Static_assert(sizeof(struct tf_eq_entry) == TF_EQ_ENTRY_SIZE, "event entry is 128 bytes");
_Static_assert(TF_BAR_OFF(tf_eq_entry, body) == 16, "event body");

#endif /* TOKFAB_BAR_H */
