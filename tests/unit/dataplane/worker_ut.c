/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the per-lcore pipeline (dataplane/worker.c, request.c,
 * dispatch.c, respond.c, usage.c, tables.c, ctl.c) on plain buffers: frames
 * are malloc'd, the environment is a fake struct tf_dp_io_ops that records
 * what the worker sends, and the accelerator is a stand-in on the real shm
 * transport in this thread that returns a fixed token sequence (this file
 * only: no user path runs it).
 */
#include "dataplane/ctl.h"
#include "dataplane/hostwait.h"
#include "dataplane/tenants.h"
#include "dataplane/worker.h"
#include "dataplane/worker_int.h" /* the accelerator connection (peer timeout) */
#include "dataplane/xport/xport.h"
#include "tf_cunit.h"
#include "tokfab/proto.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the fake environment ---- */

#define MAX_TX 8192

struct txframe {
	uint8_t *buf;
	uint32_t len;
	uint16_t port;
};

static struct txframe g_tx[MAX_TX];
static unsigned int g_ntx, g_txpos;
static long g_live; /* frames allocated and not yet freed */
static struct {
	unsigned int to;
	void *cookie;
} g_ho[64];
static unsigned int g_nho;
static struct tf_usage_record g_usage[4096];
static unsigned int g_nusage;
static struct tf_usage_agg g_aggs[4096];
static unsigned int g_naggs;
static int g_usage_full;

static uint8_t *
io_tx_alloc(void *io, uint16_t port, uint32_t len, void **cookie)
{
	uint8_t *b = malloc(len);

	(void)io;
	(void)port;
	if (b)
		g_live++;
	*cookie = b;
	return b;
}

static void
io_tx_send(void *io, uint16_t port, void *cookie, uint32_t len)
{
	(void)io;
	if (g_ntx == MAX_TX) {
		free(cookie);
		g_live--;
		return;
	}
	g_tx[g_ntx++] = (struct txframe){ cookie, len, port };
}

static void
io_rx_free(void *io, void *cookie)
{
	(void)io;
	free(cookie);
	g_live--;
}

static int
io_handoff(void *io, unsigned int to, uint16_t port, void *cookie, const uint8_t *f, uint32_t len)
{
	(void)io;
	(void)port;
	(void)f;
	(void)len;
	if (g_nho == 64)
		return -ENOBUFS;
	g_ho[g_nho].to = to;
	g_ho[g_nho++].cookie = cookie;
	return 0;
}

static int
io_usage_emit(void *io, const struct tf_dp_usage_ev *ev)
{
	(void)io;
	if (g_usage_full || g_nusage == 4096)
		return -EAGAIN;
	if (ev->type == TF_EQ_USAGE_AGG) {
		g_aggs[g_naggs++ % 4096] = ev->u.agg;
		return 0;
	}
	g_usage[g_nusage++] = ev->u.rec;
	return 0;
}

static const struct tf_dp_io_ops fake_io = {
	.tx_alloc = io_tx_alloc,
	.tx_send = io_tx_send,
	.rx_send = io_tx_send,
	.rx_free = io_rx_free,
	.handoff = io_handoff,
	.usage_emit = io_usage_emit,
};

/* ---- addresses and keys ---- */

static const uint8_t CARD_MAC[6] = { 0x02, 0xca, 0, 0, 0, 1 };
static const uint8_t CLI_MAC[6] = { 0x02, 0xc1, 0, 0, 0, 2 };
static struct tf_pkt_addr g_card, g_cli;
static struct tf_proto_key g_key; /* tenant 42, key 0 */
static struct tf_proto_key g_bad; /* a wrong key */
static struct tf_proto_key g_key5; /* the right secret under a key id the card does not know */
static uint8_t g_secret[32];
static char g_dir[] = "/tmp/tf-dp-worker-ut.XXXXXX";
static int g_accel_seq;

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
suite_init(void)
{
	uint8_t bad[32];

	if (!mkdtemp(g_dir))
		return 1;
	setenv("TOKFAB_SHM_DIR", g_dir, 1);
	for (int i = 0; i < 32; i++) {
		g_secret[i] = (uint8_t)i;
		bad[i] = (uint8_t)(i + 1);
	}
	tf_proto_key_init(&g_key, TF_PROTO_MAC_HMAC_SHA256, 0, g_secret, 32);
	tf_proto_key_init(&g_bad, TF_PROTO_MAC_HMAC_SHA256, 0, bad, 32);
	tf_proto_key_init(&g_key5, TF_PROTO_MAC_HMAC_SHA256, 5, g_secret, 32);
	memcpy(g_card.mac, CARD_MAC, 6);
	g_card.ip = inet_addr("10.9.0.1");
	g_card.udp_port = htons(TF_PROTO_PORT);
	g_card.check_udp_csum = 1;
	memcpy(g_cli.mac, CLI_MAC, 6);
	g_cli.ip = inet_addr("10.9.0.2");
	g_cli.udp_port = htons(40000);
	g_cli.check_udp_csum = 1;
	return 0;
}

static int
suite_fini(void)
{
	rmdir(g_dir);
	return 0;
}

/* ---- the accelerator stand-in (shm transport, this thread) ---- */

enum standin_mode {
	SI_NORMAL = 0, /* every request: ntok tokens, then END */
	SI_ERROR_RETRY, /* every request: a retryable error */
	SI_SLOW, /* one token per poll, END after ntok */
	SI_STALL, /* ntok tokens, then nothing (CANCEL ignored) until release: one more and END */
};

struct si_req {
	uint64_t handle;
	uint32_t max_new;
	uint32_t produced;
	uint32_t prompt_bytes;
	int cancelled;
	int used;
};

struct standin {
	char name[32];
	struct tf_xport_ctx *ctx;
	struct tf_xport_listener *l;
	struct tf_xport *x;
	enum standin_mode mode;
	uint32_t ntok;
	uint32_t requests; /* REQUEST events seen */
	uint32_t cancels; /* CANCEL events seen */
	int release; /* SI_STALL: finish now */
	uint8_t last_prompt[4096];
	uint32_t last_prompt_len;
	struct si_req r[512];
	uint64_t next_status;
};

/* max_inflight: request credits the stand-in's transport grants (0: the default). */
static void
standin_start_credits(struct standin *s, enum standin_mode mode, uint32_t ntok,
		      uint32_t max_inflight)
{
	char uri[64];

	memset(s, 0, sizeof(s[0]));
	snprintf(s->name, sizeof(s->name), "wut%d-%d", (int)getpid(), g_accel_seq++);
	snprintf(uri, sizeof(uri), "shm:%s", s->name);
	s->mode = mode;
	s->ntok = ntok;
	CU_ASSERT_EQUAL_FATAL(tf_xport_ctx_create(&s->ctx), 0);
	CU_ASSERT_EQUAL_FATAL(tf_xport_listen(s->ctx,
					      &(struct tf_xport_listen_cfg){
						      .uri = uri, .max_inflight = max_inflight },
					      &s->l),
			      0);
}

static void
standin_start(struct standin *s, enum standin_mode mode, uint32_t ntok)
{
	standin_start_credits(s, mode, ntok, 0);
}

static void
standin_stop(struct standin *s)
{
	if (s->x)
		tf_xport_disconnect(s->x);
	tf_xport_listener_close(s->l);
	tf_xport_ctx_destroy(s->ctx);
}

/* The token a stand-in produces at index i of a request: checkable by the test. */
static uint32_t
si_token(uint32_t i)
{
	return 100 + i;
}

static void
standin_poll(struct standin *s)
{
	struct tf_xport_event ev[64];
	int n;

	if (!s->x && tf_xport_accept(s->l, &s->x) != 0)
		return;
	if (mono_us() >= s->next_status) {
		struct tf_accel_status st = { .flags = TF_ACCEL_ST_HEALTHY,
					      .max_inflight = 256,
					      .nmodels = 1,
					      .heartbeat_ms = (uint32_t)(mono_us() / 1000) };

		st.models[0].model_id = 7;
		tf_xport_status_publish(s->x, &st);
		s->next_status = mono_us() + 20000;
	}
	n = tf_xport_poll(s->x, ev, 64);
	for (int i = 0; i < n; i++) {
		if (ev[i].type == TF_XPORT_EV_REQUEST) {
			const struct tf_accel_req *h = ev[i].u.request.hdr;

			s->requests++;
			s->last_prompt_len = h->prompt_bytes < sizeof(s->last_prompt)
						     ? h->prompt_bytes
						     : sizeof(s->last_prompt);
			memcpy(s->last_prompt, ev[i].u.request.prompt, s->last_prompt_len);
			if (s->mode == SI_ERROR_RETRY) {
				tf_xport_resp_error(s->x, h->handle, TF_ACCEL_ERR_SHUTDOWN, 1,
						    "stand-in refuses");
				continue;
			}
			for (int k = 0; k < 512; k++) {
				if (!s->r[k].used) {
					s->r[k] =
						(struct si_req){ .handle = h->handle,
								 .max_new =
									 h->sampling.max_new_tokens,
								 .prompt_bytes = h->prompt_bytes,
								 .used = 1 };
					break;
				}
			}
		} else if (ev[i].type == TF_XPORT_EV_CANCEL) {
			s->cancels++;
			if (s->mode == SI_STALL)
				continue; /* stuck: it does not even stop */
			for (int k = 0; k < 512; k++)
				if (s->r[k].used && s->r[k].handle == ev[i].handle)
					s->r[k].cancelled = 1;
		}
	}
	if (n > 0)
		tf_xport_credits_return(s->x);
	for (int k = 0; k < 512; k++) {
		struct si_req *q = &s->r[k];
		uint32_t want = q->max_new < s->ntok ? q->max_new : s->ntok;

		if (!q->used)
			continue;
		if (s->mode == SI_STALL && s->release)
			want = q->produced + 1 <= q->max_new ? q->produced + 1 : q->max_new;
		while (!q->cancelled && q->produced < want) {
			struct tf_accel_tok t = { .id = si_token(q->produced), .text_len = 1 };
			char c = (char)('a' + q->produced % 26);

			if (tf_xport_resp_tokens(s->x, q->handle, q->produced, &t, 1, &c, 1) != 0)
				break;
			q->produced++;
			if (s->mode == SI_SLOW)
				break;
		}
		if (s->mode == SI_STALL && !s->release)
			continue;
		if (q->cancelled || q->produced == want) {
			struct tf_accel_usage u = {
				.prompt_tokens = q->prompt_bytes / 4,
				.completion_tokens = q->produced,
				.reason = q->cancelled		      ? TF_ACCEL_FINISH_CANCELLED
					  : q->produced == q->max_new ? TF_ACCEL_FINISH_MAX_TOKENS
								      : TF_ACCEL_FINISH_EOS,
			};

			if (tf_xport_resp_end(s->x, q->handle, &u) == 0)
				q->used = 0;
		}
	}
	tf_xport_resp_flush(s->x);
}

/* ---- the worker under test ---- */

static struct tf_dp_worker *
mkworker(unsigned int id, unsigned int nworkers, void (*tune)(struct tf_dp_limits *))
{
	struct tf_dp_worker_params p = { .id = id, .nworkers = nworkers, .io_ops = &fake_io };
	struct tf_dp_worker *w = NULL;

	p.me = g_card;
	tf_dp_limits_default(&p.limits);
	p.limits.max_requests = 256;
	p.limits.max_queue = 128;
	p.limits.id_table = 1024;
	p.limits.cache_entries = 64;
	p.limits.token_buffer_bytes = 1 << 20;
	p.limits.reasm_timeout_ms = 50;
	if (tune)
		tune(&p.limits);
	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_create(&p, &w), 0);
	tf_dp_worker_set_time(w, mono_us(), wall_us());
	g_ntx = g_txpos = 0;
	g_nho = 0;
	g_nusage = 0;
	g_naggs = 0;
	g_usage_full = 0;
	return w;
}

static void
free_tx(void)
{
	for (unsigned int i = 0; i < g_ntx; i++) {
		free(g_tx[i].buf);
		g_live--;
	}
	g_ntx = g_txpos = 0;
}

static void
rmworker(struct tf_dp_worker *w)
{
	tf_dp_worker_destroy(w);
	free_tx();
	for (unsigned int i = 0; i < g_nho; i++) {
		free(g_ho[i].cookie);
		g_live--;
	}
	g_nho = 0;
	CU_ASSERT_EQUAL(g_live, 0); /* every frame the worker held was released */
}

static void
add_model(struct tf_dp_worker *w, uint32_t id, uint32_t max_new)
{
	struct tf_aq_set_model m = { .model_id = id,
				     .max_prompt_tokens = 1024,
				     .max_new_tokens = max_new };
	uint32_t d;

	strcpy(m.name, "m");
	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_set_model(w, &m, &d), TF_AQ_S_OK);
}

static void
add_accel(struct tf_dp_worker *w, uint32_t id, const struct standin *s, uint32_t model)
{
	struct tf_aq_set_accel a = { .accel_id = id,
				     .transport = TF_TRANSPORT_SHM,
				     .weight = 100,
				     .max_outstanding = 256,
				     .n_models = 1 };
	uint32_t d;

	a.models[0] = model;
	snprintf(a.address, sizeof(a.address), "%s", s->name);
	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_set_accel(w, &a, &d), TF_AQ_S_OK);
}

