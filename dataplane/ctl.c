/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control messages to workers, applying a configuration file, and the
 * card's admin-queue handlers -- one path for the file and for the host.
 */
#include "dataplane/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void
tf_dp_ctl_exec(struct tf_dp_worker *w, struct tf_dp_ctl *m)
{
	uint32_t d = 0;
	int st;

	switch (m->op) {
	case TF_DP_CTL_SET_TENANT:
		st = tf_dp_worker_set_tenant(w, m->cmd, m->resp, &d);
		break;
	case TF_DP_CTL_DEL_TENANT:
		st = tf_dp_worker_del_tenant(w, m->id, &d);
		break;
	case TF_DP_CTL_TENANT_BALANCE:
		st = tf_dp_worker_tenant_balance(w, m->cmd, m->resp, &d);
		break;
	case TF_DP_CTL_GET_TENANT:
		st = tf_dp_worker_get_tenant(w, m->id, m->resp, &d);
		break;
	case TF_DP_CTL_SET_MODEL:
		st = tf_dp_worker_set_model(w, m->cmd, &d);
		break;
	case TF_DP_CTL_DEL_MODEL:
		st = tf_dp_worker_del_model(w, m->id, &d);
		break;
	case TF_DP_CTL_SET_ACCEL:
		st = tf_dp_worker_set_accel(w, m->cmd, &d);
		break;
	case TF_DP_CTL_DEL_ACCEL:
		st = tf_dp_worker_del_accel(w, m->id, &d);
		break;
	case TF_DP_CTL_SET_BATCHING:
		st = tf_dp_worker_set_batching(w, m->cmd, &d);
		break;
	case TF_DP_CTL_SET_USAGE_MODE:
		st = tf_dp_worker_set_usage_mode(w, m->cmd, &d);
		break;
	case TF_DP_CTL_DRAIN:
		tf_dp_worker_drain(w);
		st = TF_AQ_S_OK;
		break;
	default:
		st = TF_AQ_S_BAD_OPCODE;
		d = m->op;
		break;
	}
	m->status = st;
	m->detail = d;
	__atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
}

static int
one(struct tf_dp_ctl_bus *b, unsigned int wid, uint32_t op, uint32_t id, const void *cmd,
    void *resp, uint32_t *detail)
{
	struct tf_dp_ctl m = { .op = op, .id = id, .cmd = cmd, .resp = resp };

	b->call(b->ctx, wid, &m);
	*detail = m.detail;
	return m.status;
}

/* Runs op on every worker; the first refusal is the answer. */
static int
all(struct tf_dp_ctl_bus *b, uint32_t op, uint32_t id, const void *cmd, uint32_t *detail)
{
	int st = TF_AQ_S_OK;

	*detail = 0;
	for (unsigned int i = 0; i < b->nworkers; i++) {
		uint32_t d = 0;
		int s = one(b, i, op, id, cmd, NULL, &d);

		if (s != TF_AQ_S_OK && st == TF_AQ_S_OK) {
			st = s;
			*detail = d;
		}
	}
	return st;
}

static unsigned int
owner(const struct tf_dp_ctl_bus *b, uint32_t tenant)
{
	return tf_dp_tenant_owner(tenant, b->nworkers);
}

int
tf_dp_ctl_set_tenant(struct tf_dp_ctl_bus *b, const struct tf_aq_set_tenant *cmd,
		     struct tf_aq_tenant_info *resp, uint32_t *detail)
{
	int st = one(b, owner(b, cmd->tenant_id), TF_DP_CTL_SET_TENANT, 0, cmd, resp, detail);

	if (st == TF_AQ_S_OK && b->tenant_changed)
		b->tenant_changed(b->tenant_arg, cmd->tenant_id, cmd);
	return st;
}

int
tf_dp_ctl_del_tenant(struct tf_dp_ctl_bus *b, uint32_t id, uint32_t *detail)
{
	int st = one(b, owner(b, id), TF_DP_CTL_DEL_TENANT, id, NULL, NULL, detail);

	if (st == TF_AQ_S_OK && b->tenant_changed)
		b->tenant_changed(b->tenant_arg, id, NULL);
	return st;
}

int
tf_dp_ctl_tenant_balance(struct tf_dp_ctl_bus *b, const struct tf_aq_tenant_balance *cmd,
			 struct tf_aq_tenant_info *resp, uint32_t *detail)
{
	return one(b, owner(b, cmd->tenant_id), TF_DP_CTL_TENANT_BALANCE, 0, cmd, resp, detail);
}

