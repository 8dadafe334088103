/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/proto/mac.c, mac_hmac_sha256.c: RFC 4231 vectors (truncated to 128
 * bits as RFC 4868), pre-keyed state, constant-time verify, key ids, replay
 * window.
 */
#include "tf_cunit.h"
#include "ut_proto.h"

#include <errno.h>

static void
hex(const char *s, uint8_t *out)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void
check(const uint8_t *key, size_t klen, const void *data, size_t dlen, const char *want_hex)
{
	struct tf_proto_key k;
	uint8_t want[TF_PROTO_MAC_LEN], got[TF_PROTO_MAC_LEN];

	CU_ASSERT_EQUAL_FATAL(tf_proto_key_init(&k, TF_PROTO_MAC_HMAC_SHA256, 0, key, klen), 0);
	hex(want_hex, want);
	tf_proto_mac(&k, data, dlen, got);
	CU_ASSERT_EQUAL(memcmp(got, want, sizeof(want)), 0);
	/* The pre-keyed state is reusable: same input, same tag. */
	tf_proto_mac(&k, data, dlen, got);
	CU_ASSERT_EQUAL(memcmp(got, want, sizeof(want)), 0);
	tf_proto_key_wipe(&k);
}

static void
test_rfc4231_vectors(void)
{
	uint8_t k[131], d[50];
	static const char long_data[] =
		"This is a test using a larger than block-size key and a larger than block-size "
		"data. The key needs to be hashed before being used by the HMAC algorithm.";

	memset(k, 0x0b, 20);
	check(k, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b");
	check((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
	      "5bdcc146bf60754e6a042426089575c7");
	memset(k, 0xaa, sizeof(k));
	memset(d, 0xdd, sizeof(d));
	check(k, 20, d, sizeof(d), "773ea91e36800e46854db8ebd09181a7");
	check(k, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
	      "60e431591ee0b67f0d8a26aacbf5b77f");
	check(k, 131, long_data, sizeof(long_data) - 1, "9b09ffa71b942fcb27635fbcd5b0e944");
}

static void
test_key_init_errors(void)
{
	struct tf_proto_key k;
	uint8_t s[32] = { 1 };

	CU_ASSERT_EQUAL(tf_proto_key_init(&k, TF_PROTO_MAC_NONE, 0, s, 32),
			-TF_PROTO_R_BAD_MAC_ALG);
	CU_ASSERT_EQUAL(tf_proto_key_init(&k, 2, 0, s, 32), -TF_PROTO_R_BAD_MAC_ALG);
	CU_ASSERT_EQUAL(tf_proto_key_init(&k, 255, 0, s, 32), -TF_PROTO_R_BAD_MAC_ALG);
	CU_ASSERT_EQUAL(tf_proto_key_init(&k, TF_PROTO_MAC_HMAC_SHA256, 0, s, 0), -EINVAL);
	CU_ASSERT_EQUAL(tf_proto_key_init(&k, TF_PROTO_MAC_HMAC_SHA256, 0, NULL, 32), -EINVAL);
	CU_ASSERT_EQUAL(tf_proto_key_init(&k, TF_PROTO_MAC_HMAC_SHA256, 3, s, 32), 0);
	tf_proto_key_wipe(&k);
	for (size_t i = 0; i < sizeof(k.state); i++)
		CU_ASSERT_EQUAL_FATAL(k.state[i], 0);
}

static void
test_verify_rejects_wrong_key_and_id(void)
{
	struct tf_proto_key k, other, k1;
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_REQUEST), d;
	uint8_t b[TF_PROTO_MAX_DGRAM], s[32];
	int n;

	ut_example_key(&k);
	memset(s, 0x5a, sizeof(s));
	tf_proto_key_init(&other, TF_PROTO_MAC_HMAC_SHA256, 0, s, sizeof(s));
	tf_proto_key_init(&k1, TF_PROTO_MAC_HMAC_SHA256, 1, s, sizeof(s));
	n = tf_proto_encode(b, sizeof(b), &m, &k);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&k, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&other, &d), -TF_PROTO_R_BAD_MAC);
	/* Signed with key id 0; a key registered as id 1 does not answer. */
	CU_ASSERT_EQUAL(tf_proto_verify(&k1, &d), -TF_PROTO_R_BAD_MAC);
	/* Each MAC byte matters. */
	for (int i = 0; i < TF_PROTO_MAC_LEN; i++) {
		b[n - 1 - i] ^= 0x01;
		CU_ASSERT_EQUAL(tf_proto_verify(&k, &d), -TF_PROTO_R_BAD_MAC);
		b[n - 1 - i] ^= 0x01;
	}
	/* Signed with k1: header carries key id 1. */
	n = tf_proto_encode(b, sizeof(b), &m, &k1);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(d.key_id, 1);
	CU_ASSERT_EQUAL(tf_proto_verify(&k1, &d), 0);
}

