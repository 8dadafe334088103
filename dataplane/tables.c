/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A worker's configuration tables: tenants it owns, models, accelerators,
 * batching. Changed only through the admin-queue commands below (from the
 * config file or the host), on the worker's own lcore.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/worker_int.h"

_Static_assert(TF_TENANT_MAC_HMAC_SHA256 == TF_PROTO_MAC_BIT(TF_PROTO_MAC_HMAC_SHA256) &&
		       TF_TENANT_MAC_SIPHASH == TF_PROTO_MAC_BIT(TF_PROTO_MAC_SIPHASH) &&
		       TF_TENANT_MAC_KNOWN_MASK == TF_PROTO_MAC_ALGS_KNOWN,
	       "SET_TENANT mac_algs bits are the wire's mac_alg bits");

/* ---- tenants (tenants.h holds them) ---- */

struct tf_dp_tenant *
tf_dp_tenant_find(struct tf_dp_worker *w, uint32_t id)
{
	return tf_dp_tenants_find(&w->tenants, id);
}

const struct tf_proto_key *
tf_dp_tenant_key(const struct tf_dp_tenant *t, uint8_t key_id)
{
	if (t->key.key_id == key_id)
		return &t->key;
	if (t->has_prev && t->prev_key.key_id == key_id)
		return &t->prev_key;
	return NULL;
}

uint64_t
tf_dp_tenant_price(const struct tf_dp_tenant *t, uint32_t model_id)
{
	for (uint32_t i = 0; i < t->nprices; i++)
		if (t->prices[i].model_id == model_id)
			return t->prices[i].price_per_1k_micro;
	return 0;
}

/* Frees a deleted tenant's slot once no request points at it (the memory stays). */
void
tf_dp_tenant_recheck_dry(struct tf_dp_worker *w, struct tf_dp_tenant *t)
{
	uint8_t d = (uint8_t)(tf_admit_dry(&t->adm) && t->in_use);

	if (d == t->dry)
		return;
	t->dry = d;
	if (d)
		w->ndry++;
	else
		w->ndry--;
}

static void
tenant_free(struct tf_dp_worker *w, struct tf_dp_tenant *t)
{
	tf_proto_key_wipe(&t->key);
	tf_proto_key_wipe(&t->prev_key);
	t->in_use = 0;
	tf_dp_tenant_recheck_dry(w, t);
	tf_dp_tenants_release(&w->tenants, t);
}

void
tf_dp_tenant_put(struct tf_dp_worker *w, struct tf_dp_tenant *t)
{
	if (--t->refs == 0 && t->deleted)
		tenant_free(w, t);
}

static void
tenant_info(const struct tf_dp_tenant *t, struct tf_aq_tenant_info *r)
{
	if (!r)
		return;
	memset(r, 0, sizeof(*r));
	r->tenant_id = t->id;
	r->flags = t->flags;
	r->budget_micro = (uint64_t)t->budget_micro;
	r->balance_micro = (uint64_t)t->adm.balance_micro;
	r->reserved_micro = (uint64_t)t->adm.reserved_micro;
	r->used_micro = t->adm.used_micro;
	r->requests = t->adm.admitted;
	r->refused = t->st.refused;
	r->active_requests = t->adm.inflight;
}

static void
tenant_limits(const struct tf_aq_set_tenant *c, struct tf_admit_limits *l)
{
	*l = (struct tf_admit_limits){
		.req_per_s = c->rate_rps,
		.req_burst = c->burst_requests,
		.tok_per_s = c->rate_tps,
		.tok_burst = c->burst_tokens,
		.max_inflight = c->max_inflight,
	};
}

int
tf_dp_worker_set_tenant(struct tf_dp_worker *w, const struct tf_aq_set_tenant *c,
			struct tf_aq_tenant_info *resp, uint32_t *detail)
{
	struct tf_admit_limits lim;
	struct tf_dp_tenant *t;
	uint32_t algs;
	int isnew = 0;

