/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/pkt.c (L2-L4 parse, checksums, replies) and neigh.c. */
#include "dataplane/neigh.h"
#include "dataplane/pkt.h"
#include "tf_cunit.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t my_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static struct tf_pkt_addr me;
static uint32_t peer_ip;

static int
setup(void)
{
	memcpy(me.mac, my_mac, 6);
	me.ip = inet_addr("10.9.0.1");
	me.udp_port = htons(7860);
	me.check_udp_csum = 1;
	peer_ip = inet_addr("10.9.0.2");
	return 0;
}

/* Reference checksum: 16-bit big-endian words, written independently of pkt.c. */
static uint16_t
ref_csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet header (optionally tagged) at f; returns its length. */
static size_t
eth(uint8_t *f, uint16_t type, int vlan)
{
	size_t o = 12;

	memcpy(f, my_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	if (vlan) {
		put16(f + 12, 0x8100);
		put16(f + 14, 0x0064); /* VLAN 100 */
		o = 16;
	}
	put16(f + o, type);
	return o + 2;
}

static void
ip4(uint8_t *ip, uint8_t proto, uint16_t payload)
{
	uint16_t c;

	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + payload));
	put16(ip + 4, 0x1234);
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &peer_ip, 4);
	memcpy(ip + 16, &me.ip, 4);
	c = ref_csum(ip, 20, 0);
	put16(ip + 10, c);
}

/* A UDP datagram to us with a payload of n bytes 'A'; returns the frame length. */
static size_t
udp_frame(uint8_t *f, size_t n, int vlan)
{
	size_t l2 = eth(f, 0x0800, vlan);
	uint8_t *ip = f + l2, *udp = ip + 20;
	uint32_t sum = 0;
	uint16_t ulen = (uint16_t)(8 + n);

	ip4(ip, 17, ulen);
	put16(udp, 40000);
	put16(udp + 2, 7860);
	put16(udp + 4, ulen);
	put16(udp + 6, 0);
	memset(udp + 8, 'A', n);
	/* pseudo header */
	sum += (uint32_t)(ip[12] << 8 | ip[13]) + (uint32_t)(ip[14] << 8 | ip[15]);
	sum += (uint32_t)(ip[16] << 8 | ip[17]) + (uint32_t)(ip[18] << 8 | ip[19]);
	sum += 17 + ulen;
	put16(udp + 6, ref_csum(udp, ulen, sum));
	return l2 + 20 + ulen;
}

static enum tf_pkt_kind
parse(const uint8_t *f, size_t n, struct tf_pkt_info *info, enum tf_dp_drop *why)
{
	return tf_pkt_parse(f, (uint32_t)n, &me, info, why);
}

static void
test_csum_matches_reference(void)
{
	static uint8_t buf[1501];
	uint32_t seed = 12345;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (size_t n = 0; n <= 101; n++) {
		uint16_t ours = (uint16_t)~tf_pkt_csum_fold(tf_pkt_csum_add(0, buf, n));

		CU_ASSERT_EQUAL(ntohs(ours), ref_csum(buf, n, 0));
	}
	/* Every word carries (all ones), random bytes, frame sizes, a running partial sum. */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = pass == 0 ? 0xff : pass == 1 ? (uint8_t)(seed >> 16) : (uint8_t)i;
		}
		for (size_t n = 0; n <= sizeof(buf); n += n < 80 ? 1 : 37) {
			uint32_t start = pass == 2 ? 0x1fffeu : 0;
			uint16_t ours = (uint16_t)~tf_pkt_csum_fold(tf_pkt_csum_add(start, buf, n));
			uint32_t pseudo = ((start >> 16) + (start & 0xffff));

			/* start is added in memory order (host words), as pseudo headers are. */
			pseudo = ntohs((uint16_t)((pseudo >> 16) + (pseudo & 0xffff)));
			CU_ASSERT_EQUAL(ntohs(ours), ref_csum(buf, n, pseudo));
		}
	}
}

static void
test_udp_accepted_plain_and_tagged(void)
{
	uint8_t f[256];
	struct tf_pkt_info info;
	enum tf_dp_drop why;
	size_t n;

	for (int vlan = 0; vlan <= 1; vlan++) {
		n = udp_frame(f, 33, vlan);
		CU_ASSERT_EQUAL(parse(f, n, &info, &why), TF_PKT_UDP);
		CU_ASSERT_EQUAL(why, TF_DROP_NONE);
		CU_ASSERT_EQUAL(info.nvlan, vlan);
		CU_ASSERT_EQUAL(info.payload_len, 33);
		CU_ASSERT_EQUAL(info.payload_off, (vlan ? 18 : 14) + 28);
		CU_ASSERT_EQUAL(info.src_ip, peer_ip);
		CU_ASSERT_EQUAL(ntohs(info.src_port), 40000);
		CU_ASSERT(memcmp(info.src_mac, peer_mac, 6) == 0);
		if (vlan)
			CU_ASSERT_EQUAL(info.vlan_tci[0], 100);
	}
	/* Ethernet padding after the datagram is fine. */
	n = udp_frame(f, 1, 0);
	memset(f + n, 0, 20);
	CU_ASSERT_EQUAL(parse(f, n + 20, &info, &why), TF_PKT_UDP);
	CU_ASSERT_EQUAL(info.payload_len, 1);
}

