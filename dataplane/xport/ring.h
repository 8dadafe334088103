/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring producer/consumer logic (hwdocs/accel-rings.md section 3), shared by
 * both backends and both roles. Pure index arithmetic and header checks on
 * plain memory: no transport, no allocation.
 */
#ifndef TF_XPORT_RING_H
#define TF_XPORT_RING_H

#include <stdint.h>

#include "tokfab/accel_rings.h"

/* One side's view of one ring. */
struct tf_ring {
	uint32_t size; /* power of two */
	uint32_t prod; /* producer index (free-running) */
	uint32_t cons; /* consumer index (free-running) */
	uint32_t seq; /* next record sequence number to write / expect */
	uint32_t max_rec; /* largest record the consumer accepts */
	uint16_t epoch; /* low 16 bits of the connection epoch */
	uint16_t types; /* consumer: bit (1 << type) for each type allowed (PAD implied) */
};

/* Where one record goes (producer). */
struct tf_ring_resv {
	uint32_t off; /* ring offset of the record */
	uint32_t len; /* record length (64-aligned) */
	uint32_t seq; /* the record's sequence number */
	uint32_t pad_off; /* pad_len > 0: a PAD record goes here first */
	uint32_t pad_len;
	uint32_t pad_seq;
	uint32_t new_prod; /* producer index after the record */
};

/* Consumer-side rejection classes (mapped to tf_xport counters by the caller). */
enum tf_ring_err {
	TF_RING_OK = 0,
	TF_RING_E_INDEX, /* producer index invalid */
	TF_RING_E_CREDIT, /* consumer index (credit return) invalid */
	TF_RING_E_REC, /* record header invalid */
	TF_RING_E_SEQ, /* record out of sequence */
	TF_RING_E_EPOCH, /* record of another connection */
};

static inline uint32_t
tf_ring_align(uint32_t len)
{
	return (len + TF_ACCEL_REC_ALIGN - 1) & ~(TF_ACCEL_REC_ALIGN - 1);
}

static inline int
tf_ring_size_ok(uint32_t size)
{
	return size >= TF_ACCEL_RING_MIN && size <= TF_ACCEL_RING_MAX && (size & (size - 1)) == 0;
}

/* prod, cons = 0, seq = 1. */
void tf_ring_init(struct tf_ring *r, uint32_t size, uint32_t max_rec, uint16_t epoch,
		  uint16_t types);

/* Producer: bytes that may be written now. */
static inline uint32_t
tf_ring_free(const struct tf_ring *r)
{
	return r->size - (r->prod - r->cons);
}

/*
 * Producer: places a record of len bytes (rounded up to 64). -EMSGSIZE when it
 * exceeds max_rec, -ENOBUFS when the credits do not cover it (with a PAD on
 * wrap). Nothing changes until tf_ring_prod_commit().
 */
int tf_ring_prod_reserve(const struct tf_ring *r, uint32_t len, struct tf_ring_resv *rv);
void tf_ring_prod_commit(struct tf_ring *r, const struct tf_ring_resv *rv);
/* The PAD header for rv (when rv->pad_len > 0). */
void tf_ring_pad_hdr(const struct tf_ring *r, const struct tf_ring_resv *rv,
		     struct tf_accel_rec *hdr);
/* A record header for rv. */
void tf_ring_rec_hdr(const struct tf_ring *r, const struct tf_ring_resv *rv, uint16_t type,
		     uint16_t count, struct tf_accel_rec *hdr);

/* Producer: the consumer returned credits up to peer_cons. */
enum tf_ring_err tf_ring_prod_credit(struct tf_ring *r, uint32_t peer_cons);

/* Consumer: the producer published peer_prod (doorbell). */
enum tf_ring_err tf_ring_cons_doorbell(struct tf_ring *r, uint32_t peer_prod);

/*
 * Consumer: checks the record header hdr (a copy of the 16 bytes at ring
 * offset cons & (size - 1)) against the ring state. Returns TF_RING_OK for a
 * record the caller may copy (hdr->len bytes at that offset), or an error.
 */
enum tf_ring_err tf_ring_cons_check(const struct tf_ring *r, const struct tf_accel_rec *hdr);

/* Consumer: the record at cons (already checked) was consumed. */
static inline void
tf_ring_cons_advance(struct tf_ring *r, uint32_t len)
{
	r->cons += len;
	r->seq++;
}

/* Consumer: bytes published and not yet consumed. */
static inline uint32_t
tf_ring_avail(const struct tf_ring *r)
{
	return r->prod - r->cons;
}

static inline uint32_t
tf_ring_off(const struct tf_ring *r, uint32_t idx)
{
	return idx & (r->size - 1);
}

#endif /* TF_XPORT_RING_H */
