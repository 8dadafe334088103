/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tf_stub_card: a TEST STAND-IN for the card side of wire protocol v1, used
 * by the client and dissector integration tests while (and besides) the
 * real dataplane exists. It speaks the protocol with libtfproto over a
 * kernel UDP socket and follows hwdocs/protocol.md section 7 (at-most-once,
 * response cache, resume, cancel, ping, replay window), but "generates"
 * synthetic tokens: token i of a request has id 1000 + i and text "w<i> ".
 *
 * Behaviour by model id: 1 generates; 2 generates slowly (a chunk per
 * 50 ms, for timeout and cancel tests); 100 + E answers ERROR E (BUSY and
 * RATE_LIMITED with retry_after 100 ms); 200 + E cuts the request off after
 * two tokens with FINAL CUT_OFF error E.
 * Loss injection: --drop-every N drops every Nth token chunk on its first
 * transmission (resends from RESUME always go out); --drop-rx-every N drops
 * every Nth datagram received (client -> card loss); --first-token-delay-ms
 * holds the first token back (a queue), so clients retransmit the REQUEST.
 * Every execution is logged as "exec rid=0x... tenant=T prompt_bytes=N" so
 * tests can check that retransmissions never run a request twice.
 */
#include "tokfab/client.h"
#include "tokfab/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQS 64
#define MAX_TOKENS 4096

enum { ST_FREE, ST_REASM, ST_GEN, ST_DONE };

struct sreq {
	int state;
	uint64_t rid;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	bool have_request;
	struct tf_proto_request params;
	struct tf_proto_reasm reasm;
	uint8_t *prompt;
	uint32_t produced, max_new, chunk_no;
	uint64_t next_token_us, last_used_us;
	struct tf_proto_final final;
	int cut_code;
	uint8_t mac_alg; /* the REQUEST's: responses are signed under it (protocol.md 4.1) */
};

static struct {
	int fd;
	uint32_t tenant;
	struct tf_proto_key key;
	uint32_t drop_every, token_delay_ms, chunk, drop_rx_every, first_delay_ms, rx_count;
	uint8_t rx_alg; /* mac_alg of the datagram being answered */
	struct sreq reqs[MAX_REQS];
	uint8_t tx[TF_PROTO_MAX_DGRAM];
	volatile sig_atomic_t stop;
} g;

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
on_signal(int sig)
{
	(void)sig;
	g.stop = 1;
}

static void
reply(const struct sockaddr_storage *to, socklen_t tolen, struct tf_proto_msg *m, uint64_t rid,
      uint8_t flags, bool sign, uint8_t alg)
{
	int n;

	m->mac_alg = sign ? alg : TF_PROTO_MAC_NONE;
	m->tenant_id = sign ? g.tenant : m->tenant_id;
	m->request_id = rid;
	m->timestamp_us = real_us();
	m->flags = flags;
	n = tf_proto_encode(g.tx, sizeof(g.tx), m, sign ? &g.key : NULL);
	if (n < 0) {
		fprintf(stderr, "stub: encode %s: %s\n", tf_proto_type_name(m->type),
			tf_proto_reason_name(n));
		return;
	}
	if (sendto(g.fd, g.tx, (size_t)n, 0, (const struct sockaddr *)to, tolen) < 0)
		perror("stub: sendto");
}

static void
send_error(const struct sockaddr_storage *to, socklen_t tolen, uint32_t tenant, uint64_t rid,
	   uint16_t code, uint8_t ref, uint32_t retry, uint32_t detail, bool sign)
{
	struct tf_proto_msg m = { .type = TF_PROTO_T_ERROR, .tenant_id = tenant };

	m.u.err = (struct tf_proto_err){
		.code = code, .ref_type = ref, .retry_after_ms = retry, .detail = detail
	};
	reply(to, tolen, &m, rid, 0, sign, g.rx_alg);
	printf("error rid=0x%016llx code=%s signed=%d\n", (unsigned long long)rid,
	       tf_proto_error_name(code), sign);
}

