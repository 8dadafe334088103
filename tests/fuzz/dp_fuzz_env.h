/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the tokfab-dp fuzz targets: one worker with one tenant (42, the
 * key 00 01 .. 1f of protocol.md's examples), one model (7) and no
 * accelerator, fed frames through a fake struct tf_dp_io_ops that frees
 * whatever the worker sends. The clock advances one second per input so
 * reassembly deadlines and id expiry run too.
 */
#ifndef TF_DP_FUZZ_ENV_H
#define TF_DP_FUZZ_ENV_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/worker.h"
#include "tokfab/proto.h"

static uint8_t *
fz_tx_alloc(void *io, uint16_t port, uint32_t len, void **cookie)
{
	(void)io, (void)port;
	*cookie = malloc(len);
	return *cookie;
}

static void
fz_free(void *io, void *cookie)
{
	(void)io;
	free(cookie);
}

static void
fz_send(void *io, uint16_t port, void *cookie, uint32_t len)
{
	(void)port, (void)len;
	fz_free(io, cookie);
}

static int
fz_handoff(void *io, unsigned int to, uint16_t port, void *c, const uint8_t *f, uint32_t len)
{
	(void)io, (void)to, (void)port, (void)c, (void)f, (void)len;
	return -ENOBUFS;
}

static int
fz_usage(void *io, const struct tf_dp_usage_ev *rec)
{
	(void)io, (void)rec;
	return 0;
}

static const struct tf_dp_io_ops fz_io = {
	.tx_alloc = fz_tx_alloc,
	.tx_send = fz_send,
	.rx_send = fz_send,
	.rx_free = fz_free,
	.handoff = fz_handoff,
	.usage_emit = fz_usage,
};

static const uint8_t fz_card_mac[6] = { 2, 0xca, 0, 0, 0, 1 };
static struct tf_dp_worker *fz_w;
static struct tf_proto_key fz_key;
static uint64_t fz_now = 1000000, fz_wall = 1767225600000000ull;

static struct tf_dp_worker *
fz_worker(void)
{
	struct tf_dp_worker_params p = { .id = 0, .nworkers = 1, .io_ops = &fz_io };
	struct tf_aq_set_tenant t = { .tenant_id = 42,
				      .mac_algs = TF_TENANT_MAC_HMAC_SHA256 | TF_TENANT_MAC_SIPHASH,
				      .key_len = 32,
				      .priority = 7,
				      .budget_micro = 1000000,
				      .n_prices = 1 };
	struct tf_aq_set_model m = { .model_id = 7,
				     .max_prompt_tokens = 4096,
				     .max_new_tokens = 256 };
	struct tf_aq_tenant_info info;
	uint8_t secret[32];
	uint32_t d;

	if (fz_w)
		return fz_w;
	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)i;
	tf_proto_key_init(&fz_key, TF_PROTO_MAC_HMAC_SHA256, 0, secret, 32);
	p.me.ip = inet_addr("10.9.0.1");
	p.me.udp_port = htons(TF_PROTO_PORT);
	p.me.check_udp_csum = 1;
	memcpy(p.me.mac, fz_card_mac, 6);
	tf_dp_limits_default(&p.limits);
	p.limits.max_requests = 64;
	p.limits.max_queue = 32;
	p.limits.reasm_contexts = 8;
	p.limits.id_table = 256;
	p.limits.cache_entries = 8;
	p.limits.token_buffer_bytes = 64 * 1024;
	if (tf_dp_worker_create(&p, &fz_w) < 0)
		abort();
	memcpy(t.key, secret, 32);
	strcpy(t.name, "fuzz");
	strcpy(m.name, "fuzz");
	t.prices[0].model_id = 7;
	t.prices[0].price_per_1k_micro = 1000;
	tf_dp_worker_set_time(fz_w, fz_now, fz_wall);
	if (tf_dp_worker_set_tenant(fz_w, &t, &info, &d) || tf_dp_worker_set_model(fz_w, &m, &d))
		abort();
	return fz_w;
}

/* Advances the clock, gives the worker one frame (copied: the worker owns it). */
static void
fz_feed(const uint8_t *frame, size_t len)
{
	uint8_t *f = malloc(len ? len : 1);

	memcpy(f, frame, len);
	tf_dp_worker_rx(fz_w, 0, f, f, (uint32_t)len);
}

static void
fz_tick(uint64_t us)
{
	fz_now += us;
	fz_wall += us;
	tf_dp_worker_set_time(fz_w, fz_now, fz_wall);
	tf_dp_worker_poll(fz_w);
}

#endif /* TF_DP_FUZZ_ENV_H */
