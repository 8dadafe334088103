/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card's firmware on its flash (--flash FILE, hwdocs/flash-layout.md):
 *
 *  - boot: before the EAL starts, tokfab-dp plays the card's boot loader: boot
 *    selection (libtffw) picks a slot; when the dataplane executable in that
 *    image is not this program, it is started instead (exec from memory), so
 *    a new image really runs and a broken one really fails its trial;
 *  - confirmation: once the dataplane is up and its self-test passed, an image
 *    on trial confirms itself (else the next boot falls back);
 *  - the admin commands FW_WRITE, FW_INFO and FW_ACTIVATE (queues.md): what
 *    `devlink dev flash`, `devlink dev info` and `devlink dev reload action
 *    fw_activate` drive through tokfab.ko. FW_ACTIVATE with NOW asks main.c
 *    to stop and start again (app->reset), which boots the pending slot.
 *
 * The flash is opened for each operation and closed again (libtffw locks
 * the file while it is open), so tokfab-fw can look at it while we run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/dp.h"
#include "fw.h"
#include "fw_aq.h"

/* Set by a boot that exec'd the image's dataplane: the slot it started. */
#define FW_BOOTED_ENV "TF_DP_FW_BOOTED"
/* An image on trial confirms itself at the earliest this long after start. */
#define FW_CONFIRM_MIN_US 2000000ull
/* ... and gives up (the next boot falls back) when its self-test fails this long. */
#define FW_SELFTEST_MAX_US 60000000ull

/*
 * Before the EAL is up its logging is not either (INFO is not printed): the
 * boot loader's part writes to stderr itself, in the same form.
 */
#define BOOT_LOG(fmt, ...) fprintf(stderr, "tokfab-dp: " fmt "\n", ##__VA_ARGS__)

struct tf_dp_fw {
	char *path;
	int booted_slot; /* -1: no image booted (recovery: the built-in dataplane) */
	int trial; /* the booted slot was pending: it must confirm itself */
	int confirmed;
	int gave_up;
	uint32_t version; /* running: TF_FW_VERSION */
	char version_str[TF_NAME_LEN];
	/* self-test */
	uint64_t polls[TF_DP_MAX_WORKERS];
	int polls_seen;
	/* FW_WRITE: the image being received */
	struct tf_fw_upload up;
};

static int
card_open(const struct tf_dp_fw *fw, struct tf_flash **fl, struct tf_fw_card **card)
{
	int rc = tf_flash_file_open(fw->path, fl);

	if (rc < 0)
		return rc;
	rc = tf_fw_card_open(*fl, card);
	if (rc < 0) {
		tf_flash_destroy(*fl);
		*fl = NULL;
	}
	return rc;
}

static void
card_close(struct tf_flash *fl, struct tf_fw_card *card)
{
	tf_fw_card_close(card);
	tf_flash_destroy(fl);
}

static const char *
diag_str(const struct tf_fw_diag *d, char *buf, size_t len)
{
	return tf_fw_diag_format(d, buf, len);
}

/* 1 when the file at path holds exactly len bytes equal to buf. */
static int
same_bytes(const char *path, const uint8_t *buf, size_t len)
{
	struct stat st;
	void *p;
	int fd, same;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != len) {
		close(fd);
		return 0;
	}
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return 0;
	same = memcmp(p, buf, len) == 0;
	munmap(p, len);
	return same;
}

/*
 * Starts the dataplane executable of the booted image in place of this
 * program, from memory, with the same arguments. Returns only on failure.
 */
static int
exec_image(const uint8_t *exe, size_t len, int slot, char **argv)
{
	char name[32], val[8];
	size_t off = 0;
	int fd, rc;

	snprintf(name, sizeof(name), "tokfab-dp-slot-%s", tf_fw_slot_name(slot));
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, exe + off, len - off);

		if (n < 0) {
			rc = -errno;
			goto out;
		}
		off += (size_t)n;
	}
	fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	snprintf(val, sizeof(val), "%d", slot);
	setenv(FW_BOOTED_ENV, val, 1);
	BOOT_LOG("boot: starting the dataplane of slot %s (%zu bytes) from memory",
		 tf_fw_slot_name(slot), len);
	fflush(NULL);
	fexecve(fd, argv, environ);
	rc = -errno;
	unsetenv(FW_BOOTED_ENV);
