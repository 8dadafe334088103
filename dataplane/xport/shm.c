/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shm backend: a locally attached accelerator. Each side's region is a
 * memfd; the two sides swap HELLOs and memfds over a unix seqpacket socket
 * (SCM_RIGHTS) and map each other's region. Writing into the peer's ring is
 * a plain store (the one-sided write); the doorbell word is a 64-bit
 * store-release that the peer polls with a load-acquire. The socket stays
 * open as the liveness signal: EOF means the peer is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xport_internal.h"

#define SHM_CHECK_MS 10 /* how often poll looks at the socket */

struct shm_conn {
	int sock;
	int lfd; /* our region's memfd */
	uint8_t *pregion; /* the peer's region, mapped */
	size_t pregion_bytes;
	size_t lmap_bytes;
	uint64_t next_check_ms;
};

struct shm_listener {
	int sock;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int
sock_path(const char *name, char *path, size_t len)
{
	const char *dir = getenv("TOKFAB_SHM_DIR");
	int n;

	if (strchr(name, '/'))
		n = snprintf(path, len, "%s", name);
	else
		n = snprintf(path, len, "%s/tokfab-%s.sock", dir && *dir ? dir : "/dev/shm", name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* One HELLO with an optional fd. */
static int
send_hello(int sock, const struct tf_accel_hello *h, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)(uintptr_t)h, sizeof(*h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == sizeof(*h) ? 0 : -EPROTO;
}

/* Receives one HELLO; *fd is -1 when none came. -EAGAIN if nothing yet. */
static int
recv_hello(int sock, struct tf_accel_hello *h, int *fd, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { h, sizeof(*h) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n == 0)
		return -ECONNRESET;
	if (n != sizeof(*h) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -EPROTO;
	return 0;
}

/* Our region: a memfd of 4096 + ring bytes, mapped and attached to x. */
static int
region_create(struct tf_xport *x, struct shm_conn *c)
{
	size_t bytes = TF_ACCEL_RING_OFF + (size_t)x->lring_bytes;
	void *p;

	c->lfd = memfd_create("tokfab-ring", MFD_CLOEXEC);
	if (c->lfd < 0)
		return tf_xport_seterr(x, errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(c->lfd, (off_t)bytes) < 0)
		return tf_xport_seterr(x, errno, "sizing the ring memfd to %zu bytes: %s", bytes,
				       strerror(errno));
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, c->lfd, 0);
	if (p == MAP_FAILED)
		return tf_xport_seterr(x, errno, "mapping the ring memfd: %s", strerror(errno));
	c->lmap_bytes = bytes;
	tf_xport_region_attach(x, p, x->lring_bytes);
	return 0;
}

/* Maps the peer's region after its HELLO was checked. */
static int
region_map_peer(struct tf_xport *x, struct shm_conn *c, int fd, const struct tf_accel_hello *h)
{
	struct stat st;
	void *p;

	if (fd < 0)
		return tf_xport_seterr(x, EPROTO, "peer sent its hello without a memfd");
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)h->region_bytes) {
		close(fd);
		x->cnt[TF_XPORT_C_RX_BAD_HELLO]++;
		return tf_xport_seterr(x, EPROTO,
				       "peer's memfd is smaller than its hello's %u bytes",
				       h->region_bytes);
	}
	p = mmap(NULL, h->region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return tf_xport_seterr(x, errno, "mapping the peer's region: %s", strerror(errno));
	c->pregion = p;
	c->pregion_bytes = h->region_bytes;
	return 0;
}

static void
shm_disconnect(struct tf_xport *x)
{
	struct shm_conn *c = x->priv;

	if (!c)
		return;
	if (c->pregion)
		munmap(c->pregion, c->pregion_bytes);
	if (x->lregion)
		munmap(x->lregion, c->lmap_bytes);
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->sock >= 0)
		close(c->sock);
	x->lregion = NULL;
	free(c);
	x->priv = NULL;
}

static int
conn_new(struct tf_xport *x, struct shm_conn **out)
{
	struct shm_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->sock = -1;
	c->lfd = -1;
	x->priv = c;
	*out = c;
	return 0;
}

/* ---- card side ------------------------------------------------------------- */

static int
shm_connect(struct tf_xport *x)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct tf_accel_hello h;
	struct shm_conn *c;
	int rc;