int
tf_dp_ctl_get_tenant(struct tf_dp_ctl_bus *b, uint32_t id, struct tf_aq_tenant_info *resp,
		     uint32_t *detail)
{
	return one(b, owner(b, id), TF_DP_CTL_GET_TENANT, id, NULL, resp, detail);
}

int
tf_dp_ctl_set_model(struct tf_dp_ctl_bus *b, const struct tf_aq_set_model *cmd, uint32_t *detail)
{
	return all(b, TF_DP_CTL_SET_MODEL, 0, cmd, detail);
}

int
tf_dp_ctl_del_model(struct tf_dp_ctl_bus *b, uint32_t id, uint32_t *detail)
{
	return all(b, TF_DP_CTL_DEL_MODEL, id, NULL, detail);
}

int
tf_dp_ctl_set_accel(struct tf_dp_ctl_bus *b, const struct tf_aq_set_accel *cmd, uint32_t *detail)
{
	return all(b, TF_DP_CTL_SET_ACCEL, 0, cmd, detail);
}

int
tf_dp_ctl_del_accel(struct tf_dp_ctl_bus *b, uint32_t id, uint32_t *detail)
{
	return all(b, TF_DP_CTL_DEL_ACCEL, id, NULL, detail);
}

int
tf_dp_ctl_set_batching(struct tf_dp_ctl_bus *b, const struct tf_aq_set_batching *cmd,
		       uint32_t *detail)
{
	return all(b, TF_DP_CTL_SET_BATCHING, 0, cmd, detail);
}

int
tf_dp_ctl_set_usage_mode(struct tf_dp_ctl_bus *b, const struct tf_aq_set_usage_mode *cmd,
			 uint32_t *detail)
{
	return all(b, TF_DP_CTL_SET_USAGE_MODE, 0, cmd, detail);
}

void
tf_dp_ctl_drain(struct tf_dp_ctl_bus *b)
{
	uint32_t d;

	all(b, TF_DP_CTL_DRAIN, 0, NULL, &d);
}

/* ---- configuration files ---- */

static const char *const status_names[] = {
	[TF_AQ_S_OK] = "ok",
	[TF_AQ_S_BAD_OPCODE] = "bad opcode",
	[TF_AQ_S_BAD_FIELD] = "bad field",
	[TF_AQ_S_NOT_FOUND] = "not found",
	[TF_AQ_S_NO_SPACE] = "table full",
	[TF_AQ_S_BUSY] = "busy",
	[TF_AQ_S_UNSUPPORTED] = "unsupported",
	[TF_AQ_S_CONFLICT] = "conflict",
	[TF_AQ_S_INTERNAL] = "internal error",
};

static const char *
status_name(int st)
{
	return st >= 0 && st <= TF_AQ_S_INTERNAL ? status_names[st] : "error";
}

int
tf_dp_ctl_apply_config(struct tf_dp_ctl_bus *b, const struct tf_dp_config *cfg,
		       const struct tf_dp_config *prev, char *err, size_t errlen)
{
	uint32_t d = 0;
	int st;

	for (uint32_t i = 0; i < cfg->nmodels; i++) {
		st = tf_dp_ctl_set_model(b, &cfg->models[i], &d);
		if (st != TF_AQ_S_OK)
			goto refused_model;
	}
	for (uint32_t i = 0; i < cfg->naccels; i++) {
		st = tf_dp_ctl_set_accel(b, &cfg->accels[i], &d);
		if (st != TF_AQ_S_OK) {
			snprintf(err, errlen, "accelerator %u (%s): refused: %s (detail %u)",
				 cfg->accels[i].accel_id, cfg->accels[i].address, status_name(st),
				 d);
			return -EINVAL;
		}
	}
	st = tf_dp_ctl_set_batching(b, &cfg->batching, &d);
	if (st != TF_AQ_S_OK) {
		snprintf(err, errlen, "batching: refused: %s (detail %u)", status_name(st), d);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < cfg->ntenants; i++) {
		struct tf_aq_tenant_info info;

		st = tf_dp_ctl_set_tenant(b, &cfg->tenants[i], &info, &d);
		if (st != TF_AQ_S_OK) {
			snprintf(err, errlen, "tenant %u: refused: %s (detail %u)",
				 cfg->tenants[i].tenant_id, status_name(st), d);
			return -EINVAL;
		}
	}
	if (!prev)
		return 0;
	/* What the old file had and the new one has not goes away. */
	for (uint32_t i = 0; i < prev->ntenants; i++) {
		uint32_t id = prev->tenants[i].tenant_id, k;

		for (k = 0; k < cfg->ntenants && cfg->tenants[k].tenant_id != id; k++)
			;
		if (k == cfg->ntenants)
			tf_dp_ctl_del_tenant(b, id, &d);
	}
	for (uint32_t i = 0; i < prev->naccels; i++) {
		uint32_t id = prev->accels[i].accel_id, k;

		for (k = 0; k < cfg->naccels && cfg->accels[k].accel_id != id; k++)
			;
		if (k == cfg->naccels)
			tf_dp_ctl_del_accel(b, id, &d);
	}
	for (uint32_t i = 0; i < prev->nmodels; i++) {
		uint32_t id = prev->models[i].model_id, k;

		for (k = 0; k < cfg->nmodels && cfg->models[k].model_id != id; k++)
			;
		if (k == cfg->nmodels)
			tf_dp_ctl_del_model(b, id, &d);
	}
	return 0;
refused_model:
	snprintf(err, errlen, "model: refused: %s (detail %u)", status_name(st), d);
	return -EINVAL;
}

