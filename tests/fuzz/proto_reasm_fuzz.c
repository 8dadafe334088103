/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: prompt reassembly against a byte-by-byte reference.
 * The input is a list of 9-byte operations: u32 total, u32 offset (both
 * reduced to a small range so collisions are frequent), u8 length/8. Each
 * piece's bytes are a function of their position, except when bit 7 of the
 * length byte flips its first byte (so duplicates may conflict). The
 * reference keeps what it accepted byte by byte.
 */
#include "tokfab/proto.h"

#include <stdlib.h>
#include <string.h>

#define SPAN 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t
byte_at(uint32_t pos)
{
	return (uint8_t)(pos * 7 + 3);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tf_proto_reasm r;
	static uint8_t buf[SPAN], ref[SPAN], have[SPAN], piece[2048];
	uint32_t total = 0, received = 0;

	tf_proto_reasm_init(&r, buf, sizeof(buf));
	memset(have, 0, sizeof(have));
	for (size_t i = 0; i + 9 <= size; i += 9) {
		uint32_t t = tf_proto_ld32(data + i) % (SPAN + 64);
		uint32_t off = tf_proto_ld32(data + i + 4) % (SPAN + 128);
		uint32_t len = (uint32_t)(data[i + 8] & 0x7f) * 8;
		bool flip = data[i + 8] & 0x80;
		uint64_t end = (uint64_t)off + len;
		uint32_t got = 0, news = 0;
		int rc, want;

		for (uint32_t k = 0; k < len; k++)
			piece[k] = byte_at(off + k);
		if (flip && len)
			piece[0] ^= 1;
		rc = tf_proto_reasm_add(&r, t, off, piece, len);
		/* Reference: the rules of protocol.md section 6, byte by byte. */
		if (t == 0)
			want = -TF_PROTO_R_TOO_LARGE;
		else if (total && t != total)
			want = -TF_PROTO_R_FRAG_TOTAL;
		else if (t > SPAN) /* over the buffer's capacity */
			want = -TF_PROTO_R_TOO_LARGE;
		else if (end > t)
			want = -TF_PROTO_R_FRAG_RANGE;
		else if (off % 64 || (end != t && len % 64))
			want = -TF_PROTO_R_FRAG_ALIGN;
		else {
			/* Units are 64 bytes; the last unit may be partial. */
			uint32_t ua = off / 64, ub = (uint32_t)((end + 63) / 64);

			total = t; /* every check on the total passed */
			for (uint32_t u = ua; u < ub; u++)
				got += have[u * 64] ? 1 : 0;
			if (len == 0)
				want = 1;
			else if (got == ub - ua)
				want = memcmp(ref + off, piece, len) ? -TF_PROTO_R_FRAG_CONFLICT
								     : 1;
			else if (got)
				want = -TF_PROTO_R_FRAG_OVERLAP;
			else
				want = 0;
			if (want == 0) {
				for (uint32_t u = ua; u < ub; u++)
					have[u * 64] = 1;
				memcpy(ref + off, piece, len);
				news = len;
			}
		}
		if (rc != want)
			abort();
		received += news;
		if (r.received != received || (received && r.total != total))
			abort();
		if (tf_proto_reasm_done(&r) != (total && received == total))
			abort();
	}
	/* Every received byte is the right one. */
	for (uint32_t u = 0; u < SPAN / 64; u++)
		if (have[u * 64])
			for (uint32_t k = u * 64; k < (u + 1) * 64 && k < total; k++)
				if (buf[k] != ref[k])
					abort();
	return 0;
}
