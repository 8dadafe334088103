/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab firmware image and card flash layout: the bytes on disk and in the
 * card's flash. Normative prose: hwdocs/firmware-image.md and
 * hwdocs/flash-layout.md. Every multi-byte field is little-endian; every
 * reserved field is written as zero and rejected when it is not.
 *
 * Image:   [header 128][section table n*64][Ed25519 signature 64][sections...]
 *          The signature covers bytes [0, 128 + n*64): header + section table.
 *          Each section carries the SHA-256 of its bytes in its table entry.
 * Flash:   [board record][metadata copy 0][metadata copy 1][reserved][slot 0][slot 1]
 */
#ifndef TOKFAB_FW_IMAGE_H
#define TOKFAB_FW_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* ---- image ---------------------------------------------------------------- */

#define TF_FW_MAGIC "TOKFABFW" /* 8 bytes, no terminator in the image */
#define TF_FW_MAGIC_LEN 8
#define TF_FW_FORMAT_VERSION 1
#define TF_FW_HEADER_SIZE 128
#define TF_FW_SECTION_ENTRY_SIZE 64
#define TF_FW_SIG_TYPE_ED25519 1
#define TF_FW_SIG_SIZE 64
#define TF_FW_PUBKEY_SIZE 32
#define TF_FW_SECTION_ALIGN 64
#define TF_FW_MAX_SECTIONS 8
#define TF_FW_IMAGE_MAX_SIZE (1ull << 30) /* 1 GiB */
#define TF_FW_BUILD_ID_SIZE 32
#define TF_FW_KEY_ID_SIZE 8 /* first 8 bytes of SHA-256(raw Ed25519 public key) */
#define TF_FW_SHA256_SIZE 32

/* Offset of the signature and of the first section for a given section count. */
#define TF_FW_SIG_OFFSET(n) ((uint64_t)TF_FW_HEADER_SIZE + (uint64_t)(n)*TF_FW_SECTION_ENTRY_SIZE)
#define TF_FW_PAYLOAD_OFFSET(n) (TF_FW_SIG_OFFSET(n) + TF_FW_SIG_SIZE)

struct tf_fw_header {
	uint8_t magic[TF_FW_MAGIC_LEN]; /* "TOKFABFW" */
	uint16_t format_version; /* TF_FW_FORMAT_VERSION */
	uint16_t header_size; /* TF_FW_HEADER_SIZE */
	uint16_t section_entry_size; /* TF_FW_SECTION_ENTRY_SIZE */
	uint16_t section_count; /* 1..TF_FW_MAX_SECTIONS */
	uint32_t flags; /* none defined: must be 0 */
	uint16_t sig_type; /* TF_FW_SIG_TYPE_ED25519 */
	uint16_t sig_size; /* TF_FW_SIG_SIZE */
	uint64_t image_size; /* every byte of the image, header to last section end */
	uint16_t version_major; /* semantic version of the firmware */
	uint16_t version_minor;
	uint16_t version_patch;
	uint16_t reserved0;
	uint32_t security_version; /* anti-rollback: cards refuse images below their floor */
	uint32_t board_id; /* the card model this image is for */
	uint64_t build_time; /* seconds since the epoch (SOURCE_DATE_EPOCH), 0 = unknown */
	uint8_t build_id[TF_FW_BUILD_ID_SIZE]; /* opaque build identity */
	uint8_t key_id[TF_FW_KEY_ID_SIZE]; /* which key signed it; zero while unsigned */
	uint8_t reserved1[32];
};

_Static_assert(sizeof(struct tf_fw_header) == TF_FW_HEADER_SIZE, "fw header size");
_Static_assert(offsetof(struct tf_fw_header, format_version) == 8, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, section_count) == 14, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, flags) == 16, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, sig_type) == 20, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, image_size) == 24, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, version_major) == 32, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, security_version) == 40, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, board_id) == 44, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, build_time) == 48, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, build_id) == 56, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, key_id) == 88, "fw header layout");
_Static_assert(offsetof(struct tf_fw_header, reserved1) == 96, "fw header layout");

