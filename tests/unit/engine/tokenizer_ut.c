/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokenizer.bin parsing and BPE (kernels/engine/tokenizer.c): text of any
 * bytes round-trips, byte fallback covers what no piece does, merges shorten
 * ordinary text, and malformed files are refused with a message.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "testutil.h"
#include "tf_cunit.h"
#include "tokenizer.h"

static struct tmodel g_tm;
static unsigned char *g_img;
static size_t g_len;
static struct tf_tokenizer g_tok;

static int
suite_init(void)
{
	char err[256];

	if (tmodel_make(&g_tm, &TM_GQA))
		return -1;
	g_img = slurp(g_tm.tok, &g_len);
	if (!g_img)
		return -1;
	return tf_tok_load(&g_tok, g_tm.tok, TM_GQA.vocab_size, err, sizeof(err));
}

static int
suite_fini(void)
{
	tf_tok_free(&g_tok);
	free(g_img);
	tmodel_remove(&g_tm);
	return 0;
}

/* Encodes then concatenates the pieces' text; 0 when it equals want. */
static int
round_trip(const struct tf_tokenizer *t, const char *text, size_t len, unsigned flags)
{
	int32_t *ids = malloc((len + 3) * sizeof(*ids));
	char *back = malloc(len + 2);
	size_t at = 0, off = 0;
	int n, rc = 0;

	n = tf_tok_encode(t, text, len, flags, ids, len + 3);
	if (n < 0) {
		rc = -1;
		goto out;
	}
	if ((flags & TF_ENGINE_TOK_BOS) && (n == 0 || ids[0] != TF_TOK_BOS))
		rc = -2;
	for (int i = 0; i < n && !rc; i++) {
		const struct tf_tok_piece *p = &t->pieces[ids[i]];

		if (at + p->text_len > len + 1) {
			rc = -3;
			break;
		}
		memcpy(back + at, p->text, p->text_len);
		at += p->text_len;
	}
	if (!rc && (flags & TF_ENGINE_TOK_SPACE_PREFIX) && len) {
		if (at == 0 || back[0] != ' ')
			rc = -4;
		off = 1;
	}
	if (!rc && (at - off != len || memcmp(back + off, text, len) != 0))
		rc = -5;
out:
	free(ids);
	free(back);
	return rc;
}

static void
test_round_trips(void)
{
	static const char *texts[] = {
		"",
		"a",
		"Once upon a time, there was a little girl named Lily.",
		"  two  spaces\tand a tab\nand lines\n\n",
		"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80",
		"<0x41> is not byte 0x41, <s> is not BOS",
		"\xff\xfe\x80\xc3",
	};
	uint64_t rng = 5;
	char buf[300];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		for (unsigned f = 0; f < 4; f++)
			CU_ASSERT_EQUAL(round_trip(&g_tok, texts[i], strlen(texts[i]), f), 0);
	for (int c = 0; c < 256; c++) { /* every single byte, NUL included */
		buf[0] = (char)c;
		CU_ASSERT_EQUAL(round_trip(&g_tok, buf, 1, TF_ENGINE_TOK_SPACE_PREFIX), 0);
	}
	for (int i = 0; i < 500; i++) { /* random bytes, then random ASCII words */
		size_t len = trng(&rng) % sizeof(buf);

		for (size_t k = 0; k < len; k++)
			buf[k] = i % 2 ? (char)trng(&rng) : "abcdeehlnost ,.\n"[trng(&rng) % 16];
		CU_ASSERT_EQUAL(round_trip(&g_tok, buf, len, (unsigned)i & 3), 0);
	}
}

static void
test_byte_fallback(void)
{
	int32_t ids[8];
	int n;

	CU_ASSERT_EQUAL(g_tok.n_byte_ids, 256);
	/* 0xFF is no UTF-8 and no piece: its <0xFF> piece */
	n = tf_tok_encode(&g_tok, "\xff", 1, 0, ids, 8);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(ids[0], g_tok.byte_id[0xff]);
	CU_ASSERT_STRING_EQUAL(g_tok.pieces[ids[0]].str, "<0xFF>");
	CU_ASSERT_EQUAL(g_tok.pieces[ids[0]].text_len, 1);
	CU_ASSERT_EQUAL((unsigned char)g_tok.pieces[ids[0]].text[0], 0xff);
	/* a CJK character the vocabulary lacks: its three UTF-8 bytes */
	n = tf_tok_encode(&g_tok, "\xe4\xbd\xa0", 3, 0, ids, 8);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_EQUAL(ids[0], g_tok.byte_id[0xe4]);
	CU_ASSERT_EQUAL(ids[2], g_tok.byte_id[0xa0]);
}

static void
test_merges_and_flags(void)
{
	const char *s = "Once upon a time, there was a little girl";
	int32_t ids[64], little;
	int n, found = 0;

	n = tf_tok_encode(&g_tok, s, strlen(s), TF_ENGINE_TOK_BOS | TF_ENGINE_TOK_SPACE_PREFIX, ids,
			  64);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(ids[0], TF_TOK_BOS);
	CU_ASSERT(n < (int)strlen(s) * 6 / 10); /* learned merges: fewer pieces than bytes */
	little = tf_tok_lookup(&g_tok, " little", 7);
	CU_ASSERT(little > 0);
	for (int i = 0; i < n; i++)
		found += ids[i] == little;
	CU_ASSERT_EQUAL(found, 1); /* " little" comes out whole */
	/* BOS / EOS decode to nothing; lookups never return them */
	CU_ASSERT_EQUAL(g_tok.pieces[TF_TOK_BOS].text_len, 0);
	CU_ASSERT_EQUAL(tf_tok_lookup(&g_tok, "\n<s>\n", 5), -1);
	/* the output cap */
	CU_ASSERT_EQUAL(tf_tok_encode(&g_tok, s, strlen(s), 0, ids, 3), -ENOSPC);
	CU_ASSERT_EQUAL(tf_tok_encode(&g_tok, "", 0, TF_ENGINE_TOK_SPACE_PREFIX, ids, 0), 0);
}