static void
send_tokens(struct sreq *r, uint32_t from, uint32_t to, uint8_t flags)
{
	static uint8_t ids[4 * MAX_TOKENS], lens[MAX_TOKENS];
	static char text[8 * MAX_TOKENS];
	bool want_text = r->params.req_flags & TF_PROTO_RF_WANT_TEXT;
	struct tf_proto_msg m = { .type = TF_PROTO_T_TOKENS };
	uint32_t tl = 0;

	for (uint32_t i = from; i < to; i++) {
		int n = snprintf(text + tl, sizeof(text) - tl, "w%u ", i);

		tf_proto_st32(ids + 4 * (i - from), 1000 + i);
		lens[i - from] = (uint8_t)n;
		tl += (uint32_t)n;
	}
	m.u.tokens = (struct tf_proto_tokens){
		.first_seq = from,
		.n_tokens = (uint16_t)(to - from),
		.chunk_flags = want_text ? TF_PROTO_CF_HAS_TEXT : 0,
		.ids = ids,
		.piece_lens = want_text ? lens : NULL,
		.text = want_text ? (const uint8_t *)text : NULL,
		.text_len = want_text ? tl : 0,
	};
	reply(&r->peer, r->peerlen, &m, r->rid, flags, true, r->mac_alg);
}

static void
send_final(struct sreq *r, uint8_t flags)
{
	struct tf_proto_msg m = { .type = TF_PROTO_T_FINAL };

	m.u.final = r->final;
	reply(&r->peer, r->peerlen, &m, r->rid, flags, true, r->mac_alg);
}

/* Re-sends tokens [from, produced) in chunks, then the FINAL when done. */
static void
resend(struct sreq *r, uint32_t from, uint8_t flags)
{
	if (from >= r->produced && r->state != ST_DONE) {
		struct tf_proto_msg m = { .type = TF_PROTO_T_TOKENS };

		m.u.tokens.first_seq = r->produced; /* beacon: still working */
		reply(&r->peer, r->peerlen, &m, r->rid, flags, true, r->mac_alg);
		return;
	}
	for (uint32_t s = from; s < r->produced; s += g.chunk)
		send_tokens(r, s, s + g.chunk < r->produced ? s + g.chunk : r->produced, flags);
	if (r->state == ST_DONE)
		send_final(r, flags);
}

static void
finish(struct sreq *r, uint8_t reason, uint16_t code)
{
	uint32_t ptok = 0;

	if (r->params.prompt_kind == TF_PROTO_PROMPT_TOKENS) {
		ptok = r->params.prompt_total_len / 4;
	} else {
		bool in = false;

		for (uint32_t i = 0; i < r->params.prompt_total_len; i++) {
			bool sp = r->prompt[i] == ' ' || r->prompt[i] == '\n';

			ptok += !sp && !in;
			in = !sp;
		}
	}
	r->state = ST_DONE;
	r->final = (struct tf_proto_final){ .finish_reason = reason,
					    .error_code = code,
					    .prompt_tokens = ptok,
					    .completion_tokens = r->produced,
					    .accel_id = 1,
					    .cost_micro = (uint64_t)ptok + 2ull * r->produced,
					    .queue_us = 10,
					    .total_us = 1000 };
	send_final(r, 0);
	printf("final rid=0x%016llx reason=%u completion=%u\n", (unsigned long long)r->rid, reason,
	       r->produced);
}

/* Produces due tokens of every generating request. */
static void
generate(uint64_t now)
{
	for (int i = 0; i < MAX_REQS; i++) {
		struct sreq *r = &g.reqs[i];
		uint32_t to;

		if (r->state != ST_GEN || now < r->next_token_us)
			continue;
		to = r->produced + g.chunk;
		if (to > r->max_new)
			to = r->max_new;
		if (r->cut_code && to > 2)
			to = 2;
		r->chunk_no++;
		if (to > r->produced) {
			uint32_t from = r->produced;

			r->produced = to;
			if (g.drop_every && r->chunk_no % g.drop_every == 0)
				printf("drop rid=0x%016llx tokens %u..%u\n",
				       (unsigned long long)r->rid, from, to - 1);
			else
				send_tokens(r, from, to, 0);
		}
		if (r->cut_code && r->produced >= 2)
			finish(r, TF_PROTO_FINISH_CUT_OFF, (uint16_t)r->cut_code);
		else if (r->produced >= r->max_new)
			finish(r, TF_PROTO_FINISH_LENGTH, 0);
		else
			r->next_token_us =
				now + (r->params.model_id == 2 ? 50000
							       : (uint64_t)g.token_delay_ms * 1000);
	}
}

