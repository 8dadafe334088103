/* SPDX-License-Identifier: BSD-3-Clause */
/* Card-side device state shared by card_dev.c, card_admin.c, card_event.c. */
#ifndef TF_CARD_CARD_INTERNAL_H
#define TF_CARD_CARD_INTERNAL_H

#include <stdint.h>

#include "card/card.h"

struct tf_card_dev {
	int fd;
	uint8_t *base; /* the mapped BAR */
	uint64_t size; /* bar_size */
	struct tf_bar_regs *regs; /* == base */
	uint8_t *sq, *cq, *eq; /* queue bases inside the BAR */
	uint32_t aq_depth, eq_depth;
	uint64_t epoch;
	uint64_t features;
	uint64_t start_ns;

	/* Admin queue: the card's own indexes (mirrored into the registers). */
	uint32_t sq_head, cq_tail;
	int disabled_seen; /* saw ENABLE == 0 since attaching */
	uint32_t status; /* mirror of regs->status */

	/* Event queue. */
	uint64_t prod; /* last sequence number posted */
	uint64_t freed; /* last acknowledgement taken */
	uint64_t last_bad_ack;
	uint64_t freed0; /* freed when this process attached */

	/* Identity answered by the library. */
	struct tf_aq_identity ident;
	uint32_t boot_count;

	void (*notify)(void *arg, unsigned int vector);
	void *notify_arg;
	unsigned int notify_pending; /* bit per vector */

	struct tf_card_dev_stats st;

	/* Host queue windows (card_hostq.c); hq is NULL without them. */
	uint8_t *hq_base;
	uint32_t hq_count, hq_size;
	struct tf_card_hq *hq;
};

/* card_dev.c: monotonic ns since create. */
uint64_t tf_card_dev_uptime_ns(const struct tf_card_dev *dev);

/* card_event.c: takes the host's acknowledgement into dev->freed. */
void tf_card_eq_take_ack(struct tf_card_dev *dev);

/* card_hostq.c: per-window state, set up at create and freed at destroy. */
int tf_card_hq_attach(struct tf_card_dev *dev);
void tf_card_hq_detach(struct tf_card_dev *dev);

#endif /* TF_CARD_CARD_INTERNAL_H */
