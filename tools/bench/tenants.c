/* SPDX-License-Identifier: BSD-3-Clause */
/* Tenant ranges on the command line (tenants.h). */
#include "bench/tenants.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
tf_tenant_spec_parse(const char *s, struct tf_tenant_spec *sp, char *err, size_t errlen)
{
	const char *colon = strchr(s, ':'), *pct;
	char ids[64], *dash, *end;
	unsigned long long a, b;
	size_t len;

	memset(sp, 0, sizeof(*sp));
	if (!colon || colon == s || !colon[1]) {
		snprintf(err, errlen, "expected ID:KEYFILE or FIRST-LAST:KEYFILE");
		return -EINVAL;
	}
	len = (size_t)(colon - s);
	if (len >= sizeof(ids)) {
		snprintf(err, errlen, "tenant ids too long");
		return -EINVAL;
	}
	memcpy(ids, s, len);
	ids[len] = '\0';
	dash = strchr(ids, '-');
	if (dash)
		*dash = '\0';
	errno = 0;
	a = strtoull(ids, &end, 10);
	if (errno || *end || !ids[0] || ids[0] == '-' || ids[0] == '+' || a < 1 || a > UINT32_MAX) {
		snprintf(err, errlen, "tenant ids are integers from 1 to 4294967295");
		return -EINVAL;
	}
	b = a;
	if (dash) {
		errno = 0;
		b = strtoull(dash + 1, &end, 10);
		if (errno || *end || !dash[1] || dash[1] == '-' || dash[1] == '+' || b < a ||
		    b > UINT32_MAX) {
			snprintf(err, errlen, "a range is FIRST-LAST with FIRST <= LAST");
			return -EINVAL;
		}
	}
	if (strlen(colon + 1) >= sizeof(sp->key_path)) {
		snprintf(err, errlen, "key file path too long");
		return -EINVAL;
	}
	pct = strchr(colon + 1, '%');
	if (pct && (pct[1] != 'u' || strchr(pct + 1, '%'))) {
		snprintf(err, errlen, "the only '%%' allowed in KEYFILE is one '%%u'");
		return -EINVAL;
	}
	snprintf(sp->key_path, sizeof(sp->key_path), "%s", colon + 1);
	sp->first = (uint32_t)a;
	sp->last = (uint32_t)b;
	return 0;
}

bool
tf_tenant_spec_per_tenant(const struct tf_tenant_spec *sp)
{
	return strstr(sp->key_path, "%u") != NULL;
}

void
tf_tenant_spec_key_path(const struct tf_tenant_spec *sp, uint32_t id, char *buf, size_t len)
{
	const char *p = strstr(sp->key_path, "%u");

	if (!p) {
		snprintf(buf, len, "%s", sp->key_path);
		return;
	}
	snprintf(buf, len, "%.*s%u%s", (int)(p - sp->key_path), sp->key_path, id, p + 2);
}