out:
	close(fd);
	return rc;
}

/* Boot selection, as the card's boot loader does it at power-on. */
static int
boot(struct tf_dp_fw *fw, struct tf_fw_card *card, char **argv)
{
	struct tf_fw_boot_result res;
	struct tf_fw_image im;
	const uint8_t *exe;
	uint8_t *buf = NULL;
	struct tf_fw_diag diag;
	char why[256];
	uint64_t exe_len;
	size_t len;
	int rc;

	rc = tf_fw_card_boot(card, &res);
	if (rc == -ENOENT) {
		BOOT_LOG("boot: no bootable image in %s: running the built-in dataplane in "
			 "recovery; flash an image (devlink dev flash, or tokfab-fw flash)",
			 fw->path);
		return 0;
	}
	if (rc < 0) {
		BOOT_LOG("boot: cannot read the flash %s: %s", fw->path, strerror(-rc));
		return rc;
	}
	if (res.rejected_slot >= 0)
		BOOT_LOG("boot: slot %s given up: %s", tf_fw_slot_name(res.rejected_slot),
			 res.rejected.err == TF_FW_OK ? "its trial was never confirmed"
						      : diag_str(&res.rejected, why, sizeof(why)));
	if (res.rollback_override)
		BOOT_LOG("boot: slot %s is below the anti-rollback floor and runs "
			 "under the LAB OVERRIDE",
			 tf_fw_slot_name(res.slot));
	if (res.reason == TF_BOOT_TRIAL)
		BOOT_LOG("boot: slot %s on trial (try %u of %u): it confirms itself once "
			 "its self-test passed",
			 tf_fw_slot_name(res.slot), res.trial, res.max_tries);
	else
		BOOT_LOG("boot: slot %s (%s)", tf_fw_slot_name(res.slot),
			 tf_fw_boot_reason_name(res.reason));
	rc = tf_fw_card_load_slot(card, res.slot, &buf, &len, &im, &diag);
	if (rc < 0) {
		BOOT_LOG("boot: slot %s went bad after boot selection: %s",
			 tf_fw_slot_name(res.slot), diag_str(&diag, why, sizeof(why)));
		return rc;
	}
	fw->booted_slot = res.slot;
	exe = tf_fw_image_section(&im, TF_FW_SECT_DATAPLANE, &exe_len);
	if (exe && !same_bytes("/proc/self/exe", exe, exe_len)) {
		rc = exec_image(exe, exe_len, res.slot, argv);
		BOOT_LOG("boot: the dataplane of slot %s does not start: %s (this trial is "
			 "spent; the card falls back once its tries are used up)",
			 tf_fw_slot_name(res.slot), strerror(-rc));
	}
	free(buf);
	return rc;
}

int
tf_dp_fw_open(const char *path, char **argv, struct tf_dp_fw **out)
{
	struct tf_fw_card_status st;
	struct tf_fw_card *card = NULL;
	struct tf_flash *fl = NULL;
	const char *booted = getenv(FW_BOOTED_ENV);
	struct tf_dp_fw *fw;
	int rc;

	*out = NULL;
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	fw->path = strdup(path);
	fw->booted_slot = -1;
	if (!fw->path) {
		rc = -ENOMEM;
		goto err;
	}
	rc = card_open(fw, &fl, &card);
	if (rc < 0) {
		BOOT_LOG("flash %s: %s (a card's flash is provisioned once: tokfab-fw init "
			 "--flash %s --pubkey VENDOR.pub --board ID, then tokfab-fw flash)",
			 path, strerror(-rc), path);
		goto err;
	}
	if (booted) {
		/* A boot already ran (the program that exec'd us): do not run it twice. */
		unsetenv(FW_BOOTED_ENV);
	} else {
		rc = boot(fw, card, argv);
		if (rc < 0)
			goto err_card;
	}
	rc = tf_fw_card_status(card, &st);
	if (rc < 0) {
		BOOT_LOG("flash %s: cannot read its state: %s", path, strerror(-rc));
		goto err_card;
	}
	fw->booted_slot = st.meta.booted_slot < TF_FLASH_NSLOTS ? st.meta.booted_slot : -1;
	if (fw->booted_slot >= 0 && st.slot[fw->booted_slot].present) {
		const struct tf_fw_image *im = &st.slot[fw->booted_slot].img;

		fw->version = tf_fw_image_version(im);
		snprintf(fw->version_str, sizeof(fw->version_str), "%u.%u.%u", im->version[0],
			 im->version[1], im->version[2]);
		fw->trial = st.meta.pending_slot == st.meta.booted_slot;
	} else {
		fw->booted_slot = -1;
	}
	card_close(fl, card);
	*out = fw;
	return 0;

err_card:
	card_close(fl, card);
err:
	free(fw->path);
	free(fw);
	return rc;
}

