/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfabd configuration loader: libyaml document API, one checker per section. */
#include "tokfabd/config.h"

#include "card/check.h"
#include "tokfab/proto.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_ITEMS 4096 /* models, accelerators or tenants in one file */

struct ctx {
	yaml_document_t doc;
	const char *file;
	char dir[PATH_MAX];
	char *err;
	size_t errlen;
	int failed;
};

__attribute__((format(printf, 4, 5))) static int
fail(struct ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->failed)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s:%lu: %s: %s", c->file,
		 n ? (unsigned long)n->start_mark.line + 1 : 0ul, key, msg);
	c->failed = 1;
	return -EINVAL;
}

static yaml_node_t *
node_at(struct ctx *c, int idx)
{
	return yaml_document_get_node(&c->doc, idx);
}

static const char *
scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *
kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

static int
want_type(struct ctx *c, const yaml_node_t *n, yaml_node_type_t t, const char *key)
{
	static const char *const names[] = { "", "a scalar", "a list", "a mapping" };

	if (n->type != t)
		return fail(c, n, key, "expected %s, got %s", names[t], kind(n));
	return 0;
}

/* Rejects unknown and duplicate keys of a mapping. */
static int
check_keys(struct ctx *c, const yaml_node_t *map, const char *path, const char *const *known)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(c, p->key);
		const char *ks = scalar(k);
		size_t i;

		if (!ks)
			return fail(c, k, path, "keys must be plain words");
		for (i = 0; known[i]; i++)
			if (strcmp(ks, known[i]) == 0)
				break;
		if (!known[i]) {
			char list[512] = "";

			for (i = 0; known[i]; i++) {
				strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, known[i], sizeof(list) - strlen(list) - 1);
			}
			return fail(c, k, path, "unknown key '%s' (known keys: %s)", ks, list);
		}
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
			if (strcmp(scalar(node_at(c, q->key)) ?: "", ks) == 0)
				return fail(c, k, path, "key '%s' appears twice", ks);
	}
	return 0;
}

static yaml_node_t *
lookup(struct ctx *c, const yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *ks = scalar(node_at(c, p->key));

		if (ks && strcmp(ks, key) == 0)
			return node_at(c, p->value);
	}
	return NULL;
}

static void
keypath(char *buf, size_t len, const char *base, const char *key)
{
	snprintf(buf, len, "%s%s%s", base, base[0] ? "." : "", key);
}

static int
get_uint(struct ctx *c, const yaml_node_t *map, const char *base, const char *key, int required,
	 uint64_t min, uint64_t max, uint64_t *out)
{
	yaml_node_t *n = lookup(c, map, key);
	char kp[256], *end;
	const char *s;
	unsigned long long v;

	keypath(kp, sizeof(kp), base, key);
	if (!n)
		return required ? fail(c, map, kp, "missing (required)") : 0;
	s = scalar(n);
	if (!s)
		return fail(c, n, kp, "expected a whole number, got %s", kind(n));
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || *end || errno)
		return fail(c, n, kp, "expected a whole number, got '%s'", s);
	if (v < min || v > max)
		return fail(c, n, kp, "%llu is out of range %llu..%llu", v, (unsigned long long)min,
			    (unsigned long long)max);
	*out = v;
	return 0;
}

static int
get_u32(struct ctx *c, const yaml_node_t *map, const char *base, const char *key, int required,
	uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = *out;
	int rc = get_uint(c, map, base, key, required, min, max, &v);

	*out = (uint32_t)v;
	return rc;
}

/* A string of 1..cap-1 printable characters. */
static int
get_str(struct ctx *c, const yaml_node_t *map, const char *base, const char *key, int required,
	char *out, size_t cap)
{
	yaml_node_t *n = lookup(c, map, key);
	char kp[256];
	const char *s;
	size_t len;

	keypath(kp, sizeof(kp), base, key);
	if (!n)
		return required ? fail(c, map, kp, "missing (required)") : 0;
	s = scalar(n);
	if (!s)
		return fail(c, n, kp, "expected text, got %s", kind(n));
	len = strlen(s);
	if (len == 0 || len >= cap)
		return fail(c, n, kp, "must be 1..%zu characters", cap - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return fail(c, n, kp, "must be printable ASCII");
	memcpy(out, s, len + 1);
	return 0;
}

static int
get_bool(struct ctx *c, const yaml_node_t *map, const char *base, const char *key, int *out)
{
	yaml_node_t *n = lookup(c, map, key);
	char kp[256];
	const char *s;

	keypath(kp, sizeof(kp), base, key);
	if (!n)
		return 0;
	s = scalar(n);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")))
		*out = 1;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")))
		*out = 0;
	else
		return fail(c, n, kp, "expected true or false");
	return 0;
}

int
tfd_money_parse(const char *s, uint64_t max_micro, uint64_t *micro)
{
	uint64_t whole = 0, frac = 0;
	int digits = 0, fdigits = 0;
	const char *p = s;

	while (isdigit((unsigned char)*p)) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		digits++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (++fdigits > 6)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*p++ - '0');
		}
		if (fdigits == 0)
			return -EINVAL;
	}
	if (*p || digits == 0)
		return -EINVAL;
	for (int i = fdigits; i < 6; i++)
		frac *= 10;
	if (whole > (max_micro - frac) / 1000000)
		return -EINVAL;
	*micro = whole * 1000000 + frac;
	return 0;
}

