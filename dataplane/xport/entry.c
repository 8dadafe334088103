/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring entries: validating parsers for BATCH, CANCEL and EVENTS records and
 * the encoders of EVENTS bodies. Layouts: hwdocs/accel-rings.md.
 */
#include <errno.h>
#include <string.h>

#include "entry.h"
#include "ring.h"

static inline uint32_t
align8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

static int
zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* ---- BATCH ------------------------------------------------------------- */

int
tf_entry_batch_parse(const uint8_t *rec, uint32_t len, struct tf_entry_req *out, unsigned int cap)
{
	struct tf_accel_rec hdr;
	uint64_t off;

	if (len < sizeof(hdr))
		return -TF_ENTRY_E_ENTRY;
	memcpy(&hdr, rec, sizeof(hdr));
	if (hdr.type != TF_ACCEL_REC_BATCH || hdr.len != len || hdr.count == 0 ||
	    hdr.count > TF_ACCEL_MAX_BATCH_REQS || hdr.count > cap)
		return -TF_ENTRY_E_ENTRY;
	/* count request headers back to back, then the prompts in the same order */
	off = sizeof(hdr) + (uint64_t)hdr.count * sizeof(struct tf_accel_req);
	if (off > len)
		return -TF_ENTRY_E_ENTRY;
	for (unsigned int i = 0; i < hdr.count; i++) {
		struct tf_accel_req *h = &out[i].hdr;

		memcpy(h, rec + sizeof(hdr) + (size_t)i * sizeof(*h), sizeof(*h));
		if (h->prompt_bytes == 0 || h->prompt_bytes > TF_ACCEL_MAX_PROMPT_BYTES ||
		    off + h->prompt_bytes > len)
			return -TF_ENTRY_E_ENTRY;
		out[i].prompt = rec + off;
		off += h->prompt_bytes;
	}
	/* the record is exactly its entries, rounded up to 64 */
	if (tf_ring_align((uint32_t)off) != len)
		return -TF_ENTRY_E_ENTRY;
	return hdr.count;
}

int
tf_entry_req_check(const struct tf_accel_req *h, const char **why)
{
	const struct tf_accel_sampling *s = &h->sampling;
	const char *w = NULL;

	if (h->prompt_fmt != TF_ACCEL_PROMPT_TOKENS && h->prompt_fmt != TF_ACCEL_PROMPT_TEXT)
		w = "prompt_fmt is neither 0 (token ids) nor 1 (text)";
	else if (h->prompt_fmt == TF_ACCEL_PROMPT_TOKENS && h->prompt_bytes % 4)
		w = "token-id prompt is not a multiple of 4 bytes";
	else if (h->flags || h->reserved0 || !zero(h->reserved, sizeof(h->reserved)))
		w = "flags or reserved bytes of the request are not zero";
	else if (s->max_new_tokens == 0)
		w = "max_new_tokens is 0";
	else if (s->temperature_milli > TF_ACCEL_MAX_TEMPERATURE)
		w = "temperature over 10.000";
	else if (s->top_p == 0 || s->top_p > TF_ACCEL_MAX_TOP_P)
		w = "top_p outside 1..10000 (1e-4 units)";
	else if (s->priority > TF_ACCEL_MAX_PRIORITY)
		w = "priority over 7";
	else if (!zero(s->reserved, sizeof(s->reserved)))
		w = "sampling reserved bytes are not zero";
	if (why)
		*why = w;
	return w ? TF_ACCEL_ERR_BAD_REQUEST : 0;
}

/* ---- CANCEL ------------------------------------------------------------ */

int
tf_entry_cancel_parse(const uint8_t *rec, uint32_t len, uint64_t *handles, unsigned int cap)
{
	struct tf_accel_rec hdr;
	uint64_t end;

	if (len < sizeof(hdr))
		return -TF_ENTRY_E_ENTRY;
	memcpy(&hdr, rec, sizeof(hdr));
	if (hdr.type != TF_ACCEL_REC_CANCEL || hdr.len != len || hdr.count == 0 ||
	    hdr.count > TF_ACCEL_MAX_CANCEL || hdr.count > cap)
		return -TF_ENTRY_E_ENTRY;
	end = sizeof(hdr) + 8ull * hdr.count;
	if (end > len || tf_ring_align((uint32_t)end) != len)
		return -TF_ENTRY_E_ENTRY;
	memcpy(handles, rec + sizeof(hdr), 8ull * hdr.count);
	return hdr.count;
}

/* ---- EVENTS ------------------------------------------------------------ */

