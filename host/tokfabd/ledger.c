/* SPDX-License-Identifier: BSD-3-Clause */
/* The metering ledger on SQLite (WAL): commit, rollups, queries, retention. */
#include "tokfabd/ledger.h"

#include "tokfabd/keymap.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One hourly rollup row accumulated over a commit (flushed as one upsert). */
struct rollup {
	uint64_t hour;
	uint32_t tenant, model, accel;
	int outcome;
	uint64_t requests, prompt, completion, cost;
};

#define ROLLUP_MAX 4096 /* groups per flush; a commit of more distinct groups flushes twice */
/*
 * Records per INSERT statement: one statement execution (VDBE set-up, cursor,
 * halt) serves 16 rows, which took the per-record CPU of a commit from ~1.2 to
 * ~0.8 us on the build host (bench_host_ledger).
 */
#define ROWS_PER_INSERT 16
#define USAGE_COLS 15

static pthread_once_t g_sqlite_once = PTHREAD_ONCE_INIT;

struct tfd_ledger {
	sqlite3 *db;
	struct rollup roll[ROLLUP_MAX];
	unsigned int n_roll;
	struct tfd_keymap roll_map; /* group -> roll[] */
	sqlite3_stmt *ins_usage, *ins_usage_n, *ins_agg, *ins_health, *upsert_hourly, *upsert_card,
		*get_card;
	/* usage records of this commit not yet inserted (ins_usage_n takes ROWS_PER_INSERT) */
	const struct tf_eq_entry *queued[ROWS_PER_INSERT];
	unsigned int n_queued;
	char err[256]; /* why the last commit failed (before its rollback); "" after a success */
	sqlite3_stmt *begin, *commit, *rollback;
	/* the once-a-second reads and the small writes, prepared once */
	sqlite3_stmt *meta_get, *meta_set, *balance_log, *topups, *spent, *accel_tokens;
};

/*
 * Schema 2. `usage` is an append-only rowid table with one index (end time):
 * each record costs one append and one index insert. A replay is recognised by
 * its sequence number, not by a unique key: the events of one (card, epoch)
 * are committed in sequence order and only then acknowledged, so an event is
 * already in the ledger exactly when its seq <= cards.last_seq of its (card,
 * epoch) (read once per transaction). Schema 1 had `usage` keyed by (card,
 * epoch, seq) plus a (tenant, end) index: three B-tree inserts per record,
 * ~3x the CPU (hwdocs/performance.md); it is migrated on open.
 *
 * Schema 3 adds `usage_agg`: one row per usage aggregate (ledger.records:
 * aggregate; the card summed requests of one tenant, model, accelerator and
 * outcome over a window), append-only like `usage` and under the same
 * watermark. Queries read both tables; a schema 2 ledger gets the table.
 */
#define SCHEMA_VERSION "3"

static const char g_schema[] =
	"CREATE TABLE IF NOT EXISTS usage ("
	" card TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" end_ns INTEGER NOT NULL, request_id INTEGER NOT NULL,"
	" tenant_id INTEGER NOT NULL, model_id INTEGER NOT NULL, accel_id INTEGER NOT NULL,"
	" outcome INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,"
	" completion_tokens INTEGER NOT NULL, queue_us INTEGER NOT NULL,"
	" batch_us INTEGER NOT NULL, compute_us INTEGER NOT NULL, cost_micro INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS usage_end ON usage(end_ns);"
	"CREATE TABLE IF NOT EXISTS usage_agg ("
	" card TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" end_ns INTEGER NOT NULL, first_end_ns INTEGER NOT NULL, requests INTEGER NOT NULL,"
	" tenant_id INTEGER NOT NULL, model_id INTEGER NOT NULL, accel_id INTEGER NOT NULL,"
	" outcome INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,"
	" completion_tokens INTEGER NOT NULL, compute_us INTEGER NOT NULL,"
	" cost_micro INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS usage_agg_end ON usage_agg(end_ns);"
	"CREATE TABLE IF NOT EXISTS health_events ("
	" card TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" time_ns INTEGER NOT NULL, component INTEGER NOT NULL, component_id INTEGER NOT NULL,"
	" state INTEGER NOT NULL, reason INTEGER NOT NULL, detail TEXT NOT NULL,"
	" PRIMARY KEY (card, epoch, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS usage_hourly ("
	" hour INTEGER NOT NULL, tenant_id INTEGER NOT NULL, model_id INTEGER NOT NULL,"
	" accel_id INTEGER NOT NULL, outcome INTEGER NOT NULL, requests INTEGER NOT NULL,"
	" prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
	" cost_micro INTEGER NOT NULL,"
	" PRIMARY KEY (hour, tenant_id, model_id, accel_id, outcome)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS cards ("
	" card TEXT NOT NULL, epoch INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
	" PRIMARY KEY (card, epoch)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS balance_log ("
	" id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, tenant_id INTEGER NOT NULL,"
	" op TEXT NOT NULL, amount INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES ('schema', '" SCHEMA_VERSION "');";

