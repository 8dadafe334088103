/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtfxport end to end over the real shm backend, both sides in this one
 * thread: batches and responses, wrap and credits, request credits, cancel,
 * status and liveness, connection loss with every in-flight request answered,
 * reconnection, and malformed records rejected by each side with its counter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tf_cunit.h"
#include "xport/xport_internal.h"

static char g_dir[] = "/tmp/tf-xport-ut.XXXXXX";
static struct tf_xport_ctx *g_ctx;
static struct tf_xport_listener *g_l;
static struct tf_xport_event g_ev[TF_XPORT_POLL_MAX];
static int g_name;

static int
suite_init(void)
{
	if (!mkdtemp(g_dir))
		return 1;
	setenv("TOKFAB_SHM_DIR", g_dir, 1);
	return tf_xport_ctx_create(&g_ctx) ? 1 : 0;
}

static int
suite_fini(void)
{
	tf_xport_ctx_destroy(g_ctx);
	rmdir(g_dir);
	return 0;
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* A fresh listener + card connection + accepted accelerator connection, both UP. */
static void
pair_up(uint32_t in_ring, uint32_t resp_ring, uint32_t max_inflight, uint32_t peer_timeout,
	struct tf_xport **card, struct tf_xport **accel)
{
	char uri[64];
	int n, up = 0;

	snprintf(uri, sizeof(uri), "shm:ut%d", g_name++);
	CU_ASSERT_EQUAL_FATAL(
		tf_xport_listen(g_ctx,
				&(struct tf_xport_listen_cfg){ .uri = uri,
							       .in_ring_bytes = in_ring,
							       .max_inflight = max_inflight },
				&g_l),
		0);
	CU_ASSERT_EQUAL_FATAL(
		tf_xport_connect(g_ctx,
				 &(struct tf_xport_conn_cfg){ .uri = uri,
							      .resp_ring_bytes = resp_ring,
							      .peer_timeout_ms = peer_timeout,
							      .reconnect_min_ms = 10 },
				 card),
		0);
	CU_ASSERT_EQUAL_FATAL(tf_xport_state(*card), TF_XPORT_STATE_CONNECTING);
	CU_ASSERT_EQUAL_FATAL(tf_xport_accept(g_l, accel), 0);
	CU_ASSERT_EQUAL_FATAL(tf_xport_state(*accel), TF_XPORT_STATE_UP);
	for (int i = 0; i < 1000 && !up; i++) {
		n = tf_xport_poll(*card, g_ev, 16);
		for (int k = 0; k < n; k++)
			up |= g_ev[k].type == TF_XPORT_EV_UP;
	}
	CU_ASSERT_FATAL(up);
	CU_ASSERT_EQUAL_FATAL(tf_xport_state(*card), TF_XPORT_STATE_UP);
}

static void
pair_down(struct tf_xport *card, struct tf_xport *accel)
{
	tf_xport_disconnect(card);
	tf_xport_disconnect(accel);
	tf_xport_listener_close(g_l);
	g_l = NULL;
}

static struct tf_xport_req
mkreq(uint64_t handle, const uint32_t *ids, unsigned int n, struct tf_xport_seg *seg)
{
	seg->addr = ids;
	seg->len = 4 * n;
	seg->mem = NULL;
	return (struct tf_xport_req){
		.handle = handle,
		.tenant = 3,
		.model = 1,
		.prompt_fmt = TF_ACCEL_PROMPT_TOKENS,
		.sampling = { .max_new_tokens = 4, .top_p = 10000, .seed = handle },
		.segs = seg,
		.nsegs = 1,
	};
}

static uint64_t
cnt(struct tf_xport *x, enum tf_xport_counter c)
{
	uint64_t v[TF_XPORT_C_COUNT];

	tf_xport_counters(x, v);
	return v[c];
}

static int
poll_type(struct tf_xport *x, uint16_t type, struct tf_xport_event *out)
{
	for (int i = 0; i < 200; i++) {
		int n = tf_xport_poll(x, g_ev, TF_XPORT_POLL_MAX);

		for (int k = 0; k < n; k++)
			if (g_ev[k].type == type) {
				if (out)
					*out = g_ev[k];
				return 1;
			}
	}
	return 0;
}

static void
test_batch_and_tokens_roundtrip(void)
{
	static const uint32_t p0[] = { 1, 2, 3 }, p1[] = { 9 }, p2[] = { 4, 5 };
	struct tf_xport_seg s[3];
	struct tf_xport_req r[3] = { mkreq(10, p0, 3, &s[0]), mkreq(11, p1, 1, &s[1]),
				     mkreq(12, p2, 2, &s[2]) };
	struct tf_accel_tok tok[2] = { { .id = 77, .text_len = 2 }, { .id = 78, .text_len = 3 } };
	struct tf_xport *card, *accel;
	struct tf_xport_info info;
	int n, got_req = 0, sent = 0, tokens = 0, ends = 0;

	pair_up(0, 0, 0, 0, &card, &accel);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 3, 555), 0);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 1, 556), -EEXIST); /* handle 10 in flight */
	tf_xport_info(card, &info);
	CU_ASSERT_EQUAL(info.inflight, 3);
	CU_ASSERT_EQUAL(info.max_inflight, TF_XPORT_DEF_MAX_INFLIGHT);

	n = tf_xport_poll(accel, g_ev, 64);
	for (int i = 0; i < n; i++) {
		if (g_ev[i].type != TF_XPORT_EV_REQUEST)
			continue;
		const struct tf_accel_req *h = g_ev[i].u.request.hdr;

		CU_ASSERT_EQUAL(h->handle, 10u + (unsigned int)got_req);
		CU_ASSERT_EQUAL(h->tenant, 3);
		CU_ASSERT_EQUAL(h->sampling.seed, h->handle);
		CU_ASSERT_EQUAL(
			memcmp(g_ev[i].u.request.prompt, r[got_req].segs[0].addr, h->prompt_bytes),
			0);
		got_req++;
	}
	CU_ASSERT_EQUAL(got_req, 3);
	for (uint64_t h = 10; h <= 12; h++) {
		struct tf_accel_usage u = { .prompt_tokens = 3,
					    .completion_tokens = 2,
					    .reason = TF_ACCEL_FINISH_MAX_TOKENS };

		CU_ASSERT_EQUAL(tf_xport_resp_tokens(accel, h, 0, tok, 2, "hello", 5), 0);
		CU_ASSERT_EQUAL(tf_xport_resp_end(accel, h, &u), 0);
	}
	CU_ASSERT_EQUAL(tf_xport_resp_end(accel, 10, &(struct tf_accel_usage){ .reason = 1 }),
			-ENOENT); /* already ended */
	CU_ASSERT_EQUAL(tf_xport_resp_flush(accel), 0);

	n = tf_xport_poll(card, g_ev, 64);
	for (int i = 0; i < n; i++) {
		switch (g_ev[i].type) {
		case TF_XPORT_EV_BATCH_SENT:
			CU_ASSERT_EQUAL(g_ev[i].handle, 555);
			sent++;
			break;
		case TF_XPORT_EV_TOKENS:
			CU_ASSERT_EQUAL(g_ev[i].u.tokens.ntok, 2);
			CU_ASSERT_EQUAL(g_ev[i].u.tokens.tok[1].id, 78);
			CU_ASSERT_NSTRING_EQUAL(g_ev[i].u.tokens.text, "hello", 5);
			tokens++;
			break;
		case TF_XPORT_EV_END:
			CU_ASSERT_EQUAL(g_ev[i].u.end.completion_tokens, 2);
			ends++;
			break;
		default:
			CU_FAIL("unexpected event");
		}
	}
	CU_ASSERT_EQUAL(sent, 1);
	CU_ASSERT_EQUAL(tokens, 3);
	CU_ASSERT_EQUAL(ends, 3);
	tf_xport_info(card, &info);
	CU_ASSERT_EQUAL(info.inflight, 0);
	CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_PROTOCOL), 0);
	pair_down(card, accel);
}

