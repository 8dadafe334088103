/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Access to BAR registers shared with another process (or a VM): single
 * aligned loads/stores with acquire/release ordering. The BAR is little-endian
 * and so is every CPU this library builds for.
 */
#ifndef TF_CARD_BAR_IO_H
#define TF_CARD_BAR_IO_H

#include <stdint.h>

#include "tokfab/bar.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "lib/card assumes a little-endian CPU (the BAR is little-endian)");

static inline uint32_t
tf_bar_rd32(const __le32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint64_t
tf_bar_rd64(const __le64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void
tf_bar_wr32(__le32 *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void
tf_bar_wr64(__le64 *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

#endif /* TF_CARD_BAR_IO_H */