static void
add_tenant(struct tf_dp_worker *w, uint32_t id, int64_t budget, uint64_t price, uint32_t rate_rps)
{
	struct tf_aq_set_tenant t = { .tenant_id = id,
				      .key_len = 32,
				      .priority = 7,
				      .rate_rps = rate_rps,
				      .burst_requests = rate_rps };
	struct tf_aq_tenant_info info;
	uint32_t d;

	strcpy(t.name, "t");
	memcpy(t.key, g_secret, 32);
	if (budget < 0)
		t.flags = TF_TENANT_F_UNLIMITED;
	else
		t.budget_micro = (uint64_t)budget;
	if (price) {
		t.n_prices = 1;
		t.prices[0].model_id = 7;
		t.prices[0].price_per_1k_micro = price;
	}
	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_set_tenant(w, &t, &info, &d), TF_AQ_S_OK);
}

static void
set_batching(struct tf_dp_worker *w, uint32_t max_batch, uint32_t delay_us)
{
	struct tf_aq_set_batching b = { .max_batch = max_batch,
					.max_batch_bytes = 1 << 20,
					.max_queue_delay_us = delay_us };
	uint32_t d;

	CU_ASSERT_EQUAL(tf_dp_worker_set_batching(w, &b, &d), TF_AQ_S_OK);
}

/* Sends one datagram from the client (signed with k, or unsigned when k is NULL). */
static void
send_raw(struct tf_dp_worker *w, const uint8_t *dgram, uint32_t n)
{
	struct tf_pkt_peer card = { .ip = g_card.ip, .port = g_card.udp_port };
	uint8_t *f = malloc(2048);

	memcpy(card.mac, CARD_MAC, 6);
	memcpy(f + 42, dgram, n);
	tf_pkt_udp_build(f, &g_cli, &card, (uint16_t)n, 1, 1);
	g_live++;
	tf_dp_worker_set_time(w, mono_us(), wall_us());
	tf_dp_worker_rx(w, 0, f, f, 42 + n);
}

static void
send_msg(struct tf_dp_worker *w, struct tf_proto_msg *m, const struct tf_proto_key *k)
{
	uint8_t d[TF_PROTO_MAX_DGRAM];
	int n;

	m->version = TF_PROTO_VERSION;
	if (!m->timestamp_us)
		m->timestamp_us = wall_us();
	n = tf_proto_encode(d, sizeof(d), m, k);
	CU_ASSERT_FATAL(n > 0);
	send_raw(w, d, (uint32_t)n);
}

static void
send_request(struct tf_dp_worker *w, uint32_t tenant, uint64_t rid, const uint32_t *ids,
	     uint32_t nids, uint32_t max_new, uint8_t flags)
{
	struct tf_proto_msg m = {
		.type = TF_PROTO_T_REQUEST, .tenant_id = tenant, .request_id = rid, .flags = flags
	};
	uint8_t prompt[1024];

	for (uint32_t i = 0; i < nids; i++)
		tf_proto_st32(prompt + 4 * i, ids[i]);
	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = max_new,
					     .prompt_total_len = 4 * nids,
					     .prompt_kind = TF_PROTO_PROMPT_TOKENS,
					     .priority = 3,
					     .top_p = 10000,
					     .seed = rid,
					     .prompt = prompt,
					     .prompt_len = 4 * nids };
	send_msg(w, &m, &g_key);
}

/* Runs the worker and the stand-ins until cond() or ~1 s. */
static void
run(struct tf_dp_worker *w, struct standin *a, struct standin *b, int (*cond)(void),
    unsigned int max_ms)
{
	uint64_t end = mono_us() + (uint64_t)(max_ms ? max_ms : 1000) * 1000;

	while (mono_us() < end) {
		tf_dp_worker_set_time(w, mono_us(), wall_us());
		tf_dp_worker_poll(w);
		if (a)
			standin_poll(a);
		if (b)
			standin_poll(b);
		if (cond && cond())
			return;
		usleep(100);
	}
}

/* Runs until every accelerator the worker knows is UP (at most 3 s). */
static struct tf_dp_worker *g_up_w;

static int
all_up(void)
{
	struct tf_dp_obj_stats st;
	uint32_t id;

	for (unsigned int i = 0; tf_dp_worker_accel_stats(g_up_w, i, &id, &st) == 0; i++)
		if (id && st.state != TF_HS_UP)
			return 0;
	return 1;
}

static void
connect_wait(struct tf_dp_worker *w, struct standin *a, struct standin *b)
{
	g_up_w = w;
	run(w, a, b, all_up, 3000);
	CU_ASSERT_FATAL(all_up());
}

/* ---- reading what the card sent ---- */

struct resp {
	struct tf_proto_msg m;
	uint8_t buf[TF_PROTO_MAX_DGRAM];
	int signed_ok; /* MAC verified with g_key */
};

/* Decodes sent frame i as the client would; 0 on success. */
static int
decode_tx(unsigned int i, struct resp *r)
{
	struct tf_pkt_info info;
	enum tf_dp_drop why;

	memset(r, 0, sizeof(*r));
	if (tf_pkt_parse(g_tx[i].buf, g_tx[i].len, &g_cli, &info, &why) != TF_PKT_UDP)
		return -1;
	memcpy(r->buf, g_tx[i].buf + info.payload_off, info.payload_len);
	if (tf_proto_decode(r->buf, info.payload_len, &r->m) < 0)
		return -2;
	r->signed_ok = r->m.mac_alg ? tf_proto_verify(&g_key, &r->m) == 0 : 0;
	return 0;
}

/* Next unread response, or -1. */
static int
next_resp(struct resp *r)
{
	while (g_txpos < g_ntx)
		if (decode_tx(g_txpos++, r) == 0)
			return 0;
	return -1;
}

/* Finds the next response of type for rid (skipping others); 0 or -1. */
static int
find_resp(uint8_t type, uint64_t rid, struct resp *r)
{
	while (next_resp(r) == 0)
		if (r->m.type == type && r->m.request_id == rid)
			return 0;
	return -1;
}

static unsigned int g_want_finals;

static int
finals_seen(void)
{
	unsigned int n = 0;
	struct resp r;

	for (unsigned int i = 0; i < g_ntx; i++)
		if (decode_tx(i, &r) == 0 && r.m.type == TF_PROTO_T_FINAL)
			n++;
	return n >= g_want_finals;
}

/* ---- tests ---- */

static void
test_arp_icmp_ping(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	uint8_t *f = calloc(1, 128);
	struct tf_proto_msg m = { .type = TF_PROTO_T_PING, .tenant_id = 42, .request_id = 9 };
	struct resp r;

	tf_dp_worker_set_port_mac(w, 0, CARD_MAC);
	add_tenant(w, 42, -1, 0, 0);
	/* ARP who-has 10.9.0.1 */
	memset(f, 0xff, 6);
	memcpy(f + 6, CLI_MAC, 6);
	f[12] = 0x08, f[13] = 0x06, f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4, f[21] = 1;
	memcpy(f + 22, CLI_MAC, 6);
	memcpy(f + 28, &g_cli.ip, 4);
	memcpy(f + 38, &g_card.ip, 4);
	g_live++;
	tf_dp_worker_rx(w, 0, f, f, 60);
	CU_ASSERT_EQUAL_FATAL(g_ntx, 1);
	CU_ASSERT_EQUAL(g_tx[0].buf[21], 2);
	CU_ASSERT(memcmp(g_tx[0].buf + 22, CARD_MAC, 6) == 0);
	free_tx();
	/* PING -> PONG, signed, same echo */
	m.u.ping.echo = 0x1122334455667788ull;
	send_msg(w, &m, &g_key);
	CU_ASSERT_EQUAL_FATAL(next_resp(&r), 0);
	CU_ASSERT_EQUAL(r.m.type, TF_PROTO_T_PONG);
	CU_ASSERT(r.signed_ok);
	CU_ASSERT_EQUAL(r.m.u.pong.echo, 0x1122334455667788ull);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_ARP_REPLIES], 1);
	rmworker(w);
}

static void
test_request_streams_tokens_then_final(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t prompt[] = { 1, 15043, 29892 };
	struct standin a;
	struct resp r;
	uint32_t next = 0;

	standin_start(&a, SI_NORMAL, 100);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, 1000000, 2000, 0);
	set_batching(w, 4, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 0xabc, prompt, 3, 5, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 0);
	while (next_resp(&r) == 0 && r.m.type == TF_PROTO_T_TOKENS) {
		CU_ASSERT(r.signed_ok);
		CU_ASSERT_EQUAL(r.m.request_id, 0xabc);
		CU_ASSERT_EQUAL(r.m.u.tokens.first_seq, next);
		for (uint32_t i = 0; i < r.m.u.tokens.n_tokens; i++)
			CU_ASSERT_EQUAL(tf_proto_token_id(&r.m.u.tokens, i), si_token(next + i));
		next += r.m.u.tokens.n_tokens;
	}
	CU_ASSERT_EQUAL(next, 5);
	CU_ASSERT_EQUAL_FATAL(r.m.type, TF_PROTO_T_FINAL);
	CU_ASSERT(r.signed_ok);
	CU_ASSERT_EQUAL(r.m.u.final.finish_reason, TF_PROTO_FINISH_LENGTH);
	CU_ASSERT_EQUAL(r.m.u.final.completion_tokens, 5);
	CU_ASSERT_EQUAL(r.m.u.final.prompt_tokens, 3);
	CU_ASSERT_EQUAL(r.m.u.final.accel_id, 1);
	CU_ASSERT_EQUAL(r.m.u.final.cost_micro, (8 * 2000 + 500) / 1000); /* 16 */
	/* The prompt reached the accelerator byte for byte (zero copy from the frame). */
	CU_ASSERT_EQUAL(a.last_prompt_len, 12);
	CU_ASSERT_EQUAL(tf_proto_ld32(a.last_prompt + 4), 15043);
	/* One usage record with the same figures. */
	CU_ASSERT_EQUAL_FATAL(g_nusage, 1);
	CU_ASSERT_EQUAL(g_usage[0].request_id, 0xabc);
	CU_ASSERT_EQUAL(g_usage[0].tenant_id, 42);
	CU_ASSERT_EQUAL(g_usage[0].model_id, 7);
	CU_ASSERT_EQUAL(g_usage[0].accel_id, 1);
	CU_ASSERT_EQUAL(g_usage[0].outcome, TF_USAGE_OK);
	CU_ASSERT_EQUAL(g_usage[0].prompt_tokens, 3);
	CU_ASSERT_EQUAL(g_usage[0].completion_tokens, 5);
	CU_ASSERT_EQUAL(g_usage[0].cost_micro, 16);
	CU_ASSERT(g_usage[0].end_time_ns != 0);
	rmworker(w);
	standin_stop(&a);
}

static void
expect_error(uint64_t rid, uint16_t code, int is_signed, uint32_t detail)
{
	struct resp r;

	if (find_resp(TF_PROTO_T_ERROR, rid, &r) != 0)
		fprintf(stderr, "\n  no ERROR for request id %llu (expected code %u)\n",
			(unsigned long long)rid, code);
	g_txpos = 0;
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_ERROR, rid, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.err.code, code);
	CU_ASSERT_EQUAL(r.signed_ok, is_signed);
	CU_ASSERT_EQUAL(r.m.mac_alg != 0, is_signed);
	if (detail != UINT32_MAX)
		CU_ASSERT_EQUAL(r.m.u.err.detail, detail);
}

