/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Power-cut tests (firmware/card.c + meta.c through flash_fault.c): the
 * power is cut after every possible number of bytes programmed or erased
 * during a flash, an activation, a boot and a confirmation. After each cut
 * the card is "powered on" again and must boot a valid image: the one it ran
 * before, or the new one once the update had been recorded completely. Every
 * 16th cut also checks the update can simply be redone. Cuts fall on every
 * programmed byte and, inside erases, on a sample (both ends of each block and
 * every 37th byte); TF_FW_POWERCUT_ALL=1 cuts at every byte of erases too.
 */
#include "fw_internal.h"
#include "fw_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define FLASH_SIZE (TF_FLASH_SLOTS_OFF + 2 * TF_FLASH_MIN_SLOT_SIZE)

static struct t_key g_key;
static uint8_t *g_old, *g_new; /* sv 1 in slot A (running); sv 2 to flash into B */
static size_t g_old_len, g_new_len;

static int
suite_init(void)
{
	struct t_image_spec o = { { 1, 0, 0 }, 1, T_BOARD, { 1500, 400, 30 }, 11 };
	struct t_image_spec n = { { 2, 0, 0 }, 2, T_BOARD, { 1700, 500, 40 }, 12 };

	if (tf_fw_key_generate(&g_key.key) || tf_fw_key_public(g_key.key, g_key.pub))
		return -1;
	if (t_image_try(&o, &g_key, &g_old, &g_old_len) ||
	    t_image_try(&n, &g_key, &g_new, &g_new_len))
		return -1;
	return 0;
}

static int
suite_cleanup(void)
{
	free(g_old);
	free(g_new);
	t_key_free(&g_key);
	return 0;
}

struct snap {
	uint8_t *bytes;
};

static void
snap_take(struct tf_flash *fl, struct snap *s)
{
	s->bytes = malloc(FLASH_SIZE);
	CU_ASSERT_FATAL(s->bytes != NULL);
	CU_ASSERT_FATAL(tf_flash_read(fl, 0, s->bytes, FLASH_SIZE) == 0);
}

static void
snap_restore(struct tf_flash *fl, const struct snap *s)
{
	CU_ASSERT_FATAL(tf_flash_erase(fl, 0, FLASH_SIZE) == 0);
	CU_ASSERT_FATAL(tf_flash_program(fl, 0, s->bytes, FLASH_SIZE) == 0);
}

static int
write_img(struct tf_fw_card *card, const uint8_t *img, size_t len)
{
	struct tf_fw_write_opts o = { .activate = true, .tries = 2 };
	struct tf_fw_diag d;
	int slot;

	return tf_fw_flash_write_slot(card, img, len, &o, &slot, &d);
}

/* Card with the old image confirmed in A and running. */
static struct tf_flash *
card_running_old(void)
{
	struct tf_fw_boot_result res;
	struct tf_fw_card *card;
	struct tf_flash *fl;
	bool changed;
	int slot;

	CU_ASSERT_FATAL(tf_flash_mem_create(FLASH_SIZE, &fl) == 0);
	CU_ASSERT_FATAL(tf_fw_card_provision(fl, T_BOARD, g_key.pub) == 0);
	CU_ASSERT_FATAL(tf_fw_card_open(fl, &card) == 0);
	CU_ASSERT_FATAL(write_img(card, g_old, g_old_len) == 0);
	CU_ASSERT_FATAL(tf_fw_card_boot(card, &res) == 0);
	CU_ASSERT_FATAL(tf_fw_card_confirm(card, &slot, &changed) == 0);
	tf_fw_card_close(card);
	return fl;
}

struct outcome {
	unsigned long cuts, old_boots, new_boots, failures;
	uint64_t seq_before, seq_after;
	char first[256];
};

static void
bad(struct outcome *o, uint64_t cut, const char *what)
{
	if (!o->failures++)
		snprintf(o->first, sizeof(o->first), "cut after %llu bytes: %s",
			 (unsigned long long)cut, what);
}

/*
 * Powers the card on: boot selection must start a slot that holds, byte for
 * byte, the old or the new (known valid) image; then that image confirms.
 */
static bool
slot_holds(struct tf_flash *fl, struct tf_fw_card *card, int slot, const uint8_t *img, size_t len)
{
	static uint8_t buf[8192];

	return len <= sizeof(buf) &&
	       tf_flash_read(fl, tf_fw_card_slot_offset(card, slot), buf, len) == 0 &&
	       !memcmp(buf, img, len);
}

/*
 * Atomicity: the metadata after the cut is one the operation went through
 * (seq between before and after), and it never calls a slot stored or
 * confirmed unless the slot holds a complete image.
 */
