/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * tokfab.ko internals: one struct tf_dev per card, shared by the files of
 * the driver (one per feature). The card's BAR is hwdocs/registers.md and
 * hwdocs/queues.md; the userspace ABI is include/uapi/tokfab.h; how this
 * driver uses both is hwdocs/kmod.md.
 */
#ifndef TF_DEV_H
#define TF_DEV_H

#include <linux/atomic.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/io.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "tokfab/bar.h"
#include "tokfab/hostq.h"
#include "tokfab/ivshmem.h"
#include "uapi/tokfab.h"

#define TF_DRV_NAME "tokfab"
#define TF_MAX_CARDS 16
#define TF_AQ_MAX_SLOTS 64u /* admin commands in flight per card (<= aq_depth) */

struct tf_dev;
struct devlink;
struct devlink_health_reporter;

/*
 * How the card's BAR is reached and how the card is rung: one per kind of PCI
 * function (the card itself; QEMU's ivshmem-doorbell in the test tier).
 */
struct tf_hw_ops {
	const char *name;
	/* Maps the BAR: sets tf->bar and tf->bar_len (and private registers). */
	int (*map)(struct tf_dev *tf);
	/* Rings doorbell `vector` (enum tf_ivshmem_vector) after an index moved. */
	void (*ring)(struct tf_dev *tf, unsigned int vector);
};

extern const struct tf_hw_ops tf_hw_native;
extern const struct tf_hw_ops tf_hw_ivshmem;

/* The card's identity and queue layout, read once from the register block and checked. */
struct tf_layout {
	u32 abi_version;
	u32 fw_version;
	u32 bar_size;
	u32 aq_depth;
	u32 eq_depth;
	u32 aq_sqe_size;
	u32 aq_cqe_size;
	u32 eq_entry_size;
	u32 hb_period_ms;
	u16 vendor_id;
	u16 device_id;
	u32 max_tenants;
	u32 max_models;
	u32 max_accels;
	u64 aq_sq_off;
	u64 aq_cq_off;
	u64 eq_off;
	u64 card_features;
	u64 epoch;
	char serial[TF_NAME_LEN];
	char fw_version_str[TF_NAME_LEN];
};

/* One admin command in flight. */
struct tf_aq_slot {
	u32 seq; /* bumped at each use and at each reset: cmd_id = seq << 8 | tag */
	u32 cmd_id;
	u16 opcode;
	bool busy; /* owned: submitted, or its result not yet taken */
	bool waiting; /* a waiter will take the result (false: it gave up) */
	bool done; /* the result is in: cqe (result 0) or an error */
	int result; /* 0, -EIO (failed/reset), -EPROTO (bad completion) */
	u64 stats_scope; /* GET_STATS: scope of the request, for the size check */
	struct tf_aq_cqe *cqe; /* own allocation: slab-sized, leak checks see it */
};

struct tf_aq {
	spinlock_t lock; /* everything below; the SQ/CQ in the BAR */
	u32 sq_tail; /* host's copies of the host-written indexes */
	u32 cq_head;
	u32 nslots;
	struct tf_aq_slot *slots;
	wait_queue_head_t wq; /* completions and freed slots */
};

struct tf_eq {
	struct mutex ack_lock; /* serialises acknowledgments */
	u64 ack_seq; /* what this host last wrote to eq_ack_seq */
	u64 seen_prod; /* eq_prod_seq at the last wake-up */
	u64 bad_seq; /* sequence of an entry that failed the checks, 0 none */
	u64 full_seen; /* eq_full_count at the last watchdog tick */
	u64 stall_ack; /* ack_seq when the queue was last seen full */
	unsigned long stall_since; /* jiffies: full, nothing acknowledged since (0: not) */
	bool stall_reported; /* reported to devlink health; cleared by recover */
	wait_queue_head_t wq; /* readers and pollers */
};

struct tf_counters {
	atomic64_t resets;
	atomic64_t admin_cmds;
	atomic64_t admin_timeouts;
	atomic64_t admin_bad_cqe;
	atomic64_t admin_stray;
	atomic64_t events_read;
	atomic64_t events_bad;
	atomic64_t eq_overflows;
	atomic64_t irqs;
};