/* Schema 1 -> 2: the records move into the append-only table, in sequence order. */
static const char g_migrate_1_2[] =
	"BEGIN IMMEDIATE;"
	"DROP INDEX IF EXISTS usage_end;"
	"DROP INDEX IF EXISTS usage_tenant_end;"
	"ALTER TABLE usage RENAME TO usage_v1;"
	"CREATE TABLE usage ("
	" card TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" end_ns INTEGER NOT NULL, request_id INTEGER NOT NULL,"
	" tenant_id INTEGER NOT NULL, model_id INTEGER NOT NULL, accel_id INTEGER NOT NULL,"
	" outcome INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,"
	" completion_tokens INTEGER NOT NULL, queue_us INTEGER NOT NULL,"
	" batch_us INTEGER NOT NULL, compute_us INTEGER NOT NULL, cost_micro INTEGER NOT NULL);"
	"INSERT INTO usage SELECT * FROM usage_v1 ORDER BY card, epoch, seq;"
	"DROP TABLE usage_v1;"
	"CREATE INDEX usage_end ON usage(end_ns);"
	/* The watermark must cover every record kept (schema 1 kept it too). */
	"INSERT INTO cards SELECT card, epoch, MAX(seq) FROM usage GROUP BY card, epoch"
	" ON CONFLICT DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);"
	"UPDATE meta SET value = '2' WHERE key = 'schema';"
	"COMMIT;";

/* Schema 2 -> 3: only a new table (g_schema creates it right after). */
static const char g_migrate_2_3[] = "UPDATE meta SET value = '3' WHERE key = 'schema';";

static int
prep(struct tfd_ledger *l, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
		       ? 0
		       : -EIO;
}

