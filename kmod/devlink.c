// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: devlink instance of a card (hwdocs/kmod.md, "devlink"):
 * `devlink dev info` (driver, serial, running firmware and ABI) and the
 * health reporters of health.c.
 */
#include <net/devlink.h>

#include "tf_dev.h"

struct tf_devlink {
	struct tf_dev *tf;
};

static struct tf_dev *tf_from_devlink(struct devlink *devlink)
{
	return ((struct tf_devlink *)devlink_priv(devlink))->tf;
}

static int tf_devlink_info_get(struct devlink *devlink, struct devlink_info_req *req,
			       struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = tf_from_devlink(devlink);
	char abi[16];
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
	return devlink_info_version_running_put(req, "fw.abi", abi);
}

static const struct devlink_ops tf_devlink_ops = {
	.info_get = tf_devlink_info_get,
};

int tf_devlink_create(struct tf_dev *tf)
{
	struct devlink *devlink;

	devlink = devlink_alloc(&tf_devlink_ops, sizeof(struct tf_devlink), &tf->pdev->dev);
	if (!devlink)
		return -ENOMEM;
	((struct tf_devlink *)devlink_priv(devlink))->tf = tf;
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
