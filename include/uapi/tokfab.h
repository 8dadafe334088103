/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause */
/*
 * tokfab.ko userspace ABI: the /dev/tokfabN character device.
 * Normative prose: hwdocs/kmod.md. Used by kmod/ and host/ (tokfabd's "kmod"
 * card access path).
 *
 * Conventions (like ublk and io_uring):
 * - only __u* types; explicit padding; reserved fields must be zero (the
 *   driver rejects non-zero ones with -EINVAL so they can be given a meaning
 *   later);
 * - every ioctl argument starts with `__u32 size`, the caller's
 *   sizeof(struct). The driver dispatches on the ioctl's type and number, not
 *   on the size encoded in it, so a struct can grow at its end: an older
 *   driver accepts a larger struct when the bytes it does not know are zero
 *   (else -E2BIG), a newer driver accepts a smaller one (the missing fields
 *   read as zero) down to the first version's size (else -EINVAL). Output
 *   structs are written up to min(size, the driver's size);
 * - what the driver supports is reported by TOKFAB_IOC_GET_FEATURES.
 *
 * Records returned by read() are the card's event-queue entries,
 * struct tf_eq_entry of <tokfab/bar.h> (128 bytes, little-endian), checked by
 * the driver (hwdocs/queues.md, hwdocs/usage-record.md) before delivery.
 */
#ifndef _UAPI_TOKFAB_H
#define _UAPI_TOKFAB_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define TOKFAB_DEV_PREFIX "tokfab" /* /dev/tokfab0, /sys/class/tokfab/tokfab0 */
#define TOKFAB_EVENT_SIZE 128 /* bytes per record returned by read() */
#define TOKFAB_NAME_LEN 32

/* Driver feature bits (tokfab_features.features). */
#define TOKFAB_F_ADMIN _BITULL(0) /* TOKFAB_IOC_ADMIN */
#define TOKFAB_F_EVENTS _BITULL(1) /* read(), poll(), TOKFAB_IOC_EVENT_ACK */
#define TOKFAB_F_RESET _BITULL(2) /* TOKFAB_IOC_RESET */
#define TOKFAB_F_STATUS _BITULL(3) /* TOKFAB_IOC_STATUS */
#define TOKFAB_F_HOSTQ _BITULL(4) /* TOKFAB_IOC_HQ_CREATE, mmap (the card has host queues) */

/* Driver-side state of a card (identity.state, status.state, sysfs "state"). */
enum tokfab_state {
	TOKFAB_STATE_INIT = 0, /* probing: not usable yet */
	TOKFAB_STATE_RUNNING = 1, /* admin queue served, heartbeat alive */
	TOKFAB_STATE_FAILED = 2, /* see fail_reason; a reset recovers */
	TOKFAB_STATE_RESETTING = 3, /* reset handshake in progress */
	TOKFAB_STATE_GONE = 4, /* the device was removed; close the fd */
};

/* Why the driver marked the card failed (status.fail_reason). */
enum tokfab_fail_reason {
	TOKFAB_FAIL_NONE = 0,
	TOKFAB_FAIL_HEARTBEAT = 1, /* heartbeat register frozen */
	TOKFAB_FAIL_ADMIN_TIMEOUT = 2, /* an admin command was not completed in time */
	TOKFAB_FAIL_CARD = 3, /* the card set FAILED (card_fail_reason says why) */
	TOKFAB_FAIL_PROTOCOL = 4, /* the card broke the queue protocol (bad index) */
	TOKFAB_FAIL_MAGIC = 5, /* the BAR magic disappeared */
	TOKFAB_FAIL_RESET = 6, /* a reset handshake did not complete */
	TOKFAB_FAIL_RESTARTED = 7, /* the card restarted (boot_count changed) */
};

/* TOKFAB_IOC_GET_FEATURES */
struct tokfab_features {
	__u32 size;
	__u32 reserved; /* 0 */
	__u64 features; /* out: TOKFAB_F_* */
	__u64 card_features; /* out: the card's TF_FEAT_* (bar.h) */
	__u64 host_features; /* out: the subset the driver enabled */
};

