/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Peer MACs learned from ARP and from requests, per lcore (no sharing).
 * Open addressing on the IPv4 address; a full table replaces the stalest
 * entry of the probe window. Responses ask it for the peer's current MAC.
 */
#ifndef TF_DP_NEIGH_H
#define TF_DP_NEIGH_H

#include <stdint.h>

#define TF_NEIGH_SLOTS 1024 /* power of two */
#define TF_NEIGH_PROBE 8

struct tf_neigh_entry {
	uint32_t ip; /* network order; 0 = empty */
	uint16_t vlan_tci;
	uint8_t has_vlan;
	uint8_t mac[6];
	uint64_t seen_us; /* last time it was learned */
};

struct tf_neigh {
	struct tf_neigh_entry e[TF_NEIGH_SLOTS];
};

void tf_neigh_init(struct tf_neigh *n);
/* Records ip -> mac (and VLAN); returns 1 when new or changed, 0 when refreshed. */
int tf_neigh_learn(struct tf_neigh *n, uint32_t ip, const uint8_t mac[6], int has_vlan,
		   uint16_t vlan_tci, uint64_t now_us);
/* The entry for ip, or NULL. */
const struct tf_neigh_entry *tf_neigh_lookup(const struct tf_neigh *n, uint32_t ip);

#endif /* TF_DP_NEIGH_H */
