/* SPDX-License-Identifier: BSD-3-Clause */
/* Where the card places its queues in a BAR of the given depths (internal). */
#ifndef TF_CARD_LAYOUT_H
#define TF_CARD_LAYOUT_H

#include <stdint.h>

struct tf_bar_layout {
	uint64_t aq_sq_off;
	uint64_t aq_cq_off;
	uint64_t eq_off;
	uint64_t hq_off; /* host queue windows (0: none) */
	uint32_t hq_count;
	uint32_t hq_size;
	uint64_t bar_size; /* power of two */
};

/* Registers, SQ, CQ, then the event queue on a 4 KiB boundary. */
void tf_bar_layout_compute(uint32_t aq_depth, uint32_t eq_depth, struct tf_bar_layout *l);
/* Then hq_count host queue windows on a 4 KiB boundary after the event queue. */
void tf_bar_layout_add_hq(uint32_t eq_depth, uint32_t hq_count, uint32_t hq_size,
			  struct tf_bar_layout *l);

#endif /* TF_CARD_LAYOUT_H */
