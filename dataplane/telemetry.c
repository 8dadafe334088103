/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands under /tokfab/ (dpdk-telemetry.py -f <file-prefix>):
 * every counter per card, lcore, port, tenant, model and accelerator, and
 * every drop reason. Callbacks run on DPDK's telemetry thread and read the
 * workers' counters with plain loads (each written by one lcore only).
 */
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "dataplane/dp.h"

static struct tf_dp_app *g_app;

static void
add_counters(struct rte_tel_data *d, const struct tf_dp_counters *c, int drops, int events)
{
	if (events)
		for (int i = 0; i < TF_EV_MAX; i++)
			rte_tel_data_add_dict_u64(d, tf_dp_ev_name(i), c->ev[i]);
	if (drops) {
		for (int i = 0; i < TF_DROP_MAX; i++)
			rte_tel_data_add_dict_u64(d, tf_dp_drop_name(i), c->drop[i]);
		for (int i = 1; i < TF_PROTO_R_COUNT; i++) {
			char name[64];

			snprintf(name, sizeof(name), "proto_%s", tf_proto_reason_name(i));
			rte_tel_data_add_dict_u64(d, name, c->proto[i]);
		}
	}
}

static void
add_gauges(struct rte_tel_data *d, const struct tf_dp_worker_gauges *g)
{
	rte_tel_data_add_dict_u64(d, "requests_used", g->requests_used);
	rte_tel_data_add_dict_u64(d, "active", g->active);
	rte_tel_data_add_dict_u64(d, "queued", g->queued);
	rte_tel_data_add_dict_u64(d, "reassembling", g->reasm);
	rte_tel_data_add_dict_u64(d, "cached", g->cached);
	rte_tel_data_add_dict_u64(d, "ids", g->ids);
	rte_tel_data_add_dict_u64(d, "usage_backlog", g->usage_backlog);
	rte_tel_data_add_dict_u64(d, "token_chunks_free", g->tok_free_chunks);
	rte_tel_data_add_dict_u64(d, "frames_held", g->frames_held);
}

static void
sum_gauges(struct tf_dp_worker_gauges *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < g_app->nworkers; i++) {
		struct tf_dp_worker_gauges g;

		tf_dp_worker_gauges(g_app->workers[i], &g);
		s->requests_used += g.requests_used;
		s->active += g.active;
		s->queued += g.queued;
		s->reasm += g.reasm;
		s->cached += g.cached;
		s->ids += g.ids;
		s->usage_backlog += g.usage_backlog;
		s->tok_free_chunks += g.tok_free_chunks;
		s->frames_held += g.frames_held;
	}
}

static int
cb_info(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char ip[32];
	const uint8_t *b = (const uint8_t *)&g_app->cfg.ipv4;

	(void)cmd;
	(void)params;
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "ipv4", ip);
	rte_tel_data_add_dict_u64(d, "udp_port", g_app->cfg.udp_port);
	rte_tel_data_add_dict_u64(d, "workers", g_app->nworkers);
	rte_tel_data_add_dict_u64(d, "ports", g_app->nports);
	rte_tel_data_add_dict_u64(d, "uptime_s", (tf_dp_now_us(g_app) - g_app->start_us) / 1000000);
	rte_tel_data_add_dict_string(d, "config", g_app->cfg_path);
	rte_tel_data_add_dict_string(d, "bar", g_app->card ? "yes" : "no");
	return 0;
}

static int
cb_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tf_dp_counters c;
	struct tf_dp_worker_gauges g;

	(void)cmd;
	(void)params;
	tf_dp_ctl_counters(&g_app->bus, &c);
	sum_gauges(&g);
	rte_tel_data_start_dict(d);
	add_counters(d, &c, 0, 1);
	add_gauges(d, &g);
	{
		uint64_t missed = 0;

		for (uint16_t i = 0; i < g_app->nports; i++)
			missed += tf_dp_port_rx_missed(g_app->ports[i], NULL);
		rte_tel_data_add_dict_u64(d, "rx_missed", missed);
	}
	rte_tel_data_add_dict_u64(d, "usage_posted", g_app->rec.posted);
	rte_tel_data_add_dict_u64(d, "usage_written", g_app->rec.written);
	rte_tel_data_add_dict_u64(d, "usage_discarded", g_app->rec.discarded);
	rte_tel_data_add_dict_u64(d, "usage_main_backlog", tf_dp_records_backlog(&g_app->rec));
	rte_tel_data_add_dict_u64(d, "eq_full", g_app->rec.eq_full);
	return 0;
}