void
tfd_money_format(int64_t micro, char *buf, size_t len)
{
	uint64_t m = micro < 0 ? (uint64_t) - (micro + 1) + 1 : (uint64_t)micro;
	char frac[8];
	int n;

	snprintf(frac, sizeof(frac), "%06llu", (unsigned long long)(m % 1000000));
	for (n = 6; n > 2 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	snprintf(buf, len, "%s%llu.%s", micro < 0 ? "-" : "", (unsigned long long)(m / 1000000),
		 frac);
}

static int
get_money(struct ctx *c, const yaml_node_t *map, const char *base, const char *key, int required,
	  uint64_t max, uint64_t *out)
{
	yaml_node_t *n = lookup(c, map, key);
	char kp[256];
	const char *s;

	keypath(kp, sizeof(kp), base, key);
	if (!n)
		return required ? fail(c, map, kp, "missing (required)") : 0;
	s = scalar(n);
	if (!s || tfd_money_parse(s, max, out) < 0)
		return fail(c, n, kp,
			    "expected an amount of currency units like 12.50 (at most 6 decimals, "
			    "not negative), got '%s'",
			    s ? s : kind(n));
	return 0;
}

int
tfd_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = 0;

	while (isspace((unsigned char)*s))
		s++;
	while (isxdigit((unsigned char)s[0]) && isxdigit((unsigned char)s[1])) {
		char b[3] = { s[0], s[1], 0 };

		if (n == cap)
			return -EINVAL;
		out[n++] = (uint8_t)strtoul(b, NULL, 16);
		s += 2;
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s)
		return -EINVAL;
	*len = n;
	return 0;
}

/* Resolves a relative path against the config file's directory. */
static void
resolve(struct ctx *c, const char *in, char *out, size_t len)
{
	int n;

	if (in[0] == '/' || !c->dir[0])
		n = snprintf(out, len, "%s", in);
	else
		n = snprintf(out, len, "%s/%s", c->dir, in);
	if (n < 0 || (size_t)n >= len)
		out[0] = '\0'; /* too long: reading it fails with a clear message */
}

/* Reads a small text file (key, token) into buf. */
static int
read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	if (!feof(f)) {
		fclose(f);
		return -EFBIG;
	}
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- sections */

static int
parse_card(struct ctx *c, const yaml_node_t *m, struct tfd_config *cfg)
{
	static const char *const keys[] = { "access", "watchdog_periods", "admin_timeout_ms",
					    "key_grace_s", NULL };
	int rc;

	if (want_type(c, m, YAML_MAPPING_NODE, "card") || check_keys(c, m, "card", keys))
		return -EINVAL;
	rc = get_str(c, m, "card", "access", 0, cfg->card_access, sizeof(cfg->card_access));
	rc = rc ?: get_u32(c, m, "card", "watchdog_periods", 0, 2, 1000, &cfg->watchdog_periods);
	rc = rc ?: get_u32(c, m, "card", "admin_timeout_ms", 0, 10, 600000, &cfg->admin_timeout_ms);
	rc = rc ?: get_u32(c, m, "card", "key_grace_s", 0, 0, 30 * 86400, &cfg->key_grace_s);
	if (rc)
		return rc;
	if (strcmp(cfg->card_access, "auto") && !strchr(cfg->card_access, ':'))
		return fail(c, lookup(c, m, "access"), "card.access",
			    "expected auto, shm:PATH or kmod:PATH, got '%s'", cfg->card_access);
	return 0;
}

