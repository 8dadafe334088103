/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ivshmem server for one guest (protocol: QEMU's docs/specs/ivshmem-spec.txt).
 *
 * On accept the guest's QEMU gets, one sendmsg each, 8-byte little-endian
 * values: protocol version 0; its own peer id; -1 with the shared-memory fd;
 * the card's peer id once per vector with the eventfd the card waits on
 * (guest doorbell -> card); its own peer id once per vector with the eventfd
 * that raises that MSI-X vector in the guest (card -> guest).
 */
#include <errno.h>
#include <fcntl.h>
#include <endian.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "ivshmem/ivshmem.h"

#define IVSHMEM_PROTOCOL_VERSION 0

struct tf_ivshmem_server {
	int listen_fd;
	int shm_fd;
	unsigned int vectors;
	int card_efd[TF_IVSHMEM_MAX_VECTORS]; /* guest doorbell -> card */
	int guest_efd[TF_IVSHMEM_MAX_VECTORS]; /* card -> guest MSI-X (kept across guests) */
	int conn_fd; /* guest's connection, -1 without guest */
	int guest_id; /* last id handed out */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int
send_msg(int fd, int64_t value, int passfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint64_t le = htole64((uint64_t)value);
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;
	ssize_t n;

	if (passfd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &passfd, sizeof(int));
	}
	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(le) ? 0 : -EIO;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
drop_guest(struct tf_ivshmem_server *srv)
{
	if (srv->conn_fd >= 0)
		tf_log_info("ivshmem: guest %d disconnected", srv->guest_id);
	close_fd(&srv->conn_fd);
}

/*
 * The memory goes to QEMU as a file of its own (a new open file description,
 * not a dup): a lock the card process holds on its fd (lib/card's one-owner
 * lock) must not live on in QEMU, or a restarted card could never own its
 * BAR again while the guest runs.
 */
static int
open_own(int fd)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_RDWR | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

int
tf_ivshmem_server_create(const char *sock_path, int shm_fd, unsigned int vectors,
			 struct tf_ivshmem_server **out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct tf_ivshmem_server *srv;
	unsigned int v;
	int ret;

	*out = NULL;
	if (!sock_path || shm_fd < 0 || vectors == 0 || vectors > TF_IVSHMEM_MAX_VECTORS)
		return -EINVAL;
	if (strlen(sock_path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->vectors = vectors;
	srv->conn_fd = -1;
	srv->listen_fd = -1;
	srv->guest_id = TF_IVSHMEM_CARD_PEER;
	for (v = 0; v < TF_IVSHMEM_MAX_VECTORS; v++)
		srv->card_efd[v] = srv->guest_efd[v] = -1;

	srv->shm_fd = open_own(shm_fd);
	if (srv->shm_fd < 0) {
		ret = srv->shm_fd;
		goto err_free;
	}
	for (v = 0; v < vectors; v++) {
		srv->card_efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		srv->guest_efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (srv->card_efd[v] < 0 || srv->guest_efd[v] < 0) {
			ret = -errno;
			goto err_close;
		}
	}
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->listen_fd < 0) {
		ret = -errno;
		goto err_close;
	}
	strcpy(sun.sun_path, sock_path);
	strcpy(srv->path, sock_path);
	unlink(sock_path);
	if (bind(srv->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(srv->listen_fd, 4) < 0) {
		ret = -errno;
		tf_log_warn("ivshmem: cannot listen on %s", sock_path);
		goto err_close;
	}
	*out = srv;
	return 0;

err_close:
	close_fd(&srv->listen_fd);
	for (v = 0; v < vectors; v++) {
		close_fd(&srv->card_efd[v]);
		close_fd(&srv->guest_efd[v]);
	}
	close_fd(&srv->shm_fd);
err_free:
	free(srv);
	return ret;
}

void
tf_ivshmem_server_destroy(struct tf_ivshmem_server *srv)
{
	unsigned int v;

	if (!srv)
		return;
	drop_guest(srv);
	close_fd(&srv->listen_fd);
	unlink(srv->path);
	for (v = 0; v < srv->vectors; v++) {
		close_fd(&srv->card_efd[v]);
		close_fd(&srv->guest_efd[v]);
	}
	close_fd(&srv->shm_fd);
	free(srv);
}

int
tf_ivshmem_server_poll_fds(const struct tf_ivshmem_server *srv, int *fds, int max)
{
	int n = 0;
	unsigned int v;

	if (n < max)
		fds[n++] = srv->listen_fd;
	if (n < max)
		fds[n++] = srv->conn_fd;
	for (v = 0; v < srv->vectors && n < max; v++)
		fds[n++] = srv->card_efd[v];
	return n;
}

/* Sends the whole greeting to a newly accepted guest. */
static int
greet(struct tf_ivshmem_server *srv, int fd, int id)
{
	unsigned int v;
	int ret;

	ret = send_msg(fd, IVSHMEM_PROTOCOL_VERSION, -1);
	if (!ret)
		ret = send_msg(fd, id, -1);
	if (!ret)
		ret = send_msg(fd, -1, srv->shm_fd);
	for (v = 0; v < srv->vectors && !ret; v++)
		ret = send_msg(fd, TF_IVSHMEM_CARD_PEER, srv->card_efd[v]);
	for (v = 0; v < srv->vectors && !ret; v++)
		ret = send_msg(fd, id, srv->guest_efd[v]);
	return ret;
}

static int
accept_guest(struct tf_ivshmem_server *srv)
{
	uint64_t stale;
	unsigned int v;
	int fd, ret, id;

	fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (srv->conn_fd >= 0) {
		tf_log_warnx(
			"ivshmem: a second guest tried to connect; the card has one host, refused");
		close(fd);
		return 0;
	}
	/* Ids stay unique for the server's lifetime, 1..65535. */
	id = srv->guest_id >= 65535 ? 1 : srv->guest_id + 1;
	/* Interrupts raised while no guest was there would only be spurious. */
	for (v = 0; v < srv->vectors; v++)
		while (read(srv->guest_efd[v], &stale, sizeof(stale)) > 0)
			;
	ret = greet(srv, fd, id);
	if (ret) {
		tf_log_warnx("ivshmem: greeting guest %d failed: %s", id, strerror(-ret));
		close(fd);
		return ret;
	}
	srv->conn_fd = fd;
	srv->guest_id = id;
	tf_log_info("ivshmem: guest %d connected (%u vectors)", id, srv->vectors);
	return 0;
}

int
tf_ivshmem_server_handle(struct tf_ivshmem_server *srv, uint64_t *rang)
{
	struct pollfd pfd;
	uint64_t cnt;
	unsigned int v;
	char c;
	int ret;

	*rang = 0;
	if (srv->conn_fd >= 0) {
		/* QEMU never writes; readable means EOF or an error: it left. */
		pfd = (struct pollfd){ .fd = srv->conn_fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR) ||
					     recv(srv->conn_fd, &c, 1, MSG_DONTWAIT) <= 0))
			drop_guest(srv);
	}
	ret = accept_guest(srv);
	if (ret)
		return ret;
	for (v = 0; v < srv->vectors; v++) {
		if (read(srv->card_efd[v], &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt))
			*rang |= 1ULL << v;
		else if (errno != EAGAIN)
			return -errno;
	}
	return 0;
}

int
tf_ivshmem_server_wait(struct tf_ivshmem_server *srv, int timeout_ms, uint64_t *rang)
{
	struct pollfd pfds[TF_IVSHMEM_MAX_VECTORS + 2];
	int fds[TF_IVSHMEM_MAX_VECTORS + 2];
	int i, n;

	*rang = 0;
	n = tf_ivshmem_server_poll_fds(srv, fds, TF_IVSHMEM_MAX_VECTORS + 2);
	for (i = 0; i < n; i++)
		pfds[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	if (poll(pfds, n, timeout_ms) < 0)
		return -errno;
	return tf_ivshmem_server_handle(srv, rang);
}

int
tf_ivshmem_server_interrupt(struct tf_ivshmem_server *srv, unsigned int vector)
{
	uint64_t one = 1;

	if (vector >= srv->vectors)
		return -EINVAL;
	/* Only EAGAIN (counter saturated) can fail: the interrupt is pending anyway. */
	if (write(srv->guest_efd[vector], &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int
tf_ivshmem_server_guest_id(const struct tf_ivshmem_server *srv)
{
	return srv->conn_fd >= 0 ? srv->guest_id : -1;
}

/* ---- surviving an exec of the card process ---- */

static int
set_cloexec(int fd, int on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		return -errno;
	fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, fl) < 0 ? -errno : 0;
}

int
tf_ivshmem_server_detach(struct tf_ivshmem_server *srv, char *state, size_t len)
{
	size_t off;
	unsigned int v;
	int n, rc;

	n = snprintf(state, len, "1:%d:%d:%d:%u", srv->listen_fd, srv->conn_fd, srv->guest_id,
		     srv->vectors);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	off = (size_t)n;
	for (v = 0; v < srv->vectors; v++) {
		n = snprintf(state + off, len - off, ":%d:%d", srv->card_efd[v], srv->guest_efd[v]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	rc = set_cloexec(srv->listen_fd, 0);
	if (!rc && srv->conn_fd >= 0)
		rc = set_cloexec(srv->conn_fd, 0);
	for (v = 0; v < srv->vectors && !rc; v++) {
		rc = set_cloexec(srv->card_efd[v], 0);
		if (!rc)
			rc = set_cloexec(srv->guest_efd[v], 0);
	}
	if (rc)
		return rc;
	/* The fds now belong to the next program; only our shm copy goes. */
	close_fd(&srv->shm_fd);
	free(srv);
	return 0;
}

int
tf_ivshmem_server_fds(const struct tf_ivshmem_server *srv, int *fds, int max)
{
	int n = 0;

	if (n < max)
		fds[n++] = srv->listen_fd;
	if (srv->conn_fd >= 0 && n < max)
		fds[n++] = srv->conn_fd;
	for (unsigned int v = 0; v < srv->vectors; v++) {
		if (n < max)
			fds[n++] = srv->card_efd[v];
		if (n < max)
			fds[n++] = srv->guest_efd[v];
	}
	return n;
}

/* An fd of this process of the given kind (S_IFSOCK, or 0 for an eventfd). */
static int
fd_is(int fd, mode_t kind)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return 0;
	if (kind)
		return (st.st_mode & S_IFMT) == kind;
	/* eventfds are anonymous inodes: neither files, sockets nor pipes */
	return !S_ISREG(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISFIFO(st.st_mode) &&
	       !S_ISDIR(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode);
}

/* Parses ":%d" at *p into *v. */
static int
next_int(const char **p, long *v)
{
	char *end;

	if (**p != ':')
		return -EINVAL;
	errno = 0;
	*v = strtol(*p + 1, &end, 10);
	if (errno || end == *p + 1 || *v < INT32_MIN || *v > INT32_MAX)
		return -EINVAL;
	*p = end;
	return 0;
}

int
tf_ivshmem_server_adopt(const char *state, const char *sock_path, int shm_fd,
			struct tf_ivshmem_server **out)
{
	struct tf_ivshmem_server *srv;
	long listen_fd, conn_fd, guest_id, vectors, a, b;
	const char *p = state;
	unsigned int v;
	int rc = -EINVAL;

	*out = NULL;
	if (!state || strncmp(state, "1", 1) || !sock_path || shm_fd < 0 ||
	    strlen(sock_path) >= sizeof(srv->path))
		return -EINVAL;
	p++;
	if (next_int(&p, &listen_fd) || next_int(&p, &conn_fd) || next_int(&p, &guest_id) ||
	    next_int(&p, &vectors) || vectors < 1 || vectors > TF_IVSHMEM_MAX_VECTORS ||
	    guest_id < 0 || guest_id > 65535 || !fd_is((int)listen_fd, S_IFSOCK) ||
	    (conn_fd != -1 && !fd_is((int)conn_fd, S_IFSOCK)))
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	for (v = 0; v < TF_IVSHMEM_MAX_VECTORS; v++)
		srv->card_efd[v] = srv->guest_efd[v] = -1;
	for (v = 0; v < (unsigned int)vectors; v++) {
		if (next_int(&p, &a) || next_int(&p, &b) || !fd_is((int)a, 0) || !fd_is((int)b, 0))
			goto err;
		srv->card_efd[v] = (int)a;
		srv->guest_efd[v] = (int)b;
	}
	if (*p)
		goto err;
	srv->shm_fd = open_own(shm_fd);
	if (srv->shm_fd < 0) {
		rc = srv->shm_fd;
		goto err;
	}
	srv->listen_fd = (int)listen_fd;
	srv->conn_fd = (int)conn_fd;
	srv->guest_id = (int)guest_id;
	srv->vectors = (unsigned int)vectors;
	strcpy(srv->path, sock_path);
	set_cloexec(srv->listen_fd, 1);
	if (srv->conn_fd >= 0)
		set_cloexec(srv->conn_fd, 1);
	for (v = 0; v < srv->vectors; v++) {
		set_cloexec(srv->card_efd[v], 1);
		set_cloexec(srv->guest_efd[v], 1);
	}
	tf_log_info("ivshmem: took over the server on %s (guest %d, %u vectors)", sock_path,
		    tf_ivshmem_server_guest_id(srv), srv->vectors);
	*out = srv;
	return 0;
err:
	free(srv);
	return rc;
}
