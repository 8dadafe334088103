/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card: board record, two image slots and the boot metadata on one
 * flash device (hwdocs/flash-layout.md). Every operation re-reads the
 * metadata, decides with boot.c and commits one metadata copy.
 */
#include "fw_internal.h"

#include <errno.h>
#include <stdlib.h>

#define ERASE_STEP (1024 * 1024)
#define IO_STEP (256 * 1024)

struct tf_fw_card {
	struct tf_flash *fl;
	uint32_t board_id;
	uint8_t pubkey[TF_FW_PUBKEY_SIZE];
	uint8_t key_id[TF_FW_KEY_ID_SIZE];
	uint64_t slot_size;
	struct tf_fw_meta meta;
	int which; /* current metadata copy, -1 none */
	int nvalid; /* valid copies */
};

static int
geometry(const struct tf_flash *fl, uint64_t *slot_size)
{
	if (fl->block_size != TF_FLASH_BLOCK_SIZE || fl->size % TF_FLASH_BLOCK_SIZE ||
	    fl->size < TF_FLASH_SLOTS_OFF + 2ull * TF_FLASH_MIN_SLOT_SIZE)
		return -EINVAL;
	*slot_size =
		(fl->size - TF_FLASH_SLOTS_OFF) / 2 / TF_FLASH_BLOCK_SIZE * TF_FLASH_BLOCK_SIZE;
	return 0;
}

static bool
is_slot(int s)
{
	return s >= 0 && s < TF_FLASH_NSLOTS;
}

const char *
tf_fw_slot_name(int slot)
{
	return slot == 0 ? "a" : slot == 1 ? "b" : "-";
}

const char *
tf_fw_slot_state_name(unsigned int state)
{
	static const char *const n[] = { "empty", "writing", "stored", "confirmed", "bad" };

	return state <= TF_SLOT_STATE_MAX ? n[state] : "unknown";
}

const char *
tf_fw_boot_reason_name(unsigned int reason)
{
	static const char *const n[] = { "none",
					 "normal",
					 "trial",
					 "fallback-unconfirmed",
					 "fallback-invalid",
					 "fallback-active-invalid",
					 "recovery" };

	return reason <= TF_BOOT_REASON_MAX ? n[reason] : "unknown";
}

uint64_t
tf_fw_card_slot_offset(const struct tf_fw_card *card, int slot)
{
	return TF_FLASH_SLOTS_OFF + (uint64_t)slot * card->slot_size;
}

int
tf_fw_card_provision(struct tf_flash *fl, uint32_t board_id,
		     const uint8_t pubkey[TF_FW_PUBKEY_SIZE])
{
	uint8_t rec[TF_FLASH_RECORD_SIZE], back[TF_FLASH_RECORD_SIZE], pk[TF_FW_PUBKEY_SIZE];
	uint64_t slot_size;
	uint32_t id;
	int r;

	r = geometry(fl, &slot_size);
	if (r)
		return r;
	r = tf_flash_read(fl, TF_FLASH_BOARD_OFF, rec, sizeof(rec));
	if (r)
		return r;
	if (tf_fw_board_decode(rec, &id, pk) == 0)
		return -EEXIST;
	for (size_t i = 0; i < sizeof(rec); i++)
		if (rec[i] != 0xff)
			return -ENOTEMPTY; /* one-time area already written with something else */
	tf_fw_board_encode(board_id, pubkey, rec);
	r = tf_flash_program(fl, TF_FLASH_BOARD_OFF, rec, sizeof(rec));
	if (!r)
		r = tf_flash_sync(fl);
	if (!r)
		r = tf_flash_read(fl, TF_FLASH_BOARD_OFF, back, sizeof(back));
	if (r)
		return r;
	return memcmp(rec, back, sizeof(rec)) ? -EIO : 0;
}

static int
reload(struct tf_fw_card *card)
{
	return tf_fw_meta_load(card->fl, &card->meta, &card->which, &card->nvalid);
}

static int
commit(struct tf_fw_card *card)
{
	int r = tf_fw_meta_commit(card->fl, &card->meta, &card->which);

	if (!r && card->nvalid < 2)
		card->nvalid++;
	return r;
}

