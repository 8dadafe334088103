/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Waiting for the host (hwdocs/dataplane.md, "Waiting for the host"): a card
 * started with a BAR and no tenants in its file gets them from its host through
 * the admin queue, a second or so after it starts (a restarted card comes back
 * empty). Until then a request of a tenant (or for a model) the card does not
 * know is answered BUSY with a retry-after, not UNKNOWN_TENANT: the client
 * waits and sends it again instead of giving up on a final error.
 *
 * The card stops waiting once the host has enabled the admin queue, sent
 * configuration commands (tenants, models, accelerators, batching), and sent
 * none for settle_ms; or give_up_s after the start whatever happened (no host
 * came, or one that configures nothing): then unknown means unknown again. The main lcore polls it;
 * workers read `waiting` with plain loads (one writer, a rarely-changing byte).
 */
#ifndef TF_DP_HOSTWAIT_H
#define TF_DP_HOSTWAIT_H

#include <stdint.h>

struct tf_dp_hostwait {
	volatile uint8_t waiting; /* 1: unknown tenants and models get BUSY */
	uint64_t start_us, ready_us, last_change_us;
	uint64_t changes; /* configuration commands counted at the last poll */
	uint8_t configuring; /* commands arrived since the start */
	uint64_t settle_us, give_up_us;
};

/* Starts waiting now; changes: configuration commands applied so far (the file's). */
void tf_dp_hostwait_start(struct tf_dp_hostwait *h, uint64_t now_us, uint64_t changes,
			  uint32_t settle_ms, uint32_t give_up_s);

/*
 * host_ready: the host has enabled the admin queue (TF_STATUS_READY);
 * changes: configuration commands applied so far. Returns 1 when the card
 * stops waiting with this call because the host configured it, 2 when it gave
 * up, else 0.
 */
int tf_dp_hostwait_poll(struct tf_dp_hostwait *h, uint64_t now_us, int host_ready,
			uint64_t changes);

#endif /* TF_DP_HOSTWAIT_H */