static void
check_metadata(struct tf_flash *fl, struct tf_fw_card *card, struct outcome *o, uint64_t cut)
{
	struct tf_fw_meta m;
	int which, nvalid;

	if (tf_fw_meta_load(fl, &m, &which, &nvalid) || nvalid < 1) {
		bad(o, cut, "no valid metadata copy left");
		return;
	}
	if (m.seq < o->seq_before || m.seq > o->seq_after)
		bad(o, cut, "metadata is from neither before, during nor after the operation");
	for (int s = 0; s < TF_FLASH_NSLOTS; s++)
		if ((m.slot_state[s] == TF_SLOT_STORED || m.slot_state[s] == TF_SLOT_CONFIRMED) &&
		    !slot_holds(fl, card, s, g_old, g_old_len) &&
		    !slot_holds(fl, card, s, g_new, g_new_len))
			bad(o, cut, "metadata marks a slot usable that holds no complete image");
}

static void
power_on_and_check(struct tf_flash *fl, struct outcome *o, uint64_t cut)
{
	struct tf_fw_boot_result res;
	struct tf_fw_card *card;
	bool changed;
	int slot, r;

	if (tf_fw_card_open(fl, &card)) {
		bad(o, cut, "card does not open");
		return;
	}
	check_metadata(fl, card, o, cut);
	r = tf_fw_card_boot(card, &res);
	if (r < 0) {
		bad(o, cut, "card does not boot");
		goto close;
	}
	if (slot_holds(fl, card, r, g_old, g_old_len))
		o->old_boots++;
	else if (slot_holds(fl, card, r, g_new, g_new_len))
		o->new_boots++;
	else
		bad(o, cut, "booted a slot that holds neither the old nor the new image");
	if (tf_fw_card_confirm(card, &slot, &changed))
		bad(o, cut, "booted image cannot confirm");
close:
	tf_fw_card_close(card);
}

typedef int (*op_fn)(struct tf_flash *fl, struct tf_fw_card *card);

/*
 * Recording pass-through flash: logs where each erase falls in the byte
 * count the fault wrapper uses, so the cut schedule can sample inside erases.
 */
#define MAX_ERASES 64

struct rec_flash {
	struct tf_flash fl; /* first */
	struct tf_flash *inner;
	uint64_t used;
	unsigned int nerase;
	uint64_t erase_from[MAX_ERASES], erase_to[MAX_ERASES];
};

static int
rec_read(struct tf_flash *fl, uint64_t off, void *buf, size_t len)
{
	return tf_flash_read(((struct rec_flash *)fl)->inner, off, buf, len);
}

static int
rec_program(struct tf_flash *fl, uint64_t off, const void *buf, size_t len)
{
	struct rec_flash *rf = (struct rec_flash *)fl;

	rf->used += len;
	return tf_flash_program(rf->inner, off, buf, len);
}

static int
rec_erase(struct tf_flash *fl, uint64_t off, uint64_t len)
{
	struct rec_flash *rf = (struct rec_flash *)fl;

	if (rf->nerase < MAX_ERASES) {
		rf->erase_from[rf->nerase] = rf->used;
		rf->erase_to[rf->nerase++] = rf->used + len;
	}
	rf->used += len;
	return tf_flash_erase(rf->inner, off, len);
}

static void
rec_destroy(struct tf_flash *fl)
{
	(void)fl;
}

static const struct tf_flash_ops g_rec_ops = {
	.name = "record",
	.read = rec_read,
	.program = rec_program,
	.erase = rec_erase,
	.destroy = rec_destroy,
};

/* Every byte of every program; inside erases the first and last 16 bytes of
 * each block and every 37th byte, unless TF_FW_POWERCUT_ALL=1 (every byte). */
static bool
cut_here(const struct rec_flash *rf, uint64_t cut)
{
	static int all = -1;

	if (all < 0)
		all = getenv("TF_FW_POWERCUT_ALL") && !strcmp(getenv("TF_FW_POWERCUT_ALL"), "1");
	if (all)
		return true;
	for (unsigned int i = 0; i < rf->nerase; i++) {
		uint64_t in;

		if (cut < rf->erase_from[i] || cut >= rf->erase_to[i])
			continue;
		in = (cut - rf->erase_from[i]) % TF_FLASH_BLOCK_SIZE;
		return in < 16 || in >= TF_FLASH_BLOCK_SIZE - 16 || in % 37 == 0;
	}
	return true;
}

static int
op_flash(struct tf_flash *fl, struct tf_fw_card *card)
{
	(void)fl;
	return write_img(card, g_new, g_new_len);
}

static int
op_boot(struct tf_flash *fl, struct tf_fw_card *card)
{
	struct tf_fw_boot_result res;

	(void)fl;
	return tf_fw_card_boot(card, &res) < 0 ? -EIO : 0;
}

static int
op_confirm(struct tf_flash *fl, struct tf_fw_card *card)
{
	bool changed;
	int slot;

	(void)fl;
	return tf_fw_card_confirm(card, &slot, &changed);
}

/* Runs op once without a cut to learn how many bytes it writes and where its
 * erases are, then once per scheduled cut point on a fresh copy of the card. */