void
tf_dp_ctl_counters(const struct tf_dp_ctl_bus *b, struct tf_dp_counters *out)
{
	const struct tf_dp_counters *in[64];
	unsigned int n = b->nworkers < 64 ? b->nworkers : 64;

	for (unsigned int i = 0; i < n; i++)
		in[i] = tf_dp_worker_counters(b->workers[i]);
	tf_dp_counters_sum(out, in, n);
}

/* ---- lib/card admin handlers ---- */

static int
h_set_tenant(void *ctx, const struct tf_aq_set_tenant *cmd, struct tf_aq_tenant_info *resp,
	     uint32_t *detail)
{
	return tf_dp_ctl_set_tenant(ctx, cmd, resp, detail);
}

static int
h_del_tenant(void *ctx, uint32_t id, uint32_t *detail)
{
	return tf_dp_ctl_del_tenant(ctx, id, detail);
}

static int
h_tenant_balance(void *ctx, const struct tf_aq_tenant_balance *cmd, struct tf_aq_tenant_info *resp,
		 uint32_t *detail)
{
	return tf_dp_ctl_tenant_balance(ctx, cmd, resp, detail);
}

static int
h_get_tenant(void *ctx, uint32_t id, struct tf_aq_tenant_info *resp, uint32_t *detail)
{
	return tf_dp_ctl_get_tenant(ctx, id, resp, detail);
}

static int
h_set_model(void *ctx, const struct tf_aq_set_model *cmd, uint32_t *detail)
{
	return tf_dp_ctl_set_model(ctx, cmd, detail);
}

static int
h_del_model(void *ctx, uint32_t id, uint32_t *detail)
{
	return tf_dp_ctl_del_model(ctx, id, detail);
}

static int
h_set_accel(void *ctx, const struct tf_aq_set_accel *cmd, uint32_t *detail)
{
	return tf_dp_ctl_set_accel(ctx, cmd, detail);
}

static int
h_del_accel(void *ctx, uint32_t id, uint32_t *detail)
{
	return tf_dp_ctl_del_accel(ctx, id, detail);
}

static int
h_set_batching(void *ctx, const struct tf_aq_set_batching *cmd, uint32_t *detail)
{
	return tf_dp_ctl_set_batching(ctx, cmd, detail);
}

static int
h_set_usage_mode(void *ctx, const struct tf_aq_set_usage_mode *cmd, uint32_t *detail)
{
	return tf_dp_ctl_set_usage_mode(ctx, cmd, detail);
}

static int
h_get_card_stats(void *ctx, struct tf_aq_card_stats *r, uint32_t *detail)
{
	struct tf_dp_ctl_bus *b = ctx;
	struct tf_dp_counters c;
	uint64_t drops = 0;

	(void)detail;
	tf_dp_ctl_counters(b, &c);
	r->rx_packets = c.ev[TF_EV_RX_PKTS] + b->rx_packets_extra;
	r->rx_requests = c.ev[TF_EV_REQ_RX];
	r->requests_ok = c.ev[TF_EV_REQ_DONE];
	r->requests_failed = c.ev[TF_EV_REQ_FAILED] + c.ev[TF_EV_REQ_CUTOFF];
	r->requests_refused = c.ev[TF_EV_REQ_RX] > c.ev[TF_EV_REQ_ADMITTED]
				      ? c.ev[TF_EV_REQ_RX] - c.ev[TF_EV_REQ_ADMITTED]
				      : 0;
	r->completion_tokens = c.ev[TF_EV_TOKENS_OUT];
	for (int i = 0; i < TF_DROP_MAX; i++)
		drops += c.drop[i];
	r->drops_auth = c.drop[TF_DROP_AUTH_TENANT] + c.drop[TF_DROP_AUTH_MAC] +
			c.drop[TF_DROP_AUTH_MAC_ALG] + c.drop[TF_DROP_AUTH_UNCONFIGURED];
	r->drops_replay = c.drop[TF_DROP_AUTH_REPLAY];
	r->drops_malformed = drops - r->drops_auth - r->drops_replay;
	for (unsigned int i = 0; i < b->nworkers; i++) {
		struct tf_dp_worker_gauges g;
		struct tf_dp_obj_stats st;
		uint32_t id;

		tf_dp_worker_gauges(b->workers[i], &g);
		r->active_requests += g.active;
		r->queued_requests += g.queued;
		for (unsigned int k = 0; tf_dp_worker_tenant_stats(b->workers[i], k, &id, &st) == 0;
		     k++)
			if (id)
				r->prompt_tokens += st.prompt_tokens;
	}
	return TF_AQ_S_OK;
}