static int
cb_drops(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tf_dp_counters c;

	(void)cmd;
	(void)params;
	tf_dp_ctl_counters(&g_app->bus, &c);
	rte_tel_data_start_dict(d);
	add_counters(d, &c, 1, 0);
	return 0;
}

/* No parameter: the list; with one: the object. */
static int
list_or_one(const char *params, long *id)
{
	char *end;

	if (!params || !*params)
		return 0;
	*id = strtol(params, &end, 0);
	if (*end || *id < 0)
		return -1;
	return 1;
}

static int
cb_lcore(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tf_dp_worker_gauges g;
	long id;
	int k = list_or_one(params, &id);

	(void)cmd;
	if (k < 0)
		return -1;
	if (k == 0) {
		rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
		for (unsigned int i = 0; i < g_app->nworkers; i++)
			rte_tel_data_add_array_int(d, (int)i);
		return 0;
	}
	if ((unsigned long)id >= g_app->nworkers)
		return -1;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "worker", (uint64_t)id);
	rte_tel_data_add_dict_u64(d, "lcore_id", g_app->lc[id] ? g_app->lc[id]->lcore_id : 0);
	add_counters(d, tf_dp_worker_counters(g_app->workers[id]), 1, 1);
	tf_dp_worker_gauges(g_app->workers[id], &g);
	add_gauges(d, &g);
	return 0;
}

static int
cb_port(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct rte_eth_stats st;
	struct rte_eth_link link;
	uint64_t ring_drops = 0, missed;
	long id;
	int k = list_or_one(params, &id);

	(void)cmd;
	if (k < 0)
		return -1;
	if (k == 0) {
		rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
		for (uint16_t i = 0; i < g_app->nports; i++)
			rte_tel_data_add_array_int(d, g_app->ports[i]);
		return 0;
	}
	if (!rte_eth_dev_is_valid_port((uint16_t)id) || rte_eth_stats_get((uint16_t)id, &st))
		return -1;
	missed = tf_dp_port_rx_missed((uint16_t)id, &ring_drops);
	rte_eth_link_get_nowait((uint16_t)id, &link);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "link_up", link.link_status);
	rte_tel_data_add_dict_u64(d, "ipackets", st.ipackets);
	rte_tel_data_add_dict_u64(d, "opackets", st.opackets);
	rte_tel_data_add_dict_u64(d, "ibytes", st.ibytes);
	rte_tel_data_add_dict_u64(d, "obytes", st.obytes);
	/* imissed: everything the port lost before the card saw it, the kernel ring's too */
	rte_tel_data_add_dict_u64(d, "imissed", missed);
	rte_tel_data_add_dict_u64(d, "kernel_ring_drops", ring_drops);
	rte_tel_data_add_dict_u64(d, "ierrors", st.ierrors);
	rte_tel_data_add_dict_u64(d, "oerrors", st.oerrors);
	rte_tel_data_add_dict_u64(d, "rx_nombuf", st.rx_nombuf);
	return 0;
}

typedef int (*obj_iter)(const struct tf_dp_worker *w, unsigned int i, uint32_t *id,
			struct tf_dp_obj_stats *st);

/* Sums one object's stats over the workers; returns whether any worker knows it. */
static int
obj_sum(obj_iter it, uint32_t want, struct tf_dp_obj_stats *s)
{
	int found = 0;

	memset(s, 0, sizeof(*s));
	for (unsigned int w = 0; w < g_app->nworkers; w++) {
		struct tf_dp_obj_stats st;
		uint32_t id;

		for (unsigned int i = 0; it(g_app->workers[w], i, &id, &st) == 0; i++) {
			if (!id || id != want)
				continue;
			found = 1;
			s->requests += st.requests;
			s->refused += st.refused;
			s->failed += st.failed;
			s->prompt_tokens += st.prompt_tokens;
			s->completion_tokens += st.completion_tokens;
			s->cost_micro += st.cost_micro;
			s->batches += st.batches;
			s->errors += st.errors;
			s->redispatched += st.redispatched;
			s->active += st.active;
			s->queued += st.queued;
			s->abandoned += st.abandoned;
			if (st.state > s->state)
				s->state = st.state;
			s->balance_micro += st.balance_micro;
			s->reserved_micro += st.reserved_micro;
		}
	}
	return found;
}

