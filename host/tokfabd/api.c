/* SPDX-License-Identifier: BSD-3-Clause */
/* HTTP API routes: JSON in and out (jansson), CSV export, metrics, dashboard assets. */
#include "tokfabd/api.h"

#include "common/log.h"
#include "tokfabd/buf.h"
#include "tokfabd/dashboard.h"
#include "tokfabd/keymap.h"
#include "tokfabd/metrics.h"
#include "tokfabd/quota.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ responses */

static void
set_body(struct tfd_response *rs, int status, const char *type, char *body, size_t len)
{
	rs->status = status;
	rs->content_type = type;
	rs->body = body;
	rs->body_len = len;
}

static void
json_reply(struct tfd_response *rs, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
	size_t len;

	json_decref(j);
	if (!s) {
		s = strdup("{\"error\":{\"code\":500,\"message\":\"out of memory\"}}");
		status = 500;
	}
	len = s ? strlen(s) : 0;
	set_body(rs, status, "application/json", s, len);
}

__attribute__((format(printf, 3, 4))) static void
error_reply(struct tfd_response *rs, int status, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_reply(rs, status, json_pack("{s:{s:i,s:s}}", "error", "code", status, "message", msg));
}

void
tfd_api_response_free(struct tfd_response *rs)
{
	free(rs->body);
	rs->body = NULL;
}

static const char *
arg(const struct tfd_request *rq, const char *key)
{
	for (unsigned int i = 0; i < rq->n_args; i++)
		if (!strcmp(rq->args[i].key, key))
			return rq->args[i].value ? rq->args[i].value : "";
	return NULL;
}

/* --------------------------------------------------------------- helpers */

