/* SPDX-License-Identifier: BSD-3-Clause */
/* Tenant key files (protocol.md 4.2): one reader for every part. */
#include "tokfab/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_MAX (64u << 10)

static int
blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
tf_proto_keyfile_parse(const char *name, const char *text, size_t len, size_t min, size_t max,
		       uint8_t *key, size_t *key_len, char *err, size_t errlen)
{
	size_t pos = 0, nkey = 0;
	unsigned int lineno = 0;
	int found = 0;

	while (pos < len) {
		size_t end = pos, a, b;

		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		a = pos;
		b = end;
		pos = end + 1;
		while (a < b && blank(text[a]))
			a++;
		while (b > a && blank(text[b - 1]))
			b--;
		if (a == b || text[a] == '#')
			continue;
		if (found) {
			snprintf(err, errlen, "%s:%u: more than one key line (one key per file)",
				 name, lineno);
			goto bad;
		}
		if ((b - a) % 2 || (b - a) / 2 < min || (b - a) / 2 > max) {
			if (min == max)
				snprintf(
					err, errlen,
					"%s:%u: a key is %zu hex digits (%zu bytes), this line has "
					"%zu characters",
					name, lineno, 2 * min, min, b - a);
			else
				snprintf(err, errlen,
					 "%s:%u: a key is %zu..%zu hex digits (%zu..%zu bytes, an "
					 "even "
					 "count), this line has %zu characters",
					 name, lineno, 2 * min, 2 * max, min, max, b - a);
			goto bad;
		}
		for (size_t i = a; i < b; i += 2) {
			int hi = hexval(text[i]), lo = hexval(text[i + 1]);

			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "%s:%u: character %zu is not a hex digit",
					 name, lineno, (hi < 0 ? i : i + 1) - a + 1);
				goto bad;
			}
			key[nkey++] = (uint8_t)(hi << 4 | lo);
		}
		found = 1;
	}
	if (!found) {
		if (min == max)
			snprintf(err, errlen,
				 "%s: no key found (expected %zu hex digits on a line)", name,
				 2 * min);
		else
			snprintf(err, errlen,
				 "%s: no key found (expected %zu..%zu hex digits on a line)", name,
				 2 * min, 2 * max);
		goto bad;
	}
	*key_len = nkey;
	return 0;
bad:
	OPENSSL_cleanse(key, max);
	return -EINVAL;
}

int
tf_proto_keyfile_read(const char *path, size_t min, size_t max, uint8_t *key, size_t *key_len,
		      bool *world_readable, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open key file '%s': %s", path, strerror(errno));
		return rc;
	}
	if (world_readable)
		*world_readable = fstat(fd, &st) == 0 && (st.st_mode & 077);
	buf = malloc(KEYFILE_MAX);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "key file '%s': out of memory", path);
		return -ENOMEM;
	}
	while ((n = read(fd, buf + len, KEYFILE_MAX - len)) > 0) {
		len += (size_t)n;
		if (len == KEYFILE_MAX)
			break;
	}
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read key file '%s': %s", path, strerror(errno));
	} else if (len == KEYFILE_MAX) {
		rc = -EFBIG;
		snprintf(err, errlen, "key file '%s' is larger than %u bytes: not a key file", path,
			 KEYFILE_MAX - 1);
	} else {
		rc = tf_proto_keyfile_parse(path, buf, len, min, max, key, key_len, err, errlen);
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	close(fd);
	return rc;
}
