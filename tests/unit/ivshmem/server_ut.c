/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/ivshmem/server.c: the test plays QEMU's part of the
 * ivshmem protocol (it reads the greeting and uses the fds it got).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ivshmem/ivshmem.h"
#include "tf_cunit.h"

#define NVEC 3

struct fake_qemu {
	int sock;
	int64_t id;
	int shm_fd;
	int card_fd[NVEC];
	int my_fd[NVEC];
};

static char g_path[108];

static int
recv_msg(int fd, int64_t *value, int *passfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint64_t le;
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cmsg;

	*passfd = -1;
	if (recvmsg(fd, &msg, 0) != (ssize_t)sizeof(le))
		return -1;
	*value = (int64_t)le64toh(le);
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg && cmsg->cmsg_type == SCM_RIGHTS)
		memcpy(passfd, CMSG_DATA(cmsg), sizeof(int));
	return 0;
}

static int
qemu_connect(struct fake_qemu *q)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	strcpy(sun.sun_path, g_path);
	q->sock = socket(AF_UNIX, SOCK_STREAM, 0);
	return connect(q->sock, (struct sockaddr *)&sun, sizeof(sun));
}

/* Reads and checks the whole greeting; returns 0 when it is as specified. */
static int
qemu_greeting(struct fake_qemu *q)
{
	int64_t v;
	int fd, i;

	if (recv_msg(q->sock, &v, &fd) || v != 0 || fd != -1)
		return -1;
	if (recv_msg(q->sock, &q->id, &fd) || q->id <= 0 || q->id > 65535 || fd != -1)
		return -2;
	if (recv_msg(q->sock, &v, &q->shm_fd) || v != -1 || q->shm_fd < 0)
		return -3;
	for (i = 0; i < NVEC; i++)
		if (recv_msg(q->sock, &v, &q->card_fd[i]) || v != TF_IVSHMEM_CARD_PEER ||
		    q->card_fd[i] < 0)
			return -4;
	for (i = 0; i < NVEC; i++)
		if (recv_msg(q->sock, &v, &q->my_fd[i]) || v != q->id || q->my_fd[i] < 0)
			return -5;
	return 0;
}

static void
qemu_close(struct fake_qemu *q)
{
	int i;

	close(q->sock);
	close(q->shm_fd);
	for (i = 0; i < NVEC; i++) {
		close(q->card_fd[i]);
		close(q->my_fd[i]);
	}
}

static int
make_shm(void)
{
	int fd = memfd_create("ivshmem_ut", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, 4096) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
test_create_rejects_bad_arguments(void)
{
	struct tf_ivshmem_server *srv;
	char longpath[200];
	int shm = make_shm();

	CU_ASSERT_EQUAL(tf_ivshmem_server_create(g_path, shm, 0, &srv), -EINVAL);
	CU_ASSERT_EQUAL(tf_ivshmem_server_create(g_path, shm, TF_IVSHMEM_MAX_VECTORS + 1, &srv),
			-EINVAL);
	CU_ASSERT_EQUAL(tf_ivshmem_server_create(g_path, -1, 1, &srv), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	CU_ASSERT_EQUAL(tf_ivshmem_server_create(longpath, shm, 1, &srv), -ENAMETOOLONG);
	CU_ASSERT_PTR_NULL(srv);
	close(shm);
}

static void
test_greeting_memory_doorbells_interrupts(void)
{
	struct tf_ivshmem_server *srv;
	struct fake_qemu q;
	uint64_t rang, one = 1, cnt;
	uint32_t *card_view, *guest_view;
	struct pollfd pfd;
	int shm = make_shm();

	CU_ASSERT_FATAL(shm >= 0);
	CU_ASSERT_FATAL(tf_ivshmem_server_create(g_path, shm, NVEC, &srv) == 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_guest_id(srv), -1);
	CU_ASSERT_FATAL(qemu_connect(&q) == 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv, 1000, &rang), 0);
	CU_ASSERT_EQUAL(rang, 0);
	CU_ASSERT_FATAL(qemu_greeting(&q) == 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_guest_id(srv), q.id);

	/* The memory the guest got is the card's memory. */
	card_view = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
	guest_view = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, q.shm_fd, 0);
	CU_ASSERT_FATAL(card_view != MAP_FAILED && guest_view != MAP_FAILED);
	__atomic_store_n(&card_view[7], 0x746f6b66, __ATOMIC_RELEASE);
	CU_ASSERT_EQUAL(__atomic_load_n(&guest_view[7], __ATOMIC_ACQUIRE), 0x746f6b66);

	/* Guest doorbells on vectors 0 and 2 (twice: they coalesce). */
	CU_ASSERT_EQUAL(write(q.card_fd[0], &one, 8), 8);
	CU_ASSERT_EQUAL(write(q.card_fd[2], &one, 8), 8);
	CU_ASSERT_EQUAL(write(q.card_fd[2], &one, 8), 8);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv, 1000, &rang), 0);
	CU_ASSERT_EQUAL(rang, 0x5);
	CU_ASSERT_EQUAL(tf_ivshmem_server_handle(srv, &rang), 0);
	CU_ASSERT_EQUAL(rang, 0);

	/* Card interrupts vector 1 only. */
	CU_ASSERT_EQUAL(tf_ivshmem_server_interrupt(srv, 1), 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_interrupt(srv, NVEC), -EINVAL);
	pfd = (struct pollfd){ .fd = q.my_fd[1], .events = POLLIN };
	CU_ASSERT_EQUAL(poll(&pfd, 1, 1000), 1);
	CU_ASSERT_EQUAL(read(q.my_fd[1], &cnt, 8), 8);
	CU_ASSERT_EQUAL(cnt, 1);
	pfd = (struct pollfd){ .fd = q.my_fd[0], .events = POLLIN };
	CU_ASSERT_EQUAL(poll(&pfd, 1, 0), 0);

	munmap(card_view, 4096);
	munmap(guest_view, 4096);
	qemu_close(&q);
	tf_ivshmem_server_destroy(srv);
	close(shm);
	CU_ASSERT_NOT_EQUAL(access(g_path, F_OK), 0);
}

