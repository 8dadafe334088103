/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest-side checks of tokfab.ko (run inside the VM by tests/vm/guest/kmod_*.sh).
 * Each subcommand exits 0 when every check held, 1 (with "FAIL: what") when
 * one did not:
 *
 *   identity DEV SERIAL      identity/features/status ioctls agree with the card
 *   admin DEV                admin round trips through lib/card's "kmod" access path,
 *                            from several threads at once
 *   events DEV N [ACK_EVERY] read N usage records with read()+poll(): in order,
 *                            none lost, acknowledged as we go
 *   health DEV               read one health event (unprivileged readers: only these)
 *   badargs DEV              malformed ioctl arguments: the right errno each
 *   unpriv DEV               as an unprivileged user: admin calls refused (EPERM),
 *                            usage records invisible
 *   admin-fails DEV MS ERR   an admin command with a timeout of MS fails with ERR
 *                            (ETIMEDOUT: hung card, EIO: card marked failed)
 *   state DEV STATE          the driver reports STATE (running, failed, ...)
 *   gone DEV                 hold the fd, wait for the device to be removed, then
 *                            expect ENODEV / POLLHUP
 *   gone-read DEV            block in read() while the device is removed: ENODEV
 *   leaks SINCE LO-HI...     objects in /sys/kernel/debug/slab/kmalloc-*\/alloc_traces
 *                            (slub_debug=U) younger than SINCE jiffies whose allocation
 *                            stack passes through [LO, HI) (where tokfab.ko was): leaks
 *   hostq DEV N              a host queue for a tenant, handed to an unprivileged child
 *                            that submits N requests through the mmap'd rings and checks
 *                            every token; their usage records reach the event queue
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "card/host.h"
#include "tokfab/hostq.h"
#include "uapi/tokfab.h"

#include <dirent.h>
#include <sys/wait.h>

static void __attribute__((format(printf, 1, 2), noreturn)) fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

static int
open_dev(const char *dev, int flags)
{
	int fd = open(dev, flags | O_CLOEXEC);

	if (fd < 0)
		fail("open %s: %s", dev, strerror(errno));
	return fd;
}

/* ioctl returning 0 or -errno. */
static int
xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static const char *const g_states[] = { "init", "running", "failed", "resetting", "gone" };

static int
cmd_identity(const char *dev, const char *serial)
{
	struct tokfab_identity id = { .size = sizeof(id) };
	struct tokfab_features ft = { .size = sizeof(ft) };
	struct tokfab_status st = { .size = sizeof(st) };
	int fd = open_dev(dev, O_RDONLY), rc;

	if ((rc = xioctl(fd, TOKFAB_IOC_IDENTITY, &id)) < 0)
		fail("IDENTITY: %s", strerror(-rc));
	if (id.size != sizeof(id))
		fail("IDENTITY wrote %u bytes, expected %zu", id.size, sizeof(id));
	if (strcmp(id.serial, serial))
		fail("serial '%s', the card's is '%s'", id.serial, serial);
	if (TF_ABI_VERSION_MAJOR(id.abi_version) != TF_ABI_MAJOR ||
	    id.vendor_id != TF_PCI_VENDOR_ID || id.device_id != TF_PCI_DEVICE_ID || !id.epoch ||
	    id.state != TOKFAB_STATE_RUNNING)
		fail("identity: abi %#x vendor %#x device %#x epoch %llx state %u", id.abi_version,
		     id.vendor_id, id.device_id, (unsigned long long)id.epoch, id.state);
	if ((rc = xioctl(fd, TOKFAB_IOC_GET_FEATURES, &ft)) < 0)
		fail("GET_FEATURES: %s", strerror(-rc));
	if (!(ft.features & TOKFAB_F_ADMIN) || !(ft.features & TOKFAB_F_EVENTS) ||
	    ft.card_features != id.card_features || (ft.host_features & ~ft.card_features) ||
	    !(ft.host_features & TF_FEAT_IVSHMEM_DOORBELL))
		fail("features: driver %#llx card %#llx host %#llx",
		     (unsigned long long)ft.features, (unsigned long long)ft.card_features,
		     (unsigned long long)ft.host_features);
	if ((rc = xioctl(fd, TOKFAB_IOC_STATUS, &st)) < 0)
		fail("STATUS: %s", strerror(-rc));
	if (!(st.card_status & TF_STATUS_READY) || !st.heartbeat || st.resets < 1)
		fail("status: card_status %#x heartbeat %llu resets %llu", st.card_status,
		     (unsigned long long)st.heartbeat, (unsigned long long)st.resets);
	printf("identity: %s fw %s abi %u.%u aq %u eq %u hb %u ms, heartbeat %llu\n", id.serial,
	       id.fw_version_str, TF_ABI_VERSION_MAJOR(id.abi_version),
	       TF_ABI_VERSION_MINOR(id.abi_version), id.aq_depth, id.eq_depth, id.hb_period_ms,
	       (unsigned long long)st.heartbeat);
	close(fd);
	return 0;
}

/* ------------------------------------------------------------------ admin */

struct admin_thread {
	const char *dev;
	unsigned int id;
	unsigned int rounds;
	char err[256];
};

