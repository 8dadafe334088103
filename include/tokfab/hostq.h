/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host queues: per-process submission/completion rings in the card's BAR
 * through which host-local programs submit inference requests without the
 * network (io_uring-like; NVMe calls such queues in device memory a CMB).
 * Normative: hwdocs/kmod.md, "Host queues". Shared by the card side
 * (lib/card), the host driver (kmod/) and applications (through mmap of
 * /dev/tokfabN, include/uapi/tokfab.h).
 *
 * The card offers hq_count windows of hq_size bytes at hq_off in its BAR
 * (registers.md, TF_FEAT_HOST_QUEUES). A window is a control page, written
 * only by the host driver and the card and never mapped into applications,
 * then the ring area, mapped into the one process that owns the queue:
 *
 *   window + 0                     struct tf_hq_ctl       (driver <-> card)
 *   window + TF_HQ_CTL_SIZE        struct tf_hq_ring      (application <-> card)
 *     ring + TF_HQ_SQ_OFF          sq_entries x struct tf_hq_sqe
 *     ring + TF_HQ_SQ_OFF + sq_entries * TF_HQ_SQE_SIZE
 *                                  cq_entries x struct tf_hq_cqe
 *
 * Indexes are free-running 32-bit counters; entry i lives at slot i & (n - 1).
 * The card trusts nothing in the ring area: it copies each SQE before
 * checking it, and checks every index the application writes.
 */
#ifndef TOKFAB_HOSTQ_H
#define TOKFAB_HOSTQ_H

#include <linux/types.h>

#define TF_HQ_MAX 64u /* windows a card may offer */
#define TF_HQ_SIZE_MIN 16384u /* window bytes: power of two, min .. max */
#define TF_HQ_SIZE_MAX (1u << 20)
#define TF_HQ_CTL_SIZE 4096u /* control page at the start of each window */
#define TF_HQ_SQ_OFF 256u /* SQ offset within the ring area */
#define TF_HQ_SQE_SIZE 512u
#define TF_HQ_CQE_SIZE 64u
#define TF_HQ_PROMPT_MAX 120u /* prompt tokens carried in one SQE */
#define TF_HQ_NEW_TOKENS_MAX 4096u /* max_new_tokens bound */
#define TF_HQ_CQE_TOKENS 12u /* tokens per TOKENS completion */

/* tf_hq_ctl.state: written by the host driver. */
enum tf_hq_state {
	TF_HQ_FREE = 0, /* no owner: the card does not touch the ring area */
	TF_HQ_ACTIVE = 1, /* owned: the card serves the rings with ctl's parameters */
};

/* tf_hq_ctl.card_state: written by the card. */
enum tf_hq_card_state {
	TF_HQ_CARD_IDLE = 0, /* not serving (free, or not taken yet) */
	TF_HQ_CARD_SERVING = 1, /* serving this activation (card_gen == gen) */
	TF_HQ_CARD_BROKEN = 2, /* stopped: the application broke the ring protocol */
	TF_HQ_CARD_REFUSED = 3, /* the activation's parameters were refused */
};

/* tf_hq_ctl.card_reason when BROKEN or REFUSED. */
enum tf_hq_reason {
	TF_HQ_R_NONE = 0,
	TF_HQ_R_SQ_INDEX = 1, /* sq_tail - sq_head > sq_entries */
	TF_HQ_R_CQ_INDEX = 2, /* cq_tail - cq_head > cq_entries */
	TF_HQ_R_GEOMETRY = 3, /* entries not powers of two or the rings do not fit */
	TF_HQ_R_TENANT = 4, /* tenant_id 0 or unknown to the card */
};

/* The control page's defined part (the rest of the page is reserved, 0). */
struct tf_hq_ctl {
	/* 0x00: host driver writes; gen last (release): the card acts when gen moves. */
	__le32 state; /* enum tf_hq_state */
	__le32 gen; /* +1 at each activation and each release */
	__le32 tenant_id; /* every request of this queue is the tenant's (!= 0) */
	__le32 sq_entries; /* power of two, 1..; rings fit the window */
	__le32 cq_entries; /* power of two, >= sq_entries */
	__le32 flags; /* 0 */
	__le32 reserved0[10];
	/* 0x40: card writes. */
	__le32 card_gen; /* the gen the card has acted on */
	__le32 card_state; /* enum tf_hq_card_state for card_gen */
	__le32 card_reason; /* enum tf_hq_reason */
	__le32 reserved1;
	__le64 submitted; /* requests taken in this activation */
	__le64 completed; /* requests completed (DONE or ERROR) in this activation */
	__u8 reserved2[32];
};

