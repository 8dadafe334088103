/* SPDX-License-Identifier: BSD-3-Clause */
/* In-memory totals (seeded from the ledger) and GET /metrics in the Prometheus text format. */
#include "tokfabd/metrics.h"

#include "tokfabd/buf.h"
#include "tokfabd/quota.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tfd_counter *
counter(struct tfd *d, uint32_t tenant, uint32_t model, uint32_t accel, int outcome)
{
	struct tfd_usage_key k = {
		.tenant = tenant, .model = model, .accel = accel, .outcome = outcome
	};
	struct tfd_counter *c;
	int64_t i;
	int added;

	if (d->n_counters == d->cap_counters) {
		unsigned int cap = d->cap_counters ? 2 * d->cap_counters : 64;
		struct tfd_counter *n = realloc(d->counters, cap * sizeof(*n));

		if (!n)
			return NULL;
		d->counters = n;
		d->cap_counters = cap;
	}
	i = tfd_keymap_get_or_add(&d->counter_map, &k, d->n_counters, &added);
	if (i < 0)
		return NULL;
	c = &d->counters[i];
	if (added) {
		d->n_counters++;
		memset(c, 0, sizeof(*c));
		c->tenant = tenant;
		c->model = model;
		c->accel = accel;
		c->outcome = outcome;
	}
	return c;
}

static int
seed_row(void *arg, const struct tfd_usage_row *r)
{
	struct tfd *d = arg;
	struct tfd_counter *c = counter(d, r->tenant, r->model, r->accel, r->outcome);

	if (!c)
		return -ENOMEM;
	c->requests += r->requests;
	c->prompt_tokens += r->prompt_tokens;
	c->completion_tokens += r->completion_tokens;
	c->cost_micro += r->cost_micro;
	return 0;
}

int
tfd_metrics_seed(struct tfd *d, struct tfd_ledger *l)
{
	int rc;

	pthread_mutex_lock(&d->live_lock);
	rc = tfd_ledger_totals(l, seed_row, d);
	pthread_mutex_unlock(&d->live_lock);
	return rc < 0 ? rc : 0;
}

void
tfd_metrics_fini(struct tfd *d)
{
	free(d->counters);
	d->counters = NULL;
	d->n_counters = d->cap_counters = 0;
	tfd_keymap_free(&d->counter_map);
}

void
tfd_metrics_count(struct tfd *d, const struct tf_eq_entry *ev, unsigned int n)
{
	uint64_t sec = tfd_now_ns() / 1000000000ull;

	pthread_mutex_lock(&d->live_lock);
	if (sec != d->live_sec) {
		/* Clear the seconds skipped since the last count. */
		for (uint64_t s = d->live_sec + 1; s <= sec && s - d->live_sec <= TFD_LIVE_SECONDS;
		     s++) {
			d->live_tokens[s % TFD_LIVE_SECONDS] = 0;
			d->live_requests[s % TFD_LIVE_SECONDS] = 0;
		}
		if (sec - d->live_sec > TFD_LIVE_SECONDS)
			memset(d->live_tokens, 0, sizeof(d->live_tokens));
		d->live_sec = sec;
	}
	for (unsigned int i = 0; i < n; i++) {
		const struct tf_usage_record *u = &ev[i].body.usage;
		const struct tf_usage_agg *a = &ev[i].body.agg;
		struct tfd_counter *c;

		if (ev[i].type == TF_EQ_USAGE) {
			c = counter(d, u->tenant_id, u->model_id, u->accel_id, u->outcome);
			if (!c)
				continue;
			c->requests++;
			c->prompt_tokens += u->prompt_tokens;
			c->completion_tokens += u->completion_tokens;
			c->cost_micro += (int64_t)u->cost_micro;
			d->live_tokens[sec % TFD_LIVE_SECONDS] += u->completion_tokens;
			d->live_requests[sec % TFD_LIVE_SECONDS]++;
		} else if (ev[i].type == TF_EQ_USAGE_AGG) {
			c = counter(d, a->tenant_id, a->model_id, a->accel_id, a->outcome);
			if (!c)
				continue;
			c->requests += a->requests;
			c->prompt_tokens += a->prompt_tokens;
			c->completion_tokens += a->completion_tokens;
			c->cost_micro += (int64_t)a->cost_micro;
			d->live_tokens[sec % TFD_LIVE_SECONDS] += a->completion_tokens;
			d->live_requests[sec % TFD_LIVE_SECONDS] += a->requests;
		}
	}
	pthread_mutex_unlock(&d->live_lock);
}

