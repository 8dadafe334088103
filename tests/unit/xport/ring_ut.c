/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/xport/ring.c: credits, wrap, sequence numbers, and
 * every consumer-side rejection of the producer's index and record headers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tf_cunit.h"
#include "xport/ring.h"

#define SZ TF_ACCEL_RING_MIN
#define ALL_IN ((1u << TF_ACCEL_REC_BATCH) | (1u << TF_ACCEL_REC_CANCEL))

static void
test_reserve_commit(void)
{
	struct tf_ring r;
	struct tf_ring_resv rv;

	tf_ring_init(&r, SZ, SZ / 2, 7, 0);
	CU_ASSERT_EQUAL(tf_ring_free(&r), SZ);
	CU_ASSERT_EQUAL(tf_ring_prod_reserve(&r, 100, &rv), 0);
	CU_ASSERT_EQUAL(rv.len, 128);
	CU_ASSERT_EQUAL(rv.off, 0);
	CU_ASSERT_EQUAL(rv.seq, 1);
	CU_ASSERT_EQUAL(rv.pad_len, 0);
	CU_ASSERT_EQUAL(r.prod, 0); /* nothing until commit */
	tf_ring_prod_commit(&r, &rv);
	CU_ASSERT_EQUAL(r.prod, 128);
	CU_ASSERT_EQUAL(r.seq, 2);
	CU_ASSERT_EQUAL(tf_ring_free(&r), SZ - 128);
	CU_ASSERT_EQUAL(tf_ring_prod_reserve(&r, SZ / 2 + 1, &rv), -EMSGSIZE);
	CU_ASSERT_EQUAL(tf_ring_prod_reserve(&r, 0, &rv), -EMSGSIZE);
}

static void
test_credits_bound_producer(void)
{
	struct tf_ring r;
	struct tf_ring_resv rv;
	int n = 0;

	tf_ring_init(&r, SZ, SZ / 2, 1, 0);
	while (tf_ring_prod_reserve(&r, 1024, &rv) == 0) {
		tf_ring_prod_commit(&r, &rv);
		n++;
	}
	CU_ASSERT_EQUAL(n, SZ / 1024);
	CU_ASSERT_EQUAL(tf_ring_prod_reserve(&r, 64, &rv), -ENOBUFS);
	/* the consumer returns two records' worth */
	CU_ASSERT_EQUAL(tf_ring_prod_credit(&r, 2048), TF_RING_OK);
	CU_ASSERT_EQUAL(tf_ring_free(&r), 2048);
	/* the tail is full: a 1024 record at offset 0 fits exactly after wrap */
	CU_ASSERT_EQUAL(tf_ring_prod_reserve(&r, 1024, &rv), 0);
	CU_ASSERT_EQUAL(rv.off, 0);
	CU_ASSERT_EQUAL(rv.pad_len, 0);
}

static void
test_wrap_pads_the_tail(void)
{
	struct tf_ring r;
	struct tf_ring_resv rv;
	struct tf_accel_rec pad, rec;

	tf_ring_init(&r, SZ, SZ / 2, 3, 0);
	r.prod = r.cons = SZ - 64; /* consumer caught up near the end */
	r.seq = 9;
	CU_ASSERT_EQUAL(tf_ring_prod_reserve(&r, 200, &rv), 0);
	CU_ASSERT_EQUAL(rv.pad_off, SZ - 64);
	CU_ASSERT_EQUAL(rv.pad_len, 64);
	CU_ASSERT_EQUAL(rv.pad_seq, 9);
	CU_ASSERT_EQUAL(rv.off, 0);
	CU_ASSERT_EQUAL(rv.seq, 10);
	CU_ASSERT_EQUAL(rv.new_prod, SZ - 64 + 64 + 256);
	tf_ring_pad_hdr(&r, &rv, &pad);
	CU_ASSERT_EQUAL(pad.type, TF_ACCEL_REC_PAD);
	CU_ASSERT_EQUAL(pad.len, 64);
	CU_ASSERT_EQUAL(pad.epoch, 3);
	tf_ring_rec_hdr(&r, &rv, TF_ACCEL_REC_BATCH, 2, &rec);
	CU_ASSERT_EQUAL(rec.seq, 10);
	CU_ASSERT_EQUAL(rec.len, 256);
	tf_ring_prod_commit(&r, &rv);
	CU_ASSERT_EQUAL(r.seq, 11);

	/* PAD + record need more than the credits: refused as a whole */
	tf_ring_init(&r, SZ, SZ / 2, 3, 0);
	r.prod = SZ - 64;
	r.cons = 128; /* free = 128 + 64 */
	CU_ASSERT_EQUAL(tf_ring_prod_reserve(&r, 192, &rv), -ENOBUFS);
	CU_ASSERT_EQUAL(tf_ring_prod_reserve(&r, 128, &rv), 0);
}