/* One open /dev/tokfabN. */
struct tf_file {
	struct tf_dev *tf;
	struct file *file;
	struct mutex lock; /* cursor */
	u64 cursor; /* next event sequence number read() returns */
	bool admin; /* CAP_NET_ADMIN or the node's group, at open */
	int hq; /* host queue window owned by this fd, -1: none (hostq.c) */
	u32 hq_gen; /* the window's gen of our activation */
	struct list_head hq_node; /* on tf->hq_files */
};

/* Host queue windows (hostq.c, include/tokfab/hostq.h). */
struct tf_hq_win {
	struct tf_file *owner; /* NULL: free (once the card acknowledged the release) */
};

/* What a devlink health report is about (the reporters in health.c). */
enum tf_health_kind {
	TF_HEALTH_HEARTBEAT,
	TF_HEALTH_ADMIN,
	TF_HEALTH_EVENTS,
	TF_HEALTH_COUNT,
};

struct tf_dev {
	struct pci_dev *pdev;
	const struct tf_hw_ops *hw;
	void __iomem *bar; /* the card's BAR: register block and queues */
	void __iomem *regs0; /* ivshmem registers (NULL on the card itself) */
	resource_size_t bar_len;
	struct tf_layout lay;
	struct devlink *devlink;
	bool devlink_registered; /* health reports only go out while registered */

	/*
	 * Lifetime: this struct is freed when cdev_dev's last reference goes,
	 * which open files hold. Every file operation runs under gone_sem (read)
	 * and checks `gone`; remove sets it under the write lock, so nothing
	 * touches the BAR once the device is gone.
	 */
	struct rw_semaphore gone_sem;
	bool gone;

	spinlock_t state_lock; /* state and fail_reason transitions */
	enum tokfab_state state;
	enum tokfab_fail_reason fail_reason;
	u32 card_fail_reason;
	struct mutex reset_lock; /* one reset handshake at a time */

	bool polling; /* no MSI-X: poll the indexes */
	int nvec;
	struct delayed_work watchdog; /* heartbeat, status, boot_count */
	struct delayed_work poller; /* polling fallback for the indexes */
	struct work_struct health_work; /* devlink health reports (process context) */
	struct work_struct reset_work; /* reset after a card restart */
	unsigned long health_pending; /* bit per enum tf_health_kind */
	u64 hb_last;
	unsigned long hb_changed; /* jiffies when heartbeat last moved */
	u32 boot_count;
	u64 host_heartbeat;

	struct tf_aq aq;
	struct tf_eq eq;
	struct tf_counters cnt;

	/* Host queues: windows of the BAR handed to processes (hostq.c). */
	resource_size_t bar_phys; /* bus address of the BAR, for mmap */
	u64 hq_off;
	u32 hq_count; /* 0: the card has none */
	u32 hq_size;
	struct mutex hq_lock; /* windows and hq_files */
	struct tf_hq_win *hq;
	struct list_head hq_files; /* files owning a window, for removal */
	wait_queue_head_t hq_wq; /* completions */

	int minor;
	struct device cdev_dev; /* /dev/tokfabN and /sys/class/tokfab/tokfabN */
	struct cdev cdev;

	struct devlink_health_reporter *reporter[TF_HEALTH_COUNT];
};

/* Register access: offsets are struct tf_bar_regs fields. */
#define TF_REG(field) offsetof(struct tf_bar_regs, field)

static inline u32 tf_rd32(struct tf_dev *tf, size_t off)
{
	return readl(tf->bar + off);
}

static inline u64 tf_rd64(struct tf_dev *tf, size_t off)
{
	return readq(tf->bar + off);
}

static inline void tf_wr32(struct tf_dev *tf, size_t off, u32 val)
{
	writel(val, tf->bar + off);
}

static inline void tf_wr64(struct tf_dev *tf, size_t off, u64 val)
{
	writeq(val, tf->bar + off);
}

static inline enum tokfab_state tf_state(struct tf_dev *tf)
{
	return READ_ONCE(tf->state);
}

