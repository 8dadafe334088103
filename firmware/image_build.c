/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Image layout (build host): header, table, zeroed signature, then the
 * sections in order, each at the next 64-byte boundary, the ABI section last.
 * The result is unsigned; tf_fw_image_sign() (keys.c) signs it.
 */
#include "fw_internal.h"

#include <errno.h>
#include <stdlib.h>

#define HDR_OFF(f) offsetof(struct tf_fw_header, f)
#define SEC_OFF(f) offsetof(struct tf_fw_section, f)

static uint64_t
align_up(uint64_t v)
{
	return (v + TF_FW_SECTION_ALIGN - 1) & ~(uint64_t)(TF_FW_SECTION_ALIGN - 1);
}

static void
encode_abi(const struct tf_fw_abi *a, uint8_t out[sizeof(struct tf_fw_abi)])
{
	memset(out, 0, sizeof(struct tf_fw_abi));
	st16(out + offsetof(struct tf_fw_abi, bar_major), a->bar_major);
	st16(out + offsetof(struct tf_fw_abi, bar_minor), a->bar_minor);
	st16(out + offsetof(struct tf_fw_abi, wire_major), a->wire_major);
	st16(out + offsetof(struct tf_fw_abi, wire_minor), a->wire_minor);
	st16(out + offsetof(struct tf_fw_abi, ring_major), a->ring_major);
	st16(out + offsetof(struct tf_fw_abi, ring_minor), a->ring_minor);
}

int
tf_fw_image_build(const struct tf_fw_build_input *in, uint8_t **out, size_t *outlen,
		  struct tf_fw_diag *d)
{
	struct tf_fw_build_section sect[TF_FW_MAX_SECTIONS];
	uint64_t off[TF_FW_MAX_SECTIONS], end;
	uint8_t abi[sizeof(struct tf_fw_abi)], hashes[TF_FW_MAX_SECTIONS][TF_FW_SHA256_SIZE];
	unsigned int n, seen = 0;
	uint8_t *img;

	diag_clear(d);
	if (in->nsections > TF_FW_MAX_SECTIONS - 1)
		return -EINVAL;
	n = in->nsections;
	for (unsigned int i = 0; i < n; i++) {
		const struct tf_fw_build_section *s = &in->sect[i];

		if (s->type == 0 || s->type >= TF_FW_SECT_ABI || (seen & (1u << s->type))) {
			diag_set(d,
				 s->type >= TF_FW_SECT_ABI || !s->type ? TF_FW_E_SECT_TYPE
								       : TF_FW_E_SECT_DUP,
				 (int)i, s->type, 0);
			return -EINVAL;
		}
		if (s->len == 0 || !s->data) {
			diag_set(d, TF_FW_E_SECT_LENGTH, (int)i, s->len, TF_FW_IMAGE_MAX_SIZE);
			return -EINVAL;
		}
		seen |= 1u << s->type;
		sect[i] = *s;
	}
	if (!(seen & (1u << TF_FW_SECT_DATAPLANE))) {
		diag_set(d, TF_FW_E_SECT_MISSING, -1, TF_FW_SECT_DATAPLANE, 0);
		return -EINVAL;
	}
	encode_abi(&in->abi, abi);
	sect[n++] = (struct tf_fw_build_section){ TF_FW_SECT_ABI, abi, sizeof(abi) };

	end = TF_FW_PAYLOAD_OFFSET(n);
	for (unsigned int i = 0; i < n; i++) {
		if (sect[i].len > TF_FW_IMAGE_MAX_SIZE) {
			diag_set(d, TF_FW_E_SECT_LENGTH, (int)i, sect[i].len, TF_FW_IMAGE_MAX_SIZE);
			return -EFBIG;
		}
		off[i] = align_up(end);
		end = off[i] + sect[i].len;
		if (end > TF_FW_IMAGE_MAX_SIZE) {
			diag_set(d, TF_FW_E_IMAGE_SIZE, -1, end, TF_FW_IMAGE_MAX_SIZE);
			return -EFBIG;
		}
	}

	img = calloc(1, end);
	if (!img)
		return -ENOMEM;
	memcpy(img + HDR_OFF(magic), TF_FW_MAGIC, TF_FW_MAGIC_LEN);
	st16(img + HDR_OFF(format_version), TF_FW_FORMAT_VERSION);
	st16(img + HDR_OFF(header_size), TF_FW_HEADER_SIZE);
	st16(img + HDR_OFF(section_entry_size), TF_FW_SECTION_ENTRY_SIZE);
	st16(img + HDR_OFF(section_count), (uint16_t)n);
	st16(img + HDR_OFF(sig_type), TF_FW_SIG_TYPE_ED25519);
	st16(img + HDR_OFF(sig_size), TF_FW_SIG_SIZE);
	st64(img + HDR_OFF(image_size), end);
	st16(img + HDR_OFF(version_major), in->version[0]);
	st16(img + HDR_OFF(version_minor), in->version[1]);
	st16(img + HDR_OFF(version_patch), in->version[2]);
	st32(img + HDR_OFF(security_version), in->security_version);
	st32(img + HDR_OFF(board_id), in->board_id);
	st64(img + HDR_OFF(build_time), in->build_time);

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *e = img + TF_FW_HEADER_SIZE + (size_t)i * TF_FW_SECTION_ENTRY_SIZE;

		memcpy(img + off[i], sect[i].data, sect[i].len);
		if (tf_fw_sha256(sect[i].data, sect[i].len, hashes[i])) {
			free(img);
			diag_set(d, TF_FW_E_CRYPTO, (int)i, 0, 0);
			return -EIO;
		}
		st16(e + SEC_OFF(type), sect[i].type);
		st64(e + SEC_OFF(offset), off[i]);
		st64(e + SEC_OFF(length), sect[i].len);
		memcpy(e + SEC_OFF(sha256), hashes[i], TF_FW_SHA256_SIZE);
	}
	if (in->has_build_id) {
		memcpy(img + HDR_OFF(build_id), in->build_id, TF_FW_BUILD_ID_SIZE);
	} else if (tf_fw_sha256(hashes, (size_t)n * TF_FW_SHA256_SIZE, img + HDR_OFF(build_id))) {
		free(img);
		diag_set(d, TF_FW_E_CRYPTO, -1, 0, 0);
		return -EIO;
	}
	*out = img;
	*outlen = end;
	return 0;
}