static int
parse_ledger(struct ctx *c, const yaml_node_t *m, struct tfd_config *cfg)
{
	static const char *const keys[] = { "path",	      "synchronous",
					    "batch_max",      "commit_interval_ms",
					    "retention_days", "records",
					    "aggregate_ms",   NULL };
	char sync[16] = "full", path[PATH_MAX] = "", records[16] = "request";
	int rc;

	if (want_type(c, m, YAML_MAPPING_NODE, "ledger") || check_keys(c, m, "ledger", keys))
		return -EINVAL;
	rc = get_str(c, m, "ledger", "path", 0, path, sizeof(path));
	rc = rc ?: get_str(c, m, "ledger", "synchronous", 0, sync, sizeof(sync));
	rc = rc ?: get_u32(c, m, "ledger", "batch_max", 0, 1, 65536, &cfg->ledger_batch_max);
	rc = rc
		     ?: get_u32(c, m, "ledger", "commit_interval_ms", 0, 0, 10000,
				&cfg->ledger_commit_interval_ms);
	rc = rc ?: get_u32(c, m, "ledger", "retention_days", 0, 0, 36500, &cfg->retention_days);
	rc = rc ?: get_str(c, m, "ledger", "records", 0, records, sizeof(records));
	rc = rc
		     ?: get_u32(c, m, "ledger", "aggregate_ms", 0, 1, TF_USAGE_AGG_MS_MAX,
				&cfg->ledger_aggregate_ms);
	if (rc)
		return rc;
	if (!strcmp(records, "request"))
		cfg->ledger_records = TF_USAGE_MODE_REQUEST;
	else if (!strcmp(records, "aggregate"))
		cfg->ledger_records = TF_USAGE_MODE_AGGREGATE;
	else
		return fail(c, lookup(c, m, "records"), "ledger.records",
			    "expected request (a ledger row per request) or aggregate (the card "
			    "sums requests every aggregate_ms), got '%s'",
			    records);
	if (TF_USAGE_AGG_MS_MAX % cfg->ledger_aggregate_ms)
		return fail(c, lookup(c, m, "aggregate_ms"), "ledger.aggregate_ms",
			    "%u does not divide 60000 (windows align to the minute): use e.g. "
			    "50, 100, 250, 500 or 1000",
			    cfg->ledger_aggregate_ms);
	if (path[0])
		resolve(c, path, cfg->ledger_path, sizeof(cfg->ledger_path));
	if (!strcmp(sync, "full"))
		cfg->ledger_sync_full = 1;
	else if (!strcmp(sync, "normal"))
		cfg->ledger_sync_full = 0;
	else
		return fail(c, lookup(c, m, "synchronous"), "ledger.synchronous",
			    "expected full or normal, got '%s'", sync);
	return 0;
}

static int
parse_api(struct ctx *c, const yaml_node_t *m, struct tfd_config *cfg)
{
	static const char *const keys[] = { "listen", "token_file", "tls_cert", "tls_key", NULL };
	char listen[80] = "", tf[PATH_MAX] = "", cert[PATH_MAX] = "", key[PATH_MAX] = "";
	char *colon, *end;
	unsigned long port;
	int rc;

	if (want_type(c, m, YAML_MAPPING_NODE, "api") || check_keys(c, m, "api", keys))
		return -EINVAL;
	rc = get_str(c, m, "api", "listen", 0, listen, sizeof(listen));
	rc = rc ?: get_str(c, m, "api", "token_file", 1, tf, sizeof(tf));
	rc = rc ?: get_str(c, m, "api", "tls_cert", 0, cert, sizeof(cert));
	rc = rc ?: get_str(c, m, "api", "tls_key", 0, key, sizeof(key));
	if (rc)
		return rc;
	if (listen[0]) {
		colon = strrchr(listen, ':');
		if (!colon || colon == listen)
			return fail(c, lookup(c, m, "listen"), "api.listen",
				    "expected ADDRESS:PORT like 127.0.0.1:8470, got '%s'", listen);
		*colon = '\0';
		port = strtoul(colon + 1, &end, 10);
		if (*end || port > 65535 || !isdigit((unsigned char)colon[1]))
			return fail(c, lookup(c, m, "listen"), "api.listen",
				    "port must be 0..65535, got '%s'", colon + 1);
		snprintf(cfg->listen_addr, sizeof(cfg->listen_addr), "%s", listen);
		cfg->listen_port = (uint16_t)port;
	}
	resolve(c, tf, cfg->token_file, sizeof(cfg->token_file));
	rc = read_small(cfg->token_file, cfg->api_token, sizeof(cfg->api_token));
	if (rc < 0)
		return fail(c, lookup(c, m, "token_file"), "api.token_file",
			    "cannot read '%s': %s (create it with e.g. "
			    "'openssl rand -hex 32 > FILE; chmod 600 FILE')",
			    cfg->token_file,
			    rc == -EFBIG ? "longer than 128 bytes" : strerror(-rc));
	cfg->api_token[strcspn(cfg->api_token, "\r\n")] = '\0';
	if (strlen(cfg->api_token) < 16)
		return fail(c, lookup(c, m, "token_file"), "api.token_file",
			    "the token in '%s' is shorter than 16 characters", cfg->token_file);
	if (!!cert[0] != !!key[0])
		return fail(c, m, "api", "tls_cert and tls_key must be given together");
	if (cert[0]) {
		resolve(c, cert, cfg->tls_cert, sizeof(cfg->tls_cert));
		resolve(c, key, cfg->tls_key, sizeof(cfg->tls_key));
	}
	return 0;
}

