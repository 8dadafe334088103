/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/client: the client state machine against a scripted stand-in card on
 * a loopback UDP socket, driven step by step from this one thread (no
 * timing races): the test reads what the client sent, answers exactly what
 * each case needs (gaps, duplicates, early FINAL, BUSY, unsigned or forged
 * errors, silence) and checks the callbacks. Also key files and addresses.
 */
#include "tf_cunit.h"
#include "tokfab/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct tf_proto_key g_key;
static uint8_t g_secret[TF_PROTO_KEY_LEN];
static int g_srv = -1;
static char g_addr[64];
static struct sockaddr_storage g_peer;
static socklen_t g_peerlen;

/* What the callbacks saw. */
struct seen {
	uint32_t ids[4096];
	uint32_t n;
	char text[8192];
	size_t tl;
	bool dup_or_order_error;
	int done;
	struct tf_client_outcome out;
	bool pong;
};

static void
cb_tokens(void *arg, uint64_t rid, const struct tf_client_tokens *t)
{
	struct seen *s = arg;

	(void)rid;
	if (t->first_seq != s->n)
		s->dup_or_order_error = true;
	for (uint32_t i = 0; i < t->n && s->n < 4096; i++)
		s->ids[s->n++] = tf_client_token_id(t, i);
	if (t->text_len && s->tl + t->text_len < sizeof(s->text)) {
		memcpy(s->text + s->tl, t->text, t->text_len);
		s->tl += t->text_len;
	}
}

static void
cb_done(void *arg, uint64_t rid, const struct tf_client_outcome *o)
{
	struct seen *s = arg;

	(void)rid;
	s->done++;
	s->out = *o;
}

static void
cb_pong(void *arg, uint64_t rid, const struct tf_client_pong *p)
{
	struct seen *s = arg;

	(void)rid;
	(void)p;
	s->pong = true;
}

static const struct tf_client_cb g_cb = { .on_tokens = cb_tokens,
					  .on_done = cb_done,
					  .on_pong = cb_pong };

