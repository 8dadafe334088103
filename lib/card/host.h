/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtfcard, host side: how tokfabd (or any host tool) reaches a card.
 *
 * One `const struct tf_card_access_ops` per access path, registered by name:
 *   "shm"   userspace driver: map the card's BAR file and drive the queues
 *           directly (host_shm.c). Target: the BAR file, e.g. /dev/shm/tokfab0.
 *   "kmod"  the kernel module's /dev/tokfabN (added with tokfab.ko: its ops
 *           map 1:1 onto the char device's ioctls, read() and poll()).
 * Core code never names a path: it opens "NAME:TARGET" (or "auto") and calls
 * through the ops. The checks of every completion and event (card/check.h) are
 * done here, above the ops, so every access path gets the same validation.
 *
 * A handle has two sides: the admin side (info, reset, admin, host_heartbeat,
 * tf_card_cmd) and the event side (event_read, event_ack, event_wait,
 * tf_card_events). Each side is used by one thread at a time (callers
 * serialise), and the two sides may run concurrently in two threads: they
 * share no state (shm: separate registers and indexes; kmod: separate
 * syscalls the driver serialises itself). open and close exclude both.
 *
 * API history
 *   1 (ABI 1.0)  first version.
 *   2            the event side may run beside the admin side; shm's
 *                event_wait backs off to 20 ms naps on an idle card.
 *   3            event_wait also returns when a caller's wake_fd becomes
 *                readable; shm's naps grow up to the caller's timeout (the
 *                caller bounds them), no longer capped at 20 ms.
 */
#ifndef TF_CARD_HOST_H
#define TF_CARD_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "tokfab/bar.h"

/* What a host learns from the registers (identity, layout, live state). */
struct tf_card_info {
	/* identity */
	uint32_t abi_version;
	uint32_t fw_version;
	uint16_t vendor_id, device_id;
	uint64_t card_features;
	uint64_t epoch;
	char serial[TF_NAME_LEN];
	char fw_version_str[TF_NAME_LEN];
	uint32_t max_tenants, max_models, max_accels;
	uint32_t aq_depth, eq_depth, hb_period_ms;
	uint64_t bar_size;
	/* live */
	uint32_t status; /* TF_STATUS_* */
	uint32_t fail_reason; /* enum tf_fail_reason */
	uint32_t boot_count;
	uint64_t heartbeat;
	uint64_t eq_prod_seq;
	uint64_t eq_freed_seq;
	uint64_t eq_ack_seq;
	uint64_t eq_full_count;
	uint32_t bad_ack_count;
	uint32_t aq_error_count;
};

struct tf_card_host;

struct tf_card_access_ops {
	const char *name; /* "shm", "kmod" */
	const char *default_target; /* used by "auto" and by a spec without a target */

	/*
	 * Attach to the card at target. Does not enable the admin queue (see
	 * reset). Fails with -ENOENT (no such card), -EAGAIN (card still
	 * initialising), -EBUSY (another host driver owns it),
	 * -EPROTONOSUPPORT (other ABI major), -EPROTO (bad layout).
	 */
	int (*open)(const char *target, struct tf_card_host **hp);
	void (*close)(struct tf_card_host *h);

	/* Identity and live registers. */
	int (*info)(struct tf_card_host *h, struct tf_card_info *info);

	/*
	 * Reset handshake (hwdocs/registers.md); afterwards the admin queue is
	 * served. -ETIMEDOUT: the card did not answer (is tokfab-dp running?);
	 * -EIO: the card refused (FAILED; info.fail_reason says why).
	 */
	int (*reset)(struct tf_card_host *h, int timeout_ms);

	/*
	 * Submits sqe (opcode, len, payload set; cmd_id is assigned here) and
	 * waits for its completion into cqe, unchecked. -ENOTCONN: admin queue
	 * not enabled (reset first); -ECONNRESET: the card restarted;
	 * -EIO: card FAILED; -ETIMEDOUT.
	 */
	int (*admin)(struct tf_card_host *h, struct tf_aq_sqe *sqe, struct tf_aq_cqe *cqe,
		     int timeout_ms);

	/*
	 * Copies up to max events following the last one returned (starting,
	 * after open, at the card's eq_ack_seq + 1), unchecked. Returns how many.
	 */
	int (*event_read)(struct tf_card_host *h, struct tf_eq_entry *ev, unsigned int max);
	/* Acknowledges every event up to seq (<= last read, >= last ack). */
	int (*event_ack)(struct tf_card_host *h, uint64_t seq);
	/*
	 * Waits up to timeout_ms for an unread event: 1 there is one, 0 timeout,
	 * 2 wake_fd became readable (the caller drains it; -1: no wake_fd).
	 * Sleeps: kmod in poll() on the event interrupt and wake_fd, shm in
	 * naps that grow while the card is idle, up to timeout_ms (host_shm.c),
	 * in poll() on wake_fd; a return of 1 may come up to one nap after the
	 * event, a return of 2 comes at once.
	 */
	int (*event_wait)(struct tf_card_host *h, int timeout_ms, int wake_fd);
	/* Optional: bump the host_heartbeat register. */
	void (*host_heartbeat)(struct tf_card_host *h);
};

/* Every access path embeds this first and is recovered with container_of. */
struct tf_card_host {
	const struct tf_card_access_ops *ops;
	uint32_t next_cmd_id; /* maintained by tf_card_cmd */
	uint64_t expect_seq; /* next event sequence number (set by open) */
	uint64_t broken_seq; /* != 0: the event that failed its check; reading stops */
	const char *broken_why;
	uint64_t bad_events; /* events that failed their checks */
	uint64_t bad_completions;
	char target[256];
};

extern const struct tf_card_access_ops tf_card_access_shm;
extern const struct tf_card_access_ops tf_card_access_kmod; /* host_kmod.c */

/* Registered access paths, in "auto" preference order, NULL-terminated. */
const struct tf_card_access_ops *const *tf_card_access_list(void);
const struct tf_card_access_ops *tf_card_access_find(const char *name);

/*
 * Opens "NAME:TARGET", "NAME" (its default target) or "auto" (each registered
 * path with its default target, first that opens). *why gets a sentence for
 * people on failure.
 */
int tf_card_host_open(const char *spec, struct tf_card_host **hp, const char **why);
void tf_card_host_close(struct tf_card_host *h);

/*
 * Runs one admin command: req is the opcode's request (tf_aq_req_len bytes),
 * resp (may be NULL) receives its response. The completion is checked
 * (card/check.h). Returns 0 with *status (enum tf_aq_status) and *detail set,
 * -EPROTO on a completion that breaks the spec, or the access path's -errno.
 */
int tf_card_cmd(struct tf_card_host *h, uint16_t opcode, const void *req, void *resp,
		size_t resp_size, uint16_t *status, uint32_t *detail, int timeout_ms);

/*
 * Reads up to max checked events, in sequence. Returns how many (0: none), or
 * -EPROTO once an event broke the spec (a card bug; *why says what): the events
 * before it are returned first, and from then on the handle delivers nothing
 * (the host never skips money); re-open to retry from the last acknowledgement.
 */
int tf_card_events(struct tf_card_host *h, struct tf_eq_entry *ev, unsigned int max,
		   const char **why);

/* Sentence for a -errno from open/reset/admin. */
const char *tf_card_strerror(int err);

#endif /* TF_CARD_HOST_H */