	if (tf_dp_tenant_owner(c->tenant_id, w->nworkers) != w->id) {
		*detail = c->tenant_id;
		return TF_AQ_S_INTERNAL; /* routed to the wrong worker: a card bug */
	}
	if (c->key_len < TF_KEY_MIN || c->key_len > TF_KEY_MAX ||
	    (c->prev_key_len && (c->prev_key_len < TF_KEY_MIN || c->prev_key_len > TF_KEY_MAX))) {
		*detail = offsetof(struct tf_aq_set_tenant, key_len);
		return TF_AQ_S_BAD_FIELD;
	}
	if (c->n_prices > TF_MAX_PRICES) {
		*detail = offsetof(struct tf_aq_set_tenant, n_prices);
		return TF_AQ_S_BAD_FIELD;
	}
	/* The MAC algorithms it may sign with; none named: HMAC-SHA256 only. */
	algs = c->mac_algs ? c->mac_algs : TF_TENANT_MAC_HMAC_SHA256;
	if (algs & ~TF_TENANT_MAC_KNOWN_MASK) {
		*detail = offsetof(struct tf_aq_set_tenant, mac_algs);
		return TF_AQ_S_BAD_FIELD;
	}
	tenant_limits(c, &lim);
	t = tf_dp_tenants_find(&w->tenants, c->tenant_id);
	if (!t) {
		/* Keys first: a tenant the card refuses must not appear half made. */
		struct tf_proto_key k;

		if (tf_proto_key_init(&k, TF_PROTO_MAC_HMAC_SHA256, c->key_id, c->key, c->key_len) <
		    0) {
			*detail = offsetof(struct tf_aq_set_tenant, key);
			return TF_AQ_S_BAD_FIELD;
		}
		tf_proto_key_wipe(&k);
		t = tf_dp_tenants_add(&w->tenants, c->tenant_id);
		if (!t) {
			*detail = w->tenants.cap;
			return TF_AQ_S_NO_SPACE;
		}
		t->in_use = 1;
		tf_admit_tenant_init(&t->adm, &lim, w->now_us);
		isnew = 1;
	}
	if (tf_proto_key_init(&t->key, TF_PROTO_MAC_HMAC_SHA256, c->key_id, c->key, c->key_len) <
		    0 ||
	    tf_proto_key_restrict(&t->key, algs) < 0) {
		*detail = offsetof(struct tf_aq_set_tenant, key);
		return TF_AQ_S_BAD_FIELD;
	}
	t->has_prev = 0;
	if (c->prev_key_len) {
		if (tf_proto_key_init(&t->prev_key, TF_PROTO_MAC_HMAC_SHA256, c->prev_key_id,
				      c->prev_key, c->prev_key_len) < 0 ||
		    tf_proto_key_restrict(&t->prev_key, algs) < 0) {
			*detail = offsetof(struct tf_aq_set_tenant, prev_key);
			return TF_AQ_S_BAD_FIELD;
		}
		t->has_prev = 1;
	}
	memcpy(t->name, c->name, sizeof(t->name));
	t->name[sizeof(t->name) - 1] = '\0';
	t->flags = c->flags & (TF_TENANT_F_UNLIMITED | TF_TENANT_F_DISABLED);
	t->max_prio = (uint8_t)(c->priority > TF_PRIORITY_MAX ? TF_PRIORITY_MAX : c->priority);
	t->budget_micro = (int64_t)c->budget_micro;
	t->nprices = c->n_prices;
	memcpy(t->prices, c->prices, sizeof(t->prices));
	if (!isnew)
		tf_admit_tenant_set_limits(&t->adm, &lim, w->now_us);
	/* A new tenant starts at its budget; an existing one keeps its balance. */
	if (c->flags & TF_TENANT_F_SET_BALANCE)
		tf_admit_tenant_set_balance(&t->adm, (int64_t)c->balance_micro,
					    !!(c->flags & TF_TENANT_F_UNLIMITED));
	else if (isnew)
		tf_admit_tenant_set_balance(&t->adm, (int64_t)c->budget_micro,
					    !!(c->flags & TF_TENANT_F_UNLIMITED));
	else
		t->adm.unlimited = !!(c->flags & TF_TENANT_F_UNLIMITED);
	tf_dp_tenant_recheck_dry(w, t);
	t->st.state = t->flags;
	tenant_info(t, resp);
	tf_dp_count(w, TF_EV_CFG_CHANGES, 1);
	return TF_AQ_S_OK;
}

int
tf_dp_worker_del_tenant(struct tf_dp_worker *w, uint32_t tenant_id, uint32_t *detail)
{
	struct tf_dp_tenant *t = tf_dp_tenants_find(&w->tenants, tenant_id);

	if (!t) {
		*detail = tenant_id;
		return TF_AQ_S_NOT_FOUND;
	}
	tf_dp_tenants_unlink(&w->tenants, tenant_id);
	/* Requests in flight finish and are recorded; the object goes with the last one. */
	t->deleted = 1;
	if (t->refs == 0)
		tenant_free(w, t);
	tf_dp_count(w, TF_EV_CFG_CHANGES, 1);
	return TF_AQ_S_OK;
}

