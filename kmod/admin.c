// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: the admin queue (hwdocs/queues.md, "Admin queue").
 *
 * Up to TF_AQ_MAX_SLOTS commands are in flight; each owns a slot whose tag
 * is the low 8 bits of its cmd_id (the high bits count the slot's uses, so a
 * completion of a command someone gave up on, or from before a reset, never
 * matches a newer one). Completions are reaped from the interrupt, the
 * polling fallback, the watchdog and the waiters themselves: the interrupt
 * is only a hint. A command that times out marks the card failed.
 */
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "tf_dev.h"

#define TF_SIZE_VARIES 0xffffffffu

/* Request and response payload sizes of each opcode (queues.md, "Commands"). */
static const struct {
	u16 opcode;
	u32 req;
	u32 resp;
} tf_aq_sizes[] = {
	{ TF_AQ_IDENTIFY, 0, sizeof(struct tf_aq_identity) },
	{ TF_AQ_GET_HEALTH, sizeof(struct tf_aq_get_health), sizeof(struct tf_aq_health) },
	{ TF_AQ_GET_STATS, sizeof(struct tf_aq_get_stats), TF_SIZE_VARIES },
	{ TF_AQ_SET_TENANT, sizeof(struct tf_aq_set_tenant), sizeof(struct tf_aq_tenant_info) },
	{ TF_AQ_DEL_TENANT, sizeof(struct tf_aq_id), 0 },
	{ TF_AQ_TENANT_BALANCE, sizeof(struct tf_aq_tenant_balance),
	  sizeof(struct tf_aq_tenant_info) },
	{ TF_AQ_GET_TENANT, sizeof(struct tf_aq_id), sizeof(struct tf_aq_tenant_info) },
	{ TF_AQ_SET_MODEL, sizeof(struct tf_aq_set_model), 0 },
	{ TF_AQ_DEL_MODEL, sizeof(struct tf_aq_id), 0 },
	{ TF_AQ_SET_ACCEL, sizeof(struct tf_aq_set_accel), 0 },
	{ TF_AQ_DEL_ACCEL, sizeof(struct tf_aq_id), 0 },
	{ TF_AQ_SET_BATCHING, sizeof(struct tf_aq_set_batching), 0 },
	{ TF_AQ_SET_USAGE_MODE, sizeof(struct tf_aq_set_usage_mode), 0 },
	{ TF_AQ_FW_ACTIVATE, sizeof(struct tf_aq_fw_activate), sizeof(struct tf_aq_fw_status) },
	{ TF_AQ_FW_WRITE, sizeof(struct tf_aq_fw_write), sizeof(struct tf_aq_fw_write_status) },
	{ TF_AQ_FW_INFO, 0, sizeof(struct tf_aq_fw_info) },
};

/*
 * Sizes of opcode's request and response. req (the request payload, may be
 * NULL) decides the response size where it depends on it (GET_STATS).
 * Returns -EINVAL for an unknown opcode.
 */
int tf_aq_request_sizes(u16 opcode, const void *req, u32 *req_size, u32 *resp_size)
{
	const struct tf_aq_get_stats *gs = req;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tf_aq_sizes); i++) {
		if (tf_aq_sizes[i].opcode != opcode)
			continue;
		*req_size = tf_aq_sizes[i].req;
		*resp_size = tf_aq_sizes[i].resp;
		if (*resp_size == TF_SIZE_VARIES)
			*resp_size = gs && le32_to_cpu(gs->scope) == TF_STATS_ACCEL ?
					     sizeof(struct tf_aq_accel_stats) :
					     sizeof(struct tf_aq_card_stats);
		return 0;
	}
	return -EINVAL;
}

static bool tf_aq_status_known(u16 status)
{
	return status <= TF_AQ_S_INTERNAL ||
	       (status >= TF_AQ_S_FW_NO_IMAGE && status <= TF_AQ_S_FW_BUSY);
}

