/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for firmware/image_parse.c, image_verify.c, image_build.c and
 * keys.c: every malformed header/table field gets its specific error; the
 * signature catches every changed signed bit, wrong keys, truncation,
 * extension and swapped sections; section hashes catch every changed byte.
 */
#include "fw_internal.h"
#include "fw_test.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <unistd.h>

#define HO(f) offsetof(struct tf_fw_header, f)
#define SO(i, f) \
	(TF_FW_HEADER_SIZE + (i)*TF_FW_SECTION_ENTRY_SIZE + offsetof(struct tf_fw_section, f))

static struct t_key g_key, g_other;
static uint8_t *g_img; /* signed: dataplane 1000, accel 300, config 77, abi */
static size_t g_len;

static int
suite_init(void)
{
	struct t_image_spec s = { { 1, 2, 3 }, 5, T_BOARD, { 1000, 300, 77 }, 1 };

	if (tf_fw_key_generate(&g_key.key) || tf_fw_key_public(g_key.key, g_key.pub) ||
	    tf_fw_key_generate(&g_other.key) || tf_fw_key_public(g_other.key, g_other.pub))
		return -1;
	return t_image_try(&s, &g_key, &g_img, &g_len);
}

static int
suite_cleanup(void)
{
	free(g_img);
	t_key_free(&g_key);
	t_key_free(&g_other);
	return 0;
}

static uint8_t *
copy(void)
{
	uint8_t *c = malloc(g_len + 128);

	CU_ASSERT_FATAL(c != NULL);
	memcpy(c, g_img, g_len);
	memset(c + g_len, 0, 128);
	return c;
}

/* Parses buf and checks the exact error and section. */
static void
expect_parse(const uint8_t *buf, size_t len, enum tf_fw_err err, int section, int line)
{
	struct tf_fw_image img;
	struct tf_fw_diag d;
	int r = tf_fw_image_parse(buf, len, &img, &d);

	if (d.err != err || d.section != section || (r == 0) != (err == TF_FW_OK))
		fprintf(stderr,
			"\n  line %d: got %s (section %d, r=%d), expected %s (section %d)\n", line,
			tf_fw_err_name(d.err), d.section, r, tf_fw_err_name(err), section);
	CU_ASSERT_EQUAL(d.err, err);
	CU_ASSERT_EQUAL(d.section, section);
	CU_ASSERT_EQUAL(r, err == TF_FW_OK ? 0 : -EBADMSG);
}
#define EXPECT(buf, len, err, sect) expect_parse(buf, len, err, sect, __LINE__)

static void
expect_verify(const uint8_t *buf, size_t len, const uint8_t *pub, int rc, enum tf_fw_err err,
	      int section)
{
	struct tf_fw_image img;
	struct tf_fw_diag d;

	CU_ASSERT_EQUAL(tf_fw_image_verify(buf, len, pub, &img, &d), rc);
	CU_ASSERT_EQUAL(d.err, err);
	CU_ASSERT_EQUAL(d.section, section);
}

static void
test_valid_image_parses_and_verifies(void)
{
	struct tf_fw_image img;
	struct tf_fw_diag d;
	uint64_t n;
	const uint8_t *p;

	CU_ASSERT_EQUAL(tf_fw_image_verify(g_img, g_len, g_key.pub, &img, &d), 0);
	CU_ASSERT_EQUAL(d.err, TF_FW_OK);
	CU_ASSERT_EQUAL(img.nsections, 4);
	CU_ASSERT_EQUAL(img.version[0], 1);
	CU_ASSERT_EQUAL(img.version[2], 3);
	CU_ASSERT_EQUAL(img.security_version, 5);
	CU_ASSERT_EQUAL(img.board_id, T_BOARD);
	CU_ASSERT_EQUAL(img.image_size, g_len);
	CU_ASSERT_EQUAL(img.signed_len, 128 + 4 * 64);
	CU_ASSERT_EQUAL(img.sect[0].offset, 128 + 4 * 64 + 64);
	CU_ASSERT_EQUAL(img.sect[1].offset, 448 + 1024); /* 1000 rounded up to 64 */
	CU_ASSERT_EQUAL(img.sect[3].type, TF_FW_SECT_ABI);
	CU_ASSERT_EQUAL(img.abi.bar_major, 1);
	p = tf_fw_image_section(&img, TF_FW_SECT_ACCEL, &n);
	CU_ASSERT_PTR_EQUAL(p, g_img + img.sect[1].offset);
	CU_ASSERT_EQUAL(n, 300);
	CU_ASSERT_EQUAL(tf_fw_image_check_policy(&img, T_BOARD, 5, false, &d), 0);
}