static uint64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
suite_init(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int big = 8 << 20;

	for (unsigned i = 0; i < sizeof(g_secret); i++)
		g_secret[i] = (uint8_t)(0xa0 + i);
	tf_proto_key_init(&g_key, TF_PROTO_MAC_HMAC_SHA256, 0, g_secret, sizeof(g_secret));
	g_srv = socket(AF_INET, SOCK_DGRAM, 0);
	if (g_srv < 0 || bind(g_srv, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(g_srv, (struct sockaddr *)&sa, &sl))
		return -1;
	setsockopt(g_srv, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	snprintf(g_addr, sizeof(g_addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	return 0;
}

static int
suite_fini(void)
{
	close(g_srv);
	return 0;
}

/* A client with short timers so silent cases end quickly. */
static struct tf_client *
mk_client(uint32_t retries)
{
	struct tf_client_config cfg;
	struct tf_client *c = NULL;
	char err[256];

	tf_client_config_init(&cfg);
	cfg.server = g_addr;
	cfg.tenant_id = 42;
	memcpy(cfg.key, g_secret, sizeof(g_secret));
	cfg.rto_initial_ms = 20;
	cfg.rto_max_ms = 40;
	cfg.retries = retries;
	cfg.cancel_wait_ms = 200;
	cfg.max_inflight = 512;
	CU_ASSERT_EQUAL_FATAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
	return c;
}

/* Next datagram the client sent (decoded and verified), or false after ms. */
static bool
srv_recv(struct tf_proto_msg *m, uint8_t *buf, int ms)
{
	struct pollfd p = { .fd = g_srv, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return false;
	g_peerlen = sizeof(g_peer);
	n = recvfrom(g_srv, buf, TF_PROTO_MAX_DGRAM, 0, (struct sockaddr *)&g_peer, &g_peerlen);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(buf, (size_t)n, m), 0);
	CU_ASSERT_EQUAL(tf_proto_verify(&g_key, m), 0);
	CU_ASSERT_EQUAL(m->tenant_id, 42);
	return true;
}

static void
srv_drain(void)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];

	while (recv(g_srv, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

static void
srv_send(struct tf_proto_msg *m, uint64_t rid, const struct tf_proto_key *k)
{
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int n;

	m->tenant_id = 42;
	m->request_id = rid;
	m->timestamp_us = real_us();
	n = tf_proto_encode(b, sizeof(b), m, k);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_FATAL(sendto(g_srv, b, (size_t)n, 0, (struct sockaddr *)&g_peer, g_peerlen) == n);
}

static void
srv_tokens(uint64_t rid, uint32_t first, uint32_t n, bool text)
{
	static uint8_t ids[4 * 512], lens[512];
	static char tx[4096];
	struct tf_proto_msg m = { .type = TF_PROTO_T_TOKENS };
	uint32_t tl = 0;

	for (uint32_t i = 0; i < n; i++) {
		int k = snprintf(tx + tl, sizeof(tx) - tl, "t%u ", first + i);

		tf_proto_st32(ids + 4 * i, 500 + first + i);
		lens[i] = (uint8_t)k;
		tl += (uint32_t)k;
	}
	m.u.tokens = (struct tf_proto_tokens){ .first_seq = first,
					       .n_tokens = (uint16_t)n,
					       .chunk_flags = text ? TF_PROTO_CF_HAS_TEXT : 0,
					       .ids = ids,
					       .piece_lens = text ? lens : NULL,
					       .text = text ? (const uint8_t *)tx : NULL,
					       .text_len = text ? tl : 0 };
	srv_send(&m, rid, &g_key);
}

static void
srv_final(uint64_t rid, uint8_t reason, uint32_t completion, uint16_t err)
{
	struct tf_proto_msg m = { .type = TF_PROTO_T_FINAL };

	m.u.final = (struct tf_proto_final){ .finish_reason = reason,
					     .error_code = err,
					     .prompt_tokens = 3,
					     .completion_tokens = completion,
					     .cost_micro = 77 };
	srv_send(&m, rid, &g_key);
}

static void
srv_error(uint64_t rid, uint16_t code, uint32_t retry, const struct tf_proto_key *k)
{
	struct tf_proto_msg m = { .type = TF_PROTO_T_ERROR };

	m.u.err = (struct tf_proto_err){ .code = code,
					 .ref_type = TF_PROTO_T_REQUEST,
					 .retry_after_ms = retry };
	srv_send(&m, rid, k);
}

/* Runs the client until its request is done or ms pass. */
static void
pump(struct tf_client *c, struct seen *s, int ms)
{
	for (int i = 0; i < ms && !s->done; i++)
		tf_client_wait(c, 1);
}

static uint64_t
submit_text(struct tf_client *c, struct seen *s, const char *prompt, uint32_t max_new)
{
	struct tf_client_request q = { .model_id = 1,
				       .max_new_tokens = max_new,
				       .prompt_kind = TF_PROTO_PROMPT_TEXT,
				       .prompt = prompt,
				       .prompt_len = (uint32_t)strlen(prompt),
				       .top_p = 10000,
				       .priority = 3,
				       .want_text = true };
	uint64_t rid = 0;

	memset(s, 0, sizeof(*s));
	CU_ASSERT_EQUAL_FATAL(tf_client_submit(c, &q, &g_cb, s, &rid), 0);
	return rid;
}

static void
test_stream_in_order(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "hello card", 6);

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_EQUAL(m.type, TF_PROTO_T_REQUEST);
	CU_ASSERT_EQUAL(m.request_id, rid);
	CU_ASSERT_EQUAL(m.flags, 0);
	CU_ASSERT_EQUAL(m.u.req.max_new_tokens, 6);
	CU_ASSERT_EQUAL(m.mac_alg, TF_PROTO_MAC_HMAC_SHA256);
	CU_ASSERT_EQUAL(m.u.req.req_flags, TF_PROTO_RF_WANT_TEXT | TF_PROTO_RF_FINAL_TOKENS);
	CU_ASSERT_EQUAL(m.u.req.prompt_len, 10);
	CU_ASSERT_EQUAL(memcmp(m.u.req.prompt, "hello card", 10), 0);
	srv_tokens(rid, 0, 3, true);
	srv_tokens(rid, 3, 3, true);
	srv_final(rid, TF_PROTO_FINISH_LENGTH, 6, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_TRUE(s.out.has_final);
	CU_ASSERT_EQUAL(s.out.final.completion_tokens, 6);
	CU_ASSERT_EQUAL(s.out.final.cost_micro, 77);
	CU_ASSERT_EQUAL(s.n, 6);
	CU_ASSERT_EQUAL(s.ids[5], 505);
	CU_ASSERT_FALSE(s.dup_or_order_error);
	CU_ASSERT_EQUAL(s.tl, strlen("t0 t1 t2 t3 t4 t5 "));
	CU_ASSERT_EQUAL(memcmp(s.text, "t0 t1 t2 t3 t4 t5 ", s.tl), 0);
	CU_ASSERT_EQUAL(tf_client_inflight(c), 0);
	tf_client_destroy(c);
	srv_drain();
}

/* Gap, duplicate, reordering and an early FINAL: RESUME fetches what is missing. */
static void
test_gap_duplicate_and_early_final_resume(void)
{
	struct tf_client *c = mk_client(5);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "x", 10);

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_tokens(rid, 0, 4, true);
	srv_tokens(rid, 6, 4, true); /* tokens 4..5 lost */
	srv_tokens(rid, 0, 4, true); /* duplicate */
	srv_final(rid, TF_PROTO_FINISH_LENGTH, 10, 0);
	pump(c, &s, 50);
	CU_ASSERT_EQUAL(s.done, 0); /* the FINAL must wait for the missing tokens */
	CU_ASSERT_EQUAL(s.n, 4);
	/* The client asks to resume from 4. */
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_EQUAL(m.type, TF_PROTO_T_RESUME);
	CU_ASSERT_EQUAL(m.u.resume.from_seq, 4);
	srv_tokens(rid, 4, 6, true);
	srv_final(rid, TF_PROTO_FINISH_LENGTH, 10, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_EQUAL(s.n, 10);
	CU_ASSERT_FALSE(s.dup_or_order_error);
	for (uint32_t i = 0; i < s.n; i++)
		CU_ASSERT_EQUAL(s.ids[i], 500 + i);
	CU_ASSERT(s.out.resumes >= 1);
	tf_client_destroy(c);
	srv_drain();
}

/* A FINAL carrying the last tokens (3.7): taken as a TOKENS, then the FINAL. */
static void
srv_final_tokens(uint64_t rid, uint32_t first, uint32_t n, const struct tf_proto_key *k,
		 uint8_t alg)
{
	static uint8_t ids[4 * 64];
	struct tf_proto_msg m = { .type = TF_PROTO_T_FINAL, .mac_alg = alg };

	for (uint32_t i = 0; i < n; i++)
		tf_proto_st32(ids + 4 * i, 500 + first + i);
	m.u.final = (struct tf_proto_final){
		.finish_reason = TF_PROTO_FINISH_STOP,
		.final_flags = TF_PROTO_FF_HAS_TOKENS,
		.prompt_tokens = 3,
		.completion_tokens = first + n,
		.cost_micro = 5,
		.tokens = { .first_seq = first, .n_tokens = (uint16_t)n, .ids = ids }
	};
	srv_send(&m, rid, k);
}

static void
test_final_with_tokens(void)
{
	struct tf_client *c = mk_client(5);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "short", 5);

	/* The whole answer in one datagram. */
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_TRUE(m.u.req.req_flags & TF_PROTO_RF_FINAL_TOKENS);
	srv_final_tokens(rid, 0, 5, &g_key, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_EQUAL(s.n, 5);
	CU_ASSERT_EQUAL(s.ids[4], 504);
	CU_ASSERT_EQUAL(s.out.tokens, 5);
	CU_ASSERT_FALSE(s.dup_or_order_error);

	/* Tokens 0..2 streamed, 3..4 lost, the FINAL carries 5..7: RESUME from 3 first. */
	srv_drain();
	rid = submit_text(c, &s, "gap", 8);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_tokens(rid, 0, 3, false);
	srv_final_tokens(rid, 5, 3, &g_key, 0);
	pump(c, &s, 50);
	CU_ASSERT_EQUAL(s.done, 0);
	CU_ASSERT_EQUAL(s.n, 3);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_EQUAL(m.type, TF_PROTO_T_RESUME);
	CU_ASSERT_EQUAL(m.u.resume.from_seq, 3);
	srv_tokens(rid, 3, 2, false);
	srv_final_tokens(rid, 5, 3, &g_key, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.n, 8);
	for (uint32_t i = 0; i < s.n; i++)
		CU_ASSERT_EQUAL(s.ids[i], 500 + i);
	CU_ASSERT_FALSE(s.dup_or_order_error);

	/* Chunk overlapping what the client holds: only the new tokens are delivered. */
	srv_drain();
	rid = submit_text(c, &s, "overlap", 4);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_tokens(rid, 0, 2, false);
	srv_final_tokens(rid, 1, 3, &g_key, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.n, 4);
	CU_ASSERT_FALSE(s.dup_or_order_error);
	tf_client_destroy(c);
	srv_drain();
}

/* A card that predates FINAL_TOKENS refuses the flag: the client sends again without it. */
static void
test_final_tokens_fallback(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m, e = { .type = TF_PROTO_T_ERROR };
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "old card", 2);

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_TRUE(m.u.req.req_flags & TF_PROTO_RF_FINAL_TOKENS);
	e.u.err = (struct tf_proto_err){ .code = TF_PROTO_E_UNSUPPORTED,
					 .ref_type = TF_PROTO_T_REQUEST,
					 .detail = (uint32_t)TF_PROTO_R_BAD_FLAGS << 16 | 46 };
	srv_send(&e, rid, &g_key);
	pump(c, &s, 20);
	CU_ASSERT_EQUAL(s.done, 0);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_EQUAL(m.type, TF_PROTO_T_REQUEST);
	CU_ASSERT_EQUAL(m.request_id, rid);
	CU_ASSERT_EQUAL(m.u.req.req_flags, TF_PROTO_RF_WANT_TEXT);
	srv_tokens(rid, 0, 2, true);
	srv_final(rid, TF_PROTO_FINISH_LENGTH, 2, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_EQUAL(s.n, 2);
	/* ... and does not set it again for this card. */
	srv_drain(); /* retransmissions of the first request the timers may have sent */
	rid = submit_text(c, &s, "next", 2);
	do {
		CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	} while (m.request_id != rid);
	CU_ASSERT_EQUAL(m.u.req.req_flags, TF_PROTO_RF_WANT_TEXT);
	/* Any other UNSUPPORTED is reported as it is. */
	e.u.err.detail = (uint32_t)TF_PROTO_R_BAD_KIND << 16 | 44;
	srv_send(&e, rid, &g_key);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.out.status, TF_PROTO_E_UNSUPPORTED);
	tf_client_destroy(c);
	srv_drain();
}

/* --mac siphash: requests go out under SipHash; answers under either algorithm verify. */
static void
test_siphash_client(void)
{
	struct tf_client_config cfg;
	struct tf_client *c = NULL;
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	char err[256];
	uint64_t rid;

	tf_client_config_init(&cfg);
	cfg.server = g_addr;
	cfg.tenant_id = 42;
	memcpy(cfg.key, g_secret, sizeof(g_secret));
	cfg.mac_alg = 7;
	CU_ASSERT_EQUAL(tf_client_create(&cfg, &c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "MAC algorithm"));
	cfg.mac_alg = TF_PROTO_MAC_SIPHASH;
	cfg.final_tokens = false;
	CU_ASSERT_EQUAL_FATAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
	rid = submit_text(c, &s, "fast", 3);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_EQUAL(m.mac_alg, TF_PROTO_MAC_SIPHASH);
	CU_ASSERT_EQUAL(m.u.req.req_flags, TF_PROTO_RF_WANT_TEXT);
	srv_final_tokens(rid, 0, 3, &g_key, TF_PROTO_MAC_SIPHASH);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.n, 3);
	/* A forged SipHash answer (wrong key) is ignored like any forgery. */
	{
		struct tf_proto_key bad;
		uint8_t other[32];

		memset(other, 0x77, sizeof(other));
		tf_proto_key_init(&bad, TF_PROTO_MAC_SIPHASH, 0, other, sizeof(other));
		srv_drain();
		rid = submit_text(c, &s, "forged", 3);
		CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
		srv_final_tokens(rid, 0, 3, &bad, TF_PROTO_MAC_SIPHASH);
		pump(c, &s, 30);
		CU_ASSERT_EQUAL(s.done, 0);
		CU_ASSERT_EQUAL(s.n, 0);
		srv_final_tokens(rid, 0, 3, &g_key, TF_PROTO_MAC_HMAC_SHA256);
		pump(c, &s, 1000);
		CU_ASSERT_EQUAL(s.done, 1);
		CU_ASSERT_EQUAL(s.n, 3);
	}
	tf_client_destroy(c);
	srv_drain();
}

/* No answer: the REQUEST is retransmitted with RETRANSMIT set, then timeout. */
static void
test_retransmit_then_timeout(void)
{
	struct tf_client *c = mk_client(2);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "anyone?", 4), ts0;
	int sends = 0;

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	ts0 = m.timestamp_us;
	sends++;
	while (!s.done) {
		tf_client_wait(c, 5);
		while (srv_recv(&m, b, 0)) {
			CU_ASSERT_EQUAL(m.type, TF_PROTO_T_REQUEST);
			CU_ASSERT_EQUAL(m.request_id, rid);
			CU_ASSERT_EQUAL(m.flags, TF_PROTO_F_RETRANSMIT);
			CU_ASSERT(m.timestamp_us > ts0); /* fresh timestamp and MAC */
			sends++;
		}
	}
	CU_ASSERT_EQUAL(sends, 3); /* first + 2 retries */
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_S_TIMEOUT);
	CU_ASSERT_EQUAL(s.out.retransmits, 2);
	CU_ASSERT_FALSE(s.out.has_final);
	tf_client_destroy(c);
}

/* BUSY with retry-after: the same request id is sent again, then succeeds. */
static void
test_busy_retry_after_same_id(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "later", 2);
	struct timespec t0, t1;

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_error(rid, TF_PROTO_E_BUSY, 100, &g_key);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!srv_recv(&m, b, 0))
		tf_client_wait(c, 5);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT_EQUAL(m.type, TF_PROTO_T_REQUEST);
	CU_ASSERT_EQUAL(m.request_id, rid);
	/* Waited at least retry_after (100 ms). */
	CU_ASSERT((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 95);
	srv_tokens(rid, 0, 2, false);
	srv_final(rid, TF_PROTO_FINISH_STOP, 2, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_EQUAL(s.n, 2);
	tf_client_destroy(c);
	srv_drain();
}

/* A signed terminal error ends the request with that code. */
static void
test_signed_error_reported(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "q", 2);

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_error(rid, TF_PROTO_E_QUOTA_EXHAUSTED, 0, &g_key);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_PROTO_E_QUOTA_EXHAUSTED);
	CU_ASSERT_FALSE(s.out.unsigned_error);
	tf_client_destroy(c);
	srv_drain();
}