/* Thousands of batches of random size through 16 KiB rings: wrap, PAD,
 * credits; every request answered exactly once. */
static void
test_wrap_and_credits(void)
{
	static uint32_t ids[2000];
	struct tf_xport *card, *accel;
	struct tf_xport_seg seg[8];
	struct tf_xport_req r[8];
	uint32_t rnd = 7;
	uint64_t next = 1, answered = 0, enobufs = 0;

	for (unsigned int i = 0; i < 2000; i++)
		ids[i] = i;
	pair_up(TF_ACCEL_RING_MIN, TF_ACCEL_RING_MIN, 64, 0, &card, &accel);
	while (answered < 3000) {
		unsigned int nb = 1 + (rnd >> 5) % 4, n; /* <= 4 x 864 B: under max_record */
		int rc;

		rnd = rnd * 1103515245u + 12345u;
		for (unsigned int i = 0; i < nb; i++)
			r[i] = mkreq(next + i, ids, 1 + (rnd >> (i + 3)) % 200, &seg[i]);
		if (next < 3000) {
			rc = tf_xport_batch_post(card, r, nb, next);
			if (rc == 0)
				next += nb;
			else if (rc == -ENOBUFS || rc == -EBUSY)
				enobufs++;
			else
				CU_FAIL_FATAL("unexpected post error");
		}
		/* the accelerator answers what it got, only every other round */
		if (rnd & 0x100) {
			n = (unsigned int)tf_xport_poll(accel, g_ev, 64);
			for (unsigned int i = 0; i < n; i++) {
				struct tf_accel_usage u = { .prompt_tokens = 1,
							    .reason = TF_ACCEL_FINISH_EOS };

				CU_ASSERT_EQUAL_FATAL(g_ev[i].type, TF_XPORT_EV_REQUEST);
				CU_ASSERT_EQUAL_FATAL(tf_xport_resp_end(accel, g_ev[i].handle, &u),
						      0);
			}
			CU_ASSERT_EQUAL_FATAL(tf_xport_resp_flush(accel), 0);
			tf_xport_credits_return(accel);
		}
		n = (unsigned int)tf_xport_poll(card, g_ev, 64);
		for (unsigned int i = 0; i < n; i++) {
			if (g_ev[i].type == TF_XPORT_EV_END)
				answered++;
			else
				CU_ASSERT_EQUAL_FATAL(g_ev[i].type, TF_XPORT_EV_BATCH_SENT);
		}
		tf_xport_credits_return(card);
		if (next >= 3000 && answered < 3000 && !(rnd & 0x100))
			continue;
	}
	CU_ASSERT_EQUAL(answered, next - 1);
	CU_ASSERT(enobufs > 0); /* credits really bounded the producer */
	CU_ASSERT(cnt(card, TF_XPORT_C_BYTES_TX) > 8 * TF_ACCEL_RING_MIN); /* wrapped often */
	CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_PROTOCOL) + cnt(accel, TF_XPORT_C_PROTOCOL), 0);
	pair_down(card, accel);
}