/* TOKFAB_IOC_IDENTITY: what the card's register block says. */
struct tokfab_identity {
	__u32 size;
	__u32 abi_version; /* TF_ABI_VERSION(major, minor) */
	__u32 fw_version; /* TF_FW_VERSION(major, minor, patch) */
	__u16 vendor_id;
	__u16 device_id;
	__u32 boot_count;
	__u32 state; /* enum tokfab_state */
	__u64 epoch;
	__u32 aq_depth;
	__u32 eq_depth;
	__u32 hb_period_ms;
	__u32 minor; /* N of /dev/tokfabN */
	char serial[TOKFAB_NAME_LEN]; /* NUL-terminated */
	char fw_version_str[TOKFAB_NAME_LEN]; /* NUL-terminated */
	__u64 card_features; /* TF_FEAT_* the card offers */
	__u64 bar_size; /* bytes of the card's BAR */
	__u32 max_tenants;
	__u32 max_models;
	__u32 max_accels;
	__u32 reserved; /* 0 */
};

/* TOKFAB_IOC_STATUS: live state and counters. */
struct tokfab_status {
	__u32 size;
	__u32 state; /* enum tokfab_state */
	__u32 fail_reason; /* enum tokfab_fail_reason */
	__u32 card_status; /* status register (TF_STATUS_*) */
	__u32 card_fail_reason; /* fail_reason register (enum tf_fail_reason) */
	__u32 reserved; /* 0 */
	__u64 heartbeat; /* heartbeat register */
	__u64 eq_prod_seq; /* event queue registers */
	__u64 eq_ack_seq;
	__u64 eq_freed_seq;
	__u64 eq_full_count;
	__u64 read_seq; /* next sequence number read() on this fd returns */
	__u64 resets; /* reset handshakes completed */
	__u64 admin_cmds; /* admin commands completed by the card */
	__u64 admin_timeouts; /* admin commands that timed out */
	__u64 admin_bad_cqe; /* completions rejected (-EPROTO) */
	__u64 events_read; /* records delivered by read(), all fds */
	__u64 events_bad; /* entries that failed the checks */
	__u64 irqs; /* interrupts taken */
	__u32 boot_count; /* boot_count register */
	__u32 bad_ack_count; /* bad_ack_count register */
	__u32 aq_error_count; /* aq_error_count register */
	__u32 reserved1; /* 0 */
};

/*
 * TOKFAB_IOC_ADMIN: submit one admin command and wait for its completion.
 * Needs admin rights (hwdocs/kmod.md, "Permissions"), else -EPERM.
 * req_len must be exactly the opcode's request size and resp_len at least
 * its response size (hwdocs/queues.md). Returns 0 when the card completed
 * the command (status/detail say how; resp_len = response bytes copied), or
 * -EINVAL (bad field), -EFAULT (bad pointer), -ENOSPC (response buffer too
 * small), -EPERM, -ETIMEDOUT (no completion within timeout_ms: the card is
 * then marked failed), -EIO (the card is failed or resetting), -EPROTO (the
 * completion broke the protocol), -EINTR (a signal; the command may still
 * run), -ENODEV (device gone).
 */
#define TOKFAB_ADMIN_TIMEOUT_MAX_MS 600000
struct tokfab_admin {
	__u32 size;
	__u16 opcode; /* enum tf_aq_opcode */
	__u16 flags; /* 0 */
	__u32 timeout_ms; /* 0: the driver's default (module parameter admin_timeout_ms) */
	__u32 req_len; /* bytes at req_ptr */
	__u64 req_ptr; /* request payload */
	__u64 resp_ptr; /* response buffer */
	__u32 resp_len; /* in: bytes at resp_ptr; out: response bytes written */
	__u16 status; /* out: enum tf_aq_status */
	__u16 reserved0; /* 0 */
	__u32 detail; /* out: the completion's detail */
	__u32 reserved1; /* 0 */
};

