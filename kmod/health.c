// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: liveness and devlink health (hwdocs/kmod.md, "Health").
 *
 * The watchdog runs every hb_period_ms: it declares the card failed when
 * heartbeat is frozen, magic is gone or the card says FAILED, resets after a
 * card restart, notices event-queue overflows, and reaps and wakes in case
 * an interrupt was lost. Three devlink health reporters: "heartbeat" (the
 * card stopped answering), "admin" (admin command timeouts and protocol
 * errors), "events" (event-queue overflow and bad entries).
 */
#include <linux/io-64-nonatomic-lo-hi.h>
#include <net/devlink.h>

#include "tf_dev.h"

static const char *const tf_health_msg[TF_HEALTH_COUNT] = {
	[TF_HEALTH_HEARTBEAT] = "card stopped answering",
	[TF_HEALTH_ADMIN] = "admin queue failed",
	[TF_HEALTH_EVENTS] = "event queue trouble",
};

/* Queues a report: devlink_health_report() needs process context. Any context. */
void tf_health_report(struct tf_dev *tf, enum tf_health_kind kind)
{
	set_bit(kind, &tf->health_pending);
	if (READ_ONCE(tf->devlink_registered))
		schedule_work(&tf->health_work);
}

void tf_health_work(struct work_struct *work)
{
	struct tf_dev *tf = container_of(work, struct tf_dev, health_work);
	int kind;

	if (!READ_ONCE(tf->devlink_registered))
		return;
	for (kind = 0; kind < TF_HEALTH_COUNT; kind++)
		if (test_and_clear_bit(kind, &tf->health_pending) && tf->reporter[kind])
			devlink_health_report(tf->reporter[kind], tf_health_msg[kind], tf);
}

/* ---------------------------------------------------------- reporters */

static int tf_fmsg_common(struct tf_dev *tf, struct devlink_fmsg *fmsg)
{
	int ret;

	ret = devlink_fmsg_string_pair_put(fmsg, "state", tf_state_name(tf_state(tf)));
	if (!ret)
		ret = devlink_fmsg_string_pair_put(fmsg, "fail_reason",
						   tf_fail_name(READ_ONCE(tf->fail_reason)));
	if (!ret)
		ret = devlink_fmsg_u32_pair_put(fmsg, "card_status", tf_rd32(tf, TF_REG(status)));
	if (!ret)
		ret = devlink_fmsg_u32_pair_put(fmsg, "card_fail_reason",
						tf_rd32(tf, TF_REG(fail_reason)));
	if (!ret)
		ret = devlink_fmsg_u64_pair_put(fmsg, "resets", atomic64_read(&tf->cnt.resets));
	return ret;
}

struct tf_kv {
	const char *name;
	u64 val;
};

static int tf_fmsg_put(struct devlink_fmsg *fmsg, const struct tf_kv *kv, size_t n)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < n && !ret; i++)
		ret = devlink_fmsg_u64_pair_put(fmsg, kv[i].name, kv[i].val);
	return ret;
}

static int tf_diag_heartbeat(struct devlink_health_reporter *rep, struct devlink_fmsg *fmsg,
			     struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = devlink_health_reporter_priv(rep);
	const struct tf_kv kv[] = {
		{ "heartbeat", tf_rd64(tf, TF_REG(heartbeat)) },
		{ "hb_period_ms", tf->lay.hb_period_ms },
		{ "ms_since_heartbeat_moved",
		  jiffies_to_msecs(jiffies - READ_ONCE(tf->hb_changed)) },
		{ "boot_count", tf_rd32(tf, TF_REG(boot_count)) },
	};

	return tf_fmsg_common(tf, fmsg) ?: tf_fmsg_put(fmsg, kv, ARRAY_SIZE(kv));
}

static int tf_diag_admin(struct devlink_health_reporter *rep, struct devlink_fmsg *fmsg,
			 struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = devlink_health_reporter_priv(rep);
	const struct tf_kv kv[] = {
		{ "sq_tail", READ_ONCE(tf->aq.sq_tail) },
		{ "cq_head", READ_ONCE(tf->aq.cq_head) },
		{ "card_sq_head", tf_rd32(tf, TF_REG(aq_sq_head)) },
		{ "card_cq_tail", tf_rd32(tf, TF_REG(aq_cq_tail)) },
		{ "commands", atomic64_read(&tf->cnt.admin_cmds) },
		{ "timeouts", atomic64_read(&tf->cnt.admin_timeouts) },
		{ "bad_completions", atomic64_read(&tf->cnt.admin_bad_cqe) },
		{ "stray_completions", atomic64_read(&tf->cnt.admin_stray) },
	};

	return tf_fmsg_common(tf, fmsg) ?: tf_fmsg_put(fmsg, kv, ARRAY_SIZE(kv));
}