static void
test_request_credits(void)
{
	static const uint32_t p[] = { 1 };
	struct tf_xport_seg s[6];
	struct tf_xport_req r[6];
	struct tf_xport *card, *accel;
	int busy = 0, n;

	for (int i = 0; i < 6; i++)
		r[i] = mkreq(100 + (uint64_t)i, p, 1, &s[i]);
	pair_up(0, 0, 4, 0, &card, &accel);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 5, 1), -EBUSY);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 4, 1), 0);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r + 4, 1, 2), -EBUSY);
	/* a card that ignores its credits: the accelerator answers BUSY */
	card->max_inflight = 100;
	card->inflight.limit = 8;
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r + 4, 2, 2), 0);
	n = tf_xport_poll(accel, g_ev, 64);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(cnt(accel, TF_XPORT_C_RX_OVER_CREDIT), 2);
	CU_ASSERT_EQUAL(tf_xport_resp_flush(accel), 0);
	for (int i = 0; i < 20; i++) {
		n = tf_xport_poll(card, g_ev, 64);
		for (int k = 0; k < n; k++)
			if (g_ev[k].type == TF_XPORT_EV_ERROR) {
				CU_ASSERT_EQUAL(g_ev[k].u.error.code, TF_ACCEL_ERR_BUSY);
				CU_ASSERT_EQUAL(g_ev[k].u.error.retryable, 1);
				busy++;
			}
	}
	CU_ASSERT_EQUAL(busy, 2);
	pair_down(card, accel);
}

static void
test_bad_fields_and_duplicates_answered(void)
{
	static const uint32_t p[] = { 1, 2 };
	struct tf_xport_seg s[2];
	struct tf_xport_req r[2] = { mkreq(1, p, 2, &s[0]), mkreq(2, p, 2, &s[1]) };
	struct tf_xport *card, *accel;
	struct tf_xport_event ev;
	int n;

	pair_up(0, 0, 0, 0, &card, &accel);
	/* the card's own library refuses out-of-range fields before they leave */
	r[0].sampling.priority = 9;
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 1, 1), -EINVAL);
	r[0].sampling.priority = 1;
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 2, 1), 0);
	n = tf_xport_poll(accel, g_ev, 64);
	CU_ASSERT_EQUAL(n, 2);
	/* corrupt the next batch in the accelerator's ring before it looks:
	 * priority 9 in request 3 -> ERROR BAD_REQUEST for that request only */
	r[0].handle = 3;
	r[1].handle = 4;
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 2, 2), 0);
	{
		uint32_t off = tf_ring_off(&accel->rx, accel->rx.cons);
		uint8_t *req0 = accel->lregion + TF_ACCEL_RING_OFF + off + 16;

		req0[offsetof(struct tf_accel_req, sampling) +
		     offsetof(struct tf_accel_sampling, priority)] = 9;
	}
	n = tf_xport_poll(accel, g_ev, 64);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(g_ev[0].handle, 4);
	CU_ASSERT_EQUAL(cnt(accel, TF_XPORT_C_RX_BAD_FIELD), 1);
	/* a duplicate handle: the card forgets handle 4 and sends it again */
	tf_handles_del(&card->inflight, 4);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r + 1, 1, 3), 0);
	n = tf_xport_poll(accel, g_ev, 64);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(cnt(accel, TF_XPORT_C_RX_DUP_HANDLE), 1);
	CU_ASSERT_EQUAL(tf_xport_resp_flush(accel), 0);
	CU_ASSERT(poll_type(card, TF_XPORT_EV_ERROR, &ev));
	CU_ASSERT_EQUAL(ev.handle, 3);
	CU_ASSERT_EQUAL(ev.u.error.code, TF_ACCEL_ERR_BAD_REQUEST);
	CU_ASSERT_EQUAL(ev.u.error.retryable, 0);
	CU_ASSERT_EQUAL(tf_xport_state(accel), TF_XPORT_STATE_UP);
	pair_down(card, accel);
}

