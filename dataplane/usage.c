/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Usage events: one record per admitted request when it ends or, in aggregate
 * mode, one aggregate per (tenant, model, accelerator, outcome) and window,
 * handed to the main lcore (which posts them to the card's event queue).
 * Never dropped: what the main lcore cannot take now waits in a FIFO here,
 * and admission refuses new work (BUSY) before that FIFO could fill (the
 * groups being summed count as queued: each may become one event).
 */
#include <stddef.h>
#include <string.h>

#include "dataplane/worker_int.h"

static uint32_t
clamp32(uint64_t v)
{
	return (uint32_t)(v > UINT32_MAX ? UINT32_MAX : v);
}

static void
build(const struct tf_dp_worker *w, const struct tf_dp_req *r, struct tf_usage_record *u)
{
	uint64_t flush = r->t_flush ? r->t_flush : r->t_final;

	memset(u, 0, sizeof(*u));
	u->request_id = r->request_id;
	u->tenant_id = r->tenant->id;
	u->model_id = r->model_id;
	u->accel_id = r->attempts ? r->accel_id : 0; /* 0: never reached one */
	u->outcome = r->outcome;
	u->prompt_tokens = r->prompt_tokens;
	u->completion_tokens = r->tb.count;
	u->queue_us = clamp32(r->t_admit - r->t_complete);
	u->batch_us = clamp32(flush > r->t_admit ? flush - r->t_admit : 0);
	u->compute_us = clamp32(r->t_final > flush ? r->t_final - flush : 0);
	u->cost_micro = r->cost_micro;
	u->end_time_ns = w->wall_us ? w->wall_us * 1000 : 1;
}

unsigned int
tf_dp_usage_flush(struct tf_dp_worker *w)
{
	unsigned int n = 0;

	while (w->backlog_head != w->backlog_tail) {
		const struct tf_dp_usage_ev *ev = &w->backlog[w->backlog_head % w->backlog_cap];

		if (w->io_ops->usage_emit(w->io, ev) != 0)
			break;
		w->backlog_head++;
		n++;
	}
	return n;
}

/* Into the FIFO behind what waits there (admission keeps room: tf_dp_usage_backlog). */
static struct tf_dp_usage_ev *
backlog_add(struct tf_dp_worker *w, uint16_t type)
{
	struct tf_dp_usage_ev *ev = &w->backlog[w->backlog_tail % w->backlog_cap];

	w->backlog_tail++;
	ev->type = type;
	memset(ev->reserved, 0, sizeof(ev->reserved));
	return ev;
}

/* Every group summed so far becomes one event, in the order the groups appeared. */
static void
agg_flush(struct tf_dp_worker *w)
{
	for (uint32_t i = 0; i < w->agg.n; i++)
		backlog_add(w, TF_EQ_USAGE_AGG)->u.agg = w->agg.rows[i];
	tf_dp_count(w, TF_EV_USAGE_AGGREGATES, w->agg.n);
	tf_usage_agg_clear(&w->agg);
	tf_dp_usage_flush(w);
}

void
tf_dp_usage_agg_poll(struct tf_dp_worker *w, int force)
{
	uint64_t now_ns = w->wall_us * 1000;

	if (w->agg.n && (force || !w->agg_window_ns || now_ns / w->agg_window_ns != w->agg.window))
		agg_flush(w);
}

static void
agg_add(struct tf_dp_worker *w, const struct tf_usage_record *u)
{
	uint64_t window = u->end_time_ns / w->agg_window_ns;

	if (w->agg.n && window != w->agg.window)
		agg_flush(w); /* an aggregate never spans two windows */
	w->agg.window = window;
	if (tf_usage_agg_add(&w->agg, u) == 0)
		return;
	agg_flush(w); /* table full (or a group at its bound) */
	tf_usage_agg_add(&w->agg, u); /* cannot fail on an empty table */
}

void
tf_dp_usage_emit(struct tf_dp_worker *w, const struct tf_dp_req *r)
{
	struct tf_dp_usage_ev ev = { .type = TF_EQ_USAGE };

	build(w, r, &ev.u.rec);
	tf_dp_count(w, TF_EV_USAGE_RECORDS, 1);
	/*
	 * A host-queue request's record goes back in its completion: never summed.
	 * (Known by its port: a network client's request id may have any top byte.)
	 */
	if (w->agg_window_ns && r->port != w->records_port) {
		agg_add(w, &ev.u.rec);
		return;
	}
	if (w->backlog_head == w->backlog_tail && w->io_ops->usage_emit(w->io, &ev) == 0)
		return;
	/* Admission keeps the FIFO from filling (worker.c sizes it); keep order. */
	backlog_add(w, TF_EQ_USAGE)->u.rec = ev.u.rec;
}

void
tf_dp_worker_keep_records_port(struct tf_dp_worker *w, uint16_t port)
{
	w->records_port = port;
}

int
tf_dp_worker_set_usage_mode(struct tf_dp_worker *w, const struct tf_aq_set_usage_mode *c,
			    uint32_t *detail)
{
	if (c->mode == TF_USAGE_MODE_AGGREGATE ? c->aggregate_ms == 0
					       : c->mode != TF_USAGE_MODE_REQUEST) {
		*detail = offsetof(struct tf_aq_set_usage_mode, mode);
		return TF_AQ_S_BAD_FIELD; /* lib/card checks every field; not from there */
	}
	if (w->agg.n)
		agg_flush(w);
	w->agg_window_ns =
		c->mode == TF_USAGE_MODE_AGGREGATE ? (uint64_t)c->aggregate_ms * 1000000ull : 0;
	tf_dp_count(w, TF_EV_CFG_CHANGES, 1);
	return TF_AQ_S_OK;
}