static void
test_header_fields(void)
{
	uint8_t *b = copy();
	size_t n;

#define MUT(stmt, err)                     \
	do {                               \
		memcpy(b, g_img, g_len);   \
		stmt;                      \
		EXPECT(b, g_len, err, -1); \
	} while (0)
	for (n = 0; n < TF_FW_HEADER_SIZE; n += 13)
		EXPECT(g_img, n, TF_FW_E_TRUNCATED, -1);
	EXPECT(g_img, TF_FW_HEADER_SIZE - 1, TF_FW_E_TRUNCATED, -1);
	for (int i = 0; i < TF_FW_MAGIC_LEN; i++)
		MUT(b[i] ^= 0x20, TF_FW_E_MAGIC);
	MUT(st16(b + HO(format_version), 0), TF_FW_E_FORMAT_VERSION);
	MUT(st16(b + HO(format_version), 2), TF_FW_E_FORMAT_VERSION);
	MUT(st16(b + HO(header_size), 127), TF_FW_E_HEADER_SIZE);
	MUT(st16(b + HO(header_size), 0xffff), TF_FW_E_HEADER_SIZE);
	MUT(st16(b + HO(section_entry_size), 63), TF_FW_E_ENTRY_SIZE);
	MUT(st16(b + HO(section_entry_size), 128), TF_FW_E_ENTRY_SIZE);
	MUT(st16(b + HO(section_count), 0), TF_FW_E_SECTION_COUNT);
	MUT(st16(b + HO(section_count), TF_FW_MAX_SECTIONS + 1), TF_FW_E_SECTION_COUNT);
	MUT(st16(b + HO(section_count), 0xffff), TF_FW_E_SECTION_COUNT);
	MUT(st32(b + HO(flags), 1), TF_FW_E_HEADER_FLAGS);
	MUT(st32(b + HO(flags), 0x80000000u), TF_FW_E_HEADER_FLAGS);
	MUT(st16(b + HO(sig_type), 0), TF_FW_E_SIG_TYPE);
	MUT(st16(b + HO(sig_type), 2), TF_FW_E_SIG_TYPE);
	MUT(st16(b + HO(sig_size), 65), TF_FW_E_SIG_SIZE);
	MUT(st16(b + HO(reserved0), 1), TF_FW_E_RESERVED);
	for (int i = 0; i < 32; i++)
		MUT(b[HO(reserved1) + i] = 1, TF_FW_E_RESERVED);
	MUT(st64(b + HO(image_size), 0), TF_FW_E_IMAGE_SIZE);
	MUT(st64(b + HO(image_size), TF_FW_PAYLOAD_OFFSET(4) + 3), TF_FW_E_IMAGE_SIZE);
	MUT(st64(b + HO(image_size), TF_FW_IMAGE_MAX_SIZE + 1), TF_FW_E_IMAGE_SIZE);
	MUT(st64(b + HO(image_size), UINT64_MAX), TF_FW_E_IMAGE_SIZE);
	/* A plausible but wrong image_size: the last section no longer ends there. */
	MUT(st64(b + HO(image_size), g_len + 64), TF_FW_E_END);
#undef MUT
	free(b);
}

static void
test_section_count_changes_layout(void)
{
	uint8_t *b = copy();

	/* 3 declared sections: section 0 must then start at 128 + 3*64 + 64. */
	st16(b + HO(section_count), 3);
	EXPECT(b, g_len, TF_FW_E_SECT_OFFSET, 0);
	free(b);
}

