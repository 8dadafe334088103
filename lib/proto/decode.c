/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Wire protocol v1 decoder (hwdocs/protocol.md). Every length and field is
 * checked before use; nothing is allocated; results point into the caller's
 * buffer. Each failure returns its own -TF_PROTO_R_* and sets m->bad_off to
 * the datagram offset of the offending field.
 */
#include "tokfab/proto.h"

#include <stddef.h>

#define HDR TF_PROTO_HDR_LEN
/* Datagram offset of a field of a wire struct in the payload. */
#define POFF(type, field) (HDR + offsetof(struct type, field))
#define HOFF(field) offsetof(struct tf_proto_wire_hdr, field)

static inline int
fail(struct tf_proto_msg *m, int reason, size_t off)
{
	m->bad_off = (uint32_t)off;
	return -reason;
}

static bool
type_known(uint8_t t)
{
	switch (t) {
	case TF_PROTO_T_REQUEST:
	case TF_PROTO_T_FRAGMENT:
	case TF_PROTO_T_CANCEL:
	case TF_PROTO_T_RESUME:
	case TF_PROTO_T_PING:
	case TF_PROTO_T_TOKENS:
	case TF_PROTO_T_FINAL:
	case TF_PROTO_T_ERROR:
	case TF_PROTO_T_PONG:
		return true;
	}
	return false;
}

int
tf_proto_decode_hdr(const void *buf, size_t len, struct tf_proto_msg *m)
{
	const uint8_t *p = buf;
	size_t mac_len, need;

	m->bad_off = 0;
	m->raw = p;
	m->payload = p + HDR;
	m->mac = NULL;
	m->signed_len = 0;
	if (len < HDR)
		return fail(m, TF_PROTO_R_TRUNCATED, len);
	if (tf_proto_ld32(p) != TF_PROTO_MAGIC_LE)
		return fail(m, TF_PROTO_R_BAD_MAGIC, 0);

	m->version = p[HOFF(version)];
	m->type = p[HOFF(type)];
	m->flags = p[HOFF(flags)];
	m->mac_alg = p[HOFF(mac_alg)];
	m->tenant_id = tf_proto_ld32(p + HOFF(tenant_id));
	m->payload_len = tf_proto_ld16(p + HOFF(payload_len));
	m->key_id = p[HOFF(key_id)];
	m->request_id = tf_proto_ld64(p + HOFF(request_id));
	m->timestamp_us = tf_proto_ld64(p + HOFF(timestamp_us));

	/* A newer version may change everything after the version byte. */
	if (m->version != TF_PROTO_VERSION)
		return fail(m, TF_PROTO_R_BAD_VERSION, HOFF(version));
	if (len > TF_PROTO_MAX_DGRAM)
		return fail(m, TF_PROTO_R_TOO_LARGE, len);
	if (!type_known(m->type))
		return fail(m, TF_PROTO_R_BAD_TYPE, HOFF(type));
	if (m->flags & ~TF_PROTO_F_KNOWN)
		return fail(m, TF_PROTO_R_BAD_FLAGS, HOFF(flags));
	switch (m->mac_alg) {
	case TF_PROTO_MAC_NONE:
		/* Only an ERROR the card could not sign may go unsigned. */
		if (m->type != TF_PROTO_T_ERROR)
			return fail(m, TF_PROTO_R_NO_MAC, HOFF(mac_alg));
		mac_len = 0;
		break;
	case TF_PROTO_MAC_HMAC_SHA256:
	case TF_PROTO_MAC_SIPHASH:
		mac_len = TF_PROTO_MAC_LEN;
		break;
	default:
		return fail(m, TF_PROTO_R_BAD_MAC_ALG, HOFF(mac_alg));
	}
	if (p[HOFF(reserved)] != 0)
		return fail(m, TF_PROTO_R_RESERVED, HOFF(reserved));

	need = HDR + (size_t)m->payload_len + mac_len;
	if (len < need)
		return fail(m, TF_PROTO_R_TRUNCATED, HOFF(payload_len));
	if (len > need)
		return fail(m, TF_PROTO_R_TRAILING, HOFF(payload_len));
	m->signed_len = HDR + (uint32_t)m->payload_len;
	m->mac = mac_len ? p + m->signed_len : NULL;
	return 0;
}

