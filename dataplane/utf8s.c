/* SPDX-License-Identifier: BSD-3-Clause */
/* Incremental UTF-8 validator (RFC 3629 well-formed byte sequences). */
#include "dataplane/utf8s.h"

void
tf_utf8s_feed(struct tf_utf8s *s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && !s->bad; i++) {
		uint8_t b = p[i];

		if (s->need) {
			if (b < s->lo || b > s->hi) {
				s->bad = 1;
				return;
			}
			s->need--;
			s->lo = 0x80;
			s->hi = 0xbf;
			continue;
		}
		if (b < 0x80)
			continue;
		s->lo = 0x80;
		s->hi = 0xbf;
		if (b >= 0xc2 && b <= 0xdf) {
			s->need = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			s->need = 2;
			if (b == 0xe0)
				s->lo = 0xa0; /* no overlongs */
			else if (b == 0xed)
				s->hi = 0x9f; /* no surrogates */
		} else if (b >= 0xf0 && b <= 0xf4) {
			s->need = 3;
			if (b == 0xf0)
				s->lo = 0x90;
			else if (b == 0xf4)
				s->hi = 0x8f; /* <= U+10FFFF */
		} else {
			s->bad = 1;
		}
	}
}
