/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tf_proto_send: builds the worked examples of hwdocs/protocol.md section 9
 * with libtfproto (same values as the spec's prose; the key accepts both MAC
 * algorithms, each example names its own) and sends each as one
 * UDP datagram, in the spec's order, to ADDR PORT; or prints them as the
 * spec's ```tfhex blocks (--print). The dissector test captures them and
 * checks tshark decodes every field to these values.
 * Usage: tf_proto_send ADDR PORT | tf_proto_send --print
 */
#include "tokfab/proto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T0 1767225600000000ull

static struct tf_proto_key g_key;
static int g_fd = -1;
static struct sockaddr_storage g_to;
static socklen_t g_tolen;

static void
emit(const char *name, const struct tf_proto_msg *m, bool sign)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n = tf_proto_encode(b, sizeof(b), m, sign ? &g_key : NULL);

	if (n < 0) {
		fprintf(stderr, "tf_proto_send: %s: %s\n", name, tf_proto_reason_name(n));
		return;
	}
	if (g_fd >= 0) {
		/* Unconnected: an ICMP "port unreachable" must not fail the next send. */
		if (sendto(g_fd, b, (size_t)n, 0, (struct sockaddr *)&g_to, g_tolen) != n)
			perror("tf_proto_send: send");
		usleep(2000); /* keep the capture order */
		return;
	}
	printf("```tfhex %s\n", name);
	for (int i = 0; i < n; i += 16) {
		printf("%04x:", i);
		for (int j = i; j < i + 16; j++)
			if (j < n)
				printf(" %02x", b[j]);
			else
				printf("   ");
		printf("  |");
		for (int j = i; j < i + 16 && j < n; j++)
			putchar(isprint(b[j]) ? b[j] : '.');
		printf("|\n");
	}
	printf("```\n\n");
}