static struct sreq *
find(uint64_t rid)
{
	for (int i = 0; i < MAX_REQS; i++)
		if (g.reqs[i].state != ST_FREE && g.reqs[i].rid == rid)
			return &g.reqs[i];
	return NULL;
}

static struct sreq *
create(uint64_t rid, const struct sockaddr_storage *from, socklen_t fromlen, uint64_t now)
{
	struct sreq *r = NULL;

	for (int i = 0; i < MAX_REQS; i++) {
		struct sreq *q = &g.reqs[i];

		if (q->state == ST_FREE) {
			r = q;
			break;
		}
		/* Response cache full: evict the oldest finished request. */
		if (q->state == ST_DONE && (!r || q->last_used_us < r->last_used_us))
			r = q;
	}
	if (!r)
		return NULL;
	if (!r->prompt)
		r->prompt = malloc(TF_PROTO_MAX_PROMPT);
	if (!r->prompt)
		return NULL;
	r->state = ST_REASM;
	r->rid = rid;
	r->peer = *from;
	r->peerlen = fromlen;
	r->have_request = false;
	r->produced = r->chunk_no = 0;
	r->cut_code = 0;
	r->last_used_us = now;
	tf_proto_reasm_init(&r->reasm, r->prompt, TF_PROTO_MAX_PROMPT);
	return r;
}

static void
start(struct sreq *r, uint64_t now)
{
	uint32_t model = r->params.model_id;

	if (r->params.prompt_kind == TF_PROTO_PROMPT_TEXT &&
	    !tf_proto_utf8_valid(r->prompt, r->params.prompt_total_len)) {
		send_error(&r->peer, r->peerlen, g.tenant, r->rid, TF_PROTO_E_MALFORMED,
			   TF_PROTO_T_REQUEST, 0, 0, true);
		r->state = ST_FREE;
		return;
	}
	if (model >= 100 && model <= 100 + TF_PROTO_E_MAX) {
		uint16_t code = (uint16_t)(model - 100);
		bool retry = code == TF_PROTO_E_BUSY || code == TF_PROTO_E_RATE_LIMITED;

		send_error(&r->peer, r->peerlen, g.tenant, r->rid, code, TF_PROTO_T_REQUEST,
			   retry ? 100 : 0, code == TF_PROTO_E_UNKNOWN_MODEL ? model : 0, true);
		r->state = ST_FREE; /* refused before admission: nothing recorded */
		return;
	}
	if (model != 1 && model != 2 && !(model >= 200 && model <= 200 + TF_PROTO_E_MAX)) {
		send_error(&r->peer, r->peerlen, g.tenant, r->rid, TF_PROTO_E_UNKNOWN_MODEL,
			   TF_PROTO_T_REQUEST, 0, model, true);
		r->state = ST_FREE;
		return;
	}
	r->cut_code = model >= 200 ? (int)(model - 200) : 0;
	r->max_new = r->params.max_new_tokens < MAX_TOKENS ? r->params.max_new_tokens : MAX_TOKENS;
	r->state = ST_GEN;
	r->next_token_us = now + (uint64_t)g.first_delay_ms * 1000;
	printf("exec rid=0x%016llx tenant=%u prompt_bytes=%u kind=%u\n", (unsigned long long)r->rid,
	       g.tenant, r->params.prompt_total_len, r->params.prompt_kind);
}

