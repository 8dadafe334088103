/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-cardsim: a card side for the host-tier tests, built on lib/card's
 * card API exactly as tokfab-dp uses it. It answers every admin command from
 * small in-memory tables (tenants with money balances, models, accelerators),
 * and posts usage records at a chosen rate: each request is admitted only
 * when its tenant's balance covers it (else a REFUSED record), charged at the
 * tenant's price, and kept in a backlog while the event queue is full (never
 * dropped). At exit it writes what it posted per tenant, so a test can compare
 * the ledger with it exactly.
 *
 * usage: tokfab-cardsim --bar PATH [--records N] [--rate PER_S] [--serial S]
 *                       [--eq-depth N] [--fresh] [--summary FILE]
 *                       [--wait-acked] [--start-id N] [--wait-tenants N] [--linger]
 * --linger keeps serving admin commands after the last record (until SIGTERM),
 * writing the summary once every record is acknowledged.
 */
#include "card/card.h"
#include "common/log.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_T 64
#define MAX_ACC 16

struct sim_tenant {
	struct tf_aq_set_tenant cfg;
	int64_t balance, used;
	uint64_t requests, refused;
	/* posted totals for the summary */
	uint64_t ok, prompt, completion, cost;
};

struct sim {
	struct sim_tenant t[MAX_T];
	unsigned int nt;
	struct tf_aq_set_accel acc[MAX_ACC];
	unsigned int nacc;
	uint32_t models[MAX_T];
	unsigned int nmodels;
	uint64_t posted, refused_total;
	struct tf_aq_set_batching batching;
	int summary_written;
};

static volatile sig_atomic_t g_stop;

static void
on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static struct sim_tenant *
find_tenant(struct sim *s, uint32_t id)
{
	for (unsigned int i = 0; i < s->nt; i++)
		if (s->t[i].cfg.tenant_id == id)
			return &s->t[i];
	return NULL;
}

static void
info(const struct sim_tenant *t, struct tf_aq_tenant_info *r)
{
	r->tenant_id = t->cfg.tenant_id;
	r->flags = t->cfg.flags & (TF_TENANT_F_UNLIMITED | TF_TENANT_F_DISABLED);
	r->budget_micro = t->cfg.budget_micro;
	r->balance_micro = (uint64_t)t->balance;
	r->used_micro = (uint64_t)t->used;
	r->requests = t->requests;
	r->refused = t->refused;
}

static int
h_set_tenant(void *ctx, const struct tf_aq_set_tenant *c, struct tf_aq_tenant_info *r,
	     uint32_t *detail)
{
	struct sim *s = ctx;
	struct sim_tenant *t = find_tenant(s, c->tenant_id);

	if (!t) {
		if (s->nt == MAX_T) {
			*detail = MAX_T;
			return TF_AQ_S_NO_SPACE;
		}
		t = &s->t[s->nt++];
		memset(t, 0, sizeof(*t));
		t->balance = (int64_t)c->budget_micro;
	}
	t->cfg = *c;
	t->cfg.flags &= ~TF_TENANT_F_SET_BALANCE;
	if (c->flags & TF_TENANT_F_SET_BALANCE)
		t->balance = (int64_t)c->balance_micro;
	info(t, r);
	return TF_AQ_S_OK;
}

static int
h_del_tenant(void *ctx, uint32_t id, uint32_t *detail)
{
	struct sim *s = ctx;
	struct sim_tenant *t = find_tenant(s, id);

	if (!t) {
		*detail = id;
		return TF_AQ_S_NOT_FOUND;
	}
	*t = s->t[--s->nt];
	return TF_AQ_S_OK;
}

static int
h_balance(void *ctx, const struct tf_aq_tenant_balance *c, struct tf_aq_tenant_info *r,
	  uint32_t *detail)
{
	struct sim_tenant *t = find_tenant(ctx, c->tenant_id);

	if (!t) {
		*detail = c->tenant_id;
		return TF_AQ_S_NOT_FOUND;
	}
	if (c->op == TF_BALANCE_ADD)
		t->balance += (int64_t)c->amount;
	else if (c->op == TF_BALANCE_SET)
		t->balance = (int64_t)c->amount;
	else {
		t->balance = (int64_t)t->cfg.budget_micro;
		t->used = 0;
	}
	info(t, r);
	return TF_AQ_S_OK;
}

