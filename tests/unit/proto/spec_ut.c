/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The spec and the codec agree: reads every ```tfhex example of
 * hwdocs/protocol.md section 9, decodes it, checks the MAC and every field
 * against the values the spec's prose gives, and re-encodes those values to
 * the very same bytes.
 */
#include "tf_cunit.h"
#include "ut_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TF_SPEC_PATH
#define TF_SPEC_PATH "hwdocs/protocol.md"
#endif

#define MAX_EX 32

struct example {
	char name[64];
	uint8_t bytes[TF_PROTO_MAX_DGRAM];
	size_t len;
};

static struct example g_ex[MAX_EX];
static int g_nex;
static struct tf_proto_key g_key;

static const char *
spec_path(void)
{
	const char *root = getenv("TF_ROOT");
	static char buf[4096];

	if (root) {
		snprintf(buf, sizeof(buf), "%s/hwdocs/protocol.md", root);
		return buf;
	}
	return TF_SPEC_PATH;
}

/* Parses "0010: ab cd ...  |ascii|" lines of each ```tfhex NAME block. */
static int
load_examples(void)
{
	FILE *f = fopen(spec_path(), "r");
	char line[512];
	struct example *cur = NULL;

	if (!f) {
		fprintf(stderr, "cannot open %s (set TF_ROOT to the source tree)\n", spec_path());
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!cur && strncmp(line, "```tfhex ", 9) == 0) {
			if (g_nex == MAX_EX)
				break;
			cur = &g_ex[g_nex++];
			sscanf(line + 9, "%63s", cur->name);
			continue;
		}
		if (cur && strncmp(line, "```", 3) == 0) {
			cur = NULL;
			continue;
		}
		if (cur) {
			unsigned off;
			char *p = strchr(line, ':');
			char *bar = strchr(line, '|');

			if (!p || sscanf(line, "%x:", &off) != 1 || off != cur->len) {
				fprintf(stderr, "%s: bad offset in line: %s", cur->name, line);
				fclose(f);
				return -1;
			}
			if (bar)
				*bar = '\0';
			p++;
			for (;;) {
				unsigned v;
				int used;

				if (sscanf(p, " %2x%n", &v, &used) != 1)
					break;
				cur->bytes[cur->len++] = (uint8_t)v;
				p += used;
			}
		}
	}
	fclose(f);
	return 0;
}

static int
suite_init(void)
{
	ut_example_key(&g_key);
	return load_examples();
}

static const struct example *
ex(const char *name)
{
	for (int i = 0; i < g_nex; i++)
		if (strcmp(g_ex[i].name, name) == 0)
			return &g_ex[i];
	return NULL;
}

/* Decodes example `name`, checks its MAC and the common header fields. */
static const struct example *
decode_ex(const char *name, struct tf_proto_msg *m, uint8_t type, uint64_t rid, uint64_t ts)
{
	const struct example *e = ex(name);

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL_FATAL(tf_proto_decode(e->bytes, e->len, m), 0);
	CU_ASSERT_EQUAL(m->version, 1);
	CU_ASSERT_EQUAL(m->type, type);
	CU_ASSERT_EQUAL(m->request_id, rid);
	CU_ASSERT_EQUAL(m->timestamp_us, ts);
	CU_ASSERT_EQUAL(m->key_id, 0);
	if (m->mac_alg != TF_PROTO_MAC_NONE) {
		CU_ASSERT_EQUAL(m->tenant_id, 42);
		CU_ASSERT_EQUAL(tf_proto_verify(&g_key, m), 0);
	}
	return e;
}

/* Re-encodes the decoded fields: the spec's bytes must come out. */
static void
reencode_same(const struct example *e, const struct tf_proto_msg *m)
{
	uint8_t out[TF_PROTO_MAX_DGRAM];
	int n = tf_proto_encode(out, sizeof(out), m, m->mac_alg ? &g_key : NULL);

	CU_ASSERT_EQUAL_FATAL(n, (int)e->len);
	CU_ASSERT_EQUAL(memcmp(out, e->bytes, e->len), 0);
}

#define T0 1767225600000000ull

