/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtffw in the admin queue's terms: what a card's FW_WRITE handler needs
 * (hwdocs/queues.md "FW_WRITE", hwdocs/flash-layout.md "Mapping to the admin
 * queue"). Shared by tokfab-dp and the VM tier's test card, so both answer
 * the same command the same way.
 *
 *   upload   tf_fw_upload_chunk() gathers an image from FW_WRITE chunks
 *            (in order, no gaps, the same total in every chunk, no larger
 *            than a slot); tf_fw_upload_release() frees it
 *   status   tf_fw_aq_refusal(): libtffw's -errno + diag -> TF_AQ_S_*
 *   version  tf_fw_image_version(): TF_FW_VERSION of a parsed header
 *
 * The command itself was checked by lib/card before the handler runs
 * (lengths, flags, reserved bytes); this layer checks the sequence.
 */
#ifndef TF_FIRMWARE_FW_AQ_H
#define TF_FIRMWARE_FW_AQ_H

#include "fw.h"
#include "tokfab/bar.h"

#include <stdint.h>

/* An image being received, one per card. Zero-initialise. */
struct tf_fw_upload {
	uint8_t *img;
	uint32_t len; /* the image's total_len */
	uint32_t recv; /* bytes received so far, in order */
};

/* Append one FW_WRITE chunk. A chunk at offset 0 starts a new image (a
 * previous unfinished one is dropped) and is refused with NO_SPACE (detail:
 * slot_size) when total_len exceeds slot_size; slot_size is read only then.
 * Any other chunk must continue the current image exactly (else BAD_FIELD,
 * detail = the offending field's offset in the command). Fills
 * resp->received and sets resp->slot to TF_FW_NO_SLOT. Returns TF_AQ_S_OK:
 * when the command has TF_FW_WRITE_F_FINAL, up->img holds up->recv bytes
 * of a complete image, for the caller to write and then release. */
int tf_fw_upload_chunk(struct tf_fw_upload *up, const struct tf_aq_fw_write *cmd,
		       uint64_t slot_size, struct tf_aq_fw_write_status *resp, uint32_t *detail);
void tf_fw_upload_release(struct tf_fw_upload *up);

/* The admin queue's status for libtffw's refusal rc (< 0) of an image or of
 * an activation, with *detail set where the status defines one (rollback:
 * the card's floor; another board: the card's board id). */
int tf_fw_aq_refusal(int rc, const struct tf_fw_diag *diag, uint32_t *detail);

/* TF_FW_VERSION(major, minor, patch) of a parsed image. */
uint32_t tf_fw_image_version(const struct tf_fw_image *im);

#endif /* TF_FIRMWARE_FW_AQ_H */
