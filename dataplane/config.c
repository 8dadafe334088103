/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Loading tokfab-dp's YAML configuration with libyaml's document API: every
 * key is looked up in a table of known keys (unknown ones are errors), every
 * value is range-checked, and every error names file, line and key.
 */
#include "dataplane/config.h"
#include "dataplane/tenants.h"
#include "tokfab/accel_rings.h"
#include "tokfab/proto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_TENANTS TF_DP_TENANTS_MAX /* entries in the file; limits.tenants bounds them */
#define MAX_MODELS 64
#define MAX_ACCELS 64

struct ctx {
	const char *file;
	char dir[PATH_MAX];
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 4, 5))) static int
fail(struct ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s:%zu: %s: %s", c->file, n ? n->start_mark.line + 1 : 0, key,
		 msg);
	return -EINVAL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static yaml_node_t *
node(struct ctx *c, int i)
{
	return yaml_document_get_node(c->doc, i);
}

static const char *
sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int
want(struct ctx *c, const yaml_node_t *n, yaml_node_type_t t, const char *key)
{
	static const char *const names[] = { "nothing", "a scalar", "a list", "a mapping" };

	if (n->type != t)
		return fail(c, n, key, "expected %s, got %s", names[t], names[n->type]);
	return 0;
}

static int
get_u64(struct ctx *c, const yaml_node_t *n, const char *key, uint64_t min, uint64_t max,
	uint64_t *out)
{
	const char *s;
	char *end;
	unsigned long long v;

	if (want(c, n, YAML_SCALAR_NODE, key))
		return -EINVAL;
	s = sval(n);
	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		goto bad;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		goto bad;
	if (v < min || v > max)
		return fail(c, n, key, "%llu is out of range %llu..%llu", v,
			    (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
bad:
	return fail(c, n, key, "expected an integer %llu..%llu, got '%s'", (unsigned long long)min,
		    (unsigned long long)max, s);
}

static int
get_u32(struct ctx *c, const yaml_node_t *n, const char *key, uint32_t min, uint32_t max,
	uint32_t *out)
{
	uint64_t v;
	int rc = get_u64(c, n, key, min, max, &v);

	if (!rc)
		*out = (uint32_t)v;
	return rc;
}

static int
get_bool(struct ctx *c, const yaml_node_t *n, const char *key, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	if (want(c, n, YAML_SCALAR_NODE, key))
		return -EINVAL;
	for (unsigned int i = 0; i < 4; i++) {
		if (!strcasecmp(sval(n), yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(sval(n), no[i])) {
			*out = 0;
			return 0;
		}
	}
	return fail(c, n, key, "expected true or false, got '%s'", sval(n));
}

/* A printable name of 1..TF_NAME_LEN-1 characters, NUL-padded into out. */
static int
get_name(struct ctx *c, const yaml_node_t *n, const char *key, char out[TF_NAME_LEN])
{
	const char *s;
	size_t len;

	if (want(c, n, YAML_SCALAR_NODE, key))
		return -EINVAL;
	s = sval(n);
	len = strlen(s);
	if (len == 0 || len >= TF_NAME_LEN)
		return fail(c, n, key, "must be 1..%u characters", TF_NAME_LEN - 1);
	for (size_t i = 0; i < len; i++)
		if (!isprint((unsigned char)s[i]))
			return fail(c, n, key, "must be printable ASCII");
	memset(out, 0, TF_NAME_LEN);
	memcpy(out, s, len);
	return 0;
}

/*
 * A key file as the protocol defines it (protocol.md 4.2), read by the
 * protocol's own reader so the card accepts exactly what the client does.
 */
static int
read_key_file(struct ctx *c, const yaml_node_t *n, const char *key, uint8_t *out, uint16_t *outlen)
{
	char path[PATH_MAX + 256], err[PATH_MAX + 256];
	size_t len;

	if (want(c, n, YAML_SCALAR_NODE, key))
		return -EINVAL;
	if (sval(n)[0] == '/')
		snprintf(path, sizeof(path), "%s", sval(n));
	else
		snprintf(path, sizeof(path), "%s/%s", c->dir, sval(n));
	if (tf_proto_keyfile_read(path, TF_KEY_MIN, TF_KEY_MAX, out, &len, NULL, err, sizeof(err)))
		return fail(c, n, key, "%s", err);
	*outlen = (uint16_t)len;
	return 0;
}

/* Walks a mapping: for each pair calls fn(c, keyname, value, obj, path). */
typedef int (*pair_fn)(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path);

static int
walk_map(struct ctx *c, yaml_node_t *map, const char *path, pair_fn fn, void *obj)
{
	if (want(c, map, YAML_MAPPING_NODE, path))
		return -EINVAL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
		char full[256];
		int rc;

		if (want(c, k, YAML_SCALAR_NODE, path))
			return -EINVAL;
		/* A key given twice is a mistake, not an override. */
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = node(c, q->key);

			if (k2->type == YAML_SCALAR_NODE && !strcmp(sval(k2), sval(k)))
				return fail(c, k, path, "key '%s' given twice", sval(k));
		}
		snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", sval(k));
		rc = fn(c, sval(k), v, obj, full);
		if (rc == -ENOENT)
			return fail(c, k, path[0] ? path : "(top)", "unknown key '%s'", sval(k));
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- card ---- */

static int
card_pair(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path)
{
	struct tf_dp_config *cfg = obj;
	int b;

	if (!strcmp(k, "ipv4")) {
		struct in_addr a;

		if (want(c, v, YAML_SCALAR_NODE, path))
			return -EINVAL;
		if (inet_pton(AF_INET, sval(v), &a) != 1 || a.s_addr == 0 ||
		    a.s_addr == 0xffffffffu)
			return fail(c, v, path, "expected a unicast IPv4 address, got '%s'",
				    sval(v));
		cfg->ipv4 = a.s_addr;
		return 0;
	}
	if (!strcmp(k, "udp_port")) {
		uint32_t p = 0;
		int rc = get_u32(c, v, path, 1, 65535, &p);

		cfg->udp_port = (uint16_t)p;
		return rc;
	}
	if (!strcmp(k, "serial"))
		return get_name(c, v, path, cfg->serial);
	if (!strcmp(k, "udp_checksum")) {
		if (get_bool(c, v, path, &b))
			return -EINVAL;
		cfg->udp_checksum = (uint8_t)b;
		cfg->limits.udp_tx_csum = (uint8_t)b;
		return 0;
	}
	if (!strcmp(k, "stats_interval_s"))
		return get_u32(c, v, path, 0, 86400, &cfg->stats_interval_s);
	if (!strcmp(k, "idle_sleep_us"))
		return get_u32(c, v, path, 0, 100000, &cfg->idle_sleep_us);
	if (!strcmp(k, "mbufs"))
		return get_u32(c, v, path, 1024, 1u << 22, &cfg->mbufs);
	if (!strcmp(k, "drain_timeout_s"))
		return get_u32(c, v, path, 0, 3600, &cfg->drain_timeout_s);
	if (!strcmp(k, "host_wait_s"))
		return get_u32(c, v, path, 0, 86400, &cfg->host_wait_s);
	if (!strcmp(k, "host_settle_ms"))
		return get_u32(c, v, path, 1, 60000, &cfg->host_settle_ms);
	return -ENOENT;
}

static int
limits_pair(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path)
{
	struct tf_dp_limits *l = obj;
	uint64_t mb;

	if (!strcmp(k, "tenants"))
		return get_u32(c, v, path, 1, TF_DP_TENANTS_MAX, &l->tenants);
	if (!strcmp(k, "max_requests"))
		return get_u32(c, v, path, 16, 1u << 22, &l->max_requests);
	if (!strcmp(k, "max_queue"))
		return get_u32(c, v, path, 1, 1u << 22, &l->max_queue);
	if (!strcmp(k, "reasm_contexts"))
		return get_u32(c, v, path, 0, 65536, &l->reasm_contexts);
	if (!strcmp(k, "reasm_timeout_ms"))
		return get_u32(c, v, path, 1, 600000, &l->reasm_timeout_ms);
	if (!strcmp(k, "replay_window_ms"))
		return get_u32(c, v, path, 1, 3600000, &l->replay_window_ms);
	if (!strcmp(k, "id_table"))
		return get_u32(c, v, path, 16, 1u << 23, &l->id_table);
	if (!strcmp(k, "cache_entries"))
		return get_u32(c, v, path, 0, 1u << 22, &l->cache_entries);
	if (!strcmp(k, "cache_min_ms"))
		return get_u32(c, v, path, 0, 3600000, &l->cache_min_ms);
	if (!strcmp(k, "token_buffer_mb")) {
		int rc = get_u64(c, v, path, 1, 65536, &mb);

		l->token_buffer_bytes = mb << 20;
		return rc;
	}
	if (!strcmp(k, "retry_after_ms"))
		return get_u32(c, v, path, 1, 600000, &l->retry_after_ms);
	if (!strcmp(k, "retry_after_max_ms"))
		return get_u32(c, v, path, 1, 600000, &l->retry_after_max_ms);
	if (!strcmp(k, "max_segs"))
		return get_u32(c, v, path, 1, 4096, &l->max_segs);
	if (!strcmp(k, "dgram"))
		return get_u32(c, v, path, 128, TF_PROTO_MAX_DGRAM, &l->dgram);
	if (!strcmp(k, "accel_peer_timeout_ms"))
		return get_u32(c, v, path, 100, 3600000, &l->accel_peer_timeout_ms);
	if (!strcmp(k, "accel_connect_timeout_ms"))
		return get_u32(c, v, path, 100, 600000, &l->accel_connect_timeout_ms);
	if (!strcmp(k, "generation_timeout_ms")) {
		int rc = get_u32(c, v, path, 0, 86400000, &l->generation_timeout_ms);

		if (!rc && l->generation_timeout_ms && l->generation_timeout_ms < 10)
			return fail(c, v, path,
				    "%u ms is shorter than any generation: use 0 (no deadline) "
				    "or 10..86400000",
				    l->generation_timeout_ms);
		return rc;
	}
	if (!strcmp(k, "cancel_grace_ms"))
		return get_u32(c, v, path, 0, 3600000, &l->cancel_grace_ms);
	if (!strcmp(k, "degraded_abandoned"))
		return get_u32(c, v, path, 0, 65536, &l->degraded_abandoned);
	if (!strcmp(k, "resp_ring_bytes")) {
		int rc = get_u32(c, v, path, TF_ACCEL_RING_MIN, TF_ACCEL_RING_MAX,
				 &l->resp_ring_bytes);

		if (!rc && (l->resp_ring_bytes & (l->resp_ring_bytes - 1)))
			return fail(c, v, path, "must be a power of two");
		return rc;
	}
	return -ENOENT;
}

static int
batching_pair(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path)
{
	struct tf_aq_set_batching *b = obj;

	if (!strcmp(k, "max_batch"))
		return get_u32(c, v, path, 1, 1024, &b->max_batch);
	if (!strcmp(k, "max_batch_bytes"))
		return get_u32(c, v, path, 1, 16u << 20, &b->max_batch_bytes);
	if (!strcmp(k, "max_queue_delay_us"))
		return get_u32(c, v, path, 0, 1000000, &b->max_queue_delay_us);
	return -ENOENT;
}

/* ---- models ---- */

static int
model_pair(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path)
{
	struct tf_aq_set_model *m = obj;

	if (!strcmp(k, "id"))
		return get_u32(c, v, path, 1, UINT32_MAX, &m->model_id);
	if (!strcmp(k, "name"))
		return get_name(c, v, path, m->name);
	if (!strcmp(k, "max_prompt_tokens"))
		return get_u32(c, v, path, 1, 1u << 20, &m->max_prompt_tokens);
	if (!strcmp(k, "max_new_tokens"))
		return get_u32(c, v, path, 1, 1u << 20, &m->max_new_tokens);
	return -ENOENT;
}

/* ---- accelerators ---- */

static int
accel_pair(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path)
{
	struct tf_aq_set_accel *a = obj;

	if (!strcmp(k, "id"))
		return get_u32(c, v, path, 1, UINT32_MAX, &a->accel_id);
	if (!strcmp(k, "transport")) {
		if (want(c, v, YAML_SCALAR_NODE, path))
			return -EINVAL;
		if (!strcmp(sval(v), "shm"))
			a->transport = TF_TRANSPORT_SHM;
		else if (!strcmp(sval(v), "rdma"))
			a->transport = TF_TRANSPORT_RDMA;
		else
			return fail(c, v, path, "expected shm or rdma, got '%s'", sval(v));
		return 0;
	}
	if (!strcmp(k, "address")) {
		size_t len;

		if (want(c, v, YAML_SCALAR_NODE, path))
			return -EINVAL;
		len = strlen(sval(v));
		if (len == 0 || len >= TF_ADDR_LEN)
			return fail(c, v, path, "must be 1..%u characters", TF_ADDR_LEN - 1);
		for (size_t i = 0; i < len; i++)
			if (!isprint((unsigned char)sval(v)[i]))
				return fail(c, v, path, "must be printable ASCII");
		memcpy(a->address, sval(v), len);
		return 0;
	}
	if (!strcmp(k, "cost_per_hour_micro"))
		return get_u64(c, v, path, 0, TF_MONEY_MAX, (uint64_t *)&a->cost_per_hour_micro);
	if (!strcmp(k, "weight"))
		return get_u32(c, v, path, 1, 1000, &a->weight);
	if (!strcmp(k, "max_outstanding"))
		return get_u32(c, v, path, 1, 65536, &a->max_outstanding);
	if (!strcmp(k, "models")) {
		uint32_t n = 0;

		if (want(c, v, YAML_SEQUENCE_NODE, path))
			return -EINVAL;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			char ip[300];

			snprintf(ip, sizeof(ip), "%s[%u]", path, n);
			if (n == TF_MAX_ACCEL_MODELS)
				return fail(c, node(c, *it), ip, "at most %u models",
					    TF_MAX_ACCEL_MODELS);
			if (get_u32(c, node(c, *it), ip, 1, UINT32_MAX, &a->models[n]))
				return -EINVAL;
			for (uint32_t j = 0; j < n; j++)
				if (a->models[j] == a->models[n])
					return fail(c, node(c, *it), ip, "model %u listed twice",
						    a->models[n]);
			n++;
		}
		a->n_models = n;
		return 0;
	}
	return -ENOENT;
}

/* ---- tenants ---- */

struct tenant_obj {
	struct tf_aq_set_tenant *t;
	int have_key, unlimited, disabled, have_budget, have_prio;
};

static int
price_pair(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path)
{
	struct tf_aq_price *p = obj;

	if (!strcmp(k, "model"))
		return get_u32(c, v, path, 1, UINT32_MAX, &p->model_id);
	if (!strcmp(k, "per_1k_micro"))
		return get_u64(c, v, path, 0, TF_PRICE_MAX, (uint64_t *)&p->price_per_1k_micro);
	return -ENOENT;
}

static int
tenant_pair(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path)
{
	struct tenant_obj *o = obj;
	struct tf_aq_set_tenant *t = o->t;
	uint32_t u = 0;

	if (!strcmp(k, "id"))
		return get_u32(c, v, path, 1, UINT32_MAX, &t->tenant_id);
	if (!strcmp(k, "name"))
		return get_name(c, v, path, t->name);
	if (!strcmp(k, "key")) {
		char err[256];
		size_t klen;

		if (o->have_key)
			return fail(c, v, path, "give either key or key_file, not both");
		if (want(c, v, YAML_SCALAR_NODE, path))
			return -EINVAL;
		if (tf_proto_keyfile_parse("value", sval(v), strlen(sval(v)), TF_KEY_MIN,
					   TF_KEY_MAX, t->key, &klen, err, sizeof(err)))
			return fail(c, v, path, "%s", err);
		t->key_len = (uint16_t)klen;
		o->have_key = 1;
		return 0;
	}
	if (!strcmp(k, "key_file")) {
		if (o->have_key)
			return fail(c, v, path, "give either key or key_file, not both");
		o->have_key = 1;
		return read_key_file(c, v, path, t->key, &t->key_len);
	}
	if (!strcmp(k, "key_id")) {
		int rc = get_u32(c, v, path, 0, 255, &u);

		t->key_id = (uint8_t)u;
		return rc;
	}
	if (!strcmp(k, "budget_micro")) {
		o->have_budget = 1;
		return get_u64(c, v, path, 0, TF_MONEY_MAX, (uint64_t *)&t->budget_micro);
	}
	if (!strcmp(k, "unlimited"))
		return get_bool(c, v, path, &o->unlimited);
	if (!strcmp(k, "disabled"))
		return get_bool(c, v, path, &o->disabled);
	if (!strcmp(k, "rate_rps"))
		return get_u32(c, v, path, 0, UINT32_MAX, &t->rate_rps);
	if (!strcmp(k, "burst_requests"))
		return get_u32(c, v, path, 0, UINT32_MAX, &t->burst_requests);
	if (!strcmp(k, "rate_tps"))
		return get_u32(c, v, path, 0, UINT32_MAX, &t->rate_tps);
	if (!strcmp(k, "burst_tokens"))
		return get_u32(c, v, path, 0, UINT32_MAX, &t->burst_tokens);
	if (!strcmp(k, "priority")) {
		o->have_prio = 1;
		return get_u32(c, v, path, 0, TF_PRIORITY_MAX, &t->priority);
	}
	if (!strcmp(k, "max_inflight"))
		return get_u32(c, v, path, 0, 1u << 20, &t->max_inflight);
	if (!strcmp(k, "mac_algs")) {
		uint32_t n = 0;

		if (want(c, v, YAML_SEQUENCE_NODE, path))
			return -EINVAL;
		t->mac_algs = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++, n++) {
			yaml_node_t *an = node(c, *it);
			char ip[300];
			int a;

			snprintf(ip, sizeof(ip), "%s[%u]", path, n);
			if (want(c, an, YAML_SCALAR_NODE, ip))
				return -EINVAL;
			a = tf_proto_mac_alg_parse(sval(an));
			if (a < 0)
				return fail(c, an, ip,
					    "'%s' is not a MAC algorithm (hmac-sha256 or siphash)",
					    sval(an));
			if (t->mac_algs & (1u << a))
				return fail(c, an, ip, "'%s' listed twice", sval(an));
			t->mac_algs |= (uint16_t)(1u << a);
		}
		if (!t->mac_algs)
			return fail(c, v, path, "name at least one MAC algorithm");
		return 0;
	}
	if (!strcmp(k, "prices")) {
		uint32_t n = 0;

		if (want(c, v, YAML_SEQUENCE_NODE, path))
			return -EINVAL;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *pn = node(c, *it);
			char ip[300];

			snprintf(ip, sizeof(ip), "%s[%u]", path, n);
			if (n == TF_MAX_PRICES)
				return fail(c, pn, ip, "at most %u prices", TF_MAX_PRICES);
			if (walk_map(c, pn, ip, price_pair, &t->prices[n]))
				return -EINVAL;
			if (!t->prices[n].model_id)
				return fail(c, pn, ip, "missing key 'model'");
			for (uint32_t j = 0; j < n; j++)
				if (t->prices[j].model_id == t->prices[n].model_id)
					return fail(c, pn, ip, "model %u priced twice",
						    t->prices[n].model_id);
			n++;
		}
		t->n_prices = n;
		return 0;
	}
	return -ENOENT;
}

