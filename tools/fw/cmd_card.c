/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-fw init, flash, activate, status, boot, confirm: the card's flash
 * (a flash file with the layout of hwdocs/flash-layout.md).
 * --fault-after-bytes N cuts the power after N bytes programmed/erased
 * (failure injection for tests, like netdevsim's knobs).
 */
#include "fwtool.h"

#include "common/log.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct card_ctx {
	struct tf_flash *file;
	struct tf_flash *fault;
	struct tf_fw_card *card;
	const char *path;
};

/* Options every card command takes. */
struct card_opts {
	const char *flash;
	uint64_t fault_after;
	bool json;
	bool allow_rollback;
	bool no_activate;
	bool progress;
	unsigned int tries;
	int slot;
};

enum { O_FAULT = 256, O_NOACT, O_ALLOW_RB, O_PROGRESS, O_TRIES };

static const struct option g_card_opts[] = { { "flash", required_argument, NULL, 'f' },
					     { "fault-after-bytes", required_argument, NULL,
					       O_FAULT },
					     { "json", no_argument, NULL, 'j' },
					     { "allow-rollback", no_argument, NULL, O_ALLOW_RB },
					     { "no-activate", no_argument, NULL, O_NOACT },
					     { "progress", no_argument, NULL, O_PROGRESS },
					     { "tries", required_argument, NULL, O_TRIES },
					     { "slot", required_argument, NULL, 's' },
					     { 0 } };

/* Parses the shared options; `allowed` lists the long names this command takes. */
static int
parse_card_opts(const char *cmd, int argc, char **argv, const char *allowed, struct card_opts *o)
{
	int c, idx;
	uint64_t v;

	memset(o, 0, sizeof(*o));
	o->fault_after = UINT64_MAX;
	o->slot = -1;
	while ((c = getopt_long(argc, argv, "f:js:", g_card_opts, &idx)) != -1) {
		const char *name = NULL;

		for (const struct option *p = g_card_opts; p->name; p++)
			if (p->val == c)
				name = p->name;
		if (!name || !strstr(allowed, name))
			return fw_usage_error(cmd, "option not valid here (takes: %s)", allowed);
		switch (c) {
		case 'f':
			o->flash = optarg;
			break;
		case O_FAULT:
			if (fw_parse_u64(optarg, UINT64_MAX - 1, &o->fault_after))
				return fw_usage_error(cmd,
						      "--fault-after-bytes takes a byte count");
			break;
		case 'j':
			o->json = true;
			break;
		case O_ALLOW_RB:
			o->allow_rollback = true;
			break;
		case O_NOACT:
			o->no_activate = true;
			break;
		case O_PROGRESS:
			o->progress = true;
			break;
		case O_TRIES:
			if (fw_parse_u64(optarg, TF_FW_MAX_TRIES, &v) || v == 0)
				return fw_usage_error(cmd, "--tries takes 1..%d", TF_FW_MAX_TRIES);
			o->tries = (unsigned int)v;
			break;
		case 's':
			if (!strcmp(optarg, "a") || !strcmp(optarg, "0"))
				o->slot = 0;
			else if (!strcmp(optarg, "b") || !strcmp(optarg, "1"))
				o->slot = 1;
			else
				return fw_usage_error(cmd, "--slot takes a or b");
			break;
		}
	}
	if (!o->flash)
		return fw_usage_error(cmd, "needs --flash FILE (the card's flash)");
	return 0;
}