static int
obj_cmd(obj_iter it, const char *params, struct rte_tel_data *d, int tenant, int accel)
{
	struct tf_dp_obj_stats s;
	long id;
	int k = list_or_one(params, &id);

	if (k < 0)
		return -1;
	if (k == 0) {
		rte_tel_data_start_array(d, RTE_TEL_U64_VAL);
		for (unsigned int w = 0; w < g_app->nworkers; w++) {
			struct tf_dp_obj_stats st;
			uint32_t oid;

			for (unsigned int i = 0; it(g_app->workers[w], i, &oid, &st) == 0; i++) {
				/* Models and accelerators are on every worker: list them once. */
				if (oid && (tenant || w == 0))
					rte_tel_data_add_array_u64(d, oid);
			}
		}
		return 0;
	}
	if (!obj_sum(it, (uint32_t)id, &s))
		return -1;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "requests", s.requests);
	rte_tel_data_add_dict_u64(d, "refused", s.refused);
	rte_tel_data_add_dict_u64(d, "failed", s.failed);
	rte_tel_data_add_dict_u64(d, "prompt_tokens", s.prompt_tokens);
	rte_tel_data_add_dict_u64(d, "completion_tokens", s.completion_tokens);
	rte_tel_data_add_dict_u64(d, "cost_micro", s.cost_micro);
	rte_tel_data_add_dict_u64(d, "active", s.active);
	if (tenant) {
		rte_tel_data_add_dict_int(d, "balance_micro_sign", s.balance_micro < 0 ? -1 : 1);
		rte_tel_data_add_dict_u64(
			d, "balance_micro",
			(uint64_t)(s.balance_micro < 0 ? -s.balance_micro : s.balance_micro));
		rte_tel_data_add_dict_u64(d, "reserved_micro", (uint64_t)s.reserved_micro);
		rte_tel_data_add_dict_u64(d, "flags", s.state);
	}
	if (accel) {
		rte_tel_data_add_dict_u64(d, "queued", s.queued);
		rte_tel_data_add_dict_u64(d, "batches", s.batches);
		rte_tel_data_add_dict_u64(d, "errors", s.errors);
		rte_tel_data_add_dict_u64(d, "redispatched", s.redispatched);
		rte_tel_data_add_dict_u64(d, "state", s.state); /* enum tf_health_state */
		/* requests the card gave up on that it still holds (deadline.c) */
		rte_tel_data_add_dict_u64(d, "abandoned", s.abandoned);
	}
	return 0;
}

static int
cb_tenant(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	return obj_cmd(tf_dp_worker_tenant_stats, params, d, 1, 0);
}

static int
cb_model(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	return obj_cmd(tf_dp_worker_model_stats, params, d, 0, 0);
}

static int
cb_accel(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	return obj_cmd(tf_dp_worker_accel_stats, params, d, 0, 1);
}

int
tf_dp_telemetry_init(struct tf_dp_app *app)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
		{ "/tokfab/info", cb_info, "Card identity and configuration. No parameters." },
		{ "/tokfab/stats", cb_stats,
		  "Card-wide event counters and gauges. No parameters." },
		{ "/tokfab/drops", cb_drops, "One counter per drop reason. No parameters." },
		{ "/tokfab/lcore", cb_lcore,
		  "Worker ids, or one worker's counters. Param: worker id." },
		{ "/tokfab/port", cb_port, "Port ids, or one port's counters. Param: port id." },
		{ "/tokfab/tenant", cb_tenant, "Tenant ids, or one tenant's counters. Param: id." },
		{ "/tokfab/model", cb_model, "Model ids, or one model's counters. Param: id." },
		{ "/tokfab/accel", cb_accel, "Accelerator ids, or one's counters. Param: id." },
	};
	int rc;

	g_app = app;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		rc = rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn, cmds[i].help);
		if (rc < 0) {
			TF_DP_LOG(ERR, "telemetry: cannot register %s: %s", cmds[i].cmd,
				  rte_strerror(-rc));
			return rc;
		}
	}
	return 0;
}