/* The accelerator rejects structurally bad records and drops the connection. */
static void
test_accel_rejects_bad_records(void)
{
	static const uint32_t p[] = { 1, 2 };
	static const struct {
		enum tf_xport_counter c;
		int how;
	} cases[] = {
		{ TF_XPORT_C_RX_BAD_SEQ, 0 },	{ TF_XPORT_C_RX_BAD_EPOCH, 1 },
		{ TF_XPORT_C_RX_BAD_ENTRY, 2 }, { TF_XPORT_C_RX_BAD_REC, 3 },
		{ TF_XPORT_C_RX_BAD_INDEX, 4 },
	};

	for (unsigned int k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct tf_xport_seg s;
		struct tf_xport_req r = mkreq(1, p, 2, &s);
		struct tf_xport *card, *accel;
		uint8_t *rec;

		pair_up(0, 0, 0, 0, &card, &accel);
		if (cases[k].how == 0)
			card->tx.seq++;
		if (cases[k].how == 1)
			card->tx.epoch ^= 0x100;
		CU_ASSERT_EQUAL(tf_xport_batch_post(card, &r, 1, 1), 0);
		rec = accel->lregion + TF_ACCEL_RING_OFF;
		if (cases[k].how == 2) /* prompt_bytes past the record */
			memcpy(rec + 16 + 16, &(uint32_t){ 4000 }, 4);
		if (cases[k].how == 3) /* len not a multiple of 64 */
			memcpy(rec + 4, &(uint32_t){ 100 }, 4);
		if (cases[k].how == 4) /* producer index a whole ring ahead */
			tf_xport_db_store(accel->lregion,
					  TF_ACCEL_DB(TF_XPORT_DEF_IN_RING + 128, 0));
		CU_ASSERT_EQUAL(tf_xport_poll(accel, g_ev, 64) >= 1 ? g_ev[0].type : 0,
				TF_XPORT_EV_DOWN);
		CU_ASSERT_EQUAL(cnt(accel, cases[k].c), 1);
		CU_ASSERT_EQUAL(cnt(accel, TF_XPORT_C_PROTOCOL), 1);
		CU_ASSERT_EQUAL(tf_xport_state(accel), TF_XPORT_STATE_DOWN);
		pair_down(card, accel);
	}
}

/* The card rejects bad EVENTS: the connection drops and every request in
 * flight fails PROTOCOL (retryable) -- none is left without an answer. */
static void
test_card_rejects_bad_events(void)
{
	static const uint32_t p[] = { 1 };
	struct tf_accel_tok tok = { .id = 5, .text_len = 1 };

	for (int how = 0; how < 4; how++) {
		struct tf_xport_seg s[2];
		struct tf_xport_req r[2] = { mkreq(1, p, 1, &s[0]), mkreq(2, p, 1, &s[1]) };
		struct tf_xport *card, *accel;
		int n, down = 0, failed = 0;
		enum tf_xport_counter want;

		pair_up(0, 0, 0, 0, &card, &accel);
		CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 2, 1), 0);
		CU_ASSERT_EQUAL(tf_xport_poll(accel, g_ev, 64), 2);
		if (how == 0) { /* token index gap */
			CU_ASSERT_EQUAL(tf_xport_resp_tokens(accel, 1, 3, &tok, 1, "x", 1), 0);
			want = TF_XPORT_C_RX_BAD_TOKEN_INDEX;
		} else if (how == 1) { /* END for a request the card never sent */
			tf_handles_add(&accel->inflight, 99, NULL);
			CU_ASSERT_EQUAL(tf_xport_resp_end(accel, 99,
							  &(struct tf_accel_usage){ .reason = 1 }),
					0);
			want = TF_XPORT_C_RX_UNKNOWN_HANDLE;
		} else if (how == 2) { /* text lengths lie */
			CU_ASSERT_EQUAL(tf_xport_resp_tokens(accel, 1, 0, &tok, 1, "x", 1), 0);
			want = TF_XPORT_C_RX_BAD_TEXT;
		} else { /* response credits returned beyond what the card produced */
			want = TF_XPORT_C_RX_BAD_CREDIT;
		}
		CU_ASSERT_EQUAL(tf_xport_resp_flush(accel), 0);
		if (how == 2) /* tok[0].text_len = 2 in the card's ring */
			memcpy(card->lregion + TF_ACCEL_RING_OFF + 16 + 16 + 8 + 4,
			       &(uint16_t){ 2 }, 2);
		if (how == 3) /* next post reads credits from the doorbell word */
			tf_xport_db_store(card->lregion, TF_ACCEL_DB(0, 4096));
		if (how == 3)
			CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 1, 2), -ENOTCONN);
		for (int i = 0; i < 10; i++) {
			n = tf_xport_poll(card, g_ev, 64);
			for (int k = 0; k < n; k++) {
				down += g_ev[k].type == TF_XPORT_EV_DOWN;
				if (g_ev[k].type == TF_XPORT_EV_ERROR) {
					CU_ASSERT_EQUAL(g_ev[k].u.error.code,
							TF_ACCEL_ERR_PROTOCOL);
					CU_ASSERT_EQUAL(g_ev[k].u.error.retryable, 1);
					failed++;
				}
			}
		}
		CU_ASSERT_EQUAL(down, 1);
		CU_ASSERT_EQUAL(failed, 2);
		CU_ASSERT_EQUAL(cnt(card, want), 1);
		CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_REQS_FAILED), 2);
		pair_down(card, accel);
	}
}

