/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-dp's configuration file (YAML, libyaml). hwdocs/dataplane.md
 * ("Configuration") documents every key. Tenants, models, accelerators and
 * batching become the admin queue's own command structures, so the file and
 * the host (tokfabd, through the BAR) configure the card through one path.
 *
 * Errors name the file, the line and the key: "dp.yaml:12: tenants[1].key_file:
 * cannot read 'k.hex': No such file or directory".
 */
#ifndef TF_DP_CONFIG_H
#define TF_DP_CONFIG_H

#include <stdint.h>

#include "dataplane/worker.h"
#include "tokfab/bar.h"

struct tf_dp_config {
	/* card */
	uint32_t ipv4; /* network order */
	uint16_t udp_port; /* host order */
	char serial[TF_NAME_LEN];
	uint32_t stats_interval_s; /* 0 = no periodic stats line */
	uint32_t idle_sleep_us; /* sleep when a loop found no work (0 = busy-poll) */
	uint32_t mbufs; /* packet buffers in the pool */
	uint32_t drain_timeout_s;
	uint32_t host_wait_s; /* with a BAR: answer BUSY for unknown tenants this long at most */
	uint32_t host_settle_ms; /* ... until the host has been quiet this long (and retry-after) */
	uint8_t udp_checksum; /* verify received and fill sent UDP checksums */
	struct tf_dp_limits limits;
	/* what the admin queue could also set */
	struct tf_aq_set_batching batching;
	uint32_t ntenants, nmodels, naccels;
	struct tf_aq_set_tenant *tenants;
	struct tf_aq_set_model *models;
	struct tf_aq_set_accel *accels;
};

/*
 * Parses path into cfg (zeroed first). 0, or -EINVAL/-ENOENT/-ENOMEM with
 * the message in err ("file:line: key: what is wrong").
 */
int tf_dp_config_load(const char *path, struct tf_dp_config *cfg, char *err, size_t errlen);
void tf_dp_config_free(struct tf_dp_config *cfg);

#endif /* TF_DP_CONFIG_H */