static void
test_one_guest_at_a_time_and_reconnect(void)
{
	struct tf_ivshmem_server *srv;
	struct fake_qemu a, b;
	uint64_t rang;
	int64_t v;
	int fd, shm = make_shm(), first;

	CU_ASSERT_FATAL(tf_ivshmem_server_create(g_path, shm, NVEC, &srv) == 0);
	CU_ASSERT_FATAL(qemu_connect(&a) == 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv, 1000, &rang), 0);
	CU_ASSERT_FATAL(qemu_greeting(&a) == 0);
	first = (int)a.id;

	/* A second guest while the first is there is refused (closed at once). */
	CU_ASSERT_FATAL(qemu_connect(&b) == 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv, 1000, &rang), 0);
	CU_ASSERT_NOT_EQUAL(recv_msg(b.sock, &v, &fd), 0);
	close(b.sock);
	CU_ASSERT_EQUAL(tf_ivshmem_server_guest_id(srv), first);

	/* The first leaves: noticed; the next one gets a new id. */
	qemu_close(&a);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv, 1000, &rang), 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_guest_id(srv), -1);
	CU_ASSERT_EQUAL(tf_ivshmem_server_interrupt(srv, 0), 0);
	CU_ASSERT_FATAL(qemu_connect(&b) == 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv, 1000, &rang), 0);
	CU_ASSERT_FATAL(qemu_greeting(&b) == 0);
	CU_ASSERT_NOT_EQUAL(b.id, first);
	CU_ASSERT_EQUAL(tf_ivshmem_server_guest_id(srv), b.id);
	qemu_close(&b);
	tf_ivshmem_server_destroy(srv);
	close(shm);
}

/*
 * The guest's file is an open description of its own: the card process's
 * one-owner lock (lib/card) goes away with the card's fd while the guest
 * still maps the memory, so a restarted card can own its BAR again.
 */
static void
test_guest_does_not_hold_the_card_lock(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
	struct tf_ivshmem_server *srv;
	struct fake_qemu q;
	uint64_t rang;
	char path[64];
	int shm = make_shm(), card, card2;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", shm);
	card = open(path, O_RDWR);
	CU_ASSERT_FATAL(card >= 0);
	CU_ASSERT_EQUAL(fcntl(card, F_OFD_SETLK, &fl), 0);
	CU_ASSERT_FATAL(tf_ivshmem_server_create(g_path, card, NVEC, &srv) == 0);
	CU_ASSERT_FATAL(qemu_connect(&q) == 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv, 1000, &rang), 0);
	CU_ASSERT_FATAL(qemu_greeting(&q) == 0);
	/* The card process goes (its server too); the guest keeps its memory. */
	tf_ivshmem_server_destroy(srv);
	close(card);
	card2 = open(path, O_RDWR);
	CU_ASSERT_EQUAL(fcntl(card2, F_OFD_SETLK, &fl), 0);
	close(card2);
	qemu_close(&q);
	close(shm);
}

