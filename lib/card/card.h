/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtfcard, card side: the firmware's half of the BAR (hwdocs/registers.md,
 * hwdocs/queues.md). tokfab-dp links this and calls it from ONE thread (its
 * main lcore); nothing here is thread-safe and nothing here needs DPDK.
 *
 * The BAR is a shared-memory file the card creates and owns. A host driver
 * (tokfabd's "shm" access path, or tokfab.ko through QEMU ivshmem) maps the
 * same bytes. Everything is driven by ring indexes and sequence numbers in that
 * memory; notifications are hints.
 *
 * Typical main-loop use:
 *
 *	struct tf_card_dev *dev;
 *	struct tf_card_dev_params p = { .path = "/dev/shm/tokfab0", .serial = "TF0001",
 *					.fw_version_str = "1.0.0", ... };
 *	if (tf_card_dev_create(&p, &dev) < 0) ...
 *	for (;;) {
 *		tf_card_dev_poll_admin(dev, &my_handlers, my_ctx);
 *		while (backlog not empty && tf_card_dev_post_usage(dev, head) == 0)
 *			pop head;            // -EAGAIN: keep it, retry next loop
 *		tf_card_dev_heartbeat(dev);  // at least every hb_period_ms
 *	}
 *	tf_card_dev_destroy(dev);
 *
 * Byte order: the library builds only on little-endian CPUs (static assert),
 * so the bar.h structures handed to handlers are in CPU order.
 *
 * API history
 *   1 (ABI 1.0)  first version.
 *   1.1          handler BAD_FIELD details are request-relative (the library adds 16).
 */
#ifndef TF_CARD_CARD_H
#define TF_CARD_CARD_H

#include <stdint.h>

#include "tokfab/bar.h"
#include "tokfab/usage.h"

#define TF_CARD_AQ_DEPTH_DEFAULT 32u
#define TF_CARD_EQ_DEPTH_DEFAULT 4096u
#define TF_CARD_HB_PERIOD_MS_DEFAULT 100u
#define TF_CARD_ADMIN_BUDGET 16u /* commands executed per tf_card_dev_poll_admin() */

/* tf_card_dev_params.flags */
#define TF_CARD_F_FRESH (1u << 0) /* discard an existing BAR: new epoch, sequence restarts at 1 */

/* ivshmem vectors the card raises through notify (hints only). */
#define TF_CARD_VEC_ADMIN 0u /* new admin completions */
#define TF_CARD_VEC_EVENT 1u /* new events */

struct tf_card_dev;

struct tf_card_dev_params {
	const char *path; /* the BAR file, e.g. /dev/shm/tokfab0 (required) */
	uint32_t aq_depth; /* power of two 2..1024; 0 = TF_CARD_AQ_DEPTH_DEFAULT */
	uint32_t eq_depth; /* power of two 2..2^20; 0 = TF_CARD_EQ_DEPTH_DEFAULT */
	uint32_t hb_period_ms; /* 1..60000; 0 = TF_CARD_HB_PERIOD_MS_DEFAULT */
	uint64_t features; /* TF_FEAT_* the card offers */
	uint32_t fw_version; /* TF_FW_VERSION(major, minor, patch) */
	const char *fw_version_str; /* <= 31 printable chars (required) */
	const char *serial; /* <= 31 printable chars (required) */
	uint32_t max_tenants; /* table sizes reported by IDENTIFY and the registers */
	uint32_t max_models;
	uint32_t max_accels;
	uint32_t n_ports;
	unsigned int flags; /* TF_CARD_F_* */
	/* Host queue windows (card_hostq.h); 0 = none. Needs TF_FEAT_HOST_QUEUES. */
	uint32_t hq_count; /* 0..TF_HQ_MAX */
	uint32_t hq_size; /* power of two, TF_HQ_SIZE_MIN..TF_HQ_SIZE_MAX */
	/*
	 * Optional: raise a host notification (ivshmem: write the guest's eventfd
	 * for that vector). Called at most once per vector per
	 * tf_card_dev_poll_admin(), after the indexes it announces are visible.
	 */
	void (*notify)(void *arg, unsigned int vector);
	void *notify_arg;
};

/*
 * Creates the BAR at params->path, or resumes an existing one:
 *  - no file, TF_CARD_F_FRESH, or an existing file that is not a valid BAR with
 *    no unacknowledged events: a new BAR with a new random epoch; event
 *    sequence numbers start at 1.
 *  - a valid BAR of the same ABI major and the same depths: resumed. Epoch,
 *    sequence numbers and every unacknowledged event are kept (so a restart of
 *    tokfab-dp loses nothing the host has not committed); boot_count is bumped
 *    and the admin queue waits for the host's reset handshake.
 *  - a valid BAR with unacknowledged events but other depths: -EBUSY (start
 *    with the old depths until the host drained it, or pass TF_CARD_F_FRESH).
 * Only one card process may own a BAR: a second one gets -EBUSY.
 * Returns 0 or -errno; on error nothing is left behind but the file.
 */
int tf_card_dev_create(const struct tf_card_dev_params *params, struct tf_card_dev **devp);

/*
 * Sets TF_STATUS_STOPPING, unmaps and closes. The file stays, with its
 * unacknowledged events, for the next tf_card_dev_create() to resume.
 */
void tf_card_dev_destroy(struct tf_card_dev *dev);

/* The BAR file's descriptor (an ivshmem server passes it to QEMU) and size. */
int tf_card_dev_fd(const struct tf_card_dev *dev);
uint64_t tf_card_dev_bar_size(const struct tf_card_dev *dev);
uint64_t tf_card_dev_epoch(const struct tf_card_dev *dev);

/*
 * Admin command handlers. Each is optional: a NULL handler completes its
 * opcode with TF_AQ_S_UNSUPPORTED. The library has already copied the command
 * out of shared memory and checked every field against hwdocs/queues.md
 * (ids != 0, names printable, reserved zero, counts and ranges), so a handler
 * only checks what depends on its state (unknown ids, full tables).
 *
 * Each returns an enum tf_aq_status and may set *detail (see the enum); for
 * TF_AQ_S_BAD_FIELD, *detail is the offset of the field in the handler's
 * request structure (offsetof), and the library adds the SQE header size. On
 * TF_AQ_S_OK the response structure (zeroed before the call) is sent back.
 * IDENTIFY is answered by the library from the params.
 */
struct tf_card_admin_handlers {
	int (*get_health)(void *ctx, uint32_t first, struct tf_aq_health *resp, uint32_t *detail);
	/* uptime_ns and eq_* are filled by the library after the handler. */
	int (*get_card_stats)(void *ctx, struct tf_aq_card_stats *resp, uint32_t *detail);
	int (*get_accel_stats)(void *ctx, uint32_t accel_id, struct tf_aq_accel_stats *resp,
			       uint32_t *detail);
	int (*set_tenant)(void *ctx, const struct tf_aq_set_tenant *cmd,
			  struct tf_aq_tenant_info *resp, uint32_t *detail);
	int (*del_tenant)(void *ctx, uint32_t tenant_id, uint32_t *detail);
	int (*tenant_balance)(void *ctx, const struct tf_aq_tenant_balance *cmd,
			      struct tf_aq_tenant_info *resp, uint32_t *detail);
	int (*get_tenant)(void *ctx, uint32_t tenant_id, struct tf_aq_tenant_info *resp,
			  uint32_t *detail);
	int (*set_model)(void *ctx, const struct tf_aq_set_model *cmd, uint32_t *detail);
	int (*del_model)(void *ctx, uint32_t model_id, uint32_t *detail);
	int (*set_accel)(void *ctx, const struct tf_aq_set_accel *cmd, uint32_t *detail);
	int (*del_accel)(void *ctx, uint32_t accel_id, uint32_t *detail);
	int (*set_batching)(void *ctx, const struct tf_aq_set_batching *cmd, uint32_t *detail);
	/* 1.2, with TF_FEAT_USAGE_AGG: returns once what was summed so far is queued. */
	int (*set_usage_mode)(void *ctx, const struct tf_aq_set_usage_mode *cmd, uint32_t *detail);
	int (*fw_activate)(void *ctx, const struct tf_aq_fw_activate *cmd,
			   struct tf_aq_fw_status *resp, uint32_t *detail);
	/* 1.1, with TF_FEAT_FW_UPDATE: a chunk of an image; what the flash holds. */
	int (*fw_write)(void *ctx, const struct tf_aq_fw_write *cmd,
			struct tf_aq_fw_write_status *resp, uint32_t *detail);
	int (*fw_info)(void *ctx, struct tf_aq_fw_info *resp, uint32_t *detail);
};

/*
 * Runs the enable/reset handshake and executes up to TF_CARD_ADMIN_BUDGET
 * submitted commands, completing each (in order). Call it every loop. Returns
 * the number of commands completed (0 when idle or not enabled), or -EPROTO
 * when the host broke the queue protocol (the card is then FAILED until the
 * host resets it; see hwdocs/registers.md).
 */
int tf_card_dev_poll_admin(struct tf_card_dev *dev, const struct tf_card_admin_handlers *h,
			   void *ctx);

/*
 * Posts one usage record / usage aggregate (1.2) / health event with the next sequence number.
 * Returns 0 when posted; -EAGAIN when the event queue is full (the host has not
 * acknowledged enough): the caller KEEPS the record and retries later, records
 * are never dropped; -EINVAL when the record breaks hwdocs/usage-record.md
 * (ids 0, unknown outcome, reserved bits set): a caller bug, it would be
 * rejected by the host. *seq (optional) gets the sequence number assigned.
 */
int tf_card_dev_post_usage(struct tf_card_dev *dev, const struct tf_usage_record *rec,
			   uint64_t *seq);
int tf_card_dev_post_usage_agg(struct tf_card_dev *dev, const struct tf_usage_agg *agg,
			       uint64_t *seq);
int tf_card_dev_post_health(struct tf_card_dev *dev, const struct tf_health_event *ev,
			    uint64_t *seq);

/* Free event slots now (takes the host's latest acknowledgement into account). */
uint32_t tf_card_dev_eq_room(struct tf_card_dev *dev);

/* Bumps the heartbeat register. Call at least every hb_period_ms. */
void tf_card_dev_heartbeat(struct tf_card_dev *dev);

/* Card-side counters for telemetry. */
struct tf_card_dev_stats {
	uint64_t eq_posted; /* events posted since create */
	uint64_t eq_full; /* posts refused with -EAGAIN */
	uint64_t eq_prod_seq; /* last sequence number posted */
	uint64_t eq_freed_seq; /* last sequence number the host acknowledged */
	uint64_t bad_acks; /* out-of-range acknowledgements ignored */
	uint64_t aq_completed; /* admin commands completed */
	uint64_t aq_errors; /* ... with a status other than OK */
	uint64_t aq_rejected; /* ... rejected by the library's field checks */
	uint32_t boot_count;
	uint32_t status; /* TF_STATUS_* */
};
void tf_card_dev_stats(struct tf_card_dev *dev, struct tf_card_dev_stats *st);

/* CLOCK_REALTIME in ns: the clock of end_time_ns and health time_ns. */
uint64_t tf_card_now_ns(void);

#endif /* TF_CARD_CARD_H */
