/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/card/check_aq.c, check_eq.c, layout.c: every rule of
 * hwdocs/queues.md, registers.md and usage-record.md accepts the valid case
 * and rejects each broken field with the right offset / reason.
 */
#include "card/check.h"
#include "card/layout.h"
#include "tf_cunit.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define POFF(type, field) (16u + (uint32_t)offsetof(struct type, field))

static struct tf_aq_sqe g_sqe;

static void *
sqe_init(uint16_t opcode)
{
	memset(&g_sqe, 0, sizeof(g_sqe));
	g_sqe.opcode = opcode;
	g_sqe.len = (uint32_t)tf_aq_req_len(opcode);
	g_sqe.cmd_id = 77;
	return g_sqe.payload;
}

static int
check(uint32_t *detail)
{
	return tf_aq_sqe_check(&g_sqe, detail);
}

/* Asserts the current g_sqe is rejected with BAD_FIELD at off. */
#define EXPECT_BAD(off)                                         \
	do {                                                    \
		uint32_t d_ = 0;                                \
		CU_ASSERT_EQUAL(check(&d_), TF_AQ_S_BAD_FIELD); \
		CU_ASSERT_EQUAL(d_, (off));                     \
	} while (0)
#define EXPECT_OK()                                      \
	do {                                             \
		uint32_t d_ = 99;                        \
		CU_ASSERT_EQUAL(check(&d_), TF_AQ_S_OK); \
	} while (0)

static struct tf_aq_set_tenant *
valid_tenant(void)
{
	struct tf_aq_set_tenant *t = sqe_init(TF_AQ_SET_TENANT);

	t->tenant_id = 7;
	strcpy(t->name, "acme");
	t->key_len = 32;
	memset(t->key, 0xab, 32);
	t->key_id = 1;
	t->budget_micro = 1000000;
	t->rate_rps = 100;
	t->burst_requests = 10;
	t->priority = 3;
	t->n_prices = 2;
	t->prices[0].model_id = 1;
	t->prices[0].price_per_1k_micro = 2000;
	t->prices[1].model_id = 2;
	t->prices[1].price_per_1k_micro = 500;
	return t;
}

static void
test_header_rules(void)
{
	uint32_t d;

	sqe_init(0x99);
	CU_ASSERT_EQUAL(check(&d), TF_AQ_S_BAD_OPCODE);
	CU_ASSERT_EQUAL(d, 0x99);
	sqe_init(TF_AQ_IDENTIFY);
	EXPECT_OK();
	g_sqe.flags = 1;
	EXPECT_BAD(2);
	sqe_init(TF_AQ_IDENTIFY);
	g_sqe.len = 8;
	EXPECT_BAD(8);
	sqe_init(TF_AQ_IDENTIFY);
	g_sqe.reserved = 1;
	EXPECT_BAD(12);
	sqe_init(TF_AQ_IDENTIFY);
	g_sqe.payload[100] = 1; /* trailing garbage past len */
	EXPECT_BAD(116);
	sqe_init(TF_AQ_DEL_TENANT);
	((struct tf_aq_id *)g_sqe.payload)->id = 1;
	g_sqe.payload[8] = 1; /* first byte past an 8-byte request */
	EXPECT_BAD(24);
}

