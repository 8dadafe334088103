/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/xport/entry.c: both sides reject malformed entries
 * (the accelerator the card's BATCH/CANCEL, the card the accelerator's EVENTS). */
#include <errno.h>
#include <string.h>

#include "tf_cunit.h"
#include "xport/entry.h"
#include "xport/ring.h"

static _Alignas(64) uint8_t g_rec[8192];
static struct tf_entry_req g_reqs[TF_ACCEL_MAX_BATCH_REQS];
static struct tf_entry_evt g_evts[64];

static struct tf_accel_req
req_of(uint64_t handle, uint32_t bytes)
{
	return (struct tf_accel_req){
		.handle = handle,
		.tenant = 7,
		.model = 1,
		.prompt_bytes = bytes,
		.prompt_fmt = TF_ACCEL_PROMPT_TOKENS,
		.sampling = { .max_new_tokens = 8,
			      .temperature_milli = 800,
			      .top_p = 9000,
			      .priority = 3,
			      .seed = 42 },
	};
}

/* A BATCH of n requests with prompts of bytes[i]; returns the record length. */
static uint32_t
make_batch(unsigned int n, const uint32_t *bytes)
{
	struct tf_accel_rec h = { .type = TF_ACCEL_REC_BATCH, .count = (uint16_t)n, .seq = 1 };
	uint32_t off = sizeof(h) + n * (uint32_t)sizeof(struct tf_accel_req);

	memset(g_rec, 0, sizeof(g_rec));
	for (unsigned int i = 0; i < n; i++) {
		struct tf_accel_req r = req_of(100 + i, bytes[i]);

		/* headers back to back, then the prompts in the same order */
		memcpy(g_rec + sizeof(h) + i * sizeof(r), &r, sizeof(r));
		for (uint32_t k = 0; k < bytes[i]; k++)
			g_rec[off + k] = (uint8_t)(i + k);
		off += bytes[i];
	}
	h.len = tf_ring_align(off);
	memcpy(g_rec, &h, sizeof(h));
	return h.len;
}

static void
set_field(uint32_t off, const void *v, size_t n)
{
	memcpy(g_rec + off, v, n);
}

static void
test_batch_parses_headers_then_prompts(void)
{
	uint32_t bytes[3] = { 8, 13, 4 };
	uint32_t len = make_batch(3, bytes);

	CU_ASSERT_EQUAL_FATAL(tf_entry_batch_parse(g_rec, len, g_reqs, 256), 3);
	CU_ASSERT_EQUAL(g_reqs[0].hdr.handle, 100);
	CU_ASSERT_EQUAL(g_reqs[1].hdr.prompt_bytes, 13);
	CU_ASSERT_PTR_EQUAL(g_reqs[0].prompt, g_rec + 16 + 3 * 64);
	CU_ASSERT_PTR_EQUAL(g_reqs[1].prompt, g_rec + 16 + 3 * 64 + 8);
	CU_ASSERT_EQUAL(g_reqs[2].prompt[3], (uint8_t)(2 + 3));
	CU_ASSERT_EQUAL(tf_entry_req_check(&g_reqs[0].hdr, NULL), 0);
}

static void
test_batch_structural_rejects(void)
{
	uint32_t bytes[2] = { 8, 8 };
	uint32_t len = make_batch(2, bytes), v;
	uint16_t c;

	/* count larger than the entries present */
	c = 3;
	set_field(12, &c, 2);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len, g_reqs, 256), -TF_ENTRY_E_ENTRY);
	/* a count whose headers alone run past the record */
	len = make_batch(2, bytes);
	c = 40;
	set_field(12, &c, 2);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len, g_reqs, 256), -TF_ENTRY_E_ENTRY);
	/* count 0 */
	len = make_batch(2, bytes);
	c = 0;
	set_field(12, &c, 2);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len, g_reqs, 256), -TF_ENTRY_E_ENTRY);
	/* a prompt length running past the record */
	len = make_batch(2, bytes);
	v = 5000;
	set_field(16 + 16, &v, 4);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len, g_reqs, 256), -TF_ENTRY_E_ENTRY);
	/* prompt length 0 */
	len = make_batch(2, bytes);
	v = 0;
	set_field(16 + 16, &v, 4);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len, g_reqs, 256), -TF_ENTRY_E_ENTRY);
	/* record longer than its entries rounded up to 64 (trailing junk record) */
	len = make_batch(2, bytes);
	v = len + 64;
	set_field(4, &v, 4);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len + 64, g_reqs, 256), -TF_ENTRY_E_ENTRY);
	/* header len disagrees with the copy length */
	len = make_batch(2, bytes);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len - 64, g_reqs, 256), -TF_ENTRY_E_ENTRY);
	/* more requests than the caller has room for */
	len = make_batch(2, bytes);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len, g_reqs, 1), -TF_ENTRY_E_ENTRY);
	/* wrong type */
	len = make_batch(2, bytes);
	c = TF_ACCEL_REC_CANCEL;
	set_field(0, &c, 2);
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, len, g_reqs, 256), -TF_ENTRY_E_ENTRY);
	/* short buffer */
	CU_ASSERT_EQUAL(tf_entry_batch_parse(g_rec, 8, g_reqs, 256), -TF_ENTRY_E_ENTRY);
}