/* A ledger of an older schema is brought to SCHEMA_VERSION (one transaction). */
static int
migrate(struct tfd_ledger *l, char **msg)
{
	sqlite3_stmt *st;
	char ver[16] = "";

	if (sqlite3_prepare_v2(l->db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st,
			       NULL) != SQLITE_OK)
		return 0; /* no meta table: a new ledger */
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(ver, sizeof(ver), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (!ver[0] || !strcmp(ver, SCHEMA_VERSION))
		return 0;
	if (strcmp(ver, "1") && strcmp(ver, "2")) {
		*msg = sqlite3_mprintf("schema version %s is newer than this tokfabd (%s): "
				       "run the tokfabd that wrote it",
				       ver, SCHEMA_VERSION);
		return -EPROTO;
	}
	if (!strcmp(ver, "1") && sqlite3_exec(l->db, g_migrate_1_2, NULL, NULL, msg) != SQLITE_OK) {
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	return sqlite3_exec(l->db, g_migrate_2_3, NULL, NULL, msg) == SQLITE_OK ? 0 : -EIO;
}

/* SQLite's allocation statistics take a global mutex per malloc: not needed here. */
static void
sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* INSERT INTO usage VALUES (15 ?), ... ROWS_PER_INSERT times. */
static int
prep_multi(struct tfd_ledger *l, sqlite3_stmt **st)
{
	char sql[64 + ROWS_PER_INSERT * (2 * USAGE_COLS + 4)];
	size_t n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO usage VALUES ");

	for (int r = 0; r < ROWS_PER_INSERT; r++) {
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s(", r ? "," : "");
		for (int c = 0; c < USAGE_COLS; c++)
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s?", c ? "," : "");
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ")");
	}
	return prep(l, sql, st);
}

int
tfd_ledger_open(const char *path, int sync_full, struct tfd_ledger **lp, char *err, size_t errlen)
{
	struct tfd_ledger *l = calloc(1, sizeof(*l));
	char pragmas[128];
	char *msg = NULL;
	int rc;

	if (!l)
		return -ENOMEM;
	pthread_once(&g_sqlite_once, sqlite_setup);
	rc = sqlite3_open_v2(path, &l->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen,
			 "ledger %s: cannot open: %s (does the directory exist and "
			 "is it writable?)",
			 path, l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
		goto err;
	}
	sqlite3_busy_timeout(l->db, 10000);
	snprintf(pragmas, sizeof(pragmas), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
		 sync_full ? "FULL" : "NORMAL");
	if (sqlite3_exec(l->db, pragmas, NULL, NULL, &msg) != SQLITE_OK || migrate(l, &msg) < 0 ||
	    sqlite3_exec(l->db, g_schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "ledger %s: %s", path, msg ? msg : "schema error");
		sqlite3_free(msg);
		goto err;
	}
	if (prep(l, "INSERT INTO usage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &l->ins_usage) ||
	    prep_multi(l, &l->ins_usage_n) ||
	    prep(l, "INSERT INTO usage_agg VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &l->ins_agg) ||
	    prep(l, "SELECT last_seq FROM cards WHERE card = ? AND epoch = ?", &l->get_card) ||
	    prep(l, "INSERT OR IGNORE INTO health_events VALUES (?,?,?,?,?,?,?,?,?)",
		 &l->ins_health) ||
	    prep(l,
		 "INSERT INTO usage_hourly VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET"
		 " requests = requests + excluded.requests,"
		 " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
		 " completion_tokens = completion_tokens + excluded.completion_tokens,"
		 " cost_micro = cost_micro + excluded.cost_micro",
		 &l->upsert_hourly) ||
	    prep(l,
		 "INSERT INTO cards VALUES (?,?,?) ON CONFLICT DO UPDATE SET"
		 " last_seq = max(last_seq, excluded.last_seq)",
		 &l->upsert_card) ||
	    prep(l, "BEGIN IMMEDIATE", &l->begin) || prep(l, "COMMIT", &l->commit) ||
	    prep(l, "ROLLBACK", &l->rollback) ||
	    prep(l, "SELECT value FROM meta WHERE key = ?", &l->meta_get) ||
	    prep(l, "INSERT OR REPLACE INTO meta VALUES (?, ?)", &l->meta_set) ||
	    prep(l, "INSERT INTO balance_log (ts_ns, tenant_id, op, amount) VALUES (?,?,?,?)",
		 &l->balance_log) ||
	    prep(l,
		 "SELECT COALESCE(SUM(amount), 0) FROM balance_log "
		 "WHERE tenant_id = ? AND ts_ns >= ? AND op = 'add'",
		 &l->topups) ||
	    prep(l,
		 "SELECT COALESCE(SUM(cost_micro), 0) FROM usage_hourly "
		 "WHERE tenant_id = ? AND hour >= ?",
		 &l->spent) ||
	    prep(l,
		 "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage_hourly "
		 "WHERE accel_id = ? AND hour >= ?",
		 &l->accel_tokens)) {
		snprintf(err, errlen, "ledger %s: %s", path, sqlite3_errmsg(l->db));
		goto err;
	}
	*lp = l;
	return 0;
err:
	tfd_ledger_close(l);
	return -EIO;
}

void
tfd_ledger_close(struct tfd_ledger *l)
{
	if (!l)
		return;
	sqlite3_finalize(l->ins_usage);
	sqlite3_finalize(l->ins_agg);
	sqlite3_finalize(l->ins_usage_n);
	sqlite3_finalize(l->ins_health);
	sqlite3_finalize(l->upsert_hourly);
	sqlite3_finalize(l->upsert_card);
	sqlite3_finalize(l->get_card);
	sqlite3_finalize(l->begin);
	sqlite3_finalize(l->commit);
	sqlite3_finalize(l->rollback);
	sqlite3_finalize(l->meta_get);
	sqlite3_finalize(l->meta_set);
	sqlite3_finalize(l->balance_log);
	sqlite3_finalize(l->topups);
	sqlite3_finalize(l->spent);
	sqlite3_finalize(l->accel_tokens);
	sqlite3_close(l->db);
	tfd_keymap_free(&l->roll_map);
	free(l);
}

const char *
tfd_ledger_errmsg(struct tfd_ledger *l)
{
	return l->err[0] ? l->err : sqlite3_errmsg(l->db);
}

static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int
flush_rollups(struct tfd_ledger *l)
{
	sqlite3_stmt *st = l->upsert_hourly;

	for (unsigned int k = 0; k < l->n_roll; k++) {
		const struct rollup *r = &l->roll[k];
		int i = 1;

		sqlite3_bind_int64(st, i++, (sqlite3_int64)r->hour);
		sqlite3_bind_int64(st, i++, r->tenant);
		sqlite3_bind_int64(st, i++, r->model);
		sqlite3_bind_int64(st, i++, r->accel);
		sqlite3_bind_int(st, i++, r->outcome);
		sqlite3_bind_int64(st, i++, (sqlite3_int64)r->requests);
		sqlite3_bind_int64(st, i++, (sqlite3_int64)r->prompt);
		sqlite3_bind_int64(st, i++, (sqlite3_int64)r->completion);
		sqlite3_bind_int64(st, i++, (sqlite3_int64)r->cost);
		if (step_done(st))
			return -EIO;
	}
	l->n_roll = 0;
	tfd_keymap_clear(&l->roll_map);
	return 0;
}

/* One record or aggregate as a rollup contribution. */
struct rollup_add {
	uint64_t end_ns;
	uint32_t tenant, model, accel;
	uint16_t outcome;
	uint64_t requests, prompt, completion, cost;
};

/*
 * Adds a new record or aggregate to this commit's rollups (one upsert per
 * group, not per record). An aggregate's window lies within one minute
 * (aggregate_ms divides 60 s), so within one hour: its end decides.
 */
static int
add_rollup(struct tfd_ledger *l, const struct rollup_add *u)
{
	struct tfd_usage_key k = { .hour = u->end_ns / 3600000000000ull * 3600,
				   .tenant = u->tenant,
				   .model = u->model,
				   .accel = u->accel,
				   .outcome = u->outcome };
	struct rollup *r;
	int64_t i;
	int added;

	if (l->n_roll == ROLLUP_MAX && flush_rollups(l) < 0)
		return -EIO;
	i = tfd_keymap_get_or_add(&l->roll_map, &k, l->n_roll, &added);
	if (i < 0)
		return -ENOMEM;
	r = &l->roll[i];
	if (added) {
		l->n_roll++;
		*r = (struct rollup){ .hour = k.hour,
				      .tenant = k.tenant,
				      .model = k.model,
				      .accel = k.accel,
				      .outcome = k.outcome };
	}
	r->requests += u->requests;
	r->prompt += u->prompt;
	r->completion += u->completion;
	r->cost += u->cost;
	return 0;
}

/* Binds one record's columns from parameter i on. */
static void
bind_usage(sqlite3_stmt *st, int i, const char *card, uint64_t epoch, const struct tf_eq_entry *e)
{
	const struct tf_usage_record *u = &e->body.usage;

	sqlite3_bind_text(st, i++, card, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)epoch);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)e->seq);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)u->end_time_ns);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)u->request_id); /* same 64 bits */
	sqlite3_bind_int64(st, i++, u->tenant_id);
	sqlite3_bind_int64(st, i++, u->model_id);
	sqlite3_bind_int64(st, i++, u->accel_id);
	sqlite3_bind_int(st, i++, u->outcome);
	sqlite3_bind_int64(st, i++, u->prompt_tokens);
	sqlite3_bind_int64(st, i++, u->completion_tokens);
	sqlite3_bind_int64(st, i++, u->queue_us);
	sqlite3_bind_int64(st, i++, u->batch_us);
	sqlite3_bind_int64(st, i++, u->compute_us);
	sqlite3_bind_int64(st, i, (sqlite3_int64)u->cost_micro);
}