static int
h_get_accel_stats(void *ctx, uint32_t accel_id, struct tf_aq_accel_stats *r, uint32_t *detail)
{
	struct tf_dp_ctl_bus *b = ctx;
	int found = 0;
	uint16_t state = TF_HS_DOWN;

	for (unsigned int i = 0; i < b->nworkers; i++) {
		struct tf_dp_obj_stats st;
		uint32_t id;

		for (unsigned int k = 0; tf_dp_worker_accel_stats(b->workers[i], k, &id, &st) == 0;
		     k++) {
			if (id != accel_id)
				continue;
			found = 1;
			r->requests += st.requests + st.redispatched;
			r->tokens += st.completion_tokens;
			r->batches += st.batches;
			r->outstanding += st.active;
			r->errors += st.errors;
			/* every worker reads the same status block: the latest copy */
			if (st.busy_ppm > r->busy_ppm)
				r->busy_ppm = st.busy_ppm;
			/* Up when any worker's connection is up. */
			if (st.state == TF_HS_UP ||
			    (st.state == TF_HS_DEGRADED && state != TF_HS_UP))
				state = (uint16_t)st.state;
		}
	}
	if (!found) {
		*detail = accel_id;
		return TF_AQ_S_NOT_FOUND;
	}
	r->accel_id = accel_id;
	r->state = state;
	return TF_AQ_S_OK;
}

static int
h_get_health(void *ctx, uint32_t first, struct tf_aq_health *r, uint32_t *detail)
{
	struct tf_dp_ctl_bus *b = ctx;
	const struct tf_dp_health *h = &b->health;
	uint32_t total = 1 + h->nports + h->naccels;

	(void)detail;
	r->total = total;
	for (uint32_t i = first; i < total && r->count < TF_AQ_HEALTH_MAX; i++) {
		struct tf_aq_health_entry *e = &r->e[r->count++];

		if (i == 0) {
			e->component = TF_HC_CARD;
			e->state = TF_HS_UP;
			e->reason = TF_HR_STARTED;
			e->since_ns = h->since_ns[0];
		} else if (i <= h->nports) {
			e->component = TF_HC_PORT;
			e->component_id = i - 1;
			e->state = h->port_state[i - 1];
			e->reason = e->state == TF_HS_UP ? TF_HR_LINK_UP : TF_HR_LINK_DOWN;
			e->since_ns = h->since_ns[i];
		} else {
			uint32_t a = i - 1 - h->nports;

			e->component = TF_HC_ACCEL;
			e->component_id = h->accel_id[a];
			e->state = h->accel_state[a];
			e->reason =
				e->state == TF_HS_UP ? TF_HR_HEARTBEAT_OK : TF_HR_HEARTBEAT_LOST;
			e->since_ns = h->accel_since_ns[a];
		}
	}
	return TF_AQ_S_OK;
}

const struct tf_card_admin_handlers tf_dp_admin_handlers = {
	.get_health = h_get_health,
	.get_card_stats = h_get_card_stats,
	.get_accel_stats = h_get_accel_stats,
	.set_tenant = h_set_tenant,
	.del_tenant = h_del_tenant,
	.tenant_balance = h_tenant_balance,
	.get_tenant = h_get_tenant,
	.set_model = h_set_model,
	.del_model = h_del_model,
	.set_accel = h_set_accel,
	.del_accel = h_del_accel,
	.set_batching = h_set_batching,
	.set_usage_mode = h_set_usage_mode,
	/* fw_activate, fw_write, fw_info: tokfab-dp adds them with --flash (fw.c). */
};
