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
