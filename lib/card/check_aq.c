/* SPDX-License-Identifier: BSD-3-Clause */
/* Admin queue checks: every command field (card side), every completion (host side). */
#include "card/check.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define OFF(type, field) ((uint32_t)offsetof(struct type, field))
#define PAYLOAD_OFF ((uint32_t)offsetof(struct tf_aq_sqe, payload))

/* A request check returns 0, or -1 with *bad = offset in the payload. */
typedef int (*req_check_fn)(const void *req, uint32_t *bad);

struct aq_op {
	uint16_t opcode;
	uint16_t req_len;
	uint16_t resp_len;
	const char *name;
	req_check_fn check_req;
};

int
tf_bar_name_ok(const char *s, size_t cap, size_t min_len)
{
	size_t n = 0;

	while (n < cap && s[n] != '\0') {
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return 0;
		n++;
	}
	if (n == cap || n < min_len)
		return 0;
	for (size_t i = n; i < cap; i++)
		if (s[i] != '\0')
			return 0;
	return 1;
}

static int
all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Offset of the first non-zero byte at or after from, or -1. */
static long
first_nonzero(const void *p, size_t from, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = from; i < len; i++)
		if (b[i])
			return (long)i;
	return -1;
}

#define BAD(field_off)              \
	do {                        \
		*bad = (field_off); \
		return -1;          \
	} while (0)

static int
check_none(const void *req, uint32_t *bad)
{
	(void)req;
	(void)bad;
	return 0;
}

static int
check_id(const void *req, uint32_t *bad)
{
	const struct tf_aq_id *c = req;

	if (c->id == 0)
		BAD(OFF(tf_aq_id, id));
	if (c->reserved)
		BAD(OFF(tf_aq_id, reserved));
	return 0;
}

static int
check_get_health(const void *req, uint32_t *bad)
{
	const struct tf_aq_get_health *c = req;

	if (c->reserved)
		BAD(OFF(tf_aq_get_health, reserved));
	return 0;
}

static int
check_get_stats(const void *req, uint32_t *bad)
{
	const struct tf_aq_get_stats *c = req;

	if (c->scope == TF_STATS_CARD) {
		if (c->id != 0)
			BAD(OFF(tf_aq_get_stats, id));
	} else if (c->scope == TF_STATS_ACCEL) {
		if (c->id == 0)
			BAD(OFF(tf_aq_get_stats, id));
	} else {
		BAD(OFF(tf_aq_get_stats, scope));
	}
	return 0;
}

static int
key_ok(const uint8_t *key, uint32_t len, int optional)
{
	if (len == 0)
		return optional && all_zero(key, TF_KEY_MAX);
	if (len < TF_KEY_MIN || len > TF_KEY_MAX)
		return 0;
	return all_zero(key + len, TF_KEY_MAX - len);
}