/* Unsigned errors are believed only when repeated for two transmissions. */
static void
test_unsigned_error_needs_confirmation(void)
{
	struct tf_client *c = mk_client(4);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "spoof?", 3);

	/* One forged unsigned BAD_MAC, then the real card answers. */
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_error(rid, TF_PROTO_E_BAD_MAC, 0, NULL);
	tf_client_wait(c, 10);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000)); /* re-sent at once to confirm */
	CU_ASSERT_EQUAL(m.flags, TF_PROTO_F_RETRANSMIT);
	srv_tokens(rid, 0, 3, false);
	srv_final(rid, TF_PROTO_FINISH_LENGTH, 3, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_EQUAL(s.n, 3);
	tf_client_destroy(c);
	srv_drain();

	/* The same unsigned error for two transmissions: reported. */
	c = mk_client(4);
	rid = submit_text(c, &s, "wrong key", 3);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_error(rid, TF_PROTO_E_UNKNOWN_TENANT, 0, NULL);
	tf_client_wait(c, 10);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000)); /* re-sent at once to confirm */
	CU_ASSERT_EQUAL(m.flags, TF_PROTO_F_RETRANSMIT);
	srv_error(rid, TF_PROTO_E_UNKNOWN_TENANT, 0, NULL);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_PROTO_E_UNKNOWN_TENANT);
	CU_ASSERT_TRUE(s.out.unsigned_error);
	tf_client_destroy(c);
	srv_drain();
}

