/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Access path "kmod": the card through tokfab.ko's /dev/tokfabN
 * (include/uapi/tokfab.h, hwdocs/kmod.md). The driver owns the queues; each
 * op is one ioctl, read() or poll(). Target: the device node.
 */
#include "card/host.h"
#include "uapi/tokfab.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct kmod_host {
	struct tf_card_host h; /* first: container_of */
	int fd;
	uint32_t cmd_id;
};

#define KMOD(hp) ((struct kmod_host *)((char *)(hp)-offsetof(struct kmod_host, h)))

static int
kmod_ioctl(int fd, unsigned long cmd, void *arg)
{
	/* No retry on EINTR: an admin command may already run on the card. */
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static int
kmod_open(const char *target, struct tf_card_host **hp)
{
	struct tokfab_identity id = { .size = sizeof(id) };
	struct tokfab_status st = { .size = sizeof(st) };
	struct kmod_host *k;
	int rc;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fd = open(target, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0) {
		rc = errno == EACCES ? -EACCES : -ENOENT;
		goto err_free;
	}
	/* Not a tokfab node (or a driver without the ABI) answers ENOTTY. */
	rc = kmod_ioctl(k->fd, TOKFAB_IOC_IDENTITY, &id);
	if (!rc)
		rc = kmod_ioctl(k->fd, TOKFAB_IOC_STATUS, &st);
	if (rc) {
		rc = rc == -ENOTTY ? -ENOENT : rc;
		goto err_close;
	}
	if (TF_ABI_VERSION_MAJOR(id.abi_version) != TF_ABI_MAJOR) {
		rc = -EPROTONOSUPPORT;
		goto err_close;
	}
	k->h.ops = &tf_card_access_kmod;
	k->h.expect_seq = st.read_seq;
	*hp = &k->h;
	return 0;

err_close:
	close(k->fd);
err_free:
	free(k);
	return rc;
}

static void
kmod_close(struct tf_card_host *h)
{
	struct kmod_host *k = KMOD(h);

	close(k->fd);
	free(k);
}

static int
kmod_info(struct tf_card_host *h, struct tf_card_info *info)
{
	struct tokfab_identity id = { .size = sizeof(id) };
	struct tokfab_status st = { .size = sizeof(st) };
	struct kmod_host *k = KMOD(h);
	int rc;

	rc = kmod_ioctl(k->fd, TOKFAB_IOC_IDENTITY, &id);
	if (!rc)
		rc = kmod_ioctl(k->fd, TOKFAB_IOC_STATUS, &st);
	if (rc)
		return rc;
	memset(info, 0, sizeof(*info));
	info->abi_version = id.abi_version;
	info->fw_version = id.fw_version;
	info->vendor_id = id.vendor_id;
	info->device_id = id.device_id;
	info->card_features = id.card_features;
	info->epoch = id.epoch;
	memcpy(info->serial, id.serial, sizeof(info->serial));
	memcpy(info->fw_version_str, id.fw_version_str, sizeof(info->fw_version_str));
	info->serial[sizeof(info->serial) - 1] = '\0';
	info->fw_version_str[sizeof(info->fw_version_str) - 1] = '\0';
	info->max_tenants = id.max_tenants;
	info->max_models = id.max_models;
	info->max_accels = id.max_accels;
	info->aq_depth = id.aq_depth;
	info->eq_depth = id.eq_depth;
	info->hb_period_ms = id.hb_period_ms;
	info->bar_size = id.bar_size;
	info->status = st.card_status;
	info->fail_reason = st.card_fail_reason;
	info->boot_count = st.boot_count;
	info->heartbeat = st.heartbeat;
	info->eq_prod_seq = st.eq_prod_seq;
	info->eq_freed_seq = st.eq_freed_seq;
	info->eq_ack_seq = st.eq_ack_seq;
	info->eq_full_count = st.eq_full_count;
	info->bad_ack_count = st.bad_ack_count;
	info->aq_error_count = st.aq_error_count;
	return 0;
}

/* The driver's reset_timeout_ms module parameter bounds the handshake. */
static int
kmod_reset(struct tf_card_host *h, int timeout_ms)
{
	(void)timeout_ms;
	return kmod_ioctl(KMOD(h)->fd, TOKFAB_IOC_RESET, NULL);
}

static int
kmod_admin(struct tf_card_host *h, struct tf_aq_sqe *sqe, struct tf_aq_cqe *cqe, int timeout_ms)
{
	struct kmod_host *k = KMOD(h);
	struct tokfab_admin a = {
		.size = sizeof(a),
		.opcode = sqe->opcode,
		.timeout_ms = timeout_ms > 0 ? (uint32_t)timeout_ms : 0,
		.req_len = sqe->len,
		.req_ptr = (uintptr_t)sqe->payload,
		.resp_ptr = (uintptr_t)cqe->payload,
		.resp_len = sizeof(cqe->payload),
	};
	int rc;

	if (sqe->len > sizeof(sqe->payload))
		return -EINVAL;
	sqe->cmd_id = ++k->cmd_id;
	memset(cqe, 0, sizeof(*cqe));
	rc = kmod_ioctl(k->fd, TOKFAB_IOC_ADMIN, &a);
	if (rc)
		return rc;
	/* The driver checked the completion; rebuild it for the common checks. */
	cqe->cmd_id = sqe->cmd_id;
	cqe->opcode = sqe->opcode;
	cqe->status = a.status;
	cqe->detail = a.detail;
	cqe->len = a.resp_len;
	return 0;
}

static int
kmod_event_read(struct tf_card_host *h, struct tf_eq_entry *ev, unsigned int max)
{
	struct kmod_host *k = KMOD(h);
	ssize_t n;

	_Static_assert(sizeof(*ev) == TOKFAB_EVENT_SIZE, "read() returns event entries");
	do {
		n = read(k->fd, ev, (size_t)max * sizeof(*ev));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return (int)(n / (ssize_t)sizeof(*ev));
}

static int
kmod_event_ack(struct tf_card_host *h, uint64_t seq)
{
	struct tokfab_event_ack a = { .size = sizeof(a), .seq = seq };

	return kmod_ioctl(KMOD(h)->fd, TOKFAB_IOC_EVENT_ACK, &a);
}

static int
kmod_event_wait(struct tf_card_host *h, int timeout_ms, int wake_fd)
{
	struct pollfd pfd[2] = { { .fd = KMOD(h)->fd, .events = POLLIN },
				 { .fd = wake_fd, .events = POLLIN } };
	int rc;

	rc = poll(pfd, 2, timeout_ms); /* a negative wake_fd is ignored */
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	if (rc > 0 && (pfd[0].revents & POLLHUP))
		return -ENODEV;
	if (rc > 0 && (pfd[0].revents & POLLIN))
		return 1;
	return rc > 0 && (pfd[1].revents & POLLIN) ? 2 : 0;
}

const struct tf_card_access_ops tf_card_access_kmod = {
	.name = "kmod",
	.default_target = "/dev/tokfab0",
	.open = kmod_open,
	.close = kmod_close,
	.info = kmod_info,
	.reset = kmod_reset,
	.admin = kmod_admin,
	.event_read = kmod_event_read,
	.event_ack = kmod_event_ack,
	.event_wait = kmod_event_wait,
	.host_heartbeat = NULL,
};
