/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for firmware/meta.c (board record, two metadata copies) and the
 * flash backends flash.c, flash_file.c, flash_mem.c, flash_fault.c.
 */
#include "fw_internal.h"
#include "tf_cunit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

#define MO(f) offsetof(struct tf_flash_meta, f)
#define FLASH_SIZE (TF_FLASH_SLOTS_OFF + 2 * TF_FLASH_MIN_SLOT_SIZE)

static void
sample(struct tf_fw_meta *m)
{
	tf_fw_meta_init(m);
	m->seq = 41;
	m->min_security_version = 7;
	m->rollback_overrides = 2;
	m->active_slot = 0;
	m->pending_slot = 1;
	m->tries_left = 2;
	m->max_tries = 3;
	m->booted_slot = 1;
	m->slot_state[0] = TF_SLOT_CONFIRMED;
	m->slot_state[1] = TF_SLOT_STORED;
	m->slot_flags[1] = TF_SLOT_F_ROLLBACK_OVERRIDE;
	m->boot_count = 100;
	m->fallback_count = 3;
	m->last_boot = TF_BOOT_TRIAL;
	m->pending_security_version = 6;
}

/* Re-CRCs a record after a field was changed, so only the field check can fail. */
static void
recrc(uint8_t *rec)
{
	st32(rec + MO(crc32), (uint32_t)crc32(0L, rec, MO(crc32)));
}

static void
test_meta_roundtrip(void)
{
	struct tf_fw_meta m, back;
	uint8_t rec[TF_FLASH_RECORD_SIZE];

	sample(&m);
	tf_fw_meta_encode(&m, rec);
	CU_ASSERT_EQUAL(ld32(rec), TF_FLASH_META_MAGIC);
	CU_ASSERT_EQUAL(memcmp(rec, "TFMD", 4), 0);
	CU_ASSERT_EQUAL(tf_fw_meta_decode(rec, &back), 0);
	CU_ASSERT_EQUAL(memcmp(&m, &back, sizeof(m)), 0);
}

static void
test_meta_rejects_every_corruption(void)
{
	struct tf_fw_meta m, back;
	uint8_t good[TF_FLASH_RECORD_SIZE], rec[TF_FLASH_RECORD_SIZE];

	sample(&m);
	tf_fw_meta_encode(&m, good);
	/* Any single changed bit: CRC. */
	for (size_t o = 0; o < sizeof(rec); o++)
		for (int b = 0; b < 8; b++) {
			memcpy(rec, good, sizeof(rec));
			rec[o] ^= (uint8_t)(1u << b);
			CU_ASSERT_EQUAL(tf_fw_meta_decode(rec, &back), -EBADMSG);
		}
	memset(rec, 0xff, sizeof(rec));
	CU_ASSERT_EQUAL(tf_fw_meta_decode(rec, &back), -EBADMSG);
	/* CRC-valid but inconsistent records. */
#define BAD(stmt)                                                         \
	do {                                                              \
		memcpy(rec, good, sizeof(rec));                           \
		stmt;                                                     \
		recrc(rec);                                               \
		CU_ASSERT_EQUAL(tf_fw_meta_decode(rec, &back), -EBADMSG); \
	} while (0)
	BAD(st16(rec + MO(version), 2));
	BAD(st16(rec + MO(size), 65));
	BAD(rec[MO(active_slot)] = 2);
	BAD(rec[MO(pending_slot)] = 0x7f);
	BAD(rec[MO(booted_slot)] = 3);
	BAD(rec[MO(pending_slot)] = 0); /* == active */
	BAD(rec[MO(slot_state)] = TF_SLOT_STATE_MAX + 1);
	BAD(rec[MO(slot_state) + 0] = TF_SLOT_STORED); /* active not confirmed */
	BAD(rec[MO(slot_state) + 1] = TF_SLOT_WRITING); /* pending being written */
	BAD(rec[MO(slot_flags)] = 0x02);
	BAD(rec[MO(tries_left)] = 4); /* > max_tries */
	BAD(rec[MO(max_tries)] = TF_FW_MAX_TRIES + 1);
	BAD(rec[MO(last_boot)] = TF_BOOT_REASON_MAX + 1);
	BAD(rec[MO(reserved0)] = 1);
	for (int i = 0; i < 12; i++)
		BAD(rec[MO(reserved1) + i] = 1);
#undef BAD
}

