/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Access path "shm": the userspace host driver. Maps the card's BAR file and
 * drives the admin and event queues directly through shared memory, exactly as
 * tokfab.ko drives BAR2 of the ivshmem device.
 */
#include "card/bar_io.h"
#include "card/check.h"
#include "card/host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct shm_host {
	struct tf_card_host h; /* first: container_of */
	int fd;
	uint8_t *base;
	uint64_t map_size;
	struct tf_bar_regs *regs;
	uint8_t *sq, *cq, *eq;
	uint32_t aq_depth, eq_depth;
	uint32_t sqe_size, cqe_size, eqe_size;
	uint32_t sq_tail, cq_head; /* host-owned admin indexes */
	uint32_t cmd_id;
	uint64_t read_seq; /* last event returned */
	uint64_t ack; /* last acknowledgement written */
	uint32_t boot_count;
	int enabled; /* reset handshake done for boot_count */
	uint32_t idle_us; /* event_wait's next nap (grows while the card is idle) */
};

/*
 * No interrupt reaches a userspace driver of the BAR file, so event_wait polls
 * eq_prod_seq with naps that double from IDLE_MIN_US while nothing arrives, up
 * to the caller's timeout (and IDLE_MAX_US), and start short again once events
 * flow. The caller bounds the naps through its timeout (tokfabd: by its ledger
 * mode and commit interval, host/tokfabd/card.c). A card going from idle to R
 * events/s fills at most R * (longest nap) of its event queue before the host
 * looks; beyond, the card holds the rest until the next look. The naps sleep in
 * poll() on the caller's wake_fd, so the caller is never held by a nap.
 */
#define IDLE_MIN_US 100u
#define IDLE_MAX_US 1000000u

#define SHM(hp) ((struct shm_host *)((char *)(hp)-offsetof(struct shm_host, h)))

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
mono_ms(void)
{
	return mono_us() / 1000;
}

/* Polling back-off: spin a little, then sleep 50 µs doubling to 1 ms. */
static void
backoff(unsigned int *round)
{
	struct timespec ts = { 0, 0 };
	unsigned int r = (*round)++;

	if (r < 64) {
		sched_yield();
		return;
	}
	r -= 64;
	ts.tv_nsec = 50000L << (r < 4 ? r : 4);
	if (ts.tv_nsec > 1000000L)
		ts.tv_nsec = 1000000L;
	nanosleep(&ts, NULL);
}

static int
lock_host(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1 };

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return (errno == EAGAIN || errno == EACCES) ? -EBUSY : -errno;
	return 0;
}