static bool tf_zero(const u8 *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/* The framing rules every CQE must follow (queues.md, "CQE"). */
static int tf_aq_check_cqe(const struct tf_aq_slot *slot)
{
	const struct tf_aq_cqe *c = slot->cqe;
	u16 status = le16_to_cpu(c->status);
	u32 len = le32_to_cpu(c->len), req_size, resp_size;
	union {
		struct tf_aq_get_stats gs;
	} req = { .gs.scope = cpu_to_le32((u32)slot->stats_scope) };

	if (le16_to_cpu(c->opcode) != slot->opcode || !tf_aq_status_known(status))
		return -EPROTO;
	if (tf_aq_request_sizes(slot->opcode, &req, &req_size, &resp_size))
		return -EPROTO;
	if (len != (status == TF_AQ_S_OK ? resp_size : 0) || len > TF_AQ_PAYLOAD_MAX)
		return -EPROTO;
	if (!tf_zero(c->payload + len, TF_AQ_PAYLOAD_MAX - len))
		return -EPROTO;
	return 0;
}

int tf_aq_init(struct tf_dev *tf)
{
	struct tf_aq *aq = &tf->aq;
	u32 i;

	spin_lock_init(&aq->lock);
	init_waitqueue_head(&aq->wq);
	aq->nslots = min(tf->lay.aq_depth, TF_AQ_MAX_SLOTS);
	aq->slots = kcalloc(aq->nslots, sizeof(*aq->slots), GFP_KERNEL);
	if (!aq->slots)
		return -ENOMEM;
	for (i = 0; i < aq->nslots; i++) {
		aq->slots[i].cqe = kmalloc(sizeof(*aq->slots[i].cqe), GFP_KERNEL);
		if (!aq->slots[i].cqe) {
			tf_aq_fini(tf);
			return -ENOMEM;
		}
	}
	return 0;
}

void tf_aq_fini(struct tf_dev *tf)
{
	u32 i;

	if (!tf->aq.slots)
		return;
	for (i = 0; i < tf->aq.nslots; i++)
		kfree(tf->aq.slots[i].cqe);
	kfree(tf->aq.slots);
	tf->aq.slots = NULL;
}

static void __iomem *tf_aq_sqe_addr(struct tf_dev *tf, u32 idx)
{
	u64 slot = idx & (tf->lay.aq_depth - 1);

	return tf->bar + tf->lay.aq_sq_off + slot * tf->lay.aq_sqe_size;
}

static void __iomem *tf_aq_cqe_addr(struct tf_dev *tf, u32 idx)
{
	u64 slot = idx & (tf->lay.aq_depth - 1);

	return tf->bar + tf->lay.aq_cq_off + slot * tf->lay.aq_cqe_size;
}

/* Completes every command in flight with -EIO (card failed, reset or gone). */
void tf_aq_abort_all(struct tf_dev *tf)
{
	struct tf_aq *aq = &tf->aq;
	unsigned long flags;
	u32 i;

	if (!aq->slots)
		return;
	spin_lock_irqsave(&aq->lock, flags);
	for (i = 0; i < aq->nslots; i++) {
		struct tf_aq_slot *s = &aq->slots[i];

		if (!s->busy || s->done)
			continue;
		s->seq++; /* a late completion no longer matches */
		if (s->waiting) {
			s->done = true;
			s->result = -EIO;
		} else {
			s->busy = false;
		}
	}
	spin_unlock_irqrestore(&aq->lock, flags);
	wake_up_all(&aq->wq);
}

/* After the handshake: both sides start again at index 0. */
void tf_aq_restart(struct tf_dev *tf)
{
	unsigned long flags;

	spin_lock_irqsave(&tf->aq.lock, flags);
	tf->aq.sq_tail = 0;
	tf->aq.cq_head = 0;
	spin_unlock_irqrestore(&tf->aq.lock, flags);
}

/* Consumes every completion the card has produced. Any context. */
void tf_aq_reap(struct tf_dev *tf)
{
	struct tf_aq *aq = &tf->aq;
	struct tf_aq_slot *s;
	unsigned long flags;
	bool woke = false, broken = false;
	u32 tail, cmd_id, tag, head0;

	if (!aq->slots)
		return;
	spin_lock_irqsave(&aq->lock, flags);
	if (tf_state(tf) != TOKFAB_STATE_RUNNING)
		goto out;
	tail = tf_rd32(tf, TF_REG(aq_cq_tail));
	rmb(); /* CQEs after the index that published them */
	if (tail - aq->cq_head > aq->sq_tail - aq->cq_head) {
		/* More completions than commands submitted: a card bug. */
		broken = true;
		goto out;
	}
	head0 = aq->cq_head;
	while (aq->cq_head != tail) {
		void __iomem *cqe = tf_aq_cqe_addr(tf, aq->cq_head);

		cmd_id = readl(cqe + offsetof(struct tf_aq_cqe, cmd_id));
		tag = cmd_id & 0xff;
		s = tag < aq->nslots ? &aq->slots[tag] : NULL;
		if (!s || !s->busy || s->done || s->cmd_id != cmd_id) {
			atomic64_inc(&tf->cnt.admin_stray);
		} else if (!s->waiting) {
			s->busy = false; /* its waiter gave up */
			woke = true;
		} else {
			memcpy_fromio(s->cqe, cqe, sizeof(*s->cqe));
			s->result = tf_aq_check_cqe(s);
			if (s->result)
				atomic64_inc(&tf->cnt.admin_bad_cqe);
			s->done = true;
			atomic64_inc(&tf->cnt.admin_cmds);
			woke = true;
		}
		aq->cq_head++;
	}
	if (aq->cq_head != head0) {
		mb(); /* done reading the CQEs before the card may reuse them */
		tf_wr32(tf, TF_REG(aq_cq_head), aq->cq_head);
	}
out:
	spin_unlock_irqrestore(&aq->lock, flags);
	if (woke)
		wake_up_all(&aq->wq);
	if (broken)
		tf_dev_fail(tf, TOKFAB_FAIL_PROTOCOL);
}

static struct tf_aq_slot *tf_aq_get_slot(struct tf_dev *tf)
{
	struct tf_aq *aq = &tf->aq;
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&aq->lock, flags);
	for (i = 0; i < aq->nslots; i++) {
		struct tf_aq_slot *s = &aq->slots[i];

		if (!s->busy) {
			s->busy = true;
			s->waiting = true;
			s->done = false;
			s->result = 0;
			s->seq++;
			s->cmd_id = (s->seq << 8) | i;
			spin_unlock_irqrestore(&aq->lock, flags);
			return s;
		}
	}
	spin_unlock_irqrestore(&aq->lock, flags);
	return NULL;
}