static void
test_board_record(void)
{
	uint8_t pk[TF_FW_PUBKEY_SIZE], out[TF_FW_PUBKEY_SIZE], rec[TF_FLASH_RECORD_SIZE];
	uint32_t id;

	for (int i = 0; i < TF_FW_PUBKEY_SIZE; i++)
		pk[i] = (uint8_t)i;
	tf_fw_board_encode(0x1234, pk, rec);
	CU_ASSERT_EQUAL(memcmp(rec, "TFBD", 4), 0);
	CU_ASSERT_EQUAL(tf_fw_board_decode(rec, &id, out), 0);
	CU_ASSERT_EQUAL(id, 0x1234);
	CU_ASSERT_EQUAL(memcmp(pk, out, sizeof(pk)), 0);
	rec[20] ^= 1;
	CU_ASSERT_EQUAL(tf_fw_board_decode(rec, &id, out), -EBADMSG);
}

static void
put_copy(struct tf_flash *fl, int copy, const struct tf_fw_meta *m)
{
	uint8_t rec[TF_FLASH_RECORD_SIZE];
	uint64_t off = copy ? TF_FLASH_META1_OFF : TF_FLASH_META0_OFF;

	tf_fw_meta_encode(m, rec);
	CU_ASSERT_EQUAL(tf_flash_erase(fl, off, TF_FLASH_BLOCK_SIZE), 0);
	CU_ASSERT_EQUAL(tf_flash_program(fl, off, rec, sizeof(rec)), 0);
}

static void
test_meta_load_picks_newest_valid_copy(void)
{
	struct tf_flash *fl;
	struct tf_fw_meta a, b, got;
	int which, nvalid;
	uint8_t junk = 0x00;

	CU_ASSERT_FATAL(tf_flash_mem_create(FLASH_SIZE, &fl) == 0);
	CU_ASSERT_EQUAL(tf_fw_meta_load(fl, &got, &which, &nvalid), 0);
	CU_ASSERT_EQUAL(which, -1);
	CU_ASSERT_EQUAL(nvalid, 0);
	CU_ASSERT_EQUAL(got.active_slot, TF_FLASH_NO_SLOT);
	sample(&a);
	b = a;
	b.seq = a.seq + 1;
	b.boot_count = 5;
	put_copy(fl, 0, &a);
	put_copy(fl, 1, &b);
	CU_ASSERT_EQUAL(tf_fw_meta_load(fl, &got, &which, &nvalid), 0);
	CU_ASSERT_EQUAL(which, 1);
	CU_ASSERT_EQUAL(nvalid, 2);
	CU_ASSERT_EQUAL(got.boot_count, 5);
	/* Newest copy torn: the older one is used. */
	CU_ASSERT_EQUAL(tf_flash_program(fl, TF_FLASH_META1_OFF + 8, &junk, 1), 0);
	CU_ASSERT_EQUAL(tf_fw_meta_load(fl, &got, &which, &nvalid), 0);
	CU_ASSERT_EQUAL(which, 0);
	CU_ASSERT_EQUAL(nvalid, 1);
	CU_ASSERT_EQUAL(got.seq, a.seq);
	/* Tie: copy 0. */
	put_copy(fl, 1, &a);
	CU_ASSERT_EQUAL(tf_fw_meta_load(fl, &got, &which, &nvalid), 0);
	CU_ASSERT_EQUAL(which, 0);
	tf_flash_destroy(fl);
}