static void
test_bounds_error_names_last_section(void)
{
	uint8_t *b = copy();

	st64(b + HO(image_size), g_len - 1);
	EXPECT(b, g_len, TF_FW_E_SECT_BOUNDS, 3);
	free(b);
}

static void
test_truncated_and_trailing(void)
{
	for (size_t n = 0; n < g_len; n++) {
		struct tf_fw_image img;
		struct tf_fw_diag d;

		CU_ASSERT_NOT_EQUAL(tf_fw_image_parse(g_img, n, &img, &d), 0);
		if (n < TF_FW_HEADER_SIZE || n >= TF_FW_PAYLOAD_OFFSET(4))
			CU_ASSERT_EQUAL(d.err, TF_FW_E_TRUNCATED);
	}
	EXPECT(g_img, TF_FW_PAYLOAD_OFFSET(4) - 1, TF_FW_E_TRUNCATED, -1);
	EXPECT(g_img, g_len - 1, TF_FW_E_TRUNCATED, -1);
	{
		uint8_t *b = copy();

		EXPECT(b, g_len + 1, TF_FW_E_TRAILING, -1);
		EXPECT(b, g_len + 64, TF_FW_E_TRAILING, -1);
		free(b);
	}
	/* The head parse needs only header + table + signature. */
	{
		struct tf_fw_image img;
		struct tf_fw_diag d;

		CU_ASSERT_EQUAL(tf_fw_image_parse_head(g_img, TF_FW_PAYLOAD_OFFSET(4), &img, &d),
				0);
		CU_ASSERT_EQUAL(img.image_size, g_len);
	}
}

static void
test_section_fields(void)
{
	uint8_t *b = copy();

#define MUT(stmt, err, sect)                 \
	do {                                 \
		memcpy(b, g_img, g_len);     \
		stmt;                        \
		EXPECT(b, g_len, err, sect); \
	} while (0)
	for (int i = 0; i < 4; i++) {
		MUT(st16(b + SO(i, type), 0), TF_FW_E_SECT_TYPE, i);
		MUT(st16(b + SO(i, type), TF_FW_SECT_TYPE_MAX + 1), TF_FW_E_SECT_TYPE, i);
		MUT(st16(b + SO(i, type), 0xffff), TF_FW_E_SECT_TYPE, i);
		MUT(st16(b + SO(i, flags), 1), TF_FW_E_SECT_FLAGS, i);
		MUT(st32(b + SO(i, reserved0), 1), TF_FW_E_SECT_RESERVED, i);
		for (int j = 0; j < 8; j++)
			MUT(b[SO(i, reserved1) + j] = 0x80, TF_FW_E_SECT_RESERVED, i);
		MUT(st64(b + SO(i, length), 0), TF_FW_E_SECT_LENGTH, i);
		MUT(st64(b + SO(i, length), TF_FW_IMAGE_MAX_SIZE + 1), TF_FW_E_SECT_LENGTH, i);
		MUT(st64(b + SO(i, length), UINT64_MAX), TF_FW_E_SECT_LENGTH, i);
		MUT(st64(b + SO(i, offset), ld64(b + SO(i, offset)) + 1), TF_FW_E_SECT_OFFSET, i);
		MUT(st64(b + SO(i, offset), ld64(b + SO(i, offset)) + 64), TF_FW_E_SECT_OFFSET, i);
		MUT(st64(b + SO(i, offset), ld64(b + SO(i, offset)) - 64), TF_FW_E_SECT_OFFSET, i);
		MUT(st64(b + SO(i, offset), 0), TF_FW_E_SECT_OFFSET, i);
		MUT(st64(b + SO(i, offset), UINT64_MAX - 10), TF_FW_E_SECT_OFFSET, i);
	}
	/* Duplicates: the second occurrence is named. */
	MUT(st16(b + SO(1, type), TF_FW_SECT_DATAPLANE), TF_FW_E_SECT_DUP, 1);
	MUT(st16(b + SO(3, type), TF_FW_SECT_CONFIG), TF_FW_E_SECT_DUP, 3);
	/* ABI section must be 16 bytes. */
	MUT(st64(b + SO(3, length), 15), TF_FW_E_ABI, 3);
	MUT(st64(b + SO(3, length), 17), TF_FW_E_ABI, 3);
	/* Overlap: section 0 grown into section 1. */
	MUT(st64(b + SO(0, length), 1000 + 64), TF_FW_E_SECT_OFFSET, 1);
	/* Last section beyond image_size. */
	MUT(st64(b + SO(3, offset), g_len), TF_FW_E_SECT_OFFSET, 3);
#undef MUT
	free(b);
}

