/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Token sampling: greedy, temperature, nucleus (top-p), from a per-sequence
 * RNG state seeded by the request, so a seed always gives the same tokens.
 */
#ifndef TF_ENGINE_SAMPLE_H
#define TF_ENGINE_SAMPLE_H

#include <stdint.h>

struct tf_prob_index {
	float p;
	int32_t i;
};

/* splitmix64: any seed (0 included) gives a full-period stream. */
static inline uint64_t
tf_rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 random bits. */
static inline float
tf_rng_f32(uint64_t *s)
{
	return (float)(tf_rng_next(s) >> 40) * (1.0f / 16777216.0f);
}

/*
 * Picks a token from logits[0..n) (overwritten with probabilities when
 * temperature > 0). top is the index of the largest logit, -1 when any is not
 * finite (the kernel variant's argmax, kern.h); softmax is the variant's.
 * scratch holds n entries. Returns the id, or -1 when the logits are not
 * finite.
 */
int32_t tf_sample(float *logits, uint32_t n, float temperature, float top_p, uint64_t *rng,
		  struct tf_prob_index *scratch, int32_t top,
		  void (*softmax)(float *x, uint32_t n));

#endif /* TF_ENGINE_SAMPLE_H */