static int
check_set_tenant(const void *req, uint32_t *bad)
{
	const struct tf_aq_set_tenant *c = req;

	if (c->tenant_id == 0)
		BAD(OFF(tf_aq_set_tenant, tenant_id));
	if (c->flags & ~TF_TENANT_F_KNOWN_MASK)
		BAD(OFF(tf_aq_set_tenant, flags));
	if (!tf_bar_name_ok(c->name, TF_NAME_LEN, 1))
		BAD(OFF(tf_aq_set_tenant, name));
	if (c->key_len < TF_KEY_MIN || c->key_len > TF_KEY_MAX)
		BAD(OFF(tf_aq_set_tenant, key_len));
	if (c->prev_key_len == 0 ? c->prev_key_id != 0 : c->prev_key_id == c->key_id)
		BAD(OFF(tf_aq_set_tenant, prev_key_id));
	if (c->prev_key_len != 0 && (c->prev_key_len < TF_KEY_MIN || c->prev_key_len > TF_KEY_MAX))
		BAD(OFF(tf_aq_set_tenant, prev_key_len));
	if (c->mac_algs & ~TF_TENANT_MAC_KNOWN_MASK)
		BAD(OFF(tf_aq_set_tenant, mac_algs));
	if (!key_ok(c->key, c->key_len, 0))
		BAD(OFF(tf_aq_set_tenant, key) + c->key_len);
	if (!key_ok(c->prev_key, c->prev_key_len, 1))
		BAD(OFF(tf_aq_set_tenant, prev_key) + c->prev_key_len);
	if (c->budget_micro > TF_MONEY_MAX ||
	    ((c->flags & TF_TENANT_F_UNLIMITED) && c->budget_micro != 0))
		BAD(OFF(tf_aq_set_tenant, budget_micro));
	if ((c->flags & TF_TENANT_F_SET_BALANCE) ? c->balance_micro > TF_MONEY_MAX
						 : c->balance_micro != 0)
		BAD(OFF(tf_aq_set_tenant, balance_micro));
	if (c->rate_rps == 0 && c->burst_requests != 0)
		BAD(OFF(tf_aq_set_tenant, burst_requests));
	if (c->rate_tps == 0 && c->burst_tokens != 0)
		BAD(OFF(tf_aq_set_tenant, burst_tokens));
	if (c->priority > TF_PRIORITY_MAX)
		BAD(OFF(tf_aq_set_tenant, priority));
	if (c->max_inflight > (1u << 20))
		BAD(OFF(tf_aq_set_tenant, max_inflight));
	if (c->n_prices > TF_MAX_PRICES)
		BAD(OFF(tf_aq_set_tenant, n_prices));
	if (c->reserved2)
		BAD(OFF(tf_aq_set_tenant, reserved2));
	for (uint32_t i = 0; i < TF_MAX_PRICES; i++) {
		const struct tf_aq_price *p = &c->prices[i];
		uint32_t base = OFF(tf_aq_set_tenant, prices) + i * (uint32_t)sizeof(*p);

		if (i >= c->n_prices) {
			if (!all_zero(p, sizeof(*p)))
				BAD(base);
			continue;
		}
		if (p->model_id == 0)
			BAD(base + OFF(tf_aq_price, model_id));
		for (uint32_t j = 0; j < i; j++)
			if (c->prices[j].model_id == p->model_id)
				BAD(base + OFF(tf_aq_price, model_id));
		if (p->reserved)
			BAD(base + OFF(tf_aq_price, reserved));
		if (p->price_per_1k_micro > TF_PRICE_MAX)
			BAD(base + OFF(tf_aq_price, price_per_1k_micro));
	}
	return 0;
}

static int
check_tenant_balance(const void *req, uint32_t *bad)
{
	const struct tf_aq_tenant_balance *c = req;

	if (c->tenant_id == 0)
		BAD(OFF(tf_aq_tenant_balance, tenant_id));
	if (c->op < TF_BALANCE_ADD || c->op > TF_BALANCE_RESET_PERIOD)
		BAD(OFF(tf_aq_tenant_balance, op));
	if (c->amount > TF_MONEY_MAX || (c->op == TF_BALANCE_RESET_PERIOD && c->amount != 0))
		BAD(OFF(tf_aq_tenant_balance, amount));
	return 0;
}

static int
check_set_model(const void *req, uint32_t *bad)
{
	const struct tf_aq_set_model *c = req;

	if (c->model_id == 0)
		BAD(OFF(tf_aq_set_model, model_id));
	if (c->flags)
		BAD(OFF(tf_aq_set_model, flags));
	if (!tf_bar_name_ok(c->name, TF_NAME_LEN, 1))
		BAD(OFF(tf_aq_set_model, name));
	if (c->max_prompt_tokens == 0 || c->max_prompt_tokens > (1u << 20))
		BAD(OFF(tf_aq_set_model, max_prompt_tokens));
	if (c->max_new_tokens == 0 || c->max_new_tokens > (1u << 20))
		BAD(OFF(tf_aq_set_model, max_new_tokens));
	if (c->reserved)
		BAD(OFF(tf_aq_set_model, reserved));
	return 0;
}

