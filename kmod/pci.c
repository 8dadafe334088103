// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: PCI probe and remove, BAR mapping and layout checks, MSI-X with
 * a polling fallback, the reset handshake and the card's state machine.
 *
 *   INIT --probe ok--> RUNNING --heartbeat frozen / admin timeout / card
 *   FAILED / bad index / magic gone / card restarted--> FAILED
 *   RUNNING|FAILED --reset (sysfs, devlink, ioctl)--> RESETTING --> RUNNING|FAILED
 *   any --remove--> GONE
 */
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/string.h>

#include "tf_dev.h"

static bool ivshmem;
module_param(ivshmem, bool, 0444);
MODULE_PARM_DESC(ivshmem, "also bind QEMU ivshmem-doorbell (1af4:1110) with a tokfab BAR");

static bool poll_only;
module_param(poll_only, bool, 0444);
MODULE_PARM_DESC(poll_only, "do not use MSI-X: poll the queue indexes");

unsigned int tf_admin_timeout_ms = 5000;
module_param_named(admin_timeout_ms, tf_admin_timeout_ms, uint, 0644);
MODULE_PARM_DESC(admin_timeout_ms, "default admin command timeout, ms (default 5000)");

unsigned int tf_hb_timeout_ms;
module_param_named(hb_timeout_ms, tf_hb_timeout_ms, uint, 0644);
MODULE_PARM_DESC(hb_timeout_ms, "heartbeat frozen this long = card down, ms (0: 3 x hb_period_ms)");

unsigned int tf_reset_timeout_ms = 10000;
module_param_named(reset_timeout_ms, tf_reset_timeout_ms, uint, 0644);
MODULE_PARM_DESC(reset_timeout_ms,
		 "time allowed for each step of the reset handshake, ms (default 10000)");

static unsigned int probe_wait_ms = 5000;
module_param(probe_wait_ms, uint, 0444);
MODULE_PARM_DESC(probe_wait_ms,
		 "how long probe waits for the card to publish its magic, ms (default 5000)");

bool tf_auto_recover;
module_param_named(auto_recover, tf_auto_recover, bool, 0644);
MODULE_PARM_DESC(auto_recover, "devlink health resets the card right after a failure (default 0)");

/* Host feature bits this driver knows how to use. */
#define TF_HOST_FEATURES (TF_FEAT_HEALTH_EVENTS | TF_FEAT_FW_ACTIVATE | TF_FEAT_IVSHMEM_DOORBELL)

static const char *const state_names[] = {
	[TOKFAB_STATE_INIT] = "init",	  [TOKFAB_STATE_RUNNING] = "running",
	[TOKFAB_STATE_FAILED] = "failed", [TOKFAB_STATE_RESETTING] = "resetting",
	[TOKFAB_STATE_GONE] = "gone",
};

static const char *const fail_names[] = {
	[TOKFAB_FAIL_NONE] = "none",
	[TOKFAB_FAIL_HEARTBEAT] = "heartbeat",
	[TOKFAB_FAIL_ADMIN_TIMEOUT] = "admin_timeout",
	[TOKFAB_FAIL_CARD] = "card_failed",
	[TOKFAB_FAIL_PROTOCOL] = "protocol",
	[TOKFAB_FAIL_MAGIC] = "magic",
	[TOKFAB_FAIL_RESET] = "reset",
	[TOKFAB_FAIL_RESTARTED] = "restarted",
};

const char *tf_state_name(enum tokfab_state state)
{
	return (unsigned int)state < ARRAY_SIZE(state_names) ? state_names[state] : "?";
}

const char *tf_fail_name(enum tokfab_fail_reason why)
{
	return (unsigned int)why < ARRAY_SIZE(fail_names) ? fail_names[why] : "?";
}

/* ---------------------------------------------------------------- hw ops */

static int tf_native_map(struct tf_dev *tf)
{
	struct pci_dev *pdev = tf->pdev;

	tf->bar_len = pci_resource_len(pdev, 0);
	tf->bar_phys = pci_resource_start(pdev, 0);
	tf->bar = pcim_iomap(pdev, 0, 0);
	return tf->bar ? 0 : -ENOMEM;
}

