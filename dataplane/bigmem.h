/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Large per-lcore tables (the at-most-once table, the token arena): zeroed
 * memory backed by 2 MiB pages where the kernel offers transparent huge
 * pages (madvise mode), so random lookups in tables of tens of MiB do not
 * miss the TLB on every access; plain pages otherwise. Touched at
 * allocation, so the fast path never page-faults.
 */
#ifndef TF_DP_BIGMEM_H
#define TF_DP_BIGMEM_H

#include <stddef.h>

/* n bytes of zeroed memory, or NULL. Free with tf_dp_bigmem_free(p, n). */
void *tf_dp_bigmem_alloc(size_t n);
void tf_dp_bigmem_free(void *p, size_t n);

#endif /* TF_DP_BIGMEM_H */