const char *
tfd_outcome_name(int outcome)
{
	static const char *const names[] = { "ok",	"cut_off", "cancelled", "accel_failed",
					     "timeout", "refused", "internal" };

	return outcome >= 0 && outcome <= TF_USAGE_OUTCOME_MAX ? names[outcome] : "unknown";
}

/* Label value: Prometheus escapes backslash, quote and newline. */
static void
label(struct tfd_buf *b, const char *name, const char *v)
{
	tfd_buf_printf(b, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			tfd_buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			tfd_buf_printf(b, "\\n");
		else
			tfd_buf_append(b, v, 1);
	}
	tfd_buf_append(b, "\"", 1);
}

void
tfd_name_tenant(const struct tfd_config *cfg, uint32_t id, char *buf, size_t len)
{
	const struct tfd_tenant *t = tfd_config_tenant(cfg, id);

	if (t)
		snprintf(buf, len, "%s", t->name);
	else
		snprintf(buf, len, "%u", id);
}

void
tfd_name_model(const struct tfd_config *cfg, uint32_t id, char *buf, size_t len)
{
	const struct tfd_model *m = tfd_config_model(cfg, id);

	if (m)
		snprintf(buf, len, "%s", m->name);
	else
		snprintf(buf, len, "%u", id);
}

