/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/proto/encode.c: round trips, buffer limits, refusing invalid input. */
#include "tf_cunit.h"
#include "ut_proto.h"

static struct tf_proto_key g_key;
static const uint8_t g_types[] = { TF_PROTO_T_REQUEST, TF_PROTO_T_FRAGMENT, TF_PROTO_T_CANCEL,
				   TF_PROTO_T_RESUME,  TF_PROTO_T_PING,	    TF_PROTO_T_TOKENS,
				   TF_PROTO_T_FINAL,   TF_PROTO_T_ERROR,    TF_PROTO_T_PONG };

static int
suite_init(void)
{
	ut_example_key(&g_key);
	return 0;
}

/* encode -> decode -> encode gives the same bytes for every type. */
static void
test_round_trip_every_type(void)
{
	for (size_t i = 0; i < sizeof(g_types); i++) {
		struct tf_proto_msg m = ut_valid_msg(g_types[i]), d;
		uint8_t a[TF_PROTO_MAX_DGRAM], b[TF_PROTO_MAX_DGRAM];
		int n = tf_proto_encode(a, sizeof(a), &m, &g_key);

		CU_ASSERT_FATAL(n >= TF_PROTO_MIN_DGRAM);
		CU_ASSERT_EQUAL_FATAL(tf_proto_decode(a, (size_t)n, &d), 0);
		CU_ASSERT_EQUAL(d.type, g_types[i]);
		CU_ASSERT_EQUAL(d.tenant_id, 42);
		CU_ASSERT_EQUAL(d.request_id, 77);
		CU_ASSERT_EQUAL(d.timestamp_us, m.timestamp_us);
		CU_ASSERT_EQUAL(d.mac_alg, TF_PROTO_MAC_HMAC_SHA256);
		CU_ASSERT_EQUAL(tf_proto_verify(&g_key, &d), 0);
		CU_ASSERT_EQUAL(tf_proto_encode(b, sizeof(b), &d, &g_key), n);
		CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n), 0);
	}
}

static void
test_no_space(void)
{
	for (size_t i = 0; i < sizeof(g_types); i++) {
		struct tf_proto_msg m = ut_valid_msg(g_types[i]);
		uint8_t a[TF_PROTO_MAX_DGRAM];
		int n = tf_proto_encode(a, sizeof(a), &m, &g_key);

		for (int cap = 0; cap < n; cap++)
			CU_ASSERT_EQUAL(tf_proto_encode(a, (size_t)cap, &m, &g_key),
					-TF_PROTO_R_NOSPACE);
	}
}

static void
test_refuses_what_would_not_decode(void)
{
	uint8_t a[TF_PROTO_MAX_DGRAM];
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_REQUEST);
	static uint8_t big[TF_PROTO_MAX_DGRAM];

	m.u.req.priority = 9;
	CU_ASSERT_EQUAL(tf_proto_encode(a, sizeof(a), &m, &g_key), -TF_PROTO_R_BAD_FIELD);
	m = ut_valid_msg(TF_PROTO_T_REQUEST);
	m.u.req.prompt_total_len = 3; /* fewer than the 5 bytes carried */
	CU_ASSERT_EQUAL(tf_proto_encode(a, sizeof(a), &m, &g_key), -TF_PROTO_R_FRAG_RANGE);
	/* Only ERROR may be unsigned. */
	m = ut_valid_msg(TF_PROTO_T_REQUEST);
	CU_ASSERT_EQUAL(tf_proto_encode(a, sizeof(a), &m, NULL), -TF_PROTO_R_NO_MAC);
	m = ut_valid_msg(TF_PROTO_T_ERROR);
	CU_ASSERT_EQUAL(tf_proto_encode(a, sizeof(a), &m, NULL),
			TF_PROTO_HDR_LEN + TF_PROTO_ERROR_LEN);
	/* A datagram over the limit. */
	m = ut_valid_msg(TF_PROTO_T_REQUEST);
	m.u.req.prompt = big;
	m.u.req.prompt_total_len = 100000;
	m.u.req.prompt_len = TF_PROTO_MAX_DGRAM - 64;
	CU_ASSERT_EQUAL(tf_proto_encode(a, sizeof(a), &m, &g_key), -TF_PROTO_R_TOO_LARGE);
	m.type = 0x42;
	CU_ASSERT_EQUAL(tf_proto_encode(a, sizeof(a), &m, &g_key), -TF_PROTO_R_BAD_TYPE);
}