/* On the card itself writing aq_sq_tail / eq_ack_seq is the doorbell. */
static void tf_native_ring(struct tf_dev *tf, unsigned int vector)
{
}

const struct tf_hw_ops tf_hw_native = {
	.name = "native",
	.map = tf_native_map,
	.ring = tf_native_ring,
};

static int tf_ivshmem_map(struct tf_dev *tf)
{
	struct pci_dev *pdev = tf->pdev;

	if (pci_resource_len(pdev, 0) < TF_IVSHMEM_REG_DOORBELL + 4 ||
	    !(pci_resource_flags(pdev, 2) & IORESOURCE_MEM))
		return -ENODEV;
	tf->regs0 = pcim_iomap(pdev, 0, 0);
	if (!tf->regs0)
		return -ENOMEM;
	tf->bar_len = pci_resource_len(pdev, 2);
	tf->bar_phys = pci_resource_start(pdev, 2);
	tf->bar = pcim_iomap(pdev, 2, 0);
	return tf->bar ? 0 : -ENOMEM;
}

static void tf_ivshmem_ring(struct tf_dev *tf, unsigned int vector)
{
	/* The index the card will read must be visible before the doorbell. */
	wmb();
	writel((TF_IVSHMEM_CARD_PEER << 16) | vector, tf->regs0 + TF_IVSHMEM_REG_DOORBELL);
}

const struct tf_hw_ops tf_hw_ivshmem = {
	.name = "ivshmem",
	.map = tf_ivshmem_map,
	.ring = tf_ivshmem_ring,
};

/* ---------------------------------------------------------------- layout */

static void tf_copy_name(char *dst, const void __iomem *src)
{
	memcpy_fromio(dst, src, TF_NAME_LEN);
	dst[TF_NAME_LEN - 1] = 0;
}