static int
parse_tokens(const uint8_t *body, uint32_t blen, struct tf_entry_evt *e)
{
	struct tf_accel_evt_tokens t;
	const struct tf_accel_tok *tok;
	uint32_t sum = 0;

	if (blen < sizeof(t))
		return -TF_ENTRY_E_ENTRY;
	memcpy(&t, body, sizeof(t));
	if (t.ntok == 0 || t.ntok > TF_ACCEL_MAX_CHUNK_TOKENS)
		return -TF_ENTRY_E_ENTRY;
	if (align8(sizeof(t) + 8u * t.ntok + t.text_bytes) != blen)
		return -TF_ENTRY_E_ENTRY;
	tok = (const struct tf_accel_tok *)(const void *)(body + sizeof(t));
	for (unsigned int i = 0; i < t.ntok; i++) {
		if (tok[i].reserved)
			return -TF_ENTRY_E_ENTRY;
		if (tok[i].text_len > TF_ACCEL_MAX_TOKEN_TEXT)
			return -TF_ENTRY_E_TEXT;
		sum += tok[i].text_len;
	}
	if (sum != t.text_bytes)
		return -TF_ENTRY_E_TEXT;
	e->u.tokens.index = t.index;
	e->u.tokens.ntok = t.ntok;
	e->u.tokens.text_bytes = t.text_bytes;
	e->u.tokens.tok = tok;
	e->u.tokens.text = (const char *)(body + sizeof(t) + 8u * t.ntok);
	return 0;
}

static int
parse_end(const uint8_t *body, uint32_t blen, struct tf_entry_evt *e)
{
	struct tf_accel_usage *u = &e->u.end;

	if (blen != sizeof(*u))
		return -TF_ENTRY_E_ENTRY;
	memcpy(u, body, sizeof(*u));
	if (u->reserved || u->reason < TF_ACCEL_FINISH_EOS || u->reason > TF_ACCEL_FINISH_CANCELLED)
		return -TF_ENTRY_E_ENTRY;
	return 0;
}

static int
parse_error(const uint8_t *body, uint32_t blen, struct tf_entry_evt *e)
{
	struct tf_accel_evt_error er;

	if (blen < sizeof(er))
		return -TF_ENTRY_E_ENTRY;
	memcpy(&er, body, sizeof(er));
	if (er.reserved0 || er.reserved || er.retryable > 1 || er.msg_len > TF_ACCEL_MAX_ERROR_MSG)
		return -TF_ENTRY_E_ENTRY;
	/* CONN_LOST and PROTOCOL are the card's own; never on the ring */
	if (er.code < TF_ACCEL_ERR_BAD_REQUEST || er.code > TF_ACCEL_ERR_INTERNAL)
		return -TF_ENTRY_E_ENTRY;
	if (align8(sizeof(er) + er.msg_len) != blen)
		return -TF_ENTRY_E_ENTRY;
	e->u.error.code = er.code;
	e->u.error.retryable = er.retryable;
	e->u.error.msg_len = er.msg_len;
	e->u.error.msg = (const char *)(body + sizeof(er));
	return 0;
}

int
tf_entry_events_parse(const uint8_t *rec, uint32_t len, struct tf_entry_evt *out, unsigned int cap)
{
	struct tf_accel_rec hdr;
	uint64_t off = sizeof(hdr);

	if (len < sizeof(hdr) || ((uintptr_t)rec & 7))
		return -TF_ENTRY_E_ENTRY;
	memcpy(&hdr, rec, sizeof(hdr));
	if (hdr.type != TF_ACCEL_REC_EVENTS || hdr.len != len || hdr.count == 0 ||
	    hdr.count > TF_ACCEL_MAX_EVENTS || hdr.count > cap)
		return -TF_ENTRY_E_ENTRY;
	for (unsigned int i = 0; i < hdr.count; i++) {
		struct tf_accel_evt ev;
		struct tf_entry_evt *e = &out[i];
		const uint8_t *body;
		uint32_t blen;
		int rc;

		if (off + sizeof(ev) > len)
			return -TF_ENTRY_E_ENTRY;
		memcpy(&ev, rec + off, sizeof(ev));
		if (ev.len < sizeof(ev) || (ev.len & 7) || off + ev.len > len || ev.flags)
			return -TF_ENTRY_E_ENTRY;
		body = rec + off + sizeof(ev);
		blen = ev.len - sizeof(ev);
		e->type = ev.type;
		e->handle = ev.handle;
		switch (ev.type) {
		case TF_ACCEL_EVT_TOKENS:
			rc = parse_tokens(body, blen, e);
			break;
		case TF_ACCEL_EVT_END:
			rc = parse_end(body, blen, e);
			break;
		case TF_ACCEL_EVT_ERROR:
			rc = parse_error(body, blen, e);
			break;
		default:
			rc = -TF_ENTRY_E_ENTRY;
			break;
		}
		if (rc)
			return rc;
		off += ev.len;
	}
	if (tf_ring_align((uint32_t)off) != len)
		return -TF_ENTRY_E_ENTRY;
	return hdr.count;
}