/* Loads a list of objects of fixed size with fn per item; *count gets how many. */
static int
load_list(struct ctx *c, yaml_node_t *v, const char *path, size_t size, uint32_t max, void **out,
	  uint32_t *count, int (*item)(struct ctx *c, yaml_node_t *n, const char *ip, void *obj))
{
	size_t n = 0;
	uint8_t *arr;

	if (want(c, v, YAML_SEQUENCE_NODE, path))
		return -EINVAL;
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > max)
		return fail(c, v, path, "at most %u entries", max);
	arr = calloc(n ? n : 1, size);
	if (!arr)
		return -ENOMEM;
	*out = arr;
	*count = 0;
	for (size_t i = 0; i < n; i++) {
		char ip[300];
		int rc;

		snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
		rc = item(c, node(c, v->data.sequence.items.start[i]), ip, arr + i * size);
		if (rc)
			return rc;
		*count = (uint32_t)(i + 1);
	}
	return 0;
}

static int
model_item(struct ctx *c, yaml_node_t *n, const char *ip, void *obj)
{
	struct tf_aq_set_model *m = obj;

	m->max_prompt_tokens = 4096;
	m->max_new_tokens = 4096;
	if (walk_map(c, n, ip, model_pair, m))
		return -EINVAL;
	if (!m->model_id)
		return fail(c, n, ip, "missing key 'id'");
	if (!m->name[0])
		snprintf(m->name, sizeof(m->name), "model-%u", m->model_id);
	return 0;
}

