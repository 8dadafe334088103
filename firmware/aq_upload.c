/* SPDX-License-Identifier: BSD-3-Clause */
/* FW_WRITE gathering and status mapping for card-side handlers (fw_aq.h). */
#include "fw_aq.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int
tf_fw_upload_chunk(struct tf_fw_upload *up, const struct tf_aq_fw_write *cmd, uint64_t slot_size,
		   struct tf_aq_fw_write_status *resp, uint32_t *detail)
{
	if (cmd->offset == 0) {
		if (cmd->total_len > slot_size) {
			*detail = (uint32_t)(slot_size > UINT32_MAX ? UINT32_MAX : slot_size);
			return TF_AQ_S_NO_SPACE;
		}
		tf_fw_upload_release(up);
		up->img = malloc(cmd->total_len);
		if (!up->img)
			return TF_AQ_S_INTERNAL;
		up->len = cmd->total_len;
		up->recv = 0;
	} else if (!up->img || cmd->offset != up->recv) {
		*detail = offsetof(struct tf_aq_fw_write, offset);
		return TF_AQ_S_BAD_FIELD;
	} else if (cmd->total_len != up->len) {
		*detail = offsetof(struct tf_aq_fw_write, total_len);
		return TF_AQ_S_BAD_FIELD;
	}
	if (cmd->len >
	    up->len - up->recv) { /* lib/card checks it; the buffer must hold whoever calls */
		*detail = offsetof(struct tf_aq_fw_write, len);
		return TF_AQ_S_BAD_FIELD;
	}
	memcpy(up->img + up->recv, cmd->data, cmd->len);
	up->recv += cmd->len;
	resp->received = up->recv;
	resp->slot = TF_FW_NO_SLOT;
	return TF_AQ_S_OK;
}

void
tf_fw_upload_release(struct tf_fw_upload *up)
{
	free(up->img);
	up->img = NULL;
	up->len = 0;
	up->recv = 0;
}

int
tf_fw_aq_refusal(int rc, const struct tf_fw_diag *diag, uint32_t *detail)
{
	switch (rc) {
	case -EKEYREJECTED:
		return TF_AQ_S_FW_BAD_SIGNATURE;
	case -EBADMSG:
		return diag->err == TF_FW_E_HASH ? TF_AQ_S_FW_BAD_DIGEST : TF_AQ_S_FW_NO_IMAGE;
	case -EPERM:
		*detail = (uint32_t)diag->expected;
		return TF_AQ_S_FW_ROLLBACK;
	case -ENODEV:
		*detail = (uint32_t)diag->expected;
		return TF_AQ_S_CONFLICT;
	case -EBUSY:
		return TF_AQ_S_FW_BUSY;
	case -ENOENT:
		return TF_AQ_S_FW_NO_IMAGE;
	case -EFBIG:
		return TF_AQ_S_NO_SPACE;
	default:
		return TF_AQ_S_INTERNAL;
	}
}

uint32_t
tf_fw_image_version(const struct tf_fw_image *im)
{
	return TF_FW_VERSION((uint32_t)im->version[0], (uint32_t)im->version[1],
			     (uint32_t)im->version[2]);
}
