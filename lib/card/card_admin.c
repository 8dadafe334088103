/* SPDX-License-Identifier: BSD-3-Clause */
/* Card side: admin queue handshake, command dispatch to the firmware's handlers. */
#include "card/bar_io.h"
#include "card/card_internal.h"
#include "card/check.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static void
set_status(struct tf_card_dev *dev, uint32_t status)
{
	dev->status = status;
	tf_bar_wr32(&dev->regs->status, status);
}

static int
fail(struct tf_card_dev *dev, enum tf_fail_reason reason)
{
	tf_bar_wr32(&dev->regs->fail_reason, reason);
	set_status(dev, (dev->status & ~(TF_STATUS_READY | TF_STATUS_DISABLED)) | TF_STATUS_FAILED);
	return -EPROTO;
}

/* ENABLE low: reset the admin queue and say so. */
static void
disable(struct tf_card_dev *dev)
{
	dev->sq_head = 0;
	dev->cq_tail = 0;
	tf_bar_wr32(&dev->regs->aq_sq_head, 0);
	tf_bar_wr32(&dev->regs->aq_cq_tail, 0);
	tf_bar_wr32(&dev->regs->fail_reason, TF_FAIL_NONE);
	set_status(dev, (dev->status & ~(TF_STATUS_READY | TF_STATUS_FAILED)) | TF_STATUS_DISABLED);
	dev->disabled_seen = 1;
}

/* Returns 1 when the queue is served, 0 when not (yet), -EPROTO on a host error. */
static int
handshake(struct tf_card_dev *dev)
{
	uint32_t ctrl = tf_bar_rd32(&dev->regs->control);

	if (!(ctrl & TF_CONTROL_ENABLE)) {
		if (!(dev->status & TF_STATUS_DISABLED))
			disable(dev);
		return 0;
	}
	if (!dev->disabled_seen || (dev->status & TF_STATUS_FAILED))
		return 0;
	if (dev->status & TF_STATUS_READY)
		return 1;
	if (tf_bar_rd64(&dev->regs->host_features) & ~dev->features)
		return fail(dev, TF_FAIL_FEATURES);
	if (tf_bar_rd32(&dev->regs->aq_sq_tail) != 0 || tf_bar_rd32(&dev->regs->aq_cq_head) != 0)
		return fail(dev, TF_FAIL_AQ_INDEX);
	set_status(dev, (dev->status & ~TF_STATUS_DISABLED) | TF_STATUS_READY);
	return 1;
}

/* Runs the handler for a checked command; fills resp and *resp_len on OK. */
static int
dispatch(struct tf_card_dev *dev, const struct tf_card_admin_handlers *h, void *ctx,
	 const struct tf_aq_sqe *sqe, void *resp, uint32_t *resp_len, uint32_t *detail)
{
	const void *req = sqe->payload;
	const struct tf_aq_id *id = req;
	int rc;

	*resp_len = 0;
	switch (sqe->opcode) {
	case TF_AQ_IDENTIFY:
		memcpy(resp, &dev->ident, sizeof(dev->ident));
		*resp_len = sizeof(dev->ident);
		return TF_AQ_S_OK;
	case TF_AQ_GET_HEALTH:
		if (!h->get_health)
			return TF_AQ_S_UNSUPPORTED;
		*resp_len = sizeof(struct tf_aq_health);
		return h->get_health(ctx, ((const struct tf_aq_get_health *)req)->first, resp,
				     detail);
	case TF_AQ_GET_STATS: {
		const struct tf_aq_get_stats *q = req;

		if (q->scope == TF_STATS_ACCEL) {
			if (!h->get_accel_stats)
				return TF_AQ_S_UNSUPPORTED;
			*resp_len = sizeof(struct tf_aq_accel_stats);
			return h->get_accel_stats(ctx, q->id, resp, detail);
		}
		struct tf_aq_card_stats *cs = resp;

		rc = h->get_card_stats ? h->get_card_stats(ctx, cs, detail) : TF_AQ_S_OK;
		tf_card_eq_take_ack(dev);
		cs->uptime_ns = tf_card_dev_uptime_ns(dev);
		cs->eq_posted = dev->st.eq_posted;
		cs->eq_acked = dev->freed - dev->freed0;
		cs->eq_full = dev->st.eq_full;
		*resp_len = sizeof(*cs);
		return rc;
	}
	case TF_AQ_SET_TENANT:
		if (!h->set_tenant)
			return TF_AQ_S_UNSUPPORTED;
		*resp_len = sizeof(struct tf_aq_tenant_info);
		return h->set_tenant(ctx, req, resp, detail);
	case TF_AQ_DEL_TENANT:
		return h->del_tenant ? h->del_tenant(ctx, id->id, detail) : TF_AQ_S_UNSUPPORTED;
	case TF_AQ_TENANT_BALANCE:
		if (!h->tenant_balance)
			return TF_AQ_S_UNSUPPORTED;
		*resp_len = sizeof(struct tf_aq_tenant_info);
		return h->tenant_balance(ctx, req, resp, detail);
	case TF_AQ_GET_TENANT:
		if (!h->get_tenant)
			return TF_AQ_S_UNSUPPORTED;
		*resp_len = sizeof(struct tf_aq_tenant_info);
		return h->get_tenant(ctx, id->id, resp, detail);
	case TF_AQ_SET_MODEL:
		return h->set_model ? h->set_model(ctx, req, detail) : TF_AQ_S_UNSUPPORTED;
	case TF_AQ_DEL_MODEL:
		return h->del_model ? h->del_model(ctx, id->id, detail) : TF_AQ_S_UNSUPPORTED;
	case TF_AQ_SET_ACCEL:
		return h->set_accel ? h->set_accel(ctx, req, detail) : TF_AQ_S_UNSUPPORTED;
	case TF_AQ_DEL_ACCEL:
		return h->del_accel ? h->del_accel(ctx, id->id, detail) : TF_AQ_S_UNSUPPORTED;
	case TF_AQ_SET_BATCHING:
		return h->set_batching ? h->set_batching(ctx, req, detail) : TF_AQ_S_UNSUPPORTED;
	case TF_AQ_SET_USAGE_MODE:
		if (!h->set_usage_mode || !(dev->features & TF_FEAT_USAGE_AGG))
			return TF_AQ_S_UNSUPPORTED;
		return h->set_usage_mode(ctx, req, detail);
	case TF_AQ_FW_ACTIVATE:
		if (!h->fw_activate || !(dev->features & TF_FEAT_FW_ACTIVATE))
			return TF_AQ_S_UNSUPPORTED;
		*resp_len = sizeof(struct tf_aq_fw_status);
		return h->fw_activate(ctx, req, resp, detail);
	case TF_AQ_FW_WRITE:
		if (!h->fw_write || !(dev->features & TF_FEAT_FW_UPDATE))
			return TF_AQ_S_UNSUPPORTED;
		*resp_len = sizeof(struct tf_aq_fw_write_status);
		return h->fw_write(ctx, req, resp, detail);
	case TF_AQ_FW_INFO:
		if (!h->fw_info || !(dev->features & TF_FEAT_FW_UPDATE))
			return TF_AQ_S_UNSUPPORTED;
		*resp_len = sizeof(struct tf_aq_fw_info);
		return h->fw_info(ctx, resp, detail);
	default:
		*detail = sqe->opcode;
		return TF_AQ_S_BAD_OPCODE; /* unreachable: checked before */
	}
}