/* Each malformed variant of a good UDP frame is dropped with its own reason. */
static void
test_udp_drop_classes(void)
{
	uint8_t f[256], g[256];
	struct tf_pkt_info info;
	enum tf_dp_drop why;
	size_t n = udp_frame(f, 16, 0);
	uint8_t *ip = g + 14, *udp = g + 34;

#define EXPECT_DROP(len, reason)                                            \
	do {                                                                \
		CU_ASSERT_EQUAL(parse(g, (len), &info, &why), TF_PKT_DROP); \
		CU_ASSERT_EQUAL(why, (reason));                             \
	} while (0)

	memcpy(g, f, n);
	EXPECT_DROP(13, TF_DROP_ETH_SHORT);
	g[0] = 0x04;
	EXPECT_DROP(n, TF_DROP_ETH_NOT_US);
	memcpy(g, f, n);
	memset(g, 0xff, 6); /* broadcast is accepted */
	CU_ASSERT_EQUAL(parse(g, n, &info, &why), TF_PKT_UDP);
	memcpy(g, f, n);
	put16(g + 12, 0x88cc); /* LLDP */
	EXPECT_DROP(n, TF_DROP_ETH_TYPE);
	memcpy(g, f, n);
	EXPECT_DROP(14 + 19, TF_DROP_IP_SHORT);
	ip[0] = 0x65;
	EXPECT_DROP(n, TF_DROP_IP_VERSION);
	ip[0] = 0x44;
	EXPECT_DROP(n, TF_DROP_IP_HLEN);
	ip[0] = 0x4f; /* 60 bytes of header: more than the frame has after a cut */
	EXPECT_DROP(14 + 40, TF_DROP_IP_HLEN);
	memcpy(g, f, n);
	put16(ip + 2, (uint16_t)(n - 14 + 1)); /* longer than the frame */
	EXPECT_DROP(n, TF_DROP_IP_LEN);
	memcpy(g, f, n);
	ip[10] ^= 1;
	EXPECT_DROP(n, TF_DROP_IP_CSUM);
	memcpy(g, f, n);
	ip[6] |= 0x20; /* MF; fix the checksum */
	ip[10] = ip[11] = 0;
	put16(ip + 10, ref_csum(ip, 20, 0));
	EXPECT_DROP(n, TF_DROP_IP_FRAG);
	memcpy(g, f, n);
	ip[19] ^= 1;
	ip[10] = ip[11] = 0;
	put16(ip + 10, ref_csum(ip, 20, 0));
	EXPECT_DROP(n, TF_DROP_IP_NOT_US);
	memcpy(g, f, n);
	ip[12] = 224; /* multicast source */
	ip[10] = ip[11] = 0;
	put16(ip + 10, ref_csum(ip, 20, 0));
	EXPECT_DROP(n, TF_DROP_IP_SRC);
	memcpy(g, f, n);
	ip[9] = 6; /* TCP */
	ip[10] = ip[11] = 0;
	put16(ip + 10, ref_csum(ip, 20, 0));
	EXPECT_DROP(n, TF_DROP_IP_PROTO);
	memcpy(g, f, n);
	put16(udp + 4, 17); /* UDP length lies */
	EXPECT_DROP(n, TF_DROP_UDP_LEN);
	memcpy(g, f, n);
	put16(udp + 2, 7861);
	EXPECT_DROP(n, TF_DROP_UDP_PORT);
	memcpy(g, f, n);
	udp[8] ^= 0x40; /* payload corrupted */
	EXPECT_DROP(n, TF_DROP_UDP_CSUM);
	put16(udp + 6, 0); /* checksum 0 = not computed: accepted */
	CU_ASSERT_EQUAL(parse(g, n, &info, &why), TF_PKT_UDP);
	/* A short IPv4 payload cannot hold a UDP header. */
	memcpy(g, f, n);
	put16(ip + 2, 20 + 7);
	ip[10] = ip[11] = 0;
	put16(ip + 10, ref_csum(ip, 20, 0));
	EXPECT_DROP(n, TF_DROP_UDP_SHORT);
	/* Three VLAN tags are too many; a truncated tag too. */
	memcpy(g, f, 12);
	put16(g + 12, 0x88a8);
	put16(g + 16, 0x8100);
	put16(g + 20, 0x8100);
	put16(g + 24, 0x0800);
	EXPECT_DROP(40, TF_DROP_VLAN_DEPTH);
	EXPECT_DROP(16, TF_DROP_VLAN_DEPTH);
#undef EXPECT_DROP
}

