/* SPDX-License-Identifier: BSD-3-Clause */
/* Tenant ranges on the command line (tools/bench/tenants.c). */
#include "bench/tenants.h"
#include "tf_cunit.h"

#include <string.h>

static void
test_parse_ok(void)
{
	struct tf_tenant_spec sp;
	char err[128], p[64];

	CU_ASSERT_EQUAL(tf_tenant_spec_parse("42:k.key", &sp, err, sizeof(err)), 0);
	CU_ASSERT(sp.first == 42 && sp.last == 42);
	CU_ASSERT_STRING_EQUAL(sp.key_path, "k.key");
	CU_ASSERT(!tf_tenant_spec_per_tenant(&sp));
	tf_tenant_spec_key_path(&sp, 42, p, sizeof(p));
	CU_ASSERT_STRING_EQUAL(p, "k.key");
	CU_ASSERT_EQUAL(tf_tenant_spec_parse("1-100000:dir/t%u.key", &sp, err, sizeof(err)), 0);
	CU_ASSERT(sp.first == 1 && sp.last == 100000 && tf_tenant_spec_per_tenant(&sp));
	tf_tenant_spec_key_path(&sp, 77, p, sizeof(p));
	CU_ASSERT_STRING_EQUAL(p, "dir/t77.key");
	/* a colon in the path is part of the path */
	CU_ASSERT_EQUAL(tf_tenant_spec_parse("5:/a:b/k", &sp, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(sp.key_path, "/a:b/k");
	CU_ASSERT_EQUAL(tf_tenant_spec_parse("4294967295:k", &sp, err, sizeof(err)), 0);
}

static void
test_parse_bad(void)
{
	static const char *const bad[] = { "",	    "42",      "42:",	       ":k",
					   "0:k",   "-1:k",    "x:k",	       "5-3:k",
					   "5-:k",  "-5:k",    "4294967296:k", "1-4294967296:k",
					   "1:k%d", "1:k%u%u", "1:k%",	       "+3:k",
					   "1-+3:k" };
	struct tf_tenant_spec sp;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(tf_tenant_spec_parse(bad[i], &sp, err, sizeof(err)), -22);
		CU_ASSERT(err[0] != '\0');
	}
}

static const struct tf_cunit_test g_tests[] = {
	TF_TEST(test_parse_ok),
	TF_TEST(test_parse_bad),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "bench_tenants", NULL, NULL, g_tests })
