/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log-bucketed latency histogram (HDR-style): values below 64 have a bucket
 * each; above, every power of two is split into 32 buckets, so a bucket's
 * width is at most 1/32 of its lower bound and a percentile read from it is
 * within 1.6 % of the true value (the midpoint is reported). Values are
 * unsigned integers (tokfab-bench records microseconds); no allocation after
 * create, O(1) record, O(buckets) percentile.
 */
#ifndef TF_BENCH_HIST_H
#define TF_BENCH_HIST_H

#include <stdint.h>

#define TF_HIST_SUB_BITS 5 /* 32 sub-buckets per power of two */
#define TF_HIST_SUB (1u << TF_HIST_SUB_BITS)
#define TF_HIST_MAX_MSB 62
#define TF_HIST_BUCKETS ((TF_HIST_MAX_MSB - TF_HIST_SUB_BITS) * TF_HIST_SUB + 2 * TF_HIST_SUB)

struct tf_hist {
	uint64_t count;
	uint64_t min, max;
	double sum;
	uint64_t b[TF_HIST_BUCKETS];
};

void tf_hist_reset(struct tf_hist *h);
/* The bucket holding v, and the range [lo, hi] of values in bucket i. */
unsigned int tf_hist_index(uint64_t v);
void tf_hist_range(unsigned int i, uint64_t *lo, uint64_t *hi);
void tf_hist_add(struct tf_hist *h, uint64_t v);
void tf_hist_add_n(struct tf_hist *h, uint64_t v, uint64_t n);
/* h += o */
void tf_hist_merge(struct tf_hist *h, const struct tf_hist *o);
/*
 * Value at quantile q (0..1): the midpoint of the bucket holding the
 * ceil(q * count)-th smallest value (clamped to [min, max]); 0 when empty.
 */
uint64_t tf_hist_quantile(const struct tf_hist *h, double q);
double tf_hist_mean(const struct tf_hist *h);

#endif /* TF_BENCH_HIST_H */
