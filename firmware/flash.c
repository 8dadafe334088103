/* SPDX-License-Identifier: BSD-3-Clause */
/* Range-checked entry points into a flash backend's ops table. */
#include "fw_internal.h"

#include <errno.h>

static int
in_range(const struct tf_flash *fl, uint64_t off, uint64_t len)
{
	return off <= fl->size && len <= fl->size - off;
}

int
tf_flash_read(struct tf_flash *fl, uint64_t off, void *buf, size_t len)
{
	if (!in_range(fl, off, len))
		return -EINVAL;
	return len ? fl->ops->read(fl, off, buf, len) : 0;
}

int
tf_flash_program(struct tf_flash *fl, uint64_t off, const void *buf, size_t len)
{
	if (!in_range(fl, off, len))
		return -EINVAL;
	return len ? fl->ops->program(fl, off, buf, len) : 0;
}

int
tf_flash_erase(struct tf_flash *fl, uint64_t off, uint64_t len)
{
	if (!in_range(fl, off, len) || off % fl->block_size || len % fl->block_size)
		return -EINVAL;
	return len ? fl->ops->erase(fl, off, len) : 0;
}

int
tf_flash_sync(struct tf_flash *fl)
{
	return fl->ops->sync ? fl->ops->sync(fl) : 0;
}

void
tf_flash_destroy(struct tf_flash *fl)
{
	if (fl)
		fl->ops->destroy(fl);
}