static void
test_required_sections(void)
{
	struct t_image_spec s = { { 1, 0, 0 }, 1, T_BOARD, { 500, 0, 0 }, 3 };
	uint8_t *img;
	size_t len;

	t_image(&s, &g_key, &img, &len); /* dataplane + abi */
	EXPECT(img, len, TF_FW_OK, -1);
	st16(img + SO(0, type), TF_FW_SECT_ACCEL);
	EXPECT(img, len, TF_FW_E_SECT_MISSING, -1);
	st16(img + SO(0, type), TF_FW_SECT_DATAPLANE);
	st16(img + SO(1, type), TF_FW_SECT_CONFIG);
	EXPECT(img, len, TF_FW_E_SECT_MISSING, -1);
	free(img);
}

static void
test_padding_and_abi_content(void)
{
	uint8_t *b = copy();
	struct tf_fw_image img;
	struct tf_fw_diag d;

	CU_ASSERT_EQUAL_FATAL(tf_fw_image_parse(g_img, g_len, &img, &d), 0);
	/* Every padding byte between sections. */
	for (unsigned int i = 1; i < img.nsections; i++) {
		uint64_t from = img.sect[i - 1].offset + img.sect[i - 1].length;

		for (uint64_t o = from; o < img.sect[i].offset; o++) {
			memcpy(b, g_img, g_len);
			b[o] = 1;
			EXPECT(b, g_len, TF_FW_E_PADDING, (int)i);
		}
	}
	memcpy(b, g_img, g_len);
	b[img.sect[3].offset + 12] = 1; /* abi.reserved */
	EXPECT(b, g_len, TF_FW_E_ABI, 3);
	free(b);
}

static void
test_signature_covers_every_signed_bit(void)
{
	uint8_t *b = copy();
	size_t signed_len = TF_FW_SIG_OFFSET(4);
	struct tf_fw_image img;
	struct tf_fw_diag d;
	unsigned int sig_fail = 0;

	for (size_t o = 0; o < signed_len; o++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(b, g_img, g_len);
			b[o] ^= (uint8_t)(1u << bit);
			CU_ASSERT_NOT_EQUAL(tf_fw_image_verify(b, g_len, g_key.pub, &img, &d), 0);
			sig_fail += d.err == TF_FW_E_SIGNATURE;
			/* Bits the parser accepts (version, ids, hashes) fail on the signature. */
			if (o >= HO(version_major) && o < HO(reserved0))
				CU_ASSERT_EQUAL(d.err, TF_FW_E_SIGNATURE);
			if (o >= HO(security_version) && o < HO(key_id))
				CU_ASSERT_EQUAL(d.err, TF_FW_E_SIGNATURE);
		}
	}
	CU_ASSERT(sig_fail > 0);
	/* Every bit of the signature itself. */
	for (size_t o = signed_len; o < signed_len + TF_FW_SIG_SIZE; o++) {
		memcpy(b, g_img, g_len);
		b[o] ^= 0x01;
		expect_verify(b, g_len, g_key.pub, -EKEYREJECTED, TF_FW_E_SIGNATURE, -1);
	}
	free(b);
}

