/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tenant ranges on a command line, shared by tokfab-bench and tokfab-baseline:
 * "ID:KEYFILE" or "FIRST-LAST:KEYFILE"; a "%u" in KEYFILE stands for the
 * tenant id (one key file per tenant), otherwise every tenant of the range
 * uses the same key.
 */
#ifndef TF_BENCH_TENANTS_H
#define TF_BENCH_TENANTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_tenant_spec {
	uint32_t first, last;
	char key_path[PATH_MAX];
};

/* 0, or -EINVAL with a sentence in err (what was wrong, the accepted form). */
int tf_tenant_spec_parse(const char *s, struct tf_tenant_spec *sp, char *err, size_t errlen);
/* True when every tenant of the range has its own key file. */
bool tf_tenant_spec_per_tenant(const struct tf_tenant_spec *sp);
/* The key file of tenant id (id within the range). */
void tf_tenant_spec_key_path(const struct tf_tenant_spec *sp, uint32_t id, char *buf, size_t len);

#endif /* TF_BENCH_TENANTS_H */