static void tf_aq_put_slot(struct tf_dev *tf, struct tf_aq_slot *s)
{
	unsigned long flags;

	spin_lock_irqsave(&tf->aq.lock, flags);
	if (s->done)
		s->busy = false;
	else
		s->waiting = false; /* the reaper or a reset frees it */
	spin_unlock_irqrestore(&tf->aq.lock, flags);
	wake_up_all(&tf->aq.wq);
}

static bool tf_aq_slot_done(struct tf_dev *tf, struct tf_aq_slot *s)
{
	unsigned long flags;
	bool done;

	spin_lock_irqsave(&tf->aq.lock, flags);
	done = s->done;
	spin_unlock_irqrestore(&tf->aq.lock, flags);
	return done;
}

/* Writes the SQE and moves aq_sq_tail. */
static int tf_aq_submit(struct tf_dev *tf, struct tf_aq_slot *s, const void *req, u32 req_len)
{
	struct tf_aq *aq = &tf->aq;
	void __iomem *sqe;
	unsigned long flags;

	spin_lock_irqsave(&aq->lock, flags);
	if (tf_state(tf) != TOKFAB_STATE_RUNNING || aq->sq_tail - aq->cq_head >= tf->lay.aq_depth) {
		s->done = true;
		spin_unlock_irqrestore(&aq->lock, flags);
		return -EIO;
	}
	sqe = tf_aq_sqe_addr(tf, aq->sq_tail);
	writew(s->opcode, sqe + offsetof(struct tf_aq_sqe, opcode));
	writew(0, sqe + offsetof(struct tf_aq_sqe, flags));
	writel(s->cmd_id, sqe + offsetof(struct tf_aq_sqe, cmd_id));
	writel(req_len, sqe + offsetof(struct tf_aq_sqe, len));
	writel(0, sqe + offsetof(struct tf_aq_sqe, reserved));
	memcpy_toio(sqe + offsetof(struct tf_aq_sqe, payload), req, req_len);
	memset_io(sqe + offsetof(struct tf_aq_sqe, payload) + req_len, 0,
		  TF_AQ_PAYLOAD_MAX - req_len);
	wmb(); /* the entry before the index (release) */
	aq->sq_tail++;
	tf_wr32(tf, TF_REG(aq_sq_tail), aq->sq_tail);
	spin_unlock_irqrestore(&aq->lock, flags);
	tf->hw->ring(tf, TF_VEC_ADMIN);
	return 0;
}