static void *
admin_worker(void *arg)
{
	struct admin_thread *t = arg;
	struct tf_card_host *h;
	const char *why;
	char spec[128];
	unsigned int i;
	int rc;

	snprintf(spec, sizeof(spec), "kmod:%s", t->dev);
	rc = tf_card_host_open(spec, &h, &why);
	if (rc < 0) {
		snprintf(t->err, sizeof(t->err), "open %s: %s", spec, why);
		return NULL;
	}
	for (i = 0; i < t->rounds; i++) {
		struct tf_aq_set_tenant st = { 0 };
		struct tf_aq_tenant_info info;
		struct tf_aq_id q = { 0 };
		uint16_t status;
		uint32_t detail;

		st.tenant_id = t->id;
		snprintf(st.name, sizeof(st.name), "tenant-%u", t->id);
		st.key_len = TF_KEY_MIN;
		memset(st.key, 0x40 + (int)t->id, TF_KEY_MIN);
		st.budget_micro = 1000000ull * t->id + i;
		st.flags = TF_TENANT_F_SET_BALANCE;
		st.balance_micro = i;
		rc = tf_card_cmd(h, TF_AQ_SET_TENANT, &st, &info, sizeof(info), &status, &detail,
				 5000);
		if (rc < 0 || status != TF_AQ_S_OK || info.budget_micro != st.budget_micro) {
			snprintf(t->err, sizeof(t->err),
				 "SET_TENANT %u round %u: rc %d status %u budget %llu", t->id, i,
				 rc, status, (unsigned long long)info.budget_micro);
			break;
		}
		q.id = t->id;
		rc = tf_card_cmd(h, TF_AQ_GET_TENANT, &q, &info, sizeof(info), &status, &detail,
				 5000);
		if (rc < 0 || status != TF_AQ_S_OK || info.tenant_id != t->id ||
		    info.budget_micro != st.budget_micro || (uint64_t)info.balance_micro != i) {
			snprintf(t->err, sizeof(t->err), "GET_TENANT %u round %u: rc %d status %u",
				 t->id, i, rc, status);
			break;
		}
	}
	tf_card_host_close(h);
	return NULL;
}

static int
cmd_admin(const char *dev)
{
	enum { NTHREADS = 4, ROUNDS = 100 };
	struct admin_thread th[NTHREADS];
	pthread_t tid[NTHREADS];
	struct tf_card_host *h;
	struct tf_card_info info;
	struct tf_aq_identity id;
	struct tf_aq_health health;
	struct tf_aq_get_health gh = { 0 };
	struct tf_aq_id q = { .id = 999 };
	struct tf_aq_tenant_info ti;
	const char *why;
	char spec[128];
	uint16_t status;
	uint32_t detail;
	int rc, i;

	snprintf(spec, sizeof(spec), "kmod:%s", dev);
	if ((rc = tf_card_host_open(spec, &h, &why)) < 0)
		fail("open %s: %s", spec, why);
	if ((rc = h->ops->info(h, &info)) < 0)
		fail("info: %s", tf_card_strerror(rc));
	rc = tf_card_cmd(h, TF_AQ_IDENTIFY, NULL, &id, sizeof(id), &status, &detail, 5000);
	if (rc < 0 || status != TF_AQ_S_OK)
		fail("IDENTIFY: rc %d (%s) status %u", rc, tf_card_strerror(rc), status);
	if (id.epoch != info.epoch || strcmp(id.serial, info.serial) ||
	    id.max_tenants != info.max_tenants)
		fail("IDENTIFY disagrees with the registers (serial %s/%s)", id.serial,
		     info.serial);
	rc = tf_card_cmd(h, TF_AQ_GET_HEALTH, &gh, &health, sizeof(health), &status, &detail, 5000);
	if (rc < 0 || status != TF_AQ_S_OK || health.total != 1 || health.count != 1 ||
	    health.e[0].component != TF_HC_CARD || health.e[0].state != TF_HS_UP)
		fail("GET_HEALTH: rc %d status %u total %u", rc, status, health.total);
	/* A card status other than OK comes back as such, with its detail. */
	rc = tf_card_cmd(h, TF_AQ_GET_TENANT, &q, &ti, sizeof(ti), &status, &detail, 5000);
	if (rc < 0 || status != TF_AQ_S_NOT_FOUND || detail != 999)
		fail("GET_TENANT of an unknown tenant: rc %d status %u detail %u", rc, status,
		     detail);
	/* Concurrent submitters share the queue; every answer goes to its asker. */
	for (i = 0; i < NTHREADS; i++) {
		th[i] = (struct admin_thread){ .dev = dev,
					       .id = (unsigned int)i + 1,
					       .rounds = ROUNDS };
		if (pthread_create(&tid[i], NULL, admin_worker, &th[i]))
			fail("pthread_create");
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
		if (th[i].err[0])
			fail("%s", th[i].err);
	}
	printf("admin: IDENTIFY, GET_HEALTH, NOT_FOUND and %d x %d SET/GET_TENANT round trips OK "
	       "(%llu bad completions)\n",
	       NTHREADS, ROUNDS, (unsigned long long)h->bad_completions);
	if (h->bad_completions)
		fail("bad completions");
	tf_card_host_close(h);
	return 0;
}

