/* SPDX-License-Identifier: BSD-3-Clause */
#include "tokfabd/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
grow(struct tfd_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->oom)
		return -1;
	while (cap < b->len + need + 1)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void
tfd_buf_append(struct tfd_buf *b, const char *s, size_t n)
{
	if (grow(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
tfd_buf_printf(struct tfd_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *
tfd_buf_take(struct tfd_buf *b, size_t *len)
{
	char *p = b->p;

	if (!p) {
		p = calloc(1, 1);
		*len = 0;
	} else {
		*len = b->len;
	}
	memset(b, 0, sizeof(*b));
	return p;
}

void
tfd_buf_free(struct tfd_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