static void
test_set_tenant_rules(void)
{
	struct tf_aq_set_tenant *t;

	valid_tenant();
	EXPECT_OK();
	t = valid_tenant();
	t->tenant_id = 0;
	EXPECT_BAD(POFF(tf_aq_set_tenant, tenant_id));
	t = valid_tenant();
	t->flags = 1u << 7;
	EXPECT_BAD(POFF(tf_aq_set_tenant, flags));
	t = valid_tenant();
	memset(t->name, 0, sizeof(t->name));
	EXPECT_BAD(POFF(tf_aq_set_tenant, name));
	t = valid_tenant();
	t->name[1] = '\n';
	EXPECT_BAD(POFF(tf_aq_set_tenant, name));
	t = valid_tenant();
	memset(t->name, 'a', sizeof(t->name)); /* no NUL */
	EXPECT_BAD(POFF(tf_aq_set_tenant, name));
	t = valid_tenant();
	t->name[10] = 'x'; /* garbage after the NUL */
	EXPECT_BAD(POFF(tf_aq_set_tenant, name));
	t = valid_tenant();
	t->key_len = 8;
	EXPECT_BAD(POFF(tf_aq_set_tenant, key_len));
	t = valid_tenant();
	t->key_len = 65;
	EXPECT_BAD(POFF(tf_aq_set_tenant, key_len));
	t = valid_tenant();
	t->key[40] = 1; /* past key_len 32 */
	EXPECT_BAD(POFF(tf_aq_set_tenant, key) + 32);
	t = valid_tenant();
	t->prev_key_id = 3; /* without a previous key */
	EXPECT_BAD(POFF(tf_aq_set_tenant, prev_key_id));
	t = valid_tenant();
	t->prev_key_len = 32;
	t->prev_key_id = 1; /* same id as the new key */
	memset(t->prev_key, 1, 32);
	EXPECT_BAD(POFF(tf_aq_set_tenant, prev_key_id));
	t->prev_key_id = 2;
	EXPECT_OK();
	t->prev_key_len = 4;
	EXPECT_BAD(POFF(tf_aq_set_tenant, prev_key_len));
	t = valid_tenant();
	t->prev_key[0] = 1; /* bytes without a length */
	EXPECT_BAD(POFF(tf_aq_set_tenant, prev_key));
	t = valid_tenant();
	t->mac_algs = 1; /* bit 0: mac_alg 0, "none" */
	EXPECT_BAD(POFF(tf_aq_set_tenant, mac_algs));
	t->mac_algs = 1u << 3; /* an algorithm this card does not know */
	EXPECT_BAD(POFF(tf_aq_set_tenant, mac_algs));
	t->mac_algs = TF_TENANT_MAC_HMAC_SHA256 | TF_TENANT_MAC_SIPHASH;
	EXPECT_OK();
	t = valid_tenant();
	t->budget_micro = TF_MONEY_MAX + 1;
	EXPECT_BAD(POFF(tf_aq_set_tenant, budget_micro));
	t = valid_tenant();
	t->flags = TF_TENANT_F_UNLIMITED; /* with a budget */
	EXPECT_BAD(POFF(tf_aq_set_tenant, budget_micro));
	t = valid_tenant();
	t->balance_micro = 5; /* without SET_BALANCE */
	EXPECT_BAD(POFF(tf_aq_set_tenant, balance_micro));
	t->flags = TF_TENANT_F_SET_BALANCE;
	EXPECT_OK();
	t->balance_micro = TF_MONEY_MAX + 1;
	EXPECT_BAD(POFF(tf_aq_set_tenant, balance_micro));
	t = valid_tenant();
	t->rate_rps = 0; /* burst without a rate */
	EXPECT_BAD(POFF(tf_aq_set_tenant, burst_requests));
	t = valid_tenant();
	t->burst_tokens = 5;
	EXPECT_BAD(POFF(tf_aq_set_tenant, burst_tokens));
	t = valid_tenant();
	t->priority = 8;
	EXPECT_BAD(POFF(tf_aq_set_tenant, priority));
	t = valid_tenant();
	t->max_inflight = (1u << 20) + 1;
	EXPECT_BAD(POFF(tf_aq_set_tenant, max_inflight));
	t = valid_tenant();
	t->n_prices = 17;
	EXPECT_BAD(POFF(tf_aq_set_tenant, n_prices));
	t = valid_tenant();
	t->reserved2 = 1;
	EXPECT_BAD(POFF(tf_aq_set_tenant, reserved2));
	t = valid_tenant();
	t->prices[1].model_id = 0;
	EXPECT_BAD(POFF(tf_aq_set_tenant, prices) + 16);
	t = valid_tenant();
	t->prices[1].model_id = 1; /* duplicate */
	EXPECT_BAD(POFF(tf_aq_set_tenant, prices) + 16);
	t = valid_tenant();
	t->prices[0].reserved = 1;
	EXPECT_BAD(POFF(tf_aq_set_tenant, prices) + 4);
	t = valid_tenant();
	t->prices[0].price_per_1k_micro = TF_PRICE_MAX + 1;
	EXPECT_BAD(POFF(tf_aq_set_tenant, prices) + 8);
	t = valid_tenant();
	t->prices[5].price_per_1k_micro = 1; /* past n_prices */
	EXPECT_BAD(POFF(tf_aq_set_tenant, prices) + 5 * 16);
}

