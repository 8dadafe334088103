/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared CUnit runner. A unit test file defines its suites with
 * TF_SUITE() and ends with TF_CUNIT_MAIN(). The binary exits non-zero when
 * any assertion fails, a suite cannot be set up, or no test ran at all.
 */
#ifndef TF_CUNIT_H
#define TF_CUNIT_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

struct tf_cunit_test {
	const char *name;
	void (*fn)(void);
};

struct tf_cunit_suite {
	const char *name;
	int (*init)(void);
	int (*cleanup)(void);
	const struct tf_cunit_test *tests;
};

/* braced initialisers in macros: clang-format 14 breaks them apart */
/* clang-format off */
#define TF_TEST(fn) { #fn, fn }
#define TF_TESTS_END { NULL, NULL }
/* clang-format on */

static inline int
tf_cunit_run(const struct tf_cunit_suite *suites)
{
	unsigned int failures, run;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (const struct tf_cunit_suite *s = suites; s->name; s++) {
		CU_pSuite cs = CU_add_suite(s->name, s->init, s->cleanup);

		if (!cs)
			goto err;
		for (const struct tf_cunit_test *t = s->tests; t->name; t++)
			if (!CU_add_test(cs, t->name, t->fn))
				goto err;
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
		   CU_get_number_of_tests_failed();
	run = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (run == 0) {
		fprintf(stderr, "FAIL: no test ran\n");
		return 1;
	}
	return failures ? 1 : 0;
err:
	fprintf(stderr, "FAIL: CUnit registry: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 2;
}

#define TF_CUNIT_MAIN(...)                                                                \
	int main(void)                                                                    \
	{                                                                                 \
		static const struct tf_cunit_suite suites_[] = { __VA_ARGS__, { NULL } }; \
		return tf_cunit_run(suites_);                                             \
	}

#endif /* TF_CUNIT_H */