void
tf_dp_fw_close(struct tf_dp_fw *fw)
{
	if (!fw)
		return;
	tf_fw_upload_release(&fw->up);
	free(fw->path);
	free(fw);
}

int
tf_dp_fw_running(const struct tf_dp_fw *fw, uint32_t *version, const char **str)
{
	if (!fw || fw->booted_slot < 0)
		return -ENOENT;
	*version = fw->version;
	*str = fw->version_str;
	return 0;
}

/* ---- self-test and confirmation ---- */

/*
 * The dataplane is up when every port's link is up and every worker's loop is
 * turning (its poll counter moved since the last look).
 */
static int
selftest(struct tf_dp_app *app, char *why, size_t len)
{
	int moving = 1;

	for (uint16_t i = 0; i < app->nports; i++)
		if (app->bus.health.port_state[i] != TF_HS_UP) {
			snprintf(why, len, "port %u is down", app->ports[i]);
			return 0;
		}
	for (unsigned int w = 0; w < app->nworkers; w++) {
		uint64_t p = tf_dp_worker_counters(app->workers[w])->ev[TF_EV_POLLS];

		if (app->fw->polls_seen && p == app->fw->polls[w]) {
			snprintf(why, len, "worker %u does not loop", w);
			moving = 0;
		}
		app->fw->polls[w] = p;
	}
	if (!app->fw->polls_seen) {
		app->fw->polls_seen = 1;
		snprintf(why, len, "first look at the workers");
		return 0;
	}
	return moving;
}

void
tf_dp_fw_poll(struct tf_dp_app *app)
{
	struct tf_dp_fw *fw = app->fw;
	struct tf_fw_card *card;
	struct tf_flash *fl;
	uint64_t up = tf_dp_now_us(app) - app->start_us;
	char why[128] = "";
	bool changed = false;
	int slot = -1, rc;

	if (!fw || !fw->trial || fw->confirmed || fw->gave_up || up < FW_CONFIRM_MIN_US)
		return;
	if (!selftest(app, why, sizeof(why))) {
		if (up > FW_SELFTEST_MAX_US) {
			fw->gave_up = 1;
			TF_DP_LOG(
				ERR,
				"firmware slot %s: self-test still failing after %llu s (%s): not "
				"confirmed, the next boot falls back",
				tf_fw_slot_name(fw->booted_slot), FW_SELFTEST_MAX_US / 1000000,
				why);
		}
		return;
	}
	rc = card_open(fw, &fl, &card);
	if (rc == 0) {
		rc = tf_fw_card_confirm(card, &slot, &changed);
		card_close(fl, card);
	}
	if (rc < 0) {
		TF_DP_LOG(ERR, "firmware slot %s: confirmation failed: %s",
			  tf_fw_slot_name(fw->booted_slot), strerror(-rc));
		fw->gave_up = 1;
		return;
	}
	fw->confirmed = 1;
	TF_DP_LOG(INFO,
		  "firmware %s in slot %s confirmed: dataplane up (%u port(s) up, %u worker(s) "
		  "looping)%s",
		  fw->version_str, tf_fw_slot_name(slot), app->nports, app->nworkers,
		  changed ? "" : " (it already was)");
}

/* ---- admin commands (ctx: the control bus; its ctx is the app) ---- */

static struct tf_dp_fw *
fw_of(void *ctx)
{
	struct tf_dp_ctl_bus *b = ctx;

	return ((struct tf_dp_app *)b->ctx)->fw;
}