static void
test_tokens_capacity(void)
{
	static uint8_t ids[4 * 400], pieces[400], text[2000];
	uint8_t a[TF_PROTO_MAX_DGRAM];
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_TOKENS);
	uint32_t n = tf_proto_tokens_capacity(TF_PROTO_DEFAULT_DGRAM, false, 0);

	CU_ASSERT_EQUAL(n, 336);
	m.u.tokens.chunk_flags = 0;
	m.u.tokens.ids = ids;
	m.u.tokens.n_tokens = (uint16_t)n;
	CU_ASSERT_EQUAL(tf_proto_encode(a, TF_PROTO_DEFAULT_DGRAM, &m, &g_key),
			TF_PROTO_DEFAULT_DGRAM);
	m.u.tokens.n_tokens = (uint16_t)(n + 1);
	CU_ASSERT_EQUAL(tf_proto_encode(a, TF_PROTO_DEFAULT_DGRAM, &m, &g_key),
			-TF_PROTO_R_NOSPACE);
	/* With 100 bytes of text. */
	n = tf_proto_tokens_capacity(TF_PROTO_DEFAULT_DGRAM, true, 100);
	CU_ASSERT_EQUAL(n, (1344 - 100) / 5);
	memset(pieces, 0, sizeof(pieces));
	pieces[0] = 100;
	m.u.tokens.chunk_flags = TF_PROTO_CF_HAS_TEXT;
	m.u.tokens.n_tokens = (uint16_t)n;
	m.u.tokens.piece_lens = pieces;
	m.u.tokens.text = text;
	m.u.tokens.text_len = 100;
	CU_ASSERT(tf_proto_encode(a, TF_PROTO_DEFAULT_DGRAM, &m, &g_key) > 0);
	m.u.tokens.n_tokens = (uint16_t)(n + 1);
	CU_ASSERT_EQUAL(tf_proto_encode(a, TF_PROTO_DEFAULT_DGRAM, &m, &g_key),
			-TF_PROTO_R_NOSPACE);
	CU_ASSERT_EQUAL(tf_proto_tokens_capacity(40, false, 0), 0);
}

/* Building in place gives the same datagram as tf_proto_encode(). */
static void
test_in_place_build(void)
{
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_RESUME);
	uint8_t a[128], b[128];
	int n = tf_proto_encode(a, sizeof(a), &m, &g_key);

	m.payload_len = TF_PROTO_RESUME_LEN;
	m.mac_alg = TF_PROTO_MAC_HMAC_SHA256;
	tf_proto_hdr_write(b, &m);
	tf_proto_st32(b + TF_PROTO_HDR_LEN, 3);
	tf_proto_st32(b + TF_PROTO_HDR_LEN + 4, 0);
	CU_ASSERT_EQUAL(tf_proto_sign(b, sizeof(b), &g_key), n);
	CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n), 0);
	CU_ASSERT_EQUAL(tf_proto_sign(b, (size_t)n - 1, &g_key), -TF_PROTO_R_NOSPACE);
	CU_ASSERT_EQUAL(tf_proto_sign(b, sizeof(b), NULL), -TF_PROTO_R_BAD_MAC_ALG);
}