/* The ring area's header. */
struct tf_hq_ring {
	/* 0x00: application writes. */
	__le32 sq_tail; /* entries submitted */
	__le32 cq_head; /* entries consumed */
	__u8 pad0[56];
	/* 0x40: card writes. */
	__le32 sq_head; /* entries the card took (their slots are free again) */
	__le32 cq_tail; /* entries the card produced */
	__u8 pad1[56];
	__u8 reserved[128];
};

/* One request. */
struct tf_hq_sqe {
	__le64 user_data; /* echoed in each of its completions */
	__le32 model_id; /* != 0 */
	__le16 n_prompt; /* 1..TF_HQ_PROMPT_MAX */
	__le16 max_new_tokens; /* 1..TF_HQ_NEW_TOKENS_MAX */
	__le32 flags; /* 0 */
	__le32 reserved; /* 0 */
	__le32 prompt[TF_HQ_PROMPT_MAX]; /* token ids; entries past n_prompt 0 */
	__u8 pad[8]; /* 0 */
};

enum tf_hq_cqe_type {
	TF_HQ_TOKENS = 1, /* count generated tokens, in order */
	TF_HQ_DONE = 2, /* the request ended; status = enum tf_usage_outcome; usage */
	TF_HQ_ERROR = 3, /* refused before it ran; status = enum tf_hq_error */
};

enum tf_hq_error {
	TF_HQ_E_BAD_SQE = 1, /* a field broke a rule (detail: byte offset in the SQE) */
	TF_HQ_E_MODEL = 2, /* the card does not serve model_id */
	TF_HQ_E_QUOTA = 3, /* the tenant's budget is exhausted */
	TF_HQ_E_BUSY = 4, /* no capacity now; retry */
	TF_HQ_E_TOO_LARGE = 5, /* the response cannot fit the completion queue */
	TF_HQ_E_TENANT = 6, /* the queue's tenant is unknown to the card */
	TF_HQ_E_MAX = TF_HQ_E_TENANT,
};

/* One completion. A request gets zero or more TOKENS, then one DONE or ERROR. */
struct tf_hq_cqe {
	__le64 user_data;
	__le16 type; /* enum tf_hq_cqe_type */
	__le16 count; /* TOKENS: 1..TF_HQ_CQE_TOKENS; else 0 */
	__le32 status; /* DONE: enum tf_usage_outcome; ERROR: enum tf_hq_error */
	union {
		__le32 tokens[TF_HQ_CQE_TOKENS]; /* TOKENS; entries past count 0 */
		struct {
			__le32 prompt_tokens;
			__le32 completion_tokens;
			__le64 cost_micro; /* what the tenant is charged (usage-record.md) */
			__le64 event_seq; /* sequence number of its usage record, 0 if none */
			__le32 detail; /* ERROR: more about status */
			__u8 reserved[20];
		} done;
	} u;
};

_Static_assert(sizeof(struct tf_hq_ctl) == 128, "hq ctl");
_Static_assert(__builtin_offsetof(struct tf_hq_ctl, card_gen) == 64, "hq ctl");
_Static_assert(sizeof(struct tf_hq_ring) == TF_HQ_SQ_OFF, "hq ring header");
_Static_assert(__builtin_offsetof(struct tf_hq_ring, sq_head) == 64, "hq ring header");
_Static_assert(sizeof(struct tf_hq_sqe) == TF_HQ_SQE_SIZE, "hq sqe");
_Static_assert(__builtin_offsetof(struct tf_hq_sqe, prompt) == 24, "hq sqe");
_Static_assert(sizeof(struct tf_hq_cqe) == TF_HQ_CQE_SIZE, "hq cqe");
_Static_assert(__builtin_offsetof(struct tf_hq_cqe, u) == 16, "hq cqe");

/* Bytes of the ring area that sq and cq entries need. */
#define TF_HQ_RING_BYTES(sq, cq) \
	(TF_HQ_SQ_OFF + (__u64)(sq)*TF_HQ_SQE_SIZE + (__u64)(cq)*TF_HQ_CQE_SIZE)

#endif /* TOKFAB_HOSTQ_H */