static json_t *
money(int64_t micro)
{
	char buf[40];

	tfd_money_format(micro, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
iso_time(uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char buf[32];

	if (!ns)
		return json_null();
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

int
tfd_api_parse_time(const char *s, uint64_t now_ns, uint64_t *ns)
{
	char *end;
	struct tm tm;
	unsigned long long v;

	if (!strcmp(s, "now")) {
		*ns = now_ns;
		return 0;
	}
	if (s[0] == '-' && isdigit((unsigned char)s[1])) {
		uint64_t mult;

		v = strtoull(s + 1, &end, 10);
		switch (*end) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		case 'd':
			mult = 86400;
			break;
		default:
			return -EINVAL;
		}
		if (end[1] || v > 100ull * 365 * 86400 / mult || v * mult * 1000000000ull > now_ns)
			return -EINVAL;
		*ns = now_ns - v * mult * 1000000000ull;
		return 0;
	}
	if (isdigit((unsigned char)s[0])) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (end && !*end) {
			struct tm given = tm;
			time_t t = timegm(&tm);

			/* timegm() rolls Feb 30 into March: refuse what it changed. */
			if (t < 0 || (uint64_t)t > 1ull << 34 || tm.tm_mday != given.tm_mday ||
			    tm.tm_mon != given.tm_mon || tm.tm_year != given.tm_year ||
			    tm.tm_hour != given.tm_hour || tm.tm_min != given.tm_min ||
			    tm.tm_sec != given.tm_sec)
				return -EINVAL;
			*ns = (uint64_t)t * 1000000000ull;
			return 0;
		}
		errno = 0;
		v = strtoull(s, &end, 10);
		if (*end || errno || v > 1ull << 34)
			return -EINVAL;
		*ns = v * 1000000000ull;
		return 0;
	}
	return -EINVAL;
}

/* A positive 32-bit id in a query argument or path segment. */
static int
parse_id(const char *s, uint32_t *id)
{
	char *end;
	unsigned long v;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

/* tenant/model filters accept ids or names from the configuration. */
static int
ref_id(struct tfd *d, const char *s, int tenant, uint32_t *id)
{
	int rc = -EINVAL;

	if (parse_id(s, id) == 0)
		return 0;
	pthread_rwlock_rdlock(&d->cfg_lock);
	if (tenant) {
		for (uint32_t i = 0; i < d->cfg->n_tenants; i++)
			if (!strcmp(d->cfg->tenants[i].name, s)) {
				*id = d->cfg->tenants[i].id;
				rc = 0;
			}
	} else {
		for (uint32_t i = 0; i < d->cfg->n_models; i++)
			if (!strcmp(d->cfg->models[i].name, s)) {
				*id = d->cfg->models[i].id;
				rc = 0;
			}
	}
	pthread_rwlock_unlock(&d->cfg_lock);
	return rc;
}

static int
authorized(struct tfd *d, const char *auth)
{
	char token[sizeof(d->cfg->api_token)];
	const char *given;
	size_t lt, lg;
	unsigned char diff = 0;

	if (!auth || strncmp(auth, "Bearer ", 7))
		return 0;
	given = auth + 7;
	pthread_rwlock_rdlock(&d->cfg_lock);
	memcpy(token, d->cfg->api_token, sizeof(token));
	pthread_rwlock_unlock(&d->cfg_lock);
	lt = strlen(token);
	lg = strlen(given);
	/* Constant time in the token's length. */
	for (size_t i = 0; i < lt; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < lg ? given[i] : 0);
	explicit_bzero(token, sizeof(token));
	return diff == 0 && lt == lg;
}

/* -------------------------------------------------------------- usage */

struct usage_out {
	struct tfd *d;
	json_t *rows;
	struct tfd_buf csv;
	int csv_mode;
	unsigned int group;
};

static int
usage_row_cb(void *arg, const struct tfd_usage_row *r)
{
	struct usage_out *o = arg;
	char tn[64] = "", mn[64] = "";

	if (o->group & TFD_GROUP_TENANT)
		tfd_name_tenant(o->d->cfg, r->tenant, tn, sizeof(tn));
	if (o->group & TFD_GROUP_MODEL)
		tfd_name_model(o->d->cfg, r->model, mn, sizeof(mn));
	if (o->csv_mode) {
		char cost[40], bucket[32] = "", accel[16] = "", outcome[16] = "";

		tfd_money_format(r->cost_micro, cost, sizeof(cost));
		if (o->group & TFD_GROUP_BUCKET) {
			time_t t = (time_t)(r->bucket_ns / 1000000000ull);
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(bucket, sizeof(bucket), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		if (o->group & TFD_GROUP_ACCEL)
			snprintf(accel, sizeof(accel), "%u", r->accel);
		if (o->group & TFD_GROUP_OUTCOME)
			snprintf(outcome, sizeof(outcome), "%s", tfd_outcome_name(r->outcome));
		tfd_buf_printf(&o->csv, "%s,%s,%s,%s,%s,%llu,%llu,%llu,%lld,%s\n", bucket, tn, mn,
			       accel, outcome, (unsigned long long)r->requests,
			       (unsigned long long)r->prompt_tokens,
			       (unsigned long long)r->completion_tokens, (long long)r->cost_micro,
			       cost);
		return 0;
	}
	{
		json_t *j = json_pack(
			"{s:I,s:I,s:I,s:I,s:o,s:I}", "requests", (json_int_t)r->requests,
			"prompt_tokens", (json_int_t)r->prompt_tokens, "completion_tokens",
			(json_int_t)r->completion_tokens, "cost_micro", (json_int_t)r->cost_micro,
			"cost", money(r->cost_micro), "compute_us", (json_int_t)r->compute_us);

		if (o->group & TFD_GROUP_TENANT) {
			json_object_set_new(j, "tenant_id", json_integer(r->tenant));
			json_object_set_new(j, "tenant", json_string(tn));
		}
		if (o->group & TFD_GROUP_MODEL) {
			json_object_set_new(j, "model_id", json_integer(r->model));
			json_object_set_new(j, "model", json_string(mn));
		}
		if (o->group & TFD_GROUP_ACCEL)
			json_object_set_new(j, "accel_id", json_integer(r->accel));
		if (o->group & TFD_GROUP_OUTCOME)
			json_object_set_new(j, "outcome",
					    json_string(tfd_outcome_name(r->outcome)));
		if (o->group & TFD_GROUP_BUCKET)
			json_object_set_new(j, "bucket", iso_time(r->bucket_ns ? r->bucket_ns : 1));
		json_object_set_new(j, "first", iso_time(r->first_ns));
		json_object_set_new(j, "last", iso_time(r->last_ns));
		json_array_append_new(o->rows, j);
	}
	return 0;
}

static int
raw_row_cb(void *arg, const struct tfd_usage_raw *x)
{
	struct usage_out *o = arg;
	const struct tf_usage_record *r = &x->r;

	if (o->csv_mode) {
		tfd_buf_printf(&o->csv, "%s,%llu,%llu,%llu,%llu,%u,%u,%u,%s,%u,%u,%u,%u,%u,%llu\n",
			       x->card, (unsigned long long)x->epoch, (unsigned long long)x->seq,
			       (unsigned long long)r->end_time_ns,
			       (unsigned long long)r->request_id, r->tenant_id, r->model_id,
			       r->accel_id, tfd_outcome_name(r->outcome), r->prompt_tokens,
			       r->completion_tokens, r->queue_us, r->batch_us, r->compute_us,
			       (unsigned long long)r->cost_micro);
		return 0;
	}
	{
		char ep[17], rid[17];
		json_t *j;

		/* 64-bit identifiers: 16 hex digits (JSON numbers past 2^53 are not exact). */
		snprintf(ep, sizeof(ep), "%016llx", (unsigned long long)x->epoch);
		snprintf(rid, sizeof(rid), "%016llx", (unsigned long long)r->request_id);
		j = json_pack("{s:s,s:s,s:I,s:I,s:o,s:s,s:I,s:I,s:I,s:s}", "card", x->card, "epoch",
			      ep, "seq", (json_int_t)x->seq, "end_ns", (json_int_t)r->end_time_ns,
			      "end", iso_time(r->end_time_ns), "request_id", rid, "tenant_id",
			      (json_int_t)r->tenant_id, "model_id", (json_int_t)r->model_id,
			      "accel_id", (json_int_t)r->accel_id, "outcome",
			      tfd_outcome_name(r->outcome));
		json_object_update_new(
			j, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "prompt_tokens",
				     (json_int_t)r->prompt_tokens, "completion_tokens",
				     (json_int_t)r->completion_tokens, "queue_us",
				     (json_int_t)r->queue_us, "batch_us", (json_int_t)r->batch_us,
				     "compute_us", (json_int_t)r->compute_us, "cost_micro",
				     (json_int_t)r->cost_micro));
		json_array_append_new(o->rows, j);
	}
	return 0;
}

static void
get_usage(struct tfd *d, const struct tfd_request *rq, struct tfd_response *rs)
{
	struct tfd_usage_filter f = { 0 };
	struct usage_out o = { .d = d };
	uint64_t now = tfd_now_ns();
	const char *v, *fmt = arg(rq, "format");
	int raw = arg(rq, "raw") && strcmp(arg(rq, "raw"), "0");
	uint32_t records_mode, agg_ms;
	json_t *out;
	int rows;

	if ((v = arg(rq, "tenant")) && ref_id(d, v, 1, &f.tenant))
		return error_reply(rs, 400, "tenant: '%s' is neither an id nor a configured name",
				   v);
	if ((v = arg(rq, "model")) && ref_id(d, v, 0, &f.model))
		return error_reply(rs, 400, "model: '%s' is neither an id nor a configured name",
				   v);
	if ((v = arg(rq, "accelerator")) && parse_id(v, &f.accel))
		return error_reply(rs, 400, "accelerator: expected a positive id, got '%s'", v);
	if ((v = arg(rq, "since")) && tfd_api_parse_time(v, now, &f.since_ns))
		return error_reply(rs, 400,
				   "since: expected Unix seconds, RFC 3339 UTC "
				   "(2024-05-01T00:00:00Z), now, or -30s/-15m/-2h/-7d; got '%s'",
				   v);
	if ((v = arg(rq, "until")) && tfd_api_parse_time(v, now, &f.until_ns))
		return error_reply(rs, 400, "until: same forms as since; got '%s'", v);
	if ((v = arg(rq, "group"))) {
		char tmp[128], *save = NULL;

		snprintf(tmp, sizeof(tmp), "%s", v);
		for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (!strcmp(t, "tenant"))
				f.group |= TFD_GROUP_TENANT;
			else if (!strcmp(t, "model"))
				f.group |= TFD_GROUP_MODEL;
			else if (!strcmp(t, "accelerator"))
				f.group |= TFD_GROUP_ACCEL;
			else if (!strcmp(t, "outcome"))
				f.group |= TFD_GROUP_OUTCOME;
			else if (!strcmp(t, "time"))
				f.group |= TFD_GROUP_BUCKET;
			else
				return error_reply(rs, 400,
						   "group: unknown '%s' (use tenant, model, "
						   "accelerator, outcome, time, comma-separated)",
						   t);
		}
	}
	f.bucket_s = 3600;
	if ((v = arg(rq, "bucket"))) {
		uint32_t b;

		if (parse_id(v, &b))
			return error_reply(rs, 400, "bucket: expected seconds >= 1, got '%s'", v);
		f.bucket_s = b;
		f.group |= TFD_GROUP_BUCKET;
	}
	if ((v = arg(rq, "limit"))) {
		uint32_t lim;

		if (parse_id(v, &lim) || lim > 1000000)
			return error_reply(rs, 400, "limit: expected 1..1000000, got '%s'", v);
		f.limit = lim;
	}
	if (fmt && strcmp(fmt, "json") && strcmp(fmt, "csv"))
		return error_reply(rs, 400, "format: expected json or csv, got '%s'", fmt);
	o.csv_mode = fmt && !strcmp(fmt, "csv");
	o.group = f.group;
	o.rows = json_array();
	if (o.csv_mode)
		tfd_buf_printf(&o.csv, raw ? "card,epoch,seq,end_ns,request_id,tenant_id,model_id,"
					     "accel_id,outcome,prompt_tokens,completion_tokens,"
					     "queue_us,batch_us,compute_us,cost_micro\n"
					   : "bucket,tenant,model,accelerator,outcome,requests,"
					     "prompt_tokens,completion_tokens,cost_micro,cost\n");
	pthread_rwlock_rdlock(&d->cfg_lock);
	pthread_mutex_lock(&d->api_ledger_lock);
	rows = raw ? tfd_ledger_records(d->api_ledger, &f, raw_row_cb, &o)
		   : tfd_ledger_query(d->api_ledger, &f, usage_row_cb, &o);
	pthread_mutex_unlock(&d->api_ledger_lock);
	records_mode = d->cfg->ledger_records;
	agg_ms = d->cfg->ledger_aggregate_ms;
	pthread_rwlock_unlock(&d->cfg_lock);
	if (rows < 0) {
		json_decref(o.rows);
		tfd_buf_free(&o.csv);
		return error_reply(rs, 500, "ledger query failed; see the daemon log");
	}
	if (o.csv_mode) {
		size_t len;
		char *s;

		json_decref(o.rows);
		s = tfd_buf_take(&o.csv, &len);
		return set_body(rs, 200, "text/csv", s, len);
	}
	out = json_pack("{s:o,s:o,s:o,s:i}", "since", iso_time(f.since_ns), "until",
			f.until_ns ? iso_time(f.until_ns) : json_null(), raw ? "records" : "rows",
			o.rows, "count", rows);
	if (raw && out) {
		json_object_set_new(out, "ledger_records",
				    json_string(records_mode == TF_USAGE_MODE_AGGREGATE
							? "aggregate"
							: "request"));
		if (records_mode == TF_USAGE_MODE_AGGREGATE)
			json_object_set_new(
				out, "note",
				json_sprintf(
					"ledger.records is aggregate: the card sums requests per "
					"tenant, model, accelerator and outcome every %u ms, so "
					"per-request records exist only for times the ledger ran "
					"with records: request; totals are in /v1/usage (no raw)",
					agg_ms));
	}
	json_reply(rs, 200, out);
}

/* ------------------------------------------------------------ tenants */

static json_t *
tenant_json(struct tfd *d, const struct tfd_tenant *t)
{
	const struct tfd_tenant_live *live = NULL;
	uint64_t budget;
	uint8_t key_id;
	json_t *j;

	pthread_mutex_lock(&d->api_ledger_lock);
	budget = tfd_tenant_budget(d->api_ledger, t);
	key_id = tfd_tenant_key_id(d->api_ledger, t);
	pthread_mutex_unlock(&d->api_ledger_lock);
	j = json_pack("{s:I,s:s,s:s,s:b,s:b,s:i,s:i,s:i,s:{s:I,s:I,s:I,s:I}}", "id",
		      (json_int_t)t->id, "name", t->name, "period", tfd_period_name(t->period),
		      "unlimited", t->unlimited, "disabled", t->disabled, "priority", t->priority,
		      "max_inflight", t->max_inflight, "key_id", key_id, "rate", "requests_per_s",
		      (json_int_t)t->rate_rps, "burst_requests", (json_int_t)t->burst_requests,
		      "tokens_per_s", (json_int_t)t->rate_tps, "burst_tokens",
		      (json_int_t)t->burst_tokens);
	if (t->unlimited) {
		json_object_set_new(j, "budget", json_string("unlimited"));
	} else {
		json_object_set_new(j, "budget", money((int64_t)budget));
		json_object_set_new(j, "budget_micro", json_integer((json_int_t)budget));
		json_object_set_new(j, "budget_source",
				    json_string(budget == t->budget_micro ? "config" : "api"));
	}
	{
		/* Spend and top-ups this period, from the ledger now. */
		uint64_t start = tfd_period_start(t->period, tfd_now_ns());
		int64_t spent = 0, topups = 0;

		pthread_mutex_lock(&d->api_ledger_lock);
		tfd_ledger_spent(d->api_ledger, t->id, start, &spent);
		tfd_ledger_topups(d->api_ledger, t->id, start, &topups);
		pthread_mutex_unlock(&d->api_ledger_lock);
		json_object_set_new(j, "period_start", iso_time(start));
		json_object_set_new(j, "spent", money(spent));
		json_object_set_new(j, "spent_micro", json_integer(spent));
		json_object_set_new(j, "topups_micro", json_integer(topups));
	}
	pthread_mutex_lock(&d->live_lock);
	for (unsigned int i = 0; i < d->n_tenants; i++)
		if (d->tenants[i].id == t->id)
			live = &d->tenants[i];
	if (live) {
		if (live->have_card) {
			/* The card's balance is signed (queues.md, GET_TENANT); an
			 * unlimited tenant's is not money it may spend: not shown. */
			int64_t bal = (int64_t)live->info.balance_micro;

			if (t->unlimited) {
				json_object_set_new(j, "balance", json_string("unlimited"));
			} else {
				json_object_set_new(j, "balance", money(bal));
				json_object_set_new(j, "balance_micro", json_integer(bal));
			}
			json_object_set_new(j, "reserved_micro",
					    json_integer((json_int_t)live->info.reserved_micro));
			json_object_set_new(j, "active_requests",
					    json_integer(live->info.active_requests));
		}
	}
	pthread_mutex_unlock(&d->live_lock);
	{
		json_t *prices = json_object();
		char mn[64], p[40];

		for (uint32_t i = 0; i < t->n_prices; i++) {
			tfd_name_model(d->cfg, t->prices[i].model_id, mn, sizeof(mn));
			tfd_money_format((int64_t)t->prices[i].price_per_1k_micro, p, sizeof(p));
			json_object_set_new(prices, mn, json_string(p));
		}
		json_object_set_new(j, "price_per_1k", prices);
	}
	return j;
}

static void
get_tenants(struct tfd *d, struct tfd_response *rs, uint32_t only)
{
	json_t *arr = json_array();

	pthread_rwlock_rdlock(&d->cfg_lock);
	for (uint32_t i = 0; i < d->cfg->n_tenants; i++)
		if (!only || d->cfg->tenants[i].id == only)
			json_array_append_new(arr, tenant_json(d, &d->cfg->tenants[i]));
	pthread_rwlock_unlock(&d->cfg_lock);
	if (only) {
		json_t *t = json_incref(json_array_get(arr, 0));

		json_decref(arr);
		if (!t)
			return error_reply(rs, 404, "no tenant with id %u in the configuration",
					   only);
		return json_reply(rs, 200, t);
	}
	json_reply(rs, 200, json_pack("{s:o}", "tenants", arr));
}

/* money from JSON: "12.50" or a number (integer or decimal text). */
static int
json_money(json_t *v, uint64_t max, uint64_t *micro)
{
	char buf[64];

	if (json_is_string(v))
		return tfd_money_parse(json_string_value(v), max, micro);
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return tfd_money_parse(buf, max, micro);
	}
	if (json_is_real(v) && json_real_value(v) >= 0) {
		snprintf(buf, sizeof(buf), "%.6f", json_real_value(v));
		return tfd_money_parse(buf, max, micro);
	}
	return -EINVAL;
}

static int
status_for(int rc)
{
	switch (rc) {
	case -ENOENT:
		return 404;
	case -ENOTCONN:
		return 503;
	case -EREMOTEIO:
		return 409;
	case -EINVAL:
		return 422;
	default:
		return 502;
	}
}

static void
put_tenant(struct tfd *d, const struct tfd_request *rq, struct tfd_response *rs, uint32_t id)
{
	static const char *const known[] = { "budget", "topup", "reset_period", "rotate_key",
					     NULL };
	json_error_t jerr;
	json_t *body, *v, *extra = NULL;
	const char *key;
	char err[512];
	int rc = 0, did = 0;

	if (!rq->body || rq->body_len == 0)
		return error_reply(rs, 400,
				   "expected a JSON object with budget, topup, reset_period or "
				   "rotate_key");
	body = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!body || !json_is_object(body)) {
		json_decref(body);
		return error_reply(rs, 400, "body is not a JSON object: %s (line %d)",
				   body ? "not an object" : jerr.text, jerr.line);
	}
	json_object_foreach(body, key, v)
	{
		size_t i;

		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (!known[i]) {
			error_reply(rs, 400,
				    "unknown field '%s' (known: budget, topup, reset_period, "
				    "rotate_key)",
				    key);
			goto out;
		}
	}
	pthread_rwlock_rdlock(&d->cfg_lock);
	rc = tfd_config_tenant(d->cfg, id) ? 0 : -ENOENT;
	pthread_rwlock_unlock(&d->cfg_lock);
	if (rc) {
		error_reply(rs, 404, "no tenant with id %u in the configuration", id);
		goto out;
	}
	if ((v = json_object_get(body, "budget"))) {
		uint64_t m;

		if (json_money(v, TF_MONEY_MAX, &m)) {
			error_reply(rs, 400, "budget: expected an amount like \"50.00\"");
			goto out;
		}
		rc = tfd_tenant_set_budget(d, id, m, err, sizeof(err));
		if (rc)
			goto fail;
		did++;
	}
	if ((v = json_object_get(body, "reset_period"))) {
		if (!json_is_boolean(v)) {
			error_reply(rs, 400, "reset_period: expected true or false");
			goto out;
		}
		if (json_is_true(v)) {
			rc = tfd_tenant_reset_period(d, id, err, sizeof(err));
			if (rc)
				goto fail;
			did++;
		}
	}
	if ((v = json_object_get(body, "topup"))) {
		uint64_t m;

		if (json_money(v, TF_MONEY_MAX, &m) || m == 0) {
			error_reply(rs, 400, "topup: expected a positive amount like \"5.00\"");
			goto out;
		}
		rc = tfd_tenant_topup(d, id, m, err, sizeof(err));
		if (rc)
			goto fail;
		did++;
	}
	if ((v = json_object_get(body, "rotate_key"))) {
		char hex[65];
		uint8_t kid;

		if (!json_is_boolean(v)) {
			error_reply(rs, 400, "rotate_key: expected true or false");
			goto out;
		}
		if (json_is_true(v)) {
			rc = tfd_tenant_rotate_key(d, id, hex, sizeof(hex), &kid, err, sizeof(err));
			if (rc)
				goto fail;
			extra = json_pack("{s:s,s:i}", "new_key", hex, "key_id", kid);
			explicit_bzero(hex, sizeof(hex));
			did++;
		}
	}
	if (!did) {
		error_reply(rs, 400,
			    "nothing to do: give budget, topup, reset_period or rotate_key");
		goto out;
	}
	{
		json_t *t = NULL;
		const struct tfd_tenant *tt;

		pthread_rwlock_rdlock(&d->cfg_lock);
		tt = tfd_config_tenant(d->cfg, id);
		if (tt)
			t = tenant_json(d, tt);
		pthread_rwlock_unlock(&d->cfg_lock);
		if (!t)
			t = json_object();
		if (extra)
			json_object_update(t, extra);
		json_reply(rs, 200, t);
	}
	goto out;
fail:
	error_reply(rs, status_for(rc), "%s", err);
out:
	json_decref(extra);
	json_decref(body);
}

