/* SPDX-License-Identifier: BSD-3-Clause */
/* Configuration reload (SIGHUP, POST /v1/config/reload): a bad file never replaces a good one. */
#include "common/log.h"
#include "tokfabd/daemon.h"

#include <string.h>

int
tfd_reload(struct tfd *d, char *err, size_t len)
{
	struct tfd_config *cfg, *old;
	int rc;

	rc = tfd_config_load(d->cfg_path, &cfg, err, len);
	if (rc < 0) {
		tf_log_warnx("reload refused, keeping the running configuration: %s", err);
		return rc;
	}
	pthread_rwlock_wrlock(&d->cfg_lock);
	old = d->cfg;
	if (strcmp(old->listen_addr, cfg->listen_addr) || old->listen_port != cfg->listen_port ||
	    strcmp(old->tls_cert, cfg->tls_cert) || strcmp(old->ledger_path, cfg->ledger_path) ||
	    strcmp(old->card_access, cfg->card_access))
		tf_log_warnx("reload: api.listen, api.tls_*, ledger.path and card.access take "
			     "effect at the next restart");
	d->cfg = cfg;
	d->cfg_generation++;
	pthread_rwlock_unlock(&d->cfg_lock);
	tf_log_set_level((enum tf_log_level)cfg->log_level);
	tfd_config_free(old);
	__atomic_store_n(&d->push_requested, 1, __ATOMIC_RELEASE);
	tfd_card_wake(d); /* pushed now, not at the card thread's next tick */
	tf_log_info("configuration reloaded from %s: %u tenants, %u models, %u accelerators",
		    d->cfg_path, cfg->n_tenants, cfg->n_models, cfg->n_accels);
	return 0;
}
