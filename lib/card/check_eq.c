/* SPDX-License-Identifier: BSD-3-Clause */
/* Event queue checks: usage records, health events, entries (both sides). */
#include "card/check.h"

#include <errno.h>
#include <stddef.h>

#define WHY(msg)                \
	do {                    \
		*why = (msg);   \
		return -EPROTO; \
	} while (0)

#define TF_TOKENS_MAX (1u << 24)

int
tf_usage_record_check(const struct tf_usage_record *r, const char **why)
{
	if (r->tenant_id == 0)
		WHY("usage.tenant_id is 0");
	if (r->model_id == 0)
		WHY("usage.model_id is 0");
	if (r->outcome > TF_USAGE_OUTCOME_MAX)
		WHY("usage.outcome unknown");
	if (r->flags)
		WHY("usage.flags not zero");
	if (r->prompt_tokens > TF_TOKENS_MAX)
		WHY("usage.prompt_tokens above 2^24");
	if (r->completion_tokens > TF_TOKENS_MAX)
		WHY("usage.completion_tokens above 2^24");
	if (r->reserved0)
		WHY("usage.reserved0 not zero");
	if (r->cost_micro > TF_MONEY_MAX)
		WHY("usage.cost_micro above 2^62");
	if (r->end_time_ns == 0)
		WHY("usage.end_time_ns is 0");
	if (r->outcome == TF_USAGE_REFUSED &&
	    (r->prompt_tokens || r->completion_tokens || r->cost_micro || r->accel_id))
		WHY("usage: a REFUSED record must have no tokens, cost or accelerator");
	return 0;
}

int
tf_usage_agg_check(const struct tf_usage_agg *a, const char **why)
{
	if (a->first_end_ns == 0)
		WHY("usage_agg.first_end_ns is 0");
	if (a->tenant_id == 0)
		WHY("usage_agg.tenant_id is 0");
	if (a->model_id == 0)
		WHY("usage_agg.model_id is 0");
	if (a->outcome > TF_USAGE_OUTCOME_MAX)
		WHY("usage_agg.outcome unknown");
	if (a->flags)
		WHY("usage_agg.flags not zero");
	if (a->requests == 0)
		WHY("usage_agg.requests is 0");
	if (a->reserved0)
		WHY("usage_agg.reserved0 not zero");
	if (a->prompt_tokens > (uint64_t)a->requests * TF_TOKENS_MAX)
		WHY("usage_agg.prompt_tokens above requests * 2^24");
	if (a->completion_tokens > (uint64_t)a->requests * TF_TOKENS_MAX)
		WHY("usage_agg.completion_tokens above requests * 2^24");
	if (a->cost_micro > TF_MONEY_MAX)
		WHY("usage_agg.cost_micro above 2^62");
	if (a->last_end_ns < a->first_end_ns)
		WHY("usage_agg.last_end_ns before first_end_ns");
	if (a->reserved1)
		WHY("usage_agg.reserved1 not zero");
	if (a->outcome == TF_USAGE_REFUSED &&
	    (a->prompt_tokens || a->completion_tokens || a->cost_micro || a->accel_id))
		WHY("usage_agg: a REFUSED aggregate must have no tokens, cost or accelerator");
	return 0;
}

int
tf_health_event_check(const struct tf_health_event *h, const char **why)
{
	if (h->time_ns == 0)
		WHY("health.time_ns is 0");
	if (h->component < TF_HC_CARD || h->component > TF_HC_MAX)
		WHY("health.component unknown");
	if (h->component == TF_HC_CARD && h->component_id != 0)
		WHY("health: card component with component_id != 0");
	if (h->component == TF_HC_ACCEL && h->component_id == 0)
		WHY("health: accelerator with component_id 0");
	if (h->state < TF_HS_UP || h->state > TF_HS_MAX)
		WHY("health.state unknown");
	if (h->reason > TF_HR_MAX)
		WHY("health.reason unknown");
	if (h->reserved0)
		WHY("health.reserved0 not zero");
	if (!tf_bar_name_ok(h->detail, TF_HEALTH_DETAIL_LEN, 0))
		WHY("health.detail is not printable NUL-terminated text");
	return 0;
}

int
tf_eq_entry_check(const struct tf_eq_entry *e, uint64_t expect_seq, const char **why)
{
	size_t len;

	if (e->seq != expect_seq)
		WHY("event seq is not the slot's expected sequence number");
	if (e->reserved)
		WHY("event reserved not zero");
	switch (e->type) {
	case TF_EQ_USAGE:
		len = sizeof(struct tf_usage_record);
		break;
	case TF_EQ_HEALTH:
		len = sizeof(struct tf_health_event);
		break;
	case TF_EQ_USAGE_AGG:
		len = sizeof(struct tf_usage_agg);
		break;
	default:
		WHY("event type unknown");
	}
	if (e->len != len)
		WHY("event len is not the body size of its type");
	for (size_t i = len; i < TF_EQ_BODY_MAX; i++)
		if (e->body.raw[i])
			WHY("event body bytes past len not zero");
	if (e->type == TF_EQ_USAGE)
		return tf_usage_record_check(&e->body.usage, why);
	if (e->type == TF_EQ_USAGE_AGG)
		return tf_usage_agg_check(&e->body.agg, why);
	return tf_health_event_check(&e->body.health, why);
}
