/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfabd's configuration: one YAML file (libyaml), every key documented in
 * host/README.md and host/tokfabd.example.yaml. Errors name the file, the line
 * and the key ("tokfabd.yaml:12: tenants[1].budget: ..."). A loaded config is
 * immutable; a reload builds a new one and swaps it only when it is valid.
 */
#ifndef TFD_CONFIG_H
#define TFD_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "tokfab/bar.h"

enum tfd_period {
	TFD_PERIOD_HOUR = 1,
	TFD_PERIOD_DAY = 2,
	TFD_PERIOD_WEEK = 3, /* weeks start on Monday 00:00 UTC */
	TFD_PERIOD_MONTH = 4, /* months start on the 1st 00:00 UTC */
};

struct tfd_model {
	uint32_t id;
	char name[TF_NAME_LEN];
	uint32_t max_prompt_tokens;
	uint32_t max_new_tokens;
};

struct tfd_accel {
	uint32_t id;
	uint16_t transport; /* enum tf_transport */
	char address[TF_ADDR_LEN];
	uint64_t cost_per_hour_micro;
	uint32_t weight;
	uint32_t max_outstanding;
	uint32_t n_models;
	uint32_t models[TF_MAX_ACCEL_MODELS];
};

struct tfd_price {
	uint32_t model_id;
	uint64_t price_per_1k_micro;
};

struct tfd_tenant {
	uint32_t id;
	char name[TF_NAME_LEN];
	char key_file[PATH_MAX]; /* resolved against the config file's directory */
	uint8_t key[TF_KEY_MAX];
	uint16_t key_len;
	uint8_t key_id;
	int unlimited;
	int disabled;
	uint64_t budget_micro; /* per period */
	enum tfd_period period;
	uint32_t rate_rps, burst_requests, rate_tps, burst_tokens;
	uint32_t priority;
	uint32_t max_inflight;
	uint16_t mac_algs; /* TF_TENANT_MAC_* bits; 0 = HMAC-SHA256 only */
	uint32_t n_prices;
	struct tfd_price prices[TF_MAX_PRICES];
};

struct tfd_config {
	char path[PATH_MAX];
	/* card */
	char card_access[PATH_MAX]; /* "auto", "shm:/dev/shm/tokfab0", "kmod:/dev/tokfab0" */
	uint32_t watchdog_periods; /* heartbeat periods of silence before "down" */
	uint32_t admin_timeout_ms;
	uint32_t key_grace_s; /* old key accepted this long after a rotation */
	/* ledger */
	char ledger_path[PATH_MAX];
	int ledger_sync_full; /* synchronous=FULL (default) or NORMAL */
	uint32_t ledger_batch_max; /* group commit: at most this many events per transaction */
	uint32_t ledger_commit_interval_ms; /* ... or this long after the first; 0 = at once */
	/*
	 * ledger.records: TF_USAGE_MODE_REQUEST (a row per request, the default) or
	 * TF_USAGE_MODE_AGGREGATE (the card sums per tenant, model, accelerator and
	 * outcome every ledger_aggregate_ms; pushed with SET_USAGE_MODE).
	 */
	uint32_t ledger_records;
	uint32_t ledger_aggregate_ms; /* 1..60000, divides 60000 */
	uint32_t retention_days; /* raw usage records; 0 = forever */
	/* api */
	char listen_addr[64];
	uint16_t listen_port;
	char token_file[PATH_MAX];
	char api_token[129];
	char tls_cert[PATH_MAX]; /* both set: HTTPS */
	char tls_key[PATH_MAX];
	/* log */
	int log_level; /* enum tf_log_level */
	int log_syslog;
	/* card configuration */
	int has_batching;
	struct tf_aq_set_batching batching;
	uint32_t n_models, n_accels, n_tenants;
	struct tfd_model *models;
	struct tfd_accel *accels;
	struct tfd_tenant *tenants;
};

/*
 * Loads and checks path. 0, or -EINVAL / -ENOENT / -ENOMEM with err set to one
 * line "file:line: key: what is wrong (what to do)".
 */
int tfd_config_load(const char *path, struct tfd_config **cfgp, char *err, size_t errlen);
void tfd_config_free(struct tfd_config *cfg);

const struct tfd_tenant *tfd_config_tenant(const struct tfd_config *cfg, uint32_t id);
const struct tfd_model *tfd_config_model(const struct tfd_config *cfg, uint32_t id);
const struct tfd_accel *tfd_config_accel(const struct tfd_config *cfg, uint32_t id);
const char *tfd_period_name(enum tfd_period p);

/*
 * "12.50" / "12" / 12.5 (YAML scalar text) -> micro-units, exactly (no
 * floating point). 0 or -EINVAL (not a number, > 6 decimals, negative, or
 * above max_micro).
 */
int tfd_money_parse(const char *s, uint64_t max_micro, uint64_t *micro);
/* micro-units -> "12.500000" trimmed to at least 2 decimals ("12.50"). */
void tfd_money_format(int64_t micro, char *buf, size_t len);

/* Hex text (whitespace/newline around it allowed) -> bytes; -EINVAL if not hex. */
int tfd_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len);

#endif /* TFD_CONFIG_H */
