/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * L2-L4 of the card: Ethernet (+802.1Q/802.1ad tags), ARP, IPv4, ICMP echo and
 * UDP, on plain byte buffers (no DPDK here: the lcore loop hands in mbuf data).
 *
 * tf_pkt_parse() validates every length and checksum before it is used and
 * says what the frame is; anything else is a drop with one reason.
 * The builders write replies in place (ARP, ICMP) or write the headers in
 * front of a response payload (UDP).
 */
#ifndef TF_DP_PKT_H
#define TF_DP_PKT_H

#include <stdint.h>
#include <stddef.h>

#include "dataplane/counters.h"

#define TF_PKT_ETH_HLEN 14
#define TF_PKT_VLAN_HLEN 4
#define TF_PKT_MAX_VLANS 2
#define TF_PKT_IP4_HLEN 20
#define TF_PKT_UDP_HLEN 8
#define TF_PKT_ARP_LEN 28
/* Headers written in front of every response: Ethernet + one optional tag + IPv4 + UDP. */
#define TF_PKT_HDR_ROOM (TF_PKT_ETH_HLEN + TF_PKT_VLAN_HLEN + TF_PKT_IP4_HLEN + TF_PKT_UDP_HLEN)

#define TF_PKT_ETHERTYPE_IPV4 0x0800
#define TF_PKT_ETHERTYPE_ARP 0x0806
#define TF_PKT_ETHERTYPE_VLAN 0x8100
#define TF_PKT_ETHERTYPE_QINQ 0x88a8
#define TF_PKT_ETHERTYPE_IPV6 0x86dd

/* What a frame is once tf_pkt_parse() accepted it. */
enum tf_pkt_kind {
	TF_PKT_DROP = 0, /* malformed or not for us: see the drop reason */
	TF_PKT_ARP_REQ, /* ARP request for our address: answer it */
	TF_PKT_ARP_OTHER, /* ARP reply or request for someone else: learn, no answer */
	TF_PKT_ICMP_ECHO, /* ICMP echo request to our address: answer it */
	TF_PKT_UDP, /* UDP datagram to our address and port: the protocol's */
};

/* The local identity the parser checks frames against (network byte order). */
struct tf_pkt_addr {
	uint8_t mac[6];
	uint32_t ip; /* our IPv4 address, network order */
	uint16_t udp_port; /* our UDP port, network order */
	uint8_t check_udp_csum; /* verify a non-zero UDP checksum */
};

/* Where the layers of an accepted frame are (offsets into the frame). */
struct tf_pkt_info {
	enum tf_pkt_kind kind;
	uint8_t nvlan; /* VLAN tags seen (0..TF_PKT_MAX_VLANS) */
	uint16_t vlan_tci[TF_PKT_MAX_VLANS];
	uint16_t vlan_tpid[TF_PKT_MAX_VLANS];
	uint16_t l3_off; /* start of the IPv4 header / ARP body */
	uint16_t l4_off; /* start of the UDP / ICMP header */
	uint16_t payload_off; /* start of the UDP payload / ICMP body */
	uint16_t payload_len; /* bytes of UDP payload / ICMP message after the header */
	uint8_t src_mac[6];
	uint32_t src_ip; /* network order */
	uint32_t dst_ip; /* network order */
	uint16_t src_port; /* network order */
	uint16_t dst_port; /* network order */
	uint8_t ttl;
};

/*
 * Validates an Ethernet frame of len bytes. Returns the kind; on TF_PKT_DROP
 * *reason says why. Nothing past len is read.
 */
enum tf_pkt_kind tf_pkt_parse(const uint8_t *frame, uint32_t len, const struct tf_pkt_addr *me,
			      struct tf_pkt_info *info, enum tf_dp_drop *reason);

/* Internet checksum helpers (RFC 1071). */
uint32_t tf_pkt_csum_add(uint32_t sum, const void *buf, size_t len);
uint16_t tf_pkt_csum_fold(uint32_t sum);
/* UDP checksum over the IPv4 pseudo header and the UDP header + payload at udp. */
uint16_t tf_pkt_udp4_csum(uint32_t src_ip, uint32_t dst_ip, const uint8_t *udp, uint16_t udp_len);

/*
 * Turns an accepted TF_PKT_ARP_REQ frame into the ARP reply, in place.
 * Returns the reply's length.
 */
uint32_t tf_pkt_arp_reply(uint8_t *frame, const struct tf_pkt_info *info,
			  const struct tf_pkt_addr *me);

/*
 * Turns an accepted TF_PKT_ICMP_ECHO frame into the echo reply, in place.
 * Returns the reply's length (the frame's IPv4 length plus its L2 header).
 */
uint32_t tf_pkt_icmp_echo_reply(uint8_t *frame, const struct tf_pkt_info *info,
				const struct tf_pkt_addr *me);

/* Where a response datagram goes: the peer as learned from its request. */
struct tf_pkt_peer {
	uint8_t mac[6];
	uint16_t vlan_tci; /* used when has_vlan */
	uint8_t has_vlan;
	uint32_t ip; /* network order */
	uint16_t port; /* network order */
};

/* Bytes of header tf_pkt_udp_build() writes for this peer. */
static inline uint16_t
tf_pkt_udp_hdr_len(const struct tf_pkt_peer *peer)
{
	return TF_PKT_ETH_HLEN + (peer->has_vlan ? TF_PKT_VLAN_HLEN : 0) + TF_PKT_IP4_HLEN +
	       TF_PKT_UDP_HLEN;
}

/*
 * Writes Ethernet(+tag)/IPv4/UDP headers at hdr (tf_pkt_udp_hdr_len(peer)
 * bytes) for a payload of plen bytes that follows them contiguously, and
 * fills in both checksums (the UDP one only when udp_csum is set).
 * ip_id is the IPv4 identification to use.
 */
void tf_pkt_udp_build(uint8_t *hdr, const struct tf_pkt_addr *me, const struct tf_pkt_peer *peer,
		      uint16_t plen, uint16_t ip_id, int udp_csum);

#endif /* TF_DP_PKT_H */