static void
test_other_command_rules(void)
{
	struct tf_aq_tenant_balance *b;
	struct tf_aq_set_model *m;
	struct tf_aq_set_accel *a;
	struct tf_aq_set_batching *bt;
	struct tf_aq_set_usage_mode *um;
	struct tf_aq_fw_activate *fw;
	struct tf_aq_get_stats *gs;
	struct tf_aq_id *id;

	id = sqe_init(TF_AQ_GET_TENANT);
	EXPECT_BAD(POFF(tf_aq_id, id));
	id->id = 4;
	EXPECT_OK();
	id->reserved = 1;
	EXPECT_BAD(POFF(tf_aq_id, reserved));

	b = sqe_init(TF_AQ_TENANT_BALANCE);
	b->tenant_id = 1;
	b->op = TF_BALANCE_ADD;
	b->amount = 10;
	EXPECT_OK();
	b->op = 4;
	EXPECT_BAD(POFF(tf_aq_tenant_balance, op));
	b->op = TF_BALANCE_RESET_PERIOD;
	EXPECT_BAD(POFF(tf_aq_tenant_balance, amount));
	b->amount = 0;
	EXPECT_OK();
	b->op = TF_BALANCE_SET;
	b->amount = TF_MONEY_MAX + 1;
	EXPECT_BAD(POFF(tf_aq_tenant_balance, amount));
	b->amount = 1;
	b->tenant_id = 0;
	EXPECT_BAD(POFF(tf_aq_tenant_balance, tenant_id));

	m = sqe_init(TF_AQ_SET_MODEL);
	m->model_id = 1;
	strcpy(m->name, "llama-tiny");
	m->max_prompt_tokens = 4096;
	m->max_new_tokens = 256;
	EXPECT_OK();
	m->max_new_tokens = 0;
	EXPECT_BAD(POFF(tf_aq_set_model, max_new_tokens));
	m->max_new_tokens = 1;
	m->max_prompt_tokens = (1u << 20) + 1;
	EXPECT_BAD(POFF(tf_aq_set_model, max_prompt_tokens));
	m->max_prompt_tokens = 1;
	m->flags = 1;
	EXPECT_BAD(POFF(tf_aq_set_model, flags));
	m->flags = 0;
	m->reserved = 1;
	EXPECT_BAD(POFF(tf_aq_set_model, reserved));

	a = sqe_init(TF_AQ_SET_ACCEL);
	a->accel_id = 3;
	a->transport = TF_TRANSPORT_RDMA;
	strcpy(a->address, "10.0.0.2:7471");
	a->cost_per_hour_micro = 2500000;
	a->weight = 100;
	a->max_outstanding = 64;
	a->n_models = 2;
	a->models[0] = 1;
	a->models[1] = 2;
	EXPECT_OK();
	a->transport = 3;
	EXPECT_BAD(POFF(tf_aq_set_accel, transport));
	a->transport = TF_TRANSPORT_SHM;
	a->models[1] = 1;
	EXPECT_BAD(POFF(tf_aq_set_accel, models) + 4);
	a->models[1] = 2;
	a->models[2] = 9; /* past n_models */
	EXPECT_BAD(POFF(tf_aq_set_accel, models) + 8);
	a->models[2] = 0;
	a->n_models = 0;
	EXPECT_BAD(POFF(tf_aq_set_accel, n_models));
	a->n_models = 2;
	a->weight = 1001;
	EXPECT_BAD(POFF(tf_aq_set_accel, weight));
	a->weight = 1;
	a->max_outstanding = 0;
	EXPECT_BAD(POFF(tf_aq_set_accel, max_outstanding));
	a->max_outstanding = 1;
	a->cost_per_hour_micro = (1ull << 48) + 1;
	EXPECT_BAD(POFF(tf_aq_set_accel, cost_per_hour_micro));
	a->cost_per_hour_micro = 0;
	a->address[0] = '\0';
	EXPECT_BAD(POFF(tf_aq_set_accel, address));

	bt = sqe_init(TF_AQ_SET_BATCHING);
	bt->max_batch = 32;
	bt->max_batch_bytes = 65536;
	bt->max_queue_delay_us = 500;
	EXPECT_OK();
	bt->max_batch = 1025;
	EXPECT_BAD(POFF(tf_aq_set_batching, max_batch));
	bt->max_batch = 1;
	bt->max_batch_bytes = (16u << 20) + 1;
	EXPECT_BAD(POFF(tf_aq_set_batching, max_batch_bytes));
	bt->max_batch_bytes = 1;
	bt->max_queue_delay_us = 1000001;
	EXPECT_BAD(POFF(tf_aq_set_batching, max_queue_delay_us));

	fw = sqe_init(TF_AQ_FW_ACTIVATE);
	fw->slot = 1;
	fw->flags = TF_FW_ACT_F_NOW;
	EXPECT_OK();
	fw->slot = 2;
	EXPECT_BAD(POFF(tf_aq_fw_activate, slot));
	fw->slot = 0;
	fw->flags = 2;
	EXPECT_BAD(POFF(tf_aq_fw_activate, flags));

	um = sqe_init(TF_AQ_SET_USAGE_MODE);
	um->mode = TF_USAGE_MODE_AGGREGATE;
	um->aggregate_ms = 100;
	EXPECT_OK();
	um->aggregate_ms = 60000;
	EXPECT_OK();
	um->aggregate_ms = 70; /* does not divide a minute */
	EXPECT_BAD(POFF(tf_aq_set_usage_mode, aggregate_ms));
	um->aggregate_ms = 0;
	EXPECT_BAD(POFF(tf_aq_set_usage_mode, aggregate_ms));
	um->aggregate_ms = 120000;
	EXPECT_BAD(POFF(tf_aq_set_usage_mode, aggregate_ms));
	um->mode = TF_USAGE_MODE_REQUEST;
	EXPECT_BAD(POFF(tf_aq_set_usage_mode, aggregate_ms)); /* 0 with REQUEST */
	um->aggregate_ms = 0;
	EXPECT_OK();
	um->mode = 0; /* unknown modes: BAD_FIELD at mode, detail 16 */
	EXPECT_BAD(16);
	um->mode = 3;
	EXPECT_BAD(POFF(tf_aq_set_usage_mode, mode));
	um->mode = TF_USAGE_MODE_REQUEST;
	um->reserved = 1;
	EXPECT_BAD(POFF(tf_aq_set_usage_mode, reserved));
	CU_ASSERT_EQUAL(tf_aq_req_len(TF_AQ_SET_USAGE_MODE), 16);
	CU_ASSERT_STRING_EQUAL(tf_aq_opcode_name(TF_AQ_SET_USAGE_MODE), "SET_USAGE_MODE");

	gs = sqe_init(TF_AQ_GET_STATS);
	gs->scope = TF_STATS_CARD;
	EXPECT_OK();
	gs->id = 1;
	EXPECT_BAD(POFF(tf_aq_get_stats, id));
	gs->scope = TF_STATS_ACCEL;
	EXPECT_OK();
	gs->id = 0;
	EXPECT_BAD(POFF(tf_aq_get_stats, id));
	gs->scope = 9;
	EXPECT_BAD(POFF(tf_aq_get_stats, scope));
}