static void
on_piece(struct tf_proto_msg *m, const struct sockaddr_storage *from, socklen_t fromlen,
	 uint64_t now)
{
	struct sreq *r = find(m->request_id);
	uint32_t total, off, len;
	const uint8_t *data;
	int rc;

	if (m->type == TF_PROTO_T_REQUEST) {
		total = m->u.req.prompt_total_len;
		off = 0;
		data = m->u.req.prompt;
		len = m->u.req.prompt_len;
	} else {
		total = m->u.frag.prompt_total_len;
		off = m->u.frag.offset;
		data = m->u.frag.data;
		len = m->u.frag.len;
	}
	if (r && r->state != ST_REASM) {
		/* Retransmission of a running or finished request: never run twice. */
		if (m->type == TF_PROTO_T_REQUEST) {
			r->last_used_us = now;
			resend(r, 0, r->state == ST_DONE ? TF_PROTO_F_FROM_CACHE : 0);
		}
		return;
	}
	if (!r)
		r = create(m->request_id, from, fromlen, now);
	if (!r) {
		send_error(from, fromlen, g.tenant, m->request_id, TF_PROTO_E_BUSY, m->type, 200, 0,
			   true);
		return;
	}
	rc = tf_proto_reasm_add(&r->reasm, total, off, data, len);
	if (rc < 0) {
		send_error(from, fromlen, g.tenant, m->request_id, tf_proto_reason_error(rc),
			   m->type, 0, (uint32_t)-rc << 16, true);
		r->state = ST_FREE;
		return;
	}
	if (m->type == TF_PROTO_T_REQUEST) {
		r->have_request = true;
		r->params = m->u.req;
		r->mac_alg = m->mac_alg;
	}
	if (r->have_request && tf_proto_reasm_done(&r->reasm))
		start(r, now);
}

