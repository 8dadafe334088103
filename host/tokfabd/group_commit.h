/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Group commit: when the card thread commits the events it has read.
 *
 * Events read from the card wait in memory (still unacknowledged, so the card
 * keeps them) until max_events are pending or interval_us has passed since the
 * first of them was read, whichever comes first; then one transaction commits
 * them all and only then are they acknowledged. A crash at any point loses
 * nothing: the card re-posts what was not acknowledged and the ledger skips what
 * it already holds (hwdocs/queues.md).
 *
 * Between reads the thread sleeps for tfd_gc_wait_us(): until the interval ends,
 * or sooner when the measured arrival rate would fill max_events before then
 * (half the expected fill time), so the card's event queue keeps room. Pure
 * arithmetic on the caller's clock: no I/O, no locks (tests/unit/host).
 */
#ifndef TFD_GROUP_COMMIT_H
#define TFD_GROUP_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#define TFD_GC_MIN_WAIT_US 100u /* shortest sleep between reads while events wait */

struct tfd_gc {
	uint32_t max_events; /* commit when this many are pending (>= 1) */
	uint64_t interval_us; /* ... or when the oldest pending waited this long (0: at once) */
	uint32_t pending; /* events read, not yet committed */
	uint64_t first_us; /* when the oldest pending event was read */
	uint64_t last_us; /* last tfd_gc_read() */
	uint64_t rate; /* arrivals per second, smoothed; 0 unknown */
};

/*
 * max_events: the ledger's batch_max, capped to a quarter of the card's event
 * queue (eq_depth), so the events held back plus those arriving during a
 * commit fit in the queue.
 */
void tfd_gc_init(struct tfd_gc *g, uint32_t batch_max, uint32_t eq_depth, uint32_t interval_ms);
/* n events were read at now_us (n may be 0: a look that found nothing). */
void tfd_gc_read(struct tfd_gc *g, uint32_t n, uint64_t now_us);
/* True when the pending events must be committed now. */
bool tfd_gc_due(const struct tfd_gc *g, uint64_t now_us);
/* With events pending and not due: how long to sleep before the next read (>= 1). 0 otherwise. */
uint64_t tfd_gc_wait_us(const struct tfd_gc *g, uint64_t now_us);
/* The pending events were committed (and acknowledged). */
void tfd_gc_committed(struct tfd_gc *g);

#endif /* TFD_GROUP_COMMIT_H */