static int
check_set_accel(const void *req, uint32_t *bad)
{
	const struct tf_aq_set_accel *c = req;

	if (c->accel_id == 0)
		BAD(OFF(tf_aq_set_accel, accel_id));
	if (c->transport != TF_TRANSPORT_SHM && c->transport != TF_TRANSPORT_RDMA)
		BAD(OFF(tf_aq_set_accel, transport));
	if (c->flags)
		BAD(OFF(tf_aq_set_accel, flags));
	if (!tf_bar_name_ok(c->address, TF_ADDR_LEN, 1))
		BAD(OFF(tf_aq_set_accel, address));
	if (c->cost_per_hour_micro > (1ull << 48))
		BAD(OFF(tf_aq_set_accel, cost_per_hour_micro));
	if (c->weight == 0 || c->weight > 1000)
		BAD(OFF(tf_aq_set_accel, weight));
	if (c->max_outstanding == 0 || c->max_outstanding > 65536)
		BAD(OFF(tf_aq_set_accel, max_outstanding));
	if (c->n_models == 0 || c->n_models > TF_MAX_ACCEL_MODELS)
		BAD(OFF(tf_aq_set_accel, n_models));
	if (c->reserved)
		BAD(OFF(tf_aq_set_accel, reserved));
	for (uint32_t i = 0; i < TF_MAX_ACCEL_MODELS; i++) {
		uint32_t off = OFF(tf_aq_set_accel, models) + 4 * i;

		if (i >= c->n_models) {
			if (c->models[i])
				BAD(off);
			continue;
		}
		if (c->models[i] == 0)
			BAD(off);
		for (uint32_t j = 0; j < i; j++)
			if (c->models[j] == c->models[i])
				BAD(off);
	}
	return 0;
}

static int
check_set_batching(const void *req, uint32_t *bad)
{
	const struct tf_aq_set_batching *c = req;

	if (c->max_batch == 0 || c->max_batch > 1024)
		BAD(OFF(tf_aq_set_batching, max_batch));
	if (c->max_batch_bytes == 0 || c->max_batch_bytes > (16u << 20))
		BAD(OFF(tf_aq_set_batching, max_batch_bytes));
	if (c->max_queue_delay_us > 1000000)
		BAD(OFF(tf_aq_set_batching, max_queue_delay_us));
	if (c->reserved)
		BAD(OFF(tf_aq_set_batching, reserved));
	return 0;
}

/* SET_USAGE_MODE (1.2). */
static int
check_set_usage_mode(const void *req, uint32_t *bad)
{
	const struct tf_aq_set_usage_mode *c = req;

	if (c->mode != TF_USAGE_MODE_REQUEST && c->mode != TF_USAGE_MODE_AGGREGATE)
		BAD(OFF(tf_aq_set_usage_mode, mode));
	if (c->mode == TF_USAGE_MODE_AGGREGATE
		    ? c->aggregate_ms == 0 || c->aggregate_ms > TF_USAGE_AGG_MS_MAX ||
			      TF_USAGE_AGG_MS_MAX % c->aggregate_ms
		    : c->aggregate_ms != 0)
		BAD(OFF(tf_aq_set_usage_mode, aggregate_ms));
	if (c->reserved)
		BAD(OFF(tf_aq_set_usage_mode, reserved));
	return 0;
}

static int
check_fw_activate(const void *req, uint32_t *bad)
{
	const struct tf_aq_fw_activate *c = req;

	if (c->slot > 1)
		BAD(OFF(tf_aq_fw_activate, slot));
	if (c->flags & ~TF_FW_ACT_F_KNOWN_MASK)
		BAD(OFF(tf_aq_fw_activate, flags));
	if (c->reserved)
		BAD(OFF(tf_aq_fw_activate, reserved));
	return 0;
}