static void
test_bad_credit_rejected(void)
{
	struct tf_ring r;

	tf_ring_init(&r, SZ, SZ / 2, 1, 0);
	r.prod = 1024;
	r.cons = 512;
	CU_ASSERT_EQUAL(tf_ring_prod_credit(&r, 1088), TF_RING_E_CREDIT); /* beyond produced */
	CU_ASSERT_EQUAL(tf_ring_prod_credit(&r, 448), TF_RING_E_CREDIT); /* backwards */
	CU_ASSERT_EQUAL(tf_ring_prod_credit(&r, 520), TF_RING_E_CREDIT); /* unaligned */
	CU_ASSERT_EQUAL(r.cons, 512);
	CU_ASSERT_EQUAL(tf_ring_prod_credit(&r, 1024), TF_RING_OK);
	CU_ASSERT_EQUAL(tf_ring_prod_credit(&r, 1024), TF_RING_OK); /* repeated: fine */
}

static void
test_bad_doorbell_rejected(void)
{
	struct tf_ring r;

	tf_ring_init(&r, SZ, SZ / 2, 1, ALL_IN);
	CU_ASSERT_EQUAL(tf_ring_cons_doorbell(&r, SZ + 64), TF_RING_E_INDEX); /* overflow */
	CU_ASSERT_EQUAL(tf_ring_cons_doorbell(&r, 100), TF_RING_E_INDEX); /* unaligned */
	CU_ASSERT_EQUAL(tf_ring_cons_doorbell(&r, SZ), TF_RING_OK); /* exactly full */
	CU_ASSERT_EQUAL(tf_ring_cons_doorbell(&r, SZ - 64), TF_RING_E_INDEX); /* backwards */
	CU_ASSERT_EQUAL(r.prod, SZ);
}

static struct tf_accel_rec
hdr_of(uint16_t type, uint32_t len, uint32_t seq, uint16_t count)
{
	return (struct tf_accel_rec){
		.type = type, .epoch = 5, .len = len, .seq = seq, .count = count
	};
}

static void
test_record_header_checks(void)
{
	struct tf_ring r;
	struct tf_accel_rec h;

	tf_ring_init(&r, SZ, 4096, 5, ALL_IN);
	CU_ASSERT_EQUAL(tf_ring_cons_doorbell(&r, 8192), TF_RING_OK);
	h = hdr_of(TF_ACCEL_REC_BATCH, 128, 1, 1);
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_OK);
	h = hdr_of(TF_ACCEL_REC_BATCH, 0, 1, 1);
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(TF_ACCEL_REC_BATCH, 100, 1, 1);
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(TF_ACCEL_REC_BATCH, 8256, 1, 1); /* beyond what was produced */
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(TF_ACCEL_REC_BATCH, 4160, 1, 1); /* over max_rec */
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(TF_ACCEL_REC_EVENTS, 128, 1, 1); /* wrong ring */
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(99, 128, 1, 1);
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(TF_ACCEL_REC_BATCH, 128, 1, 0); /* empty batch */
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(TF_ACCEL_REC_BATCH, 128, 1, 1);
	h.flags = 1;
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(TF_ACCEL_REC_BATCH, 128, 2, 1);
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_SEQ);
	h = hdr_of(TF_ACCEL_REC_BATCH, 128, 1, 1);
	h.epoch = 6;
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_EPOCH);
	/* a PAD must reach the ring end exactly */
	h = hdr_of(TF_ACCEL_REC_PAD, 64, 1, 0);
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	r.cons = r.prod = SZ - 128;
	CU_ASSERT_EQUAL(tf_ring_cons_doorbell(&r, SZ + 64), TF_RING_OK);
	h = hdr_of(TF_ACCEL_REC_PAD, 128, 1, 0);
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_OK);
	h = hdr_of(TF_ACCEL_REC_PAD, 128, 1, 1);
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
	h = hdr_of(TF_ACCEL_REC_BATCH, 192, 1, 1); /* would cross the ring end */
	CU_ASSERT_EQUAL(tf_ring_cons_check(&r, &h), TF_RING_E_REC);
}

