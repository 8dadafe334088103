/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_probe: test tool for tests/integration/test_dp_*.sh. Sends one crafted
 * protocol exchange to a card over the kernel UDP stack -- the cases
 * tokfab-client cannot produce on purpose (stale clock, other versions,
 * unknown flags, reserved bits, fragment gaps and overlaps, chosen request
 * ids) -- and prints every answer on one line:
 *   ERROR code=N name=S detail=N retry_ms=N signed=0|1 flags=0xN
 *   TOKENS first=N n=N ids=a,b,c flags=0xN signed=0|1
 *   FINAL reason=N error=N prompt=N completion=N cost=N accel=N flags=0xN signed=0|1
 *   PONG echo=N signed=0|1
 *   NONE           (nothing within --wait)
 * The card answers a request where its first piece came from: give --sport
 * to run several exchanges about one request from separate invocations.
 * Exit 0 when something came back, 1 on a local error, 3 when nothing did.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tokfab/client.h"
#include "tokfab/proto.h"

static int g_fd;
static struct tf_proto_key g_key;
static uint32_t g_tenant;
static int g_wait_ms = 1500;

static uint64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
send_dgram(const uint8_t *d, int n)
{
	if (n <= 0 || send(g_fd, d, (size_t)n, 0) != n) {
		fprintf(stderr, "dp_probe: send: %s\n", n <= 0 ? "encode failed" : strerror(errno));
		exit(1);
	}
}

static int
encode(struct tf_proto_msg *m, uint8_t *d, size_t cap)
{
	m->version = TF_PROTO_VERSION;
	m->tenant_id = g_tenant;
	if (!m->timestamp_us)
		m->timestamp_us = wall_us();
	return tf_proto_encode(d, cap, m, &g_key);
}

static void
send_msg(struct tf_proto_msg *m)
{
	uint8_t d[TF_PROTO_MAX_DGRAM];

	send_dgram(d, encode(m, d, sizeof(d)));
}

/* Re-signs a datagram after its bytes were changed on purpose. */
static void
resign(uint8_t *d, int n)
{
	tf_proto_mac(&g_key, d, (size_t)n - TF_PROTO_MAC_LEN, d + n - TF_PROTO_MAC_LEN);
}

/* Prints answers until an ERROR or FINAL for rid (any rid when rid == 0) or --wait. */
static int
receive(uint64_t rid)
{
	uint64_t end = mono_ms() + (uint64_t)g_wait_ms;
	int got = 0;

	for (;;) {
		uint8_t b[2048];
		struct tf_proto_msg m;
		struct pollfd p = { .fd = g_fd, .events = POLLIN };
		int64_t left = (int64_t)(end - mono_ms());
		ssize_t n;
		int sig;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(g_fd, b, sizeof(b), 0);
		if (n <= 0 || tf_proto_decode(b, (size_t)n, &m) < 0)
			continue;
		if (rid && m.request_id != rid)
			continue;
		sig = m.mac_alg ? tf_proto_verify(&g_key, &m) == 0 : 0;
		got = 1;
		switch (m.type) {
		case TF_PROTO_T_ERROR:
			printf("ERROR code=%u name=%s detail=%u retry_ms=%u signed=%d flags=0x%x\n",
			       m.u.err.code, tf_proto_error_name(m.u.err.code), m.u.err.detail,
			       m.u.err.retry_after_ms, sig, m.flags);
			return 0;
		case TF_PROTO_T_TOKENS:
			printf("TOKENS first=%u n=%u ids=", m.u.tokens.first_seq,
			       m.u.tokens.n_tokens);
			for (uint32_t i = 0; i < m.u.tokens.n_tokens; i++)
				printf("%s%u", i ? "," : "", tf_proto_token_id(&m.u.tokens, i));
			printf(" flags=0x%x signed=%d\n", m.flags, sig);
			break;
		case TF_PROTO_T_FINAL:
			printf("FINAL reason=%u error=%u prompt=%u completion=%u cost=%llu "
			       "accel=%u "
			       "flags=0x%x signed=%d\n",
			       m.u.final.finish_reason, m.u.final.error_code,
			       m.u.final.prompt_tokens, m.u.final.completion_tokens,
			       (unsigned long long)m.u.final.cost_micro, m.u.final.accel_id,
			       m.flags, sig);
			return 0;
		case TF_PROTO_T_PONG:
			printf("PONG echo=%llu signed=%d\n", (unsigned long long)m.u.pong.echo,
			       sig);
			return 0;
		default:
			break;
		}
		fflush(stdout);
	}
	if (!got) {
		printf("NONE\n");
		return 3;
	}
	return 0;
}

static void
request(uint64_t rid, uint8_t flags, uint32_t total, uint32_t first_len, uint32_t max_new)
{
	static uint8_t prompt[TF_PROTO_MAX_PROMPT];
	struct tf_proto_msg m = { .type = TF_PROTO_T_REQUEST, .request_id = rid, .flags = flags };

	for (uint32_t i = 0; i < total / 4; i++)
		tf_proto_st32(prompt + 4 * i, 1 + i % 200);
	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = max_new,
					     .prompt_total_len = total,
					     .prompt_kind = TF_PROTO_PROMPT_TOKENS,
					     .priority = 3,
					     .top_p = 10000,
					     .seed = rid,
					     .prompt = prompt,
					     .prompt_len = first_len };
	send_msg(&m);
}

