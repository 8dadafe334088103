/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card side of QEMU's ivshmem-doorbell device: a tiny ivshmem server.
 *
 * A card process (tokfab-dp, or a test's card program) owns the shared memory
 * that holds its BAR (hwdocs/registers.md). This library serves that memory to
 * one QEMU guest as the device's BAR2 and wires the doorbells:
 *
 *   guest writes BAR0 Doorbell = (TF_IVSHMEM_CARD_PEER << 16) | v
 *        -> tf_ivshmem_server_doorbell_fd(srv, v) becomes readable
 *   card calls tf_ivshmem_server_interrupt(srv, v)
 *        -> MSI-X vector v fires in the guest
 *
 * Doorbells and interrupts are eventfd counters: several rings merge into one.
 * They are hints; both sides must drive everything from ring indexes and
 * sequence numbers in the shared memory (hwdocs/kmod.md).
 *
 * Usage: create the server (listening) before QEMU starts, then either put
 * the listen/connection/doorbell fds in your own poll loop and call
 * tf_ivshmem_server_handle() when any is readable, or call
 * tf_ivshmem_server_wait(). One guest at a time (a card has one host); a
 * guest that goes away may be replaced by a new one. Not thread-safe: call it
 * from one thread; only tf_ivshmem_server_interrupt() may be called from any
 * thread.
 */
#ifndef TF_IVSHMEM_H
#define TF_IVSHMEM_H

#include <stddef.h>
#include <stdint.h>

#include "tokfab/ivshmem.h" /* TF_IVSHMEM_CARD_PEER, vector numbers */
/* Most MSI-X vectors per direction this server hands out. */
#define TF_IVSHMEM_MAX_VECTORS 16

struct tf_ivshmem_server;

/*
 * Listens on the UNIX socket sock_path (an existing socket file there is
 * replaced) and serves shm_fd (dup'ed; the caller keeps its own fd) with
 * `vectors` interrupt vectors in each direction (1..TF_IVSHMEM_MAX_VECTORS;
 * QEMU's -device ivshmem-doorbell,vectors=N must match).
 * Returns 0 or -errno (-EINVAL bad argument, -ENAMETOOLONG path too long).
 */
int tf_ivshmem_server_create(const char *sock_path, int shm_fd, unsigned int vectors,
			     struct tf_ivshmem_server **out);
/* Drops the guest, closes every fd and unlinks the socket. NULL is fine. */
void tf_ivshmem_server_destroy(struct tf_ivshmem_server *srv);

/*
 * The fds to poll for POLLIN: fds[0] the listening socket, fds[1] the
 * guest's connection (-1 when none; POLLHUP there means the guest left),
 * then one doorbell eventfd per vector. Returns how many it wrote (at most
 * max).
 */
int tf_ivshmem_server_poll_fds(const struct tf_ivshmem_server *srv, int *fds, int max);

/*
 * Handles whatever is pending without blocking: accepts a guest, notices a
 * guest that left, and reads (clears) the doorbells. *rang gets bit v set for
 * every doorbell vector v that was rung since the last call. Returns 0 or
 * -errno.
 */
int tf_ivshmem_server_handle(struct tf_ivshmem_server *srv, uint64_t *rang);

/*
 * Waits up to timeout_ms (-1 forever) for something to happen and handles
 * it like tf_ivshmem_server_handle(). Returns 0 (*rang may be 0 after a
 * timeout or a connection change) or -errno (-EINTR on a signal).
 */
int tf_ivshmem_server_wait(struct tf_ivshmem_server *srv, int timeout_ms, uint64_t *rang);

/*
 * Raises MSI-X vector `vector` in the guest. Returns 0 (also when no guest is
 * connected: the hint is dropped when one connects, and a guest re-reads the
 * rings when it starts) or -EINVAL for a vector out of range. Safe to call
 * from any thread.
 */
int tf_ivshmem_server_interrupt(struct tf_ivshmem_server *srv, unsigned int vector);

/* The connected guest's peer id, or -1 when no guest is connected. */
int tf_ivshmem_server_guest_id(const struct tf_ivshmem_server *srv);

/*
 * Handing the server to the next program of this process (a card process
 * that resets itself by exec, e.g. into a new firmware image): QEMU never
 * reconnects to a server, so the listening socket, the guest's connection and
 * the eventfds must survive the exec.
 *
 * tf_ivshmem_server_detach() clears close-on-exec on those fds, writes their
 * numbers into state (a short text, at most TF_IVSHMEM_STATE_MAX bytes with
 * the NUL) and frees the server without closing them or unlinking the socket.
 * After the exec, tf_ivshmem_server_adopt() takes them over: it checks every
 * number (an open fd of the right kind), sets close-on-exec again and serves
 * shm_fd to guests that connect later (the guest already connected keeps its
 * mapping). Returns 0 or -errno (-EINVAL: state malformed or an fd is not
 * what it says; nothing is taken over then).
 */
#define TF_IVSHMEM_STATE_MAX 256
int tf_ivshmem_server_detach(struct tf_ivshmem_server *srv, char *state, size_t len);
/*
 * The fds the server owns (listening socket, connection, eventfds; not its
 * shm copy): what a program about to exec keeps open after a detach, when it
 * closes everything else. Returns how many it wrote (at most max).
 */
int tf_ivshmem_server_fds(const struct tf_ivshmem_server *srv, int *fds, int max);
int tf_ivshmem_server_adopt(const char *state, const char *sock_path, int shm_fd,
			    struct tf_ivshmem_server **out);

#endif /* TF_IVSHMEM_H */