static int
card_open(const struct card_opts *o, struct card_ctx *cc)
{
	int r;

	memset(cc, 0, sizeof(*cc));
	cc->path = o->flash;
	r = tf_flash_file_open(o->flash, &cc->file);
	if (r) {
		if (r == -EINVAL)
			tf_log_warnx("%s is not a flash file: its size must be whole 4 KiB blocks",
				     o->flash);
		else
			tf_log_warnx("cannot open flash %s: %s%s", o->flash, strerror(-r),
				     r == -ENOENT ? " (create one with: tokfab-fw init)" : "");
		return r;
	}
	if (o->fault_after != UINT64_MAX) {
		r = tf_flash_fault_create(cc->file, o->fault_after, &cc->fault);
		if (r)
			goto destroy_file;
	}
	r = tf_fw_card_open(cc->fault ? cc->fault : cc->file, &cc->card);
	if (r) {
		if (r == -ENODEV)
			tf_log_warnx("%s is not provisioned: run tokfab-fw init on it first",
				     o->flash);
		else if (r == -EINVAL)
			tf_log_warnx("%s is too small for two slots (need at least %u bytes)",
				     o->flash, TF_FLASH_SLOTS_OFF + 2 * TF_FLASH_MIN_SLOT_SIZE);
		else if (r == -EBADMSG)
			tf_log_warnx(
				"%s: the board record is corrupt: this card cannot verify images "
				"(re-provision it)",
				o->flash);
		else
			tf_log_warnx("%s: cannot read the card: %s", o->flash, strerror(-r));
		goto destroy_fault;
	}
	return 0;
destroy_fault:
	tf_flash_destroy(cc->fault);
destroy_file:
	tf_flash_destroy(cc->file);
	return r;
}

static void
card_close(struct card_ctx *cc)
{
	tf_fw_card_close(cc->card);
	tf_flash_destroy(cc->fault);
	tf_flash_destroy(cc->file);
}

/* Reports a failed operation; a cut by --fault-after-bytes is said as such. */
static int
card_fail(struct card_ctx *cc, const char *what, int r)
{
	if (cc->fault && tf_flash_fault_tripped(cc->fault))
		tf_log_warnx("%s: POWER CUT injected after %" PRIu64 " bytes programmed/erased "
			     "(--fault-after-bytes)",
			     what, tf_flash_fault_used(cc->fault));
	else
		tf_log_warnx("%s: %s: %s", what, cc->path, strerror(-r));
	return FW_EXIT_FAIL;
}

