/* SPDX-License-Identifier: BSD-3-Clause */
/* GET /metrics (Prometheus text format 0.0.4) and names used in API output. */
#ifndef TFD_METRICS_H
#define TFD_METRICS_H

#include <stddef.h>

#include "tokfabd/buf.h"
#include "tokfabd/daemon.h"

int tfd_metrics_render(struct tfd *d, struct tfd_buf *b);
const char *tfd_outcome_name(int outcome);
void tfd_name_tenant(const struct tfd_config *cfg, uint32_t id, char *buf, size_t len);
void tfd_name_model(const struct tfd_config *cfg, uint32_t id, char *buf, size_t len);

#endif /* TFD_METRICS_H */
