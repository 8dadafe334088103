/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * File-backed flash: the file holds every byte of the device. NOR rules are
 * enforced so that a missing erase shows up in the read-back: erase writes
 * 0xff, program ANDs the new bytes into what is there. The file is locked
 * (flock) while open, so two tokfab-fw runs never interleave.
 */
#include "fw_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

struct file_flash {
	struct tf_flash fl; /* first: ops get &fl */
	int fd;
	uint8_t *buf; /* CHUNK bytes of scratch */
};

static struct file_flash *
to_ff(struct tf_flash *fl)
{
	return (struct file_flash *)fl;
}

static int
pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* file shrank under us */
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int
ff_read(struct tf_flash *fl, uint64_t off, void *buf, size_t len)
{
	return pread_all(to_ff(fl)->fd, buf, len, off);
}

static int
ff_program(struct tf_flash *fl, uint64_t off, const void *buf, size_t len)
{
	struct file_flash *ff = to_ff(fl);
	const uint8_t *src = buf;
	int r;

	while (len) {
		size_t n = len < CHUNK ? len : CHUNK;

		r = pread_all(ff->fd, ff->buf, n, off);
		if (r)
			return r;
		for (size_t i = 0; i < n; i++)
			ff->buf[i] &= src[i];
		r = pwrite_all(ff->fd, ff->buf, n, off);
		if (r)
			return r;
		src += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int
ff_erase(struct tf_flash *fl, uint64_t off, uint64_t len)
{
	struct file_flash *ff = to_ff(fl);
	int r;

	memset(ff->buf, 0xff, CHUNK);
	while (len) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;

		r = pwrite_all(ff->fd, ff->buf, n, off);
		if (r)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

static int
ff_sync(struct tf_flash *fl)
{
	return fdatasync(to_ff(fl)->fd) ? -errno : 0;
}

static void
ff_destroy(struct tf_flash *fl)
{
	struct file_flash *ff = to_ff(fl);

	close(ff->fd);
	free(ff->buf);
	free(ff);
}

static const struct tf_flash_ops g_file_ops = {
	.name = "file",
	.read = ff_read,
	.program = ff_program,
	.erase = ff_erase,
	.sync = ff_sync,
	.destroy = ff_destroy,
};

static int
ff_new(int fd, uint64_t size, struct tf_flash **out)
{
	struct file_flash *ff;

	/* One user at a time, like the one boot loader / firmware of a real card. */
	while (flock(fd, LOCK_EX))
		if (errno != EINTR)
			return -errno;
	ff = calloc(1, sizeof(*ff));
	if (!ff)
		return -ENOMEM;
	ff->buf = malloc(CHUNK);
	if (!ff->buf) {
		free(ff);
		return -ENOMEM;
	}
	ff->fl.ops = &g_file_ops;
	ff->fl.size = size;
	ff->fl.block_size = TF_FLASH_BLOCK_SIZE;
	ff->fd = fd;
	*out = &ff->fl;
	return 0;
}

int
tf_flash_file_create(const char *path, uint64_t size, struct tf_flash **out)
{
	struct tf_flash *fl;
	int fd, r;

	if (!size || size % TF_FLASH_BLOCK_SIZE)
		return -EINVAL;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = ff_new(fd, size, &fl);
	if (r)
		goto close_fd;
	r = ff_erase(fl, 0, size); /* a new part comes erased */
	if (!r)
		r = ff_sync(fl);
	if (r)
		goto destroy;
	*out = fl;
	return 0;
destroy:
	tf_flash_destroy(fl);
	unlink(path);
	return r;
close_fd:
	close(fd);
	unlink(path);
	return r;
}

int
tf_flash_file_open(const char *path, struct tf_flash **out)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		r = -errno;
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size % TF_FLASH_BLOCK_SIZE) {
		r = -EINVAL; /* not a flash image: size must be whole erase blocks */
		goto close_fd;
	}
	r = ff_new(fd, (uint64_t)st.st_size, out);
	if (r)
		goto close_fd;
	return 0;
close_fd:
	close(fd);
	return r;
}