/* FW_WRITE (1.1): one chunk of an image, in order (the card checks the order). */
static int
check_fw_write(const void *req, uint32_t *bad)
{
	const struct tf_aq_fw_write *c = req;
	uint64_t end = (uint64_t)c->offset + c->len;

	if (c->total_len == 0)
		BAD(OFF(tf_aq_fw_write, total_len));
	if (c->len == 0 || c->len > TF_FW_WRITE_CHUNK || end > c->total_len)
		BAD(OFF(tf_aq_fw_write, len));
	if ((c->flags & ~TF_FW_WRITE_F_KNOWN_MASK) ||
	    !(c->flags & TF_FW_WRITE_F_FINAL) != (end != c->total_len) ||
	    ((c->flags & TF_FW_WRITE_F_ACTIVATE) && !(c->flags & TF_FW_WRITE_F_FINAL)))
		BAD(OFF(tf_aq_fw_write, flags));
	if (c->reserved)
		BAD(OFF(tf_aq_fw_write, reserved));
	for (uint32_t i = c->len; i < TF_FW_WRITE_CHUNK; i++)
		if (c->data[i])
			BAD(OFF(tf_aq_fw_write, data) + i);
	return 0;
}

#define OP(code, name, req, resp, fn)     \
	{                                 \
		code, req, resp, name, fn \
	}
static const struct aq_op g_ops[] = {
	OP(TF_AQ_IDENTIFY, "IDENTIFY", 0, sizeof(struct tf_aq_identity), check_none),
	OP(TF_AQ_GET_HEALTH, "GET_HEALTH", sizeof(struct tf_aq_get_health),
	   sizeof(struct tf_aq_health), check_get_health),
	OP(TF_AQ_GET_STATS, "GET_STATS", sizeof(struct tf_aq_get_stats), 0 /* by scope */,
	   check_get_stats),
	OP(TF_AQ_SET_TENANT, "SET_TENANT", sizeof(struct tf_aq_set_tenant),
	   sizeof(struct tf_aq_tenant_info), check_set_tenant),
	OP(TF_AQ_DEL_TENANT, "DEL_TENANT", sizeof(struct tf_aq_id), 0, check_id),
	OP(TF_AQ_TENANT_BALANCE, "TENANT_BALANCE", sizeof(struct tf_aq_tenant_balance),
	   sizeof(struct tf_aq_tenant_info), check_tenant_balance),
	OP(TF_AQ_GET_TENANT, "GET_TENANT", sizeof(struct tf_aq_id),
	   sizeof(struct tf_aq_tenant_info), check_id),
	OP(TF_AQ_SET_MODEL, "SET_MODEL", sizeof(struct tf_aq_set_model), 0, check_set_model),
	OP(TF_AQ_DEL_MODEL, "DEL_MODEL", sizeof(struct tf_aq_id), 0, check_id),
	OP(TF_AQ_SET_ACCEL, "SET_ACCEL", sizeof(struct tf_aq_set_accel), 0, check_set_accel),
	OP(TF_AQ_DEL_ACCEL, "DEL_ACCEL", sizeof(struct tf_aq_id), 0, check_id),
	OP(TF_AQ_SET_BATCHING, "SET_BATCHING", sizeof(struct tf_aq_set_batching), 0,
	   check_set_batching),
	OP(TF_AQ_SET_USAGE_MODE, "SET_USAGE_MODE", sizeof(struct tf_aq_set_usage_mode), 0,
	   check_set_usage_mode),
	OP(TF_AQ_FW_ACTIVATE, "FW_ACTIVATE", sizeof(struct tf_aq_fw_activate),
	   sizeof(struct tf_aq_fw_status), check_fw_activate),
	OP(TF_AQ_FW_WRITE, "FW_WRITE", sizeof(struct tf_aq_fw_write),
	   sizeof(struct tf_aq_fw_write_status), check_fw_write),
	OP(TF_AQ_FW_INFO, "FW_INFO", 0, sizeof(struct tf_aq_fw_info), check_none),
};

static const struct aq_op *
find_op(uint16_t opcode)
{
	for (size_t i = 0; i < sizeof(g_ops) / sizeof(g_ops[0]); i++)
		if (g_ops[i].opcode == opcode)
			return &g_ops[i];
	return NULL;
}

