/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for firmware/boot.c, the boot-selection state machine.
 *
 * Exhaustive: from each starting card, every sequence (up to a depth) of
 * boots, confirmations, updates, activations and image corruptions is run
 * against the pure state machine, and after every step the result is
 * compared with what hwdocs/flash-layout.md says must happen. The oracle is
 * written in terms of history (which image was confirmed when, how many
 * trial boots an activation has had), not in terms of metadata fields.
 */
#include "fw_internal.h"
#include "tf_cunit.h"

#include <errno.h>
#include <stdio.h>

enum ev {
	EV_BOOT, /* power on: boot selection runs */
	EV_CONFIRM, /* the running image reports healthy */
	EV_FLASH_SAME, /* write a new image (same security version) + activate */
	EV_FLASH_UP, /* write a new image with a higher security version + activate */
	EV_ACTIVATE, /* activate the slot that is not active (manual rollback) */
	EV_CORRUPT_A, /* bit rot in slot A's image */
	EV_CORRUPT_B, /* bit rot in slot B's image */
	EV_MAX
};

static const char *const g_ev_name[EV_MAX] = { "boot",	   "confirm",	"flash",    "flash+sv",
					       "activate", "corrupt-a", "corrupt-b" };

struct world {
	/* the machine under test */
	struct tf_fw_meta m;
	bool meta_valid;
	/* the physical slots */
	bool valid[2];
	uint32_t sv[2];
	/* the oracle: history */
	int running; /* started by the last boot, -1 none */
	bool running_trial; /* ... as a trial of the pending activation */
	int active; /* last confirmed image still believed good, -1 none */
	bool confirmed_img[2]; /* the image now in the slot has been confirmed */
	uint32_t floor;
	int pending; /* activated, not yet confirmed or given up, -1 none */
	unsigned int trials; /* trial boots of that activation so far */
	unsigned int tries; /* tries it was given */
	/* path for messages */
	int path[16];
	int depth;
};

static unsigned int g_tries;
static unsigned long g_steps, g_failures, g_boots_trial, g_boots_fallback, g_enoent;
static char g_first_failure[1024];

static void
fail(const struct world *w, const char *what)
{
	size_t n;

	if (g_failures++)
		return;
	n = (size_t)snprintf(g_first_failure, sizeof(g_first_failure), "tries=%u path:", g_tries);
	for (int i = 0; i < w->depth && n < sizeof(g_first_failure); i++)
		n += (size_t)snprintf(g_first_failure + n, sizeof(g_first_failure) - n, " %s",
				      g_ev_name[w->path[i]]);
	snprintf(g_first_failure + n, sizeof(g_first_failure) - n, ": %s", what);
}

static int
check_cb(void *ctx, int slot, struct tf_fw_slot_check *out)
{
	const struct world *w = ctx;

	out->verdict = w->valid[slot] ? 0 : -EBADMSG;
	out->security_version = w->valid[slot] ? w->sv[slot] : 0;
	if (!w->valid[slot])
		out->diag = (struct tf_fw_diag){ TF_FW_E_HASH, 0, 0, 0 };
	return 0;
}

static bool
allowed(const struct world *w, int s)
{
	return s >= 0 && w->valid[s] && w->sv[s] >= w->floor;
}

static void
do_boot(struct world *w)
{
	struct tf_fw_boot_result res;
	int expect = -ENOENT, r;
	bool dirty, trial = false;

	if (w->pending >= 0) {
		if (w->trials < w->tries && allowed(w, w->pending)) {
			expect = w->pending;
			trial = true;
		} else {
			w->pending = -1; /* given up */
		}
	}
	if (!trial) {
		if (allowed(w, w->active) && w->confirmed_img[w->active]) {
			expect = w->active;
		} else {
			int other = -1;

			for (int s = 0; s < 2; s++)
				if (s != w->active && w->confirmed_img[s] && allowed(w, s))
					other = s;
			w->active = other;
			expect = other >= 0 ? other : -ENOENT;
		}
	}
	r = tf_fw_boot_select(&w->m, w->meta_valid, check_cb, w, &res, &dirty);
	if (r != expect) {
		char msg[128];

		snprintf(msg, sizeof(msg), "boot started %d, spec says %d", r, expect);
		fail(w, msg);
		return;
	}
	if (r >= 0 && !(w->valid[r] && w->sv[r] >= w->floor))
		fail(w, "booted an invalid or rolled-back image");
	if (r >= 0 && res.slot != r)
		fail(w, "result slot differs from return value");
	if (trial && res.reason != TF_BOOT_TRIAL)
		fail(w, "trial boot not reported as trial");
	if (trial && res.trial != w->trials + 1)
		fail(w, "wrong trial number");
	if (dirty)
		w->meta_valid = true;
	if (trial) {
		w->trials++;
		g_boots_trial++;
	}
	if (res.reason >= TF_BOOT_FALLBACK_UNCONFIRMED && res.reason <= TF_BOOT_FALLBACK_ACTIVE)
		g_boots_fallback++;
	if (r == -ENOENT)
		g_enoent++;
	w->running = r >= 0 ? r : -1;
	w->running_trial = trial;
}

