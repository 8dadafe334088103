/* SPDX-License-Identifier: BSD-3-Clause */
/* Waiting for the host's configuration after a start with a BAR (hostwait.h). */
#include "dataplane/hostwait.h"

#include <string.h>

void
tf_dp_hostwait_start(struct tf_dp_hostwait *h, uint64_t now_us, uint64_t changes,
		     uint32_t settle_ms, uint32_t give_up_s)
{
	memset(h, 0, sizeof(*h));
	h->start_us = now_us;
	h->last_change_us = now_us;
	h->changes = changes;
	h->settle_us = (uint64_t)settle_ms * 1000;
	h->give_up_us = (uint64_t)give_up_s * 1000000;
	h->waiting = 1;
}

int
tf_dp_hostwait_poll(struct tf_dp_hostwait *h, uint64_t now_us, int host_ready, uint64_t changes)
{
	uint64_t quiet_since;

	if (!h->waiting)
		return 0;
	if (changes != h->changes) {
		h->changes = changes;
		h->last_change_us = now_us;
		h->configuring = 1;
	}
	if (host_ready && !h->ready_us)
		h->ready_us = now_us;
	/* The host is there, has pushed something, and has been quiet for settle_us. */
	if (h->ready_us && h->configuring) {
		quiet_since = h->ready_us > h->last_change_us ? h->ready_us : h->last_change_us;
		if (now_us - quiet_since >= h->settle_us) {
			h->waiting = 0;
			return 1;
		}
	}
	if (h->give_up_us && now_us - h->start_us >= h->give_up_us) {
		h->waiting = 0;
		return 2;
	}
	return 0;
}