int
tf_aq_req_len(uint16_t opcode)
{
	const struct aq_op *op = find_op(opcode);

	return op ? op->req_len : -1;
}

int
tf_aq_resp_len(uint16_t opcode)
{
	const struct aq_op *op = find_op(opcode);

	return op ? op->resp_len : -1;
}

const char *
tf_aq_opcode_name(uint16_t opcode)
{
	const struct aq_op *op = find_op(opcode);

	return op ? op->name : NULL;
}

struct status_desc {
	uint16_t status;
	const char *name;
	const char *help;
};

static const struct status_desc g_status[] = {
	{ TF_AQ_S_OK, "OK", "done" },
	{ TF_AQ_S_BAD_OPCODE, "BAD_OPCODE",
	  "the card does not know this command; check that host and card firmware versions match" },
	{ TF_AQ_S_BAD_FIELD, "BAD_FIELD",
	  "a field of the command broke a rule of hwdocs/queues.md; detail is its byte offset" },
	{ TF_AQ_S_NOT_FOUND, "NOT_FOUND", "the card has no object with that id" },
	{ TF_AQ_S_NO_SPACE, "NO_SPACE", "the card's table is full; delete an entry first" },
	{ TF_AQ_S_BUSY, "BUSY", "the card is busy; retry later" },
	{ TF_AQ_S_UNSUPPORTED, "UNSUPPORTED", "this card firmware does not implement the command" },
	{ TF_AQ_S_CONFLICT, "CONFLICT",
	  "the command refers to an unknown object or one still in use; detail is its id" },
	{ TF_AQ_S_INTERNAL, "INTERNAL", "the card failed internally; see its log" },
	{ TF_AQ_S_FW_NO_IMAGE, "FW_NO_IMAGE", "the firmware slot holds no image; flash one first" },
	{ TF_AQ_S_FW_BAD_SIGNATURE, "FW_BAD_SIGNATURE",
	  "the image's signature does not verify with the card's key" },
	{ TF_AQ_S_FW_BAD_DIGEST, "FW_BAD_DIGEST",
	  "the image in the slot is not the one named (digest or version differ)" },
	{ TF_AQ_S_FW_ROLLBACK, "FW_ROLLBACK",
	  "the image is older than the card's anti-rollback floor" },
	{ TF_AQ_S_FW_BUSY, "FW_BUSY",
	  "a firmware update or activation is in progress; retry later" },
};

static const struct status_desc *
find_status(uint16_t status)
{
	for (size_t i = 0; i < sizeof(g_status) / sizeof(g_status[0]); i++)
		if (g_status[i].status == status)
			return &g_status[i];
	return NULL;
}

int
tf_aq_status_known(uint16_t status)
{
	return find_status(status) != NULL;
}

const char *
tf_aq_status_name(uint16_t status)
{
	const struct status_desc *d = find_status(status);

	return d ? d->name : "?";
}

const char *
tf_aq_status_help(uint16_t status)
{
	const struct status_desc *d = find_status(status);

	return d ? d->help : "unknown status code from the card";
}

int
tf_aq_sqe_check(const struct tf_aq_sqe *sqe, uint32_t *detail)
{
	const struct aq_op *op = find_op(sqe->opcode);
	uint32_t bad;
	long nz;

	if (!op) {
		*detail = sqe->opcode;
		return TF_AQ_S_BAD_OPCODE;
	}
	*detail = 0;
	if (sqe->flags) {
		*detail = (uint32_t)offsetof(struct tf_aq_sqe, flags);
		return TF_AQ_S_BAD_FIELD;
	}
	if (sqe->len != op->req_len) {
		*detail = (uint32_t)offsetof(struct tf_aq_sqe, len);
		return TF_AQ_S_BAD_FIELD;
	}
	if (sqe->reserved) {
		*detail = (uint32_t)offsetof(struct tf_aq_sqe, reserved);
		return TF_AQ_S_BAD_FIELD;
	}
	nz = first_nonzero(sqe->payload, op->req_len, TF_AQ_PAYLOAD_MAX);
	if (nz >= 0) {
		*detail = PAYLOAD_OFF + (uint32_t)nz;
		return TF_AQ_S_BAD_FIELD;
	}
	if (op->check_req(sqe->payload, &bad) < 0) {
		*detail = PAYLOAD_OFF + bad;
		return TF_AQ_S_BAD_FIELD;
	}
	return TF_AQ_S_OK;
}

