/* SPDX-License-Identifier: BSD-3-Clause */
/* Card side: post events with sequence numbers, take the host's acknowledgements. */
#include "card/bar_io.h"
#include "card/card_internal.h"
#include "card/check.h"

#include <errno.h>
#include <string.h>

void
tf_card_eq_take_ack(struct tf_card_dev *dev)
{
	uint64_t a = tf_bar_rd64(&dev->regs->eq_ack_seq);

	if (a == dev->freed)
		return;
	if (a < dev->freed || a > dev->prod) {
		/* Count each bad value once, not once per post. */
		if (a != dev->last_bad_ack) {
			dev->last_bad_ack = a;
			dev->st.bad_acks++;
			tf_bar_wr32(&dev->regs->bad_ack_count, (uint32_t)dev->st.bad_acks);
		}
		return;
	}
	dev->freed = a;
	tf_bar_wr64(&dev->regs->eq_freed_seq, a);
}

uint32_t
tf_card_dev_eq_room(struct tf_card_dev *dev)
{
	tf_card_eq_take_ack(dev);
	return dev->eq_depth - (uint32_t)(dev->prod - dev->freed);
}

static int
post(struct tf_card_dev *dev, uint16_t type, const void *body, size_t len, uint64_t *seq)
{
	struct tf_eq_entry e;
	uint64_t s;

	tf_card_eq_take_ack(dev);
	s = dev->prod + 1;
	if (s - dev->freed > dev->eq_depth) {
		dev->st.eq_full++;
		tf_bar_wr64(&dev->regs->eq_full_count, dev->st.eq_full);
		return -EAGAIN;
	}
	memset(&e, 0, sizeof(e));
	e.seq = s;
	e.type = type;
	e.len = (uint16_t)len;
	memcpy(e.body.raw, body, len);
	memcpy(dev->eq + (s & (dev->eq_depth - 1)) * TF_EQ_ENTRY_SIZE, &e, sizeof(e));
	dev->prod = s;
	tf_bar_wr64(&dev->regs->eq_prod_seq, s);
	dev->st.eq_posted++;
	dev->notify_pending |= 1u << TF_CARD_VEC_EVENT;
	if (seq)
		*seq = s;
	return 0;
}

int
tf_card_dev_post_usage(struct tf_card_dev *dev, const struct tf_usage_record *rec, uint64_t *seq)
{
	const char *why;

	if (tf_usage_record_check(rec, &why) < 0)
		return -EINVAL;
	return post(dev, TF_EQ_USAGE, rec, sizeof(*rec), seq);
}

int
tf_card_dev_post_usage_agg(struct tf_card_dev *dev, const struct tf_usage_agg *agg, uint64_t *seq)
{
	const char *why;

	if (tf_usage_agg_check(agg, &why) < 0)
		return -EINVAL;
	return post(dev, TF_EQ_USAGE_AGG, agg, sizeof(*agg), seq);
}

int
tf_card_dev_post_health(struct tf_card_dev *dev, const struct tf_health_event *ev, uint64_t *seq)
{
	const char *why;

	if (tf_health_event_check(ev, &why) < 0)
		return -EINVAL;
	return post(dev, TF_EQ_HEALTH, ev, sizeof(*ev), seq);
}
