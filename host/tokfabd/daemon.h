/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfabd's shared state. Three kinds of threads touch it:
 *   - the card thread (card.c, events.c): owns the card handle's event side
 *     and the writer ledger connection; group-commits then acknowledges;
 *     watchdog; pushes configuration; polls stats and balances; period resets.
 *   - the HTTP thread (http.c -> api.c): reads through its own ledger
 *     connection, runs admin commands through tfd_card_cmd (card_lock).
 *   - the main thread (main.c): signals (SIGHUP reload, SIGTERM stop).
 * Each lock guards the fields listed under it; none is held across I/O to
 * the other side except card_lock around one admin command.
 */
#ifndef TFD_DAEMON_H
#define TFD_DAEMON_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "card/host.h"
#include "tokfabd/config.h"
#include "tokfabd/events.h"
#include "tokfabd/health.h"
#include "tokfabd/keymap.h"
#include "tokfabd/ledger.h"

/* Totals by (tenant, model, accel, outcome) since the ledger began. */
struct tfd_counter {
	uint32_t tenant, model, accel;
	int outcome;
	uint64_t requests, prompt_tokens, completion_tokens;
	int64_t cost_micro;
};

struct tfd_tenant_live {
	uint32_t id;
	int have_card; /* info below came from the card */
	struct tf_aq_tenant_info info;
	uint64_t period_start_ns;
	int64_t spent_micro; /* ledger, this period */
	int64_t topups_micro; /* ledger, this period */
};

struct tfd_accel_live {
	uint32_t id;
	int have_card;
	struct tf_aq_accel_stats st;
	uint64_t tokens_hour; /* ledger, last hour (prompt + completion) */
	int64_t cost_per_1k; /* micro-units per 1000 tokens, last hour; -1 unknown */
};

#define TFD_LIVE_SECONDS 120

struct tfd {
	/* configuration: cfg is replaced whole under cfg_lock (write), read under it */
	pthread_rwlock_t cfg_lock;
	struct tfd_config *cfg;
	char cfg_path[4096];
	uint64_t cfg_generation;

	/* card thread only */
	struct tfd_ledger *ledger;
	struct tfd_events events; /* read, not yet committed (group commit) */
	struct tfd_config *pushed; /* ids the card got in the last push (for deletes) */

	/* the HTTP thread's ledger connection */
	pthread_mutex_t api_ledger_lock;
	struct tfd_ledger *api_ledger;

	/*
	 * card_lock: the handle's admin side (commands, info, reset) and d->card
	 * for other threads. The card thread alone opens and closes d->card and
	 * uses the event side without the lock (card/host.h: the two sides of a
	 * handle may run concurrently).
	 */
	pthread_mutex_t card_lock;
	struct tf_card_host *card;
	struct tf_card_info info;
	int card_ready; /* handshake done, configuration pushed */

	/* live_lock: everything the API and /metrics show that the card thread updates */
	pthread_mutex_t live_lock;
	struct tfd_counter *counters;
	unsigned int n_counters, cap_counters;
	struct tfd_keymap counter_map; /* (tenant, model, accel, outcome) -> counters[] */
	struct tfd_tenant_live *tenants;
	unsigned int n_tenants;
	uint32_t live_cursor; /* card thread: next tenant the once-a-second poll asks about */
	uint64_t live_fp; /* card thread: what the tenants' figures depended on at the last poll */
	uint32_t live_stale; /* card thread: tenants not asked since live_fp last changed */
	uint64_t live_changes; /* atomic: tfd_live_changed */
	struct tfd_accel_live *accels;
	unsigned int n_accels;
	struct tf_aq_card_stats card_stats;
	int have_card_stats;
	uint64_t live_tokens[TFD_LIVE_SECONDS]; /* tokens committed per second (ring) */
	uint64_t live_requests[TFD_LIVE_SECONDS];
	uint64_t live_sec; /* second of live_*[live_sec % N] */
	uint64_t commits, committed, duplicates, commit_errors, bad_events;
	uint64_t commit_ns_total;
	uint64_t acked_seq;
	uint64_t card_resets, config_pushes, config_push_errors;

	struct tfd_health health;

