/* SPDX-License-Identifier: BSD-3-Clause */
/* libtffw internals: record codecs and the pure boot state machine. */
#ifndef TF_FIRMWARE_FW_INTERNAL_H
#define TF_FIRMWARE_FW_INTERNAL_H

#include "fw.h"

#include <endian.h>
#include <string.h>

static inline void
diag_set(struct tf_fw_diag *d, enum tf_fw_err err, int section, uint64_t found, uint64_t expected)
{
	if (!d)
		return;
	d->err = err;
	d->section = section;
	d->found = found;
	d->expected = expected;
}

static inline void
diag_clear(struct tf_fw_diag *d)
{
	diag_set(d, TF_FW_OK, -1, 0, 0);
}

/* Little-endian loads/stores at any alignment. */
static inline uint16_t
ld16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t
ld32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t
ld64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline void
st16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
st32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
st64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* ---- flash records (meta.c) ---- */

/* Decodes a 64-byte record; 0 or -EBADMSG (magic, version, size, CRC, ranges). */
int tf_fw_meta_decode(const uint8_t rec[TF_FLASH_RECORD_SIZE], struct tf_fw_meta *m);
void tf_fw_meta_encode(const struct tf_fw_meta *m, uint8_t rec[TF_FLASH_RECORD_SIZE]);
void tf_fw_meta_init(struct tf_fw_meta *m); /* blank card: nothing stored */
int tf_fw_board_decode(const uint8_t rec[TF_FLASH_RECORD_SIZE], uint32_t *board_id,
		       uint8_t pubkey[TF_FW_PUBKEY_SIZE]);
void tf_fw_board_encode(uint32_t board_id, const uint8_t pubkey[TF_FW_PUBKEY_SIZE],
			uint8_t rec[TF_FLASH_RECORD_SIZE]);

/* Reads both copies: *m = the valid one with the higher seq (copy 0 on a tie),
 * *which = its index, *nvalid = 0..2. With none valid, *m = blank, *which = -1.
 * -EIO only for read errors. */
int tf_fw_meta_load(struct tf_flash *fl, struct tf_fw_meta *m, int *which, int *nvalid);
/* Writes m with seq = cur_seq + 1 into the copy that is not `which`: erase,
 * program, sync, read back. The other copy is never touched. */
int tf_fw_meta_commit(struct tf_flash *fl, struct tf_fw_meta *m, int *which);

/* ---- boot state machine (boot.c), no I/O ---- */

/* What the card found in a slot: verdict 0 = valid image for this board,
 * else the -errno of tf_fw_image_verify / check_policy(board) with diag. */
struct tf_fw_slot_check {
	int verdict;
	uint32_t security_version;
	struct tf_fw_diag diag;
};

/* Returns 0 and fills *out, or a negative I/O error that aborts the boot. */
typedef int (*tf_fw_slot_check_fn)(void *ctx, int slot, struct tf_fw_slot_check *out);

/*
 * One boot. m: current metadata (blank if meta_valid is false); updated in
 * place. Returns the slot to start (m must then be committed if *dirty), or
 * -ENOENT (nothing bootable; commit m if *dirty), or the check's error.
 */
int tf_fw_boot_select(struct tf_fw_meta *m, bool meta_valid, tf_fw_slot_check_fn check, void *ctx,
		      struct tf_fw_boot_result *res, bool *dirty);
/* Running image healthy: see tf_fw_card_confirm. */
int tf_fw_boot_confirm(struct tf_fw_meta *m, int *slot, bool *changed);
/* Which slot a new image goes to; -EBUSY while an update runs on trial. */
int tf_fw_boot_write_target(const struct tf_fw_meta *m);
/* Slot becomes WRITING (not bootable; pending cleared if it was this slot). */
void tf_fw_boot_mark_writing(struct tf_fw_meta *m, int slot);
/* Slot written and read back. */
void tf_fw_boot_mark_stored(struct tf_fw_meta *m, int slot);
/* Pending with `tries` trial boots; override counts the lab override.
 * -EALREADY slot is active, -EBUSY a trial is running, -EINVAL bad args. */
int tf_fw_boot_activate(struct tf_fw_meta *m, int slot, unsigned int tries,
			uint32_t security_version, bool override);

#endif /* TF_FIRMWARE_FW_INTERNAL_H */