static int
accel_item(struct ctx *c, yaml_node_t *n, const char *ip, void *obj)
{
	struct tf_aq_set_accel *a = obj;

	a->transport = TF_TRANSPORT_SHM;
	a->weight = 100;
	a->max_outstanding = 256;
	if (walk_map(c, n, ip, accel_pair, a))
		return -EINVAL;
	if (!a->accel_id)
		return fail(c, n, ip, "missing key 'id'");
	if (!a->address[0])
		return fail(c, n, ip,
			    "missing key 'address' (shm: the accelerator's name; rdma: host:port)");
	if (!a->n_models)
		return fail(c, n, ip, "missing key 'models' (the model ids it serves)");
	return 0;
}

static int
tenant_item(struct ctx *c, yaml_node_t *n, const char *ip, void *obj)
{
	struct tenant_obj o = { .t = obj };
	struct tf_aq_set_tenant *t = obj;

	if (walk_map(c, n, ip, tenant_pair, &o))
		return -EINVAL;
	if (!t->tenant_id)
		return fail(c, n, ip, "missing key 'id'");
	if (!o.have_key)
		return fail(c, n, ip, "missing key 'key_file' (or 'key')");
	if (o.unlimited && o.have_budget)
		return fail(c, n, ip, "give either budget_micro or unlimited: true, not both");
	if (!o.unlimited && !o.have_budget)
		return fail(c, n, ip, "missing key 'budget_micro' (or unlimited: true)");
	if ((t->burst_requests && !t->rate_rps) || (t->burst_tokens && !t->rate_tps))
		return fail(c, n, ip, "a burst needs its rate (rate_rps / rate_tps)");
	if (!o.have_prio)
		t->priority = TF_PRIORITY_MAX;
	t->flags =
		(o.unlimited ? TF_TENANT_F_UNLIMITED : 0) | (o.disabled ? TF_TENANT_F_DISABLED : 0);
	if (!t->name[0])
		snprintf(t->name, sizeof(t->name), "tenant-%u", t->tenant_id);
	return 0;
}

