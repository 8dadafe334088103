/* SPDX-License-Identifier: BSD-3-Clause */
/* Names of tokfab-dp's counters, and summing the per-lcore copies. */
#include "dataplane/counters.h"

#include <ctype.h>
#include <string.h>

#define TF_DP_STR_DROP(n, d) #n,
#define TF_DP_STR_EV(n, d) #n,
#define TF_DP_DESC(n, d) d,
static const char *const drop_upper[TF_DROP_MAX] = { TF_DP_DROP_LIST(TF_DP_STR_DROP) };
static const char *const ev_upper[TF_EV_MAX] = { TF_DP_EV_LIST(TF_DP_STR_EV) };
static const char *const drop_desc[TF_DROP_MAX] = { TF_DP_DROP_LIST(TF_DP_DESC) };
static const char *const ev_desc[TF_EV_MAX] = { TF_DP_EV_LIST(TF_DP_DESC) };

#define NAME_MAX_LEN 32
static char drop_lower[TF_DROP_MAX][NAME_MAX_LEN];
static char ev_lower[TF_EV_MAX][NAME_MAX_LEN];

static void
lower(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i < NAME_MAX_LEN - 1; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

/* Built once before main() so readers on any thread see finished strings. */
__attribute__((constructor)) static void
names_init(void)
{
	for (int i = 0; i < TF_DROP_MAX; i++)
		lower(drop_lower[i], drop_upper[i]);
	for (int i = 0; i < TF_EV_MAX; i++)
		lower(ev_lower[i], ev_upper[i]);
}

const char *
tf_dp_drop_name(enum tf_dp_drop d)
{
	return (d >= 0 && d < TF_DROP_MAX) ? drop_lower[d] : "none";
}

const char *
tf_dp_drop_desc(enum tf_dp_drop d)
{
	return (d >= 0 && d < TF_DROP_MAX) ? drop_desc[d] : "";
}

const char *
tf_dp_ev_name(enum tf_dp_ev e)
{
	return (e >= 0 && e < TF_EV_MAX) ? ev_lower[e] : "none";
}

const char *
tf_dp_ev_desc(enum tf_dp_ev e)
{
	return (e >= 0 && e < TF_EV_MAX) ? ev_desc[e] : "";
}

void
tf_dp_counters_sum(struct tf_dp_counters *out, const struct tf_dp_counters *const *in,
		   unsigned int n)
{
	memset(out, 0, sizeof(*out));
	for (unsigned int k = 0; k < n; k++) {
		for (int i = 0; i < TF_DROP_MAX; i++)
			out->drop[i] += in[k]->drop[i];
		for (int i = 0; i < TF_EV_MAX; i++)
			out->ev[i] += in[k]->ev[i];
		for (int i = 0; i < TF_PROTO_R_COUNT; i++)
			out->proto[i] += in[k]->proto[i];
	}
}