enum tf_fw_section_type {
	TF_FW_SECT_DATAPLANE = 1, /* tokfab-dp executable (required) */
	TF_FW_SECT_ACCEL = 2, /* tokfab-accel executable, served to accelerator nodes */
	TF_FW_SECT_CONFIG = 3, /* default card configuration (text) */
	TF_FW_SECT_ABI = 4, /* struct tf_fw_abi: the interfaces this image speaks (required) */
	TF_FW_SECT_TYPE_MAX = 4,
};

struct tf_fw_section {
	uint16_t type; /* enum tf_fw_section_type; each type at most once */
	uint16_t flags; /* none defined: must be 0 */
	uint32_t reserved0; /* must be 0 */
	uint64_t offset; /* from the start of the image; see the placement rule */
	uint64_t length; /* > 0 */
	uint8_t sha256[TF_FW_SHA256_SIZE]; /* SHA-256 of bytes [offset, offset + length) */
	uint8_t reserved1[8]; /* must be 0 */
};

_Static_assert(sizeof(struct tf_fw_section) == TF_FW_SECTION_ENTRY_SIZE, "fw section size");
_Static_assert(offsetof(struct tf_fw_section, offset) == 8, "fw section layout");
_Static_assert(offsetof(struct tf_fw_section, length) == 16, "fw section layout");
_Static_assert(offsetof(struct tf_fw_section, sha256) == 24, "fw section layout");
_Static_assert(offsetof(struct tf_fw_section, reserved1) == 56, "fw section layout");

/* Payload of the TF_FW_SECT_ABI section: exactly this many bytes. */
struct tf_fw_abi {
	uint16_t bar_major; /* BAR registers + admin/event queues (hwdocs) */
	uint16_t bar_minor;
	uint16_t wire_major; /* client wire protocol */
	uint16_t wire_minor;
	uint16_t ring_major; /* accelerator ring layout */
	uint16_t ring_minor;
	uint32_t reserved; /* must be 0 */
};

_Static_assert(sizeof(struct tf_fw_abi) == 16, "fw abi section size");
_Static_assert(offsetof(struct tf_fw_abi, ring_major) == 8, "fw abi layout");

/* ---- card flash ----------------------------------------------------------- */

#define TF_FLASH_BLOCK_SIZE 4096 /* erase block */
#define TF_FLASH_BOARD_OFF 0 /* board record (one-time programmable on a real part) */
#define TF_FLASH_META0_OFF 4096 /* metadata copy 0 */
#define TF_FLASH_META1_OFF 8192 /* metadata copy 1 */
#define TF_FLASH_SLOTS_OFF 16384 /* slot 0; slot 1 follows it */
#define TF_FLASH_MIN_SLOT_SIZE (64u * 1024)
#define TF_FLASH_NSLOTS 2
#define TF_FLASH_NO_SLOT 0xff

#define TF_FLASH_BOARD_MAGIC 0x44424654u /* "TFBD" */
#define TF_FLASH_META_MAGIC 0x444d4654u /* "TFMD" */
#define TF_FLASH_RECORD_VERSION 1
#define TF_FLASH_RECORD_SIZE 64

/* Written once when the card is provisioned: the root of trust. */
struct tf_flash_board {
	uint32_t magic; /* TF_FLASH_BOARD_MAGIC */
	uint16_t version; /* TF_FLASH_RECORD_VERSION */
	uint16_t size; /* TF_FLASH_RECORD_SIZE */
	uint32_t board_id;
	uint32_t reserved0;
	uint8_t pubkey[TF_FW_PUBKEY_SIZE]; /* raw Ed25519 public key images must verify with */
	uint8_t reserved1[12];
	uint32_t crc32; /* CRC-32 (IEEE, zlib) of bytes [0, 60) */
};

_Static_assert(sizeof(struct tf_flash_board) == TF_FLASH_RECORD_SIZE, "board record size");
_Static_assert(offsetof(struct tf_flash_board, pubkey) == 16, "board record layout");
_Static_assert(offsetof(struct tf_flash_board, crc32) == 60, "board record layout");

