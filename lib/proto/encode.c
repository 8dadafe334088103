/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Wire protocol v1 encoder. tf_proto_encode() writes header and payload,
 * then runs the decoder over its own output so it can never emit a message
 * a receiver would reject, then appends the MAC.
 */
#include "proto/mac.h"

#include <string.h>

#define HDR TF_PROTO_HDR_LEN

void
tf_proto_hdr_write(void *buf, const struct tf_proto_msg *m)
{
	uint8_t *p = buf;

	p[0] = TF_PROTO_MAGIC0;
	p[1] = TF_PROTO_MAGIC1;
	p[2] = TF_PROTO_MAGIC2;
	p[3] = TF_PROTO_MAGIC3;
	p[4] = TF_PROTO_VERSION;
	p[5] = m->type;
	p[6] = m->flags;
	p[7] = m->mac_alg;
	tf_proto_st32(p + 8, m->tenant_id);
	tf_proto_st16(p + 12, m->payload_len);
	p[14] = m->key_id;
	p[15] = 0;
	tf_proto_st64(p + 16, m->request_id);
	tf_proto_st64(p + 24, m->timestamp_us);
}

int
tf_proto_sign(void *buf, size_t cap, const struct tf_proto_key *k)
{
	uint8_t *p = buf;
	size_t n = HDR + (size_t)tf_proto_ld16(p + 12);

	int rc;

	if (p[7] == TF_PROTO_MAC_NONE)
		return cap < n ? -TF_PROTO_R_NOSPACE : (int)n;
	if (!k)
		return -TF_PROTO_R_BAD_MAC_ALG;
	if (cap < n + TF_PROTO_MAC_LEN)
		return -TF_PROTO_R_NOSPACE;
	rc = tf_proto_mac_hdr(k, p[7], p, n, p + n);
	return rc ? rc : (int)(n + TF_PROTO_MAC_LEN);
}

static size_t
chunk_len(const struct tf_proto_tokens *t)
{
	size_t n = TF_PROTO_TOKENS_FIXED + 4 * (size_t)t->n_tokens;

	if (t->chunk_flags & TF_PROTO_CF_HAS_TEXT)
		n += t->n_tokens + (size_t)t->text_len;
	return n;
}

/* Payload length of m, or -reason if its variable parts cannot fit. */
static long
payload_len(const struct tf_proto_msg *m)
{
	size_t n;

	switch (m->type) {
	case TF_PROTO_T_REQUEST:
		n = TF_PROTO_REQUEST_FIXED + (size_t)m->u.req.prompt_len;
		break;
	case TF_PROTO_T_FRAGMENT:
		n = TF_PROTO_FRAGMENT_FIXED + (size_t)m->u.frag.len;
		break;
	case TF_PROTO_T_CANCEL:
		n = TF_PROTO_CANCEL_LEN;
		break;
	case TF_PROTO_T_RESUME:
		n = TF_PROTO_RESUME_LEN;
		break;
	case TF_PROTO_T_PING:
		n = TF_PROTO_PING_LEN;
		break;
	case TF_PROTO_T_PONG:
		n = TF_PROTO_PONG_LEN;
		break;
	case TF_PROTO_T_TOKENS:
		n = chunk_len(&m->u.tokens);
		break;
	case TF_PROTO_T_FINAL:
		n = TF_PROTO_FINAL_LEN;
		if (m->u.final.final_flags & TF_PROTO_FF_HAS_TOKENS)
			n += chunk_len(&m->u.final.tokens);
		break;
	case TF_PROTO_T_ERROR:
		n = TF_PROTO_ERROR_LEN;
		break;
	default:
		return -TF_PROTO_R_BAD_TYPE;
	}
	return n > UINT16_MAX ? -TF_PROTO_R_TOO_LARGE : (long)n;
}

static void
copy(uint8_t *dst, const void *src, size_t n)
{
	if (n)
		memcpy(dst, src, n);
}

