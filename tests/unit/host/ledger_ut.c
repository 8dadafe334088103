/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for host/tokfabd/ledger.c: idempotent replay by (card, epoch,
 * seq), a daemon crash between commit and acknowledgement (with the real
 * lib/card queues on a tmpfs BAR), aggregates, rollups that outlive
 * retention, balances, export order, a ledger of schema 1 migrated, one
 * ledger row per commit of many (the multi-row insert and its tail).
 */
#include "card/card.h"
#include "card/host.h"
#include "tf_cunit.h"
#include "tokfabd/keymap.h"
#include "tokfabd/ledger.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_db[128], g_bar[128];

static void
rm_db(void)
{
	char p[160];

	unlink(g_db);
	snprintf(p, sizeof(p), "%s-wal", g_db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", g_db);
	unlink(p);
}

static int
suite_init(void)
{
	snprintf(g_db, sizeof(g_db), "/tmp/tf-ledger-ut.%d.db", (int)getpid());
	snprintf(g_bar, sizeof(g_bar), "/dev/shm/tf-ledger-ut.%d", (int)getpid());
	rm_db();
	return 0;
}

static int
suite_fini(void)
{
	rm_db();
	unlink(g_bar);
	return 0;
}

static struct tfd_ledger *
open_ledger(void)
{
	struct tfd_ledger *l = NULL;
	char err[256];

	CU_ASSERT_FATAL(tfd_ledger_open(g_db, 1, &l, err, sizeof(err)) == 0);
	return l;
}

/* Event seq with a usage record: tenant 1 + seq % 3, 10 prompt, seq completion tokens. */
static void
usage_ev(struct tf_eq_entry *e, uint64_t seq, uint64_t end_ns)
{
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->type = TF_EQ_USAGE;
	e->len = sizeof(struct tf_usage_record);
	e->body.usage.request_id = 1000 + seq;
	e->body.usage.tenant_id = 1 + (uint32_t)(seq % 3);
	e->body.usage.model_id = 7;
	e->body.usage.accel_id = 1 + (uint32_t)(seq % 2);
	e->body.usage.prompt_tokens = 10;
	e->body.usage.completion_tokens = (uint32_t)seq;
	e->body.usage.cost_micro = 10 + seq;
	e->body.usage.end_time_ns = end_ns;
}

struct sums {
	uint64_t rows, requests, completion;
	int64_t cost;
};

static int
sum_cb(void *arg, const struct tfd_usage_row *r)
{
	struct sums *s = arg;

	s->rows++;
	s->requests += r->requests;
	s->completion += r->completion_tokens;
	s->cost += r->cost_micro;
	return 0;
}

static void
test_replay_is_idempotent(void)
{
	struct tfd_ledger *l;
	struct tf_eq_entry ev[50];
	struct tfd_commit_result res;
	uint64_t nu = 0, nh = 0;

	rm_db();
	l = open_ledger();
	for (int i = 0; i < 50; i++)
		usage_ev(&ev[i], (uint64_t)i + 1, 1700000000000000000ull + (uint64_t)i);
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 0xabc, ev, 50, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 50);
	CU_ASSERT_EQUAL(res.duplicates, 0);
	CU_ASSERT_EQUAL(res.max_seq, 50);
	/* The same events again (a replay), and an overlapping batch. */
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 0xabc, ev, 50, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 0);
	CU_ASSERT_EQUAL(res.duplicates, 50);
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 0xabc, ev + 40, 10, &res), 0);
	CU_ASSERT_EQUAL(res.duplicates, 10);
	/* Same sequence numbers in a new epoch (a re-created BAR) are new events. */
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 0xdef, ev, 5, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 5);
	/* And on another card. */
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF2", 0xabc, ev, 5, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 5);
	CU_ASSERT_EQUAL(tfd_ledger_counts(l, &nu, &nh), 0);
	CU_ASSERT_EQUAL(nu, 60);
	tfd_ledger_close(l);
	/* Survives a reopen. */
	l = open_ledger();
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 0xabc, ev, 50, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 0);
	tfd_ledger_counts(l, &nu, &nh);
	CU_ASSERT_EQUAL(nu, 60);
	tfd_ledger_close(l);
}

