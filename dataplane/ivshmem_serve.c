/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-dp as an ivshmem peer: the card's BAR (a shared-memory file) shown
 * to one QEMU guest as BAR2 of an ivshmem-doorbell device, whose driver
 * (tokfab.ko) then talks to this very process. Vectors and doorbells:
 * hwdocs/kmod.md. The server lives on the main lcore; its fds are looked at
 * between the main lcore's other duties, never on a worker.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/dp.h"
#include "ivshmem/ivshmem.h"

/* How a server crosses an exec of tokfab-dp (restart into a new image). */
#define IVSHMEM_ENV "TF_DP_IVSHMEM_STATE"

void
tf_dp_ivshmem_notify(void *arg, unsigned int vector)
{
	struct tf_dp_app *app = arg;

	if (app->ivs)
		tf_ivshmem_server_interrupt(app->ivs, vector);
}

int
tf_dp_ivshmem_start(struct tf_dp_app *app, const char *sock)
{
	const char *state = getenv(IVSHMEM_ENV);
	int fd = tf_card_dev_fd(app->card), rc;

	if (state) {
		rc = tf_ivshmem_server_adopt(state, sock, fd, &app->ivs);
		unsetenv(IVSHMEM_ENV);
		if (rc == 0) {
			TF_DP_LOG(INFO,
				  "ivshmem: kept the guest's connection across the restart (%s)",
				  sock);
			return 0;
		}
		TF_DP_LOG(
			WARNING,
			"ivshmem: the server handed over by the previous program is unusable (%s): "
			"listening anew on %s; a guest that was connected must restart QEMU",
			strerror(-rc), sock);
	}
	rc = tf_ivshmem_server_create(sock, fd, TF_VEC_COUNT, &app->ivs);
	if (rc < 0) {
		TF_DP_LOG(ERR,
			  "ivshmem: cannot serve the BAR on %s: %s (the directory must be writable "
			  "and the path shorter than 108 bytes)",
			  sock, strerror(-rc));
		return rc;
	}
	TF_DP_LOG(INFO,
		  "ivshmem: serving the BAR on %s (QEMU: -chardev socket,path=%s,id=ivs "
		  "-device ivshmem-doorbell,chardev=ivs,vectors=%d)",
		  sock, sock, TF_VEC_COUNT);
	return 0;
}

void
tf_dp_ivshmem_poll(struct tf_dp_app *app, unsigned int wait_us)
{
	struct pollfd pfd[2 + TF_VEC_COUNT];
	int fds[2 + TF_VEC_COUNT], n, rc;
	uint64_t rang;

	if (!app->ivs)
		return;
	if (wait_us) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)wait_us * 1000 };

		n = tf_ivshmem_server_poll_fds(app->ivs, fds, 2 + TF_VEC_COUNT);
		for (int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (ppoll(pfd, (nfds_t)n, &ts, NULL) == 0)
			return; /* nothing happened */
	}
	/* Doorbells are hints: the loop polls the indexes they announce anyway. */
	rc = tf_ivshmem_server_handle(app->ivs, &rang);
	if (rc < 0 && rc != -EINTR)
		TF_DP_LOG(WARNING, "ivshmem: %s", strerror(-rc));
}

int
tf_dp_ivshmem_handover(struct tf_dp_app *app, int *keep, int max)
{
	char state[TF_IVSHMEM_STATE_MAX];
	int rc, n;

	if (!app->ivs)
		return 0;
	n = tf_ivshmem_server_fds(app->ivs, keep, max);
	rc = tf_ivshmem_server_detach(app->ivs, state, sizeof(state));
	if (rc < 0)
		return rc;
	app->ivs = NULL;
	return setenv(IVSHMEM_ENV, state, 1) < 0 ? -errno : n;
}

void
tf_dp_ivshmem_stop(struct tf_dp_app *app)
{
	tf_ivshmem_server_destroy(app->ivs);
	app->ivs = NULL;
}
