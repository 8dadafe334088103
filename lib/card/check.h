/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks of every byte that crosses the BAR, shared by the card side (admin
 * commands it receives, events it is about to post) and the host side
 * (completions and events it receives, the register layout it maps). Pure
 * functions on plain memory: no I/O, no allocation; the libFuzzer targets in
 * tests/fuzz/ drive them directly. Rules: hwdocs/queues.md, registers.md,
 * usage-record.md.
 *
 * The "why" strings name the field and the rule that failed; they are static.
 */
#ifndef TF_CARD_CHECK_H
#define TF_CARD_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "tokfab/bar.h"

/* Opcode metadata; -1 / NULL for an unknown opcode. */
int tf_aq_req_len(uint16_t opcode);
int tf_aq_resp_len(uint16_t opcode);
const char *tf_aq_opcode_name(uint16_t opcode);
/* "OK", "BAD_FIELD", ... ; "?" for an unknown status. */
const char *tf_aq_status_name(uint16_t status);
/* One sentence for people: what the status means and what to do. */
const char *tf_aq_status_help(uint16_t status);
int tf_aq_status_known(uint16_t status);

/*
 * Card side: checks a submission entry (header, length, payload, trailing
 * bytes). Returns TF_AQ_S_OK, or TF_AQ_S_BAD_OPCODE (*detail = opcode) or
 * TF_AQ_S_BAD_FIELD (*detail = byte offset in the SQE of the first bad field).
 */
int tf_aq_sqe_check(const struct tf_aq_sqe *sqe, uint32_t *detail);

/*
 * Host side: checks a completion against the entry that was sent: cmd_id,
 * opcode, known status, len, trailing bytes and the response's own fields.
 * Returns 0 or -EPROTO with *why set. The card runs the response part on its
 * handlers' answers too (tf_aq_resp_check).
 */
int tf_aq_cqe_check(const struct tf_aq_cqe *cqe, const struct tf_aq_sqe *sent, const char **why);
int tf_aq_resp_check(uint16_t opcode, const void *req, const void *resp, const char **why);

/* Event bodies and entries (both sides). 0 or -EPROTO with *why set. */
int tf_usage_record_check(const struct tf_usage_record *r, const char **why);
int tf_usage_agg_check(const struct tf_usage_agg *a, const char **why);
int tf_health_event_check(const struct tf_health_event *h, const char **why);
int tf_eq_entry_check(const struct tf_eq_entry *e, uint64_t expect_seq, const char **why);

/*
 * Host side: checks the identity/layout registers of a mapped BAR of
 * map_size bytes (magic, ABI major, sizes, depths, offsets, overlaps, strings).
 * Returns 0, -EAGAIN (magic still 0: the card is initialising), -EPROTONOSUPPORT
 * (another ABI major) or -EPROTO, with *why set.
 */
int tf_bar_layout_check(const struct tf_bar_regs *regs, uint64_t map_size, const char **why);

/* A name field: 1..cap-1 printable ASCII, NUL, then only NUL (min_len may be 0). */
int tf_bar_name_ok(const char *s, size_t cap, size_t min_len);

#endif /* TF_CARD_CHECK_H */