static bool tf_name_ok(const char *s)
{
	size_t i, n = strnlen(s, TF_NAME_LEN);

	if (n == 0 || n >= TF_NAME_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static bool tf_queue_ok(const struct tf_layout *l, u64 off, u64 depth, u64 stride, u64 *end)
{
	*end = off + depth * stride;
	return off >= TF_BAR_REGS_SIZE && IS_ALIGNED(off, 64) && *end <= l->bar_size;
}

static bool tf_overlap(u64 a, u64 a_end, u64 b, u64 b_end)
{
	return a < b_end && b < a_end;
}

/* Waits for the magic, checks the ABI version and every layout rule of registers.md. */
static int tf_read_layout(struct tf_dev *tf, unsigned int wait_ms)
{
	struct device *dev = &tf->pdev->dev;
	struct tf_layout *l = &tf->lay;
	unsigned long deadline = jiffies + msecs_to_jiffies(wait_ms);
	u64 sq_end, cq_end, eq_end;
	u32 magic;

	while ((magic = tf_rd32(tf, TF_REG(magic))) == 0 && time_before(jiffies, deadline))
		msleep(20);
	if (magic != TF_BAR_MAGIC) {
		dev_err(dev, "no tokfab card in this BAR (magic %#x, expected %#x)%s\n", magic,
			TF_BAR_MAGIC, magic ? "" : ": is the card process running?");
		return -ENODEV;
	}
	rmb(); /* magic is written last by the card (release) */
	l->abi_version = tf_rd32(tf, TF_REG(abi_version));
	if (TF_ABI_VERSION_MAJOR(l->abi_version) != TF_ABI_MAJOR) {
		dev_err(dev,
			"card ABI %u.%u is not supported: this driver speaks ABI %u.x; update tokfab.ko or the card firmware\n",
			TF_ABI_VERSION_MAJOR(l->abi_version), TF_ABI_VERSION_MINOR(l->abi_version),
			TF_ABI_MAJOR);
		return -EPROTONOSUPPORT;
	}
	l->bar_size = tf_rd32(tf, TF_REG(bar_size));
	l->card_features = tf_rd64(tf, TF_REG(card_features));
	l->epoch = tf_rd64(tf, TF_REG(epoch));
	l->vendor_id = readw(tf->bar + TF_REG(vendor_id));
	l->device_id = readw(tf->bar + TF_REG(device_id));
	l->fw_version = tf_rd32(tf, TF_REG(fw_version));
	l->aq_depth = tf_rd32(tf, TF_REG(aq_depth));
	l->eq_depth = tf_rd32(tf, TF_REG(eq_depth));
	l->aq_sqe_size = tf_rd32(tf, TF_REG(aq_sqe_size));
	l->aq_cqe_size = tf_rd32(tf, TF_REG(aq_cqe_size));
	l->eq_entry_size = tf_rd32(tf, TF_REG(eq_entry_size));
	l->hb_period_ms = tf_rd32(tf, TF_REG(hb_period_ms));
	l->aq_sq_off = tf_rd64(tf, TF_REG(aq_sq_off));
	l->aq_cq_off = tf_rd64(tf, TF_REG(aq_cq_off));
	l->eq_off = tf_rd64(tf, TF_REG(eq_off));
	l->max_tenants = tf_rd32(tf, TF_REG(max_tenants));
	l->max_models = tf_rd32(tf, TF_REG(max_models));
	l->max_accels = tf_rd32(tf, TF_REG(max_accels));
	tf_copy_name(l->serial, tf->bar + TF_REG(serial));
	tf_copy_name(l->fw_version_str, tf->bar + TF_REG(fw_version_str));

	if (!is_power_of_2(l->bar_size) || l->bar_size < 2 * TF_BAR_REGS_SIZE ||
	    l->bar_size > tf->bar_len || tf_rd32(tf, TF_REG(regs_size)) != TF_BAR_REGS_SIZE) {
		dev_err(dev, "card BAR size %u does not fit the PCI BAR (%llu bytes)\n",
			l->bar_size, (u64)tf->bar_len);
		return -EINVAL;
	}
	if (!is_power_of_2(l->aq_depth) || l->aq_depth < TF_AQ_DEPTH_MIN ||
	    l->aq_depth > TF_AQ_DEPTH_MAX || !is_power_of_2(l->eq_depth) ||
	    l->eq_depth < TF_EQ_DEPTH_MIN || l->eq_depth > TF_EQ_DEPTH_MAX ||
	    l->aq_sqe_size < sizeof(struct tf_aq_sqe) ||
	    l->aq_cqe_size < sizeof(struct tf_aq_cqe) ||
	    l->eq_entry_size < sizeof(struct tf_eq_entry) || l->aq_sqe_size % 64 ||
	    l->aq_cqe_size % 64 || l->eq_entry_size % 64 || l->aq_sqe_size > 4096 ||
	    l->aq_cqe_size > 4096 || l->eq_entry_size > 4096) {
		dev_err(dev, "card queue geometry is invalid (aq %u x %u/%u, eq %u x %u)\n",
			l->aq_depth, l->aq_sqe_size, l->aq_cqe_size, l->eq_depth, l->eq_entry_size);
		return -EINVAL;
	}
	if (!tf_queue_ok(l, l->aq_sq_off, l->aq_depth, l->aq_sqe_size, &sq_end) ||
	    !tf_queue_ok(l, l->aq_cq_off, l->aq_depth, l->aq_cqe_size, &cq_end) ||
	    !tf_queue_ok(l, l->eq_off, l->eq_depth, l->eq_entry_size, &eq_end) ||
	    tf_overlap(l->aq_sq_off, sq_end, l->aq_cq_off, cq_end) ||
	    tf_overlap(l->aq_sq_off, sq_end, l->eq_off, eq_end) ||
	    tf_overlap(l->aq_cq_off, cq_end, l->eq_off, eq_end)) {
		dev_err(dev,
			"card queue offsets are invalid (sq %#llx cq %#llx eq %#llx, BAR %u)\n",
			l->aq_sq_off, l->aq_cq_off, l->eq_off, l->bar_size);
		return -EINVAL;
	}
	if (l->hb_period_ms < 1 || l->hb_period_ms > 60000 || !tf_name_ok(l->serial) || !l->epoch) {
		dev_err(dev, "card identity is invalid (hb_period %u ms, serial, epoch)\n",
			l->hb_period_ms);
		return -EINVAL;
	}
	if (!tf_name_ok(l->fw_version_str))
		strscpy(l->fw_version_str, "unknown", sizeof(l->fw_version_str));
	return 0;
}

/* ------------------------------------------------------- state machine */

void tf_dev_fail(struct tf_dev *tf, enum tokfab_fail_reason why)
{
	unsigned long flags;
	bool changed = false;

	spin_lock_irqsave(&tf->state_lock, flags);
	if (tf->state == TOKFAB_STATE_RUNNING) {
		tf->state = TOKFAB_STATE_FAILED;
		tf->fail_reason = why;
		changed = true;
	}
	spin_unlock_irqrestore(&tf->state_lock, flags);
	if (!changed)
		return;
	dev_err(&tf->pdev->dev,
		"card %s failed: %s; reset it through sysfs (echo 1 > reset) or devlink health recover\n",
		tf->lay.serial, tf_fail_name(why));
	tf_aq_abort_all(tf);
	tf_eq_kick(tf);
	switch (why) {
	case TOKFAB_FAIL_ADMIN_TIMEOUT:
	case TOKFAB_FAIL_PROTOCOL:
		tf_health_report(tf, TF_HEALTH_ADMIN);
		break;
	default:
		tf_health_report(tf, TF_HEALTH_HEARTBEAT);
		break;
	}
}

static void tf_set_state(struct tf_dev *tf, enum tokfab_state state, enum tokfab_fail_reason why)
{
	unsigned long flags;

	spin_lock_irqsave(&tf->state_lock, flags);
	if (tf->state != TOKFAB_STATE_GONE) {
		tf->state = state;
		tf->fail_reason = why;
	}
	spin_unlock_irqrestore(&tf->state_lock, flags);
}

/*
 * The host asked the card to restart (devlink reload): until the reset
 * handshake that follows, the silence is expected and nothing is reported.
 */
void tf_dev_expect_restart(struct tf_dev *tf)
{
	tf_set_state(tf, TOKFAB_STATE_RESETTING, TOKFAB_FAIL_NONE);
	tf_aq_abort_all(tf);
}

/* Polls until (status & mask) == want; returns 0, -ETIMEDOUT, or -EIO when FAILED shows. */
static int tf_wait_status(struct tf_dev *tf, u32 mask, u32 want, bool fail_on_failed)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(tf_reset_timeout_ms);
	u32 st;

	for (;;) {
		st = tf_rd32(tf, TF_REG(status));
		if ((st & mask) == want)
			return 0;
		if (fail_on_failed && (st & TF_STATUS_FAILED))
			return -EIO;
		if (tf_state(tf) == TOKFAB_STATE_GONE)
			return -ENODEV;
		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		usleep_range(500, 2000);
	}
}

/*
 * The reset handshake of registers.md. Called at probe and to recover. The
 * event queue is not touched: unacknowledged events survive.
 */
static int tf_dev_reset_locked(struct tf_dev *tf)
{
	struct device *dev = &tf->pdev->dev;
	u64 host_features;
	int ret;

	lockdep_assert_held(&tf->reset_lock);
	if (tf_state(tf) == TOKFAB_STATE_GONE)
		return -ENODEV;
	tf_set_state(tf, TOKFAB_STATE_RESETTING, TOKFAB_FAIL_NONE);
	tf_aq_abort_all(tf);
	tf_eq_kick(tf);

	ret = tf_read_layout(tf, tf_reset_timeout_ms);
	if (ret)
		goto failed;
	tf->boot_count = tf_rd32(tf, TF_REG(boot_count));

	tf_wr32(tf, TF_REG(control), 0);
	tf->hw->ring(tf, TF_VEC_ADMIN);
	ret = tf_wait_status(tf, TF_STATUS_DISABLED | TF_STATUS_READY | TF_STATUS_FAILED,
			     TF_STATUS_DISABLED, false);
	if (ret) {
		dev_err(dev,
			"reset: the card did not acknowledge the disable within %u ms (status %#x): is the card process running?\n",
			tf_reset_timeout_ms, tf_rd32(tf, TF_REG(status)));
		goto failed;
	}
	tf_aq_restart(tf);
	tf_wr32(tf, TF_REG(aq_sq_tail), 0);
	tf_wr32(tf, TF_REG(aq_cq_head), 0);
	host_features = tf->lay.card_features & TF_HOST_FEATURES;
	if (tf->hw != &tf_hw_ivshmem)
		host_features &= ~TF_FEAT_IVSHMEM_DOORBELL;
	tf_wr64(tf, TF_REG(host_features), host_features);
	wmb(); /* indexes and features before ENABLE */
	tf_wr32(tf, TF_REG(control), TF_CONTROL_ENABLE);
	tf->hw->ring(tf, TF_VEC_ADMIN);
	ret = tf_wait_status(tf, TF_STATUS_READY, TF_STATUS_READY, true);
	if (ret) {
		tf->card_fail_reason = tf_rd32(tf, TF_REG(fail_reason));
		dev_err(dev, "reset: the card did not become READY (%s, card fail_reason %u)\n",
			ret == -EIO ? "it reported FAILED" : "timeout", tf->card_fail_reason);
		goto failed;
	}
	tf->hb_last = tf_rd64(tf, TF_REG(heartbeat));
	tf->hb_changed = jiffies;
	tf->card_fail_reason = 0;
	tf_set_state(tf, TOKFAB_STATE_RUNNING, TOKFAB_FAIL_NONE);

	ret = tf_aq_identify(tf);
	if (ret) {
		dev_err(dev, "reset: IDENTIFY failed (%d)\n", ret);
		goto failed;
	}
	atomic64_inc(&tf->cnt.resets);
	tf_health_clear(tf);
	tf_eq_kick(tf);
	dev_info(dev, "card %s up: ABI %u.%u, firmware %s, admin queue %u, event queue %u, %s\n",
		 tf->lay.serial, TF_ABI_VERSION_MAJOR(tf->lay.abi_version),
		 TF_ABI_VERSION_MINOR(tf->lay.abi_version), tf->lay.fw_version_str,
		 tf->lay.aq_depth, tf->lay.eq_depth, tf->polling ? "polling" : "MSI-X");
	return 0;
failed:
	tf_set_state(tf, TOKFAB_STATE_FAILED, TOKFAB_FAIL_RESET);
	tf_aq_abort_all(tf);
	tf_eq_kick(tf);
	return ret;
}

int tf_dev_reset(struct tf_dev *tf)
{
	int ret;

	mutex_lock(&tf->reset_lock);
	ret = tf_dev_reset_locked(tf);
	mutex_unlock(&tf->reset_lock);
	return ret;
}

/*
 * After a restart the driver asked for (devlink reload): the reset handshake,
 * unless one already ran for this boot of the card. tokfabd resets a card it
 * sees restarted and then configures it; a second handshake would abort that.
 */
int tf_dev_reset_restarted(struct tf_dev *tf)
{
	int ret = 0;

	mutex_lock(&tf->reset_lock);
	if (tf_state(tf) != TOKFAB_STATE_RUNNING ||
	    tf->boot_count != tf_rd32(tf, TF_REG(boot_count)))
		ret = tf_dev_reset_locked(tf);
	mutex_unlock(&tf->reset_lock);
	return ret;
}

static void tf_reset_work(struct work_struct *work)
{
	struct tf_dev *tf = container_of(work, struct tf_dev, reset_work);

	dev_info(&tf->pdev->dev,
		 "card restarted (boot_count changed): resetting the admin queue\n");
	tf_dev_reset(tf);
}

/* ------------------------------------------------------------ interrupts */

static irqreturn_t tf_irq_admin(int irq, void *data)
{
	struct tf_dev *tf = data;

	atomic64_inc(&tf->cnt.irqs);
	tf_aq_reap(tf);
	return IRQ_HANDLED;
}

static irqreturn_t tf_irq_events(int irq, void *data)
{
	struct tf_dev *tf = data;

	atomic64_inc(&tf->cnt.irqs);
	tf_eq_kick(tf);
	return IRQ_HANDLED;
}

static irqreturn_t tf_irq_hostq(int irq, void *data)
{
	struct tf_dev *tf = data;

	atomic64_inc(&tf->cnt.irqs);
	tf_hq_kick(tf);
	return IRQ_HANDLED;
}

static void tf_poll_work(struct work_struct *work)
{
	struct tf_dev *tf = container_of(to_delayed_work(work), struct tf_dev, poller);

	tf_aq_reap(tf);
	if (tf_rd64(tf, TF_REG(eq_prod_seq)) != READ_ONCE(tf->eq.seen_prod))
		tf_eq_kick(tf);
	if (tf->hq_count)
		tf_hq_kick(tf);
	schedule_delayed_work(&tf->poller, 1);
}

static int tf_irq_setup(struct tf_dev *tf)
{
	struct pci_dev *pdev = tf->pdev;
	int ret;

	tf->polling = true;
	if (poll_only)
		return 0;
	ret = pci_alloc_irq_vectors(pdev, TF_VEC_COUNT, TF_VEC_COUNT, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_info(&pdev->dev, "no %u MSI-X vectors (%d): polling the queues\n", TF_VEC_COUNT,
			 ret);
		return 0;
	}
	tf->nvec = ret;
	ret = request_irq(pci_irq_vector(pdev, TF_VEC_ADMIN), tf_irq_admin, 0, "tokfab-admin", tf);
	if (ret)
		goto err_vectors;
	ret = request_irq(pci_irq_vector(pdev, TF_VEC_EVENTS), tf_irq_events, 0, "tokfab-events",
			  tf);
	if (ret)
		goto err_admin;
	ret = request_irq(pci_irq_vector(pdev, TF_VEC_HOSTQ), tf_irq_hostq, 0, "tokfab-hostq", tf);
	if (ret)
		goto err_events;
	tf->polling = false;
	return 0;

err_events:
	free_irq(pci_irq_vector(pdev, TF_VEC_EVENTS), tf);
err_admin:
	free_irq(pci_irq_vector(pdev, TF_VEC_ADMIN), tf);
err_vectors:
	pci_free_irq_vectors(pdev);
	tf->nvec = 0;
	return ret;
}

static void tf_irq_teardown(struct tf_dev *tf)
{
	struct pci_dev *pdev = tf->pdev;

	if (!tf->nvec)
		return;
	free_irq(pci_irq_vector(pdev, TF_VEC_HOSTQ), tf);
	free_irq(pci_irq_vector(pdev, TF_VEC_EVENTS), tf);
	free_irq(pci_irq_vector(pdev, TF_VEC_ADMIN), tf);
	pci_free_irq_vectors(pdev);
	tf->nvec = 0;
}

/* ------------------------------------------------------------ probe/remove */

static int tf_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	const struct tf_hw_ops *hw = (const struct tf_hw_ops *)id->driver_data;
	struct tf_dev *tf;
	int ret;

	if (hw == &tf_hw_ivshmem && !ivshmem)
		return -ENODEV;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	pci_set_master(pdev);

	tf = kzalloc(sizeof(*tf), GFP_KERNEL);
	if (!tf)
		return -ENOMEM;
	tf->pdev = pdev;
	tf->hw = hw;
	tf->minor = -1;
	tf->state = TOKFAB_STATE_INIT;
	init_rwsem(&tf->gone_sem);
	spin_lock_init(&tf->state_lock);
	mutex_init(&tf->reset_lock);
	INIT_DELAYED_WORK(&tf->watchdog, tf_watchdog_work);
	INIT_DELAYED_WORK(&tf->poller, tf_poll_work);
	INIT_WORK(&tf->health_work, tf_health_work);
	INIT_WORK(&tf->reset_work, tf_reset_work);
	tf_eq_init(tf);
	/* From here on the struct is freed by tf_chrdev_put(). */
	ret = tf_chrdev_add(tf);
	if (ret) {
		if (tf->minor < 0)
			kfree(tf);
		else
			tf_chrdev_put(tf);
		return ret;
	}

	ret = hw->map(tf);
	if (ret) {
		dev_err(&pdev->dev, "cannot map the card's BAR (%d)\n", ret);
		goto err_put;
	}
	ret = tf_read_layout(tf, probe_wait_ms);
	if (ret)
		goto err_put;
	ret = tf_aq_init(tf);
	if (ret)
		goto err_put;
	ret = tf_hq_setup(tf);
	if (ret)
		goto err_aq;
	tf->eq.ack_seq = tf_rd64(tf, TF_REG(eq_ack_seq));
	tf->eq.full_seen = tf_rd64(tf, TF_REG(eq_full_count));
	ret = tf_irq_setup(tf);
	if (ret)
		goto err_aq;
	ret = tf_devlink_create(tf);
	if (ret)
		goto err_irq;
	ret = tf_health_create(tf);
	if (ret)
		goto err_devlink;
	pci_set_drvdata(pdev, tf);

	ret = tf_dev_reset(tf);
	if (ret)
		dev_warn(&pdev->dev, "card not running (%d): reset it once the card is back\n",
			 ret);
	if (tf->polling)
		schedule_delayed_work(&tf->poller, 1);
	schedule_delayed_work(&tf->watchdog, msecs_to_jiffies(tf->lay.hb_period_ms));

	ret = tf_chrdev_register(tf);
	if (ret)
		goto err_work;
	tf_devlink_register(tf);
	return 0;

err_work:
	cancel_delayed_work_sync(&tf->watchdog);
	cancel_delayed_work_sync(&tf->poller);
	cancel_work_sync(&tf->reset_work);
	cancel_work_sync(&tf->health_work);
	tf_health_destroy(tf);
err_devlink:
	tf_devlink_destroy(tf);
err_irq:
	tf_irq_teardown(tf);
err_aq:
	tf_hq_remove(tf);
	tf_aq_fini(tf);
err_put:
	tf_chrdev_put(tf);
	return ret;
}