static void
test_hash_covers_every_section_byte(void)
{
	uint8_t *b = copy();
	struct tf_fw_image img;
	struct tf_fw_diag d;

	CU_ASSERT_EQUAL_FATAL(tf_fw_image_parse(g_img, g_len, &img, &d), 0);
	for (unsigned int i = 0; i < img.nsections; i++) {
		for (uint64_t o = img.sect[i].offset; o < img.sect[i].offset + img.sect[i].length;
		     o++) {
			memcpy(b, g_img, g_len);
			b[o] ^= 0x80;
			if (img.sect[i].type == TF_FW_SECT_ABI && o - img.sect[i].offset >= 12) {
				/* abi.reserved: caught structurally before the hash. */
				expect_verify(b, g_len, g_key.pub, -EBADMSG, TF_FW_E_ABI, (int)i);
				continue;
			}
			expect_verify(b, g_len, g_key.pub, -EBADMSG, TF_FW_E_HASH, (int)i);
		}
	}
	free(b);
}

static void
test_keys_and_unsigned(void)
{
	struct t_image_spec s = { { 1, 2, 3 }, 5, T_BOARD, { 1000, 300, 77 }, 1 };
	uint8_t kid[TF_FW_KEY_ID_SIZE];
	uint8_t *u, *b = copy();
	size_t ulen;

	t_image(&s, NULL, &u, &ulen);
	expect_verify(u, ulen, g_key.pub, -EKEYREJECTED, TF_FW_E_UNSIGNED, -1);
	expect_verify(g_img, g_len, g_other.pub, -EKEYREJECTED, TF_FW_E_KEY_ID, -1);
	/* A forged key id for the other key still fails on the signature. */
	CU_ASSERT_EQUAL(tf_fw_key_id(g_other.pub, kid), 0);
	memcpy(b + HO(key_id), kid, sizeof(kid));
	expect_verify(b, g_len, g_other.pub, -EKEYREJECTED, TF_FW_E_SIGNATURE, -1);
	/* Signing the unsigned image gives the same bytes (Ed25519 is deterministic). */
	CU_ASSERT_EQUAL(tf_fw_image_sign(u, ulen, g_key.key, NULL), 0);
	CU_ASSERT_EQUAL(ulen, g_len);
	CU_ASSERT_EQUAL(memcmp(u, g_img, g_len), 0);
	/* Re-signing with another key moves trust to that key. */
	CU_ASSERT_EQUAL(tf_fw_image_sign(u, ulen, g_other.key, NULL), 0);
	expect_verify(u, ulen, g_other.pub, 0, TF_FW_OK, -1);
	expect_verify(u, ulen, g_key.pub, -EKEYREJECTED, TF_FW_E_KEY_ID, -1);
	free(u);
	free(b);
}

static void
test_sign_refuses_tampered_sections(void)
{
	uint8_t *b = copy();
	struct tf_fw_diag d;

	b[TF_FW_PAYLOAD_OFFSET(4) + 10] ^= 1;
	CU_ASSERT_EQUAL(tf_fw_image_sign(b, g_len, g_key.key, &d), -EBADMSG);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_HASH);
	CU_ASSERT_EQUAL(d.section, 0);
	free(b);
}

static void
test_truncated_extended_signed(void)
{
	uint8_t *b = copy();

	expect_verify(g_img, g_len - 1, g_key.pub, -EBADMSG, TF_FW_E_TRUNCATED, -1);
	expect_verify(g_img, g_len - 16, g_key.pub, -EBADMSG, TF_FW_E_TRUNCATED, -1);
	expect_verify(b, g_len + 1, g_key.pub, -EBADMSG, TF_FW_E_TRAILING, -1);
	/* Extended with image_size updated to match: the layout no longer adds up. */
	st64(b + HO(image_size), g_len + 64);
	expect_verify(b, g_len + 64, g_key.pub, -EBADMSG, TF_FW_E_END, -1);
	free(b);
}

/* Swapping two equally long sections' bytes: hashes. Swapping their table entries
 * (and re-laying out the bytes to match): signature. */
