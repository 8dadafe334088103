/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flash records: the board record (written once) and the two copies of the
 * boot metadata (hwdocs/flash-layout.md). An update writes only the copy
 * that is not current, so a power cut at any byte leaves the current copy
 * intact; the CRC-32 rejects the torn one.
 */
#include "fw_internal.h"

#include <errno.h>
#include <zlib.h>

#define M_OFF(f) offsetof(struct tf_flash_meta, f)
#define B_OFF(f) offsetof(struct tf_flash_board, f)
#define CRC_LEN offsetof(struct tf_flash_meta, crc32)

_Static_assert(offsetof(struct tf_flash_board, crc32) == CRC_LEN, "records share CRC offset");

static const uint64_t g_meta_off[2] = { TF_FLASH_META0_OFF, TF_FLASH_META1_OFF };

static uint32_t
rec_crc(const uint8_t rec[TF_FLASH_RECORD_SIZE])
{
	return (uint32_t)crc32(0L, rec, CRC_LEN);
}

static bool
slot_or_none(uint8_t s)
{
	return s < TF_FLASH_NSLOTS || s == TF_FLASH_NO_SLOT;
}

void
tf_fw_meta_init(struct tf_fw_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->active_slot = TF_FLASH_NO_SLOT;
	m->pending_slot = TF_FLASH_NO_SLOT;
	m->booted_slot = TF_FLASH_NO_SLOT;
}

void
tf_fw_meta_encode(const struct tf_fw_meta *m, uint8_t rec[TF_FLASH_RECORD_SIZE])
{
	memset(rec, 0, TF_FLASH_RECORD_SIZE);
	st32(rec + M_OFF(magic), TF_FLASH_META_MAGIC);
	st16(rec + M_OFF(version), TF_FLASH_RECORD_VERSION);
	st16(rec + M_OFF(size), TF_FLASH_RECORD_SIZE);
	st64(rec + M_OFF(seq), m->seq);
	st32(rec + M_OFF(min_security_version), m->min_security_version);
	st32(rec + M_OFF(rollback_overrides), m->rollback_overrides);
	rec[M_OFF(active_slot)] = m->active_slot;
	rec[M_OFF(pending_slot)] = m->pending_slot;
	rec[M_OFF(tries_left)] = m->tries_left;
	rec[M_OFF(booted_slot)] = m->booted_slot;
	memcpy(rec + M_OFF(slot_state), m->slot_state, TF_FLASH_NSLOTS);
	memcpy(rec + M_OFF(slot_flags), m->slot_flags, TF_FLASH_NSLOTS);
	st32(rec + M_OFF(boot_count), m->boot_count);
	st32(rec + M_OFF(fallback_count), m->fallback_count);
	rec[M_OFF(last_boot)] = m->last_boot;
	rec[M_OFF(max_tries)] = m->max_tries;
	st32(rec + M_OFF(pending_security_version), m->pending_security_version);
	st32(rec + M_OFF(crc32), rec_crc(rec));
}

int
tf_fw_meta_decode(const uint8_t rec[TF_FLASH_RECORD_SIZE], struct tf_fw_meta *m)
{
	struct tf_fw_meta t;

	memset(&t, 0, sizeof(t)); /* padding too: decoded records compare with memcmp */
	if (ld32(rec + M_OFF(magic)) != TF_FLASH_META_MAGIC ||
	    ld16(rec + M_OFF(version)) != TF_FLASH_RECORD_VERSION ||
	    ld16(rec + M_OFF(size)) != TF_FLASH_RECORD_SIZE ||
	    ld32(rec + M_OFF(crc32)) != rec_crc(rec))
		return -EBADMSG;
	if (!all_zero(rec + M_OFF(reserved0), sizeof(((struct tf_flash_meta *)0)->reserved0)) ||
	    !all_zero(rec + M_OFF(reserved1), sizeof(((struct tf_flash_meta *)0)->reserved1)))
		return -EBADMSG;
	t.seq = ld64(rec + M_OFF(seq));
	t.min_security_version = ld32(rec + M_OFF(min_security_version));
	t.rollback_overrides = ld32(rec + M_OFF(rollback_overrides));
	t.active_slot = rec[M_OFF(active_slot)];
	t.pending_slot = rec[M_OFF(pending_slot)];
	t.tries_left = rec[M_OFF(tries_left)];
	t.booted_slot = rec[M_OFF(booted_slot)];
	memcpy(t.slot_state, rec + M_OFF(slot_state), TF_FLASH_NSLOTS);
	memcpy(t.slot_flags, rec + M_OFF(slot_flags), TF_FLASH_NSLOTS);
	t.boot_count = ld32(rec + M_OFF(boot_count));
	t.fallback_count = ld32(rec + M_OFF(fallback_count));
	t.last_boot = rec[M_OFF(last_boot)];
	t.max_tries = rec[M_OFF(max_tries)];
	t.pending_security_version = ld32(rec + M_OFF(pending_security_version));

	/* A CRC-valid record can still be nonsense (a bug, a hostile writer). */
	if (!slot_or_none(t.active_slot) || !slot_or_none(t.pending_slot) ||
	    !slot_or_none(t.booted_slot))
		return -EBADMSG;
	if (t.pending_slot != TF_FLASH_NO_SLOT && t.pending_slot == t.active_slot)
		return -EBADMSG;
	if (t.tries_left > TF_FW_MAX_TRIES || t.max_tries > TF_FW_MAX_TRIES ||
	    t.tries_left > t.max_tries || t.last_boot > TF_BOOT_REASON_MAX)
		return -EBADMSG;
	for (int i = 0; i < TF_FLASH_NSLOTS; i++)
		if (t.slot_state[i] > TF_SLOT_STATE_MAX || (t.slot_flags[i] & ~TF_SLOT_F_ALL))
			return -EBADMSG;
	if (t.active_slot != TF_FLASH_NO_SLOT && t.slot_state[t.active_slot] != TF_SLOT_CONFIRMED)
		return -EBADMSG;
	if (t.pending_slot != TF_FLASH_NO_SLOT && t.slot_state[t.pending_slot] != TF_SLOT_STORED &&
	    t.slot_state[t.pending_slot] != TF_SLOT_CONFIRMED)
		return -EBADMSG;
	*m = t;
	return 0;
}

