/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared body of the two ring fuzz targets: the fuzz input is [u32 producer
 * index][ring bytes]; the consumer runs exactly what libtfxport's poll does
 * with a peer's ring (index check, record header check, private copy, entry
 * parse, field checks) until the ring is drained or a record is rejected.
 */
#ifndef TF_FUZZ_XPORT_CONSUME_H
#define TF_FUZZ_XPORT_CONSUME_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xport/entry.h"
#include "xport/ring.h"

#define FZ_RING TF_ACCEL_RING_MIN

static inline void
fz_consume(const uint8_t *data, size_t size, uint16_t types)
{
	static _Alignas(64) uint8_t ring[FZ_RING];
	static _Alignas(64) uint8_t copy[FZ_RING / 2];
	static struct tf_entry_req reqs[TF_ACCEL_MAX_BATCH_REQS];
	static struct tf_entry_evt evts[TF_ACCEL_MAX_EVENTS];
	static uint64_t handles[TF_ACCEL_MAX_CANCEL];
	struct tf_ring r;
	uint32_t prod;

	if (size < 4)
		return;
	memcpy(&prod, data, 4);
	memset(ring, 0, sizeof(ring));
	memcpy(ring, data + 4, size - 4 < FZ_RING ? size - 4 : FZ_RING);
	tf_ring_init(&r, FZ_RING, FZ_RING / 2, 0, types);
	if (tf_ring_cons_doorbell(&r, prod) != TF_RING_OK)
		return;
	while (tf_ring_avail(&r)) {
		struct tf_accel_rec h;
		uint32_t off = tf_ring_off(&r, r.cons);
		int n = 0;

		memcpy(&h, ring + off, sizeof(h));
		if (tf_ring_cons_check(&r, &h) != TF_RING_OK)
			return;
		if (h.type != TF_ACCEL_REC_PAD) {
			memcpy(copy, ring + off, h.len);
			if (h.type == TF_ACCEL_REC_BATCH) {
				n = tf_entry_batch_parse(copy, h.len, reqs,
							 TF_ACCEL_MAX_BATCH_REQS);
				for (int i = 0; i < n; i++) {
					volatile uint8_t sink = 0;

					tf_entry_req_check(&reqs[i].hdr, NULL);
					for (uint32_t k = 0; k < reqs[i].hdr.prompt_bytes; k++)
						sink ^= reqs[i].prompt[k];
					(void)sink;
				}
			} else if (h.type == TF_ACCEL_REC_CANCEL) {
				n = tf_entry_cancel_parse(copy, h.len, handles,
							  TF_ACCEL_MAX_CANCEL);
			} else {
				n = tf_entry_events_parse(copy, h.len, evts, TF_ACCEL_MAX_EVENTS);
				for (int i = 0; i < n; i++) {
					volatile uint8_t sink = 0;

					if (evts[i].type == TF_ACCEL_EVT_TOKENS)
						for (uint32_t k = 0;
						     k < evts[i].u.tokens.text_bytes; k++)
							sink ^= (uint8_t)evts[i].u.tokens.text[k];
					if (evts[i].type == TF_ACCEL_EVT_ERROR)
						for (uint32_t k = 0; k < evts[i].u.error.msg_len;
						     k++)
							sink ^= (uint8_t)evts[i].u.error.msg[k];
					(void)sink;
				}
			}
			if (n < 0)
				return;
		}
		tf_ring_cons_advance(&r, h.len);
	}
}

#endif /* TF_FUZZ_XPORT_CONSUME_H */