/* Inserts the queued records: full groups with one statement each, the rest one by one. */
static int
insert_queued(struct tfd_ledger *l, const char *card, uint64_t epoch)
{
	unsigned int n = l->n_queued;

	l->n_queued = 0;
	if (n == ROWS_PER_INSERT) {
		for (unsigned int r = 0; r < n; r++)
			bind_usage(l->ins_usage_n, 1 + (int)r * USAGE_COLS, card, epoch,
				   l->queued[r]);
		return step_done(l->ins_usage_n);
	}
	for (unsigned int r = 0; r < n; r++) {
		bind_usage(l->ins_usage, 1, card, epoch, l->queued[r]);
		if (step_done(l->ins_usage))
			return -EIO;
	}
	return 0;
}

static int
commit_usage(struct tfd_ledger *l, const char *card, uint64_t epoch, const struct tf_eq_entry *e)
{
	const struct tf_usage_record *u = &e->body.usage;

	l->queued[l->n_queued++] = e;
	if (l->n_queued == ROWS_PER_INSERT && insert_queued(l, card, epoch) < 0)
		return -EIO;
	return add_rollup(l, &(struct rollup_add){ .end_ns = u->end_time_ns,
						   .tenant = u->tenant_id,
						   .model = u->model_id,
						   .accel = u->accel_id,
						   .outcome = u->outcome,
						   .requests = 1,
						   .prompt = u->prompt_tokens,
						   .completion = u->completion_tokens,
						   .cost = u->cost_micro });
}