static void
do_confirm(struct world *w)
{
	int expect, slot = -1, r;
	bool changed, expect_changed = false;

	if (w->running < 0) {
		expect = -ENOENT;
	} else if (w->running_trial && w->running == w->pending) {
		expect = 0;
		expect_changed = true;
	} else if (w->running == w->active) {
		expect = 0;
	} else {
		expect = -ESTALE;
	}
	r = tf_fw_boot_confirm(&w->m, &slot, &changed);
	if (r != expect || (r == 0 && changed != expect_changed)) {
		fail(w, "confirm result differs from the spec");
		return;
	}
	if (expect_changed) {
		w->active = w->running;
		w->confirmed_img[w->running] = true;
		if (w->sv[w->running] > w->floor)
			w->floor = w->sv[w->running];
		w->pending = -1;
		w->running_trial = false;
		w->meta_valid = true;
	}
}

static void
do_flash(struct world *w, uint32_t sv)
{
	int expect, t;

	if (w->running >= 0 && w->running_trial && w->running == w->pending)
		expect = -EBUSY;
	else if (w->active >= 0)
		expect = 1 - w->active;
	else if (w->running >= 0)
		expect = 1 - w->running;
	else
		expect = 0;
	t = tf_fw_boot_write_target(&w->m);
	if (t != expect) {
		fail(w, "write target differs from the spec");
		return;
	}
	if (t < 0)
		return;
	/* What card.c does around the bytes: writing, then stored + pending. */
	tf_fw_boot_mark_writing(&w->m, t);
	if (w->pending == t)
		w->pending = -1;
	w->valid[t] = true;
	w->sv[t] = sv;
	w->confirmed_img[t] = false;
	tf_fw_boot_mark_stored(&w->m, t);
	if (tf_fw_boot_activate(&w->m, t, g_tries, sv, false)) {
		fail(w, "activating a freshly written slot failed");
		return;
	}
	w->pending = t;
	w->trials = 0;
	w->tries = g_tries;
	w->meta_valid = true;
}

static void
do_activate(struct world *w)
{
	int s = w->active >= 0 ? 1 - w->active : 0, expect, r;

	/* card.c verifies the image and the floor before it asks the machine. */
	if (!allowed(w, s) || s == w->active)
		return;
	expect = w->running >= 0 && w->running_trial && w->running == w->pending ? -EBUSY : 0;
	r = tf_fw_boot_activate(&w->m, s, g_tries, w->sv[s], false);
	if (r != expect) {
		fail(w, "activate result differs from the spec");
		return;
	}
	if (r)
		return;
	w->pending = s;
	w->trials = 0;
	w->tries = g_tries;
	w->meta_valid = true;
}

static void
check_invariants(struct world *w)
{
	uint8_t rec[TF_FLASH_RECORD_SIZE];
	struct tf_fw_meta back;

	if (!w->meta_valid)
		return;
	tf_fw_meta_encode(&w->m, rec);
	if (tf_fw_meta_decode(rec, &back) || memcmp(&back, &w->m, sizeof(back)))
		fail(w, "metadata no longer decodes as a consistent record");
	if (w->m.min_security_version != w->floor)
		fail(w, "anti-rollback floor differs from the highest confirmed version");
	if (w->m.active_slot != (w->active < 0 ? TF_FLASH_NO_SLOT : w->active))
		fail(w, "active slot differs from the last confirmed good image");
	if (w->m.pending_slot != (w->pending < 0 ? TF_FLASH_NO_SLOT : w->pending))
		fail(w, "pending slot differs");
	if (w->pending >= 0 && w->m.tries_left != w->tries - w->trials)
		fail(w, "tries left differs from tries minus trial boots");
	if (w->trials > w->tries && w->pending >= 0)
		fail(w, "more trial boots than tries");
}

static void
step(struct world *w, enum ev e)
{
	g_steps++;
	w->path[w->depth++] = e;
	switch (e) {
	case EV_BOOT:
		do_boot(w);
		break;
	case EV_CONFIRM:
		do_confirm(w);
		break;
	case EV_FLASH_SAME:
		do_flash(w, w->floor > 0 ? w->floor : 1);
		break;
	case EV_FLASH_UP:
		do_flash(w, w->floor + 1);
		break;
	case EV_ACTIVATE:
		do_activate(w);
		break;
	case EV_CORRUPT_A:
	case EV_CORRUPT_B:
		w->valid[e - EV_CORRUPT_A] = false;
		break;
	default:
		break;
	}
	check_invariants(w);
}

