/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the wire protocol decoder on arbitrary datagrams.
 * Besides "no crash, no out-of-bounds read" (ASan/UBSan) it checks that
 * whatever decodes re-encodes to the very same header and payload bytes
 * (the decoder accepts nothing the encoder would not produce), and runs
 * the MAC check and the reassembly of REQUEST/FRAGMENT pieces.
 */
#include "tokfab/proto.h"

#include <stdlib.h>
#include <string.h>

static struct tf_proto_key g_key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tf_proto_reasm r;
	static uint8_t prompt[TF_PROTO_MAX_PROMPT];
	uint8_t out[TF_PROTO_MAX_DGRAM];
	struct tf_proto_msg m;
	struct tf_proto_key key;
	int rc, n;

	if (!g_key.alg) {
		uint8_t s[TF_PROTO_KEY_LEN];

		for (unsigned i = 0; i < sizeof(s); i++)
			s[i] = (uint8_t)i;
		tf_proto_key_init(&g_key, TF_PROTO_MAC_HMAC_SHA256, 0, s, sizeof(s));
	}
	rc = tf_proto_decode(data, size, &m);
	if (rc) {
		if (rc >= 0 || -rc >= TF_PROTO_R_COUNT)
			abort();
		/* The reply to a refused datagram: never an unsigned amplifier. */
		n = tf_proto_encode_reject(out, sizeof(out), &m, size, rc, NULL, 1);
		if (n < 0 || (n > 0 && (size_t)n > size))
			abort();
		n = tf_proto_encode_reject(out, sizeof(out), &m, size, rc, &g_key, 1);
		if (n < 0)
			abort();
		return 0;
	}
	/* Re-encode (signed with the fuzz key, or unsigned for an unsigned ERROR). */
	key = g_key;
	key.key_id = m.key_id;
	if (m.mac)
		(void)tf_proto_verify(&key, &m);
	n = tf_proto_encode(out, sizeof(out), &m, m.mac ? &key : NULL);
	if (n != (int)size || memcmp(out, data, m.signed_len) != 0)
		abort();
	tf_proto_reasm_init(&r, prompt, sizeof(prompt));
	if (m.type == TF_PROTO_T_REQUEST)
		rc = tf_proto_reasm_add(&r, m.u.req.prompt_total_len, 0, m.u.req.prompt,
					m.u.req.prompt_len);
	else if (m.type == TF_PROTO_T_FRAGMENT)
		rc = tf_proto_reasm_add(&r, m.u.frag.prompt_total_len, m.u.frag.offset,
					m.u.frag.data, m.u.frag.len);
	else
		rc = 0;
	/* A piece the decoder accepted is always accepted by a fresh reassembly. */
	if (rc < 0)
		abort();
	if (m.type == TF_PROTO_T_REQUEST && m.u.req.prompt_kind == TF_PROTO_PROMPT_TEXT)
		(void)tf_proto_utf8_valid(m.u.req.prompt, m.u.req.prompt_len);
	return 0;
}
