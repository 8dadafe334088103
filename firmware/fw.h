/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtffw: tokfab firmware images and the card's A/B flash.
 *
 * Public API, used by tokfab-fw (build host) and by the card-side code
 * (tokfab-dp's "activate firmware" admin command, devlink dev flash):
 *
 *   image    tf_fw_image_parse()   structure only, no crypto (inspect)
 *            tf_fw_image_verify()  structure + key id + Ed25519 + every SHA-256
 *            tf_fw_image_check_policy()  board id and anti-rollback floor
 *   build    tf_fw_image_build() -> unsigned image, tf_fw_image_sign()
 *   keys     tf_fw_key_*() private keys (file path or OpenSSL store URI),
 *            tf_fw_pubkey_load() public keys (PEM)
 *   flash    struct tf_flash + const struct tf_flash_ops: file, mem and
 *            fault-injecting backends
 *   card     tf_fw_card_provision/open/close, tf_fw_flash_write_slot(),
 *            tf_fw_card_activate(), tf_fw_card_boot(), tf_fw_card_confirm(),
 *            tf_fw_card_status(), tf_fw_card_load_slot()
 *
 * Formats: hwdocs/firmware-image.md, hwdocs/flash-layout.md. The library
 * never prints: it returns 0 / -errno and fills a struct tf_fw_diag that
 * tf_fw_diag_format() turns into "what was wrong and what to do".
 * Nothing read from an image or from flash is used before it is checked.
 */
#ifndef TF_FIRMWARE_FW_H
#define TF_FIRMWARE_FW_H

#include "tokfab/fw_image.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- diagnostics ---------------------------------------------------------- */

enum tf_fw_err {
	TF_FW_OK = 0,
	TF_FW_E_TRUNCATED, /* fewer bytes than the header, table or image_size need */
	TF_FW_E_MAGIC, /* not a tokfab firmware image */
	TF_FW_E_FORMAT_VERSION, /* format version this reader does not know */
	TF_FW_E_HEADER_SIZE, /* header_size field wrong */
	TF_FW_E_ENTRY_SIZE, /* section_entry_size field wrong */
	TF_FW_E_SECTION_COUNT, /* 0 or more than TF_FW_MAX_SECTIONS */
	TF_FW_E_HEADER_FLAGS, /* unknown header flag */
	TF_FW_E_SIG_TYPE, /* signature type other than Ed25519 */
	TF_FW_E_SIG_SIZE, /* signature size field wrong */
	TF_FW_E_IMAGE_SIZE, /* image_size impossible (too small or above the maximum) */
	TF_FW_E_TRAILING, /* bytes after image_size */
	TF_FW_E_RESERVED, /* header reserved field not zero */
	TF_FW_E_SECT_TYPE, /* unknown section type */
	TF_FW_E_SECT_DUP, /* section type twice */
	TF_FW_E_SECT_FLAGS, /* unknown section flag */
	TF_FW_E_SECT_RESERVED, /* section reserved field not zero */
	TF_FW_E_SECT_LENGTH, /* section length 0 or above the maximum */
	TF_FW_E_SECT_OFFSET, /* section not where the placement rule puts it */
	TF_FW_E_SECT_BOUNDS, /* section ends beyond image_size */
	TF_FW_E_SECT_MISSING, /* a required section type is absent */
	TF_FW_E_END, /* image_size is not the end of the last section */
	TF_FW_E_PADDING, /* alignment padding between sections not zero */
	TF_FW_E_ABI, /* ABI section: wrong length or reserved field set */
	TF_FW_E_UNSIGNED, /* key id is zero: the image was never signed */
	TF_FW_E_KEY_ID, /* signed by another key than the one given */
	TF_FW_E_SIGNATURE, /* Ed25519 signature does not verify */
	TF_FW_E_HASH, /* a section's SHA-256 does not match its bytes */
	TF_FW_E_BOARD, /* image is for another board */
	TF_FW_E_ROLLBACK, /* security version below the card's floor */
	TF_FW_E_CRYPTO, /* OpenSSL failed (not the image's fault) */
	TF_FW_E_MAX
};

/* What was wrong: err, the section index it concerns (-1: none) and two
 * numbers whose meaning depends on err (usually: found, expected). */
struct tf_fw_diag {
	enum tf_fw_err err;
	int section;
	uint64_t found;
	uint64_t expected;
};

const char *tf_fw_err_name(enum tf_fw_err err);
/* One line: what was wrong and what to do. Returns buf. */
char *tf_fw_diag_format(const struct tf_fw_diag *d, char *buf, size_t len);
const char *tf_fw_section_type_name(unsigned int type);

/* ---- images --------------------------------------------------------------- */

struct tf_fw_section_info {
	uint16_t type;
	uint64_t offset;
	uint64_t length;
	uint8_t sha256[TF_FW_SHA256_SIZE];
};

/* A parsed image, host byte order. Pointers refer to the caller's buffer. */
struct tf_fw_image {
	uint16_t format_version;
	uint16_t version[3]; /* major, minor, patch */
	uint32_t security_version;
	uint32_t board_id;
	uint64_t build_time;
	uint64_t image_size;
	uint8_t build_id[TF_FW_BUILD_ID_SIZE];
	uint8_t key_id[TF_FW_KEY_ID_SIZE];
	unsigned int nsections;
	struct tf_fw_section_info sect[TF_FW_MAX_SECTIONS];
	struct tf_fw_abi abi; /* decoded ABI section (full parse only) */
	const uint8_t *base; /* start of the image */
	size_t signed_len; /* bytes covered by the signature */
	const uint8_t *sig; /* TF_FW_SIG_SIZE bytes */
};

/* Structure only: every field, offset, length, padding; no crypto. */
int tf_fw_image_parse(const void *buf, size_t len, struct tf_fw_image *img,
		      struct tf_fw_diag *diag);
/* Header, table and signature only (len may be shorter than image_size);
 * for learning image_size before reading the rest. */
int tf_fw_image_parse_head(const void *buf, size_t len, struct tf_fw_image *img,
			   struct tf_fw_diag *diag);
/*
 * Full check against a raw Ed25519 public key: structure, key id, signature
 * over header + table, then the SHA-256 of every section.
 * Returns 0, -EBADMSG (malformed or hash mismatch), -EKEYREJECTED (unsigned,
 * other key, bad signature), -ENOMEM / -EIO (crypto library failure).
 */
int tf_fw_image_verify(const void *buf, size_t len, const uint8_t pubkey[TF_FW_PUBKEY_SIZE],
		       struct tf_fw_image *img, struct tf_fw_diag *diag);
/* Card policy on a verified image: -ENODEV wrong board, -EPERM below the floor
 * (unless allow_rollback, the logged lab override). */
int tf_fw_image_check_policy(const struct tf_fw_image *img, uint32_t board_id,
			     uint32_t min_security_version, bool allow_rollback,
			     struct tf_fw_diag *diag);
/* Bytes of a section of a parsed image, or NULL if the image has none. */
const uint8_t *tf_fw_image_section(const struct tf_fw_image *img, unsigned int type, uint64_t *len);
/* SHA-256 (OpenSSL EVP); with the whole image it is the image digest. 0 or -EIO. */
int tf_fw_sha256(const void *buf, size_t len, uint8_t out[TF_FW_SHA256_SIZE]);
/* key id of a raw public key: first 8 bytes of its SHA-256. */
int tf_fw_key_id(const uint8_t pubkey[TF_FW_PUBKEY_SIZE], uint8_t key_id[TF_FW_KEY_ID_SIZE]);

/* ---- building and signing (build host) ------------------------------------ */

struct tf_fw_build_section {
	uint16_t type;
	const void *data;
	size_t len;
};

struct tf_fw_build_input {
	uint16_t version[3];
	uint32_t security_version;
	uint32_t board_id;
	uint64_t build_time;
	bool has_build_id; /* false: build id = SHA-256 over the section hashes */
	uint8_t build_id[TF_FW_BUILD_ID_SIZE];
	struct tf_fw_abi abi; /* host order; becomes the ABI section */
	unsigned int nsections; /* sections other than ABI, in image order */
	struct tf_fw_build_section sect[TF_FW_MAX_SECTIONS - 1];
};

/* Lays out an unsigned image (key id and signature zero) in *out (malloc). */
int tf_fw_image_build(const struct tf_fw_build_input *in, uint8_t **out, size_t *outlen,
		      struct tf_fw_diag *diag);

struct tf_fw_key; /* an Ed25519 private key (OpenSSL EVP_PKEY) */

int tf_fw_key_generate(struct tf_fw_key **out);
/* path or OpenSSL store URI (file:, or a provider's, e.g. pkcs11:). err gets a
 * message on failure. */
int tf_fw_key_load(const char *path_or_uri, struct tf_fw_key **out, char *err, size_t errlen);
/* Writes PKCS#8 PEM (mode 0600) and SubjectPublicKeyInfo PEM; refuses to overwrite. */
int tf_fw_key_save(const struct tf_fw_key *key, const char *priv_path, const char *pub_path,
		   char *err, size_t errlen);
int tf_fw_key_public(const struct tf_fw_key *key, uint8_t pubkey[TF_FW_PUBKEY_SIZE]);
void tf_fw_key_free(struct tf_fw_key *key);
/* Reads a SubjectPublicKeyInfo PEM (what keygen and openssl pkey -pubout write). */
int tf_fw_pubkey_load(const char *path, uint8_t pubkey[TF_FW_PUBKEY_SIZE], char *err,
		      size_t errlen);

/* Checks the unsigned image's structure and section hashes, sets its key id and
 * writes the signature in place. */
int tf_fw_image_sign(uint8_t *img, size_t len, const struct tf_fw_key *key,
		     struct tf_fw_diag *diag);

/* Build manifest (key = value lines; hwdocs/firmware-image.md "Manifest"). */
struct tf_fw_manifest {
	struct tf_fw_build_input in; /* sections' data point into owned buffers */
	char *path[TF_FW_MAX_SECTIONS - 1];
	uint8_t *data[TF_FW_MAX_SECTIONS - 1];
};

int tf_fw_manifest_load(const char *path, struct tf_fw_manifest *m, char *err, size_t errlen);
void tf_fw_manifest_free(struct tf_fw_manifest *m);

/* ---- flash devices -------------------------------------------------------- */

struct tf_flash;

/* One backend of a flash device. NOR semantics: erase sets whole blocks to
 * 0xff, program can only clear bits (the caller erases first). */
struct tf_flash_ops {
	const char *name;
	int (*read)(struct tf_flash *fl, uint64_t off, void *buf, size_t len);
	int (*program)(struct tf_flash *fl, uint64_t off, const void *buf, size_t len);
	int (*erase)(struct tf_flash *fl, uint64_t off, uint64_t len); /* block aligned */
	int (*sync)(struct tf_flash *fl);
	void (*destroy)(struct tf_flash *fl);
};

struct tf_flash {
	const struct tf_flash_ops *ops;
	uint64_t size; /* bytes */
	uint32_t block_size; /* erase block */
};

/* Range-checked calls through the ops table (-EINVAL out of range/unaligned). */
int tf_flash_read(struct tf_flash *fl, uint64_t off, void *buf, size_t len);
int tf_flash_program(struct tf_flash *fl, uint64_t off, const void *buf, size_t len);
int tf_flash_erase(struct tf_flash *fl, uint64_t off, uint64_t len);
int tf_flash_sync(struct tf_flash *fl);
void tf_flash_destroy(struct tf_flash *fl);

/* A flash file (every byte of the device, same layout as the real part). */
int tf_flash_file_create(const char *path, uint64_t size, struct tf_flash **out);
int tf_flash_file_open(const char *path, struct tf_flash **out);
/* A flash in memory (tests, tools). */
int tf_flash_mem_create(uint64_t size, struct tf_flash **out);
/* Power-cut injection: passes everything to inner until `budget` bytes have
 * been programmed or erased, applies the part of the operation that fits,
 * then fails that and every later operation with -EIO, like a card losing
 * power. Does not own inner. */
int tf_flash_fault_create(struct tf_flash *inner, uint64_t budget, struct tf_flash **out);
bool tf_flash_fault_tripped(const struct tf_flash *fl);
/* Bytes programmed + erased through the wrapper so far. */
uint64_t tf_flash_fault_used(const struct tf_flash *fl);

/* ---- the card -------------------------------------------------------------- */

/* Decoded boot metadata (struct tf_flash_meta in host order, without framing). */
struct tf_fw_meta {
	uint64_t seq;
	uint32_t min_security_version;
	uint32_t rollback_overrides;
	uint8_t active_slot;
	uint8_t pending_slot;
	uint8_t tries_left;
	uint8_t booted_slot;
	uint8_t slot_state[TF_FLASH_NSLOTS];
	uint8_t slot_flags[TF_FLASH_NSLOTS];
	uint32_t boot_count;
	uint32_t fallback_count;
	uint8_t last_boot;
	uint8_t max_tries;
	uint32_t pending_security_version;
};

#define TF_FW_DEFAULT_TRIES 3
#define TF_FW_MAX_TRIES 15

struct tf_fw_card;

/* Writes the board record on an erased flash (once). */
int tf_fw_card_provision(struct tf_flash *fl, uint32_t board_id,
			 const uint8_t pubkey[TF_FW_PUBKEY_SIZE]);
/* -ENODEV not provisioned, -EINVAL geometry, -EBADMSG board record corrupt. */
int tf_fw_card_open(struct tf_flash *fl, struct tf_fw_card **out);
void tf_fw_card_close(struct tf_fw_card *card);
const char *tf_fw_slot_name(int slot); /* "a", "b", "-" */
const char *tf_fw_slot_state_name(unsigned int state);
const char *tf_fw_boot_reason_name(unsigned int reason);

struct tf_fw_write_opts {
	bool activate; /* mark the slot pending once written and read back */
	unsigned int tries; /* trial boots (1..TF_FW_MAX_TRIES), 0 = default */
	bool allow_rollback; /* lab override of the anti-rollback floor (counted) */
	void (*progress)(void *arg, const char *phase, uint64_t done, uint64_t total);
	void *arg;
};

/*
 * Verifies img with the card's key and policy, then writes it to the inactive
 * slot: metadata marks the slot WRITING, the slot is erased and programmed,
 * read back and compared, then marked STORED (and pending if activate).
 * Returns 0 and the slot, -EBADMSG / -EKEYREJECTED / -ENODEV / -EPERM (diag
 * says why) for a refused image, -EBUSY while an update is on trial,
 * -EFBIG for an image larger than a slot, -EIO for a flash failure.
 */
int tf_fw_flash_write_slot(struct tf_fw_card *card, const void *img, size_t len,
			   const struct tf_fw_write_opts *opts, int *slot, struct tf_fw_diag *diag);
/* Marks a stored slot pending (manual rollback to the previous image too). */
int tf_fw_card_activate(struct tf_fw_card *card, int slot, unsigned int tries, bool allow_rollback,
			struct tf_fw_diag *diag);

struct tf_fw_boot_result {
	int slot; /* slot started */
	enum tf_flash_boot_reason reason;
	int rejected_slot; /* a slot this boot gave up on, or -1 */
	struct tf_fw_diag rejected; /* why (TF_FW_OK: trial never confirmed) */
	bool rollback_override; /* started below the floor by the lab override */
	unsigned int trial; /* for TF_BOOT_TRIAL: this is try `trial` of max_tries */
	unsigned int max_tries;
};

/* Boot selection (hwdocs/flash-layout.md): picks, verifies and records the slot
 * to start. -ENOENT: nothing bootable (the card stays in recovery). */
int tf_fw_card_boot(struct tf_fw_card *card, struct tf_fw_boot_result *res);
/* The running image reports itself healthy. *changed false if it already was.
 * -ENOENT nothing booted, -ESTALE the running slot is neither pending nor active. */
int tf_fw_card_confirm(struct tf_fw_card *card, int *slot, bool *changed);

struct tf_fw_slot_status {
	uint8_t state;
	uint8_t flags;
	bool present; /* header and table parse */
	struct tf_fw_diag diag; /* why not, when !present */
	struct tf_fw_image img; /* header fields (head parse; pointers invalid) */
};

struct tf_fw_card_status {
	uint32_t board_id;
	uint8_t key_id[TF_FW_KEY_ID_SIZE];
	uint64_t flash_size;
	uint64_t slot_size;
	int meta_copies_valid; /* 0, 1 or 2 */
	struct tf_fw_meta meta;
	struct tf_fw_slot_status slot[TF_FLASH_NSLOTS];
};

int tf_fw_card_status(struct tf_fw_card *card, struct tf_fw_card_status *st);
/* Reads and fully verifies a slot's image into *buf (malloc; caller frees). */
int tf_fw_card_load_slot(struct tf_fw_card *card, int slot, uint8_t **buf, size_t *len,
			 struct tf_fw_image *img, struct tf_fw_diag *diag);
uint64_t tf_fw_card_slot_offset(const struct tf_fw_card *card, int slot);

#endif /* TF_FIRMWARE_FW_H */