static void
on_datagram(const uint8_t *buf, size_t len, const struct sockaddr_storage *from, socklen_t fromlen,
	    uint64_t now)
{
	struct tf_proto_msg m;
	struct sreq *r;
	bool verified;
	int rc = tf_proto_decode_hdr(buf, len, &m);

	g.rx_alg = rc == 0 ? m.mac_alg : TF_PROTO_MAC_HMAC_SHA256;
	if (rc == 0 && tf_proto_type_is_response(m.type))
		return; /* not for a card */
	if (rc == 0 && m.tenant_id != g.tenant) {
		if (len >= TF_PROTO_HDR_LEN + TF_PROTO_ERROR_LEN)
			send_error(from, fromlen, m.tenant_id, m.request_id,
				   TF_PROTO_E_UNKNOWN_TENANT, m.type, 0, 0, false);
		return;
	}
	if (rc == 0 && (rc = tf_proto_verify(&g.key, &m)) != 0) {
		printf("drop reason=%s\n", tf_proto_reason_name(rc));
		if (len >= TF_PROTO_HDR_LEN + TF_PROTO_ERROR_LEN)
			send_error(from, fromlen, m.tenant_id, m.request_id, TF_PROTO_E_BAD_MAC,
				   m.type, 0, 0, false);
		return;
	}
	verified = rc == 0;
	if (rc == 0)
		rc = tf_proto_decode_body(&m);
	if (rc == 0)
		rc = tf_proto_check_time(m.timestamp_us, real_us(), TF_PROTO_REPLAY_WINDOW_US);
	if (rc) {
		/* The codec's reject rules: signed once the MAC verified, else unsigned. */
		int n = tf_proto_encode_reject(g.tx, sizeof(g.tx), &m, len, rc,
					       verified ? &g.key : NULL, real_us());

		printf("drop reason=%s reply=%d\n", tf_proto_reason_name(rc), n);
		if (n > 0)
			sendto(g.fd, g.tx, (size_t)n, 0, (const struct sockaddr *)from, fromlen);
		return;
	}
	if (m.type != TF_PROTO_T_FRAGMENT)
		printf("rx %s rid=0x%016llx flags=%u len=%zu mac_alg=%u req_flags=%u\n",
		       tf_proto_type_name(m.type), (unsigned long long)m.request_id, m.flags, len,
		       m.mac_alg, m.type == TF_PROTO_T_REQUEST ? m.u.req.req_flags : 0);
	switch (m.type) {
	case TF_PROTO_T_REQUEST:
	case TF_PROTO_T_FRAGMENT:
		on_piece(&m, from, fromlen, now);
		break;
	case TF_PROTO_T_PING: {
		struct tf_proto_msg p = { .type = TF_PROTO_T_PONG };

		p.u.pong = (struct tf_proto_pong){ .echo = m.u.ping.echo,
						   .min_version = 1,
						   .max_version = 1,
						   .max_dgram = TF_PROTO_MAX_DGRAM };
		reply(from, fromlen, &p, m.request_id, 0, true, m.mac_alg);
		break;
	}
	case TF_PROTO_T_CANCEL:
	case TF_PROTO_T_RESUME:
		r = find(m.request_id);
		if (!r || r->state == ST_REASM) {
			send_error(from, fromlen, g.tenant, m.request_id,
				   TF_PROTO_E_UNKNOWN_REQUEST, m.type, 0, 0, true);
			break;
		}
		r->last_used_us = now;
		if (m.type == TF_PROTO_T_RESUME)
			resend(r, m.u.resume.from_seq, 0);
		else if (r->state == ST_GEN)
			finish(r, TF_PROTO_FINISH_CANCELLED, 0);
		else
			send_final(r, TF_PROTO_F_FROM_CACHE);
		break;
	}
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: tf_stub_card --port P --tenant ID --key-file F [--addr A]\n"
		   "         [--drop-every N] [--drop-rx-every N] [--token-delay-ms D]\n"
		   "         [--first-token-delay-ms D] [--chunk N]\n"
		   "TEST STAND-IN for a tokfab card (see the comment at the top of its source).\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, 'a' },
		{ "tenant", required_argument, NULL, 't' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "drop-every", required_argument, NULL, 'd' },
		{ "token-delay-ms", required_argument, NULL, 'D' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "drop-rx-every", required_argument, NULL, 'R' },
		{ "first-token-delay-ms", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	const char *keyfile = NULL, *addr = NULL;
	uint8_t secret[TF_PROTO_KEY_LEN], buf[2048];
	char err[256];
	int opt, port = TF_PROTO_PORT, off = 0, rcvbuf;

	g.chunk = 4;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'a':
			addr = optarg;
			break;
		case 't':
			g.tenant = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'd':
			g.drop_every = (uint32_t)atoi(optarg);
			break;
		case 'D':
			g.token_delay_ms = (uint32_t)atoi(optarg);
			break;
		case 'c':
			g.chunk = (uint32_t)atoi(optarg);
			break;
		case 'R':
			g.drop_rx_every = (uint32_t)atoi(optarg);
			break;
		case 'F':
			g.first_delay_ms = (uint32_t)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!keyfile || g.chunk == 0 || g.chunk > 256 || port <= 0 || port > 65535) {
		usage(stderr);
		return 2;
	}
	if (tf_client_load_key(keyfile, secret, NULL, err, sizeof(err))) {
		fprintf(stderr, "stub: %s\n", err);
		return 2;
	}
	tf_proto_key_init(&g.key, TF_PROTO_MAC_HMAC_SHA256, 0, secret, sizeof(secret));
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	g.fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (g.fd < 0 || setsockopt(g.fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off))) {
		perror("stub: socket");
		return 1;
	}
	sa.sin6_port = htons((uint16_t)port);
	if (addr) {
		char v6[64];

		snprintf(v6, sizeof(v6), strchr(addr, ':') ? "%s" : "::ffff:%s", addr);
		if (inet_pton(AF_INET6, v6, &sa.sin6_addr) != 1) {
			fprintf(stderr, "stub: bad --addr %s\n", addr);
			return 2;
		}
	}
	rcvbuf = 4 << 20;
	if (setsockopt(g.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		(void)setsockopt(g.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(g.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("stub: bind");
		return 1;
	}
	printf("listening port=%d tenant=%u\n", port, g.tenant);
	while (!g.stop) {
		struct pollfd pfd = { .fd = g.fd, .events = POLLIN };
		uint64_t now = mono_us();

		generate(now);
		if (poll(&pfd, 1, 1) <= 0)
			continue;
		for (;;) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(g.fd, buf, sizeof(buf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);

			if (n < 0)
				break;
			if (g.drop_rx_every && ++g.rx_count % g.drop_rx_every == 0) {
				printf("drop-rx len=%zd\n", n);
				continue;
			}
			on_datagram(buf, (size_t)n, &from, fl, mono_us());
		}
	}
	for (int i = 0; i < MAX_REQS; i++)
		free(g.reqs[i].prompt);
	return 0;
}
