/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for firmware/aq_upload.c: FW_WRITE gathering and status mapping
 * shared by tokfab-dp and the VM tier's test card. */
#include "fw_aq.h"
#include "tf_cunit.h"

#include <errno.h>
#include <string.h>

static struct tf_aq_fw_write
chunk(uint32_t offset, uint32_t total, uint16_t len, uint8_t fill)
{
	struct tf_aq_fw_write c;

	memset(&c, 0, sizeof(c));
	c.offset = offset;
	c.total_len = total;
	c.len = len;
	c.flags = offset + len == total ? TF_FW_WRITE_F_FINAL : 0;
	memset(c.data, fill, len < sizeof(c.data) ? len : sizeof(c.data));
	return c;
}

static void
test_gathers_in_order(void)
{
	struct tf_fw_upload up = { 0 };
	struct tf_aq_fw_write_status r;
	struct tf_aq_fw_write c;
	uint32_t detail = 0;

	c = chunk(0, 900, 480, 0xaa);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 4096, &r, &detail), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(r.received, 480);
	CU_ASSERT_EQUAL(r.slot, TF_FW_NO_SLOT);
	c = chunk(480, 900, 420, 0xbb);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 0, &r, &detail), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(r.received, 900);
	CU_ASSERT_EQUAL(up.recv, 900);
	CU_ASSERT_PTR_NOT_NULL_FATAL(up.img);
	CU_ASSERT_EQUAL(up.img[0], 0xaa);
	CU_ASSERT_EQUAL(up.img[479], 0xaa);
	CU_ASSERT_EQUAL(up.img[480], 0xbb);
	CU_ASSERT_EQUAL(up.img[899], 0xbb);
	tf_fw_upload_release(&up);
	CU_ASSERT_PTR_NULL(up.img);
	CU_ASSERT_EQUAL(up.recv, 0);
}

static void
test_refuses_bad_sequences(void)
{
	struct tf_fw_upload up = { 0 };
	struct tf_aq_fw_write_status r;
	struct tf_aq_fw_write c;
	uint32_t detail = 0;

	/* Larger than a slot: NO_SPACE with the slot size. */
	c = chunk(0, 5000, 100, 1);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 4096, &r, &detail), TF_AQ_S_NO_SPACE);
	CU_ASSERT_EQUAL(detail, 4096);
	CU_ASSERT_PTR_NULL(up.img);
	/* A continuation with no image started. */
	c = chunk(100, 1000, 100, 1);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 0, &r, &detail), TF_AQ_S_BAD_FIELD);
	CU_ASSERT_EQUAL(detail, offsetof(struct tf_aq_fw_write, offset));

	c = chunk(0, 300, 100, 1);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 4096, &r, &detail), TF_AQ_S_OK);
	/* A gap, an overlap, a total that changed, a chunk past the total. */
	c = chunk(200, 300, 100, 1);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 0, &r, &detail), TF_AQ_S_BAD_FIELD);
	CU_ASSERT_EQUAL(detail, offsetof(struct tf_aq_fw_write, offset));
	c = chunk(50, 300, 100, 1);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 0, &r, &detail), TF_AQ_S_BAD_FIELD);
	c = chunk(100, 2000, 100, 1);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 0, &r, &detail), TF_AQ_S_BAD_FIELD);
	CU_ASSERT_EQUAL(detail, offsetof(struct tf_aq_fw_write, total_len));
	c = chunk(100, 300, 480, 1);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 0, &r, &detail), TF_AQ_S_BAD_FIELD);
	CU_ASSERT_EQUAL(detail, offsetof(struct tf_aq_fw_write, len));
	/* Nothing of the refused chunks was taken. */
	CU_ASSERT_EQUAL(up.recv, 100);
	/* Offset 0 starts over. */
	c = chunk(0, 10, 10, 7);
	CU_ASSERT_EQUAL(tf_fw_upload_chunk(&up, &c, 4096, &r, &detail), TF_AQ_S_OK);
	CU_ASSERT_EQUAL(up.recv, 10);
	CU_ASSERT_EQUAL(up.len, 10);
	tf_fw_upload_release(&up);
}

static void
test_refusal_status(void)
{
	struct tf_fw_diag d = { .err = TF_FW_E_HASH, .expected = 7 };
	uint32_t detail = 0;

	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-EKEYREJECTED, &d, &detail), TF_AQ_S_FW_BAD_SIGNATURE);
	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-EBADMSG, &d, &detail), TF_AQ_S_FW_BAD_DIGEST);
	d.err = TF_FW_E_BOARD;
	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-EBADMSG, &d, &detail), TF_AQ_S_FW_NO_IMAGE);
	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-EPERM, &d, &detail), TF_AQ_S_FW_ROLLBACK);
	CU_ASSERT_EQUAL(detail, 7);
	detail = 0;
	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-ENODEV, &d, &detail), TF_AQ_S_CONFLICT);
	CU_ASSERT_EQUAL(detail, 7);
	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-EBUSY, &d, &detail), TF_AQ_S_FW_BUSY);
	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-ENOENT, &d, &detail), TF_AQ_S_FW_NO_IMAGE);
	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-EFBIG, &d, &detail), TF_AQ_S_NO_SPACE);
	CU_ASSERT_EQUAL(tf_fw_aq_refusal(-EIO, &d, &detail), TF_AQ_S_INTERNAL);
}

static void
test_image_version(void)
{
	struct tf_fw_image im;

	memset(&im, 0, sizeof(im));
	im.version[0] = 2;
	im.version[1] = 3;
	im.version[2] = 4;
	CU_ASSERT_EQUAL(tf_fw_image_version(&im), TF_FW_VERSION(2u, 3u, 4u));
}

static const struct tf_cunit_test aq_tests[] = {
	TF_TEST(test_gathers_in_order),
	TF_TEST(test_refuses_bad_sequences),
	TF_TEST(test_refusal_status),
	TF_TEST(test_image_version),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "fw_aq", NULL, NULL, aq_tests })
