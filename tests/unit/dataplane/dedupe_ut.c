/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/dedupe.c, tokbuf.c and utf8s.c. */
#include "dataplane/dedupe.h"
#include "dataplane/tokbuf.h"
#include "dataplane/utf8s.h"
#include "tf_cunit.h"
#include "tokfab/proto.h"

#include <stdlib.h>
#include <string.h>

static void
test_dedupe_find_insert_remove(void)
{
	struct tf_dedupe d;
	uint64_t retry;

	CU_ASSERT_EQUAL_FATAL(tf_dedupe_create(&d, 100), 0);
	CU_ASSERT_EQUAL(d.cap, 128);
	CU_ASSERT_PTR_NULL(tf_dedupe_find(&d, 1, 5));
	CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 1, 5, 77, 1000, 0, &retry));
	CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 2, 5, 78, 1000, 0, &retry));
	CU_ASSERT_PTR_NULL(tf_dedupe_insert(&d, 1, 5, 79, 1000, 0, &retry)); /* present */
	CU_ASSERT_EQUAL(tf_dedupe_find(&d, 1, 5)->ref, 77);
	CU_ASSERT_EQUAL(tf_dedupe_find(&d, 2, 5)->ref, 78);
	CU_ASSERT_EQUAL(tf_dedupe_remove(&d, 1, 5), 0);
	CU_ASSERT_EQUAL(tf_dedupe_remove(&d, 1, 5), -ENOENT);
	CU_ASSERT_PTR_NULL(tf_dedupe_find(&d, 1, 5));
	CU_ASSERT_EQUAL(tf_dedupe_find(&d, 2, 5)->ref, 78);
	CU_ASSERT_EQUAL(tf_dedupe_count(&d), 1);
	tf_dedupe_destroy(&d);
}

/* Many colliding inserts and removals keep every remaining key findable. */
static void
test_dedupe_backward_shift_keeps_clusters(void)
{
	struct tf_dedupe d;
	uint64_t retry;
	unsigned int n = 1000;

	CU_ASSERT_EQUAL_FATAL(tf_dedupe_create(&d, 1024), 0);
	for (unsigned int i = 0; i < n; i++)
		CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 3, i * 7919ull, i + 1, 10, 0, &retry));
	for (unsigned int i = 0; i < n; i += 3)
		CU_ASSERT_EQUAL(tf_dedupe_remove(&d, 3, i * 7919ull), 0);
	for (unsigned int i = 0; i < n; i++) {
		struct tf_dedupe_ent *e = tf_dedupe_find(&d, 3, i * 7919ull);

		if (i % 3 == 0) {
			CU_ASSERT_PTR_NULL(e);
		} else {
			CU_ASSERT(e && e->ref == i + 1);
		}
	}
	tf_dedupe_destroy(&d);
}

/* tf_dedupe_at: straight to the ring slot; a find when the entry moved or the slot was reused. */
static void
test_dedupe_at_ring_slot(void)
{
	struct tf_dedupe d;
	uint64_t retry;
	struct tf_dedupe_ent *e, *f;
	uint32_t pos;

	CU_ASSERT_EQUAL_FATAL(tf_dedupe_create(&d, 16), 0);
	e = tf_dedupe_insert(&d, 7, 1000, 3, 50, 0, &retry);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	pos = tf_dedupe_pos(&d, e);
	tf_dedupe_prefetch(&d, 7, 1000);
	CU_ASSERT_PTR_EQUAL(tf_dedupe_at(&d, pos, 7, 1000), e);
	CU_ASSERT_PTR_NULL(tf_dedupe_at(&d, pos, 7, 1001)); /* another key: not there at all */
	CU_ASSERT_PTR_NULL(tf_dedupe_at(&d, 1u << 30, 7, 1001)); /* out of range: a find */
	for (unsigned int i = 0; i < 10; i++)
		CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 7, i, 0, 100 + i, 0, &retry));
	/* Expired but referenced: moved behind the others, found again through the index. */
	CU_ASSERT_EQUAL(tf_dedupe_expire(&d, 60, 100), 0);
	f = tf_dedupe_at(&d, pos, 7, 1000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_NOT_EQUAL(tf_dedupe_pos(&d, f), pos);
	CU_ASSERT_EQUAL(f->ref, 3);
	CU_ASSERT_PTR_EQUAL(f, tf_dedupe_find(&d, 7, 1000));
	tf_dedupe_destroy(&d);
}

