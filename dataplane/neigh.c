/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-lcore IPv4 -> MAC table of peers. */
#include "dataplane/neigh.h"

#include <string.h>

static inline uint32_t
slot_of(uint32_t ip)
{
	return (ip * 2654435761u) >> (32 - 10); /* Fibonacci hash, 10 bits = 1024 slots */
}

void
tf_neigh_init(struct tf_neigh *n)
{
	memset(n, 0, sizeof(*n));
}

int
tf_neigh_learn(struct tf_neigh *n, uint32_t ip, const uint8_t mac[6], int has_vlan,
	       uint16_t vlan_tci, uint64_t now_us)
{
	uint32_t h = slot_of(ip);
	struct tf_neigh_entry *victim = NULL, *e;
	int changed;

	if (ip == 0)
		return 0;
	for (uint32_t i = 0; i < TF_NEIGH_PROBE; i++) {
		e = &n->e[(h + i) & (TF_NEIGH_SLOTS - 1)];
		if (e->ip == ip) {
			changed = memcmp(e->mac, mac, 6) != 0 || e->has_vlan != !!has_vlan ||
				  (has_vlan && e->vlan_tci != vlan_tci);
			victim = e;
			goto set;
		}
		if (!victim || (victim->ip != 0 && (e->ip == 0 || e->seen_us < victim->seen_us)))
			victim = e;
	}
	changed = 1;
set:
	victim->ip = ip;
	memcpy(victim->mac, mac, 6);
	victim->has_vlan = (uint8_t) !!has_vlan;
	victim->vlan_tci = has_vlan ? vlan_tci : 0;
	victim->seen_us = now_us;
	return changed;
}

const struct tf_neigh_entry *
tf_neigh_lookup(const struct tf_neigh *n, uint32_t ip)
{
	uint32_t h = slot_of(ip);

	if (ip == 0)
		return NULL;
	for (uint32_t i = 0; i < TF_NEIGH_PROBE; i++) {
		const struct tf_neigh_entry *e = &n->e[(h + i) & (TF_NEIGH_SLOTS - 1)];

		if (e->ip == ip)
			return e;
	}
	return NULL;
}
