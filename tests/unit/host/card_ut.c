/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for tokfabd's card thread (host/tokfabd/card.c, events.c) and its
 * group commit policy (group_commit.c), against lib/card's real card side on a
 * tmpfs BAR, in a thread of this test, and a real SQLite ledger whose WAL
 * writes can be made to fail (fault_vfs.c):
 *   - the policy: N pending or T since the first, capped by the event queue;
 *     how long to sleep while a group fills;
 *   - events are acknowledged only after their commit, and a group waits for
 *     its interval (nothing committed, nothing acknowledged meanwhile);
 *   - a failed commit loses nothing: the events stay unacknowledged and are
 *     committed by the next try, exactly once;
 *   - a burst is committed in few transactions;
 *   - stopping commits and acknowledges what was read, also through an access
 *     path without the optional host_heartbeat op (the kernel module's);
 *   - the card thread's periods (housekeeping from the watchdog's timeout,
 *     event naps from the ledger mode) and its wake-up: a reload reaches the
 *     card, and a stop ends the thread, long before its next tick (a card
 *     with a 60 s heartbeat: 1 s ticks); a silent card is still noticed
 *     within the watchdog's timeout plus one housekeeping period;
 *   - the once-a-second poll asks about tenants only when something moved
 *     (a host-side change, committed usage), not on an idle card.
 */
#include "card/card.h"
#include "card/host.h"
#include "fault_vfs.h"
#include "tf_cunit.h"
#include "tokfabd/daemon.h"
#include "tokfabd/group_commit.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_dir[64], g_bar[128];

/* ------------------------------------------------------------- the policy */

static void
test_policy(void)
{
	struct tfd_gc g;

	/* N is the batch size, capped to a quarter of the event queue. */
	tfd_gc_init(&g, 1024, 4096, 50);
	CU_ASSERT_EQUAL(g.max_events, 1024);
	tfd_gc_init(&g, 1024, 256, 50);
	CU_ASSERT_EQUAL(g.max_events, 64);
	tfd_gc_init(&g, 0, 0, 50);
	CU_ASSERT_EQUAL(g.max_events, 1);

	/* Nothing pending: never due, no wait (the caller idles). */
	tfd_gc_init(&g, 100, 4096, 50);
	CU_ASSERT_FALSE(tfd_gc_due(&g, 1000));
	CU_ASSERT_EQUAL(tfd_gc_wait_us(&g, 1000), 0);
	/* The first events start the clock; due after T ... */
	tfd_gc_read(&g, 10, 1000);
	CU_ASSERT_EQUAL(g.pending, 10);
	CU_ASSERT_FALSE(tfd_gc_due(&g, 1000));
	CU_ASSERT_FALSE(tfd_gc_due(&g, 50999));
	CU_ASSERT_TRUE(tfd_gc_due(&g, 51000));
	/* ... no rate known yet: sleep out the interval. */
	CU_ASSERT_EQUAL(tfd_gc_wait_us(&g, 1000), 50000);
	CU_ASSERT_EQUAL(tfd_gc_wait_us(&g, 50990), 10);
	CU_ASSERT_EQUAL(tfd_gc_wait_us(&g, 51000), 0);
	/* ... or when N are pending, whatever the time. */
	tfd_gc_read(&g, 90, 2000);
	CU_ASSERT_TRUE(tfd_gc_due(&g, 2000));
	tfd_gc_committed(&g);
	CU_ASSERT_EQUAL(g.pending, 0);
	CU_ASSERT_FALSE(tfd_gc_due(&g, 100000000));

	/* A known rate shortens the sleep to half the time the batch needs to fill. */
	tfd_gc_init(&g, 1000, 4096, 100);
	tfd_gc_read(&g, 0, 1000000);
	tfd_gc_read(&g, 100, 1001000); /* 100 in 1 ms: 100 000/s */
	CU_ASSERT_EQUAL(g.rate, 100000);
	/* 900 more at 100/ms fill in 9 ms: look again in 4.5 ms. */
	CU_ASSERT_EQUAL(tfd_gc_wait_us(&g, 1001000), 4500);
	/* Never below the floor, never past the interval. */
	tfd_gc_read(&g, 899, 1001100);
	CU_ASSERT_EQUAL(tfd_gc_wait_us(&g, 1001100), TFD_GC_MIN_WAIT_US);
	tfd_gc_init(&g, 1000, 4096, 0);
	tfd_gc_read(&g, 1, 5);
	CU_ASSERT_TRUE(tfd_gc_due(&g, 5)); /* interval 0: commit as read */
}