/*
 * The daemon reads events, commits them, and dies before acknowledging. The
 * restarted daemon reads them again from the card (which kept them) and the
 * ledger skips them: each record exactly once, and the card's queue drains.
 */
static void
test_crash_between_commit_and_ack(void)
{
	struct tf_card_dev_params p = { .path = g_bar,
					.eq_depth = 64,
					.serial = "UT1",
					.fw_version_str = "1",
					.flags = TF_CARD_F_FRESH };
	struct tf_card_dev *dev;
	struct tf_card_host *h;
	struct tfd_ledger *l;
	struct tf_eq_entry ev[64];
	struct tfd_commit_result res;
	char spec[160];
	const char *why;
	uint64_t nu = 0, nh = 0;
	int n;

	rm_db();
	CU_ASSERT_FATAL(tf_card_dev_create(&p, &dev) == 0);
	for (uint64_t i = 1; i <= 40; i++) {
		struct tf_usage_record u = { .request_id = i,
					     .tenant_id = 1,
					     .model_id = 1,
					     .accel_id = 1,
					     .prompt_tokens = 1,
					     .completion_tokens = 2,
					     .cost_micro = 3,
					     .end_time_ns = tf_card_now_ns() };

		CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, NULL), 0);
	}
	snprintf(spec, sizeof(spec), "shm:%s", g_bar);

	/* First daemon life: commit, then "crash" (no ack). */
	CU_ASSERT_FATAL(tf_card_host_open(spec, &h, &why) == 0);
	l = open_ledger();
	n = tf_card_events(h, ev, 64, &why);
	CU_ASSERT_EQUAL_FATAL(n, 40);
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "UT1", tf_card_dev_epoch(dev), ev, 40, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 40);
	tfd_ledger_close(l);
	tf_card_host_close(h);
	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 24); /* the card still holds them */

	/* Second life: the same 40 come back, the ledger skips them, then ack. */
	CU_ASSERT_FATAL(tf_card_host_open(spec, &h, &why) == 0);
	l = open_ledger();
	n = tf_card_events(h, ev, 64, &why);
	CU_ASSERT_EQUAL_FATAL(n, 40);
	CU_ASSERT_EQUAL(ev[0].seq, 1);
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "UT1", tf_card_dev_epoch(dev), ev, 40, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 0);
	CU_ASSERT_EQUAL(res.duplicates, 40);
	CU_ASSERT_EQUAL(h->ops->event_ack(h, res.max_seq), 0);
	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 64);
	tfd_ledger_counts(l, &nu, &nh);
	CU_ASSERT_EQUAL(nu, 40);

	/* A crash before the commit loses nothing either: the card re-sends. */
	for (uint64_t i = 41; i <= 45; i++) {
		struct tf_usage_record u = { .request_id = i,
					     .tenant_id = 1,
					     .model_id = 1,
					     .end_time_ns = tf_card_now_ns() };

		CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, NULL), 0);
	}
	CU_ASSERT_EQUAL(tf_card_events(h, ev, 64, &why), 5);
	tf_card_host_close(h); /* read, never committed */
	CU_ASSERT_FATAL(tf_card_host_open(spec, &h, &why) == 0);
	CU_ASSERT_EQUAL(tf_card_events(h, ev, 64, &why), 5);
	CU_ASSERT_EQUAL(ev[0].seq, 41);
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "UT1", tf_card_dev_epoch(dev), ev, 5, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 5);
	tfd_ledger_counts(l, &nu, &nh);
	CU_ASSERT_EQUAL(nu, 45);
	tfd_ledger_close(l);
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);
}

