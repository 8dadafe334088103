/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: the host's check of a card's register block (identity and queue
 * layout) before it trusts any offset in it. Input: the register block; the
 * mapped size is taken from its last 4 bytes.
 */
#include "card/check.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(64) struct tf_bar_regs r;
	uint32_t map = 0;
	const char *why = NULL;

	memset(&r, 0, sizeof(r));
	memcpy(&r, data, size < 0x100 ? size : 0x100);
	if (size >= 0x104)
		memcpy(&map, data + 0x100, 4);
	if (tf_bar_layout_check(&r, map, &why) == 0) {
		/* Every queue lies inside the mapped size. */
		if (r.eq_off + (uint64_t)r.eq_depth * r.eq_entry_size > map ||
		    r.aq_sq_off + (uint64_t)r.aq_depth * r.aq_sqe_size > map ||
		    r.aq_cq_off + (uint64_t)r.aq_depth * r.aq_cqe_size > map)
			abort();
	} else if (!why) {
		abort();
	}
	return 0;
}
