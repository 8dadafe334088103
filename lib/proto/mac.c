/* SPDX-License-Identifier: BSD-3-Clause */
/* Tenant keys, MAC computation and constant-time verification. */
#include "proto/mac.h"

#include <errno.h>
#include <openssl/crypto.h>

static const struct tf_proto_mac_ops *const g_mac_ops[] = {
	[TF_PROTO_MAC_HMAC_SHA256] = &tf_proto_mac_hmac_sha256,
};

static const struct tf_proto_mac_ops *
ops_of(uint8_t alg)
{
	return alg < sizeof(g_mac_ops) / sizeof(g_mac_ops[0]) ? g_mac_ops[alg] : NULL;
}

int
tf_proto_key_init(struct tf_proto_key *k, uint8_t alg, uint8_t key_id, const uint8_t *secret,
		  size_t secret_len)
{
	const struct tf_proto_mac_ops *ops = ops_of(alg);

	memset(k, 0, sizeof(*k));
	if (!ops)
		return -TF_PROTO_R_BAD_MAC_ALG;
	if (!secret || secret_len == 0)
		return -EINVAL;
	k->alg = alg;
	k->key_id = key_id;
	return ops->init(k->state, secret, secret_len);
}

void
tf_proto_key_wipe(struct tf_proto_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

void
tf_proto_mac(const struct tf_proto_key *k, const void *data, size_t len, uint8_t *out)
{
	const struct tf_proto_mac_ops *ops = ops_of(k->alg);
	uint8_t full[64];

	if (!ops) {
		/* An uninitialised key signs nothing that would verify. */
		memset(out, 0, TF_PROTO_MAC_LEN);
		return;
	}
	ops->mac(k->state, data, len, full);
	memcpy(out, full, TF_PROTO_MAC_LEN);
}

int
tf_proto_verify(const struct tf_proto_key *k, const struct tf_proto_msg *m)
{
	uint8_t tag[TF_PROTO_MAC_LEN];

	if (m->mac_alg == TF_PROTO_MAC_NONE || !m->mac)
		return -TF_PROTO_R_NO_MAC;
	if (m->mac_alg != k->alg || m->key_id != k->key_id || !ops_of(k->alg))
		return -TF_PROTO_R_BAD_MAC;
	tf_proto_mac(k, m->raw, m->signed_len, tag);
	return CRYPTO_memcmp(tag, m->mac, TF_PROTO_MAC_LEN) == 0 ? 0 : -TF_PROTO_R_BAD_MAC;
}

unsigned
tf_proto_verify_burst(const struct tf_proto_key *const *keys,
		      const struct tf_proto_msg *const *msgs, unsigned n, int *rc)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++) {
		rc[i] = tf_proto_verify(keys[i], msgs[i]);
		ok += rc[i] == 0;
	}
	return ok;
}