static void
test_swapped_sections(void)
{
	struct t_image_spec s = { { 1, 0, 0 }, 1, T_BOARD, { 640, 640, 0 }, 9 };
	struct tf_fw_image img;
	struct tf_fw_diag d;
	uint8_t *a, tmp[640], ent[TF_FW_SECTION_ENTRY_SIZE];
	size_t len;

	t_image(&s, &g_key, &a, &len);
	CU_ASSERT_EQUAL_FATAL(tf_fw_image_verify(a, len, g_key.pub, &img, &d), 0);
	memcpy(tmp, a + img.sect[0].offset, 640);
	memcpy(a + img.sect[0].offset, a + img.sect[1].offset, 640);
	memcpy(a + img.sect[1].offset, tmp, 640);
	expect_verify(a, len, g_key.pub, -EBADMSG, TF_FW_E_HASH, 0);
	/* Now also swap the entries' type+hash so each entry describes its bytes again. */
	memcpy(ent, a + SO(0, type), TF_FW_SECTION_ENTRY_SIZE);
	memcpy(a + SO(0, type), a + SO(1, type), TF_FW_SECTION_ENTRY_SIZE);
	memcpy(a + SO(1, type), ent, TF_FW_SECTION_ENTRY_SIZE);
	st64(a + SO(1, offset), ld64(a + SO(0, offset)));
	st64(a + SO(0, offset), img.sect[0].offset);
	EXPECT(a, len, TF_FW_OK, -1); /* well-formed ... */
	expect_verify(a, len, g_key.pub, -EKEYREJECTED, TF_FW_E_SIGNATURE, -1); /* ... unsigned */
	free(a);
}

static void
test_policy(void)
{
	struct tf_fw_image img;
	struct tf_fw_diag d;

	CU_ASSERT_EQUAL_FATAL(tf_fw_image_verify(g_img, g_len, g_key.pub, &img, &d), 0);
	CU_ASSERT_EQUAL(tf_fw_image_check_policy(&img, T_BOARD + 1, 0, false, &d), -ENODEV);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_BOARD);
	CU_ASSERT_EQUAL(tf_fw_image_check_policy(&img, T_BOARD, 6, false, &d), -EPERM);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_ROLLBACK);
	CU_ASSERT_EQUAL(d.found, 5);
	CU_ASSERT_EQUAL(d.expected, 6);
	CU_ASSERT_EQUAL(tf_fw_image_check_policy(&img, T_BOARD, 6, true, &d), 0);
	CU_ASSERT_EQUAL(tf_fw_image_check_policy(&img, T_BOARD, 5, false, &d), 0);
	/* The override does not cross boards. */
	CU_ASSERT_EQUAL(tf_fw_image_check_policy(&img, 7, 6, true, &d), -ENODEV);
}

static void
test_build_rejects_bad_input(void)
{
	struct tf_fw_build_input in;
	struct tf_fw_diag d;
	uint8_t x[4] = { 1, 2, 3, 4 }, *img;
	size_t len;

	memset(&in, 0, sizeof(in));
	CU_ASSERT_EQUAL(tf_fw_image_build(&in, &img, &len, &d), -EINVAL);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_SECT_MISSING);
	in.nsections = 2;
	in.sect[0] = (struct tf_fw_build_section){ TF_FW_SECT_DATAPLANE, x, 4 };
	in.sect[1] = (struct tf_fw_build_section){ TF_FW_SECT_DATAPLANE, x, 4 };
	CU_ASSERT_EQUAL(tf_fw_image_build(&in, &img, &len, &d), -EINVAL);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_SECT_DUP);
	in.sect[1] = (struct tf_fw_build_section){ TF_FW_SECT_ABI, x, 4 };
	CU_ASSERT_EQUAL(tf_fw_image_build(&in, &img, &len, &d), -EINVAL);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_SECT_TYPE);
	in.sect[1] = (struct tf_fw_build_section){ TF_FW_SECT_CONFIG, x, 0 };
	CU_ASSERT_EQUAL(tf_fw_image_build(&in, &img, &len, &d), -EINVAL);
	CU_ASSERT_EQUAL(d.err, TF_FW_E_SECT_LENGTH);
	in.nsections = TF_FW_MAX_SECTIONS;
	CU_ASSERT_EQUAL(tf_fw_image_build(&in, &img, &len, &d), -EINVAL);
}

