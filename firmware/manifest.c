/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Build manifest: `key = value` lines, `#` comments (hwdocs/firmware-image.md
 * "Manifest"). Section paths are relative to the manifest's folder.
 */
#include "fw_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

enum mkey {
	K_VERSION,
	K_SECURITY_VERSION,
	K_BOARD_ID,
	K_BUILD_ID,
	K_BUILD_TIME,
	K_DATAPLANE,
	K_ACCEL,
	K_CONFIG,
	K_ABI_BAR,
	K_ABI_WIRE,
	K_ABI_RING,
	K_MAX
};

static const struct {
	const char *name;
	bool required;
} g_keys[K_MAX] = {
	[K_VERSION] = { "version", true },
	[K_SECURITY_VERSION] = { "security_version", true },
	[K_BOARD_ID] = { "board_id", true },
	[K_BUILD_ID] = { "build_id", false },
	[K_BUILD_TIME] = { "build_time", false },
	[K_DATAPLANE] = { "dataplane", true },
	[K_ACCEL] = { "accel", false },
	[K_CONFIG] = { "config", false },
	[K_ABI_BAR] = { "abi_bar", true },
	[K_ABI_WIRE] = { "abi_wire", true },
	[K_ABI_RING] = { "abi_ring", true },
};

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Unsigned integer (decimal or 0x hex) no larger than max. */
static int
parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* A digit first: strtoull would skip \f or \v and wrap "-1" to 2^64-1. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "A.B" or "A.B.C" of 16-bit numbers; n = 2 or 3 parts. */
static int
parse_dotted(const char *s, unsigned int n, uint16_t *out)
{
	char buf[64], *p = buf, *dot;
	uint64_t v;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (unsigned int i = 0; i < n; i++) {
		dot = strchr(p, '.');
		if ((i < n - 1) != (dot != NULL))
			return -EINVAL;
		if (dot)
			*dot = '\0';
		if (*p < '0' || *p > '9' || parse_uint(p, UINT16_MAX, &v))
			return -EINVAL;
		out[i] = (uint16_t)v;
		p = dot ? dot + 1 : p;
	}
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
parse_hex_id(const char *s, uint8_t out[TF_FW_BUILD_ID_SIZE])
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 || n > 2 * TF_FW_BUILD_ID_SIZE)
		return -EINVAL;
	memset(out, 0, TF_FW_BUILD_ID_SIZE);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int
read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot open section file %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "section file %s is not a regular file", path);
		r = -EINVAL;
		goto close_f;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > TF_FW_IMAGE_MAX_SIZE) {
		snprintf(err, errlen, "section file %s has %lld bytes (must be 1..%llu)", path,
			 (long long)st.st_size, (unsigned long long)TF_FW_IMAGE_MAX_SIZE);
		r = -EFBIG;
		goto close_f;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		r = -ENOMEM;
		goto close_f;
	}
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		snprintf(err, errlen, "cannot read section file %s", path);
		free(buf);
		r = -EIO;
		goto close_f;
	}
	*data = buf;
	*len = (size_t)st.st_size;
	r = 0;
close_f:
	fclose(f);
	return r;
}

static int
set_value(struct tf_fw_manifest *m, enum mkey k, const char *v, const char *dir, char *paths[K_MAX])
{
	struct tf_fw_build_input *in = &m->in;
	uint64_t u;
	uint16_t ab[2];

	switch (k) {
	case K_VERSION:
		return parse_dotted(v, 3, in->version);
	case K_SECURITY_VERSION:
		if (parse_uint(v, UINT32_MAX, &u))
			return -EINVAL;
		in->security_version = (uint32_t)u;
		return 0;
	case K_BOARD_ID:
		if (parse_uint(v, UINT32_MAX, &u))
			return -EINVAL;
		in->board_id = (uint32_t)u;
		return 0;
	case K_BUILD_ID:
		in->has_build_id = true;
		return parse_hex_id(v, in->build_id);
	case K_BUILD_TIME:
		if (parse_uint(v, UINT64_MAX, &u))
			return -EINVAL;
		in->build_time = u;
		return 0;
	case K_DATAPLANE:
	case K_ACCEL:
	case K_CONFIG:
		if (!*v)
			return -EINVAL;
		if (*v == '/' || !dir) {
			paths[k] = strdup(v);
		} else if (asprintf(&paths[k], "%s/%s", dir, v) < 0) {
			paths[k] = NULL;
		}
		return paths[k] ? 0 : -ENOMEM;
	case K_ABI_BAR:
	case K_ABI_WIRE:
	case K_ABI_RING:
		if (parse_dotted(v, 2, ab))
			return -EINVAL;
		if (k == K_ABI_BAR) {
			in->abi.bar_major = ab[0];
			in->abi.bar_minor = ab[1];
		} else if (k == K_ABI_WIRE) {
			in->abi.wire_major = ab[0];
			in->abi.wire_minor = ab[1];
		} else {
			in->abi.ring_major = ab[0];
			in->abi.ring_minor = ab[1];
		}
		return 0;
	default:
		return -EINVAL;
	}
}