static void
family(struct tfd_buf *b, const char *name, const char *type, const char *help)
{
	tfd_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int
state_value(int state)
{
	return state == TF_HS_UP ? 2 : state == TF_HS_DEGRADED ? 1 : 0;
}

int
tfd_metrics_render(struct tfd *d, struct tfd_buf *b)
{
	static struct tfd_health_comp comps[TFD_HEALTH_MAX];
	char tn[64], mn[64], an[32];
	struct tf_card_info info;
	unsigned int nh;
	int card_up;

	nh = tfd_health_snapshot(&d->health, comps, TFD_HEALTH_MAX);
	pthread_mutex_lock(&d->card_lock);
	info = d->info;
	card_up = d->card != NULL;
	pthread_mutex_unlock(&d->card_lock);
	pthread_rwlock_rdlock(&d->cfg_lock);
	pthread_mutex_lock(&d->live_lock);

	family(b, "tokfab_tokens_total", "counter",
	       "Tokens metered in the ledger, by tenant, model, accelerator and kind.");
	for (unsigned int i = 0; i < d->n_counters; i++) {
		const struct tfd_counter *c = &d->counters[i];
		static const char *const kinds[] = { "prompt", "completion" };

		tfd_name_tenant(d->cfg, c->tenant, tn, sizeof(tn));
		tfd_name_model(d->cfg, c->model, mn, sizeof(mn));
		snprintf(an, sizeof(an), "%u", c->accel);
		for (int k = 0; k < 2; k++) {
			tfd_buf_printf(b, "tokfab_tokens_total{");
			label(b, "tenant", tn);
			tfd_buf_printf(b, ",");
			label(b, "model", mn);
			tfd_buf_printf(b, ",");
			label(b, "accelerator", an);
			tfd_buf_printf(
				b, ",kind=\"%s\",outcome=\"%s\"} %llu\n", kinds[k],
				tfd_outcome_name(c->outcome),
				(unsigned long long)(k ? c->completion_tokens : c->prompt_tokens));
		}
	}
	family(b, "tokfab_requests_total", "counter",
	       "Requests in the ledger, by tenant, model, accelerator and outcome.");
	for (unsigned int i = 0; i < d->n_counters; i++) {
		const struct tfd_counter *c = &d->counters[i];

		tfd_name_tenant(d->cfg, c->tenant, tn, sizeof(tn));
		tfd_name_model(d->cfg, c->model, mn, sizeof(mn));
		snprintf(an, sizeof(an), "%u", c->accel);
		tfd_buf_printf(b, "tokfab_requests_total{");
		label(b, "tenant", tn);
		tfd_buf_printf(b, ",");
		label(b, "model", mn);
		tfd_buf_printf(b, ",");
		label(b, "accelerator", an);
		tfd_buf_printf(b, ",outcome=\"%s\"} %llu\n", tfd_outcome_name(c->outcome),
			       (unsigned long long)c->requests);
	}
	family(b, "tokfab_charged_micro_total", "counter",
	       "Charges to tenants in micro-units of the currency, by tenant and model.");
	for (unsigned int i = 0; i < d->n_counters; i++) {
		const struct tfd_counter *c = &d->counters[i];

		tfd_name_tenant(d->cfg, c->tenant, tn, sizeof(tn));
		tfd_name_model(d->cfg, c->model, mn, sizeof(mn));
		snprintf(an, sizeof(an), "%u", c->accel);
		tfd_buf_printf(b, "tokfab_charged_micro_total{");
		label(b, "tenant", tn);
		tfd_buf_printf(b, ",");
		label(b, "model", mn);
		tfd_buf_printf(b, ",");
		label(b, "accelerator", an);
		tfd_buf_printf(b, ",outcome=\"%s\"} %lld\n", tfd_outcome_name(c->outcome),
			       (long long)c->cost_micro);
	}

	family(b, "tokfab_card_attached", "gauge", "1 when tokfabd is attached to the card.");
	tfd_buf_printf(b, "tokfab_card_attached %d\n", card_up);
	family(b, "tokfab_card_heartbeat", "gauge", "The card's heartbeat register.");
	tfd_buf_printf(b, "tokfab_card_heartbeat %llu\n", (unsigned long long)info.heartbeat);
	family(b, "tokfab_card_boots", "gauge",
	       "Times a card process attached to the BAR (boot_count register).");
	tfd_buf_printf(b, "tokfab_card_boots %u\n", info.boot_count);
	family(b, "tokfab_event_queue_depth", "gauge", "Event queue entries.");
	tfd_buf_printf(b, "tokfab_event_queue_depth %u\n", info.eq_depth);
	family(b, "tokfab_event_queue_pending", "gauge",
	       "Events posted by the card and not yet acknowledged by tokfabd.");
	tfd_buf_printf(b, "tokfab_event_queue_pending %llu\n",
		       (unsigned long long)(info.eq_prod_seq - info.eq_freed_seq));
	family(b, "tokfab_event_queue_full_total", "counter",
	       "Events the card had to hold back because the event queue was full.");
	tfd_buf_printf(b, "tokfab_event_queue_full_total %llu\n",
		       (unsigned long long)info.eq_full_count);
	if (d->have_card_stats) {
		const struct tf_aq_card_stats *s = &d->card_stats;

		family(b, "tokfab_card_requests_total", "counter",
		       "Requests seen by the card since it started, by result.");
		tfd_buf_printf(b, "tokfab_card_requests_total{result=\"ok\"} %llu\n",
			       (unsigned long long)s->requests_ok);
		tfd_buf_printf(b, "tokfab_card_requests_total{result=\"refused\"} %llu\n",
			       (unsigned long long)s->requests_refused);
		tfd_buf_printf(b, "tokfab_card_requests_total{result=\"failed\"} %llu\n",
			       (unsigned long long)s->requests_failed);
		family(b, "tokfab_card_drops_total", "counter",
		       "Datagrams the card dropped, by reason.");
		tfd_buf_printf(b, "tokfab_card_drops_total{reason=\"malformed\"} %llu\n",
			       (unsigned long long)s->drops_malformed);
		tfd_buf_printf(b, "tokfab_card_drops_total{reason=\"auth\"} %llu\n",
			       (unsigned long long)s->drops_auth);
		tfd_buf_printf(b, "tokfab_card_drops_total{reason=\"replay\"} %llu\n",
			       (unsigned long long)s->drops_replay);
		family(b, "tokfab_card_active_requests", "gauge", "Requests running on the card.");
		tfd_buf_printf(b, "tokfab_card_active_requests %llu\n",
			       (unsigned long long)s->active_requests);
		family(b, "tokfab_card_queued_requests", "gauge",
		       "Requests waiting in the card's batches.");
		tfd_buf_printf(b, "tokfab_card_queued_requests %llu\n",
			       (unsigned long long)s->queued_requests);
	}

	family(b, "tokfab_accel_cost_per_hour_micro", "gauge",
	       "Configured operator cost of each accelerator, micro-units per hour.");
	for (uint32_t i = 0; i < d->cfg->n_accels; i++)
		tfd_buf_printf(b, "tokfab_accel_cost_per_hour_micro{accelerator=\"%u\"} %llu\n",
			       d->cfg->accels[i].id,
			       (unsigned long long)d->cfg->accels[i].cost_per_hour_micro);
	family(b, "tokfab_accel_outstanding", "gauge", "Requests in flight on each accelerator.");
	for (unsigned int i = 0; i < d->n_accels; i++)
		if (d->accels[i].have_card)
			tfd_buf_printf(b, "tokfab_accel_outstanding{accelerator=\"%u\"} %u\n",
				       d->accels[i].id, d->accels[i].st.outstanding);
	family(b, "tokfab_accel_utilisation_ratio", "gauge",
	       "Busy fraction of each accelerator over the last second.");
	for (unsigned int i = 0; i < d->n_accels; i++)
		if (d->accels[i].have_card)
			tfd_buf_printf(b,
				       "tokfab_accel_utilisation_ratio{accelerator=\"%u\"} %.6f\n",
				       d->accels[i].id, d->accels[i].st.busy_ppm / 1e6);
	family(b, "tokfab_accel_cost_per_token_micro", "gauge",
	       "Operator cost per token of each accelerator over the last hour, micro-units.");
	for (unsigned int i = 0; i < d->n_accels; i++)
		if (d->accels[i].cost_per_1k >= 0)
			tfd_buf_printf(
				b, "tokfab_accel_cost_per_token_micro{accelerator=\"%u\"} %.6f\n",
				d->accels[i].id, d->accels[i].cost_per_1k / 1000.0);

	family(b, "tokfab_tenant_budget_micro", "gauge", "Budget per period, micro-units.");
	for (uint32_t i = 0; i < d->cfg->n_tenants; i++) {
		const struct tfd_tenant *t = &d->cfg->tenants[i];

		if (t->unlimited)
			continue;
		tfd_buf_printf(b, "tokfab_tenant_budget_micro{");
		label(b, "tenant", t->name);
		tfd_buf_printf(b, "} %llu\n", (unsigned long long)t->budget_micro);
	}
	family(b, "tokfab_tenant_spent_micro", "gauge",
	       "Charged this period (ledger), micro-units.");
	for (unsigned int i = 0; i < d->n_tenants; i++) {
		tfd_name_tenant(d->cfg, d->tenants[i].id, tn, sizeof(tn));
		tfd_buf_printf(b, "tokfab_tenant_spent_micro{");
		label(b, "tenant", tn);
		tfd_buf_printf(b, "} %lld\n", (long long)d->tenants[i].spent_micro);
	}
	family(b, "tokfab_tenant_balance_micro", "gauge",
	       "Balance admission may still grant, as the card reports it, micro-units.");
	for (unsigned int i = 0; i < d->n_tenants; i++) {
		const struct tfd_tenant *t = tfd_config_tenant(d->cfg, d->tenants[i].id);

		/* An unlimited tenant has no balance (the card's figure only counts down). */
		if (!d->tenants[i].have_card || !t || t->unlimited)
			continue;
		tfd_name_tenant(d->cfg, d->tenants[i].id, tn, sizeof(tn));
		tfd_buf_printf(b, "tokfab_tenant_balance_micro{");
		label(b, "tenant", tn);
		tfd_buf_printf(b, "} %lld\n", (long long)(int64_t)d->tenants[i].info.balance_micro);
	}

	family(b, "tokfab_component_state", "gauge",
	       "Health of each component: 2 up, 1 degraded, 0 down or unknown.");
	for (unsigned int i = 0; i < nh; i++)
		tfd_buf_printf(b, "tokfab_component_state{component=\"%s\",id=\"%u\"} %d\n",
			       tfd_health_component_name(comps[i].component), comps[i].id,
			       state_value(comps[i].state));

	family(b, "tokfab_ledger_commits_total", "counter", "Ledger transactions committed.");
	tfd_buf_printf(b, "tokfab_ledger_commits_total %llu\n", (unsigned long long)d->commits);
	family(b, "tokfab_ledger_events_total", "counter", "Events newly committed to the ledger.");
	tfd_buf_printf(b, "tokfab_ledger_events_total %llu\n", (unsigned long long)d->committed);
	family(b, "tokfab_ledger_duplicates_total", "counter",
	       "Events replayed by the card that the ledger already held (skipped).");
	tfd_buf_printf(b, "tokfab_ledger_duplicates_total %llu\n",
		       (unsigned long long)d->duplicates);
	family(b, "tokfab_ledger_commit_errors_total", "counter",
	       "Ledger transactions that failed (events stay on the card).");
	tfd_buf_printf(b, "tokfab_ledger_commit_errors_total %llu\n",
		       (unsigned long long)d->commit_errors);
	family(b, "tokfab_ledger_commit_seconds_total", "counter", "Time spent committing.");
	tfd_buf_printf(b, "tokfab_ledger_commit_seconds_total %.6f\n", d->commit_ns_total / 1e9);
	family(b, "tokfab_bad_events_total", "counter",
	       "Card events rejected for breaking hwdocs/usage-record.md.");
	tfd_buf_printf(b, "tokfab_bad_events_total %llu\n", (unsigned long long)d->bad_events);
	pthread_mutex_unlock(&d->live_lock);
	pthread_rwlock_unlock(&d->cfg_lock);
	return b->oom ? -ENOMEM : 0;
}