static void
test_completion_rules(void)
{
	struct tf_aq_cqe c;
	struct tf_aq_tenant_info *ti = (void *)c.payload;
	struct tf_aq_id *id;
	const char *why = NULL;

	id = sqe_init(TF_AQ_GET_TENANT);
	id->id = 5;
	memset(&c, 0, sizeof(c));
	c.cmd_id = 77;
	c.opcode = TF_AQ_GET_TENANT;
	c.len = sizeof(*ti);
	ti->tenant_id = 5;
	ti->balance_micro = (uint64_t)-100; /* negative balances are legal */
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), 0);
	ti->tenant_id = 6;
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "tenant_id"));
	ti->tenant_id = 5;
	ti->flags = TF_TENANT_F_SET_BALANCE;
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), -EPROTO);
	ti->flags = 0;
	c.cmd_id = 78;
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), -EPROTO);
	c.cmd_id = 77;
	c.len = 8;
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), -EPROTO);
	c.len = sizeof(*ti);
	c.payload[200] = 1;
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), -EPROTO);
	memset(&c.payload, 0, sizeof(c.payload));
	c.status = TF_AQ_S_NOT_FOUND;
	c.len = 0;
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), 0);
	c.status = 0x77;
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), -EPROTO);
	c.status = TF_AQ_S_NOT_FOUND;
	c.len = sizeof(*ti); /* error with a payload length */
	CU_ASSERT_EQUAL(tf_aq_cqe_check(&c, &g_sqe, &why), -EPROTO);
}

