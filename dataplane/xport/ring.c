/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring producer/consumer logic: credits, wrap with PAD records, sequence
 * numbers and every check a consumer makes on the producer's index and record
 * headers (hwdocs/accel-rings.md sections 3 and 7).
 */
#include <errno.h>
#include <string.h>

#include "ring.h"

void
tf_ring_init(struct tf_ring *r, uint32_t size, uint32_t max_rec, uint16_t epoch, uint16_t types)
{
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->max_rec = max_rec;
	r->epoch = epoch;
	r->types = types;
	r->seq = 1;
}

int
tf_ring_prod_reserve(const struct tf_ring *r, uint32_t len, struct tf_ring_resv *rv)
{
	uint32_t off = tf_ring_off(r, r->prod);
	uint32_t need;

	len = tf_ring_align(len);
	if (len == 0 || len > r->max_rec)
		return -EMSGSIZE;
	memset(rv, 0, sizeof(*rv));
	rv->len = len;
	if (off + len > r->size) {
		/* does not fit before the end: PAD the tail, record at 0 */
		rv->pad_off = off;
		rv->pad_len = r->size - off;
		rv->pad_seq = r->seq;
		rv->off = 0;
		rv->seq = r->seq + 1;
	} else {
		rv->off = off;
		rv->seq = r->seq;
	}
	need = rv->pad_len + len;
	if (need > tf_ring_free(r))
		return -ENOBUFS;
	rv->new_prod = r->prod + need;
	return 0;
}

void
tf_ring_prod_commit(struct tf_ring *r, const struct tf_ring_resv *rv)
{
	r->prod = rv->new_prod;
	r->seq = rv->seq + 1;
}

void
tf_ring_pad_hdr(const struct tf_ring *r, const struct tf_ring_resv *rv, struct tf_accel_rec *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->type = TF_ACCEL_REC_PAD;
	hdr->epoch = r->epoch;
	hdr->len = rv->pad_len;
	hdr->seq = rv->pad_seq;
}

void
tf_ring_rec_hdr(const struct tf_ring *r, const struct tf_ring_resv *rv, uint16_t type,
		uint16_t count, struct tf_accel_rec *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->type = type;
	hdr->epoch = r->epoch;
	hdr->len = rv->len;
	hdr->seq = rv->seq;
	hdr->count = count;
}

enum tf_ring_err
tf_ring_prod_credit(struct tf_ring *r, uint32_t peer_cons)
{
	/* must lie in [cons, prod]: never behind what was returned, never
	 * beyond what was produced */
	if (peer_cons - r->cons > r->prod - r->cons)
		return TF_RING_E_CREDIT;
	if (peer_cons & (TF_ACCEL_REC_ALIGN - 1))
		return TF_RING_E_CREDIT;
	r->cons = peer_cons;
	return TF_RING_OK;
}

enum tf_ring_err
tf_ring_cons_doorbell(struct tf_ring *r, uint32_t peer_prod)
{
	/* never backwards, never more than a ring ahead of the consumer */
	if (peer_prod - r->prod > r->size)
		return TF_RING_E_INDEX;
	if (peer_prod - r->cons > r->size)
		return TF_RING_E_INDEX;
	if (peer_prod & (TF_ACCEL_REC_ALIGN - 1))
		return TF_RING_E_INDEX;
	r->prod = peer_prod;
	return TF_RING_OK;
}

enum tf_ring_err
tf_ring_cons_check(const struct tf_ring *r, const struct tf_accel_rec *hdr)
{
	uint32_t off = tf_ring_off(r, r->cons);
	uint32_t avail = tf_ring_avail(r);

	if (hdr->len < TF_ACCEL_REC_ALIGN || (hdr->len & (TF_ACCEL_REC_ALIGN - 1)))
		return TF_RING_E_REC;
	if (hdr->len > avail || hdr->len > r->size - off)
		return TF_RING_E_REC;
	if (hdr->flags != 0)
		return TF_RING_E_REC;
	if (hdr->type == TF_ACCEL_REC_PAD) {
		/* a PAD covers exactly the tail of the ring */
		if (hdr->count != 0 || hdr->len != r->size - off)
			return TF_RING_E_REC;
	} else {
		if (hdr->type >= 16 || !(r->types & (1u << hdr->type)))
			return TF_RING_E_REC;
		if (hdr->len > r->max_rec || hdr->count == 0)
			return TF_RING_E_REC;
	}
	if (hdr->epoch != r->epoch)
		return TF_RING_E_EPOCH;
	if (hdr->seq != r->seq)
		return TF_RING_E_SEQ;
	return TF_RING_OK;
}