	rc = conn_new(x, &c);
	if (rc)
		return rc;
	if (sock_path(x->addr, sa.sun_path, sizeof(sa.sun_path)))
		return tf_xport_seterr(x, ENAMETOOLONG,
				       "shm name '%s' makes a socket path over "
				       "%zu bytes",
				       x->addr, sizeof(sa.sun_path) - 1);
	rc = region_create(x, c);
	if (rc)
		return rc;
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->sock < 0)
		return tf_xport_seterr(x, errno, "socket: %s", strerror(errno));
	if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return tf_xport_seterr(x, errno,
				       "no accelerator listens on %s (%s): start "
				       "tokfab-accel --listen shm:%s",
				       sa.sun_path, strerror(errno), x->addr);
	tf_xport_hello_make(x, &h);
	rc = send_hello(c->sock, &h, c->lfd);
	if (rc)
		return tf_xport_seterr(x, -rc, "sending hello to %s: %s", sa.sun_path,
				       strerror(-rc));
	return 0;
}

/* Card: the accelerator's answer to our HELLO. */
static int
card_handshake(struct tf_xport *x, struct shm_conn *c)
{
	struct tf_accel_hello h;
	int fd, rc;

	rc = recv_hello(c->sock, &h, &fd, MSG_DONTWAIT);
	if (rc == -EAGAIN)
		return 0;
	if (rc) {
		if (fd >= 0)
			close(fd);
		return tf_xport_seterr(x, -rc, "accelerator at shm:%s closed the set-up: %s",
				       x->addr, strerror(-rc));
	}
	if (h.magic == 0) {
		if (fd >= 0)
			close(fd);
		x->cnt[TF_XPORT_C_RX_BAD_HELLO]++;
		return tf_xport_seterr(x, ECONNREFUSED,
				       "accelerator at shm:%s refused us "
				       "(reason %u: %s)",
				       x->addr, h.reserved0,
				       h.reserved0 == TF_ACCEL_REJECT_FULL	? "it has no room"
				       : h.reserved0 == TF_ACCEL_REJECT_VERSION ? "version"
										: "bad hello");
	}
	rc = tf_xport_hello_check(x, &h);
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rc = region_map_peer(x, c, fd, &h);
	if (rc)
		return rc;
	return tf_xport_established(x, &h);
}

/* ---- accelerator side -------------------------------------------------------- */

static int
shm_listen(struct tf_xport_listener *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct shm_listener *sl = calloc(1, sizeof(*sl));
	int fd, rc;

	if (!sl)
		return -ENOMEM;
	sl->sock = -1;
	if (sock_path(l->addr, sa.sun_path, sizeof(sa.sun_path))) {
		rc = -ENAMETOOLONG;
		fprintf(stderr,
			"shm name '%s' makes a socket path over %zu bytes: use a shorter "
			"name or TOKFAB_SHM_DIR\n",
			l->addr, sizeof(sa.sun_path) - 1);
		goto err;
	}
	/* a socket file nobody answers on is stale: remove it; a live one is an error */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			rc = -EADDRINUSE;
			goto err;
		}
		close(fd);
		unlink(sa.sun_path);
	}
	sl->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sl->sock < 0) {
		rc = -errno;
		goto err;
	}
	if (bind(sl->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(sl->sock, 16) < 0) {
		rc = -errno;
		goto err;
	}
	snprintf(sl->path, sizeof(sl->path), "%s", sa.sun_path);
	l->priv = sl;
	return 0;
err:
	if (sl->sock >= 0)
		close(sl->sock);
	free(sl);
	return rc;
}

static void
shm_listener_close(struct tf_xport_listener *l)
{
	struct shm_listener *sl = l->priv;

	if (!sl)
		return;
	close(sl->sock);
	unlink(sl->path);
	free(sl);
	l->priv = NULL;
}

static void
reject(int sock, uint8_t why)
{
	struct tf_accel_hello h = { .reserved0 = why };

	send_hello(sock, &h, -1);
}

