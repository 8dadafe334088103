/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metering ledger: SQLite in WAL mode. Every event the card posts (usage
 * records and health events) is committed here before it is acknowledged to
 * the card. Events are identified by (card serial, epoch, seq) and committed in
 * sequence order, so a replay after a crash is recognised by its seq: one at or
 * below the highest seq already committed for its (card, epoch) is skipped.
 * An hourly rollup (tenant, model, accelerator, outcome) is kept in the same
 * transaction and outlives the raw records' retention.
 *
 * One struct tfd_ledger is one SQLite connection: use one per thread.
 */
#ifndef TFD_LEDGER_H
#define TFD_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "tokfab/bar.h"

struct tfd_ledger;

/* Opens (creating the schema if needed). sync_full: synchronous=FULL. */
int tfd_ledger_open(const char *path, int sync_full, struct tfd_ledger **lp, char *err,
		    size_t errlen);
void tfd_ledger_close(struct tfd_ledger *l);
const char *tfd_ledger_errmsg(struct tfd_ledger *l);

struct tfd_commit_result {
	unsigned int inserted; /* new events */
	unsigned int duplicates; /* already in the ledger (a replay) */
	uint64_t max_seq; /* highest seq among the events */
};

/*
 * Commits n consecutive events of card (serial, epoch), in ascending seq, in
 * one transaction; events at or below the (card, epoch)'s highest committed seq
 * are counted as duplicates and skipped. A caller must never commit an event
 * after a later one of the same (card, epoch) (the card thread commits in
 * sequence and acknowledges only what it committed, so it never does).
 * 0 or -EIO (nothing committed; the caller must not acknowledge).
 */
int tfd_ledger_commit(struct tfd_ledger *l, const char *card, uint64_t epoch,
		      const struct tf_eq_entry *ev, unsigned int n, struct tfd_commit_result *res);

/* Small key/value store for the daemon's own state (period starts, key ids). */
int tfd_ledger_meta_get(struct tfd_ledger *l, const char *key, char *val, size_t len);
int tfd_ledger_meta_set(struct tfd_ledger *l, const char *key, const char *val);

/* Audit log of balance changes the host made (top-ups, resets, sets). */
int tfd_ledger_balance_log(struct tfd_ledger *l, uint32_t tenant, const char *op, int64_t amount,
			   uint64_t ts_ns);
/* Sum of top-ups (op "add") for tenant since since_ns. */
int tfd_ledger_topups(struct tfd_ledger *l, uint32_t tenant, uint64_t since_ns, int64_t *micro);
/*
 * Sum of cost_micro of tenant's usage records that ended at or after since_ns,
 * which must be on an hour boundary (budget periods are): read from the hourly
 * rollups, so it stays cheap and survives retention. -EINVAL otherwise.
 */
int tfd_ledger_spent(struct tfd_ledger *l, uint32_t tenant, uint64_t since_ns, int64_t *micro);
/* Tokens (prompt + completion) accel produced since since_ns (hour boundary). */
int tfd_ledger_accel_tokens(struct tfd_ledger *l, uint32_t accel, uint64_t since_ns,
			    int64_t *tokens);

/* GROUP BY flags for tfd_ledger_query. */
#define TFD_GROUP_TENANT (1u << 0)
#define TFD_GROUP_MODEL (1u << 1)
#define TFD_GROUP_ACCEL (1u << 2)
#define TFD_GROUP_OUTCOME (1u << 3)
#define TFD_GROUP_BUCKET (1u << 4)

struct tfd_usage_filter {
	uint32_t tenant, model, accel; /* 0 = any */
	uint64_t since_ns, until_ns; /* [since, until); until 0 = no bound */
	unsigned int group; /* TFD_GROUP_* */
	uint64_t bucket_s; /* with TFD_GROUP_BUCKET, >= 1 */
	unsigned int limit; /* rows; 0 = 100000 */
};

struct tfd_usage_row {
	uint32_t tenant, model, accel; /* 0 when not grouped by it */
	int outcome; /* -1 when not grouped by it */
	uint64_t bucket_ns; /* bucket start, 0 when not grouped by it */
	uint64_t requests, prompt_tokens, completion_tokens;
	int64_t cost_micro;
	uint64_t compute_us; /* sum */
	uint64_t first_ns, last_ns;
};

/*
 * Aggregates usage records and usage aggregates (ledger.records: aggregate)
 * alike; calls fn per row. Returns rows or -EIO/-EINVAL. An aggregate counts
 * in the time range and bucket of its last request's end (its window lies in
 * one bucket when bucket_s is a multiple of the window).
 */
int tfd_ledger_query(struct tfd_ledger *l, const struct tfd_usage_filter *f,
		     int (*fn)(void *arg, const struct tfd_usage_row *row), void *arg);

struct tfd_usage_raw {
	char card[TF_NAME_LEN];
	uint64_t epoch, seq;
	struct tf_usage_record r;
};

/*
 * Raw per-request records in time order (export). Aggregate mode keeps none:
 * its requests are only in the aggregates. Returns rows or -errno.
 */
int tfd_ledger_records(struct tfd_ledger *l, const struct tfd_usage_filter *f,
		       int (*fn)(void *arg, const struct tfd_usage_raw *rec), void *arg);

/* Totals since the ledger began, by tenant, model, accel and outcome (hourly rollups). */
int tfd_ledger_totals(struct tfd_ledger *l, int (*fn)(void *arg, const struct tfd_usage_row *row),
		      void *arg);

/* Deletes raw usage records that ended before before_ns (rollups stay). */
int tfd_ledger_prune(struct tfd_ledger *l, uint64_t before_ns, uint64_t *deleted);

/* Counts of committed events (usage: records + aggregates; for tests and the startup log). */
int tfd_ledger_counts(struct tfd_ledger *l, uint64_t *usage, uint64_t *health);

#endif /* TFD_LEDGER_H */
