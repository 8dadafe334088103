// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: the event queue (hwdocs/queues.md, "Event queue").
 *
 * Readers read in place from the BAR, each fd with its own cursor (the next
 * sequence number it returns). Nothing is freed until an admin fd
 * acknowledges it, so a daemon that dies between its commit and its
 * acknowledgment gets the same events again. The card can only overwrite
 * the slot of sequence s after the host acknowledged s, so an entry read
 * while s is above this host's acknowledgment is stable.
 */
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include "tf_dev.h"

#define TF_TOKENS_MAX BIT(24)
#define TF_COST_MAX BIT_ULL(62)

void tf_eq_init(struct tf_dev *tf)
{
	mutex_init(&tf->eq.ack_lock);
	init_waitqueue_head(&tf->eq.wq);
}

/* Something may have changed: readers and pollers look again. Any context. */
void tf_eq_kick(struct tf_dev *tf)
{
	wake_up_interruptible_all(&tf->eq.wq);
}

static bool tf_zero(const u8 *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

static int tf_check_usage(const struct tf_usage_record *u)
{
	u16 outcome = le16_to_cpu(u->outcome);

	if (!u->tenant_id || !u->model_id || outcome > TF_USAGE_OUTCOME_MAX || u->flags ||
	    u->reserved0 || le32_to_cpu(u->prompt_tokens) > TF_TOKENS_MAX ||
	    le32_to_cpu(u->completion_tokens) > TF_TOKENS_MAX ||
	    le64_to_cpu(u->cost_micro) > TF_COST_MAX || !u->end_time_ns)
		return -EBADMSG;
	if (outcome == TF_USAGE_REFUSED &&
	    (u->prompt_tokens || u->completion_tokens || u->cost_micro || u->accel_id))
		return -EBADMSG;
	return 0;
}

/* ABI 1.2 usage aggregate (hwdocs/usage-record.md). */
static int tf_check_usage_agg(const struct tf_usage_agg *a)
{
	u16 outcome = le16_to_cpu(a->outcome);
	u64 n = le32_to_cpu(a->requests);

	if (!a->first_end_ns || !a->tenant_id || !a->model_id || outcome > TF_USAGE_OUTCOME_MAX ||
	    a->flags || !n || a->reserved0 || a->reserved1 ||
	    le64_to_cpu(a->prompt_tokens) > n * TF_TOKENS_MAX ||
	    le64_to_cpu(a->completion_tokens) > n * TF_TOKENS_MAX ||
	    le64_to_cpu(a->cost_micro) > TF_COST_MAX ||
	    le64_to_cpu(a->last_end_ns) < le64_to_cpu(a->first_end_ns))
		return -EBADMSG;
	if (outcome == TF_USAGE_REFUSED &&
	    (a->prompt_tokens || a->completion_tokens || a->cost_micro || a->accel_id))
		return -EBADMSG;
	return 0;
}

static int tf_check_health(const struct tf_health_event *h)
{
	u16 comp = le16_to_cpu(h->component), state = le16_to_cpu(h->state);
	size_t n = strnlen(h->detail, TF_HEALTH_DETAIL_LEN), i;

	if (!h->time_ns || comp < TF_HC_CARD || comp > TF_HC_MAX || state < TF_HS_UP ||
	    state > TF_HS_MAX || le32_to_cpu(h->reason) > TF_HR_MAX || h->reserved0)
		return -EBADMSG;
	if ((comp == TF_HC_CARD && h->component_id) || (comp == TF_HC_ACCEL && !h->component_id))
		return -EBADMSG;
	if (n == TF_HEALTH_DETAIL_LEN ||
	    !tf_zero((const u8 *)h->detail + n, TF_HEALTH_DETAIL_LEN - n))
		return -EBADMSG;
	for (i = 0; i < n; i++)
		if (h->detail[i] < 0x20 || h->detail[i] > 0x7e)
			return -EBADMSG;
	return 0;
}

/* Every rule of queues.md and usage-record.md. 0 or -EBADMSG. */
int tf_eq_check_entry(const struct tf_eq_entry *e, u64 seq)
{
	u16 len = le16_to_cpu(e->len);
	int ret;

	if (le64_to_cpu(e->seq) != seq || e->reserved)
		return -EBADMSG;
	switch (le16_to_cpu(e->type)) {
	case TF_EQ_USAGE:
		if (len != sizeof(struct tf_usage_record))
			return -EBADMSG;
		ret = tf_check_usage(&e->body.usage);
		break;
	case TF_EQ_HEALTH:
		if (len != sizeof(struct tf_health_event))
			return -EBADMSG;
		ret = tf_check_health(&e->body.health);
		break;
	case TF_EQ_USAGE_AGG:
		if (len != sizeof(struct tf_usage_agg))
			return -EBADMSG;
		ret = tf_check_usage_agg(&e->body.agg);
		break;
	default:
		return -EBADMSG;
	}
	if (ret)
		return ret;
	return tf_zero(e->body.raw + len, TF_EQ_BODY_MAX - len) ? 0 : -EBADMSG;
}

/* Where a new reader starts: the oldest unacknowledged event. */
u64 tf_eq_start_seq(struct tf_dev *tf)
{
	return READ_ONCE(tf->eq.ack_seq) + 1;
}

bool tf_eq_readable(struct tf_dev *tf, u64 cursor)
{
	return tf_rd64(tf, TF_REG(eq_prod_seq)) >= max(cursor, READ_ONCE(tf->eq.ack_seq) + 1);
}

static void tf_eq_bad(struct tf_dev *tf, u64 seq)
{
	if (READ_ONCE(tf->eq.bad_seq) == seq)
		return;
	WRITE_ONCE(tf->eq.bad_seq, seq);
	atomic64_inc(&tf->cnt.events_bad);
	dev_err(&tf->pdev->dev,
		"event %llu breaks the event-queue rules: not consumed (card bug)\n", seq);
	tf_health_report(tf, TF_HEALTH_EVENTS);
}

/* The entry at *cursor: 1 (in *e), 0 (not posted yet) or -EBADMSG. */
static int tf_eq_fetch(struct tf_dev *tf, u64 *cursor, struct tf_eq_entry *e)
{
	u64 seq, ack;

	for (;;) {
		ack = READ_ONCE(tf->eq.ack_seq);
		if (*cursor <= ack)
			*cursor = ack + 1; /* acknowledged by another fd: gone */
		seq = *cursor;
		if (tf_rd64(tf, TF_REG(eq_prod_seq)) < seq)
			return 0;
		rmb(); /* the entry after the index that published it */
		memcpy_fromio(e,
			      tf->bar + tf->lay.eq_off +
				      (seq & (tf->lay.eq_depth - 1)) * tf->lay.eq_entry_size,
			      sizeof(*e));
		smp_rmb(); /* the copy before the second look at the acknowledgment */
		if (READ_ONCE(tf->eq.ack_seq) >= seq)
			continue; /* acknowledged while we copied: the slot may be reused */
		if (tf_eq_check_entry(e, seq)) {
			tf_eq_bad(tf, seq);
			return -EBADMSG;
		}
		return 1;
	}
}

static bool tf_eq_wait_done(struct tf_dev *tf, u64 cursor)
{
	enum tokfab_state st = tf_state(tf);

	return st == TOKFAB_STATE_FAILED || st == TOKFAB_STATE_GONE || tf_eq_readable(tf, cursor);
}

/*
 * read(): whole records only. Readers without admin rights get the health
 * events and not the usage records (hwdocs/kmod.md, "Permissions").
 */
ssize_t tf_eq_read(struct tf_dev *tf, u64 *cursor, bool admin, char __user *buf, size_t len,
		   bool nonblock)
{
	size_t max = len / TOKFAB_EVENT_SIZE, done = 0;
	struct tf_eq_entry e;
	int ret;

	if (!max)
		return -EINVAL;
	while (done < max) {
		ret = tf_eq_fetch(tf, cursor, &e);
		if (ret < 0)
			return done ? done * TOKFAB_EVENT_SIZE : ret;
		if (ret == 0) {
			if (done)
				break;
			if (tf_state(tf) == TOKFAB_STATE_GONE)
				return -ENODEV;
			if (tf_state(tf) == TOKFAB_STATE_FAILED)
				return -EIO;
			if (nonblock)
				return -EAGAIN;
			if (wait_event_interruptible(tf->eq.wq, tf_eq_wait_done(tf, *cursor)))
				return -ERESTARTSYS;
			continue;
		}
		if (!admin && (le16_to_cpu(e.type) == TF_EQ_USAGE ||
			       le16_to_cpu(e.type) == TF_EQ_USAGE_AGG)) {
			(*cursor)++;
			continue;
		}
		if (copy_to_user(buf + done * TOKFAB_EVENT_SIZE, &e, TOKFAB_EVENT_SIZE))
			return done ? done * TOKFAB_EVENT_SIZE : -EFAULT;
		(*cursor)++;
		done++;
	}
	atomic64_add(done, &tf->cnt.events_read);
	return done * TOKFAB_EVENT_SIZE;
}

/*
 * Acknowledges every event up to seq: the caller committed them. seq must
 * have been read by this fd (below its cursor). Going backwards is a no-op.
 */
int tf_eq_ack(struct tf_dev *tf, u64 seq, u64 cursor)
{
	int ret = 0;

	mutex_lock(&tf->eq.ack_lock);
	if (seq <= tf->eq.ack_seq)
		goto out;
	if (seq >= cursor || seq > tf_rd64(tf, TF_REG(eq_prod_seq))) {
		ret = -EINVAL;
		goto out;
	}
	WRITE_ONCE(tf->eq.ack_seq, seq);
	wmb(); /* readers see the new acknowledgment before the card can reuse slots */
	tf_wr64(tf, TF_REG(eq_ack_seq), seq);
	tf->hw->ring(tf, TF_VEC_EVENTS);
out:
	mutex_unlock(&tf->eq.ack_lock);
	return ret;
}