/* The accelerator goes away mid-batch: DOWN, CONN_LOST (retryable) for each
 * request in flight, BATCH_SENT for the batches; then the card reconnects by
 * itself with a new epoch. */
static void
test_loss_fails_inflight_and_reconnects(void)
{
	static const uint32_t p[] = { 1 };
	struct tf_xport_seg s[3];
	struct tf_xport_req r[3] = { mkreq(1, p, 1, &s[0]), mkreq(2, p, 1, &s[1]),
				     mkreq(3, p, 1, &s[2]) };
	struct tf_xport *card, *accel, *accel2;
	struct tf_xport_info info;
	uint32_t epoch;
	int n, lost = 0, up = 0;

	pair_up(0, 0, 0, 0, &card, &accel);
	tf_xport_info(card, &info);
	epoch = info.epoch;
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 3, 1), 0);
	CU_ASSERT_EQUAL(tf_xport_poll(accel, g_ev, 64), 3);
	tf_xport_disconnect(accel);
	for (int i = 0; i < 100 && !lost; i++) {
		sleep_ms(2);
		n = tf_xport_poll(card, g_ev, 64);
		for (int k = 0; k < n; k++)
			if (g_ev[k].type == TF_XPORT_EV_ERROR) {
				CU_ASSERT_EQUAL(g_ev[k].u.error.code, TF_ACCEL_ERR_CONN_LOST);
				CU_ASSERT_EQUAL(g_ev[k].u.error.retryable, 1);
				lost++;
			}
	}
	CU_ASSERT_EQUAL(lost, 3);
	CU_ASSERT_EQUAL(tf_xport_state(card), TF_XPORT_STATE_DOWN);
	CU_ASSERT(strstr(tf_xport_last_error(card), "went away") != NULL);
	CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_CONN_LOST), 1);
	/* back-off, then a new attempt the listener accepts */
	for (int i = 0; i < 200 && tf_xport_state(card) != TF_XPORT_STATE_CONNECTING; i++) {
		sleep_ms(2);
		tf_xport_poll(card, g_ev, 64);
	}
	CU_ASSERT_EQUAL_FATAL(tf_xport_state(card), TF_XPORT_STATE_CONNECTING);
	CU_ASSERT_EQUAL_FATAL(tf_xport_accept(g_l, &accel2), 0);
	for (int i = 0; i < 100 && !up; i++) {
		n = tf_xport_poll(card, g_ev, 64);
		for (int k = 0; k < n; k++)
			up |= g_ev[k].type == TF_XPORT_EV_UP;
	}
	CU_ASSERT(up);
	tf_xport_info(card, &info);
	CU_ASSERT_NOT_EQUAL(info.epoch, epoch);
	CU_ASSERT_EQUAL(info.connects, 2);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 3, 2), 0); /* same handles: fresh ring */
	CU_ASSERT_EQUAL(tf_xport_poll(accel2, g_ev, 64), 3);
	pair_down(card, accel2);
}