/* ----------------------------------------------------------------- events */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmd_events(const char *dev, unsigned long long n, unsigned int ack_every)
{
	struct tokfab_status st = { .size = sizeof(st) };
	struct tf_eq_entry ev[64];
	unsigned long long got = 0, wakeups = 0, next_req = 0, last_seq = 0, acked = 0;
	double t0 = now_s(), last_progress = t0;
	int fd = open_dev(dev, O_RDWR | O_NONBLOCK), rc;

	if ((rc = xioctl(fd, TOKFAB_IOC_STATUS, &st)) < 0)
		fail("STATUS: %s", strerror(-rc));
	last_seq = st.read_seq - 1;
	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		rc = poll(&pfd, 1, 1000);
		if (rc < 0)
			fail("poll: %s", strerror(errno));
		if (rc == 0) {
			if (now_s() - last_progress > 120)
				fail("no event for 120 s after %llu of %llu", got, n);
			continue;
		}
		if (pfd.revents & (POLLERR | POLLHUP))
			fail("poll revents %#x after %llu events", pfd.revents, got);
		wakeups++;
		r = read(fd, ev, sizeof(ev));
		if (r < 0 && errno == EAGAIN)
			continue; /* a wake-up for what we already read */
		if (r < 0)
			fail("read after %llu events: %s", got, strerror(errno));
		if (r == 0 || r % (ssize_t)sizeof(ev[0]))
			fail("read returned %zd bytes: not whole records", r);
		for (ssize_t i = 0; i < r / (ssize_t)sizeof(ev[0]); i++) {
			const struct tf_eq_entry *e = &ev[i];

			if (e->seq != last_seq + 1)
				fail("event seq %llu after %llu: out of order or lost",
				     (unsigned long long)e->seq, last_seq);
			last_seq = e->seq;
			if (e->type != TF_EQ_USAGE)
				continue;
			if (next_req && e->body.usage.request_id != next_req)
				fail("usage record for request %llu, expected %llu",
				     (unsigned long long)e->body.usage.request_id, next_req);
			next_req = e->body.usage.request_id + 1;
			got++;
		}
		last_progress = now_s();
		if (last_seq - acked >= ack_every || got >= n) {
			struct tokfab_event_ack a = { .size = sizeof(a), .seq = last_seq };

			if ((rc = xioctl(fd, TOKFAB_IOC_EVENT_ACK, &a)) < 0)
				fail("EVENT_ACK %llu: %s", last_seq, strerror(-rc));
			acked = last_seq;
		}
	}
	/* Acknowledging again, or below, changes nothing; beyond what was read is refused. */
	{
		struct tokfab_event_ack a = { .size = sizeof(a), .seq = acked };

		if ((rc = xioctl(fd, TOKFAB_IOC_EVENT_ACK, &a)) < 0)
			fail("repeated EVENT_ACK: %s", strerror(-rc));
		a.seq = acked + 1;
		if ((rc = xioctl(fd, TOKFAB_IOC_EVENT_ACK, &a)) != -EINVAL)
			fail("EVENT_ACK beyond what was read: %s, expected EINVAL", strerror(-rc));
	}
	if ((rc = xioctl(fd, TOKFAB_IOC_STATUS, &st)) < 0)
		fail("STATUS: %s", strerror(-rc));
	if (st.eq_ack_seq != acked)
		fail("driver's eq_ack_seq %llu, acknowledged %llu",
		     (unsigned long long)st.eq_ack_seq, acked);
	printf("events: %llu usage records in order, none lost, %.1f s (%.0f/s), %llu poll "
	       "wake-ups, last seq %llu, card held back %llu posts (queue full)\n",
	       got, now_s() - t0, (double)got / (now_s() - t0), wakeups, last_seq,
	       (unsigned long long)st.eq_full_count);
	close(fd);
	return 0;
}

static int
cmd_health(const char *dev)
{
	struct tf_eq_entry ev;
	struct pollfd pfd;
	int fd = open_dev(dev, O_RDONLY | O_NONBLOCK);
	ssize_t r;

	for (;;) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 30000) != 1)
			fail("no health event within 30 s");
		r = read(fd, &ev, sizeof(ev));
		if (r < 0 && errno == EAGAIN)
			continue; /* only usage records, which this reader does not see */
		if (r != sizeof(ev))
			fail("read: %zd (%s)", r, strerror(errno));
		if (ev.type == TF_EQ_HEALTH)
			break;
		if (getuid() != 0)
			fail("an unprivileged reader got a usage record (seq %llu)",
			     (unsigned long long)ev.seq);
	}
	printf("health: seq %llu component %u state %u detail '%s'\n", (unsigned long long)ev.seq,
	       ev.body.health.component, ev.body.health.state, ev.body.health.detail);
	close(fd);
	return 0;
}

/* ---------------------------------------------------------- bad arguments */

#define EXPECT(what, call, err)                                                                 \
	do {                                                                                    \
		int rc_ = (call);                                                               \
		if (rc_ != -(err))                                                              \
			fail("%s: got %s, expected %s", what, rc_ ? strerror(-rc_) : "success", \
			     strerror(err));                                                    \
		checks++;                                                                       \
	} while (0)

