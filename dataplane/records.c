/* SPDX-License-Identifier: BSD-3-Clause */
/* Usage records and health events from the main lcore to the host. */
#include "dataplane/records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const outcome_names[] = {
	[TF_USAGE_OK] = "ok",
	[TF_USAGE_CUT_OFF] = "cut_off",
	[TF_USAGE_CANCELLED] = "cancelled",
	[TF_USAGE_ACCEL_FAILED] = "accel_failed",
	[TF_USAGE_TIMEOUT] = "timeout",
	[TF_USAGE_REFUSED] = "refused",
	[TF_USAGE_INTERNAL] = "internal",
};

static const char *
outcome_name(uint16_t outcome)
{
	return outcome <= TF_USAGE_OUTCOME_MAX ? outcome_names[outcome] : "?";
}

int
tf_dp_records_init(struct tf_dp_records *r, struct tf_card_dev *card, FILE *file, uint32_t cap)
{
	memset(r, 0, sizeof(*r));
	r->card = card;
	r->file = file;
	r->cap = cap ? cap : 65536;
	r->fifo = calloc(r->cap, sizeof(*r->fifo));
	return r->fifo ? 0 : -ENOMEM;
}

void
tf_dp_records_fini(struct tf_dp_records *r)
{
	if (r->file)
		fflush(r->file);
	free(r->fifo);
	r->fifo = NULL;
}

void
tf_dp_records_push(struct tf_dp_records *r, const struct tf_dp_usage_ev *ev)
{
	r->fifo[r->tail % r->cap] = *ev;
	r->tail++;
}

int
tf_dp_usage_json(const struct tf_usage_record *u, char *buf, size_t len)
{
	return snprintf(buf, len,
			"{\"request_id\":%llu,\"tenant\":%u,\"model\":%u,\"accel\":%u,"
			"\"outcome\":\"%s\",\"prompt_tokens\":%u,\"completion_tokens\":%u,"
			"\"queue_us\":%u,\"batch_us\":%u,\"compute_us\":%u,\"cost_micro\":%llu,"
			"\"end_time_ns\":%llu}",
			(unsigned long long)u->request_id, u->tenant_id, u->model_id, u->accel_id,
			outcome_name(u->outcome), u->prompt_tokens, u->completion_tokens,
			u->queue_us, u->batch_us, u->compute_us, (unsigned long long)u->cost_micro,
			(unsigned long long)u->end_time_ns);
}

int
tf_dp_usage_agg_json(const struct tf_usage_agg *a, char *buf, size_t len)
{
	return snprintf(buf, len,
			"{\"requests\":%u,\"tenant\":%u,\"model\":%u,\"accel\":%u,"
			"\"outcome\":\"%s\",\"prompt_tokens\":%llu,\"completion_tokens\":%llu,"
			"\"compute_us\":%llu,\"cost_micro\":%llu,\"first_end_ns\":%llu,"
			"\"last_end_ns\":%llu}",
			a->requests, a->tenant_id, a->model_id, a->accel_id,
			outcome_name(a->outcome), (unsigned long long)a->prompt_tokens,
			(unsigned long long)a->completion_tokens, (unsigned long long)a->compute_us,
			(unsigned long long)a->cost_micro, (unsigned long long)a->first_end_ns,
			(unsigned long long)a->last_end_ns);
}

int
tf_dp_usage_ev_json(const struct tf_dp_usage_ev *ev, char *buf, size_t len)
{
	return ev->type == TF_EQ_USAGE_AGG ? tf_dp_usage_agg_json(&ev->u.agg, buf, len)
					   : tf_dp_usage_json(&ev->u.rec, buf, len);
}

static int
post(struct tf_card_dev *card, const struct tf_dp_usage_ev *ev)
{
	return ev->type == TF_EQ_USAGE_AGG ? tf_card_dev_post_usage_agg(card, &ev->u.agg, NULL)
					   : tf_card_dev_post_usage(card, &ev->u.rec, NULL);
}

unsigned int
tf_dp_records_flush(struct tf_dp_records *r)
{
	unsigned int n = 0;
	char line[512];

	while (r->head != r->tail) {
		const struct tf_dp_usage_ev *ev = &r->fifo[r->head % r->cap];

		if (r->card) {
			int rc = post(r->card, ev);

			if (rc == -EAGAIN) {
				r->eq_full++;
				break; /* the host has not acknowledged enough yet: keep it */
			}
			if (rc == 0)
				r->posted++;
			/* -EINVAL would be our bug: lib/card said why; it is not retried. */
		} else if (r->file) {
			tf_dp_usage_ev_json(ev, line, sizeof(line));
			fprintf(r->file, "%s\n", line);
			r->written++;
		} else {
			r->discarded++;
		}
		r->head++;
		n++;
	}
	if (n && r->file)
		fflush(r->file);
	return n;
}

void
tf_dp_records_health(struct tf_dp_records *r, uint16_t component, uint32_t id, uint16_t state,
		     uint32_t reason, const char *detail)
{
	struct tf_health_event ev;

	if (!r->card)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.time_ns = tf_card_now_ns();
	ev.component = component;
	ev.component_id = id;
	ev.state = state;
	ev.reason = reason;
	if (detail)
		strncpy(ev.detail, detail, sizeof(ev.detail) - 1);
	if (tf_card_dev_post_health(r->card, &ev, NULL) == 0)
		r->health_posted++;
}