	volatile sig_atomic_t stop;
	int push_requested; /* atomic: re-push configuration */
	int wake_fd; /* eventfd the card thread's sleeps wait on (tfd_card_wake) */
	int wake_ready; /* atomic: wake_fd is open (between tfd_card_start and _stop) */
	pthread_t card_thr;
	uint64_t start_ns;
};

uint64_t tfd_now_ns(void);
uint64_t tfd_mono_ms(void);
uint64_t tfd_mono_us(void);

/* card.c */
int tfd_card_start(struct tfd *d);
void tfd_card_stop(struct tfd *d);
/*
 * Wakes the card thread now (after setting what it should act on, e.g.
 * push_requested or stop): it runs its housekeeping at once instead of at its
 * next tick. From any thread; a no-op before start and after stop, but not
 * concurrently with tfd_card_stop (main stops the API first).
 */
void tfd_card_wake(struct tfd *d);
/*
 * Something that the per-tenant figures (balances, top-ups) show changed on
 * the host's side: the once-a-second poll asks the card and the ledger again.
 * Every admin command but a read counts (tfd_card_cmd); call it after a ledger
 * write the figures include (a top-up's balance log).
 */
void tfd_live_changed(struct tfd *d);
/*
 * The card thread's periods. Housekeeping (registers, heartbeat watchdog, card
 * restarts): the watchdog's timeout (hb_period_ms x card.watchdog_periods) /
 * TFD_HOUSE_DIV, within [TFD_HOUSE_MIN_MS, TFD_HOUSE_MAX_MS]: a silent card is
 * noticed at most one period after its timeout. Longest nap between looks at
 * the event queue of an idle card without event interrupts (shm): the ledger's
 * commit interval (a group waits that long anyway), in aggregate mode no longer
 * than aggregate_ms, within [TFD_NAP_MIN_MS, TFD_NAP_MAX_MS].
 */
#define TFD_HOUSE_DIV 5
#define TFD_HOUSE_MIN_MS 20u
#define TFD_HOUSE_MAX_MS 1000u
#define TFD_NAP_MIN_MS 20u
#define TFD_NAP_MAX_MS 1000u
uint32_t tfd_card_house_ms(uint32_t hb_period_ms, uint32_t watchdog_periods);
uint32_t tfd_card_nap_ms(uint32_t records, uint32_t aggregate_ms, uint32_t commit_interval_ms);
/*
 * One admin command under card_lock. 0 with *status set; -ENOTCONN when no
 * card is attached; the access path's -errno otherwise.
 */
int tfd_card_cmd(struct tfd *d, uint16_t opcode, const void *req, void *resp, size_t resp_size,
		 uint16_t *status, uint32_t *detail);
/* Pushes one tenant (under cfg_lock read); set_balance: seed it from the ledger. */
int tfd_card_push_tenant(struct tfd *d, struct tfd_ledger *l, const struct tfd_config *cfg,
			 const struct tfd_tenant *t, int set_balance, char *err, size_t errlen);

/* tenant.c: operations of PUT /v1/tenants/{id}; err gets a sentence for people. */
int tfd_tenant_topup(struct tfd *d, uint32_t id, uint64_t amount_micro, char *err, size_t len);
int tfd_tenant_reset_period(struct tfd *d, uint32_t id, char *err, size_t len);
int tfd_tenant_set_budget(struct tfd *d, uint32_t id, uint64_t budget_micro, char *err, size_t len);
int tfd_tenant_rotate_key(struct tfd *d, uint32_t id, char *new_key_hex, size_t hexlen,
			  uint8_t *new_key_id, char *err, size_t len);
/* Effective budget and key id of a tenant (config, or the API's override in the ledger meta). */
uint64_t tfd_tenant_budget(struct tfd_ledger *l, const struct tfd_tenant *t);
uint8_t tfd_tenant_key_id(struct tfd_ledger *l, const struct tfd_tenant *t);

/* metrics.c: totals kept in memory (seeded from the ledger's rollups). */
int tfd_metrics_seed(struct tfd *d, struct tfd_ledger *l);
void tfd_metrics_count(struct tfd *d, const struct tf_eq_entry *ev, unsigned int n);
void tfd_metrics_fini(struct tfd *d);

/* Reload: parse the file again; 0 (swapped, push requested) or -EINVAL with err. */
int tfd_reload(struct tfd *d, char *err, size_t len);

#endif /* TFD_DAEMON_H */