static void
test_every_error_class(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 5 };
	struct tf_proto_msg m = { .type = TF_PROTO_T_PING, .tenant_id = 42, .request_id = 1 };
	uint8_t d[TF_PROTO_MAX_DGRAM];
	const struct tf_dp_counters *c = tf_dp_worker_counters(w);
	struct standin a;
	int n;

	standin_start(&a, SI_NORMAL, 4);
	add_model(w, 7, 16);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	connect_wait(w, &a, NULL);
	/* unknown tenant: unsigned */
	m.tenant_id = 99;
	send_msg(w, &m, &g_key);
	expect_error(1, TF_PROTO_E_UNKNOWN_TENANT, 0, 0);
	/* wrong key: unsigned BAD_MAC */
	m.tenant_id = 42;
	m.request_id = 2;
	send_msg(w, &m, &g_bad);
	expect_error(2, TF_PROTO_E_BAD_MAC, 0, 0);
	/* unknown key id */
	m.request_id = 3;
	send_msg(w, &m, &g_key5);
	expect_error(3, TF_PROTO_E_BAD_MAC, 0, 0);
	/* stale timestamp: signed REPLAY detail 1 */
	m.request_id = 4;
	m.timestamp_us = wall_us() - 60ull * 1000000;
	send_msg(w, &m, &g_key);
	expect_error(4, TF_PROTO_E_REPLAY, 1, 1);
	m.timestamp_us = 0;
	/* unsupported version: unsigned, detail = highest spoken */
	m.request_id = 5;
	n = tf_proto_encode(d, sizeof(d),
			    &(struct tf_proto_msg){ .version = 1,
						    .type = TF_PROTO_T_PING,
						    .tenant_id = 42,
						    .request_id = 5,
						    .timestamp_us = wall_us() },
			    &g_key);
	d[4] = 9;
	send_raw(w, d, (uint32_t)n);
	expect_error(5, TF_PROTO_E_UNSUPPORTED_VERSION, 0, TF_PROTO_VERSION);
	/* reserved byte set in the body (signed, so the card can sign its answer) */
	n = tf_proto_encode(d, sizeof(d),
			    &(struct tf_proto_msg){ .version = 1,
						    .type = TF_PROTO_T_PING,
						    .tenant_id = 42,
						    .request_id = 6,
						    .timestamp_us = wall_us(),
						    .u.ping.echo = 1 },
			    &g_key);
	d[32 + 8] = 1;
	tf_proto_mac(&g_key, d, (size_t)n - TF_PROTO_MAC_LEN, d + n - TF_PROTO_MAC_LEN);
	send_raw(w, d, (uint32_t)n);
	expect_error(6, TF_PROTO_E_MALFORMED, 1, (uint32_t)TF_PROTO_R_RESERVED << 16 | 40);
	/* unknown model, too many new tokens */
	m.type = TF_PROTO_T_REQUEST;
	m.request_id = 7;
	m.u.req = (struct tf_proto_request){ .model_id = 8,
					     .max_new_tokens = 4,
					     .prompt_total_len = 4,
					     .top_p = 10000,
					     .prompt = (const uint8_t *)p,
					     .prompt_len = 4 };
	send_msg(w, &m, &g_key);
	expect_error(7, TF_PROTO_E_UNKNOWN_MODEL, 1, 8);
	m.request_id = 8;
	m.u.req.model_id = 7;
	m.u.req.max_new_tokens = 17;
	send_msg(w, &m, &g_key);
	expect_error(8, TF_PROTO_E_TOO_LARGE, 1, 16);
	/* CANCEL / RESUME of an unknown id */
	m.type = TF_PROTO_T_CANCEL;
	m.request_id = 9;
	send_msg(w, &m, &g_key);
	expect_error(9, TF_PROTO_E_UNKNOWN_REQUEST, 1, 0);
	/* a datagram too short for an unsigned ERROR gets no answer at all */
	free_tx();
	send_raw(w, d, 40);
	CU_ASSERT_EQUAL(g_ntx, 0);
	/* a response type sent to the card is dropped and counted */
	n = tf_proto_encode(
		d, sizeof(d),
		&(struct tf_proto_msg){
			.version = 1,
			.type = TF_PROTO_T_PONG,
			.tenant_id = 42,
			.request_id = 10,
			.timestamp_us = wall_us(),
			.u.pong = { .min_version = 1, .max_version = 1, .max_dgram = 1472 } },
		&g_key);
	CU_ASSERT_FATAL(n > 0);
	send_raw(w, d, (uint32_t)n);
	CU_ASSERT_EQUAL(g_ntx, 0);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_PROTO_TYPE], 1);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_TENANT], 1);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_MAC], 2);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_REPLAY], 1);
	CU_ASSERT_EQUAL(c->proto[TF_PROTO_R_RESERVED], 1);
	/* Nothing was admitted, nothing is billed. */
	CU_ASSERT_EQUAL(c->ev[TF_EV_REQ_ADMITTED], 0);
	CU_ASSERT_EQUAL(g_nusage, 0);
	rmworker(w);
	standin_stop(&a);
}

/* Budget 100 micro, price 10/1k tokens per... : each request reserves cost(prompt+max_new). */
static void
test_quota_reserved_refunded_exactly(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }; /* 10 prompt tokens */
	struct tf_aq_tenant_info info;
	struct standin a;
	uint32_t d;
	struct resp r;
	unsigned int ok = 0, quota = 0;
	uint64_t billed = 0;

	standin_start(&a, SI_NORMAL, 30); /* each request stops after 30 of its 90 */
	add_model(w, 7, 1000);
	add_accel(w, 1, &a, 7);
	/* price 1000 micro per 1k tokens = 1 micro per token; reservation = 10 + 90 = 100 */
	add_tenant(w, 42, 350, 1000, 0);
	set_batching(w, 16, 0);
	connect_wait(w, &a, NULL);
	for (uint64_t i = 0; i < 5; i++)
		send_request(w, 42, 100 + i, p, 10, 90, 0);
	/* 350 covers three reservations of 100: the 4th and 5th are refused at once. */
	for (uint64_t i = 0; i < 5; i++) {
		if (find_resp(TF_PROTO_T_ERROR, 100 + i, &r) == 0) {
			CU_ASSERT_EQUAL(r.m.u.err.code, TF_PROTO_E_QUOTA_EXHAUSTED);
			quota++;
		}
		g_txpos = 0;
	}
	CU_ASSERT_EQUAL(quota, 2);
	g_want_finals = 3;
	run(w, &a, NULL, finals_seen, 0);
	for (uint64_t i = 0; i < 5; i++) {
		g_txpos = 0;
		if (find_resp(TF_PROTO_T_FINAL, 100 + i, &r) == 0) {
			ok++;
			billed += r.m.u.final.cost_micro;
			CU_ASSERT_EQUAL(r.m.u.final.cost_micro, 40); /* 10 prompt + 30 out */
		}
	}
	CU_ASSERT_EQUAL(ok, 3);
	/* Charged exactly what the FINALs say; the rest of the reservations came back. */
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(w, 42, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL((int64_t)info.balance_micro, 350 - (int64_t)billed);
	CU_ASSERT_EQUAL(info.reserved_micro, 0);
	CU_ASSERT_EQUAL(info.used_micro, billed);
	CU_ASSERT_EQUAL(info.requests, 3);
	/* 230 left: two more fit now (the refused ids may be sent again). */
	free_tx();
	send_request(w, 42, 103, p, 10, 90, 0);
	send_request(w, 42, 104, p, 10, 90, 0);
	send_request(w, 42, 105, p, 10, 90, 0);
	CU_ASSERT_EQUAL(find_resp(TF_PROTO_T_ERROR, 105, &r), 0); /* 30 left < 100 */
	CU_ASSERT_EQUAL(r.m.u.err.code, TF_PROTO_E_QUOTA_EXHAUSTED);
	rmworker(w);
	standin_stop(&a);
}

static int
no_pending(void)
{
	return 0;
}

static void
test_duplicates_and_retransmits_run_once(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 11, 12 };
	struct standin a;
	struct resp r;
	unsigned int finals = 0, tokens = 0;

	standin_start(&a, SI_NORMAL, 6);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 8, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 777, p, 2, 6, 0);
	send_request(w, 42, 777, p, 2, 6, TF_PROTO_F_RETRANSMIT); /* while queued */
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 0);
	run(w, &a, NULL, no_pending, 20);
	CU_ASSERT_EQUAL(a.requests, 1);
	free_tx();
	/* After it finished: answered from the cache, FROM_CACHE, nothing re-runs. */
	send_request(w, 42, 777, p, 2, 6, TF_PROTO_F_RETRANSMIT);
	while (next_resp(&r) == 0) {
		CU_ASSERT(r.m.flags & TF_PROTO_F_FROM_CACHE);
		if (r.m.type == TF_PROTO_T_TOKENS)
			tokens += r.m.u.tokens.n_tokens;
		if (r.m.type == TF_PROTO_T_FINAL) {
			finals++;
			CU_ASSERT_EQUAL(r.m.u.final.completion_tokens, 6);
		}
	}
	CU_ASSERT_EQUAL(tokens, 6);
	CU_ASSERT_EQUAL(finals, 1);
	run(w, &a, NULL, no_pending, 20);
	CU_ASSERT_EQUAL(a.requests, 1);
	CU_ASSERT_EQUAL(g_nusage, 1);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_RETX_ANSWERED], 1);
	rmworker(w);
	standin_stop(&a);
}

static void
tune_small_cache(struct tf_dp_limits *l)
{
	l->cache_entries = 1;
	l->cache_min_ms = 0;
}

static void
test_replay_after_cache_eviction(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tune_small_cache);
	static const uint32_t p[] = { 11 };
	struct standin a;

	standin_start(&a, SI_NORMAL, 2);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 1, p, 1, 2, 0);
	send_request(w, 42, 2, p, 1, 2, 0);
	g_want_finals = 2;
	run(w, &a, NULL, finals_seen, 0);
	run(w, &a, NULL, no_pending, 10);
	free_tx();
	/* Request 1 left the cache (1 entry): its id is still known -> REPLAY 2, not a re-run. */
	send_request(w, 42, 1, p, 1, 2, TF_PROTO_F_RETRANSMIT);
	expect_error(1, TF_PROTO_E_REPLAY, 1, 2);
	run(w, &a, NULL, no_pending, 10);
	CU_ASSERT_EQUAL(a.requests, 2);
	rmworker(w);
	standin_stop(&a);
}

static void
test_cancel_and_resume(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 11 };
	struct tf_proto_msg m = { .type = TF_PROTO_T_RESUME, .tenant_id = 42, .request_id = 50 };
	struct standin a;
	struct resp r;

	standin_start(&a, SI_NORMAL, 8);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 50, p, 1, 8, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 0);
	free_tx();
	/* RESUME from 5: tokens 5..7 again, then the FINAL. */
	m.u.resume.from_seq = 5;
	send_msg(w, &m, &g_key);
	CU_ASSERT_EQUAL_FATAL(next_resp(&r), 0);
	CU_ASSERT_EQUAL(r.m.type, TF_PROTO_T_TOKENS);
	CU_ASSERT_EQUAL(r.m.u.tokens.first_seq, 5);
	CU_ASSERT_EQUAL(r.m.u.tokens.n_tokens, 3);
	CU_ASSERT_EQUAL(tf_proto_token_id(&r.m.u.tokens, 0), si_token(5));
	CU_ASSERT_EQUAL(next_resp(&r), 0);
	CU_ASSERT_EQUAL(r.m.type, TF_PROTO_T_FINAL);
	/* RESUME past the end of a finished request: just the FINAL. */
	free_tx();
	m.u.resume.from_seq = 8;
	send_msg(w, &m, &g_key);
	CU_ASSERT_EQUAL(next_resp(&r), 0);
	CU_ASSERT_EQUAL(r.m.type, TF_PROTO_T_FINAL);
	/* CANCEL of a running (slow) request: FINAL CANCELLED with the tokens so far. */
	standin_stop(&a);
	rmworker(w);
	w = mkworker(0, 1, NULL);
	standin_start(&a, SI_SLOW, 1000);
	add_model(w, 7, 1000);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 60, p, 1, 1000, 0);
	run(w, &a, NULL, no_pending, 30);
	m.type = TF_PROTO_T_CANCEL;
	m.request_id = 60;
	m.timestamp_us = 0;
	send_msg(w, &m, &g_key);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 0);
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, 60, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.final.finish_reason, TF_PROTO_FINISH_CANCELLED);
	CU_ASSERT(r.m.u.final.completion_tokens > 0 && r.m.u.final.completion_tokens < 1000);
	CU_ASSERT_EQUAL_FATAL(g_nusage, 1);
	CU_ASSERT_EQUAL(g_usage[0].outcome, TF_USAGE_CANCELLED);
	CU_ASSERT_EQUAL(g_usage[0].completion_tokens, r.m.u.final.completion_tokens);
	rmworker(w);
	standin_stop(&a);
}

/* A tenant with its MAC algorithm policy (SET_TENANT mac_algs; 0 = HMAC-SHA256 only). */
static void
set_tenant_macs(struct tf_dp_worker *w, uint32_t id, uint16_t mac_algs)
{
	struct tf_aq_set_tenant t = { .tenant_id = id,
				      .key_len = 32,
				      .priority = 7,
				      .flags = TF_TENANT_F_UNLIMITED,
				      .mac_algs = mac_algs };
	struct tf_aq_tenant_info info;
	uint32_t d;

	strcpy(t.name, "t");
	memcpy(t.key, g_secret, 32);
	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_set_tenant(w, &t, &info, &d), TF_AQ_S_OK);
}

/* A REQUEST of 3 token ids, signed under alg, with req_flags. */
static void
send_request_alg(struct tf_dp_worker *w, uint64_t rid, uint32_t max_new, uint8_t alg,
		 uint16_t req_flags, uint8_t flags)
{
	static const uint8_t prompt[12] = { 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0 };
	struct tf_proto_msg m = { .type = TF_PROTO_T_REQUEST,
				  .tenant_id = 42,
				  .request_id = rid,
				  .mac_alg = alg,
				  .flags = flags };

	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = max_new,
					     .prompt_total_len = 12,
					     .prompt_kind = TF_PROTO_PROMPT_TOKENS,
					     .priority = 3,
					     .req_flags = req_flags,
					     .top_p = 10000,
					     .prompt = prompt,
					     .prompt_len = 12 };
	send_msg(w, &m, &g_key);
}

