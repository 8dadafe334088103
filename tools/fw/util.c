/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-fw helpers: files, numbers, messages. */
#include "fwtool.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int
fw_read_file(const char *path, uint8_t **bufp, size_t *lenp)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		r = -errno;
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto close_fd;
	}
	/* One byte over the limit is enough for the parser to say "too big". */
	if ((uint64_t)st.st_size > TF_FW_IMAGE_MAX_SIZE + 1) {
		r = -EFBIG;
		goto close_fd;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		r = -ENOMEM;
		goto close_fd;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			free(buf);
			goto close_fd;
		}
		got += (size_t)n;
	}
	close(fd);
	*bufp = buf;
	*lenp = got;
	return 0;
close_fd:
	close(fd);
	return r;
}

int
fw_map_file(const char *path, const uint8_t **bufp, size_t *lenp)
{
	struct stat st;
	void *p;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		r = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
	} else if ((uint64_t)st.st_size > TF_FW_IMAGE_MAX_SIZE + 1) {
		r = -EFBIG;
	} else if (st.st_size == 0) {
		*bufp = (const uint8_t *)"";
		*lenp = 0;
	} else {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (p == MAP_FAILED) {
			r = -errno;
		} else {
			*bufp = p;
			*lenp = (size_t)st.st_size;
		}
	}
	close(fd);
	return r;
}

void
fw_unmap_file(const uint8_t *buf, size_t len)
{
	if (len)
		munmap((void *)(uintptr_t)buf, len);
}

int
fw_write_file(const char *path, const uint8_t *buf, size_t len)
{
	char *tmp;
	size_t off = 0;
	int fd, r = 0;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto free_tmp;
	}
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
free_tmp:
	free(tmp);
	return r;
}

int
fw_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int
fw_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	else if (*end)
		return -EINVAL;
	if (shift && end[1])
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

char *
fw_hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

void
fw_print_diag(const char *what, const struct tf_fw_diag *d, const struct tf_fw_image *img)
{
	char msg[512];

	tf_fw_diag_format(d, msg, sizeof(msg));
	if (img && d->section >= 0 && (unsigned int)d->section < img->nsections &&
	    img->sect[d->section].type)
		tf_log_warnx("%s: REJECTED: %s [section %d is '%s']", what, msg, d->section,
			     tf_fw_section_type_name(img->sect[d->section].type));
	else
		tf_log_warnx("%s: REJECTED: %s", what, msg);
}

int
fw_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tokfab-fw %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'tokfab-fw help' for usage.\n");
	return FW_EXIT_USAGE;
}
