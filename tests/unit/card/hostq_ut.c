/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/card/card_hostq.c: the card side of the host queues. The
 * test plays the host driver (control page) and the application (rings) on a
 * second mapping of the card's BAR file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "card/card.h"
#include "card/card_hostq.h"
#include "tf_cunit.h"

#define HQ_SIZE 16384u
#define NQ 2u

static char g_path[64];
static struct tf_card_dev *g_dev;
static uint8_t *g_bar; /* the host's view */
static uint64_t g_hq_off;
static struct tf_card_hq_req g_taken[64];
static unsigned int g_ntaken;
static int g_refuse;

static struct tf_hq_ctl *
ctl(unsigned int q)
{
	return (struct tf_hq_ctl *)(g_bar + g_hq_off + (size_t)q * HQ_SIZE);
}

static struct tf_hq_ring *
ring(unsigned int q)
{
	return (struct tf_hq_ring *)((uint8_t *)ctl(q) + TF_HQ_CTL_SIZE);
}

static struct tf_hq_sqe *
sqe(unsigned int q, uint32_t i)
{
	return (struct tf_hq_sqe *)((uint8_t *)ring(q) + TF_HQ_SQ_OFF +
				    (size_t)(i & (ctl(q)->sq_entries - 1)) * TF_HQ_SQE_SIZE);
}

static struct tf_hq_cqe *
cqe(unsigned int q, uint32_t i)
{
	return (struct tf_hq_cqe *)((uint8_t *)ring(q) + TF_HQ_SQ_OFF +
				    (size_t)ctl(q)->sq_entries * TF_HQ_SQE_SIZE +
				    (size_t)(i & (ctl(q)->cq_entries - 1)) * TF_HQ_CQE_SIZE);
}

static int
take(void *ctx, const struct tf_card_hq_req *req)
{
	(void)ctx;
	if (g_refuse)
		return g_refuse;
	if (g_ntaken < 64)
		g_taken[g_ntaken++] = *req;
	return 0;
}

/* What the host driver does in TOKFAB_IOC_HQ_CREATE. */
static void
activate(unsigned int q, uint32_t tenant, uint32_t sq, uint32_t cq)
{
	memset(ring(q), 0, HQ_SIZE - TF_HQ_CTL_SIZE);
	ctl(q)->tenant_id = tenant;
	ctl(q)->sq_entries = sq;
	ctl(q)->cq_entries = cq;
	ctl(q)->flags = 0;
	ctl(q)->state = TF_HQ_ACTIVE;
	__atomic_store_n(&ctl(q)->gen, ctl(q)->gen + 1, __ATOMIC_RELEASE);
}

static void
release(unsigned int q)
{
	ctl(q)->state = TF_HQ_FREE;
	__atomic_store_n(&ctl(q)->gen, ctl(q)->gen + 1, __ATOMIC_RELEASE);
}

static void
submit(unsigned int q, uint64_t user_data, uint16_t np, uint16_t max_new)
{
	struct tf_hq_sqe *s = sqe(q, ring(q)->sq_tail);

	memset(s, 0, sizeof(*s));
	s->user_data = user_data;
	s->model_id = 1;
	s->n_prompt = np;
	s->max_new_tokens = max_new;
	for (uint16_t i = 0; i < np; i++)
		s->prompt[i] = 10 + i;
	ring(q)->sq_tail++;
}