enum tf_flash_slot_state {
	TF_SLOT_EMPTY = 0, /* nothing known to be there */
	TF_SLOT_WRITING = 1, /* being erased/written: never bootable */
	TF_SLOT_STORED = 2, /* written and read back, not confirmed */
	TF_SLOT_CONFIRMED = 3, /* ran and confirmed itself healthy: a fallback */
	TF_SLOT_BAD = 4, /* failed its trial or its verification */
	TF_SLOT_STATE_MAX = 4,
};

#define TF_SLOT_F_ROLLBACK_OVERRIDE 0x01 /* lab override: may boot below the floor */
#define TF_SLOT_F_ALL 0x01

enum tf_flash_boot_reason {
	TF_BOOT_NONE = 0, /* never booted */
	TF_BOOT_NORMAL = 1, /* the active, confirmed slot */
	TF_BOOT_TRIAL = 2, /* the pending slot, on trial */
	TF_BOOT_FALLBACK_UNCONFIRMED = 3, /* pending never confirmed: back to the active slot */
	TF_BOOT_FALLBACK_INVALID = 4, /* pending failed verification: back to the active slot */
	TF_BOOT_FALLBACK_ACTIVE = 5, /* active slot failed verification: the other confirmed slot */
	TF_BOOT_RECOVERY = 6, /* no valid metadata: best valid image found by scanning */
	TF_BOOT_REASON_MAX = 6,
};

/* One copy of the boot metadata; the valid copy with the higher seq wins. */
struct tf_flash_meta {
	uint32_t magic; /* TF_FLASH_META_MAGIC */
	uint16_t version; /* TF_FLASH_RECORD_VERSION */
	uint16_t size; /* TF_FLASH_RECORD_SIZE */
	uint64_t seq; /* incremented by every update */
	uint32_t min_security_version; /* anti-rollback floor */
	uint32_t rollback_overrides; /* times the lab override was used (never decreases) */
	uint8_t active_slot; /* confirmed slot booted normally, or TF_FLASH_NO_SLOT */
	uint8_t pending_slot; /* slot to try next, or TF_FLASH_NO_SLOT */
	uint8_t tries_left; /* trial boots left for the pending slot */
	uint8_t booted_slot; /* what the last boot started, or TF_FLASH_NO_SLOT */
	uint8_t slot_state[TF_FLASH_NSLOTS]; /* enum tf_flash_slot_state */
	uint8_t slot_flags[TF_FLASH_NSLOTS]; /* TF_SLOT_F_* */
	uint32_t boot_count;
	uint32_t fallback_count;
	uint8_t last_boot; /* enum tf_flash_boot_reason */
	uint8_t max_tries; /* tries given when the pending slot was activated */
	uint8_t reserved0[2];
	uint32_t pending_security_version; /* floor after the pending slot confirms */
	uint8_t reserved1[12];
	uint32_t crc32; /* CRC-32 (IEEE, zlib) of bytes [0, 60) */
};

_Static_assert(sizeof(struct tf_flash_meta) == TF_FLASH_RECORD_SIZE, "meta record size");
_Static_assert(offsetof(struct tf_flash_meta, seq) == 8, "meta record layout");
_Static_assert(offsetof(struct tf_flash_meta, min_security_version) == 16, "meta record layout");
_Static_assert(offsetof(struct tf_flash_meta, active_slot) == 24, "meta record layout");
_Static_assert(offsetof(struct tf_flash_meta, slot_state) == 28, "meta record layout");
_Static_assert(offsetof(struct tf_flash_meta, slot_flags) == 30, "meta record layout");
_Static_assert(offsetof(struct tf_flash_meta, boot_count) == 32, "meta record layout");
_Static_assert(offsetof(struct tf_flash_meta, last_boot) == 40, "meta record layout");
_Static_assert(offsetof(struct tf_flash_meta, pending_security_version) == 44,
	       "meta record layout");
_Static_assert(offsetof(struct tf_flash_meta, crc32) == 60, "meta record layout");

#endif /* TOKFAB_FW_IMAGE_H */
