/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prompt reassembly: which 64-byte units of a prompt arrived, in a fixed
 * bitmap, with overlap, duplicate, range and total checks
 * (hwdocs/protocol.md "Fragments"). Pure logic on caller memory.
 */
#include "tokfab/proto.h"

#include <string.h>

#define UNIT TF_PROTO_FRAG_UNIT

void
tf_proto_reasm_init(struct tf_proto_reasm *r, void *buf, uint32_t cap)
{
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->cap = cap;
}

/* Number of set bits in units [a, b). */
static uint32_t
count_set(const uint64_t *bm, uint32_t a, uint32_t b)
{
	uint32_t n = 0;

	while (a < b) {
		uint32_t w = a / 64, s = a % 64;
		uint32_t take = 64 - s < b - a ? 64 - s : b - a;
		uint64_t mask = (take == 64 ? ~0ull : ((1ull << take) - 1)) << s;

		n += (uint32_t)__builtin_popcountll(bm[w] & mask);
		a += take;
	}
	return n;
}

static void
set_range(uint64_t *bm, uint32_t a, uint32_t b)
{
	while (a < b) {
		uint32_t w = a / 64, s = a % 64;
		uint32_t take = 64 - s < b - a ? 64 - s : b - a;

		bm[w] |= (take == 64 ? ~0ull : ((1ull << take) - 1)) << s;
		a += take;
	}
}

int
tf_proto_reasm_add(struct tf_proto_reasm *r, uint32_t total, uint32_t offset, const void *data,
		   uint32_t len)
{
	uint64_t end = (uint64_t)offset + len;
	uint32_t ua, ub, have;

	if (total == 0 || total > TF_PROTO_MAX_PROMPT)
		return -TF_PROTO_R_TOO_LARGE;
	if (r->total && r->total != total)
		return -TF_PROTO_R_FRAG_TOTAL;
	if (r->buf && total > r->cap)
		return -TF_PROTO_R_TOO_LARGE;
	if (end > total)
		return -TF_PROTO_R_FRAG_RANGE;
	if (offset % UNIT || (end != total && len % UNIT))
		return -TF_PROTO_R_FRAG_ALIGN;
	r->total = total;
	if (len == 0)
		return 1; /* a REQUEST with no prompt bytes: nothing new */

	ua = offset / UNIT;
	ub = (uint32_t)((end + UNIT - 1) / UNIT);
	have = count_set(r->bitmap, ua, ub);
	if (have == ub - ua) {
		if (r->buf && memcmp(r->buf + offset, data, len) != 0)
			return -TF_PROTO_R_FRAG_CONFLICT;
		return 1;
	}
	if (have)
		return -TF_PROTO_R_FRAG_OVERLAP;
	set_range(r->bitmap, ua, ub);
	if (r->buf)
		memcpy(r->buf + offset, data, len);
	r->received += len;
	return 0;
}