static void
test_dedupe_expiry_and_full(void)
{
	struct tf_dedupe d;
	uint64_t retry;
	struct tf_dedupe_ent *e;

	CU_ASSERT_EQUAL_FATAL(tf_dedupe_create(&d, 16), 0);
	for (unsigned int i = 0; i < 16; i++)
		CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 1, i, 0, 100 + i, 0, &retry));
	/* Full of entries inside their window: refused, with the time until the oldest goes. */
	CU_ASSERT_PTR_NULL(tf_dedupe_insert(&d, 1, 99, 0, 500, 50, &retry));
	CU_ASSERT_EQUAL(retry, 50);
	/* Entry 0 still holds a reference: it moves behind the others instead of going. */
	tf_dedupe_find(&d, 1, 0)->ref = 5;
	CU_ASSERT_EQUAL(tf_dedupe_expire(&d, 101, 100), 1); /* only id 1 (expire 101) */
	CU_ASSERT_PTR_NOT_NULL(tf_dedupe_find(&d, 1, 0));
	CU_ASSERT_PTR_NULL(tf_dedupe_find(&d, 1, 1));
	e = tf_dedupe_insert(&d, 1, 99, 0, 500, 101, &retry);
	CU_ASSERT_PTR_NOT_NULL(e);
	/* Everything expired except the referenced one. */
	CU_ASSERT_EQUAL(tf_dedupe_expire(&d, 1000, 100), 15);
	CU_ASSERT_EQUAL(tf_dedupe_count(&d), 1);
	CU_ASSERT_EQUAL(tf_dedupe_find(&d, 1, 0)->ref, 5);
	tf_dedupe_find(&d, 1, 0)->ref = 0;
	CU_ASSERT_EQUAL(tf_dedupe_expire(&d, 1000, 100), 1);
	CU_ASSERT_EQUAL(tf_dedupe_count(&d), 0);
	tf_dedupe_destroy(&d);
}

/*
 * Ids of requests refused before admission are removed at once: they must not
 * keep ring slots (the overload test filled a 262 144-entry table with the dead
 * slots of BUSY-refused retransmissions, and the card then answered BUSY with a
 * retry-after of seconds). A removed newest entry gives its slot back; an older
 * one stays dead until the head passes it.
 */
static void
test_dedupe_refused_ids_free_their_slot(void)
{
	struct tf_dedupe d;
	uint64_t retry;

	CU_ASSERT_EQUAL_FATAL(tf_dedupe_create(&d, 16), 0);
	/* One live id that holds the head (admitted, inside its window). */
	CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 1, 1000, 7, 1000000, 0, &retry));
	/* 10 000 refused requests, each inserted and removed again. */
	for (unsigned int i = 0; i < 10000; i++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(tf_dedupe_insert(&d, 3, i, 9, 1000000, 0, &retry));
		CU_ASSERT_EQUAL_FATAL(tf_dedupe_remove(&d, 3, i), 0);
	}
	CU_ASSERT_EQUAL(d.tail - d.head, 1);
	CU_ASSERT_EQUAL(tf_dedupe_count(&d), 1);
	/* An older entry removed: dead until its newer neighbours go too. */
	CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 1, 1, 9, 1000000, 0, &retry));
	CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 1, 2, 9, 1000000, 0, &retry));
	CU_ASSERT_EQUAL(tf_dedupe_remove(&d, 1, 1), 0);
	CU_ASSERT_EQUAL(d.tail - d.head, 3);
	CU_ASSERT_EQUAL(tf_dedupe_remove(&d, 1, 2), 0); /* the newest: both slots come back */
	CU_ASSERT_EQUAL(d.tail - d.head, 1);
	/* The table still holds 15 more ids inside the window, then refuses. */
	for (unsigned int i = 0; i < 15; i++)
		CU_ASSERT_PTR_NOT_NULL(tf_dedupe_insert(&d, 2, i, 0, 1000000, 0, &retry));
	CU_ASSERT_PTR_NULL(tf_dedupe_insert(&d, 2, 99, 0, 1000000, 0, &retry));
	CU_ASSERT_EQUAL(tf_dedupe_find(&d, 1, 1000)->ref, 7);
	tf_dedupe_destroy(&d);
}

static void
test_tokbuf_append_read_text(void)
{
	struct tf_tokarena a;
	struct tf_tokbuf b;
	uint8_t ids[4 * 64], lens[64], text[1024];
	uint32_t tl, n;
	char piece[8];

	CU_ASSERT_EQUAL_FATAL(tf_tokarena_create(&a, 64 * 1024), 0);
	tf_tokbuf_init(&b);
	for (uint32_t i = 0; i < 500; i++) {
		int l = snprintf(piece, sizeof(piece), "t%u", i);

		tf_tokbuf_append(&a, &b, 1000 + i, piece, (uint32_t)l);
	}
	CU_ASSERT_EQUAL(b.count, 500);
	CU_ASSERT_EQUAL(b.first_avail, 0);
	CU_ASSERT(b.nchunks > 1);
	n = tf_tokbuf_read(&a, &b, 250, ids, lens, text, 10, sizeof(text), &tl);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_EQUAL(tf_proto_ld32(ids), 1250);
	CU_ASSERT_EQUAL(tf_proto_ld32(ids + 36), 1259);
	CU_ASSERT_EQUAL(lens[0], 4);
	CU_ASSERT_EQUAL(tl, 40);
	CU_ASSERT(memcmp(text, "t250t251", 8) == 0);
	/* Text budget stops before splitting a token. */
	n = tf_tokbuf_read(&a, &b, 0, ids, lens, text, 64, 7, &tl);
	CU_ASSERT_EQUAL(n, 3); /* t0 t1 t2 = 6 bytes; t3 would make 8 */
	CU_ASSERT_EQUAL(tl, 6);
	CU_ASSERT_EQUAL(tf_tokbuf_read(&a, &b, 500, ids, lens, text, 64, 1024, &tl), 0);
	tf_tokbuf_free(&a, &b);
	CU_ASSERT_EQUAL(a.nfree, a.nchunks);
	tf_tokarena_destroy(&a);
}