/* One usage aggregate: one row (they are few: per group and window, not per request). */
static int
commit_agg(struct tfd_ledger *l, const char *card, uint64_t epoch, const struct tf_eq_entry *e)
{
	const struct tf_usage_agg *a = &e->body.agg;
	sqlite3_stmt *st = l->ins_agg;
	int i = 1;

	sqlite3_bind_text(st, i++, card, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)epoch);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)e->seq);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)a->last_end_ns);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)a->first_end_ns);
	sqlite3_bind_int64(st, i++, a->requests);
	sqlite3_bind_int64(st, i++, a->tenant_id);
	sqlite3_bind_int64(st, i++, a->model_id);
	sqlite3_bind_int64(st, i++, a->accel_id);
	sqlite3_bind_int(st, i++, a->outcome);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)a->prompt_tokens);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)a->completion_tokens);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)a->compute_us);
	sqlite3_bind_int64(st, i, (sqlite3_int64)a->cost_micro);
	if (step_done(st))
		return -EIO;
	return add_rollup(l, &(struct rollup_add){ .end_ns = a->last_end_ns,
						   .tenant = a->tenant_id,
						   .model = a->model_id,
						   .accel = a->accel_id,
						   .outcome = a->outcome,
						   .requests = a->requests,
						   .prompt = a->prompt_tokens,
						   .completion = a->completion_tokens,
						   .cost = a->cost_micro });
}

static int
commit_health(struct tfd_ledger *l, const char *card, uint64_t epoch, uint64_t seq,
	      const struct tf_health_event *h)
{
	sqlite3_stmt *st = l->ins_health;
	int i = 1;

	sqlite3_bind_text(st, i++, card, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)epoch);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)h->time_ns);
	sqlite3_bind_int(st, i++, h->component);
	sqlite3_bind_int64(st, i++, h->component_id);
	sqlite3_bind_int(st, i++, h->state);
	sqlite3_bind_int64(st, i++, h->reason);
	sqlite3_bind_text(st, i++, h->detail, -1, SQLITE_TRANSIENT);
	return step_done(st);
}

