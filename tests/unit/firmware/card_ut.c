/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for firmware/card.c: provisioning, flashing into the inactive
 * slot, refusals (key, board, anti-rollback, size, trial running), boot,
 * confirmation, fallback, manual rollback, the lab override, recovery.
 */
#include "fw_internal.h"
#include "fw_test.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#define FLASH_SIZE (512 * 1024)

static struct t_key g_key, g_other;

static int
suite_init(void)
{
	if (tf_fw_key_generate(&g_key.key) || tf_fw_key_public(g_key.key, g_key.pub) ||
	    tf_fw_key_generate(&g_other.key) || tf_fw_key_public(g_other.key, g_other.pub))
		return -1;
	return 0;
}

static int
suite_cleanup(void)
{
	t_key_free(&g_key);
	t_key_free(&g_other);
	return 0;
}

struct t_card {
	struct tf_flash *fl;
	struct tf_fw_card *card;
};

static void
card_new(struct t_card *c, uint64_t size)
{
	CU_ASSERT_FATAL(tf_flash_mem_create(size, &c->fl) == 0);
	CU_ASSERT_FATAL(tf_fw_card_provision(c->fl, T_BOARD, g_key.pub) == 0);
	CU_ASSERT_FATAL(tf_fw_card_open(c->fl, &c->card) == 0);
}

static void
card_free(struct t_card *c)
{
	tf_fw_card_close(c->card);
	tf_flash_destroy(c->fl);
}

/* Flashes a signed image of security version sv; returns the slot or -errno. */
static int
flash_sv(struct t_card *c, uint32_t sv, uint32_t seed, unsigned int tries, bool allow_rollback)
{
	struct tf_fw_write_opts o = { .activate = true,
				      .tries = tries,
				      .allow_rollback = allow_rollback };
	struct tf_fw_diag d;
	uint8_t *img;
	size_t len;
	int slot = -1, r;

	t_image_sv(&g_key, sv, seed, &img, &len);
	r = tf_fw_flash_write_slot(c->card, img, len, &o, &slot, &d);
	free(img);
	return r ? r : slot;
}

static int
boot(struct t_card *c, struct tf_fw_boot_result *res)
{
	struct tf_fw_boot_result tmp;

	return tf_fw_card_boot(c->card, res ? res : &tmp);
}

static int
confirm(struct t_card *c)
{
	bool changed;
	int slot;
	int r = tf_fw_card_confirm(c->card, &slot, &changed);

	return r ? r : slot;
}

static void
status(struct t_card *c, struct tf_fw_card_status *st)
{
	CU_ASSERT_FATAL(tf_fw_card_status(c->card, st) == 0);
}

static void
test_provision_and_open_errors(void)
{
	struct tf_flash *fl;
	struct tf_fw_card *card;
	uint8_t junk = 0;

	CU_ASSERT_FATAL(tf_flash_mem_create(TF_FLASH_SLOTS_OFF + 2 * TF_FLASH_MIN_SLOT_SIZE - 4096,
					    &fl) == 0);
	CU_ASSERT_EQUAL(tf_fw_card_provision(fl, T_BOARD, g_key.pub), -EINVAL);
	CU_ASSERT_EQUAL(tf_fw_card_open(fl, &card), -EINVAL);
	tf_flash_destroy(fl);

	CU_ASSERT_FATAL(tf_flash_mem_create(FLASH_SIZE, &fl) == 0);
	CU_ASSERT_EQUAL(tf_fw_card_open(fl, &card), -ENODEV);
	CU_ASSERT_EQUAL(tf_fw_card_provision(fl, T_BOARD, g_key.pub), 0);
	CU_ASSERT_EQUAL(tf_fw_card_provision(fl, T_BOARD, g_other.pub), -EEXIST);
	CU_ASSERT_EQUAL(tf_fw_card_open(fl, &card), 0);
	tf_fw_card_close(card);
	/* A damaged board record: refused, never treated as blank. */
	CU_ASSERT_EQUAL(tf_flash_program(fl, 20, &junk, 1), 0);
	CU_ASSERT_EQUAL(tf_fw_card_open(fl, &card), -EBADMSG);
	CU_ASSERT_EQUAL(tf_fw_card_provision(fl, T_BOARD, g_key.pub), -ENOTEMPTY);
	tf_flash_destroy(fl);
}