static size_t
arp_frame(uint8_t *f, uint16_t op, uint32_t tpa)
{
	size_t l2 = eth(f, 0x0806, 0);
	uint8_t *a = f + l2;

	memset(f, 0xff, 6);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, &peer_ip, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, &tpa, 4);
	return l2 + 28;
}

static void
test_arp_reply(void)
{
	uint8_t f[64];
	struct tf_pkt_info info;
	enum tf_dp_drop why;
	size_t n = arp_frame(f, 1, me.ip);
	uint32_t len;

	CU_ASSERT_EQUAL_FATAL(parse(f, n, &info, &why), TF_PKT_ARP_REQ);
	len = tf_pkt_arp_reply(f, &info, &me);
	CU_ASSERT_EQUAL(len, 42);
	CU_ASSERT(memcmp(f, peer_mac, 6) == 0);
	CU_ASSERT(memcmp(f + 6, my_mac, 6) == 0);
	CU_ASSERT_EQUAL(f[21], 2); /* op = reply */
	CU_ASSERT(memcmp(f + 22, my_mac, 6) == 0);
	CU_ASSERT(memcmp(f + 28, &me.ip, 4) == 0);
	CU_ASSERT(memcmp(f + 32, peer_mac, 6) == 0);
	CU_ASSERT(memcmp(f + 38, &peer_ip, 4) == 0);
	/* Someone else's address: learned from, not answered. */
	n = arp_frame(f, 1, inet_addr("10.9.0.77"));
	CU_ASSERT_EQUAL(parse(f, n, &info, &why), TF_PKT_ARP_OTHER);
	CU_ASSERT_EQUAL(info.src_ip, peer_ip);
	n = arp_frame(f, 3, me.ip);
	CU_ASSERT_EQUAL(parse(f, n, &info, &why), TF_PKT_DROP);
	CU_ASSERT_EQUAL(why, TF_DROP_ARP_MALFORMED);
	n = arp_frame(f, 1, me.ip);
	CU_ASSERT_EQUAL(parse(f, n - 1, &info, &why), TF_PKT_DROP);
	CU_ASSERT_EQUAL(why, TF_DROP_ARP_MALFORMED);
}

static size_t
icmp_frame(uint8_t *f, uint8_t type, size_t body)
{
	size_t l2 = eth(f, 0x0800, 1);
	uint8_t *ip = f + l2, *icmp = ip + 20;

	ip4(ip, 1, (uint16_t)(8 + body));
	icmp[0] = type;
	icmp[1] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 4, 0x77);
	put16(icmp + 6, 3);
	for (size_t i = 0; i < body; i++)
		icmp[8 + i] = (uint8_t)i;
	put16(icmp + 2, ref_csum(icmp, 8 + body, 0));
	return l2 + 20 + 8 + body;
}

static void
test_icmp_echo_reply(void)
{
	uint8_t f[256];
	struct tf_pkt_info info;
	enum tf_dp_drop why;
	size_t n = icmp_frame(f, 8, 57);
	uint32_t len;
	uint8_t *ip = f + 18, *icmp = ip + 20;

	CU_ASSERT_EQUAL_FATAL(parse(f, n, &info, &why), TF_PKT_ICMP_ECHO);
	len = tf_pkt_icmp_echo_reply(f, &info, &me);
	CU_ASSERT_EQUAL(len, n);
	CU_ASSERT(memcmp(f, peer_mac, 6) == 0);
	CU_ASSERT_EQUAL(f[15], 100); /* tag kept */
	CU_ASSERT(memcmp(ip + 12, &me.ip, 4) == 0);
	CU_ASSERT(memcmp(ip + 16, &peer_ip, 4) == 0);
	CU_ASSERT_EQUAL(ref_csum(ip, 20, 0), 0);
	CU_ASSERT_EQUAL(icmp[0], 0);
	CU_ASSERT_EQUAL(ref_csum(icmp, 8 + 57, 0), 0);
	CU_ASSERT_EQUAL(icmp[8 + 56], 56); /* body echoed */

	n = icmp_frame(f, 13, 4); /* timestamp request */
	CU_ASSERT_EQUAL(parse(f, n, &info, &why), TF_PKT_DROP);
	CU_ASSERT_EQUAL(why, TF_DROP_ICMP_TYPE);
	n = icmp_frame(f, 8, 4);
	f[n - 1] ^= 1;
	CU_ASSERT_EQUAL(parse(f, n, &info, &why), TF_PKT_DROP);
	CU_ASSERT_EQUAL(why, TF_DROP_ICMP_CSUM);
}