/* Responses with a wrong MAC or another tenant are ignored. */
static void
test_forged_responses_ignored(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m;
	struct tf_proto_key bad;
	uint8_t b[TF_PROTO_MAX_DGRAM], other[32] = { 1 };
	uint64_t rid = submit_text(c, &s, "hi", 2);

	tf_proto_key_init(&bad, TF_PROTO_MAC_HMAC_SHA256, 0, other, sizeof(other));
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_error(rid, TF_PROTO_E_QUOTA_EXHAUSTED, 0, &bad);
	m = (struct tf_proto_msg){ .type = TF_PROTO_T_FINAL };
	m.u.final.finish_reason = TF_PROTO_FINISH_STOP;
	srv_send(&m, rid, &bad);
	pump(c, &s, 30);
	CU_ASSERT_EQUAL(s.done, 0);
	srv_tokens(rid, 0, 2, false);
	srv_final(rid, TF_PROTO_FINISH_STOP, 2, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	tf_client_destroy(c);
	srv_drain();
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
srv_beacon(uint64_t rid, uint32_t count)
{
	struct tf_proto_msg m = { .type = TF_PROTO_T_TOKENS };

	m.u.tokens = (struct tf_proto_tokens){ .first_seq = count };
	srv_send(&m, rid, &g_key);
}

/*
 * Progress beacons (a request the card keeps queued) prove the card holds it:
 * they keep the request alive past its retry limit, but they do not restart the
 * timeout, which keeps doubling (40, 80, ..., 1280 ms with rto 20..320 ms: past
 * rto_max, up to beacon_max) instead of every 20 ms; new tokens restart it at 20 ms.
 * The intervals are only bounded from below (a loaded machine makes them longer).
 */
static void
test_beacons_do_not_reset_backoff(void)
{
	struct tf_client_config cfg;
	struct tf_client *c = NULL;
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	char err[256];
	uint64_t rid, t_prev, gap[7];
	int nresume = 0;

	tf_client_config_init(&cfg);
	cfg.server = g_addr;
	cfg.tenant_id = 42;
	memcpy(cfg.key, g_secret, sizeof(g_secret));
	cfg.rto_initial_ms = 20;
	cfg.rto_max_ms = 320;
	cfg.retries = 2; /* fewer than the beacon-answered RESUMEs below */
	CU_ASSERT_EQUAL_FATAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
	rid = submit_text(c, &s, "queued for long", 4);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	t_prev = mono_ms();
	/* Every datagram the client sends (REQUEST retransmit, then RESUMEs) gets a beacon. */
	while (nresume < 7 && !s.done) {
		tf_client_wait(c, 2);
		if (!srv_recv(&m, b, 0))
			continue;
		gap[nresume] = mono_ms() - t_prev;
		if (nresume == 0) {
			CU_ASSERT_EQUAL(m.type, TF_PROTO_T_REQUEST);
		} else {
			CU_ASSERT_EQUAL(m.type, TF_PROTO_T_RESUME);
			CU_ASSERT_EQUAL(m.u.resume.from_seq, 0);
		}
		nresume++;
		srv_beacon(rid, 0);
		t_prev = mono_ms();
	}
	CU_ASSERT_EQUAL_FATAL(s.done, 0); /* alive: beacons reset the retry limit */
	CU_ASSERT_EQUAL(nresume, 7);
	/*
	 * The timeout doubled each time, past rto_max (320 ms) while the card answers
	 * with beacons (up to beacon_max, 30 s): at least 3/4 of 40, 80, ..., 1280.
	 */
	CU_ASSERT(gap[1] >= 30);
	CU_ASSERT(gap[2] >= 60);
	CU_ASSERT(gap[3] >= 120);
	CU_ASSERT(gap[4] >= 240);
	CU_ASSERT(gap[5] >= 480);
	CU_ASSERT(gap[6] >= 960);
	/* New tokens: the timeout starts again at 20 ms (the RESUME then asks for index 2). */
	srv_tokens(rid, 0, 2, false);
	t_prev = mono_ms();
	while (!srv_recv(&m, b, 0))
		tf_client_wait(c, 2);
	CU_ASSERT_EQUAL(m.type, TF_PROTO_T_RESUME);
	CU_ASSERT_EQUAL(m.u.resume.from_seq, 2);
	CU_ASSERT_EQUAL(s.n, 2);
	srv_tokens(rid, 2, 2, false);
	srv_final(rid, TF_PROTO_FINISH_LENGTH, 4, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_EQUAL(s.n, 4);
	tf_client_destroy(c);
	srv_drain();
}

/*
 * A card waiting for its configuration answers BUSY unsigned (it cannot
 * authenticate the tenant yet): the client waits and sends again, as for a
 * signed BUSY, until the card knows the tenant -- not a final error after two.
 */
static void
test_unsigned_busy_retried(void)
{
	struct tf_client *c = mk_client(5);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "card restarting", 2), t0;

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	for (int i = 0; i < 3; i++) {
		srv_error(rid, TF_PROTO_E_BUSY, 30, NULL);
		t0 = mono_ms();
		while (!srv_recv(&m, b, 0) && !s.done)
			tf_client_wait(c, 2);
		CU_ASSERT_EQUAL_FATAL(s.done, 0);
		CU_ASSERT(mono_ms() - t0 >= 29); /* waited retry_after */
		CU_ASSERT_EQUAL(m.type, TF_PROTO_T_REQUEST);
		CU_ASSERT_EQUAL(m.flags, TF_PROTO_F_RETRANSMIT);
	}
	srv_tokens(rid, 0, 2, false);
	srv_final(rid, TF_PROTO_FINISH_STOP, 2, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_EQUAL(s.n, 2);
	tf_client_destroy(c);
	srv_drain();

	/* Still BUSY when the retries run out: reported as BUSY, marked unsigned. */
	c = mk_client(1);
	rid = submit_text(c, &s, "never configured", 2);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_error(rid, TF_PROTO_E_BUSY, 10, NULL);
	while (!srv_recv(&m, b, 0) && !s.done)
		tf_client_wait(c, 2);
	CU_ASSERT_EQUAL_FATAL(s.done, 0);
	CU_ASSERT_EQUAL(m.flags, TF_PROTO_F_RETRANSMIT); /* the one retry */
	srv_error(rid, TF_PROTO_E_BUSY, 10, NULL);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.out.status, TF_PROTO_E_BUSY);
	CU_ASSERT_TRUE(s.out.unsigned_error);
	tf_client_destroy(c);
	srv_drain();
}

/*
 * Thousands of requests in flight, each with its own timer: every one is
 * retransmitted exactly once and then given up on, none starves (the timer
 * heap), and finished ones leave no timer behind.
 */
static void
test_many_timers(void)
{
	enum { N = 3000 };
	static struct seen s[N];
	struct tf_client_config cfg;
	struct tf_client *c = NULL;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	char err[256];
	int req = 0, retx = 0, timeouts = 0;
	uint64_t t_end;

	tf_client_config_init(&cfg);
	cfg.server = g_addr;
	cfg.tenant_id = 42;
	memcpy(cfg.key, g_secret, sizeof(g_secret));
	cfg.rto_initial_ms = 30;
	cfg.rto_max_ms = 30;
	cfg.retries = 1;
	cfg.max_inflight = N;
	CU_ASSERT_EQUAL_FATAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
	for (int i = 0; i < N; i++) {
		/* Every third one is answered at once: its timer must go with it. */
		uint64_t rid = submit_text(c, &s[i], "t", 1);

		if (i % 3 == 0) {
			/* (whatever the stand-in reads first: earlier REQUESTs, retransmissions) */
			CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
			if (m.flags & TF_PROTO_F_RETRANSMIT)
				retx++;
			else
				req++;
			srv_tokens(rid, 0, 1, false);
			srv_final(rid, TF_PROTO_FINISH_LENGTH, 1, 0);
			tf_client_process(c);
		}
	}
	t_end = mono_ms() + 20000;
	while (tf_client_inflight(c) && mono_ms() < t_end) {
		tf_client_wait(c, 5);
		while (srv_recv(&m, b, 0)) {
			if (m.flags & TF_PROTO_F_RETRANSMIT)
				retx++;
			else
				req++;
		}
	}
	while (srv_recv(&m, b, 0))
		retx += !!(m.flags & TF_PROTO_F_RETRANSMIT);
	for (int i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(s[i].done, 1);
		if (i % 3 == 0) {
			CU_ASSERT_EQUAL(s[i].out.status, TF_CLIENT_OK);
		} else {
			timeouts += s[i].out.status == TF_CLIENT_S_TIMEOUT;
			CU_ASSERT_EQUAL(s[i].out.retransmits, 1);
		}
	}
	/* What reached the stand-in: never more (its socket may drop some of the bursts). */
	CU_ASSERT(req <= N);
	CU_ASSERT(retx <= N - (N + 2) / 3);
	CU_ASSERT_EQUAL(timeouts, N - (N + 2) / 3);
	CU_ASSERT_EQUAL(tf_client_timeout_ms(c), -1);
	CU_ASSERT_EQUAL(tf_client_next_timer_us(c), UINT64_MAX);
	tf_client_destroy(c);
	srv_drain();
}

/* Answers the kernel dropped for a full receive buffer are counted. */
static void
test_socket_drops(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "flood", 4);
	int64_t d0 = tf_client_socket_drops(c);

	CU_ASSERT_EQUAL(d0, 0);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	/* Far more than the 4 MiB receive buffer holds, while the client does not read. */
	for (int i = 0; i < 12000; i++)
		srv_tokens(rid, 0, 300, false);
	CU_ASSERT(tf_client_socket_drops(c) > 0);
	tf_client_destroy(c);
	srv_drain();
}

/*
 * A card that takes long to answer (a deep queue) teaches the client its answer
 * time: the first timeout of later requests starts at SRTT + 4 RTTVAR (at least
 * rto_initial, at most rto_max), so they are not re-sent while the card still
 * has them queued (Karn: only requests answered without retransmission count).
 */
static void
test_rto_adapts_to_answer_time(void)
{
	struct tf_client_config cfg;
	struct tf_client *c = NULL;
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	char err[256];
	uint64_t rid, t0;

	tf_client_config_init(&cfg);
	cfg.server = g_addr;
	cfg.tenant_id = 42;
	memcpy(cfg.key, g_secret, sizeof(g_secret));
	cfg.rto_initial_ms = 400;
	cfg.rto_max_ms = 2000;
	cfg.retries = 5;
	CU_ASSERT_EQUAL_FATAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
	/* The card answers the first request after 300 ms: no retransmission meanwhile. */
	rid = submit_text(c, &s, "queued", 2);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	t0 = mono_ms();
	while (mono_ms() - t0 < 300)
		tf_client_wait(c, 5);
	srv_tokens(rid, 0, 2, false);
	srv_final(rid, TF_PROTO_FINISH_STOP, 2, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL_FATAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_EQUAL(s.out.retransmits, 0);
	/* Learned ~300 ms (SRTT 300, RTTVAR 150): the next request's first timeout is 900 ms. */
	rid = submit_text(c, &s, "next", 2);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	t0 = mono_ms();
	while (!srv_recv(&m, b, 0))
		tf_client_wait(c, 5);
	CU_ASSERT_EQUAL(m.flags, TF_PROTO_F_RETRANSMIT);
	CU_ASSERT(mono_ms() - t0 >= 600); /* 3/4 of 900 (jitter), was 400 +- 25 % */
	srv_tokens(rid, 0, 2, false);
	srv_final(rid, TF_PROTO_FINISH_STOP, 2, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	tf_client_destroy(c);
	srv_drain();

	/*
	 * Backed off (RFC 6298 5.5): a first transmission that timed out doubles the
	 * next requests' first timeout until one is answered in time again -- else,
	 * every request being retransmitted, no answer would ever be a sample.
	 */
	cfg.rto_initial_ms = 60;
	CU_ASSERT_EQUAL_FATAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
	rid = submit_text(c, &s, "a", 2);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	while (!srv_recv(&m, b, 0))
		tf_client_wait(c, 2); /* its retransmission after ~60 ms */
	srv_final_tokens(rid, 0, 2, &g_key, 0);
	pump(c, &s, 1000);
	rid = submit_text(c, &s, "b", 2);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	t0 = mono_ms();
	while (!srv_recv(&m, b, 0))
		tf_client_wait(c, 2);
	CU_ASSERT(mono_ms() - t0 >= 90); /* 3/4 of 2 x 60, was 60 +- 25 % */
	srv_final_tokens(rid, 0, 2, &g_key, 0);
	pump(c, &s, 1000);
	tf_client_destroy(c);
	srv_drain();
}

/* Cancel: CANCEL is sent and the FINAL's usage reported. */
static void
test_cancel_reports_usage(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "long", 1000);

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_tokens(rid, 0, 2, false);
	pump(c, &s, 10);
	CU_ASSERT_EQUAL(tf_client_cancel(c, rid), 0);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_EQUAL(m.type, TF_PROTO_T_CANCEL);
	CU_ASSERT_EQUAL(m.request_id, rid);
	srv_final(rid, TF_PROTO_FINISH_CANCELLED, 2, 0);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.done, 1);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	CU_ASSERT_TRUE(s.out.has_final);
	CU_ASSERT_EQUAL(s.out.final.finish_reason, TF_PROTO_FINISH_CANCELLED);
	CU_ASSERT_EQUAL(tf_client_cancel(c, rid), -ENOENT);
	tf_client_destroy(c);
	srv_drain();
}

/* CUT_OFF FINAL: status is its error code, usage still there. */
static void
test_cut_off(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "q", 9);

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	srv_tokens(rid, 0, 2, false);
	srv_final(rid, TF_PROTO_FINISH_CUT_OFF, 2, TF_PROTO_E_QUOTA_EXHAUSTED);
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_PROTO_E_QUOTA_EXHAUSTED);
	CU_ASSERT_TRUE(s.out.has_final);
	CU_ASSERT_EQUAL(s.out.final.completion_tokens, 2);
	tf_client_destroy(c);
	srv_drain();
}