/* Producer and consumer over one buffer through many wraps, with indexes that
 * also cross 2^32: every record arrives once, in order, intact. */
static void
test_stream_through_wraps(void)
{
	static uint8_t mem[SZ];
	struct tf_ring p, c;
	uint32_t start = 0xffffffffu - 3 * SZ + 1 - 63; /* 64-aligned, near 2^32 */
	unsigned int sent = 0, got = 0;
	uint32_t rnd = 12345;

	start &= ~63u;
	tf_ring_init(&p, SZ, SZ / 2, 2, 0);
	tf_ring_init(&c, SZ, SZ / 2, 2, ALL_IN);
	p.prod = p.cons = c.prod = c.cons = start;
	while (got < 2000) {
		struct tf_ring_resv rv;
		uint32_t len;

		rnd = rnd * 1103515245u + 12345u;
		len = 16 + (rnd >> 16) % 3000;
		if (sent < 2000 && tf_ring_prod_reserve(&p, len, &rv) == 0) {
			struct tf_accel_rec h;

			if (rv.pad_len) {
				tf_ring_pad_hdr(&p, &rv, &h);
				memcpy(mem + rv.pad_off, &h, sizeof(h));
			}
			tf_ring_rec_hdr(&p, &rv, TF_ACCEL_REC_BATCH, 1, &h);
			memcpy(mem + rv.off, &h, sizeof(h));
			memset(mem + rv.off + sizeof(h), (int)(sent & 0xff), rv.len - sizeof(h));
			tf_ring_prod_commit(&p, &rv);
			sent++;
			CU_ASSERT_EQUAL_FATAL(tf_ring_cons_doorbell(&c, p.prod), TF_RING_OK);
		}
		/* consume zero to two records */
		for (unsigned int k = (rnd >> 8) % 3; k && tf_ring_avail(&c);) {
			struct tf_accel_rec h;
			uint32_t off = tf_ring_off(&c, c.cons);

			memcpy(&h, mem + off, sizeof(h));
			CU_ASSERT_EQUAL_FATAL(tf_ring_cons_check(&c, &h), TF_RING_OK);
			if (h.type == TF_ACCEL_REC_BATCH) {
				CU_ASSERT_EQUAL_FATAL(mem[off + h.len - 1], got & 0xff);
				got++;
				k--;
			}
			tf_ring_cons_advance(&c, h.len);
		}
		CU_ASSERT_EQUAL_FATAL(tf_ring_prod_credit(&p, c.cons), TF_RING_OK);
	}
	CU_ASSERT_EQUAL(sent, 2000);
	CU_ASSERT(p.prod < start); /* really crossed 2^32 */
}

static const struct tf_cunit_test ring_tests[] = {
	TF_TEST(test_reserve_commit),	     TF_TEST(test_credits_bound_producer),
	TF_TEST(test_wrap_pads_the_tail),    TF_TEST(test_bad_credit_rejected),
	TF_TEST(test_bad_doorbell_rejected), TF_TEST(test_record_header_checks),
	TF_TEST(test_stream_through_wraps),  TF_TESTS_END,
};

TF_CUNIT_MAIN({ "ring", NULL, NULL, ring_tests })