static void
test_aggregates_and_rollups(void)
{
	const uint64_t hour = 3600ull * 1000000000ull,
		       t0 = 1700000000ull / 3600 * 3600 * 1000000000ull;
	struct tf_eq_entry ev[30];
	struct tfd_commit_result res;
	struct tfd_usage_filter f = { 0 };
	struct sums s = { 0 };
	struct tfd_ledger *l;
	uint64_t deleted = 0;
	int64_t spent = 0;

	rm_db();
	l = open_ledger();
	/* 30 records, one every 10 minutes: 5 hours. */
	for (int i = 0; i < 30; i++)
		usage_ev(&ev[i], (uint64_t)i + 1, t0 + (uint64_t)i * hour / 6);
	ev[29].type = TF_EQ_HEALTH; /* and one health event */
	memset(&ev[29].body, 0, sizeof(ev[29].body));
	ev[29].body.health.time_ns = t0;
	ev[29].body.health.component = TF_HC_CARD;
	ev[29].body.health.state = TF_HS_UP;
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 1, ev, 30, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 30);

	/* Everything: 29 usage records; completion tokens 1..29. */
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 1);
	CU_ASSERT_EQUAL(s.requests, 29);
	CU_ASSERT_EQUAL(s.completion, 29 * 30 / 2);
	/* By tenant: 3 rows that add up. */
	memset(&s, 0, sizeof(s));
	f.group = TFD_GROUP_TENANT;
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 3);
	CU_ASSERT_EQUAL(s.requests, 29);
	/* Hourly buckets: 5. */
	memset(&s, 0, sizeof(s));
	f.group = TFD_GROUP_BUCKET;
	f.bucket_s = 3600;
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 5);
	/* Filter: tenant 2 (seq % 3 == 1) in the first two hours (seq 1..12). */
	memset(&s, 0, sizeof(s));
	f.group = 0;
	f.tenant = 2;
	f.since_ns = t0;
	f.until_ns = t0 + 2 * hour;
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 1);
	CU_ASSERT_EQUAL(s.requests, 4); /* seq 1, 4, 7, 10 */
	CU_ASSERT_EQUAL(s.completion, 1 + 4 + 7 + 10);
	/* Empty range: no row. */
	memset(&s, 0, sizeof(s));
	f.tenant = 99;
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 0);
	/* Bucket grouping without a width is refused. */
	f.group = TFD_GROUP_BUCKET;
	f.bucket_s = 0;
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), -EINVAL);

	/* Spent since t0 for tenant 1 (seq % 3 == 0: 3, 6, .., 27): cost 10 + seq. */
	CU_ASSERT_EQUAL(tfd_ledger_spent(l, 1, t0, &spent), 0);
	CU_ASSERT_EQUAL(spent, 9 * 10 + (3 + 27) * 9 / 2);
	/* From hour 3 on (seq 19..29; 30 is the health event) tenant 1 has 21, 24, 27. */
	CU_ASSERT_EQUAL(tfd_ledger_spent(l, 1, t0 + 3 * hour, &spent), 0);
	CU_ASSERT_EQUAL(spent, 3 * 10 + 21 + 24 + 27);
	CU_ASSERT_EQUAL(tfd_ledger_spent(l, 1, t0 + 1, &spent), -EINVAL); /* not on an hour */
	{
		int64_t tok = 0;

		/* accel 2 (odd seq) in hour 4 (seq 25..29): 25, 27, 29, 10 prompt tokens each */
		CU_ASSERT_EQUAL(tfd_ledger_accel_tokens(l, 2, t0 + 4 * hour, &tok), 0);
		CU_ASSERT_EQUAL(tok, 3 * 10 + 25 + 27 + 29);
	}

	/* Retention: raw records older than 3 h go, the rollup totals stay. */
	CU_ASSERT_EQUAL(tfd_ledger_prune(l, t0 + 3 * hour, &deleted), 0);
	CU_ASSERT_EQUAL(deleted, 18);
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(tfd_ledger_totals(l, sum_cb, &s) > 0, 1);
	CU_ASSERT_EQUAL(s.requests, 29);
	CU_ASSERT_EQUAL(s.completion, 29 * 30 / 2);
	/* What a tenant spent this period survives the pruning of raw records. */
	CU_ASSERT_EQUAL(tfd_ledger_spent(l, 1, t0, &spent), 0);
	CU_ASSERT_EQUAL(spent, 9 * 10 + (3 + 27) * 9 / 2);
	tfd_ledger_close(l);
}

