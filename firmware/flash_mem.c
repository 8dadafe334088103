/* SPDX-License-Identifier: BSD-3-Clause */
/* Flash in memory, with the same NOR rules as the file backend. */
#include "fw_internal.h"

#include <errno.h>
#include <stdlib.h>

struct mem_flash {
	struct tf_flash fl; /* first */
	uint8_t *mem;
};

static struct mem_flash *
to_mf(struct tf_flash *fl)
{
	return (struct mem_flash *)fl;
}

static int
mf_read(struct tf_flash *fl, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, to_mf(fl)->mem + off, len);
	return 0;
}

static int
mf_program(struct tf_flash *fl, uint64_t off, const void *buf, size_t len)
{
	uint8_t *dst = to_mf(fl)->mem + off;
	const uint8_t *src = buf;

	for (size_t i = 0; i < len; i++)
		dst[i] &= src[i];
	return 0;
}

static int
mf_erase(struct tf_flash *fl, uint64_t off, uint64_t len)
{
	memset(to_mf(fl)->mem + off, 0xff, len);
	return 0;
}

static void
mf_destroy(struct tf_flash *fl)
{
	free(to_mf(fl)->mem);
	free(fl);
}

static const struct tf_flash_ops g_mem_ops = {
	.name = "mem",
	.read = mf_read,
	.program = mf_program,
	.erase = mf_erase,
	.destroy = mf_destroy,
};

int
tf_flash_mem_create(uint64_t size, struct tf_flash **out)
{
	struct mem_flash *mf;

	if (!size || size % TF_FLASH_BLOCK_SIZE || size > SIZE_MAX)
		return -EINVAL;
	mf = calloc(1, sizeof(*mf));
	if (!mf)
		return -ENOMEM;
	mf->mem = malloc(size);
	if (!mf->mem) {
		free(mf);
		return -ENOMEM;
	}
	memset(mf->mem, 0xff, size);
	mf->fl.ops = &g_mem_ops;
	mf->fl.size = size;
	mf->fl.block_size = TF_FLASH_BLOCK_SIZE;
	*out = &mf->fl;
	return 0;
}
