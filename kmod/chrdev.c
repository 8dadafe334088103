// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: /dev/tokfabN. ioctl (include/uapi/tokfab.h), read() of whole
 * event records, poll(). Every operation runs under gone_sem and returns
 * -ENODEV once the card was removed; open files keep struct tf_dev alive.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "tf_dev.h"

static struct class *tf_class;
static dev_t tf_devt;
static DEFINE_IDA(tf_minors);

/* ------------------------------------------------ len-prefixed arguments */

/*
 * Copies an ioctl argument whose first field is its size (uapi header,
 * "Conventions"): less than minsize -EINVAL, unknown non-zero tail -E2BIG.
 */
int tf_arg_in(void *karg, size_t ksize, size_t minsize, unsigned long arg, u32 *usize)
{
	void __user *uarg = (void __user *)arg;

	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < minsize || *usize > PAGE_SIZE)
		return -EINVAL;
	return copy_struct_from_user(karg, ksize, uarg, *usize);
}

/* Writes back min(usize, ksize) bytes; the size field says how many. */
int tf_arg_out(unsigned long arg, void *karg, size_t ksize, u32 usize)
{
	u32 n = min_t(u32, usize, ksize);

	*(u32 *)karg = n;
	return copy_to_user((void __user *)arg, karg, n) ? -EFAULT : 0;
}

/* ------------------------------------------------------------- ioctls */

static long tf_ioc_features(struct tf_dev *tf, unsigned long arg)
{
	struct tokfab_features a;
	u32 usize;
	int ret;

	ret = tf_arg_in(&a, sizeof(a), sizeof(a), arg, &usize);
	if (ret)
		return ret;
	if (a.reserved)
		return -EINVAL;
	a.features = TOKFAB_F_ADMIN | TOKFAB_F_EVENTS | TOKFAB_F_RESET | TOKFAB_F_STATUS;
	if (tf->hq_count)
		a.features |= TOKFAB_F_HOSTQ;
	a.card_features = tf->lay.card_features;
	a.host_features = tf_rd64(tf, TF_REG(host_features));
	return tf_arg_out(arg, &a, sizeof(a), usize);
}

static long tf_ioc_identity(struct tf_dev *tf, unsigned long arg)
{
	struct tokfab_identity a;
	u32 usize;
	int ret;

	ret = tf_arg_in(&a, sizeof(a), sizeof(a), arg, &usize);
	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	a.abi_version = tf->lay.abi_version;
	a.fw_version = tf->lay.fw_version;
	a.vendor_id = tf->lay.vendor_id;
	a.device_id = tf->lay.device_id;
	a.boot_count = tf_rd32(tf, TF_REG(boot_count));
	a.state = tf_state(tf);
	a.epoch = tf->lay.epoch;
	a.aq_depth = tf->lay.aq_depth;
	a.eq_depth = tf->lay.eq_depth;
	a.hb_period_ms = tf->lay.hb_period_ms;
	a.minor = tf->minor;
	strscpy(a.serial, tf->lay.serial, sizeof(a.serial));
	strscpy(a.fw_version_str, tf->lay.fw_version_str, sizeof(a.fw_version_str));
	a.card_features = tf->lay.card_features;
	a.bar_size = tf->lay.bar_size;
	a.max_tenants = tf->lay.max_tenants;
	a.max_models = tf->lay.max_models;
	a.max_accels = tf->lay.max_accels;
	return tf_arg_out(arg, &a, sizeof(a), usize);
}