static int
raw_cb(void *arg, const struct tfd_usage_raw *x)
{
	uint64_t *last = arg;

	CU_ASSERT(x->r.end_time_ns >= last[0]);
	last[0] = x->r.end_time_ns;
	last[1]++;
	return 0;
}

static void
test_meta_balances_export(void)
{
	struct tfd_ledger *l;
	struct tf_eq_entry ev[10];
	struct tfd_commit_result res;
	struct tfd_usage_filter f = { .limit = 6 };
	uint64_t last[2] = { 0, 0 };
	int64_t top = 0;
	char v[32];

	rm_db();
	l = open_ledger();
	CU_ASSERT_EQUAL(tfd_ledger_meta_get(l, "x", v, sizeof(v)), -ENOENT);
	CU_ASSERT_EQUAL(tfd_ledger_meta_set(l, "x", "42"), 0);
	CU_ASSERT_EQUAL(tfd_ledger_meta_get(l, "x", v, sizeof(v)), 0);
	CU_ASSERT_STRING_EQUAL(v, "42");
	CU_ASSERT_EQUAL(tfd_ledger_balance_log(l, 5, "add", 300, 100), 0);
	CU_ASSERT_EQUAL(tfd_ledger_balance_log(l, 5, "add", 200, 200), 0);
	CU_ASSERT_EQUAL(tfd_ledger_balance_log(l, 5, "reset", 0, 250), 0);
	CU_ASSERT_EQUAL(tfd_ledger_topups(l, 5, 150, &top), 0);
	CU_ASSERT_EQUAL(top, 200);
	for (int i = 0; i < 10; i++)
		usage_ev(&ev[i], (uint64_t)i + 1, 5000 - (uint64_t)i * 10); /* reverse time */
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 1, ev, 10, &res), 0);
	CU_ASSERT_EQUAL(tfd_ledger_records(l, &f, raw_cb, last), 6);
	CU_ASSERT_EQUAL(last[1], 6);
	tfd_ledger_close(l);
}

