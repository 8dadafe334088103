/* SPDX-License-Identifier: BSD-3-Clause */
/* Health state machines and the card heartbeat watchdog. */
#include "tokfabd/health.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>

void
tfd_health_init(struct tfd_health *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
}

const char *
tfd_health_state_name(int state)
{
	switch (state) {
	case TF_HS_UP:
		return "up";
	case TF_HS_DEGRADED:
		return "degraded";
	case TF_HS_DOWN:
		return "down";
	default:
		return "unknown";
	}
}

const char *
tfd_health_component_name(int component)
{
	switch (component) {
	case TF_HC_CARD:
		return "card";
	case TF_HC_PORT:
		return "port";
	case TF_HC_ACCEL:
		return "accelerator";
	case TFD_HC_LEDGER:
		return "ledger";
	case TFD_HC_LINK:
		return "card-link";
	default:
		return "component";
	}
}

const char *
tfd_health_reason_name(uint32_t reason)
{
	static const char *const names[] = {
		"none",		  "started",	   "stopping", "heartbeat lost",
		"heartbeat back", "link down",	   "link up",  "error rate above threshold",
		"overloaded",	  "configuration", "other",
	};

	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "unknown";
}

int
tfd_health_set(struct tfd_health *h, int component, uint32_t id, int state, const char *reason,
	       uint64_t now_ns)
{
	struct tfd_health_comp *c = NULL;
	int old, changed = 0;

	pthread_mutex_lock(&h->lock);
	for (unsigned int i = 0; i < h->n; i++)
		if (h->c[i].component == component && h->c[i].id == id)
			c = &h->c[i];
	if (!c && h->n < TFD_HEALTH_MAX) {
		c = &h->c[h->n++];
		memset(c, 0, sizeof(*c));
		c->component = component;
		c->id = id;
	}
	if (c && c->state != state) {
		old = c->state;
		c->state = state;
		c->since_ns = now_ns;
		c->changes++;
		snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
		changed = 1;
		if (state == TF_HS_UP)
			tf_log_info("health: %s %u: %s -> %s: %s",
				    tfd_health_component_name(component), id,
				    tfd_health_state_name(old), tfd_health_state_name(state),
				    c->reason);
		else
			tf_log_warnx("health: %s %u: %s -> %s: %s",
				     tfd_health_component_name(component), id,
				     tfd_health_state_name(old), tfd_health_state_name(state),
				     c->reason);
	} else if (c && reason && strcmp(c->reason, reason)) {
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
	}
	pthread_mutex_unlock(&h->lock);
	return changed;
}

unsigned int
tfd_health_snapshot(struct tfd_health *h, struct tfd_health_comp *out, unsigned int max)
{
	unsigned int n;

	pthread_mutex_lock(&h->lock);
	n = h->n < max ? h->n : max;
	memcpy(out, h->c, n * sizeof(*out));
	pthread_mutex_unlock(&h->lock);
	return n;
}

int
tfd_health_get(struct tfd_health *h, int component, uint32_t id)
{
	int st = 0;

	pthread_mutex_lock(&h->lock);
	for (unsigned int i = 0; i < h->n; i++)
		if (h->c[i].component == component && h->c[i].id == id)
			st = h->c[i].state;
	pthread_mutex_unlock(&h->lock);
	return st;
}

int
tfd_watchdog_check(struct tfd_watchdog *w, uint64_t hb, uint64_t now_ms, uint32_t period_ms,
		   uint32_t periods)
{
	if (!w->armed || hb != w->last_hb) {
		w->armed = 1;
		w->last_hb = hb;
		w->last_change_ms = now_ms;
		return 1;
	}
	return now_ms - w->last_change_ms <= (uint64_t)period_ms * periods;
}