static void
test_status_and_heartbeat_timeout(void)
{
	static const uint32_t p[] = { 1 };
	struct tf_accel_status st = {
		.flags = TF_ACCEL_ST_HEALTHY, .max_inflight = 8, .nmodels = 1, .heartbeat_ms = 1
	};
	struct tf_xport_seg s;
	struct tf_xport_req r = mkreq(1, p, 1, &s);
	struct tf_xport *card, *accel;
	struct tf_accel_status got;
	struct tf_xport_event ev;

	pair_up(0, 0, 0, 150, &card, &accel);
	CU_ASSERT_EQUAL(tf_xport_peer_status(card, &got), -EAGAIN); /* none yet */
	strcpy(st.name, "acc0");
	st.models[0].model_id = 1;
	strcpy(st.models[0].name, "stories");
	CU_ASSERT_EQUAL(tf_xport_status_publish(accel, &st), 0);
	CU_ASSERT_EQUAL(tf_xport_peer_status(card, &got), 0);
	CU_ASSERT_STRING_EQUAL(got.name, "acc0");
	CU_ASSERT_EQUAL(got.models[0].model_id, 1);
	CU_ASSERT_EQUAL(got.gen, got.gen_end);
	/* a request in flight and no more heartbeats: declared dead */
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, &r, 1, 1), 0);
	for (int i = 0; i < 100 && tf_xport_state(card) == TF_XPORT_STATE_UP; i++) {
		sleep_ms(5);
		tf_xport_poll(accel, g_ev, 64); /* alive but silent */
		tf_xport_poll(card, g_ev, 64);
	}
	CU_ASSERT_EQUAL(tf_xport_state(card), TF_XPORT_STATE_DOWN);
	CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_PEER_TIMEOUT), 1);
	pair_down(card, accel);
	(void)ev;
}

static void
test_cancel_reaches_accelerator(void)
{
	static const uint32_t p[] = { 1 };
	struct tf_xport_seg s;
	struct tf_xport_req r = mkreq(42, p, 1, &s);
	struct tf_xport *card, *accel;
	struct tf_xport_event ev;
	uint64_t hs[2] = { 42, 43 };

	pair_up(0, 0, 0, 0, &card, &accel);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, &r, 1, 1), 0);
	CU_ASSERT_EQUAL(tf_xport_cancel(card, hs, 2), 0);
	CU_ASSERT(poll_type(accel, TF_XPORT_EV_CANCEL, &ev));
	CU_ASSERT_EQUAL(ev.handle, 42); /* 43 is not in flight: ignored */
	pair_down(card, accel);
}

/* The card's handle-table slot a handle lands in first (handles.c hashing). */
static uint32_t
home_slot(const struct tf_handles *h, uint64_t handle)
{
	return (uint32_t)((handle * 0x9e3779b97f4a7c15ull) >> 32) & h->mask;
}

/*
 * The card gives up on a request the accelerator ignores (tf_xport_forget):
 * its credit is free at once, the same handle cannot be posted again while
 * remembered, a new request that takes its table slot is not confused with
 * it, and the accelerator's late TOKENS/END for it are dropped and counted
 * (not a protocol violation); its END ends the memory.
 */
