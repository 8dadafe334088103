/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Image structure: every header field, table entry, offset, length and
 * padding byte is checked, in the order of hwdocs/firmware-image.md
 * "Validation", before anything is used. No crypto here.
 */
#include "fw_internal.h"

#include <errno.h>

#define HDR_OFF(f) offsetof(struct tf_fw_header, f)
#define SEC_OFF(f) offsetof(struct tf_fw_section, f)

static uint64_t
align_up(uint64_t v)
{
	return (v + TF_FW_SECTION_ALIGN - 1) & ~(uint64_t)(TF_FW_SECTION_ALIGN - 1);
}

static int
fail(struct tf_fw_diag *d, enum tf_fw_err err, int section, uint64_t found, uint64_t expected)
{
	diag_set(d, err, section, found, expected);
	return -EBADMSG;
}

static int
parse_header(const uint8_t *b, size_t len, struct tf_fw_image *img, struct tf_fw_diag *d)
{
	uint16_t v;
	uint64_t min_size;

	if (len < TF_FW_HEADER_SIZE)
		return fail(d, TF_FW_E_TRUNCATED, -1, len, TF_FW_HEADER_SIZE);
	if (memcmp(b, TF_FW_MAGIC, TF_FW_MAGIC_LEN))
		return fail(d, TF_FW_E_MAGIC, -1, 0, 0);
	v = ld16(b + HDR_OFF(format_version));
	if (v != TF_FW_FORMAT_VERSION)
		return fail(d, TF_FW_E_FORMAT_VERSION, -1, v, TF_FW_FORMAT_VERSION);
	v = ld16(b + HDR_OFF(header_size));
	if (v != TF_FW_HEADER_SIZE)
		return fail(d, TF_FW_E_HEADER_SIZE, -1, v, TF_FW_HEADER_SIZE);
	v = ld16(b + HDR_OFF(section_entry_size));
	if (v != TF_FW_SECTION_ENTRY_SIZE)
		return fail(d, TF_FW_E_ENTRY_SIZE, -1, v, TF_FW_SECTION_ENTRY_SIZE);
	v = ld16(b + HDR_OFF(section_count));
	if (v == 0 || v > TF_FW_MAX_SECTIONS)
		return fail(d, TF_FW_E_SECTION_COUNT, -1, v, TF_FW_MAX_SECTIONS);
	img->nsections = v;
	if (ld32(b + HDR_OFF(flags)))
		return fail(d, TF_FW_E_HEADER_FLAGS, -1, ld32(b + HDR_OFF(flags)), 0);
	v = ld16(b + HDR_OFF(sig_type));
	if (v != TF_FW_SIG_TYPE_ED25519)
		return fail(d, TF_FW_E_SIG_TYPE, -1, v, TF_FW_SIG_TYPE_ED25519);
	v = ld16(b + HDR_OFF(sig_size));
	if (v != TF_FW_SIG_SIZE)
		return fail(d, TF_FW_E_SIG_SIZE, -1, v, TF_FW_SIG_SIZE);
	if (ld16(b + HDR_OFF(reserved0)) ||
	    !all_zero(b + HDR_OFF(reserved1), sizeof(((struct tf_fw_header *)0)->reserved1)))
		return fail(d, TF_FW_E_RESERVED, -1, 0, 0);
	img->image_size = ld64(b + HDR_OFF(image_size));
	/* Smallest possible image: header, table, signature, one byte per section. */
	min_size = TF_FW_PAYLOAD_OFFSET(img->nsections) + img->nsections;
	if (img->image_size < min_size || img->image_size > TF_FW_IMAGE_MAX_SIZE)
		return fail(d, TF_FW_E_IMAGE_SIZE, -1, img->image_size, TF_FW_IMAGE_MAX_SIZE);

	img->format_version = ld16(b + HDR_OFF(format_version));
	img->version[0] = ld16(b + HDR_OFF(version_major));
	img->version[1] = ld16(b + HDR_OFF(version_minor));
	img->version[2] = ld16(b + HDR_OFF(version_patch));
	img->security_version = ld32(b + HDR_OFF(security_version));
	img->board_id = ld32(b + HDR_OFF(board_id));
	img->build_time = ld64(b + HDR_OFF(build_time));
	memcpy(img->build_id, b + HDR_OFF(build_id), TF_FW_BUILD_ID_SIZE);
	memcpy(img->key_id, b + HDR_OFF(key_id), TF_FW_KEY_ID_SIZE);
	return 0;
}

