/* SPDX-License-Identifier: BSD-3-Clause */
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *g_progname = "tokfab";
static enum tf_log_level g_level = TF_LOG_INFO;
static int g_syslog;

void
tf_log_init(const char *progname, enum tf_log_level level, int to_syslog)
{
	g_progname = progname;
	g_level = level;
	g_syslog = to_syslog;
	if (to_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
tf_log_set_level(enum tf_log_level level)
{
	g_level = level;
}

static const char *
level_name(enum tf_log_level level)
{
	switch (level) {
	case TF_LOG_ERR:
		return "error";
	case TF_LOG_WARN:
		return "warning";
	case TF_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void
tf_log_vmsg(enum tf_log_level level, int with_errno, const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;
	size_t n;

	if (level > g_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	if (g_syslog) {
		syslog((int)level, "%s", msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s: %s: %s\n", when, ts.tv_nsec / 1000000, g_progname,
			level_name(level), msg);
	}
	errno = saved;
}

#define TF_LOG_FN(name, level, with_errno)               \
	void name(const char *fmt, ...)                  \
	{                                                \
		va_list ap;                              \
		va_start(ap, fmt);                       \
		tf_log_vmsg(level, with_errno, fmt, ap); \
		va_end(ap);                              \
	}

TF_LOG_FN(tf_log_warn, TF_LOG_WARN, 1)
TF_LOG_FN(tf_log_warnx, TF_LOG_WARN, 0)
TF_LOG_FN(tf_log_info, TF_LOG_INFO, 0)
TF_LOG_FN(tf_log_debug, TF_LOG_DEBUG, 0)

void
tf_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tf_log_vmsg(TF_LOG_ERR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
tf_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tf_log_vmsg(TF_LOG_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