static void
test_forget_frees_credit_and_drops_late_events(void)
{
	static const uint32_t p[] = { 1 };
	struct tf_xport_seg s[4];
	struct tf_xport_req r[4];
	struct tf_xport *card, *accel;
	struct tf_xport_info info;
	struct tf_accel_tok t = { .id = 9, .text_len = 0 };
	struct tf_accel_usage u = { .prompt_tokens = 1,
				    .completion_tokens = 1,
				    .reason = TF_ACCEL_FINISH_CANCELLED };
	uint64_t h1 = 1, h3 = 3;
	int n, ends = 0, other = 0;

	pair_up(0, 0, 2, 0, &card, &accel);
	/* a third handle that lands in h1's slot of the card's table */
	while (home_slot(&card->inflight, h3) != home_slot(&card->inflight, h1))
		h3++;
	r[0] = mkreq(h1, p, 1, &s[0]);
	r[1] = mkreq(2, p, 1, &s[1]);
	r[2] = mkreq(h3, p, 1, &s[2]);
	r[3] = mkreq(h1, p, 1, &s[3]);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 2, 1), 0);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, &r[2], 1, 2), -EBUSY);
	CU_ASSERT_EQUAL(tf_xport_poll(accel, g_ev, 64), 2);
	CU_ASSERT_EQUAL(tf_xport_cancel(card, &h1, 1), 0); /* the accelerator ignores it */
	CU_ASSERT_EQUAL(tf_xport_forget(accel, h1), -ENOTCONN); /* card side only */
	CU_ASSERT_EQUAL(tf_xport_forget(card, 99), -ENOENT);
	CU_ASSERT_EQUAL(tf_xport_forget(card, h1), 0);
	CU_ASSERT_EQUAL(tf_xport_forget(card, h1), -ENOENT);
	tf_xport_info(card, &info);
	CU_ASSERT_EQUAL(info.inflight, 1);
	CU_ASSERT_EQUAL(info.abandoned, 1);
	CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_ABANDONED), 1);
	/* remembered: the accelerator may still hold h1 */
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, &r[3], 1, 3), -EEXIST);
	/* the credit is free: h3 goes out, into the slot h1 had */
	CU_ASSERT_EQUAL_FATAL(tf_xport_batch_post(card, &r[2], 1, 4), 0);
	CU_ASSERT_EQUAL(card->inflight.ent[home_slot(&card->inflight, h1)].handle, h3);
	/* the accelerator wakes up: a token and END for h1 (late), then takes h3 */
	CU_ASSERT_EQUAL(tf_xport_resp_tokens(accel, h1, 0, &t, 1, NULL, 0), 0);
	CU_ASSERT_EQUAL(tf_xport_resp_end(accel, h1, &u), 0);
	CU_ASSERT_EQUAL(tf_xport_poll(accel, g_ev, 64), 1);
	CU_ASSERT_EQUAL(tf_xport_resp_flush(accel), 0);
	for (int i = 0; i < 50; i++) {
		n = tf_xport_poll(card, g_ev, 64);
		for (int k = 0; k < n; k++)
			other += g_ev[k].type != TF_XPORT_EV_BATCH_SENT;
	}
	CU_ASSERT_EQUAL(other, 0); /* nothing of h1 was delivered, to h3 or anyone */
	/* h3 ends with no tokens: had h1's token been taken for h3, this END would
	 * count other tokens than were streamed (a protocol violation) */
	u.completion_tokens = 0;
	CU_ASSERT_EQUAL(tf_xport_resp_end(accel, h3, &u), 0);
	CU_ASSERT_EQUAL(tf_xport_resp_flush(accel), 0);
	for (int i = 0; i < 50; i++) {
		n = tf_xport_poll(card, g_ev, 64);
		for (int k = 0; k < n; k++)
			ends += g_ev[k].type == TF_XPORT_EV_END && g_ev[k].handle == h3;
	}
	CU_ASSERT_EQUAL(ends, 1);
	CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_RX_ABANDONED), 2);
	CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_RX_UNKNOWN_HANDLE), 0);
	CU_ASSERT_EQUAL(cnt(card, TF_XPORT_C_PROTOCOL), 0);
	CU_ASSERT_EQUAL(tf_xport_state(card), TF_XPORT_STATE_UP);
	tf_xport_info(card, &info);
	CU_ASSERT_EQUAL(info.inflight, 1); /* 2 */
	CU_ASSERT_EQUAL(info.abandoned, 0); /* its END ended the memory */
	/* h1 may be posted again now */
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, &r[3], 1, 5), 0);
	pair_down(card, accel);
}

/* Remembering is bounded (max_inflight handles); a loss forgets everything. */
static void
test_forget_bounded_and_cleared_by_loss(void)
{
	static const uint32_t p[] = { 1 };
	struct tf_xport_seg s[3];
	struct tf_xport_req r[3];
	struct tf_xport *card, *accel;
	struct tf_xport_info info;
	int lost_errs = 0, n;

	for (int i = 0; i < 3; i++)
		r[i] = mkreq(10 + (uint64_t)i, p, 1, &s[i]);
	pair_up(0, 0, 2, 0, &card, &accel);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, r, 2, 1), 0);
	CU_ASSERT_EQUAL(tf_xport_forget(card, 10), 0);
	CU_ASSERT_EQUAL(tf_xport_forget(card, 11), 0);
	CU_ASSERT_EQUAL(tf_xport_batch_post(card, &r[2], 1, 2), 0);
	CU_ASSERT_EQUAL(tf_xport_forget(card, 12), -ENOSPC);
	tf_xport_info(card, &info);
	CU_ASSERT_EQUAL(info.inflight, 1); /* 12 kept its credit */
	CU_ASSERT_EQUAL(info.abandoned, 2);
	/* the accelerator goes away: only 12 gets its CONN_LOST, the memory is gone */
	tf_xport_disconnect(accel);
	for (int i = 0; i < 200 && tf_xport_state(card) == TF_XPORT_STATE_UP; i++)
		sleep_ms(5), tf_xport_poll(card, g_ev, 0);
	n = tf_xport_poll(card, g_ev, 64);
	for (int k = 0; k < n; k++)
		if (g_ev[k].type == TF_XPORT_EV_ERROR) {
			CU_ASSERT_EQUAL(g_ev[k].handle, 12);
			lost_errs++;
		}
	CU_ASSERT_EQUAL(lost_errs, 1);
	tf_xport_info(card, &info);
	CU_ASSERT_EQUAL(info.abandoned, 0);
	CU_ASSERT_EQUAL(tf_xport_forget(card, 12), -ENOTCONN);
	tf_xport_disconnect(card);
	tf_xport_listener_close(g_l);
	g_l = NULL;
}

static uint64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* tf_xport_wait(): shm cannot notify, so an idle connection is polled (the
 * sleep ends after poll_us, not the timeout); a rung doorbell or a connecting
 * card ends it at once; with nothing to watch it sleeps out the timeout. */