static int
parse_log(struct ctx *c, const yaml_node_t *m, struct tfd_config *cfg)
{
	static const char *const keys[] = { "level", "syslog", NULL };
	char level[16] = "info";

	if (want_type(c, m, YAML_MAPPING_NODE, "log") || check_keys(c, m, "log", keys) ||
	    get_str(c, m, "log", "level", 0, level, sizeof(level)) ||
	    get_bool(c, m, "log", "syslog", &cfg->log_syslog))
		return -EINVAL;
	if (!strcmp(level, "error"))
		cfg->log_level = TF_LOG_ERR;
	else if (!strcmp(level, "warning"))
		cfg->log_level = TF_LOG_WARN;
	else if (!strcmp(level, "info"))
		cfg->log_level = TF_LOG_INFO;
	else if (!strcmp(level, "debug"))
		cfg->log_level = TF_LOG_DEBUG;
	else
		return fail(c, lookup(c, m, "level"), "log.level",
			    "expected error, warning, info or debug, got '%s'", level);
	return 0;
}

static int
parse_batching(struct ctx *c, const yaml_node_t *m, struct tfd_config *cfg)
{
	static const char *const keys[] = { "max_batch", "max_batch_bytes", "max_queue_delay_us",
					    NULL };
	struct tf_aq_set_batching *b = &cfg->batching;
	int rc;

	if (want_type(c, m, YAML_MAPPING_NODE, "batching") || check_keys(c, m, "batching", keys))
		return -EINVAL;
	b->max_batch = 32;
	b->max_batch_bytes = 1 << 20;
	b->max_queue_delay_us = 2000;
	rc = get_u32(c, m, "batching", "max_batch", 0, 1, 1024, &b->max_batch);
	rc = rc
		     ?: get_u32(c, m, "batching", "max_batch_bytes", 0, 1, 16u << 20,
				&b->max_batch_bytes);
	rc = rc
		     ?: get_u32(c, m, "batching", "max_queue_delay_us", 0, 0, 1000000,
				&b->max_queue_delay_us);
	cfg->has_batching = 1;
	return rc;
}

/* A list section: checks it is a list of mappings and allocates items. */
static int
list_items(struct ctx *c, const yaml_node_t *n, const char *key, size_t item_size, void **items,
	   uint32_t *count)
{
	size_t len;

	if (want_type(c, n, YAML_SEQUENCE_NODE, key))
		return -EINVAL;
	len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (len > MAX_ITEMS)
		return fail(c, n, key, "more than %d entries", MAX_ITEMS);
	*items = calloc(len ? len : 1, item_size);
	if (!*items)
		return fail(c, n, key, "out of memory");
	*count = (uint32_t)len;
	return 0;
}

static int
parse_models(struct ctx *c, const yaml_node_t *n, struct tfd_config *cfg)
{
	static const char *const keys[] = { "id", "name", "max_prompt_tokens", "max_new_tokens",
					    NULL };
	void *items;

	if (list_items(c, n, "models", sizeof(struct tfd_model), &items, &cfg->n_models))
		return -EINVAL;
	cfg->models = items;
	for (uint32_t i = 0; i < cfg->n_models; i++) {
		yaml_node_t *m = node_at(c, n->data.sequence.items.start[i]);
		struct tfd_model *md = &cfg->models[i];
		char base[64];
		int rc;

		snprintf(base, sizeof(base), "models[%u]", i);
		if (want_type(c, m, YAML_MAPPING_NODE, base) || check_keys(c, m, base, keys))
			return -EINVAL;
		md->max_prompt_tokens = 4096;
		md->max_new_tokens = 512;
		rc = get_u32(c, m, base, "id", 1, 1, UINT32_MAX, &md->id);
		rc = rc ?: get_str(c, m, base, "name", 1, md->name, sizeof(md->name));
		rc = rc
			     ?: get_u32(c, m, base, "max_prompt_tokens", 0, 1, 1u << 20,
					&md->max_prompt_tokens);
		rc = rc
			     ?: get_u32(c, m, base, "max_new_tokens", 0, 1, 1u << 20,
					&md->max_new_tokens);
		if (rc)
			return rc;
		for (uint32_t j = 0; j < i; j++) {
			if (cfg->models[j].id == md->id)
				return fail(c, lookup(c, m, "id"), base,
					    "model id %u is already used by models[%u]", md->id, j);
			if (!strcmp(cfg->models[j].name, md->name))
				return fail(c, lookup(c, m, "name"), base,
					    "model name '%s' is already used by models[%u]",
					    md->name, j);
		}
	}
	return 0;
}

