/* SPDX-License-Identifier: BSD-3-Clause */
/* Key files: 64 hex digits on one line; blank and '#' lines ignored. */
#include "tokfab/client.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int
tf_client_load_key(const char *path, uint8_t key[TF_PROTO_KEY_LEN], bool *world_readable, char *err,
		   size_t errlen)
{
	char line[256];
	FILE *f;
	struct stat st;
	int lineno = 0, found = 0, rc = -EINVAL;

	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "cannot open key file '%s': %s", path, strerror(errno));
		return rc;
	}
	if (world_readable)
		*world_readable = fstat(fileno(f), &st) == 0 && (st.st_mode & 077);
	while (fgets(line, sizeof(line), f)) {
		char *p = line;
		size_t n;

		lineno++;
		while (isspace((unsigned char)*p))
			p++;
		n = strlen(p);
		while (n && isspace((unsigned char)p[n - 1]))
			p[--n] = '\0';
		if (n == 0 || p[0] == '#')
			continue;
		if (found) {
			snprintf(err, errlen, "%s:%d: more than one key line (one key per file)",
				 path, lineno);
			goto out;
		}
		if (n != 2 * TF_PROTO_KEY_LEN) {
			snprintf(err, errlen,
				 "%s:%d: a key is %d hex digits (%d bytes), this line has %zu "
				 "characters",
				 path, lineno, 2 * TF_PROTO_KEY_LEN, TF_PROTO_KEY_LEN, n);
			goto out;
		}
		for (size_t i = 0; i < TF_PROTO_KEY_LEN; i++) {
			int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "%s:%d: character %zu is not a hex digit",
					 path, lineno, hi < 0 ? 2 * i + 1 : 2 * i + 2);
				goto out;
			}
			key[i] = (uint8_t)(hi << 4 | lo);
		}
		found = 1;
	}
	if (!found) {
		snprintf(err, errlen, "%s: no key found (expected %d hex digits on a line)", path,
			 2 * TF_PROTO_KEY_LEN);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	if (rc)
		OPENSSL_cleanse(key, TF_PROTO_KEY_LEN);
	return rc;
}