static void
explore(const struct world *w, int depth)
{
	if (!depth || g_failures)
		return;
	for (int e = 0; e < EV_MAX; e++) {
		struct world c = *w;

		step(&c, (enum ev)e);
		explore(&c, depth - 1);
	}
}

static void
world_virgin(struct world *w)
{
	memset(w, 0, sizeof(*w));
	tf_fw_meta_init(&w->m);
	w->running = w->active = w->pending = -1;
}

/* Slot A confirmed and running, B empty. */
static void
world_running(struct world *w, uint32_t sv)
{
	world_virgin(w);
	w->meta_valid = true;
	w->m.active_slot = 0;
	w->m.booted_slot = 0;
	w->m.slot_state[0] = TF_SLOT_CONFIRMED;
	w->m.min_security_version = sv;
	w->valid[0] = true;
	w->sv[0] = sv;
	w->running = w->active = 0;
	w->confirmed_img[0] = true;
	w->floor = sv;
}

static void
run_exhaustive(const struct world *start, unsigned int tries, int depth)
{
	g_tries = tries;
	g_steps = g_failures = 0;
	explore(start, depth);
	if (g_failures)
		fprintf(stderr, "\n  %lu failures, first: %s\n", g_failures, g_first_failure);
	CU_ASSERT_EQUAL(g_failures, 0);
	CU_ASSERT(g_steps > 1000);
	printf(" [tries %u, depth %d: %lu steps]", tries, depth, g_steps);
}

static void
test_exhaustive_from_running_card(void)
{
	struct world w;

	g_boots_trial = g_boots_fallback = g_enoent = 0;
	for (unsigned int t = 1; t <= 3; t++) {
		world_running(&w, 1);
		run_exhaustive(&w, t, t == 3 ? 6 : 7);
	}
	/* The sequences really reached trials, fallbacks and dead ends. */
	CU_ASSERT(g_boots_trial > 0);
	CU_ASSERT(g_boots_fallback > 0);
	CU_ASSERT(g_enoent > 0);
}

static void
test_exhaustive_from_virgin_card(void)
{
	struct world w;

	for (unsigned int t = 1; t <= 2; t++) {
		world_virgin(&w);
		run_exhaustive(&w, t, 7);
	}
}

static void
test_exhaustive_with_pending_update(void)
{
	struct world w;

	for (unsigned int t = 1; t <= 2; t++) {
		world_running(&w, 1);
		g_tries = t;
		step(&w, EV_FLASH_UP);
		w.depth = 0;
		CU_ASSERT_EQUAL_FATAL(g_failures, 0);
		run_exhaustive(&w, t, 7);
	}
}

/* The scenario of the issue, spelled out: tries=3, never confirmed. */
static void
test_unconfirmed_update_falls_back_after_tries(void)
{
	struct tf_fw_boot_result res;
	struct world w;
	bool dirty;

	world_running(&w, 1);
	g_tries = 3;
	step(&w, EV_FLASH_UP); /* B pending, sv 2 */
	for (unsigned int i = 1; i <= 3; i++) {
		CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), 1);
		CU_ASSERT_EQUAL(res.reason, TF_BOOT_TRIAL);
		CU_ASSERT_EQUAL(res.trial, i);
		CU_ASSERT_EQUAL(res.max_tries, 3);
	}
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_FALLBACK_UNCONFIRMED);
	CU_ASSERT_EQUAL(res.rejected_slot, 1);
	CU_ASSERT_EQUAL(w.m.slot_state[1], TF_SLOT_BAD);
	CU_ASSERT_EQUAL(w.m.pending_slot, TF_FLASH_NO_SLOT);
	CU_ASSERT_EQUAL(w.m.min_security_version, 1); /* the floor did not move */
	CU_ASSERT_EQUAL(w.m.fallback_count, 1);
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_NORMAL);
}

static void
test_confirm_raises_floor_and_keeps_fallback(void)
{
	struct tf_fw_boot_result res;
	struct world w;
	bool dirty, changed;
	int slot;

	world_running(&w, 1);
	g_tries = 1;
	step(&w, EV_FLASH_UP);
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), 1);
	CU_ASSERT_EQUAL(tf_fw_boot_confirm(&w.m, &slot, &changed), 0);
	CU_ASSERT(changed);
	CU_ASSERT_EQUAL(slot, 1);
	CU_ASSERT_EQUAL(w.m.min_security_version, 2);
	CU_ASSERT_EQUAL(w.m.active_slot, 1);
	CU_ASSERT_EQUAL(w.m.slot_state[0], TF_SLOT_CONFIRMED);
	/* Confirming again changes nothing. */
	CU_ASSERT_EQUAL(tf_fw_boot_confirm(&w.m, &slot, &changed), 0);
	CU_ASSERT(!changed);
	/* B rots: A (sv 1) is below the new floor, so nothing boots. */
	w.valid[1] = false;
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), -ENOENT);
	CU_ASSERT_EQUAL(w.m.slot_state[1], TF_SLOT_BAD);
	CU_ASSERT_EQUAL(w.m.slot_state[0], TF_SLOT_STORED);
}