static int
decode_request(struct tf_proto_msg *m)
{
	const uint8_t *p = m->payload;
	struct tf_proto_request *r = &m->u.req;

	if (m->payload_len < TF_PROTO_REQUEST_FIXED)
		return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
	r->model_id = tf_proto_ld32(p + 0);
	r->max_new_tokens = tf_proto_ld32(p + 4);
	r->prompt_total_len = tf_proto_ld32(p + 8);
	r->prompt_kind = p[12];
	r->priority = p[13];
	r->req_flags = tf_proto_ld16(p + 14);
	r->temperature = tf_proto_ld16(p + 16);
	r->top_p = tf_proto_ld16(p + 18);
	r->seed = tf_proto_ld64(p + 24);
	r->prompt = p + TF_PROTO_REQUEST_FIXED;
	r->prompt_len = m->payload_len - TF_PROTO_REQUEST_FIXED;

	if (r->max_new_tokens == 0)
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_request, max_new_tokens));
	if (r->prompt_total_len == 0)
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_request, prompt_total_len));
	if (r->prompt_total_len > TF_PROTO_MAX_PROMPT)
		return fail(m, TF_PROTO_R_TOO_LARGE, POFF(tf_proto_wire_request, prompt_total_len));
	if (r->prompt_kind > TF_PROTO_PROMPT_TEXT)
		return fail(m, TF_PROTO_R_BAD_KIND, POFF(tf_proto_wire_request, prompt_kind));
	if (r->prompt_kind == TF_PROTO_PROMPT_TOKENS && (r->prompt_total_len & 3))
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_request, prompt_total_len));
	if (r->priority > TF_PROTO_MAX_PRIORITY)
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_request, priority));
	if (r->req_flags & ~TF_PROTO_RF_KNOWN)
		return fail(m, TF_PROTO_R_BAD_FLAGS, POFF(tf_proto_wire_request, req_flags));
	if (r->temperature > TF_PROTO_MAX_TEMPERATURE)
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_request, temperature));
	if (r->top_p == 0 || r->top_p > TF_PROTO_MAX_TOP_P)
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_request, top_p));
	if (tf_proto_ld32(p + 20) != 0)
		return fail(m, TF_PROTO_R_RESERVED, POFF(tf_proto_wire_request, reserved));
	/* The REQUEST's prompt bytes are the piece at offset 0. */
	if (r->prompt_len > r->prompt_total_len)
		return fail(m, TF_PROTO_R_FRAG_RANGE, HOFF(payload_len));
	if (r->prompt_len < r->prompt_total_len && (r->prompt_len % TF_PROTO_FRAG_UNIT))
		return fail(m, TF_PROTO_R_FRAG_ALIGN, HOFF(payload_len));
	return 0;
}

static int
decode_fragment(struct tf_proto_msg *m)
{
	const uint8_t *p = m->payload;
	struct tf_proto_fragment *f = &m->u.frag;
	uint64_t end;

	if (m->payload_len <= TF_PROTO_FRAGMENT_FIXED)
		return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
	f->prompt_total_len = tf_proto_ld32(p + 0);
	f->offset = tf_proto_ld32(p + 4);
	f->data = p + TF_PROTO_FRAGMENT_FIXED;
	f->len = m->payload_len - TF_PROTO_FRAGMENT_FIXED;
	end = (uint64_t)f->offset + f->len;

	if (f->prompt_total_len == 0)
		return fail(m, TF_PROTO_R_BAD_FIELD,
			    POFF(tf_proto_wire_fragment, prompt_total_len));
	if (f->prompt_total_len > TF_PROTO_MAX_PROMPT)
		return fail(m, TF_PROTO_R_TOO_LARGE,
			    POFF(tf_proto_wire_fragment, prompt_total_len));
	if (f->offset % TF_PROTO_FRAG_UNIT)
		return fail(m, TF_PROTO_R_FRAG_ALIGN, POFF(tf_proto_wire_fragment, offset));
	if (end > f->prompt_total_len)
		return fail(m, TF_PROTO_R_FRAG_RANGE, POFF(tf_proto_wire_fragment, offset));
	if (end != f->prompt_total_len && (f->len % TF_PROTO_FRAG_UNIT))
		return fail(m, TF_PROTO_R_FRAG_ALIGN, HOFF(payload_len));
	return 0;
}

