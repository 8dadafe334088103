/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card thread: attach, reset handshake, push configuration, then loop:
 * read events -> group commit to the ledger -> acknowledge (events.c); every
 * housekeeping period (tfd_card_house_ms: a fifth of the heartbeat watchdog's
 * timeout) read the registers and watch the heartbeat; every second poll stats
 * and balances, reset budget periods; every hour prune. It sleeps while events
 * wait for their group (group_commit.h) and, when the card is idle, in the
 * access path's event_wait (kmod: poll() on the event interrupt; shm: a
 * back-off on the producer register, naps bounded by tfd_card_nap_ms). Every
 * sleep also waits on d->wake_fd: what the host starts (a reload, SIGTERM)
 * wakes the thread at once (tfd_card_wake) instead of at its next tick.
 */
#include "card/check.h"
#include "common/log.h"
#include "tokfabd/daemon.h"
#include "tokfabd/quota.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define REOPEN_MS 1000
#define SLOW_MS 1000 /* stats, balances, budget periods */

uint32_t
tfd_card_house_ms(uint32_t hb_period_ms, uint32_t watchdog_periods)
{
	uint64_t t = (uint64_t)hb_period_ms * watchdog_periods / TFD_HOUSE_DIV;

	if (t < TFD_HOUSE_MIN_MS)
		return TFD_HOUSE_MIN_MS;
	return t > TFD_HOUSE_MAX_MS ? TFD_HOUSE_MAX_MS : (uint32_t)t;
}

uint32_t
tfd_card_nap_ms(uint32_t records, uint32_t aggregate_ms, uint32_t commit_interval_ms)
{
	uint32_t t = commit_interval_ms;

	if (records == TF_USAGE_MODE_AGGREGATE && aggregate_ms < t)
		t = aggregate_ms;
	return t < TFD_NAP_MIN_MS ? TFD_NAP_MIN_MS : t > TFD_NAP_MAX_MS ? TFD_NAP_MAX_MS : t;
}