static int
suite_init(void)
{
	struct tf_card_dev_params p = {
		.serial = "TFUT",
		.fw_version_str = "1.0.0",
		.features = TF_FEAT_HOST_QUEUES,
		.hq_count = NQ,
		.hq_size = HQ_SIZE,
		.flags = TF_CARD_F_FRESH,
	};
	int fd;

	snprintf(g_path, sizeof(g_path), "/tmp/tf-hostq-ut-%d", (int)getpid());
	p.path = g_path;
	if (tf_card_dev_create(&p, &g_dev) < 0)
		return -1;
	fd = open(g_path, O_RDWR);
	if (fd < 0)
		return -1;
	g_bar = mmap(NULL, tf_card_dev_bar_size(g_dev), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (g_bar == MAP_FAILED)
		return -1;
	g_hq_off = ((struct tf_bar_regs *)g_bar)->hq_off;
	return g_hq_off && ((struct tf_bar_regs *)g_bar)->hq_count == NQ ? 0 : -1;
}

static int
suite_cleanup(void)
{
	munmap(g_bar, tf_card_dev_bar_size(g_dev));
	tf_card_dev_destroy(g_dev);
	unlink(g_path);
	return 0;
}

static void
test_params_need_feature_and_sizes(void)
{
	struct tf_card_dev_params p = { .path = "/tmp/tf-hostq-ut-bad",
					.serial = "X",
					.fw_version_str = "1",
					.hq_count = 1,
					.hq_size = HQ_SIZE };
	struct tf_card_dev *d;

	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &d), -EINVAL); /* no TF_FEAT_HOST_QUEUES */
	p.features = TF_FEAT_HOST_QUEUES;
	p.hq_size = 12288;
	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &d), -EINVAL); /* not a power of two */
	p.hq_size = HQ_SIZE;
	p.hq_count = TF_HQ_MAX + 1;
	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &d), -EINVAL);
	unlink(p.path);
}

static void
test_activation_checks_geometry_and_tenant(void)
{
	activate(0, 0, 4, 8);
	tf_card_hq_poll(g_dev, take, NULL, 16);
	CU_ASSERT_EQUAL(ctl(0)->card_gen, ctl(0)->gen);
	CU_ASSERT_EQUAL(ctl(0)->card_state, TF_HQ_CARD_REFUSED);
	CU_ASSERT_EQUAL(ctl(0)->card_reason, TF_HQ_R_TENANT);
	activate(0, 5, 3, 8);
	tf_card_hq_poll(g_dev, take, NULL, 16);
	CU_ASSERT_EQUAL(ctl(0)->card_state, TF_HQ_CARD_REFUSED);
	CU_ASSERT_EQUAL(ctl(0)->card_reason, TF_HQ_R_GEOMETRY);
	activate(0, 5, 64, 64); /* 256 + 64*512 + 64*64 > 12 KiB */
	tf_card_hq_poll(g_dev, take, NULL, 16);
	CU_ASSERT_EQUAL(ctl(0)->card_reason, TF_HQ_R_GEOMETRY);
	activate(0, 5, 8, 4); /* cq < sq */
	tf_card_hq_poll(g_dev, take, NULL, 16);
	CU_ASSERT_EQUAL(ctl(0)->card_reason, TF_HQ_R_GEOMETRY);
	activate(0, 5, 4, 8);
	tf_card_hq_poll(g_dev, take, NULL, 16);
	CU_ASSERT_EQUAL(ctl(0)->card_gen, ctl(0)->gen);
	CU_ASSERT_EQUAL(ctl(0)->card_state, TF_HQ_CARD_SERVING);
	release(0);
	tf_card_hq_poll(g_dev, take, NULL, 16);
	CU_ASSERT_EQUAL(ctl(0)->card_state, TF_HQ_CARD_IDLE);
	CU_ASSERT_EQUAL(ctl(0)->card_gen, ctl(0)->gen);
}

