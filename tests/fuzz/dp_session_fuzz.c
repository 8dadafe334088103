/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: a sequence of protocol datagrams from one client to
 * tokfab-dp, each signed with the tenant's key and given a fresh timestamp
 * before it goes in, so every field behind authentication is reachable:
 * requests, fragments in any order with lying totals, overlaps and gaps,
 * duplicates, CANCEL, RESUME, PING; reassembly deadlines and id expiry run
 * as the clock advances.
 *
 * Input: records of [u8 delay (x 10 ms)][u16 len LE][len bytes of UDP
 * payload]. Bytes 24..31 (timestamp) are overwritten; when the header's
 * payload_len fits the record, the MAC is recomputed over 32 + payload_len.
 */
#include "dp_fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
send_one(const uint8_t *d, uint16_t len)
{
	struct tf_pkt_addr cli = { .ip = inet_addr("10.9.0.2"), .udp_port = htons(40000) };
	struct tf_pkt_peer card = { .ip = inet_addr("10.9.0.1"), .port = htons(TF_PROTO_PORT) };
	uint8_t f[42 + TF_PROTO_MAX_DGRAM];

	if (len > TF_PROTO_MAX_DGRAM)
		len = TF_PROTO_MAX_DGRAM;
	memcpy(cli.mac, "\x02\xc1\x00\x00\x00\x02", 6);
	memcpy(card.mac, fz_card_mac, 6);
	memcpy(f + 42, d, len);
	if (len >= TF_PROTO_HDR_LEN) {
		uint16_t plen = tf_proto_ld16(f + 42 + 12);

		tf_proto_st64(f + 42 + 24, fz_wall);
		/* Signed under the algorithm the header names (HMAC or SipHash), when it has room. */
		if ((uint32_t)TF_PROTO_HDR_LEN + plen + TF_PROTO_MAC_LEN <= len)
			(void)tf_proto_sign(f + 42, len, &fz_key);
	}
	tf_pkt_udp_build(f, &cli, &card, len, 1, 1);
	fz_feed(f, 42u + len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_worker();
	while (size >= 3) {
		uint8_t delay = data[0];
		uint16_t len = (uint16_t)(data[1] | data[2] << 8);

		data += 3;
		size -= 3;
		if (len > size)
			len = (uint16_t)size;
		send_one(data, len);
		data += len;
		size -= len;
		fz_tick((uint64_t)delay * 10000);
	}
	fz_tick(3000000); /* past every reassembly deadline */
	return 0;
}