/* ------------------------------------------------------------- the card */

static struct tf_card_dev *g_dev;
static pthread_t g_card_thr;
static volatile int g_card_stop;
static volatile int g_card_silent; /* the card stops its heartbeat */
static uint32_t g_hb_ms = 10; /* the card's hb_period_ms for the next start() */
static uint64_t g_to_post, g_posted; /* atomics: the test asks, the card posts */

static int
c_set_tenant(void *ctx, const struct tf_aq_set_tenant *c, struct tf_aq_tenant_info *r,
	     uint32_t *detail)
{
	(void)ctx;
	(void)detail;
	r->tenant_id = c->tenant_id;
	r->flags = c->flags & (TF_TENANT_F_UNLIMITED | TF_TENANT_F_DISABLED);
	return TF_AQ_S_OK;
}

static uint64_t g_get_tenant; /* atomic: GET_TENANT commands served */

static int
c_get_tenant(void *ctx, uint32_t id, struct tf_aq_tenant_info *r, uint32_t *detail)
{
	(void)ctx;
	__atomic_add_fetch(&g_get_tenant, 1, __ATOMIC_ACQ_REL);
	(void)detail;
	r->tenant_id = id;
	r->flags = TF_TENANT_F_UNLIMITED;
	return TF_AQ_S_OK;
}

static int
c_set_model(void *ctx, const struct tf_aq_set_model *c, uint32_t *detail)
{
	(void)ctx;
	(void)c;
	(void)detail;
	return TF_AQ_S_OK;
}

static const struct tf_card_admin_handlers g_h = {
	.set_tenant = c_set_tenant,
	.get_tenant = c_get_tenant,
	.set_model = c_set_model,
};

static void *
card_run(void *arg)
{
	(void)arg;
	while (!g_card_stop) {
		uint64_t want = __atomic_load_n(&g_to_post, __ATOMIC_ACQUIRE);

		tf_card_dev_poll_admin(g_dev, &g_h, NULL);
		if (!g_card_silent)
			tf_card_dev_heartbeat(g_dev);
		while (g_posted < want) {
			struct tf_usage_record u = { .request_id = 0xf000000000000000ull + g_posted,
						     .tenant_id = 1,
						     .model_id = 1,
						     .accel_id = 1,
						     .prompt_tokens = 3,
						     .completion_tokens = 5,
						     .end_time_ns = tf_card_now_ns() };

			if (tf_card_dev_post_usage(g_dev, &u, NULL) < 0)
				break; /* queue full: keep it */
			__atomic_add_fetch(&g_posted, 1, __ATOMIC_ACQ_REL);
		}
		usleep(200);
	}
	return NULL;
}

/* ------------------------------------------------------------- the daemon */

static struct tfd g_d;