static int
cmd_badargs(const char *dev)
{
	int fd = open_dev(dev, O_RDWR | O_NONBLOCK), checks = 0;
	struct tokfab_identity id;
	struct tokfab_admin a;
	struct tokfab_event_ack ack;
	struct tokfab_event_seek seek;
	uint8_t big[8192];
	uint8_t req[TF_AQ_PAYLOAD_MAX], resp[TF_AQ_PAYLOAD_MAX];
	struct tf_aq_id *q = (struct tf_aq_id *)req;
	void *unmapped;
	char buf[TOKFAB_EVENT_SIZE];

	unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (unmapped == MAP_FAILED)
		fail("mmap");
	/* Argument structs */
	EXPECT("IDENTITY with a NULL argument", xioctl(fd, TOKFAB_IOC_IDENTITY, NULL), EFAULT);
	EXPECT("IDENTITY at an unmapped address", xioctl(fd, TOKFAB_IOC_IDENTITY, unmapped),
	       EFAULT);
	id = (struct tokfab_identity){ .size = 4 };
	EXPECT("IDENTITY with size 4", xioctl(fd, TOKFAB_IOC_IDENTITY, &id), EINVAL);
	id.size = 0x7fffffff;
	EXPECT("IDENTITY with a huge size", xioctl(fd, TOKFAB_IOC_IDENTITY, &id), EINVAL);
	memset(big, 0, sizeof(big));
	((struct tokfab_identity *)big)->size = sizeof(id) + 64;
	EXPECT("IDENTITY of a newer, larger struct (zero tail)",
	       xioctl(fd, TOKFAB_IOC_IDENTITY, big), 0);
	big[sizeof(id) + 8] = 1;
	((struct tokfab_identity *)big)->size = sizeof(id) + 64;
	EXPECT("IDENTITY of a larger struct with unknown non-zero fields",
	       xioctl(fd, TOKFAB_IOC_IDENTITY, big), E2BIG);
	EXPECT("unknown ioctl number",
	       xioctl(fd, _IOWR(TOKFAB_IOC_MAGIC, 0x7f, struct tokfab_identity), &id), ENOTTY);
	EXPECT("another driver's ioctl", xioctl(fd, _IOWR('T', 1, int), &id), ENOTTY);

	/* Admin: every field of struct tokfab_admin */
	memset(req, 0, sizeof(req));
	q->id = 1;
#define ADMIN_INIT()                                                    \
	(a = (struct tokfab_admin){ .size = sizeof(a),                  \
				    .opcode = TF_AQ_GET_TENANT,         \
				    .req_len = sizeof(struct tf_aq_id), \
				    .req_ptr = (uintptr_t)req,          \
				    .resp_ptr = (uintptr_t)resp,        \
				    .resp_len = sizeof(resp) })
	ADMIN_INIT();
	EXPECT("a valid admin command", xioctl(fd, TOKFAB_IOC_ADMIN, &a), 0);
	ADMIN_INIT();
	a.opcode = 0x7777;
	EXPECT("admin: unknown opcode", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EINVAL);
	ADMIN_INIT();
	a.req_len = 7;
	EXPECT("admin: request length not the opcode's", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EINVAL);
	ADMIN_INIT();
	a.req_len = 0xffffffff;
	EXPECT("admin: huge request length", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EINVAL);
	ADMIN_INIT();
	a.req_ptr = 0;
	EXPECT("admin: NULL request pointer", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EFAULT);
	ADMIN_INIT();
	a.req_ptr = (uintptr_t)unmapped;
	EXPECT("admin: unmapped request pointer", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EFAULT);
	ADMIN_INIT();
	a.req_ptr = 0xffff800000000000ull;
	EXPECT("admin: kernel-space request pointer", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EFAULT);
	ADMIN_INIT();
	a.resp_len = 8;
	EXPECT("admin: response buffer too small", xioctl(fd, TOKFAB_IOC_ADMIN, &a), ENOSPC);
	ADMIN_INIT();
	a.resp_ptr = (uintptr_t)unmapped;
	EXPECT("admin: unmapped response pointer", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EFAULT);
	ADMIN_INIT();
	a.flags = 1;
	EXPECT("admin: flags set", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EINVAL);
	ADMIN_INIT();
	a.reserved0 = 1;
	EXPECT("admin: reserved0 set", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EINVAL);
	ADMIN_INIT();
	a.reserved1 = 1;
	EXPECT("admin: reserved1 set", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EINVAL);
	ADMIN_INIT();
	a.timeout_ms = TOKFAB_ADMIN_TIMEOUT_MAX_MS + 1;
	EXPECT("admin: timeout above the maximum", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EINVAL);
	ADMIN_INIT();
	a.size = 8;
	EXPECT("admin: size below the first version", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EINVAL);
	EXPECT("admin: argument at an unmapped address", xioctl(fd, TOKFAB_IOC_ADMIN, unmapped),
	       EFAULT);

	/* Events */
	ack = (struct tokfab_event_ack){ .size = sizeof(ack), .flags = 1 };
	EXPECT("EVENT_ACK with flags", xioctl(fd, TOKFAB_IOC_EVENT_ACK, &ack), EINVAL);
	ack = (struct tokfab_event_ack){ .size = sizeof(ack), .seq = ~0ull };
	EXPECT("EVENT_ACK of a sequence never posted", xioctl(fd, TOKFAB_IOC_EVENT_ACK, &ack),
	       EINVAL);
	seek = (struct tokfab_event_seek){ .size = sizeof(seek), .whence = 9 };
	EXPECT("EVENT_SEEK with an unknown whence", xioctl(fd, TOKFAB_IOC_EVENT_SEEK, &seek),
	       EINVAL);
	seek = (struct tokfab_event_seek){ .size = sizeof(seek),
					   .whence = TOKFAB_SEEK_SET,
					   .seq = ~0ull };
	EXPECT("EVENT_SEEK beyond the queue", xioctl(fd, TOKFAB_IOC_EVENT_SEEK, &seek), ERANGE);
	EXPECT("read() of less than one record",
	       read(fd, buf, TOKFAB_EVENT_SIZE - 1) < 0 ? -errno : 0, EINVAL);
	/* The script posted a health event first: there is something to copy. */
	EXPECT("read() into an unmapped buffer",
	       read(fd, unmapped, TOKFAB_EVENT_SIZE) < 0 ? -errno : 0, EFAULT);
	EXPECT("write() (not supported)", write(fd, buf, 1) < 0 ? -errno : 0, EINVAL);
	EXPECT("lseek() (a stream)", lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0, ESPIPE);
	printf("badargs: %d malformed calls rejected with the right errno\n", checks);
	munmap(unmapped, 4096);
	close(fd);
	return 0;
}