/* A large prompt goes out as REQUEST + fragments that reassemble exactly. */
static void
test_large_prompt_fragments(void)
{
	static uint8_t prompt[200000], got[200000];
	struct tf_client *c = mk_client(3);
	struct tf_client_request q = { .model_id = 1,
				       .max_new_tokens = 1,
				       .prompt_kind = TF_PROTO_PROMPT_TOKENS,
				       .prompt = prompt,
				       .prompt_len = sizeof(prompt),
				       .top_p = 10000 };
	struct tf_proto_reasm r;
	struct seen s = { 0 };
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid;
	int pieces = 0, quiet = 0;

	for (size_t i = 0; i < sizeof(prompt); i++)
		prompt[i] = (uint8_t)(i * 13 + 1);
	CU_ASSERT_EQUAL_FATAL(tf_client_submit(c, &q, &g_cb, &s, &rid), 0);
	tf_proto_reasm_init(&r, got, sizeof(got));
	/* Socket buffers may drop part of the burst: let the client retransmit. */
	while (!tf_proto_reasm_done(&r) && quiet < 20) {
		int rc;

		if (!srv_recv(&m, b, 20)) {
			quiet++;
			tf_client_wait(c, 30);
			continue;
		}
		CU_ASSERT(m.signed_len + TF_PROTO_MAC_LEN <= TF_PROTO_DEFAULT_DGRAM);
		if (m.type == TF_PROTO_T_REQUEST)
			rc = tf_proto_reasm_add(&r, m.u.req.prompt_total_len, 0, m.u.req.prompt,
						m.u.req.prompt_len);
		else
			rc = tf_proto_reasm_add(&r, m.u.frag.prompt_total_len, m.u.frag.offset,
						m.u.frag.data, m.u.frag.len);
		CU_ASSERT(rc == 0 || rc == 1); /* new, or a retransmitted duplicate */
		pieces += rc == 0;
	}
	CU_ASSERT_TRUE(tf_proto_reasm_done(&r));
	CU_ASSERT_EQUAL(memcmp(got, prompt, sizeof(prompt)), 0);
	/* 1280 bytes in the REQUEST, 1344 per fragment. */
	CU_ASSERT_EQUAL(pieces, 1 + (int)((sizeof(prompt) - 1280 + 1343) / 1344));
	tf_client_destroy(c);
	srv_drain();
}

