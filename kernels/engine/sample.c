/* SPDX-License-Identifier: BSD-3-Clause */
#include "sample.h"

#include <math.h>
#include <string.h>

/* The order tokens are ranked in: higher probability first, then lower id.
 * A total order, so the nucleus below is one well-defined set. */
static int
ranks_before(const struct tf_prob_index *x, const struct tf_prob_index *y)
{
	return x->p != y->p ? x->p > y->p : x->i < y->i;
}

static void
swap(struct tf_prob_index *a, struct tf_prob_index *b)
{
	struct tf_prob_index t = *a;

	*a = *b;
	*b = t;
}

/*
 * Moves the nucleus (the fewest top-ranked entries whose mass exceeds top_p)
 * to the front of s[0..m) and returns its size: a quickselect on mass,
 * linear on average, instead of sorting every candidate. top_p may be what
 * is left of it after higher-ranked entries taken elsewhere.
 */
static uint32_t
nucleus(struct tf_prob_index *s, uint32_t m, float top_p)
{
	uint32_t lo = 0, hi = m;
	float need = top_p;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2, store = lo;
		float front = 0.0f;

		swap(&s[mid], &s[hi - 1]); /* pivot to the end */
		for (uint32_t i = lo; i + 1 < hi; i++) {
			if (ranks_before(&s[i], &s[hi - 1])) {
				front += s[i].p;
				swap(&s[i], &s[store++]);
			}
		}
		swap(&s[store], &s[hi - 1]); /* pivot after everything ranked above it */
		if (front > need)
			hi = store; /* the cut lies among the entries ranked above the pivot */
		else if (front + s[store].p > need)
			return store + 1; /* the pivot is the last entry of the nucleus */
		else {
			need -= front + s[store].p;
			lo = store + 1;
		}
	}
	return m; /* rounding: everything together does not exceed top_p */
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

#define NBUCKET 2048u /* probabilities by their top bits: exponent, 4 mantissa bits */

/* Monotone in p for p in [0, 1] (positive floats order as their bits). */
static uint32_t
bucket(float p)
{
	uint32_t u;

	memcpy(&u, &p, sizeof(u));
	return u >> 19;
}

/*
 * A draw inside the nucleus. Probabilities are first summed by bucket (two
 * interleaved histograms, so runs of one bucket do not chain through
 * memory); walking the buckets down from the top finds the one where the
 * mass passes top_p. Everything above it is in the nucleus; the quickselect
 * only ranks that bucket's entries. Two linear passes, whatever the shape
 * of the distribution.
 */
static int32_t
sample_top_p(const float *p, uint32_t n, float top_p, float coin, int32_t top,
	     struct tf_prob_index *s)
{
	float h0[NBUCKET] = { 0 }, h1[NBUCKET] = { 0 }, cum = 0.0f, r;
	uint32_t cut = NBUCKET, m = 0, nb = 0, k, i = 0;

	for (; i + 2 <= n; i += 2) {
		h0[bucket(p[i])] += p[i];
		h1[bucket(p[i + 1])] += p[i + 1];
	}
	if (i < n)
		h0[bucket(p[i])] += p[i];
	while (cut > 0 && cum + (h0[cut - 1] + h1[cut - 1]) <= top_p) {
		cum += h0[cut - 1] + h1[cut - 1];
		cut--;
	}
	if (cut == 0) /* rounding: everything together does not exceed top_p */
		cut = 1, cum = 0.0f; /* then the whole of bucket 0 ranks too */
	cut--;
	/* entries above the cut bucket from the front, the cut bucket's from the back */
	for (i = 0; i < n; i++) {
		uint32_t b = bucket(p[i]);

		if (b > cut)
			s[m].p = p[i], s[m].i = (int32_t)i, m++;
		else if (b == cut)
			nb++, s[n - nb].p = p[i], s[n - nb].i = (int32_t)i;
	}
	memmove(s + m, s + n - nb, nb * sizeof(*s));
	k = m + nucleus(s + m, nb, top_p - cum);
	if (k == 0) /* nothing finite above zero: the most likely */
		return top;
	cum = 0.0f;
	for (i = 0; i < k; i++)
		cum += s[i].p;
	r = coin * cum;
	cum = 0.0f;
	for (i = 0; i < k; i++) {
		cum += s[i].p;
		if (r < cum)
			return s[i].i;
	}
	return s[k - 1].i;
}

int32_t
tf_sample(float *logits, uint32_t n, float temperature, float top_p, uint64_t *rng,
	  struct tf_prob_index *scratch, int32_t top, void (*softmax)(float *x, uint32_t n))
{
	float max, inv, coin;

	if (top < 0 || temperature <= 0.0f)
		return top;
	/* The draw is taken first so every path consumes the RNG alike. */
	coin = tf_rng_f32(rng);
	max = logits[top];
	inv = 1.0f / temperature;
	for (uint32_t i = 0; i < n; i++)
		logits[i] = (logits[i] - max) * inv;
	softmax(logits, n);
	if (top_p > 0.0f && top_p < 1.0f)
		return sample_top_p(logits, n, top_p, coin, top, scratch);
	return sample_all(logits, n, coin);
}
