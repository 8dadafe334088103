/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where usage events (records, aggregates) and health events go (main lcore, no DPDK): the card's
 * event queue (lib/card) when a BAR is configured, else a JSON-lines file,
 * else they are only counted (said at start-up). A record the event queue
 * cannot take yet (-EAGAIN) waits in a FIFO here; when the FIFO is full the
 * main lcore stops taking records from the workers, whose own FIFOs then
 * make admission answer BUSY: no record is ever dropped.
 */
#ifndef TF_DP_RECORDS_H
#define TF_DP_RECORDS_H

#include <stdint.h>
#include <stdio.h>

#include "card/card.h"
#include "dataplane/usage_ev.h"
#include "tokfab/usage.h"

struct tf_dp_records {
	struct tf_card_dev *card; /* NULL: no BAR */
	FILE *file; /* NULL: no usage file */
	struct tf_dp_usage_ev *fifo;
	uint32_t cap, head, tail;
	uint64_t posted; /* to the event queue */
	uint64_t written; /* to the file */
	uint64_t discarded; /* no sink configured: counted only */
	uint64_t eq_full; /* posts refused with -EAGAIN */
	uint64_t health_posted;
};

int tf_dp_records_init(struct tf_dp_records *r, struct tf_card_dev *card, FILE *file, uint32_t cap);
void tf_dp_records_fini(struct tf_dp_records *r);
/* Room for more records now? */
static inline int
tf_dp_records_room(const struct tf_dp_records *r)
{
	return r->tail - r->head < r->cap;
}
/* Queues one event (call only when there is room). */
void tf_dp_records_push(struct tf_dp_records *r, const struct tf_dp_usage_ev *ev);
/* Sends what it can; returns how many left the FIFO. */
unsigned int tf_dp_records_flush(struct tf_dp_records *r);
static inline uint32_t
tf_dp_records_backlog(const struct tf_dp_records *r)
{
	return r->tail - r->head;
}
/* Posts a health event (card only; best effort, counted). */
void tf_dp_records_health(struct tf_dp_records *r, uint16_t component, uint32_t id, uint16_t state,
			  uint32_t reason, const char *detail);
/* One record as a JSON object on one line (no newline). */
int tf_dp_usage_json(const struct tf_usage_record *u, char *buf, size_t len);
/* One aggregate ("requests" marks it) as a JSON object on one line (no newline). */
int tf_dp_usage_agg_json(const struct tf_usage_agg *a, char *buf, size_t len);
/* Either, by ev->type. */
int tf_dp_usage_ev_json(const struct tf_dp_usage_ev *ev, char *buf, size_t len);

#endif /* TF_DP_RECORDS_H */
