/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-baseline: the conventional front end that the card replaces. A
 * kernel-socket server on the host CPU built from the same protocol codec
 * (libtfproto) and inference engine (libtfengine) as the appliance: one thread
 * per core, each with its own SO_REUSEPORT UDP socket, epoll + recvmmsg /
 * sendmmsg, its own request table and its own engine (continuous batching).
 * It speaks wire protocol v1 (hwdocs/protocol.md): REQUEST (with fragments),
 * CANCEL, RESUME, PING; TOKENS streamed per engine step, FINAL with usage,
 * ERRORs; at-most-once per (tenant, request id) with a response cache.
 * It exists to be measured against (tests/bench/bench_e2e.sh); it has no
 * budgets, rates or ledger (it appends usage lines to a file if asked).
 *
 *   main.c    arguments, tenants and keys, threads, signals, statistics
 *   worker.c  one thread: sockets, protocol, engine, responses
 *   reqtab.c  request table keyed by (tenant, request id), response cache
 */
#ifndef TF_BASELINE_H
#define TF_BASELINE_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "kernels/engine/engine.h"
#include "tokfab/proto.h"

#define BL_MAX_WORKERS 64

struct bl_tenant {
	uint32_t id;
	uint64_t price_per_1k_micro;
	struct tf_proto_key key;
};

struct bl_cfg {
	const char *listen; /* ADDR[:PORT] */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *model, *tokenizer;
	uint32_t model_id;
	uint32_t workers;
	uint32_t engine_threads, max_batch;
	uint32_t max_new_tokens; /* limit, TOO_LARGE above */
	uint32_t max_requests; /* per worker, live + cached */
	uint32_t cache_ms;
	uint32_t reasm_timeout_ms;
	uint64_t replay_window_us;
	uint64_t price_per_1k_micro;
	const char *stats_file, *usage_file;
	int verbose;
	struct bl_tenant *tenants; /* sorted by id */
	uint32_t ntenants;
};

enum bl_state {
	BL_REASM = 1, /* prompt pieces arriving */
	BL_RUN, /* in the engine */
	BL_DONE, /* FINAL sent; kept for retransmits and RESUME */
};

struct bl_req {
	struct bl_req *hnext; /* hash chain */
	struct bl_req *lnext, *lprev; /* done FIFO */
	uint64_t rid;
	uint32_t tenant_id;
	const struct bl_tenant *t;
	uint8_t key_id;
	uint8_t state;
	bool want_text;
	bool cancelled;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tf_proto_request p; /* fixed fields (prompt pointers unused) */
	struct tf_proto_reasm reasm;
	uint8_t *prompt; /* reassembly buffer */
	uint64_t t_first_us, t_complete_us, t_engine_us, t_done_us, deadline_us;
	/* generated tokens: ids (u32 LE), piece lengths, text */
	uint8_t *ids;
	uint8_t *plen;
	uint8_t *text;
	uint32_t ntok, cap, sent, text_len, text_cap;
	struct tf_proto_final final;
};

struct bl_reqtab {
	struct bl_req **b;
	uint32_t mask;
	uint32_t count, max;
	struct bl_req *done_head, *done_tail; /* oldest first */
	uint32_t ndone;
};

int bl_reqtab_init(struct bl_reqtab *t, uint32_t max);
void bl_reqtab_fini(struct bl_reqtab *t);
struct bl_req *bl_reqtab_find(struct bl_reqtab *t, uint32_t tenant, uint64_t rid);
/* New zeroed entry (-ENOSPC when full after evicting the oldest done). */
struct bl_req *bl_reqtab_add(struct bl_reqtab *t, uint32_t tenant, uint64_t rid);
void bl_reqtab_del(struct bl_reqtab *t, struct bl_req *r);
/* Marks r done (FIFO tail) and evicts done entries beyond the limits. */
void bl_reqtab_done(struct bl_reqtab *t, struct bl_req *r, uint64_t now_us, uint32_t cache_ms);
void bl_reqtab_expire(struct bl_reqtab *t, uint64_t now_us, uint32_t cache_ms);

/* Per-worker counters, summed by main at exit. */
struct bl_stats {
	uint64_t rx_dgrams, tx_dgrams, rx_batches;
	uint64_t requests, finished, busy, errors_sent, dropped;
	uint64_t prompt_tokens, completion_tokens;
	uint64_t retransmits, resumes;
	double cpu_s, engine_cpu_s; /* thread CPU: all, and inside tf_engine_step */
	uint64_t engine_busy_ns;
};

struct bl_worker {
	const struct bl_cfg *cfg;
	unsigned int idx;
	pthread_t thread;
	int fd, ep;
	volatile int *stop;
	struct tf_engine *eng;
	struct bl_reqtab tab;
	struct bl_stats st;
	FILE *usage;
	pthread_mutex_t *usage_lock;
	char err[256];
};

void *bl_worker_main(void *arg);

#endif /* TF_BASELINE_H */