static void
write_chunk(uint8_t *p, const struct tf_proto_tokens *t)
{
	uint8_t *q = p + TF_PROTO_TOKENS_FIXED;

	tf_proto_st32(p + 0, t->first_seq);
	tf_proto_st16(p + 4, t->n_tokens);
	p[6] = t->chunk_flags;
	p[7] = 0;
	copy(q, t->ids, 4 * (size_t)t->n_tokens);
	q += 4 * (size_t)t->n_tokens;
	if (t->chunk_flags & TF_PROTO_CF_HAS_TEXT) {
		copy(q, t->piece_lens, t->n_tokens);
		copy(q + t->n_tokens, t->text, t->text_len);
	}
}

static void
write_body(uint8_t *p, const struct tf_proto_msg *m)
{
	switch (m->type) {
	case TF_PROTO_T_REQUEST: {
		const struct tf_proto_request *r = &m->u.req;

		tf_proto_st32(p + 0, r->model_id);
		tf_proto_st32(p + 4, r->max_new_tokens);
		tf_proto_st32(p + 8, r->prompt_total_len);
		p[12] = r->prompt_kind;
		p[13] = r->priority;
		tf_proto_st16(p + 14, r->req_flags);
		tf_proto_st16(p + 16, r->temperature);
		tf_proto_st16(p + 18, r->top_p);
		tf_proto_st32(p + 20, 0);
		tf_proto_st64(p + 24, r->seed);
		copy(p + TF_PROTO_REQUEST_FIXED, r->prompt, r->prompt_len);
		break;
	}
	case TF_PROTO_T_FRAGMENT:
		tf_proto_st32(p + 0, m->u.frag.prompt_total_len);
		tf_proto_st32(p + 4, m->u.frag.offset);
		copy(p + TF_PROTO_FRAGMENT_FIXED, m->u.frag.data, m->u.frag.len);
		break;
	case TF_PROTO_T_CANCEL:
		break;
	case TF_PROTO_T_RESUME:
		tf_proto_st32(p + 0, m->u.resume.from_seq);
		tf_proto_st32(p + 4, 0);
		break;
	case TF_PROTO_T_PING:
		tf_proto_st64(p + 0, m->u.ping.echo);
		tf_proto_st64(p + 8, 0);
		break;
	case TF_PROTO_T_PONG:
		tf_proto_st64(p + 0, m->u.pong.echo);
		p[8] = m->u.pong.min_version;
		p[9] = m->u.pong.max_version;
		tf_proto_st16(p + 10, m->u.pong.max_dgram);
		tf_proto_st32(p + 12, 0);
		break;
	case TF_PROTO_T_TOKENS:
		write_chunk(p, &m->u.tokens);
		break;
	case TF_PROTO_T_FINAL: {
		const struct tf_proto_final *f = &m->u.final;

		p[0] = f->finish_reason;
		p[1] = f->final_flags;
		tf_proto_st16(p + 2, f->error_code);
		tf_proto_st32(p + 4, f->prompt_tokens);
		tf_proto_st32(p + 8, f->completion_tokens);
		tf_proto_st32(p + 12, f->accel_id);
		tf_proto_st64(p + 16, f->cost_micro);
		tf_proto_st32(p + 24, f->queue_us);
		tf_proto_st32(p + 28, f->total_us);
		if (f->final_flags & TF_PROTO_FF_HAS_TOKENS)
			write_chunk(p + TF_PROTO_FINAL_LEN, &f->tokens);
		break;
	}
	case TF_PROTO_T_ERROR:
		tf_proto_st16(p + 0, m->u.err.code);
		p[2] = m->u.err.ref_type;
		p[3] = 0;
		tf_proto_st32(p + 4, m->u.err.retry_after_ms);
		tf_proto_st32(p + 8, m->u.err.detail);
		break;
	}
}