static void
test_tokbuf_bounded_memory(void)
{
	struct tf_tokarena a;
	struct tf_tokbuf b, c;
	uint8_t ids[4 * 8];
	uint32_t tl, n;

	CU_ASSERT_EQUAL_FATAL(tf_tokarena_create(&a, 2 * TF_TOKBUF_CHUNK_BYTES), 0);
	CU_ASSERT_EQUAL(a.nchunks, 2);
	tf_tokbuf_init(&b);
	tf_tokbuf_init(&c);
	/* ~200 ids-only tokens per chunk: 1000 tokens reuse the request's own chunks. */
	for (uint32_t i = 0; i < 1000; i++)
		tf_tokbuf_append(&a, &b, i, NULL, 0);
	CU_ASSERT_EQUAL(b.count, 1000);
	CU_ASSERT(b.first_avail > 0 && b.first_avail < 1000);
	CU_ASSERT(a.steals > 0);
	n = tf_tokbuf_read(&a, &b, b.first_avail, ids, NULL, NULL, 8, 0, &tl);
	CU_ASSERT_EQUAL(n, 8);
	CU_ASSERT_EQUAL(tf_proto_ld32(ids), b.first_avail);
	CU_ASSERT_EQUAL(tf_tokbuf_read(&a, &b, 0, ids, NULL, NULL, 8, 0, &tl), 0);
	/* Another request finds no chunk at all: counted, not kept, never fails. */
	CU_ASSERT_EQUAL(tf_tokbuf_append(&a, &c, 5, "x", 1), 0);
	CU_ASSERT_EQUAL(c.count, 1);
	CU_ASSERT_EQUAL(c.first_avail, 1);
	tf_tokbuf_free(&a, &b);
	tf_tokbuf_free(&a, &c);
	CU_ASSERT_EQUAL(a.nfree, 2);
	tf_tokarena_destroy(&a);
}

static int
utf8_pieces(const char *s, size_t cut)
{
	struct tf_utf8s u;
	size_t n = strlen(s);

	tf_utf8s_init(&u);
	tf_utf8s_feed(&u, (const uint8_t *)s, cut < n ? cut : n);
	if (cut < n)
		tf_utf8s_feed(&u, (const uint8_t *)s + cut, n - cut);
	return tf_utf8s_ok(&u);
}

static void
test_utf8_streaming_matches_whole(void)
{
	static const char *const cases[] = {
		"plain ascii",
		"caf\xc3\xa9",
		"\xe2\x82\xac euro",
		"\xf0\x9f\x98\x80 smile",
		"\xc3", /* truncated */
		"\xc0\xaf", /* overlong */
		"\xed\xa0\x80", /* surrogate */
		"\xf4\x90\x80\x80", /* > U+10FFFF */
		"\xe0\x80\x80", /* overlong 3-byte */
		"\x80", /* lone continuation */
		"\xf8\x88\x80\x80\x80", /* 5-byte form */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int whole = tf_proto_utf8_valid((const uint8_t *)cases[i], strlen(cases[i]));

		for (size_t cut = 0; cut <= strlen(cases[i]); cut++)
			CU_ASSERT_EQUAL(utf8_pieces(cases[i], cut), whole);
	}
}

static const struct tf_cunit_test dedupe_tests[] = {
	TF_TEST(test_dedupe_find_insert_remove),
	TF_TEST(test_dedupe_backward_shift_keeps_clusters),
	TF_TEST(test_dedupe_at_ring_slot),
	TF_TEST(test_dedupe_expiry_and_full),
	TF_TEST(test_dedupe_refused_ids_free_their_slot),
	TF_TESTS_END,
};

static const struct tf_cunit_test tokbuf_tests[] = {
	TF_TEST(test_tokbuf_append_read_text),
	TF_TEST(test_tokbuf_bounded_memory),
	TF_TESTS_END,
};

static const struct tf_cunit_test utf8s_tests[] = {
	TF_TEST(test_utf8_streaming_matches_whole),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "dedupe", NULL, NULL, dedupe_tests }, { "tokbuf", NULL, NULL, tokbuf_tests },
	      { "utf8s", NULL, NULL, utf8s_tests })