int
tf_dp_worker_tenant_balance(struct tf_dp_worker *w, const struct tf_aq_tenant_balance *c,
			    struct tf_aq_tenant_info *resp, uint32_t *detail)
{
	struct tf_dp_tenant *t = tf_dp_tenant_find(w, c->tenant_id);

	if (!t) {
		*detail = c->tenant_id;
		return TF_AQ_S_NOT_FOUND;
	}
	switch (c->op) {
	case TF_BALANCE_ADD: {
		int64_t b = t->adm.balance_micro + (int64_t)c->amount;

		if (b > (int64_t)TF_MONEY_MAX)
			b = (int64_t)TF_MONEY_MAX;
		t->adm.balance_micro = b;
		break;
	}
	case TF_BALANCE_SET:
		t->adm.balance_micro = (int64_t)c->amount;
		break;
	case TF_BALANCE_RESET_PERIOD:
		tf_admit_tenant_reset_period(&t->adm, t->budget_micro);
		break;
	default:
		*detail = offsetof(struct tf_aq_tenant_balance, op);
		return TF_AQ_S_BAD_FIELD;
	}
	tf_dp_tenant_recheck_dry(w, t);
	tenant_info(t, resp);
	return TF_AQ_S_OK;
}

int
tf_dp_worker_get_tenant(struct tf_dp_worker *w, uint32_t tenant_id, struct tf_aq_tenant_info *resp,
			uint32_t *detail)
{
	struct tf_dp_tenant *t = tf_dp_tenant_find(w, tenant_id);

	if (!t) {
		*detail = tenant_id;
		return TF_AQ_S_NOT_FOUND;
	}
	tenant_info(t, resp);
	return TF_AQ_S_OK;
}

/* ---- models ---- */

struct tf_dp_model *
tf_dp_model_find(struct tf_dp_worker *w, uint32_t id)
{
	for (unsigned int i = 0; i < TF_DP_MAX_MODELS && w->models[i].id; i++)
		if (w->models[i].id == id)
			return &w->models[i];
	return NULL;
}

int
tf_dp_worker_set_model(struct tf_dp_worker *w, const struct tf_aq_set_model *c, uint32_t *detail)
{
	struct tf_dp_model *m = tf_dp_model_find(w, c->model_id);

	if (!m) {
		unsigned int i;

		for (i = 0; i < TF_DP_MAX_MODELS && w->models[i].id; i++)
			;
		if (i == TF_DP_MAX_MODELS) {
			*detail = TF_DP_MAX_MODELS;
			return TF_AQ_S_NO_SPACE;
		}
		m = &w->models[i];
		memset(m, 0, sizeof(*m));
		m->id = c->model_id;
	}
	memcpy(m->name, c->name, sizeof(m->name));
	m->name[sizeof(m->name) - 1] = '\0';
	m->max_prompt_tokens = c->max_prompt_tokens;
	m->max_new_tokens = c->max_new_tokens;
	tf_dp_count(w, TF_EV_CFG_CHANGES, 1);
	return TF_AQ_S_OK;
}

int
tf_dp_worker_del_model(struct tf_dp_worker *w, uint32_t model_id, uint32_t *detail)
{
	struct tf_dp_model *m = tf_dp_model_find(w, model_id);
	unsigned int i, last;

	if (!m) {
		*detail = model_id;
		return TF_AQ_S_NOT_FOUND;
	}
	/* Keep the array dense: move the last model into the hole. */
	i = (unsigned int)(m - w->models);
	for (last = i; last + 1 < TF_DP_MAX_MODELS && w->models[last + 1].id; last++)
		;
	if (last != i)
		w->models[i] = w->models[last];
	memset(&w->models[last], 0, sizeof(w->models[last]));
	tf_dp_count(w, TF_EV_CFG_CHANGES, 1);
	return TF_AQ_S_OK;
}

/* ---- accelerators ---- */

static struct tf_dp_accel *
accel_find(struct tf_dp_worker *w, uint32_t id)
{
	for (unsigned int i = 0; i < w->naccel_slots; i++)
		if (w->accels[i].id == id && !w->accels[i].deleted)
			return &w->accels[i];
	return NULL;
}

/*
 * The router's multiplier: lower is preferred. Weight (1..1000, higher
 * preferred) divides it; cost per hour relative to the dearest accelerator
 * raises it by up to 2x.
 */