/* A model by id ("3") or name ("llama-tiny"); 0 when unknown. */
static uint32_t
model_ref(const struct tfd_config *cfg, const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	for (uint32_t i = 0; i < cfg->n_models; i++)
		if ((!*end && isdigit((unsigned char)s[0]) && cfg->models[i].id == v) ||
		    !strcmp(cfg->models[i].name, s))
			return cfg->models[i].id;
	return 0;
}

static int
parse_accels(struct ctx *c, const yaml_node_t *n, struct tfd_config *cfg)
{
	static const char *const keys[] = { "id",	 "address",
					    "transport", "cost_per_hour",
					    "weight",	 "max_outstanding",
					    "models",	 NULL };
	void *items;

	if (list_items(c, n, "accelerators", sizeof(struct tfd_accel), &items, &cfg->n_accels))
		return -EINVAL;
	cfg->accels = items;
	for (uint32_t i = 0; i < cfg->n_accels; i++) {
		yaml_node_t *m = node_at(c, n->data.sequence.items.start[i]), *ml;
		struct tfd_accel *a = &cfg->accels[i];
		char base[64], kp[96], tr[16] = "";
		int rc;

		snprintf(base, sizeof(base), "accelerators[%u]", i);
		if (want_type(c, m, YAML_MAPPING_NODE, base) || check_keys(c, m, base, keys))
			return -EINVAL;
		a->weight = 100;
		a->max_outstanding = 64;
		rc = get_u32(c, m, base, "id", 1, 1, UINT32_MAX, &a->id);
		rc = rc ?: get_str(c, m, base, "address", 1, a->address, sizeof(a->address));
		rc = rc ?: get_str(c, m, base, "transport", 1, tr, sizeof(tr));
		rc = rc
			     ?: get_money(c, m, base, "cost_per_hour", 0, 1ull << 48,
					  &a->cost_per_hour_micro);
		rc = rc ?: get_u32(c, m, base, "weight", 0, 1, 1000, &a->weight);
		rc = rc ?: get_u32(c, m, base, "max_outstanding", 0, 1, 65536, &a->max_outstanding);
		if (rc)
			return rc;
		snprintf(kp, sizeof(kp), "%s.transport", base);
		if (!strcmp(tr, "shm"))
			a->transport = TF_TRANSPORT_SHM;
		else if (!strcmp(tr, "rdma"))
			a->transport = TF_TRANSPORT_RDMA;
		else
			return fail(c, lookup(c, m, "transport"), kp,
				    "expected shm or rdma, got '%s'", tr);
		snprintf(kp, sizeof(kp), "%s.models", base);
		ml = lookup(c, m, "models");
		if (!ml)
			return fail(c, m, kp, "missing (required): the models it serves");
		if (want_type(c, ml, YAML_SEQUENCE_NODE, kp))
			return -EINVAL;
		for (yaml_node_item_t *it = ml->data.sequence.items.start;
		     it < ml->data.sequence.items.top; it++) {
			yaml_node_t *mn = node_at(c, *it);
			const char *s = scalar(mn);
			uint32_t id = s ? model_ref(cfg, s) : 0;

			if (!id)
				return fail(c, mn, kp, "'%s' is not a model of the models section",
					    s ? s : kind(mn));
			if (a->n_models == TF_MAX_ACCEL_MODELS)
				return fail(c, mn, kp, "at most %u models", TF_MAX_ACCEL_MODELS);
			for (uint32_t j = 0; j < a->n_models; j++)
				if (a->models[j] == id)
					return fail(c, mn, kp, "model '%s' listed twice", s);
			a->models[a->n_models++] = id;
		}
		if (a->n_models == 0)
			return fail(c, ml, kp, "an accelerator must serve at least one model");
		for (uint32_t j = 0; j < i; j++)
			if (cfg->accels[j].id == a->id)
				return fail(c, lookup(c, m, "id"), base,
					    "accelerator id %u is already used by accelerators[%u]",
					    a->id, j);
	}
	return 0;
}