/*
 * Runs one admin command: req is the payload of req_len bytes (already
 * validated against the opcode's size by the caller). On 0, *cqe holds the
 * checked completion (its status may be any card status). Errors: -EIO card
 * failed or reset, -ETIMEDOUT (the card is then marked failed), -EINTR,
 * -EPROTO bad completion, -EINVAL.
 */
int tf_aq_exec(struct tf_dev *tf, u16 opcode, const void *req, u32 req_len, struct tf_aq_cqe *cqe,
	       unsigned int timeout_ms)
{
	const struct tf_aq_get_stats *gs = req;
	struct tf_aq_slot *s = NULL;
	unsigned long deadline;
	long left;
	int ret;

	if (req_len > TF_AQ_PAYLOAD_MAX)
		return -EINVAL;
	if (!timeout_ms)
		timeout_ms = tf_admin_timeout_ms;
	deadline = jiffies + msecs_to_jiffies(timeout_ms);

	/* A free slot; all busy means commands are queued: wait within the timeout. */
	left = wait_event_interruptible_timeout(tf->aq.wq,
						tf_state(tf) != TOKFAB_STATE_RUNNING ||
							(s = tf_aq_get_slot(tf)) != NULL,
						msecs_to_jiffies(timeout_ms));
	if (left < 0)
		return -EINTR;
	if (!s)
		return tf_state(tf) != TOKFAB_STATE_RUNNING ? -EIO : -ETIMEDOUT;
	s->opcode = opcode;
	s->stats_scope =
		opcode == TF_AQ_GET_STATS && req_len >= sizeof(*gs) ? le32_to_cpu(gs->scope) : 0;
	ret = tf_aq_submit(tf, s, req, req_len);
	if (ret)
		goto out;

	for (;;) {
		long step = min_t(long, (long)deadline - (long)jiffies, msecs_to_jiffies(100));

		if (step < 0)
			step = 0;
		left = wait_event_interruptible_timeout(tf->aq.wq, tf_aq_slot_done(tf, s), step);
		if (left < 0) {
			ret = -EINTR;
			break;
		}
		/* The interrupt may be lost or coalesced: look at the index ourselves. */
		tf_aq_reap(tf);
		if (tf_aq_slot_done(tf, s)) {
			ret = s->result;
			if (!ret)
				memcpy(cqe, s->cqe, sizeof(*cqe));
			break;
		}
		if (time_after_eq(jiffies, deadline)) {
			ret = -ETIMEDOUT;
			break;
		}
	}
out:
	tf_aq_put_slot(tf, s);
	if (ret == -ETIMEDOUT) {
		atomic64_inc(&tf->cnt.admin_timeouts);
		dev_err(&tf->pdev->dev,
			"admin command %#x (cmd_id %#x) not completed within %u ms\n", opcode,
			s->cmd_id, timeout_ms);
		tf_dev_fail(tf, TOKFAB_FAIL_ADMIN_TIMEOUT);
	}
	return ret;
}

/* IDENTIFY through the admin queue: the card serves it and agrees with its registers. */
int tf_aq_identify(struct tf_dev *tf)
{
	struct tf_aq_identity *id;
	struct tf_aq_cqe *cqe;
	int ret;

	cqe = kmalloc(sizeof(*cqe), GFP_KERNEL);
	if (!cqe)
		return -ENOMEM;
	ret = tf_aq_exec(tf, TF_AQ_IDENTIFY, NULL, 0, cqe, 0);
	if (ret)
		goto out;
	if (le16_to_cpu(cqe->status) != TF_AQ_S_OK) {
		ret = -EIO;
		goto out;
	}
	id = (struct tf_aq_identity *)cqe->payload;
	if (le32_to_cpu(id->abi_version) != tf->lay.abi_version ||
	    le64_to_cpu(id->epoch) != tf->lay.epoch ||
	    memcmp(id->serial, tf->lay.serial, strnlen(tf->lay.serial, TF_NAME_LEN) + 1)) {
		dev_err(&tf->pdev->dev, "IDENTIFY disagrees with the card's registers\n");
		atomic64_inc(&tf->cnt.admin_bad_cqe);
		ret = -EPROTO;
	}
out:
	kfree(cqe);
	return ret;
}
