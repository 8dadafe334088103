/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/proto/decode.c: every malformed case of hwdocs/protocol.md is refused
 * with its own reason and the offset of the offending field.
 */
#include "tf_cunit.h"
#include "ut_proto.h"

#include <stdio.h>

static struct tf_proto_key g_key;
static const uint8_t g_types[] = { TF_PROTO_T_REQUEST, TF_PROTO_T_FRAGMENT, TF_PROTO_T_CANCEL,
				   TF_PROTO_T_RESUME,  TF_PROTO_T_PING,	    TF_PROTO_T_TOKENS,
				   TF_PROTO_T_FINAL,   TF_PROTO_T_ERROR,    TF_PROTO_T_PONG };
#define NTYPES (sizeof(g_types) / sizeof(g_types[0]))

static int
suite_init(void)
{
	ut_example_key(&g_key);
	return 0;
}

/* Encodes a valid message of `type` into buf; returns its length. */
static int
valid(uint8_t type, uint8_t *buf)
{
	struct tf_proto_msg m = ut_valid_msg(type);
	int n = tf_proto_encode(buf, TF_PROTO_MAX_DGRAM, &m, &g_key);

	CU_ASSERT_FATAL(n > 0);
	return n;
}

/* A signed datagram of `type` whose payload is `plen` bytes of `fill`. */
static int
raw(uint8_t type, uint16_t plen, uint8_t fill, uint8_t *buf)
{
	struct tf_proto_msg m = ut_valid_msg(type);
	int n;

	m.payload_len = plen;
	m.mac_alg = TF_PROTO_MAC_HMAC_SHA256;
	tf_proto_hdr_write(buf, &m);
	memset(buf + TF_PROTO_HDR_LEN, fill, plen);
	n = tf_proto_sign(buf, TF_PROTO_MAX_DGRAM, &g_key);
	CU_ASSERT_FATAL(n > 0);
	return n;
}

/* Decodes and expects failure `reason` at datagram offset `off`. */
#define EXPECT(buf, len, reason, off)                                                     \
	do {                                                                              \
		struct tf_proto_msg m_;                                                   \
		int rc_ = tf_proto_decode((buf), (len), &m_);                             \
		CU_ASSERT_EQUAL(rc_, -(reason));                                          \
		if (rc_ != -(reason))                                                     \
			fprintf(stderr, "\n  line %d: got %s, want %s\n", __LINE__,       \
				tf_proto_reason_name(rc_), tf_proto_reason_name(reason)); \
		else if ((off) >= 0)                                                      \
			CU_ASSERT_EQUAL(m_.bad_off, (uint32_t)(off));                     \
	} while (0)

#define P(off) (TF_PROTO_HDR_LEN + (off)) /* payload offset -> datagram offset */

static void
test_valid_messages_decode(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];

	for (size_t i = 0; i < NTYPES; i++) {
		struct tf_proto_msg m;
		int n = valid(g_types[i], b);

		CU_ASSERT_EQUAL(tf_proto_decode(b, (size_t)n, &m), 0);
		CU_ASSERT_EQUAL(m.type, g_types[i]);
		CU_ASSERT_EQUAL(tf_proto_verify(&g_key, &m), 0);
	}
}

static void
test_truncated_at_every_length(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];

	for (size_t i = 0; i < NTYPES; i++) {
		int n = valid(g_types[i], b);

		for (int len = 0; len < n; len++) {
			struct tf_proto_msg m;
			int rc = tf_proto_decode(b, (size_t)len, &m);

			CU_ASSERT_EQUAL(rc, -TF_PROTO_R_TRUNCATED);
		}
	}
}

static void
test_lying_lengths(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM + 8];

	for (size_t i = 0; i < NTYPES; i++) {
		int n = valid(g_types[i], b);
		uint16_t pl = tf_proto_ld16(b + 12);

		/* One extra byte after the MAC. */
		b[n] = 0;
		EXPECT(b, (size_t)n + 1, TF_PROTO_R_TRAILING, 12);
		/* payload_len says more than is there, or less. */
		tf_proto_st16(b + 12, (uint16_t)(pl + 1));
		EXPECT(b, (size_t)n, TF_PROTO_R_TRUNCATED, 12);
		tf_proto_st16(b + 12, 0xffff);
		EXPECT(b, (size_t)n, TF_PROTO_R_TRUNCATED, 12);
		if (pl > 0) {
			tf_proto_st16(b + 12, (uint16_t)(pl - 1));
			EXPECT(b, (size_t)n, TF_PROTO_R_TRAILING, 12);
		}
	}
}