static int
shm_open_card(const char *target, struct tf_card_host **hp)
{
	struct shm_host *s;
	struct stat st;
	const char *why;
	uint64_t prod, freed, ack;
	void *base;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = open(target, O_RDWR | O_CLOEXEC);
	if (s->fd < 0) {
		rc = -errno;
		goto err_free;
	}
	rc = lock_host(s->fd);
	if (rc < 0)
		goto err_close;
	if (fstat(s->fd, &st) < 0) {
		rc = -errno;
		goto err_close;
	}
	if (st.st_size < (off_t)TF_BAR_REGS_SIZE) {
		rc = -EAGAIN;
		goto err_close;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	s->base = base;
	s->map_size = (uint64_t)st.st_size;
	s->regs = base;
	if (tf_bar_rd32(&s->regs->magic) != TF_BAR_MAGIC) {
		rc = -EAGAIN;
		goto err_unmap;
	}
	rc = tf_bar_layout_check(s->regs, s->map_size, &why);
	if (rc < 0)
		goto err_unmap;
	s->aq_depth = s->regs->aq_depth;
	s->eq_depth = s->regs->eq_depth;
	s->sqe_size = s->regs->aq_sqe_size;
	s->cqe_size = s->regs->aq_cqe_size;
	s->eqe_size = s->regs->eq_entry_size;
	s->sq = s->base + s->regs->aq_sq_off;
	s->cq = s->base + s->regs->aq_cq_off;
	s->eq = s->base + s->regs->eq_off;
	prod = tf_bar_rd64(&s->regs->eq_prod_seq);
	freed = tf_bar_rd64(&s->regs->eq_freed_seq);
	ack = tf_bar_rd64(&s->regs->eq_ack_seq);
	if (ack < freed || ack > prod)
		ack = freed;
	s->read_seq = ack;
	s->ack = ack;
	s->h.expect_seq = ack + 1;
	s->boot_count = tf_bar_rd32(&s->regs->boot_count);
	s->h.ops = &tf_card_access_shm;
	*hp = &s->h;
	return 0;

err_unmap:
	munmap(s->base, s->map_size);
err_close:
	close(s->fd);
err_free:
	free(s);
	return rc;
}

static void
shm_close(struct tf_card_host *h)
{
	struct shm_host *s = SHM(h);

	munmap(s->base, s->map_size);
	close(s->fd);
	free(s);
}

static int
shm_info(struct tf_card_host *h, struct tf_card_info *in)
{
	struct shm_host *s = SHM(h);
	struct tf_bar_regs *r = s->regs;

	memset(in, 0, sizeof(*in));
	in->abi_version = r->abi_version;
	in->fw_version = r->fw_version;
	in->vendor_id = r->vendor_id;
	in->device_id = r->device_id;
	in->card_features = r->card_features;
	in->epoch = r->epoch;
	memcpy(in->serial, r->serial, TF_NAME_LEN);
	in->serial[TF_NAME_LEN - 1] = '\0';
	memcpy(in->fw_version_str, r->fw_version_str, TF_NAME_LEN);
	in->fw_version_str[TF_NAME_LEN - 1] = '\0';
	in->max_tenants = r->max_tenants;
	in->max_models = r->max_models;
	in->max_accels = r->max_accels;
	in->aq_depth = r->aq_depth;
	in->eq_depth = r->eq_depth;
	in->hb_period_ms = r->hb_period_ms;
	in->bar_size = r->bar_size;
	in->status = tf_bar_rd32(&r->status);
	in->fail_reason = tf_bar_rd32(&r->fail_reason);
	in->boot_count = tf_bar_rd32(&r->boot_count);
	in->heartbeat = tf_bar_rd64(&r->heartbeat);
	in->eq_prod_seq = tf_bar_rd64(&r->eq_prod_seq);
	in->eq_freed_seq = tf_bar_rd64(&r->eq_freed_seq);
	in->eq_ack_seq = tf_bar_rd64(&r->eq_ack_seq);
	in->eq_full_count = tf_bar_rd64(&r->eq_full_count);
	in->bad_ack_count = tf_bar_rd32(&r->bad_ack_count);
	in->aq_error_count = tf_bar_rd32(&r->aq_error_count);
	/* A card that re-created its BAR left us on the old inode: say so. */
	if (tf_bar_rd32(&r->magic) != TF_BAR_MAGIC)
		return -ENODEV;
	return 0;
}

/* Waits until (status & mask) == want, or FAILED when fail_ok is 0. */
static int
wait_status(struct shm_host *s, uint32_t mask, uint32_t want, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	unsigned int round = 0;

	for (;;) {
		uint32_t st = tf_bar_rd32(&s->regs->status);

		if ((st & mask) == want)
			return 0;
		if ((st & TF_STATUS_FAILED) && !(want & TF_STATUS_FAILED) &&
		    (mask & TF_STATUS_READY) && (want & TF_STATUS_READY))
			return -EIO;
		if (mono_ms() >= end)
			return -ETIMEDOUT;
		backoff(&round);
	}
}

static int
shm_reset(struct tf_card_host *h, int timeout_ms)
{
	struct shm_host *s = SHM(h);
	struct tf_bar_regs *r = s->regs;
	int rc;

	s->enabled = 0;
	tf_bar_wr32(&r->control, 0);
	rc = wait_status(s, TF_STATUS_DISABLED | TF_STATUS_READY | TF_STATUS_FAILED,
			 TF_STATUS_DISABLED, timeout_ms);
	if (rc < 0)
		return rc;
	s->sq_tail = 0;
	s->cq_head = 0;
	tf_bar_wr32(&r->aq_sq_tail, 0);
	tf_bar_wr32(&r->aq_cq_head, 0);
	tf_bar_wr64(&r->host_features, r->card_features & TF_FEAT_KNOWN_MASK);
	tf_bar_wr32(&r->control, TF_CONTROL_ENABLE);
	rc = wait_status(s, TF_STATUS_READY, TF_STATUS_READY, timeout_ms);
	if (rc < 0)
		return rc;
	s->boot_count = tf_bar_rd32(&r->boot_count);
	s->enabled = 1;
	return 0;
}

/* Takes the completions the card produced; returns 1 if `want` was among them. */
static int
reap(struct shm_host *s, uint32_t want, struct tf_aq_cqe *out)
{
	uint32_t tail = tf_bar_rd32(&s->regs->aq_cq_tail);
	int found = 0;

	/*
	 * A restarted card starts its queues again from 0: a tail that is behind
	 * our head, or further ahead than the queue holds, is not a completion
	 * to take (walking to it would spin through 2^32 slots). The caller
	 * notices the restart through boot_count.
	 */
	if (tail - s->cq_head > s->aq_depth)
		return 0;
	while (s->cq_head != tail) {
		struct tf_aq_cqe c;

		memcpy(&c, s->cq + (size_t)(s->cq_head & (s->aq_depth - 1)) * s->cqe_size,
		       sizeof(c));
		s->cq_head++;
		tf_bar_wr32(&s->regs->aq_cq_head, s->cq_head);
		if (c.cmd_id == want && !found) {
			*out = c;
			found = 1;
		}
		/* else: the completion of a command we gave up on; dropped. */
	}
	return found;
}

static int
shm_admin(struct tf_card_host *h, struct tf_aq_sqe *sqe, struct tf_aq_cqe *cqe, int timeout_ms)
{
	struct shm_host *s = SHM(h);
	struct tf_bar_regs *r = s->regs;
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	unsigned int round = 0;
	uint32_t st;

	if (!s->enabled)
		return -ENOTCONN;
	if (tf_bar_rd32(&r->boot_count) != s->boot_count) {
		s->enabled = 0;
		return -ECONNRESET;
	}
	st = tf_bar_rd32(&r->status);
	if (st & TF_STATUS_FAILED)
		return -EIO;
	if (!(st & TF_STATUS_READY)) {
		s->enabled = 0;
		return -ENOTCONN;
	}
	reap(s, 0, cqe); /* stale completions free their slots */
	if (s->sq_tail - s->cq_head >= s->aq_depth)
		return -EBUSY;
	sqe->cmd_id = ++s->cmd_id;
	memcpy(s->sq + (size_t)(s->sq_tail & (s->aq_depth - 1)) * s->sqe_size, sqe, sizeof(*sqe));
	s->sq_tail++;
	tf_bar_wr32(&r->aq_sq_tail, s->sq_tail);
	for (;;) {
		if (reap(s, sqe->cmd_id, cqe))
			return 0;
		if (tf_bar_rd32(&r->boot_count) != s->boot_count) {
			s->enabled = 0;
			return -ECONNRESET;
		}
		if (tf_bar_rd32(&r->status) & TF_STATUS_FAILED)
			return -EIO;
		if (mono_ms() >= end)
			return -ETIMEDOUT;
		backoff(&round);
	}
}

static int
shm_event_read(struct tf_card_host *h, struct tf_eq_entry *ev, unsigned int max)
{
	struct shm_host *s = SHM(h);
	uint64_t prod = tf_bar_rd64(&s->regs->eq_prod_seq);
	unsigned int n = 0;

	/* Never read past what the card may have written since our last ack. */
	if (prod > s->ack + s->eq_depth)
		prod = s->ack + s->eq_depth;
	while (s->read_seq < prod && n < max) {
		uint64_t seq = s->read_seq + 1;

		memcpy(&ev[n], s->eq + (size_t)(seq & (s->eq_depth - 1)) * s->eqe_size,
		       sizeof(ev[n]));
		s->read_seq = seq;
		n++;
	}
	if (n)
		s->idle_us = 0; /* events flow: look again soon when they pause */
	return (int)n;
}

static int
shm_event_ack(struct tf_card_host *h, uint64_t seq)
{
	struct shm_host *s = SHM(h);

	if (seq > s->read_seq || seq < s->ack)
		return -EINVAL;
	s->ack = seq;
	tf_bar_wr64(&s->regs->eq_ack_seq, seq);
	return 0;
}

static int
shm_event_wait(struct tf_card_host *h, int timeout_ms, int wake_fd)
{
	struct shm_host *s = SHM(h);
	uint64_t end = mono_us() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;

	for (;;) {
		struct pollfd pfd = { .fd = wake_fd, .events = POLLIN };
		struct timespec ts = { 0, 0 };
		uint64_t now, nap;

		if (tf_bar_rd64(&s->regs->eq_prod_seq) > s->read_seq)
			return 1;
		now = mono_us();
		if (now >= end)
			return 0;
		nap = s->idle_us < IDLE_MIN_US ? IDLE_MIN_US : s->idle_us;
		s->idle_us = nap * 2 > IDLE_MAX_US ? IDLE_MAX_US : (uint32_t)nap * 2;
		if (nap > end - now)
			nap = end - now;
		ts.tv_sec = (time_t)(nap / 1000000);
		ts.tv_nsec = (long)(nap % 1000000) * 1000;
		/* A negative wake_fd is ignored by ppoll(): then a plain nap. */
		if (ppoll(&pfd, 1, &ts, NULL) > 0 && (pfd.revents & POLLIN))
			return 2;
	}
}

static void
shm_host_heartbeat(struct tf_card_host *h)
{
	struct shm_host *s = SHM(h);

	tf_bar_wr64(&s->regs->host_heartbeat, s->regs->host_heartbeat + 1);
}

const struct tf_card_access_ops tf_card_access_shm = {
	.name = "shm",
	.default_target = "/dev/shm/tokfab0",
	.open = shm_open_card,
	.close = shm_close,
	.info = shm_info,
	.reset = shm_reset,
	.admin = shm_admin,
	.event_read = shm_event_read,
	.event_ack = shm_event_ack,
	.event_wait = shm_event_wait,
	.host_heartbeat = shm_host_heartbeat,
};
