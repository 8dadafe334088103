/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/proto/mac.c, mac_hmac_sha256.c, mac_siphash.c: RFC 4231 vectors
 * (truncated to 128 bits as RFC 4868), the SipHash-2-4-128 reference vectors
 * and protocol.md's subkey derivation, pre-keyed state, constant-time
 * verify, key ids, algorithm policy, replay window.
 */
#include "tf_cunit.h"
#include "ut_proto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

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
	CU_ASSERT_EQUAL(tf_proto_key_init(&k, TF_PROTO_MAC_ALG_MAX + 1, 0, s, 32),
			-TF_PROTO_R_BAD_MAC_ALG);
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

/*
 * SipHash-2-4-128 as libsodium computes it is the reference algorithm: the
 * designers' vectors (key 00..0f, message 00..n-1), cross-checked here
 * against an independent implementation when the vectors were chosen.
 */
static void
test_siphash_reference_vectors(void)
{
	static const struct {
		size_t n;
		const char *tag;
	} v[] = {
		{ 0, "a3817f04ba25a8e66df67214c7550293" },
		{ 1, "da87c1d86b99af44347659119b22fc45" },
		{ 15, "5493e99933b0a8117e08ec0f97cfc3d9" },
		{ 64, "1eaf077dc0d4cd3f8cad4d383658a74b" },
	};
	uint8_t key[16], msg[64], want[16], got[16];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		hex(v[i].tag, want);
		crypto_shorthash_siphashx24(got, msg, v[i].n, key);
		CU_ASSERT_EQUAL(memcmp(got, want, 16), 0);
	}
}

/* mac_alg 2 = SipHash-2-4-128 under HMAC-SHA256(secret, label)[0, 16), protocol.md 4.1. */
static void
test_siphash_subkey_derivation(void)
{
	static const char label[] = "tokfab mac_alg 2 siphash-2-4-128";
	struct tf_proto_key k;
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_REQUEST), d;
	uint8_t secret[32], sub[32], want[16], got[16], b[TF_PROTO_MAX_DGRAM];
	unsigned int sl = sizeof(sub);
	int n;

	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)i;
	CU_ASSERT_PTR_NOT_NULL_FATAL(HMAC(EVP_sha256(), secret, sizeof(secret),
					  (const uint8_t *)label, sizeof(label) - 1, sub, &sl));
	CU_ASSERT_EQUAL_FATAL(tf_proto_key_init(&k, TF_PROTO_MAC_SIPHASH, 0, secret, 32), 0);
	CU_ASSERT_EQUAL(k.alg, TF_PROTO_MAC_SIPHASH);
	CU_ASSERT_EQUAL(k.algs, TF_PROTO_MAC_ALGS_KNOWN);
	crypto_shorthash_siphashx24(want, (const uint8_t *)"hello, card", 11, sub);
	tf_proto_mac(&k, "hello, card", 11, got);
	CU_ASSERT_EQUAL(memcmp(got, want, 16), 0);
	/* Encoded under the key's default (SipHash): header mac_alg 2, tag over header + payload. */
	n = tf_proto_encode(b, sizeof(b), &m, &k);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(b[7], TF_PROTO_MAC_SIPHASH);
	crypto_shorthash_siphashx24(want, b, (size_t)n - 16, sub);
	CU_ASSERT_EQUAL(memcmp(b + n - 16, want, 16), 0);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&k, &d), 0);
	for (int i = 0; i < n; i++) {
		b[i] ^= 0x10;
		if (tf_proto_decode(b, (size_t)n, &d) == 0)
			CU_ASSERT_EQUAL(tf_proto_verify(&k, &d), -TF_PROTO_R_BAD_MAC);
		b[i] ^= 0x10;
	}
	tf_proto_key_wipe(&k);
}

