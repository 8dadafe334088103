/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MAC algorithm plug-in table (internal to libtfproto). One const ops per
 * algorithm, looked up by the header's mac_alg; the codec never branches on
 * the algorithm. A key holds every algorithm's state side by side in
 * struct tf_proto_key.state, each at its own fixed offset.
 */
#ifndef TF_PROTO_MAC_H
#define TF_PROTO_MAC_H

#include "tokfab/proto.h"

struct tf_proto_mac_ops {
	const char *name;
	uint8_t alg;
	uint16_t state_off; /* where this algorithm's state lives in tf_proto_key.state */
	uint16_t state_len;
	/* Pre-key from the tenant secret: fill state (state_len bytes). */
	int (*init)(uint8_t *state, const uint8_t *secret, size_t len);
	/* Tag of data into out[TF_PROTO_MAC_LEN]. */
	void (*mac)(const uint8_t *state, const void *data, size_t len, uint8_t *out);
};

/* The state layout: HMAC midstates first, the SipHash subkey after them. */
#define TF_PROTO_MAC_STATE_HMAC 0
#define TF_PROTO_MAC_STATE_HMAC_LEN 224
#define TF_PROTO_MAC_STATE_SIPHASH (TF_PROTO_MAC_STATE_HMAC + TF_PROTO_MAC_STATE_HMAC_LEN)
#define TF_PROTO_MAC_STATE_SIPHASH_LEN 16
_Static_assert(TF_PROTO_MAC_STATE_SIPHASH + TF_PROTO_MAC_STATE_SIPHASH_LEN <=
		       sizeof(((struct tf_proto_key *)0)->state),
	       "every algorithm's state fits in struct tf_proto_key");

extern const struct tf_proto_mac_ops tf_proto_mac_hmac_sha256;
extern const struct tf_proto_mac_ops tf_proto_mac_siphash;

/* Tag of data under alg, which k must accept (tf_proto_sign); 0 or -TF_PROTO_R_BAD_MAC_ALG. */
int tf_proto_mac_hdr(const struct tf_proto_key *k, uint8_t alg, const void *data, size_t len,
		     uint8_t *out);

/* HMAC-SHA256 of data under a raw secret (key derivation; not the fast path). */
void tf_proto_hmac_sha256_raw(const uint8_t *secret, size_t secret_len, const void *data,
			      size_t len, uint8_t out[32]);

#endif /* TF_PROTO_MAC_H */
