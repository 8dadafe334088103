/* SPDX-License-Identifier: BSD-3-Clause */
/* The event pump: read -> pending (group commit) -> one transaction -> acknowledge. */
#include "tokfabd/events.h"

#include "common/log.h"
#include "tokfabd/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
tfd_events_init(struct tfd_events *e, uint32_t batch_max, uint32_t interval_ms)
{
	memset(e, 0, sizeof(*e));
	e->cap = batch_max ? batch_max : 1;
	e->interval_ms = interval_ms;
	e->ev = calloc(e->cap, sizeof(*e->ev));
	if (!e->ev)
		return -ENOMEM;
	tfd_gc_init(&e->gc, e->cap, 0, interval_ms);
	return 0;
}

void
tfd_events_fini(struct tfd_events *e)
{
	free(e->ev);
	e->ev = NULL;
}

void
tfd_events_attach(struct tfd_events *e, const char *serial, uint64_t epoch, uint32_t eq_depth)
{
	snprintf(e->serial, sizeof(e->serial), "%s", serial);
	e->epoch = epoch;
	tfd_gc_init(&e->gc, e->cap, eq_depth, e->interval_ms);
}

int
tfd_events_read(struct tfd *d, struct tfd_events *e, uint64_t now_us)
{
	uint32_t room = e->gc.max_events - e->gc.pending;
	const char *why = NULL;
	int n;

	if (!room)
		return 0;
	/*
	 * No card_lock: the event side of a handle runs beside the admin side
	 * (card/host.h), and only this thread opens and closes d->card.
	 */
	n = tf_card_events(d->card, e->ev + e->gc.pending, room, &why);
	if (n == -EPROTO) {
		if (tfd_health_set(&d->health, TF_HC_CARD, 0, TF_HS_DEGRADED,
				   why ? why : "bad event", tfd_now_ns()))
			tf_log_warnx("card event at seq %llu breaks hwdocs/usage-record.md (%s); "
				     "not consuming further events until the card is fixed",
				     (unsigned long long)d->card->broken_seq, why ? why : "?");
		pthread_mutex_lock(&d->live_lock);
		d->bad_events = d->card->bad_events;
		pthread_mutex_unlock(&d->live_lock);
		n = 0;
	}
	if (n < 0)
		return n;
	tfd_gc_read(&e->gc, (uint32_t)n, now_us);
	return n;
}

/* Health events also drive the state machines. */
static void
apply_health(struct tfd *d, const struct tf_eq_entry *ev, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (ev[i].type == TF_EQ_HEALTH) {
			const struct tf_health_event *h = &ev[i].body.health;
			char reason[TFD_REASON_LEN];

			snprintf(reason, sizeof(reason), "%s%s%s",
				 tfd_health_reason_name(h->reason), h->detail[0] ? ": " : "",
				 h->detail);
			tfd_health_set(&d->health, h->component, h->component_id, h->state, reason,
				       h->time_ns);
		}
}

int
tfd_events_commit(struct tfd *d, struct tfd_events *e)
{
	struct tfd_commit_result res;
	uint32_t n = e->gc.pending;
	uint64_t t0, t1;
	int rc;

	if (!n)
		return 0;
	t0 = tfd_mono_us();
	rc = tfd_ledger_commit(d->ledger, e->serial, e->epoch, e->ev, n, &res);
	t1 = tfd_mono_us();
	if (rc < 0) {
		/* Kept pending and unacknowledged: the next try commits them. */
		tfd_health_set(&d->health, TFD_HC_LEDGER, 0, TF_HS_DOWN,
			       tfd_ledger_errmsg(d->ledger), tfd_now_ns());
		pthread_mutex_lock(&d->live_lock);
		d->commit_errors++;
		pthread_mutex_unlock(&d->live_lock);
		return rc;
	}
	tfd_health_set(&d->health, TFD_HC_LEDGER, 0, TF_HS_UP, "committing", tfd_now_ns());
	if (d->card) {
		rc = d->card->ops->event_ack(d->card, res.max_seq);
		if (rc < 0)
			tf_log_warnx("acknowledging seq %llu: %s", (unsigned long long)res.max_seq,
				     tf_card_strerror(rc));
	}
	tfd_metrics_count(d, e->ev, n);
	pthread_mutex_lock(&d->live_lock);
	d->commits++;
	d->committed += res.inserted;
	d->duplicates += res.duplicates;
	d->commit_ns_total += (t1 - t0) * 1000ull;
	d->acked_seq = res.max_seq;
	pthread_mutex_unlock(&d->live_lock);
	apply_health(d, e->ev, n);
	tfd_gc_committed(&e->gc);
	return 0;
}

int
tfd_events_drain(struct tfd *d, struct tfd_events *e, uint64_t now_us)
{
	int n, rc;

	for (;;) {
		rc = tfd_events_commit(d, e);
		if (rc < 0)
			return rc;
		if (d->stop)
			return 0;
		n = tfd_events_read(d, e, now_us);
		if (n <= 0)
			return n;
	}
}

void
tfd_events_discard(struct tfd_events *e)
{
	tfd_gc_committed(&e->gc);
}
