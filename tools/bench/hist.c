/* SPDX-License-Identifier: BSD-3-Clause */
/* Log-bucketed histogram (hist.h). */
#include "bench/hist.h"

#include <string.h>

void
tf_hist_reset(struct tf_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned int
tf_hist_index(uint64_t v)
{
	unsigned int msb, e;

	if (v < 2 * TF_HIST_SUB)
		return (unsigned int)v;
	msb = 63u - (unsigned int)__builtin_clzll(v);
	if (msb > TF_HIST_MAX_MSB)
		return TF_HIST_BUCKETS - 1;
	e = msb - TF_HIST_SUB_BITS; /* >= 1 */
	/* v >> e is in [SUB, 2 * SUB): buckets e * SUB + [SUB, 2 * SUB) */
	return e * TF_HIST_SUB + (unsigned int)(v >> e);
}

void
tf_hist_range(unsigned int i, uint64_t *lo, uint64_t *hi)
{
	unsigned int e;
	uint64_t m;

	if (i < 2 * TF_HIST_SUB) {
		*lo = *hi = i;
		return;
	}
	e = i / TF_HIST_SUB - 1;
	m = i % TF_HIST_SUB + TF_HIST_SUB;
	*lo = m << e;
	*hi = ((m + 1) << e) - 1;
}

void
tf_hist_add_n(struct tf_hist *h, uint64_t v, uint64_t n)
{
	if (!n)
		return;
	h->b[tf_hist_index(v)] += n;
	h->count += n;
	h->sum += (double)v * (double)n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
tf_hist_add(struct tf_hist *h, uint64_t v)
{
	tf_hist_add_n(h, v, 1);
}

void
tf_hist_merge(struct tf_hist *h, const struct tf_hist *o)
{
	if (!o->count)
		return;
	for (unsigned int i = 0; i < TF_HIST_BUCKETS; i++)
		h->b[i] += o->b[i];
	h->count += o->count;
	h->sum += o->sum;
	if (o->min < h->min)
		h->min = o->min;
	if (o->max > h->max)
		h->max = o->max;
}

uint64_t
tf_hist_quantile(const struct tf_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, hi, v;

	if (!h->count)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned int i = 0; i < TF_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen < rank)
			continue;
		tf_hist_range(i, &lo, &hi);
		v = lo + (hi - lo) / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}

double
tf_hist_mean(const struct tf_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0;
}
