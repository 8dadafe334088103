/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging for tokfab's host programs and tools (relayd style). The dataplane
 * logs through RTE_LOG with its own registered type instead.
 */
#ifndef TF_COMMON_LOG_H
#define TF_COMMON_LOG_H

#include <stdarg.h>

enum tf_log_level {
	TF_LOG_ERR = 3,
	TF_LOG_WARN = 4,
	TF_LOG_INFO = 6,
	TF_LOG_DEBUG = 7,
};

/* Program name in every line; to_syslog sends lines to syslog instead of stderr. */
void tf_log_init(const char *progname, enum tf_log_level level, int to_syslog);
void tf_log_set_level(enum tf_log_level level);

/* log_warn appends strerror(errno); log_warnx does not. */
void tf_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tf_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tf_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tf_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tf_log_vmsg(enum tf_log_level level, int with_errno, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* fatal/fatalx are for main() and its direct helpers only: they exit(1). */
void tf_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void tf_fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* TF_COMMON_LOG_H */