static int
parse_rate(struct ctx *c, const yaml_node_t *m, const char *base, struct tfd_tenant *t)
{
	static const char *const keys[] = { "requests_per_s", "burst_requests", "tokens_per_s",
					    "burst_tokens", NULL };
	char kp[96];
	int rc;

	snprintf(kp, sizeof(kp), "%s.rate", base);
	if (want_type(c, m, YAML_MAPPING_NODE, kp) || check_keys(c, m, kp, keys))
		return -EINVAL;
	rc = get_u32(c, m, kp, "requests_per_s", 0, 0, UINT32_MAX, &t->rate_rps);
	rc = rc ?: get_u32(c, m, kp, "burst_requests", 0, 0, UINT32_MAX, &t->burst_requests);
	rc = rc ?: get_u32(c, m, kp, "tokens_per_s", 0, 0, UINT32_MAX, &t->rate_tps);
	rc = rc ?: get_u32(c, m, kp, "burst_tokens", 0, 0, UINT32_MAX, &t->burst_tokens);
	if (rc)
		return rc;
	if (!t->rate_rps && t->burst_requests)
		return fail(c, lookup(c, m, "burst_requests"), kp,
			    "burst_requests needs requests_per_s");
	if (!t->rate_tps && t->burst_tokens)
		return fail(c, lookup(c, m, "burst_tokens"), kp, "burst_tokens needs tokens_per_s");
	return 0;
}

static int
parse_prices(struct ctx *c, const yaml_node_t *m, const char *base, const struct tfd_config *cfg,
	     struct tfd_tenant *t)
{
	char kp[96];

	snprintf(kp, sizeof(kp), "%s.prices", base);
	if (want_type(c, m, YAML_MAPPING_NODE, kp))
		return -EINVAL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
		const char *ks = scalar(k), *vs = scalar(v);
		uint32_t id = ks ? model_ref(cfg, ks) : 0;
		struct tfd_price *pr;

		if (!id)
			return fail(c, k, kp, "'%s' is not a model of the models section",
				    ks ? ks : kind(k));
		for (uint32_t j = 0; j < t->n_prices; j++)
			if (t->prices[j].model_id == id)
				return fail(c, k, kp, "price for model '%s' given twice", ks);
		if (t->n_prices == TF_MAX_PRICES)
			return fail(c, k, kp, "at most %u prices", TF_MAX_PRICES);
		pr = &t->prices[t->n_prices++];
		pr->model_id = id;
		if (!vs || tfd_money_parse(vs, TF_PRICE_MAX, &pr->price_per_1k_micro) < 0)
			return fail(c, v, kp,
				    "price of '%s' per 1000 tokens must be an amount like 0.002, "
				    "got '%s'",
				    ks, vs ? vs : kind(v));
	}
	return 0;
}

/* tenants[].mac_algs: the wire MAC algorithms (protocol.md 4.1) a tenant may sign with. */
static int
parse_mac_algs(struct ctx *c, const yaml_node_t *n, const char *base, struct tfd_tenant *t)
{
	char kp[96];
	uint32_t i = 0;

	snprintf(kp, sizeof(kp), "%s.mac_algs", base);
	if (want_type(c, n, YAML_SEQUENCE_NODE, kp))
		return -EINVAL;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *an = node_at(c, *it);
		const char *s = scalar(an);
		int a = tf_proto_mac_alg_parse(s);

		if (a < 0)
			return fail(c, an, kp,
				    "item %u: '%s' is not a MAC algorithm (hmac-sha256 or siphash)",
				    i, s ? s : kind(an));
		if (t->mac_algs & (1u << a))
			return fail(c, an, kp, "item %u: '%s' is listed twice", i, s);
		t->mac_algs |= (uint16_t)(1u << a);
	}
	if (!t->mac_algs)
		return fail(c, n, kp, "name at least one MAC algorithm (hmac-sha256 or siphash)");
	return 0;
}

/* A key file (protocol.md 4.2), read by the protocol's own reader: what the client accepts. */
static int
load_key(struct ctx *c, const yaml_node_t *m, const char *base, struct tfd_tenant *t)
{
	char kp[96], rel[PATH_MAX], err[PATH_MAX + 256];
	size_t len;
	int rc;

	snprintf(kp, sizeof(kp), "%s.key_file", base);
	if (get_str(c, m, base, "key_file", 1, rel, sizeof(rel)))
		return -EINVAL;
	resolve(c, rel, t->key_file, sizeof(t->key_file));
	rc = tf_proto_keyfile_read(t->key_file, TF_KEY_MIN, TF_KEY_MAX, t->key, &len, NULL, err,
				   sizeof(err));
	if (rc)
		return fail(c, lookup(c, m, "key_file"), kp, "%s%s", err,
			    rc == -EINVAL ? " (make one with 'openssl rand -hex 32')" : "");
	t->key_len = (uint16_t)len;
	return 0;
}