static int
cloexec(int fd)
{
	return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/*
 * A card process that execs itself hands the server over: the connected
 * guest keeps its doorbells and interrupts, and a broken state is refused.
 */
static void
test_detach_adopt_keeps_the_guest(void)
{
	struct tf_ivshmem_server *srv, *srv2;
	char state[TF_IVSHMEM_STATE_MAX], bad[TF_IVSHMEM_STATE_MAX + 16];
	struct fake_qemu q;
	uint64_t rang, one = 1, cnt;
	struct pollfd pfd;
	int fds[2 + NVEC], all[2 + 2 * NVEC], n, i, shm = make_shm();

	CU_ASSERT_FATAL(tf_ivshmem_server_create(g_path, shm, NVEC, &srv) == 0);
	CU_ASSERT_FATAL(qemu_connect(&q) == 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv, 1000, &rang), 0);
	CU_ASSERT_FATAL(qemu_greeting(&q) == 0);
	n = tf_ivshmem_server_poll_fds(srv, fds, 2 + NVEC);
	CU_ASSERT_EQUAL_FATAL(n, 2 + NVEC);
	for (i = 0; i < n; i++)
		CU_ASSERT(cloexec(fds[i]));
	/* Everything that must survive an exec: socket, connection, both eventfds per vector. */
	CU_ASSERT_EQUAL(tf_ivshmem_server_fds(srv, all, 2 + 2 * NVEC), 2 + 2 * NVEC);
	CU_ASSERT_EQUAL(tf_ivshmem_server_fds(srv, all, 3), 3);
	CU_ASSERT_EQUAL(all[0], fds[0]);
	CU_ASSERT_EQUAL(all[1], fds[1]);
	CU_ASSERT_EQUAL(tf_ivshmem_server_detach(srv, state, 8), -ENOSPC);
	CU_ASSERT_EQUAL_FATAL(tf_ivshmem_server_detach(srv, state, sizeof(state)), 0);
	/* What the next program inherits: open, not close-on-exec, socket still there. */
	for (i = 0; i < n; i++)
		CU_ASSERT(fcntl(fds[i], F_GETFD) >= 0 && !cloexec(fds[i]));
	CU_ASSERT_EQUAL(access(g_path, F_OK), 0);

	/* Malformed states and fds that are not what they claim are refused. */
	CU_ASSERT_EQUAL(tf_ivshmem_server_adopt("", g_path, shm, &srv2), -EINVAL);
	CU_ASSERT_EQUAL(tf_ivshmem_server_adopt("2:1:2:3:1:4:5", g_path, shm, &srv2), -EINVAL);
	snprintf(bad, sizeof(bad), "%s:7", state);
	CU_ASSERT_EQUAL(tf_ivshmem_server_adopt(bad, g_path, shm, &srv2), -EINVAL);
	snprintf(bad, sizeof(bad), "1:%d:%d:1:3:%d:%d:%d:%d:%d:%d", shm, fds[1], fds[2], fds[2],
		 fds[3], fds[3], fds[4], fds[4]);
	CU_ASSERT_EQUAL(tf_ivshmem_server_adopt(bad, g_path, shm, &srv2), -EINVAL);
	snprintf(bad, sizeof(bad), "1:%d:%d:1:3:%d:%d:%d:%d:%d:%d", fds[0], fds[1], fds[2], fds[0],
		 fds[3], fds[3], fds[4], fds[4]);
	CU_ASSERT_EQUAL(tf_ivshmem_server_adopt(bad, g_path, shm, &srv2), -EINVAL);
	CU_ASSERT_PTR_NULL(srv2);

	CU_ASSERT_EQUAL_FATAL(tf_ivshmem_server_adopt(state, g_path, shm, &srv2), 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_guest_id(srv2), q.id);
	for (i = 0; i < n; i++)
		CU_ASSERT(cloexec(fds[i]));
	/* The same guest: its doorbell reaches the new server, our interrupt reaches it. */
	CU_ASSERT_EQUAL(write(q.card_fd[1], &one, 8), 8);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv2, 1000, &rang), 0);
	CU_ASSERT_EQUAL(rang, 0x2);
	CU_ASSERT_EQUAL(tf_ivshmem_server_interrupt(srv2, 2), 0);
	pfd = (struct pollfd){ .fd = q.my_fd[2], .events = POLLIN };
	CU_ASSERT_EQUAL(poll(&pfd, 1, 1000), 1);
	CU_ASSERT_EQUAL(read(q.my_fd[2], &cnt, 8), 8);
	qemu_close(&q);
	CU_ASSERT_EQUAL(tf_ivshmem_server_wait(srv2, 1000, &rang), 0);
	CU_ASSERT_EQUAL(tf_ivshmem_server_guest_id(srv2), -1);
	tf_ivshmem_server_destroy(srv2);
	CU_ASSERT_NOT_EQUAL(access(g_path, F_OK), 0);
	close(shm);
}

static int
suite_init(void)
{
	snprintf(g_path, sizeof(g_path), "/tmp/tf-ivshmem-ut-%d.sock", (int)getpid());
	return 0;
}

static const struct tf_cunit_test server_tests[] = {
	TF_TEST(test_create_rejects_bad_arguments),
	TF_TEST(test_greeting_memory_doorbells_interrupts),
	TF_TEST(test_one_guest_at_a_time_and_reconnect),
	TF_TEST(test_detach_adopt_keeps_the_guest),
	TF_TEST(test_guest_does_not_hold_the_card_lock),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "ivshmem_server", suite_init, NULL, server_tests })