static const char *
value_hint(enum mkey k)
{
	switch (k) {
	case K_VERSION:
		return "MAJOR.MINOR.PATCH, each 0..65535";
	case K_SECURITY_VERSION:
	case K_BOARD_ID:
		return "a 32-bit number (decimal or 0x hex)";
	case K_BUILD_ID:
		return "up to 64 hex digits, an even number of them";
	case K_BUILD_TIME:
		return "seconds since the epoch";
	case K_ABI_BAR:
	case K_ABI_WIRE:
	case K_ABI_RING:
		return "MAJOR.MINOR";
	default:
		return "a file path";
	}
}

static int
load_sections(struct tf_fw_manifest *m, char *paths[K_MAX], char *err, size_t errlen)
{
	static const struct {
		enum mkey key;
		uint16_t type;
	} order[] = { { K_DATAPLANE, TF_FW_SECT_DATAPLANE },
		      { K_ACCEL, TF_FW_SECT_ACCEL },
		      { K_CONFIG, TF_FW_SECT_CONFIG } };
	unsigned int n = 0;
	size_t len = 0;
	int r;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		char *p = paths[order[i].key];

		if (!p)
			continue;
		r = read_file(p, &m->data[n], &len, err, errlen);
		if (r)
			return r;
		m->path[n] = p;
		paths[order[i].key] = NULL;
		m->in.sect[n] = (struct tf_fw_build_section){ order[i].type, m->data[n], len };
		m->in.nsections = ++n;
	}
	return 0;
}

int
tf_fw_manifest_load(const char *path, struct tf_fw_manifest *m, char *err, size_t errlen)
{
	char *paths[K_MAX] = { 0 }, line[4096], *dir = NULL, *tmp;
	bool seen[K_MAX] = { 0 };
	unsigned int lineno = 0;
	FILE *f;
	int r = 0;

	memset(m, 0, sizeof(*m));
	f = fopen(path, "r");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot open manifest %s: %s", path, strerror(errno));
		return r;
	}
	tmp = strdup(path);
	if (!tmp) {
		r = -ENOMEM;
		goto close_f;
	}
	dir = strdup(dirname(tmp));
	free(tmp);
	if (!dir) {
		r = -ENOMEM;
		goto close_f;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *key, *val;
		enum mkey k;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line longer than %zu characters", path,
				 lineno, sizeof(line) - 2);
			r = -EINVAL;
			goto free_all;
		}
		s = trim(line);
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'key = value', got '%s'", path,
				 lineno, s);
			r = -EINVAL;
			goto free_all;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		for (k = 0; k < K_MAX; k++)
			if (!strcmp(key, g_keys[k].name))
				break;
		if (k == K_MAX) {
			snprintf(err, errlen,
				 "%s:%u: unknown key '%s' (see hwdocs/firmware-image.md, "
				 "Manifest)",
				 path, lineno, key);
			r = -EINVAL;
			goto free_all;
		}
		if (seen[k]) {
			snprintf(err, errlen, "%s:%u: '%s' given twice", path, lineno, key);
			r = -EINVAL;
			goto free_all;
		}
		seen[k] = true;
		r = set_value(m, k, val, dir, paths);
		if (r) {
			snprintf(err, errlen, "%s:%u: bad value '%s' for %s: expected %s", path,
				 lineno, val, key, value_hint(k));
			goto free_all;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read manifest %s", path);
		r = -EIO;
		goto free_all;
	}
	for (enum mkey k = 0; k < K_MAX; k++) {
		if (g_keys[k].required && !seen[k]) {
			snprintf(err, errlen, "%s: required key '%s' is missing", path,
				 g_keys[k].name);
			r = -EINVAL;
			goto free_all;
		}
	}
	r = load_sections(m, paths, err, errlen);
free_all:
	for (int k = 0; k < K_MAX; k++)
		free(paths[k]);
	if (r)
		tf_fw_manifest_free(m);
	free(dir);
close_f:
	fclose(f);
	return r;
}

void
tf_fw_manifest_free(struct tf_fw_manifest *m)
{
	for (unsigned int i = 0; i < TF_FW_MAX_SECTIONS - 1; i++) {
		free(m->path[i]);
		free(m->data[i]);
		m->path[i] = NULL;
		m->data[i] = NULL;
	}
	m->in.nsections = 0;
}