/* ------------------------------------------------------ health, accels */

static void
get_health(struct tfd *d, struct tfd_response *rs)
{
	static struct tfd_health_comp comps[TFD_HEALTH_MAX];
	unsigned int n = tfd_health_snapshot(&d->health, comps, TFD_HEALTH_MAX);
	struct tf_card_info in;
	int attached, ready, worst = TF_HS_UP;
	json_t *arr = json_array(), *card;

	for (unsigned int i = 0; i < n; i++) {
		json_array_append_new(arr, json_pack("{s:s,s:I,s:s,s:o,s:s,s:I}", "component",
						     tfd_health_component_name(comps[i].component),
						     "id", (json_int_t)comps[i].id, "state",
						     tfd_health_state_name(comps[i].state), "since",
						     iso_time(comps[i].since_ns), "reason",
						     comps[i].reason, "changes",
						     (json_int_t)comps[i].changes));
		if (comps[i].state > worst || comps[i].state == 0)
			worst = comps[i].state == 0 ? TF_HS_DEGRADED : comps[i].state;
	}
	pthread_mutex_lock(&d->card_lock);
	in = d->info;
	attached = d->card != NULL;
	ready = d->card_ready;
	pthread_mutex_unlock(&d->card_lock);
	card = json_pack("{s:b,s:b}", "attached", attached, "configured", ready);
	if (attached) {
		char ep[17];

		snprintf(ep, sizeof(ep), "%016llx", (unsigned long long)in.epoch);
		json_object_update_new(
			card, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "serial",
					in.serial, "firmware", in.fw_version_str, "epoch", ep,
					"boot_count", (json_int_t)in.boot_count, "heartbeat",
					(json_int_t)in.heartbeat, "status", (json_int_t)in.status,
					"event_queue_depth", (json_int_t)in.eq_depth,
					"events_posted", (json_int_t)in.eq_prod_seq,
					"events_acknowledged", (json_int_t)in.eq_freed_seq,
					"event_queue_full", (json_int_t)in.eq_full_count));
	}
	json_reply(rs, 200,
		   json_pack("{s:s,s:o,s:o}", "overall", tfd_health_state_name(worst), "card", card,
			     "components", arr));
}