/* SipHash (mac_alg 2): only for tenants allowed it; answers under the request's algorithm. */
static void
test_mac_algorithm_policy(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	const struct tf_dp_counters *c = tf_dp_worker_counters(w);
	struct tf_proto_msg m = { .type = TF_PROTO_T_PING,
				  .tenant_id = 42,
				  .request_id = 1,
				  .mac_alg = TF_PROTO_MAC_SIPHASH };
	struct tf_aq_set_tenant bad = { .tenant_id = 42, .key_len = 32, .mac_algs = 1u << 5 };
	struct tf_aq_tenant_info info;
	struct standin a;
	struct resp r;
	uint32_t d, ntok = 0;

	standin_start(&a, SI_NORMAL, 100);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	set_tenant_macs(w, 42, 0); /* default: HMAC-SHA256 only */
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	/* A SipHash PING from a tenant not allowed it: unsigned UNSUPPORTED bad_mac_alg. */
	send_msg(w, &m, &g_key);
	expect_error(1, TF_PROTO_E_UNSUPPORTED, 0, (uint32_t)TF_PROTO_R_BAD_MAC_ALG << 16 | 7);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_MAC_ALG], 1);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_MAC], 0);
	/* An algorithm bit the card does not know is refused by SET_TENANT. */
	memcpy(bad.key, g_secret, 32);
	CU_ASSERT_EQUAL(tf_dp_worker_set_tenant(w, &bad, &info, &d), TF_AQ_S_BAD_FIELD);
	CU_ASSERT_EQUAL(d, offsetof(struct tf_aq_set_tenant, mac_algs));
	/* Allowed both: the PONG and a whole request come back under SipHash. */
	set_tenant_macs(w, 42, TF_TENANT_MAC_HMAC_SHA256 | TF_TENANT_MAC_SIPHASH);
	free_tx();
	m.request_id = 2;
	send_msg(w, &m, &g_key);
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_PONG, 2, &r), 0);
	CU_ASSERT_EQUAL(r.m.mac_alg, TF_PROTO_MAC_SIPHASH);
	CU_ASSERT(r.signed_ok);
	free_tx();
	send_request_alg(w, 3, 4, TF_PROTO_MAC_SIPHASH, 0, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 0);
	while (next_resp(&r) == 0) {
		CU_ASSERT_EQUAL(r.m.mac_alg, TF_PROTO_MAC_SIPHASH);
		CU_ASSERT(r.signed_ok);
		if (r.m.type == TF_PROTO_T_TOKENS)
			ntok += r.m.u.tokens.n_tokens;
		else
			CU_ASSERT_EQUAL(r.m.type, TF_PROTO_T_FINAL);
	}
	CU_ASSERT_EQUAL(ntok, 4);
	/* HMAC still works for the same tenant, answered under HMAC. */
	free_tx();
	send_request_alg(w, 4, 2, TF_PROTO_MAC_HMAC_SHA256, 0, 0);
	run(w, &a, NULL, finals_seen, 0);
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, 4, &r), 0);
	CU_ASSERT_EQUAL(r.m.mac_alg, TF_PROTO_MAC_HMAC_SHA256);
	CU_ASSERT(r.signed_ok);
	/* SipHash only: an HMAC datagram is refused, and a refusal of a SipHash one is SipHash. */
	set_tenant_macs(w, 42, TF_TENANT_MAC_SIPHASH);
	free_tx();
	send_request_alg(w, 5, 2, TF_PROTO_MAC_HMAC_SHA256, 0, 0);
	expect_error(5, TF_PROTO_E_UNSUPPORTED, 0, (uint32_t)TF_PROTO_R_BAD_MAC_ALG << 16 | 7);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_MAC_ALG], 2);
	free_tx();
	send_request_alg(w, 6, 9999, TF_PROTO_MAC_SIPHASH, 0, 0);
	expect_error(6, TF_PROTO_E_TOO_LARGE, 1, 64);
	g_txpos = 0;
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_ERROR, 6, &r), 0);
	CU_ASSERT_EQUAL(r.m.mac_alg, TF_PROTO_MAC_SIPHASH);
	rmworker(w);
	standin_stop(&a);
}

/* Every response frame of rid, in order: counts TOKENS / FINAL and checks token ids. */
struct stream_seen {
	unsigned int tokens_dgrams, finals, final_with_tokens;
	uint32_t next; /* tokens received in order */
	uint32_t final_completion;
	uint8_t final_flags; /* header flags of the FINAL */
	char text[256];
};

static void
collect(uint64_t rid, struct stream_seen *ss)
{
	struct resp r;

	memset(ss, 0, sizeof(*ss));
	while (next_resp(&r) == 0) {
		const struct tf_proto_tokens *t = NULL;

		if (r.m.request_id != rid)
			continue;
		CU_ASSERT(r.signed_ok);
		if (r.m.type == TF_PROTO_T_TOKENS) {
			ss->tokens_dgrams++;
			t = &r.m.u.tokens;
		} else if (r.m.type == TF_PROTO_T_FINAL) {
			ss->finals++;
			ss->final_completion = r.m.u.final.completion_tokens;
			ss->final_flags = r.m.flags;
			if (r.m.u.final.final_flags & TF_PROTO_FF_HAS_TOKENS) {
				ss->final_with_tokens++;
				t = &r.m.u.final.tokens;
			}
		}
		if (!t)
			continue;
		CU_ASSERT_EQUAL(t->first_seq, ss->next);
		for (uint32_t i = 0; i < t->n_tokens; i++) {
			CU_ASSERT_EQUAL(tf_proto_token_id(t, i), si_token(ss->next + i));
			if (t->text && ss->next + i < sizeof(ss->text) - 1)
				ss->text[ss->next + i] =
					(char)t->text[i]; /* one byte per token in the stand-in */
		}
		ss->next += t->n_tokens;
	}
}

/*
 * FINAL_TOKENS (protocol.md 3.7): tokens that arrive with the END ride in the
 * FINAL (one datagram for a short request); tokens that arrive earlier are
 * streamed at the end of their event burst; resends put the last chunk in
 * the FINAL; a client without the flag sees TOKENS + a plain FINAL.
 */
static void
test_final_carries_last_tokens(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	struct standin a, b;
	struct stream_seen ss;
	struct tf_proto_msg m = { .tenant_id = 42, .request_id = 10 };

	standin_start(&a, SI_NORMAL, 100);
	standin_start(&b, SI_SLOW, 100);
	add_model(w, 7, 64);
	add_model(w, 8, 64);
	add_accel(w, 1, &a, 7);
	add_accel(w, 2, &b, 8);
	set_tenant_macs(w, 42, TF_TENANT_MAC_HMAC_SHA256 | TF_TENANT_MAC_SIPHASH);
	set_batching(w, 1, 0);
	connect_wait(w, &a, &b);
	/* All 5 tokens and the END in one burst: a single datagram, the FINAL. */
	send_request_alg(w, 10, 5, TF_PROTO_MAC_SIPHASH,
			 TF_PROTO_RF_FINAL_TOKENS | TF_PROTO_RF_WANT_TEXT, 0);
	g_want_finals = 1;
	run(w, &a, &b, finals_seen, 0);
	collect(10, &ss);
	CU_ASSERT_EQUAL(ss.tokens_dgrams, 0);
	CU_ASSERT_EQUAL(ss.finals, 1);
	CU_ASSERT_EQUAL(ss.final_with_tokens, 1);
	CU_ASSERT_EQUAL(ss.next, 5);
	CU_ASSERT_EQUAL(ss.final_completion, 5);
	CU_ASSERT_STRING_EQUAL(ss.text, "abcde");
	/* From the cache: the whole answer again, one FINAL FROM_CACHE carrying the tokens. */
	free_tx();
	send_request_alg(w, 10, 5, TF_PROTO_MAC_SIPHASH,
			 TF_PROTO_RF_FINAL_TOKENS | TF_PROTO_RF_WANT_TEXT, TF_PROTO_F_RETRANSMIT);
	collect(10, &ss);
	CU_ASSERT_EQUAL(ss.tokens_dgrams, 0);
	CU_ASSERT_EQUAL(ss.final_with_tokens, 1);
	CU_ASSERT_EQUAL(ss.next, 5);
	CU_ASSERT_EQUAL(ss.final_flags, TF_PROTO_F_FROM_CACHE);
	/* RESUME from 3 of a finished request: the FINAL carries tokens 3 and 4. */
	free_tx();
	m.type = TF_PROTO_T_RESUME;
	m.mac_alg = TF_PROTO_MAC_SIPHASH;
	m.u.resume.from_seq = 3;
	send_msg(w, &m, &g_key);
	{
		struct resp r;

		CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, 10, &r), 0);
		CU_ASSERT_EQUAL(r.m.u.final.final_flags, TF_PROTO_FF_HAS_TOKENS);
		CU_ASSERT_EQUAL(r.m.u.final.tokens.first_seq, 3);
		CU_ASSERT_EQUAL(r.m.u.final.tokens.n_tokens, 2);
	}
	/* CANCEL of a finished request: its FINAL as it was, without tokens. */
	free_tx();
	m.type = TF_PROTO_T_CANCEL;
	send_msg(w, &m, &g_key);
	collect(10, &ss);
	CU_ASSERT_EQUAL(ss.finals, 1);
	CU_ASSERT_EQUAL(ss.final_with_tokens, 0);
	/* One token per burst (slow accelerator): TOKENS as they come, the last one in the FINAL. */
	free_tx();
	m = (struct tf_proto_msg){ .type = TF_PROTO_T_REQUEST, .tenant_id = 42, .request_id = 11 };
	{
		static const uint8_t prompt[4] = { 9 };

		m.u.req = (struct tf_proto_request){ .model_id = 8,
						     .max_new_tokens = 4,
						     .prompt_total_len = 4,
						     .prompt_kind = TF_PROTO_PROMPT_TOKENS,
						     .req_flags = TF_PROTO_RF_FINAL_TOKENS,
						     .top_p = 10000,
						     .prompt = prompt,
						     .prompt_len = 4 };
		send_msg(w, &m, &g_key);
	}
	run(w, &a, &b, finals_seen, 0);
	collect(11, &ss);
	CU_ASSERT_EQUAL(ss.next, 4);
	CU_ASSERT_EQUAL(ss.finals, 1);
	CU_ASSERT_EQUAL(ss.final_with_tokens, 1);
	CU_ASSERT_EQUAL(ss.tokens_dgrams, 3);
	/* Without the flag: TOKENS, then a plain FINAL (as every client before the flag). */
	free_tx();
	send_request_alg(w, 12, 5, TF_PROTO_MAC_HMAC_SHA256, 0, 0);
	run(w, &a, &b, finals_seen, 0);
	collect(12, &ss);
	CU_ASSERT_EQUAL(ss.next, 5);
	CU_ASSERT(ss.tokens_dgrams >= 1);
	CU_ASSERT_EQUAL(ss.finals, 1);
	CU_ASSERT_EQUAL(ss.final_with_tokens, 0);
	rmworker(w);
	standin_stop(&a);
	standin_stop(&b);
}

/* A prompt of n token ids sent as REQUEST + fragments of `piece` bytes, in the given order. */
static void
send_fragmented(struct tf_dp_worker *w, uint64_t rid, uint32_t n, uint32_t piece, const int *order,
		int npieces)
{
	uint8_t prompt[4096];
	uint32_t total = 4 * n;

	for (uint32_t i = 0; i < n; i++)
		tf_proto_st32(prompt + 4 * i, 1000 + i);
	for (int k = 0; k < npieces; k++) {
		uint32_t off = (uint32_t)order[k] * piece;
		uint32_t len = off + piece > total ? total - off : piece;
		struct tf_proto_msg m = { .tenant_id = 42, .request_id = rid };

		if (order[k] == 0) {
			m.type = TF_PROTO_T_REQUEST;
			m.u.req = (struct tf_proto_request){ .model_id = 7,
							     .max_new_tokens = 3,
							     .prompt_total_len = total,
							     .prompt_kind = TF_PROTO_PROMPT_TOKENS,
							     .top_p = 10000,
							     .prompt = prompt,
							     .prompt_len = len };
		} else {
			m.type = TF_PROTO_T_FRAGMENT;
			m.u.frag = (struct tf_proto_fragment){ .prompt_total_len = total,
							       .offset = off,
							       .data = prompt + off,
							       .len = len };
		}
		send_msg(w, &m, &g_key);
	}
}

static void
test_reassembly_order_overlap_gap(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const int order[] = { 2, 0, 3, 1 };
	const struct tf_dp_counters *c = tf_dp_worker_counters(w);
	struct tf_proto_msg m = { .type = TF_PROTO_T_FRAGMENT, .tenant_id = 42, .request_id = 71 };
	uint8_t junk[128] = { 0 };
	struct standin a;
	struct resp r;

	standin_start(&a, SI_NORMAL, 3);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	/* 100 ids = 400 bytes in 128-byte pieces, fragments first: reassembled in order. */
	send_fragmented(w, 70, 100, 128, order, 4);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 0);
	CU_ASSERT_EQUAL(find_resp(TF_PROTO_T_FINAL, 70, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.final.prompt_tokens, 100);
	CU_ASSERT_EQUAL_FATAL(a.last_prompt_len, 400);
	for (uint32_t i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(tf_proto_ld32(a.last_prompt + 4 * i), 1000 + i);
	/* Overlap: [0,128) then [64,192): MALFORMED, nothing stays. */
	free_tx();
	send_fragmented(w, 71, 100, 128, order + 1, 1); /* piece 0: REQUEST [0,128) */
	m.u.frag = (struct tf_proto_fragment){
		.prompt_total_len = 400, .offset = 64, .data = junk, .len = 128
	};
	send_msg(w, &m, &g_key);
	expect_error(71, TF_PROTO_E_MALFORMED, 1, UINT32_MAX);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_REASM_OVERLAP], 1);
	/* A lying total. */
	free_tx();
	send_fragmented(w, 72, 100, 128, order + 1, 1);
	m.request_id = 72;
	m.u.frag = (struct tf_proto_fragment){
		.prompt_total_len = 404, .offset = 128, .data = junk, .len = 128
	};
	send_msg(w, &m, &g_key);
	expect_error(72, TF_PROTO_E_MALFORMED, 1, UINT32_MAX);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_REASM_LIE], 1);
	/* A gap: the deadline (50 ms) passes -> TIMEOUT detail 1, memory freed. */
	free_tx();
	send_fragmented(w, 73, 100, 128, order, 2); /* pieces 2 and 0 only */
	usleep(60000);
	run(w, &a, NULL, no_pending, 5);
	expect_error(73, TF_PROTO_E_TIMEOUT, 1, 1);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_REASM_TIMEOUT], 1);
	CU_ASSERT_EQUAL(a.requests, 1);
	rmworker(w);
	standin_stop(&a);
}