static void
cut_everywhere(struct tf_flash *fl, op_fn op, const char *name, bool redo, bool old_ok, bool new_ok)
{
	struct rec_flash rf = { .fl = { &g_rec_ops, fl->size, fl->block_size }, .inner = fl };
	struct outcome o = { 0 };
	struct tf_fw_card *card;
	struct tf_flash *xf;
	struct snap s;
	uint64_t total, skipped = 0;

	struct tf_fw_meta m;
	int which, nvalid;

	snap_take(fl, &s);
	CU_ASSERT_FATAL(tf_fw_meta_load(fl, &m, &which, &nvalid) == 0);
	o.seq_before = m.seq;
	CU_ASSERT_FATAL(tf_fw_card_open(&rf.fl, &card) == 0);
	CU_ASSERT_FATAL(op(&rf.fl, card) == 0);
	total = rf.used;
	tf_fw_card_close(card);
	CU_ASSERT_FATAL(tf_fw_meta_load(fl, &m, &which, &nvalid) == 0);
	o.seq_after = m.seq;
	CU_ASSERT(total > 0);
	CU_ASSERT(rf.nerase > 0 && rf.nerase < MAX_ERASES);

	/* cut == total: the power stays on just long enough. */
	for (uint64_t cut = 0; cut <= total; cut++) {
		if (!cut_here(&rf, cut)) {
			skipped++;
			continue;
		}
		snap_restore(fl, &s);
		CU_ASSERT_FATAL(tf_flash_fault_create(fl, cut, &xf) == 0);
		if (tf_fw_card_open(xf, &card) == 0) {
			if ((op(xf, card) == 0) != (cut == total))
				bad(&o, cut,
				    cut == total ? "operation failed without a power cut"
						 : "operation succeeded despite the power cut");
			tf_fw_card_close(card);
		}
		if (tf_flash_fault_tripped(xf) != (cut < total))
			bad(&o, cut, "the cut was not where it was planned");
		tf_flash_destroy(xf);
		o.cuts++;
		power_on_and_check(fl, &o, cut);
		if (redo && cut % 16 == 0) {
			/* Power is back: the same operation completes. */
			if (tf_fw_card_open(fl, &card) == 0) {
				if (op(fl, card))
					bad(&o, cut, "operation fails after the power came back");
				tf_fw_card_close(card);
			}
		}
	}
	printf(" [%s: %llu bytes written, %lu cuts, %lu booted the old image, %lu the new]", name,
	       (unsigned long long)total, o.cuts, o.old_boots, o.new_boots);
	if (o.failures)
		fprintf(stderr, "\n  %s: %lu failures, first: %s\n", name, o.failures, o.first);
	CU_ASSERT_EQUAL(o.failures, 0);
	CU_ASSERT_EQUAL(o.cuts + skipped, total + 1);
	/* Both outcomes that may happen did, and no other. */
	CU_ASSERT_EQUAL(o.old_boots > 0, old_ok);
	CU_ASSERT_EQUAL(o.new_boots > 0, new_ok);
	free(s.bytes);
}

static void
test_cut_during_flash(void)
{
	struct tf_flash *fl = card_running_old();

	cut_everywhere(fl, op_flash, "flash", true, true, true);
	tf_flash_destroy(fl);
}

static void
test_cut_during_trial_boot(void)
{
	struct tf_flash *fl = card_running_old();
	struct tf_fw_card *card;

	CU_ASSERT_FATAL(tf_fw_card_open(fl, &card) == 0);
	CU_ASSERT_FATAL(op_flash(fl, card) == 0);
	tf_fw_card_close(card);
	cut_everywhere(fl, op_boot, "boot", true, false, true);
	tf_flash_destroy(fl);
}

static void
test_cut_during_confirm(void)
{
	struct tf_flash *fl = card_running_old();
	struct tf_fw_card *card;

	CU_ASSERT_FATAL(tf_fw_card_open(fl, &card) == 0);
	CU_ASSERT_FATAL(op_flash(fl, card) == 0);
	CU_ASSERT_FATAL(op_boot(fl, card) == 0);
	tf_fw_card_close(card);
	cut_everywhere(fl, op_confirm, "confirm", false, false, true);
	tf_flash_destroy(fl);
}

/* Flash over the previous image while the new one is active: the cut lands
 * on a slot that held a confirmed fallback. */
static void
test_cut_during_second_update(void)
{
	struct tf_flash *fl = card_running_old();
	struct tf_fw_card *card;

	CU_ASSERT_FATAL(tf_fw_card_open(fl, &card) == 0);
	CU_ASSERT_FATAL(op_flash(fl, card) == 0);
	CU_ASSERT_FATAL(op_boot(fl, card) == 0);
	CU_ASSERT_FATAL(op_confirm(fl, card) == 0);
	tf_fw_card_close(card);
	/* Now B (new) is active, A (old, sv 1 < floor 2) is overwritten by "new" again. */
	cut_everywhere(fl, op_flash, "flash-over-previous", true, false, true);
	tf_flash_destroy(fl);
}

static const struct tf_cunit_test powercut_tests[] = {
	TF_TEST(test_cut_during_flash),
	TF_TEST(test_cut_during_trial_boot),
	TF_TEST(test_cut_during_confirm),
	TF_TEST(test_cut_during_second_update),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "powercut", suite_init, suite_cleanup, powercut_tests })