static void
get_accels(struct tfd *d, struct tfd_response *rs)
{
	json_t *arr = json_array();

	pthread_rwlock_rdlock(&d->cfg_lock);
	pthread_mutex_lock(&d->live_lock);
	for (uint32_t i = 0; i < d->cfg->n_accels; i++) {
		const struct tfd_accel *a = &d->cfg->accels[i];
		json_t *models = json_array(), *j;
		char mn[64];

		for (uint32_t k = 0; k < a->n_models; k++) {
			tfd_name_model(d->cfg, a->models[k], mn, sizeof(mn));
			json_array_append_new(models, json_string(mn));
		}
		j = json_pack(
			"{s:I,s:s,s:s,s:o,s:I,s:i,s:i,s:o,s:s}", "id", (json_int_t)a->id, "address",
			a->address, "transport", a->transport == TF_TRANSPORT_RDMA ? "rdma" : "shm",
			"cost_per_hour", money((int64_t)a->cost_per_hour_micro),
			"cost_per_hour_micro", (json_int_t)a->cost_per_hour_micro, "weight",
			a->weight, "max_outstanding", a->max_outstanding, "models", models, "state",
			tfd_health_state_name(tfd_health_get(&d->health, TF_HC_ACCEL, a->id)));
		for (unsigned int k = 0; k < d->n_accels; k++) {
			const struct tfd_accel_live *l = &d->accels[k];

			if (l->id != a->id)
				continue;
			/* Cost window: the previous hour's start until now (hourly rollups). */
			json_object_set_new(
				j, "window_start",
				iso_time(tfd_period_start(TFD_PERIOD_HOUR, tfd_now_ns()) -
					 3600000000000ull));
			json_object_set_new(j, "window_tokens",
					    json_integer((json_int_t)l->tokens_hour));
			if (l->cost_per_1k >= 0) {
				json_object_set_new(j, "cost_per_1k_tokens", money(l->cost_per_1k));
				json_object_set_new(j, "cost_per_1k_tokens_micro",
						    json_integer(l->cost_per_1k));
			}
			if (l->have_card)
				json_object_update_new(
					j, json_pack("{s:i,s:f,s:I,s:I,s:I}", "outstanding",
						     l->st.outstanding, "utilisation",
						     l->st.busy_ppm / 1e6, "requests",
						     (json_int_t)l->st.requests, "tokens",
						     (json_int_t)l->st.tokens, "errors",
						     (json_int_t)l->st.errors));
		}
		json_array_append_new(arr, j);
	}
	pthread_mutex_unlock(&d->live_lock);
	pthread_rwlock_unlock(&d->cfg_lock);
	json_reply(rs, 200, json_pack("{s:o}", "accelerators", arr));
}