static void
test_all_examples_present(void)
{
	static const char *names[] = { "request-text",
				       "request-tokens",
				       "request-first-part",
				       "fragment",
				       "tokens-text",
				       "tokens-ids",
				       "tokens-beacon",
				       "final-stop",
				       "final-cut-off",
				       "cancel",
				       "resume",
				       "ping",
				       "pong",
				       "error-busy",
				       "error-unknown-tenant",
				       "request-siphash",
				       "final-tokens" };

	CU_ASSERT_EQUAL(g_nex, (int)(sizeof(names) / sizeof(names[0])));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CU_ASSERT_PTR_NOT_NULL(ex(names[i]));
}

static void
test_request_text(void)
{
	struct tf_proto_msg m;
	const struct example *e =
		decode_ex("request-text", &m, TF_PROTO_T_REQUEST, 0x0123456789abcdefull, T0);

	CU_ASSERT_EQUAL(e->len, 94);
	CU_ASSERT_EQUAL(m.payload_len, 46);
	CU_ASSERT_EQUAL(m.u.req.model_id, 7);
	CU_ASSERT_EQUAL(m.u.req.max_new_tokens, 16);
	CU_ASSERT_EQUAL(m.u.req.prompt_total_len, 14);
	CU_ASSERT_EQUAL(m.u.req.prompt_kind, TF_PROTO_PROMPT_TEXT);
	CU_ASSERT_EQUAL(m.u.req.priority, 3);
	CU_ASSERT_EQUAL(m.u.req.req_flags, TF_PROTO_RF_WANT_TEXT);
	CU_ASSERT_EQUAL(m.u.req.temperature, 700);
	CU_ASSERT_EQUAL(m.u.req.top_p, 9000);
	CU_ASSERT_EQUAL(m.u.req.seed, 1234);
	CU_ASSERT_EQUAL(m.u.req.prompt_len, 14);
	CU_ASSERT_EQUAL(memcmp(m.u.req.prompt, "Hello, tokfab!", 14), 0);
	reencode_same(e, &m);
}

static void
test_request_tokens(void)
{
	struct tf_proto_msg m;
	const struct example *e = decode_ex("request-tokens", &m, TF_PROTO_T_REQUEST,
					    0x0123456789abcdf0ull, T0 + 1000);

	CU_ASSERT_EQUAL(m.u.req.model_id, 7);
	CU_ASSERT_EQUAL(m.u.req.max_new_tokens, 4);
	CU_ASSERT_EQUAL(m.u.req.prompt_kind, TF_PROTO_PROMPT_TOKENS);
	CU_ASSERT_EQUAL(m.u.req.priority, 7);
	CU_ASSERT_EQUAL(m.u.req.req_flags, 0);
	CU_ASSERT_EQUAL(m.u.req.temperature, 0);
	CU_ASSERT_EQUAL(m.u.req.top_p, 10000);
	CU_ASSERT_EQUAL(m.u.req.seed, 0);
	CU_ASSERT_EQUAL_FATAL(m.u.req.prompt_len, 12);
	CU_ASSERT_EQUAL(tf_proto_ld32(m.u.req.prompt + 0), 1);
	CU_ASSERT_EQUAL(tf_proto_ld32(m.u.req.prompt + 4), 15043);
	CU_ASSERT_EQUAL(tf_proto_ld32(m.u.req.prompt + 8), 29892);
	reencode_same(e, &m);
}