static void
test_redispatch_when_accelerator_fails(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 3 };
	struct standin bad, good;
	struct resp r;

	standin_start(&bad, SI_ERROR_RETRY, 4);
	standin_start(&good, SI_NORMAL, 4);
	add_model(w, 7, 64);
	add_accel(w, 1, &bad, 7);
	connect_wait(w, &bad, NULL);
	add_accel(w, 2, &good, 7);
	connect_wait(w, &bad, &good);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	/* Both idle: the router picks accel 1 first (lower index); it fails the request. */
	send_request(w, 42, 90, p, 1, 4, 0);
	g_want_finals = 1;
	run(w, &bad, &good, finals_seen, 0);
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, 90, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.final.finish_reason, TF_PROTO_FINISH_LENGTH);
	CU_ASSERT_EQUAL(r.m.u.final.accel_id, 2);
	CU_ASSERT_EQUAL(r.m.u.final.completion_tokens, 4);
	CU_ASSERT_EQUAL(bad.requests, 1);
	CU_ASSERT_EQUAL(good.requests, 1);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_REQ_REDISPATCHED], 1);
	rmworker(w);
	standin_stop(&bad);
	standin_stop(&good);
}

/*
 * The phase clock: while set, polls add their time to the phases that ran
 * (transport poll, events, batch, post, expiry); once cleared, nothing more.
 */
static void
test_phase_clock_counts_poll_phases(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 3 };
	uint64_t acc[TF_DP_PH_MAX] = { 0 }, snap[TF_DP_PH_MAX];
	struct standin a;

	standin_start(&a, SI_NORMAL, 4);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	tf_dp_worker_set_phase_clock(w, acc);
	send_request(w, 42, 99, p, 1, 4, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 0);
	CU_ASSERT(finals_seen());
	CU_ASSERT(acc[TF_DP_PH_XPORT_POLL] > 0);
	CU_ASSERT(acc[TF_DP_PH_EVENTS] > 0);
	CU_ASSERT(acc[TF_DP_PH_BATCH] > 0);
	CU_ASSERT(acc[TF_DP_PH_XPORT_POST] > 0);
	CU_ASSERT(acc[TF_DP_PH_EXPIRE] > 0);
	tf_dp_worker_set_phase_clock(w, NULL);
	memcpy(snap, acc, sizeof(acc));
	for (int i = 0; i < 100; i++)
		tf_dp_worker_poll(w);
	CU_ASSERT_EQUAL(memcmp(snap, acc, sizeof(acc)), 0);
	rmworker(w);
	standin_stop(&a);
}

/* GET_ACCEL_STATS through the card's admin handlers, as the host reads it. */
static uint32_t
accel_outstanding(struct tf_dp_worker *w, uint32_t accel_id)
{
	struct tf_dp_worker *ws[1] = { w };
	struct tf_dp_ctl_bus b = { .nworkers = 1, .workers = ws };
	struct tf_aq_accel_stats st;
	uint32_t d = 0;

	memset(&st, 0, sizeof(st));
	CU_ASSERT_EQUAL(tf_dp_admin_handlers.get_accel_stats(&b, accel_id, &st, &d), TF_AQ_S_OK);
	return st.outstanding;
}

static struct tf_dp_worker *g_os_w;

static int
two_streaming(void)
{
	return accel_outstanding(g_os_w, 2) == 2;
}

/*
 * GET_ACCEL_STATS.outstanding counts the requests running on an accelerator
 * exactly: a request moved to another one counts there only, ended ones and
 * those of a failed accelerator count nowhere.
 */
static void
test_accel_outstanding_exact(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 3 };
	struct standin bad, slow;

	standin_start(&bad, SI_ERROR_RETRY, 4);
	standin_start(&slow, SI_SLOW, 10000);
	add_model(w, 7, 5000);
	add_accel(w, 1, &bad, 7);
	connect_wait(w, &bad, NULL);
	add_accel(w, 2, &slow, 7);
	connect_wait(w, &bad, &slow);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 1), 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 2), 0);
	/* Both idle: accel 1 gets the first, fails it, accel 2 runs it; the second goes to 2. */
	send_request(w, 42, 97, p, 1, 5000, 0);
	send_request(w, 42, 98, p, 1, 5000, 0);
	g_os_w = w;
	run(w, &bad, &slow, two_streaming, 0);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_REQ_REDISPATCHED], 1);
	CU_ASSERT_EQUAL(accel_outstanding(w, 1), 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 2), 2);
	/* Cancel one: it counts until the accelerator confirms, then no more. */
	{
		struct tf_proto_msg m = { .type = TF_PROTO_T_CANCEL,
					  .tenant_id = 42,
					  .request_id = 97 };

		send_msg(w, &m, &g_key);
	}
	g_want_finals = 1;
	run(w, &bad, &slow, finals_seen, 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 2), 1);
	/* The accelerator fails: what ran there counts nowhere (re-dispatched or failed). */
	standin_stop(&slow);
	g_want_finals = 2;
	run(w, &bad, NULL, finals_seen, 3000);
	CU_ASSERT_EQUAL(accel_outstanding(w, 1), 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 2), 0);
	rmworker(w);
	standin_stop(&bad);
}

/* ---- generation deadline (limits.generation_timeout_ms) ---- */

#define GEN_TIMEOUT_MS 300

static void
tune_gen_timeout(struct tf_dp_limits *l)
{
	l->generation_timeout_ms = GEN_TIMEOUT_MS;
}

/* Checks the FINAL of rid: signed, CUT_OFF TIMEOUT, these figures, not before the deadline. */
static void
expect_timeout_final(uint64_t rid, uint32_t ntok, uint32_t prompt, uint64_t cost, struct resp *r)
{
	g_txpos = 0;
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, rid, r), 0);
	CU_ASSERT(r->signed_ok);
	CU_ASSERT_EQUAL(r->m.u.final.finish_reason, TF_PROTO_FINISH_CUT_OFF);
	CU_ASSERT_EQUAL(r->m.u.final.error_code, TF_PROTO_E_TIMEOUT);
	CU_ASSERT_EQUAL(r->m.u.final.completion_tokens, ntok);
	CU_ASSERT_EQUAL(r->m.u.final.prompt_tokens, prompt);
	CU_ASSERT_EQUAL(r->m.u.final.cost_micro, cost);
	/* Never before the deadline (counted from the complete prompt: admission). */
	CU_ASSERT(r->m.u.final.total_us >= GEN_TIMEOUT_MS * 1000u);
}

/*
 * An accelerator that stays healthy but never answers a request: the card
 * ends it at its deadline with FINAL CUT_OFF TIMEOUT, nothing billed, one
 * usage record, CANCEL sent to the accelerator, every resource back.
 */
static void
test_generation_deadline_silent_accelerator(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tune_gen_timeout);
	static const uint32_t p[] = { 1, 2, 3 };
	struct tf_aq_tenant_info info;
	struct tf_dp_worker_gauges g;
	struct standin a;
	struct resp r;
	uint64_t t0;
	uint32_t d;

	standin_start(&a, SI_STALL, 0);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, 1000000, 2000, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	t0 = mono_us();
	send_request(w, 42, 0x700, p, 3, 50, 0);
	/* Well before the deadline: still running, nothing sent. */
	run(w, &a, NULL, NULL, GEN_TIMEOUT_MS / 3);
	g_want_finals = 1;
	CU_ASSERT_FALSE(finals_seen());
	CU_ASSERT_EQUAL(a.requests, 1);
	run(w, &a, NULL, finals_seen, 3 * GEN_TIMEOUT_MS);
	CU_ASSERT_FATAL(finals_seen());
	CU_ASSERT(mono_us() - t0 >= GEN_TIMEOUT_MS * 1000u);
	expect_timeout_final(0x700, 0, 0, 0, &r);
	CU_ASSERT_EQUAL(r.m.flags & TF_PROTO_F_FROM_CACHE, 0);
	run(w, &a, NULL, NULL, 30); /* the stand-in reads the CANCEL */
	CU_ASSERT_EQUAL(a.cancels, 1);
	CU_ASSERT_EQUAL_FATAL(g_nusage, 1);
	CU_ASSERT_EQUAL(g_usage[0].request_id, 0x700);
	CU_ASSERT_EQUAL(g_usage[0].outcome, TF_USAGE_TIMEOUT);
	CU_ASSERT_EQUAL(g_usage[0].completion_tokens, 0);
	CU_ASSERT_EQUAL(g_usage[0].cost_micro, 0);
	CU_ASSERT_EQUAL(g_usage[0].accel_id, 1);
	/* Nothing billed, the whole reservation back, no slot held anywhere. */
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(w, 42, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(info.balance_micro, 1000000);
	CU_ASSERT_EQUAL(info.reserved_micro, 0);
	CU_ASSERT_EQUAL(info.active_requests, 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 1), 0);
	tf_dp_worker_gauges(w, &g);
	CU_ASSERT_EQUAL(g.active, 0);
	CU_ASSERT_EQUAL(g.frames_held, 0);
	CU_ASSERT_EQUAL(g.cached, 1); /* the answer stays for retransmits */
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_TIMEOUT], 1);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_REQ_FAILED], 1);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_LATE], 0);
	rmworker(w);
	standin_stop(&a);
}

/*
 * 3 tokens, then the accelerator stalls: usage = the 3 tokens delivered
 * (and the prompt of token ids that produced them), charged exactly; the
 * accelerator's late token and END are ignored and counted, never billed or
 * recorded again; a retransmit gets the cached FINAL.
 */
static void
test_generation_deadline_partial_then_late_end(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tune_gen_timeout);
	static const uint32_t p[] = { 1, 2, 3 };
	const uint64_t cost = (6 * 2000 + 500) / 1000; /* (3 prompt + 3 out) at 2000/1k */
	struct tf_aq_tenant_info info;
	struct standin a;
	struct resp r;
	uint32_t d, next = 0;

	standin_start(&a, SI_STALL, 3);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, 1000000, 2000, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 0x701, p, 3, 50, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 3 * GEN_TIMEOUT_MS);
	/* The client got the 3 tokens, in order, then the FINAL. */
	g_txpos = 0;
	while (next_resp(&r) == 0 && r.m.type == TF_PROTO_T_TOKENS) {
		CU_ASSERT_EQUAL(r.m.u.tokens.first_seq, next);
		next += r.m.u.tokens.n_tokens;
	}
	CU_ASSERT_EQUAL(next, 3);
	expect_timeout_final(0x701, 3, 3, cost, &r);
	CU_ASSERT_EQUAL_FATAL(g_nusage, 1);
	CU_ASSERT_EQUAL(g_usage[0].outcome, TF_USAGE_TIMEOUT);
	CU_ASSERT_EQUAL(g_usage[0].prompt_tokens, 3);
	CU_ASSERT_EQUAL(g_usage[0].completion_tokens, 3);
	CU_ASSERT_EQUAL(g_usage[0].cost_micro, cost);
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(w, 42, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL((int64_t)info.balance_micro, 1000000 - (int64_t)cost);
	CU_ASSERT_EQUAL(info.used_micro, cost);
	CU_ASSERT_EQUAL(info.reserved_micro, 0);
	/* The accelerator wakes up: one more token, then END. */
	a.release = 1;
	free_tx();
	run(w, &a, NULL, NULL, 100);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_LATE], 2);
	CU_ASSERT_EQUAL(g_ntx, 0); /* nothing reached the client */
	CU_ASSERT_EQUAL(g_nusage, 1);
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(w, 42, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL((int64_t)info.balance_micro, 1000000 - (int64_t)cost);
	CU_ASSERT_EQUAL(info.reserved_micro, 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 1), 0);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_TIMEOUT], 1);
	/* The client retransmits (it missed the FINAL): the cached answer, run once. */
	send_request(w, 42, 0x701, p, 3, 50, TF_PROTO_F_RETRANSMIT);
	expect_timeout_final(0x701, 3, 3, cost, &r);
	CU_ASSERT(r.m.flags & TF_PROTO_F_FROM_CACHE);
	CU_ASSERT_EQUAL(a.requests, 1);
	CU_ASSERT_EQUAL(g_nusage, 1);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_RETX_ANSWERED], 1);
	rmworker(w);
	standin_stop(&a);
}

static int
one_posted_to_first(void)
{
	return g_up_w && accel_outstanding(g_up_w, 1) == 1;
}

/*
 * Re-dispatch keeps the deadline: a request that waited on an accelerator
 * that then failed it, and runs on another that never answers, ends at its
 * admission + generation_timeout_ms, not that long after the re-dispatch.
 */
