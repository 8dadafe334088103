/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Streaming UTF-8 validation: a text prompt arrives in pieces (zero copy,
 * sorted by offset), so its characters may straddle pieces. Same rules as
 * tf_proto_utf8_valid(): no overlong forms, no surrogates, <= U+10FFFF.
 */
#ifndef TF_DP_UTF8S_H
#define TF_DP_UTF8S_H

#include <stddef.h>
#include <stdint.h>

struct tf_utf8s {
	uint8_t need; /* continuation bytes still expected */
	uint8_t lo, hi; /* allowed range of the next continuation byte */
	uint8_t bad; /* sticky */
};

static inline void
tf_utf8s_init(struct tf_utf8s *s)
{
	*s = (struct tf_utf8s){ 0 };
}

void tf_utf8s_feed(struct tf_utf8s *s, const uint8_t *p, size_t n);

/* True when everything fed so far is valid and no character is left open. */
static inline int
tf_utf8s_ok(const struct tf_utf8s *s)
{
	return !s->bad && s->need == 0;
}

#endif /* TF_DP_UTF8S_H */
