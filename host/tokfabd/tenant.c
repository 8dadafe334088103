/* SPDX-License-Identifier: BSD-3-Clause */
/* Tenant operations behind PUT /v1/tenants/{id}: top-up, period reset, budget, key rotation. */
#include "card/check.h"
#include "common/log.h"
#include "tokfabd/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void
meta_key(char *buf, size_t len, uint32_t tenant, const char *what)
{
	snprintf(buf, len, "tenant.%u.%s", tenant, what);
}

uint64_t
tfd_tenant_budget(struct tfd_ledger *l, const struct tfd_tenant *t)
{
	char key[64], val[32];

	meta_key(key, sizeof(key), t->id, "budget_micro");
	if (tfd_ledger_meta_get(l, key, val, sizeof(val)) == 0)
		return strtoull(val, NULL, 10);
	return t->budget_micro;
}

uint8_t
tfd_tenant_key_id(struct tfd_ledger *l, const struct tfd_tenant *t)
{
	char key[64], val[32];

	meta_key(key, sizeof(key), t->id, "key_id");
	if (tfd_ledger_meta_get(l, key, val, sizeof(val)) == 0)
		return (uint8_t)strtoul(val, NULL, 10);
	return t->key_id;
}

/* Looks the tenant up; returns a copy (the config may be swapped meanwhile). */
static int
find(struct tfd *d, uint32_t id, struct tfd_tenant *out, char *err, size_t len)
{
	const struct tfd_tenant *t;
	int rc = 0;

	pthread_rwlock_rdlock(&d->cfg_lock);
	t = tfd_config_tenant(d->cfg, id);
	if (t)
		*out = *t;
	else
		rc = -ENOENT;
	pthread_rwlock_unlock(&d->cfg_lock);
	if (rc)
		snprintf(err, len, "no tenant with id %u in the configuration", id);
	return rc;
}

static int
balance_op(struct tfd *d, uint32_t id, uint32_t op, uint64_t amount, const char *logop, char *err,
	   size_t len)
{
	struct tf_aq_tenant_balance b = { .tenant_id = id, .op = op, .amount = amount };
	struct tf_aq_tenant_info info;
	struct tfd_tenant t;
	uint16_t st = 0;
	uint32_t detail = 0;
	int rc;

	rc = find(d, id, &t, err, len);
	if (rc)
		return rc;
	rc = tfd_card_cmd(d, TF_AQ_TENANT_BALANCE, &b, &info, sizeof(info), &st, &detail);
	if (rc < 0) {
		snprintf(err, len, "card: %s", tf_card_strerror(rc));
		explicit_bzero(&t, sizeof(t));
		return rc == -ENOTCONN ? -ENOTCONN : -EIO;
	}
	explicit_bzero(&t, sizeof(t));
	if (st != TF_AQ_S_OK) {
		snprintf(err, len, "card answered %s: %s", tf_aq_status_name(st),
			 tf_aq_status_help(st));
		return -EREMOTEIO;
	}
	pthread_mutex_lock(&d->api_ledger_lock);
	rc = tfd_ledger_balance_log(d->api_ledger, id, logop, (int64_t)amount, tfd_now_ns());
	pthread_mutex_unlock(&d->api_ledger_lock);
	tfd_live_changed(d); /* the ledger's top-ups moved: ask again */
	if (rc)
		tf_log_warnx("tenant %u: %s applied on the card but not logged in the ledger", id,
			     logop);
	tf_log_info("tenant %u: %s %llu micro-units", id, logop, (unsigned long long)amount);
	return 0;
}

int
tfd_tenant_topup(struct tfd *d, uint32_t id, uint64_t amount_micro, char *err, size_t len)
{
	return balance_op(d, id, TF_BALANCE_ADD, amount_micro, "add", err, len);
}

int
tfd_tenant_reset_period(struct tfd *d, uint32_t id, char *err, size_t len)
{
	return balance_op(d, id, TF_BALANCE_RESET_PERIOD, 0, "reset", err, len);
}

/* Pushes the tenant as configured now (under the API's ledger connection). */
static int
repush(struct tfd *d, uint32_t id, char *err, size_t len)
{
	const struct tfd_tenant *t;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&d->cfg_lock);
	pthread_mutex_lock(&d->api_ledger_lock);
	t = tfd_config_tenant(d->cfg, id);
	if (t)
		rc = tfd_card_push_tenant(d, d->api_ledger, d->cfg, t, 0, err, len);
	pthread_mutex_unlock(&d->api_ledger_lock);
	pthread_rwlock_unlock(&d->cfg_lock);
	return rc;
}

