/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for lib/common/log.c: level filtering and errno suffix. */
#include "common/log.h"
#include "tf_cunit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char g_path[] = "/tmp/tf-log-ut.XXXXXX";

/* Runs fn with stderr redirected to a temp file; returns what was written. */
static void
capture(void (*fn)(void), char *out, size_t outsz)
{
	int fd = mkstemp(g_path);
	int saved = dup(STDERR_FILENO);
	ssize_t n;

	CU_ASSERT_FATAL(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, out, outsz - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(g_path);
	strcpy(g_path, "/tmp/tf-log-ut.XXXXXX");
}

static void
emit_warn_errno(void)
{
	errno = ENOENT;
	tf_log_warn("opening %s", "x.yaml");
}

static void
emit_debug(void)
{
	tf_log_debug("hidden %d", 1);
}

static void
test_warn_appends_strerror(void)
{
	char buf[512];

	tf_log_init("ut", TF_LOG_INFO, 0);
	capture(emit_warn_errno, buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(buf, "ut: warning: opening x.yaml: No such file or directory"));
}

static void
test_debug_filtered_at_info(void)
{
	char buf[512];

	tf_log_init("ut", TF_LOG_INFO, 0);
	capture(emit_debug, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "");
	tf_log_set_level(TF_LOG_DEBUG);
	capture(emit_debug, buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "hidden 1"));
}

static const struct tf_cunit_test log_tests[] = {
	TF_TEST(test_warn_appends_strerror),
	TF_TEST(test_debug_filtered_at_info),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "log", NULL, NULL, log_tests })
