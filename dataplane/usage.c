/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Usage records: one per admitted request when it ends, handed to the main
 * lcore (which posts it to the card's event queue). Never dropped: what the
 * main lcore cannot take now waits in a FIFO here, and admission refuses new
 * work (BUSY) before that FIFO could fill.
 */
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
		const struct tf_usage_record *u = &w->backlog[w->backlog_head % w->backlog_cap];

		if (w->io_ops->usage_emit(w->io, u) != 0)
			break;
		w->backlog_head++;
		n++;
	}
	return n;
}

void
tf_dp_usage_emit(struct tf_dp_worker *w, const struct tf_dp_req *r)
{
	struct tf_usage_record u;

	build(w, r, &u);
	tf_dp_count(w, TF_EV_USAGE_RECORDS, 1);
	if (w->backlog_head == w->backlog_tail && w->io_ops->usage_emit(w->io, &u) == 0)
		return;
	/* Admission keeps the FIFO from filling (worker.c sizes it); keep order. */
	w->backlog[w->backlog_tail % w->backlog_cap] = u;
	w->backlog_tail++;
}