static void
test_generation_deadline_survives_redispatch(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tune_gen_timeout);
	static const uint32_t p[] = { 3 };
	const unsigned int hold_ms = 2 * GEN_TIMEOUT_MS / 3;
	struct standin bad, stall;
	struct resp r;

	standin_start(&bad, SI_ERROR_RETRY, 4);
	standin_start(&stall, SI_STALL, 0);
	add_model(w, 7, 64);
	add_accel(w, 1, &bad, 7);
	connect_wait(w, &bad, NULL);
	add_accel(w, 2, &stall, 7);
	connect_wait(w, &bad, &stall);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	/* Both idle: the router picks accel 1, which does not read it for hold_ms. */
	send_request(w, 42, 0x702, p, 1, 40, 0);
	g_up_w = w;
	run(w, NULL, &stall, one_posted_to_first, 200);
	CU_ASSERT_EQUAL_FATAL(accel_outstanding(w, 1), 1);
	run(w, NULL, &stall, NULL, hold_ms);
	/* Now accel 1 fails it (retryable): re-dispatched to accel 2, which never answers. */
	g_want_finals = 1;
	run(w, &bad, &stall, finals_seen, 3 * GEN_TIMEOUT_MS);
	CU_ASSERT_EQUAL(bad.requests, 1);
	CU_ASSERT_EQUAL(stall.requests, 1);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_REQ_REDISPATCHED], 1);
	expect_timeout_final(0x702, 0, 0, 0, &r);
	CU_ASSERT_EQUAL(r.m.u.final.accel_id, 2);
	/* From admission: a deadline reset at the re-dispatch would be >= timeout + hold. */
	CU_ASSERT(r.m.u.final.total_us < (GEN_TIMEOUT_MS + hold_ms) * 1000u - 50000);
	run(w, &bad, &stall, NULL, 30);
	CU_ASSERT_EQUAL(stall.cancels, 1);
	CU_ASSERT_EQUAL(g_nusage, 1);
	CU_ASSERT_EQUAL(g_usage[0].outcome, TF_USAGE_TIMEOUT);
	CU_ASSERT_EQUAL(accel_outstanding(w, 1), 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 2), 0);
	rmworker(w);
	standin_stop(&bad);
	standin_stop(&stall);
}

/*
 * A request still waiting in its batch queue (the accelerator's only slot is
 * taken by one that never ends) meets its deadline there too: it leaves the
 * queue, is never posted, ends with its FINAL TIMEOUT and its record.
 */
static void
test_generation_deadline_queued(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tune_gen_timeout);
	static const uint32_t p[] = { 3 };
	struct tf_aq_set_accel ac = { .accel_id = 1,
				      .transport = TF_TRANSPORT_SHM,
				      .weight = 100,
				      .max_outstanding = 1,
				      .n_models = 1 };
	struct tf_aq_tenant_info info;
	struct tf_dp_worker_gauges g;
	struct standin a;
	struct resp r;
	uint32_t d;

	standin_start(&a, SI_STALL, 0);
	add_model(w, 7, 64);
	ac.models[0] = 7;
	snprintf(ac.address, sizeof(ac.address), "%s", a.name);
	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_set_accel(w, &ac, &d), TF_AQ_S_OK);
	add_tenant(w, 42, 1000000, 2000, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 0x710, p, 1, 20, 0);
	send_request(w, 42, 0x711, p, 1, 20, 0);
	run(w, &a, NULL, NULL, GEN_TIMEOUT_MS / 3);
	tf_dp_worker_gauges(w, &g);
	CU_ASSERT_EQUAL(g.queued, 1); /* the second waits for the only slot */
	g_want_finals = 2;
	run(w, &a, NULL, finals_seen, 3 * GEN_TIMEOUT_MS);
	expect_timeout_final(0x710, 0, 0, 0, &r);
	expect_timeout_final(0x711, 0, 0, 0, &r);
	CU_ASSERT_EQUAL(a.requests, 1); /* the queued one was never posted */
	tf_dp_worker_gauges(w, &g);
	CU_ASSERT_EQUAL(g.queued, 0);
	CU_ASSERT_EQUAL(g.active, 0);
	CU_ASSERT_EQUAL(g_nusage, 2);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_TIMEOUT], 2);
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(w, 42, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(info.balance_micro, 1000000);
	CU_ASSERT_EQUAL(info.reserved_micro, 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 1), 0);
	rmworker(w);
	standin_stop(&a);
}

/* generation_timeout_ms 0: no deadline, a slow generation runs to its end. */
static void
tune_no_gen_timeout(struct tf_dp_limits *l)
{
	l->generation_timeout_ms = 0;
}

static void
test_generation_deadline_off(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tune_no_gen_timeout);
	static const uint32_t p[] = { 3 };
	struct standin a;
	struct resp r;

	standin_start(&a, SI_STALL, 2);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 0x703, p, 1, 3, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, GEN_TIMEOUT_MS + 100);
	CU_ASSERT_FALSE(finals_seen());
	a.release = 1;
	run(w, &a, NULL, finals_seen, 1000);
	g_txpos = 0;
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, 0x703, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.final.finish_reason, TF_PROTO_FINISH_LENGTH);
	CU_ASSERT_EQUAL(r.m.u.final.completion_tokens, 3);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_TIMEOUT], 0);
	rmworker(w);
	standin_stop(&a);
}

/* ---- giving up on requests a live accelerator ignores (limits.cancel_grace_ms) ---- */

#define CANCEL_GRACE_MS 100

static void
tune_cancel_grace(struct tf_dp_limits *l)
{
	l->generation_timeout_ms = GEN_TIMEOUT_MS;
	l->cancel_grace_ms = CANCEL_GRACE_MS;
	l->degraded_abandoned = 2;
}

static struct tf_dp_obj_stats
accel_st(struct tf_dp_worker *w, uint32_t accel_id)
{
	struct tf_dp_obj_stats st;
	uint32_t id;

	memset(&st, 0, sizeof(st));
	for (unsigned int i = 0; tf_dp_worker_accel_stats(w, i, &id, &st) == 0; i++)
		if (id == accel_id)
			return st;
	CU_FAIL("no such accelerator");
	return st;
}

static struct tf_xport_info
accel_xinfo(struct tf_dp_worker *w)
{
	struct tf_xport_info xi;

	memset(&xi, 0, sizeof(xi));
	CU_ASSERT_FATAL(w->accels[0].x != NULL);
	tf_xport_info(w->accels[0].x, &xi);
	return xi;
}

static uint64_t
accel_xcnt(struct tf_dp_worker *w, enum tf_xport_counter c)
{
	uint64_t v[TF_XPORT_C_COUNT];

	tf_xport_counters(w->accels[0].x, v);
	return v[c];
}

/*
 * An accelerator that stays healthy (status fine) but ignores requests and
 * their CANCELs, with 2 request credits: both requests end at their deadline;
 * cancel_grace_ms later the card gives them up, so its credits are free (a
 * third request is posted at once instead of waiting in the queue for its own
 * deadline, and the accelerator, which still holds its two, answers it BUSY:
 * an explicit FINAL, not a silent wait); holding 2 given-up requests makes it
 * DEGRADED. When it wakes up and ends them, their events are dropped (counted,
 * no protocol error, the connection stays), it is UP again and serves new work.
 */
static void
test_cancel_grace_gives_up_on_stalled_accelerator(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tune_cancel_grace);
	static const uint32_t p[] = { 1, 2, 3 };
	struct tf_aq_tenant_info info;
	struct tf_xport_info xi;
	struct standin a;
	struct resp r;
	uint32_t d;

	standin_start_credits(&a, SI_STALL, 0, 2);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, 1000000, 2000, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	CU_ASSERT_EQUAL(accel_xinfo(w).max_inflight, 2);
	send_request(w, 42, 0x720, p, 3, 50, 0);
	send_request(w, 42, 0x721, p, 3, 50, 0);
	g_want_finals = 2;
	run(w, &a, NULL, finals_seen, 3 * GEN_TIMEOUT_MS);
	expect_timeout_final(0x720, 0, 0, 0, &r);
	expect_timeout_final(0x721, 0, 0, 0, &r);
	CU_ASSERT_EQUAL(a.requests, 2);
	/* At the deadline the credits are still held (the grace runs). */
	xi = accel_xinfo(w);
	CU_ASSERT_EQUAL(xi.inflight, 2);
	CU_ASSERT_EQUAL(xi.abandoned, 0);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_ABANDONED], 0);
	/* After the grace (and a status pass, 100 ms): given up, credits free, DEGRADED. */
	run(w, &a, NULL, NULL, CANCEL_GRACE_MS + 250);
	CU_ASSERT_EQUAL(a.cancels, 2);
	xi = accel_xinfo(w);
	CU_ASSERT_EQUAL(xi.inflight, 0);
	CU_ASSERT_EQUAL(xi.abandoned, 2);
	CU_ASSERT_EQUAL(accel_xcnt(w, TF_XPORT_C_ABANDONED), 2);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_ABANDONED], 2);
	CU_ASSERT_EQUAL(accel_st(w, 1).state, TF_HS_DEGRADED);
	CU_ASSERT_EQUAL(accel_st(w, 1).abandoned, 2);
	/* A third request is posted at once; the accelerator (still holding two) says BUSY. */
	free_tx();
	send_request(w, 42, 0x722, p, 3, 50, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, GEN_TIMEOUT_MS / 2);
	{
		uint64_t v[TF_XPORT_C_COUNT];

		/* it reached the accelerator, whose transport refused it (its own credits) */
		tf_xport_counters(a.x, v);
		CU_ASSERT_EQUAL(v[TF_XPORT_C_RX_OVER_CREDIT], 1);
	}
	CU_ASSERT_EQUAL(a.requests, 2);
	g_txpos = 0;
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, 0x722, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.final.finish_reason, TF_PROTO_FINISH_CUT_OFF);
	CU_ASSERT_EQUAL(r.m.u.final.error_code, TF_PROTO_E_BUSY);
	CU_ASSERT(r.m.u.final.total_us < GEN_TIMEOUT_MS * 1000u / 2);
	/* It wakes up: a token and END for each given-up request, dropped and counted. */
	free_tx();
	a.release = 1;
	run(w, &a, NULL, NULL, 250);
	CU_ASSERT_EQUAL(g_ntx, 0); /* nothing reached the client */
	CU_ASSERT_EQUAL(accel_xcnt(w, TF_XPORT_C_RX_ABANDONED), 4);
	CU_ASSERT_EQUAL(accel_xcnt(w, TF_XPORT_C_PROTOCOL), 0);
	CU_ASSERT_EQUAL(accel_xcnt(w, TF_XPORT_C_CONN_LOST), 0);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_LATE], 0);
	xi = accel_xinfo(w);
	CU_ASSERT_EQUAL(xi.abandoned, 0);
	CU_ASSERT_EQUAL(xi.connects, 1); /* the same connection */
	CU_ASSERT_EQUAL(accel_st(w, 1).state, TF_HS_UP);
	CU_ASSERT_EQUAL(accel_st(w, 1).abandoned, 0);
	/* ... and serves new work. */
	send_request(w, 42, 0x723, p, 3, 50, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, GEN_TIMEOUT_MS / 2);
	g_txpos = 0;
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, 0x723, &r), 0);
	CU_ASSERT_NOT_EQUAL(r.m.u.final.finish_reason, TF_PROTO_FINISH_CUT_OFF);
	CU_ASSERT_EQUAL(r.m.u.final.completion_tokens, 1);
	CU_ASSERT_EQUAL(a.requests, 3);
	CU_ASSERT_EQUAL(g_nusage, 4);
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(w, 42, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(info.reserved_micro, 0);
	CU_ASSERT_EQUAL(info.active_requests, 0);
	CU_ASSERT_EQUAL(accel_outstanding(w, 1), 0);
	rmworker(w);
	standin_stop(&a);
}

/* cancel_grace_ms 0: the card never gives up; the credits stay with the accelerator. */
static void
tune_no_cancel_grace(struct tf_dp_limits *l)
{
	tune_cancel_grace(l);
	l->cancel_grace_ms = 0;
}

static void
test_cancel_grace_off_keeps_credits(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tune_no_cancel_grace);
	static const uint32_t p[] = { 3 };
	struct standin a;
	struct resp r;

	standin_start_credits(&a, SI_STALL, 0, 1);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 0x730, p, 1, 20, 0);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 3 * GEN_TIMEOUT_MS);
	expect_timeout_final(0x730, 0, 0, 0, &r);
	run(w, &a, NULL, NULL, CANCEL_GRACE_MS + 250);
	CU_ASSERT_EQUAL(accel_xinfo(w).inflight, 1);
	CU_ASSERT_EQUAL(accel_xinfo(w).abandoned, 0);
	CU_ASSERT_EQUAL(tf_dp_worker_counters(w)->ev[TF_EV_GEN_ABANDONED], 0);
	CU_ASSERT_EQUAL(accel_st(w, 1).state, TF_HS_UP);
	/* the next request cannot be posted: it waits, then meets its own deadline */
	free_tx();
	send_request(w, 42, 0x731, p, 1, 20, 0);
	run(w, &a, NULL, finals_seen, 3 * GEN_TIMEOUT_MS);
	expect_timeout_final(0x731, 0, 0, 0, &r);
	CU_ASSERT_EQUAL(a.requests, 1);
	rmworker(w);
	standin_stop(&a);
}

static int g_first_token;

static int
token_seen(void)
{
	struct resp r;

	for (unsigned int i = 0; i < g_ntx; i++)
		if (decode_tx(i, &r) == 0 && r.m.type == TF_PROTO_T_TOKENS && r.m.u.tokens.n_tokens)
			return g_first_token = 1;
	return 0;
}