/* ------------------------------------------------------------ responses */

#define WHY(msg)                \
	do {                    \
		*why = (msg);   \
		return -EPROTO; \
	} while (0)

static int
money_ok(uint64_t v)
{
	return v <= TF_MONEY_MAX;
}

static int
check_tenant_info(const struct tf_aq_tenant_info *t, uint32_t want_id, const char **why)
{
	int64_t bal = (int64_t)t->balance_micro;

	if (t->tenant_id != want_id)
		WHY("tenant_info.tenant_id is not the tenant asked for");
	if (t->flags & ~(TF_TENANT_F_UNLIMITED | TF_TENANT_F_DISABLED))
		WHY("tenant_info.flags has bits other than UNLIMITED|DISABLED");
	if (!money_ok(t->budget_micro))
		WHY("tenant_info.budget_micro above 2^62");
	if (bal > (int64_t)TF_MONEY_MAX || bal < -(int64_t)TF_MONEY_MAX)
		WHY("tenant_info.balance_micro magnitude above 2^62");
	if (!money_ok(t->reserved_micro))
		WHY("tenant_info.reserved_micro above 2^62");
	if (!money_ok(t->used_micro))
		WHY("tenant_info.used_micro above 2^62");
	if (t->reserved0)
		WHY("tenant_info.reserved0 not zero");
	return 0;
}

static int
check_health_entry(const struct tf_aq_health_entry *e, const char **why)
{
	if (e->component < TF_HC_CARD || e->component > TF_HC_MAX)
		WHY("health entry: unknown component");
	if (e->component == TF_HC_CARD && e->component_id != 0)
		WHY("health entry: card component with id != 0");
	if (e->component == TF_HC_ACCEL && e->component_id == 0)
		WHY("health entry: accelerator with id 0");
	if (e->state < TF_HS_UP || e->state > TF_HS_MAX)
		WHY("health entry: unknown state");
	if (e->reason > TF_HR_MAX)
		WHY("health entry: unknown reason");
	if (e->reserved)
		WHY("health entry: reserved not zero");
	return 0;
}