static int
h_get_tenant(void *ctx, uint32_t id, struct tf_aq_tenant_info *r, uint32_t *detail)
{
	struct sim_tenant *t = find_tenant(ctx, id);

	if (!t) {
		*detail = id;
		return TF_AQ_S_NOT_FOUND;
	}
	info(t, r);
	return TF_AQ_S_OK;
}

static int
h_set_model(void *ctx, const struct tf_aq_set_model *c, uint32_t *detail)
{
	struct sim *s = ctx;

	for (unsigned int i = 0; i < s->nmodels; i++)
		if (s->models[i] == c->model_id)
			return TF_AQ_S_OK;
	if (s->nmodels == MAX_T) {
		*detail = MAX_T;
		return TF_AQ_S_NO_SPACE;
	}
	s->models[s->nmodels++] = c->model_id;
	return TF_AQ_S_OK;
}

static int
h_del_model(void *ctx, uint32_t id, uint32_t *detail)
{
	struct sim *s = ctx;

	for (unsigned int i = 0; i < s->nmodels; i++)
		if (s->models[i] == id) {
			s->models[i] = s->models[--s->nmodels];
			return TF_AQ_S_OK;
		}
	*detail = id;
	return TF_AQ_S_NOT_FOUND;
}

static int
h_set_accel(void *ctx, const struct tf_aq_set_accel *c, uint32_t *detail)
{
	struct sim *s = ctx;
	unsigned int i;

	for (uint32_t m = 0; m < c->n_models; m++) {
		unsigned int k;

		for (k = 0; k < s->nmodels && s->models[k] != c->models[m]; k++)
			;
		if (k == s->nmodels) {
			*detail = c->models[m];
			return TF_AQ_S_CONFLICT;
		}
	}
	for (i = 0; i < s->nacc && s->acc[i].accel_id != c->accel_id; i++)
		;
	if (i == MAX_ACC) {
		*detail = MAX_ACC;
		return TF_AQ_S_NO_SPACE;
	}
	if (i == s->nacc)
		s->nacc++;
	s->acc[i] = *c;
	return TF_AQ_S_OK;
}

static int
h_del_accel(void *ctx, uint32_t id, uint32_t *detail)
{
	struct sim *s = ctx;

	for (unsigned int i = 0; i < s->nacc; i++)
		if (s->acc[i].accel_id == id) {
			s->acc[i] = s->acc[--s->nacc];
			return TF_AQ_S_OK;
		}
	*detail = id;
	return TF_AQ_S_NOT_FOUND;
}

static int
h_batching(void *ctx, const struct tf_aq_set_batching *c, uint32_t *detail)
{
	(void)detail;
	((struct sim *)ctx)->batching = *c;
	return TF_AQ_S_OK;
}

static int
h_card_stats(void *ctx, struct tf_aq_card_stats *r, uint32_t *detail)
{
	struct sim *s = ctx;

	(void)detail;
	r->rx_requests = s->posted;
	r->requests_ok = s->posted - s->refused_total;
	r->requests_refused = s->refused_total;
	return TF_AQ_S_OK;
}

static int
h_accel_stats(void *ctx, uint32_t id, struct tf_aq_accel_stats *r, uint32_t *detail)
{
	struct sim *s = ctx;

	for (unsigned int i = 0; i < s->nacc; i++)
		if (s->acc[i].accel_id == id) {
			r->accel_id = id;
			r->state = TF_HS_UP;
			r->busy_ppm = 500000;
			r->outstanding = 3;
			return TF_AQ_S_OK;
		}
	*detail = id;
	return TF_AQ_S_NOT_FOUND;
}

static int
h_health(void *ctx, uint32_t first, struct tf_aq_health *r, uint32_t *detail)
{
	(void)ctx;
	(void)detail;
	r->total = 1;
	if (first == 0) {
		r->count = 1;
		r->e[0].component = TF_HC_CARD;
		r->e[0].state = TF_HS_UP;
		r->e[0].reason = TF_HR_STARTED;
		r->e[0].since_ns = tf_card_now_ns();
	}
	return TF_AQ_S_OK;
}