/*
 * A token chunk (TOKENS payload, or the tail of a FINAL with tokens): len
 * bytes at p, which sit at datagram offset base.
 */
static int
decode_chunk(struct tf_proto_msg *m, const uint8_t *p, uint32_t len, size_t base,
	     struct tf_proto_tokens *t)
{
	uint32_t rest, n, sum = 0;

	if (len < TF_PROTO_TOKENS_FIXED)
		return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
	t->first_seq = tf_proto_ld32(p + 0);
	t->n_tokens = tf_proto_ld16(p + 4);
	t->chunk_flags = p[6];
	if (t->chunk_flags & ~TF_PROTO_CF_KNOWN)
		return fail(m, TF_PROTO_R_BAD_FLAGS,
			    base + offsetof(struct tf_proto_wire_tokens, chunk_flags));
	if (p[7] != 0)
		return fail(m, TF_PROTO_R_RESERVED,
			    base + offsetof(struct tf_proto_wire_tokens, reserved));
	n = t->n_tokens;
	if ((uint64_t)t->first_seq + n > UINT32_MAX)
		return fail(m, TF_PROTO_R_BAD_FIELD,
			    base + offsetof(struct tf_proto_wire_tokens, first_seq));
	rest = len - TF_PROTO_TOKENS_FIXED;
	t->ids = p + TF_PROTO_TOKENS_FIXED;
	if (!(t->chunk_flags & TF_PROTO_CF_HAS_TEXT)) {
		if (rest != 4 * n)
			return fail(m, TF_PROTO_R_BAD_LEN,
				    base + offsetof(struct tf_proto_wire_tokens, n_tokens));
		t->piece_lens = NULL;
		t->text = NULL;
		t->text_len = 0;
		return 0;
	}
	if (rest < 5 * n)
		return fail(m, TF_PROTO_R_BAD_LEN,
			    base + offsetof(struct tf_proto_wire_tokens, n_tokens));
	t->piece_lens = t->ids + 4 * n;
	t->text = t->piece_lens + n;
	t->text_len = rest - 5 * n;
	for (uint32_t i = 0; i < n; i++)
		sum += t->piece_lens[i];
	if (sum != t->text_len)
		return fail(m, TF_PROTO_R_BAD_LEN, (size_t)(t->piece_lens - m->raw));
	return 0;
}

static int
decode_tokens(struct tf_proto_msg *m)
{
	return decode_chunk(m, m->payload, m->payload_len, HDR, &m->u.tokens);
}

static int
decode_final(struct tf_proto_msg *m)
{
	const uint8_t *p = m->payload;
	struct tf_proto_final *f = &m->u.final;
	struct tf_proto_tokens *t = &f->tokens;
	int rc;

	if (m->payload_len < TF_PROTO_FINAL_LEN)
		return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
	f->finish_reason = p[0];
	f->final_flags = p[1];
	f->error_code = tf_proto_ld16(p + 2);
	f->prompt_tokens = tf_proto_ld32(p + 4);
	f->completion_tokens = tf_proto_ld32(p + 8);
	f->accel_id = tf_proto_ld32(p + 12);
	f->cost_micro = tf_proto_ld64(p + 16);
	f->queue_us = tf_proto_ld32(p + 24);
	f->total_us = tf_proto_ld32(p + 28);
	memset(t, 0, sizeof(*t));
	if (f->finish_reason > TF_PROTO_FINISH_MAX)
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_final, finish_reason));
	if (f->final_flags & ~TF_PROTO_FF_KNOWN)
		return fail(m, TF_PROTO_R_BAD_FLAGS, POFF(tf_proto_wire_final, final_flags));
	if ((f->finish_reason == TF_PROTO_FINISH_CUT_OFF) != (f->error_code != 0))
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_final, error_code));
	if (!(f->final_flags & TF_PROTO_FF_HAS_TOKENS)) {
		if (m->payload_len != TF_PROTO_FINAL_LEN)
			return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
		return 0;
	}
	/* The stream's last chunk: at least one token, ending at completion_tokens. */
	rc = decode_chunk(m, p + TF_PROTO_FINAL_LEN, m->payload_len - TF_PROTO_FINAL_LEN,
			  HDR + TF_PROTO_FINAL_LEN, t);
	if (rc)
		return rc;
	if (t->n_tokens == 0)
		return fail(m, TF_PROTO_R_BAD_FIELD,
			    HDR + TF_PROTO_FINAL_LEN +
				    offsetof(struct tf_proto_wire_tokens, n_tokens));
	if ((uint64_t)t->first_seq + t->n_tokens != f->completion_tokens)
		return fail(m, TF_PROTO_R_BAD_FIELD,
			    HDR + TF_PROTO_FINAL_LEN +
				    offsetof(struct tf_proto_wire_tokens, first_seq));
	return 0;
}