/* Highest seq of (card, epoch) in the ledger; 0 when none. */
static int
last_seq(struct tfd_ledger *l, const char *card, uint64_t epoch, uint64_t *seq)
{
	sqlite3_stmt *st = l->get_card;
	int rc;

	sqlite3_bind_text(st, 1, card, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch);
	rc = sqlite3_step(st);
	*seq = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

int
tfd_ledger_commit(struct tfd_ledger *l, const char *card, uint64_t epoch,
		  const struct tf_eq_entry *ev, unsigned int n, struct tfd_commit_result *res)
{
	uint64_t have = 0;
	unsigned int i;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	l->n_roll = 0;
	tfd_keymap_clear(&l->roll_map);
	l->n_queued = 0;
	if (n == 0)
		return 0;
	if (step_done(l->begin)) {
		snprintf(l->err, sizeof(l->err), "cannot begin a transaction: %s",
			 sqlite3_errmsg(l->db));
		return -EIO;
	}
	rc = last_seq(l, card, epoch, &have);
	for (i = 0; i < n && rc == 0; i++) {
		if (ev[i].seq > res->max_seq)
			res->max_seq = ev[i].seq;
		if (ev[i].seq <= have) {
			res->duplicates++; /* committed before; acknowledged or not */
			continue;
		}
		if (ev[i].type == TF_EQ_USAGE)
			rc = commit_usage(l, card, epoch, &ev[i]);
		else if (ev[i].type == TF_EQ_USAGE_AGG)
			rc = commit_agg(l, card, epoch, &ev[i]);
		else
			rc = commit_health(l, card, epoch, ev[i].seq, &ev[i].body.health);
		res->inserted++;
	}
	if (rc == 0)
		rc = insert_queued(l, card, epoch);
	if (rc == 0)
		rc = flush_rollups(l);
	if (rc == 0) {
		sqlite3_bind_text(l->upsert_card, 1, card, -1, SQLITE_STATIC);
		sqlite3_bind_int64(l->upsert_card, 2, (sqlite3_int64)epoch);
		sqlite3_bind_int64(l->upsert_card, 3, (sqlite3_int64)res->max_seq);
		rc = step_done(l->upsert_card);
	}
	if (rc == 0 && step_done(l->commit) == 0) {
		l->err[0] = '\0';
		return 0;
	}
	snprintf(l->err, sizeof(l->err), "commit failed: %s", sqlite3_errmsg(l->db));
	step_done(l->rollback);
	l->n_roll = 0;
	tfd_keymap_clear(&l->roll_map);
	l->n_queued = 0;
	memset(res, 0, sizeof(*res));
	return -EIO;
}

int
tfd_ledger_meta_get(struct tfd_ledger *l, const char *key, char *val, size_t len)
{
	sqlite3_stmt *st = l->meta_get;
	int rc = -ENOENT;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		snprintf(val, len, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = 0;
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = -EIO;
	}
	sqlite3_reset(st);
	return rc;
}

int
tfd_ledger_meta_set(struct tfd_ledger *l, const char *key, const char *val)
{
	sqlite3_bind_text(l->meta_set, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(l->meta_set, 2, val, -1, SQLITE_STATIC);
	return step_done(l->meta_set);
}

int
tfd_ledger_balance_log(struct tfd_ledger *l, uint32_t tenant, const char *op, int64_t amount,
		       uint64_t ts_ns)
{
	sqlite3_stmt *st = l->balance_log;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)ts_ns);
	sqlite3_bind_int64(st, 2, tenant);
	sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, amount);
	return step_done(st);
}

static int
sum_query(sqlite3_stmt *st, uint32_t id, uint64_t since, int64_t *out)
{
	int rc = -EIO;

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

int
tfd_ledger_topups(struct tfd_ledger *l, uint32_t tenant, uint64_t since_ns, int64_t *micro)
{
	return sum_query(l->topups, tenant, since_ns, micro);
}

int
tfd_ledger_spent(struct tfd_ledger *l, uint32_t tenant, uint64_t since_ns, int64_t *micro)
{
	/* From the hourly rollups: exact for an hour-aligned start, and cheap. */
	if (since_ns % 3600000000000ull)
		return -EINVAL;
	return sum_query(l->spent, tenant, since_ns / 1000000000ull, micro);
}

int
tfd_ledger_accel_tokens(struct tfd_ledger *l, uint32_t accel, uint64_t since_ns, int64_t *tokens)
{
	if (since_ns % 3600000000000ull)
		return -EINVAL;
	return sum_query(l->accel_tokens, accel, since_ns / 1000000000ull, tokens);
}

/* WHERE clause and its bindings shared by query and records. */
static void
where_clause(const struct tfd_usage_filter *f, char *buf, size_t len)
{
	snprintf(buf, len,
		 " WHERE (?1 = 0 OR tenant_id = ?1) AND (?2 = 0 OR model_id = ?2)"
		 " AND (?3 = 0 OR accel_id = ?3) AND end_ns >= ?4 AND (?5 = 0 OR end_ns < ?5)");
	(void)f;
}

static void
bind_filter(sqlite3_stmt *st, const struct tfd_usage_filter *f)
{
	sqlite3_bind_int64(st, 1, f->tenant);
	sqlite3_bind_int64(st, 2, f->model);
	sqlite3_bind_int64(st, 3, f->accel);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)f->since_ns);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)f->until_ns);
}

/*
 * Per-request rows and aggregates as one relation (requests = 1 for a row);
 * first_ns: when the earliest request in the row ended.
 */
