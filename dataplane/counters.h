/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every counter of tokfab-dp, named once. Each lcore owns its own copy
 * (plain uint64_t written by that lcore only); readers (telemetry, the stats
 * log) sum the copies. hwdocs/dataplane.md lists what each one means.
 */
#ifndef TF_DP_COUNTERS_H
#define TF_DP_COUNTERS_H

#include <stdint.h>

#include "tokfab/proto.h"

/* Drop reasons: one counter each. X(name, "description") */
#define TF_DP_DROP_LIST(X)                                                                         \
	X(ETH_SHORT, "frame shorter than an Ethernet header")                                      \
	X(ETH_NOT_US, "destination MAC neither ours nor broadcast")                                \
	X(ETH_TYPE, "EtherType not ARP or IPv4")                                                   \
	X(VLAN_DEPTH, "more VLAN tags than supported or truncated tag")                            \
	X(ARP_MALFORMED, "ARP not Ethernet/IPv4 or truncated")                                     \
	X(IP_SHORT, "frame shorter than the IPv4 header")                                          \
	X(IP_VERSION, "IP version is not 4")                                                       \
	X(IP_HLEN, "IPv4 header length below 20 or beyond the frame")                              \
	X(IP_LEN, "IPv4 total length lies about the frame")                                        \
	X(IP_CSUM, "IPv4 header checksum wrong")                                                   \
	X(IP_FRAG, "IPv4 fragment (the protocol fragments itself)")                                \
	X(IP_NOT_US, "IPv4 destination is not our address")                                        \
	X(IP_PROTO, "IPv4 protocol neither UDP nor ICMP")                                          \
	X(IP_SRC, "IPv4 source is broadcast, multicast or zero")                                   \
	X(ICMP_SHORT, "ICMP message truncated")                                                    \
	X(ICMP_CSUM, "ICMP checksum wrong")                                                        \
	X(ICMP_TYPE, "ICMP type other than echo request")                                          \
	X(UDP_SHORT, "UDP header truncated")                                                       \
	X(UDP_LEN, "UDP length lies about the IPv4 payload")                                       \
	X(UDP_CSUM, "UDP checksum wrong")                                                          \
	X(UDP_PORT, "UDP destination port is not ours")                                            \
	X(PROTO_MALFORMED, "protocol message failed the codec's validation")                       \
	X(PROTO_VERSION, "protocol version or magic not understood")                               \
	X(PROTO_TYPE, "message type a client must not send")                                       \
	X(AUTH_TENANT, "unknown tenant")                                                           \
	X(AUTH_UNCONFIGURED, "unknown tenant or model before the host configured the card (BUSY)") \
	X(AUTH_MAC, "MAC does not verify")                                                         \
	X(AUTH_MAC_ALG, "MAC algorithm the tenant may not use")                                    \
	X(AUTH_REPLAY, "outside or already seen in the replay window")                             \
	X(REASM_OVERLAP, "fragment overlaps bytes already received")                               \
	X(REASM_LIE, "fragment disagrees with the request's declared size")                        \
	X(REASM_TIMEOUT, "request incomplete when its reassembly timer expired")                   \
	X(REASM_NOMEM, "reassembly memory bound reached")                                          \
	X(REASM_ORPHAN, "fragment of a request not being reassembled")                             \
	X(DUP_INFLIGHT, "duplicate of a request still running (suppressed)")                       \
	X(TX_FULL, "transmit queue full")                                                          \
	X(NO_MBUF, "no buffer to build a reply")                                                   \
	X(HANDOFF_FULL, "handoff ring to the owning lcore full")                                   \
	X(FRAMES_HELD, "request refused (BUSY): queued prompts hold the worker's share of "        \
		       "buffers")

