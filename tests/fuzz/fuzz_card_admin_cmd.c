/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: the card's check of an admin submission entry (what a host, or a
 * hostile guest driver, can put in the SQ). Any bytes: the check must return a
 * status without reading out of bounds, and an accepted entry must satisfy
 * the invariants the handlers rely on.
 */
#include "card/check.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_aq_sqe sqe;
	uint32_t detail = 0;
	int st;

	memset(&sqe, 0, sizeof(sqe));
	memcpy(&sqe, data, size < sizeof(sqe) ? size : sizeof(sqe));
	st = tf_aq_sqe_check(&sqe, &detail);
	if (st == TF_AQ_S_OK) {
		/* Accepted: known opcode, exact length, zero tail. */
		if (tf_aq_req_len(sqe.opcode) != (int)sqe.len)
			abort();
		for (size_t i = sqe.len; i < TF_AQ_PAYLOAD_MAX; i++)
			if (sqe.payload[i])
				abort();
		if (sqe.opcode == TF_AQ_SET_TENANT) {
			const struct tf_aq_set_tenant *t = (const void *)sqe.payload;

			if (t->key_len < TF_KEY_MIN || t->key_len > TF_KEY_MAX ||
			    t->n_prices > TF_MAX_PRICES || memchr(t->name, 0, TF_NAME_LEN) == NULL)
				abort();
		}
	} else if (st == TF_AQ_S_BAD_FIELD) {
		if (detail >= TF_AQ_ENTRY_SIZE)
			abort();
	} else if (st != TF_AQ_S_BAD_OPCODE) {
		abort();
	}
	return 0;
}