static int
top_pair(struct ctx *c, const char *k, yaml_node_t *v, void *obj, const char *path)
{
	struct tf_dp_config *cfg = obj;

	if (!strcmp(k, "card"))
		return walk_map(c, v, path, card_pair, cfg);
	if (!strcmp(k, "limits"))
		return walk_map(c, v, path, limits_pair, &cfg->limits);
	if (!strcmp(k, "batching"))
		return walk_map(c, v, path, batching_pair, &cfg->batching);
	if (!strcmp(k, "models"))
		return load_list(c, v, path, sizeof(*cfg->models), MAX_MODELS,
				 (void **)&cfg->models, &cfg->nmodels, model_item);
	if (!strcmp(k, "accelerators"))
		return load_list(c, v, path, sizeof(*cfg->accels), MAX_ACCELS,
				 (void **)&cfg->accels, &cfg->naccels, accel_item);
	if (!strcmp(k, "tenants"))
		return load_list(c, v, path, sizeof(*cfg->tenants), MAX_TENANTS,
				 (void **)&cfg->tenants, &cfg->ntenants, tenant_item);
	return -ENOENT;
}

/* Cross-checks: unique ids, references to models that exist. */
static int
check_refs(struct ctx *c, struct tf_dp_config *cfg, yaml_node_t *root)
{
	for (uint32_t i = 0; i < cfg->nmodels; i++)
		for (uint32_t j = 0; j < i; j++)
			if (cfg->models[i].model_id == cfg->models[j].model_id)
				return fail(c, root, "models", "id %u used twice",
					    cfg->models[i].model_id);
	for (uint32_t i = 0; i < cfg->naccels; i++) {
		for (uint32_t j = 0; j < i; j++)
			if (cfg->accels[i].accel_id == cfg->accels[j].accel_id)
				return fail(c, root, "accelerators", "id %u used twice",
					    cfg->accels[i].accel_id);
		for (uint32_t m = 0; m < cfg->accels[i].n_models; m++) {
			uint32_t id = cfg->accels[i].models[m], k;

			for (k = 0; k < cfg->nmodels && cfg->models[k].model_id != id; k++)
				;
			if (k == cfg->nmodels)
				return fail(
					c, root, "accelerators",
					"accelerator %u serves model %u, which is not in 'models'",
					cfg->accels[i].accel_id, id);
		}
	}
	if (cfg->ntenants > 1) {
		/* Sorted copy of the ids: 10^5 tenants must not take 10^10 comparisons. */
		uint32_t *ids = malloc(cfg->ntenants * sizeof(*ids)), dup = 0;
		int twice = 0;

		if (!ids)
			return fail(c, root, "tenants", "out of memory");
		for (uint32_t i = 0; i < cfg->ntenants; i++)
			ids[i] = cfg->tenants[i].tenant_id;
		qsort(ids, cfg->ntenants, sizeof(*ids), cmp_u32);
		for (uint32_t i = 1; i < cfg->ntenants && !twice; i++)
			if (ids[i] == ids[i - 1]) {
				dup = ids[i];
				twice = 1;
			}
		free(ids);
		if (twice)
			return fail(c, root, "tenants", "id %u used twice", dup);
	}
	if (cfg->ntenants > cfg->limits.tenants)
		return fail(c, root, "tenants", "%u tenants, limits.tenants is %u: raise it",
			    cfg->ntenants, cfg->limits.tenants);
	if (cfg->limits.max_queue > cfg->limits.max_requests)
		return fail(c, root, "limits.max_queue", "%u exceeds limits.max_requests (%u)",
			    cfg->limits.max_queue, cfg->limits.max_requests);
	return 0;
}