static void
test_requests_tokens_done(void)
{
	struct tf_card_hq_done d = {
		.outcome = TF_USAGE_OK, .prompt_tokens = 3, .completion_tokens = 25, .event_seq = 42
	};
	uint32_t toks[25];
	unsigned int i;

	activate(1, 9, 4, 8);
	g_ntaken = 0;
	submit(1, 100, 3, 25);
	submit(1, 101, 1, 1);
	CU_ASSERT_EQUAL(tf_card_hq_poll(g_dev, take, NULL, 16), 2);
	CU_ASSERT_EQUAL(ring(1)->sq_head, 2);
	CU_ASSERT_EQUAL(ctl(1)->submitted, 2);
	CU_ASSERT_EQUAL(g_ntaken, 2);
	CU_ASSERT_EQUAL(g_taken[0].tenant_id, 9);
	CU_ASSERT_EQUAL(g_taken[0].sqe.user_data, 100);
	CU_ASSERT_EQUAL(g_taken[0].sqe.prompt[2], 12);
	for (i = 0; i < 25; i++)
		toks[i] = 1000 + i;
	CU_ASSERT_EQUAL(tf_card_hq_room(g_dev, &g_taken[0]), 8);
	CU_ASSERT_EQUAL(tf_card_hq_tokens(g_dev, &g_taken[0], toks, 25), 0);
	CU_ASSERT_EQUAL(tf_card_hq_done(g_dev, &g_taken[0], &d), 0);
	CU_ASSERT_EQUAL(ring(1)->cq_tail, 4); /* 12 + 12 + 1 tokens, then DONE */
	CU_ASSERT_EQUAL(cqe(1, 0)->type, TF_HQ_TOKENS);
	CU_ASSERT_EQUAL(cqe(1, 0)->count, 12);
	CU_ASSERT_EQUAL(cqe(1, 1)->u.tokens[11], 1023);
	CU_ASSERT_EQUAL(cqe(1, 2)->count, 1);
	CU_ASSERT_EQUAL(cqe(1, 2)->u.tokens[0], 1024);
	CU_ASSERT_EQUAL(cqe(1, 2)->u.tokens[1], 0);
	CU_ASSERT_EQUAL(cqe(1, 3)->type, TF_HQ_DONE);
	CU_ASSERT_EQUAL(cqe(1, 3)->user_data, 100);
	CU_ASSERT_EQUAL(cqe(1, 3)->u.done.completion_tokens, 25);
	CU_ASSERT_EQUAL(cqe(1, 3)->u.done.event_seq, 42);
	CU_ASSERT_EQUAL(ctl(1)->completed, 1);
	/* The CQ has 4 free slots: 48 tokens need 4, 49 need 5. */
	CU_ASSERT_EQUAL(tf_card_hq_tokens(g_dev, &g_taken[1], toks, 25), 0);
	CU_ASSERT_EQUAL(tf_card_hq_tokens(g_dev, &g_taken[1], toks, 24), -EAGAIN);
	ring(1)->cq_head = 4; /* the application consumed the first answer */
	CU_ASSERT_EQUAL(tf_card_hq_tokens(g_dev, &g_taken[1], toks, 24), 0);
	CU_ASSERT_EQUAL(tf_card_hq_tokens(g_dev, &g_taken[1], toks, 12 * 9), -EINVAL);
	/* Released: what is still in flight is dropped. */
	release(1);
	CU_ASSERT_EQUAL(tf_card_hq_done(g_dev, &g_taken[1], &d), -ESTALE);
	tf_card_hq_poll(g_dev, take, NULL, 16);
	CU_ASSERT_EQUAL(tf_card_hq_done(g_dev, &g_taken[1], &d), -ESTALE);
	CU_ASSERT_EQUAL(ctl(1)->card_state, TF_HQ_CARD_IDLE);
}