static int
h_fw_write(void *ctx, const struct tf_aq_fw_write *cmd, struct tf_aq_fw_write_status *resp,
	   uint32_t *detail)
{
	struct tf_dp_fw *fw = fw_of(ctx);
	struct tf_fw_write_opts o = { .activate = !!(cmd->flags & TF_FW_WRITE_F_ACTIVATE) };
	struct tf_fw_card_status st;
	struct tf_fw_card *card;
	struct tf_fw_image im;
	struct tf_flash *fl;
	struct tf_fw_diag diag;
	uint64_t slot_size = 0;
	char why[256];
	int rc, slot = -1, status;

	if (cmd->offset == 0) { /* a new image: it must fit a slot */
		rc = card_open(fw, &fl, &card);
		if (rc == 0) {
			rc = tf_fw_card_status(card, &st);
			card_close(fl, card);
		}
		if (rc < 0)
			return TF_AQ_S_INTERNAL;
		slot_size = st.slot_size;
	}
	status = tf_fw_upload_chunk(&fw->up, cmd, slot_size, resp, detail);
	if (status != TF_AQ_S_OK)
		return status;
	if (!(cmd->flags & TF_FW_WRITE_F_FINAL))
		return TF_AQ_S_OK;

	rc = card_open(fw, &fl, &card);
	if (rc == 0) {
		rc = tf_fw_flash_write_slot(card, fw->up.img, fw->up.recv, &o, &slot, &diag);
		card_close(fl, card);
	} else {
		memset(&diag, 0, sizeof(diag));
		rc = -EIO;
	}
	status = rc < 0 ? tf_fw_aq_refusal(rc, &diag, detail) : TF_AQ_S_OK;
	if (rc < 0) {
		TF_DP_LOG(WARNING, "firmware image of %u bytes refused: %s", fw->up.recv,
			  rc == -EIO ? "flash failure" : diag_str(&diag, why, sizeof(why)));
	} else {
		if (tf_fw_image_parse_head(fw->up.img, fw->up.recv, &im, &diag) == 0)
			resp->version = tf_fw_image_version(&im);
		resp->slot = (uint32_t)slot;
		TF_DP_LOG(INFO, "firmware image %u.%u.%u (%u bytes) stored in slot %s%s",
			  resp->version >> 24, (resp->version >> 16) & 0xff, resp->version & 0xffff,
			  fw->up.recv, tf_fw_slot_name(slot),
			  o.activate ? ": the next boot tries it" : "");
	}
	tf_fw_upload_release(&fw->up);
	return status;
}

/* What the flash holds, in the admin queue's terms. */
static int
fw_info(struct tf_dp_fw *fw, struct tf_aq_fw_info *resp)
{
	struct tf_fw_card_status st;
	struct tf_fw_card *card;
	struct tf_flash *fl;
	int i, next, rc;

	rc = card_open(fw, &fl, &card);
	if (rc == 0) {
		rc = tf_fw_card_status(card, &st);
		card_close(fl, card);
	}
	if (rc < 0)
		return rc;
	resp->running_version = fw->booted_slot >= 0 ? fw->version : 0;
	for (i = 0; i < TF_FLASH_NSLOTS; i++) {
		resp->slot_state[i] = st.slot[i].state;
		resp->slot_version[i] =
			st.slot[i].present ? tf_fw_image_version(&st.slot[i].img) : 0;
	}
	next = st.meta.pending_slot != TF_FLASH_NO_SLOT ? st.meta.pending_slot
							: st.meta.active_slot;
	resp->next_slot = next < TF_FLASH_NSLOTS ? (uint32_t)next : TF_FW_NO_SLOT;
	resp->next_version = next < TF_FLASH_NSLOTS ? resp->slot_version[next] : 0;
	resp->active_slot =
		st.meta.active_slot < TF_FLASH_NSLOTS ? st.meta.active_slot : TF_FW_NO_SLOT;
	return 0;
}

static int
h_fw_info(void *ctx, struct tf_aq_fw_info *resp, uint32_t *detail)
{
	struct tf_dp_fw *fw = fw_of(ctx);

	(void)detail;
	if (fw_info(fw, resp) < 0)
		return TF_AQ_S_INTERNAL;
	if (fw->booted_slot < 0) /* recovery: the built-in dataplane runs */
		resp->running_version = TF_DP_BUILTIN_FW_VERSION;
	return TF_AQ_S_OK;
}

