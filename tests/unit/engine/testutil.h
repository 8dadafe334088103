/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared helpers of the engine tests: generated models in a temp folder,
 * random numbers, a double-precision dot product. */
#ifndef TF_TEST_ENGINE_UTIL_H
#define TF_TEST_ENGINE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

struct tmodel {
	char dir[64];
	char model[128];
	char tok[128];
};

/* Small shapes the tests use (name, then dim hidden layers heads kv vocab seq). */
static const struct tf_mkmodel_shape TM_GQA = { 64, 192, 2, 4, 2, 512, 64, 0, 7 };
static const struct tf_mkmodel_shape TM_UNTIED = { 64, 128, 2, 4, 4, 400, 48, 1, 11 };
static const struct tf_mkmodel_shape TM_ODD = { 48, 100, 3, 3, 1, 300, 40, 0, 5 };

static inline int
tmodel_make(struct tmodel *t, const struct tf_mkmodel_shape *s)
{
	char err[256];

	strcpy(t->dir, "/tmp/tf-engine-ut.XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->model, sizeof(t->model), "%s/model.bin", t->dir);
	snprintf(t->tok, sizeof(t->tok), "%s/tokenizer.bin", t->dir);
	if (tf_mkmodel_write(s, t->model, t->tok, err, sizeof(err))) {
		fprintf(stderr, "tmodel_make: %s\n", err);
		return -1;
	}
	return 0;
}

static inline void
tmodel_remove(struct tmodel *t)
{
	unlink(t->model);
	unlink(t->tok);
	rmdir(t->dir);
}

/* Reads a whole file into a malloc'd buffer. */
static inline unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static inline int
spit(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(buf, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static inline uint64_t
trng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Uniform in [-1, 1). */
static inline float
trng_f(uint64_t *s)
{
	return (float)(trng(s) >> 40) / 8388608.0f - 1.0f;
}

#endif /* TF_TEST_ENGINE_UTIL_H */
