/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the firmware image parser and verifier (firmware/
 * image_parse.c, image_verify.c) on arbitrary bytes. Every section the
 * parser accepts is read end to end, so an accepted out-of-bounds offset or
 * length shows up under ASan. Seeds (tests/fuzz/corpus/fw_image/, made by
 * tests/fuzz/fw_seeds.sh) are signed with the key whose public half is in
 * fw_seed_key.h, so mutated sections reach the SHA-256 checks.
 */
#include "fw.h"
#include "fw_seed_key.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_fw_image img;
	struct tf_fw_diag d;
	char msg[512];
	volatile uint8_t sink = 0;

	if (tf_fw_image_parse_head(data, size, &img, &d) == 0) {
		if (img.signed_len + TF_FW_SIG_SIZE > size)
			abort();
	}
	tf_fw_diag_format(&d, msg, sizeof(msg));
	if (tf_fw_image_parse(data, size, &img, &d) == 0) {
		for (unsigned int i = 0; i < img.nsections; i++) {
			uint64_t len;
			const uint8_t *p = tf_fw_image_section(&img, img.sect[i].type, &len);

			if (!p || p < data || len > size || (size_t)(p - data) > size - len)
				abort();
			for (uint64_t j = 0; j < len; j++)
				sink ^= p[j];
		}
	}
	tf_fw_diag_format(&d, msg, sizeof(msg));
	tf_fw_image_verify(data, size, g_fw_seed_pub, &img, &d);
	tf_fw_diag_format(&d, msg, sizeof(msg));
	(void)sink;
	return 0;
}