static void
test_cut_off_when_tenant_runs_dry(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 3 };
	struct tf_aq_tenant_balance b = { .tenant_id = 42, .op = TF_BALANCE_SET, .amount = 0 };
	struct tf_aq_tenant_info info;
	struct standin a;
	struct resp r;
	uint32_t d;

	standin_start(&a, SI_SLOW, 10000);
	add_model(w, 7, 5000);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, 1000000, 1000, 0);
	set_batching(w, 1, 0);
	connect_wait(w, &a, NULL);
	send_request(w, 42, 95, p, 1, 5000, 0);
	run(w, &a, NULL, token_seen, 0);
	CU_ASSERT_FATAL(g_first_token);
	/* The host lowers the balance below what the request holds: cut off, billed as sent. */
	CU_ASSERT_EQUAL(tf_dp_worker_tenant_balance(w, &b, &info, &d), TF_AQ_S_OK);
	g_want_finals = 1;
	run(w, &a, NULL, finals_seen, 0);
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_FINAL, 95, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.final.finish_reason, TF_PROTO_FINISH_CUT_OFF);
	CU_ASSERT_EQUAL(r.m.u.final.error_code, TF_PROTO_E_QUOTA_EXHAUSTED);
	CU_ASSERT(r.m.u.final.completion_tokens > 0 && r.m.u.final.completion_tokens < 5000);
	CU_ASSERT_EQUAL(r.m.u.final.cost_micro, (1 + r.m.u.final.completion_tokens) * 1000 / 1000);
	CU_ASSERT_EQUAL_FATAL(g_nusage, 1);
	CU_ASSERT_EQUAL(g_usage[0].outcome, TF_USAGE_CUT_OFF);
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(w, 42, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL((int64_t)info.balance_micro, -(int64_t)r.m.u.final.cost_micro);
	CU_ASSERT_EQUAL(info.reserved_micro, 0);
	rmworker(w);
	standin_stop(&a);
}

static void
test_rate_and_busy_carry_retry_after(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 3 };
	struct standin a;
	struct resp r;

	standin_start(&a, SI_NORMAL, 1);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 2); /* 2 requests/s, burst 2 */
	connect_wait(w, &a, NULL);
	send_request(w, 42, 1, p, 1, 1, 0);
	send_request(w, 42, 2, p, 1, 1, 0);
	send_request(w, 42, 3, p, 1, 1, 0);
	CU_ASSERT_EQUAL_FATAL(find_resp(TF_PROTO_T_ERROR, 3, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.err.code, TF_PROTO_E_RATE_LIMITED);
	CU_ASSERT(r.m.u.err.retry_after_ms > 0 && r.m.u.err.retry_after_ms <= 500);
	/* No accelerator up for a model: BUSY with retry-after, at once. */
	add_model(w, 8, 64);
	g_txpos = 0;
	{
		struct tf_proto_msg m = { .type = TF_PROTO_T_REQUEST,
					  .tenant_id = 42,
					  .request_id = 4 };

		m.u.req = (struct tf_proto_request){ .model_id = 8,
						     .max_new_tokens = 1,
						     .prompt_total_len = 4,
						     .top_p = 10000,
						     .prompt = (const uint8_t *)p,
						     .prompt_len = 4 };
		usleep(600000); /* the rate bucket refills */
		send_msg(w, &m, &g_key);
	}
	expect_error(4, TF_PROTO_E_BUSY, 1, UINT32_MAX);
	CU_ASSERT(r.m.u.err.retry_after_ms > 0);
	rmworker(w);
	standin_stop(&a);
}

static void
test_handoff_to_owner(void)
{
	struct tf_dp_worker *w0 = mkworker(0, 2, NULL);
	struct tf_proto_msg m = { .type = TF_PROTO_T_PING, .tenant_id = 0, .request_id = 1 };
	uint32_t t;

	/* Find a tenant owned by worker 1 and send its PING to worker 0. */
	for (t = 1; tf_dp_tenant_owner(t, 2) != 1; t++)
		;
	m.tenant_id = t;
	send_msg(w0, &m, &g_key);
	CU_ASSERT_EQUAL(g_nho, 1);
	CU_ASSERT_EQUAL(g_ho[0].to, 1);
	CU_ASSERT_EQUAL(g_ntx, 0);
	rmworker(w0);
}

static void
test_usage_never_dropped(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	static const uint32_t p[] = { 3 };
	struct standin a;

	standin_start(&a, SI_NORMAL, 1);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 0, 0);
	set_batching(w, 8, 0);
	connect_wait(w, &a, NULL);
	g_usage_full = 1; /* the main lcore takes nothing for a while */
	for (uint64_t i = 0; i < 20; i++)
		send_request(w, 42, 200 + i, p, 1, 1, 0);
	g_want_finals = 20;
	run(w, &a, NULL, finals_seen, 0);
	CU_ASSERT_EQUAL(g_nusage, 0);
	g_usage_full = 0;
	run(w, &a, NULL, no_pending, 10);
	CU_ASSERT_EQUAL(g_nusage, 20);
	for (unsigned int i = 0; i < g_nusage; i++)
		CU_ASSERT_EQUAL(g_usage[i].request_id, 200 + i); /* in order */
	rmworker(w);
	standin_stop(&a);
}

static void
set_usage_mode(struct tf_dp_worker *w, uint32_t mode, uint32_t ms)
{
	struct tf_aq_set_usage_mode c = { .mode = mode, .aggregate_ms = ms };
	uint32_t d = 0;

	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_set_usage_mode(w, &c, &d), TF_AQ_S_OK);
}

/* Sends n requests of tenant 42 (ids from rid) and runs until their finals. */
static void
serve(struct tf_dp_worker *w, struct standin *a, uint64_t rid, unsigned int n, uint32_t max_new)
{
	static const uint32_t p[] = { 3, 4 };

	g_ntx = g_txpos = 0;
	for (unsigned int i = 0; i < n; i++)
		send_request(w, 42, rid + i, p, 2, max_new, 0);
	g_want_finals = n;
	run(w, a, NULL, finals_seen, 3000);
	free_tx();
}

/*
 * Aggregate mode: finished requests are summed, not emitted one by one; a mode
 * switch emits what was summed first (nothing lost, nothing counted twice), the
 * window's end and a drain (the card stopping) flush too, and the sums equal
 * what per-request records of the same requests say.
 */
static void
test_usage_aggregate_mode(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	uint64_t cost = 0, tokens = 0;
	struct standin a;

	standin_start(&a, SI_NORMAL, 100);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 1500, 0);
	set_batching(w, 8, 0);
	connect_wait(w, &a, NULL);
	/* Per-request records first: the reference figures. */
	serve(w, &a, 100, 10, 3);
	run(w, &a, NULL, no_pending, 5);
	CU_ASSERT_EQUAL_FATAL(g_nusage, 10);
	for (unsigned int i = 0; i < 10; i++) {
		cost += g_usage[i].cost_micro;
		tokens += g_usage[i].completion_tokens;
	}
	CU_ASSERT_EQUAL(tokens, 30);
	/* A minute's window: nothing leaves until the mode changes. */
	set_usage_mode(w, TF_USAGE_MODE_AGGREGATE, 60000);
	serve(w, &a, 200, 10, 3);
	run(w, &a, NULL, no_pending, 5);
	CU_ASSERT_EQUAL(g_nusage, 10);
	CU_ASSERT_EQUAL(g_naggs, 0);
	CU_ASSERT(tf_dp_worker_busy(w) >= 1); /* the group counts as work (drain waits) */
	set_usage_mode(w, TF_USAGE_MODE_REQUEST, 0);
	run(w, &a, NULL, no_pending, 5);
	CU_ASSERT_EQUAL_FATAL(g_naggs, 1);
	CU_ASSERT_EQUAL(g_aggs[0].tenant_id, 42);
	CU_ASSERT_EQUAL(g_aggs[0].model_id, 7);
	CU_ASSERT_EQUAL(g_aggs[0].accel_id, 1);
	CU_ASSERT_EQUAL(g_aggs[0].outcome, TF_USAGE_OK);
	CU_ASSERT_EQUAL(g_aggs[0].requests, 10);
	CU_ASSERT_EQUAL(g_aggs[0].prompt_tokens, 20);
	CU_ASSERT_EQUAL(g_aggs[0].completion_tokens, tokens);
	CU_ASSERT_EQUAL(g_aggs[0].cost_micro, cost);
	CU_ASSERT(g_aggs[0].first_end_ns != 0 && g_aggs[0].last_end_ns >= g_aggs[0].first_end_ns);
	/* Back to records: the next requests are records again, none summed. */
	serve(w, &a, 300, 3, 3);
	run(w, &a, NULL, no_pending, 5);
	CU_ASSERT_EQUAL(g_nusage, 13);
	CU_ASSERT_EQUAL(g_naggs, 1);
	CU_ASSERT_EQUAL(g_usage[12].request_id, 302);
	/* A 1 ms window: the aggregate leaves once the window is over, with no other trigger. */
	set_usage_mode(w, TF_USAGE_MODE_AGGREGATE, 1);
	serve(w, &a, 400, 4, 2);
	run(w, &a, NULL, no_pending, 20);
	CU_ASSERT(g_naggs >= 2);
	tokens = 0;
	for (unsigned int i = 1; i < g_naggs; i++)
		tokens += g_aggs[i].completion_tokens;
	CU_ASSERT_EQUAL(tokens, 8);
	CU_ASSERT_EQUAL(tf_dp_worker_busy(w), 0);
	/* Drain (the card stops): what is summed leaves at once, whatever the window. */
	set_usage_mode(w, TF_USAGE_MODE_AGGREGATE, 60000);
	g_naggs = 0;
	serve(w, &a, 500, 2, 1);
	CU_ASSERT_EQUAL(g_naggs, 0);
	tf_dp_worker_drain(w);
	run(w, &a, NULL, no_pending, 5);
	CU_ASSERT_EQUAL_FATAL(g_naggs, 1);
	CU_ASSERT_EQUAL(g_aggs[0].requests, 2);
	CU_ASSERT_EQUAL(tf_dp_worker_busy(w), 0);
	rmworker(w);
	standin_stop(&a);
}

/*
 * Aggregate mode sums every network client's request, whatever its id (a random
 * id may start with the host queues' tag byte 0xfe); only requests that came
 * through the host-queue port keep their per-request records.
 */
static void
test_usage_aggregate_keeps_host_queue_records(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, NULL);
	struct standin a;

	standin_start(&a, SI_NORMAL, 100);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	add_tenant(w, 42, -1, 1500, 0);
	set_batching(w, 8, 0);
	connect_wait(w, &a, NULL);
	tf_dp_worker_keep_records_port(w, 3); /* the host queues are on port 3 */
	set_usage_mode(w, TF_USAGE_MODE_AGGREGATE, 60000);
	serve(w, &a, 0xfe00000000000100ull, 4, 2); /* tag byte, from port 0 */
	run(w, &a, NULL, no_pending, 5);
	CU_ASSERT_EQUAL(g_nusage, 0);
	set_usage_mode(w, TF_USAGE_MODE_REQUEST, 0);
	CU_ASSERT_EQUAL_FATAL(g_naggs, 1);
	CU_ASSERT_EQUAL(g_aggs[0].requests, 4);
	/* Frames of port 0 as the host-queue port: records, also in aggregate mode. */
	tf_dp_worker_keep_records_port(w, 0);
	set_usage_mode(w, TF_USAGE_MODE_AGGREGATE, 60000);
	serve(w, &a, 0x200, 3, 2);
	run(w, &a, NULL, no_pending, 5);
	CU_ASSERT_EQUAL(g_nusage, 3);
	CU_ASSERT_EQUAL(g_naggs, 1);
	rmworker(w);
	standin_stop(&a);
}

/* The bus (ctl.c) routes tenant commands to the owner and the rest to everyone. */
static struct tf_dp_worker *g_bus_w[2];

static void
bus_call(void *ctx, unsigned int wid, struct tf_dp_ctl *m)
{
	(void)ctx;
	tf_dp_ctl_exec(g_bus_w[wid], m);
}

