/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring entry formats (hwdocs/accel-rings.md sections 4 and 5): encoders for
 * what this side writes, and validating parsers for what the peer wrote.
 * Parsers work on a private copy of one whole record (hdr->len bytes) whose
 * header tf_ring_cons_check() already accepted; they check every count and
 * length before use and never read outside [rec, rec + len).
 */
#ifndef TF_XPORT_ENTRY_H
#define TF_XPORT_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "tokfab/accel_rings.h"

enum tf_entry_err {
	TF_ENTRY_E_ENTRY = 1, /* lengths / counts / types / reserved inconsistent */
	TF_ENTRY_E_TEXT = 2, /* token text lengths inconsistent */
};

/* ---- input ring (the accelerator parses) ------------------------------ */

struct tf_entry_req {
	struct tf_accel_req hdr; /* aligned copy */
	const uint8_t *prompt; /* hdr.prompt_bytes bytes inside the record copy */
};

/* Returns the number of requests (1..cap) or -TF_ENTRY_E_*. */
int tf_entry_batch_parse(const uint8_t *rec, uint32_t len, struct tf_entry_req *out,
			 unsigned int cap);

/* Field ranges of one request: 0 or TF_ACCEL_ERR_BAD_REQUEST; why says which field. */
int tf_entry_req_check(const struct tf_accel_req *h, const char **why);

/* Returns the number of handles (1..cap) or -TF_ENTRY_E_ENTRY. */
int tf_entry_cancel_parse(const uint8_t *rec, uint32_t len, uint64_t *handles, unsigned int cap);

/* ---- response ring (the card parses) --------------------------------- */

struct tf_entry_evt {
	uint16_t type; /* enum tf_accel_evt_type */
	uint64_t handle;
	union {
		struct {
			uint32_t index;
			uint16_t ntok;
			uint16_t text_bytes;
			const struct tf_accel_tok *tok; /* inside the record copy */
			const char *text;
		} tokens;
		struct tf_accel_usage end;
		struct {
			uint16_t code;
			uint8_t retryable;
			uint16_t msg_len;
			const char *msg;
		} error;
	} u;
};

/* rec must be 8-byte aligned. Returns the number of events (1..cap) or -TF_ENTRY_E_*. */
int tf_entry_events_parse(const uint8_t *rec, uint32_t len, struct tf_entry_evt *out,
			  unsigned int cap);

/* ---- encoders (EVENTS bodies, written into 8-aligned dst) -------------- */

uint32_t tf_entry_tokens_len(unsigned int ntok, uint32_t text_bytes);
uint32_t tf_entry_error_len(uint32_t msg_len);
#define TF_ENTRY_END_LEN 40u

/* Each returns bytes written, -EINVAL for out-of-spec input, -ENOSPC if cap is short. */
int tf_entry_put_tokens(uint8_t *dst, uint32_t cap, uint64_t handle, uint32_t index,
			const struct tf_accel_tok *tok, unsigned int ntok, const void *text,
			uint32_t text_bytes);
int tf_entry_put_end(uint8_t *dst, uint32_t cap, uint64_t handle, const struct tf_accel_usage *u);
int tf_entry_put_error(uint8_t *dst, uint32_t cap, uint64_t handle, uint16_t code, int retryable,
		       const char *msg, uint32_t msg_len);

#endif /* TF_XPORT_ENTRY_H */
