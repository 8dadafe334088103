/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: the card side of a host queue (lib/card/card_hostq.c) against an
 * application that writes anything into its ring area. Input: 4 bytes of
 * control (sq and cq entries as powers of two, what the card does with each
 * request), then bytes copied over the ring area (header and entries).
 */
#include "card/card.h"
#include "card/card_hostq.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HQ_SIZE 16384u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tf_card_dev *g_dev;
static uint8_t *g_win;
static uint8_t g_mode;

static void
init(void)
{
	struct tf_card_dev_params p = { .serial = "FUZZ",
					.fw_version_str = "1",
					.hq_count = 1,
					.hq_size = HQ_SIZE,
					.features = TF_FEAT_HOST_QUEUES,
					.flags = TF_CARD_F_FRESH };
	static char path[64];
	uint8_t *bar;
	int fd;

	snprintf(path, sizeof(path), "/tmp/tf-fuzz-hostq-%d", (int)getpid());
	p.path = path;
	if (tf_card_dev_create(&p, &g_dev) < 0)
		abort();
	fd = open(path, O_RDWR);
	bar = mmap(NULL, tf_card_dev_bar_size(g_dev), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	unlink(path);
	if (bar == MAP_FAILED)
		abort();
	g_win = bar + ((struct tf_bar_regs *)bar)->hq_off;
}

/* Completes each request at once, in a way chosen by the input. */
static int
take(void *ctx, const struct tf_card_hq_req *req)
{
	static uint32_t toks[TF_HQ_NEW_TOKENS_MAX];
	struct tf_card_hq_done d = { .outcome = TF_USAGE_OK };

	(void)ctx;
	if (req->sqe.n_prompt == 0 || req->sqe.n_prompt > TF_HQ_PROMPT_MAX ||
	    req->sqe.max_new_tokens == 0 || req->sqe.max_new_tokens > TF_HQ_NEW_TOKENS_MAX)
		abort(); /* the library let a bad request through */
	switch (g_mode & 3) {
	case 0:
		return TF_HQ_E_BUSY;
	case 1:
		tf_card_hq_tokens(g_dev, req, toks, req->sqe.max_new_tokens);
		break;
	default:
		break;
	}
	tf_card_hq_done(g_dev, req, &d);
	tf_card_hq_error(g_dev, req, TF_HQ_E_MODEL, 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_hq_ctl *c;
	size_t n;

	if (!g_dev)
		init();
	if (size < 4)
		return 0;
	c = (struct tf_hq_ctl *)g_win;
	memset(g_win + TF_HQ_CTL_SIZE, 0, HQ_SIZE - TF_HQ_CTL_SIZE);
	c->tenant_id = 1;
	c->sq_entries = 1u << (data[0] % 6);
	c->cq_entries = 1u << (data[1] % 8);
	c->state = TF_HQ_ACTIVE;
	c->gen++;
	g_mode = data[2];
	tf_card_hq_poll(g_dev, take, NULL, 64); /* takes the activation */
	n = size - 4 < HQ_SIZE - TF_HQ_CTL_SIZE ? size - 4 : HQ_SIZE - TF_HQ_CTL_SIZE;
	memcpy(g_win + TF_HQ_CTL_SIZE, data + 4, n);
	for (int i = 0; i < 1 + data[3] % 4; i++)
		tf_card_hq_poll(g_dev, take, NULL, 64);
	c->state = TF_HQ_FREE;
	c->gen++;
	tf_card_hq_poll(g_dev, take, NULL, 64);
	return 0;
}