static void
test_bad_magic_version_type(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n = valid(TF_PROTO_T_REQUEST, b);
	struct tf_proto_msg m;
	static const uint8_t bad_types[] = { 0x00, 0x06, 0x7f, 0x80, 0x85, 0xff };

	for (int i = 0; i < 4; i++) {
		b[i] ^= 0x20;
		EXPECT(b, (size_t)n, TF_PROTO_R_BAD_MAGIC, 0);
		b[i] ^= 0x20;
	}
	for (int v = 0; v < 256; v++) {
		if (v == TF_PROTO_VERSION)
			continue;
		b[4] = (uint8_t)v;
		EXPECT(b, (size_t)n, TF_PROTO_R_BAD_VERSION, 4);
	}
	/* A newer version: header fields still filled for the error reply. */
	b[4] = 2;
	CU_ASSERT_EQUAL(tf_proto_decode(b, (size_t)n, &m), -TF_PROTO_R_BAD_VERSION);
	CU_ASSERT_EQUAL(m.tenant_id, 42);
	CU_ASSERT_EQUAL(m.request_id, 77);
	CU_ASSERT_EQUAL(tf_proto_reason_error(-TF_PROTO_R_BAD_VERSION),
			TF_PROTO_E_UNSUPPORTED_VERSION);
	/* Shorter than the v1 header: truncated, whatever the version says. */
	CU_ASSERT_EQUAL(tf_proto_decode(b, 20, &m), -TF_PROTO_R_TRUNCATED);
	b[4] = TF_PROTO_VERSION;
	for (size_t i = 0; i < sizeof(bad_types); i++) {
		b[5] = bad_types[i];
		EXPECT(b, (size_t)n, TF_PROTO_R_BAD_TYPE, 5);
	}
}

static void
test_bad_flags_alg_reserved_size(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM + 64];
	int n = valid(TF_PROTO_T_PING, b);

	for (int bit = 2; bit < 8; bit++) {
		b[6] = (uint8_t)(1u << bit);
		EXPECT(b, (size_t)n, TF_PROTO_R_BAD_FLAGS, 6);
	}
	b[6] = TF_PROTO_F_RETRANSMIT | TF_PROTO_F_FROM_CACHE;
	CU_ASSERT_EQUAL(tf_proto_decode(b, (size_t)n, &(struct tf_proto_msg){ 0 }), 0);
	b[6] = 0;
	for (int alg = TF_PROTO_MAC_ALG_MAX + 1; alg < 256; alg += 17) {
		b[7] = (uint8_t)alg;
		EXPECT(b, (size_t)n, TF_PROTO_R_BAD_MAC_ALG, 7);
	}
	/* SipHash (2) is known: same 16-byte MAC length, the header decodes. */
	b[7] = TF_PROTO_MAC_SIPHASH;
	CU_ASSERT_EQUAL(tf_proto_decode(b, (size_t)n, &(struct tf_proto_msg){ 0 }), 0);
	/* Unsigned PING: only ERROR may go without a MAC. */
	b[7] = TF_PROTO_MAC_NONE;
	EXPECT(b, (size_t)n - TF_PROTO_MAC_LEN, TF_PROTO_R_NO_MAC, 7);
	b[7] = TF_PROTO_MAC_HMAC_SHA256;
	b[15] = 1;
	EXPECT(b, (size_t)n, TF_PROTO_R_RESERVED, 15);
	b[15] = 0;
	/* Over the datagram limit, whatever the header says. */
	EXPECT(b, TF_PROTO_MAX_DGRAM + 1, TF_PROTO_R_TOO_LARGE, -1);
}

static void
test_request_fields(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n;
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_REQUEST);