static void
test_wait_polls_shm_and_wakes_on_connect(void)
{
	static const uint32_t p0[] = { 1, 2 };
	struct tf_xport_seg s;
	struct tf_xport_req r = mkreq(40, p0, 2, &s);
	struct tf_xport *card, *accel, *card2;
	struct tf_xport *xs[2];
	char uri[64];
	uint64_t t0;

	pair_up(0, 0, 0, 0, &card, &accel);
	xs[0] = accel;
	xs[1] = NULL;
	/* idle: polled every 2 ms although the timeout is 10 s */
	t0 = ms_now();
	CU_ASSERT_EQUAL(tf_xport_wait(xs, 2, NULL, 0, 10000000, 2000), 0);
	CU_ASSERT(ms_now() - t0 < 5000);
	/* the card rang the doorbell: no sleep, and the request is there */
	CU_ASSERT_EQUAL_FATAL(tf_xport_batch_post(card, &r, 1, 1), 0);
	t0 = ms_now();
	CU_ASSERT_EQUAL(tf_xport_wait(xs, 1, NULL, 0, 10000000, 10000000), 1);
	CU_ASSERT(ms_now() - t0 < 5000);
	CU_ASSERT(poll_type(accel, TF_XPORT_EV_REQUEST, NULL));
	/* a listener alone: sleeps the timeout; a connecting card wakes it */
	t0 = ms_now();
	CU_ASSERT_EQUAL(tf_xport_wait(NULL, 0, &g_l, 1, 20000, 0), 0);
	CU_ASSERT(ms_now() - t0 >= 15);
	snprintf(uri, sizeof(uri), "shm:ut%d", g_name - 1); /* pair_up's listener */
	CU_ASSERT_EQUAL_FATAL(
		tf_xport_connect(g_ctx, &(struct tf_xport_conn_cfg){ .uri = uri }, &card2), 0);
	t0 = ms_now();
	CU_ASSERT_EQUAL(tf_xport_wait(NULL, 0, &g_l, 1, 10000000, 10000000), 1);
	CU_ASSERT(ms_now() - t0 < 5000);
	tf_xport_disconnect(card2);
	pair_down(card, accel);
}

static void
test_config_errors_say_what(void)
{
	struct tf_xport *x;
	struct tf_xport_listener *l;

	CU_ASSERT_EQUAL(tf_xport_connect(g_ctx, &(struct tf_xport_conn_cfg){ .uri = "nope" }, &x),
			-EINVAL);
	CU_ASSERT(strstr(tf_xport_strerror_cfg(), "rdma:ADDR:PORT") != NULL);
	CU_ASSERT_EQUAL(tf_xport_connect(g_ctx, &(struct tf_xport_conn_cfg){ .uri = "tcp:x" }, &x),
			-ENOENT);
	CU_ASSERT_EQUAL(tf_xport_connect(g_ctx,
					 &(struct tf_xport_conn_cfg){ .uri = "shm:a",
								      .resp_ring_bytes = 5000 },
					 &x),
			-EINVAL);
	CU_ASSERT(strstr(tf_xport_strerror_cfg(), "power of two") != NULL);
	CU_ASSERT_EQUAL(tf_xport_listen(g_ctx,
					&(struct tf_xport_listen_cfg){ .uri = "shm:a",
								       .in_ring_bytes = 1 << 27 },
					&l),
			-EINVAL);
	/* nobody listens: the connection exists and keeps trying */
	CU_ASSERT_EQUAL(
		tf_xport_connect(g_ctx, &(struct tf_xport_conn_cfg){ .uri = "shm:none" }, &x), 0);
	CU_ASSERT_EQUAL(tf_xport_state(x), TF_XPORT_STATE_DOWN);
	CU_ASSERT(strstr(tf_xport_last_error(x), "tokfab-accel --listen shm:none") != NULL);
	tf_xport_disconnect(x);
}

static const struct tf_cunit_test shm_tests[] = {
	TF_TEST(test_batch_and_tokens_roundtrip),
	TF_TEST(test_wrap_and_credits),
	TF_TEST(test_request_credits),
	TF_TEST(test_bad_fields_and_duplicates_answered),
	TF_TEST(test_accel_rejects_bad_records),
	TF_TEST(test_card_rejects_bad_events),
	TF_TEST(test_loss_fails_inflight_and_reconnects),
	TF_TEST(test_status_and_heartbeat_timeout),
	TF_TEST(test_cancel_reaches_accelerator),
	TF_TEST(test_forget_frees_credit_and_drops_late_events),
	TF_TEST(test_forget_bounded_and_cleared_by_loss),
	TF_TEST(test_wait_polls_shm_and_wakes_on_connect),
	TF_TEST(test_config_errors_say_what),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "xport_shm", suite_init, suite_fini, shm_tests })