/* ---- malformed files ---------------------------------------------------- */

static int
parse(const void *buf, size_t len, uint32_t vocab, char *err)
{
	struct tf_tokenizer t;
	int rc;

	err[0] = '\0';
	rc = tf_tok_parse(&t, buf, len, vocab, err, 256);
	if (rc == 0)
		tf_tok_free(&t);
	return rc;
}

static void
put32(unsigned char *p, int32_t v)
{
	memcpy(p, &v, 4);
}

static void
test_truncated_everywhere(void)
{
	char err[256];
	int bad = 0;

	/* every prefix of a real file fails cleanly (ASan builds check the reads) */
	for (size_t len = 0; len < g_len; len += (len < 4096 ? 1 : 997))
		bad += parse(g_img, len, TM_GQA.vocab_size, err) != -EINVAL;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(parse(g_img, g_len, TM_GQA.vocab_size, err), 0);
	CU_ASSERT_EQUAL(parse(g_img, g_len - 1, TM_GQA.vocab_size, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "truncated"));
}

static void
test_vocab_mismatch(void)
{
	char err[256];

	CU_ASSERT_EQUAL(parse(g_img, g_len, TM_GQA.vocab_size + 1, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "smaller vocabulary"));
	CU_ASSERT_EQUAL(parse(g_img, g_len, TM_GQA.vocab_size - 1, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger vocabulary"));
	CU_ASSERT_EQUAL(parse(g_img, g_len, 0, err), -EINVAL);
}

static void
test_bad_records(void)
{
	/* max_token_length 4, then 3 pieces: "a" "bc" "<0x41>"... built by hand */
	unsigned char f[64];
	float score = 0.5f, nan = NAN;
	size_t len;
	char err[256];

#define BUILD()                                                                                \
	do {                                                                                   \
		len = 0;                                                                       \
		put32(f, 6), len = 4;                                                          \
		memcpy(f + len, &score, 4), put32(f + len + 4, 1), f[len + 8] = 'a', len += 9; \
		memcpy(f + len, &score, 4), put32(f + len + 4, 2);                             \
		memcpy(f + len + 8, "bc", 2), len += 10;                                       \
		memcpy(f + len, &score, 4), put32(f + len + 4, 6);                             \
		memcpy(f + len + 8, "<0x41>", 6), len += 14;                                   \
	} while (0)

	BUILD();
	CU_ASSERT_EQUAL(parse(f, len, 3, err), 0);
	put32(f, 0);
	CU_ASSERT_EQUAL(parse(f, len, 3, err), -EINVAL); /* max_token_length 0 */
	put32(f, 5000);
	CU_ASSERT_EQUAL(parse(f, len, 3, err), -EINVAL); /* max_token_length too large */
	BUILD();
	put32(f + 4 + 4, -1);
	CU_ASSERT_EQUAL(parse(f, len, 3, err), -EINVAL); /* negative length */
	BUILD();
	put32(f + 4 + 9 + 4, 7);
	CU_ASSERT_EQUAL(parse(f, len, 3, err), -EINVAL); /* longer than max_token_length */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "max_token_length"));
	BUILD();
	put32(f + 4 + 9 + 4, 0x7fffffff);
	CU_ASSERT_EQUAL(parse(f, len, 3, err), -EINVAL); /* huge length */
	BUILD();
	memcpy(f + 4, &nan, 4);
	CU_ASSERT_EQUAL(parse(f, len, 3, err), -EINVAL); /* NaN score */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "score"));
	BUILD();
	f[len] = 0;
	CU_ASSERT_EQUAL(parse(f, len + 1, 3, err), -EINVAL); /* trailing byte */
#undef BUILD
}

/* A vocabulary without byte pieces still encodes (to <unk>) without crashing. */
static void
test_no_byte_pieces(void)
{
	unsigned char f[64];
	float score = 0.0f;
	struct tf_tokenizer t;
	int32_t ids[8];
	char err[256];
	size_t len = 4;

	put32(f, 2);
	for (int i = 0; i < 4; i++) {
		memcpy(f + len, &score, 4);
		put32(f + len + 4, 1);
		f[len + 8] = (unsigned char)("uxyz"[i]);
		len += 9;
	}
	CU_ASSERT_EQUAL_FATAL(tf_tok_parse(&t, f, len, 4, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(t.n_byte_ids, 0);
	CU_ASSERT_EQUAL(tf_tok_encode(&t, "z\xff", 2, 0, ids, 8), 2);
	CU_ASSERT_EQUAL(ids[0], 3);
	CU_ASSERT_EQUAL(ids[1], 0);
	tf_tok_free(&t);
}

static const struct tf_cunit_test g_tests[] = {
	TF_TEST(test_round_trips),	TF_TEST(test_byte_fallback),
	TF_TEST(test_merges_and_flags), TF_TEST(test_truncated_everywhere),
	TF_TEST(test_vocab_mismatch),	TF_TEST(test_bad_records),
	TF_TEST(test_no_byte_pieces),	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "tokenizer", suite_init, suite_fini, g_tests })
