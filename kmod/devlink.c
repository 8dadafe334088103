// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: devlink instance of a card (hwdocs/kmod.md, "devlink"):
 * `devlink dev info` (driver, serial, running and stored firmware, ABI),
 * `devlink dev flash` (the image goes to the card through the admin queue,
 * FW_WRITE, and the card's firmware update path), `devlink dev reload action
 * fw_activate` (FW_ACTIVATE with NOW: the card restarts into the image its
 * next boot starts) and the health reporters of health.c.
 */
#include <linux/delay.h>
#include <linux/firmware.h>
#include <linux/slab.h>
#include <net/devlink.h>

#include "tf_dev.h"

struct tf_devlink {
	struct tf_dev *tf;
	u32 reload_boot; /* the card's boot_count when a reload asked it to restart */
};

static struct tf_dev *tf_from_devlink(struct devlink *devlink)
{
	return ((struct tf_devlink *)devlink_priv(devlink))->tf;
}

static void tf_fw_version_str(char *buf, size_t len, u32 v)
{
	snprintf(buf, len, "%u.%u.%u", v >> 24, (v >> 16) & 0xff, v & 0xffff);
}

/* FW_INFO through the admin queue: what the card's flash holds. */
static int tf_fw_info(struct tf_dev *tf, struct tf_aq_fw_info *info)
{
	struct tf_aq_cqe *cqe;
	int ret;

	if (!(tf->lay.card_features & TF_FEAT_FW_UPDATE))
		return -EOPNOTSUPP;
	cqe = kmalloc(sizeof(*cqe), GFP_KERNEL);
	if (!cqe)
		return -ENOMEM;
	ret = tf_aq_exec(tf, TF_AQ_FW_INFO, NULL, 0, cqe, 0);
	if (!ret && le16_to_cpu(cqe->status) != TF_AQ_S_OK)
		ret = -EIO;
	if (!ret)
		memcpy(info, cqe->payload, sizeof(*info));
	kfree(cqe);
	return ret;
}

static int tf_devlink_info_get(struct devlink *devlink, struct devlink_info_req *req,
			       struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = tf_from_devlink(devlink);
	struct tf_aq_fw_info fi;
	char abi[16], stored[24];
	int ret;

	ret = devlink_info_driver_name_put(req, TF_DRV_NAME);
	if (ret)
		return ret;
	ret = devlink_info_serial_number_put(req, tf->lay.serial);
	if (ret)
		return ret;
	ret = devlink_info_version_running_put(req, DEVLINK_INFO_VERSION_GENERIC_FW,
					       tf->lay.fw_version_str);
	if (ret)
		return ret;
	snprintf(abi, sizeof(abi), "%u.%u", TF_ABI_VERSION_MAJOR(tf->lay.abi_version),
		 TF_ABI_VERSION_MINOR(tf->lay.abi_version));
	ret = devlink_info_version_running_put(req, "fw.abi", abi);
	if (ret)
		return ret;
	/* The stored version: the image the card boots next (when it can tell). */
	if (tf_state(tf) == TOKFAB_STATE_RUNNING && !tf_fw_info(tf, &fi) &&
	    le32_to_cpu(fi.next_slot) != TF_FW_NO_SLOT) {
		tf_fw_version_str(stored, sizeof(stored), le32_to_cpu(fi.next_version));
		ret = devlink_info_version_stored_put(req, DEVLINK_INFO_VERSION_GENERIC_FW, stored);
	}
	return ret;
}

/* A card status for a refused image: the errno and a sentence for the user. */
static int tf_fw_refused(u16 status, struct netlink_ext_ack *extack)
{
	switch (status) {
	case TF_AQ_S_FW_BAD_SIGNATURE:
		NL_SET_ERR_MSG_MOD(extack, "refused: not signed with the card's key");
		return -EKEYREJECTED;
	case TF_AQ_S_FW_BAD_DIGEST:
		NL_SET_ERR_MSG_MOD(extack, "refused: malformed image or bad section hash");
		return -EBADMSG;
	case TF_AQ_S_FW_ROLLBACK:
		NL_SET_ERR_MSG_MOD(extack, "refused: older than the anti-rollback floor");
		return -EPERM;
	case TF_AQ_S_CONFLICT:
		NL_SET_ERR_MSG_MOD(extack, "refused: the image is for another board");
		return -ENODEV;
	case TF_AQ_S_FW_BUSY:
		NL_SET_ERR_MSG_MOD(extack, "an update is on trial: confirm or reboot first");
		return -EBUSY;
	case TF_AQ_S_NO_SPACE:
		NL_SET_ERR_MSG_MOD(extack, "the image is larger than a flash slot of this card");
		return -EFBIG;
	case TF_AQ_S_UNSUPPORTED:
		NL_SET_ERR_MSG_MOD(extack,
				   "the card does not take firmware through its admin queue");
		return -EOPNOTSUPP;
	default:
		NL_SET_ERR_MSG_MOD(extack, "the card refused a chunk of the image (see dmesg)");
		return -EIO;
	}
}

/* devlink dev flash: FW_WRITE chunks in order; the last one stores and activates. */
static int tf_devlink_flash_update(struct devlink *devlink,
				   struct devlink_flash_update_params *params,
				   struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = tf_from_devlink(devlink);
	const struct firmware *fw = params->fw;
	struct tf_aq_fw_write_status *st;
	struct tf_aq_fw_write *req;
	struct tf_aq_cqe *cqe;
	u32 off = 0, total, len;
	char msg[96], ver[24];
	u16 status;
	bool final;
	int ret = 0;

	if (!(tf->lay.card_features & TF_FEAT_FW_UPDATE)) {
		NL_SET_ERR_MSG_MOD(extack,
				   "this card does not take firmware through its admin queue");
		return -EOPNOTSUPP;
	}
	if (!fw->size || fw->size > U32_MAX) {
		NL_SET_ERR_MSG_MOD(extack, "the image is empty or larger than 4 GiB");
		return -EFBIG;
	}
	total = fw->size;
	req = kmalloc(sizeof(*req), GFP_KERNEL);
	cqe = kmalloc(sizeof(*cqe), GFP_KERNEL);
	if (!req || !cqe) {
		ret = -ENOMEM;
		goto out;
	}
	devlink_flash_update_status_notify(devlink, "Writing the image to the card", NULL, 0,
					   total);
	while (off < total) {
		len = min_t(u32, total - off, TF_FW_WRITE_CHUNK);
		final = off + len == total;
		memset(req, 0, sizeof(*req));
		req->offset = cpu_to_le32(off);
		req->total_len = cpu_to_le32(total);
		req->len = cpu_to_le16(len);
		req->flags = cpu_to_le16(final ? TF_FW_WRITE_F_FINAL | TF_FW_WRITE_F_ACTIVATE : 0);
		memcpy(req->data, fw->data + off, len);
		/* The last chunk verifies and programs a whole slot: give it time. */
		ret = tf_aq_exec(tf, TF_AQ_FW_WRITE, req, sizeof(*req), cqe, final ? 120000 : 0);
		if (ret) {
			NL_SET_ERR_MSG_MOD(extack,
					   "the admin queue failed while writing the image");
			goto out;
		}
		status = le16_to_cpu(cqe->status);
		if (status != TF_AQ_S_OK) {
			dev_err(&tf->pdev->dev,
				"flash: card status %#x (detail %u) at offset %u of %u\n", status,
				le32_to_cpu(cqe->detail), off, total);
			ret = tf_fw_refused(status, extack);
			goto out;
		}
		off += len;
		if (final || !(off % (64 * TF_FW_WRITE_CHUNK)))
			devlink_flash_update_status_notify(devlink, "Writing the image to the card",
							   NULL, off, total);
	}
	st = (struct tf_aq_fw_write_status *)cqe->payload;
	tf_fw_version_str(ver, sizeof(ver), le32_to_cpu(st->version));
	snprintf(msg, sizeof(msg), "Stored %s in slot %c: the card starts it at its next boot", ver,
		 le32_to_cpu(st->slot) ? 'B' : 'A');
	devlink_flash_update_status_notify(devlink, msg, NULL, 0, 0);
	dev_info(&tf->pdev->dev, "flash: image %s (%u bytes) stored in slot %c\n", ver, total,
		 le32_to_cpu(st->slot) ? 'B' : 'A');
out:
	kfree(cqe);
	kfree(req);
	return ret;
}

/* How long a card may take to restart into new firmware (drain, then boot). */
#define TF_RELOAD_WAIT_MS 60000

/* reload fw_activate, down: the card restarts into the slot its next boot starts. */
static int tf_devlink_reload_down(struct devlink *devlink, bool netns_change,
				  enum devlink_reload_action action,
				  enum devlink_reload_limit limit, struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = tf_from_devlink(devlink);
	struct tf_aq_fw_activate req = {};
	struct tf_aq_fw_info fi;
	struct tf_aq_cqe *cqe;
	u16 status;
	int ret;

	if (netns_change) {
		NL_SET_ERR_MSG_MOD(extack, "a card has no network namespace to change");
		return -EOPNOTSUPP;
	}
	if (!(tf->lay.card_features & TF_FEAT_FW_ACTIVATE) ||
	    !(tf->lay.card_features & TF_FEAT_FW_UPDATE)) {
		NL_SET_ERR_MSG_MOD(extack, "this card cannot activate firmware from the host");
		return -EOPNOTSUPP;
	}
	ret = tf_fw_info(tf, &fi);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "the card did not say which firmware it boots next");
		return ret;
	}
	if (le32_to_cpu(fi.next_slot) == TF_FW_NO_SLOT) {
		NL_SET_ERR_MSG_MOD(extack, "nothing to activate: flash an image first");
		return -ENOENT;
	}
	req.slot = fi.next_slot;
	req.flags = cpu_to_le32(TF_FW_ACT_F_NOW);
	req.version = fi.next_version;
	cqe = kmalloc(sizeof(*cqe), GFP_KERNEL);
	if (!cqe)
		return -ENOMEM;
	ret = tf_aq_exec(tf, TF_AQ_FW_ACTIVATE, &req, sizeof(req), cqe, 0);
	status = ret ? 0 : le16_to_cpu(cqe->status);
	kfree(cqe);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "the admin queue failed while activating the firmware");
		return ret;
	}
	if (status != TF_AQ_S_OK) {
		dev_err(&tf->pdev->dev, "reload: FW_ACTIVATE of slot %c refused: status %#x\n",
			le32_to_cpu(fi.next_slot) ? 'B' : 'A', status);
		return tf_fw_refused(status, extack);
	}
	/* The card now stops and restarts: a silence we asked for, not a failure. */
	((struct tf_devlink *)devlink_priv(devlink))->reload_boot = tf_rd32(tf, TF_REG(boot_count));
	tf_dev_expect_restart(tf);
	return 0;
}

/* reload fw_activate, up: wait for the card to come back, then the reset handshake. */
static int tf_devlink_reload_up(struct devlink *devlink, enum devlink_reload_action action,
				enum devlink_reload_limit limit, u32 *actions_performed,
				struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = tf_from_devlink(devlink);
	u32 boot = ((struct tf_devlink *)devlink_priv(devlink))->reload_boot;
	unsigned long deadline = jiffies + msecs_to_jiffies(TF_RELOAD_WAIT_MS);
	int ret;

	while (tf_rd32(tf, TF_REG(boot_count)) == boot) {
		if (tf_gone(tf))
			return -ENODEV;
		if (time_after(jiffies, deadline))
			break; /* the reset below fails and says so */
		msleep(20);
	}
	ret = tf_dev_reset_restarted(tf);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "the card did not come back with its new firmware");
		return ret;
	}
	dev_info(&tf->pdev->dev, "reload: firmware %s running\n", tf->lay.fw_version_str);
	*actions_performed = BIT(DEVLINK_RELOAD_ACTION_FW_ACTIVATE);
	return 0;
}

static const struct devlink_ops tf_devlink_ops = {
	.info_get = tf_devlink_info_get,
	.flash_update = tf_devlink_flash_update,
	.reload_actions = BIT(DEVLINK_RELOAD_ACTION_FW_ACTIVATE),
	.reload_down = tf_devlink_reload_down,
	.reload_up = tf_devlink_reload_up,
};

int tf_devlink_create(struct tf_dev *tf)
{
	struct devlink *devlink;

	devlink = devlink_alloc(&tf_devlink_ops, sizeof(struct tf_devlink), &tf->pdev->dev);
	if (!devlink)
		return -ENOMEM;
	((struct tf_devlink *)devlink_priv(devlink))->tf = tf;
	devlink_set_features(devlink, DEVLINK_F_RELOAD);
	tf->devlink = devlink;
	return 0;
}

void tf_devlink_register(struct tf_dev *tf)
{
	devlink_register(tf->devlink);
	WRITE_ONCE(tf->devlink_registered, true);
	/* Failures seen while probing are reported now that devlink can tell. */
	if (READ_ONCE(tf->health_pending))
		schedule_work(&tf->health_work);
}

void tf_devlink_unregister(struct tf_dev *tf)
{
	WRITE_ONCE(tf->devlink_registered, false);
	cancel_work_sync(&tf->health_work);
	devlink_unregister(tf->devlink);
}

void tf_devlink_destroy(struct tf_dev *tf)
{
	devlink_free(tf->devlink);
	tf->devlink = NULL;
}
