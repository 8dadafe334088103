/* SPDX-License-Identifier: BSD-3-Clause */
/* Tenant keys, MAC computation and constant-time verification. */
#include "proto/mac.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <strings.h>

static const struct tf_proto_mac_ops *const g_mac_ops[] = {
	[TF_PROTO_MAC_HMAC_SHA256] = &tf_proto_mac_hmac_sha256,
	[TF_PROTO_MAC_SIPHASH] = &tf_proto_mac_siphash,
};
#define NOPS (sizeof(g_mac_ops) / sizeof(g_mac_ops[0]))
_Static_assert(NOPS == TF_PROTO_MAC_ALG_MAX + 1, "an ops table for every algorithm");

static const struct tf_proto_mac_ops *
ops_of(uint8_t alg)
{
	return alg < NOPS ? g_mac_ops[alg] : NULL;
}

/* The ops of alg if k holds and accepts it. */
static const struct tf_proto_mac_ops *
key_ops(const struct tf_proto_key *k, uint8_t alg)
{
	if (alg >= 8 || !(k->algs & TF_PROTO_MAC_BIT(alg)))
		return NULL;
	return ops_of(alg);
}

int
tf_proto_key_init(struct tf_proto_key *k, uint8_t alg, uint8_t key_id, const uint8_t *secret,
		  size_t secret_len)
{
	int rc;

	memset(k, 0, sizeof(*k));
	if (!ops_of(alg))
		return -TF_PROTO_R_BAD_MAC_ALG;
	if (!secret || secret_len == 0)
		return -EINVAL;
	for (unsigned int a = 0; a < NOPS; a++) {
		const struct tf_proto_mac_ops *ops = g_mac_ops[a];

		if (!ops)
			continue;
		rc = ops->init(k->state + ops->state_off, secret, secret_len);
		if (rc) {
			tf_proto_key_wipe(k);
			return rc;
		}
	}
	k->alg = alg;
	k->key_id = key_id;
	k->algs = TF_PROTO_MAC_ALGS_KNOWN;
	return 0;
}

int
tf_proto_key_restrict(struct tf_proto_key *k, uint32_t algs)
{
	if (!algs || (algs & ~(uint32_t)TF_PROTO_MAC_ALGS_KNOWN))
		return -EINVAL;
	k->algs = (uint8_t)algs;
	if (!(algs & TF_PROTO_MAC_BIT(k->alg)))
		k->alg = (uint8_t)(ffs((int)algs) - 1);
	return 0;
}

void
tf_proto_key_wipe(struct tf_proto_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

/* Tag under alg; an algorithm the key does not hold gives a tag nothing verifies. */
static void
mac_alg(const struct tf_proto_key *k, uint8_t alg, const void *data, size_t len, uint8_t *out)
{
	const struct tf_proto_mac_ops *ops = key_ops(k, alg);

	if (!ops) {
		memset(out, 0, TF_PROTO_MAC_LEN);
		return;
	}
	ops->mac(k->state + ops->state_off, data, len, out);
}

void
tf_proto_mac(const struct tf_proto_key *k, const void *data, size_t len, uint8_t *out)
{
	mac_alg(k, k->alg, data, len, out);
}

int
tf_proto_mac_hdr(const struct tf_proto_key *k, uint8_t alg, const void *data, size_t len,
		 uint8_t *out)
{
	if (!key_ops(k, alg))
		return -TF_PROTO_R_BAD_MAC_ALG;
	mac_alg(k, alg, data, len, out);
	return 0;
}

int
tf_proto_verify(const struct tf_proto_key *k, const struct tf_proto_msg *m)
{
	uint8_t tag[TF_PROTO_MAC_LEN];

	if (m->mac_alg == TF_PROTO_MAC_NONE || !m->mac)
		return -TF_PROTO_R_NO_MAC;
	if (m->key_id != k->key_id || !key_ops(k, m->mac_alg))
		return -TF_PROTO_R_BAD_MAC;
	mac_alg(k, m->mac_alg, m->raw, m->signed_len, tag);
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

const char *
tf_proto_mac_alg_name(uint8_t alg)
{
	if (alg == TF_PROTO_MAC_NONE)
		return "none";
	return ops_of(alg) ? ops_of(alg)->name : "unknown";
}

int
tf_proto_mac_alg_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	if (!strcasecmp(s, "hmac") || !strcasecmp(s, "hmac-sha256") || !strcmp(s, "1"))
		return TF_PROTO_MAC_HMAC_SHA256;
	if (!strcasecmp(s, "siphash") || !strcasecmp(s, "siphash-2-4") || !strcmp(s, "2"))
		return TF_PROTO_MAC_SIPHASH;
	return -EINVAL;
}