static int tf_diag_events(struct devlink_health_reporter *rep, struct devlink_fmsg *fmsg,
			  struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = devlink_health_reporter_priv(rep);
	const struct tf_kv kv[] = {
		{ "prod_seq", tf_rd64(tf, TF_REG(eq_prod_seq)) },
		{ "ack_seq", READ_ONCE(tf->eq.ack_seq) },
		{ "freed_seq", tf_rd64(tf, TF_REG(eq_freed_seq)) },
		{ "full_count", tf_rd64(tf, TF_REG(eq_full_count)) },
		{ "bad_seq", READ_ONCE(tf->eq.bad_seq) },
		{ "events_read", atomic64_read(&tf->cnt.events_read) },
		{ "overflows", atomic64_read(&tf->cnt.eq_overflows) },
	};

	return tf_fmsg_common(tf, fmsg) ?: tf_fmsg_put(fmsg, kv, ARRAY_SIZE(kv));
}

/* Dump: the register block's defined part, raw, as the card left it. */
static int tf_dump_regs(struct devlink_health_reporter *rep, struct devlink_fmsg *fmsg,
			void *priv_ctx, struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = devlink_health_reporter_priv(rep);
	u8 *regs;
	int ret;

	regs = kmalloc(TF_REG(reserved_1c0), GFP_KERNEL);
	if (!regs)
		return -ENOMEM;
	memcpy_fromio(regs, tf->bar, TF_REG(reserved_1c0));
	ret = tf_fmsg_common(tf, fmsg);
	if (!ret)
		ret = devlink_fmsg_binary_pair_put(fmsg, "registers", regs, TF_REG(reserved_1c0));
	kfree(regs);
	return ret;
}

/*
 * Recover = the reset handshake. Right after a report (priv_ctx set) only
 * when the auto_recover module parameter asks for it: by default a failed
 * card stays failed, visible, until someone recovers it.
 */
static int tf_recover_reset(struct devlink_health_reporter *rep, void *priv_ctx,
			    struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = devlink_health_reporter_priv(rep);
	int ret;

	if (priv_ctx && !tf_auto_recover)
		return -EAGAIN;
	ret = tf_dev_reset(tf);
	if (ret)
		NL_SET_ERR_MSG_MOD(extack, "reset handshake failed: is the card process running?");
	return ret;
}

static int tf_recover_events(struct devlink_health_reporter *rep, void *priv_ctx,
			     struct netlink_ext_ack *extack)
{
	struct tf_dev *tf = devlink_health_reporter_priv(rep);

	if (priv_ctx && !tf_auto_recover)
		return -EAGAIN;
	/* Check the stuck entry again and tell the card to look at acks again. */
	WRITE_ONCE(tf->eq.bad_seq, 0);
	tf->eq.stall_reported = false;
	tf->eq.stall_since = 0;
	tf->hw->ring(tf, TF_VEC_EVENTS);
	tf_eq_kick(tf);
	return 0;
}

static const struct devlink_health_reporter_ops tf_reporter_ops[TF_HEALTH_COUNT] = {
	[TF_HEALTH_HEARTBEAT] = {
		.name = "heartbeat",
		.diagnose = tf_diag_heartbeat,
		.dump = tf_dump_regs,
		.recover = tf_recover_reset,
	},
	[TF_HEALTH_ADMIN] = {
		.name = "admin",
		.diagnose = tf_diag_admin,
		.dump = tf_dump_regs,
		.recover = tf_recover_reset,
	},
	[TF_HEALTH_EVENTS] = {
		.name = "events",
		.diagnose = tf_diag_events,
		.dump = tf_dump_regs,
		.recover = tf_recover_events,
	},
};

int tf_health_create(struct tf_dev *tf)
{
	int kind;

	for (kind = 0; kind < TF_HEALTH_COUNT; kind++) {
		tf->reporter[kind] =
			devlink_health_reporter_create(tf->devlink, &tf_reporter_ops[kind], 0, tf);
		if (IS_ERR(tf->reporter[kind])) {
			int ret = PTR_ERR(tf->reporter[kind]);

			tf->reporter[kind] = NULL;
			tf_health_destroy(tf);
			return ret;
		}
	}
	return 0;
}

