/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Health state machines: one per component (the card, each port and
 * accelerator it reports, the ledger, the daemon's card link), each up,
 * degraded or down with the time and reason of its last change; every change
 * is logged. The card watchdog turns a frozen heartbeat register into "down".
 */
#ifndef TFD_HEALTH_H
#define TFD_HEALTH_H

#include <pthread.h>
#include <stdint.h>

#include "tokfab/usage.h"

/* Components beyond the card's own (enum tf_health_component). */
#define TFD_HC_LEDGER 100 /* the SQLite ledger */
#define TFD_HC_LINK 101 /* the daemon's access path to the card */

#define TFD_HEALTH_MAX 256
#define TFD_REASON_LEN 96

struct tfd_health_comp {
	int component;
	uint32_t id;
	int state; /* enum tf_health_state; 0 = not yet known */
	uint64_t since_ns;
	uint64_t changes;
	char reason[TFD_REASON_LEN];
};

struct tfd_health {
	pthread_mutex_t lock;
	unsigned int n;
	struct tfd_health_comp c[TFD_HEALTH_MAX];
};

void tfd_health_init(struct tfd_health *h);
/* Sets a component's state; returns 1 when it changed (and logs it), 0 if not. */
int tfd_health_set(struct tfd_health *h, int component, uint32_t id, int state, const char *reason,
		   uint64_t now_ns);
/* Copies the table; returns the number of components. */
unsigned int tfd_health_snapshot(struct tfd_health *h, struct tfd_health_comp *out,
				 unsigned int max);
/* State of one component, 0 when unknown. */
int tfd_health_get(struct tfd_health *h, int component, uint32_t id);
const char *tfd_health_state_name(int state);
const char *tfd_health_component_name(int component);
const char *tfd_health_reason_name(uint32_t reason);

/* Heartbeat watchdog: silent after `periods` heartbeat periods without change. */
struct tfd_watchdog {
	uint64_t last_hb;
	uint64_t last_change_ms;
	int armed;
};

/* Returns 1 while the heartbeat moves (or has moved recently), 0 once silent. */
int tfd_watchdog_check(struct tfd_watchdog *w, uint64_t hb, uint64_t now_ms, uint32_t period_ms,
		       uint32_t periods);

#endif /* TFD_HEALTH_H */
