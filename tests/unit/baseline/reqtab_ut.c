/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-baseline's request table and response cache (tools/baseline/reqtab.c). */
#include "baseline/baseline.h"
#include "tf_cunit.h"

static void
test_find_add_del(void)
{
	struct bl_reqtab t;
	struct bl_req *a, *b;

	CU_ASSERT_EQUAL_FATAL(bl_reqtab_init(&t, 64), 0);
	CU_ASSERT_PTR_NULL(bl_reqtab_find(&t, 1, 10));
	a = bl_reqtab_add(&t, 1, 10);
	b = bl_reqtab_add(&t, 2, 10); /* same id, other tenant: another request */
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_EQUAL(bl_reqtab_find(&t, 1, 10), a);
	CU_ASSERT_PTR_EQUAL(bl_reqtab_find(&t, 2, 10), b);
	CU_ASSERT_EQUAL(t.count, 2);
	bl_reqtab_del(&t, a);
	CU_ASSERT_PTR_NULL(bl_reqtab_find(&t, 1, 10));
	CU_ASSERT_PTR_EQUAL(bl_reqtab_find(&t, 2, 10), b);
	CU_ASSERT_EQUAL(t.count, 1);
	bl_reqtab_fini(&t);
}

/* Full: the oldest finished request makes room; running ones never do. */
static void
test_full_evicts_oldest_done(void)
{
	struct bl_reqtab t;
	struct bl_req *r;

	CU_ASSERT_EQUAL_FATAL(bl_reqtab_init(&t, 16), 0);
	for (uint64_t i = 0; i < 16; i++) {
		r = bl_reqtab_add(&t, 1, i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		r->state = BL_RUN;
		if (i < 4)
			bl_reqtab_done(&t, r, 1000 + i, 60000);
	}
	r = bl_reqtab_add(&t, 1, 100);
	CU_ASSERT_PTR_NOT_NULL(r);
	CU_ASSERT_PTR_NULL(bl_reqtab_find(&t, 1, 0)); /* the oldest done went */
	CU_ASSERT_PTR_NOT_NULL(bl_reqtab_find(&t, 1, 1));
	CU_ASSERT_EQUAL(t.count, 16);
	for (uint64_t i = 1; i < 4; i++)
		CU_ASSERT_PTR_NOT_NULL(bl_reqtab_add(&t, 2, i));
	/* only running requests left: no room */
	CU_ASSERT_PTR_NULL(bl_reqtab_add(&t, 3, 1));
	CU_ASSERT_EQUAL(t.ndone, 0);
	bl_reqtab_fini(&t);
}

static void
test_expire_by_age(void)
{
	struct bl_reqtab t;
	struct bl_req *r;

	CU_ASSERT_EQUAL_FATAL(bl_reqtab_init(&t, 64), 0);
	for (uint64_t i = 0; i < 10; i++) {
		r = bl_reqtab_add(&t, 1, i);
		r->state = BL_RUN;
		bl_reqtab_done(&t, r, i * 1000000, 60000); /* one per second */
	}
	CU_ASSERT_EQUAL(t.ndone, 10);
	bl_reqtab_expire(&t, 9000000, 5000); /* cache 5 s: those done before 4 s go */
	CU_ASSERT_EQUAL(t.ndone, 6);
	CU_ASSERT_PTR_NULL(bl_reqtab_find(&t, 1, 3));
	CU_ASSERT_PTR_NOT_NULL(bl_reqtab_find(&t, 1, 4));
	r = bl_reqtab_find(&t, 1, 6);
	bl_reqtab_del(&t, r); /* from the middle of the FIFO */
	CU_ASSERT_EQUAL(t.ndone, 5);
	bl_reqtab_expire(&t, 100000000, 5000);
	CU_ASSERT_EQUAL(t.ndone, 0);
	CU_ASSERT_EQUAL(t.count, 0);
	CU_ASSERT_PTR_NULL(t.done_head);
	CU_ASSERT_PTR_NULL(t.done_tail);
	bl_reqtab_fini(&t);
}

static const struct tf_cunit_test g_tests[] = {
	TF_TEST(test_find_add_del),
	TF_TEST(test_full_evicts_oldest_done),
	TF_TEST(test_expire_by_age),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "baseline_reqtab", NULL, NULL, g_tests })