/* Retransmissions start at different fragments: tail drops heal. */
static void
test_fragment_order_rotates(void)
{
	static uint8_t prompt[20000];
	struct tf_client *c = mk_client(6);
	struct tf_client_request q = { .model_id = 1,
				       .max_new_tokens = 1,
				       .prompt_kind = TF_PROTO_PROMPT_TEXT,
				       .prompt = prompt,
				       .prompt_len = sizeof(prompt),
				       .top_p = 10000 };
	struct tf_proto_reasm r;
	struct seen s = { 0 };
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid;
	int tx = 0;

	memset(prompt, 'a', sizeof(prompt));
	CU_ASSERT_EQUAL_FATAL(tf_client_submit(c, &q, &g_cb, &s, &rid), 0);
	tf_proto_reasm_init(&r, NULL, 0);
	/* The "card" keeps only the first 5 datagrams of each transmission. */
	while (!tf_proto_reasm_done(&r) && tx < 6) {
		int k = 0;

		while (srv_recv(&m, b, 200)) {
			if (k++ >= 5)
				continue;
			if (m.type == TF_PROTO_T_REQUEST)
				tf_proto_reasm_add(&r, m.u.req.prompt_total_len, 0, NULL,
						   m.u.req.prompt_len);
			else
				tf_proto_reasm_add(&r, m.u.frag.prompt_total_len, m.u.frag.offset,
						   NULL, m.u.frag.len);
		}
		tx++;
		tf_client_wait(c, 60);
	}
	CU_ASSERT_TRUE(tf_proto_reasm_done(&r));
	tf_client_destroy(c);
	srv_drain();
}

