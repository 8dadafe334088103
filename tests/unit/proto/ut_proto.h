/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared helpers of the libtfproto unit tests. */
#ifndef TF_UT_PROTO_H
#define TF_UT_PROTO_H

#include "tokfab/proto.h"

#include <stdint.h>
#include <string.h>

/* The key of hwdocs/protocol.md section 9: bytes 00 01 .. 1f. */
static inline void
ut_example_key(struct tf_proto_key *k)
{
	uint8_t s[TF_PROTO_KEY_LEN];

	for (unsigned i = 0; i < sizeof(s); i++)
		s[i] = (uint8_t)i;
	tf_proto_key_init(k, TF_PROTO_MAC_HMAC_SHA256, 0, s, sizeof(s));
}

/* A message of the given type with valid fields (prompt/ids point at statics). */
static inline struct tf_proto_msg
ut_valid_msg(uint8_t type)
{
	static const uint8_t prompt[] = "hello";
	static const uint8_t ids[8] = { 1, 0, 0, 0, 2, 0, 0, 0 };
	static const uint8_t pieces[2] = { 1, 2 };
	struct tf_proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.tenant_id = 42;
	m.request_id = 77;
	m.timestamp_us = 1767225600000000ull;
	switch (type) {
	case TF_PROTO_T_REQUEST:
		m.u.req.model_id = 7;
		m.u.req.max_new_tokens = 8;
		m.u.req.prompt_total_len = 5;
		m.u.req.prompt_kind = TF_PROTO_PROMPT_TEXT;
		m.u.req.priority = 3;
		m.u.req.top_p = 10000;
		m.u.req.prompt = prompt;
		m.u.req.prompt_len = 5;
		break;
	case TF_PROTO_T_FRAGMENT:
		m.u.frag.prompt_total_len = 69;
		m.u.frag.offset = 64;
		m.u.frag.data = prompt;
		m.u.frag.len = 5;
		break;
	case TF_PROTO_T_RESUME:
		m.u.resume.from_seq = 3;
		break;
	case TF_PROTO_T_PING:
		m.u.ping.echo = 9;
		break;
	case TF_PROTO_T_PONG:
		m.u.pong.echo = 9;
		m.u.pong.min_version = 1;
		m.u.pong.max_version = 1;
		m.u.pong.max_dgram = TF_PROTO_MAX_DGRAM;
		break;
	case TF_PROTO_T_TOKENS:
		m.u.tokens.first_seq = 0;
		m.u.tokens.n_tokens = 2;
		m.u.tokens.chunk_flags = TF_PROTO_CF_HAS_TEXT;
		m.u.tokens.ids = ids;
		m.u.tokens.piece_lens = pieces;
		m.u.tokens.text = (const uint8_t *)"abc";
		m.u.tokens.text_len = 3;
		break;
	case TF_PROTO_T_FINAL:
		m.u.final.finish_reason = TF_PROTO_FINISH_LENGTH;
		m.u.final.prompt_tokens = 2;
		m.u.final.completion_tokens = 8;
		m.u.final.cost_micro = 10;
		break;
	case TF_PROTO_T_ERROR:
		m.u.err.code = TF_PROTO_E_BUSY;
		m.u.err.ref_type = TF_PROTO_T_REQUEST;
		m.u.err.retry_after_ms = 100;
		break;
	}
	return m;
}

#endif /* TF_UT_PROTO_H */