static void tf_remove(struct pci_dev *pdev)
{
	struct tf_dev *tf = pci_get_drvdata(pdev);

	tf_devlink_unregister(tf);
	tf_chrdev_del(tf); /* no new opens */
	/* Sleepers in read(), admin commands and resets see GONE and leave... */
	tf_set_state(tf, TOKFAB_STATE_GONE, TOKFAB_FAIL_NONE);
	tf_aq_abort_all(tf);
	tf_eq_kick(tf);
	tf_hq_kick(tf);
	/* ...so this waits only for calls in flight; later ones return -ENODEV. */
	down_write(&tf->gone_sem);
	tf->gone = true;
	up_write(&tf->gone_sem);
	tf_hq_remove(tf);

	mutex_lock(&tf->reset_lock); /* no reset in flight past this point */
	mutex_unlock(&tf->reset_lock);
	cancel_delayed_work_sync(&tf->watchdog);
	cancel_delayed_work_sync(&tf->poller);
	cancel_work_sync(&tf->reset_work);
	cancel_work_sync(&tf->health_work);
	tf_wr32(tf, TF_REG(control), 0); /* the card stops serving the admin queue */
	tf_health_destroy(tf);
	tf_devlink_destroy(tf);
	tf_irq_teardown(tf);
	tf_aq_fini(tf);
	pci_set_drvdata(pdev, NULL);
	tf_chrdev_put(tf);
}

