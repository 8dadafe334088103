/* SPDX-License-Identifier: BSD-3-Clause */
/* Register-block layout check (host side, after mapping a BAR). */
#include "card/check.h"
#include "card/layout.h"
#include "tokfab/hostq.h"

#include <errno.h>
#include <stddef.h>

#define WHY(err, msg)         \
	do {                  \
		*why = (msg); \
		return (err); \
	} while (0)

static int
pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* [off, off + len) inside [TF_BAR_REGS_SIZE, bar) and 64-byte aligned. */
static int
region_ok(uint64_t off, uint64_t len, uint64_t bar)
{
	return off % 64 == 0 && off >= TF_BAR_REGS_SIZE && off <= bar && len <= bar - off;
}

static int
overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int
tf_bar_layout_check(const struct tf_bar_regs *r, uint64_t map_size, const char **why)
{
	uint64_t bar = r->bar_size;
	uint64_t sq_len, cq_len, eq_len;

	if (r->magic == 0)
		WHY(-EAGAIN, "magic is 0: the card is still initialising");
	if (r->magic != TF_BAR_MAGIC)
		WHY(-EPROTO, "magic is not TFAB: this is not a tokfab card BAR");
	if (TF_ABI_VERSION_MAJOR(r->abi_version) != TF_ABI_MAJOR)
		WHY(-EPROTONOSUPPORT, "the card speaks another ABI major version; "
				      "update the host software or the card firmware");
	if (r->regs_size != TF_BAR_REGS_SIZE)
		WHY(-EPROTO, "regs_size is not 4096");
	if (!pow2(bar) || bar < 2 * TF_BAR_REGS_SIZE)
		WHY(-EPROTO, "bar_size is not a power of two >= 8 KiB");
	if (bar > map_size)
		WHY(-EPROTO, "bar_size is larger than the mapped region");
	if (!pow2(r->aq_depth) || r->aq_depth < TF_AQ_DEPTH_MIN || r->aq_depth > TF_AQ_DEPTH_MAX)
		WHY(-EPROTO, "aq_depth is not a power of two in 2..1024");
	if (!pow2(r->eq_depth) || r->eq_depth < TF_EQ_DEPTH_MIN || r->eq_depth > TF_EQ_DEPTH_MAX)
		WHY(-EPROTO, "eq_depth is not a power of two in 2..2^20");
	if (r->aq_sqe_size < sizeof(struct tf_aq_sqe) || r->aq_sqe_size % 64 ||
	    r->aq_sqe_size > 65536)
		WHY(-EPROTO, "aq_sqe_size is below 512, not a multiple of 64, or above 64 KiB");
	if (r->aq_cqe_size < sizeof(struct tf_aq_cqe) || r->aq_cqe_size % 64 ||
	    r->aq_cqe_size > 65536)
		WHY(-EPROTO, "aq_cqe_size is below 512, not a multiple of 64, or above 64 KiB");
	if (r->eq_entry_size < sizeof(struct tf_eq_entry) || r->eq_entry_size % 64 ||
	    r->eq_entry_size > 65536)
		WHY(-EPROTO, "eq_entry_size is below 128, not a multiple of 64, or above 64 KiB");
	if (r->hb_period_ms == 0 || r->hb_period_ms > 60000)
		WHY(-EPROTO, "hb_period_ms is not in 1..60000");
	sq_len = (uint64_t)r->aq_depth * r->aq_sqe_size;
	cq_len = (uint64_t)r->aq_depth * r->aq_cqe_size;
	eq_len = (uint64_t)r->eq_depth * r->eq_entry_size;
	if (!region_ok(r->aq_sq_off, sq_len, bar))
		WHY(-EPROTO, "admin SQ is misaligned or outside the BAR");
	if (!region_ok(r->aq_cq_off, cq_len, bar))
		WHY(-EPROTO, "admin CQ is misaligned or outside the BAR");
	if (!region_ok(r->eq_off, eq_len, bar))
		WHY(-EPROTO, "event queue is misaligned or outside the BAR");
	if (overlap(r->aq_sq_off, sq_len, r->aq_cq_off, cq_len) ||
	    overlap(r->aq_sq_off, sq_len, r->eq_off, eq_len) ||
	    overlap(r->aq_cq_off, cq_len, r->eq_off, eq_len))
		WHY(-EPROTO, "queues overlap");
	if (r->card_features & TF_FEAT_HOST_QUEUES) {
		uint64_t hq_len = (uint64_t)r->hq_count * r->hq_size;

		if (r->hq_count == 0 || r->hq_count > TF_HQ_MAX || !pow2(r->hq_size) ||
		    r->hq_size < TF_HQ_SIZE_MIN || r->hq_size > TF_HQ_SIZE_MAX ||
		    r->hq_off % 4096 || !region_ok(r->hq_off, hq_len, bar) ||
		    overlap(r->hq_off, hq_len, r->aq_sq_off, sq_len) ||
		    overlap(r->hq_off, hq_len, r->aq_cq_off, cq_len) ||
		    overlap(r->hq_off, hq_len, r->eq_off, eq_len))
			WHY(-EPROTO, "host queue windows (hq_off, hq_count, hq_size) are invalid");
	}
	if (r->epoch == 0)
		WHY(-EPROTO, "epoch is 0");
	if (!tf_bar_name_ok(r->serial, TF_NAME_LEN, 1))
		WHY(-EPROTO, "serial is not a printable NUL-terminated name");
	if (!tf_bar_name_ok(r->fw_version_str, TF_NAME_LEN, 1))
		WHY(-EPROTO, "fw_version_str is not a printable NUL-terminated name");
	return 0;
}

void
tf_bar_layout_compute(uint32_t aq_depth, uint32_t eq_depth, struct tf_bar_layout *l)
{
	uint64_t end, size = 2 * TF_BAR_REGS_SIZE;

	l->aq_sq_off = TF_BAR_REGS_SIZE;
	l->aq_cq_off = l->aq_sq_off + (uint64_t)aq_depth * TF_AQ_ENTRY_SIZE;
	l->eq_off = (l->aq_cq_off + (uint64_t)aq_depth * TF_AQ_ENTRY_SIZE + 4095) & ~4095ull;
	end = l->eq_off + (uint64_t)eq_depth * TF_EQ_ENTRY_SIZE;
	while (size < end)
		size <<= 1;
	l->bar_size = size;
	l->hq_off = 0;
	l->hq_count = 0;
	l->hq_size = 0;
}

void
tf_bar_layout_add_hq(uint32_t eq_depth, uint32_t hq_count, uint32_t hq_size,
		     struct tf_bar_layout *l)
{
	uint64_t end, size = l->bar_size;

	if (!hq_count)
		return;
	l->hq_off = (l->eq_off + (uint64_t)eq_depth * TF_EQ_ENTRY_SIZE + 4095) & ~4095ull;
	l->hq_count = hq_count;
	l->hq_size = hq_size;
	end = l->hq_off + (uint64_t)hq_count * hq_size;
	while (size < end)
		size <<= 1;
	l->bar_size = size;
}
