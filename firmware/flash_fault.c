/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Power-cut injection (SQLite-style): wraps another flash and lets `budget`
 * bytes of program/erase through. The operation that crosses the budget is
 * applied up to the exact byte (a partly programmed range, a partly erased
 * block) and fails with -EIO; from then on the device is dead (-EIO) like a
 * card without power, until the test "reboots" on the inner flash.
 */
#include "fw_internal.h"

#include <errno.h>
#include <stdlib.h>

struct fault_flash {
	struct tf_flash fl; /* first */
	struct tf_flash *inner;
	uint64_t budget;
	uint64_t used;
	bool dead;
};

static struct fault_flash *
to_xf(struct tf_flash *fl)
{
	return (struct fault_flash *)fl;
}

static const struct fault_flash *
to_cxf(const struct tf_flash *fl)
{
	return (const struct fault_flash *)fl;
}

static int
xf_read(struct tf_flash *fl, uint64_t off, void *buf, size_t len)
{
	struct fault_flash *xf = to_xf(fl);

	if (xf->dead)
		return -EIO;
	return tf_flash_read(xf->inner, off, buf, len);
}

static int
xf_program(struct tf_flash *fl, uint64_t off, const void *buf, size_t len)
{
	struct fault_flash *xf = to_xf(fl);
	uint64_t avail;

	if (xf->dead)
		return -EIO;
	avail = xf->budget - xf->used;
	if (len <= avail) {
		xf->used += len;
		return tf_flash_program(xf->inner, off, buf, len);
	}
	xf->dead = true;
	xf->used = xf->budget;
	if (avail)
		tf_flash_program(xf->inner, off, buf, (size_t)avail);
	return -EIO;
}

/* Erase of block at off cut after `keep` bytes: those read 0xff, the rest
 * keeps its old contents. */
static void
erase_partial(struct tf_flash *inner, uint64_t off, uint64_t keep)
{
	uint32_t bs = inner->block_size;
	uint8_t *old = malloc(bs);

	if (!old)
		return;
	if (!tf_flash_read(inner, off, old, bs) && !tf_flash_erase(inner, off, bs))
		tf_flash_program(inner, off + keep, old + keep, bs - keep);
	free(old);
}

static int
xf_erase(struct tf_flash *fl, uint64_t off, uint64_t len)
{
	struct fault_flash *xf = to_xf(fl);
	uint64_t avail, whole;
	uint32_t bs = xf->inner->block_size;

	if (xf->dead)
		return -EIO;
	avail = xf->budget - xf->used;
	if (len <= avail) {
		xf->used += len;
		return tf_flash_erase(xf->inner, off, len);
	}
	xf->dead = true;
	xf->used = xf->budget;
	whole = avail / bs * bs;
	if (whole)
		tf_flash_erase(xf->inner, off, whole);
	if (avail > whole)
		erase_partial(xf->inner, off + whole, avail - whole);
	return -EIO;
}

static int
xf_sync(struct tf_flash *fl)
{
	struct fault_flash *xf = to_xf(fl);

	return xf->dead ? -EIO : tf_flash_sync(xf->inner);
}

static void
xf_destroy(struct tf_flash *fl)
{
	free(to_xf(fl));
}

static const struct tf_flash_ops g_fault_ops = {
	.name = "fault",
	.read = xf_read,
	.program = xf_program,
	.erase = xf_erase,
	.sync = xf_sync,
	.destroy = xf_destroy,
};

int
tf_flash_fault_create(struct tf_flash *inner, uint64_t budget, struct tf_flash **out)
{
	struct fault_flash *xf = calloc(1, sizeof(*xf));

	if (!xf)
		return -ENOMEM;
	xf->fl.ops = &g_fault_ops;
	xf->fl.size = inner->size;
	xf->fl.block_size = inner->block_size;
	xf->inner = inner;
	xf->budget = budget;
	*out = &xf->fl;
	return 0;
}

bool
tf_flash_fault_tripped(const struct tf_flash *fl)
{
	return fl->ops == &g_fault_ops && to_cxf(fl)->dead;
}

uint64_t
tf_flash_fault_used(const struct tf_flash *fl)
{
	return fl->ops == &g_fault_ops ? to_cxf(fl)->used : 0;
}