static void
test_request_field_checks(void)
{
	struct tf_accel_req r;
	const char *why;

	r = req_of(1, 8);
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, &why), 0);
	CU_ASSERT_PTR_NULL(why);
	r = req_of(1, 6); /* token ids not a multiple of 4 */
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, &why), TF_ACCEL_ERR_BAD_REQUEST);
	CU_ASSERT_PTR_NOT_NULL(why);
	r.prompt_fmt = TF_ACCEL_PROMPT_TEXT; /* text may be any length */
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), 0);
	r.prompt_fmt = 2;
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), TF_ACCEL_ERR_BAD_REQUEST);
	r = req_of(1, 8);
	r.sampling.max_new_tokens = 0;
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), TF_ACCEL_ERR_BAD_REQUEST);
	r = req_of(1, 8);
	r.sampling.temperature_milli = 10001;
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), TF_ACCEL_ERR_BAD_REQUEST);
	r = req_of(1, 8);
	r.sampling.top_p = 0;
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), TF_ACCEL_ERR_BAD_REQUEST);
	r = req_of(1, 8);
	r.sampling.priority = 8;
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), TF_ACCEL_ERR_BAD_REQUEST);
	r = req_of(1, 8);
	r.reserved[15] = 1;
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), TF_ACCEL_ERR_BAD_REQUEST);
	r = req_of(1, 8);
	r.sampling.reserved[0] = 1;
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), TF_ACCEL_ERR_BAD_REQUEST);
	r = req_of(1, 8);
	r.flags = 1;
	CU_ASSERT_EQUAL(tf_entry_req_check(&r, NULL), TF_ACCEL_ERR_BAD_REQUEST);
}

static void
test_cancel_parse(void)
{
	struct tf_accel_rec h = { .type = TF_ACCEL_REC_CANCEL, .len = 64, .count = 3 };
	uint64_t hs[3] = { 5, 6, 7 }, out[4];

	memset(g_rec, 0, 128);
	memcpy(g_rec, &h, sizeof(h));
	memcpy(g_rec + 16, hs, sizeof(hs));
	CU_ASSERT_EQUAL(tf_entry_cancel_parse(g_rec, 64, out, 4), 3);
	CU_ASSERT_EQUAL(out[2], 7);
	h.count = 7; /* 16 + 56 > 64 */
	memcpy(g_rec, &h, sizeof(h));
	CU_ASSERT_EQUAL(tf_entry_cancel_parse(g_rec, 64, out, 8), -TF_ENTRY_E_ENTRY);
	h.count = 3;
	h.len = 128; /* 40 bytes of entries do not round up to 128 */
	memcpy(g_rec, &h, sizeof(h));
	CU_ASSERT_EQUAL(tf_entry_cancel_parse(g_rec, 128, out, 4), -TF_ENTRY_E_ENTRY);
}

/* An EVENTS record: TOKENS(2 tokens), END, ERROR. */
static uint32_t
make_events(void)
{
	struct tf_accel_tok tok[2] = { { .id = 300, .text_len = 3 }, { .id = 301, .text_len = 2 } };
	struct tf_accel_usage u = { .prompt_tokens = 4,
				    .completion_tokens = 2,
				    .reason = TF_ACCEL_FINISH_MAX_TOKENS };
	struct tf_accel_rec h = { .type = TF_ACCEL_REC_EVENTS, .count = 3 };
	uint32_t off = sizeof(h);
	int n;

	memset(g_rec, 0, sizeof(g_rec));
	n = tf_entry_put_tokens(g_rec + off, 1000, 9, 0, tok, 2, "abcde", 5);
	CU_ASSERT_FATAL(n > 0);
	off += (uint32_t)n;
	n = tf_entry_put_end(g_rec + off, 1000, 9, &u);
	CU_ASSERT_FATAL(n == TF_ENTRY_END_LEN);
	off += (uint32_t)n;
	n = tf_entry_put_error(g_rec + off, 1000, 10, TF_ACCEL_ERR_BUSY, 1, "full", 4);
	CU_ASSERT_FATAL(n > 0);
	off += (uint32_t)n;
	h.len = tf_ring_align(off);
	memcpy(g_rec, &h, sizeof(h));
	return h.len;
}