/*
 * Requests and tokens per tenant since the ledger began, from the in-memory
 * counters (seeded from the hourly rollups, updated at each commit): what the
 * dashboard ranks tenants by, without scanning the raw records.
 */
static json_t *
tenant_totals(struct tfd *d)
{
	struct tfd_keymap m = { 0 };
	struct tfd_counter *sum = calloc(d->n_counters + 1, sizeof(*sum));
	json_t *arr = json_array();
	uint32_t n = 0;

	for (unsigned int i = 0; sum && i < d->n_counters; i++) {
		const struct tfd_counter *c = &d->counters[i];
		struct tfd_usage_key k = { .tenant = c->tenant };
		int added;
		int64_t x = tfd_keymap_get_or_add(&m, &k, n, &added);

		if (x < 0)
			break;
		if (added)
			sum[n++].tenant = c->tenant;
		sum[x].requests += c->requests;
		sum[x].prompt_tokens += c->prompt_tokens;
		sum[x].completion_tokens += c->completion_tokens;
	}
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(
			arr,
			json_pack("{s:I,s:I,s:I}", "tenant_id", (json_int_t)sum[i].tenant,
				  "requests", (json_int_t)sum[i].requests, "tokens",
				  (json_int_t)(sum[i].prompt_tokens + sum[i].completion_tokens)));
	tfd_keymap_free(&m);
	free(sum);
	return arr;
}