/* Events (not drops). X(name, "description") */
#define TF_DP_EV_LIST(X)                                                                           \
	X(RX_PKTS, "frames received from a port")                                                  \
	X(HANDOFF_OUT, "frames handed to the lcore that owns their tenant")                        \
	X(HANDOFF_IN, "frames taken over from another lcore")                                      \
	X(RX_BYTES, "bytes received")                                                              \
	X(TX_PKTS, "frames sent")                                                                  \
	X(TX_BYTES, "bytes sent")                                                                  \
	X(ARP_REPLIES, "ARP requests answered")                                                    \
	X(ARP_LEARNED, "peer MACs learned or refreshed")                                           \
	X(ICMP_REPLIES, "ICMP echo requests answered")                                             \
	X(VLAN_TAGGED, "frames that carried a VLAN tag")                                           \
	X(REQ_RX, "requests received complete and authenticated")                                  \
	X(REQ_ADMITTED, "requests admitted")                                                       \
	X(REQ_DONE, "requests finished with a final response")                                     \
	X(REQ_FAILED, "requests ended with an error reply")                                        \
	X(REQ_CANCELLED, "requests cancelled by the client")                                       \
	X(REQ_CUTOFF, "requests cut off when the tenant's budget ran dry")                         \
	X(REQ_REDISPATCHED, "requests re-dispatched after an accelerator failure")                 \
	X(GEN_TIMEOUT, "requests ended by their generation deadline (FINAL CUT_OFF TIMEOUT)")      \
	X(GEN_LATE, "accelerator events for a request already ended by its deadline (ignored)")    \
	X(GEN_ABANDONED, "timed-out requests given up on at their accelerator (credit freed)")     \
	X(RETX_ANSWERED, "retransmits of finished requests answered from the cache")               \
	X(RESUMES, "stream resume requests served")                                                \
	X(FRAGS_RX, "request fragments received")                                                  \
	X(ERR_SENT, "error replies sent")                                                          \
	X(CHUNKS_SENT, "token chunk datagrams sent")                                               \
	X(TOKENS_OUT, "completion tokens streamed")                                                \
	X(BATCHES, "batches posted to accelerators")                                               \
	X(BATCH_REQS, "requests posted in batches")                                                \
	X(FLUSH_FULL, "batches flushed at max_batch")                                              \
	X(FLUSH_BYTES, "batches flushed at max_batch_bytes")                                       \
	X(FLUSH_DELAY, "batches flushed at max_queue_delay_us")                                    \
	X(XPORT_BUSY, "posts refused by the transport (no credit)")                                \
	X(USAGE_RECORDS, "usage records produced (aggregate mode: requests summed)")               \
	X(USAGE_AGGREGATES, "usage aggregates produced (aggregate mode)")                          \
	X(CFG_CHANGES, "configuration commands applied (tenants, models, accelerators, batching)") \
	X(POLLS, "loop iterations")                                                                \
	X(IDLE_POLLS, "loop iterations that found no work")

#define TF_DP_ENUM_DROP(n, d) TF_DROP_##n,
#define TF_DP_ENUM_EV(n, d) TF_EV_##n,
enum tf_dp_drop { TF_DROP_NONE = -1, TF_DP_DROP_LIST(TF_DP_ENUM_DROP) TF_DROP_MAX };
enum tf_dp_ev { TF_DP_EV_LIST(TF_DP_ENUM_EV) TF_EV_MAX };
#undef TF_DP_ENUM_DROP
#undef TF_DP_ENUM_EV

/* One lcore's counters. Written by that lcore only. */
struct tf_dp_counters {
	uint64_t drop[TF_DROP_MAX];
	uint64_t ev[TF_EV_MAX];
	/* The codec's drop reasons, by enum tf_proto_reason (names: tf_proto_reason_name()). */
	uint64_t proto[TF_PROTO_R_COUNT];
};

/* Lower-case names ("ip_csum", "rx_pkts") and descriptions, for telemetry and logs. */
const char *tf_dp_drop_name(enum tf_dp_drop d);
const char *tf_dp_drop_desc(enum tf_dp_drop d);
const char *tf_dp_ev_name(enum tf_dp_ev e);
const char *tf_dp_ev_desc(enum tf_dp_ev e);

/* Sums n counter blocks into out. */
void tf_dp_counters_sum(struct tf_dp_counters *out, const struct tf_dp_counters *const *in,
			unsigned int n);

#endif /* TF_DP_COUNTERS_H */
