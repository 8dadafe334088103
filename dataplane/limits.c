/* SPDX-License-Identifier: BSD-3-Clause */
/* Default card-wide limits of a worker (hwdocs/dataplane.md, "Configuration"). */
#include "dataplane/worker.h"
#include "tokfab/proto.h"

void
tf_dp_limits_default(struct tf_dp_limits *l)
{
	*l = (struct tf_dp_limits){
		.tenants = 131072,
		.max_requests = 8192,
		.max_queue = 4096,
		.reasm_contexts = 64,
		.reasm_timeout_ms = 2000,
		.replay_window_ms = (uint32_t)(TF_PROTO_REPLAY_WINDOW_US / 1000),
		.id_table = 1u << 18,
		.cache_entries = 4096,
		.token_buffer_bytes = 32ull << 20,
		.cache_min_ms = 5000,
		.retry_after_ms = 50,
		.retry_after_max_ms = 5000,
		.max_segs = 256,
		.dgram = TF_PROTO_DEFAULT_DGRAM,
		.resp_ring_bytes = 0,
		.accel_peer_timeout_ms = 5000,
		.accel_connect_timeout_ms = 5000,
		.generation_timeout_ms = 300000,
		.cancel_grace_ms = 5000,
		.degraded_abandoned = 4,
		.udp_tx_csum = 1,
	};
}
