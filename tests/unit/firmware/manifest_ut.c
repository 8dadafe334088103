/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for firmware/manifest.c: the key = value build manifest. */
#include "fw_internal.h"
#include "tf_cunit.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[] = "/tmp/tf-fw-man.XXXXXX";
static char g_path[256];

static int
suite_init(void)
{
	char p[300];
	FILE *f;

	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_path, sizeof(g_path), "%s/m.txt", g_dir);
	snprintf(p, sizeof(p), "%s/dp.bin", g_dir);
	f = fopen(p, "w");
	if (!f)
		return -1;
	fputs("dataplane bytes", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/cfg", g_dir);
	f = fopen(p, "w");
	if (!f)
		return -1;
	fputs("cfg", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/empty", g_dir);
	f = fopen(p, "w");
	if (!f)
		return -1;
	fclose(f);
	return 0;
}

static int
suite_cleanup(void)
{
	char p[300];

	for (const char *n = "m.txt\0dp.bin\0cfg\0empty\0"; *n; n += strlen(n) + 1) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, n);
		unlink(p);
	}
	rmdir(g_dir);
	return 0;
}

static const char *const g_good = "# tokfab test manifest\n"
				  "version = 1.2.3\n"
				  "  security_version=7  \n"
				  "\n"
				  "board_id = 0x54460001\n"
				  "dataplane = dp.bin\n"
				  "config = cfg\n"
				  "abi_bar = 1.0\n"
				  "abi_wire = 1.2\n"
				  "abi_ring = 3.4\n";

/* Writes text as the manifest and loads it; returns the result, err filled. */
static int
load(const char *text, struct tf_fw_manifest *m, char *err, size_t errlen)
{
	FILE *f = fopen(g_path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	return tf_fw_manifest_load(g_path, m, err, errlen);
}

static void
test_good_manifest(void)
{
	struct tf_fw_manifest m;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(load(g_good, &m, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(m.in.version[0], 1);
	CU_ASSERT_EQUAL(m.in.version[2], 3);
	CU_ASSERT_EQUAL(m.in.security_version, 7);
	CU_ASSERT_EQUAL(m.in.board_id, 0x54460001);
	CU_ASSERT_EQUAL(m.in.abi.wire_minor, 2);
	CU_ASSERT_EQUAL(m.in.abi.ring_major, 3);
	CU_ASSERT_EQUAL(m.in.nsections, 2);
	CU_ASSERT_EQUAL(m.in.sect[0].type, TF_FW_SECT_DATAPLANE);
	CU_ASSERT_EQUAL(m.in.sect[0].len, strlen("dataplane bytes"));
	CU_ASSERT_EQUAL(memcmp(m.in.sect[0].data, "dataplane bytes", 15), 0);
	CU_ASSERT_EQUAL(m.in.sect[1].type, TF_FW_SECT_CONFIG);
	CU_ASSERT(!m.in.has_build_id);
	tf_fw_manifest_free(&m);
}

/* The good manifest with one line replaced (or appended when `key` is new). */
static int
load_with(const char *key, const char *line, char *err, size_t errlen)
{
	char text[2048], *p;
	struct tf_fw_manifest m;
	size_t klen = strlen(key);
	int r;

	text[0] = '\0';
	for (const char *s = g_good; *s;) {
		const char *e = strchr(s, '\n');
		size_t n = (size_t)(e - s) + 1;
		const char *t = s;

		while (*t == ' ')
			t++;
		if (!strncmp(t, key, klen) && (t[klen] == ' ' || t[klen] == '='))
			strcat(text, line);
		else
			strncat(text, s, n);
		s += n;
	}
	if (!strstr(g_good, key))
		strcat(text, line);
	p = text;
	r = load(p, &m, err, errlen);
	if (!r)
		tf_fw_manifest_free(&m);
	return r;
}

static void
test_bad_values(void)
{
	static const struct {
		const char *key, *line, *want;
	} cases[] = {
		{ "version", "version = 1.2\n", "MAJOR.MINOR.PATCH" },
		{ "version", "version = 1.2.3.4\n", "MAJOR.MINOR.PATCH" },
		{ "version", "version = a.b.c\n", "MAJOR.MINOR.PATCH" },
		{ "version", "version = 70000.0.0\n", "MAJOR.MINOR.PATCH" },
		{ "version", "version = -1.0.0\n", "MAJOR.MINOR.PATCH" },
		{ "version", "version = 1..3\n", "MAJOR.MINOR.PATCH" },
		{ "security_version", "security_version = 4294967296\n", "32-bit" },
		{ "security_version", "security_version = -3\n", "32-bit" },
		{ "security_version", "security_version =\n", "32-bit" },
		{ "board_id", "board_id = 0xzz\n", "32-bit" },
		{ "abi_bar", "abi_bar = 1\n", "MAJOR.MINOR" },
		{ "build_id", "build_id = abc\n", "hex" },
		{ "build_id", "build_id = zz\n", "hex" },
		{ "build_time", "build_time = soon\n", "epoch" },
		/* strtoull skips white space trim() leaves and wraps a minus sign */
		{ "build_time", "build_time = \f-1\n", "epoch" },
		{ "build_time", "build_time = \v+5\n", "epoch" },
		{ "board_id", "board_id = \f0x1\n", "32-bit" },
		{ "dataplane", "dataplane =\n", "file path" },
	};
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(load_with(cases[i].key, cases[i].line, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].want))
			fprintf(stderr, "\n  '%s' gave '%s'\n", cases[i].line, err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].want));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, ":")); /* names file and line */
	}
}

static void
test_structure_errors(void)
{
	struct tf_fw_manifest m;
	char err[512], text[6000];

	CU_ASSERT_EQUAL(load_with("colour", "colour = blue\n", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown key 'colour'"));
	CU_ASSERT_EQUAL(load_with("junk", "just words\n", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "expected 'key = value'"));
	snprintf(text, sizeof(text), "%sversion = 1.2.3\n", g_good);
	CU_ASSERT_EQUAL(load(text, &m, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "given twice"));
	CU_ASSERT_EQUAL(load_with("abi_ring", "\n", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "required key 'abi_ring' is missing"));
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	CU_ASSERT_EQUAL(load(text, &m, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "line longer"));
	CU_ASSERT_EQUAL(tf_fw_manifest_load("/nonexistent/m", &m, err, sizeof(err)), -ENOENT);
}

static void
test_section_files(void)
{
	char err[512], line[400];

	CU_ASSERT_EQUAL(load_with("dataplane", "dataplane = missing.bin\n", err, sizeof(err)),
			-ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing.bin"));
	CU_ASSERT_EQUAL(load_with("dataplane", "dataplane = empty\n", err, sizeof(err)), -EFBIG);
	CU_ASSERT_EQUAL(load_with("dataplane", "dataplane = .\n", err, sizeof(err)), -EINVAL);
	/* Absolute paths are taken as they are. */
	snprintf(line, sizeof(line), "dataplane = %s/dp.bin\n", g_dir);
	CU_ASSERT_EQUAL(load_with("dataplane", line, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load_with("build_id", "build_id = 00FF\n", err, sizeof(err)), 0);
}

static const struct tf_cunit_test manifest_tests[] = {
	TF_TEST(test_good_manifest),
	TF_TEST(test_bad_values),
	TF_TEST(test_structure_errors),
	TF_TEST(test_section_files),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "manifest", suite_init, suite_cleanup, manifest_tests })