static void
test_udp_build_roundtrip(void)
{
	uint8_t f[256];
	struct tf_pkt_peer peer = {
		.has_vlan = 1, .vlan_tci = 42, .ip = peer_ip, .port = htons(40001)
	};
	struct tf_pkt_addr peer_as_me = me;
	struct tf_pkt_info info;
	enum tf_dp_drop why;
	uint16_t hl = tf_pkt_udp_hdr_len(&peer);

	memcpy(peer.mac, peer_mac, 6);
	CU_ASSERT_EQUAL(hl, 46);
	memcpy(f + hl, "hello, tokens", 13);
	tf_pkt_udp_build(f, &me, &peer, 13, 7, 1);
	/* Parse it as the peer would. */
	memcpy(peer_as_me.mac, peer_mac, 6);
	peer_as_me.ip = peer_ip;
	peer_as_me.udp_port = htons(40001);
	CU_ASSERT_EQUAL_FATAL(tf_pkt_parse(f, hl + 13u, &peer_as_me, &info, &why), TF_PKT_UDP);
	CU_ASSERT_EQUAL(info.payload_len, 13);
	CU_ASSERT_EQUAL(info.src_ip, me.ip);
	CU_ASSERT_EQUAL(info.vlan_tci[0], 42);
	CU_ASSERT(memcmp(f + info.payload_off, "hello, tokens", 13) == 0);
	CU_ASSERT_NOT_EQUAL(f[hl - 2] | f[hl - 1], 0); /* UDP checksum present */
}

static void
test_neigh_learn_lookup_replace(void)
{
	static struct tf_neigh n;
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 9 };
	const struct tf_neigh_entry *e;

	tf_neigh_init(&n);
	CU_ASSERT_PTR_NULL(tf_neigh_lookup(&n, peer_ip));
	CU_ASSERT_EQUAL(tf_neigh_learn(&n, peer_ip, mac, 0, 0, 1), 1);
	CU_ASSERT_EQUAL(tf_neigh_learn(&n, peer_ip, mac, 0, 0, 2), 0);
	mac[5] = 10;
	CU_ASSERT_EQUAL(tf_neigh_learn(&n, peer_ip, mac, 1, 5, 3), 1);
	e = tf_neigh_lookup(&n, peer_ip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(e->mac[5], 10);
	CU_ASSERT_EQUAL(e->vlan_tci, 5);
	/* Fill far beyond capacity: lookups of recent entries still work, nothing overflows. */
	for (uint32_t i = 1; i < 5000; i++)
		tf_neigh_learn(&n, htonl(0x0a000000u + i), mac, 0, 0, 10 + i);
	CU_ASSERT_PTR_NOT_NULL(tf_neigh_lookup(&n, htonl(0x0a000000u + 4999)));
	CU_ASSERT_PTR_NULL(tf_neigh_lookup(&n, 0));
}

static void
test_counter_names(void)
{
	CU_ASSERT_STRING_EQUAL(tf_dp_drop_name(TF_DROP_IP_CSUM), "ip_csum");
	CU_ASSERT_STRING_EQUAL(tf_dp_ev_name(TF_EV_RX_PKTS), "rx_pkts");
	CU_ASSERT_STRING_EQUAL(tf_dp_drop_name(TF_DROP_NONE), "none");
	for (int i = 0; i < TF_DROP_MAX; i++)
		CU_ASSERT(strlen(tf_dp_drop_desc(i)) > 0);
}

static const struct tf_cunit_test pkt_tests[] = {
	TF_TEST(test_csum_matches_reference),
	TF_TEST(test_udp_accepted_plain_and_tagged),
	TF_TEST(test_udp_drop_classes),
	TF_TEST(test_arp_reply),
	TF_TEST(test_icmp_echo_reply),
	TF_TEST(test_udp_build_roundtrip),
	TF_TESTS_END,
};

static const struct tf_cunit_test neigh_tests[] = {
	TF_TEST(test_neigh_learn_lookup_replace),
	TF_TESTS_END,
};

static const struct tf_cunit_test counters_tests[] = {
	TF_TEST(test_counter_names),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "pkt", setup, NULL, pkt_tests }, { "neigh", setup, NULL, neigh_tests },
	      { "counters", NULL, NULL, counters_tests })
