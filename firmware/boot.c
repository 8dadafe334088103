/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Boot selection and the update state machine (hwdocs/flash-layout.md,
 * "Boot selection"). Pure: works on decoded metadata and asks a callback
 * what each slot holds; card.c does the I/O and commits the result.
 */
#include "fw_internal.h"

#include <errno.h>

static bool
is_slot(int s)
{
	return s >= 0 && s < TF_FLASH_NSLOTS;
}

struct boot_ctx {
	tf_fw_slot_check_fn check;
	void *arg;
	bool have[TF_FLASH_NSLOTS];
	struct tf_fw_slot_check chk[TF_FLASH_NSLOTS];
};

/* Each slot is read and verified at most once per boot. */
static int
slot_check(struct boot_ctx *bc, int slot, const struct tf_fw_slot_check **out)
{
	int r;

	if (!bc->have[slot]) {
		memset(&bc->chk[slot], 0, sizeof(bc->chk[slot]));
		diag_clear(&bc->chk[slot].diag);
		r = bc->check(bc->arg, slot, &bc->chk[slot]);
		if (r)
			return r;
		bc->have[slot] = true;
	}
	*out = &bc->chk[slot];
	return 0;
}

/* Valid image, and at or above the floor unless the slot carries the override. */
static bool
bootable(const struct tf_fw_meta *m, int slot, const struct tf_fw_slot_check *c)
{
	return c->verdict == 0 && (c->security_version >= m->min_security_version ||
				   (m->slot_flags[slot] & TF_SLOT_F_ROLLBACK_OVERRIDE));
}

static void
reject(struct tf_fw_meta *m, int slot, const struct tf_fw_slot_check *c,
       struct tf_fw_boot_result *res)
{
	res->rejected_slot = slot;
	if (c && c->verdict)
		res->rejected = c->diag;
	else if (c)
		diag_set(&res->rejected, TF_FW_E_ROLLBACK, -1, c->security_version,
			 m->min_security_version);
	else
		diag_clear(&res->rejected);
}

static void
clear_pending(struct tf_fw_meta *m)
{
	m->pending_slot = TF_FLASH_NO_SLOT;
	m->tries_left = 0;
	m->max_tries = 0;
	m->pending_security_version = 0;
}

static int
start(struct tf_fw_meta *m, int slot, enum tf_flash_boot_reason why,
      const struct tf_fw_slot_check *c, struct tf_fw_boot_result *res)
{
	m->booted_slot = (uint8_t)slot;
	m->last_boot = (uint8_t)why;
	if (why >= TF_BOOT_FALLBACK_UNCONFIRMED && why <= TF_BOOT_FALLBACK_ACTIVE)
		m->fallback_count++;
	res->slot = slot;
	res->reason = why;
	res->rollback_override = c->security_version < m->min_security_version;
	return slot;
}

/* No valid metadata: start the valid image with the highest security version
 * and take it as confirmed (there is nothing to fall back to). */
static int
recovery(struct tf_fw_meta *m, struct boot_ctx *bc, struct tf_fw_boot_result *res, bool *dirty)
{
	const struct tf_fw_slot_check *c[TF_FLASH_NSLOTS];
	int best = -1, r;

	for (int s = 0; s < TF_FLASH_NSLOTS; s++) {
		r = slot_check(bc, s, &c[s]);
		if (r)
			return r;
		if (c[s]->verdict == 0 &&
		    (best < 0 || c[s]->security_version > c[best]->security_version))
			best = s;
	}
	if (best < 0)
		return -ENOENT;
	tf_fw_meta_init(m);
	for (int s = 0; s < TF_FLASH_NSLOTS; s++)
		m->slot_state[s] = c[s]->verdict == 0 ? TF_SLOT_STORED : TF_SLOT_EMPTY;
	m->slot_state[best] = TF_SLOT_CONFIRMED;
	m->active_slot = (uint8_t)best;
	m->min_security_version = c[best]->security_version;
	m->boot_count = 1;
	*dirty = true;
	return start(m, best, TF_BOOT_RECOVERY, c[best], res);
}

int
tf_fw_boot_select(struct tf_fw_meta *m, bool meta_valid, tf_fw_slot_check_fn check, void *ctx,
		  struct tf_fw_boot_result *res, bool *dirty)
{
	struct boot_ctx bc = { .check = check, .arg = ctx };
	enum tf_flash_boot_reason why = TF_BOOT_NORMAL;
	const struct tf_fw_slot_check *c;
	int p, a, r;

	memset(res, 0, sizeof(*res));
	res->slot = -1;
	res->rejected_slot = -1;
	diag_clear(&res->rejected);
	*dirty = false;
	if (!meta_valid)
		return recovery(m, &bc, res, dirty);