static const struct tf_card_admin_handlers g_handlers = {
	.get_health = h_health,
	.get_card_stats = h_card_stats,
	.get_accel_stats = h_accel_stats,
	.set_tenant = h_set_tenant,
	.del_tenant = h_del_tenant,
	.tenant_balance = h_balance,
	.get_tenant = h_get_tenant,
	.set_model = h_set_model,
	.del_model = h_del_model,
	.set_accel = h_set_accel,
	.del_accel = h_del_accel,
	.set_batching = h_batching,
};

static uint64_t
price_of(const struct sim_tenant *t, uint32_t model)
{
	for (uint32_t i = 0; i < t->cfg.n_prices; i++)
		if (t->cfg.prices[i].model_id == model)
			return t->cfg.prices[i].price_per_1k_micro;
	return 0;
}

/* Makes request number n: admitted (charged) or refused by the tenant's balance. */
static void
make_record(struct sim *s, uint64_t n, uint64_t req_id, struct tf_usage_record *u,
	    struct sim_tenant **owner)
{
	struct sim_tenant *t = &s->t[n % s->nt];
	uint32_t model =
		t->cfg.n_prices ? t->cfg.prices[0].model_id : (s->nmodels ? s->models[0] : 1);
	uint32_t prompt = 10 + (uint32_t)(n * 7 % 50), completion = 1 + (uint32_t)(n * 13 % 200);
	uint64_t price = price_of(t, model), cost = (prompt + completion) * price;