static void
test_events_roundtrip(void)
{
	uint32_t len = make_events();

	CU_ASSERT_EQUAL_FATAL(tf_entry_events_parse(g_rec, len, g_evts, 64), 3);
	CU_ASSERT_EQUAL(g_evts[0].type, TF_ACCEL_EVT_TOKENS);
	CU_ASSERT_EQUAL(g_evts[0].handle, 9);
	CU_ASSERT_EQUAL(g_evts[0].u.tokens.ntok, 2);
	CU_ASSERT_EQUAL(g_evts[0].u.tokens.tok[1].id, 301);
	CU_ASSERT_NSTRING_EQUAL(g_evts[0].u.tokens.text, "abcde", 5);
	CU_ASSERT_EQUAL(g_evts[1].type, TF_ACCEL_EVT_END);
	CU_ASSERT_EQUAL(g_evts[1].u.end.completion_tokens, 2);
	CU_ASSERT_EQUAL(g_evts[2].type, TF_ACCEL_EVT_ERROR);
	CU_ASSERT_EQUAL(g_evts[2].u.error.code, TF_ACCEL_ERR_BUSY);
	CU_ASSERT_EQUAL(g_evts[2].u.error.retryable, 1);
	CU_ASSERT_NSTRING_EQUAL(g_evts[2].u.error.msg, "full", 4);
}

static void
test_events_rejects(void)
{
	uint32_t len, v;
	uint16_t s;

	/* text lengths not summing to text_bytes */
	len = make_events();
	s = 4;
	set_field(16 + 16 + 8 + 4, &s, 2); /* tok[0].text_len */
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_TEXT);
	/* a token longer than 255 bytes */
	len = make_events();
	s = 256;
	set_field(16 + 16 + 8 + 4, &s, 2);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_TEXT);
	/* ntok over the chunk limit */
	len = make_events();
	s = 65;
	set_field(16 + 16 + 4, &s, 2);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
	/* event length not a multiple of 8 */
	len = make_events();
	v = 41;
	set_field(16 + 4, &v, 4);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
	/* event running past the record */
	len = make_events();
	v = 4096;
	set_field(16 + 4, &v, 4);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
	/* unknown event type */
	len = make_events();
	s = 9;
	set_field(16, &s, 2);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
	/* END with a bad reason (END is at 16 + 48) */
	len = make_events();
	s = 0;
	set_field(16 + 48 + 16 + 8, &s, 2);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
	/* ERROR carrying the card-only CONN_LOST code (ERROR at 16 + 48 + 40) */
	len = make_events();
	s = TF_ACCEL_ERR_CONN_LOST;
	set_field(16 + 48 + 40 + 16, &s, 2);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
	/* count says 4 but only 3 events */
	len = make_events();
	s = 4;
	set_field(12, &s, 2);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
	/* non-zero event flags */
	len = make_events();
	s = 1;
	set_field(16 + 2, &s, 2);
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
	/* unaligned copy */
	len = make_events();
	CU_ASSERT_EQUAL(tf_entry_events_parse(g_rec + 1, len, g_evts, 64), -TF_ENTRY_E_ENTRY);
}

static void
test_encoders_refuse_out_of_spec(void)
{
	struct tf_accel_tok tok[65] = { { .id = 1, .text_len = 1 } };
	struct tf_accel_usage u = { .reason = 0 };
	uint8_t buf[2048];

	CU_ASSERT_EQUAL(tf_entry_put_tokens(buf, sizeof(buf), 1, 0, tok, 65, "", 0), -EINVAL);
	CU_ASSERT_EQUAL(tf_entry_put_tokens(buf, sizeof(buf), 1, 0, tok, 1, "ab", 2), -EINVAL);
	CU_ASSERT_EQUAL(tf_entry_put_tokens(buf, 16, 1, 0, tok, 1, "a", 1), -ENOSPC);
	CU_ASSERT_EQUAL(tf_entry_put_end(buf, sizeof(buf), 1, &u), -EINVAL);
	CU_ASSERT_EQUAL(tf_entry_put_error(buf, sizeof(buf), 1, TF_ACCEL_ERR_PROTOCOL, 0, "", 0),
			-EINVAL);
}

static const struct tf_cunit_test entry_tests[] = {
	TF_TEST(test_batch_parses_headers_then_prompts),
	TF_TEST(test_batch_structural_rejects),
	TF_TEST(test_request_field_checks),
	TF_TEST(test_cancel_parse),
	TF_TEST(test_events_roundtrip),
	TF_TEST(test_events_rejects),
	TF_TEST(test_encoders_refuse_out_of_spec),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "entry", NULL, NULL, entry_tests })