static void
test_update_cycle(void)
{
	struct tf_fw_card_status st;
	struct tf_fw_boot_result res;
	struct t_card c;

	card_new(&c, FLASH_SIZE);
	status(&c, &st);
	CU_ASSERT_EQUAL(st.meta_copies_valid, 0);
	CU_ASSERT_EQUAL(st.slot_size, (FLASH_SIZE - TF_FLASH_SLOTS_OFF) / 2);
	CU_ASSERT(!st.slot[0].present);
	CU_ASSERT_EQUAL(boot(&c, NULL), -ENOENT); /* nothing to boot yet */

	CU_ASSERT_EQUAL(flash_sv(&c, 1, 1, 2, false), 0);
	status(&c, &st);
	CU_ASSERT_EQUAL(st.meta.pending_slot, 0);
	CU_ASSERT_EQUAL(st.meta.tries_left, 2);
	CU_ASSERT(st.slot[0].present);
	CU_ASSERT_EQUAL(st.slot[0].img.security_version, 1);
	CU_ASSERT_EQUAL(boot(&c, &res), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_TRIAL);
	CU_ASSERT_EQUAL(confirm(&c), 0);
	CU_ASSERT_EQUAL(boot(&c, &res), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_NORMAL);

	/* The update goes to the other slot; A keeps running until B confirms. */
	CU_ASSERT_EQUAL(flash_sv(&c, 2, 2, 3, false), 1);
	CU_ASSERT_EQUAL(boot(&c, &res), 1);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_TRIAL);
	CU_ASSERT_EQUAL(res.trial, 1);
	CU_ASSERT_EQUAL(res.max_tries, 3);
	status(&c, &st);
	CU_ASSERT_EQUAL(st.meta.min_security_version, 1);
	CU_ASSERT_EQUAL(confirm(&c), 1);
	status(&c, &st);
	CU_ASSERT_EQUAL(st.meta.active_slot, 1);
	CU_ASSERT_EQUAL(st.meta.pending_slot, TF_FLASH_NO_SLOT);
	CU_ASSERT_EQUAL(st.meta.min_security_version, 2);
	CU_ASSERT_EQUAL(st.slot[0].state, TF_SLOT_CONFIRMED);
	CU_ASSERT_EQUAL(st.slot[1].state, TF_SLOT_CONFIRMED);
	CU_ASSERT_EQUAL(st.meta_copies_valid, 2);
	/* The next image goes over A, the previous one. */
	CU_ASSERT_EQUAL(flash_sv(&c, 2, 3, 1, false), 0);
	card_free(&c);
}