/* As an unprivileged user (the script runs us with setpriv). */
static int
cmd_unpriv(const char *dev)
{
	int fd = open_dev(dev, O_RDONLY | O_NONBLOCK), checks = 0;
	struct tokfab_identity id = { .size = sizeof(id) };
	struct tokfab_event_ack ack = { .size = sizeof(ack), .seq = 1 };
	struct tokfab_event_seek seek = { .size = sizeof(seek) };
	struct tokfab_admin a = { .size = sizeof(a), .opcode = TF_AQ_IDENTIFY };
	struct tf_eq_entry ev[16];
	ssize_t r;

	if (getuid() == 0 || geteuid() == 0)
		fail("unpriv must run as a non-root user");
	EXPECT("IDENTITY as an unprivileged user", xioctl(fd, TOKFAB_IOC_IDENTITY, &id), 0);
	EXPECT("ADMIN as an unprivileged user", xioctl(fd, TOKFAB_IOC_ADMIN, &a), EPERM);
	EXPECT("EVENT_ACK as an unprivileged user", xioctl(fd, TOKFAB_IOC_EVENT_ACK, &ack), EPERM);
	EXPECT("EVENT_SEEK as an unprivileged user", xioctl(fd, TOKFAB_IOC_EVENT_SEEK, &seek),
	       EPERM);
	EXPECT("RESET as an unprivileged user", xioctl(fd, TOKFAB_IOC_RESET, NULL), EPERM);
	while ((r = read(fd, ev, sizeof(ev))) > 0)
		for (ssize_t i = 0; i < r / (ssize_t)sizeof(ev[0]); i++)
			if (ev[i].type != TF_EQ_HEALTH)
				fail("an unprivileged reader got a usage record (seq %llu)",
				     (unsigned long long)ev[i].seq);
	if (r < 0 && errno != EAGAIN)
		fail("read: %s", strerror(errno));
	printf("unpriv: %d calls refused or allowed as documented, no usage record visible\n",
	       checks);
	close(fd);
	return 0;
}

static int
cmd_admin_fails(const char *dev, unsigned int timeout_ms, const char *want)
{
	uint8_t resp[TF_AQ_PAYLOAD_MAX];
	struct tokfab_admin a = { .size = sizeof(a),
				  .opcode = TF_AQ_IDENTIFY,
				  .timeout_ms = timeout_ms,
				  .resp_ptr = (uintptr_t)resp,
				  .resp_len = sizeof(resp) };
	int fd = open_dev(dev, O_RDWR), rc, err = !strcmp(want, "ETIMEDOUT") ? ETIMEDOUT : EIO;

	rc = xioctl(fd, TOKFAB_IOC_ADMIN, &a);
	if (rc != -err)
		fail("admin command on a hung or failed card: %s, expected %s",
		     rc ? strerror(-rc) : "success", want);
	printf("admin-fails: %s as expected\n", strerror(-rc));
	close(fd);
	return 0;
}

static int
cmd_state(const char *dev, const char *want)
{
	struct tokfab_status st = { .size = sizeof(st) };
	int fd = open_dev(dev, O_RDONLY), rc;

	if ((rc = xioctl(fd, TOKFAB_IOC_STATUS, &st)) < 0)
		fail("STATUS: %s", strerror(-rc));
	if (st.state >= sizeof(g_states) / sizeof(g_states[0]) || strcmp(g_states[st.state], want))
		fail("state %u (%s), expected %s", st.state,
		     st.state < 5 ? g_states[st.state] : "?", want);
	close(fd);
	return 0;
}