int
tf_proto_encode(void *buf, size_t cap, const struct tf_proto_msg *m, const struct tf_proto_key *k)
{
	struct tf_proto_msg h = *m, chk;
	long plen = payload_len(m);
	size_t mac_len = k ? TF_PROTO_MAC_LEN : 0;
	size_t total;
	int rc;

	if (plen < 0)
		return (int)plen;
	total = HDR + (size_t)plen + mac_len;
	if (total > TF_PROTO_MAX_DGRAM)
		return -TF_PROTO_R_TOO_LARGE;
	if (cap < total)
		return -TF_PROTO_R_NOSPACE;
	h.payload_len = (uint16_t)plen;
	h.mac_alg = !k ? TF_PROTO_MAC_NONE : m->mac_alg ? m->mac_alg : k->alg;
	if (k) {
		h.key_id = k->key_id;
		if (h.mac_alg > TF_PROTO_MAC_ALG_MAX || !(k->algs & TF_PROTO_MAC_BIT(h.mac_alg)))
			return -TF_PROTO_R_BAD_MAC_ALG;
	}
	tf_proto_hdr_write(buf, &h);
	write_body((uint8_t *)buf + HDR, m);
	/* Never emit what a receiver would reject (the MAC is not checked). */
	rc = tf_proto_decode(buf, total, &chk);
	if (rc)
		return rc;
	return tf_proto_sign(buf, cap, k);
}

int
tf_proto_encode_reject(void *buf, size_t cap, const struct tf_proto_msg *in, size_t in_len,
		       int reason, const struct tf_proto_key *k, uint64_t now_us)
{
	struct tf_proto_msg e;
	uint16_t code = tf_proto_reason_error(reason);
	int r = reason < 0 ? -reason : reason;
	int n;

	if (!code || in_len < HDR || tf_proto_type_is_response(in->type))
		return 0;
	if (!k && in_len < HDR + TF_PROTO_ERROR_LEN)
		return 0;
	memset(&e, 0, sizeof(e));
	e.type = TF_PROTO_T_ERROR;
	/* A signed answer uses the algorithm of what it answers when the key accepts it. */
	if (k && in->mac_alg <= TF_PROTO_MAC_ALG_MAX && (k->algs & TF_PROTO_MAC_BIT(in->mac_alg)))
		e.mac_alg = in->mac_alg;
	e.tenant_id = in->tenant_id;
	e.request_id = in->request_id;
	e.timestamp_us = now_us;
	e.u.err.code = code;
	e.u.err.ref_type = in->type;
	switch (code) {
	case TF_PROTO_E_MALFORMED:
	case TF_PROTO_E_UNSUPPORTED:
		e.u.err.detail = (uint32_t)r << 16 | (in->bad_off & 0xffff);
		break;
	case TF_PROTO_E_UNSUPPORTED_VERSION:
		e.u.err.detail = TF_PROTO_VERSION;
		break;
	case TF_PROTO_E_REPLAY:
		e.u.err.detail = 1;
		break;
	case TF_PROTO_E_TOO_LARGE:
		e.u.err.detail = in->bad_off < in_len ? TF_PROTO_MAX_PROMPT : TF_PROTO_MAX_DGRAM;
		break;
	}
	n = tf_proto_encode(buf, cap, &e, k);
	if (n > 0 && !k && (size_t)n > in_len)
		return 0;
	return n;
}

uint32_t
tf_proto_tokens_capacity(uint32_t dgram, bool with_text, uint32_t text_bytes)
{
	uint32_t fixed = HDR + TF_PROTO_TOKENS_FIXED + TF_PROTO_MAC_LEN;
	uint32_t per = with_text ? 5 : 4;

	if (dgram > TF_PROTO_MAX_DGRAM)
		dgram = TF_PROTO_MAX_DGRAM;
	if (dgram < fixed + text_bytes)
		return 0;
	return (dgram - fixed - text_bytes) / per;
}
