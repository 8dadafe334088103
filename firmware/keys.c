/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ed25519 keys (OpenSSL 3) and image signing. Private keys load through
 * OSSL_STORE, so a plain path, a file: URI or a provider's URI (an HSM
 * through pkcs11-provider, say) all work.
 */
#include "fw_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/ui.h>

#define HDR_OFF(f) offsetof(struct tf_fw_header, f)

struct tf_fw_key {
	EVP_PKEY *pkey;
};

static void
ossl_err(char *err, size_t errlen, const char *what, const char *path)
{
	char e[256];
	unsigned long code = ERR_get_error();

	if (!errlen)
		return;
	if (code)
		ERR_error_string_n(code, e, sizeof(e));
	else
		snprintf(e, sizeof(e), "no further detail");
	snprintf(err, errlen, "%s %s: %s", what, path, e);
	ERR_clear_error();
}

static struct tf_fw_key *
key_wrap(EVP_PKEY *pkey)
{
	struct tf_fw_key *k = calloc(1, sizeof(*k));

	if (!k) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k->pkey = pkey;
	return k;
}

int
tf_fw_key_generate(struct tf_fw_key **out)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	if (!pkey)
		return -EIO;
	*out = key_wrap(pkey);
	return *out ? 0 : -ENOMEM;
}

int
tf_fw_key_load(const char *uri, struct tf_fw_key **out, char *err, size_t errlen)
{
	OSSL_STORE_CTX *st;
	EVP_PKEY *pkey = NULL;

	st = OSSL_STORE_open(uri, UI_get_default_method(), NULL, NULL, NULL);
	if (!st) {
		ossl_err(err, errlen, "cannot open signing key", uri);
		return -ENOENT;
	}
	while (!pkey && !OSSL_STORE_eof(st)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(st);

		if (!info)
			continue;
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			pkey = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(st);
	if (!pkey) {
		ossl_err(err, errlen, "no private key in", uri);
		return -ENOKEY;
	}
	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		snprintf(err, errlen,
			 "%s is a %s key; firmware is signed with Ed25519 "
			 "(make one with: tokfab-fw keygen)",
			 uri, EVP_PKEY_get0_type_name(pkey));
		EVP_PKEY_free(pkey);
		return -EKEYREJECTED;
	}
	*out = key_wrap(pkey);
	return *out ? 0 : -ENOMEM;
}

/* fopen for a file that must not exist yet, with the given mode. */
static FILE *
create_excl(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

int
tf_fw_key_save(const struct tf_fw_key *key, const char *priv_path, const char *pub_path, char *err,
	       size_t errlen)
{
	FILE *f;
	int ok, r;

	f = create_excl(priv_path, 0600);
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s%s", priv_path, strerror(errno),
			 errno == EEXIST ? " (refusing to overwrite a key; remove it first)" : "");
		return r;
	}
	ok = PEM_write_PrivateKey(f, key->pkey, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) || !ok) {
		ossl_err(err, errlen, "cannot write", priv_path);
		goto unlink_priv;
	}
	f = create_excl(pub_path, 0644);
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s%s", pub_path, strerror(errno),
			 errno == EEXIST ? " (refusing to overwrite; remove it first)" : "");
		unlink(priv_path);
		return r;
	}
	ok = PEM_write_PUBKEY(f, key->pkey);
	if (fclose(f) || !ok) {
		ossl_err(err, errlen, "cannot write", pub_path);
		unlink(pub_path);
		goto unlink_priv;
	}
	return 0;
unlink_priv:
	unlink(priv_path);
	return -EIO;
}

int
tf_fw_key_public(const struct tf_fw_key *key, uint8_t pubkey[TF_FW_PUBKEY_SIZE])
{
	size_t n = TF_FW_PUBKEY_SIZE;

	if (EVP_PKEY_get_raw_public_key(key->pkey, pubkey, &n) != 1 || n != TF_FW_PUBKEY_SIZE)
		return -EIO;
	return 0;
}

void
tf_fw_key_free(struct tf_fw_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

int
tf_fw_pubkey_load(const char *path, uint8_t pubkey[TF_FW_PUBKEY_SIZE], char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pkey;
	size_t n = TF_FW_PUBKEY_SIZE;
	int r = 0;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot open public key %s: %s", path, strerror(errno));
		return r;
	}
	pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey) {
		ossl_err(err, errlen, "no PEM public key (\"BEGIN PUBLIC KEY\") in", path);
		return -EINVAL;
	}
	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		snprintf(err, errlen, "%s is a %s public key; firmware keys are Ed25519", path,
			 EVP_PKEY_get0_type_name(pkey));
		r = -EKEYREJECTED;
	} else if (EVP_PKEY_get_raw_public_key(pkey, pubkey, &n) != 1 || n != TF_FW_PUBKEY_SIZE) {
		ossl_err(err, errlen, "cannot read the raw key from", path);
		r = -EIO;
	}
	EVP_PKEY_free(pkey);
	return r;
}

int
tf_fw_image_sign(uint8_t *buf, size_t len, const struct tf_fw_key *key, struct tf_fw_diag *d)
{
	struct tf_fw_image img;
	uint8_t pub[TF_FW_PUBKEY_SIZE], h[TF_FW_SHA256_SIZE];
	size_t siglen = TF_FW_SIG_SIZE;
	EVP_MD_CTX *ctx;
	int r;

	r = tf_fw_image_parse(buf, len, &img, d);
	if (r)
		return r;
	/* Never vouch for sections that no longer match their table entries. */
	for (unsigned int i = 0; i < img.nsections; i++) {
		if (tf_fw_sha256(buf + img.sect[i].offset, img.sect[i].length, h)) {
			diag_set(d, TF_FW_E_CRYPTO, (int)i, 0, 0);
			return -EIO;
		}
		if (memcmp(h, img.sect[i].sha256, TF_FW_SHA256_SIZE)) {
			diag_set(d, TF_FW_E_HASH, (int)i, 0, 0);
			return -EBADMSG;
		}
	}
	if (tf_fw_key_public(key, pub) || tf_fw_key_id(pub, buf + HDR_OFF(key_id))) {
		diag_set(d, TF_FW_E_CRYPTO, -1, 0, 0);
		return -EIO;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, buf + img.signed_len, &siglen, buf, img.signed_len) != 1 ||
	    siglen != TF_FW_SIG_SIZE) {
		diag_set(d, TF_FW_E_CRYPTO, -1, 0, 0);
		r = -EIO;
	}
	EVP_MD_CTX_free(ctx);
	return r;
}