/* Holds an fd across the device's removal (the script unbinds it). */
static int
cmd_gone(const char *dev)
{
	struct tokfab_identity id = { .size = sizeof(id) };
	struct pollfd pfd;
	char buf[TOKFAB_EVENT_SIZE];
	int fd = open_dev(dev, O_RDWR), checks = 0;

	printf("gone: holding %s open\n", dev);
	fflush(stdout);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (int i = 0; i < 600; i++) {
		if (poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLHUP))
			break;
		pfd.revents = 0;
	}
	if (!(pfd.revents & POLLHUP))
		fail("no POLLHUP within 60 s of the removal");
	EXPECT("read() after removal", read(fd, buf, sizeof(buf)) < 0 ? -errno : 0, ENODEV);
	EXPECT("IDENTITY after removal", xioctl(fd, TOKFAB_IOC_IDENTITY, &id), ENODEV);
	close(fd);
	printf("gone: POLLHUP, then ENODEV for every call; fd closed\n");
	return 0;
}

/* Blocks in read() with nothing to read while the script removes the device. */
static int
cmd_gone_read(const char *dev)
{
	char buf[TOKFAB_EVENT_SIZE * 4];
	int fd = open_dev(dev, O_RDONLY);
	ssize_t r;

	printf("gone-read: blocking in read()\n");
	fflush(stdout);
	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == ENODEV)
			break;
		if (r < 0)
			fail("read: %s, expected ENODEV", strerror(errno));
	}
	close(fd);
	printf("gone-read: ENODEV\n");
	return 0;
}

/* ------------------------------------------------------------- host queues */

#define HQ_TENANT 77

struct hq_map {
	int fd;
	struct tokfab_hq_create info;
	uint8_t *base;
	struct tf_hq_ring *ring;
	struct tf_hq_sqe *sq;
	struct tf_hq_cqe *cq;
};