	*dirty = true; /* every boot records what it started */
	m->boot_count++;
	p = m->pending_slot == TF_FLASH_NO_SLOT ? -1 : m->pending_slot;
	if (is_slot(p)) {
		if (m->tries_left == 0) {
			/* Tried max_tries times, never confirmed: give up on it. A slot
			 * that was confirmed before (a manual rollback) stays a fallback. */
			if (m->slot_state[p] != TF_SLOT_CONFIRMED)
				m->slot_state[p] = TF_SLOT_BAD;
			clear_pending(m);
			reject(m, p, NULL, res);
			why = TF_BOOT_FALLBACK_UNCONFIRMED;
		} else {
			r = slot_check(&bc, p, &c);
			if (r)
				return r;
			if (bootable(m, p, c)) {
				m->tries_left--;
				res->trial = (unsigned int)(m->max_tries - m->tries_left);
				res->max_tries = m->max_tries;
				return start(m, p, TF_BOOT_TRIAL, c, res);
			}
			if (c->verdict)
				m->slot_state[p] = TF_SLOT_BAD;
			clear_pending(m);
			reject(m, p, c, res);
			why = TF_BOOT_FALLBACK_INVALID;
		}
	}

	a = m->active_slot == TF_FLASH_NO_SLOT ? -1 : m->active_slot;
	if (is_slot(a)) {
		r = slot_check(&bc, a, &c);
		if (r)
			return r;
		if (bootable(m, a, c))
			return start(m, a, why, c, res);
		if (c->verdict)
			m->slot_state[a] = TF_SLOT_BAD;
		else
			m->slot_state[a] =
				TF_SLOT_STORED; /* below the floor: no longer a fallback */
		m->active_slot = TF_FLASH_NO_SLOT;
		reject(m, a, c, res);
		why = TF_BOOT_FALLBACK_ACTIVE;
	}

	/* The other confirmed image: what the card ran before the active one. */
	for (int s = 0; s < TF_FLASH_NSLOTS; s++) {
		if (s == a || m->slot_state[s] != TF_SLOT_CONFIRMED)
			continue;
		r = slot_check(&bc, s, &c);
		if (r)
			return r;
		if (bootable(m, s, c)) {
			m->active_slot = (uint8_t)s;
			return start(m, s, why == TF_BOOT_NORMAL ? TF_BOOT_FALLBACK_ACTIVE : why, c,
				     res);
		}
		m->slot_state[s] = c->verdict ? TF_SLOT_BAD : TF_SLOT_STORED;
	}

	m->booted_slot = TF_FLASH_NO_SLOT;
	m->last_boot = TF_BOOT_NONE;
	return -ENOENT;
}

int
tf_fw_boot_confirm(struct tf_fw_meta *m, int *slot, bool *changed)
{
	int b = m->booted_slot == TF_FLASH_NO_SLOT ? -1 : m->booted_slot;

	*changed = false;
	if (!is_slot(b))
		return -ENOENT;
	*slot = b;
	if (b == m->pending_slot) {
		m->slot_state[b] = TF_SLOT_CONFIRMED;
		m->active_slot = (uint8_t)b;
		if (m->pending_security_version > m->min_security_version)
			m->min_security_version = m->pending_security_version;
		clear_pending(m);
		*changed = true;
		return 0;
	}
	if (b == m->active_slot && m->slot_state[b] == TF_SLOT_CONFIRMED)
		return 0;
	return -ESTALE;
}

int
tf_fw_boot_write_target(const struct tf_fw_meta *m)
{
	int t;

	if (is_slot(m->active_slot))
		t = 1 - m->active_slot;
	else if (is_slot(m->booted_slot))
		t = 1 - m->booted_slot;
	else
		t = 0;
	/* While an update runs on trial, it is confirmed or falls back first. */
	if (is_slot(m->booted_slot) && m->booted_slot == m->pending_slot)
		return -EBUSY;
	return t;
}

void
tf_fw_boot_mark_writing(struct tf_fw_meta *m, int slot)
{
	if (m->pending_slot == slot)
		clear_pending(m);
	m->slot_state[slot] = TF_SLOT_WRITING;
	m->slot_flags[slot] = 0;
}

void
tf_fw_boot_mark_stored(struct tf_fw_meta *m, int slot)
{
	m->slot_state[slot] = TF_SLOT_STORED;
}

int
tf_fw_boot_activate(struct tf_fw_meta *m, int slot, unsigned int tries, uint32_t security_version,
		    bool override)
{
	if (!is_slot(slot) || tries < 1 || tries > TF_FW_MAX_TRIES)
		return -EINVAL;
	if (slot == m->active_slot)
		return -EALREADY;
	if (is_slot(m->booted_slot) && m->booted_slot == m->pending_slot)
		return -EBUSY;
	switch (m->slot_state[slot]) {
	case TF_SLOT_STORED:
	case TF_SLOT_CONFIRMED:
		break;
	case TF_SLOT_BAD:
		m->slot_state[slot] = TF_SLOT_STORED; /* the caller verified it again */
		break;
	default:
		return -ENOENT;
	}
	m->pending_slot = (uint8_t)slot;
	m->tries_left = (uint8_t)tries;
	m->max_tries = (uint8_t)tries;
	m->pending_security_version = security_version;
	if (override) {
		m->slot_flags[slot] |= TF_SLOT_F_ROLLBACK_OVERRIDE;
		m->rollback_overrides++;
	} else {
		m->slot_flags[slot] &= (uint8_t)~TF_SLOT_F_ROLLBACK_OVERRIDE;
	}
	return 0;
}