void
tfd_card_wake(struct tfd *d)
{
	uint64_t one = 1;

	if (__atomic_load_n(&d->wake_ready, __ATOMIC_ACQUIRE) &&
	    write(d->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		tf_log_warn("waking the card thread");
}

/* Empties the wake eventfd (the thread acts on what the flags say). */
static void
wake_drain(struct tfd *d)
{
	uint64_t v;

	if (read(d->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		tf_log_warn("reading the card thread's wake-up");
}

uint64_t
tfd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
tfd_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
tfd_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t
admin_timeout(struct tfd *d)
{
	uint32_t t;

	pthread_rwlock_rdlock(&d->cfg_lock);
	t = d->cfg->admin_timeout_ms;
	pthread_rwlock_unlock(&d->cfg_lock);
	return t;
}

int
tfd_card_cmd(struct tfd *d, uint16_t opcode, const void *req, void *resp, size_t resp_size,
	     uint16_t *status, uint32_t *detail)
{
	int timeout = (int)admin_timeout(d);
	int rc;

	pthread_mutex_lock(&d->card_lock);
	if (!d->card)
		rc = -ENOTCONN;
	else
		rc = tf_card_cmd(d->card, opcode, req, resp, resp_size, status, detail, timeout);
	pthread_mutex_unlock(&d->card_lock);
	/* Anything but a read may change what poll_live shows: it asks again. */
	if (opcode != TF_AQ_IDENTIFY && opcode != TF_AQ_GET_HEALTH && opcode != TF_AQ_GET_STATS &&
	    opcode != TF_AQ_GET_TENANT && opcode != TF_AQ_FW_INFO)
		tfd_live_changed(d);
	return rc;
}

void
tfd_live_changed(struct tfd *d)
{
	__atomic_add_fetch(&d->live_changes, 1, __ATOMIC_ACQ_REL);
}

/*
 * What the per-tenant figures depend on besides the configuration: the card's
 * request and event counters (every admitted, refused or finished request
 * moves one), what the ledger committed, and every change the host made
 * (tfd_live_changed). Equal twice: no tenant's figures moved in between.
 */
static uint64_t
live_fingerprint(struct tfd *d, const struct tf_aq_card_stats *cs)
{
	uint64_t f = 0xcbf29ce484222325ull;
	const uint64_t v[] = { cs->rx_requests,
			       cs->requests_ok,
			       cs->requests_refused,
			       cs->requests_failed,
			       cs->active_requests,
			       cs->queued_requests,
			       cs->eq_posted,
			       cs->eq_acked,
			       __atomic_load_n(&d->live_changes, __ATOMIC_ACQUIRE),
			       d->committed,
			       d->card_resets,
			       (uint64_t)d->card_ready };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		f = (f ^ v[i]) * 0x100000001b3ull;
	return f;
}

/* Runs a command and turns a non-OK status into a sentence. */
static int
cmd_ok(struct tfd *d, uint16_t opcode, const void *req, void *resp, size_t size, char *err,
       size_t errlen)
{
	uint16_t st = 0;
	uint32_t detail = 0;
	int rc = tfd_card_cmd(d, opcode, req, resp, size, &st, &detail);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", tf_aq_opcode_name(opcode), tf_card_strerror(rc));
		return rc;
	}
	if (st != TF_AQ_S_OK) {
		snprintf(err, errlen, "%s: card answered %s (detail %u): %s",
			 tf_aq_opcode_name(opcode), tf_aq_status_name(st), detail,
			 tf_aq_status_help(st));
		return -EREMOTEIO;
	}
	return 0;
}

/*
 * ledger.records. A card without usage aggregation (ABI < 1.2) only knows
 * per-request records: fine unless the operator asked for aggregates.
 */
static int
push_usage_mode(struct tfd *d, const struct tfd_config *cfg, char *err, size_t errlen)
{
	struct tf_aq_set_usage_mode c = { .mode = cfg->ledger_records };
	int rc;

	if (!(d->info.card_features & TF_FEAT_USAGE_AGG)) {
		if (cfg->ledger_records == TF_USAGE_MODE_REQUEST)
			return 0;
		snprintf(err, errlen,
			 "ledger.records: aggregate needs a card with usage aggregation (ABI 1.2, "
			 "feature bit 5); this card has ABI %u.%u: update its firmware or use "
			 "records: request",
			 TF_ABI_VERSION_MAJOR(d->info.abi_version),
			 TF_ABI_VERSION_MINOR(d->info.abi_version));
		return -EOPNOTSUPP;
	}
	if (c.mode == TF_USAGE_MODE_AGGREGATE)
		c.aggregate_ms = cfg->ledger_aggregate_ms;
	rc = cmd_ok(d, TF_AQ_SET_USAGE_MODE, &c, NULL, 0, err, errlen);
	if (rc == -EINVAL && c.mode == TF_USAGE_MODE_REQUEST) {
		/*
		 * The access path itself refused the opcode: a host driver older
		 * than ABI 1.2 in front of a newer card. Per-request records are
		 * what such a card starts with, so carry on, and say so.
		 */
		tf_log_warnx("%s; the card keeps its current usage mode (per-request records "
			     "after a restart): update tokfab.ko to use ledger.records: aggregate",
			     err);
		return 0;
	}
	return rc;
}

static void
meta_key(char *buf, size_t len, uint32_t tenant, const char *what)
{
	snprintf(buf, len, "tenant.%u.%s", tenant, what);
}

/* Period start of a tenant as stored in the ledger (0 = never stored). */
static uint64_t
stored_period_start(struct tfd_ledger *l, uint32_t tenant)
{
	char key[64], val[32];

	meta_key(key, sizeof(key), tenant, "period_start");
	if (tfd_ledger_meta_get(l, key, val, sizeof(val)) < 0)
		return 0;
	return strtoull(val, NULL, 10);
}

static void
store_period_start(struct tfd_ledger *l, uint32_t tenant, uint64_t start)
{
	char key[64], val[32];

	meta_key(key, sizeof(key), tenant, "period_start");
	snprintf(val, sizeof(val), "%llu", (unsigned long long)start);
	tfd_ledger_meta_set(l, key, val);
}

int
tfd_card_push_tenant(struct tfd *d, struct tfd_ledger *l, const struct tfd_config *cfg,
		     const struct tfd_tenant *t, int set_balance, char *err, size_t errlen)
{
	struct tf_aq_set_tenant c;
	struct tf_aq_tenant_info info;
	char key[64], hex[2 * TF_KEY_MAX + 1], until[32];
	uint64_t budget = tfd_tenant_budget(l, t);
	int rc;

	(void)cfg;
	memset(&c, 0, sizeof(c));
	c.tenant_id = t->id;
	snprintf(c.name, sizeof(c.name), "%s", t->name);
	c.key_len = t->key_len;
	memcpy(c.key, t->key, t->key_len);
	c.key_id = tfd_tenant_key_id(l, t);
	/* A rotation in its grace period: the previous key is still accepted. */
	meta_key(key, sizeof(key), t->id, "prev_key_until");
	if (tfd_ledger_meta_get(l, key, until, sizeof(until)) == 0 &&
	    strtoull(until, NULL, 10) > tfd_now_ns()) {
		size_t len = 0;

		meta_key(key, sizeof(key), t->id, "prev_key");
		if (tfd_ledger_meta_get(l, key, hex, sizeof(hex)) == 0 &&
		    tfd_hex_decode(hex, c.prev_key, sizeof(c.prev_key), &len) == 0 &&
		    len >= TF_KEY_MIN) {
			c.prev_key_len = (uint16_t)len;
			c.prev_key_id = (uint8_t)(c.key_id - 1);
		}
		explicit_bzero(hex, sizeof(hex));
	}
	if (t->unlimited)
		c.flags |= TF_TENANT_F_UNLIMITED;
	else
		c.budget_micro = budget;
	if (t->disabled)
		c.flags |= TF_TENANT_F_DISABLED;
	if (set_balance && !t->unlimited) {
		uint64_t start = tfd_period_start(t->period, tfd_now_ns());
		int64_t spent = 0, topups = 0;

		if (tfd_ledger_spent(l, t->id, start, &spent) < 0 ||
		    tfd_ledger_topups(l, t->id, start, &topups) < 0) {
			snprintf(err, errlen, "tenant %u: ledger: %s", t->id, tfd_ledger_errmsg(l));
			return -EIO;
		}
		c.flags |= TF_TENANT_F_SET_BALANCE;
		c.balance_micro = tfd_quota_reseed(budget, topups, spent);
	}
	c.rate_rps = t->rate_rps;
	c.burst_requests = t->burst_requests;
	c.rate_tps = t->rate_tps;
	c.burst_tokens = t->burst_tokens;
	c.priority = t->priority;
	c.max_inflight = t->max_inflight;
	c.mac_algs = t->mac_algs;
	c.n_prices = t->n_prices;
	for (uint32_t i = 0; i < t->n_prices; i++) {
		c.prices[i].model_id = t->prices[i].model_id;
		c.prices[i].price_per_1k_micro = t->prices[i].price_per_1k_micro;
	}
	rc = cmd_ok(d, TF_AQ_SET_TENANT, &c, &info, sizeof(info), err, errlen);
	explicit_bzero(&c, sizeof(c));
	return rc;
}

/* Pushes the whole configuration; removes what the previous push had and this one lacks. */
static int
push_config(struct tfd *d, int set_balance)
{
	struct tfd_config *prev = d->pushed, *cfg;
	char err[512];
	int rc = 0;

	pthread_rwlock_rdlock(&d->cfg_lock);
	cfg = d->cfg;
	if (prev && !set_balance) {
		struct tf_aq_id id = { 0 };

		for (uint32_t i = 0; i < prev->n_tenants && !rc; i++)
			if (!tfd_config_tenant(cfg, prev->tenants[i].id)) {
				id.id = prev->tenants[i].id;
				rc = cmd_ok(d, TF_AQ_DEL_TENANT, &id, NULL, 0, err, sizeof(err));
			}
		for (uint32_t i = 0; i < prev->n_accels && !rc; i++)
			if (!tfd_config_accel(cfg, prev->accels[i].id)) {
				id.id = prev->accels[i].id;
				rc = cmd_ok(d, TF_AQ_DEL_ACCEL, &id, NULL, 0, err, sizeof(err));
			}
		for (uint32_t i = 0; i < prev->n_models && !rc; i++)
			if (!tfd_config_model(cfg, prev->models[i].id)) {
				id.id = prev->models[i].id;
				rc = cmd_ok(d, TF_AQ_DEL_MODEL, &id, NULL, 0, err, sizeof(err));
			}
	}
	for (uint32_t i = 0; i < cfg->n_models && !rc; i++) {
		struct tf_aq_set_model m = { .model_id = cfg->models[i].id,
					     .max_prompt_tokens = cfg->models[i].max_prompt_tokens,
					     .max_new_tokens = cfg->models[i].max_new_tokens };

		snprintf(m.name, sizeof(m.name), "%s", cfg->models[i].name);
		rc = cmd_ok(d, TF_AQ_SET_MODEL, &m, NULL, 0, err, sizeof(err));
	}
	for (uint32_t i = 0; i < cfg->n_accels && !rc; i++) {
		const struct tfd_accel *a = &cfg->accels[i];
		struct tf_aq_set_accel c = { .accel_id = a->id,
					     .transport = a->transport,
					     .cost_per_hour_micro = a->cost_per_hour_micro,
					     .weight = a->weight,
					     .max_outstanding = a->max_outstanding,
					     .n_models = a->n_models };

		snprintf(c.address, sizeof(c.address), "%s", a->address);
		memcpy(c.models, a->models, a->n_models * sizeof(uint32_t));
		rc = cmd_ok(d, TF_AQ_SET_ACCEL, &c, NULL, 0, err, sizeof(err));
	}
	if (!rc && cfg->has_batching)
		rc = cmd_ok(d, TF_AQ_SET_BATCHING, &cfg->batching, NULL, 0, err, sizeof(err));
	if (!rc)
		rc = push_usage_mode(d, cfg, err, sizeof(err));
	for (uint32_t i = 0; i < cfg->n_tenants && !rc; i++)
		rc = tfd_card_push_tenant(d, d->ledger, cfg, &cfg->tenants[i], set_balance, err,
					  sizeof(err));
	if (!rc) {
		/* Keep a copy of the ids for the next diff. */
		struct tfd_config *copy = calloc(1, sizeof(*copy));

		if (copy) {
			copy->n_models = cfg->n_models;
			copy->n_accels = cfg->n_accels;
			copy->n_tenants = cfg->n_tenants;
			copy->models = calloc(cfg->n_models + 1, sizeof(*copy->models));
			copy->accels = calloc(cfg->n_accels + 1, sizeof(*copy->accels));
			copy->tenants = calloc(cfg->n_tenants + 1, sizeof(*copy->tenants));
			for (uint32_t i = 0; copy->models && i < cfg->n_models; i++)
				copy->models[i].id = cfg->models[i].id;
			for (uint32_t i = 0; copy->accels && i < cfg->n_accels; i++)
				copy->accels[i].id = cfg->accels[i].id;
			for (uint32_t i = 0; copy->tenants && i < cfg->n_tenants; i++)
				copy->tenants[i].id = cfg->tenants[i].id;
			if (!copy->models || !copy->accels || !copy->tenants) {
				tfd_config_free(copy);
				copy = NULL;
			}
		}
		tfd_config_free(prev);
		d->pushed = copy;
	}
	pthread_rwlock_unlock(&d->cfg_lock);
	pthread_mutex_lock(&d->live_lock);
	if (rc)
		d->config_push_errors++;
	else
		d->config_pushes++;
	pthread_mutex_unlock(&d->live_lock);
	if (rc) {
		tf_log_warnx("configuring the card failed: %s", err);
		tfd_health_set(&d->health, TFD_HC_LINK, 0, TF_HS_DEGRADED, err, tfd_now_ns());
	}
	return rc;
}

static void
card_close(struct tfd *d, const char *why)
{
	/* What was read from this handle is committed (and acknowledged) first. */
	if (tfd_events_commit(d, &d->events) < 0)
		tfd_events_discard(&d->events); /* unacknowledged: the card re-posts them */
	pthread_mutex_lock(&d->card_lock);
	tf_card_host_close(d->card);
	d->card = NULL;
	d->card_ready = 0;
	pthread_mutex_unlock(&d->card_lock);
	tfd_health_set(&d->health, TF_HC_CARD, 0, TF_HS_DOWN, why, tfd_now_ns());
	tfd_health_set(&d->health, TFD_HC_LINK, 0, TF_HS_DOWN, why, tfd_now_ns());
}

static int
card_open(struct tfd *d)
{
	struct tf_card_host *h = NULL;
	char spec[PATH_MAX], msg[PATH_MAX + 512];
	const char *why = NULL;
	int rc;

	pthread_rwlock_rdlock(&d->cfg_lock);
	snprintf(spec, sizeof(spec), "%s", d->cfg->card_access);
	pthread_rwlock_unlock(&d->cfg_lock);
	rc = tf_card_host_open(spec, &h, &why);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "cannot attach (%s): %s", spec, why ? why : "?");
		tfd_health_set(&d->health, TFD_HC_LINK, 0, TF_HS_DOWN, msg, tfd_now_ns());
		return rc;
	}
	pthread_mutex_lock(&d->card_lock);
	d->card = h;
	rc = h->ops->info(h, &d->info);
	pthread_mutex_unlock(&d->card_lock);
	tfd_events_attach(&d->events, d->info.serial, d->info.epoch, d->info.eq_depth);
	tf_log_info(
		"attached to card %s (%s): firmware %s, epoch %016llx, boot %u, events %llu..%llu",
		d->info.serial, h->target, d->info.fw_version_str,
		(unsigned long long)d->info.epoch, d->info.boot_count,
		(unsigned long long)d->info.eq_ack_seq + 1,
		(unsigned long long)d->info.eq_prod_seq);
	snprintf(msg, sizeof(msg), "attached through %s", h->target);
	tfd_health_set(&d->health, TFD_HC_LINK, 0, TF_HS_UP, msg, tfd_now_ns());
	return rc;
}

/* Reset handshake, drain what is pending, then configure the card. */
static int
card_bring_up(struct tfd *d)
{
	char key[96], val[64], seen[64];
	int rc, set_balance;

	pthread_mutex_lock(&d->card_lock);
	rc = d->card->ops->reset(d->card, (int)admin_timeout(d) * 2);
	if (rc == 0)
		rc = d->card->ops->info(d->card, &d->info);
	pthread_mutex_unlock(&d->card_lock);
	if (rc < 0) {
		tfd_health_set(&d->health, TFD_HC_LINK, 0, TF_HS_DEGRADED, tf_card_strerror(rc),
			       tfd_now_ns());
		return rc;
	}
	pthread_mutex_lock(&d->live_lock);
	d->card_resets++;
	pthread_mutex_unlock(&d->live_lock);
	/* Commit what the card holds first, so re-seeded balances include it. */
	tfd_events_drain(d, &d->events, tfd_mono_us());
	/* Did the card lose its tables since we last configured it? */
	snprintf(key, sizeof(key), "card.%s.configured", d->info.serial);
	snprintf(val, sizeof(val), "%016llx:%u", (unsigned long long)d->info.epoch,
		 d->info.boot_count);
	set_balance = tfd_ledger_meta_get(d->ledger, key, seen, sizeof(seen)) < 0 ||
		      strcmp(seen, val) != 0;
	rc = push_config(d, set_balance);
	if (rc == 0) {
		tfd_ledger_meta_set(d->ledger, key, val);
		pthread_mutex_lock(&d->card_lock);
		d->card_ready = 1;
		pthread_mutex_unlock(&d->card_lock);
		tf_log_info("card %s configured%s", d->info.serial,
			    set_balance ? " (balances re-seeded from the ledger)" : "");
	}
	return rc;
}

/* New budget periods: reset the card's balance and remember the period start. */
static void
period_resets(struct tfd *d)
{
	uint64_t now = tfd_now_ns();

	pthread_rwlock_rdlock(&d->cfg_lock);
	for (uint32_t i = 0; i < d->cfg->n_tenants; i++) {
		const struct tfd_tenant *t = &d->cfg->tenants[i];
		uint64_t cur = tfd_period_start(t->period, now);
		uint64_t stored = stored_period_start(d->ledger, t->id);

		char key[64], until[32], err[256];

		/* A key rotation's grace period ended: drop the previous key on the card. */
		meta_key(key, sizeof(key), t->id, "prev_key_until");
		if (tfd_ledger_meta_get(d->ledger, key, until, sizeof(until)) == 0 &&
		    strcmp(until, "0") && strtoull(until, NULL, 10) <= now) {
			if (tfd_card_push_tenant(d, d->ledger, d->cfg, t, 0, err, sizeof(err)) ==
			    0) {
				tfd_ledger_meta_set(d->ledger, key, "0");
				tf_log_info("tenant %s: key rotation grace over, old key removed",
					    t->name);
			}
		}
		if (stored == cur)
			continue;
		if (stored && stored < cur && !t->unlimited) {
			struct tf_aq_tenant_balance b = { .tenant_id = t->id,
							  .op = TF_BALANCE_RESET_PERIOD };
			struct tf_aq_tenant_info info;

			if (cmd_ok(d, TF_AQ_TENANT_BALANCE, &b, &info, sizeof(info), err,
				   sizeof(err)) < 0) {
				tf_log_warnx("tenant %s: period reset: %s (will retry)", t->name,
					     err);
				continue;
			}
			tfd_ledger_balance_log(d->ledger, t->id, "reset", 0, now);
			tf_log_info("tenant %s: new %s period, balance reset to its budget",
				    t->name, tfd_period_name(t->period));
		}
		store_period_start(d->ledger, t->id, cur);
	}
	pthread_rwlock_unlock(&d->cfg_lock);
}

#define LIVE_TENANTS_PER_S 256

/* Last second's figures of tenant id, at index i of the configuration then (card thread). */
static const struct tfd_tenant_live *
live_tenant(const struct tfd *d, uint32_t i, uint32_t id)
{
	if (i < d->n_tenants && d->tenants[i].id == id)
		return &d->tenants[i];
	for (uint32_t k = 0; k < d->n_tenants; k++)
		if (d->tenants[k].id == id)
			return &d->tenants[k];
	return NULL;
}

/*
 * Once a second: card stats, accelerator stats, tenant balances, ledger sums.
 * The tenants' figures are asked for again only when something they depend on
 * moved (live_fingerprint) or some tenant has not been asked since it did: an
 * idle card costs one GET_STATS per accelerator and one for the card a second.
 */
static void
poll_live(struct tfd *d)
{
	struct tf_aq_get_stats gs = { .scope = TF_STATS_CARD };
	struct tf_aq_card_stats cs;
	struct tfd_tenant_live *tl;
	struct tfd_accel_live *al;
	uint64_t now = tfd_now_ns(), fp = 0;
	uint32_t nt, na;
	uint16_t st;
	uint32_t detail;
	int have_cs, unchanged;

	/* First, so that what moves during the poll makes the next one ask again. */
	have_cs = d->card_ready &&
		  tfd_card_cmd(d, TF_AQ_GET_STATS, &gs, &cs, sizeof(cs), &st, &detail) == 0 &&
		  st == TF_AQ_S_OK;
	pthread_mutex_lock(&d->live_lock);
	fp = live_fingerprint(d, have_cs ? &cs : &(struct tf_aq_card_stats){ 0 });
	pthread_mutex_unlock(&d->live_lock);
	if (!have_cs || fp != d->live_fp) {
		d->live_fp = fp;
		d->live_stale = UINT32_MAX; /* every tenant, once */
	}
	pthread_rwlock_rdlock(&d->cfg_lock);
	nt = d->cfg->n_tenants;
	na = d->cfg->n_accels;
	tl = calloc(nt + 1, sizeof(*tl));
	al = calloc(na + 1, sizeof(*al));
	if (!tl || !al)
		goto out;
	if (d->live_stale > nt)
		d->live_stale = nt;
	unchanged = d->live_stale == 0 && d->n_tenants == nt;
	/*
	 * At most LIVE_TENANTS_PER_S tenants are asked each second (an admin
	 * command and two ledger reads each, ~40 us): round-robin, the others
	 * keep last second's figures. Up to that many tenants every one is fresh
	 * each second; 2000 tenants take 8 s.
	 */
	if (d->live_cursor >= nt)
		d->live_cursor = 0;
	for (uint32_t k = 0; k < nt; k++) {
		uint32_t i = (d->live_cursor + k) % nt;
		const struct tfd_tenant *t = &d->cfg->tenants[i];
		struct tf_aq_id id = { .id = t->id };
		const struct tfd_tenant_live *prev = live_tenant(d, i, t->id);

		tl[i].id = t->id;
		tl[i].period_start_ns = tfd_period_start(t->period, now);
		if ((k >= LIVE_TENANTS_PER_S || unchanged) && prev &&
		    prev->period_start_ns == tl[i].period_start_ns) {
			tl[i] = *prev;
			continue;
		}
		tfd_ledger_spent(d->ledger, t->id, tl[i].period_start_ns, &tl[i].spent_micro);
		tfd_ledger_topups(d->ledger, t->id, tl[i].period_start_ns, &tl[i].topups_micro);
		if (d->card_ready &&
		    tfd_card_cmd(d, TF_AQ_GET_TENANT, &id, &tl[i].info, sizeof(tl[i].info), &st,
				 &detail) == 0 &&
		    st == TF_AQ_S_OK)
			tl[i].have_card = 1;
	}
	if (!unchanged) {
		uint32_t asked = nt < LIVE_TENANTS_PER_S ? nt : LIVE_TENANTS_PER_S;

		d->live_stale = d->live_stale > asked ? d->live_stale - asked : 0;
		d->live_cursor =
			nt > LIVE_TENANTS_PER_S ? (d->live_cursor + LIVE_TENANTS_PER_S) % nt : 0;
	}
	for (uint32_t i = 0; i < na; i++) {
		const struct tfd_accel *a = &d->cfg->accels[i];
		struct tf_aq_get_stats q = { .scope = TF_STATS_ACCEL, .id = a->id };
		/* Window: from the start of the previous hour until now (rollup hours). */
		uint64_t from = tfd_period_start(TFD_PERIOD_HOUR, now) - 3600000000000ull;
		int64_t tokens = 0;

		al[i].id = a->id;
		if (d->card_ready &&
		    tfd_card_cmd(d, TF_AQ_GET_STATS, &q, &al[i].st, sizeof(al[i].st), &st,
				 &detail) == 0 &&
		    st == TF_AQ_S_OK) {
			al[i].have_card = 1;
			tfd_health_set(&d->health, TF_HC_ACCEL, a->id, al[i].st.state,
				       "reported by the card", now);
		}
		al[i].cost_per_1k = -1;
		if (tfd_ledger_accel_tokens(d->ledger, a->id, from, &tokens) == 0) {
			al[i].tokens_hour = (uint64_t)tokens;
			al[i].cost_per_1k = tfd_accel_cost_per_1k(a->cost_per_hour_micro,
								  (now - from) / 1000000000ull,
								  (uint64_t)tokens);
		}
	}
out:
	pthread_rwlock_unlock(&d->cfg_lock);
	if (have_cs) {
		pthread_mutex_lock(&d->live_lock);
		d->card_stats = cs;
		d->have_card_stats = 1;
		pthread_mutex_unlock(&d->live_lock);
	}
	if (!tl || !al) {
		free(tl);
		free(al);
		return;
	}
	pthread_mutex_lock(&d->live_lock);
	free(d->tenants);
	free(d->accels);
	d->tenants = tl;
	d->n_tenants = nt;
	d->accels = al;
	d->n_accels = na;
	pthread_mutex_unlock(&d->live_lock);
}

/* The card thread's state between loops. */
struct loop {
	struct tfd_watchdog wd;
	uint64_t last_open, last_slow, last_prune, last_bringup, next_house;
	uint64_t hb_open;
	uint32_t boot;
	int alive; /* the heartbeat moved since we attached */
};

/* Registers, watchdog, health, (re)configuration: every tfd_card_house_ms. */
static void
housekeeping(struct tfd *d, struct loop *lp, uint64_t now)
{
	struct tf_card_info in;
	uint32_t periods;
	int rc;

	pthread_mutex_lock(&d->card_lock);
	rc = d->card->ops->info(d->card, &in);
	if (rc == 0)
		d->info = in;
	pthread_mutex_unlock(&d->card_lock);
	pthread_rwlock_rdlock(&d->cfg_lock);
	periods = d->cfg->watchdog_periods;
	pthread_rwlock_unlock(&d->cfg_lock);
	if (rc == -ENODEV) {
		card_close(d, "the card re-created its BAR; re-attaching");
		return;
	}
	if (!lp->alive && in.heartbeat != lp->hb_open)
		lp->alive = 1;
	if (!tfd_watchdog_check(&lp->wd, in.heartbeat, now, in.hb_period_ms, periods)) {
		int changed = tfd_health_set(&d->health, TF_HC_CARD, 0, TF_HS_DOWN,
					     (in.status & TF_STATUS_STOPPING)
						     ? "card stopped (orderly)"
						     : "heartbeat stopped: the card is silent",
					     tfd_now_ns());

		/* A silent card may come back as a new BAR: re-open after a while. */
		if (changed)
			lp->last_open = now;
		else if (now - lp->last_open > 5 * REOPEN_MS) {
			card_close(d, "heartbeat stopped: re-attaching");
			return;
		}
	} else if (!lp->alive) {
		/* Just attached: "up" only once the heartbeat has moved since. */
	} else if (in.status & TF_STATUS_FAILED) {
		tfd_health_set(&d->health, TF_HC_CARD, 0, TF_HS_DEGRADED, "card FAILED: resetting",
			       tfd_now_ns());
		d->card_ready = 0;
	} else {
		tfd_health_set(&d->health, TF_HC_CARD, 0, TF_HS_UP, "heartbeat", tfd_now_ns());
	}
	if (lp->alive && tfd_health_get(&d->health, TF_HC_CARD, 0) != TF_HS_DOWN) {
		int push = __atomic_exchange_n(&d->push_requested, 0, __ATOMIC_ACQ_REL);

		if (in.boot_count != lp->boot || !d->card_ready) {
			if (in.boot_count != lp->boot) {
				tf_log_info("card %s restarted (boot %u -> %u): re-configuring",
					    in.serial, lp->boot, in.boot_count);
				/* Not ready until a bring-up succeeds: a failed one is retried. */
				d->card_ready = 0;
			}
			lp->boot = in.boot_count;
			if (now - lp->last_bringup >= REOPEN_MS) {
				lp->last_bringup = now;
				card_bring_up(d);
			}
		} else if (push) {
			push_config(d, 0);
		}
	}
}

/* Once a second and once an hour. */
static void
slow_tasks(struct tfd *d, struct loop *lp, uint64_t now)
{
	if (now - lp->last_slow >= SLOW_MS) {
		lp->last_slow = now;
		if (d->card_ready)
			period_resets(d);
		poll_live(d);
	}
	if (now - lp->last_prune >= 3600 * 1000) {
		uint32_t days;
		uint64_t deleted = 0;

		lp->last_prune = now;
		pthread_rwlock_rdlock(&d->cfg_lock);
		days = d->cfg->retention_days;
		pthread_rwlock_unlock(&d->cfg_lock);
		if (days &&
		    tfd_ledger_prune(d->ledger, tfd_now_ns() - days * 86400ull * 1000000000ull,
				     &deleted) == 0 &&
		    deleted)
			tf_log_info("ledger: pruned %llu usage records older than %u days "
				    "(hourly rollups kept)",
				    (unsigned long long)deleted, days);
	}
}

/* Sleeps up to us or until tfd_card_wake: 1 woken (drained), 0 not. */
static int
sleep_us(struct tfd *d, uint64_t us)
{
	struct pollfd pfd = { .fd = d->wake_fd, .events = POLLIN };
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	if (ppoll(&pfd, 1, &ts, NULL) > 0 && (pfd.revents & POLLIN)) {
		wake_drain(d);
		return 1;
	}
	return 0;
}

/* The configured periods, re-read each loop (a reload may change them). */
static void
periods(struct tfd *d, uint32_t hb_period_ms, uint32_t *house_ms, uint32_t *nap_ms)
{
	pthread_rwlock_rdlock(&d->cfg_lock);
	*house_ms = tfd_card_house_ms(hb_period_ms, d->cfg->watchdog_periods);
	*nap_ms = tfd_card_nap_ms(d->cfg->ledger_records, d->cfg->ledger_aggregate_ms,
				  d->cfg->ledger_commit_interval_ms);
	pthread_rwlock_unlock(&d->cfg_lock);
}

static void *
card_thread(void *arg)
{
	struct tfd *d = arg;
	struct loop lp = { 0 };
	uint32_t house_ms = TFD_HOUSE_MIN_MS, nap_ms = TFD_NAP_MIN_MS;

	while (!d->stop) {
		uint64_t now = tfd_mono_ms(), now_us, next;
		int n;

		if (!d->card) {
			if (now - lp.last_open < REOPEN_MS) {
				sleep_us(d, 50000);
				continue;
			}
			lp.last_open = now;
			if (card_open(d) < 0)
				continue;
			lp.wd.armed = 0;
			lp.boot = d->info.boot_count;
			/* Configure it only once its heartbeat moves: a dead card would stall us. */
			lp.alive = 0;
			lp.hb_open = d->info.heartbeat;
			lp.next_house = 0;
		}
		if (now >= lp.next_house) {
			periods(d, d->info.hb_period_ms, &house_ms, &nap_ms);
			lp.next_house = now + house_ms;
			housekeeping(d, &lp, now);
			if (!d->card)
				continue;
		}
		now_us = tfd_mono_us();
		n = tfd_events_read(d, &d->events, now_us);
		/* A failed commit keeps its events pending: retried after a pause. */
		if (tfd_gc_due(&d->events.gc, now_us) && tfd_events_commit(d, &d->events) < 0)
			sleep_us(d, 100000);
		slow_tasks(d, &lp, now);
		if (n < 0) {
			if (sleep_us(d, 100000))
				lp.next_house = 0;
			continue;
		}
		now_us = tfd_mono_us();
		now = now_us / 1000;
		/* Wake for housekeeping and the once-a-second tasks. */
		next = lp.last_slow + SLOW_MS;
		if (lp.next_house < next)
			next = lp.next_house;
		if (d->events.gc.pending) {
			/* Let the group fill. */
			uint64_t w = tfd_gc_wait_us(&d->events.gc, now_us);
			uint64_t h = next > now ? (next - now) * 1000 : 0;

			if (w > h)
				w = h;
			if (w && sleep_us(d, w))
				lp.next_house = 0; /* woken: act on it now */
		} else if (next > now) {
			/*
			 * Idle: the access path sleeps until an event, a wake-up, or
			 * the next tick; shm's naps no longer than nap_ms.
			 */
			uint64_t w = next - now;

			if (w > nap_ms)
				w = nap_ms;
			if (d->card->ops->event_wait(d->card, (int)w, d->wake_fd) == 2) {
				wake_drain(d);
				lp.next_house = 0;
			}
		}
	}
	/* SIGTERM: what was read is committed and acknowledged before the ledger closes. */
	if (d->card && tfd_events_commit(d, &d->events) < 0)
		tf_log_warnx("ledger: the last %u events were not committed: %s; the card keeps "
			     "them and re-posts them at the next start",
			     d->events.gc.pending, tfd_ledger_errmsg(d->ledger));
	return NULL;
}

int
tfd_card_start(struct tfd *d)
{
	uint32_t batch, interval;
	int rc;

	pthread_rwlock_rdlock(&d->cfg_lock);
	batch = d->cfg->ledger_batch_max;
	interval = d->cfg->ledger_commit_interval_ms;
	pthread_rwlock_unlock(&d->cfg_lock);
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->wake_fd < 0)
		return -errno;
	rc = tfd_events_init(&d->events, batch, interval);
	if (rc < 0)
		goto err_fd;
	__atomic_store_n(&d->wake_ready, 1, __ATOMIC_RELEASE);
	rc = -pthread_create(&d->card_thr, NULL, card_thread, d);
	if (rc < 0)
		goto err_events;
	return 0;

err_events:
	__atomic_store_n(&d->wake_ready, 0, __ATOMIC_RELEASE);
	tfd_events_fini(&d->events);
err_fd:
	close(d->wake_fd);
	d->wake_fd = -1;
	return rc;
}

void
tfd_card_stop(struct tfd *d)
{
	d->stop = 1;
	tfd_card_wake(d); /* not at its next tick */
	pthread_join(d->card_thr, NULL);
	__atomic_store_n(&d->wake_ready, 0, __ATOMIC_RELEASE);
	close(d->wake_fd);
	d->wake_fd = -1;
	pthread_mutex_lock(&d->card_lock);
	/* Optional op: the kernel module's path has none. */
	if (d->card && d->card->ops->host_heartbeat)
		d->card->ops->host_heartbeat(d->card);
	tf_card_host_close(d->card);
	d->card = NULL;
	pthread_mutex_unlock(&d->card_lock);
	tfd_events_fini(&d->events);
	tfd_config_free(d->pushed);
	d->pushed = NULL;
}