static uint32_t
ld32(const __le32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
st32(__le32 *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* The child: no privileges, only the inherited host-queue fd. */
static int
hq_client(struct hq_map *m, unsigned int n)
{
	uint32_t sqn = m->info.sq_entries, cqn = m->info.cq_entries, sq_tail = 0, cq_head = 0;
	unsigned int submitted = 0, done = 0, i, got_tokens[64] = { 0 };
	unsigned int tokens_total = 0, wakeups = 0;
	char buf[TOKFAB_EVENT_SIZE];

	if (setgid(65534) || setuid(65534))
		fail("dropping privileges");
	/* What a client does with an fd it was given: map the rings itself. */
	m->base = mmap(NULL, m->info.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->base == MAP_FAILED)
		fail("mmap of the rings: %s", strerror(errno));
	m->ring = (struct tf_hq_ring *)m->base;
	m->sq = (struct tf_hq_sqe *)(m->base + m->info.sq_off);
	m->cq = (struct tf_hq_cqe *)(m->base + m->info.cq_off);
	if (read(m->fd, buf, sizeof(buf)) >= 0 || errno != EINVAL)
		fail("read() on a host-queue fd: expected EINVAL");
	if (ioctl(m->fd, TOKFAB_IOC_EVENT_ACK, &(struct tokfab_event_ack){ .size = 16 }) == 0 ||
	    errno != EPERM)
		fail("EVENT_ACK through a host-queue fd: expected EPERM");
	/* One malformed request first: model_id 0. */
	memset(&m->sq[0], 0, sizeof(m->sq[0]));
	m->sq[0].user_data = 0xbad;
	m->sq[0].n_prompt = 1;
	m->sq[0].max_new_tokens = 1;
	st32(&m->ring->sq_tail, ++sq_tail);
	while (done < n + 1) {
		struct pollfd pfd = { .fd = m->fd, .events = POLLIN };

		/* Submit while the SQ has room and the CQ can take the answers. */
		while (submitted < n && sq_tail - ld32(&m->ring->sq_head) < sqn &&
		       submitted - (done > 0 ? done - 1 : 0) < 4) {
			struct tf_hq_sqe *s = &m->sq[sq_tail & (sqn - 1)];
			unsigned int np = 1 + submitted % 8;

			memset(s, 0, sizeof(*s));
			s->user_data = 1000 + submitted;
			s->model_id = 1;
			s->n_prompt = (uint16_t)np;
			s->max_new_tokens = (uint16_t)(1 + submitted % 30);
			for (i = 0; i < np; i++)
				s->prompt[i] = 100 * submitted + i;
			st32(&m->ring->sq_tail, ++sq_tail);
			submitted++;
		}
		if (poll(&pfd, 1, 30000) != 1)
			fail("no completion within 30 s (%u of %u done)", done, n);
		if (pfd.revents & POLLERR)
			fail("POLLERR on the host queue");
		wakeups++;
		while (cq_head != ld32(&m->ring->cq_tail)) {
			const struct tf_hq_cqe *e = &m->cq[cq_head & (cqn - 1)];
			uint64_t ud = e->user_data;

			if (ud == 0xbad) {
				if (e->type != TF_HQ_ERROR || e->status != TF_HQ_E_BAD_SQE ||
				    e->u.done.detail != offsetof(struct tf_hq_sqe, model_id))
					fail("malformed SQE: type %u status %u detail %u", e->type,
					     e->status, e->u.done.detail);
				done++;
			} else {
				unsigned int r = (unsigned int)(ud - 1000), np = 1 + r % 8;
				unsigned int want = 1 + r % 30;
				uint32_t last = 100 * r + np - 1;

				if (ud < 1000 || r >= submitted)
					fail("completion for unknown user_data %llu",
					     (unsigned long long)ud);
				if (e->type == TF_HQ_TOKENS) {
					for (i = 0; i < e->count; i++)
						if (e->u.tokens[i] !=
						    last + got_tokens[r % 64] + i + 1)
							fail("request %u token %u: %u", r,
							     got_tokens[r % 64] + i,
							     e->u.tokens[i]);
					got_tokens[r % 64] += e->count;
					tokens_total += e->count;
				} else if (e->type == TF_HQ_DONE) {
					if (got_tokens[r % 64] != want ||
					    e->u.done.completion_tokens != want ||
					    e->u.done.prompt_tokens != np || !e->u.done.event_seq ||
					    e->status != 0)
						fail("request %u done: %u tokens (want %u), usage "
						     "%u/%u, seq %llu",
						     r, got_tokens[r % 64], want,
						     e->u.done.prompt_tokens,
						     e->u.done.completion_tokens,
						     (unsigned long long)e->u.done.event_seq);
					got_tokens[r % 64] = 0;
					done++;
				} else {
					fail("request %u: completion type %u status %u", r, e->type,
					     e->status);
				}
			}
			st32(&m->ring->cq_head, ++cq_head);
		}
	}
	printf("hostq: unprivileged client: %u requests, %u tokens checked, 1 malformed request "
	       "refused, %u poll wake-ups\n",
	       n, tokens_total, wakeups);
	return 0;
}

static int
cmd_hostq(const char *dev, unsigned int n)
{
	struct tokfab_hq_create hc = {
		.size = sizeof(hc), .tenant_id = HQ_TENANT, .sq_entries = 16, .cq_entries = 64
	};
	struct tf_aq_set_tenant st = { .tenant_id = HQ_TENANT, .key_len = TF_KEY_MIN };
	struct tf_aq_tenant_info ti;
	struct tf_card_host *h;
	struct hq_map m = { 0 };
	struct tf_eq_entry ev[64];
	const char *why;
	char spec[128];
	uint16_t status;
	uint32_t detail;
	unsigned int seen = 0, checks = 0;
	int rc, wst, fd2;
	pid_t pid;

	/* The card must know the tenant. */
	snprintf(spec, sizeof(spec), "kmod:%s", dev);
	if (tf_card_host_open(spec, &h, &why) < 0)
		fail("open %s: %s", spec, why);
	strcpy(st.name, "hostq-tenant");
	memset(st.key, 7, TF_KEY_MIN);
	st.flags = TF_TENANT_F_UNLIMITED;
	rc = tf_card_cmd(h, TF_AQ_SET_TENANT, &st, &ti, sizeof(ti), &status, &detail, 5000);
	if (rc < 0 || status != TF_AQ_S_OK)
		fail("SET_TENANT: rc %d status %u detail %u", rc, status, detail);

	m.fd = open_dev(dev, O_RDWR);
	EXPECT("HQ_CREATE with tenant 0",
	       xioctl(m.fd, TOKFAB_IOC_HQ_CREATE,
		      &(struct tokfab_hq_create){
			      .size = sizeof(hc), .sq_entries = 16, .cq_entries = 64 }),
	       EINVAL);
	EXPECT("HQ_CREATE with entries not a power of two",
	       xioctl(m.fd, TOKFAB_IOC_HQ_CREATE,
		      &(struct tokfab_hq_create){ .size = sizeof(hc),
						  .tenant_id = HQ_TENANT,
						  .sq_entries = 12,
						  .cq_entries = 64 }),
	       EINVAL);
	EXPECT("HQ_CREATE with rings larger than a window",
	       xioctl(m.fd, TOKFAB_IOC_HQ_CREATE,
		      &(struct tokfab_hq_create){ .size = sizeof(hc),
						  .tenant_id = HQ_TENANT,
						  .sq_entries = 1u << 20,
						  .cq_entries = 1u << 20 }),
	       EINVAL);
	EXPECT("mmap before HQ_CREATE",
	       mmap(NULL, 4096, PROT_READ, MAP_SHARED, m.fd, 0) == MAP_FAILED ? -errno : 0, EINVAL);
	EXPECT("HQ_CREATE", xioctl(m.fd, TOKFAB_IOC_HQ_CREATE, &hc), 0);
	m.info = hc;
	EXPECT("a second HQ_CREATE on the same fd", xioctl(m.fd, TOKFAB_IOC_HQ_CREATE, &hc), EBUSY);
	EXPECT("mmap beyond the ring area",
	       mmap(NULL, hc.ring_size + 4096, PROT_READ, MAP_SHARED, m.fd, 0) == MAP_FAILED
		       ? -errno
		       : 0,
	       EINVAL);
	EXPECT("mmap at an offset (the control page is never mapped)",
	       mmap(NULL, 4096, PROT_READ, MAP_SHARED, m.fd, 4096) == MAP_FAILED ? -errno : 0,
	       EINVAL);
	printf("hostq: queue %u for tenant %u: sq %u cq %u, ring area %llu bytes\n", hc.queue,
	       HQ_TENANT, hc.sq_entries, hc.cq_entries, (unsigned long long)hc.ring_size);

	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0)
		exit(hq_client(&m, n));
	if (waitpid(pid, &wst, 0) < 0 || !WIFEXITED(wst) || WEXITSTATUS(wst))
		fail("the host queue client failed");

	/* Every request is the tenant's, in the ledger's event stream. */
	fd2 = open_dev(dev, O_RDWR | O_NONBLOCK);
	while (seen < n) {
		struct pollfd pfd = { .fd = fd2, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 30000) != 1)
			fail("usage records of the host queue requests: %u of %u", seen, n);
		r = read(fd2, ev, sizeof(ev));
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			fail("read: %s", strerror(errno));
		for (ssize_t i = 0; i < r / (ssize_t)sizeof(ev[0]); i++) {
			struct tokfab_event_ack a = { .size = sizeof(a), .seq = ev[i].seq };

			if (ev[i].type != TF_EQ_USAGE)
				continue;
			if (ev[i].body.usage.tenant_id != HQ_TENANT ||
			    ev[i].body.usage.request_id != 1000 + seen)
				fail("usage record: tenant %u request %llu, expected %u / %u",
				     ev[i].body.usage.tenant_id,
				     (unsigned long long)ev[i].body.usage.request_id, HQ_TENANT,
				     1000 + seen);
			seen++;
			if (xioctl(fd2, TOKFAB_IOC_EVENT_ACK, &a))
				fail("EVENT_ACK");
		}
	}
	close(fd2);
	close(m.fd);
	tf_card_host_close(h);
	printf("hostq: %u usage records for tenant %u in the event queue; %d argument checks\n",
	       seen, HQ_TENANT, checks);
	return 0;
}