static void
write_file(const char *name, const char *text)
{
	char p[192];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", g_dir, name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void
rm_ledger(void)
{
	char p[192];

	snprintf(p, sizeof(p), "%s/ledger.db", g_dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/ledger.db-wal", g_dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/ledger.db-shm", g_dir);
	unlink(p);
}

/* A card (fresh BAR, eq_depth entries) and tokfabd's card thread on it. */
static int
start(uint32_t eq_depth, const char *ledger_extra)
{
	struct tf_card_dev_params p = { .path = g_bar,
					.eq_depth = eq_depth,
					.hb_period_ms = g_hb_ms,
					.serial = "CARD-UT",
					.fw_version_str = "1",
					.flags = TF_CARD_F_FRESH };
	struct tfd_config *cfg;
	char text[1024], err[1024], path[192];

	snprintf(text, sizeof(text),
		 "card:\n  access: shm:%s\n"
		 "ledger:\n  path: ledger.db\n  synchronous: normal\n%s"
		 "api:\n  listen: 127.0.0.1:0\n  token_file: token\n"
		 "models:\n  - { id: 1, name: tiny }\n"
		 "tenants:\n  - { id: 1, name: acme, key_file: acme.key, budget: unlimited }\n",
		 g_bar, ledger_extra);
	write_file("tokfabd.yaml", text);
	snprintf(path, sizeof(path), "%s/tokfabd.yaml", g_dir);
	g_card_silent = 0;
	if (tfd_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	rm_ledger();
	memset(&g_d, 0, sizeof(g_d));
	pthread_rwlock_init(&g_d.cfg_lock, NULL);
	pthread_mutex_init(&g_d.api_ledger_lock, NULL);
	pthread_mutex_init(&g_d.card_lock, NULL);
	pthread_mutex_init(&g_d.live_lock, NULL);
	tfd_health_init(&g_d.health);
	g_d.cfg = cfg;
	snprintf(g_d.cfg_path, sizeof(g_d.cfg_path), "%s", path);
	if (tfd_ledger_open(cfg->ledger_path, 0, &g_d.ledger, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	p.path = g_bar;
	if (tf_card_dev_create(&p, &g_dev) < 0)
		return -1;
	g_card_stop = 0;
	g_to_post = g_posted = 0;
	pthread_create(&g_card_thr, NULL, card_run, NULL);
	return tfd_card_start(&g_d);
}

/* The card side and what start() opened, once the card thread has stopped. */
static void
teardown(void)
{
	g_card_stop = 1;
	pthread_join(g_card_thr, NULL);
	tf_card_dev_destroy(g_dev);
	unlink(g_bar);
	tfd_ledger_close(g_d.ledger);
	tfd_config_free(g_d.cfg);
	tfd_metrics_fini(&g_d);
	free(g_d.tenants);
	free(g_d.accels);
}

static void
stop(void)
{
	tfd_card_stop(&g_d);
	teardown();
}

static void
post(uint64_t n)
{
	__atomic_add_fetch(&g_to_post, n, __ATOMIC_ACQ_REL);
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Waits up to 20 s for cond(); returns whether it held. */
static int
wait_for(int (*cond)(void))
{
	for (int i = 0; i < 2000; i++) {
		if (cond())
			return 1;
		sleep_ms(10);
	}
	return cond();
}

static int
configured(void)
{
	int r;

	pthread_mutex_lock(&g_d.card_lock);
	r = g_d.card_ready;
	pthread_mutex_unlock(&g_d.card_lock);
	return r;
}

static int
all_posted(void)
{
	return __atomic_load_n(&g_posted, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&g_to_post, __ATOMIC_ACQUIRE);
}

static int
all_acked(void)
{
	struct tf_card_dev_stats st;

	if (!all_posted())
		return 0;
	tf_card_dev_stats(g_dev, &st);
	return st.eq_freed_seq == st.eq_prod_seq && st.eq_prod_seq == g_posted;
}

static uint64_t
card_acked(void)
{
	struct tf_card_dev_stats st;

	tf_card_dev_stats(g_dev, &st);
	return st.eq_freed_seq;
}

/* Records in the ledger, and how many distinct seqs (each must be there once). */
static void
ledger_rows(uint64_t *rows, uint64_t *distinct, uint64_t *max_seq)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	*rows = *distinct = *max_seq = 0;
	if (sqlite3_open_v2(g_d.cfg->ledger_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(db,
			       "SELECT COUNT(*), COUNT(DISTINCT seq), COALESCE(MAX(seq), 0)"
			       " FROM usage",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*rows = (uint64_t)sqlite3_column_int64(st, 0);
		*distinct = (uint64_t)sqlite3_column_int64(st, 1);
		*max_seq = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static uint64_t
commits(void)
{
	uint64_t c;

	pthread_mutex_lock(&g_d.live_lock);
	c = g_d.commits;
	pthread_mutex_unlock(&g_d.live_lock);
	return c;
}

static uint64_t
commit_errors(void)
{
	uint64_t c;

	pthread_mutex_lock(&g_d.live_lock);
	c = g_d.commit_errors;
	pthread_mutex_unlock(&g_d.live_lock);
	return c;
}

/* ------------------------------------------------------------- tests */

/*
 * A group waits for its interval: read but neither committed nor
 * acknowledged; SIGTERM's stop then commits and acknowledges it, also when
 * the access path has no host_heartbeat op (tokfab.ko's).
 */
static void
test_ack_after_commit_and_stop(void)
{
	static struct tf_card_access_ops no_hb;
	uint64_t rows, distinct, max_seq;

	CU_ASSERT_FATAL(start(4096, "  commit_interval_ms: 10000\n") == 0);
	CU_ASSERT_FATAL(wait_for(configured));
	post(50);
	CU_ASSERT_FATAL(wait_for(all_posted));
	sleep_ms(300); /* the card thread reads within milliseconds */
	ledger_rows(&rows, &distinct, &max_seq);
	CU_ASSERT_EQUAL(rows, 0); /* the group waits for 10 s or 1024 events */
	CU_ASSERT_EQUAL(card_acked(), 0); /* nothing acknowledged before its commit */
	no_hb = tf_card_access_shm;
	no_hb.host_heartbeat = NULL;
	pthread_mutex_lock(&g_d.card_lock);
	g_d.card->ops = &no_hb;
	pthread_mutex_unlock(&g_d.card_lock);
	tfd_card_stop(&g_d); /* must not call the missing op */
	ledger_rows(&rows, &distinct, &max_seq);
	CU_ASSERT_EQUAL(rows, 50);
	CU_ASSERT_EQUAL(distinct, 50);
	CU_ASSERT_EQUAL(card_acked(), 50);
	teardown();
}

/*
 * The ledger fails a commit (the WAL cannot be written): the events stay
 * unacknowledged, tokfabd retries, and every event ends in the ledger once,
 * including those read while the ledger was failing.
 */
static void
test_failed_commit_loses_nothing(void)
{
	uint64_t rows, distinct, max_seq;

	CU_ASSERT_FATAL(start(4096, "  commit_interval_ms: 20\n") == 0);
	CU_ASSERT_FATAL(wait_for(configured));
	post(100);
	CU_ASSERT_FATAL(wait_for(all_acked));
	sleep_ms(1500); /* the once-a-second tasks stored what they store: only commits write now */
	fault_vfs_fail_wal_writes(1);
	post(100);
	for (int i = 0; i < 2000 && !fault_vfs_failed(); i++)
		sleep_ms(10);
	CU_ASSERT_FATAL(fault_vfs_failed() >= 1);
	post(100);
	CU_ASSERT(wait_for(all_acked));
	CU_ASSERT(commit_errors() >= 1);
	ledger_rows(&rows, &distinct, &max_seq);
	CU_ASSERT_EQUAL(rows, 300);
	CU_ASSERT_EQUAL(distinct, 300);
	CU_ASSERT_EQUAL(max_seq, 300);
	stop();
}

/* A burst is committed in a few large transactions, not one per read. */
static void
test_burst_is_grouped(void)
{
	uint64_t rows, distinct, max_seq, c0;

	CU_ASSERT_FATAL(start(4096, "  batch_max: 512\n  commit_interval_ms: 50\n") == 0);
	CU_ASSERT_FATAL(wait_for(configured));
	c0 = commits();
	post(4000);
	CU_ASSERT(wait_for(all_acked));
	ledger_rows(&rows, &distinct, &max_seq);
	CU_ASSERT_EQUAL(rows, 4000);
	CU_ASSERT_EQUAL(distinct, 4000);
	/* 4000 events in groups of up to 512: 8 full ones and the tail, whatever the timing. */
	CU_ASSERT(commits() - c0 >= 8);
	CU_ASSERT(commits() - c0 <= 4000 / 64);
	stop();
}

static int
suite_init(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/tf-card-ut.%d", (int)getpid());
	mkdir(g_dir, 0700);
	snprintf(g_bar, sizeof(g_bar), "/dev/shm/tf-card-ut.%d", (int)getpid());
	write_file("token", "0123456789abcdef0123456789abcdef\n");
	write_file("acme.key", "00112233445566778899aabbccddeeff\n");
	return fault_vfs_install();
}

static int
suite_fini(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	unlink(g_bar);
	return system(cmd) == 0 ? 0 : 0;
}

/* ------------------------------------------------------------- periods, wake-up */

static void
test_periods(void)
{
	/* Housekeeping: a fifth of hb_period_ms x watchdog_periods, 20 ms .. 1 s. */
	CU_ASSERT_EQUAL(tfd_card_house_ms(100, 3), 60);
	CU_ASSERT_EQUAL(tfd_card_house_ms(1000, 5), 1000);
	CU_ASSERT_EQUAL(tfd_card_house_ms(10, 3), TFD_HOUSE_MIN_MS);
	CU_ASSERT_EQUAL(tfd_card_house_ms(60000, 1000), TFD_HOUSE_MAX_MS);
	/* Naps: the commit interval, in aggregate mode no longer than aggregate_ms. */
	CU_ASSERT_EQUAL(tfd_card_nap_ms(TF_USAGE_MODE_REQUEST, 1000, 100), 100);
	CU_ASSERT_EQUAL(tfd_card_nap_ms(TF_USAGE_MODE_AGGREGATE, 1000, 100), 100);
	CU_ASSERT_EQUAL(tfd_card_nap_ms(TF_USAGE_MODE_AGGREGATE, 50, 500), 50);
	CU_ASSERT_EQUAL(tfd_card_nap_ms(TF_USAGE_MODE_REQUEST, 10, 500), 500);
	CU_ASSERT_EQUAL(tfd_card_nap_ms(TF_USAGE_MODE_REQUEST, 100, 0), TFD_NAP_MIN_MS);
	CU_ASSERT_EQUAL(tfd_card_nap_ms(TF_USAGE_MODE_REQUEST, 100, 10000), TFD_NAP_MAX_MS);
}

static uint64_t
pushes(void)
{
	uint64_t n;

	pthread_mutex_lock(&g_d.live_lock);
	n = g_d.config_pushes;
	pthread_mutex_unlock(&g_d.live_lock);
	return n;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A card whose heartbeat period is 60 s: the card thread ticks once a second
 * (housekeeping 1 s, the once-a-second tasks). A reload must reach the card
 * within WAKE_BOUND_MS each of 5 times, at different points of the tick; a
 * thread that only noticed at its tick would take 0-1 s (average 0.5 s) and
 * pass all 5 with a chance of 0.3^5 (0.2 %). A correctness bound with slack
 * for a loaded machine, not a timing: it takes about a millisecond.
 */
#define WAKE_BOUND_MS 300

static void
test_reload_and_stop_wake_the_thread(void)
{
	char err[1024];

	g_hb_ms = 60000;
	CU_ASSERT_FATAL(start(4096, "") == 0);
	g_hb_ms = 10;
	CU_ASSERT_FATAL(wait_for(configured));
	for (int i = 0; i < 5; i++) {
		uint64_t before = pushes(), t0, waited = 0;

		sleep_ms(137 + 173 * (unsigned int)i); /* somewhere in the tick */
		t0 = mono_ms();
		CU_ASSERT_EQUAL_FATAL(tfd_reload(&g_d, err, sizeof(err)), 0);
		while (pushes() == before && (waited = mono_ms() - t0) < 5000)
			sleep_ms(1);
		waited = mono_ms() - t0;
		if (waited > WAKE_BOUND_MS)
			fprintf(stderr, "reload %d reached the card after %llu ms\n", i,
				(unsigned long long)waited);
		CU_ASSERT(pushes() > before);
		CU_ASSERT(waited <= WAKE_BOUND_MS);
	}
	/* Stop: the thread ends now, not at its next tick. */
	{
		uint64_t t0;

		sleep_ms(400);
		t0 = mono_ms();
		tfd_card_stop(&g_d);
		CU_ASSERT(mono_ms() - t0 <= WAKE_BOUND_MS);
		teardown();
	}
}

/* A silent card: DOWN within the watchdog's timeout plus one housekeeping period. */
static void
test_silent_card_noticed(void)
{
	uint64_t t0, bound;
	int down = 0;

	CU_ASSERT_FATAL(start(4096, "") == 0);
	CU_ASSERT_FATAL(wait_for(configured));
	/* The card's 10 ms heartbeat, 3 periods: timeout 30 ms, housekeeping 20 ms. */
	bound = (uint64_t)g_d.info.hb_period_ms * g_d.cfg->watchdog_periods +
		tfd_card_house_ms(g_d.info.hb_period_ms, g_d.cfg->watchdog_periods);
	CU_ASSERT_EQUAL(bound, 50);
	CU_ASSERT_EQUAL(tfd_health_get(&g_d.health, TF_HC_CARD, 0), TF_HS_UP);
	g_card_silent = 1;
	t0 = mono_ms();
	/* Slack for a loaded machine: 1 s (a thread that never looks fails). */
	while (mono_ms() - t0 < bound + 1000 && !down) {
		down = tfd_health_get(&g_d.health, TF_HC_CARD, 0) == TF_HS_DOWN;
		sleep_ms(2);
	}
	CU_ASSERT(down);
	stop();
}

static uint64_t
get_tenants(void)
{
	return __atomic_load_n(&g_get_tenant, __ATOMIC_ACQUIRE);
}

/* Idle: no GET_TENANT; a host-side change or committed usage: asked again. */
static void
test_live_poll_skips_idle_tenants(void)
{
	uint64_t n;
	int asked = 0;

	CU_ASSERT_FATAL(start(4096, "  commit_interval_ms: 10\n") == 0);
	CU_ASSERT_FATAL(wait_for(configured));
	sleep_ms(2500); /* a full poll since the configuration */
	n = get_tenants();
	sleep_ms(2500); /* two more polls, nothing moved */
	CU_ASSERT_EQUAL(get_tenants(), n);
	tfd_live_changed(&g_d);
	for (int i = 0; i < 300 && !asked; i++, sleep_ms(10))
		asked = get_tenants() > n;
	CU_ASSERT(asked);
	sleep_ms(1500);
	n = get_tenants();
	post(3);
	CU_ASSERT_FATAL(wait_for(all_posted));
	asked = 0;
	for (int i = 0; i < 300 && !asked; i++, sleep_ms(10))
		asked = get_tenants() > n;
	CU_ASSERT(asked);
	stop();
}

static const struct tf_cunit_test card_tests[] = {
	TF_TEST(test_policy),
	TF_TEST(test_ack_after_commit_and_stop),
	TF_TEST(test_failed_commit_loses_nothing),
	TF_TEST(test_burst_is_grouped),
	TF_TEST(test_periods),
	TF_TEST(test_reload_and_stop_wake_the_thread),
	TF_TEST(test_silent_card_noticed),
	TF_TEST(test_live_poll_skips_idle_tenants),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "host_card", suite_init, suite_fini, card_tests })