static void
test_health_page_rules(void)
{
	struct tf_aq_get_health q = { .first = 2 };
	struct tf_aq_health r;
	const char *why;

	memset(&r, 0, sizeof(r));
	r.total = 3;
	r.count = 1;
	r.e[0].component = TF_HC_ACCEL;
	r.e[0].component_id = 4;
	r.e[0].state = TF_HS_DEGRADED;
	r.e[0].reason = TF_HR_ERRORS;
	CU_ASSERT_EQUAL(tf_aq_resp_check(TF_AQ_GET_HEALTH, &q, &r, &why), 0);
	r.count = 2; /* first + count > total */
	CU_ASSERT_EQUAL(tf_aq_resp_check(TF_AQ_GET_HEALTH, &q, &r, &why), -EPROTO);
	r.count = 1;
	r.e[1].state = 1; /* past count */
	CU_ASSERT_EQUAL(tf_aq_resp_check(TF_AQ_GET_HEALTH, &q, &r, &why), -EPROTO);
	r.e[1].state = 0;
	r.e[0].component_id = 0; /* accel 0 */
	CU_ASSERT_EQUAL(tf_aq_resp_check(TF_AQ_GET_HEALTH, &q, &r, &why), -EPROTO);
	r.e[0].component_id = 4;
	r.e[0].reason = 99;
	CU_ASSERT_EQUAL(tf_aq_resp_check(TF_AQ_GET_HEALTH, &q, &r, &why), -EPROTO);
}

static struct tf_usage_record
valid_usage(void)
{
	struct tf_usage_record u = {
		.request_id = 42,
		.tenant_id = 1,
		.model_id = 2,
		.accel_id = 3,
		.outcome = TF_USAGE_OK,
		.prompt_tokens = 10,
		.completion_tokens = 20,
		.cost_micro = 60,
		.end_time_ns = 1700000000000000000ull,
	};
	return u;
}