void
tf_dp_config_free(struct tf_dp_config *cfg)
{
	if (cfg->tenants) {
		for (uint32_t i = 0; i < cfg->ntenants; i++)
			explicit_bzero(cfg->tenants[i].key, sizeof(cfg->tenants[i].key));
		free(cfg->tenants);
	}
	free(cfg->models);
	free(cfg->accels);
	memset(cfg, 0, sizeof(*cfg));
}

int
tf_dp_config_load(const char *path, struct tf_dp_config *cfg, char *err, size_t errlen)
{
	struct ctx c = { .file = path, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	const char *slash;
	FILE *f;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->udp_port = TF_PROTO_PORT;
	cfg->udp_checksum = 1;
	cfg->stats_interval_s = 10;
	cfg->mbufs = 8191;
	cfg->drain_timeout_s = 10;
	cfg->host_wait_s = 30;
	cfg->host_settle_ms = 500;
	snprintf(cfg->serial, sizeof(cfg->serial), "TF-DP-0001");
	tf_dp_limits_default(&cfg->limits);
	cfg->batching = (struct tf_aq_set_batching){ .max_batch = 16,
						     .max_batch_bytes = 1u << 20,
						     .max_queue_delay_us = 200 };
	slash = strrchr(path, '/');
	if (slash)
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(c.dir, sizeof(c.dir), ".");

	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu: YAML syntax error: %s", path,
			 parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
		yaml_parser_delete(&parser);
		fclose(f);
		return -EINVAL;
	}
	c.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		snprintf(err, errlen, "%s: the file is empty", path);
		rc = -EINVAL;
	} else {
		rc = walk_map(&c, root, "", top_pair, cfg);
		if (!rc && !cfg->ipv4)
			rc = fail(&c, root, "card.ipv4", "missing: the card's own IPv4 address");
		if (!rc)
			rc = check_refs(&c, cfg, root);
		if (!rc)
			cfg->limits.udp_tx_csum = cfg->udp_checksum;
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (rc)
		tf_dp_config_free(cfg);
	return rc;
}