/* Runs SQL on the ledger file directly (what an older tokfabd would have written). */
static int
raw_sql(const char *sql)
{
	sqlite3 *db;
	int rc;

	if (sqlite3_open(g_db, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

static int
count_cb(void *arg, const struct tfd_usage_raw *r)
{
	uint64_t *x = arg;

	x[0]++;
	if (r->r.request_id == 0xfedcba9876543210ull && r->epoch == 0x9000000000000001ull)
		x[1]++;
	return 0;
}

/*
 * A ledger written by schema 1 (usage keyed by card, epoch, seq) is migrated on
 * open: records kept bit for bit (u64 ids >= 2^63 too), replays of them still
 * skipped, new ones appended; a ledger of an unknown newer schema is refused.
 */
static void
test_migrate_schema_1(void)
{
	struct tfd_ledger *l;
	struct tf_eq_entry ev[5];
	struct tfd_commit_result res;
	struct tfd_usage_filter f = { 0 };
	uint64_t nu = 0, nh = 0, seen[2] = { 0, 0 };
	char v[16], err[256];

	rm_db();
	CU_ASSERT_FATAL(
		raw_sql("PRAGMA journal_mode=WAL;"
			"CREATE TABLE usage (card TEXT NOT NULL, epoch INTEGER NOT NULL,"
			" seq INTEGER NOT NULL, end_ns INTEGER NOT NULL, request_id INTEGER NOT "
			"NULL,"
			" tenant_id INTEGER NOT NULL, model_id INTEGER NOT NULL,"
			" accel_id INTEGER NOT NULL, outcome INTEGER NOT NULL,"
			" prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
			" queue_us INTEGER NOT NULL, batch_us INTEGER NOT NULL,"
			" compute_us INTEGER NOT NULL, cost_micro INTEGER NOT NULL,"
			" PRIMARY KEY (card, epoch, seq)) WITHOUT ROWID;"
			"CREATE INDEX usage_end ON usage(end_ns);"
			"CREATE INDEX usage_tenant_end ON usage(tenant_id, end_ns);"
			"CREATE TABLE cards (card TEXT NOT NULL, epoch INTEGER NOT NULL,"
			" last_seq INTEGER NOT NULL, PRIMARY KEY (card, epoch)) WITHOUT ROWID;"
			"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
			"INSERT INTO meta VALUES ('schema', '1');"
			/* epoch 0x9000000000000001, request 0xfedcba9876543210, as stored */
			"INSERT INTO usage VALUES ('OLD', -8070450532247928831, 1, 1000,"
			" -81985529216486896, 1, 1, 1, 0, 10, 1, 0, 0, 0, 11);"
			"INSERT INTO usage VALUES ('OLD', -8070450532247928831, 2, 2000, 7,"
			" 1, 1, 1, 0, 10, 2, 0, 0, 0, 12);"
			"INSERT INTO usage VALUES ('OLD', -8070450532247928831, 3, 3000, 8,"
			" 1, 1, 1, 0, 10, 3, 0, 0, 0, 13);"
			"INSERT INTO cards VALUES ('OLD', -8070450532247928831, 3);") == 0);
	l = open_ledger();
	CU_ASSERT_EQUAL(tfd_ledger_meta_get(l, "schema", v, sizeof(v)), 0);
	CU_ASSERT_STRING_EQUAL(v, "3"); /* 1 -> 2 -> 3 */
	tfd_ledger_counts(l, &nu, &nh);
	CU_ASSERT_EQUAL(nu, 3);
	CU_ASSERT_EQUAL(tfd_ledger_records(l, &f, count_cb, seen), 3);
	CU_ASSERT_EQUAL(seen[1], 1);
	/* The card re-posts 1..3 (never acknowledged) and posts 4..5. */
	for (int i = 0; i < 5; i++)
		usage_ev(&ev[i], (uint64_t)i + 1, 4000 + (uint64_t)i);
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "OLD", 0x9000000000000001ull, ev, 5, &res), 0);
	CU_ASSERT_EQUAL(res.duplicates, 3);
	CU_ASSERT_EQUAL(res.inserted, 2);
	tfd_ledger_counts(l, &nu, &nh);
	CU_ASSERT_EQUAL(nu, 5);
	tfd_ledger_close(l);
	/* Opening again does not migrate twice. */
	l = open_ledger();
	tfd_ledger_counts(l, &nu, &nh);
	CU_ASSERT_EQUAL(nu, 5);
	tfd_ledger_close(l);

	CU_ASSERT_FATAL(raw_sql("UPDATE meta SET value = '9' WHERE key = 'schema'") == 0);
	l = NULL;
	CU_ASSERT_EQUAL(tfd_ledger_open(g_db, 1, &l, err, sizeof(err)), -EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "schema version 9"));
	rm_db();
}

/* Event seq with a usage aggregate of n requests of tenant, 5 completion tokens each. */
static void
agg_ev(struct tf_eq_entry *e, uint64_t seq, uint32_t tenant, uint32_t n, uint64_t end_ns)
{
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->type = TF_EQ_USAGE_AGG;
	e->len = sizeof(struct tf_usage_agg);
	e->body.agg.tenant_id = tenant;
	e->body.agg.model_id = 7;
	e->body.agg.accel_id = 1;
	e->body.agg.requests = n;
	e->body.agg.prompt_tokens = 10ull * n;
	e->body.agg.completion_tokens = 5ull * n;
	e->body.agg.cost_micro = 100ull * n;
	e->body.agg.compute_us = 3ull * n;
	e->body.agg.first_end_ns = end_ns - 1000;
	e->body.agg.last_end_ns = end_ns;
}

/*
 * Usage aggregates (ledger.records: aggregate) beside per-request records:
 * queries, rollups (spent) and metrics totals count each aggregate's requests
 * and tokens; a replay is skipped like a record's; raw export has no rows for
 * them; retention prunes them; a schema 2 ledger gains the table.
 */
