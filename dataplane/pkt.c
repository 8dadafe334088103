/* SPDX-License-Identifier: BSD-3-Clause */
/* Ethernet/VLAN/ARP/IPv4/ICMP/UDP parsing, checksums and reply builders. */
#include "dataplane/pkt.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* acc + v with the carry out added back in (one's complement addition on 64 bits). */
static inline uint64_t
add_carry(uint64_t acc, uint64_t v)
{
	uint64_t r;

	if (__builtin_add_overflow(acc, v, &r))
		r++; /* cannot overflow again: r <= 2^64 - 2 after a wrap */
	return r;
}

uint32_t
tf_pkt_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t acc = sum, w64;
	uint32_t w32;
	uint16_t w16;

	/*
	 * 64-bit words in memory order with end-around carry (an add and an adc
	 * per 8 bytes): the one's complement sum is byte-order neutral and folds
	 * to the same 16-bit sum as adding 16-bit words.
	 */
	while (len >= 32) {
		uint64_t a, b, c, d;

		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		memcpy(&c, p + 16, 8);
		memcpy(&d, p + 24, 8);
		acc = add_carry(add_carry(add_carry(add_carry(acc, a), b), c), d);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		memcpy(&w64, p, 8);
		acc = add_carry(acc, w64);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&w32, p, 4);
		acc = add_carry(acc, w32);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w16, p, 2);
		acc = add_carry(acc, w16);
		p += 2;
		len -= 2;
	}
	if (len) {
		w16 = 0;
		memcpy(&w16, p, 1); /* odd tail byte is the first byte of a zero-padded word */
		acc = add_carry(acc, w16);
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t
tf_pkt_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t
pseudo4(uint32_t src_ip, uint32_t dst_ip, uint16_t udp_len)
{
	uint64_t acc = (uint64_t)src_ip + dst_ip + htons(17) + htons(udp_len);

	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t
tf_pkt_udp4_csum(uint32_t src_ip, uint32_t dst_ip, const uint8_t *udp, uint16_t udp_len)
{
	uint32_t sum = tf_pkt_csum_add(pseudo4(src_ip, dst_ip, udp_len), udp, udp_len);

	return (uint16_t)~tf_pkt_csum_fold(sum);
}

static enum tf_pkt_kind
drop(enum tf_dp_drop *reason, enum tf_dp_drop why)
{
	*reason = why;
	return TF_PKT_DROP;
}

static enum tf_pkt_kind
parse_arp(const uint8_t *f, uint32_t len, const struct tf_pkt_addr *me, struct tf_pkt_info *info,
	  enum tf_dp_drop *reason)
{
	const uint8_t *a = f + info->l3_off;
	uint32_t tpa;
	uint16_t op;

	if (len < (uint32_t)info->l3_off + TF_PKT_ARP_LEN)
		return drop(reason, TF_DROP_ARP_MALFORMED);
	/* Ethernet hardware, IPv4 protocol, 6- and 4-byte addresses only. */
	if (rd16(a) != 1 || rd16(a + 2) != TF_PKT_ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4)
		return drop(reason, TF_DROP_ARP_MALFORMED);
	op = rd16(a + 6);
	if (op != 1 && op != 2)
		return drop(reason, TF_DROP_ARP_MALFORMED);
	memcpy(info->src_mac, a + 8, 6);
	memcpy(&info->src_ip, a + 14, 4);
	memcpy(&tpa, a + 24, 4);
	info->dst_ip = tpa;
	info->payload_off = info->l3_off;
	info->payload_len = TF_PKT_ARP_LEN;
	if (op == 1 && tpa == me->ip)
		return info->kind = TF_PKT_ARP_REQ;
	return info->kind = TF_PKT_ARP_OTHER;
}

static enum tf_pkt_kind
parse_icmp(const uint8_t *f, struct tf_pkt_info *info, uint16_t l4len, enum tf_dp_drop *reason)
{
	const uint8_t *icmp = f + info->l4_off;

	if (l4len < 8)
		return drop(reason, TF_DROP_ICMP_SHORT);
	if (tf_pkt_csum_fold(tf_pkt_csum_add(0, icmp, l4len)) != 0xffff)
		return drop(reason, TF_DROP_ICMP_CSUM);
	if (icmp[0] != 8 || icmp[1] != 0)
		return drop(reason, TF_DROP_ICMP_TYPE);
	info->payload_off = info->l4_off;
	info->payload_len = l4len;
	return info->kind = TF_PKT_ICMP_ECHO;
}

static enum tf_pkt_kind
parse_udp(const uint8_t *f, const struct tf_pkt_addr *me, struct tf_pkt_info *info, uint16_t l4len,
	  enum tf_dp_drop *reason)
{
	const uint8_t *udp = f + info->l4_off;
	uint16_t ulen, csum;

	if (l4len < TF_PKT_UDP_HLEN)
		return drop(reason, TF_DROP_UDP_SHORT);
	ulen = rd16(udp + 4);
	if (ulen != l4len)
		return drop(reason, TF_DROP_UDP_LEN);
	memcpy(&info->src_port, udp, 2);
	memcpy(&info->dst_port, udp + 2, 2);
	if (info->dst_port != me->udp_port)
		return drop(reason, TF_DROP_UDP_PORT);
	memcpy(&csum, udp + 6, 2);
	if (csum != 0 && me->check_udp_csum &&
	    tf_pkt_csum_fold(tf_pkt_csum_add(pseudo4(info->src_ip, info->dst_ip, ulen), udp,
					     ulen)) != 0xffff)
		return drop(reason, TF_DROP_UDP_CSUM);
	info->payload_off = (uint16_t)(info->l4_off + TF_PKT_UDP_HLEN);
	info->payload_len = (uint16_t)(ulen - TF_PKT_UDP_HLEN);
	return info->kind = TF_PKT_UDP;
}

static enum tf_pkt_kind
parse_ipv4(const uint8_t *f, uint32_t len, const struct tf_pkt_addr *me, struct tf_pkt_info *info,
	   enum tf_dp_drop *reason)
{
	const uint8_t *ip = f + info->l3_off;
	uint32_t avail = len - info->l3_off;
	uint16_t hlen, tot, frag;
	uint32_t src_host;

	if (avail < TF_PKT_IP4_HLEN)
		return drop(reason, TF_DROP_IP_SHORT);
	if ((ip[0] >> 4) != 4)
		return drop(reason, TF_DROP_IP_VERSION);
	hlen = (uint16_t)((ip[0] & 0xf) * 4);
	if (hlen < TF_PKT_IP4_HLEN || hlen > avail)
		return drop(reason, TF_DROP_IP_HLEN);
	tot = rd16(ip + 2);
	/* Ethernet may pad a short frame: the frame may be longer, never shorter. */
	if (tot < hlen || tot > avail)
		return drop(reason, TF_DROP_IP_LEN);
	if (tf_pkt_csum_fold(tf_pkt_csum_add(0, ip, hlen)) != 0xffff)
		return drop(reason, TF_DROP_IP_CSUM);
	frag = rd16(ip + 6);
	if (frag & 0x3fff) /* MF or a fragment offset */
		return drop(reason, TF_DROP_IP_FRAG);
	memcpy(&info->src_ip, ip + 12, 4);
	memcpy(&info->dst_ip, ip + 16, 4);
	info->ttl = ip[8];
	if (info->dst_ip != me->ip)
		return drop(reason, TF_DROP_IP_NOT_US);
	src_host = ntohl(info->src_ip);
	if (src_host == 0 || src_host == 0xffffffffu || (src_host >> 28) == 0xe)
		return drop(reason, TF_DROP_IP_SRC);
	info->l4_off = (uint16_t)(info->l3_off + hlen);
	switch (ip[9]) {
	case 1:
		return parse_icmp(f, info, (uint16_t)(tot - hlen), reason);
	case 17:
		return parse_udp(f, me, info, (uint16_t)(tot - hlen), reason);
	default:
		return drop(reason, TF_DROP_IP_PROTO);
	}
}

enum tf_pkt_kind
tf_pkt_parse(const uint8_t *frame, uint32_t len, const struct tf_pkt_addr *me,
	     struct tf_pkt_info *info, enum tf_dp_drop *reason)
{
	uint32_t off = TF_PKT_ETH_HLEN;
	uint16_t type;

	*reason = TF_DROP_NONE;
	info->kind = TF_PKT_DROP;
	info->nvlan = 0;
	if (len < TF_PKT_ETH_HLEN)
		return drop(reason, TF_DROP_ETH_SHORT);
	if (len > 0xffff)
		len = 0xffff; /* offsets are 16-bit; no jumbo frame of ours is longer */
	if (memcmp(frame, me->mac, 6) != 0 && memcmp(frame, bcast_mac, 6) != 0)
		return drop(reason, TF_DROP_ETH_NOT_US);
	memcpy(info->src_mac, frame + 6, 6);
	type = rd16(frame + 12);
	while (type == TF_PKT_ETHERTYPE_VLAN || type == TF_PKT_ETHERTYPE_QINQ) {
		if (info->nvlan == TF_PKT_MAX_VLANS || len < off + TF_PKT_VLAN_HLEN)
			return drop(reason, TF_DROP_VLAN_DEPTH);
		info->vlan_tpid[info->nvlan] = type;
		info->vlan_tci[info->nvlan] = rd16(frame + off);
		info->nvlan++;
		type = rd16(frame + off + 2);
		off += TF_PKT_VLAN_HLEN;
	}
	info->l3_off = (uint16_t)off;
	switch (type) {
	case TF_PKT_ETHERTYPE_ARP:
		return parse_arp(frame, len, me, info, reason);
	case TF_PKT_ETHERTYPE_IPV4:
		return parse_ipv4(frame, len, me, info, reason);
	default:
		return drop(reason, TF_DROP_ETH_TYPE);
	}
}

uint32_t
tf_pkt_arp_reply(uint8_t *frame, const struct tf_pkt_info *info, const struct tf_pkt_addr *me)
{
	uint8_t *a = frame + info->l3_off;

	memcpy(frame, info->src_mac, 6);
	memcpy(frame + 6, me->mac, 6);
	wr16(a + 6, 2);
	memcpy(a + 18, info->src_mac, 6); /* target = the asker */
	memcpy(a + 24, &info->src_ip, 4);
	memcpy(a + 8, me->mac, 6); /* sender = us */
	memcpy(a + 14, &me->ip, 4);
	return (uint32_t)info->l3_off + TF_PKT_ARP_LEN;
}

static void
ip4_finish(uint8_t *ip)
{
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = (uint16_t)~tf_pkt_csum_fold(tf_pkt_csum_add(0, ip, (size_t)(ip[0] & 0xf) * 4));
	memcpy(ip + 10, &c, 2);
}

uint32_t
tf_pkt_icmp_echo_reply(uint8_t *frame, const struct tf_pkt_info *info, const struct tf_pkt_addr *me)
{
	uint8_t *ip = frame + info->l3_off;
	uint8_t *icmp = frame + info->l4_off;
	uint16_t c;

	memcpy(frame, info->src_mac, 6);
	memcpy(frame + 6, me->mac, 6);
	memcpy(ip + 12, &me->ip, 4);
	memcpy(ip + 16, &info->src_ip, 4);
	ip[8] = 64;
	ip4_finish(ip);
	icmp[0] = 0; /* echo reply */
	icmp[2] = icmp[3] = 0;
	c = (uint16_t)~tf_pkt_csum_fold(tf_pkt_csum_add(0, icmp, info->payload_len));
	memcpy(icmp + 2, &c, 2);
	return (uint32_t)info->l4_off + info->payload_len;
}

void
tf_pkt_udp_build(uint8_t *hdr, const struct tf_pkt_addr *me, const struct tf_pkt_peer *peer,
		 uint16_t plen, uint16_t ip_id, int udp_csum)
{
	uint8_t *p = hdr, *ip, *udp;
	uint16_t ulen = (uint16_t)(plen + TF_PKT_UDP_HLEN);
	uint16_t c;

	memcpy(p, peer->mac, 6);
	memcpy(p + 6, me->mac, 6);
	p += 12;
	if (peer->has_vlan) {
		wr16(p, TF_PKT_ETHERTYPE_VLAN);
		wr16(p + 2, peer->vlan_tci);
		p += 4;
	}
	wr16(p, TF_PKT_ETHERTYPE_IPV4);
	ip = p + 2;
	ip[0] = 0x45;
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)(ulen + TF_PKT_IP4_HLEN));
	wr16(ip + 4, ip_id);
	wr16(ip + 6, 0x4000); /* DF: the protocol never relies on IP fragments */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &me->ip, 4);
	memcpy(ip + 16, &peer->ip, 4);
	ip4_finish(ip);
	udp = ip + TF_PKT_IP4_HLEN;
	memcpy(udp, &me->udp_port, 2);
	memcpy(udp + 2, &peer->port, 2);
	wr16(udp + 4, ulen);
	udp[6] = udp[7] = 0;
	if (udp_csum) {
		c = tf_pkt_udp4_csum(me->ip, peer->ip, udp, ulen);
		if (c == 0)
			c = 0xffff;
		memcpy(udp + 6, &c, 2);
	}
}
