/* SPDX-License-Identifier: BSD-3-Clause */
/* Names of drop reasons, wire error codes and message types. */
#include "tokfab/proto.h"

static const struct {
	const char *name;
	uint16_t error; /* wire code sent back; 0 = drop silently */
} g_reasons[TF_PROTO_R_COUNT] = {
	[TF_PROTO_R_OK] = { "ok", 0 },
	[TF_PROTO_R_TRUNCATED] = { "truncated", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_BAD_MAGIC] = { "bad_magic", 0 },
	[TF_PROTO_R_BAD_VERSION] = { "bad_version", TF_PROTO_E_UNSUPPORTED_VERSION },
	[TF_PROTO_R_BAD_TYPE] = { "bad_type", TF_PROTO_E_UNSUPPORTED },
	[TF_PROTO_R_BAD_FLAGS] = { "bad_flags", TF_PROTO_E_UNSUPPORTED },
	[TF_PROTO_R_BAD_MAC_ALG] = { "bad_mac_alg", TF_PROTO_E_UNSUPPORTED },
	[TF_PROTO_R_TRAILING] = { "trailing_bytes", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_BAD_LEN] = { "bad_length", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_RESERVED] = { "reserved_nonzero", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_BAD_FIELD] = { "bad_field", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_TOO_LARGE] = { "too_large", TF_PROTO_E_TOO_LARGE },
	[TF_PROTO_R_BAD_MAC] = { "bad_mac", TF_PROTO_E_BAD_MAC },
	[TF_PROTO_R_NO_MAC] = { "no_mac", TF_PROTO_E_BAD_MAC },
	[TF_PROTO_R_REPLAY] = { "replay", TF_PROTO_E_REPLAY },
	[TF_PROTO_R_FRAG_TOTAL] = { "frag_total_mismatch", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_FRAG_RANGE] = { "frag_out_of_range", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_FRAG_ALIGN] = { "frag_misaligned", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_FRAG_OVERLAP] = { "frag_overlap", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_FRAG_CONFLICT] = { "frag_conflict", TF_PROTO_E_MALFORMED },
	[TF_PROTO_R_BAD_KIND] = { "bad_prompt_kind", TF_PROTO_E_UNSUPPORTED },
	[TF_PROTO_R_NOSPACE] = { "no_space", TF_PROTO_E_INTERNAL },
};

static int
norm(int reason)
{
	return reason < 0 ? -reason : reason;
}

const char *
tf_proto_reason_name(int reason)
{
	reason = norm(reason);
	return reason < TF_PROTO_R_COUNT && g_reasons[reason].name ? g_reasons[reason].name
								   : "unknown";
}

uint16_t
tf_proto_reason_error(int reason)
{
	reason = norm(reason);
	return reason < TF_PROTO_R_COUNT ? g_reasons[reason].error : TF_PROTO_E_INTERNAL;
}

static const struct {
	const char *name;
	const char *hint;
} g_errors[TF_PROTO_E_MAX + 1] = {
	[TF_PROTO_E_BAD_MAC] = { "BAD_MAC", "the message authentication code did not verify: check "
					    "the tenant id and key file" },
	[TF_PROTO_E_REPLAY] = { "REPLAY",
				"timestamp outside the card's replay window or request id reused: "
				"synchronise the clock (NTP) and use a fresh request id" },
	[TF_PROTO_E_UNKNOWN_TENANT] = { "UNKNOWN_TENANT", "the card does not know this tenant id: "
							  "check --tenant or ask the operator" },
	[TF_PROTO_E_UNKNOWN_MODEL] = { "UNKNOWN_MODEL",
				       "no accelerator serves this model id: check --model" },
	[TF_PROTO_E_QUOTA_EXHAUSTED] = { "QUOTA_EXHAUSTED", "the tenant's token budget is used up: "
							    "ask the operator to raise it" },
	[TF_PROTO_E_RATE_LIMITED] = { "RATE_LIMITED", "the tenant is over its request rate: retry "
						      "after the given delay" },
	[TF_PROTO_E_BUSY] = { "BUSY", "the card is overloaded: retry after the given delay" },
	[TF_PROTO_E_TOO_LARGE] = { "TOO_LARGE", "the prompt or max tokens exceed the card's limit: "
						"shorten the request" },
	[TF_PROTO_E_MALFORMED] = { "MALFORMED", "the card rejected a malformed message: this is a "
						"client bug, please report it" },
	[TF_PROTO_E_TIMEOUT] = { "TIMEOUT", "the request timed out: retry, or raise --timeout" },
	[TF_PROTO_E_INTERNAL] = { "INTERNAL", "the card or an accelerator failed: retry later and "
					      "tell the operator" },
	[TF_PROTO_E_UNSUPPORTED_VERSION] = { "UNSUPPORTED_VERSION",
					     "the card speaks another protocol version: upgrade "
					     "the client or the card" },
	[TF_PROTO_E_UNSUPPORTED] = { "UNSUPPORTED", "the card does not support a flag or option "
						    "that was sent: upgrade the card" },
	[TF_PROTO_E_UNKNOWN_REQUEST] = { "UNKNOWN_REQUEST",
					 "the card does not know this request id (finished long "
					 "ago or never received)" },
	[TF_PROTO_E_RESUME_UNAVAILABLE] = { "RESUME_UNAVAILABLE",
					    "the card no longer holds the lost tokens: send the "
					    "request again" },
};

const char *
tf_proto_error_name(uint16_t code)
{
	return code <= TF_PROTO_E_MAX && g_errors[code].name ? g_errors[code].name : "UNKNOWN";
}

const char *
tf_proto_error_hint(uint16_t code)
{
	return code <= TF_PROTO_E_MAX && g_errors[code].hint
		       ? g_errors[code].hint
		       : "unknown error code from a newer card: treated as INTERNAL";
}

const char *
tf_proto_type_name(uint8_t type)
{
	switch (type) {
	case TF_PROTO_T_REQUEST:
		return "REQUEST";
	case TF_PROTO_T_FRAGMENT:
		return "FRAGMENT";
	case TF_PROTO_T_CANCEL:
		return "CANCEL";
	case TF_PROTO_T_RESUME:
		return "RESUME";
	case TF_PROTO_T_PING:
		return "PING";
	case TF_PROTO_T_TOKENS:
		return "TOKENS";
	case TF_PROTO_T_FINAL:
		return "FINAL";
	case TF_PROTO_T_ERROR:
		return "ERROR";
	case TF_PROTO_T_PONG:
		return "PONG";
	}
	return "UNKNOWN";
}