static void
test_usage_aggregates(void)
{
	const uint64_t hour = 3600ull * 1000000000ull,
		       t0 = 1700000000ull / 3600 * 3600 * 1000000000ull;
	struct tf_eq_entry ev[6];
	struct tfd_commit_result res;
	struct tfd_usage_filter f = { 0 };
	uint64_t nu = 0, nh = 0, deleted = 0, seen[2] = { 0, 0 };
	struct sums s = { 0 };
	struct tfd_ledger *l;
	int64_t spent = 0;
	char v[16];

	rm_db();
	/* A schema 2 ledger (no usage_agg table yet). */
	l = open_ledger();
	tfd_ledger_close(l);
	CU_ASSERT_FATAL(raw_sql("DROP TABLE usage_agg; UPDATE meta SET value = '2' WHERE key = "
				"'schema'") == 0);
	l = open_ledger();
	CU_ASSERT_EQUAL(tfd_ledger_meta_get(l, "schema", v, sizeof(v)), 0);
	CU_ASSERT_STRING_EQUAL(v, "3");
	/* seq 1: a record of tenant 2 (completion 1); 2..4 aggregates; 5 a record; */
	usage_ev(&ev[0], 1, t0 + 10);
	agg_ev(&ev[1], 2, 1, 40, t0 + 20);
	agg_ev(&ev[2], 3, 2, 7, t0 + 30);
	agg_ev(&ev[3], 4, 1, 3, t0 + hour + 5); /* next hour */
	usage_ev(&ev[4], 5, t0 + hour + 6); /* tenant 3, completion 5 */
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 9, ev, 5, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 5);
	CU_ASSERT_EQUAL(res.max_seq, 5);
	f.group = TFD_GROUP_TENANT;
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 3);
	CU_ASSERT_EQUAL(s.requests, 1 + 40 + 7 + 3 + 1);
	CU_ASSERT_EQUAL(s.completion, 1 + 5 * 50 + 5);
	CU_ASSERT_EQUAL(s.cost, 11 + 100 * 50 + 15);
	/* Tenant 1 alone, first hour only: the 40. */
	memset(&s, 0, sizeof(s));
	f = (struct tfd_usage_filter){ .tenant = 1, .until_ns = t0 + hour };
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 1);
	CU_ASSERT_EQUAL(s.requests, 40);
	CU_ASSERT_EQUAL(s.completion, 200);
	/* Spent comes from the rollups: both hours of tenant 1. */
	CU_ASSERT_EQUAL(tfd_ledger_spent(l, 1, t0, &spent), 0);
	CU_ASSERT_EQUAL(spent, 100 * 43);
	CU_ASSERT_EQUAL(tfd_ledger_spent(l, 1, t0 + hour, &spent), 0);
	CU_ASSERT_EQUAL(spent, 300);
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(tfd_ledger_totals(l, sum_cb, &s) > 0, 1);
	CU_ASSERT_EQUAL(s.requests, 52);
	CU_ASSERT_EQUAL(s.completion, 256);
	/* Raw export: the two per-request records only. */
	f = (struct tfd_usage_filter){ 0 };
	CU_ASSERT_EQUAL(tfd_ledger_records(l, &f, count_cb, seen), 2);
	/* The card re-posts 2..5 (unacknowledged) and posts 6: only 6 is new. */
	ev[0] = ev[1], ev[1] = ev[2], ev[2] = ev[3], ev[3] = ev[4];
	agg_ev(&ev[4], 6, 2, 1, t0 + hour + 7);
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "TF1", 9, ev, 5, &res), 0);
	CU_ASSERT_EQUAL(res.duplicates, 4);
	CU_ASSERT_EQUAL(res.inserted, 1);
	memset(&s, 0, sizeof(s));
	f = (struct tfd_usage_filter){ 0 };
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 1);
	CU_ASSERT_EQUAL(s.requests, 53);
	CU_ASSERT_EQUAL(tfd_ledger_spent(l, 2, t0, &spent), 0);
	CU_ASSERT_EQUAL(spent, 11 + 700 + 100); /* usage_ev seq 1: tenant 2, cost 11 */
	tfd_ledger_counts(l, &nu, &nh);
	CU_ASSERT_EQUAL(nu, 6);
	/* Retention prunes aggregates too; the rollups stay. */
	CU_ASSERT_EQUAL(tfd_ledger_prune(l, t0 + hour, &deleted), 0);
	CU_ASSERT_EQUAL(deleted, 3);
	CU_ASSERT_EQUAL(tfd_ledger_spent(l, 1, t0, &spent), 0);
	CU_ASSERT_EQUAL(spent, 100 * 43);
	tfd_ledger_close(l);
	rm_db();
}