static int
decode_error(struct tf_proto_msg *m)
{
	const uint8_t *p = m->payload;
	struct tf_proto_err *e = &m->u.err;

	if (m->payload_len != TF_PROTO_ERROR_LEN)
		return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
	e->code = tf_proto_ld16(p + 0);
	e->ref_type = p[2];
	e->retry_after_ms = tf_proto_ld32(p + 4);
	e->detail = tf_proto_ld32(p + 8);
	/* Unknown non-zero codes are accepted: receivers treat them as INTERNAL. */
	if (e->code == 0)
		return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_error, code));
	if (p[3] != 0)
		return fail(m, TF_PROTO_R_RESERVED, POFF(tf_proto_wire_error, reserved));
	return 0;
}

int
tf_proto_decode_body(struct tf_proto_msg *m)
{
	const uint8_t *p = m->payload;

	switch (m->type) {
	case TF_PROTO_T_REQUEST:
		return decode_request(m);
	case TF_PROTO_T_FRAGMENT:
		return decode_fragment(m);
	case TF_PROTO_T_CANCEL:
		if (m->payload_len != TF_PROTO_CANCEL_LEN)
			return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
		return 0;
	case TF_PROTO_T_RESUME:
		if (m->payload_len != TF_PROTO_RESUME_LEN)
			return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
		m->u.resume.from_seq = tf_proto_ld32(p);
		if (tf_proto_ld32(p + 4) != 0)
			return fail(m, TF_PROTO_R_RESERVED, POFF(tf_proto_wire_resume, reserved));
		return 0;
	case TF_PROTO_T_PING:
		if (m->payload_len != TF_PROTO_PING_LEN)
			return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
		m->u.ping.echo = tf_proto_ld64(p);
		if (tf_proto_ld64(p + 8) != 0)
			return fail(m, TF_PROTO_R_RESERVED, POFF(tf_proto_wire_ping, reserved));
		return 0;
	case TF_PROTO_T_PONG:
		if (m->payload_len != TF_PROTO_PONG_LEN)
			return fail(m, TF_PROTO_R_BAD_LEN, HOFF(payload_len));
		m->u.pong.echo = tf_proto_ld64(p);
		m->u.pong.min_version = p[8];
		m->u.pong.max_version = p[9];
		m->u.pong.max_dgram = tf_proto_ld16(p + 10);
		if (m->u.pong.min_version == 0 || m->u.pong.min_version > m->u.pong.max_version)
			return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_pong, min_version));
		if (m->u.pong.max_dgram < TF_PROTO_MIN_DGRAM)
			return fail(m, TF_PROTO_R_BAD_FIELD, POFF(tf_proto_wire_pong, max_dgram));
		if (tf_proto_ld32(p + 12) != 0)
			return fail(m, TF_PROTO_R_RESERVED, POFF(tf_proto_wire_pong, reserved));
		return 0;
	case TF_PROTO_T_TOKENS:
		return decode_tokens(m);
	case TF_PROTO_T_FINAL:
		return decode_final(m);
	case TF_PROTO_T_ERROR:
		return decode_error(m);
	}
	return fail(m, TF_PROTO_R_BAD_TYPE, HOFF(type));
}

int
tf_proto_decode(const void *buf, size_t len, struct tf_proto_msg *m)
{
	int rc = tf_proto_decode_hdr(buf, len, m);

	return rc ? rc : tf_proto_decode_body(m);
}

int
tf_proto_check_time(uint64_t ts_us, uint64_t now_us, uint64_t window_us)
{
	uint64_t d = ts_us > now_us ? ts_us - now_us : now_us - ts_us;

	return d <= window_us ? 0 : -TF_PROTO_R_REPLAY;
}
