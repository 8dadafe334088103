/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Responses: ERROR, PONG, TOKENS (streamed, and re-sent from the token
 * buffer), FINAL (with the last tokens inside when the client set
 * FINAL_TOKENS). Each is encoded and signed straight into a transmit buffer
 * behind the Ethernet/IPv4/UDP headers, under the MAC algorithm of the
 * datagram it answers (protocol.md 4.1); token ids are the one copy on this
 * path (from the transport's response ring into the datagram).
 */
#include <string.h>

#include "dataplane/worker_int.h"

/* Fills out the peer to answer: the recorded one, with the freshest MAC we learned. */
static void
peer_fresh(const struct tf_dp_worker *w, const struct tf_pkt_peer *peer, struct tf_pkt_peer *out)
{
	const struct tf_neigh_entry *e = tf_neigh_lookup(&w->neigh, peer->ip);

	*out = *peer;
	if (e && !e->has_vlan == !peer->has_vlan)
		memcpy(out->mac, e->mac, 6);
}

/*
 * Encodes m (signed with k, or unsigned when k is NULL) behind the headers of
 * a frame to peer and sends it. max_len bounds the datagram (0: lim.dgram).
 */
static int
send_msg(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
	 const struct tf_proto_msg *m, const struct tf_proto_key *k, uint32_t max_len)
{
	struct tf_pkt_peer p;
	struct tf_pkt_addr me;
	uint32_t cap = max_len ? max_len : w->lim.dgram;
	uint16_t hl;
	uint8_t *buf;
	void *cookie;
	int n;

	peer_fresh(w, peer, &p);
	hl = tf_pkt_udp_hdr_len(&p);
	buf = w->io_ops->tx_alloc(w->io, port, hl + cap, &cookie);
	if (TF_DP_UNLIKELY(!buf)) {
		tf_dp_count_drop(w, TF_DROP_NO_MBUF);
		return -1;
	}
	n = tf_proto_encode(buf + hl, cap, m, k);
	if (TF_DP_UNLIKELY(n < 0)) {
		/* Our own message does not encode: a card bug; count it, send nothing. */
		w->io_ops->rx_free(w->io, cookie);
		tf_dp_count_drop(w, TF_DROP_TX_FULL);
		return -1;
	}
	me = w->me;
	memcpy(me.mac, w->port_mac[port < TF_DP_MAX_PORTS ? port : 0], 6);
	tf_pkt_udp_build(buf, &me, &p, (uint16_t)n, w->ip_id++, w->lim.udp_tx_csum);
	w->io_ops->tx_send(w->io, port, cookie, hl + (uint32_t)n);
	tf_dp_count(w, TF_EV_TX_PKTS, 1);
	tf_dp_count(w, TF_EV_TX_BYTES, hl + (uint32_t)n);
	return 0;
}

/*
 * alg: the algorithm of what is answered; the key's default when the key
 * does not accept it (a tenant whose policy changed since the request came).
 */
static void
msg_init(struct tf_dp_worker *w, struct tf_proto_msg *e, uint8_t type, uint8_t flags,
	 uint32_t tenant, uint64_t rid, const struct tf_proto_key *k, uint8_t alg)
{
	memset(e, 0, sizeof(*e));
	e->version = TF_PROTO_VERSION;
	e->type = type;
	e->flags = flags;
	e->key_id = k ? k->key_id : 0;
	if (k && alg <= TF_PROTO_MAC_ALG_MAX && (k->algs & TF_PROTO_MAC_BIT(alg)))
		e->mac_alg = alg;
	e->tenant_id = tenant;
	e->request_id = rid;
	e->timestamp_us = w->wall_us;
}

void
tf_dp_send_error(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
		 const struct tf_proto_msg *m, const struct tf_proto_key *k, uint16_t code,
		 uint32_t retry_after_ms, uint32_t detail)
{
	struct tf_proto_msg e;

	msg_init(w, &e, TF_PROTO_T_ERROR, 0, m->tenant_id, m->request_id, k, m->mac_alg);
	e.u.err.code = code;
	e.u.err.ref_type = m->type;
	e.u.err.retry_after_ms = retry_after_ms;
	e.u.err.detail = detail;
	if (send_msg(w, port, peer, &e, k, 0) == 0)
		tf_dp_count(w, TF_EV_ERR_SENT, 1);
}

void
tf_dp_send_pong(struct tf_dp_worker *w, uint16_t port, const struct tf_pkt_peer *peer,
		const struct tf_proto_msg *m, const struct tf_proto_key *k)
{
	struct tf_proto_msg e;

	msg_init(w, &e, TF_PROTO_T_PONG, 0, m->tenant_id, m->request_id, k, m->mac_alg);
	e.u.pong.echo = m->u.ping.echo;
	e.u.pong.min_version = TF_PROTO_VERSION;
	e.u.pong.max_version = TF_PROTO_VERSION;
	e.u.pong.max_dgram = TF_PROTO_MAX_DGRAM;
	send_msg(w, port, peer, &e, k, 0);
}

static const struct tf_proto_key *
req_key(const struct tf_dp_req *r)
{
	const struct tf_proto_key *k = tf_dp_tenant_key(r->tenant, r->key_id);

	return k ? k : &r->tenant->key;
}

/* Bytes of TOKENS payload room in one datagram. */
static uint32_t
tokens_room(const struct tf_dp_worker *w)
{
	return w->lim.dgram - TF_PROTO_HDR_LEN - TF_PROTO_MAC_LEN - TF_PROTO_TOKENS_FIXED;
}

static void
send_chunk(struct tf_dp_worker *w, struct tf_dp_req *r, uint32_t first, const uint8_t *ids,
	   const uint8_t *lens, const uint8_t *text, uint32_t n, uint32_t tl, uint8_t flags)
{
	const struct tf_proto_key *k = req_key(r);
	struct tf_proto_msg e;

	msg_init(w, &e, TF_PROTO_T_TOKENS, flags, r->tenant->id, r->request_id, k, r->mac_alg);
	e.u.tokens.first_seq = first;
	e.u.tokens.n_tokens = (uint16_t)n;
	e.u.tokens.ids = ids;
	if (r->want_text) {
		e.u.tokens.chunk_flags = TF_PROTO_CF_HAS_TEXT;
		e.u.tokens.piece_lens = lens;
		e.u.tokens.text = text;
		e.u.tokens.text_len = tl;
	}
	if (send_msg(w, r->port, &r->peer, &e, k, 0) == 0 && n) {
		tf_dp_count(w, TF_EV_CHUNKS_SENT, 1);
	}
}

void
tf_dp_send_tokens(struct tf_dp_worker *w, struct tf_dp_req *r, uint32_t first,
		  const struct tf_accel_tok *tok, uint32_t ntok, const char *text, uint8_t flags)
{
	uint32_t room = tokens_room(w), i = 0, toff = 0;

	while (i < ntok) {
		uint32_t n = 0, tl = 0, used = 0;
		uint32_t text_start = toff;

		while (i + n < ntok) {
			uint32_t l = r->want_text ? tok[i + n].text_len : 0;
			uint32_t cost = r->want_text ? 5 + l : 4;

			if (used + cost > room)
				break;
			tf_proto_st32(w->scratch_ids + 4 * n, tok[i + n].id);
			w->scratch_lens[n] = (uint8_t)l;
			used += cost;
			tl += l;
			n++;
		}
		if (n == 0)
			n = 1; /* cannot happen: one token always fits (255 + 5 < room) */
		send_chunk(w, r, first + i, w->scratch_ids, w->scratch_lens,
			   (const uint8_t *)text + text_start, n, tl, flags);
		toff += tl;
		i += n;
	}
	if (first + ntok > r->tok_sent)
		r->tok_sent = first + ntok;
}

void
tf_dp_send_beacon(struct tf_dp_worker *w, struct tf_dp_req *r, uint8_t flags)
{
	send_chunk(w, r, r->tb.count, w->scratch_ids, w->scratch_lens, w->scratch_text, 0, 0,
		   flags);
}

/* The FINAL, with tokens [first, first + n) of the scratch buffers inside when n > 0. */
static void
final_msg(struct tf_dp_worker *w, struct tf_dp_req *r, uint8_t flags, uint32_t first, uint32_t n,
	  uint32_t tl)
{
	const struct tf_proto_key *k = req_key(r);
	struct tf_proto_msg e;
	uint64_t q = r->t_flush > r->t_admit ? r->t_flush - r->t_admit : 0;
	uint64_t tot = r->t_final > r->t_complete ? r->t_final - r->t_complete : 0;

	msg_init(w, &e, TF_PROTO_T_FINAL, flags, r->tenant->id, r->request_id, k, r->mac_alg);
	e.u.final.finish_reason = r->finish;
	e.u.final.error_code = r->finish == TF_PROTO_FINISH_CUT_OFF ? r->error_code : 0;
	e.u.final.prompt_tokens = r->prompt_tokens;
	e.u.final.completion_tokens = r->tb.count;
	e.u.final.accel_id = r->accel_id;
	e.u.final.cost_micro = r->cost_micro;
	e.u.final.queue_us = (uint32_t)(q > UINT32_MAX ? UINT32_MAX : q);
	e.u.final.total_us = (uint32_t)(tot > UINT32_MAX ? UINT32_MAX : tot);
	if (n) {
		e.u.final.final_flags = TF_PROTO_FF_HAS_TOKENS;
		e.u.final.tokens = (struct tf_proto_tokens){ .first_seq = first,
							     .n_tokens = (uint16_t)n,
							     .ids = w->scratch_ids };
		if (r->want_text) {
			e.u.final.tokens.chunk_flags = TF_PROTO_CF_HAS_TEXT;
			e.u.final.tokens.piece_lens = w->scratch_lens;
			e.u.final.tokens.text = w->scratch_text;
			e.u.final.tokens.text_len = tl;
		}
	}
	if (send_msg(w, r->port, &r->peer, &e, k, 0) == 0 && n)
		tf_dp_count(w, TF_EV_CHUNKS_SENT, 1);
}

/*
 * Tokens [from, count) out of the buffer as TOKENS chunks; then, when the
 * request is finished, its FINAL, carrying the last chunk if the client set
 * FINAL_TOKENS and it fits; a beacon when there was nothing to send.
 */
static void
stream(struct tf_dp_worker *w, struct tf_dp_req *r, uint32_t from, uint8_t flags)
{
	uint32_t room = tokens_room(w), froom = room - TF_PROTO_FINAL_LEN;
	uint32_t per = r->want_text ? 5 : 4;
	int sent = 0;

	r->held = 0;
	if (from < r->tb.first_avail)
		from = r->tb.first_avail;
	while (from < r->tb.count) {
		uint32_t tl = 0, n, max_tok = room / per;

		if (max_tok > TF_ACCEL_MAX_CHUNK_TOKENS * 8)
			max_tok = TF_ACCEL_MAX_CHUNK_TOKENS * 8;
		n = tf_tokbuf_read(&w->tok, &r->tb, from, w->scratch_ids,
				   r->want_text ? w->scratch_lens : NULL,
				   r->want_text ? w->scratch_text : NULL, max_tok,
				   r->want_text ? room - 5 : 0, &tl);
		/* With text, ids + lens + text must fit together: drop tokens from the end. */
		while (r->want_text && n > 1 && 5 * n + tl > room) {
			n--;
			tl -= w->scratch_lens[n];
		}
		if (n == 0)
			break;
		if (r->finished && r->final_tokens && from + n == r->tb.count &&
		    per * n + tl <= froom) {
			final_msg(w, r, flags, from, n, tl);
			r->tok_sent = r->tb.count;
			return;
		}
		send_chunk(w, r, from, w->scratch_ids, w->scratch_lens, w->scratch_text, n, tl,
			   flags);
		from += n;
		sent = 1;
	}
	if (from >= r->tb.count && r->tb.count > r->tok_sent)
		r->tok_sent = r->tb.count;
	if (r->finished)
		final_msg(w, r, flags, 0, 0, 0);
	else if (!sent)
		tf_dp_send_beacon(w, r, flags);
}

void
tf_dp_send_final(struct tf_dp_worker *w, struct tf_dp_req *r, uint8_t flags)
{
	if (r->final_tokens && r->tok_sent < r->tb.count)
		stream(w, r, r->tok_sent, flags);
	else
		final_msg(w, r, flags, 0, 0, 0);
}

void
tf_dp_resend(struct tf_dp_worker *w, struct tf_dp_req *r, uint32_t from, uint8_t flags)
{
	stream(w, r, from, flags);
}
