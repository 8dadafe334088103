/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: the host's check of an admin completion (what a card, or a
 * hostile card process, writes in the CQ). Input: a submission entry and a
 * completion entry, 512 bytes each.
 */
#include "card/check.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_aq_sqe sqe;
	struct tf_aq_cqe cqe;
	const char *why = NULL;
	size_t n;

	memset(&sqe, 0, sizeof(sqe));
	memset(&cqe, 0, sizeof(cqe));
	n = size < sizeof(sqe) ? size : sizeof(sqe);
	memcpy(&sqe, data, n);
	if (size > sizeof(sqe)) {
		size -= sizeof(sqe);
		memcpy(&cqe, data + sizeof(sqe), size < sizeof(cqe) ? size : sizeof(cqe));
	}
	if (tf_aq_cqe_check(&cqe, &sqe, &why) == 0) {
		if (cqe.cmd_id != sqe.cmd_id || cqe.len > TF_AQ_PAYLOAD_MAX ||
		    !tf_aq_status_known(cqe.status))
			abort();
	} else if (!why) {
		abort();
	}
	return 0;
}
