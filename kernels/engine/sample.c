/* SPDX-License-Identifier: BSD-3-Clause */
#include "sample.h"

#include <math.h>
#include <stdlib.h>

static int32_t
argmax(const float *x, uint32_t n)
{
	int32_t best = 0;

	for (uint32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = (int32_t)i;
	return best;
}

/* Descending probability, then ascending id: a total order, so the result
 * never depends on the sort algorithm. */
static int
cmp_desc(const void *a, const void *b)
{
	const struct tf_prob_index *x = a, *y = b;

	if (x->p != y->p)
		return x->p > y->p ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int32_t
sample_all(const float *p, uint32_t n, float coin)
{
	float cdf = 0.0f;

	for (uint32_t i = 0; i < n; i++) {
		cdf += p[i];
		if (coin < cdf)
			return (int32_t)i;
	}
	return (int32_t)n - 1; /* rounding left the sum just under coin */
}

/* Smallest set of most likely tokens whose mass exceeds top_p, then a draw
 * inside it. Tokens under (1 - top_p) / (n - 1) cannot be in that set, so
 * they are dropped before sorting. */
static int32_t
sample_top_p(const float *p, uint32_t n, float top_p, float coin, struct tf_prob_index *s)
{
	float cutoff = (1.0f - top_p) / (float)(n > 1 ? n - 1 : 1), cum = 0.0f, r;
	uint32_t m = 0, last;

	for (uint32_t i = 0; i < n; i++)
		if (p[i] >= cutoff)
			s[m].p = p[i], s[m].i = (int32_t)i, m++;
	if (m == 0)
		return argmax(p, n);
	qsort(s, m, sizeof(*s), cmp_desc);
	last = m - 1;
	for (uint32_t i = 0; i < m; i++) {
		cum += s[i].p;
		if (cum > top_p) {
			last = i;
			break;
		}
	}
	r = coin * cum;
	cum = 0.0f;
	for (uint32_t i = 0; i <= last; i++) {
		cum += s[i].p;
		if (r < cum)
			return s[i].i;
	}
	return s[last].i;
}

int32_t
tf_sample(float *logits, uint32_t n, float temperature, float top_p, uint64_t *rng,
	  struct tf_prob_index *scratch)
{
	float max, sum = 0.0f, coin;

	for (uint32_t i = 0; i < n; i++)
		if (!isfinite(logits[i]))
			return -1;
	if (temperature <= 0.0f)
		return argmax(logits, n);
	/* The draw is taken first so every path consumes the RNG alike. */
	coin = tf_rng_f32(rng);
	max = logits[argmax(logits, n)];
	for (uint32_t i = 0; i < n; i++) {
		logits[i] = expf((logits[i] - max) / temperature);
		sum += logits[i];
	}
	for (uint32_t i = 0; i < n; i++)
		logits[i] /= sum;
	if (top_p > 0.0f && top_p < 1.0f)
		return sample_top_p(logits, n, top_p, coin, scratch);
	return sample_all(logits, n, coin);
}