static long tf_ioc_status(struct tf_file *f, unsigned long arg)
{
	struct tf_dev *tf = f->tf;
	struct tokfab_status a;
	u32 usize;
	int ret;

	ret = tf_arg_in(&a, sizeof(a), sizeof(a), arg, &usize);
	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	a.state = tf_state(tf);
	a.fail_reason = READ_ONCE(tf->fail_reason);
	a.card_status = tf_rd32(tf, TF_REG(status));
	a.card_fail_reason = tf_rd32(tf, TF_REG(fail_reason));
	a.heartbeat = tf_rd64(tf, TF_REG(heartbeat));
	a.eq_prod_seq = tf_rd64(tf, TF_REG(eq_prod_seq));
	a.eq_ack_seq = READ_ONCE(tf->eq.ack_seq);
	a.eq_freed_seq = tf_rd64(tf, TF_REG(eq_freed_seq));
	a.eq_full_count = tf_rd64(tf, TF_REG(eq_full_count));
	a.read_seq = max(READ_ONCE(f->cursor), a.eq_ack_seq + 1);
	a.resets = atomic64_read(&tf->cnt.resets);
	a.admin_cmds = atomic64_read(&tf->cnt.admin_cmds);
	a.admin_timeouts = atomic64_read(&tf->cnt.admin_timeouts);
	a.admin_bad_cqe = atomic64_read(&tf->cnt.admin_bad_cqe);
	a.events_read = atomic64_read(&tf->cnt.events_read);
	a.events_bad = atomic64_read(&tf->cnt.events_bad);
	a.irqs = atomic64_read(&tf->cnt.irqs);
	a.boot_count = tf_rd32(tf, TF_REG(boot_count));
	a.bad_ack_count = tf_rd32(tf, TF_REG(bad_ack_count));
	a.aq_error_count = tf_rd32(tf, TF_REG(aq_error_count));
	return tf_arg_out(arg, &a, sizeof(a), usize);
}

static long tf_ioc_admin(struct tf_file *f, unsigned long arg)
{
	struct tf_dev *tf = f->tf;
	struct tokfab_admin a;
	struct tf_aq_cqe *cqe = NULL;
	u32 usize, req_size, resp_size, len;
	void *req = NULL;
	int ret;

	if (!f->admin)
		return -EPERM;
	ret = tf_arg_in(&a, sizeof(a), sizeof(a), arg, &usize);
	if (ret)
		return ret;
	if (a.flags || a.reserved0 || a.reserved1 || a.timeout_ms > TOKFAB_ADMIN_TIMEOUT_MAX_MS ||
	    a.req_len > TF_AQ_PAYLOAD_MAX)
		return -EINVAL;
	req = kzalloc(TF_AQ_PAYLOAD_MAX, GFP_KERNEL);
	cqe = kmalloc(sizeof(*cqe), GFP_KERNEL);
	if (!req || !cqe) {
		ret = -ENOMEM;
		goto out;
	}
	if (a.req_len && copy_from_user(req, u64_to_user_ptr(a.req_ptr), a.req_len)) {
		ret = -EFAULT;
		goto out;
	}
	ret = tf_aq_request_sizes(a.opcode, req, &req_size, &resp_size);
	if (ret || a.req_len != req_size) {
		ret = -EINVAL;
		goto out;
	}
	if (a.resp_len < resp_size) {
		ret = -ENOSPC;
		goto out;
	}
	ret = tf_aq_exec(tf, a.opcode, req, a.req_len, cqe, a.timeout_ms);
	if (ret)
		goto out;
	len = le32_to_cpu(cqe->len); /* checked: 0 or resp_size */
	if (len && copy_to_user(u64_to_user_ptr(a.resp_ptr), cqe->payload, len)) {
		ret = -EFAULT;
		goto out;
	}
	a.resp_len = len;
	a.status = le16_to_cpu(cqe->status);
	a.detail = le32_to_cpu(cqe->detail);
	ret = tf_arg_out(arg, &a, sizeof(a), usize);
out:
	kfree(cqe);
	kfree(req);
	return ret;
}

static long tf_ioc_event_ack(struct tf_file *f, unsigned long arg)
{
	struct tokfab_event_ack a;
	u32 usize;
	int ret;

	if (!f->admin)
		return -EPERM;
	ret = tf_arg_in(&a, sizeof(a), sizeof(a), arg, &usize);
	if (ret)
		return ret;
	if (a.flags)
		return -EINVAL;
	return tf_eq_ack(f->tf, a.seq, READ_ONCE(f->cursor));
}

