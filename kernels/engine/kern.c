/* SPDX-License-Identifier: BSD-3-Clause */
/* Run-time choice of the kernel variant (CPUID through libgcc's cpu model,
 * which also checks that the OS saves the AVX / AVX-512 register state; for
 * AVX512-BF16 and AMX, CPUID and XCR0 read here, and for AMX the kernel's
 * permission to use the tile data state). */
#include "kern.h"

#include <cpuid.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM_ 0x1023 /* <asm/prctl.h>, Linux >= 5.16 */
#define XFEATURE_XTILEDATA_ 18
#define XCR0_AMX (3u << 17) /* XTILECFG | XTILEDATA */

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

static uint64_t
xcr0(void)
{
	unsigned int a, b, c, d, lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static int
cpu_avx512bf16(void)
{
	unsigned int a, b, c, d;

	return cpu_avx512() && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __get_cpuid_count(7, 1, &a, &b, &c, &d) &&
	       (a & (1u << 5));
}

/* The tile state is off until the process asks the kernel for it (once is
 * enough; asking again is harmless). */
static int
cpu_amx(void)
{
	unsigned int a, b, c, d;

	if (!cpu_avx512bf16() || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	if (!(d & (1u << 22)) || !(d & (1u << 24))) /* AMX-BF16, AMX-TILE */
		return 0;
	if ((xcr0() & XCR0_AMX) != XCR0_AMX)
		return 0;
	return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM_, XFEATURE_XTILEDATA_) == 0;
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
	{ &tf_kern_amx, cpu_amx },	 { &tf_kern_avx512bf16, cpu_avx512bf16 },
	{ &tf_kern_avx512, cpu_avx512 }, { &tf_kern_avx2, cpu_avx2 },
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
