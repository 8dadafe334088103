/* SPDX-License-Identifier: BSD-3-Clause */
/* Error messages the engine hands back to its caller (no logging inside). */
#ifndef TF_ENGINE_ERRMSG_H
#define TF_ENGINE_ERRMSG_H

#include <stddef.h>

/* Formats into err (when err is not NULL) and returns rc, so callers write
 * `return tf_eng_err(err, errlen, -EINVAL, "...", ...);`. */
int tf_eng_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* TF_ENGINE_ERRMSG_H */