/*
 * TOKFAB_IOC_EVENT_ACK: the caller has committed every event up to seq.
 * Needs admin rights. seq must not exceed the last sequence number read()
 * returned on this fd (-EINVAL); an acknowledgment at or below the current
 * one is accepted and changes nothing (replays are idempotent).
 */
struct tokfab_event_ack {
	__u32 size;
	__u32 flags; /* 0 */
	__u64 seq;
};

/*
 * TOKFAB_IOC_EVENT_SEEK: move this fd's read cursor (admin only): to the
 * oldest unacknowledged event (whence TOKFAB_SEEK_ACKED, seq 0) or to a given
 * unacknowledged seq (TOKFAB_SEEK_SET). -ERANGE when seq is acknowledged or
 * beyond eq_prod_seq + 1.
 */
#define TOKFAB_SEEK_ACKED 0
#define TOKFAB_SEEK_SET 1
struct tokfab_event_seek {
	__u32 size;
	__u32 whence;
	__u64 seq;
};

/*
 * TOKFAB_IOC_HQ_CREATE: turns this fd into a host-queue fd (admin rights
 * needed; the fd may then be passed to an unprivileged client). It gets one
 * of the card's host queue windows, bound to tenant_id: every request
 * submitted through it is the tenant's. Map the rings with
 * mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); the
 * layout is <tokfab/hostq.h> (struct tf_hq_ring at 0, the SQ at sq_off, the
 * CQ at cq_off). poll(): POLLIN completions waiting, POLLOUT SQ space, POLLERR
 * the card stopped serving the queue (or failed). From then on the fd has no
 * admin rights and no events (read() is -EINVAL). Closing the last reference
 * (fd and mappings) gives the window back.
 * Errors: -EPERM, -EOPNOTSUPP (card without host queues), -EBUSY (this fd has
 * one, or no window free), -EINVAL (fields), -EIO (card not running),
 * -ETIMEDOUT (the card did not take the queue), -ENOENT (the card refused the
 * tenant).
 */
struct tokfab_hq_create {
	__u32 size;
	__u32 flags; /* 0 */
	__u32 tenant_id; /* != 0 */
	__u32 sq_entries; /* power of two */
	__u32 cq_entries; /* power of two, >= sq_entries; the rings must fit the window */
	__u32 queue; /* out: window index */
	__u64 ring_size; /* out: bytes to map at offset 0 */
	__u64 sq_off; /* out: offset of the SQ in the mapping */
	__u64 cq_off; /* out: offset of the CQ in the mapping */
	__u64 reserved[2]; /* 0 */
};

#define TOKFAB_IOC_MAGIC 0xB7
#define TOKFAB_IOC_GET_FEATURES _IOWR(TOKFAB_IOC_MAGIC, 0x00, struct tokfab_features)
#define TOKFAB_IOC_IDENTITY _IOWR(TOKFAB_IOC_MAGIC, 0x01, struct tokfab_identity)
#define TOKFAB_IOC_STATUS _IOWR(TOKFAB_IOC_MAGIC, 0x02, struct tokfab_status)
#define TOKFAB_IOC_ADMIN _IOWR(TOKFAB_IOC_MAGIC, 0x03, struct tokfab_admin)
#define TOKFAB_IOC_EVENT_ACK _IOW(TOKFAB_IOC_MAGIC, 0x04, struct tokfab_event_ack)
#define TOKFAB_IOC_EVENT_SEEK _IOW(TOKFAB_IOC_MAGIC, 0x05, struct tokfab_event_seek)
#define TOKFAB_IOC_RESET _IO(TOKFAB_IOC_MAGIC, 0x06)
#define TOKFAB_IOC_HQ_CREATE _IOWR(TOKFAB_IOC_MAGIC, 0x07, struct tokfab_hq_create)

#endif /* _UAPI_TOKFAB_H */