static void
test_refusals_write_nothing(void)
{
	struct tf_fw_write_opts o = { .activate = true };
	struct tf_fw_card_status before, after;
	struct t_image_spec big = { { 1, 0, 0 }, 5, T_BOARD, { 300 * 1024, 0, 0 }, 1 };
	struct t_image_spec board = { { 1, 0, 0 }, 5, T_BOARD + 1, { 100, 0, 0 }, 1 };
	struct tf_fw_diag d;
	struct t_card c;
	uint8_t *img, slot0[64];
	size_t len;
	int slot;

	card_new(&c, FLASH_SIZE);
	CU_ASSERT_EQUAL(flash_sv(&c, 3, 1, 1, false), 0);
	CU_ASSERT_EQUAL(boot(&c, NULL), 0);
	CU_ASSERT_EQUAL(confirm(&c), 0);
	status(&c, &before);
	tf_flash_read(c.fl, tf_fw_card_slot_offset(c.card, 1), slot0, sizeof(slot0));

	t_image_sv(&g_other, 4, 2, &img, &len); /* signed by a key the card does not trust */
	CU_ASSERT_EQUAL(tf_fw_flash_write_slot(c.card, img, len, &o, &slot, &d), -EKEYREJECTED);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_KEY_ID);
	free(img);
	t_image(&board, &g_key, &img, &len);
	CU_ASSERT_EQUAL(tf_fw_flash_write_slot(c.card, img, len, &o, &slot, &d), -ENODEV);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_BOARD);
	free(img);
	t_image_sv(&g_key, 2, 3, &img, &len); /* below the floor (3) */
	CU_ASSERT_EQUAL(tf_fw_flash_write_slot(c.card, img, len, &o, &slot, &d), -EPERM);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_ROLLBACK);
	img[len / 2] ^= 1; /* and a damaged one */
	CU_ASSERT_EQUAL(tf_fw_flash_write_slot(c.card, img, len, &o, &slot, &d), -EBADMSG);
	free(img);
	t_image(&big, &g_key, &img, &len); /* larger than a slot */
	CU_ASSERT_EQUAL(tf_fw_flash_write_slot(c.card, img, len, &o, &slot, &d), -EFBIG);
	free(img);

	status(&c, &after);
	CU_ASSERT_EQUAL(after.meta.seq, before.meta.seq);
	{
		uint8_t now[64];

		tf_flash_read(c.fl, tf_fw_card_slot_offset(c.card, 1), now, sizeof(now));
		CU_ASSERT_EQUAL(memcmp(now, slot0, sizeof(now)), 0);
	}
	/* While an update runs on trial, flashing is refused. */
	CU_ASSERT_EQUAL(flash_sv(&c, 3, 4, 2, false), 1);
	CU_ASSERT_EQUAL(boot(&c, NULL), 1);
	CU_ASSERT_EQUAL(flash_sv(&c, 3, 5, 2, false), -EBUSY);
	CU_ASSERT_EQUAL(tf_fw_card_activate(c.card, 0, 1, false, &d), -EALREADY);
	card_free(&c);
}

static void
test_unconfirmed_update_falls_back(void)
{
	struct tf_fw_boot_result res;
	struct tf_fw_card_status st;
	struct t_card c;

	card_new(&c, FLASH_SIZE);
	CU_ASSERT_EQUAL(flash_sv(&c, 1, 1, 1, false), 0);
	CU_ASSERT_EQUAL(boot(&c, NULL), 0);
	CU_ASSERT_EQUAL(confirm(&c), 0);
	CU_ASSERT_EQUAL(flash_sv(&c, 2, 2, 2, false), 1);
	CU_ASSERT_EQUAL(boot(&c, &res), 1); /* try 1: crashes before confirming */
	CU_ASSERT_EQUAL(boot(&c, &res), 1); /* try 2: likewise */
	CU_ASSERT_EQUAL(res.trial, 2);
	CU_ASSERT_EQUAL(boot(&c, &res), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_FALLBACK_UNCONFIRMED);
	CU_ASSERT_EQUAL(res.rejected_slot, 1);
	CU_ASSERT_EQUAL(confirm(&c), 0); /* A was and is confirmed */
	status(&c, &st);
	CU_ASSERT_EQUAL(st.slot[1].state, TF_SLOT_BAD);
	CU_ASSERT_EQUAL(st.meta.min_security_version, 1);
	CU_ASSERT_EQUAL(st.meta.fallback_count, 1);
	CU_ASSERT_EQUAL(st.meta.last_boot, TF_BOOT_FALLBACK_UNCONFIRMED);
	card_free(&c);
}

static void
test_corrupt_active_falls_back_to_previous(void)
{
	struct tf_fw_boot_result res;
	struct t_card c;
	uint8_t zero = 0;

	card_new(&c, FLASH_SIZE);
	CU_ASSERT_EQUAL(flash_sv(&c, 1, 1, 1, false), 0);
	CU_ASSERT_EQUAL(boot(&c, NULL), 0);
	CU_ASSERT_EQUAL(confirm(&c), 0);
	CU_ASSERT_EQUAL(flash_sv(&c, 1, 2, 1, false), 1);
	CU_ASSERT_EQUAL(boot(&c, NULL), 1);
	CU_ASSERT_EQUAL(confirm(&c), 1);
	/* Bit rot in B's dataplane section. */
	CU_ASSERT_EQUAL(tf_flash_program(c.fl, tf_fw_card_slot_offset(c.card, 1) + 1000, &zero, 1),
			0);
	CU_ASSERT_EQUAL(boot(&c, &res), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_FALLBACK_ACTIVE);
	CU_ASSERT_EQUAL(res.rejected_slot, 1);
	CU_ASSERT_EQUAL(res.rejected.err, TF_FW_E_HASH);
	CU_ASSERT_EQUAL(boot(&c, &res), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_NORMAL);
	card_free(&c);
}