static int
shm_accept_ready(struct tf_xport_listener *l)
{
	struct shm_listener *sl = l->priv;
	struct pollfd p = { .fd = sl->sock, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

static int
shm_listener_fd(struct tf_xport_listener *l)
{
	struct shm_listener *sl = l->priv;

	return sl ? sl->sock : -1;
}

static int
shm_accept(struct tf_xport_listener *l, struct tf_xport *x)
{
	struct shm_listener *sl = l->priv;
	struct timeval tv = { .tv_sec = 2 };
	struct tf_accel_hello h, mine;
	struct shm_conn *c;
	int sock, fd, rc;

	sock = accept4(sl->sock, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		return errno == EINTR || errno == ECONNABORTED ? -EAGAIN : -errno;
	rc = conn_new(x, &c);
	if (rc) {
		close(sock);
		return rc;
	}
	c->sock = sock;
	/* the card sends its HELLO right after connecting */
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = recv_hello(sock, &h, &fd, 0);
	if (rc) {
		if (fd >= 0)
			close(fd);
		tf_xport_seterr(x, -rc, "card did not send a hello: %s", strerror(-rc));
		goto err;
	}
	rc = tf_xport_hello_check(x, &h);
	if (rc) {
		if (fd >= 0)
			close(fd);
		reject(sock, h.magic == TF_ACCEL_MAGIC && h.version != TF_ACCEL_VERSION
				     ? TF_ACCEL_REJECT_VERSION
				     : TF_ACCEL_REJECT_BAD_HELLO);
		goto err;
	}
	rc = region_map_peer(x, c, fd, &h);
	if (rc)
		goto err;
	x->epoch = h.epoch;
	rc = region_create(x, c);
	if (rc)
		goto err;
	tf_xport_hello_make(x, &mine);
	rc = send_hello(sock, &mine, c->lfd);
	if (rc)
		goto err;
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	rc = tf_xport_established(x, &h);
	if (rc)
		goto err;
	return 0;
err:
	/* the listener keeps going; the caller logs tf_xport_last_error() if it wants */
	shm_disconnect(x);
	return rc == -EAGAIN ? -EPROTO : rc;
}

/* ---- data path ---------------------------------------------------------------- */

static int
shm_post(struct tf_xport *x, const struct tf_xport_wr *wr)
{
	struct shm_conn *c = x->priv;
	uint8_t *ring = c->pregion + TF_ACCEL_RING_OFF;
	uint8_t *dst = ring + wr->ring_off;

	if (wr->pad_len)
		memcpy(ring + wr->pad_off, wr->pad_hdr, sizeof(*wr->pad_hdr));
	for (unsigned int i = 0; i < wr->nsegs; i++) {
		memcpy(dst, wr->segs[i].addr, wr->segs[i].len);
		dst += wr->segs[i].len;
	}
	tf_xport_db_store(c->pregion + TF_ACCEL_CTL_OFF, wr->db);
	tf_xport_tx_done(x, wr->post_seq);
	return 0;
}

static int
shm_poll(struct tf_xport *x)
{
	struct shm_conn *c = x->priv;
	uint64_t now;
	char b;

	if (!c)
		return -ENOTCONN;
	if (x->state == TF_XPORT_STATE_CONNECTING)
		return x->role == TF_ACCEL_ROLE_CARD ? card_handshake(x, c) : 0;
	x->rx_peer_prod = TF_ACCEL_DB_PROD(tf_xport_db_load(x->lregion + TF_ACCEL_CTL_OFF));
	now = tf_xport_now_ms();
	if (now >= c->next_check_ms) {
		ssize_t n = recv(c->sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);

		c->next_check_ms = now + SHM_CHECK_MS;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			x->cnt[TF_XPORT_C_PEER_TIMEOUT]++;
			return tf_xport_seterr(x, ECONNRESET,
					       "peer at shm:%s went away (its "
					       "socket closed)",
					       x->addr);
		}
	}
	return 0;
}

/* tf_xport_wait(): nothing notifies a store to a memory word, so the caller
 * polls; a doorbell already rung means do not sleep at all. */
static int
shm_wait_fds(struct tf_xport *x, int *fds, unsigned int max)
{
	(void)fds;
	(void)max;
	if (TF_ACCEL_DB_PROD(tf_xport_db_load(x->lregion + TF_ACCEL_CTL_OFF)) != x->rx.prod)
		return -EAGAIN;
	return 0;
}

static int
shm_credits_return(struct tf_xport *x, uint64_t db)
{
	struct shm_conn *c = x->priv;

	tf_xport_db_store(c->pregion + TF_ACCEL_CTL_OFF, db);
	return 0;
}

static int
shm_status_write(struct tf_xport *x, const struct tf_accel_status *st)
{
	struct shm_conn *c = x->priv;
	struct tf_accel_status *dst =
		(struct tf_accel_status *)(void *)(c->pregion + TF_ACCEL_STATUS_OFF);
	_Atomic uint32_t *gen = (_Atomic uint32_t *)&dst->gen;
	_Atomic uint32_t *gen_end = (_Atomic uint32_t *)&dst->gen_end;

	/* seqlock: odd while the body changes */
	atomic_store_explicit(gen, st->gen - 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy((uint8_t *)dst + 4, (const uint8_t *)st + 4, sizeof(*st) - 8);
	atomic_store_explicit(gen_end, st->gen_end, memory_order_release);
	atomic_store_explicit(gen, st->gen, memory_order_release);
	return 0;
}

const struct tf_xport_ops tf_xport_shm_ops = {
	.name = "shm",
	.flags = TF_XPORT_OPS_F_POST_RETURNS_CREDITS,
	.connect = shm_connect,
	.listen = shm_listen,
	.accept = shm_accept,
	.accept_ready = shm_accept_ready,
	.listener_close = shm_listener_close,
	.post = shm_post,
	.poll = shm_poll,
	.credits_return = shm_credits_return,
	.status_write = shm_status_write,
	.disconnect = shm_disconnect,
	.wait_fds = shm_wait_fds,
	.listener_fd = shm_listener_fd,
};
