/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: a host's FW_WRITE commands as a card takes them: each
 * submission entry through lib/card's check (check_aq.c), then the upload
 * sequence (firmware/aq_upload.c: order, gaps, changing totals, restarts,
 * slot size), and a complete image through signature verification, as
 * tokfab-dp's handler does before it writes a slot.
 *
 * Input: u32 slot size (LE, at most 1 MiB), then records of
 * [u8 ctl][u32 offset][u32 total_len][u16 len][u16 flags] followed by up to
 * len data bytes. ctl bit 0: offset = bytes received so far; bit 1: flags =
 * FINAL exactly when the chunk ends the image; bit 2: total_len = the
 * current image's. The bits let the fuzzer build valid uploads; without them
 * the fields are as given.
 */
#include "card/check.h"
#include "fw.h"
#include "fw_aq.h"
#include "fw_seed_key.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_fw_upload up = { 0 };
	uint64_t slot;

	if (size < 4)
		return 0;
	slot = ld32(data) % (1u << 20) + 1;
	data += 4;
	size -= 4;
	while (size >= 13) {
		struct tf_aq_sqe sqe = { .opcode = TF_AQ_FW_WRITE,
					 .len = sizeof(struct tf_aq_fw_write) };
		struct tf_aq_fw_write *w = (struct tf_aq_fw_write *)sqe.payload;
		struct tf_aq_fw_write_status st = { 0 };
		uint8_t ctl = data[0];
		uint32_t detail = 0, n;
		int rc;

		w->offset = (ctl & 1) ? up.recv : ld32(data + 1);
		w->total_len = (ctl & 4) && up.img ? up.len : ld32(data + 5);
		w->len = (uint16_t)(data[9] | data[10] << 8);
		w->flags = (uint16_t)(data[11] | data[12] << 8);
		data += 13;
		size -= 13;
		n = w->len < TF_FW_WRITE_CHUNK ? w->len : TF_FW_WRITE_CHUNK;
		if (n > size)
			n = (uint32_t)size;
		memcpy(w->data, data, n);
		data += n;
		size -= n;
		if (ctl & 2)
			w->flags = (uint64_t)w->offset + w->len == w->total_len
					   ? TF_FW_WRITE_F_FINAL
					   : 0;
		if (tf_aq_sqe_check(&sqe, &detail) != TF_AQ_S_OK)
			continue; /* refused before the handler, as on a card */
		rc = tf_fw_upload_chunk(&up, w, slot, &st, &detail);
		if (rc != TF_AQ_S_OK) {
			if (rc != TF_AQ_S_BAD_FIELD && rc != TF_AQ_S_NO_SPACE &&
			    rc != TF_AQ_S_INTERNAL)
				abort();
			continue;
		}
		if (!up.img || up.recv > up.len || up.len > slot || st.received != up.recv)
			abort();
		if (w->flags & TF_FW_WRITE_F_FINAL) {
			struct tf_fw_image img;
			struct tf_fw_diag d;

			if (up.recv != up.len)
				abort(); /* FINAL with bytes missing */
			tf_fw_image_verify(up.img, up.recv, g_fw_seed_pub, &img, &d);
			tf_fw_upload_release(&up);
		}
	}
	tf_fw_upload_release(&up);
	return 0;
}
