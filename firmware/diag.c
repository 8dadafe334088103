/* SPDX-License-Identifier: BSD-3-Clause */
/* Names and user-facing messages for libtffw's rejection reasons. */
#include "fw_internal.h"

#include <inttypes.h>
#include <stdio.h>

struct err_text {
	const char *name;
	const char *what; /* printf format: %1$ found, %2$ expected (as uint64) */
	const char *todo;
};

static const struct err_text g_err[TF_FW_E_MAX] = {
	[TF_FW_OK] = { "ok", "image is valid", "" },
	[TF_FW_E_TRUNCATED] = { "truncated", "file has %" PRIu64 " bytes, the image needs %" PRIu64,
				"the file was cut short: copy it again" },
	[TF_FW_E_MAGIC] = { "bad-magic", "no \"TOKFABFW\" magic at offset 0",
			    "this is not a tokfab firmware image" },
	[TF_FW_E_FORMAT_VERSION] = { "format-version",
				     "format version %" PRIu64 " (this reader knows %" PRIu64 ")",
				     "use a tokfab-fw that knows this format" },
	[TF_FW_E_HEADER_SIZE] = { "header-size", "header_size %" PRIu64 ", must be %" PRIu64,
				  "the header is corrupt: rebuild the image" },
	[TF_FW_E_ENTRY_SIZE] = { "entry-size", "section_entry_size %" PRIu64 ", must be %" PRIu64,
				 "the header is corrupt: rebuild the image" },
	[TF_FW_E_SECTION_COUNT] = { "section-count",
				    "section_count %" PRIu64 ", must be 1..%" PRIu64,
				    "the header is corrupt: rebuild the image" },
	[TF_FW_E_HEADER_FLAGS] = { "header-flags", "unknown header flags 0x%" PRIx64,
				   "use a tokfab-fw that knows these flags, or rebuild" },
	[TF_FW_E_SIG_TYPE] = { "sig-type",
			       "signature type %" PRIu64 " (only %" PRIu64 " = Ed25519 is known)",
			       "rebuild and sign with an Ed25519 key" },
	[TF_FW_E_SIG_SIZE] = { "sig-size", "signature size %" PRIu64 ", must be %" PRIu64,
			       "the header is corrupt: rebuild the image" },
	[TF_FW_E_IMAGE_SIZE] = { "image-size",
				 "image_size %" PRIu64 " is impossible (limit %" PRIu64 ")",
				 "the header is corrupt: rebuild the image" },
	[TF_FW_E_TRAILING] = { "trailing-bytes",
			       "file has %" PRIu64 " bytes but image_size says %" PRIu64,
			       "bytes were appended to the image: use the file tokfab-fw wrote" },
	[TF_FW_E_RESERVED] = { "header-reserved", "reserved header bytes not zero",
			       "the header is corrupt: rebuild the image" },
	[TF_FW_E_SECT_TYPE] = { "section-type", "unknown section type %" PRIu64,
				"use a tokfab-fw that knows this section type" },
	[TF_FW_E_SECT_DUP] = { "section-duplicate", "section type %" PRIu64 " appears twice",
			       "rebuild the image: each section type at most once" },
	[TF_FW_E_SECT_FLAGS] = { "section-flags", "unknown section flags 0x%" PRIx64,
				 "the section table is corrupt: rebuild the image" },
	[TF_FW_E_SECT_RESERVED] = { "section-reserved", "reserved section bytes not zero",
				    "the section table is corrupt: rebuild the image" },
	[TF_FW_E_SECT_LENGTH] = { "section-length", "length %" PRIu64 " (must be 1..%" PRIu64 ")",
				  "the section table is corrupt: rebuild the image" },
	[TF_FW_E_SECT_OFFSET] = { "section-offset",
				  "offset %" PRIu64 ", the layout rule puts it at %" PRIu64,
				  "sections overlap, leave gaps or are misaligned: rebuild the "
				  "image" },
	[TF_FW_E_SECT_BOUNDS] = { "section-bounds",
				  "ends at %" PRIu64 ", beyond image_size %" PRIu64,
				  "the section table is corrupt: rebuild the image" },
	[TF_FW_E_SECT_MISSING] = { "section-missing", "required section type %" PRIu64 " is absent",
				   "add it to the manifest and rebuild" },
	[TF_FW_E_END] = { "image-end", "image_size %" PRIu64 ", the last section ends at %" PRIu64,
			  "the header is corrupt: rebuild the image" },
	[TF_FW_E_PADDING] = { "padding", "non-zero padding byte at offset %" PRIu64,
			      "bytes between sections were changed: rebuild the image" },
	[TF_FW_E_ABI] = { "abi-section",
			  "ABI section length %" PRIu64 " (must be %" PRIu64
			  ") or reserved field set",
			  "rebuild the image" },
	[TF_FW_E_UNSIGNED] = { "unsigned", "image is not signed (key id is zero)",
			       "sign it: tokfab-fw sign --key KEY IMAGE" },
	[TF_FW_E_KEY_ID] = { "key-id", "signed by key %016" PRIx64 ", expected key %016" PRIx64,
			     "verify with the public key of the key that signed it, or re-sign" },
	[TF_FW_E_SIGNATURE] = { "signature",
				"Ed25519 signature over header and section table does not verify",
				"the header or table was changed after signing, or the key is "
				"wrong: "
				"rebuild and re-sign" },
	[TF_FW_E_HASH] = { "section-hash",
			   "SHA-256 of the section's bytes does not match the table",
			   "the section was changed after signing: rebuild and re-sign" },
	[TF_FW_E_BOARD] = { "board",
			    "image is for board 0x%08" PRIx64 ", this card is 0x%08" PRIx64,
			    "build the image for this card's board id" },
	[TF_FW_E_ROLLBACK] = { "rollback",
			       "security version %" PRIu64 " is below the card's minimum %" PRIu64,
			       "flash a newer image (lab only: --allow-rollback, which is "
			       "logged)" },
	[TF_FW_E_CRYPTO] = { "crypto", "OpenSSL failed", "check the OpenSSL installation" },
};