/* One key, both algorithms: the header says which; the policy says which are accepted. */
static void
test_algorithm_choice_and_policy(void)
{
	struct tf_proto_key k, hm;
	struct tf_proto_msg m = ut_valid_msg(TF_PROTO_T_PING), d, in;
	uint8_t s[32], b[TF_PROTO_MAX_DGRAM], r[TF_PROTO_MAX_DGRAM];
	int n;

	memset(s, 0x33, sizeof(s));
	CU_ASSERT_EQUAL_FATAL(tf_proto_key_init(&k, TF_PROTO_MAC_HMAC_SHA256, 0, s, 32), 0);
	hm = k;
	/* m.mac_alg picks the algorithm; 0 is the key's default. */
	n = tf_proto_encode(b, sizeof(b), &m, &k);
	CU_ASSERT_EQUAL(b[7], TF_PROTO_MAC_HMAC_SHA256);
	m.mac_alg = TF_PROTO_MAC_SIPHASH;
	n = tf_proto_encode(b, sizeof(b), &m, &k);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(b[7], TF_PROTO_MAC_SIPHASH);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&k, &d), 0);
	/* A card that allows HMAC only refuses it, though the tag is right. */
	CU_ASSERT_EQUAL(tf_proto_key_restrict(&hm, TF_PROTO_MAC_BIT(TF_PROTO_MAC_HMAC_SHA256)), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&hm, &d), -TF_PROTO_R_BAD_MAC);
	CU_ASSERT_EQUAL(tf_proto_encode(r, sizeof(r), &m, &hm), -TF_PROTO_R_BAD_MAC_ALG);
	/* Changing the header's algorithm byte breaks the tag (it is covered). */
	b[7] = TF_PROTO_MAC_HMAC_SHA256;
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&k, &d), -TF_PROTO_R_BAD_MAC);
	b[7] = TF_PROTO_MAC_SIPHASH;
	/* tf_proto_sign() signs under the header's algorithm. */
	CU_ASSERT_EQUAL(tf_proto_sign(b, sizeof(b), &k), n);
	CU_ASSERT_EQUAL(tf_proto_sign(b, sizeof(b), &hm), -TF_PROTO_R_BAD_MAC_ALG);
	/* A refusal answers under the refused message's algorithm. */
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(b, (size_t)n, &in), 0);
	n = tf_proto_encode_reject(r, sizeof(r), &in, (size_t)n, -TF_PROTO_R_REPLAY, &k, 1);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(r[7], TF_PROTO_MAC_SIPHASH);
	/* ... or the key's default when the policy does not allow it. */
	n = tf_proto_encode_reject(r, sizeof(r), &in, 64, -TF_PROTO_R_REPLAY, &hm, 1);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(r[7], TF_PROTO_MAC_HMAC_SHA256);
	/* Restricting moves the default to an allowed algorithm; bad sets are refused. */
	CU_ASSERT_EQUAL(tf_proto_key_restrict(&k, TF_PROTO_MAC_BIT(TF_PROTO_MAC_SIPHASH)), 0);
	CU_ASSERT_EQUAL(k.alg, TF_PROTO_MAC_SIPHASH);
	CU_ASSERT_EQUAL(tf_proto_key_restrict(&k, 0), -EINVAL);
	CU_ASSERT_EQUAL(tf_proto_key_restrict(&k, TF_PROTO_MAC_BIT(TF_PROTO_MAC_NONE)), -EINVAL);
	CU_ASSERT_EQUAL(tf_proto_key_restrict(&k, 1u << 5), -EINVAL);
	CU_ASSERT_EQUAL(k.algs, TF_PROTO_MAC_BIT(TF_PROTO_MAC_SIPHASH));
	/* Names. */
	CU_ASSERT_EQUAL(tf_proto_mac_alg_parse("siphash"), TF_PROTO_MAC_SIPHASH);
	CU_ASSERT_EQUAL(tf_proto_mac_alg_parse("HMAC"), TF_PROTO_MAC_HMAC_SHA256);
	CU_ASSERT_EQUAL(tf_proto_mac_alg_parse("hmac-sha256"), TF_PROTO_MAC_HMAC_SHA256);
	CU_ASSERT_EQUAL(tf_proto_mac_alg_parse("md5"), -EINVAL);
	CU_ASSERT_STRING_EQUAL(tf_proto_mac_alg_name(TF_PROTO_MAC_SIPHASH), "siphash");
	CU_ASSERT_STRING_EQUAL(tf_proto_mac_alg_name(9), "unknown");
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
	TF_TEST(test_siphash_reference_vectors),
	TF_TEST(test_siphash_subkey_derivation),
	TF_TEST(test_algorithm_choice_and_policy),
	TF_TEST(test_replay_window),
	TF_TEST(test_replayed_datagram),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "mac", NULL, NULL, mac_tests })