	cost = (cost + 500) / 1000;
	memset(u, 0, sizeof(*u));
	u->request_id = req_id;
	u->tenant_id = t->cfg.tenant_id;
	u->model_id = model;
	u->end_time_ns = tf_card_now_ns();
	*owner = t;
	t->requests++;
	if (!(t->cfg.flags & TF_TENANT_F_UNLIMITED) && t->balance < (int64_t)cost) {
		u->outcome = TF_USAGE_REFUSED;
		t->refused++;
		s->refused_total++;
		return;
	}
	u->accel_id = s->nacc ? s->acc[n % s->nacc].accel_id : 1;
	u->prompt_tokens = prompt;
	u->completion_tokens = completion;
	u->queue_us = 5;
	u->batch_us = 100;
	u->compute_us = 1000 + completion * 10;
	u->cost_micro = cost;
	if (!(t->cfg.flags & TF_TENANT_F_UNLIMITED))
		t->balance -= (int64_t)cost;
	t->used += (int64_t)cost;
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
write_summary(const char *path, struct sim *s, struct tf_card_dev *dev)
{
	struct tf_card_dev_stats st;
	FILE *f = fopen(path, "w");

	if (!f) {
		tf_log_warn("cannot write %s", path);
		return;
	}
	tf_card_dev_stats(dev, &st);
	fprintf(f, "posted %llu\nrefused %llu\neq_full %llu\nlast_seq %llu\nacked_seq %llu\n",
		(unsigned long long)s->posted, (unsigned long long)s->refused_total,
		(unsigned long long)st.eq_full, (unsigned long long)st.eq_prod_seq,
		(unsigned long long)st.eq_freed_seq);
	for (unsigned int i = 0; i < s->nt; i++)
		fprintf(f, "tenant %u ok %llu prompt %llu completion %llu cost %llu refused %llu\n",
			s->t[i].cfg.tenant_id, (unsigned long long)s->t[i].ok,
			(unsigned long long)s->t[i].prompt, (unsigned long long)s->t[i].completion,
			(unsigned long long)s->t[i].cost, (unsigned long long)s->t[i].refused);
	fclose(f);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bar", required_argument, NULL, 'b' },
		{ "records", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "serial", required_argument, NULL, 's' },
		{ "eq-depth", required_argument, NULL, 'e' },
		{ "fresh", no_argument, NULL, 'f' },
		{ "summary", required_argument, NULL, 'o' },
		{ "wait-acked", no_argument, NULL, 'w' },
		{ "start-id", required_argument, NULL, 'i' },
		{ "wait-tenants", required_argument, NULL, 't' },
		{ "linger", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct tf_card_dev_params p = {
		.serial = "SIM0001",
		.fw_version_str = "sim-1.0",
		.fw_version = TF_FW_VERSION(1, 0, 0),
		.features = TF_FEAT_HEALTH_EVENTS,
		.max_tenants = MAX_T,
		.max_models = MAX_T,
		.max_accels = MAX_ACC,
		.n_ports = 1,
	};
	static struct sim s;
	struct tf_card_dev *dev;
	struct tf_usage_record pending;
	struct sim_tenant *owner = NULL;
	const char *summary = NULL;
	uint64_t records = 0, rate = 0, made = 0, start_id = 1, t0, last_hb = 0;
	unsigned int wait_tenants = 1;
	int opt, rc, wait_acked = 0, have_pending = 0, linger = 0;

	tf_log_init("tokfab-cardsim", TF_LOG_INFO, 0);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			p.path = optarg;
			break;
		case 'n':
			records = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			rate = strtoull(optarg, NULL, 10);
			break;
		case 's':
			p.serial = optarg;
			break;
		case 'e':
			p.eq_depth = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'f':
			p.flags |= TF_CARD_F_FRESH;
			break;
		case 'o':
			summary = optarg;
			break;
		case 'w':
			wait_acked = 1;
			break;
		case 'i':
			start_id = strtoull(optarg, NULL, 10);
			break;
		case 't':
			wait_tenants = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			linger = 1;
			break;
		default:
			fprintf(stderr, "usage: see the comment at the top of cardsim.c\n");
			return 2;
		}
	}
	if (!p.path)
		tf_fatalx("--bar PATH is required");
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	rc = tf_card_dev_create(&p, &dev);
	if (rc < 0)
		tf_fatalx("cannot create the BAR at %s: %s", p.path, strerror(-rc));
	tf_log_info("card %s at %s: epoch %016llx, %llu records at %llu/s", p.serial, p.path,
		    (unsigned long long)tf_card_dev_epoch(dev), (unsigned long long)records,
		    (unsigned long long)rate);
	t0 = mono_ns();
	while (!g_stop) {
		uint64_t now = mono_ns();
		int progressed = 0;

		tf_card_dev_poll_admin(dev, &g_handlers, &s);
		if (now - last_hb > 10000000ull) {
			tf_card_dev_heartbeat(dev);
			last_hb = now;
		}
		/* Records flow once the host configured the tenants. */
		while (s.nt >= wait_tenants && (have_pending || made < records)) {
			if (!have_pending) {
				if (rate && made * 1000000000ull / rate > now - t0)
					break;
				make_record(&s, made, start_id + made, &pending, &owner);
				made++;
				have_pending = 1;
			}
			if (tf_card_dev_post_usage(dev, &pending, NULL) < 0)
				break; /* queue full: keep it, retry next loop */
			have_pending = 0;
			progressed = 1;
			s.posted++;
			if (pending.outcome != TF_USAGE_REFUSED) {
				owner->ok++;
				owner->prompt += pending.prompt_tokens;
				owner->completion += pending.completion_tokens;
				owner->cost += pending.cost_micro;
			}
			if ((made & 255) == 0)
				break; /* keep serving admin commands */
		}
		if (made >= records && !have_pending) {
			struct tf_card_dev_stats st;

			tf_card_dev_stats(dev, &st);
			if ((!wait_acked || st.eq_freed_seq == st.eq_prod_seq) && records &&
			    !linger)
				break;
			if (summary && linger && !s.summary_written &&
			    st.eq_freed_seq == st.eq_prod_seq) {
				write_summary(summary, &s, dev); /* posted and acknowledged */
				s.summary_written = 1;
			}
		}
		if (!progressed)
			usleep(200);
	}
	if (summary)
		write_summary(summary, &s, dev);
	tf_log_info("posted %llu records (%llu refused)", (unsigned long long)s.posted,
		    (unsigned long long)s.refused_total);
	tf_card_dev_destroy(dev);
	return 0;
}
