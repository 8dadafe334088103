/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MAC algorithm plug-in table (internal to libtfproto). One const ops per
 * algorithm, looked up by the header's mac_alg; the codec never branches on
 * the algorithm.
 */
#ifndef TF_PROTO_MAC_H
#define TF_PROTO_MAC_H

#include "tokfab/proto.h"

struct tf_proto_mac_ops {
	const char *name;
	uint8_t alg;
	/* Pre-key: fill state (at most sizeof(struct tf_proto_key.state)). */
	int (*init)(uint8_t *state, const uint8_t *secret, size_t len);
	/* Full-length tag of data into out (at least TF_PROTO_MAC_LEN bytes). */
	void (*mac)(const uint8_t *state, const void *data, size_t len, uint8_t *out);
};

extern const struct tf_proto_mac_ops tf_proto_mac_hmac_sha256;

#endif /* TF_PROTO_MAC_H */
