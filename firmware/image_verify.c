/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Image verification: structure (image_parse.c), then key id, then the
 * Ed25519 signature over header + section table, then each section's
 * SHA-256 (trusted only once the signature holds). Card policy apart.
 */
#include "fw_internal.h"

#include <errno.h>
#include <openssl/evp.h>

int
tf_fw_sha256(const void *buf, size_t len, uint8_t out[TF_FW_SHA256_SIZE])
{
	unsigned int n = 0;

	if (!EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) || n != TF_FW_SHA256_SIZE)
		return -EIO;
	return 0;
}

int
tf_fw_key_id(const uint8_t pubkey[TF_FW_PUBKEY_SIZE], uint8_t key_id[TF_FW_KEY_ID_SIZE])
{
	uint8_t h[TF_FW_SHA256_SIZE];
	int r = tf_fw_sha256(pubkey, TF_FW_PUBKEY_SIZE, h);

	if (r)
		return r;
	memcpy(key_id, h, TF_FW_KEY_ID_SIZE);
	return 0;
}

static uint64_t
be64_of(const uint8_t b[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* 1 valid, 0 invalid, <0 library failure. */
static int
ed25519_verify(const uint8_t pubkey[TF_FW_PUBKEY_SIZE], const uint8_t *msg, size_t len,
	       const uint8_t sig[TF_FW_SIG_SIZE])
{
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;
	int r;

	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pubkey, TF_FW_PUBKEY_SIZE);
	if (!pk)
		return 0; /* not a usable public key: nothing verifies with it */
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto free_pk;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) != 1) {
		r = -EIO;
		goto free_ctx;
	}
	r = EVP_DigestVerify(ctx, sig, TF_FW_SIG_SIZE, msg, len) == 1;
free_ctx:
	EVP_MD_CTX_free(ctx);
free_pk:
	EVP_PKEY_free(pk);
	return r;
}

int
tf_fw_image_verify(const void *buf, size_t len, const uint8_t pubkey[TF_FW_PUBKEY_SIZE],
		   struct tf_fw_image *img, struct tf_fw_diag *d)
{
	uint8_t kid[TF_FW_KEY_ID_SIZE], h[TF_FW_SHA256_SIZE];
	int r;

	r = tf_fw_image_parse(buf, len, img, d);
	if (r)
		return r;
	if (all_zero(img->key_id, TF_FW_KEY_ID_SIZE)) {
		diag_set(d, TF_FW_E_UNSIGNED, -1, 0, 0);
		return -EKEYREJECTED;
	}
	if (tf_fw_key_id(pubkey, kid)) {
		diag_set(d, TF_FW_E_CRYPTO, -1, 0, 0);
		return -EIO;
	}
	if (memcmp(kid, img->key_id, TF_FW_KEY_ID_SIZE)) {
		diag_set(d, TF_FW_E_KEY_ID, -1, be64_of(img->key_id), be64_of(kid));
		return -EKEYREJECTED;
	}
	r = ed25519_verify(pubkey, img->base, img->signed_len, img->sig);
	if (r < 0) {
		diag_set(d, TF_FW_E_CRYPTO, -1, 0, 0);
		return r;
	}
	if (!r) {
		diag_set(d, TF_FW_E_SIGNATURE, -1, 0, 0);
		return -EKEYREJECTED;
	}
	for (unsigned int i = 0; i < img->nsections; i++) {
		if (tf_fw_sha256(img->base + img->sect[i].offset, img->sect[i].length, h)) {
			diag_set(d, TF_FW_E_CRYPTO, (int)i, 0, 0);
			return -EIO;
		}
		if (memcmp(h, img->sect[i].sha256, TF_FW_SHA256_SIZE)) {
			diag_set(d, TF_FW_E_HASH, (int)i, 0, 0);
			return -EBADMSG;
		}
	}
	return 0;
}

int
tf_fw_image_check_policy(const struct tf_fw_image *img, uint32_t board_id,
			 uint32_t min_security_version, bool allow_rollback, struct tf_fw_diag *d)
{
	diag_clear(d);
	if (img->board_id != board_id) {
		diag_set(d, TF_FW_E_BOARD, -1, img->board_id, board_id);
		return -ENODEV;
	}
	if (img->security_version < min_security_version && !allow_rollback) {
		diag_set(d, TF_FW_E_ROLLBACK, -1, img->security_version, min_security_version);
		return -EPERM;
	}
	return 0;
}