/* ---- encoders ---------------------------------------------------------- */

uint32_t
tf_entry_tokens_len(unsigned int ntok, uint32_t text_bytes)
{
	return align8(sizeof(struct tf_accel_evt) + sizeof(struct tf_accel_evt_tokens) + 8u * ntok +
		      text_bytes);
}

uint32_t
tf_entry_error_len(uint32_t msg_len)
{
	return align8(sizeof(struct tf_accel_evt) + sizeof(struct tf_accel_evt_error) + msg_len);
}

static void
put_evt(uint8_t *dst, uint16_t type, uint32_t len, uint64_t handle)
{
	struct tf_accel_evt ev = { .type = type, .len = len, .handle = handle };

	memset(dst, 0, len); /* padding and reserved bytes */
	memcpy(dst, &ev, sizeof(ev));
}

int
tf_entry_put_tokens(uint8_t *dst, uint32_t cap, uint64_t handle, uint32_t index,
		    const struct tf_accel_tok *tok, unsigned int ntok, const void *text,
		    uint32_t text_bytes)
{
	struct tf_accel_evt_tokens t = { .index = index,
					 .ntok = (uint16_t)ntok,
					 .text_bytes = (uint16_t)text_bytes };
	uint32_t len, sum = 0;
	uint8_t *p;

	if (ntok == 0 || ntok > TF_ACCEL_MAX_CHUNK_TOKENS)
		return -EINVAL;
	for (unsigned int i = 0; i < ntok; i++) {
		if (tok[i].text_len > TF_ACCEL_MAX_TOKEN_TEXT)
			return -EINVAL;
		sum += tok[i].text_len;
	}
	if (sum != text_bytes)
		return -EINVAL;
	len = tf_entry_tokens_len(ntok, text_bytes);
	if (len > cap)
		return -ENOSPC;
	put_evt(dst, TF_ACCEL_EVT_TOKENS, len, handle);
	p = dst + sizeof(struct tf_accel_evt);
	memcpy(p, &t, sizeof(t));
	p += sizeof(t);
	for (unsigned int i = 0; i < ntok; i++) {
		struct tf_accel_tok k = { .id = tok[i].id, .text_len = tok[i].text_len };

		memcpy(p, &k, sizeof(k));
		p += sizeof(k);
	}
	if (text_bytes)
		memcpy(p, text, text_bytes);
	return (int)len;
}

int
tf_entry_put_end(uint8_t *dst, uint32_t cap, uint64_t handle, const struct tf_accel_usage *u)
{
	struct tf_accel_usage k = *u;

	if (u->reason < TF_ACCEL_FINISH_EOS || u->reason > TF_ACCEL_FINISH_CANCELLED)
		return -EINVAL;
	if (cap < TF_ENTRY_END_LEN)
		return -ENOSPC;
	k.reserved = 0;
	put_evt(dst, TF_ACCEL_EVT_END, TF_ENTRY_END_LEN, handle);
	memcpy(dst + sizeof(struct tf_accel_evt), &k, sizeof(k));
	return TF_ENTRY_END_LEN;
}

int
tf_entry_put_error(uint8_t *dst, uint32_t cap, uint64_t handle, uint16_t code, int retryable,
		   const char *msg, uint32_t msg_len)
{
	struct tf_accel_evt_error er = { .code = code, .retryable = retryable ? 1 : 0 };
	uint32_t len;

	if (code < TF_ACCEL_ERR_BAD_REQUEST || code > TF_ACCEL_ERR_INTERNAL)
		return -EINVAL;
	if (msg_len > TF_ACCEL_MAX_ERROR_MSG)
		msg_len = TF_ACCEL_MAX_ERROR_MSG;
	er.msg_len = (uint16_t)msg_len;
	len = tf_entry_error_len(msg_len);
	if (len > cap)
		return -ENOSPC;
	put_evt(dst, TF_ACCEL_EVT_ERROR, len, handle);
	memcpy(dst + sizeof(struct tf_accel_evt), &er, sizeof(er));
	if (msg_len)
		memcpy(dst + sizeof(struct tf_accel_evt) + sizeof(er), msg, msg_len);
	return (int)len;
}
