/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for lib/proto/keyfile.c: protocol.md 4.2 key files, one reader for all parts. */
#include "tf_cunit.h"
#include "tokfab/proto.h"

#include <errno.h>
#include <string.h>

static int
parse(const char *text, size_t min, size_t max, uint8_t *key, size_t *len, char *err)
{
	return tf_proto_keyfile_parse("k", text, strlen(text), min, max, key, len, err, 200);
}

static void
test_spec_example_and_blanks(void)
{
	uint8_t key[64];
	size_t len = 0;
	char err[200];

	CU_ASSERT_EQUAL(parse("# tenant 42, key 0\n"
			      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
			      32, 32, key, &len, err),
			0);
	CU_ASSERT_EQUAL(len, 32);
	CU_ASSERT_EQUAL(key[0], 0x00);
	CU_ASSERT_EQUAL(key[31], 0x1f);
	/* Blanks (CR included) around the digits, indented comments, no final newline, upper case. */
	CU_ASSERT_EQUAL(
		parse("\r\n  # c\n\t 000102030405060708090A0B0C0D0E0F \r", 16, 64, key, &len, err),
		0);
	CU_ASSERT_EQUAL(len, 16);
	CU_ASSERT_EQUAL(key[10], 0x0a);
}

static void
test_refusals_say_where(void)
{
	uint8_t key[64];
	size_t len = 0;
	char err[200];

	CU_ASSERT_EQUAL(parse("", 32, 32, key, &len, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no key found"));
	CU_ASSERT_EQUAL(parse("# only a comment\n\n", 16, 64, key, &len, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no key found (expected 32..128"));
	/* Odd count, too short, too long for the range. */
	CU_ASSERT_EQUAL(parse("000102030405060708090a0b0c0d0e0f0", 16, 64, key, &len, err),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "k:1: a key is 32..128 hex digits"));
	CU_ASSERT_EQUAL(parse("\n0011", 16, 64, key, &len, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "k:2:"));
	CU_ASSERT_EQUAL(parse("000102030405060708090a0b0c0d0e0f", 32, 32, key, &len, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a key is 64 hex digits (32 bytes)"));
	/* A character that is not a hex digit, a blank inside the key, a NUL. */
	CU_ASSERT_EQUAL(parse("00010203040506070809g a0b0c0d0e0f0", 16, 64, key, &len, err),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "character 21 is not a hex digit"));
	CU_ASSERT_EQUAL(tf_proto_keyfile_parse("k", "00112233445566778899aabbccdd\0eff", 32, 16, 64,
					       key, &len, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a hex digit"));
	/* Two key lines. */
	CU_ASSERT_EQUAL(
		parse("00112233445566778899aabbccddeeff\n# x\n00112233445566778899aabbccddeeff", 16,
		      64, key, &len, err),
		-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "k:3: more than one key line"));
}

static void
test_read_file(void)
{
	uint8_t key[32];
	size_t len = 0;
	char err[300];
	bool world = true;

	CU_ASSERT_EQUAL(tf_proto_keyfile_read("/nonexistent/k.key", 32, 32, key, &len, &world, err,
					      sizeof(err)),
			-ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open key file '/nonexistent/k.key'"));
}

static const struct tf_cunit_test keyfile_tests[] = {
	TF_TEST(test_spec_example_and_blanks),
	TF_TEST(test_refusals_say_where),
	TF_TEST(test_read_file),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "keyfile", NULL, NULL, keyfile_tests })