/* Removed, or being removed: file operations return -ENODEV. Under gone_sem. */
static inline bool tf_gone(struct tf_dev *tf)
{
	return tf->gone || tf_state(tf) == TOKFAB_STATE_GONE;
}

/* Module parameters (pci.c). */
extern unsigned int tf_admin_timeout_ms;
extern unsigned int tf_hb_timeout_ms;
extern unsigned int tf_reset_timeout_ms;
extern bool tf_auto_recover;

/* pci.c: state machine. */
void tf_dev_fail(struct tf_dev *tf, enum tokfab_fail_reason why);
int tf_dev_reset(struct tf_dev *tf);
int tf_dev_reset_restarted(struct tf_dev *tf);
void tf_dev_expect_restart(struct tf_dev *tf);
const char *tf_state_name(enum tokfab_state state);
const char *tf_fail_name(enum tokfab_fail_reason why);

/* admin.c */
int tf_aq_init(struct tf_dev *tf);
void tf_aq_fini(struct tf_dev *tf);
void tf_aq_reap(struct tf_dev *tf);
void tf_aq_abort_all(struct tf_dev *tf);
void tf_aq_restart(struct tf_dev *tf);
int tf_aq_request_sizes(u16 opcode, const void *req, u32 *req_size, u32 *resp_size);
int tf_aq_exec(struct tf_dev *tf, u16 opcode, const void *req, u32 req_len, struct tf_aq_cqe *cqe,
	       unsigned int timeout_ms);
int tf_aq_identify(struct tf_dev *tf);

/* events.c */
void tf_eq_init(struct tf_dev *tf);
void tf_eq_kick(struct tf_dev *tf);
int tf_eq_check_entry(const struct tf_eq_entry *e, u64 seq);
u64 tf_eq_start_seq(struct tf_dev *tf);
ssize_t tf_eq_read(struct tf_dev *tf, u64 *cursor, bool admin, char __user *buf, size_t len,
		   bool nonblock);
bool tf_eq_readable(struct tf_dev *tf, u64 cursor);
int tf_eq_ack(struct tf_dev *tf, u64 seq, u64 cursor);

/*
 * chrdev.c: tf_chrdev_add() initialises the device that owns struct tf_dev
 * (tf_chrdev_put() drops it), tf_chrdev_register() makes /dev/tokfabN appear,
 * tf_chrdev_del() makes it disappear (open files stay valid).
 */
int tf_chrdev_init(void);
void tf_chrdev_exit(void);
int tf_chrdev_add(struct tf_dev *tf);
int tf_chrdev_register(struct tf_dev *tf);
void tf_chrdev_del(struct tf_dev *tf);
void tf_chrdev_put(struct tf_dev *tf);

/* chrdev.c: size-prefixed ioctl arguments (uapi "Conventions"). */
int tf_arg_in(void *karg, size_t ksize, size_t minsize, unsigned long arg, u32 *usize);
int tf_arg_out(unsigned long arg, void *karg, size_t ksize, u32 usize);

/* hostq.c */
int tf_hq_setup(struct tf_dev *tf);
void tf_hq_remove(struct tf_dev *tf);
void tf_hq_kick(struct tf_dev *tf);
long tf_hq_create(struct tf_file *f, unsigned long arg);
int tf_hq_mmap(struct tf_file *f, struct vm_area_struct *vma);
__poll_t tf_hq_poll(struct tf_file *f, struct poll_table_struct *wait);
void tf_hq_release(struct tf_file *f);

/* sysfs.c */
extern const struct attribute_group *tf_sysfs_groups[];

/* devlink.c */
int tf_devlink_create(struct tf_dev *tf);
void tf_devlink_register(struct tf_dev *tf);
void tf_devlink_unregister(struct tf_dev *tf);
void tf_devlink_destroy(struct tf_dev *tf);

/* health.c */
int tf_health_create(struct tf_dev *tf);
void tf_health_destroy(struct tf_dev *tf);
void tf_health_report(struct tf_dev *tf, enum tf_health_kind kind);
void tf_health_clear(struct tf_dev *tf);
void tf_health_work(struct work_struct *work);
void tf_watchdog_work(struct work_struct *work);

#endif /* TF_DEV_H */