static int
h_fw_activate(void *ctx, const struct tf_aq_fw_activate *cmd, struct tf_aq_fw_status *resp,
	      uint32_t *detail)
{
	struct tf_dp_ctl_bus *b = ctx;
	struct tf_dp_app *app = b->ctx;
	struct tf_dp_fw *fw = app->fw;
	static const uint8_t zero[32];
	uint8_t digest[32];
	struct tf_fw_card *card;
	struct tf_fw_image im;
	struct tf_aq_fw_info info;
	struct tf_flash *fl;
	struct tf_fw_diag diag;
	uint8_t *buf = NULL;
	size_t len;
	char why[256];
	int rc, st = TF_AQ_S_OK;

	rc = card_open(fw, &fl, &card);
	if (rc < 0)
		return TF_AQ_S_INTERNAL;
	memset(&diag, 0, sizeof(diag));
	rc = tf_fw_card_load_slot(card, (int)cmd->slot, &buf, &len, &im, &diag);
	if (rc < 0) {
		st = rc == -EIO || rc == -ENOMEM ? TF_AQ_S_INTERNAL
						 : tf_fw_aq_refusal(rc, &diag, detail);
		if (st == TF_AQ_S_FW_BAD_DIGEST && diag.err != TF_FW_E_HASH)
			st = TF_AQ_S_FW_NO_IMAGE;
		*detail = cmd->slot;
		goto out;
	}
	if (cmd->version && cmd->version != tf_fw_image_version(&im)) {
		st = TF_AQ_S_FW_BAD_DIGEST; /* queues.md: also for a version mismatch */
		*detail = cmd->slot;
		goto out;
	}
	if (memcmp(cmd->sha256, zero, sizeof(zero))) {
		if (tf_fw_sha256(buf, len, digest) < 0) {
			st = TF_AQ_S_INTERNAL;
			goto out;
		}
		if (memcmp(digest, cmd->sha256, sizeof(digest))) {
			st = TF_AQ_S_FW_BAD_DIGEST;
			*detail = cmd->slot;
			goto out;
		}
	}
	rc = tf_fw_card_activate(card, (int)cmd->slot, TF_FW_DEFAULT_TRIES, false, &diag);
	if (rc == -EALREADY) {
		rc = 0; /* the active slot: it is what the next boot starts anyway */
	} else if (rc < 0) {
		st = tf_fw_aq_refusal(rc, &diag, detail);
		if (st == TF_AQ_S_FW_NO_IMAGE)
			*detail = cmd->slot;
		TF_DP_LOG(WARNING, "FW_ACTIVATE slot %s refused: %s",
			  tf_fw_slot_name((int)cmd->slot),
			  diag.err ? diag_str(&diag, why, sizeof(why)) : strerror(-rc));
		goto out;
	}
out:
	free(buf);
	card_close(fl, card);
	if (st != TF_AQ_S_OK)
		return st;
	if (fw_info(fw, &info) < 0)
		return TF_AQ_S_INTERNAL;
	resp->running_slot = fw->booted_slot >= 0 ? (uint32_t)fw->booted_slot : TF_FW_NO_SLOT;
	resp->running_version = fw->booted_slot >= 0 ? fw->version : TF_DP_BUILTIN_FW_VERSION;
	resp->next_slot = info.next_slot;
	resp->next_version = info.next_version;
	TF_DP_LOG(INFO, "FW_ACTIVATE: slot %s boots next%s", tf_fw_slot_name((int)cmd->slot),
		  (cmd->flags & TF_FW_ACT_F_NOW) ? ": restarting into it now" : "");
	if (cmd->flags & TF_FW_ACT_F_NOW)
		app->reset = 1; /* after this completion is posted: main.c restarts us */
	return TF_AQ_S_OK;
}

void
tf_dp_fw_handlers(struct tf_card_admin_handlers *h)
{
	h->fw_write = h_fw_write;
	h->fw_info = h_fw_info;
	h->fw_activate = h_fw_activate;
}
