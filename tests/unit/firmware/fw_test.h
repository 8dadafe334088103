/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the libtffw unit tests: keys and images to test with. */
#ifndef TF_TEST_FW_TEST_H
#define TF_TEST_FW_TEST_H

#include "fw.h"
#include "tf_cunit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define T_BOARD 0x54460001u

struct t_key {
	struct tf_fw_key *key;
	uint8_t pub[TF_FW_PUBKEY_SIZE];
};

static inline void
t_key_new(struct t_key *k)
{
	CU_ASSERT_FATAL(tf_fw_key_generate(&k->key) == 0);
	CU_ASSERT_FATAL(tf_fw_key_public(k->key, k->pub) == 0);
}

static inline void
t_key_free(struct t_key *k)
{
	tf_fw_key_free(k->key);
	k->key = NULL;
}

/* Deterministic filler so failures reproduce. */
static inline void
t_fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

struct t_image_spec {
	uint16_t version[3];
	uint32_t security_version;
	uint32_t board_id;
	size_t len[3]; /* dataplane, accel, config; 0 = leave out (dataplane required) */
	uint32_t seed;
};

/* Builds an image per spec, signed with k unless k is NULL; 0 or -errno. */
static inline int
t_image_try(const struct t_image_spec *s, const struct t_key *k, uint8_t **img, size_t *len)
{
	static const uint16_t types[3] = { TF_FW_SECT_DATAPLANE, TF_FW_SECT_ACCEL,
					   TF_FW_SECT_CONFIG };
	struct tf_fw_build_input in;
	struct tf_fw_diag d;
	uint8_t *data[3] = { 0 };
	int r;

	memset(&in, 0, sizeof(in));
	memcpy(in.version, s->version, sizeof(in.version));
	in.security_version = s->security_version;
	in.board_id = s->board_id;
	in.abi = (struct tf_fw_abi){ 1, 0, 1, 0, 1, 0, 0 };
	for (int i = 0; i < 3; i++) {
		if (!s->len[i])
			continue;
		data[i] = malloc(s->len[i]);
		if (!data[i])
			return -ENOMEM;
		t_fill(data[i], s->len[i], s->seed * 7 + (uint32_t)i);
		in.sect[in.nsections++] =
			(struct tf_fw_build_section){ types[i], data[i], s->len[i] };
	}
	r = tf_fw_image_build(&in, img, len, &d);
	if (!r && k)
		r = tf_fw_image_sign(*img, *len, k->key, &d);
	for (int i = 0; i < 3; i++)
		free(data[i]);
	return r;
}

static inline void
t_image(const struct t_image_spec *s, const struct t_key *k, uint8_t **img, size_t *len)
{
	CU_ASSERT_FATAL(t_image_try(s, k, img, len) == 0);
}

/* A small signed image for the board with the given security version. */
static inline void
t_image_sv(const struct t_key *k, uint32_t sv, uint32_t seed, uint8_t **img, size_t *len)
{
	struct t_image_spec s = { { 1, (uint16_t)sv, (uint16_t)seed },
				  sv,
				  T_BOARD,
				  { 2000 + seed % 100, 700, 50 },
				  seed };

	t_image(&s, k, img, len);
}

#endif /* TF_TEST_FW_TEST_H */