static int
parse_tenants(struct ctx *c, const yaml_node_t *n, struct tfd_config *cfg)
{
	static const char *const keys[] = {
		"id",	    "name",	    "key_file", "key_id",   "budget",	"period", "rate",
		"priority", "max_inflight", "prices",	"disabled", "mac_algs", NULL
	};
	void *items;

	if (list_items(c, n, "tenants", sizeof(struct tfd_tenant), &items, &cfg->n_tenants))
		return -EINVAL;
	cfg->tenants = items;
	for (uint32_t i = 0; i < cfg->n_tenants; i++) {
		yaml_node_t *m = node_at(c, n->data.sequence.items.start[i]), *x;
		struct tfd_tenant *t = &cfg->tenants[i];
		char base[64], kp[96], period[16] = "month";
		uint32_t key_id = 0; /* as tokfab-client and tokfab-dp */
		int rc;

		snprintf(base, sizeof(base), "tenants[%u]", i);
		if (want_type(c, m, YAML_MAPPING_NODE, base) || check_keys(c, m, base, keys))
			return -EINVAL;
		rc = get_u32(c, m, base, "id", 1, 1, UINT32_MAX, &t->id);
		rc = rc ?: get_str(c, m, base, "name", 1, t->name, sizeof(t->name));
		rc = rc ?: load_key(c, m, base, t);
		rc = rc ?: get_u32(c, m, base, "key_id", 0, 0, 255, &key_id);
		rc = rc ?: get_str(c, m, base, "period", 0, period, sizeof(period));
		rc = rc ?: get_u32(c, m, base, "priority", 0, 0, TF_PRIORITY_MAX, &t->priority);
		rc = rc ?: get_u32(c, m, base, "max_inflight", 0, 0, 1u << 20, &t->max_inflight);
		rc = rc ?: get_bool(c, m, base, "disabled", &t->disabled);
		if (rc)
			return rc;
		t->key_id = (uint8_t)key_id;
		snprintf(kp, sizeof(kp), "%s.budget", base);
		x = lookup(c, m, "budget");
		if (!x)
			return fail(c, m, kp,
				    "missing (required): an amount per period, or unlimited");
		if (scalar(x) && !strcmp(scalar(x), "unlimited"))
			t->unlimited = 1;
		else if (get_money(c, m, base, "budget", 1, TF_MONEY_MAX, &t->budget_micro))
			return -EINVAL;
		snprintf(kp, sizeof(kp), "%s.period", base);
		if (!strcmp(period, "hour"))
			t->period = TFD_PERIOD_HOUR;
		else if (!strcmp(period, "day"))
			t->period = TFD_PERIOD_DAY;
		else if (!strcmp(period, "week"))
			t->period = TFD_PERIOD_WEEK;
		else if (!strcmp(period, "month"))
			t->period = TFD_PERIOD_MONTH;
		else
			return fail(c, lookup(c, m, "period"), kp,
				    "expected hour, day, week or month, got '%s'", period);
		x = lookup(c, m, "rate");
		if (x && parse_rate(c, x, base, t))
			return -EINVAL;
		x = lookup(c, m, "prices");
		if (x && parse_prices(c, x, base, cfg, t))
			return -EINVAL;
		x = lookup(c, m, "mac_algs");
		if (x && parse_mac_algs(c, x, base, t))
			return -EINVAL;
		for (uint32_t j = 0; j < i; j++) {
			if (cfg->tenants[j].id == t->id)
				return fail(c, lookup(c, m, "id"), base,
					    "tenant id %u is already used by tenants[%u]", t->id,
					    j);
			if (!strcmp(cfg->tenants[j].name, t->name))
				return fail(c, lookup(c, m, "name"), base,
					    "tenant name '%s' is already used by tenants[%u]",
					    t->name, j);
		}
	}
	return 0;
}