#define USAGE_BOTH                                                                         \
	"SELECT end_ns, end_ns AS first_ns, 1 AS requests, tenant_id, model_id, accel_id," \
	" outcome, prompt_tokens, completion_tokens, compute_us, cost_micro FROM usage"    \
	" UNION ALL SELECT end_ns, first_end_ns, requests, tenant_id, model_id, accel_id," \
	" outcome, prompt_tokens, completion_tokens, compute_us, cost_micro FROM usage_agg"

int
tfd_ledger_query(struct tfd_ledger *l, const struct tfd_usage_filter *f,
		 int (*fn)(void *arg, const struct tfd_usage_row *row), void *arg)
{
	char sql[1536], where[256], cols[256] = "", groupby[256] = "";
	unsigned int limit = f->limit ? f->limit : 100000;
	sqlite3_stmt *st;
	int rows = 0, rc;

	if ((f->group & TFD_GROUP_BUCKET) && f->bucket_s == 0)
		return -EINVAL;
		/* Fixed column order: tenant, model, accel, outcome, bucket (NULL if not grouped). */
#define COL(flag, expr)                                                    \
	do {                                                               \
		strcat(cols, (f->group & (flag)) ? expr ", " : "NULL, ");  \
		if (f->group & (flag)) {                                   \
			strcat(groupby, groupby[0] ? ", " : " GROUP BY "); \
			strcat(groupby, expr);                             \
		}                                                          \
	} while (0)
	COL(TFD_GROUP_TENANT, "tenant_id");
	COL(TFD_GROUP_MODEL, "model_id");
	COL(TFD_GROUP_ACCEL, "accel_id");
	COL(TFD_GROUP_OUTCOME, "outcome");
	COL(TFD_GROUP_BUCKET, "(end_ns / ?6) * ?6");
#undef COL
	where_clause(f, where, sizeof(where));
	snprintf(sql, sizeof(sql),
		 "SELECT %s COALESCE(SUM(requests),0), COALESCE(SUM(prompt_tokens),0),"
		 " COALESCE(SUM(completion_tokens),0), COALESCE(SUM(cost_micro),0),"
		 " COALESCE(SUM(compute_us),0), COALESCE(MIN(first_ns),0), COALESCE(MAX(end_ns),0)"
		 " FROM (" USAGE_BOTH ")%s%s ORDER BY 1, 2, 3, 4, 5 LIMIT %u",
		 cols, where, groupby, limit);
	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL))
		return -EIO;
	bind_filter(st, f);
	if (f->group & TFD_GROUP_BUCKET)
		sqlite3_bind_int64(st, 6, (sqlite3_int64)(f->bucket_s * 1000000000ull));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tfd_usage_row r = { 0 };

		if (sqlite3_column_int64(st, 5) == 0 && !(f->group))
			break; /* no rows at all: COUNT(*) = 0 */
		r.tenant = (uint32_t)sqlite3_column_int64(st, 0);
		r.model = (uint32_t)sqlite3_column_int64(st, 1);
		r.accel = (uint32_t)sqlite3_column_int64(st, 2);
		r.outcome =
			sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 3);
		r.bucket_ns = (uint64_t)sqlite3_column_int64(st, 4);
		r.requests = (uint64_t)sqlite3_column_int64(st, 5);
		r.prompt_tokens = (uint64_t)sqlite3_column_int64(st, 6);
		r.completion_tokens = (uint64_t)sqlite3_column_int64(st, 7);
		r.cost_micro = sqlite3_column_int64(st, 8);
		r.compute_us = (uint64_t)sqlite3_column_int64(st, 9);
		r.first_ns = (uint64_t)sqlite3_column_int64(st, 10);
		r.last_ns = (uint64_t)sqlite3_column_int64(st, 11);
		rows++;
		if (fn(arg, &r) < 0)
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? rows : -EIO;
}

