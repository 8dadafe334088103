/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HMAC-SHA256 with pre-computed midstates (RFC 2104): the key's inner
 * (K ^ ipad) and outer (K ^ opad) blocks are compressed once at key set-up,
 * so each MAC costs only the message blocks plus one outer block.
 *
 * This file uses OpenSSL's low-level SHA256_Init/Update/Final, deprecated in
 * OpenSSL 3 and hence built with -Wno-deprecated-declarations (this file
 * only, see lib/proto/module.mk). Reason: EVP cannot resume from a stored
 * midstate without an allocation per message (EVP_MD_CTX_copy_ex and
 * EVP_MAC_CTX_dup duplicate the provider context on the heap); the cost of
 * each variant is measured side by side by tests/bench/bench_proto.sh
 * (hwdocs/performance.md, "Protocol codec"). SHA256_Update uses the
 * SHA-NI/AVX2 block functions when the CPU has them, exactly like EVP.
 */
#include "proto/mac.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

struct hmac_state {
	SHA256_CTX inner; /* after compressing K ^ ipad */
	SHA256_CTX outer; /* after compressing K ^ opad */
};

_Static_assert(sizeof(struct hmac_state) <= TF_PROTO_MAC_STATE_HMAC_LEN,
	       "HMAC midstates fit in their part of struct tf_proto_key");

static int
hmac_init(uint8_t *state, const uint8_t *secret, size_t len)
{
	struct hmac_state st;
	uint8_t k[SHA256_CBLOCK] = { 0 }, pad[SHA256_CBLOCK];

	if (len > SHA256_CBLOCK)
		SHA256(secret, len, k);
	else
		memcpy(k, secret, len);
	for (size_t i = 0; i < SHA256_CBLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	SHA256_Init(&st.inner);
	SHA256_Update(&st.inner, pad, sizeof(pad));
	for (size_t i = 0; i < SHA256_CBLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	SHA256_Init(&st.outer);
	SHA256_Update(&st.outer, pad, sizeof(pad));
	memcpy(state, &st, sizeof(st));
	OPENSSL_cleanse(&st, sizeof(st));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	return 0;
}

static void
hmac_full(const uint8_t *state, const void *data, size_t len, uint8_t out[SHA256_DIGEST_LENGTH])
{
	SHA256_CTX c;
	uint8_t ih[SHA256_DIGEST_LENGTH];

	memcpy(&c, state + offsetof(struct hmac_state, inner), sizeof(c));
	SHA256_Update(&c, data, len);
	SHA256_Final(ih, &c);
	memcpy(&c, state + offsetof(struct hmac_state, outer), sizeof(c));
	SHA256_Update(&c, ih, sizeof(ih));
	SHA256_Final(out, &c);
}

static void
hmac_mac(const uint8_t *state, const void *data, size_t len, uint8_t *out)
{
	uint8_t full[SHA256_DIGEST_LENGTH];

	hmac_full(state, data, len, full);
	memcpy(out, full, TF_PROTO_MAC_LEN);
}

void
tf_proto_hmac_sha256_raw(const uint8_t *secret, size_t secret_len, const void *data, size_t len,
			 uint8_t out[32])
{
	uint8_t st[sizeof(struct hmac_state)];

	hmac_init(st, secret, secret_len);
	hmac_full(st, data, len, out);
	OPENSSL_cleanse(st, sizeof(st));
}

const struct tf_proto_mac_ops tf_proto_mac_hmac_sha256 = {
	.name = "hmac-sha256",
	.alg = TF_PROTO_MAC_HMAC_SHA256,
	.state_off = TF_PROTO_MAC_STATE_HMAC,
	.state_len = sizeof(struct hmac_state),
	.init = hmac_init,
	.mac = hmac_mac,
};