static void
test_verify_burst_matches_single(void)
{
	struct tf_proto_key k, other;
	uint8_t b[4][TF_PROTO_MAX_DGRAM], s[32] = { 9 };
	struct tf_proto_msg d[4];
	const struct tf_proto_key *keys[4];
	const struct tf_proto_msg *msgs[4];
	int rc[4];

	ut_example_key(&k);
	tf_proto_key_init(&other, TF_PROTO_MAC_HMAC_SHA256, 0, s, sizeof(s));
	for (int i = 0; i < 4; i++) {
		struct tf_proto_msg m = ut_valid_msg(i % 2 ? TF_PROTO_T_PING : TF_PROTO_T_REQUEST);
		int n = tf_proto_encode(b[i], sizeof(b[i]), &m, &k);

		CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b[i], (size_t)n, &d[i]), 0);
		keys[i] = i == 2 ? &other : &k;
		msgs[i] = &d[i];
	}
	CU_ASSERT_EQUAL(tf_proto_verify_burst(keys, msgs, 4, rc), 3);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(rc[i], tf_proto_verify(keys[i], msgs[i]));
	CU_ASSERT_EQUAL(rc[2], -TF_PROTO_R_BAD_MAC);
}

static void
test_replay_window(void)
{
	const uint64_t now = 1767225600000000ull, w = TF_PROTO_REPLAY_WINDOW_US;

	CU_ASSERT_EQUAL(tf_proto_check_time(now, now, w), 0);
	CU_ASSERT_EQUAL(tf_proto_check_time(now - w, now, w), 0);
	CU_ASSERT_EQUAL(tf_proto_check_time(now + w, now, w), 0);
	CU_ASSERT_EQUAL(tf_proto_check_time(now - w - 1, now, w), -TF_PROTO_R_REPLAY);
	CU_ASSERT_EQUAL(tf_proto_check_time(now + w + 1, now, w), -TF_PROTO_R_REPLAY);
	CU_ASSERT_EQUAL(tf_proto_check_time(0, now, w), -TF_PROTO_R_REPLAY);
	CU_ASSERT_EQUAL(tf_proto_check_time(UINT64_MAX, now, w), -TF_PROTO_R_REPLAY);
}

/* A captured datagram replayed after the window is refused (by time). */
static void
test_replayed_datagram(void)
{
	struct tf_proto_key k;
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_REQUEST), d;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n;

	ut_example_key(&k);
	n = tf_proto_encode(b, sizeof(b), &m, &k);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&k, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_check_time(d.timestamp_us, m.timestamp_us + 1000,
					    TF_PROTO_REPLAY_WINDOW_US),
			0);
	CU_ASSERT_EQUAL(tf_proto_check_time(d.timestamp_us,
					    m.timestamp_us + TF_PROTO_REPLAY_WINDOW_US + 1,
					    TF_PROTO_REPLAY_WINDOW_US),
			-TF_PROTO_R_REPLAY);
	/* Moving the timestamp forward breaks the MAC. */
	tf_proto_st64(b + 24, m.timestamp_us + TF_PROTO_REPLAY_WINDOW_US);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&k, &d), -TF_PROTO_R_BAD_MAC);
}

static const struct tf_cunit_test mac_tests[] = {
	TF_TEST(test_rfc4231_vectors),
	TF_TEST(test_key_init_errors),
	TF_TEST(test_verify_rejects_wrong_key_and_id),
	TF_TEST(test_verify_burst_matches_single),
	TF_TEST(test_replay_window),
	TF_TEST(test_replayed_datagram),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "mac", NULL, NULL, mac_tests })