static void
get_live(struct tfd *d, struct tfd_response *rs)
{
	json_t *tok = json_array(), *req = json_array(), *tenants;
	uint64_t now = tfd_now_ns() / 1000000000ull;

	pthread_mutex_lock(&d->live_lock);
	tenants = tenant_totals(d);
	/* The last 60 complete seconds, oldest first. */
	for (uint64_t s = now - 60; s < now; s++) {
		int fresh = d->live_sec >= s && d->live_sec - s < TFD_LIVE_SECONDS;

		json_array_append_new(
			tok,
			json_integer(fresh ? (json_int_t)d->live_tokens[s % TFD_LIVE_SECONDS] : 0));
		json_array_append_new(
			req, json_integer(fresh ? (json_int_t)d->live_requests[s % TFD_LIVE_SECONDS]
						: 0));
	}
	pthread_mutex_unlock(&d->live_lock);
	json_reply(rs, 200,
		   json_pack("{s:I,s:o,s:o,s:o}", "now", (json_int_t)now, "tokens_per_s", tok,
			     "requests_per_s", req, "tenants", tenants));
}

static void
post_reload(struct tfd *d, struct tfd_response *rs)
{
	char err[1024];

	if (tfd_reload(d, err, sizeof(err)) < 0)
		return error_reply(rs, 422, "configuration refused, the old one stays: %s", err);
	json_reply(rs, 200,
		   json_pack("{s:s,s:s}", "status", "reloaded", "card",
			     "configuration push requested"));
}