static void
examples(void)
{
	static const char txt[] = "Hello, tokfab!";
	static const char big[] =
		"The quick brown fox jumps over the lazy dog; then it naps under a tree.";
	uint8_t ids[12], tids[12], pl[3] = { 5, 1, 6 };
	struct tf_proto_msg m = { .tenant_id = 42,
				  .request_id = 0x0123456789abcdefull,
				  .timestamp_us = T0,
				  .type = TF_PROTO_T_REQUEST };

	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = 16,
					     .prompt_total_len = 14,
					     .prompt_kind = 1,
					     .priority = 3,
					     .req_flags = 1,
					     .temperature = 700,
					     .top_p = 9000,
					     .seed = 1234,
					     .prompt = (const uint8_t *)txt,
					     .prompt_len = 14 };
	emit("request-text", &m, true);
	tf_proto_st32(ids, 1);
	tf_proto_st32(ids + 4, 15043);
	tf_proto_st32(ids + 8, 29892);
	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = 4,
					     .prompt_total_len = 12,
					     .prompt_kind = 0,
					     .priority = 7,
					     .top_p = 10000,
					     .prompt = ids,
					     .prompt_len = 12 };
	m.request_id = 0x0123456789abcdf0ull;
	m.timestamp_us = T0 + 1000;
	emit("request-tokens", &m, true);
	m.request_id = 0x0123456789abcdf1ull;
	m.timestamp_us = T0 + 2000;
	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = 16,
					     .prompt_total_len = 71,
					     .prompt_kind = 1,
					     .priority = 3,
					     .req_flags = 1,
					     .temperature = 700,
					     .top_p = 9000,
					     .seed = 1234,
					     .prompt = (const uint8_t *)big,
					     .prompt_len = 64 };
	emit("request-first-part", &m, true);
	m.type = TF_PROTO_T_FRAGMENT;
	m.timestamp_us = T0 + 2001;
	m.u.frag = (struct tf_proto_fragment){
		.prompt_total_len = 71, .offset = 64, .data = (const uint8_t *)big + 64, .len = 7
	};
	emit("fragment", &m, true);
	m.request_id = 0x0123456789abcdefull;
	m.timestamp_us = T0 + 50000;
	m.type = TF_PROTO_T_TOKENS;
	tf_proto_st32(tids, 15043);
	tf_proto_st32(tids + 4, 1919);
	tf_proto_st32(tids + 8, 3186);
	m.u.tokens = (struct tf_proto_tokens){ .first_seq = 0,
					       .n_tokens = 3,
					       .chunk_flags = 1,
					       .ids = tids,
					       .piece_lens = pl,
					       .text = (const uint8_t *)"Hello, world",
					       .text_len = 12 };
	emit("tokens-text", &m, true);
	m.request_id = 0x0123456789abcdf0ull;
	m.timestamp_us = T0 + 60000;
	m.u.tokens = (struct tf_proto_tokens){ .first_seq = 2, .n_tokens = 2, .ids = tids + 4 };
	emit("tokens-ids", &m, true);
	m.timestamp_us = T0 + 70000;
	m.u.tokens = (struct tf_proto_tokens){ .first_seq = 4, .n_tokens = 0, .ids = tids };
	emit("tokens-beacon", &m, true);
	m.request_id = 0x0123456789abcdefull;
	m.timestamp_us = T0 + 200000;
	m.type = TF_PROTO_T_FINAL;
	m.u.final = (struct tf_proto_final){ .finish_reason = 0,
					     .prompt_tokens = 5,
					     .completion_tokens = 3,
					     .accel_id = 2,
					     .cost_micro = 1234,
					     .queue_us = 150,
					     .total_us = 4200 };
	emit("final-stop", &m, true);
	m.timestamp_us = T0 + 200001;
	m.flags = TF_PROTO_F_FROM_CACHE;
	m.u.final = (struct tf_proto_final){ .finish_reason = 3,
					     .error_code = 5,
					     .prompt_tokens = 5,
					     .completion_tokens = 2,
					     .accel_id = 2,
					     .cost_micro = 800,
					     .queue_us = 150,
					     .total_us = 3000 };
	emit("final-cut-off", &m, true);
	m.flags = 0;
	m.type = TF_PROTO_T_CANCEL;
	m.timestamp_us = T0 + 100000;
	emit("cancel", &m, true);
	m.type = TF_PROTO_T_RESUME;
	m.flags = TF_PROTO_F_RETRANSMIT;
	m.u.resume.from_seq = 2;
	emit("resume", &m, true);
	m.flags = 0;
	m.type = TF_PROTO_T_PING;
	m.request_id = 0x0123456789abcdf2ull;
	m.u.ping.echo = 0x1122334455667788ull;
	emit("ping", &m, true);
	m.type = TF_PROTO_T_PONG;
	m.timestamp_us = T0 + 100250;
	m.u.pong = (struct tf_proto_pong){
		.echo = 0x1122334455667788ull, .min_version = 1, .max_version = 1, .max_dgram = 1472
	};
	emit("pong", &m, true);
	m.type = TF_PROTO_T_ERROR;
	m.request_id = 0x0123456789abcdefull;
	m.u.err = (struct tf_proto_err){ .code = TF_PROTO_E_BUSY,
					 .ref_type = 1,
					 .retry_after_ms = 250 };
	emit("error-busy", &m, true);
	m.tenant_id = 99;
	m.u.err = (struct tf_proto_err){ .code = TF_PROTO_E_UNKNOWN_TENANT, .ref_type = 1 };
	emit("error-unknown-tenant", &m, false);
	/* Section 9.16-9.17: SipHash (mac_alg 2) and a FINAL carrying the last tokens. */
	m.tenant_id = 42;
	m.mac_alg = TF_PROTO_MAC_SIPHASH;
	m.type = TF_PROTO_T_REQUEST;
	m.request_id = 0x0123456789abcdf3ull;
	m.timestamp_us = T0 + 3000;
	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = 2,
					     .prompt_total_len = 8,
					     .prompt_kind = 0,
					     .priority = 3,
					     .req_flags = TF_PROTO_RF_FINAL_TOKENS,
					     .top_p = 10000,
					     .prompt = ids,
					     .prompt_len = 8 };
	emit("request-siphash", &m, true);
	m.type = TF_PROTO_T_FINAL;
	m.timestamp_us = T0 + 300000;
	m.u.final = (struct tf_proto_final){
		.finish_reason = TF_PROTO_FINISH_LENGTH,
		.final_flags = TF_PROTO_FF_HAS_TOKENS,
		.prompt_tokens = 2,
		.completion_tokens = 2,
		.accel_id = 2,
		.cost_micro = 4,
		.queue_us = 20,
		.total_us = 900,
		.tokens = { .first_seq = 0, .n_tokens = 2, .ids = tids + 4 }
	};
	emit("final-tokens", &m, true);
}

int
main(int argc, char **argv)
{
	uint8_t secret[TF_PROTO_KEY_LEN];

	for (unsigned i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)i;
	tf_proto_key_init(&g_key, TF_PROTO_MAC_HMAC_SHA256, 0, secret, sizeof(secret));
	if (argc == 3) {
		struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;

		if (getaddrinfo(argv[1], argv[2], &hints, &ai)) {
			fprintf(stderr, "tf_proto_send: cannot resolve %s %s\n", argv[1], argv[2]);
			return 2;
		}
		g_fd = socket(ai->ai_family, SOCK_DGRAM, 0);
		if (g_fd < 0) {
			perror("tf_proto_send: socket");
			return 1;
		}
		memcpy(&g_to, ai->ai_addr, ai->ai_addrlen);
		g_tolen = ai->ai_addrlen;
		freeaddrinfo(ai);
	} else if (argc != 2 || strcmp(argv[1], "--print")) {
		fprintf(stderr, "usage: tf_proto_send ADDR PORT | tf_proto_send --print\n");
		return 2;
	}
	examples();
	return 0;
}