#define MUT(stmt, reason, off)                     \
	do {                                       \
		n = valid(TF_PROTO_T_REQUEST, b);  \
		stmt;                              \
		EXPECT(b, (size_t)n, reason, off); \
	} while (0)
	MUT(tf_proto_st32(b + P(4), 0), TF_PROTO_R_BAD_FIELD, P(4));
	MUT(tf_proto_st32(b + P(8), 0), TF_PROTO_R_BAD_FIELD, P(8));
	MUT(tf_proto_st32(b + P(8), TF_PROTO_MAX_PROMPT + 1), TF_PROTO_R_TOO_LARGE, P(8));
	MUT(b[P(12)] = 2, TF_PROTO_R_BAD_KIND, P(12));
	MUT(b[P(12)] = 0xff, TF_PROTO_R_BAD_KIND, P(12));
	/* token ids: the total must be a multiple of 4 (valid() sends 5 bytes). */
	MUT(b[P(12)] = TF_PROTO_PROMPT_TOKENS, TF_PROTO_R_BAD_FIELD, P(8));
	MUT(b[P(13)] = TF_PROTO_MAX_PRIORITY + 1, TF_PROTO_R_BAD_FIELD, P(13));
	MUT(tf_proto_st16(b + P(14), 0x0004), TF_PROTO_R_BAD_FLAGS, P(14));
	MUT(tf_proto_st16(b + P(14), 0x8000), TF_PROTO_R_BAD_FLAGS, P(14));
	MUT(tf_proto_st16(b + P(16), TF_PROTO_MAX_TEMPERATURE + 1), TF_PROTO_R_BAD_FIELD, P(16));
	MUT(tf_proto_st16(b + P(18), 0), TF_PROTO_R_BAD_FIELD, P(18));
	MUT(tf_proto_st16(b + P(18), TF_PROTO_MAX_TOP_P + 1), TF_PROTO_R_BAD_FIELD, P(18));
	MUT(b[P(21)] = 1, TF_PROTO_R_RESERVED, P(20));
	/* More prompt bytes in the REQUEST than the total. */
	MUT(tf_proto_st32(b + P(8), 4), TF_PROTO_R_FRAG_RANGE, 12);
	/* Part of a longer prompt but not a multiple of 64. */
	MUT(tf_proto_st32(b + P(8), 100), TF_PROTO_R_FRAG_ALIGN, 12);
#undef MUT
	/* Payload shorter than the fixed part. */
	n = raw(TF_PROTO_T_REQUEST, TF_PROTO_REQUEST_FIXED - 1, 0, b);
	EXPECT(b, (size_t)n, TF_PROTO_R_BAD_LEN, 12);
	/* Boundaries that are valid. */
	m.u.req.temperature = TF_PROTO_MAX_TEMPERATURE;
	m.u.req.top_p = 1;
	m.u.req.priority = TF_PROTO_MAX_PRIORITY;
	m.u.req.prompt_total_len = TF_PROTO_MAX_PROMPT;
	m.u.req.prompt_len = 0;
	CU_ASSERT(tf_proto_encode(b, sizeof(b), &m, &g_key) > 0);
}

static void
test_fragment_fields(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n;

#define MUT(stmt, reason, off)                     \
	do {                                       \
		n = valid(TF_PROTO_T_FRAGMENT, b); \
		stmt;                              \
		EXPECT(b, (size_t)n, reason, off); \
	} while (0)
	MUT(tf_proto_st32(b + P(0), 0), TF_PROTO_R_BAD_FIELD, P(0));
	MUT(tf_proto_st32(b + P(0), TF_PROTO_MAX_PROMPT + 64), TF_PROTO_R_TOO_LARGE, P(0));
	MUT(tf_proto_st32(b + P(4), 65), TF_PROTO_R_FRAG_ALIGN, P(4));
	/* Reaches past the total (a lying total or offset). */
	MUT(tf_proto_st32(b + P(0), 68), TF_PROTO_R_FRAG_RANGE, P(4));
	MUT(tf_proto_st32(b + P(4), 0xffffffc0u), TF_PROTO_R_FRAG_RANGE, P(4));
	/* Does not end the prompt, yet not a multiple of 64. */
	MUT(tf_proto_st32(b + P(0), 200), TF_PROTO_R_FRAG_ALIGN, 12);
#undef MUT
	n = raw(TF_PROTO_T_FRAGMENT, TF_PROTO_FRAGMENT_FIXED, 0, b);
	EXPECT(b, (size_t)n, TF_PROTO_R_BAD_LEN, 12);
}