int
fw_cmd_init(int argc, char **argv)
{
	static const struct option opts[] = { { "flash", required_argument, NULL, 'f' },
					      { "size", required_argument, NULL, 'S' },
					      { "pubkey", required_argument, NULL, 'p' },
					      { "board", required_argument, NULL, 'b' },
					      { 0 } };
	const char *flash = NULL, *pubpath = NULL;
	uint64_t size = 0, board = 0;
	bool have_board = false;
	uint8_t pub[TF_FW_PUBKEY_SIZE], kid[TF_FW_KEY_ID_SIZE];
	char err[512], hex[2 * TF_FW_KEY_ID_SIZE + 1];
	struct tf_flash *fl;
	int c, r;

	while ((c = getopt_long(argc, argv, "f:S:p:b:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			flash = optarg;
			break;
		case 'S':
			if (fw_parse_size(optarg, &size))
				return fw_usage_error("init",
						      "--size takes bytes or a K/M/G suffix");
			break;
		case 'p':
			pubpath = optarg;
			break;
		case 'b':
			if (fw_parse_u64(optarg, UINT32_MAX, &board))
				return fw_usage_error("init", "--board takes a 32-bit number");
			have_board = true;
			break;
		default:
			return fw_usage_error("init", "unknown option");
		}
	}
	if (!flash || !size || !pubpath || !have_board || optind != argc)
		return fw_usage_error("init",
				      "needs --flash FILE --size SIZE --pubkey PUB --board ID");
	if (size % TF_FLASH_BLOCK_SIZE || size < TF_FLASH_SLOTS_OFF + 2ull * TF_FLASH_MIN_SLOT_SIZE)
		return fw_usage_error("init", "--size must be a multiple of 4096 and at least %u",
				      TF_FLASH_SLOTS_OFF + 2 * TF_FLASH_MIN_SLOT_SIZE);
	r = tf_fw_pubkey_load(pubpath, pub, err, sizeof(err));
	if (r) {
		tf_log_warnx("init: %s", err);
		return FW_EXIT_FAIL;
	}
	r = tf_flash_file_create(flash, size, &fl);
	if (r) {
		tf_log_warnx("init: cannot create %s: %s%s", flash, strerror(-r),
			     r == -EEXIST ? " (a card is provisioned once; remove the file first)"
					  : "");
		return FW_EXIT_FAIL;
	}
	r = tf_fw_card_provision(fl, (uint32_t)board, pub);
	tf_flash_destroy(fl);
	if (r) {
		tf_log_warnx("init: cannot provision %s: %s", flash, strerror(-r));
		return FW_EXIT_FAIL;
	}
	tf_fw_key_id(pub, kid);
	printf("provisioned %s: %" PRIu64 " bytes, board 0x%08" PRIx32 ", trusts key %s; "
	       "no image yet (tokfab-fw flash)\n",
	       flash, size, (uint32_t)board, fw_hex(kid, sizeof(kid), hex));
	return FW_EXIT_OK;
}

static void
log_override(const char *what, struct tf_fw_card *card, int slot)
{
	struct tf_fw_card_status st;

	if (tf_fw_card_status(card, &st) || !(st.slot[slot].flags & TF_SLOT_F_ROLLBACK_OVERRIDE))
		return;
	tf_log_warnx("%s: LAB OVERRIDE: slot %s holds security version %" PRIu32
		     " below the card's minimum %" PRIu32
		     "; allowed by --allow-rollback and recorded "
		     "on the card (rollback overrides so far: %" PRIu32 ")",
		     what, tf_fw_slot_name(slot), st.slot[slot].img.security_version,
		     st.meta.min_security_version, st.meta.rollback_overrides);
}

int
fw_cmd_flash(int argc, char **argv)
{
	struct tf_fw_write_opts wo = { 0 };
	struct fw_progress prog;
	struct card_opts o;
	struct card_ctx cc;
	struct tf_fw_diag d;
	struct tf_fw_image im;
	uint8_t *img;
	size_t len;
	int r, slot = -1, rc = FW_EXIT_FAIL;

	r = parse_card_opts("flash", argc, argv,
			    "flash fault-after-bytes no-activate tries allow-rollback progress",
			    &o);
	if (r)
		return r;
	if (optind != argc - 1)
		return fw_usage_error("flash", "expected one IMAGE");
	r = fw_read_file(argv[optind], &img, &len);
	if (r) {
		tf_log_warnx("flash: cannot read %s: %s", argv[optind], strerror(-r));
		return FW_EXIT_FAIL;
	}
	if (card_open(&o, &cc))
		goto free_img;
	fw_progress_init(&prog, o.progress);
	wo.activate = !o.no_activate;
	wo.tries = o.tries;
	wo.allow_rollback = o.allow_rollback;
	wo.progress = fw_progress_cb;
	wo.arg = &prog;
	r = tf_fw_flash_write_slot(cc.card, img, len, &wo, &slot, &d);
	if (r) {
		if (d.err != TF_FW_OK) {
			tf_fw_image_parse(img, len, &im, NULL);
			fw_print_diag(argv[optind], &d, &im);
			if (d.err == TF_FW_E_IMAGE_SIZE)
				tf_log_warnx(
					"flash: the image has %zu bytes, a slot holds %" PRIu64,
					len, d.expected);
		} else if (r == -EBUSY) {
			tf_log_warnx(
				"flash: the inactive slot runs an update on trial: confirm it "
				"(tokfab-fw confirm) or boot once more to fall back, then flash");
		} else {
			card_fail(&cc, "flash", r);
		}
		goto close_card;
	}
	tf_fw_image_parse(img, len, &im, &d);
	if (o.allow_rollback)
		log_override("flash", cc.card, slot);
	printf("flashed %s to slot %s: version %u.%u.%u, security version %" PRIu32
	       ", %zu bytes written and read back; ",
	       argv[optind], tf_fw_slot_name(slot), im.version[0], im.version[1], im.version[2],
	       im.security_version, len);
	if (wo.activate)
		printf("pending: tried up to %u times from the next boot; the new image must "
		       "run 'tokfab-fw confirm' or the card falls back\n",
		       o.tries ? o.tries : TF_FW_DEFAULT_TRIES);
	else
		printf("stored, not activated (tokfab-fw activate --slot %s)\n",
		       tf_fw_slot_name(slot));
	rc = FW_EXIT_OK;
close_card:
	card_close(&cc);
free_img:
	free(img);
	return rc;
}

int
fw_cmd_activate(int argc, char **argv)
{
	struct card_opts o;
	struct card_ctx cc;
	struct tf_fw_diag d;
	int r, rc = FW_EXIT_FAIL;

	r = parse_card_opts("activate", argc, argv,
			    "flash fault-after-bytes slot tries allow-rollback", &o);
	if (r)
		return r;
	if (o.slot < 0 || optind != argc)
		return fw_usage_error("activate", "needs --slot a|b");
	if (card_open(&o, &cc))
		return FW_EXIT_FAIL;
	r = tf_fw_card_activate(cc.card, o.slot, o.tries ? o.tries : TF_FW_DEFAULT_TRIES,
				o.allow_rollback, &d);
	if (r) {
		if (d.err != TF_FW_OK)
			fw_print_diag(tf_fw_slot_name(o.slot), &d, NULL);
		else if (r == -EALREADY)
			tf_log_warnx("activate: slot %s is already the active image",
				     tf_fw_slot_name(o.slot));
		else if (r == -EBUSY)
			tf_log_warnx("activate: an update is running on trial: confirm it or boot "
				     "again to fall back first");
		else if (r == -ENOENT)
			tf_log_warnx("activate: slot %s holds no complete image (flash one)",
				     tf_fw_slot_name(o.slot));
		else
			card_fail(&cc, "activate", r);
		goto out;
	}
	if (o.allow_rollback)
		log_override("activate", cc.card, o.slot);
	printf("slot %s is pending: tried up to %u times from the next boot\n",
	       tf_fw_slot_name(o.slot), o.tries ? o.tries : TF_FW_DEFAULT_TRIES);
	rc = FW_EXIT_OK;
out:
	card_close(&cc);
	return rc;
}

static void
ver_str(const struct tf_fw_slot_status *s, char *out, size_t n)
{
	if (s->present)
		snprintf(out, n, "%u.%u.%u", s->img.version[0], s->img.version[1],
			 s->img.version[2]);
	else
		snprintf(out, n, "none");
}

static json_t *
status_json(const struct tf_fw_card_status *st)
{
	const struct tf_fw_meta *m = &st->meta;
	char hex[2 * TF_FW_BUILD_ID_SIZE + 1], ver[32], why[512];
	json_t *o = json_object(), *slots = json_array();

	json_object_set_new(o, "board_id", json_integer(st->board_id));
	json_object_set_new(o, "key_id", json_string(fw_hex(st->key_id, TF_FW_KEY_ID_SIZE, hex)));
	json_object_set_new(o, "flash_size", json_integer((json_int_t)st->flash_size));
	json_object_set_new(o, "slot_size", json_integer((json_int_t)st->slot_size));
	json_object_set_new(o, "active",
			    m->active_slot < 2 ? json_string(tf_fw_slot_name(m->active_slot))
					       : json_null());
	json_object_set_new(o, "pending",
			    m->pending_slot < 2 ? json_string(tf_fw_slot_name(m->pending_slot))
						: json_null());
	json_object_set_new(o, "running",
			    m->booted_slot < 2 ? json_string(tf_fw_slot_name(m->booted_slot))
					       : json_null());
	json_object_set_new(o, "tries_left", json_integer(m->tries_left));
	json_object_set_new(o, "max_tries", json_integer(m->max_tries));
	json_object_set_new(o, "min_security_version", json_integer(m->min_security_version));
	json_object_set_new(o, "boot_count", json_integer(m->boot_count));
	json_object_set_new(o, "last_boot", json_string(tf_fw_boot_reason_name(m->last_boot)));
	json_object_set_new(o, "fallback_count", json_integer(m->fallback_count));
	json_object_set_new(o, "rollback_overrides", json_integer(m->rollback_overrides));
	json_object_set_new(o, "meta_seq", json_integer((json_int_t)m->seq));
	json_object_set_new(o, "meta_copies_valid", json_integer(st->meta_copies_valid));
	for (int s = 0; s < TF_FLASH_NSLOTS; s++) {
		const struct tf_fw_slot_status *ss = &st->slot[s];
		json_t *e = json_object();

		ver_str(ss, ver, sizeof(ver));
		json_object_set_new(e, "slot", json_string(tf_fw_slot_name(s)));
		json_object_set_new(e, "state", json_string(tf_fw_slot_state_name(ss->state)));
		json_object_set_new(e, "present", json_boolean(ss->present));
		json_object_set_new(e, "rollback_override",
				    json_boolean(ss->flags & TF_SLOT_F_ROLLBACK_OVERRIDE));
		if (ss->present) {
			json_object_set_new(e, "version", json_string(ver));
			json_object_set_new(e, "security_version",
					    json_integer(ss->img.security_version));
			json_object_set_new(
				e, "build_id",
				json_string(fw_hex(ss->img.build_id, TF_FW_BUILD_ID_SIZE, hex)));
			json_object_set_new(e, "image_size",
					    json_integer((json_int_t)ss->img.image_size));
		} else if (ss->state != TF_SLOT_EMPTY) {
			json_object_set_new(
				e, "header",
				json_string(tf_fw_diag_format(&ss->diag, why, sizeof(why))));
		}
		json_array_append_new(slots, e);
	}
	json_object_set_new(o, "slots", slots);
	return o;
}

static void
status_text(const char *path, const struct tf_fw_card_status *st)
{
	const struct tf_fw_meta *m = &st->meta;
	char hex[2 * TF_FW_KEY_ID_SIZE + 1], ver[32];

	printf("card %s:\n", path);
	printf("  board.id 0x%08" PRIx32 "\n", st->board_id);
	printf("  key.id %s\n", fw_hex(st->key_id, TF_FW_KEY_ID_SIZE, hex));
	printf("  versions:\n      running:\n");
	if (m->booted_slot < TF_FLASH_NSLOTS) {
		ver_str(&st->slot[m->booted_slot], ver, sizeof(ver));
		printf("        fw %s (slot %s, %s%s)\n", ver, tf_fw_slot_name(m->booted_slot),
		       tf_fw_boot_reason_name(m->last_boot),
		       m->booted_slot == m->pending_slot ? ", NOT CONFIRMED" : "");
	} else {
		printf("        none (not booted)\n");
	}
	printf("      stored:\n");
	for (int s = 0; s < TF_FLASH_NSLOTS; s++) {
		const struct tf_fw_slot_status *ss = &st->slot[s];

		ver_str(ss, ver, sizeof(ver));
		printf("        fw.slot.%s %s", tf_fw_slot_name(s), ver);
		if (ss->present)
			printf(" sv %" PRIu32, ss->img.security_version);
		printf(" %s", tf_fw_slot_state_name(ss->state));
		if (s == m->active_slot)
			printf(" active");
		if (s == m->pending_slot)
			printf(" pending (%u of %u tries left)", m->tries_left, m->max_tries);
		if (ss->flags & TF_SLOT_F_ROLLBACK_OVERRIDE)
			printf(" rollback-override");
		if (ss->present && ss->img.security_version < m->min_security_version)
			printf(" below-floor");
		printf("\n");
	}
	printf("  security.min_version %" PRIu32 "\n", m->min_security_version);
	printf("  boot.count %" PRIu32 " boot.last %s boot.fallbacks %" PRIu32 "\n", m->boot_count,
	       tf_fw_boot_reason_name(m->last_boot), m->fallback_count);
	printf("  rollback.overrides %" PRIu32 "\n", m->rollback_overrides);
	printf("  meta.seq %" PRIu64 " meta.copies_valid %d slot.size %" PRIu64 "\n", m->seq,
	       st->meta_copies_valid, st->slot_size);
}

int
fw_cmd_status(int argc, char **argv)
{
	struct tf_fw_card_status st;
	struct card_opts o;
	struct card_ctx cc;
	int r;

	r = parse_card_opts("status", argc, argv, "flash json", &o);
	if (r)
		return r;
	if (optind != argc)
		return fw_usage_error("status", "takes no arguments");
	if (card_open(&o, &cc))
		return FW_EXIT_FAIL;
	r = tf_fw_card_status(cc.card, &st);
	if (r) {
		card_fail(&cc, "status", r);
		card_close(&cc);
		return FW_EXIT_FAIL;
	}
	if (o.json) {
		json_t *j = status_json(&st);

		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else {
		status_text(o.flash, &st);
	}
	card_close(&cc);
	return FW_EXIT_OK;
}

int
fw_cmd_boot(int argc, char **argv)
{
	struct tf_fw_boot_result res;
	struct tf_fw_card_status st;
	struct card_opts o;
	struct card_ctx cc;
	char ver[32], why[512];
	int r, rc = FW_EXIT_FAIL;

	r = parse_card_opts("boot", argc, argv, "flash fault-after-bytes", &o);
	if (r)
		return r;
	if (optind != argc)
		return fw_usage_error("boot", "takes no arguments");
	if (card_open(&o, &cc))
		return FW_EXIT_FAIL;
	r = tf_fw_card_boot(cc.card, &res);
	if (res.rejected_slot >= 0 && (r >= 0 || r == -ENOENT)) {
		if (res.rejected.err == TF_FW_OK)
			tf_log_warnx("boot: slot %s gave up: its trial was never confirmed",
				     tf_fw_slot_name(res.rejected_slot));
		else
			tf_log_warnx("boot: slot %s rejected: %s",
				     tf_fw_slot_name(res.rejected_slot),
				     tf_fw_diag_format(&res.rejected, why, sizeof(why)));
	}
	if (r == -ENOENT) {
		tf_log_warnx("boot: no bootable image: the card stays in recovery; "
			     "flash a signed image (tokfab-fw flash) or activate a stored slot");
		goto out;
	}
	if (r < 0) {
		card_fail(&cc, "boot", r);
		goto out;
	}
	if (tf_fw_card_status(cc.card, &st)) {
		card_fail(&cc, "boot", -EIO);
		goto out;
	}
	ver_str(&st.slot[res.slot], ver, sizeof(ver));
	if (res.rollback_override)
		tf_log_warnx(
			"boot: LAB OVERRIDE: slot %s runs below the anti-rollback floor %" PRIu32,
			tf_fw_slot_name(res.slot), st.meta.min_security_version);
	printf("boot: slot %s, version %s, reason %s", tf_fw_slot_name(res.slot), ver,
	       tf_fw_boot_reason_name(res.reason));
	if (res.reason == TF_BOOT_TRIAL)
		printf(" (try %u of %u: run 'tokfab-fw confirm' once healthy or the card falls "
		       "back)",
		       res.trial, res.max_tries);
	printf("\n");
	rc = FW_EXIT_OK;
out:
	card_close(&cc);
	return rc;
}

int
fw_cmd_confirm(int argc, char **argv)
{
	struct card_opts o;
	struct card_ctx cc;
	bool changed;
	int r, slot = -1, rc = FW_EXIT_FAIL;

	r = parse_card_opts("confirm", argc, argv, "flash fault-after-bytes", &o);
	if (r)
		return r;
	if (optind != argc)
		return fw_usage_error("confirm", "takes no arguments");
	if (card_open(&o, &cc))
		return FW_EXIT_FAIL;
	r = tf_fw_card_confirm(cc.card, &slot, &changed);
	if (r == -ENOENT) {
		tf_log_warnx("confirm: nothing has booted on this card (tokfab-fw boot)");
	} else if (r == -ESTALE) {
		tf_log_warnx("confirm: the running slot %s is neither pending nor active: "
			     "the card fell back; boot again",
			     tf_fw_slot_name(slot));
	} else if (r) {
		card_fail(&cc, "confirm", r);
	} else {
		printf("confirm: slot %s %s\n", tf_fw_slot_name(slot),
		       changed ? "confirmed healthy: it is now the active image"
			       : "was already the confirmed, active image");
		rc = FW_EXIT_OK;
	}
	card_close(&cc);
	return rc;
}