static void
test_manual_rollback_and_lab_override(void)
{
	struct tf_fw_boot_result res;
	struct tf_fw_card_status st;
	struct tf_fw_diag d;
	struct t_card c;

	card_new(&c, FLASH_SIZE);
	CU_ASSERT_EQUAL(flash_sv(&c, 1, 1, 1, false), 0);
	CU_ASSERT_EQUAL(boot(&c, NULL), 0);
	CU_ASSERT_EQUAL(confirm(&c), 0);
	CU_ASSERT_EQUAL(flash_sv(&c, 1, 2, 1, false), 1);
	CU_ASSERT_EQUAL(boot(&c, NULL), 1);
	CU_ASSERT_EQUAL(confirm(&c), 1);
	/* Same security version: rolling back to A needs no override. */
	CU_ASSERT_EQUAL(tf_fw_card_activate(c.card, 0, 1, false, &d), 0);
	CU_ASSERT_EQUAL(boot(&c, NULL), 0);
	CU_ASSERT_EQUAL(confirm(&c), 0);
	/* A security fix (sv 5) into B, confirmed: the floor is 5, A (sv 1) is locked out. */
	CU_ASSERT_EQUAL(flash_sv(&c, 5, 3, 1, false), 1);
	CU_ASSERT_EQUAL(boot(&c, NULL), 1);
	CU_ASSERT_EQUAL(confirm(&c), 1);
	CU_ASSERT_EQUAL(tf_fw_card_activate(c.card, 0, 1, false, &d), -EPERM);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_ROLLBACK);
	CU_ASSERT_EQUAL(flash_sv(&c, 4, 4, 1, false), -EPERM);
	/* Lab override: allowed, flagged, counted; the floor stays. */
	CU_ASSERT_EQUAL(tf_fw_card_activate(c.card, 0, 1, true, &d), 0);
	CU_ASSERT_EQUAL(boot(&c, &res), 0);
	CU_ASSERT(res.rollback_override);
	CU_ASSERT_EQUAL(confirm(&c), 0);
	status(&c, &st);
	CU_ASSERT_EQUAL(st.meta.rollback_overrides, 1);
	CU_ASSERT(st.slot[0].flags & TF_SLOT_F_ROLLBACK_OVERRIDE);
	CU_ASSERT_EQUAL(st.meta.min_security_version, 5);
	CU_ASSERT_EQUAL(flash_sv(&c, 3, 5, 1, true), 1);
	status(&c, &st);
	CU_ASSERT_EQUAL(st.meta.rollback_overrides, 2);
	card_free(&c);
}

static void
test_recovery_when_metadata_lost(void)
{
	struct tf_fw_boot_result res;
	struct tf_fw_card_status st;
	struct t_card c;

	card_new(&c, FLASH_SIZE);
	CU_ASSERT_EQUAL(flash_sv(&c, 2, 1, 1, false), 0);
	CU_ASSERT_EQUAL(boot(&c, NULL), 0);
	CU_ASSERT_EQUAL(confirm(&c), 0);
	CU_ASSERT_EQUAL(flash_sv(&c, 3, 2, 1, false), 1);
	CU_ASSERT_EQUAL(tf_flash_erase(c.fl, TF_FLASH_META0_OFF, 2 * TF_FLASH_BLOCK_SIZE), 0);
	CU_ASSERT_EQUAL(boot(&c, &res), 1); /* highest security version */
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_RECOVERY);
	status(&c, &st);
	CU_ASSERT_EQUAL(st.meta.min_security_version, 3);
	CU_ASSERT_EQUAL(st.meta.active_slot, 1);
	card_free(&c);
}