/* ------------------------------------------------------------------ leaks */

struct range {
	unsigned long long lo, hi;
};

static unsigned long long
scan_traces(const char *path, unsigned long long since, const struct range *r, int nr)
{
	unsigned long long n = 0, total = 0, age, a;
	char line[512], block[4096];
	int hit = 0, i;
	FILE *f = fopen(path, "r");

	if (!f)
		fail("%s: %s", path, strerror(errno));
	block[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t"), *q;

		if (*p >= '1' && *p <= '9') { /* "N func+off/size ... age=A[/B/C] ..." */
			if (hit == 1)
				printf("leak in %s:\n%s\n", path, block);
			n = strtoull(p, NULL, 10);
			hit = 0;
			q = strstr(p, " age=");
			if (q) {
				q += 5;
				if (strrchr(q, '/') && strchr(q, ' ') &&
				    strrchr(q, '/') < strchr(q, ' '))
					q = strrchr(q, '/') + 1; /* min/avg/max: the oldest */
				age = strtoull(q, NULL, 10);
				if (age >= since)
					hit = 2; /* before tokfab.ko was loaded: not ours */
			}
			snprintf(block, sizeof(block), "%s", line);
			continue;
		}
		if (strlen(block) + strlen(line) < sizeof(block) - 1)
			strcat(block, line);
		if (hit || strncmp(p, "0x", 2))
			continue;
		a = strtoull(p, NULL, 16);
		for (i = 0; i < nr; i++)
			if (a >= r[i].lo && a < r[i].hi) {
				total += n;
				hit = 1;
				break;
			}
	}
	if (hit == 1)
		printf("leak in %s:\n%s\n", path, block);
	fclose(f);
	return total;
}

static int
cmd_leaks(int argc, char **argv)
{
	struct range r[16];
	unsigned long long since = strtoull(argv[0], NULL, 0), total = 0;
	char path[512];
	int nr = 0, i;
	DIR *d;
	struct dirent *de;

	for (i = 1; i < argc && nr < 16; i++, nr++)
		if (sscanf(argv[i], "%llx-%llx", &r[nr].lo, &r[nr].hi) != 2)
			fail("range %s is not LO-HI (hex)", argv[i]);
	d = opendir("/sys/kernel/debug/slab");
	if (!d)
		fail("/sys/kernel/debug/slab: %s (debugfs mounted? slub_debug=U?)",
		     strerror(errno));
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "kmalloc-", 8))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/slab/%s/alloc_traces", de->d_name);
		total += scan_traces(path, since, r, nr);
	}
	closedir(d);
	printf("leaks: %llu objects allocated through tokfab.ko are still alive\n", total);
	return total ? 1 : 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "identity"))
		return cmd_identity(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "admin"))
		return cmd_admin(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "events"))
		return cmd_events(argv[2], strtoull(argv[3], NULL, 0),
				  argc >= 5 ? (unsigned int)strtoul(argv[4], NULL, 0) : 256);
	if (argc >= 3 && !strcmp(argv[1], "health"))
		return cmd_health(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "badargs"))
		return cmd_badargs(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "unpriv"))
		return cmd_unpriv(argv[2]);
	if (argc >= 5 && !strcmp(argv[1], "admin-fails"))
		return cmd_admin_fails(argv[2], (unsigned int)strtoul(argv[3], NULL, 0), argv[4]);
	if (argc >= 4 && !strcmp(argv[1], "state"))
		return cmd_state(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "gone"))
		return cmd_gone(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "gone-read"))
		return cmd_gone_read(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "leaks"))
		return cmd_leaks(argc - 2, argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "hostq"))
		return cmd_hostq(argv[2], (unsigned int)strtoul(argv[3], NULL, 0));
	fprintf(stderr, "usage: kmod_check identity|admin|events|health|badargs|unpriv|"
			"admin-fails|state|gone DEV [args]\n");
	return 2;
}