static void
recompute_cost_weights(struct tf_dp_worker *w)
{
	uint64_t maxc = 0;

	for (unsigned int i = 0; i < w->naccel_slots; i++)
		if (w->accels[i].id && w->accels[i].cost_per_hour_micro > maxc)
			maxc = w->accels[i].cost_per_hour_micro;
	for (unsigned int i = 0; i < w->naccel_slots; i++) {
		struct tf_dp_accel *a = &w->accels[i];
		uint64_t f = 1000 + (maxc ? (1000 * a->cost_per_hour_micro) / maxc : 0);
		uint64_t cw = (f * 10) / (a->weight ? a->weight : 1);

		a->cost_weight = (uint32_t)(cw ? cw : 1);
	}
}

int
tf_dp_worker_set_accel(struct tf_dp_worker *w, const struct tf_aq_set_accel *c, uint32_t *detail)
{
	struct tf_dp_accel *a = accel_find(w, c->accel_id);
	int reconnect = 0;

	if (c->n_models == 0 || c->n_models > TF_MAX_ACCEL_MODELS) {
		*detail = offsetof(struct tf_aq_set_accel, n_models);
		return TF_AQ_S_BAD_FIELD;
	}
	if (c->transport != TF_TRANSPORT_SHM && c->transport != TF_TRANSPORT_RDMA) {
		*detail = offsetof(struct tf_aq_set_accel, transport);
		return TF_AQ_S_BAD_FIELD;
	}
	if (!a) {
		unsigned int i;

		for (i = 0; i < TF_DP_MAX_ACCELS && w->accels[i].id; i++)
			;
		if (i == TF_DP_MAX_ACCELS) {
			*detail = TF_DP_MAX_ACCELS;
			return TF_AQ_S_NO_SPACE;
		}
		a = &w->accels[i];
		memset(a, 0, sizeof(*a));
		a->id = c->accel_id;
		tf_batch_q_init(&a->q);
		if (i >= w->naccel_slots)
			w->naccel_slots = i + 1;
		reconnect = 1;
	} else if (a->transport != c->transport ||
		   strncmp(a->address, c->address, sizeof(a->address)) != 0) {
		reconnect = 1;
	}
	a->transport = c->transport;
	memcpy(a->address, c->address, sizeof(a->address));
	a->address[sizeof(a->address) - 1] = '\0';
	a->cost_per_hour_micro = c->cost_per_hour_micro;
	a->weight = c->weight ? c->weight : 1;
	a->max_outstanding = c->max_outstanding ? c->max_outstanding : 1;
	a->nmodels = c->n_models;
	memcpy(a->models, c->models, sizeof(a->models));
	recompute_cost_weights(w);
	if (reconnect) {
		tf_dp_accel_close(w, a);
		if (tf_dp_accel_open(w, a) < 0) {
			*detail = offsetof(struct tf_aq_set_accel, address);
			a->id = 0;
			return TF_AQ_S_BAD_FIELD;
		}
	}
	tf_dp_count(w, TF_EV_CFG_CHANGES, 1);
	return TF_AQ_S_OK;
}

int
tf_dp_worker_del_accel(struct tf_dp_worker *w, uint32_t accel_id, uint32_t *detail)
{
	struct tf_dp_accel *a = accel_find(w, accel_id);

	if (!a) {
		*detail = accel_id;
		return TF_AQ_S_NOT_FOUND;
	}
	/* No new work goes there; what is queued or in flight is re-dispatched or failed. */
	a->deleted = 1;
	tf_dp_accel_close(w, a);
	a->id = 0;
	a->deleted = 0;
	recompute_cost_weights(w);
	tf_dp_count(w, TF_EV_CFG_CHANGES, 1);
	return TF_AQ_S_OK;
}

int
tf_dp_worker_set_batching(struct tf_dp_worker *w, const struct tf_aq_set_batching *c,
			  uint32_t *detail)
{
	if (c->max_batch == 0) {
		*detail = offsetof(struct tf_aq_set_batching, max_batch);
		return TF_AQ_S_BAD_FIELD;
	}
	w->batching.max_batch =
		c->max_batch > TF_ACCEL_MAX_BATCH_REQS ? TF_ACCEL_MAX_BATCH_REQS : c->max_batch;
	w->batching.max_batch_bytes = c->max_batch_bytes;
	w->batching.max_queue_delay_us = c->max_queue_delay_us;
	tf_dp_count(w, TF_EV_CFG_CHANGES, 1);
	return TF_AQ_S_OK;
}

void
tf_dp_tables_destroy(struct tf_dp_worker *w)
{
	for (unsigned int i = 0; i < w->naccel_slots; i++) {
		if (w->accels[i].id)
			tf_dp_accel_close(w, &w->accels[i]);
		w->accels[i].id = 0;
	}
	tf_dp_tenants_destroy(&w->tenants);
}