static long tf_ioc_event_seek(struct tf_file *f, unsigned long arg)
{
	struct tf_dev *tf = f->tf;
	struct tokfab_event_seek a;
	u64 ack, prod;
	u32 usize;
	int ret;

	if (!f->admin)
		return -EPERM;
	ret = tf_arg_in(&a, sizeof(a), sizeof(a), arg, &usize);
	if (ret)
		return ret;
	ack = READ_ONCE(tf->eq.ack_seq);
	prod = tf_rd64(tf, TF_REG(eq_prod_seq));
	switch (a.whence) {
	case TOKFAB_SEEK_ACKED:
		if (a.seq)
			return -EINVAL;
		a.seq = ack + 1;
		break;
	case TOKFAB_SEEK_SET:
		if (a.seq <= ack || a.seq > prod + 1)
			return -ERANGE;
		break;
	default:
		return -EINVAL;
	}
	mutex_lock(&f->lock);
	f->cursor = a.seq;
	mutex_unlock(&f->lock);
	return 0;
}

static long tf_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct tf_file *f = file->private_data;
	struct tf_dev *tf = f->tf;
	long ret;

	if (_IOC_TYPE(cmd) != TOKFAB_IOC_MAGIC)
		return -ENOTTY;
	down_read(&tf->gone_sem);
	if (tf_gone(tf)) {
		ret = -ENODEV;
		goto out;
	}
	/* Dispatch on the number: the size in cmd is the caller's (uapi "Conventions"). */
	switch (_IOC_NR(cmd)) {
	case _IOC_NR(TOKFAB_IOC_GET_FEATURES):
		ret = tf_ioc_features(tf, arg);
		break;
	case _IOC_NR(TOKFAB_IOC_IDENTITY):
		ret = tf_ioc_identity(tf, arg);
		break;
	case _IOC_NR(TOKFAB_IOC_STATUS):
		ret = tf_ioc_status(f, arg);
		break;
	case _IOC_NR(TOKFAB_IOC_ADMIN):
		ret = tf_ioc_admin(f, arg);
		break;
	case _IOC_NR(TOKFAB_IOC_EVENT_ACK):
		ret = tf_ioc_event_ack(f, arg);
		break;
	case _IOC_NR(TOKFAB_IOC_EVENT_SEEK):
		ret = tf_ioc_event_seek(f, arg);
		break;
	case _IOC_NR(TOKFAB_IOC_RESET):
		ret = f->admin ? tf_dev_reset(tf) : -EPERM;
		break;
	case _IOC_NR(TOKFAB_IOC_HQ_CREATE):
		ret = tf_hq_create(f, arg);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
out:
	up_read(&tf->gone_sem);
	return ret;
}

static ssize_t tf_read(struct file *file, char __user *buf, size_t len, loff_t *ppos)
{
	struct tf_file *f = file->private_data;
	struct tf_dev *tf = f->tf;
	ssize_t ret;

	if (mutex_lock_interruptible(&f->lock))
		return -ERESTARTSYS;
	down_read(&tf->gone_sem);
	if (tf_gone(tf))
		ret = -ENODEV;
	else if (f->hq >= 0)
		ret = -EINVAL; /* a host-queue fd carries no events */
	else
		ret = tf_eq_read(tf, &f->cursor, f->admin, buf, len, file->f_flags & O_NONBLOCK);
	up_read(&tf->gone_sem);
	mutex_unlock(&f->lock);
	return ret;
}

static __poll_t tf_poll(struct file *file, struct poll_table_struct *wait)
{
	struct tf_file *f = file->private_data;
	struct tf_dev *tf = f->tf;
	__poll_t mask = 0;

	if (f->hq >= 0)
		return tf_hq_poll(f, wait);
	poll_wait(file, &tf->eq.wq, wait);
	down_read(&tf->gone_sem);
	if (tf_gone(tf)) {
		mask = EPOLLHUP | EPOLLERR;
		goto out;
	}
	if (tf_eq_readable(tf, READ_ONCE(f->cursor)))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (tf_state(tf) == TOKFAB_STATE_FAILED)
		mask |= EPOLLERR;
out:
	up_read(&tf->gone_sem);
	return mask;
}

