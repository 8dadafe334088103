/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control path from the main lcore to the workers (no DPDK here):
 * a configuration change is a message executed by the worker that owns the
 * object (tenants) or by every worker (models, accelerators, batching), on
 * that worker's own lcore, so the fast path never takes a lock. The edge
 * supplies `call`: run the message on worker wid and wait until it is done
 * (over a per-worker ring while workers run; directly before they start).
 *
 * On top of that: applying a whole configuration file (start and SIGHUP
 * reload) and the card's admin-queue handlers (lib/card), so the file and
 * the host go through exactly the same code.
 */
#ifndef TF_DP_CTL_H
#define TF_DP_CTL_H

#include <stdint.h>

#include "card/card.h"
#include "dataplane/config.h"
#include "dataplane/worker.h"

enum tf_dp_ctl_op {
	TF_DP_CTL_SET_TENANT = 1,
	TF_DP_CTL_DEL_TENANT,
	TF_DP_CTL_TENANT_BALANCE,
	TF_DP_CTL_GET_TENANT,
	TF_DP_CTL_SET_MODEL,
	TF_DP_CTL_DEL_MODEL,
	TF_DP_CTL_SET_ACCEL,
	TF_DP_CTL_DEL_ACCEL,
	TF_DP_CTL_SET_BATCHING,
	TF_DP_CTL_DRAIN,
	TF_DP_CTL_SET_USAGE_MODE,
};

struct tf_dp_ctl {
	uint32_t op; /* enum tf_dp_ctl_op */
	uint32_t id; /* DEL_*, GET_TENANT */
	const void *cmd; /* the admin command structure of op */
	void *resp; /* struct tf_aq_tenant_info for the tenant ops */
	int status; /* enum tf_aq_status, set by the worker */
	uint32_t detail;
	uint32_t done; /* set (release) by the worker when finished */
};

/* Executes m on w (the worker's lcore) and marks it done. */
void tf_dp_ctl_exec(struct tf_dp_worker *w, struct tf_dp_ctl *m);

typedef void (*tf_dp_ctl_call_fn)(void *ctx, unsigned int wid, struct tf_dp_ctl *m);

/* Per-port and card facts the admin handlers report (kept current by the edge). */
struct tf_dp_health {
	uint64_t since_ns[1 + TF_DP_MAX_PORTS];
	uint16_t port_state[TF_DP_MAX_PORTS]; /* enum tf_health_state */
	uint16_t nports;
	uint64_t accel_since_ns[64];
	uint32_t accel_id[64];
	uint16_t accel_state[64];
	uint32_t naccels;
};

struct tf_dp_ctl_bus {
	unsigned int nworkers;
	struct tf_dp_worker *const *workers; /* read-only use: counters and gauges */
	tf_dp_ctl_call_fn call;
	void *ctx;
	struct tf_dp_health health;
	uint64_t rx_packets_extra; /* frames counted by the edge only */
	/*
	 * Optional: told of every tenant the card accepted (cmd: its SET_TENANT)
	 * or deleted (cmd NULL), on the main lcore (the host-queue port keeps the
	 * tenants' keys this way).
	 */
	void (*tenant_changed)(void *arg, uint32_t tenant_id, const struct tf_aq_set_tenant *cmd);
	void *tenant_arg;
};

/* Each returns an enum tf_aq_status (and *detail), as the admin queue defines. */
int tf_dp_ctl_set_tenant(struct tf_dp_ctl_bus *b, const struct tf_aq_set_tenant *cmd,
			 struct tf_aq_tenant_info *resp, uint32_t *detail);
int tf_dp_ctl_del_tenant(struct tf_dp_ctl_bus *b, uint32_t id, uint32_t *detail);
int tf_dp_ctl_tenant_balance(struct tf_dp_ctl_bus *b, const struct tf_aq_tenant_balance *cmd,
			     struct tf_aq_tenant_info *resp, uint32_t *detail);
int tf_dp_ctl_get_tenant(struct tf_dp_ctl_bus *b, uint32_t id, struct tf_aq_tenant_info *resp,
			 uint32_t *detail);
int tf_dp_ctl_set_model(struct tf_dp_ctl_bus *b, const struct tf_aq_set_model *cmd,
			uint32_t *detail);
int tf_dp_ctl_del_model(struct tf_dp_ctl_bus *b, uint32_t id, uint32_t *detail);
int tf_dp_ctl_set_accel(struct tf_dp_ctl_bus *b, const struct tf_aq_set_accel *cmd,
			uint32_t *detail);
int tf_dp_ctl_del_accel(struct tf_dp_ctl_bus *b, uint32_t id, uint32_t *detail);
int tf_dp_ctl_set_batching(struct tf_dp_ctl_bus *b, const struct tf_aq_set_batching *cmd,
			   uint32_t *detail);
/* Every worker queues what it summed, then switches (hwdocs/queues.md SET_USAGE_MODE). */
int tf_dp_ctl_set_usage_mode(struct tf_dp_ctl_bus *b, const struct tf_aq_set_usage_mode *cmd,
			     uint32_t *detail);
void tf_dp_ctl_drain(struct tf_dp_ctl_bus *b);

/*
 * Applies a configuration file: models, accelerators, batching, tenants
 * (existing tenants keep their balance). With prev (a reload), what prev had
 * and cfg no longer has is deleted. 0, or -EINVAL with err saying which
 * object the card refused and why.
 */
int tf_dp_ctl_apply_config(struct tf_dp_ctl_bus *b, const struct tf_dp_config *cfg,
			   const struct tf_dp_config *prev, char *err, size_t errlen);

/* lib/card handlers; ctx is the struct tf_dp_ctl_bus. */
extern const struct tf_card_admin_handlers tf_dp_admin_handlers;

/* Sums every worker's counters into out. */
void tf_dp_ctl_counters(const struct tf_dp_ctl_bus *b, struct tf_dp_counters *out);

#endif /* TF_DP_CTL_H */