/*
 * A receiver that drops every 4th datagram, with a transmission of 8 pieces
 * (a multiple of 4): the REQUEST rotates with the fragments, so no piece is
 * lost on every retransmission.
 */
static void
test_periodic_loss_rotates_request(void)
{
	static uint8_t prompt[1280 + 6 * 1344 + 100];
	struct tf_client *c = mk_client(8);
	struct tf_client_request q = { .model_id = 1,
				       .max_new_tokens = 1,
				       .prompt_kind = TF_PROTO_PROMPT_TEXT,
				       .prompt = prompt,
				       .prompt_len = sizeof(prompt),
				       .top_p = 10000 };
	struct tf_proto_reasm r;
	struct seen s = { 0 };
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	bool have_request = false, first_is_request = false;
	uint32_t count = 0;
	uint64_t rid;
	int tx = 0;

	memset(prompt, 'b', sizeof(prompt));
	CU_ASSERT_EQUAL_FATAL(tf_client_submit(c, &q, &g_cb, &s, &rid), 0);
	tf_proto_reasm_init(&r, NULL, 0);
	while (!(have_request && tf_proto_reasm_done(&r)) && tx < 8) {
		int k = 0;

		while (srv_recv(&m, b, 200)) {
			if (tx == 0 && k == 0)
				first_is_request = m.type == TF_PROTO_T_REQUEST;
			k++;
			if (++count % 4 == 1)
				continue; /* the REQUEST's slot of the first transmission */
			if (m.type == TF_PROTO_T_REQUEST) {
				have_request = true;
				tf_proto_reasm_add(&r, m.u.req.prompt_total_len, 0, NULL,
						   m.u.req.prompt_len);
			} else {
				tf_proto_reasm_add(&r, m.u.frag.prompt_total_len, m.u.frag.offset,
						   NULL, m.u.frag.len);
			}
		}
		CU_ASSERT_EQUAL(k, 8);
		tx++;
		tf_client_wait(c, 60);
	}
	CU_ASSERT_TRUE(first_is_request);
	CU_ASSERT_TRUE(have_request);
	CU_ASSERT_TRUE(tf_proto_reasm_done(&r));
	tf_client_destroy(c);
	srv_drain();
}

/* Many requests in flight from one thread, answered out of order. */
static void
test_many_concurrent(void)
{
	enum { N = 300 };
	static struct seen s[N];
	static uint64_t rids[N];
	struct tf_client *c = mk_client(3);
	struct tf_proto_msg m;
	uint8_t b[TF_PROTO_MAX_DGRAM];
	int got = 0, done = 0;

	for (int i = 0; i < N; i++) {
		rids[i] = submit_text(c, &s[i], "p", 2);
		CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
		got += m.type == TF_PROTO_T_REQUEST && m.request_id == rids[i];
	}
	CU_ASSERT_EQUAL(tf_client_inflight(c), N);
	CU_ASSERT_EQUAL_FATAL(got, N);
	for (int i = N - 1; i >= 0; i--) {
		srv_tokens(rids[i], 0, 2, false);
		srv_final(rids[i], TF_PROTO_FINISH_LENGTH, 2, 0);
		if (i % 32 == 0)
			tf_client_process(c);
	}
	for (int t = 0; t < 2000 && tf_client_inflight(c); t++)
		tf_client_wait(c, 1);
	for (int i = 0; i < N; i++) {
		done += s[i].done == 1 && s[i].out.status == TF_CLIENT_OK && s[i].n == 2;
		CU_ASSERT_EQUAL(s[i].ids[1], 501);
	}
	CU_ASSERT_EQUAL(done, N);
	tf_client_destroy(c);
	srv_drain();
}

/* A signed REPLAY (clock off) makes the client adopt the card's clock once. */
static void
test_replay_corrects_clock(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s;
	struct tf_proto_msg m, e = { .type = TF_PROTO_T_ERROR };
	uint8_t b[TF_PROTO_MAX_DGRAM], out[TF_PROTO_MAX_DGRAM];
	uint64_t rid = submit_text(c, &s, "t", 1), card = real_us() + 3600ull * 1000000;
	int n;

	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	e.tenant_id = 42;
	e.request_id = rid;
	e.timestamp_us = card;
	e.u.err = (struct tf_proto_err){ .code = TF_PROTO_E_REPLAY, .ref_type = 1, .detail = 1 };
	n = tf_proto_encode(out, sizeof(out), &e, &g_key);
	sendto(g_srv, out, (size_t)n, 0, (struct sockaddr *)&g_peer, g_peerlen);
	while (!srv_recv(&m, b, 0))
		tf_client_wait(c, 2);
	/* Re-sent with a timestamp near the card's clock. */
	CU_ASSERT(m.timestamp_us > card - 10 * 1000000ull);
	CU_ASSERT_EQUAL(tf_proto_check_time(m.timestamp_us, card, TF_PROTO_REPLAY_WINDOW_US), 0);
	srv_error(rid, TF_PROTO_E_REPLAY, 0, &g_key); /* again: now reported */
	pump(c, &s, 1000);
	CU_ASSERT_EQUAL(s.out.status, TF_PROTO_E_REPLAY);
	tf_client_destroy(c);
	srv_drain();
}