static void
test_load_slot_gives_verified_sections(void)
{
	struct tf_fw_image img;
	struct tf_fw_diag d;
	struct t_card c;
	uint8_t *buf;
	size_t len;
	uint64_t n;

	card_new(&c, FLASH_SIZE);
	CU_ASSERT_EQUAL(tf_fw_card_load_slot(c.card, 0, &buf, &len, &img, &d), -EBADMSG);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_MAGIC); /* erased */
	CU_ASSERT_EQUAL(flash_sv(&c, 1, 1, 1, false), 0);
	CU_ASSERT_EQUAL_FATAL(tf_fw_card_load_slot(c.card, 0, &buf, &len, &img, &d), 0);
	CU_ASSERT_EQUAL(len, img.image_size);
	CU_ASSERT_PTR_NOT_NULL(tf_fw_image_section(&img, TF_FW_SECT_DATAPLANE, &n));
	CU_ASSERT_EQUAL(n, 2001);
	free(buf);
	card_free(&c);
}

struct prog_log {
	int calls;
	int bad;
	uint64_t last_done;
	const char *phase;
	int phases;
};

static void
prog_cb(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct prog_log *p = arg;

	p->calls++;
	if (p->phase != phase) {
		p->phase = phase;
		p->phases++;
		p->last_done = 0;
	}
	if (done < p->last_done || done > total ||
	    (p->last_done == 0 && done != 0 && p->calls == 1))
		p->bad++;
	p->last_done = done;
}

static void
test_progress_and_file_backend(void)
{
	char path[] = "/tmp/tf-fw-card.XXXXXX";
	struct prog_log pl = { 0 };
	struct tf_fw_write_opts o = { .activate = true, .progress = prog_cb, .arg = &pl };
	struct tf_fw_boot_result res;
	struct tf_fw_card *card;
	struct tf_flash *fl;
	struct tf_fw_diag d;
	uint8_t *img;
	size_t len;
	int slot, fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	unlink(path);
	CU_ASSERT_FATAL(tf_flash_file_create(path, FLASH_SIZE, &fl) == 0);
	CU_ASSERT_FATAL(tf_fw_card_provision(fl, T_BOARD, g_key.pub) == 0);
	CU_ASSERT_FATAL(tf_fw_card_open(fl, &card) == 0);
	t_image_sv(&g_key, 1, 1, &img, &len);
	CU_ASSERT_EQUAL(tf_fw_flash_write_slot(card, img, len, &o, &slot, &d), 0);
	CU_ASSERT_EQUAL(pl.phases, 3); /* erase, write, verify */
	CU_ASSERT_EQUAL(pl.bad, 0);
	CU_ASSERT_EQUAL(pl.last_done, len);
	tf_fw_card_close(card);
	tf_flash_destroy(fl);
	/* Reopen the file: the card state persisted. */
	CU_ASSERT_FATAL(tf_flash_file_open(path, &fl) == 0);
	CU_ASSERT_FATAL(tf_fw_card_open(fl, &card) == 0);
	CU_ASSERT_EQUAL(tf_fw_card_boot(card, &res), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_TRIAL);
	tf_fw_card_close(card);
	tf_flash_destroy(fl);
	free(img);
	unlink(path);
}

static const struct tf_cunit_test card_tests[] = {
	TF_TEST(test_provision_and_open_errors),
	TF_TEST(test_update_cycle),
	TF_TEST(test_refusals_write_nothing),
	TF_TEST(test_unconfirmed_update_falls_back),
	TF_TEST(test_corrupt_active_falls_back_to_previous),
	TF_TEST(test_manual_rollback_and_lab_override),
	TF_TEST(test_recovery_when_metadata_lost),
	TF_TEST(test_load_slot_gives_verified_sections),
	TF_TEST(test_progress_and_file_backend),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "card", suite_init, suite_cleanup, card_tests })