int
tf_aq_resp_check(uint16_t opcode, const void *req, const void *resp, const char **why)
{
	switch (opcode) {
	case TF_AQ_IDENTIFY: {
		const struct tf_aq_identity *r = resp;

		if (TF_ABI_VERSION_MAJOR(r->abi_version) != TF_ABI_MAJOR)
			WHY("identity.abi_version has another major version");
		if (r->epoch == 0)
			WHY("identity.epoch is 0");
		if (!tf_bar_name_ok(r->serial, TF_NAME_LEN, 1))
			WHY("identity.serial is not a printable NUL-terminated name");
		if (!tf_bar_name_ok(r->fw_version_str, TF_NAME_LEN, 1))
			WHY("identity.fw_version_str is not a printable NUL-terminated name");
		return 0;
	}
	case TF_AQ_GET_HEALTH: {
		const struct tf_aq_get_health *q = req;
		const struct tf_aq_health *r = resp;

		if (r->count > TF_AQ_HEALTH_MAX)
			WHY("health.count above 20");
		if ((uint64_t)q->first + r->count > r->total)
			WHY("health: first + count above total");
		for (uint32_t i = 0; i < TF_AQ_HEALTH_MAX; i++) {
			if (i >= r->count) {
				if (!all_zero(&r->e[i], sizeof(r->e[i])))
					WHY("health: entry past count not zero");
				continue;
			}
			if (check_health_entry(&r->e[i], why) < 0)
				return -EPROTO;
		}
		return 0;
	}
	case TF_AQ_GET_STATS: {
		const struct tf_aq_get_stats *q = req;

		if (q->scope == TF_STATS_ACCEL) {
			const struct tf_aq_accel_stats *r = resp;

			if (r->accel_id != q->id)
				WHY("accel_stats.accel_id is not the accelerator asked for");
			if (r->state < TF_HS_UP || r->state > TF_HS_MAX)
				WHY("accel_stats.state unknown");
			if (r->reserved)
				WHY("accel_stats.reserved not zero");
			if (r->busy_ppm > 1000000)
				WHY("accel_stats.busy_ppm above 1000000");
		}
		return 0;
	}
	case TF_AQ_SET_TENANT:
		return check_tenant_info(resp, ((const struct tf_aq_set_tenant *)req)->tenant_id,
					 why);
	case TF_AQ_TENANT_BALANCE:
		return check_tenant_info(
			resp, ((const struct tf_aq_tenant_balance *)req)->tenant_id, why);
	case TF_AQ_GET_TENANT:
		return check_tenant_info(resp, ((const struct tf_aq_id *)req)->id, why);
	case TF_AQ_FW_ACTIVATE: {
		const struct tf_aq_fw_status *r = resp;

		if (r->running_slot > 1 || r->next_slot > 1)
			WHY("fw_status: slot not 0 or 1");
		return 0;
	}
	case TF_AQ_FW_WRITE: {
		const struct tf_aq_fw_write_status *r = resp;
		const struct tf_aq_fw_write *q = req;

		if (r->reserved)
			WHY("fw_write_status: reserved not zero");
		if (r->received > q->total_len)
			WHY("fw_write_status: received beyond the image");
		if ((q->flags & TF_FW_WRITE_F_FINAL) ? r->slot > 1 : r->slot != TF_FW_NO_SLOT)
			WHY("fw_write_status: slot not 0 or 1 after the last chunk, or set before");
		return 0;
	}
	case TF_AQ_FW_INFO: {
		const struct tf_aq_fw_info *r = resp;

		if ((r->next_slot > 1 && r->next_slot != TF_FW_NO_SLOT) ||
		    (r->active_slot > 1 && r->active_slot != TF_FW_NO_SLOT))
			WHY("fw_info: slot not 0, 1 or none");
		return 0;
	}
	default:
		return 0;
	}
}

/* GET_STATS answers by scope; every other opcode has one response size. */
static int
resp_len_for(const struct tf_aq_sqe *sent)
{
	if (sent->opcode == TF_AQ_GET_STATS) {
		const struct tf_aq_get_stats *q = (const void *)sent->payload;

		return q->scope == TF_STATS_ACCEL ? (int)sizeof(struct tf_aq_accel_stats)
						  : (int)sizeof(struct tf_aq_card_stats);
	}
	return tf_aq_resp_len(sent->opcode);
}

int
tf_aq_cqe_check(const struct tf_aq_cqe *cqe, const struct tf_aq_sqe *sent, const char **why)
{
	int want;

	if (cqe->cmd_id != sent->cmd_id)
		WHY("completion cmd_id does not match the command");
	if (cqe->opcode != sent->opcode)
		WHY("completion opcode does not match the command");
	if (!tf_aq_status_known(cqe->status))
		WHY("completion status unknown");
	want = cqe->status == TF_AQ_S_OK ? resp_len_for(sent) : 0;
	if (want < 0)
		WHY("completion for an unknown opcode");
	if (cqe->len != (uint32_t)want)
		WHY("completion len is not the response size of the opcode");
	if (first_nonzero(cqe->payload, cqe->len, TF_AQ_PAYLOAD_MAX) >= 0)
		WHY("completion payload bytes past len not zero");
	if (cqe->status == TF_AQ_S_OK)
		return tf_aq_resp_check(cqe->opcode, sent->payload, cqe->payload, why);
	return 0;
}
