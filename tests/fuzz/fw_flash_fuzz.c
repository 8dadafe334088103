/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: a card whose flash holds arbitrary bytes where the two
 * metadata copies and the start of both slots are (firmware/meta.c, boot.c,
 * card.c): open, status, boot, confirm, activate must never misbehave.
 * Input: [meta copy 0: 64][meta copy 1: 64][slot A head ...][slot B head ...]
 * (the rest split evenly between the slots). Seeds (tests/fuzz/corpus/fw_flash/,
 * made by tests/fuzz/fw_seeds.sh) are real cards mid-update.
 */
#include "fw.h"
#include "fw_seed_key.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLASH_SIZE (TF_FLASH_SLOTS_OFF + 2 * TF_FLASH_MIN_SLOT_SIZE)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_fw_card_status st;
	struct tf_fw_boot_result res;
	struct tf_fw_card *card;
	struct tf_flash *fl;
	struct tf_fw_diag d;
	size_t rest, half;
	bool changed;
	int slot;

	if (tf_flash_mem_create(FLASH_SIZE, &fl))
		return 0;
	if (tf_fw_card_provision(fl, 0x54460001, g_fw_seed_pub))
		abort();
	if (size >= 64)
		tf_flash_program(fl, TF_FLASH_META0_OFF, data, 64);
	if (size >= 128)
		tf_flash_program(fl, TF_FLASH_META1_OFF, data + 64, 64);
	rest = size > 128 ? size - 128 : 0;
	half = rest / 2;
	if (half > TF_FLASH_MIN_SLOT_SIZE)
		half = TF_FLASH_MIN_SLOT_SIZE;
	if (tf_fw_card_open(fl, &card))
		abort(); /* the board record is valid */
	tf_flash_program(fl, tf_fw_card_slot_offset(card, 0), data + 128, half);
	tf_flash_program(fl, tf_fw_card_slot_offset(card, 1), data + 128 + half,
			 rest - half > TF_FLASH_MIN_SLOT_SIZE ? TF_FLASH_MIN_SLOT_SIZE
							      : rest - half);
	tf_fw_card_status(card, &st);
	if (tf_fw_card_boot(card, &res) >= 0 && (res.slot < 0 || res.slot > 1))
		abort();
	tf_fw_card_confirm(card, &slot, &changed);
	tf_fw_card_activate(card, 1, 1, false, &d);
	tf_fw_card_boot(card, &res);
	tf_fw_card_status(card, &st);
	tf_fw_card_close(card);
	tf_flash_destroy(fl);
	return 0;
}