static void
test_ping(void)
{
	struct tf_client *c = mk_client(3);
	struct seen s = { 0 };
	struct tf_proto_msg m, p = { .type = TF_PROTO_T_PONG };
	uint8_t b[TF_PROTO_MAX_DGRAM];
	uint64_t rid;

	CU_ASSERT_EQUAL_FATAL(tf_client_ping(c, &g_cb, &s, &rid), 0);
	CU_ASSERT_FATAL(srv_recv(&m, b, 1000));
	CU_ASSERT_EQUAL(m.type, TF_PROTO_T_PING);
	/* A PONG with the wrong echo is ignored. */
	p.u.pong = (struct tf_proto_pong){
		.echo = m.u.ping.echo + 1, .min_version = 1, .max_version = 1, .max_dgram = 1472
	};
	srv_send(&p, rid, &g_key);
	pump(c, &s, 20);
	CU_ASSERT_FALSE(s.pong);
	p.u.pong.echo = m.u.ping.echo;
	srv_send(&p, rid, &g_key);
	pump(c, &s, 1000);
	CU_ASSERT_TRUE(s.pong);
	CU_ASSERT_EQUAL(s.out.status, TF_CLIENT_OK);
	tf_client_destroy(c);
	srv_drain();
}

static void
test_submit_validation(void)
{
	struct tf_client *c = mk_client(3);
	struct tf_client_request q = { .model_id = 1,
				       .max_new_tokens = 1,
				       .prompt_kind = TF_PROTO_PROMPT_TOKENS,
				       .prompt = "abc",
				       .prompt_len = 3,
				       .top_p = 10000 };

	CU_ASSERT_EQUAL(tf_client_submit(c, &q, &g_cb, NULL, NULL), -EINVAL); /* not 4n */
	q.prompt_kind = TF_PROTO_PROMPT_TEXT;
	q.top_p = 0;
	CU_ASSERT_EQUAL(tf_client_submit(c, &q, &g_cb, NULL, NULL), -EINVAL);
	q.top_p = 10000;
	q.priority = 8;
	CU_ASSERT_EQUAL(tf_client_submit(c, &q, &g_cb, NULL, NULL), -EINVAL);
	q.priority = 0;
	q.prompt_len = TF_PROTO_MAX_PROMPT + 1;
	CU_ASSERT_EQUAL(tf_client_submit(c, &q, &g_cb, NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(tf_client_inflight(c), 0);
	tf_client_destroy(c);
	srv_drain();
}

static void
test_addresses(void)
{
	static const char *bad[] = { "",     "host:",  "host:0", "host:65536", "host:12x",
				     "[::1", "[::1]x", "::1:80", ":80" };
	struct tf_client_config cfg;
	struct tf_client *c;
	char err[256];

	tf_client_config_init(&cfg);
	cfg.key[0] = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.server = bad[i];
		err[0] = '\0';
		CU_ASSERT_NOT_EQUAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
		CU_ASSERT(strlen(err) > 10);
	}
	cfg.server = "no-such-host.invalid";
	CU_ASSERT_NOT_EQUAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot resolve"));
	cfg.server = "[::1]:7480";
	if (tf_client_create(&cfg, &c, err, sizeof(err)) == 0)
		tf_client_destroy(c);
	cfg.server = "127.0.0.1";
	CU_ASSERT_EQUAL(tf_client_create(&cfg, &c, err, sizeof(err)), 0);
	tf_client_destroy(c);
	cfg.max_dgram = 100;
	CU_ASSERT_EQUAL(tf_client_create(&cfg, &c, err, sizeof(err)), -EINVAL);
}

static void
write_file(const char *path, const char *s, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(s, f);
	fclose(f);
	chmod(path, mode);
}

static void
test_key_files(void)
{
	char path[] = "/tmp/tf-client-ut-key.XXXXXX";
	uint8_t key[TF_PROTO_KEY_LEN];
	bool world;
	char err[256];
	int fd = mkstemp(path);
	static const char *bad[] = {
		"",
		"# only a comment\n",
		"00010203\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fff\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
	};

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	write_file(path,
		   "# tenant 42\n\n  "
		   "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f  \n",
		   0600);
	CU_ASSERT_EQUAL(tf_client_load_key(path, key, &world, err, sizeof(err)), 0);
	CU_ASSERT_FALSE(world);
	for (int i = 0; i < TF_PROTO_KEY_LEN; i++)
		CU_ASSERT_EQUAL(key[i], i);
	chmod(path, 0644);
	CU_ASSERT_EQUAL(tf_client_load_key(path, key, &world, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(world);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], 0600);
		err[0] = '\0';
		CU_ASSERT_EQUAL(tf_client_load_key(path, key, NULL, err, sizeof(err)), -EINVAL);
		CU_ASSERT(strlen(err) > 10);
	}
	unlink(path);
	CU_ASSERT_EQUAL(tf_client_load_key(path, key, NULL, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open key file"));
}

static const struct tf_cunit_test client_tests[] = {
	TF_TEST(test_stream_in_order),
	TF_TEST(test_gap_duplicate_and_early_final_resume),
	TF_TEST(test_final_with_tokens),
	TF_TEST(test_final_tokens_fallback),
	TF_TEST(test_siphash_client),
	TF_TEST(test_retransmit_then_timeout),
	TF_TEST(test_busy_retry_after_same_id),
	TF_TEST(test_signed_error_reported),
	TF_TEST(test_unsigned_error_needs_confirmation),
	TF_TEST(test_forged_responses_ignored),
	TF_TEST(test_cancel_reports_usage),
	TF_TEST(test_cut_off),
	TF_TEST(test_large_prompt_fragments),
	TF_TEST(test_fragment_order_rotates),
	TF_TEST(test_periodic_loss_rotates_request),
	TF_TEST(test_many_concurrent),
	TF_TEST(test_beacons_do_not_reset_backoff),
	TF_TEST(test_unsigned_busy_retried),
	TF_TEST(test_many_timers),
	TF_TEST(test_socket_drops),
	TF_TEST(test_rto_adapts_to_answer_time),
	TF_TEST(test_replay_corrects_clock),
	TF_TEST(test_ping),
	TF_TEST(test_submit_validation),
	TF_TESTS_END,
};

static const struct tf_cunit_test file_tests[] = {
	TF_TEST(test_addresses),
	TF_TEST(test_key_files),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "client", suite_init, suite_fini, client_tests },
	      { "keyfile+addr", NULL, NULL, file_tests })