static void
test_ctl_routes_to_owner_and_all(void)
{
	struct tf_dp_ctl_bus b = { .nworkers = 2, .workers = g_bus_w, .call = bus_call };
	struct tf_aq_set_tenant t = { .tenant_id = 0,
				      .key_len = 32,
				      .flags = TF_TENANT_F_UNLIMITED };
	struct tf_aq_set_model md = { .model_id = 7, .max_prompt_tokens = 8, .max_new_tokens = 8 };
	struct tf_aq_tenant_info info;
	uint32_t d, own;

	g_bus_w[0] = mkworker(0, 2, NULL);
	g_bus_w[1] = mkworker(1, 2, NULL);
	for (t.tenant_id = 1; tf_dp_tenant_owner(t.tenant_id, 2) != 1; t.tenant_id++)
		;
	own = tf_dp_tenant_owner(t.tenant_id, 2);
	CU_ASSERT_EQUAL(tf_dp_ctl_set_tenant(&b, &t, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(g_bus_w[own], t.tenant_id, &info, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(g_bus_w[1 - own], t.tenant_id, &info, &d),
			TF_AQ_S_NOT_FOUND);
	CU_ASSERT_EQUAL(tf_dp_ctl_set_model(&b, &md, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(tf_dp_ctl_del_model(&b, 7, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(tf_dp_ctl_del_model(&b, 7, &d), TF_AQ_S_NOT_FOUND);
	CU_ASSERT_EQUAL(tf_dp_ctl_del_tenant(&b, t.tenant_id, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(tf_dp_ctl_get_tenant(&b, t.tenant_id, &info, &d), TF_AQ_S_NOT_FOUND);
	rmworker(g_bus_w[0]);
	rmworker(g_bus_w[1]);
}

/*
 * The tenant table at scale: the size is configuration (limits.tenants), every
 * tenant is found through the receive path, deleted ones free their slot, and
 * the one past the limit is refused with NO_SPACE (was 2 048 per worker).
 */
static void
tenants_20k(struct tf_dp_limits *l)
{
	l->tenants = 20000;
}

static void
test_tenants_scale_by_config(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, tenants_20k);
	struct tf_aq_set_tenant t = { .key_len = 32,
				      .priority = 7,
				      .flags = TF_TENANT_F_UNLIMITED };
	struct tf_aq_tenant_info info;
	struct tf_dp_obj_stats st;
	struct resp r;
	uint32_t d, id, n = 0;

	tf_dp_worker_set_port_mac(w, 0, CARD_MAC);
	memcpy(t.key, g_secret, 32);
	for (uint32_t i = 1; i <= 20000; i++) {
		t.tenant_id = i * 7919u; /* spread over the id space */
		CU_ASSERT_EQUAL_FATAL(tf_dp_worker_set_tenant(w, &t, &info, &d), TF_AQ_S_OK);
	}
	t.tenant_id = 1;
	CU_ASSERT_EQUAL(tf_dp_worker_set_tenant(w, &t, &info, &d), TF_AQ_S_NO_SPACE);
	CU_ASSERT_EQUAL(d, 20000);
	/* The first, a middle and the last tenant answer a PING through the receive path. */
	for (uint32_t i = 1; i <= 20000; i += 9999) {
		struct tf_proto_msg m = { .type = TF_PROTO_T_PING, .request_id = i };

		m.tenant_id = i * 7919u;
		g_key.key_id = 0;
		send_msg(w, &m, &g_key);
		CU_ASSERT_EQUAL(find_resp(TF_PROTO_T_PONG, i, &r), 0);
		CU_ASSERT_EQUAL(r.m.tenant_id, i * 7919u);
	}
	/* Deleting frees a slot for another tenant; updates keep their slot. */
	CU_ASSERT_EQUAL(tf_dp_worker_del_tenant(w, 7919u * 5, &d), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(tf_dp_worker_get_tenant(w, 7919u * 5, &info, &d), TF_AQ_S_NOT_FOUND);
	CU_ASSERT_EQUAL(tf_dp_worker_set_tenant(w, &t, &info, &d), TF_AQ_S_OK);
	t.tenant_id = 7919u * 6;
	CU_ASSERT_EQUAL(tf_dp_worker_set_tenant(w, &t, &info, &d), TF_AQ_S_OK);
	for (uint32_t i = 1; i <= 20000; i++)
		if (i != 5)
			CU_ASSERT_EQUAL_FATAL(tf_dp_worker_get_tenant(w, i * 7919u, &info, &d),
					      TF_AQ_S_OK);
	for (unsigned int k = 0; tf_dp_worker_tenant_stats(w, k, &id, &st) == 0; k++)
		n += id != 0;
	CU_ASSERT_EQUAL(n, 20000);
	rmworker(w);
}

/* The index alone: inserts, lookups and backward-shift deletions over 200 000 ids. */
static void
test_tenant_index(void)
{
	struct tf_dp_tenant_tab t;
	uint32_t n = 200000;

	CU_ASSERT_EQUAL_FATAL(tf_dp_tenants_create(&t, n), 0);
	CU_ASSERT(t.imask + 1 >= 2 * n);
	for (uint32_t i = 0; i < n; i++)
		CU_ASSERT_PTR_NOT_NULL_FATAL(tf_dp_tenants_add(&t, i * 2654435761u));
	CU_ASSERT_PTR_NULL(tf_dp_tenants_add(&t, 12345)); /* full */
	for (uint32_t i = 0; i < n; i += 3) {
		struct tf_dp_tenant *o = tf_dp_tenants_find(&t, i * 2654435761u);

		CU_ASSERT_PTR_NOT_NULL_FATAL(o);
		tf_dp_tenants_unlink(&t, i * 2654435761u);
		tf_dp_tenants_release(&t, o);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct tf_dp_tenant *o = tf_dp_tenants_find(&t, i * 2654435761u);

		if (i % 3 == 0) {
			CU_ASSERT_PTR_NULL(o);
		} else {
			CU_ASSERT(o && o->id == i * 2654435761u);
		}
	}
	CU_ASSERT_EQUAL(t.count, n - (n + 2) / 3);
	/* Released slots are reused: the table fills up to its size again. */
	for (uint32_t i = 0; i < (n + 2) / 3; i++)
		CU_ASSERT_PTR_NOT_NULL_FATAL(tf_dp_tenants_add(&t, 0x80000000u + i));
	CU_ASSERT_EQUAL(t.hwm, n);
	CU_ASSERT_PTR_NULL(tf_dp_tenants_add(&t, 7));
	tf_dp_tenants_destroy(&t);
}

/*
 * A card waiting for its host's configuration (restarted with a BAR) answers a
 * request of a tenant or model it does not know yet with BUSY and a retry-after
 * -- unsigned for the tenant (it has no key), signed for the model -- instead of
 * the final UNKNOWN_TENANT / UNKNOWN_MODEL; once configured, unknown is unknown.
 */
static void
test_unconfigured_card_answers_busy(void)
{
	struct tf_dp_worker_params p = { .id = 0, .nworkers = 1, .io_ops = &fake_io };
	static const uint32_t ids[] = { 3 };
	static volatile uint8_t waiting = 1;
	struct tf_dp_worker *w = NULL;
	const struct tf_dp_counters *c;
	struct resp r;

	p.me = g_card;
	tf_dp_limits_default(&p.limits);
	p.limits.max_requests = 64;
	p.limits.max_queue = 32;
	p.limits.id_table = 256;
	p.limits.token_buffer_bytes = 1 << 20;
	p.host_wait = &waiting;
	p.host_wait_retry_ms = 700;
	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_create(&p, &w), 0);
	g_ntx = g_txpos = 0;
	tf_dp_worker_set_port_mac(w, 0, CARD_MAC);
	c = tf_dp_worker_counters(w);
	send_request(w, 42, 1, ids, 1, 4, 0);
	expect_error(1, TF_PROTO_E_BUSY, 0, UINT32_MAX);
	g_txpos = 0;
	CU_ASSERT_EQUAL(find_resp(TF_PROTO_T_ERROR, 1, &r), 0);
	CU_ASSERT_EQUAL(r.m.u.err.retry_after_ms, 700);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_UNCONFIGURED], 1);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_TENANT], 0);
	/* The host pushed the tenant, not yet the model: a signed BUSY. */
	add_tenant(w, 42, -1, 0, 0);
	send_request(w, 42, 2, ids, 1, 4, 0);
	expect_error(2, TF_PROTO_E_BUSY, 1, UINT32_MAX);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_UNCONFIGURED], 2);
	/* Configured: unknown means unknown. */
	waiting = 0;
	send_request(w, 42, 3, ids, 1, 4, 0);
	expect_error(3, TF_PROTO_E_UNKNOWN_MODEL, 1, 7);
	send_request(w, 43, 4, ids, 1, 4, 0);
	expect_error(4, TF_PROTO_E_UNKNOWN_TENANT, 0, UINT32_MAX);
	CU_ASSERT_EQUAL(c->drop[TF_DROP_AUTH_TENANT], 1);
	CU_ASSERT(c->ev[TF_EV_CFG_CHANGES] >= 1);
	rmworker(w);
	waiting = 1;
}

/* When the card stops waiting for its host (hostwait.h). */
static void
test_hostwait_states(void)
{
	struct tf_dp_hostwait h;
	uint64_t t = 1000000;

	/* The host enables the admin queue, pushes for 2 s, then is quiet: done 500 ms later. */
	tf_dp_hostwait_start(&h, t, 5, 500, 30);
	CU_ASSERT_EQUAL(h.waiting, 1);
	CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 100000, 0, 5), 0);
	CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 900000, 1, 5),
			0); /* ready, nothing pushed yet */
	CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 1900000, 1, 5), 0); /* (event drain, say) */
	for (uint64_t k = 0; k < 20; k++)
		CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 2000000 + k * 100000, 1, 6 + k), 0);
	CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 4200000, 1, 25), 0);
	CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 4400000, 1, 25), 1);
	CU_ASSERT_EQUAL(h.waiting, 0);
	CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 9000000, 1, 99), 0);
	/* No host ever: give up after 30 s. */
	tf_dp_hostwait_start(&h, t, 5, 500, 30);
	CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 29000000, 0, 5), 0);
	CU_ASSERT_EQUAL(tf_dp_hostwait_poll(&h, t + 30000000, 0, 5), 2);
	CU_ASSERT_EQUAL(h.waiting, 0);
}

/* limits.accel_peer_timeout_ms / accel_connect_timeout_ms reach each accelerator connection. */
static void
accel_timeouts(struct tf_dp_limits *l)
{
	l->accel_peer_timeout_ms = 30000;
	l->accel_connect_timeout_ms = 7000;
}

static void
test_accel_timeouts_configurable(void)
{
	struct tf_dp_worker *w = mkworker(0, 1, accel_timeouts);
	struct tf_xport_info info;
	struct standin a;

	standin_start(&a, SI_NORMAL, 1);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	connect_wait(w, &a, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->accels[0].x);
	tf_xport_info(w->accels[0].x, &info);
	CU_ASSERT_EQUAL(info.peer_timeout_ms, 30000);
	rmworker(w);
	standin_stop(&a);
	/* The default stays 5 s. */
	w = mkworker(0, 1, NULL);
	standin_start(&a, SI_NORMAL, 1);
	add_model(w, 7, 64);
	add_accel(w, 1, &a, 7);
	connect_wait(w, &a, NULL);
	tf_xport_info(w->accels[0].x, &info);
	CU_ASSERT_EQUAL(info.peer_timeout_ms, 5000);
	rmworker(w);
	standin_stop(&a);
}

/*
 * Queued prompts stay in their receive buffers (zero copy): a worker holds at
 * most its share of the packet buffers (half the pool over the workers) and
 * answers BUSY beyond, so the card always has buffers left to receive and answer
 * with. (At 100 000 requests outstanding on 8 191 buffers the card had none: it
 * dropped 280 000 of its own answers and half a million received frames.)
 */
static void
test_buffers_held_bounded(void)
{
	struct tf_dp_worker_params p = { .id = 0, .nworkers = 1, .io_ops = &fake_io };
	static const uint32_t ids[] = { 3 };
	struct tf_dp_worker *w = NULL;
	const struct tf_dp_counters *c;
	unsigned int busy = 0, queued;
	struct resp r;

	p.me = g_card;
	tf_dp_limits_default(&p.limits);
	p.limits.max_requests = 512;
	p.limits.max_queue = 400;
	p.limits.id_table = 1024;
	p.limits.token_buffer_bytes = 1 << 20;
	p.pool_frames = 200; /* this worker may hold 100 */
	CU_ASSERT_EQUAL_FATAL(tf_dp_worker_create(&p, &w), 0);
	g_ntx = g_txpos = 0;
	tf_dp_worker_set_port_mac(w, 0, CARD_MAC);
	c = tf_dp_worker_counters(w);
	add_model(w, 7, 64);
	add_tenant(w, 42, -1, 0, 0);
	/* No accelerator up for model 7 yet would refuse at once: give it one that never answers. */
	{
		struct standin a;

		standin_start(&a, SI_SLOW, 1000);
		add_accel(w, 1, &a, 7);
		connect_wait(w, &a, NULL);
		set_batching(w, 1, 0);
		for (uint64_t i = 1; i <= 150; i++)
			send_request(w, 42, i, ids, 1, 64, 0);
		g_txpos = 0;
		while (next_resp(&r) == 0)
			if (r.m.type == TF_PROTO_T_ERROR && r.m.u.err.code == TF_PROTO_E_BUSY)
				busy++;
		queued = 150 - busy;
		CU_ASSERT_EQUAL(busy, 50);
		CU_ASSERT_EQUAL(queued, 100);
		CU_ASSERT_EQUAL(c->drop[TF_DROP_FRAMES_HELD], 50);
		rmworker(w);
		standin_stop(&a);
	}
}

static const struct tf_cunit_test worker_tests[] = {
	TF_TEST(test_arp_icmp_ping),
	TF_TEST(test_request_streams_tokens_then_final),
	TF_TEST(test_every_error_class),
	TF_TEST(test_quota_reserved_refunded_exactly),
	TF_TEST(test_duplicates_and_retransmits_run_once),
	TF_TEST(test_replay_after_cache_eviction),
	TF_TEST(test_cancel_and_resume),
	TF_TEST(test_reassembly_order_overlap_gap),
	TF_TEST(test_mac_algorithm_policy),
	TF_TEST(test_final_carries_last_tokens),
	TF_TEST(test_redispatch_when_accelerator_fails),
	TF_TEST(test_accel_outstanding_exact),
	TF_TEST(test_generation_deadline_silent_accelerator),
	TF_TEST(test_generation_deadline_partial_then_late_end),
	TF_TEST(test_generation_deadline_survives_redispatch),
	TF_TEST(test_generation_deadline_queued),
	TF_TEST(test_generation_deadline_off),
	TF_TEST(test_cancel_grace_gives_up_on_stalled_accelerator),
	TF_TEST(test_cancel_grace_off_keeps_credits),
	TF_TEST(test_phase_clock_counts_poll_phases),
	TF_TEST(test_cut_off_when_tenant_runs_dry),
	TF_TEST(test_rate_and_busy_carry_retry_after),
	TF_TEST(test_handoff_to_owner),
	TF_TEST(test_usage_never_dropped),
	TF_TEST(test_usage_aggregate_mode),
	TF_TEST(test_usage_aggregate_keeps_host_queue_records),
	TF_TEST(test_ctl_routes_to_owner_and_all),
	TF_TEST(test_tenants_scale_by_config),
	TF_TEST(test_tenant_index),
	TF_TEST(test_unconfigured_card_answers_busy),
	TF_TEST(test_hostwait_states),
	TF_TEST(test_accel_timeouts_configurable),
	TF_TEST(test_buffers_held_bounded),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "worker", suite_init, suite_fini, worker_tests })
