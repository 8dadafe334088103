/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: what libtokfab-client does with datagrams from the card
 * (lib/client/client.c: decode, verify, then TOKENS / FINAL / ERROR / PONG
 * against its request state: gaps, duplicates, beacons, tokens riding in a
 * FINAL, lying piece lengths, unsigned errors).
 *
 * Each input runs a real client on a loopback UDP socket with one request
 * (text wanted) and one PING in flight; a second socket plays the card.
 * Input: records of [u8 ctl][u16 len LE][len bytes of UDP payload]. Unless
 * ctl bit 0 is set, the header's tenant, key id, request id (the request's,
 * or the PING's when ctl bit 1 is set, and then a PONG's echo too) and
 * timestamp are overwritten, and the datagram is signed under the tenant's
 * key when its payload_len leaves room for the MAC, so the state machine
 * behind verification is reachable.
 *
 * Delivered tokens must lie inside what was received: ASan sees the last id
 * and text byte read, and piece lengths must add up to the text's length.
 */
#include "tokfab/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TENANT 7u
#define KEY_ID 1

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int g_card = -1;
static char g_server[64];
static struct tf_proto_key g_key;
static uint8_t g_secret[TF_PROTO_KEY_LEN];
static volatile uint32_t g_sink;
static int g_debug; /* CLIENT_RX_DEBUG=1: what the client delivered, on stderr */

static void
setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	for (unsigned int i = 0; i < sizeof(g_secret); i++)
		g_secret[i] = (uint8_t)(0x40 + i);
	if (tf_proto_key_init(&g_key, TF_PROTO_MAC_HMAC_SHA256, KEY_ID, g_secret, sizeof(g_secret)))
		abort();
	g_debug = getenv("CLIENT_RX_DEBUG") != NULL;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_card = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (g_card < 0 || bind(g_card, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(g_card, (struct sockaddr *)&a, &al)) {
		perror("client_rx_fuzz: card socket");
		abort();
	}
	snprintf(g_server, sizeof(g_server), "127.0.0.1:%u", ntohs(a.sin_port));
}

static void
on_tokens(void *arg, uint64_t rid, const struct tf_client_tokens *t)
{
	uint32_t sum = 0;

	(void)arg;
	(void)rid;
	if (t->n == 0)
		abort(); /* nothing new: must not be delivered */
	if (g_debug)
		fprintf(stderr, "client_rx: tokens %u..%u, %u text bytes\n", t->first_seq,
			t->first_seq + t->n - 1, t->text_len);
	g_sink += tf_client_token_id(t, t->n - 1);
	if (t->piece_lens) {
		for (uint32_t i = 0; i < t->n; i++)
			sum += t->piece_lens[i];
		if (sum != t->text_len)
			abort();
		if (t->text_len)
			g_sink += t->text[t->text_len - 1];
	}
}

static void
on_done(void *arg, uint64_t rid, const struct tf_client_outcome *o)
{
	(void)arg;
	(void)rid;
	g_sink += (uint32_t)o->status;
	if (g_debug)
		fprintf(stderr, "client_rx: done %s, %u tokens%s\n",
			tf_client_status_name(o->status), o->tokens,
			o->has_final ? ", with FINAL" : "");
}

static const struct tf_client_cb g_cb = { .on_tokens = on_tokens, .on_done = on_done };

static uint64_t g_echo; /* the last PING's echo, for PONGs */

/* Reads what the client sent (requests, pings, resumes, cancels). */
static void
drain(void)
{
	uint8_t buf[2048];
	ssize_t n;

	while ((n = recv(g_card, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		struct tf_proto_msg m;

		if (tf_proto_decode(buf, (size_t)n, &m) == 0 && m.type == TF_PROTO_T_PING)
			g_echo = m.u.ping.echo;
	}
}

static void
send_one(int cfd, const uint8_t *d, uint16_t len, uint8_t ctl, uint64_t rid, uint64_t ping)
{
	struct sockaddr_in to;
	socklen_t tl = sizeof(to);
	uint8_t b[TF_PROTO_MAX_DGRAM];

	if (len > sizeof(b))
		len = sizeof(b);
	memcpy(b, d, len);
	if (!(ctl & 1) && len >= TF_PROTO_HDR_LEN) {
		struct timeval tv;
		uint16_t plen = tf_proto_ld16(b + 12);

		gettimeofday(&tv, NULL);
		tf_proto_st32(b + 8, TENANT);
		b[14] = KEY_ID;
		tf_proto_st64(b + 16, (ctl & 2) ? ping : rid);
		tf_proto_st64(b + 24, (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec);
		if ((ctl & 2) && b[5] == TF_PROTO_T_PONG && len >= TF_PROTO_HDR_LEN + 8)
			tf_proto_st64(b + TF_PROTO_HDR_LEN, g_echo);
		if ((uint32_t)TF_PROTO_HDR_LEN + plen + TF_PROTO_MAC_LEN <= len)
			(void)tf_proto_sign(b, len, &g_key);
	}
	if (getsockname(cfd, (struct sockaddr *)&to, &tl))
		abort();
	if (sendto(g_card, b, len, 0, (struct sockaddr *)&to, tl) < 0)
		return;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prompt[] = "Once upon a time";
	struct tf_client_config cfg;
	struct tf_client_request rq = { .model_id = 1,
					.max_new_tokens = 64,
					.prompt_kind = TF_PROTO_PROMPT_TEXT,
					.prompt = prompt,
					.prompt_len = sizeof(prompt) - 1,
					.top_p = 10000,
					.want_text = true };
	struct tf_client *c;
	uint64_t rid = 0, ping = 0;
	char err[256];

	if (g_card < 0)
		setup();
	tf_client_config_init(&cfg);
	cfg.server = g_server;
	cfg.tenant_id = TENANT;
	cfg.key_id = KEY_ID;
	memcpy(cfg.key, g_secret, sizeof(cfg.key));
	if (tf_client_create(&cfg, &c, err, sizeof(err))) {
		fprintf(stderr, "client_rx_fuzz: %s\n", err);
		abort();
	}
	if (tf_client_submit(c, &rq, &g_cb, NULL, &rid) || tf_client_ping(c, &g_cb, NULL, &ping))
		abort();
	drain();
	while (size >= 3) {
		uint8_t ctl = data[0];
		uint16_t len = (uint16_t)(data[1] | data[2] << 8);

		data += 3;
		size -= 3;
		if (len > size)
			len = (uint16_t)size;
		send_one(tf_client_fd(c), data, len, ctl, rid, ping);
		data += len;
		size -= len;
		tf_client_process(c);
	}
	tf_client_process(c);
	tf_client_destroy(c);
	drain();
	return 0;
}