/* Executes one command (already copied out of shared memory) into cqe. */
static void
execute(struct tf_card_dev *dev, const struct tf_card_admin_handlers *h, void *ctx,
	const struct tf_aq_sqe *sqe, struct tf_aq_cqe *cqe)
{
	uint32_t detail = 0, resp_len = 0;
	const char *why;
	int status;

	memset(cqe, 0, sizeof(*cqe));
	cqe->cmd_id = sqe->cmd_id;
	cqe->opcode = sqe->opcode;
	status = tf_aq_sqe_check(sqe, &detail);
	if (status != TF_AQ_S_OK) {
		dev->st.aq_rejected++;
	} else {
		status = dispatch(dev, h, ctx, sqe, cqe->payload, &resp_len, &detail);
		/* Handlers name a bad field by its offset in their request structure. */
		if (status == TF_AQ_S_BAD_FIELD)
			detail += (uint32_t)offsetof(struct tf_aq_sqe, payload);
		if (status < 0 || status > 0xffff || !tf_aq_status_known((uint16_t)status)) {
			status = TF_AQ_S_INTERNAL;
			detail = 0;
		} else if (status == TF_AQ_S_OK &&
			   tf_aq_resp_check(sqe->opcode, sqe->payload, cqe->payload, &why) < 0) {
			/* The firmware's own answer breaks the spec: never send it. */
			status = TF_AQ_S_INTERNAL;
			detail = 1;
		}
	}
	cqe->status = (uint16_t)status;
	cqe->detail = detail;
	if (status == TF_AQ_S_OK) {
		cqe->len = resp_len;
	} else {
		cqe->len = 0;
		cqe->detail = detail;
		memset(cqe->payload, 0, sizeof(cqe->payload));
		dev->st.aq_errors++;
		tf_bar_wr32(&dev->regs->aq_error_count, (uint32_t)dev->st.aq_errors);
	}
	dev->st.aq_completed++;
}

static void
flush_notify(struct tf_card_dev *dev)
{
	unsigned int pending = dev->notify_pending;

	dev->notify_pending = 0;
	if (!dev->notify)
		return;
	for (unsigned int v = 0; pending; v++, pending >>= 1)
		if (pending & 1)
			dev->notify(dev->notify_arg, v);
}

int
tf_card_dev_poll_admin(struct tf_card_dev *dev, const struct tf_card_admin_handlers *h, void *ctx)
{
	struct tf_aq_sqe sqe;
	struct tf_aq_cqe cqe;
	uint32_t tail, cq_head, mask = dev->aq_depth - 1;
	int n = 0, rc;

	rc = handshake(dev);
	if (rc <= 0)
		goto out;
	tail = tf_bar_rd32(&dev->regs->aq_sq_tail);
	cq_head = tf_bar_rd32(&dev->regs->aq_cq_head);
	if (tail - dev->sq_head > dev->aq_depth || dev->cq_tail - cq_head > dev->aq_depth) {
		rc = fail(dev, TF_FAIL_AQ_INDEX);
		goto out;
	}
	while (dev->sq_head != tail && n < (int)TF_CARD_ADMIN_BUDGET) {
		if (dev->cq_tail - cq_head >= dev->aq_depth)
			break; /* host has not consumed completions yet */
		memcpy(&sqe, dev->sq + (size_t)(dev->sq_head & mask) * TF_AQ_ENTRY_SIZE,
		       sizeof(sqe));
		execute(dev, h, ctx, &sqe, &cqe);
		memcpy(dev->cq + (size_t)(dev->cq_tail & mask) * TF_AQ_ENTRY_SIZE, &cqe,
		       sizeof(cqe));
		dev->cq_tail++;
		tf_bar_wr32(&dev->regs->aq_cq_tail, dev->cq_tail);
		dev->sq_head++;
		tf_bar_wr32(&dev->regs->aq_sq_head, dev->sq_head);
		n++;
	}
	if (n)
		dev->notify_pending |= 1u << TF_CARD_VEC_ADMIN;
	rc = n;
out:
	flush_notify(dev);
	return rc;
}
