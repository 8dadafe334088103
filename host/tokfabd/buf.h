/* SPDX-License-Identifier: BSD-3-Clause */
/* A growable text buffer for HTTP bodies (metrics, CSV, JSON). */
#ifndef TFD_BUF_H
#define TFD_BUF_H

#include <stddef.h>

struct tfd_buf {
	char *p;
	size_t len, cap;
	int oom; /* an append failed: the content is truncated */
};

void tfd_buf_printf(struct tfd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tfd_buf_append(struct tfd_buf *b, const char *s, size_t n);
/* Hands the text over (NUL-terminated); the buffer is empty afterwards. */
char *tfd_buf_take(struct tfd_buf *b, size_t *len);
void tfd_buf_free(struct tfd_buf *b);

#endif /* TFD_BUF_H */