static void
test_fixed_size_payloads(void)
{
	static const struct {
		uint8_t type;
		uint16_t len;
	} fixed[] = {
		{ TF_PROTO_T_CANCEL, TF_PROTO_CANCEL_LEN },
		{ TF_PROTO_T_RESUME, TF_PROTO_RESUME_LEN },
		{ TF_PROTO_T_PING, TF_PROTO_PING_LEN },
		{ TF_PROTO_T_PONG, TF_PROTO_PONG_LEN },
		{ TF_PROTO_T_FINAL, TF_PROTO_FINAL_LEN },
		{ TF_PROTO_T_ERROR, TF_PROTO_ERROR_LEN },
	};
	uint8_t b[TF_PROTO_MAX_DGRAM];

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		int n;

		n = raw(fixed[i].type, (uint16_t)(fixed[i].len + 1), 0, b);
		EXPECT(b, (size_t)n, TF_PROTO_R_BAD_LEN, 12);
		if (fixed[i].len) {
			n = raw(fixed[i].type, (uint16_t)(fixed[i].len - 1), 0, b);
			EXPECT(b, (size_t)n, TF_PROTO_R_BAD_LEN, 12);
		}
	}
}

static void
test_reserved_and_ranges_of_small_messages(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n;

#define MUT(type, stmt, reason, off)               \
	do {                                       \
		n = valid(type, b);                \
		stmt;                              \
		EXPECT(b, (size_t)n, reason, off); \
	} while (0)
	MUT(TF_PROTO_T_RESUME, b[P(7)] = 1, TF_PROTO_R_RESERVED, P(4));
	MUT(TF_PROTO_T_PING, b[P(15)] = 1, TF_PROTO_R_RESERVED, P(8));
	MUT(TF_PROTO_T_PONG, b[P(12)] = 1, TF_PROTO_R_RESERVED, P(12));
	MUT(TF_PROTO_T_PONG, b[P(8)] = 0, TF_PROTO_R_BAD_FIELD, P(8));
	MUT(TF_PROTO_T_PONG, b[P(8)] = 3, TF_PROTO_R_BAD_FIELD, P(8));
	MUT(TF_PROTO_T_PONG, tf_proto_st16(b + P(10), 47), TF_PROTO_R_BAD_FIELD, P(10));
	MUT(TF_PROTO_T_FINAL, b[P(0)] = TF_PROTO_FINISH_MAX + 1, TF_PROTO_R_BAD_FIELD, P(0));
	/* final_flags: unknown bits; HAS_TOKENS without the chunk behind it. */
	MUT(TF_PROTO_T_FINAL, b[P(1)] = 2, TF_PROTO_R_BAD_FLAGS, P(1));
	MUT(TF_PROTO_T_FINAL, b[P(1)] = 0x80, TF_PROTO_R_BAD_FLAGS, P(1));
	MUT(TF_PROTO_T_FINAL, b[P(1)] = TF_PROTO_FF_HAS_TOKENS, TF_PROTO_R_BAD_LEN, 12);
	/* CUT_OFF needs a reason; the other endings must not have one. */
	MUT(TF_PROTO_T_FINAL, b[P(0)] = TF_PROTO_FINISH_CUT_OFF, TF_PROTO_R_BAD_FIELD, P(2));
	MUT(TF_PROTO_T_FINAL, b[P(2)] = TF_PROTO_E_TIMEOUT, TF_PROTO_R_BAD_FIELD, P(2));
	MUT(TF_PROTO_T_ERROR, tf_proto_st16(b + P(0), 0), TF_PROTO_R_BAD_FIELD, P(0));
	MUT(TF_PROTO_T_ERROR, b[P(3)] = 1, TF_PROTO_R_RESERVED, P(3));
#undef MUT
	/* An error code from a newer card decodes (treated as INTERNAL by clients). */
	n = valid(TF_PROTO_T_ERROR, b);
	tf_proto_st16(b + P(0), 999);
	CU_ASSERT_EQUAL(tf_proto_decode(b, (size_t)n, &(struct tf_proto_msg){ 0 }), 0);
	CU_ASSERT_STRING_EQUAL(tf_proto_error_name(999), "UNKNOWN");
}

