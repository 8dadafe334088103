/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card thread's event pump: read the card's events into memory, commit
 * them to the ledger as a group (group_commit.h), then acknowledge them.
 * Nothing is acknowledged before its commit; events whose commit failed stay
 * pending (and unacknowledged on the card) and are committed by the next try,
 * never skipped. Card thread only.
 */
#ifndef TFD_EVENTS_H
#define TFD_EVENTS_H

#include <stdint.h>

#include "tokfab/bar.h"
#include "tokfabd/group_commit.h"

struct tfd;

struct tfd_events {
	struct tf_eq_entry *ev; /* pending events, in sequence: (cap) */
	uint32_t cap; /* the ledger's batch_max */
	uint32_t interval_ms;
	struct tfd_gc gc;
	char serial[TF_NAME_LEN]; /* the card the pending events came from */
	uint64_t epoch;
};

int tfd_events_init(struct tfd_events *e, uint32_t batch_max, uint32_t interval_ms);
void tfd_events_fini(struct tfd_events *e);
/* A card was attached (nothing pending): its identity and queue depth. */
void tfd_events_attach(struct tfd_events *e, const char *serial, uint64_t epoch, uint32_t eq_depth);
/*
 * Reads what the card has, up to the batch's room, at now_us (monotonic).
 * Returns the number of new events (0: none, or the card broke the spec, which
 * is logged and stops reading) or the access path's -errno.
 */
int tfd_events_read(struct tfd *d, struct tfd_events *e, uint64_t now_us);
/* Commits every pending event in one transaction, then acknowledges: 0 or -EIO. */
int tfd_events_commit(struct tfd *d, struct tfd_events *e);
/* Commits what is pending, then reads and commits until the card has nothing more. */
int tfd_events_drain(struct tfd *d, struct tfd_events *e, uint64_t now_us);
/*
 * Forgets the pending events without acknowledging them (the handle they came
 * from is being closed after a failed commit): the card still holds them and
 * delivers them again to the next handle.
 */
void tfd_events_discard(struct tfd_events *e);

#endif /* TFD_EVENTS_H */
