/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A hash map from a usage group (hour, tenant, model, accelerator, outcome) to
 * a caller's array index: the per-event lookups of the metrics counters and
 * the commit's hourly rollups, which were linear scans (thousands of compares
 * per event with thousands of tenants). Open addressing, linear probing,
 * grown at half load. Not thread-safe: the owner's lock covers it.
 */
#ifndef TFD_KEYMAP_H
#define TFD_KEYMAP_H

#include <stdint.h>

struct tfd_usage_key {
	uint64_t hour; /* Unix seconds of the hour; 0 when not by hour */
	uint32_t tenant, model, accel;
	int32_t outcome;
};

struct tfd_keymap_entry {
	struct tfd_usage_key key;
	uint32_t value; /* + 1; 0 = empty slot */
	uint32_t pad;
};

struct tfd_keymap {
	struct tfd_keymap_entry *e;
	uint32_t cap; /* power of two */
	uint32_t n;
};

/*
 * The value stored for key, or, when key is new, stores next and returns it
 * with *added = 1. -ENOMEM (as a negative int64) when the table cannot grow.
 */
int64_t tfd_keymap_get_or_add(struct tfd_keymap *m, const struct tfd_usage_key *key, uint32_t next,
			      int *added);
/* Forgets every key (keeps the memory). */
void tfd_keymap_clear(struct tfd_keymap *m);
void tfd_keymap_free(struct tfd_keymap *m);

#endif /* TFD_KEYMAP_H */