static void
test_tokens_fields(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n;

#define MUT(stmt, reason, off)                     \
	do {                                       \
		n = valid(TF_PROTO_T_TOKENS, b);   \
		stmt;                              \
		EXPECT(b, (size_t)n, reason, off); \
	} while (0)
	MUT(b[P(6)] = 0x02, TF_PROTO_R_BAD_FLAGS, P(6));
	MUT(b[P(7)] = 1, TF_PROTO_R_RESERVED, P(7));
	MUT(tf_proto_st32(b + P(0), 0xffffffffu), TF_PROTO_R_BAD_FIELD, P(0));
	/* Pieces (1 + 2) no longer add up to the 3 text bytes. */
	MUT(b[P(8 + 8)] = 2, TF_PROTO_R_BAD_LEN, P(8 + 8));
	MUT(b[P(8 + 8)] = 0, TF_PROTO_R_BAD_LEN, P(8 + 8));
	/* n_tokens lies: more ids than bytes (with and without text). */
	MUT(tf_proto_st16(b + P(4), 200), TF_PROTO_R_BAD_LEN, P(4));
	MUT((b[P(6)] = 0, tf_proto_st16(b + P(4), 3)), TF_PROTO_R_BAD_LEN, P(4));
#undef MUT
}

/* A FINAL carrying the stream's last chunk (REQUEST flag FINAL_TOKENS). */
static void
test_final_with_tokens(void)
{
	static const uint8_t ids[12] = { 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0 };
	static const uint8_t lens[3] = { 1, 0, 2 };
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_FINAL), d;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n;

	m.u.final.final_flags = TF_PROTO_FF_HAS_TOKENS;
	m.u.final.completion_tokens = 8;
	m.u.final.tokens = (struct tf_proto_tokens){ .first_seq = 5,
						     .n_tokens = 3,
						     .chunk_flags = TF_PROTO_CF_HAS_TEXT,
						     .ids = ids,
						     .piece_lens = lens,
						     .text = (const uint8_t *)"xyz",
						     .text_len = 3 };
	n = tf_proto_encode(b, sizeof(b), &m, &g_key);
	CU_ASSERT_EQUAL_FATAL(n, TF_PROTO_HDR_LEN + 32 + 8 + 15 + 3 + TF_PROTO_MAC_LEN);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&g_key, &d), 0);
	CU_ASSERT_EQUAL(d.u.final.final_flags, TF_PROTO_FF_HAS_TOKENS);
	CU_ASSERT_EQUAL(d.u.final.completion_tokens, 8);
	CU_ASSERT_EQUAL(d.u.final.tokens.first_seq, 5);
	CU_ASSERT_EQUAL(d.u.final.tokens.n_tokens, 3);
	CU_ASSERT_EQUAL(tf_proto_token_id(&d.u.final.tokens, 2), 7);
	CU_ASSERT_EQUAL(d.u.final.tokens.text_len, 3);
	CU_ASSERT_EQUAL(memcmp(d.u.final.tokens.text, "xyz", 3), 0);
	/* Without HAS_TOKENS the chunk is not there: the plain FINAL decodes with zeroed tokens. */
	m.u.final.final_flags = 0;
	n = tf_proto_encode(b, sizeof(b), &m, &g_key);
	CU_ASSERT_EQUAL_FATAL(n, TF_PROTO_HDR_LEN + 32 + TF_PROTO_MAC_LEN);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(d.u.final.tokens.n_tokens, 0);
	CU_ASSERT_PTR_NULL(d.u.final.tokens.ids);
	/* The encoder refuses what a receiver would: chunk not ending at completion_tokens, */
	m.u.final.final_flags = TF_PROTO_FF_HAS_TOKENS;
	m.u.final.completion_tokens = 9;
	CU_ASSERT_EQUAL(tf_proto_encode(b, sizeof(b), &m, &g_key), -TF_PROTO_R_BAD_FIELD);
	/* an empty chunk, */
	m.u.final.completion_tokens = 5;
	m.u.final.tokens.n_tokens = 0;
	m.u.final.tokens.text_len = 0;
	CU_ASSERT_EQUAL(tf_proto_encode(b, sizeof(b), &m, &g_key), -TF_PROTO_R_BAD_FIELD);
	/* and the receiver checks each byte of the chunk like a TOKENS payload. */
	m.u.final.completion_tokens = 8;
	m.u.final.tokens.n_tokens = 3;
	m.u.final.tokens.text_len = 3;