static void
test_fallback_to_previous_confirmed_image(void)
{
	struct tf_fw_boot_result res;
	struct world w;
	bool dirty, changed;
	int slot;

	world_running(&w, 1);
	g_tries = 1;
	step(&w, EV_FLASH_SAME); /* same security version: A stays a valid fallback */
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), 1);
	CU_ASSERT_EQUAL(tf_fw_boot_confirm(&w.m, &slot, &changed), 0);
	w.valid[1] = false;
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_FALLBACK_ACTIVE);
	CU_ASSERT_EQUAL(res.rejected_slot, 1);
	CU_ASSERT_EQUAL(res.rejected.err, TF_FW_E_HASH);
	CU_ASSERT_EQUAL(w.m.active_slot, 0);
}

static void
test_recovery_without_metadata(void)
{
	struct tf_fw_boot_result res;
	struct world w;
	bool dirty;

	world_virgin(&w);
	w.valid[0] = w.valid[1] = true;
	w.sv[0] = 4;
	w.sv[1] = 3;
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, false, check_cb, &w, &res, &dirty), 0);
	CU_ASSERT(dirty);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_RECOVERY);
	CU_ASSERT_EQUAL(w.m.min_security_version, 4);
	CU_ASSERT_EQUAL(w.m.slot_state[1], TF_SLOT_STORED);
	world_virgin(&w);
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, false, check_cb, &w, &res, &dirty), -ENOENT);
	CU_ASSERT(!dirty);
}

static void
test_rollback_override_flag(void)
{
	struct tf_fw_boot_result res;
	struct world w;
	bool dirty;

	world_running(&w, 5);
	w.valid[1] = true;
	w.sv[1] = 2;
	w.m.slot_state[1] = TF_SLOT_STORED;
	CU_ASSERT_EQUAL(tf_fw_boot_activate(&w.m, 1, 1, 2, true), 0);
	CU_ASSERT_EQUAL(w.m.rollback_overrides, 1);
	CU_ASSERT(w.m.slot_flags[1] & TF_SLOT_F_ROLLBACK_OVERRIDE);
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), 1);
	CU_ASSERT(res.rollback_override);
	/* Without the flag the same image is refused and A boots. */
	world_running(&w, 5);
	w.valid[1] = true;
	w.sv[1] = 2;
	w.m.slot_state[1] = TF_SLOT_STORED;
	CU_ASSERT_EQUAL(tf_fw_boot_activate(&w.m, 1, 1, 2, false), 0);
	CU_ASSERT_EQUAL(tf_fw_boot_select(&w.m, true, check_cb, &w, &res, &dirty), 0);
	CU_ASSERT_EQUAL(res.reason, TF_BOOT_FALLBACK_INVALID);
	CU_ASSERT_EQUAL(res.rejected.err, TF_FW_E_ROLLBACK);
}

static void
test_activate_arguments(void)
{
	struct world w;

	world_running(&w, 1);
	CU_ASSERT_EQUAL(tf_fw_boot_activate(&w.m, 2, 1, 1, false), -EINVAL);
	CU_ASSERT_EQUAL(tf_fw_boot_activate(&w.m, 1, 0, 1, false), -EINVAL);
	CU_ASSERT_EQUAL(tf_fw_boot_activate(&w.m, 1, TF_FW_MAX_TRIES + 1, 1, false), -EINVAL);
	CU_ASSERT_EQUAL(tf_fw_boot_activate(&w.m, 0, 1, 1, false), -EALREADY);
	CU_ASSERT_EQUAL(tf_fw_boot_activate(&w.m, 1, 1, 1, false), -ENOENT); /* empty */
	w.m.slot_state[1] = TF_SLOT_WRITING;
	CU_ASSERT_EQUAL(tf_fw_boot_activate(&w.m, 1, 1, 1, false), -ENOENT);
}

static const struct tf_cunit_test boot_tests[] = {
	TF_TEST(test_exhaustive_from_running_card),
	TF_TEST(test_exhaustive_from_virgin_card),
	TF_TEST(test_exhaustive_with_pending_update),
	TF_TEST(test_unconfirmed_update_falls_back_after_tries),
	TF_TEST(test_confirm_raises_floor_and_keeps_fallback),
	TF_TEST(test_fallback_to_previous_confirmed_image),
	TF_TEST(test_recovery_without_metadata),
	TF_TEST(test_rollback_override_flag),
	TF_TEST(test_activate_arguments),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "boot", NULL, NULL, boot_tests })