int
tf_fw_card_open(struct tf_flash *fl, struct tf_fw_card **out)
{
	uint8_t rec[TF_FLASH_RECORD_SIZE];
	struct tf_fw_card *card;
	int r;

	card = calloc(1, sizeof(*card));
	if (!card)
		return -ENOMEM;
	card->fl = fl;
	r = geometry(fl, &card->slot_size);
	if (r)
		goto free_card;
	r = tf_flash_read(fl, TF_FLASH_BOARD_OFF, rec, sizeof(rec));
	if (r)
		goto free_card;
	if (tf_fw_board_decode(rec, &card->board_id, card->pubkey)) {
		bool blank = true; /* all 0xff: never provisioned */

		for (size_t i = 0; i < sizeof(rec); i++)
			blank = blank && rec[i] == 0xff;
		r = blank ? -ENODEV : -EBADMSG;
		goto free_card;
	}
	r = tf_fw_key_id(card->pubkey, card->key_id);
	if (r)
		goto free_card;
	r = reload(card);
	if (r)
		goto free_card;
	*out = card;
	return 0;
free_card:
	free(card);
	return r;
}

void
tf_fw_card_close(struct tf_fw_card *card)
{
	free(card);
}

/*
 * Reads and verifies the image in a slot. Returns 0; a rejection of the
 * image (-EBADMSG, -EKEYREJECTED, -ENODEV) with diag->err set; or an I/O or
 * memory error with diag->err TF_FW_OK (or TF_FW_E_CRYPTO).
 */
int
tf_fw_card_load_slot(struct tf_fw_card *card, int slot, uint8_t **bufp, size_t *lenp,
		     struct tf_fw_image *img, struct tf_fw_diag *diag)
{
	uint8_t head[TF_FW_PAYLOAD_OFFSET(TF_FW_MAX_SECTIONS)];
	uint64_t off;
	uint8_t *buf;
	int r;

	diag_clear(diag);
	if (!is_slot(slot))
		return -EINVAL;
	off = tf_fw_card_slot_offset(card, slot);
	r = tf_flash_read(card->fl, off, head, sizeof(head));
	if (r)
		return r;
	r = tf_fw_image_parse_head(head, sizeof(head), img, diag);
	if (r)
		return r;
	if (img->image_size > card->slot_size) {
		diag_set(diag, TF_FW_E_IMAGE_SIZE, -1, img->image_size, card->slot_size);
		return -EBADMSG;
	}
	buf = malloc(img->image_size);
	if (!buf)
		return -ENOMEM;
	r = tf_flash_read(card->fl, off, buf, img->image_size);
	if (r)
		goto free_buf;
	r = tf_fw_image_verify(buf, img->image_size, card->pubkey, img, diag);
	if (!r)
		r = tf_fw_image_check_policy(img, card->board_id, 0, false, diag);
	if (r)
		goto free_buf;
	if (bufp) {
		*bufp = buf;
		*lenp = img->image_size;
	} else {
		free(buf);
		img->base = NULL;
		img->sig = NULL;
	}
	return 0;
free_buf:
	free(buf);
	return r;
}

static int
check_slot(void *ctx, int slot, struct tf_fw_slot_check *out)
{
	struct tf_fw_image img;
	int r;

	r = tf_fw_card_load_slot(ctx, slot, NULL, NULL, &img, &out->diag);
	if (r && (out->diag.err == TF_FW_OK || out->diag.err == TF_FW_E_CRYPTO))
		return r; /* cannot tell: abort this boot rather than condemn the slot */
	out->verdict = r;
	out->security_version = r ? 0 : img.security_version;
	return 0;
}

static void
progress(const struct tf_fw_write_opts *o, const char *phase, uint64_t done, uint64_t total)
{
	if (o->progress)
		o->progress(o->arg, phase, done, total);
}

static int
write_slot_bytes(struct tf_fw_card *card, uint64_t off, const uint8_t *img, size_t len,
		 const struct tf_fw_write_opts *o)
{
	uint64_t elen = (len + TF_FLASH_BLOCK_SIZE - 1) / TF_FLASH_BLOCK_SIZE * TF_FLASH_BLOCK_SIZE;
	uint8_t *back;
	int r;

	progress(o, "erase", 0, elen);
	for (uint64_t done = 0; done < elen;) {
		uint64_t n = elen - done < ERASE_STEP ? elen - done : ERASE_STEP;

		r = tf_flash_erase(card->fl, off + done, n);
		if (r)
			return r;
		done += n;
		progress(o, "erase", done, elen);
	}
	progress(o, "write", 0, len);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < IO_STEP ? len - done : IO_STEP;

		r = tf_flash_program(card->fl, off + done, img + done, n);
		if (r)
			return r;
		done += n;
		progress(o, "write", done, len);
	}
	r = tf_flash_sync(card->fl);
	if (r)
		return r;
	back = malloc(IO_STEP);
	if (!back)
		return -ENOMEM;
	progress(o, "verify", 0, len);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < IO_STEP ? len - done : IO_STEP;

		r = tf_flash_read(card->fl, off + done, back, n);
		if (!r && memcmp(back, img + done, n))
			r = -EIO; /* the flash does not hold what was written */
		if (r)
			break;
		done += n;
		progress(o, "verify", done, len);
	}
	free(back);
	return r;
}