/* One commit of many records: the 16-row inserts and the tail, every field kept. */
static void
test_large_commit(void)
{
	static struct tf_eq_entry ev[1000];
	struct tfd_ledger *l;
	struct tfd_commit_result res;
	struct tfd_usage_filter f = { .tenant = 2 };
	struct sums s = { 0 };
	uint64_t nu = 0, nh = 0;

	rm_db();
	l = open_ledger();
	for (int i = 0; i < 1000; i++)
		usage_ev(&ev[i], (uint64_t)i + 1, 1000000 + (uint64_t)i);
	CU_ASSERT_EQUAL(tfd_ledger_commit(l, "BIG", 7, ev, 1000, &res), 0);
	CU_ASSERT_EQUAL(res.inserted, 1000);
	CU_ASSERT_EQUAL(res.max_seq, 1000);
	tfd_ledger_counts(l, &nu, &nh);
	CU_ASSERT_EQUAL(nu, 1000);
	/* tenant 2 = seq % 3 == 1: 334 records, completion tokens = seq */
	CU_ASSERT_EQUAL(tfd_ledger_query(l, &f, sum_cb, &s), 1);
	CU_ASSERT_EQUAL(s.requests, 334);
	CU_ASSERT_EQUAL(s.completion, 334ull * (1 + 1000) / 2);
	tfd_ledger_close(l);
	rm_db();
}

/* The group map behind the rollups and the metrics: many keys, growth, clear. */
static void
test_keymap(void)
{
	struct tfd_keymap m = { 0 };
	int added = 0, bad = 0;

	for (uint32_t i = 0; i < 10000; i++) {
		struct tfd_usage_key k = { .hour = i % 7 * 3600,
					   .tenant = i,
					   .model = 1,
					   .accel = i % 3,
					   .outcome = (int32_t)(i % 2) };

		if (tfd_keymap_get_or_add(&m, &k, i, &added) != i || !added)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(m.n, 10000);
	CU_ASSERT(m.cap >= 20000);
	for (uint32_t i = 0; i < 10000; i++) {
		struct tfd_usage_key k = { .hour = i % 7 * 3600,
					   .tenant = i,
					   .model = 1,
					   .accel = i % 3,
					   .outcome = (int32_t)(i % 2) };

		if (tfd_keymap_get_or_add(&m, &k, 99999, &added) != i || added)
			bad++;
		k.outcome = -1; /* differs in one field only: a new key */
		if (tfd_keymap_get_or_add(&m, &k, 20000 + i, &added) != 20000 + i || !added)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	tfd_keymap_clear(&m);
	CU_ASSERT_EQUAL(m.n, 0);
	{
		struct tfd_usage_key k = { .tenant = 5 };

		CU_ASSERT_EQUAL(tfd_keymap_get_or_add(&m, &k, 7, &added), 7);
		CU_ASSERT_EQUAL(added, 1);
	}
	tfd_keymap_free(&m);
}

static const struct tf_cunit_test ledger_tests[] = {
	TF_TEST(test_replay_is_idempotent),
	TF_TEST(test_crash_between_commit_and_ack),
	TF_TEST(test_aggregates_and_rollups),
	TF_TEST(test_meta_balances_export),
	TF_TEST(test_migrate_schema_1),
	TF_TEST(test_usage_aggregates),
	TF_TEST(test_large_commit),
	TF_TEST(test_keymap),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "host_ledger", suite_init, suite_fini, ledger_tests })
