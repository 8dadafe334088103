/* SPDX-License-Identifier: BSD-3-Clause */
/* Seeded random numbers and length distributions (dist.h). */
#include "bench/dist.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void
tf_rng_seed(struct tf_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
tf_rng_next(struct tf_rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

double
tf_rng_unit(struct tf_rng *r)
{
	return (double)(tf_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t
tf_rng_range(struct tf_rng *r, uint64_t lo, uint64_t hi)
{
	uint64_t span = hi - lo + 1;

	if (span == 0) /* the whole 64-bit range */
		return tf_rng_next(r);
	return lo + tf_rng_next(r) % span;
}

double
tf_rng_exp(struct tf_rng *r, double mean)
{
	return -mean * log1p(-tf_rng_unit(r));
}

static int
num(const char *s, char **end, uint32_t max, uint32_t *out)
{
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno || v < 1 || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int
tf_dist_parse(const char *s, uint32_t max, struct tf_dist *d, char *err, size_t errlen)
{
	const char *p = s;
	char *end;

	memset(d, 0, sizeof(*d));
	if (!strncmp(p, "exp:", 4)) {
		d->kind = TF_DIST_EXP;
		if (num(p + 4, &end, max, &d->a))
			goto bad;
		if (*end == ',') {
			if (num(end + 1, &end, max, &d->b) || d->b < d->a)
				goto bad;
		}
		if (*end)
			goto bad;
		return 0;
	}
	if (!strncmp(p, "uniform:", 8))
		p += 8;
	if (num(p, &end, max, &d->a))
		goto bad;
	if (*end == '\0' && p == s) {
		d->kind = TF_DIST_FIXED;
		return 0;
	}
	if (*end != '-' || num(end + 1, &end, max, &d->b) || *end || d->b < d->a)
		goto bad;
	d->kind = TF_DIST_UNIFORM;
	return 0;
bad:
	snprintf(err, errlen,
		 "'%s' is not a length distribution: use N, A-B (uniform), uniform:A-B, "
		 "exp:MEAN or exp:MEAN,MAX, with integers from 1 to %u (and A <= B, MEAN <= MAX)",
		 s, max);
	return -EINVAL;
}

uint32_t
tf_dist_sample(const struct tf_dist *d, struct tf_rng *r)
{
	double v;

	switch (d->kind) {
	case TF_DIST_UNIFORM:
		return (uint32_t)tf_rng_range(r, d->a, d->b);
	case TF_DIST_EXP:
		v = floor(tf_rng_exp(r, d->a) + 0.5);
		if (v < 1)
			v = 1;
		if (d->b && v > d->b)
			v = d->b;
		if (v > 4294967295.0)
			v = 4294967295.0;
		return (uint32_t)v;
	case TF_DIST_FIXED:
	default:
		return d->a;
	}
}

uint32_t
tf_dist_max(const struct tf_dist *d, uint32_t cap)
{
	switch (d->kind) {
	case TF_DIST_UNIFORM:
		return d->b;
	case TF_DIST_EXP:
		return d->b ? d->b : cap;
	case TF_DIST_FIXED:
	default:
		return d->a;
	}
}

void
tf_dist_format(const struct tf_dist *d, char *buf, size_t len)
{
	switch (d->kind) {
	case TF_DIST_UNIFORM:
		snprintf(buf, len, "uniform:%u-%u", d->a, d->b);
		break;
	case TF_DIST_EXP:
		if (d->b)
			snprintf(buf, len, "exp:%u,%u", d->a, d->b);
		else
			snprintf(buf, len, "exp:%u", d->a);
		break;
	case TF_DIST_FIXED:
	default:
		snprintf(buf, len, "%u", d->a);
	}
}