static void
metrics(struct tfd *d, struct tfd_response *rs)
{
	struct tfd_buf b = { 0 };
	size_t len;
	char *s;

	if (tfd_metrics_render(d, &b) < 0) {
		tfd_buf_free(&b);
		return error_reply(rs, 500, "out of memory");
	}
	s = tfd_buf_take(&b, &len);
	set_body(rs, 200, "text/plain; version=0.0.4; charset=utf-8", s, len);
}

static void
healthz(struct tfd *d, struct tfd_response *rs)
{
	int ledger = tfd_health_get(&d->health, TFD_HC_LEDGER, 0);

	if (ledger == TF_HS_DOWN)
		set_body(rs, 503, "text/plain", strdup("ledger down\n"), 12);
	else
		set_body(rs, 200, "text/plain", strdup("ok\n"), 3);
}

static int
method_is(const struct tfd_request *rq, const char *m, struct tfd_response *rs)
{
	if (!strcmp(rq->method, m))
		return 1;
	rs->header_name = "Allow";
	rs->header_value = m;
	error_reply(rs, 405, "%s is not allowed here; use %s", rq->method, m);
	return 0;
}

void
tfd_api_handle(struct tfd *d, const struct tfd_request *rq, struct tfd_response *rs)
{
	const struct tfd_asset *asset;
	uint32_t id;

	memset(rs, 0, sizeof(*rs));
	if (!strcmp(rq->path, "/healthz")) {
		if (method_is(rq, "GET", rs))
			healthz(d, rs);
		return;
	}
	if (!strcmp(rq->path, "/metrics")) {
		if (method_is(rq, "GET", rs))
			metrics(d, rs);
		return;
	}
	asset = tfd_dashboard_asset(rq->path);
	if (asset) {
		if (method_is(rq, "GET", rs)) {
			rs->status = 200;
			rs->content_type = asset->type;
			rs->static_body = asset->data;
			rs->body_len = asset->len;
		}
		return;
	}
	if (strncmp(rq->path, "/v1/", 4))
		return error_reply(rs, 404, "no such endpoint: %s", rq->path);
	if (!authorized(d, rq->authorization)) {
		rs->header_name = "WWW-Authenticate";
		rs->header_value = "Bearer realm=\"tokfabd\"";
		return error_reply(rs, 401,
				   "missing or wrong bearer token: send 'Authorization: Bearer "
				   "<token>' with the token from api.token_file");
	}
	if (!strcmp(rq->path, "/v1/usage")) {
		if (method_is(rq, "GET", rs))
			get_usage(d, rq, rs);
	} else if (!strcmp(rq->path, "/v1/tenants")) {
		if (method_is(rq, "GET", rs))
			get_tenants(d, rs, 0);
	} else if (!strncmp(rq->path, "/v1/tenants/", 12)) {
		if (parse_id(rq->path + 12, &id))
			return error_reply(rs, 404, "tenant id must be a positive number: %s",
					   rq->path + 12);
		if (!strcmp(rq->method, "GET"))
			get_tenants(d, rs, id);
		else if (method_is(rq, "PUT", rs))
			put_tenant(d, rq, rs, id);
	} else if (!strcmp(rq->path, "/v1/health")) {
		if (method_is(rq, "GET", rs))
			get_health(d, rs);
	} else if (!strcmp(rq->path, "/v1/accelerators")) {
		if (method_is(rq, "GET", rs))
			get_accels(d, rs);
	} else if (!strcmp(rq->path, "/v1/live")) {
		if (method_is(rq, "GET", rs))
			get_live(d, rs);
	} else if (!strcmp(rq->path, "/v1/config/reload")) {
		if (method_is(rq, "POST", rs))
			post_reload(d, rs);
	} else {
		error_reply(rs, 404, "no such endpoint: %s", rq->path);
	}
}