int
tfd_tenant_set_budget(struct tfd *d, uint32_t id, uint64_t budget_micro, char *err, size_t len)
{
	struct tfd_tenant t;
	char key[64], val[32];
	int rc;

	rc = find(d, id, &t, err, len);
	explicit_bzero(&t, sizeof(t));
	if (rc)
		return rc;
	meta_key(key, sizeof(key), id, "budget_micro");
	snprintf(val, sizeof(val), "%llu", (unsigned long long)budget_micro);
	pthread_mutex_lock(&d->api_ledger_lock);
	rc = tfd_ledger_meta_set(d->api_ledger, key, val);
	pthread_mutex_unlock(&d->api_ledger_lock);
	if (rc) {
		snprintf(err, len, "ledger: cannot store the budget");
		return -EIO;
	}
	tf_log_info("tenant %u: budget set to %llu micro-units per period", id,
		    (unsigned long long)budget_micro);
	rc = repush(d, id, err, len);
	return rc == -ENOTCONN ? 0 : rc; /* pushed when the card comes back */
}

/* Writes the key file atomically (0600): the new key survives a restart. */
static int
write_key_file(const char *path, const char *hex)
{
	char tmp[PATH_MAX + 8];
	int fd, rc = 0;
	size_t n = strlen(hex);

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, hex, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) < 0)
		rc = -errno ? -errno : -EIO;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int
tfd_tenant_rotate_key(struct tfd *d, uint32_t id, char *new_key_hex, size_t hexlen,
		      uint8_t *new_key_id, char *err, size_t len)
{
	uint8_t key[32];
	char old_hex[2 * TF_KEY_MAX + 1], mk[64], val[32];
	struct tfd_tenant t;
	uint64_t grace_s;
	uint8_t old_id;
	int rc;

	if (hexlen < 2 * sizeof(key) + 1)
		return -EINVAL;
	rc = find(d, id, &t, err, len);
	if (rc)
		return rc;
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
		snprintf(err, len, "no randomness for a new key");
		rc = -EIO;
		goto out;
	}
	for (size_t i = 0; i < sizeof(key); i++)
		snprintf(new_key_hex + 2 * i, 3, "%02x", key[i]);
	for (size_t i = 0; i < t.key_len; i++)
		snprintf(old_hex + 2 * i, 3, "%02x", t.key[i]);
	pthread_mutex_lock(&d->api_ledger_lock);
	old_id = tfd_tenant_key_id(d->api_ledger, &t);
	pthread_mutex_unlock(&d->api_ledger_lock);
	*new_key_id = (uint8_t)(old_id + 1);
	rc = write_key_file(t.key_file, new_key_hex);
	if (rc) {
		snprintf(err, len, "cannot write the key file %s: %s", t.key_file, strerror(-rc));
		goto out;
	}
	pthread_rwlock_rdlock(&d->cfg_lock);
	grace_s = d->cfg->key_grace_s;
	pthread_rwlock_unlock(&d->cfg_lock);
	pthread_mutex_lock(&d->api_ledger_lock);
	meta_key(mk, sizeof(mk), id, "key_id");
	snprintf(val, sizeof(val), "%u", *new_key_id);
	rc = tfd_ledger_meta_set(d->api_ledger, mk, val);
	meta_key(mk, sizeof(mk), id, "prev_key");
	rc = rc ?: tfd_ledger_meta_set(d->api_ledger, mk, old_hex);
	meta_key(mk, sizeof(mk), id, "prev_key_until");
	snprintf(val, sizeof(val), "%llu",
		 (unsigned long long)(tfd_now_ns() + grace_s * 1000000000ull));
	rc = rc ?: tfd_ledger_meta_set(d->api_ledger, mk, val);
	pthread_mutex_unlock(&d->api_ledger_lock);
	if (rc) {
		snprintf(err, len, "ledger: cannot store the key rotation");
		goto out;
	}
	/* The configuration holds the key in memory: reload it from the new file. */
	rc = tfd_reload(d, err, len);
	if (rc)
		goto out;
	tf_log_info("tenant %u: key rotated to key_id %u; the old key is accepted for %llu s", id,
		    *new_key_id, (unsigned long long)grace_s);
	rc = repush(d, id, err, len);
	if (rc == -ENOTCONN)
		rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	explicit_bzero(old_hex, sizeof(old_hex));
	explicit_bzero(&t, sizeof(t));
	return rc;
}
