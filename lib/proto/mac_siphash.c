/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mac_alg 2: SipHash-2-4 with a 128-bit tag (protocol.md 4.1), libsodium's
 * crypto_shorthash_siphashx24. The 16-byte SipHash key is derived once per
 * key from the tenant's secret:
 *
 *     subkey = HMAC-SHA256(secret, "tokfab mac_alg 2 siphash-2-4-128")[0, 16)
 *
 * (no protocol message can collide with the label: every message starts with
 * "TKFB"). Per message it costs ~40 ns for a 96-byte REQUEST where the
 * pre-keyed HMAC-SHA256 costs ~140 ns (hwdocs/performance.md, "Protocol
 * codec", where OpenSSL's EVP SIPHASH and the other candidates are measured).
 */
#include "proto/mac.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <sodium.h>

#define SIPHASH_LABEL "tokfab mac_alg 2 siphash-2-4-128"

_Static_assert(crypto_shorthash_siphashx24_KEYBYTES == TF_PROTO_MAC_STATE_SIPHASH_LEN,
	       "SipHash key size");
_Static_assert(crypto_shorthash_siphashx24_BYTES == TF_PROTO_MAC_LEN, "SipHash-128 tag size");

static int
siphash_init(uint8_t *state, const uint8_t *secret, size_t len)
{
	uint8_t full[32];

	/* Thread-safe and idempotent; SipHash itself needs no set-up, but libsodium asks for it. */
	if (sodium_init() < 0)
		return -ENOSYS;
	tf_proto_hmac_sha256_raw(secret, len, SIPHASH_LABEL, sizeof(SIPHASH_LABEL) - 1, full);
	memcpy(state, full, crypto_shorthash_siphashx24_KEYBYTES);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

static void
siphash_mac(const uint8_t *state, const void *data, size_t len, uint8_t *out)
{
	crypto_shorthash_siphashx24(out, data, len, state);
}

const struct tf_proto_mac_ops tf_proto_mac_siphash = {
	.name = "siphash",
	.alg = TF_PROTO_MAC_SIPHASH,
	.state_off = TF_PROTO_MAC_STATE_SIPHASH,
	.state_len = TF_PROTO_MAC_STATE_SIPHASH_LEN,
	.init = siphash_init,
	.mac = siphash_mac,
};