#define MUTF(stmt, reason, off)                                \
	do {                                                   \
		n = tf_proto_encode(b, sizeof(b), &m, &g_key); \
		CU_ASSERT_FATAL(n > 0);                        \
		stmt;                                          \
		tf_proto_sign(b, sizeof(b), &g_key);           \
		EXPECT(b, (size_t)n, reason, off);             \
	} while (0)
	MUTF(b[P(32 + 6)] = 0x02, TF_PROTO_R_BAD_FLAGS, P(32 + 6));
	MUTF(b[P(32 + 7)] = 1, TF_PROTO_R_RESERVED, P(32 + 7));
	MUTF(tf_proto_st32(b + P(32), 4), TF_PROTO_R_BAD_FIELD, P(32));
	MUTF(tf_proto_st16(b + P(32 + 4), 4), TF_PROTO_R_BAD_LEN, P(32 + 4));
	MUTF(b[P(32 + 8 + 12)] = 2, TF_PROTO_R_BAD_LEN, P(32 + 8 + 12));
	MUTF(tf_proto_st32(b + P(32), UINT32_MAX - 1), TF_PROTO_R_BAD_FIELD, P(32));
#undef MUTF
	/* A chunk header cut short: fewer than 8 bytes after the FINAL. */
	n = raw(TF_PROTO_T_FINAL, 32 + 4, 0, b);
	b[P(1)] = TF_PROTO_FF_HAS_TOKENS;
	tf_proto_sign(b, sizeof(b), &g_key);
	EXPECT(b, (size_t)n, TF_PROTO_R_BAD_LEN, 12);
}

static void
test_reason_table(void)
{
	for (int r = 1; r < TF_PROTO_R_COUNT; r++) {
		const char *name = tf_proto_reason_name(-r);

		CU_ASSERT_STRING_NOT_EQUAL(name, "unknown");
		for (int s = 1; s < r; s++)
			CU_ASSERT_STRING_NOT_EQUAL(name, tf_proto_reason_name(s));
	}
	CU_ASSERT_EQUAL(tf_proto_reason_error(-TF_PROTO_R_BAD_MAGIC), 0);
	CU_ASSERT_EQUAL(tf_proto_reason_error(-TF_PROTO_R_BAD_MAC), TF_PROTO_E_BAD_MAC);
	CU_ASSERT_EQUAL(tf_proto_reason_error(-TF_PROTO_R_REPLAY), TF_PROTO_E_REPLAY);
	CU_ASSERT_EQUAL(tf_proto_reason_error(-TF_PROTO_R_FRAG_OVERLAP), TF_PROTO_E_MALFORMED);
	CU_ASSERT_EQUAL(tf_proto_reason_error(-TF_PROTO_R_TOO_LARGE), TF_PROTO_E_TOO_LARGE);
	CU_ASSERT_EQUAL(tf_proto_reason_error(-TF_PROTO_R_BAD_TYPE), TF_PROTO_E_UNSUPPORTED);
	for (uint16_t c = 1; c <= TF_PROTO_E_MAX; c++) {
		CU_ASSERT_STRING_NOT_EQUAL(tf_proto_error_name(c), "UNKNOWN");
		CU_ASSERT_PTR_NOT_NULL(strstr(tf_proto_error_hint(c), " "));
	}
}

static const struct tf_cunit_test decode_tests[] = {
	TF_TEST(test_valid_messages_decode),
	TF_TEST(test_truncated_at_every_length),
	TF_TEST(test_lying_lengths),
	TF_TEST(test_bad_magic_version_type),
	TF_TEST(test_bad_flags_alg_reserved_size),
	TF_TEST(test_request_fields),
	TF_TEST(test_fragment_fields),
	TF_TEST(test_fixed_size_payloads),
	TF_TEST(test_reserved_and_ranges_of_small_messages),
	TF_TEST(test_tokens_fields),
	TF_TEST(test_final_with_tokens),
	TF_TEST(test_reason_table),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "decode", suite_init, NULL, decode_tests })
