/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: the host's check of an event-queue entry (usage record, usage
 * aggregate or health event), as read from the card's shared memory. The first 8 bytes of the
 * input are the sequence number the host expects.
 */
#include "card/check.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_eq_entry e;
	uint64_t expect = 0;
	const char *why = NULL;

	if (size < 8)
		return 0;
	memcpy(&expect, data, 8);
	memset(&e, 0, sizeof(e));
	memcpy(&e, data + 8, size - 8 < sizeof(e) ? size - 8 : sizeof(e));
	if (tf_eq_entry_check(&e, expect, &why) == 0) {
		if (e.seq != expect ||
		    (e.type != TF_EQ_USAGE && e.type != TF_EQ_HEALTH && e.type != TF_EQ_USAGE_AGG))
			abort();
		if (e.type == TF_EQ_USAGE_AGG &&
		    (e.body.agg.requests == 0 || e.body.agg.last_end_ns < e.body.agg.first_end_ns ||
		     e.body.agg.completion_tokens > (uint64_t)e.body.agg.requests << 24))
			abort();
		if (e.type == TF_EQ_HEALTH &&
		    !memchr(e.body.health.detail, 0, TF_HEALTH_DETAIL_LEN))
			abort();
	} else if (!why) {
		abort();
	}
	return 0;
}