static void
test_key_files(void)
{
	char dir[] = "/tmp/tf-fw-ut.XXXXXX", priv[128], pub[128], err[512], rsa[128];
	uint8_t p1[TF_FW_PUBKEY_SIZE], p2[TF_FW_PUBKEY_SIZE];
	struct tf_fw_key *k;
	EVP_PKEY *ec;
	FILE *f;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(priv, sizeof(priv), "%s/k.key", dir);
	snprintf(pub, sizeof(pub), "%s/k.pub", dir);
	snprintf(rsa, sizeof(rsa), "%s/ec.key", dir);
	CU_ASSERT_EQUAL(tf_fw_key_save(g_key.key, priv, pub, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(tf_fw_key_save(g_key.key, priv, pub, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "refusing to overwrite"));
	CU_ASSERT_EQUAL(tf_fw_key_load(priv, &k, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(tf_fw_key_public(k, p1), 0);
	CU_ASSERT_EQUAL(memcmp(p1, g_key.pub, sizeof(p1)), 0);
	tf_fw_key_free(k);
	CU_ASSERT_EQUAL(tf_fw_pubkey_load(pub, p2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(memcmp(p2, g_key.pub, sizeof(p2)), 0);
	/* The private key file is not a public key file, and vice versa. */
	CU_ASSERT_EQUAL(tf_fw_pubkey_load(priv, p2, err, sizeof(err)), -EINVAL);
	CU_ASSERT_NOT_EQUAL(tf_fw_key_load(pub, &k, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(tf_fw_key_load("/nonexistent/key", &k, err, sizeof(err)), 0);
	/* Another algorithm is refused by name. */
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CU_ASSERT_FATAL(ec != NULL);
	f = fopen(rsa, "w");
	CU_ASSERT_FATAL(f != NULL);
	PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(ec);
	CU_ASSERT_EQUAL(tf_fw_key_load(rsa, &k, err, sizeof(err)), -EKEYREJECTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "Ed25519"));
	unlink(priv);
	unlink(pub);
	unlink(rsa);
	rmdir(dir);
}

static void
test_diag_messages(void)
{
	struct tf_fw_diag d = { TF_FW_E_HASH, 2, 0, 0 };
	char buf[512];

	tf_fw_diag_format(&d, buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "section 2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "rebuild and re-sign"));
	d = (struct tf_fw_diag){ TF_FW_E_ROLLBACK, -1, 3, 7 };
	tf_fw_diag_format(&d, buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "security version 3 is below the card's minimum 7"));
	for (int e = 0; e < TF_FW_E_MAX; e++) {
		d = (struct tf_fw_diag){ (enum tf_fw_err)e, -1, 1, 2 };
		CU_ASSERT(strlen(tf_fw_diag_format(&d, buf, sizeof(buf))) > 10);
		CU_ASSERT_STRING_NOT_EQUAL(tf_fw_err_name((enum tf_fw_err)e), "unknown");
	}
	/* Small buffers are never overrun. */
	d = (struct tf_fw_diag){ TF_FW_E_SIGNATURE, 1, 0, 0 };
	memset(buf, 'x', sizeof(buf));
	tf_fw_diag_format(&d, buf, 8);
	CU_ASSERT_EQUAL(strlen(buf), 7);
	CU_ASSERT_EQUAL(buf[8], 'x');
}

static const struct tf_cunit_test image_tests[] = {
	TF_TEST(test_valid_image_parses_and_verifies),
	TF_TEST(test_header_fields),
	TF_TEST(test_section_count_changes_layout),
	TF_TEST(test_bounds_error_names_last_section),
	TF_TEST(test_truncated_and_trailing),
	TF_TEST(test_section_fields),
	TF_TEST(test_required_sections),
	TF_TEST(test_padding_and_abi_content),
	TF_TEST(test_signature_covers_every_signed_bit),
	TF_TEST(test_hash_covers_every_section_byte),
	TF_TEST(test_keys_and_unsigned),
	TF_TEST(test_sign_refuses_tampered_sections),
	TF_TEST(test_truncated_extended_signed),
	TF_TEST(test_swapped_sections),
	TF_TEST(test_policy),
	TF_TEST(test_build_rejects_bad_input),
	TF_TEST(test_key_files),
	TF_TEST(test_diag_messages),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "image", suite_init, suite_cleanup, image_tests })
