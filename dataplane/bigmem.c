/* SPDX-License-Identifier: BSD-3-Clause */
/* Large tables on transparent huge pages where available (bigmem.h). */
#include "dataplane/bigmem.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_SZ (2u << 20)

static size_t
round_up(size_t n)
{
	return (n + HUGE_SZ - 1) & ~(size_t)(HUGE_SZ - 1);
}

void *
tf_dp_bigmem_alloc(size_t n)
{
	size_t len = round_up(n ? n : 1), span = len + HUGE_SZ;
	uint8_t *raw, *p;
	uintptr_t a;

	/* Over-allocate by one huge page and trim, so the table starts 2 MiB aligned. */
	raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)raw + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1);
	p = (uint8_t *)a;
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + span > p + len)
		munmap(p + len, (size_t)(raw + span - (p + len)));
	/* Advice only: without THP (or in "never" mode) the pages are ordinary ones. */
	(void)madvise(p, len, MADV_HUGEPAGE);
	memset(p, 0, len); /* fault every page in now, not on the fast path */
	return p;
}

void
tf_dp_bigmem_free(void *p, size_t n)
{
	if (p)
		munmap(p, round_up(n ? n : 1));
}
