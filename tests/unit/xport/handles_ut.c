/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for dataplane/xport/handles.c: in-flight table under churn. */
#include <errno.h>
#include <string.h>

#include "tf_cunit.h"
#include "xport/handles.h"

static void
test_add_find_del(void)
{
	struct tf_handles h;
	struct tf_handle_ent *e;

	CU_ASSERT_EQUAL_FATAL(tf_handles_init(&h, 4), 0);
	CU_ASSERT_EQUAL(tf_handles_add(&h, 10, &e), 0);
	e->next_index = 3;
	CU_ASSERT_EQUAL(tf_handles_add(&h, 10, NULL), -EEXIST);
	CU_ASSERT_EQUAL(tf_handles_add(&h, 0, NULL), 0); /* handle 0 is a handle too */
	CU_ASSERT_EQUAL(tf_handles_add(&h, 11, NULL), 0);
	CU_ASSERT_EQUAL(tf_handles_add(&h, 12, NULL), 0);
	CU_ASSERT_EQUAL(tf_handles_add(&h, 13, NULL), -ENOSPC); /* the credit limit */
	CU_ASSERT_EQUAL(tf_handles_find(&h, 10)->next_index, 3);
	CU_ASSERT_EQUAL(tf_handles_del(&h, 10), 0);
	CU_ASSERT_EQUAL(tf_handles_del(&h, 10), -ENOENT);
	CU_ASSERT_PTR_NULL(tf_handles_find(&h, 10));
	CU_ASSERT_PTR_NOT_NULL(tf_handles_find(&h, 0));
	CU_ASSERT_EQUAL(h.count, 3);
	tf_handles_clear(&h);
	CU_ASSERT_EQUAL(h.count, 0);
	CU_ASSERT_PTR_NULL(tf_handles_find(&h, 11));
	tf_handles_fini(&h);
}

/* Random churn against a plain array model: backward-shift deletion keeps
 * every remaining member findable. */
static void
test_churn_matches_model(void)
{
	enum { LIMIT = 100, KEYS = 300 };
	static int present[KEYS];
	struct tf_handles h;
	uint32_t r = 1;
	int count = 0;

	memset(present, 0, sizeof(present));
	CU_ASSERT_EQUAL_FATAL(tf_handles_init(&h, LIMIT), 0);
	for (int i = 0; i < 200000; i++) {
		uint64_t k;

		r = r * 1664525u + 1013904223u;
		k = (r >> 8) % KEYS;
		if (present[k]) {
			CU_ASSERT_EQUAL_FATAL(tf_handles_del(&h, k * 4096), 0);
			present[k] = 0;
			count--;
		} else {
			int rc = tf_handles_add(&h, k * 4096, NULL);

			if (count == LIMIT) {
				CU_ASSERT_EQUAL_FATAL(rc, -ENOSPC);
			} else {
				CU_ASSERT_EQUAL_FATAL(rc, 0);
				present[k] = 1;
				count++;
			}
		}
		if (i % 1000 == 0)
			for (int j = 0; j < KEYS; j++)
				CU_ASSERT_EQUAL_FATAL(tf_handles_find(&h, (uint64_t)j * 4096) !=
							      NULL,
						      present[j]);
	}
	CU_ASSERT_EQUAL(h.count, (uint32_t)count);
	tf_handles_fini(&h);
}

/* A reset empties the table and sizes it for the new limit (a reconnect). */
static void
test_reset(void)
{
	struct tf_handles h = { 0 };

	CU_ASSERT_EQUAL_FATAL(tf_handles_reset(&h, 2), 0);
	CU_ASSERT_EQUAL(tf_handles_add(&h, 1, NULL), 0);
	CU_ASSERT_EQUAL(tf_handles_add(&h, 2, NULL), 0);
	CU_ASSERT_EQUAL(tf_handles_add(&h, 3, NULL), -ENOSPC);
	CU_ASSERT_EQUAL_FATAL(tf_handles_reset(&h, 2), 0); /* same limit: emptied */
	CU_ASSERT_EQUAL(h.count, 0);
	CU_ASSERT_PTR_NULL(tf_handles_find(&h, 1));
	CU_ASSERT_EQUAL(tf_handles_add(&h, 3, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(tf_handles_reset(&h, 64), 0); /* new limit: room for it */
	CU_ASSERT_EQUAL(h.limit, 64);
	CU_ASSERT_PTR_NULL(tf_handles_find(&h, 3));
	for (uint64_t k = 0; k < 64; k++)
		CU_ASSERT_EQUAL(tf_handles_add(&h, k, NULL), 0);
	CU_ASSERT_EQUAL(tf_handles_add(&h, 64, NULL), -ENOSPC);
	tf_handles_fini(&h);
}

static const struct tf_cunit_test handles_tests[] = {
	TF_TEST(test_add_find_del),
	TF_TEST(test_churn_matches_model),
	TF_TEST(test_reset),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "handles", NULL, NULL, handles_tests })
