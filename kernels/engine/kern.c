/* SPDX-License-Identifier: BSD-3-Clause */
/* Run-time choice of the kernel variant (CPUID through libgcc's cpu model,
 * which also checks that the OS saves the AVX / AVX-512 register state). */
#include "kern.h"

#include <errno.h>
#include <string.h>

static int
cpu_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
	       __builtin_cpu_supports("fma");
}

static int
cpu_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int
cpu_any(void)
{
	return 1;
}

static const struct {
	const struct tf_kern_ops *ops;
	int (*usable)(void);
} g_kerns[] = {
	{ &tf_kern_avx512, cpu_avx512 },
	{ &tf_kern_avx2, cpu_avx2 },
	{ &tf_kern_generic, cpu_any },
};

unsigned int
tf_kern_count(void)
{
	return sizeof(g_kerns) / sizeof(g_kerns[0]);
}

const struct tf_kern_ops *
tf_kern_get(unsigned int i, int *usable)
{
	if (i >= tf_kern_count())
		return NULL;
	if (usable)
		*usable = g_kerns[i].usable();
	return g_kerns[i].ops;
}

const struct tf_kern_ops *
tf_kern_select(const char *name, int *rc)
{
	int auto_pick = !name || !*name || strcmp(name, "auto") == 0;

	for (unsigned int i = 0; i < tf_kern_count(); i++) {
		if (!auto_pick && strcmp(name, g_kerns[i].ops->name) != 0)
			continue;
		if (g_kerns[i].usable()) {
			*rc = 0;
			return g_kerns[i].ops;
		}
		if (!auto_pick) {
			*rc = -ENOTSUP;
			return NULL;
		}
	}
	*rc = -ENOENT;
	return NULL;
}

size_t
tf_kern_pack_size(const struct tf_kern_ops *ops, uint32_t rows, uint32_t cols, int q8)
{
	size_t P = ops->panel, panels;

	if (!P)
		return 0;
	panels = (rows + P - 1) / P;
	if (q8)
		return panels * ((size_t)cols * P + (size_t)cols / TF_Q8_GROUP * P * sizeof(float));
	return panels * (size_t)cols * P * sizeof(float);
}

void
tf_kern_pack(const struct tf_kern_ops *ops, const struct tf_matrix *w, int q8, void *dst)
{
	size_t P = ops->panel, panels = (w->rows + P - 1) / P, G = w->cols / TF_Q8_GROUP;

	for (size_t p = 0; p < panels; p++) {
		for (size_t l = 0; l < P; l++) {
			size_t r = p * P + l;
			int live = r < w->rows;

			if (!q8) {
				float *pf = (float *)dst + p * w->cols * P;

				for (size_t k = 0; k < w->cols; k++)
					pf[k * P + l] = live ? w->f32[r * w->cols + k] : 0.0f;
				continue;
			}
			int8_t *pq = (int8_t *)dst + p * (w->cols * P + G * P * sizeof(float));
			float *ps = (float *)(pq + w->cols * P);

			for (size_t k = 0; k < w->cols; k++)
				pq[k * P + l] = live ? w->q8[r * w->cols + k] : 0;
			for (size_t g = 0; g < G; g++)
				ps[g * P + l] = live ? w->scale[r * G + g] : 0.0f;
		}
	}
}