static void
test_meta_commit_alternates_and_spares_current(void)
{
	struct tf_flash *fl;
	struct tf_fw_meta m, got;
	uint8_t before[TF_FLASH_RECORD_SIZE], after[TF_FLASH_RECORD_SIZE];
	int which = -1, nvalid;

	CU_ASSERT_FATAL(tf_flash_mem_create(FLASH_SIZE, &fl) == 0);
	sample(&m);
	m.seq = 0;
	for (int i = 0; i < 5; i++) {
		int prev = which;

		if (prev >= 0)
			tf_flash_read(fl, prev ? TF_FLASH_META1_OFF : TF_FLASH_META0_OFF, before,
				      sizeof(before));
		m.boot_count = (uint32_t)i;
		CU_ASSERT_EQUAL(tf_fw_meta_commit(fl, &m, &which), 0);
		CU_ASSERT_EQUAL(which, prev == 0 ? 1 : 0);
		CU_ASSERT_EQUAL(m.seq, (uint64_t)i + 1);
		if (prev >= 0) {
			tf_flash_read(fl, prev ? TF_FLASH_META1_OFF : TF_FLASH_META0_OFF, after,
				      sizeof(after));
			CU_ASSERT_EQUAL(memcmp(before, after, sizeof(before)), 0);
		}
		CU_ASSERT_EQUAL(tf_fw_meta_load(fl, &got, &which, &nvalid), 0);
		CU_ASSERT_EQUAL(got.boot_count, (uint32_t)i);
	}
	tf_flash_destroy(fl);
}