static const char *const g_sect_name[TF_FW_SECT_TYPE_MAX + 1] = {
	[TF_FW_SECT_DATAPLANE] = "dataplane",
	[TF_FW_SECT_ACCEL] = "accel",
	[TF_FW_SECT_CONFIG] = "config",
	[TF_FW_SECT_ABI] = "abi",
};

const char *
tf_fw_err_name(enum tf_fw_err err)
{
	if ((unsigned int)err >= TF_FW_E_MAX)
		return "unknown";
	return g_err[err].name;
}

const char *
tf_fw_section_type_name(unsigned int type)
{
	if (type == 0 || type > TF_FW_SECT_TYPE_MAX)
		return "unknown";
	return g_sect_name[type];
}

char *
tf_fw_diag_format(const struct tf_fw_diag *d, char *buf, size_t len)
{
	const struct err_text *t;
	size_t n = 0;
	int r;

	if (!len)
		return buf;
	buf[0] = '\0';
	if ((unsigned int)d->err >= TF_FW_E_MAX) {
		snprintf(buf, len, "unknown error %d", (int)d->err);
		return buf;
	}
	t = &g_err[d->err];
	if (d->section >= 0) {
		r = snprintf(buf, len, "section %d: ", d->section);
		n = r > 0 ? (size_t)r : 0;
	}
	if (n < len) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		r = snprintf(buf + n, len - n, t->what, d->found, d->expected);
#pragma GCC diagnostic pop
		n += r > 0 ? (size_t)r : 0;
	}
	if (n < len && t->todo[0])
		snprintf(buf + n, len - n, " (%s: %s)", t->name, t->todo);
	return buf;
}