void
tf_fw_board_encode(uint32_t board_id, const uint8_t pubkey[TF_FW_PUBKEY_SIZE],
		   uint8_t rec[TF_FLASH_RECORD_SIZE])
{
	memset(rec, 0, TF_FLASH_RECORD_SIZE);
	st32(rec + B_OFF(magic), TF_FLASH_BOARD_MAGIC);
	st16(rec + B_OFF(version), TF_FLASH_RECORD_VERSION);
	st16(rec + B_OFF(size), TF_FLASH_RECORD_SIZE);
	st32(rec + B_OFF(board_id), board_id);
	memcpy(rec + B_OFF(pubkey), pubkey, TF_FW_PUBKEY_SIZE);
	st32(rec + B_OFF(crc32), rec_crc(rec));
}

int
tf_fw_board_decode(const uint8_t rec[TF_FLASH_RECORD_SIZE], uint32_t *board_id,
		   uint8_t pubkey[TF_FW_PUBKEY_SIZE])
{
	if (ld32(rec + B_OFF(magic)) != TF_FLASH_BOARD_MAGIC ||
	    ld16(rec + B_OFF(version)) != TF_FLASH_RECORD_VERSION ||
	    ld16(rec + B_OFF(size)) != TF_FLASH_RECORD_SIZE ||
	    ld32(rec + B_OFF(crc32)) != rec_crc(rec) || ld32(rec + B_OFF(reserved0)) ||
	    !all_zero(rec + B_OFF(reserved1), sizeof(((struct tf_flash_board *)0)->reserved1)))
		return -EBADMSG;
	*board_id = ld32(rec + B_OFF(board_id));
	memcpy(pubkey, rec + B_OFF(pubkey), TF_FW_PUBKEY_SIZE);
	return 0;
}

int
tf_fw_meta_load(struct tf_flash *fl, struct tf_fw_meta *m, int *which, int *nvalid)
{
	uint8_t rec[TF_FLASH_RECORD_SIZE];
	struct tf_fw_meta c[2];
	bool ok[2];
	int r;

	for (int i = 0; i < 2; i++) {
		r = tf_flash_read(fl, g_meta_off[i], rec, sizeof(rec));
		if (r)
			return r;
		ok[i] = tf_fw_meta_decode(rec, &c[i]) == 0;
	}
	*nvalid = ok[0] + ok[1];
	if (ok[0] && (!ok[1] || c[0].seq >= c[1].seq))
		*which = 0;
	else if (ok[1])
		*which = 1;
	else
		*which = -1;
	if (*which < 0)
		tf_fw_meta_init(m);
	else
		*m = c[*which];
	return 0;
}

int
tf_fw_meta_commit(struct tf_flash *fl, struct tf_fw_meta *m, int *which)
{
	uint8_t rec[TF_FLASH_RECORD_SIZE], back[TF_FLASH_RECORD_SIZE];
	int target = *which == 0 ? 1 : 0;
	uint64_t off = g_meta_off[target];
	int r;

	m->seq++;
	tf_fw_meta_encode(m, rec);
	r = tf_flash_erase(fl, off, TF_FLASH_BLOCK_SIZE);
	if (r)
		return r;
	r = tf_flash_program(fl, off, rec, sizeof(rec));
	if (r)
		return r;
	r = tf_flash_sync(fl);
	if (r)
		return r;
	r = tf_flash_read(fl, off, back, sizeof(back));
	if (r)
		return r;
	if (memcmp(rec, back, sizeof(rec)))
		return -EIO;
	*which = target;
	return 0;
}