/* The ERROR for a refused datagram: codes, details, echo, no amplification. */
static void
test_reject(void)
{
	uint8_t in[TF_PROTO_MAX_DGRAM], out[TF_PROTO_MAX_DGRAM];
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_PING), d, e;
	int n = tf_proto_encode(in, sizeof(in), &m, &g_key), rc, r;

	/* A newer version: unsigned UNSUPPORTED_VERSION, detail 1, 44 <= 64 bytes. */
	in[4] = 2;
	rc = tf_proto_decode(in, (size_t)n, &d);
	CU_ASSERT_EQUAL_FATAL(rc, -TF_PROTO_R_BAD_VERSION);
	r = tf_proto_encode_reject(out, sizeof(out), &d, (size_t)n, rc, NULL, 5);
	CU_ASSERT_EQUAL_FATAL(r, TF_PROTO_HDR_LEN + TF_PROTO_ERROR_LEN);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(out, (size_t)r, &e), 0);
	CU_ASSERT_EQUAL(e.mac_alg, TF_PROTO_MAC_NONE);
	CU_ASSERT_EQUAL(e.u.err.code, TF_PROTO_E_UNSUPPORTED_VERSION);
	CU_ASSERT_EQUAL(e.u.err.detail, TF_PROTO_VERSION);
	CU_ASSERT_EQUAL(e.u.err.ref_type, TF_PROTO_T_PING);
	CU_ASSERT_EQUAL(e.tenant_id, 42);
	CU_ASSERT_EQUAL(e.request_id, 77);
	CU_ASSERT_EQUAL(e.timestamp_us, 5);
	in[4] = 1;
	/* Unknown flag: UNSUPPORTED, detail = reason << 16 | offset 6. */
	in[6] = 0x80;
	rc = tf_proto_decode(in, (size_t)n, &d);
	r = tf_proto_encode_reject(out, sizeof(out), &d, (size_t)n, rc, &g_key, 5);
	CU_ASSERT_FATAL(r > 0);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(out, (size_t)r, &e), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&g_key, &e), 0);
	CU_ASSERT_EQUAL(e.u.err.code, TF_PROTO_E_UNSUPPORTED);
	CU_ASSERT_EQUAL(e.u.err.detail, (uint32_t)TF_PROTO_R_BAD_FLAGS << 16 | 6);
	in[6] = 0;
	/* Replay: detail 1. */
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(in, (size_t)n, &d), 0);
	r = tf_proto_encode_reject(out, sizeof(out), &d, (size_t)n, -TF_PROTO_R_REPLAY, &g_key, 5);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(out, (size_t)r, &e), 0);
	CU_ASSERT_EQUAL(e.u.err.code, TF_PROTO_E_REPLAY);
	CU_ASSERT_EQUAL(e.u.err.detail, 1);
	/* Silence: bad magic, too short to echo, unsigned amplification, a response. */
	in[0] = 'X';
	rc = tf_proto_decode(in, (size_t)n, &d);
	CU_ASSERT_EQUAL(tf_proto_encode_reject(out, sizeof(out), &d, (size_t)n, rc, NULL, 5), 0);
	in[0] = 'T';
	CU_ASSERT_EQUAL(
		tf_proto_encode_reject(out, sizeof(out), &d, 20, -TF_PROTO_R_TRUNCATED, NULL, 5),
		0);
	m = ut_valid_msg(TF_PROTO_T_CANCEL); /* 48 bytes: an unsigned ERROR (44) fits */
	n = tf_proto_encode(in, sizeof(in), &m, &g_key);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(in, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_encode_reject(out, sizeof(out), &d, (size_t)n, -TF_PROTO_R_BAD_MAC,
					       NULL, 5),
			44);
	CU_ASSERT_EQUAL(
		tf_proto_encode_reject(out, sizeof(out), &d, 40, -TF_PROTO_R_BAD_MAC, NULL, 5), 0);
	d.type = TF_PROTO_T_FINAL;
	CU_ASSERT_EQUAL(tf_proto_encode_reject(out, sizeof(out), &d, (size_t)n, -TF_PROTO_R_BAD_MAC,
					       &g_key, 5),
			0);
}

static const struct tf_cunit_test encode_tests[] = {
	TF_TEST(test_reject),
	TF_TEST(test_round_trip_every_type),
	TF_TEST(test_no_space),
	TF_TEST(test_refuses_what_would_not_decode),
	TF_TEST(test_tokens_capacity),
	TF_TEST(test_in_place_build),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "encode", suite_init, NULL, encode_tests })