static void
test_event_rules(void)
{
	struct tf_eq_entry e;
	struct tf_usage_record u;
	struct tf_health_event h;
	const char *why;

	u = valid_usage();
	CU_ASSERT_EQUAL(tf_usage_record_check(&u, &why), 0);
	u.tenant_id = 0;
	CU_ASSERT_EQUAL(tf_usage_record_check(&u, &why), -EPROTO);
	u = valid_usage();
	u.outcome = 7;
	CU_ASSERT_EQUAL(tf_usage_record_check(&u, &why), -EPROTO);
	u = valid_usage();
	u.completion_tokens = (1u << 24) + 1;
	CU_ASSERT_EQUAL(tf_usage_record_check(&u, &why), -EPROTO);
	u = valid_usage();
	u.end_time_ns = 0;
	CU_ASSERT_EQUAL(tf_usage_record_check(&u, &why), -EPROTO);
	u = valid_usage();
	u.outcome = TF_USAGE_REFUSED; /* with tokens */
	CU_ASSERT_EQUAL(tf_usage_record_check(&u, &why), -EPROTO);
	u.prompt_tokens = u.completion_tokens = 0;
	u.cost_micro = 0;
	u.accel_id = 0;
	CU_ASSERT_EQUAL(tf_usage_record_check(&u, &why), 0);
	u.flags = 1;
	CU_ASSERT_EQUAL(tf_usage_record_check(&u, &why), -EPROTO);

	memset(&h, 0, sizeof(h));
	h.time_ns = 1;
	h.component = TF_HC_PORT;
	h.component_id = 0;
	h.state = TF_HS_DOWN;
	h.reason = TF_HR_LINK_DOWN;
	strcpy(h.detail, "carrier lost");
	CU_ASSERT_EQUAL(tf_health_event_check(&h, &why), 0);
	h.detail[39] = 'x';
	CU_ASSERT_EQUAL(tf_health_event_check(&h, &why), -EPROTO);
	h.detail[39] = 0;
	h.component = TF_HC_CARD;
	h.component_id = 1;
	CU_ASSERT_EQUAL(tf_health_event_check(&h, &why), -EPROTO);

	memset(&e, 0, sizeof(e));
	e.seq = 9;
	e.type = TF_EQ_USAGE;
	e.len = sizeof(struct tf_usage_record);
	e.body.usage = valid_usage();
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 9, &why), 0);
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 10, &why), -EPROTO);
	e.len = 63;
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 9, &why), -EPROTO);
	e.len = 64;
	e.body.raw[100] = 1;
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 9, &why), -EPROTO);
	e.body.raw[100] = 0;
	e.type = 4;
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 9, &why), -EPROTO);
	e.type = TF_EQ_USAGE;
	e.reserved = 1;
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 9, &why), -EPROTO);
}

static struct tf_usage_agg
valid_agg(void)
{
	struct tf_usage_agg a = { .first_end_ns = 100,
				  .tenant_id = 3,
				  .model_id = 1,
				  .accel_id = 2,
				  .requests = 4,
				  .prompt_tokens = 4ull << 24,
				  .completion_tokens = 20,
				  .cost_micro = 77,
				  .last_end_ns = 100,
				  .compute_us = 5 };
	return a;
}

/* The usage aggregate (1.2): every rule of hwdocs/usage-record.md, alone and in an entry. */
static void
test_usage_agg_rules(void)
{
	struct tf_usage_agg a;
	struct tf_eq_entry e;
	const char *why = NULL;

	a = valid_agg();
	CU_ASSERT_EQUAL(tf_usage_agg_check(&a, &why), 0);
#define BAD_AGG(stmt, field)                                                   \
	do {                                                                   \
		a = valid_agg();                                               \
		stmt;                                                          \
		why = NULL;                                                    \
		CU_ASSERT_EQUAL(tf_usage_agg_check(&a, &why), -EPROTO);        \
		CU_ASSERT_PTR_NOT_NULL(why &&strstr(why, field) ? why : NULL); \
	} while (0)
	BAD_AGG(a.first_end_ns = 0, "first_end_ns");
	BAD_AGG(a.tenant_id = 0, "tenant_id");
	BAD_AGG(a.model_id = 0, "model_id");
	BAD_AGG(a.outcome = 7, "outcome");
	BAD_AGG(a.flags = 1, "flags");
	BAD_AGG(a.requests = 0, "requests");
	BAD_AGG(a.reserved0 = 1, "reserved0");
	BAD_AGG(a.prompt_tokens = (4ull << 24) + 1, "prompt_tokens");
	BAD_AGG(a.completion_tokens = (4ull << 24) + 1, "completion_tokens");
	BAD_AGG(a.cost_micro = TF_MONEY_MAX + 1, "cost_micro");
	BAD_AGG(a.last_end_ns = 99, "last_end_ns");
	BAD_AGG(a.reserved1 = 1, "reserved1");
	BAD_AGG(a.outcome = TF_USAGE_REFUSED, "REFUSED");
#undef BAD_AGG
	a = valid_agg();
	a.outcome = TF_USAGE_REFUSED;
	a.prompt_tokens = a.completion_tokens = a.cost_micro = 0;
	a.accel_id = 0;
	CU_ASSERT_EQUAL(tf_usage_agg_check(&a, &why), 0);

	memset(&e, 0, sizeof(e));
	e.seq = 5;
	e.type = TF_EQ_USAGE_AGG;
	e.len = sizeof(struct tf_usage_agg);
	e.body.agg = valid_agg();
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 5, &why), 0);
	e.len = 64; /* a usage record's size */
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 5, &why), -EPROTO);
	e.len = 80;
	e.body.raw[80] = 1; /* past the body */
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 5, &why), -EPROTO);
	e.body.raw[80] = 0;
	e.body.agg.requests = 0;
	CU_ASSERT_EQUAL(tf_eq_entry_check(&e, 5, &why), -EPROTO);
}