int
tfd_ledger_records(struct tfd_ledger *l, const struct tfd_usage_filter *f,
		   int (*fn)(void *arg, const struct tfd_usage_raw *rec), void *arg)
{
	unsigned int limit = f->limit ? f->limit : 100000;
	char sql[768], where[256];
	sqlite3_stmt *st;
	int rows = 0, rc;

	where_clause(f, where, sizeof(where));
	snprintf(sql, sizeof(sql),
		 "SELECT card, epoch, seq, end_ns, request_id, tenant_id, model_id, accel_id,"
		 " outcome, prompt_tokens, completion_tokens, queue_us, batch_us, compute_us,"
		 " cost_micro FROM usage%s ORDER BY end_ns, card, epoch, seq LIMIT %u",
		 where, limit);
	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL))
		return -EIO;
	bind_filter(st, f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tfd_usage_raw x = { 0 };
		int i = 0;

		snprintf(x.card, sizeof(x.card), "%s", (const char *)sqlite3_column_text(st, i++));
		x.epoch = (uint64_t)sqlite3_column_int64(st, i++);
		x.seq = (uint64_t)sqlite3_column_int64(st, i++);
		x.r.end_time_ns = (uint64_t)sqlite3_column_int64(st, i++);
		x.r.request_id = (uint64_t)sqlite3_column_int64(st, i++);
		x.r.tenant_id = (uint32_t)sqlite3_column_int64(st, i++);
		x.r.model_id = (uint32_t)sqlite3_column_int64(st, i++);
		x.r.accel_id = (uint32_t)sqlite3_column_int64(st, i++);
		x.r.outcome = (uint16_t)sqlite3_column_int(st, i++);
		x.r.prompt_tokens = (uint32_t)sqlite3_column_int64(st, i++);
		x.r.completion_tokens = (uint32_t)sqlite3_column_int64(st, i++);
		x.r.queue_us = (uint32_t)sqlite3_column_int64(st, i++);
		x.r.batch_us = (uint32_t)sqlite3_column_int64(st, i++);
		x.r.compute_us = (uint32_t)sqlite3_column_int64(st, i++);
		x.r.cost_micro = (uint64_t)sqlite3_column_int64(st, i++);
		rows++;
		if (fn(arg, &x) < 0)
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? rows : -EIO;
}

int
tfd_ledger_prune(struct tfd_ledger *l, uint64_t before_ns, uint64_t *deleted)
{
	sqlite3_stmt *st;
	int rc;

	*deleted = 0;
	for (int t = 0; t < 2; t++) {
		if (sqlite3_prepare_v2(l->db,
				       t ? "DELETE FROM usage_agg WHERE end_ns < ?"
					 : "DELETE FROM usage WHERE end_ns < ?",
				       -1, &st, NULL))
			return -EIO;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)before_ns);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
		*deleted += rc ? 0 : (uint64_t)sqlite3_changes(l->db);
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	return 0;
}

int
tfd_ledger_counts(struct tfd_ledger *l, uint64_t *usage, uint64_t *health)
{
	sqlite3_stmt *st;
	int rc = -EIO;

	if (sqlite3_prepare_v2(l->db,
			       "SELECT (SELECT COUNT(*) FROM usage) + (SELECT COUNT(*) FROM "
			       "usage_agg), (SELECT COUNT(*) FROM health_events)",
			       -1, &st, NULL))
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*usage = (uint64_t)sqlite3_column_int64(st, 0);
		*health = (uint64_t)sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int
tfd_ledger_totals(struct tfd_ledger *l, int (*fn)(void *arg, const struct tfd_usage_row *row),
		  void *arg)
{
	sqlite3_stmt *st;
	int rows = 0, rc;

	if (sqlite3_prepare_v2(l->db,
			       "SELECT tenant_id, model_id, accel_id, outcome, SUM(requests),"
			       " SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micro)"
			       " FROM usage_hourly GROUP BY 1, 2, 3, 4",
			       -1, &st, NULL))
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tfd_usage_row r = { 0 };

		r.tenant = (uint32_t)sqlite3_column_int64(st, 0);
		r.model = (uint32_t)sqlite3_column_int64(st, 1);
		r.accel = (uint32_t)sqlite3_column_int64(st, 2);
		r.outcome = sqlite3_column_int(st, 3);
		r.requests = (uint64_t)sqlite3_column_int64(st, 4);
		r.prompt_tokens = (uint64_t)sqlite3_column_int64(st, 5);
		r.completion_tokens = (uint64_t)sqlite3_column_int64(st, 6);
		r.cost_micro = sqlite3_column_int64(st, 7);
		rows++;
		if (fn(arg, &r) < 0)
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? rows : -EIO;
}
