// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: attributes of /sys/class/tokfab/tokfabN (hwdocs/kmod.md, "sysfs").
 * They are removed before the device goes, so they may read the BAR.
 */
#include <linux/device.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/kstrtox.h>
#include <linux/sysfs.h>

#include "tf_dev.h"

static struct tf_dev *to_tf(struct device *dev)
{
	return container_of(dev, struct tf_dev, cdev_dev);
}

static ssize_t fw_version_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tf_dev *tf = to_tf(dev);
	u32 v = tf->lay.fw_version;

	return sysfs_emit(buf, "%s (%u.%u.%u)\n", tf->lay.fw_version_str, v >> 24, (v >> 16) & 0xff,
			  v & 0xffff);
}
static DEVICE_ATTR_RO(fw_version);

static ssize_t abi_version_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	u32 v = to_tf(dev)->lay.abi_version;

	return sysfs_emit(buf, "%u.%u\n", TF_ABI_VERSION_MAJOR(v), TF_ABI_VERSION_MINOR(v));
}
static DEVICE_ATTR_RO(abi_version);

static ssize_t serial_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_tf(dev)->lay.serial);
}
static DEVICE_ATTR_RO(serial);

static ssize_t state_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", tf_state_name(tf_state(to_tf(dev))));
}
static DEVICE_ATTR_RO(state);

static ssize_t fail_reason_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", tf_fail_name(READ_ONCE(to_tf(dev)->fail_reason)));
}
static DEVICE_ATTR_RO(fail_reason);

static ssize_t queues_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tf_dev *tf = to_tf(dev);

	return sysfs_emit(buf, "admin %u event %u\n", tf->lay.aq_depth, tf->lay.eq_depth);
}
static DEVICE_ATTR_RO(queues);

static ssize_t interrupts_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_tf(dev)->polling ? "polling" : "msix");
}
static DEVICE_ATTR_RO(interrupts);

/* Writing 1 runs the reset handshake; the write returns when it is done. */
static ssize_t reset_store(struct device *dev, struct device_attribute *attr, const char *buf,
			   size_t count)
{
	bool yes;
	int ret;

	ret = kstrtobool(buf, &yes);
	if (ret)
		return ret;
	if (!yes)
		return -EINVAL;
	ret = tf_dev_reset(to_tf(dev));
	return ret ? ret : count;
}
static DEVICE_ATTR_WO(reset);

static struct attribute *tf_attrs[] = {
	&dev_attr_fw_version.attr, &dev_attr_abi_version.attr, &dev_attr_serial.attr,
	&dev_attr_state.attr,	   &dev_attr_fail_reason.attr, &dev_attr_queues.attr,
	&dev_attr_interrupts.attr, &dev_attr_reset.attr,       NULL,
};

static const struct attribute_group tf_attr_group = {
	.attrs = tf_attrs,
};

/* counters/: one number per file. */
#define TF_REG_ATTR(name, width, field)                                                          \
	static ssize_t name##_show(struct device *dev, struct device_attribute *attr, char *buf) \
	{                                                                                        \
		return sysfs_emit(buf, "%llu\n", (u64)tf_rd##width(to_tf(dev), TF_REG(field)));  \
	}                                                                                        \
	static DEVICE_ATTR_RO(name)

#define TF_CNT_ATTR(name)                                                                        \
	static ssize_t name##_show(struct device *dev, struct device_attribute *attr, char *buf) \
	{                                                                                        \
		return sysfs_emit(buf, "%lld\n", atomic64_read(&to_tf(dev)->cnt.name));          \
	}                                                                                        \
	static DEVICE_ATTR_RO(name)

TF_REG_ATTR(heartbeat, 64, heartbeat);
TF_REG_ATTR(boot_count, 32, boot_count);
TF_REG_ATTR(eq_prod_seq, 64, eq_prod_seq);
TF_REG_ATTR(eq_ack_seq, 64, eq_ack_seq);
TF_REG_ATTR(eq_freed_seq, 64, eq_freed_seq);
TF_REG_ATTR(eq_full_count, 64, eq_full_count);
TF_REG_ATTR(aq_error_count, 32, aq_error_count);
TF_CNT_ATTR(resets);
TF_CNT_ATTR(admin_cmds);
TF_CNT_ATTR(admin_timeouts);
TF_CNT_ATTR(admin_bad_cqe);
TF_CNT_ATTR(admin_stray);
TF_CNT_ATTR(events_read);
TF_CNT_ATTR(events_bad);
TF_CNT_ATTR(eq_overflows);
TF_CNT_ATTR(irqs);

static struct attribute *tf_counter_attrs[] = {
	&dev_attr_heartbeat.attr,
	&dev_attr_boot_count.attr,
	&dev_attr_eq_prod_seq.attr,
	&dev_attr_eq_ack_seq.attr,
	&dev_attr_eq_freed_seq.attr,
	&dev_attr_eq_full_count.attr,
	&dev_attr_aq_error_count.attr,
	&dev_attr_resets.attr,
	&dev_attr_admin_cmds.attr,
	&dev_attr_admin_timeouts.attr,
	&dev_attr_admin_bad_cqe.attr,
	&dev_attr_admin_stray.attr,
	&dev_attr_events_read.attr,
	&dev_attr_events_bad.attr,
	&dev_attr_eq_overflows.attr,
	&dev_attr_irqs.attr,
	NULL,
};

static const struct attribute_group tf_counter_group = {
	.name = "counters",
	.attrs = tf_counter_attrs,
};

const struct attribute_group *tf_sysfs_groups[] = {
	&tf_attr_group,
	&tf_counter_group,
	NULL,
};