static void
test_bad_requests_and_refusals_complete_with_errors(void)
{
	activate(0, 5, 8, 16);
	g_ntaken = 0;
	submit(0, 1, 0, 5); /* n_prompt 0 */
	submit(0, 2, 2, 5);
	sqe(0, 1)->prompt[7] = 1; /* past n_prompt */
	submit(0, 3, 2, 0); /* max_new_tokens 0 */
	submit(0, 4, 2, 5);
	sqe(0, 3)->pad[3] = 1;
	submit(0, 5, 2, 5);
	sqe(0, 4)->model_id = 0;
	CU_ASSERT_EQUAL(tf_card_hq_poll(g_dev, take, NULL, 16), 0);
	CU_ASSERT_EQUAL(ring(0)->cq_tail, 5);
	CU_ASSERT_EQUAL(cqe(0, 0)->type, TF_HQ_ERROR);
	CU_ASSERT_EQUAL(cqe(0, 0)->status, TF_HQ_E_BAD_SQE);
	CU_ASSERT_EQUAL(cqe(0, 0)->u.done.detail, offsetof(struct tf_hq_sqe, n_prompt));
	CU_ASSERT_EQUAL(cqe(0, 1)->u.done.detail, offsetof(struct tf_hq_sqe, prompt) + 4 * 7);
	CU_ASSERT_EQUAL(cqe(0, 2)->u.done.detail, offsetof(struct tf_hq_sqe, max_new_tokens));
	CU_ASSERT_EQUAL(cqe(0, 3)->u.done.detail, offsetof(struct tf_hq_sqe, pad) + 3);
	CU_ASSERT_EQUAL(cqe(0, 4)->u.done.detail, offsetof(struct tf_hq_sqe, model_id));
	CU_ASSERT_EQUAL(ctl(0)->completed, 5);
	/* The card refuses a valid request: the library answers for it. */
	g_refuse = TF_HQ_E_QUOTA;
	submit(0, 6, 1, 1);
	CU_ASSERT_EQUAL(tf_card_hq_poll(g_dev, take, NULL, 16), 0);
	CU_ASSERT_EQUAL(cqe(0, 5)->status, TF_HQ_E_QUOTA);
	g_refuse = 99; /* not an error code: reported as BUSY */
	submit(0, 7, 1, 1);
	tf_card_hq_poll(g_dev, take, NULL, 16);
	CU_ASSERT_EQUAL(cqe(0, 6)->status, TF_HQ_E_BUSY);
	g_refuse = 0;
	release(0);
	tf_card_hq_poll(g_dev, take, NULL, 16);
}

static void
test_index_abuse_breaks_the_queue(void)
{
	activate(0, 5, 4, 8);
	tf_card_hq_poll(g_dev, take, NULL, 16);
	ring(0)->sq_tail = 5; /* 5 entries in a 4-entry SQ */
	CU_ASSERT_EQUAL(tf_card_hq_poll(g_dev, take, NULL, 16), 0);
	CU_ASSERT_EQUAL(ctl(0)->card_state, TF_HQ_CARD_BROKEN);
	CU_ASSERT_EQUAL(ctl(0)->card_reason, TF_HQ_R_SQ_INDEX);
	CU_ASSERT_EQUAL(ring(0)->sq_head, 0);

	activate(0, 5, 4, 8);
	g_ntaken = 0;
	tf_card_hq_poll(g_dev, take, NULL, 16);
	submit(0, 1, 1, 1);
	CU_ASSERT_EQUAL(tf_card_hq_poll(g_dev, take, NULL, 16), 1);
	ring(0)->cq_head = 0xfffffff0u; /* consumed what was never produced */
	CU_ASSERT_EQUAL(tf_card_hq_tokens(g_dev, &g_taken[0], (const uint32_t[]){ 1 }, 1), -ESTALE);
	CU_ASSERT_EQUAL(ctl(0)->card_state, TF_HQ_CARD_BROKEN);
	CU_ASSERT_EQUAL(ctl(0)->card_reason, TF_HQ_R_CQ_INDEX);
	release(0);
	tf_card_hq_poll(g_dev, take, NULL, 16);
}

static const struct tf_cunit_test hostq_tests[] = {
	TF_TEST(test_params_need_feature_and_sizes),
	TF_TEST(test_activation_checks_geometry_and_tenant),
	TF_TEST(test_requests_tokens_done),
	TF_TEST(test_bad_requests_and_refusals_complete_with_errors),
	TF_TEST(test_index_abuse_breaks_the_queue),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "card_hostq", suite_init, suite_cleanup, hostq_tests })