static const struct pci_device_id tf_pci_ids[] = {
	{ PCI_DEVICE(TF_PCI_VENDOR_ID, TF_PCI_DEVICE_ID),
	  .driver_data = (kernel_ulong_t)&tf_hw_native },
	{ PCI_DEVICE(TF_IVSHMEM_VENDOR_ID, TF_IVSHMEM_DEVICE_ID),
	  .driver_data = (kernel_ulong_t)&tf_hw_ivshmem },
	{}
};
MODULE_DEVICE_TABLE(pci, tf_pci_ids);

static struct pci_driver tf_pci_driver = {
	.name = TF_DRV_NAME,
	.id_table = tf_pci_ids,
	.probe = tf_probe,
	.remove = tf_remove,
};

static int __init tf_init(void)
{
	int ret;

	ret = tf_chrdev_init();
	if (ret)
		return ret;
	ret = pci_register_driver(&tf_pci_driver);
	if (ret)
		tf_chrdev_exit();
	return ret;
}

static void __exit tf_exit(void)
{
	pci_unregister_driver(&tf_pci_driver);
	tf_chrdev_exit();
}

module_init(tf_init);
module_exit(tf_exit);
MODULE_DESCRIPTION("tokfab AI-NIC host driver");
MODULE_AUTHOR("tokfab");
MODULE_LICENSE("Dual BSD/GPL");