/* Table entries; requires the whole table in the buffer. */
static int
parse_table(const uint8_t *b, struct tf_fw_image *img, struct tf_fw_diag *d)
{
	unsigned int seen = 0;
	uint64_t expect = TF_FW_PAYLOAD_OFFSET(img->nsections);

	for (unsigned int i = 0; i < img->nsections; i++) {
		const uint8_t *e = b + TF_FW_HEADER_SIZE + (size_t)i * TF_FW_SECTION_ENTRY_SIZE;
		struct tf_fw_section_info *s = &img->sect[i];
		int si = (int)i;

		s->type = ld16(e + SEC_OFF(type));
		if (s->type == 0 || s->type > TF_FW_SECT_TYPE_MAX)
			return fail(d, TF_FW_E_SECT_TYPE, si, s->type, 0);
		if (seen & (1u << s->type))
			return fail(d, TF_FW_E_SECT_DUP, si, s->type, 0);
		seen |= 1u << s->type;
		if (ld16(e + SEC_OFF(flags)))
			return fail(d, TF_FW_E_SECT_FLAGS, si, ld16(e + SEC_OFF(flags)), 0);
		if (ld32(e + SEC_OFF(reserved0)) ||
		    !all_zero(e + SEC_OFF(reserved1),
			      sizeof(((struct tf_fw_section *)0)->reserved1)))
			return fail(d, TF_FW_E_SECT_RESERVED, si, 0, 0);
		s->offset = ld64(e + SEC_OFF(offset));
		s->length = ld64(e + SEC_OFF(length));
		if (s->length == 0 || s->length > TF_FW_IMAGE_MAX_SIZE)
			return fail(d, TF_FW_E_SECT_LENGTH, si, s->length, TF_FW_IMAGE_MAX_SIZE);
		if (s->type == TF_FW_SECT_ABI && s->length != sizeof(struct tf_fw_abi))
			return fail(d, TF_FW_E_ABI, si, s->length, sizeof(struct tf_fw_abi));
		/* expect <= image_size <= 1 GiB and length <= 1 GiB: no overflow below. */
		expect = align_up(expect);
		if (s->offset != expect)
			return fail(d, TF_FW_E_SECT_OFFSET, si, s->offset, expect);
		if (s->offset + s->length > img->image_size)
			return fail(d, TF_FW_E_SECT_BOUNDS, si, s->offset + s->length,
				    img->image_size);
		expect = s->offset + s->length;
		memcpy(s->sha256, e + SEC_OFF(sha256), TF_FW_SHA256_SIZE);
	}
	if (!(seen & (1u << TF_FW_SECT_DATAPLANE)))
		return fail(d, TF_FW_E_SECT_MISSING, -1, TF_FW_SECT_DATAPLANE, 0);
	if (!(seen & (1u << TF_FW_SECT_ABI)))
		return fail(d, TF_FW_E_SECT_MISSING, -1, TF_FW_SECT_ABI, 0);
	if (expect != img->image_size)
		return fail(d, TF_FW_E_END, -1, img->image_size, expect);
	return 0;
}

int
tf_fw_image_parse_head(const void *buf, size_t len, struct tf_fw_image *img, struct tf_fw_diag *d)
{
	const uint8_t *b = buf;
	uint64_t need;
	int r;

	memset(img, 0, sizeof(*img));
	diag_clear(d);
	r = parse_header(b, len, img, d);
	if (r)
		return r;
	need = TF_FW_PAYLOAD_OFFSET(img->nsections);
	if (len < need)
		return fail(d, TF_FW_E_TRUNCATED, -1, len, need);
	r = parse_table(b, img, d);
	if (r)
		return r;
	img->base = b;
	img->signed_len = TF_FW_SIG_OFFSET(img->nsections);
	img->sig = b + img->signed_len;
	return 0;
}

int
tf_fw_image_parse(const void *buf, size_t len, struct tf_fw_image *img, struct tf_fw_diag *d)
{
	const uint8_t *b = buf;
	uint64_t prev_end;
	int r;

	r = tf_fw_image_parse_head(buf, len, img, d);
	if (r)
		return r;
	if (len < img->image_size)
		return fail(d, TF_FW_E_TRUNCATED, -1, len, img->image_size);
	if (len > img->image_size)
		return fail(d, TF_FW_E_TRAILING, -1, len, img->image_size);
	/* Alignment padding between sections is part of no hash: it must be zero. */
	prev_end = TF_FW_PAYLOAD_OFFSET(img->nsections);
	for (unsigned int i = 0; i < img->nsections; i++) {
		for (uint64_t o = prev_end; o < img->sect[i].offset; o++)
			if (b[o])
				return fail(d, TF_FW_E_PADDING, (int)i, o, 0);
		prev_end = img->sect[i].offset + img->sect[i].length;
	}
	for (unsigned int i = 0; i < img->nsections; i++) {
		const uint8_t *p = b + img->sect[i].offset;

		if (img->sect[i].type != TF_FW_SECT_ABI)
			continue;
		img->abi.bar_major = ld16(p + offsetof(struct tf_fw_abi, bar_major));
		img->abi.bar_minor = ld16(p + offsetof(struct tf_fw_abi, bar_minor));
		img->abi.wire_major = ld16(p + offsetof(struct tf_fw_abi, wire_major));
		img->abi.wire_minor = ld16(p + offsetof(struct tf_fw_abi, wire_minor));
		img->abi.ring_major = ld16(p + offsetof(struct tf_fw_abi, ring_major));
		img->abi.ring_minor = ld16(p + offsetof(struct tf_fw_abi, ring_minor));
		img->abi.reserved = ld32(p + offsetof(struct tf_fw_abi, reserved));
		if (img->abi.reserved)
			return fail(d, TF_FW_E_ABI, (int)i, img->sect[i].length,
				    sizeof(struct tf_fw_abi));
	}
	return 0;
}

const uint8_t *
tf_fw_image_section(const struct tf_fw_image *img, unsigned int type, uint64_t *len)
{
	for (unsigned int i = 0; i < img->nsections; i++) {
		if (img->sect[i].type != type)
			continue;
		if (len)
			*len = img->sect[i].length;
		return img->base + img->sect[i].offset;
	}
	return NULL;
}