static void
test_two_part_prompt_reassembles(void)
{
	static const char text[] =
		"The quick brown fox jumps over the lazy dog; then it naps under a tree.";
	struct tf_proto_msg a, b;
	struct tf_proto_reasm r;
	uint8_t buf[128];
	const struct example *ea = decode_ex("request-first-part", &a, TF_PROTO_T_REQUEST,
					     0x0123456789abcdf1ull, T0 + 2000);
	const struct example *eb =
		decode_ex("fragment", &b, TF_PROTO_T_FRAGMENT, 0x0123456789abcdf1ull, T0 + 2001);

	CU_ASSERT_EQUAL(a.u.req.prompt_total_len, 71);
	CU_ASSERT_EQUAL(a.u.req.prompt_len, 64);
	CU_ASSERT_EQUAL(b.u.frag.prompt_total_len, 71);
	CU_ASSERT_EQUAL(b.u.frag.offset, 64);
	CU_ASSERT_EQUAL(b.u.frag.len, 7);
	/* Fragment first, as the spec allows. */
	tf_proto_reasm_init(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(tf_proto_reasm_add(&r, b.u.frag.prompt_total_len, b.u.frag.offset,
					   b.u.frag.data, b.u.frag.len),
			0);
	CU_ASSERT_FALSE(tf_proto_reasm_done(&r));
	CU_ASSERT_EQUAL(tf_proto_reasm_add(&r, a.u.req.prompt_total_len, 0, a.u.req.prompt,
					   a.u.req.prompt_len),
			0);
	CU_ASSERT_TRUE(tf_proto_reasm_done(&r));
	CU_ASSERT_EQUAL(memcmp(buf, text, 71), 0);
	reencode_same(ea, &a);
	reencode_same(eb, &b);
}

static void
test_tokens(void)
{
	struct tf_proto_msg m;
	const struct example *e =
		decode_ex("tokens-text", &m, TF_PROTO_T_TOKENS, 0x0123456789abcdefull, T0 + 50000);

	CU_ASSERT_EQUAL(m.u.tokens.first_seq, 0);
	CU_ASSERT_EQUAL_FATAL(m.u.tokens.n_tokens, 3);
	CU_ASSERT_EQUAL(m.u.tokens.chunk_flags, TF_PROTO_CF_HAS_TEXT);
	CU_ASSERT_EQUAL(tf_proto_token_id(&m.u.tokens, 0), 15043);
	CU_ASSERT_EQUAL(tf_proto_token_id(&m.u.tokens, 1), 1919);
	CU_ASSERT_EQUAL(tf_proto_token_id(&m.u.tokens, 2), 3186);
	CU_ASSERT_EQUAL(m.u.tokens.piece_lens[0], 5);
	CU_ASSERT_EQUAL(m.u.tokens.piece_lens[1], 1);
	CU_ASSERT_EQUAL(m.u.tokens.piece_lens[2], 6);
	CU_ASSERT_EQUAL_FATAL(m.u.tokens.text_len, 12);
	CU_ASSERT_EQUAL(memcmp(m.u.tokens.text, "Hello, world", 12), 0);
	reencode_same(e, &m);

	e = decode_ex("tokens-ids", &m, TF_PROTO_T_TOKENS, 0x0123456789abcdf0ull, T0 + 60000);
	CU_ASSERT_EQUAL(m.u.tokens.first_seq, 2);
	CU_ASSERT_EQUAL_FATAL(m.u.tokens.n_tokens, 2);
	CU_ASSERT_EQUAL(m.u.tokens.chunk_flags, 0);
	CU_ASSERT_PTR_NULL(m.u.tokens.piece_lens);
	CU_ASSERT_EQUAL(tf_proto_token_id(&m.u.tokens, 0), 1919);
	CU_ASSERT_EQUAL(tf_proto_token_id(&m.u.tokens, 1), 3186);
	reencode_same(e, &m);

	e = decode_ex("tokens-beacon", &m, TF_PROTO_T_TOKENS, 0x0123456789abcdf0ull, T0 + 70000);
	CU_ASSERT_EQUAL(m.u.tokens.first_seq, 4);
	CU_ASSERT_EQUAL(m.u.tokens.n_tokens, 0);
	reencode_same(e, &m);
}

static void
test_final(void)
{
	struct tf_proto_msg m;
	const struct example *e =
		decode_ex("final-stop", &m, TF_PROTO_T_FINAL, 0x0123456789abcdefull, T0 + 200000);

	CU_ASSERT_EQUAL(m.flags, 0);
	CU_ASSERT_EQUAL(m.u.final.finish_reason, TF_PROTO_FINISH_STOP);
	CU_ASSERT_EQUAL(m.u.final.error_code, 0);
	CU_ASSERT_EQUAL(m.u.final.prompt_tokens, 5);
	CU_ASSERT_EQUAL(m.u.final.completion_tokens, 3);
	CU_ASSERT_EQUAL(m.u.final.accel_id, 2);
	CU_ASSERT_EQUAL(m.u.final.cost_micro, 1234);
	CU_ASSERT_EQUAL(m.u.final.queue_us, 150);
	CU_ASSERT_EQUAL(m.u.final.total_us, 4200);
	reencode_same(e, &m);

	e = decode_ex("final-cut-off", &m, TF_PROTO_T_FINAL, 0x0123456789abcdefull, T0 + 200001);
	CU_ASSERT_EQUAL(m.flags, TF_PROTO_F_FROM_CACHE);
	CU_ASSERT_EQUAL(m.u.final.finish_reason, TF_PROTO_FINISH_CUT_OFF);
	CU_ASSERT_EQUAL(m.u.final.error_code, TF_PROTO_E_QUOTA_EXHAUSTED);
	CU_ASSERT_EQUAL(m.u.final.completion_tokens, 2);
	CU_ASSERT_EQUAL(m.u.final.cost_micro, 800);
	CU_ASSERT_EQUAL(m.u.final.total_us, 3000);
	reencode_same(e, &m);
}

static void
test_cancel_resume_ping_pong(void)
{
	struct tf_proto_msg m;
	const struct example *e =
		decode_ex("cancel", &m, TF_PROTO_T_CANCEL, 0x0123456789abcdefull, T0 + 100000);

	CU_ASSERT_EQUAL(e->len, TF_PROTO_MIN_DGRAM);
	CU_ASSERT_EQUAL(m.payload_len, 0);
	reencode_same(e, &m);

	e = decode_ex("resume", &m, TF_PROTO_T_RESUME, 0x0123456789abcdefull, T0 + 100000);
	CU_ASSERT_EQUAL(m.flags, TF_PROTO_F_RETRANSMIT);
	CU_ASSERT_EQUAL(m.u.resume.from_seq, 2);
	reencode_same(e, &m);

	e = decode_ex("ping", &m, TF_PROTO_T_PING, 0x0123456789abcdf2ull, T0 + 100000);
	CU_ASSERT_EQUAL(m.u.ping.echo, 0x1122334455667788ull);
	CU_ASSERT_EQUAL(e->len, 64);
	reencode_same(e, &m);

	e = decode_ex("pong", &m, TF_PROTO_T_PONG, 0x0123456789abcdf2ull, T0 + 100250);
	CU_ASSERT_EQUAL(m.u.pong.echo, 0x1122334455667788ull);
	CU_ASSERT_EQUAL(m.u.pong.min_version, 1);
	CU_ASSERT_EQUAL(m.u.pong.max_version, 1);
	CU_ASSERT_EQUAL(m.u.pong.max_dgram, 1472);
	CU_ASSERT_EQUAL(e->len, 64);
	reencode_same(e, &m);
}

static void
test_errors(void)
{
	struct tf_proto_msg m;
	const struct example *e =
		decode_ex("error-busy", &m, TF_PROTO_T_ERROR, 0x0123456789abcdefull, T0 + 100250);

	CU_ASSERT_EQUAL(m.mac_alg, TF_PROTO_MAC_HMAC_SHA256);
	CU_ASSERT_EQUAL(m.u.err.code, TF_PROTO_E_BUSY);
	CU_ASSERT_EQUAL(m.u.err.ref_type, TF_PROTO_T_REQUEST);
	CU_ASSERT_EQUAL(m.u.err.retry_after_ms, 250);
	CU_ASSERT_EQUAL(m.u.err.detail, 0);
	reencode_same(e, &m);

	e = decode_ex("error-unknown-tenant", &m, TF_PROTO_T_ERROR, 0x0123456789abcdefull,
		      T0 + 100250);
	CU_ASSERT_EQUAL(e->len, 44);
	CU_ASSERT_EQUAL(m.mac_alg, TF_PROTO_MAC_NONE);
	CU_ASSERT_PTR_NULL(m.mac);
	CU_ASSERT_EQUAL(m.tenant_id, 99);
	CU_ASSERT_EQUAL(m.u.err.code, TF_PROTO_E_UNKNOWN_TENANT);
	CU_ASSERT_EQUAL(tf_proto_verify(&g_key, &m), -TF_PROTO_R_NO_MAC);
	reencode_same(e, &m);
}

/* 9.16-9.17: SipHash-2-4-128 and a FINAL carrying the last tokens. */
static void
test_siphash_and_final_tokens(void)
{
	struct tf_proto_key hmac_only = g_key;
	struct tf_proto_msg m;
	const struct example *e = decode_ex("request-siphash", &m, TF_PROTO_T_REQUEST,
					    0x0123456789abcdf3ull, T0 + 3000);

	CU_ASSERT_EQUAL(m.mac_alg, TF_PROTO_MAC_SIPHASH);
	CU_ASSERT_EQUAL(m.u.req.max_new_tokens, 2);
	CU_ASSERT_EQUAL(m.u.req.req_flags, TF_PROTO_RF_FINAL_TOKENS);
	CU_ASSERT_EQUAL_FATAL(m.u.req.prompt_len, 8);
	CU_ASSERT_EQUAL(tf_proto_ld32(m.u.req.prompt + 0), 1);
	CU_ASSERT_EQUAL(tf_proto_ld32(m.u.req.prompt + 4), 15043);
	reencode_same(e, &m);
	/* A card that allows HMAC only for this tenant does not accept it. */
	tf_proto_key_restrict(&hmac_only, TF_PROTO_MAC_BIT(TF_PROTO_MAC_HMAC_SHA256));
	CU_ASSERT_EQUAL(tf_proto_verify(&hmac_only, &m), -TF_PROTO_R_BAD_MAC);

	e = decode_ex("final-tokens", &m, TF_PROTO_T_FINAL, 0x0123456789abcdf3ull, T0 + 300000);
	CU_ASSERT_EQUAL(e->len, 96);
	CU_ASSERT_EQUAL(m.payload_len, 48);
	CU_ASSERT_EQUAL(m.mac_alg, TF_PROTO_MAC_SIPHASH);
	CU_ASSERT_EQUAL(m.u.final.finish_reason, TF_PROTO_FINISH_LENGTH);
	CU_ASSERT_EQUAL(m.u.final.final_flags, TF_PROTO_FF_HAS_TOKENS);
	CU_ASSERT_EQUAL(m.u.final.prompt_tokens, 2);
	CU_ASSERT_EQUAL(m.u.final.completion_tokens, 2);
	CU_ASSERT_EQUAL(m.u.final.accel_id, 2);
	CU_ASSERT_EQUAL(m.u.final.cost_micro, 4);
	CU_ASSERT_EQUAL(m.u.final.queue_us, 20);
	CU_ASSERT_EQUAL(m.u.final.total_us, 900);
	CU_ASSERT_EQUAL(m.u.final.tokens.first_seq, 0);
	CU_ASSERT_EQUAL_FATAL(m.u.final.tokens.n_tokens, 2);
	CU_ASSERT_EQUAL(m.u.final.tokens.chunk_flags, 0);
	CU_ASSERT_EQUAL(tf_proto_token_id(&m.u.final.tokens, 0), 1919);
	CU_ASSERT_EQUAL(tf_proto_token_id(&m.u.final.tokens, 1), 3186);
	reencode_same(e, &m);
}

/* Flipping any single bit of any signed example must be caught. */
static void
test_every_bit_flip_detected(void)
{
	for (int i = 0; i < g_nex; i++) {
		struct example c = g_ex[i];
		struct tf_proto_msg m;

		if (c.bytes[7] == TF_PROTO_MAC_NONE)
			continue;
		for (size_t bit = 0; bit < c.len * 8; bit++) {
			int rc;

			c.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			rc = tf_proto_decode(c.bytes, c.len, &m);
			if (rc == 0)
				rc = tf_proto_verify(&g_key, &m);
			CU_ASSERT_NOT_EQUAL(rc, 0);
			c.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
}

static const struct tf_cunit_test spec_tests[] = {
	TF_TEST(test_all_examples_present),
	TF_TEST(test_request_text),
	TF_TEST(test_request_tokens),
	TF_TEST(test_two_part_prompt_reassembles),
	TF_TEST(test_tokens),
	TF_TEST(test_final),
	TF_TEST(test_cancel_resume_ping_pong),
	TF_TEST(test_errors),
	TF_TEST(test_siphash_and_final_tokens),
	TF_TEST(test_every_bit_flip_detected),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "protocol.md examples", suite_init, NULL, spec_tests })