static void
defaults(struct tfd_config *cfg)
{
	snprintf(cfg->card_access, sizeof(cfg->card_access), "auto");
	cfg->watchdog_periods = 3;
	cfg->admin_timeout_ms = 2000;
	cfg->key_grace_s = 300;
	snprintf(cfg->ledger_path, sizeof(cfg->ledger_path), "/var/lib/tokfab/ledger.db");
	cfg->ledger_sync_full = 1;
	cfg->ledger_batch_max = 1024;
	cfg->ledger_commit_interval_ms = 100;
	cfg->ledger_records = TF_USAGE_MODE_REQUEST;
	cfg->ledger_aggregate_ms = 100;
	cfg->retention_days = 400;
	snprintf(cfg->listen_addr, sizeof(cfg->listen_addr), "127.0.0.1");
	cfg->listen_port = 8470;
	cfg->log_level = TF_LOG_INFO;
}

static int
parse_root(struct ctx *c, struct tfd_config *cfg)
{
	static const char *const keys[] = { "card",   "ledger",	      "api",	 "log", "batching",
					    "models", "accelerators", "tenants", NULL };
	yaml_node_t *root = yaml_document_get_root_node(&c->doc), *api;
	yaml_node_t *n;

	if (!root)
		return fail(c, NULL, "(file)", "the file is empty; see tokfabd.example.yaml");
	if (want_type(c, root, YAML_MAPPING_NODE, "(top level)") ||
	    check_keys(c, root, "(top level)", keys))
		return -EINVAL;
	if ((n = lookup(c, root, "card")) && parse_card(c, n, cfg))
		return -EINVAL;
	if ((n = lookup(c, root, "ledger")) && parse_ledger(c, n, cfg))
		return -EINVAL;
	api = lookup(c, root, "api");
	if (!api)
		return fail(c, root, "api", "missing (required): at least api.token_file");
	if (parse_api(c, api, cfg))
		return -EINVAL;
	if ((n = lookup(c, root, "log")) && parse_log(c, n, cfg))
		return -EINVAL;
	if ((n = lookup(c, root, "batching")) && parse_batching(c, n, cfg))
		return -EINVAL;
	if ((n = lookup(c, root, "models")) && parse_models(c, n, cfg))
		return -EINVAL;
	if ((n = lookup(c, root, "accelerators")) && parse_accels(c, n, cfg))
		return -EINVAL;
	if ((n = lookup(c, root, "tenants")) && parse_tenants(c, n, cfg))
		return -EINVAL;
	return 0;
}

int
tfd_config_load(const char *path, struct tfd_config **cfgp, char *err, size_t errlen)
{
	struct ctx c = { .file = path, .err = err, .errlen = errlen };
	struct tfd_config *cfg;
	yaml_parser_t parser;
	const char *slash;
	FILE *f;
	int rc;

	err[0] = '\0';
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fclose(f);
		return -ENOMEM;
	}
	defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	slash = strrchr(path, '/');
	if (slash)
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash - path), path);
	if (slash == path)
		snprintf(c.dir, sizeof(c.dir), "/");
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		free(cfg);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &c.doc)) {
		snprintf(err, errlen, "%s:%lu: (syntax): %s%s%s", path,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "invalid YAML",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		fclose(f);
		free(cfg);
		return -EINVAL;
	}
	rc = parse_root(&c, cfg);
	yaml_document_delete(&c.doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (rc < 0 || c.failed) {
		tfd_config_free(cfg);
		return -EINVAL;
	}
	*cfgp = cfg;
	return 0;
}

void
tfd_config_free(struct tfd_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->tenants)
		explicit_bzero(cfg->tenants, sizeof(*cfg->tenants) * cfg->n_tenants);
	explicit_bzero(cfg->api_token, sizeof(cfg->api_token));
	free(cfg->models);
	free(cfg->accels);
	free(cfg->tenants);
	free(cfg);
}

const struct tfd_tenant *
tfd_config_tenant(const struct tfd_config *cfg, uint32_t id)
{
	for (uint32_t i = 0; i < cfg->n_tenants; i++)
		if (cfg->tenants[i].id == id)
			return &cfg->tenants[i];
	return NULL;
}

const struct tfd_model *
tfd_config_model(const struct tfd_config *cfg, uint32_t id)
{
	for (uint32_t i = 0; i < cfg->n_models; i++)
		if (cfg->models[i].id == id)
			return &cfg->models[i];
	return NULL;
}

const struct tfd_accel *
tfd_config_accel(const struct tfd_config *cfg, uint32_t id)
{
	for (uint32_t i = 0; i < cfg->n_accels; i++)
		if (cfg->accels[i].id == id)
			return &cfg->accels[i];
	return NULL;
}

const char *
tfd_period_name(enum tfd_period p)
{
	switch (p) {
	case TFD_PERIOD_HOUR:
		return "hour";
	case TFD_PERIOD_DAY:
		return "day";
	case TFD_PERIOD_WEEK:
		return "week";
	default:
		return "month";
	}
}
