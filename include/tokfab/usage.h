/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The usage record and the health event: the two bodies the card posts on its
 * event queue (hwdocs/usage-record.md is normative; hwdocs/queues.md says how
 * they travel). Little-endian, fixed width, explicit padding, reserved fields
 * zero. Usable from userspace and from the kernel (only <linux/types.h> types).
 */
#ifndef TOKFAB_USAGE_H
#define TOKFAB_USAGE_H

#include <linux/types.h>

/* How a request ended (tf_usage_record.outcome). */
enum tf_usage_outcome {
	TF_USAGE_OK = 0, /* finished normally (stop token or max_new_tokens) */
	TF_USAGE_CUT_OFF = 1, /* tenant's balance ran dry mid-stream; partial output */
	TF_USAGE_CANCELLED = 2, /* client cancelled; tokens up to the cancel are counted */
	TF_USAGE_ACCEL_FAILED = 3, /* the accelerator failed; tokens delivered are counted */
	TF_USAGE_TIMEOUT = 4, /* the request timed out on the card */
	TF_USAGE_REFUSED = 5, /* refused at admission (quota, rate, busy); zero tokens */
	TF_USAGE_INTERNAL = 6, /* card-internal error */
	TF_USAGE_OUTCOME_MAX = TF_USAGE_INTERNAL,
};

/*
 * One finished (or failed) request. 64 bytes. cost_micro is what the tenant is
 * charged, in millionths of the operator's currency unit:
 *   cost_micro = ((prompt_tokens + completion_tokens) * price_per_1k_micro + 500) / 1000
 * with the tenant's price for the model (round half up, per request).
 */
struct tf_usage_record {
	__le64 request_id; /* client's request id (wire protocol) */
	__le32 tenant_id; /* != 0 */
	__le32 model_id; /* != 0 */
	__le32 accel_id; /* accelerator that served it; 0 = none (refused) */
	__le16 outcome; /* enum tf_usage_outcome */
	__le16 flags; /* reserved, must be 0 */
	__le32 prompt_tokens; /* tokens of the prompt that were processed */
	__le32 completion_tokens; /* tokens delivered to the client */
	__le32 queue_us; /* authenticated -> admitted into a batch */
	__le32 batch_us; /* admitted -> its batch was flushed to the accelerator */
	__le32 compute_us; /* batch flushed -> final message sent */
	__le32 reserved0; /* must be 0 */
	__le64 cost_micro; /* charge, see above */
	__le64 end_time_ns; /* card CLOCK_REALTIME when the request ended, ns */
};

/*
 * A usage aggregate (ABI 1.2, aggregate mode, SET_USAGE_MODE): the requests of
 * one (tenant, model, accelerator, outcome) that ended on one worker of the
 * card within one aggregation window (card CLOCK_REALTIME multiples of
 * aggregate_ms), summed. 80 bytes. Every sum is the sum of what the per-request
 * records would have said (cost_micro rounded per request, as there).
 */
struct tf_usage_agg {
	__le64 first_end_ns; /* end time of the earliest request in it, != 0 */
	__le32 tenant_id; /* != 0 */
	__le32 model_id; /* != 0 */
	__le32 accel_id; /* 0 = none served them (REFUSED, failed before routing) */
	__le16 outcome; /* enum tf_usage_outcome */
	__le16 flags; /* reserved, must be 0 */
	__le32 requests; /* requests summed, >= 1 */
	__le32 reserved0; /* must be 0 */
	__le64 prompt_tokens; /* sum, <= requests * 2^24 */
	__le64 completion_tokens; /* sum, <= requests * 2^24 */
	__le64 cost_micro; /* sum of the requests' charges, <= 2^62 */
	__le64 last_end_ns; /* end time of the latest request in it, >= first_end_ns */
	__le64 compute_us; /* sum of the requests' compute_us */
	__le64 reserved1; /* must be 0 */
};

/* Which part of the appliance a health event or health entry is about. */
enum tf_health_component {
	TF_HC_CARD = 1, /* the card as a whole (id 0) */
	TF_HC_PORT = 2, /* a network port (id = DPDK port id) */
	TF_HC_ACCEL = 3, /* an accelerator (id = accel id) */
	TF_HC_MAX = TF_HC_ACCEL,
};

/* The state of a component. */
enum tf_health_state {
	TF_HS_UP = 1, /* working normally */
	TF_HS_DEGRADED = 2, /* working with errors or reduced capacity */
	TF_HS_DOWN = 3, /* not working */
	TF_HS_MAX = TF_HS_DOWN,
};

/* Why it changed state. */
enum tf_health_reason {
	TF_HR_NONE = 0,
	TF_HR_STARTED = 1, /* came up */
	TF_HR_STOPPING = 2, /* orderly shutdown */
	TF_HR_HEARTBEAT_LOST = 3, /* stopped answering heartbeats */
	TF_HR_HEARTBEAT_OK = 4, /* heartbeats are back */
	TF_HR_LINK_DOWN = 5,
	TF_HR_LINK_UP = 6,
	TF_HR_ERRORS = 7, /* error rate above threshold */
	TF_HR_OVERLOADED = 8, /* queues full, shedding load */
	TF_HR_CONFIG = 9, /* configuration changed or invalid */
	TF_HR_OTHER = 10, /* see detail */
	TF_HR_MAX = TF_HR_OTHER,
};

#define TF_HEALTH_DETAIL_LEN 40

/* A component changed state. 64 bytes. */
struct tf_health_event {
	__le64 time_ns; /* card CLOCK_REALTIME of the change, ns */
	__le32 component_id; /* port id, accel id; 0 for the card */
	__le16 component; /* enum tf_health_component */
	__le16 state; /* enum tf_health_state */
	__le32 reason; /* enum tf_health_reason */
	__le32 reserved0; /* must be 0 */
	char detail[TF_HEALTH_DETAIL_LEN]; /* printable ASCII, NUL-terminated, NUL-padded */
};

_Static_assert(sizeof(struct tf_usage_record) == 64, "usage record is 64 bytes");
_Static_assert(__builtin_offsetof(struct tf_usage_record, outcome) == 20, "layout");
_Static_assert(__builtin_offsetof(struct tf_usage_record, prompt_tokens) == 24, "layout");
_Static_assert(__builtin_offsetof(struct tf_usage_record, cost_micro) == 48, "layout");
_Static_assert(__builtin_offsetof(struct tf_usage_record, end_time_ns) == 56, "layout");
_Static_assert(sizeof(struct tf_usage_agg) == 80, "usage aggregate is 80 bytes");
_Static_assert(__builtin_offsetof(struct tf_usage_agg, requests) == 24, "layout");
_Static_assert(__builtin_offsetof(struct tf_usage_agg, prompt_tokens) == 32, "layout");
_Static_assert(__builtin_offsetof(struct tf_usage_agg, cost_micro) == 48, "layout");
_Static_assert(__builtin_offsetof(struct tf_usage_agg, compute_us) == 64, "layout");
_Static_assert(sizeof(struct tf_health_event) == 64, "health event is 64 bytes");
_Static_assert(__builtin_offsetof(struct tf_health_event, detail) == 24, "layout");

#endif /* TOKFAB_USAGE_H */