/* NOR rules, range checks: the same for every backend. */
static void
check_backend(struct tf_flash *fl)
{
	uint8_t buf[16], x = 0x0f, y = 0xf0;

	CU_ASSERT_EQUAL(tf_flash_read(fl, 0, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(buf[0], 0xff); /* comes erased */
	CU_ASSERT_EQUAL(tf_flash_program(fl, 100, &x, 1), 0);
	CU_ASSERT_EQUAL(tf_flash_program(fl, 100, &y, 1), 0); /* only clears bits */
	CU_ASSERT_EQUAL(tf_flash_read(fl, 100, buf, 1), 0);
	CU_ASSERT_EQUAL(buf[0], 0x00);
	CU_ASSERT_EQUAL(tf_flash_erase(fl, 0, TF_FLASH_BLOCK_SIZE), 0);
	CU_ASSERT_EQUAL(tf_flash_read(fl, 100, buf, 1), 0);
	CU_ASSERT_EQUAL(buf[0], 0xff);
	CU_ASSERT_EQUAL(tf_flash_erase(fl, 1, TF_FLASH_BLOCK_SIZE), -EINVAL);
	CU_ASSERT_EQUAL(tf_flash_erase(fl, 0, 100), -EINVAL);
	CU_ASSERT_EQUAL(tf_flash_read(fl, fl->size - 8, buf, 16), -EINVAL);
	CU_ASSERT_EQUAL(tf_flash_read(fl, UINT64_MAX - 4, buf, 16), -EINVAL);
	CU_ASSERT_EQUAL(tf_flash_program(fl, fl->size, &x, 1), -EINVAL);
	CU_ASSERT_EQUAL(tf_flash_erase(fl, fl->size, TF_FLASH_BLOCK_SIZE), -EINVAL);
	CU_ASSERT_EQUAL(tf_flash_read(fl, fl->size - 16, buf, 16), 0);
}

static void
test_mem_backend(void)
{
	struct tf_flash *fl;

	CU_ASSERT_EQUAL(tf_flash_mem_create(100, &fl), -EINVAL);
	CU_ASSERT_FATAL(tf_flash_mem_create(FLASH_SIZE, &fl) == 0);
	check_backend(fl);
	tf_flash_destroy(fl);
}

static void
test_file_backend(void)
{
	char path[] = "/tmp/tf-fw-flash.XXXXXX";
	struct tf_flash *fl;
	uint8_t v = 0x5a, got;
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(tf_flash_file_create(path, FLASH_SIZE, &fl), -EEXIST);
	unlink(path);
	CU_ASSERT_EQUAL(tf_flash_file_create(path, 5000, &fl), -EINVAL);
	CU_ASSERT_FATAL(tf_flash_file_create(path, FLASH_SIZE, &fl) == 0);
	check_backend(fl);
	CU_ASSERT_EQUAL(tf_flash_program(fl, 5000, &v, 1), 0);
	CU_ASSERT_EQUAL(tf_flash_sync(fl), 0);
	tf_flash_destroy(fl);
	/* Persists; reopened with the size of the file. */
	CU_ASSERT_FATAL(tf_flash_file_open(path, &fl) == 0);
	CU_ASSERT_EQUAL(fl->size, FLASH_SIZE);
	CU_ASSERT_EQUAL(tf_flash_read(fl, 5000, &got, 1), 0);
	CU_ASSERT_EQUAL(got, 0x5a);
	tf_flash_destroy(fl);
	CU_ASSERT_EQUAL(truncate(path, FLASH_SIZE - 1), 0);
	CU_ASSERT_EQUAL(tf_flash_file_open(path, &fl), -EINVAL);
	unlink(path);
	CU_ASSERT_EQUAL(tf_flash_file_open(path, &fl), -ENOENT);
}

static void
test_fault_cuts_program_at_exact_byte(void)
{
	struct tf_flash *mem, *fl;
	uint8_t data[100], got[100];

	memset(data, 0, sizeof(data));
	CU_ASSERT_FATAL(tf_flash_mem_create(FLASH_SIZE, &mem) == 0);
	CU_ASSERT_FATAL(tf_flash_fault_create(mem, 130, &fl) == 0);
	CU_ASSERT_EQUAL(tf_flash_program(fl, 0, data, 100), 0);
	CU_ASSERT_EQUAL(tf_flash_fault_used(fl), 100);
	CU_ASSERT(!tf_flash_fault_tripped(fl));
	CU_ASSERT_EQUAL(tf_flash_program(fl, 200, data, 100), -EIO);
	CU_ASSERT(tf_flash_fault_tripped(fl));
	CU_ASSERT_EQUAL(tf_flash_fault_used(fl), 130);
	/* Dead: everything fails, nothing more changes. */
	CU_ASSERT_EQUAL(tf_flash_read(fl, 0, got, 1), -EIO);
	CU_ASSERT_EQUAL(tf_flash_program(fl, 400, data, 1), -EIO);
	CU_ASSERT_EQUAL(tf_flash_erase(fl, 0, TF_FLASH_BLOCK_SIZE), -EIO);
	CU_ASSERT_EQUAL(tf_flash_sync(fl), -EIO);
	/* The inner flash holds exactly the 30 bytes that made it. */
	CU_ASSERT_EQUAL(tf_flash_read(mem, 200, got, 100), 0);
	for (int i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(got[i], i < 30 ? 0x00 : 0xff);
	CU_ASSERT_EQUAL(tf_flash_read(mem, 400, got, 1), 0);
	CU_ASSERT_EQUAL(got[0], 0xff);
	tf_flash_destroy(fl);
	tf_flash_destroy(mem);
}

static void
test_fault_cuts_erase_inside_block(void)
{
	struct tf_flash *mem, *fl;
	uint8_t zero[3 * TF_FLASH_BLOCK_SIZE], got[3 * TF_FLASH_BLOCK_SIZE];
	uint64_t cut = TF_FLASH_BLOCK_SIZE + 1000;

	memset(zero, 0, sizeof(zero));
	CU_ASSERT_FATAL(tf_flash_mem_create(FLASH_SIZE, &mem) == 0);
	CU_ASSERT_EQUAL(tf_flash_program(mem, 0, zero, sizeof(zero)), 0);
	CU_ASSERT_FATAL(tf_flash_fault_create(mem, cut, &fl) == 0);
	CU_ASSERT_EQUAL(tf_flash_erase(fl, 0, sizeof(zero)), -EIO);
	CU_ASSERT_EQUAL(tf_flash_read(mem, 0, got, sizeof(got)), 0);
	for (uint64_t i = 0; i < sizeof(got); i++)
		if (got[i] != (i < cut ? 0xff : 0x00)) {
			CU_FAIL("partial erase left the wrong bytes");
			break;
		}
	tf_flash_destroy(fl);
	tf_flash_destroy(mem);
}

static const struct tf_cunit_test meta_tests[] = {
	TF_TEST(test_meta_roundtrip),
	TF_TEST(test_meta_rejects_every_corruption),
	TF_TEST(test_board_record),
	TF_TEST(test_meta_load_picks_newest_valid_copy),
	TF_TEST(test_meta_commit_alternates_and_spares_current),
	TF_TESTS_END,
};

static const struct tf_cunit_test flash_tests[] = {
	TF_TEST(test_mem_backend),
	TF_TEST(test_file_backend),
	TF_TEST(test_fault_cuts_program_at_exact_byte),
	TF_TEST(test_fault_cuts_erase_inside_block),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "meta", NULL, NULL, meta_tests }, { "flash", NULL, NULL, flash_tests })