static _Alignas(64) struct tf_bar_regs g_regs;

static void
valid_regs(void)
{
	struct tf_bar_layout l;

	tf_bar_layout_compute(32, 4096, &l);
	memset(&g_regs, 0, sizeof(g_regs));
	g_regs.magic = TF_BAR_MAGIC;
	g_regs.abi_version = TF_ABI_VERSION(TF_ABI_MAJOR, 3);
	g_regs.bar_size = (uint32_t)l.bar_size;
	g_regs.regs_size = 4096;
	g_regs.aq_depth = 32;
	g_regs.eq_depth = 4096;
	g_regs.aq_sqe_size = g_regs.aq_cqe_size = 512;
	g_regs.eq_entry_size = 128;
	g_regs.hb_period_ms = 100;
	g_regs.aq_sq_off = l.aq_sq_off;
	g_regs.aq_cq_off = l.aq_cq_off;
	g_regs.eq_off = l.eq_off;
	g_regs.epoch = 12345;
	strcpy(g_regs.serial, "TF0001");
	strcpy(g_regs.fw_version_str, "1.0.0");
}

static void
test_layout_rules(void)
{
	const char *why;
	uint64_t size;

	valid_regs();
	size = g_regs.bar_size;
	CU_ASSERT_EQUAL(size, 1u << 20); /* 4 KiB + 32 KiB + 512 KiB -> 1 MiB */
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), 0);
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size - 1, &why), -EPROTO);
	g_regs.magic = 0;
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EAGAIN);
	valid_regs();
	g_regs.abi_version = TF_ABI_VERSION(2, 0);
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTONOSUPPORT);
	valid_regs();
	g_regs.aq_depth = 48;
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTO);
	valid_regs();
	g_regs.eq_off = g_regs.aq_cq_off; /* overlap */
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTO);
	valid_regs();
	g_regs.eq_off = size - 64; /* runs off the end */
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTO);
	valid_regs();
	g_regs.aq_sq_off = 0; /* inside the registers */
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTO);
	valid_regs();
	g_regs.eq_entry_size = 64;
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTO);
	valid_regs();
	g_regs.epoch = 0;
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTO);
	valid_regs();
	g_regs.serial[31] = 'x';
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTO);
	valid_regs();
	g_regs.eq_off = 0xffffffffffffffc0ull; /* offset + length wraps */
	CU_ASSERT_EQUAL(tf_bar_layout_check(&g_regs, size, &why), -EPROTO);
}

static void
test_status_names(void)
{
	CU_ASSERT_STRING_EQUAL(tf_aq_status_name(TF_AQ_S_BAD_FIELD), "BAD_FIELD");
	CU_ASSERT_STRING_EQUAL(tf_aq_status_name(0x3333), "?");
	CU_ASSERT_STRING_EQUAL(tf_aq_opcode_name(TF_AQ_SET_ACCEL), "SET_ACCEL");
	CU_ASSERT_PTR_NULL(tf_aq_opcode_name(0x3333));
	CU_ASSERT_EQUAL(tf_aq_req_len(TF_AQ_SET_TENANT), 480);
}

static const struct tf_cunit_test check_tests[] = {
	TF_TEST(test_header_rules),	   TF_TEST(test_set_tenant_rules),
	TF_TEST(test_other_command_rules), TF_TEST(test_completion_rules),
	TF_TEST(test_health_page_rules),   TF_TEST(test_event_rules),
	TF_TEST(test_usage_agg_rules),	   TF_TEST(test_layout_rules),
	TF_TEST(test_status_names),	   TF_TESTS_END,
};

TF_CUNIT_MAIN({ "card_check", NULL, NULL, check_tests })