void tf_health_destroy(struct tf_dev *tf)
{
	int kind;

	for (kind = TF_HEALTH_COUNT - 1; kind >= 0; kind--) {
		if (tf->reporter[kind])
			devlink_health_reporter_destroy(tf->reporter[kind]);
		tf->reporter[kind] = NULL;
	}
}

/* After a successful reset every reporter is healthy again. */
void tf_health_clear(struct tf_dev *tf)
{
	int kind;

	if (!READ_ONCE(tf->devlink_registered))
		return;
	for (kind = 0; kind < TF_HEALTH_COUNT; kind++)
		if (tf->reporter[kind])
			devlink_health_reporter_state_update(tf->reporter[kind],
							     DEVLINK_HEALTH_REPORTER_STATE_HEALTHY);
}

/* ------------------------------------------------------------ watchdog */

static unsigned int tf_hb_timeout(struct tf_dev *tf)
{
	return tf_hb_timeout_ms ? tf_hb_timeout_ms : 3 * tf->lay.hb_period_ms;
}

/*
 * Event-queue overflow: the card holds events back (eq_full_count grows) and
 * the host has not acknowledged anything for TF_EQ_STALL_MS. A full queue in
 * a burst that the host is draining is only back-pressure, not a problem.
 */
#define TF_EQ_STALL_MS 2000

static void tf_watchdog_events(struct tf_dev *tf)
{
	u64 full = tf_rd64(tf, TF_REG(eq_full_count));
	u64 ack = READ_ONCE(tf->eq.ack_seq);

	if (full == tf->eq.full_seen || ack != tf->eq.stall_ack) {
		tf->eq.full_seen = full;
		tf->eq.stall_ack = ack;
		tf->eq.stall_since = 0;
		return;
	}
	tf->eq.full_seen = full;
	if (!tf->eq.stall_since) {
		tf->eq.stall_since = jiffies ?: 1;
	} else if (!tf->eq.stall_reported &&
		   time_after(jiffies, tf->eq.stall_since + msecs_to_jiffies(TF_EQ_STALL_MS))) {
		dev_warn(&tf->pdev->dev,
			 "event queue full and not acknowledged for %u ms: is tokfabd reading?\n",
			 TF_EQ_STALL_MS);
		tf->eq.stall_reported = true;
		atomic64_inc(&tf->cnt.eq_overflows);
		tf_health_report(tf, TF_HEALTH_EVENTS);
	}
}

static void tf_watchdog_check(struct tf_dev *tf)
{
	u32 boot;
	u64 hb;

	if (tf_rd32(tf, TF_REG(magic)) != TF_BAR_MAGIC) {
		tf_dev_fail(tf, TOKFAB_FAIL_MAGIC);
		return;
	}
	boot = tf_rd32(tf, TF_REG(boot_count));
	if (boot != tf->boot_count) {
		tf_dev_fail(tf, TOKFAB_FAIL_RESTARTED);
		schedule_work(&tf->reset_work);
		return;
	}
	if (tf_rd32(tf, TF_REG(status)) & TF_STATUS_FAILED) {
		tf->card_fail_reason = tf_rd32(tf, TF_REG(fail_reason));
		tf_dev_fail(tf, TOKFAB_FAIL_CARD);
		return;
	}
	hb = tf_rd64(tf, TF_REG(heartbeat));
	if (hb != tf->hb_last) {
		tf->hb_last = hb;
		WRITE_ONCE(tf->hb_changed, jiffies);
	} else if (time_after(jiffies, tf->hb_changed + msecs_to_jiffies(tf_hb_timeout(tf)))) {
		dev_err(&tf->pdev->dev, "heartbeat frozen at %llu for more than %u ms\n", hb,
			tf_hb_timeout(tf));
		tf_dev_fail(tf, TOKFAB_FAIL_HEARTBEAT);
		return;
	}
	tf_watchdog_events(tf);
}

void tf_watchdog_work(struct work_struct *work)
{
	struct tf_dev *tf = container_of(to_delayed_work(work), struct tf_dev, watchdog);
	unsigned int period = clamp(tf->lay.hb_period_ms, 10u, 1000u);

	if (tf_state(tf) == TOKFAB_STATE_GONE)
		return;
	if (tf_state(tf) == TOKFAB_STATE_RUNNING) {
		tf_watchdog_check(tf);
		tf_wr64(tf, TF_REG(host_heartbeat), ++tf->host_heartbeat);
	}
	tf_aq_reap(tf);
	tf_eq_kick(tf);
	tf_hq_kick(tf);
	schedule_delayed_work(&tf->watchdog, msecs_to_jiffies(period));
}