static void
fragment(uint64_t rid, uint32_t total, uint32_t off, uint32_t len)
{
	static const uint8_t junk[TF_PROTO_MAX_DGRAM];
	struct tf_proto_msg m = { .type = TF_PROTO_T_FRAGMENT, .request_id = rid };

	m.u.frag = (struct tf_proto_fragment){
		.prompt_total_len = total, .offset = off, .data = junk, .len = len
	};
	send_msg(&m);
}

static int
run_case(const char *c, int argc, char **argv)
{
	uint64_t rid = argc > 0 ? strtoull(argv[0], NULL, 0) : wall_us();
	struct tf_proto_msg m = { .request_id = rid };
	uint8_t d[TF_PROTO_MAX_DGRAM];
	int n;

	if (!strcmp(c, "ping")) {
		m.type = TF_PROTO_T_PING;
		m.u.ping.echo = 77;
		send_msg(&m);
	} else if (!strcmp(c, "stale")) {
		m.type = TF_PROTO_T_PING;
		m.timestamp_us = wall_us() - 3600ull * 1000000;
		send_msg(&m);
	} else if (!strcmp(c, "version")) {
		m.type = TF_PROTO_T_PING;
		n = encode(&m, d, sizeof(d));
		d[4] = 2;
		send_dgram(d, n);
	} else if (!strcmp(c, "flag")) {
		m.type = TF_PROTO_T_PING;
		n = encode(&m, d, sizeof(d));
		d[6] = 0x80;
		resign(d, n);
		send_dgram(d, n);
	} else if (!strcmp(c, "reserved")) {
		m.type = TF_PROTO_T_PING;
		n = encode(&m, d, sizeof(d));
		d[TF_PROTO_HDR_LEN + 8] = 1;
		resign(d, n);
		send_dgram(d, n);
	} else if (!strcmp(c, "cancel")) {
		m.type = TF_PROTO_T_CANCEL;
		send_msg(&m);
	} else if (!strcmp(c, "resume")) {
		m.type = TF_PROTO_T_RESUME;
		m.u.resume.from_seq = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 0;
		send_msg(&m);
	} else if (!strcmp(c, "request")) {
		request(rid, 0, 12, 12, argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 4);
	} else if (!strcmp(c, "retx")) {
		request(rid, TF_PROTO_F_RETRANSMIT, 12, 12,
			argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 4);
	} else if (!strcmp(c, "big")) {
		/* A prompt over many datagrams, fragments in reverse order. */
		uint32_t total = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 8192,
			 piece = 1344;

		for (uint32_t off = (total - 1) / piece * piece; off > 0; off -= piece)
			fragment(rid, total, off, total - off < piece ? total - off : piece);
		request(rid, 0, total, piece < total ? piece : total, 4);
	} else if (!strcmp(c, "gap")) {
		request(rid, 0, 256, 64, 4);
	} else if (!strcmp(c, "overlap")) {
		request(rid, 0, 256, 128, 4);
		fragment(rid, 256, 64, 128);
	} else {
		fprintf(stderr, "dp_probe: unknown case '%s'\n", c);
		return 1;
	}
	return receive(rid);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "tenant", required_argument, NULL, 't' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "wait", required_argument, NULL, 'w' },
		{ "sport", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(TF_PROTO_PORT) };
	uint8_t secret[TF_PROTO_KEY_LEN];
	struct sockaddr_in me = { .sin_family = AF_INET };
	const char *key = NULL;
	char err[256];
	bool wr;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:p:t:k:w:", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (inet_pton(AF_INET, optarg, &sa.sin_addr) != 1)
				return 1;
			break;
		case 'p':
			sa.sin_port = htons((uint16_t)atoi(optarg));
			break;
		case 't':
			g_tenant = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			key = optarg;
			break;
		case 'w':
			g_wait_ms = atoi(optarg);
			break;
		case 'P':
			/* Answers go to where a request's first piece came from: keep one port. */
			me.sin_port = htons((uint16_t)atoi(optarg));
			break;
		default:
			return 1;
		}
	}
	if (optind >= argc || !key || !g_tenant) {
		fprintf(stderr, "usage: dp_probe --server IP --tenant ID --key-file F [--port P] "
				"[--sport P] [--wait MS] CASE [ARGS]\n");
		return 1;
	}
	if (tf_client_load_key(key, secret, &wr, err, sizeof(err)) < 0) {
		fprintf(stderr, "dp_probe: %s\n", err);
		return 1;
	}
	tf_proto_key_init(&g_key, TF_PROTO_MAC_HMAC_SHA256, 0, secret, sizeof(secret));
	g_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (g_fd >= 0 && me.sin_port) {
		int one = 1;

		setsockopt(g_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(g_fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
			perror("dp_probe: bind");
			return 1;
		}
	}
	if (g_fd < 0 || connect(g_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("dp_probe: socket");
		return 1;
	}
	return run_case(argv[optind], argc - optind - 1, argv + optind + 1);
}
