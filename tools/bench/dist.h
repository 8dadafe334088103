/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Random numbers for tokfab-bench: a seeded generator (xoshiro256**), integer
 * length distributions parsed from the command line, exponential
 * inter-arrival times for open-loop (Poisson) load.
 *
 *   "32"            always 32
 *   "16-64"         uniform integers in [16, 64]
 *   "uniform:16-64" the same
 *   "exp:40"        exponential with mean 40, rounded, at least 1
 *   "exp:40,200"    ... and at most 200
 */
#ifndef TF_BENCH_DIST_H
#define TF_BENCH_DIST_H

#include <stddef.h>
#include <stdint.h>

struct tf_rng {
	uint64_t s[4];
};

void tf_rng_seed(struct tf_rng *r, uint64_t seed);
uint64_t tf_rng_next(struct tf_rng *r);
/* Uniform in [0, 1). */
double tf_rng_unit(struct tf_rng *r);
/* Uniform integer in [lo, hi]. */
uint64_t tf_rng_range(struct tf_rng *r, uint64_t lo, uint64_t hi);
/* Exponential with the given mean. */
double tf_rng_exp(struct tf_rng *r, double mean);

enum tf_dist_kind {
	TF_DIST_FIXED = 1,
	TF_DIST_UNIFORM = 2,
	TF_DIST_EXP = 3,
};

struct tf_dist {
	enum tf_dist_kind kind;
	uint32_t a, b; /* FIXED: a; UNIFORM: [a, b]; EXP: mean a, max b (0: none) */
};

/*
 * Parses s into d; values must lie in [1, max]. 0, or -EINVAL with one
 * sentence in err saying what was wrong and the accepted forms.
 */
int tf_dist_parse(const char *s, uint32_t max, struct tf_dist *d, char *err, size_t errlen);
uint32_t tf_dist_sample(const struct tf_dist *d, struct tf_rng *r);
/* Largest value the distribution can give. */
uint32_t tf_dist_max(const struct tf_dist *d, uint32_t cap);
/* "exp:40,200" etc. */
void tf_dist_format(const struct tf_dist *d, char *buf, size_t len);

#endif /* TF_BENCH_DIST_H */