int
tf_fw_flash_write_slot(struct tf_fw_card *card, const void *img, size_t len,
		       const struct tf_fw_write_opts *o, int *slot, struct tf_fw_diag *diag)
{
	unsigned int tries = o->tries ? o->tries : TF_FW_DEFAULT_TRIES;
	struct tf_fw_image im;
	bool override;
	int t, r;

	diag_clear(diag);
	if (tries > TF_FW_MAX_TRIES)
		return -EINVAL;
	r = reload(card);
	if (r)
		return r;
	r = tf_fw_image_verify(img, len, card->pubkey, &im, diag);
	if (r)
		return r;
	r = tf_fw_image_check_policy(&im, card->board_id, card->meta.min_security_version,
				     o->allow_rollback, diag);
	if (r)
		return r;
	override = im.security_version < card->meta.min_security_version;
	if (len > card->slot_size) {
		diag_set(diag, TF_FW_E_IMAGE_SIZE, -1, len, card->slot_size);
		return -EFBIG;
	}
	t = tf_fw_boot_write_target(&card->meta);
	if (t < 0)
		return t;
	/* 1: the slot is not bootable while its bytes change. */
	tf_fw_boot_mark_writing(&card->meta, t);
	r = commit(card);
	if (r)
		return r;
	/* 2: erase, program, read back. */
	r = write_slot_bytes(card, tf_fw_card_slot_offset(card, t), img, len, o);
	if (r)
		return r;
	/* 3: only a slot that reads back exactly becomes stored / pending. */
	tf_fw_boot_mark_stored(&card->meta, t);
	if (o->activate) {
		r = tf_fw_boot_activate(&card->meta, t, tries, im.security_version, override);
		if (r)
			return r;
	}
	r = commit(card);
	if (r)
		return r;
	*slot = t;
	return 0;
}

int
tf_fw_card_activate(struct tf_fw_card *card, int slot, unsigned int tries, bool allow_rollback,
		    struct tf_fw_diag *diag)
{
	struct tf_fw_image img;
	int r;

	diag_clear(diag);
	if (!is_slot(slot) || !tries || tries > TF_FW_MAX_TRIES)
		return -EINVAL;
	r = reload(card);
	if (r)
		return r;
	r = tf_fw_card_load_slot(card, slot, NULL, NULL, &img, diag);
	if (r)
		return r;
	r = tf_fw_image_check_policy(&img, card->board_id, card->meta.min_security_version,
				     allow_rollback, diag);
	if (r)
		return r;
	r = tf_fw_boot_activate(&card->meta, slot, tries, img.security_version,
				img.security_version < card->meta.min_security_version);
	if (r)
		return r;
	return commit(card);
}

int
tf_fw_card_boot(struct tf_fw_card *card, struct tf_fw_boot_result *res)
{
	bool dirty;
	int r, c;

	r = reload(card);
	if (r)
		return r;
	r = tf_fw_boot_select(&card->meta, card->nvalid > 0, check_slot, card, res, &dirty);
	if (r < 0 && r != -ENOENT)
		return r;
	if (dirty) {
		c = commit(card);
		if (c)
			return c;
	}
	return r;
}

int
tf_fw_card_confirm(struct tf_fw_card *card, int *slot, bool *changed)
{
	int r;

	r = reload(card);
	if (r)
		return r;
	r = tf_fw_boot_confirm(&card->meta, slot, changed);
	if (r || !*changed)
		return r;
	return commit(card);
}

int
tf_fw_card_status(struct tf_fw_card *card, struct tf_fw_card_status *st)
{
	uint8_t head[TF_FW_PAYLOAD_OFFSET(TF_FW_MAX_SECTIONS)];
	int r;

	memset(st, 0, sizeof(*st));
	r = reload(card);
	if (r)
		return r;
	st->board_id = card->board_id;
	memcpy(st->key_id, card->key_id, sizeof(st->key_id));
	st->flash_size = card->fl->size;
	st->slot_size = card->slot_size;
	st->meta_copies_valid = card->nvalid;
	st->meta = card->meta;
	for (int s = 0; s < TF_FLASH_NSLOTS; s++) {
		struct tf_fw_slot_status *ss = &st->slot[s];

		ss->state = card->meta.slot_state[s];
		ss->flags = card->meta.slot_flags[s];
		r = tf_flash_read(card->fl, tf_fw_card_slot_offset(card, s), head, sizeof(head));
		if (r)
			return r;
		ss->present = tf_fw_image_parse_head(head, sizeof(head), &ss->img, &ss->diag) == 0;
		ss->img.base = NULL;
		ss->img.sig = NULL;
	}
	return 0;
}