static int tf_open(struct inode *inode, struct file *file)
{
	struct tf_dev *tf = container_of(inode->i_cdev, struct tf_dev, cdev);
	struct tf_file *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	down_read(&tf->gone_sem);
	if (tf_gone(tf)) {
		up_read(&tf->gone_sem);
		kfree(f);
		return -ENODEV;
	}
	get_device(&tf->cdev_dev);
	f->tf = tf;
	f->file = file;
	f->hq = -1;
	INIT_LIST_HEAD(&f->hq_node);
	mutex_init(&f->lock);
	f->admin = capable(CAP_NET_ADMIN) || in_group_p(inode->i_gid);
	f->cursor = tf_eq_start_seq(tf);
	up_read(&tf->gone_sem);
	file->private_data = f;
	return stream_open(inode, file);
}

static int tf_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct tf_file *f = file->private_data;
	int ret;

	down_read(&f->tf->gone_sem);
	ret = tf_gone(f->tf) ? -ENODEV : tf_hq_mmap(f, vma);
	up_read(&f->tf->gone_sem);
	return ret;
}

static int tf_release(struct inode *inode, struct file *file)
{
	struct tf_file *f = file->private_data;

	tf_hq_release(f);
	put_device(&f->tf->cdev_dev);
	kfree(f);
	return 0;
}

static const struct file_operations tf_fops = {
	.owner = THIS_MODULE,
	.open = tf_open,
	.release = tf_release,
	.read = tf_read,
	.poll = tf_poll,
	.mmap = tf_mmap,
	.unlocked_ioctl = tf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

/* ------------------------------------------------------ device lifetime */

static void tf_dev_release(struct device *dev)
{
	struct tf_dev *tf = container_of(dev, struct tf_dev, cdev_dev);

	if (tf->minor >= 0)
		ida_free(&tf_minors, tf->minor);
	pci_dev_put(tf->pdev);
	kfree(tf);
}

int tf_chrdev_add(struct tf_dev *tf)
{
	int minor;

	minor = ida_alloc_max(&tf_minors, TF_MAX_CARDS - 1, GFP_KERNEL);
	if (minor < 0)
		return minor;
	tf->minor = minor;
	pci_dev_get(tf->pdev);
	device_initialize(&tf->cdev_dev);
	tf->cdev_dev.class = tf_class;
	tf->cdev_dev.parent = &tf->pdev->dev;
	tf->cdev_dev.devt = MKDEV(MAJOR(tf_devt), minor);
	tf->cdev_dev.groups = tf_sysfs_groups;
	tf->cdev_dev.release = tf_dev_release;
	cdev_init(&tf->cdev, &tf_fops);
	tf->cdev.owner = THIS_MODULE;
	return dev_set_name(&tf->cdev_dev, TOKFAB_DEV_PREFIX "%d", minor);
}

int tf_chrdev_register(struct tf_dev *tf)
{
	return cdev_device_add(&tf->cdev, &tf->cdev_dev);
}

void tf_chrdev_del(struct tf_dev *tf)
{
	cdev_device_del(&tf->cdev, &tf->cdev_dev);
}

void tf_chrdev_put(struct tf_dev *tf)
{
	put_device(&tf->cdev_dev);
}

/*
 * Anyone may open read-only (health events, identity); admin rights are
 * checked per call; the group may open read-write (host queues need it).
 */
static char *tf_devnode(struct device *dev, umode_t *mode)
{
	if (mode)
		*mode = 0664;
	return NULL;
}

int tf_chrdev_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&tf_devt, 0, TF_MAX_CARDS, TF_DRV_NAME);
	if (ret)
		return ret;
	tf_class = class_create(THIS_MODULE, TF_DRV_NAME);
	if (IS_ERR(tf_class)) {
		unregister_chrdev_region(tf_devt, TF_MAX_CARDS);
		return PTR_ERR(tf_class);
	}
	tf_class->devnode = tf_devnode;
	return 0;
}

void tf_chrdev_exit(void)
{
	class_destroy(tf_class);
	unregister_chrdev_region(tf_devt, TF_MAX_CARDS);
	ida_destroy(&tf_minors);
}
