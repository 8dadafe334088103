/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_dp: the full card pipeline of tokfab-dp (parse -> authenticate ->
 * admit -> batch -> transport -> respond) on one lcore, fed from memory.
 *
 *   card lcore (the EAL main lcore): rte_eth_rx_burst from a ring port
 *     (rte_eth_from_ring: the in-memory "NIC"), the same libtfdp worker as
 *     tokfab-dp, responses out through rte_eth_tx_burst on a net_null port.
 *   feeder lcore: builds signed REQUEST frames into mbufs and enqueues them
 *     on the ring (the clients + the wire), and runs an in-process stand-in
 *     accelerator on the real shm transport that answers every request with
 *     a fixed number of tokens at once (benchmark only: never a user path).
 *
 * Reported (one "key value" per line, parsed by bench_dp.sh):
 *   rate phase: requests completed per second of card-lcore BUSY time (loop
 *   iterations that found work), so a slow feeder cannot lower the figure;
 *   latency phase: the feeder paces at a given rate, and for each request the
 *   card lcore measures frame-in -> FINAL-out (TSC), p50/p90/p99/p99.9, and
 *   the card-added part of that span: the CPU time of the card lcore's loop
 *   iterations that did work while the request was in the card (its own work
 *   and the work queued before it; thread CPU clock read once per iteration,
 *   its own cost subtracted), which leaves out the time the card only waited
 *   for the accelerator and the time the OS gave the core to other processes.
 *   On a shared machine the wall figure measures the scheduler; the card-added
 *   one what the pipeline adds.
 *
 *   bench_dp [EAL] -- --seconds S --tokens N --prompt-tokens P --rate R
 *            [--max-batch B --delay-us D] [--mac hmac|siphash] [--final-tokens]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "dataplane/worker.h"
#include "dataplane/xport/xport.h"
#include "tokfab/proto.h"

#define BURST 32
#define HIST_NS 10 /* histogram bucket width */
#define HIST_N (2000000 / HIST_NS) /* up to 2 ms */
#define ITER_RING 65536u /* loop iterations whose CPU time is remembered */

static struct {
	struct rte_mempool *pool;
	struct rte_ring *rxr;
	uint16_t ring_port, null_port;
	struct tf_dp_worker *w;
	struct rte_mbuf *txb[BURST];
	uint16_t ntx;
	/* options */
	double seconds;
	uint32_t tokens, prompt_tokens, max_batch, delay_us;
	double rate; /* requests/s offered by the feeder; 0 = as fast as it can */
	/* shared between the lcores (single writer each) */
	volatile int stop;
	volatile uint64_t sent; /* feeder: requests enqueued */
	uint64_t *rx_tsc; /* card: when request i entered the pipeline */
	uint64_t *rx_cpu; /* card: its lcore's CPU time (ns) at that loop iteration */
	uint32_t *rx_iter; /* card: the loop iteration (from 1) that took it in */
	uint64_t iter_no; /* latency phase: this loop iteration's number */
	uint64_t iter_cpu[ITER_RING]; /* latency phase: CPU time (ns) of iteration j % ITER_RING */
	uint32_t *own_hist;
	uint64_t own_lat_n;
	uint64_t nslots;
	uint64_t rid_base;
	/* card results */
	uint64_t finals, busy_cycles, all_cycles, lat_n, cpu_lat_n;
	uint32_t *hist, *cpu_hist;
	uint64_t busy_cpu_ns; /* CPU time of the iterations that did work (latency phase) */
	uint64_t iter_tsc; /* this loop iteration's start (latency phase) */
	uint64_t clock_cost_ns; /* what reading the thread CPU clock costs */
	uint8_t mac_alg;
	uint16_t req_flags;
	/* stand-in accelerator (feeder lcore) */
	struct tf_xport_ctx *actx;
	struct tf_xport_listener *al;
	struct tf_xport *ax;
	uint64_t accel_reqs;
	char shm_name[64];
	struct tf_proto_key key;
	uint8_t secret[32];
	double hz;
} B;

/* ---- the card's environment: mbufs, the net_null port ---- */

static void
flush_tx(void)
{
	uint16_t n = B.ntx, s;

	if (!n)
		return;
	s = rte_eth_tx_burst(B.null_port, 0, B.txb, n);
	if (s < n)
		rte_pktmbuf_free_bulk(&B.txb[s], n - s);
	B.ntx = 0;
}

static uint8_t *
io_tx_alloc(void *io, uint16_t port, uint32_t len, void **cookie)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(B.pool);

	(void)io;
	(void)port;
	if (!m || len > rte_pktmbuf_tailroom(m)) {
		if (m)
			rte_pktmbuf_free(m);
		return NULL;
	}
	*cookie = m;
	return rte_pktmbuf_mtod(m, uint8_t *);
}

static void
io_tx_send(void *io, uint16_t port, void *cookie, uint32_t len)
{
	struct rte_mbuf *m = cookie;
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);

	(void)io;
	(void)port;
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	/* A FINAL ends a request: its latency is now - when its frame came in. */
	if (len > 42 + 32 && f[42 + 5] == TF_PROTO_T_FINAL) {
		uint64_t i = tf_proto_ld64(f + 42 + 16) - B.rid_base;

		B.finals++;
		if (i < B.nslots && B.rx_tsc[i]) {
			uint64_t t = rte_rdtsc();
			uint64_t ns = (uint64_t)((double)(t - B.rx_tsc[i]) * 1e9 / B.hz);

			B.hist[ns / HIST_NS < HIST_N ? ns / HIST_NS : HIST_N - 1]++;
			B.lat_n++;
			if (B.rx_cpu[i] && B.busy_cpu_ns + 1 >= B.rx_cpu[i]) {
				/* Busy CPU time of the iterations before this one, wall time in it. */
				ns = B.busy_cpu_ns + 1 - B.rx_cpu[i] +
				     (uint64_t)((double)(t - B.iter_tsc) * 1e9 / B.hz);
				B.cpu_hist[ns / HIST_NS < HIST_N ? ns / HIST_NS : HIST_N - 1]++;
				B.cpu_lat_n++;
			}
			/*
			 * The card's own steps for it: the CPU time of the iteration that
			 * took it in (posted it), then this one's up to its FINAL; the
			 * iterations between, while the stand-in had it, are not the card's.
			 */
			/* (iteration numbers modulo 2^32: ITER_RING divides it) */
			if (B.rx_iter[i] && (uint32_t)B.iter_no - B.rx_iter[i] < ITER_RING) {
				if (B.rx_iter[i] == (uint32_t)B.iter_no)
					ns = (uint64_t)((double)(t - B.rx_tsc[i]) * 1e9 / B.hz);
				else
					ns = B.iter_cpu[B.rx_iter[i] % ITER_RING] +
					     (uint64_t)((double)(t - B.iter_tsc) * 1e9 / B.hz);
				B.own_hist[ns / HIST_NS < HIST_N ? ns / HIST_NS : HIST_N - 1]++;
				B.own_lat_n++;
			}
		}
	}
	B.txb[B.ntx++] = m;
	if (B.ntx == BURST)
		flush_tx();
}

static void
io_rx_free(void *io, void *cookie)
{
	(void)io;
	rte_pktmbuf_free(cookie);
}

static int
io_handoff(void *io, unsigned int to, uint16_t port, void *c, const uint8_t *f, uint32_t len)
{
	(void)io, (void)to, (void)port, (void)c, (void)f, (void)len;
	return -ENOBUFS; /* one worker: never called */
}

static int
io_usage_emit(void *io, const struct tf_dp_usage_ev *rec)
{
	(void)io;
	(void)rec;
	return 0; /* tokfab-dp hands them to its main lcore; here they are dropped */
}

static const struct tf_dp_io_ops bench_io = {
	.tx_alloc = io_tx_alloc,
	.tx_send = io_tx_send,
	.rx_send = io_tx_send,
	.rx_free = io_rx_free,
	.handoff = io_handoff,
	.usage_emit = io_usage_emit,
};

/* ---- feeder lcore: requests in, stand-in accelerator ---- */

static uint32_t g_card_ip, g_cli_ip;
static const uint8_t g_card_mac[6] = { 2, 0xca, 0, 0, 0, 1 };
static const uint8_t g_cli_mac[6] = { 2, 0xc1, 0, 0, 0, 2 };
static uint8_t g_tmpl[256];
static uint32_t g_tmpl_len;

static void
build_template(void)
{
	struct tf_pkt_addr cli = { .ip = g_cli_ip, .udp_port = htons(40000) };
	struct tf_pkt_peer card = { .ip = g_card_ip, .port = htons(TF_PROTO_PORT) };
	uint8_t prompt[256];
	struct tf_proto_msg m = { .version = 1, .type = TF_PROTO_T_REQUEST, .tenant_id = 42 };
	int n;

	memcpy(cli.mac, g_cli_mac, 6);
	memcpy(card.mac, g_card_mac, 6);
	for (uint32_t i = 0; i < B.prompt_tokens; i++)
		tf_proto_st32(prompt + 4 * i, 1 + i);
	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = B.tokens,
					     .prompt_total_len = 4 * B.prompt_tokens,
					     .prompt_kind = TF_PROTO_PROMPT_TOKENS,
					     .priority = 3,
					     .req_flags = B.req_flags,
					     .top_p = 10000,
					     .prompt = prompt,
					     .prompt_len = 4 * B.prompt_tokens };
	n = tf_proto_encode(g_tmpl + 42, sizeof(g_tmpl) - 42, &m, &B.key);
	if (n < 0)
		rte_exit(1, "bench_dp: template does not encode\n");
	tf_pkt_udp_build(g_tmpl, &cli, &card, (uint16_t)n, 1, 0); /* checksum per request */
	g_tmpl_len = 42 + (uint32_t)n;
}

/* One request frame: template + fresh request id + timestamp, re-signed. */
static struct rte_mbuf *
make_request(uint64_t seq, uint64_t now_us)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(B.pool);
	uint8_t *f;

	if (!m)
		return NULL;
	f = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(f, g_tmpl, g_tmpl_len);
	tf_proto_st64(f + 42 + 16, B.rid_base + seq);
	tf_proto_st64(f + 42 + 24, now_us);
	tf_proto_sign(f + 42, g_tmpl_len - 42, &B.key);
	{
		uint16_t c;

		f[40] = f[41] = 0;
		c = tf_pkt_udp4_csum(g_cli_ip, g_card_ip, f + 34, (uint16_t)(g_tmpl_len - 34));
		if (c == 0)
			c = 0xffff;
		memcpy(f + 40, &c, 2);
	}
	m->data_len = (uint16_t)g_tmpl_len;
	m->pkt_len = g_tmpl_len;
	return m;
}

static void
standin_poll(void)
{
	struct tf_xport_event ev[64];
	int n;

	if (!B.ax) {
		if (tf_xport_accept(B.al, &B.ax) != 0)
			return;
	}
	n = tf_xport_poll(B.ax, ev, 64);
	for (int i = 0; i < n; i++) {
		struct tf_accel_tok tok[64];
		char text[64];
		struct tf_accel_usage u = { .completion_tokens = B.tokens,
					    .reason = TF_ACCEL_FINISH_MAX_TOKENS };

		if (ev[i].type != TF_XPORT_EV_REQUEST)
			continue;
		B.accel_reqs++;
		u.prompt_tokens = ev[i].u.request.hdr->prompt_bytes / 4;
		for (uint32_t k = 0; k < B.tokens; k++) {
			tok[k] = (struct tf_accel_tok){ .id = 100 + k, .text_len = 1 };
			text[k] = 'a';
		}
		while (tf_xport_resp_tokens(B.ax, ev[i].handle, 0, tok, B.tokens, text, B.tokens) ==
			       -ENOBUFS ||
		       tf_xport_resp_end(B.ax, ev[i].handle, &u) == -ENOBUFS) {
			tf_xport_resp_flush(B.ax);
			tf_xport_poll(B.ax, NULL, 0);
		}
	}
	if (n > 0)
		tf_xport_credits_return(B.ax);
	tf_xport_resp_flush(B.ax);
}

/* Wall clock from the TSC and one offset, as tokfab-dp's lcores do (no syscall per loop). */
static uint64_t g_wall0_us, g_tsc0;

static uint64_t
wall_us(void)
{
	return g_wall0_us + (uint64_t)((double)(rte_rdtsc() - g_tsc0) * 1e6 / B.hz);
}

static void
wall_init(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	g_tsc0 = rte_rdtsc();
	g_wall0_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
feeder_main(void *arg)
{
	uint64_t start = rte_rdtsc(), next = start, seq = 0;
	uint64_t gap = B.rate > 0 ? (uint64_t)(B.hz / B.rate) : 0;
	struct tf_accel_status st = { .flags = TF_ACCEL_ST_HEALTHY,
				      .max_inflight = 4096,
				      .nmodels = 1 };
	uint64_t last_status = 0;

	(void)arg;
	st.models[0].model_id = 7;
	while (!B.stop) {
		uint64_t now = rte_rdtsc();

		if (seq < B.nslots && (gap == 0 || now >= next)) {
			struct rte_mbuf *m[BURST];
			unsigned int n = 0, want = gap ? 1 : BURST;

			/* Keep the ring shallow: a backlog would only measure the ring. */
			if (rte_ring_count(B.rxr) < 4 * BURST) {
				uint64_t us = wall_us();

				for (; n < want && seq + n < B.nslots; n++) {
					m[n] = make_request(seq + n, us);
					if (!m[n])
						break;
				}
				n = rte_ring_sp_enqueue_burst(B.rxr, (void **)m, n, NULL);
				seq += n;
				B.sent = seq;
				next += gap * n;
			}
		}
		if (B.ax && now - last_status > (uint64_t)B.hz / 20) {
			st.heartbeat_ms = (uint32_t)(now * 1000 / (uint64_t)B.hz);
			tf_xport_status_publish(B.ax, &st);
			last_status = now;
		}
		standin_poll();
	}
	return 0;
}

/* ---- card lcore ---- */

static double g_card_cpu_s;

static double
thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
card_loop(double seconds)
{
	struct rte_mbuf *pkts[BURST];
	uint64_t t_end = rte_rdtsc() + (uint64_t)(seconds * B.hz);
	uint64_t t0 = rte_rdtsc(), prev = t0, prev_cpu = 0;
	double cpu0 = thread_cpu_s();
	unsigned int prev_work = 0;

	while (prev < t_end) {
		uint16_t n = rte_eth_rx_burst(B.ring_port, 0, pkts, BURST);
		unsigned int work = n;
		uint64_t now = rte_rdtsc();

		if (B.rate > 0) {
			/* Latency phase: the lcore's CPU clock once per iteration (a syscall). */
			struct timespec ts;
			uint64_t c;

			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
			c = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
			if (prev_work && prev_cpu && c - prev_cpu > B.clock_cost_ns)
				B.busy_cpu_ns += c - prev_cpu - B.clock_cost_ns;
			if (prev_cpu)
				B.iter_cpu[B.iter_no % ITER_RING] =
					c - prev_cpu > B.clock_cost_ns
						? c - prev_cpu - B.clock_cost_ns
						: 0;
			B.iter_no++;
			prev_cpu = c;
			B.iter_tsc = now = rte_rdtsc();
		}
		tf_dp_worker_set_time(B.w, (uint64_t)((double)now * 1e6 / B.hz), wall_us());
		for (uint16_t i = 0; i < n; i++)
			tf_dp_worker_prefetch(B.w, rte_pktmbuf_mtod(pkts[i], uint8_t *),
					      pkts[i]->data_len);
		for (uint16_t i = 0; i < n; i++)
			tf_dp_worker_prefetch_tenant(B.w, rte_pktmbuf_mtod(pkts[i], uint8_t *),
						     pkts[i]->data_len);
		for (uint16_t i = 0; i < n; i++) {
			uint8_t *f = rte_pktmbuf_mtod(pkts[i], uint8_t *);
			uint64_t k = tf_proto_ld64(f + 42 + 16) - B.rid_base;

			if (k < B.nslots) {
				B.rx_tsc[k] = now;
				B.rx_cpu[k] = B.busy_cpu_ns + 1; /* 0 = not measured */
				B.rx_iter[k] = (uint32_t)B.iter_no;
			}
			tf_dp_worker_rx(B.w, 0, pkts[i], f, pkts[i]->data_len);
		}
		work += tf_dp_worker_poll(B.w);
		flush_tx();
		prev_work = work;
		now = rte_rdtsc();
		if (work)
			B.busy_cycles += now - prev;
		prev = now;
	}
	B.all_cycles = prev - t0;
	g_card_cpu_s = thread_cpu_s() - cpu0;
}

static double
percentile_of(const uint32_t *hist, uint64_t n, double q)
{
	uint64_t want = (uint64_t)(q * (double)n), acc = 0;

	for (uint32_t i = 0; i < HIST_N; i++) {
		acc += hist[i];
		if (acc > want)
			return (double)i * HIST_NS / 1000.0; /* µs */
	}
	return (double)HIST_N * HIST_NS / 1000.0;
}

static double
percentile(double q)
{
	return percentile_of(B.hist, B.lat_n, q);
}

static int
setup_worker(void)
{
	struct tf_dp_worker_params p = { .id = 0, .nworkers = 1, .io_ops = &bench_io };
	struct tf_aq_set_model md = { .model_id = 7,
				      .max_prompt_tokens = 4096,
				      .max_new_tokens = 4096 };
	struct tf_aq_set_accel ac = { .accel_id = 1,
				      .transport = TF_TRANSPORT_SHM,
				      .weight = 100,
				      .max_outstanding = 4096,
				      .n_models = 1,
				      .models = { 7 } };
	struct tf_aq_set_tenant tn = { .tenant_id = 42,
				       .key_len = 32,
				       .priority = 7,
				       .flags = TF_TENANT_F_UNLIMITED,
				       .mac_algs =
					       TF_TENANT_MAC_HMAC_SHA256 | TF_TENANT_MAC_SIPHASH,
				       .n_prices = 1 };
	struct tf_aq_set_batching bt = { .max_batch = B.max_batch,
					 .max_batch_bytes = 1 << 20,
					 .max_queue_delay_us = B.delay_us };
	struct tf_aq_tenant_info info;
	uint32_t d;

	p.me.ip = g_card_ip;
	p.me.udp_port = htons(TF_PROTO_PORT);
	p.me.check_udp_csum = 1;
	memcpy(p.me.mac, g_card_mac, 6);
	tf_dp_limits_default(&p.limits);
	p.limits.max_requests = 16384;
	p.limits.max_queue = 8192;
	p.limits.replay_window_ms = 2000;
	p.limits.id_table = 1u << 22; /* every id of the replay window stays known */
	p.limits.cache_entries = 4096;
	p.limits.cache_min_ms = 0;
	p.limits.token_buffer_bytes = 64ull << 20;
	p.mem[0].addr = NULL;
	p.nmem = 0;
	if (tf_dp_worker_create(&p, &B.w) < 0)
		return -1;
	strcpy(md.name, "bench");
	strcpy(tn.name, "bench");
	memcpy(tn.key, B.secret, 32);
	tn.prices[0].model_id = 7;
	tn.prices[0].price_per_1k_micro = 1000;
	snprintf(ac.address, sizeof(ac.address), "%s", B.shm_name);
	if (tf_dp_worker_set_model(B.w, &md, &d) || tf_dp_worker_set_tenant(B.w, &tn, &info, &d) ||
	    tf_dp_worker_set_batching(B.w, &bt, &d) || tf_dp_worker_set_accel(B.w, &ac, &d))
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "tokens", required_argument, NULL, 't' },
		{ "prompt-tokens", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'r' },
		{ "max-batch", required_argument, NULL, 'b' },
		{ "delay-us", required_argument, NULL, 'd' },
		{ "mac", required_argument, NULL, 'M' },
		{ "final-tokens", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	char uri[96];
	unsigned int feeder;
	uint64_t t_conn;
	int rc, ch;

	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		rte_exit(1, "bench_dp: EAL init failed\n");
	argc -= rc;
	argv += rc;
	B.seconds = 2;
	B.tokens = 4;
	B.prompt_tokens = 16;
	B.max_batch = 32;
	B.delay_us = 20;
	B.mac_alg = TF_PROTO_MAC_HMAC_SHA256;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			B.seconds = atof(optarg);
			break;
		case 't':
			B.tokens = (uint32_t)atoi(optarg);
			break;
		case 'p':
			B.prompt_tokens = (uint32_t)atoi(optarg);
			break;
		case 'r':
			B.rate = atof(optarg);
			break;
		case 'b':
			B.max_batch = (uint32_t)atoi(optarg);
			break;
		case 'd':
			B.delay_us = (uint32_t)atoi(optarg);
			break;
		case 'M':
			rc = tf_proto_mac_alg_parse(optarg);
			if (rc < 0)
				rte_exit(2, "bench_dp: --mac hmac or siphash\n");
			B.mac_alg = (uint8_t)rc;
			break;
		case 'F':
			B.req_flags = TF_PROTO_RF_FINAL_TOKENS;
			break;
		default:
			rte_exit(2, "bench_dp: bad option\n");
		}
	}
	if (B.tokens < 1 || B.tokens > 64 || B.prompt_tokens < 1 || B.prompt_tokens > 48)
		rte_exit(2, "bench_dp: --tokens 1..64, --prompt-tokens 1..48\n");
	feeder = rte_get_next_lcore(rte_lcore_id(), 1, 0);
	if (feeder >= RTE_MAX_LCORE)
		rte_exit(2, "bench_dp: needs two lcores (card + feeder), e.g. -l 0,1\n");
	B.hz = (double)rte_get_tsc_hz();
	wall_init();
	{
		/* The thread CPU clock's own cost, subtracted from each busy iteration. */
		double c0 = thread_cpu_s();

		for (int i = 0; i < 1000; i++)
			(void)thread_cpu_s();
		B.clock_cost_ns = (uint64_t)((thread_cpu_s() - c0) * 1e9 / 1001);
	}
	g_card_ip = htonl(0x0a090001);
	g_cli_ip = htonl(0x0a090002);
	for (int i = 0; i < 32; i++)
		B.secret[i] = (uint8_t)(i * 7);
	tf_proto_key_init(&B.key, B.mac_alg, 0, B.secret, 32);
	B.rid_base = (uint64_t)getpid() << 32;
	B.nslots = 1u << 23;
	B.rx_tsc = calloc(B.nslots, sizeof(*B.rx_tsc));
	B.rx_cpu = calloc(B.nslots, sizeof(*B.rx_cpu));
	B.hist = calloc(HIST_N, sizeof(*B.hist));
	B.cpu_hist = calloc(HIST_N, sizeof(*B.cpu_hist));
	B.rx_iter = calloc(B.nslots, sizeof(*B.rx_iter));
	B.own_hist = calloc(HIST_N, sizeof(*B.own_hist));
	if (B.rx_tsc && B.rx_cpu && B.rx_iter) { /* no page faults while timing */
		memset(B.rx_tsc, 0, B.nslots * sizeof(*B.rx_tsc));
		memset(B.rx_cpu, 0, B.nslots * sizeof(*B.rx_cpu));
		memset(B.rx_iter, 0, B.nslots * sizeof(*B.rx_iter));
	}
	B.pool = rte_pktmbuf_pool_create("bench_mbufs", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					 rte_socket_id());
	B.rxr = rte_ring_create("bench_rx", 1024, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!B.rx_tsc || !B.rx_cpu || !B.rx_iter || !B.hist || !B.cpu_hist || !B.own_hist ||
	    !B.pool || !B.rxr)
		rte_exit(1, "bench_dp: out of memory\n");
	rc = rte_eth_from_ring(B.rxr);
	if (rc < 0 || rte_eth_dev_get_port_by_name("net_null0", &B.null_port) != 0)
		rte_exit(2, "bench_dp: needs --vdev=net_null0 for the transmit side\n");
	B.ring_port = (uint16_t)rc;
	{
		struct rte_eth_conf conf = { 0 };
		uint16_t ports[2] = { B.ring_port, B.null_port };

		for (int i = 0; i < 2; i++) {
			if (rte_eth_dev_configure(ports[i], 1, 1, &conf) < 0 ||
			    rte_eth_rx_queue_setup(ports[i], 0, 1024, rte_socket_id(), NULL,
						   B.pool) < 0 ||
			    rte_eth_tx_queue_setup(ports[i], 0, 1024, rte_socket_id(), NULL) < 0 ||
			    rte_eth_dev_start(ports[i]) < 0)
				rte_exit(1, "bench_dp: port %u set-up failed\n", ports[i]);
		}
	}
	snprintf(B.shm_name, sizeof(B.shm_name), "bench-dp-%d", (int)getpid());
	snprintf(uri, sizeof(uri), "shm:%s", B.shm_name);
	if (tf_xport_ctx_create(&B.actx) < 0 ||
	    tf_xport_listen(B.actx,
			    &(struct tf_xport_listen_cfg){
				    .uri = uri, .max_inflight = 4096, .in_ring_bytes = 16u << 20 },
			    &B.al) < 0)
		rte_exit(1, "bench_dp: stand-in accelerator cannot listen on %s\n", uri);
	build_template();
	if (setup_worker() < 0)
		rte_exit(1, "bench_dp: pipeline set-up failed\n");
	/* Connect the card to the stand-in (this lcore polls both until UP). */
	t_conn = rte_rdtsc() + (uint64_t)(3 * B.hz);
	while (rte_rdtsc() < t_conn) {
		struct tf_dp_obj_stats st;
		uint32_t id;

		tf_dp_worker_set_time(B.w, (uint64_t)((double)rte_rdtsc() * 1e6 / B.hz), wall_us());
		tf_dp_worker_poll(B.w);
		standin_poll();
		if (tf_dp_worker_accel_stats(B.w, 0, &id, &st) == 0 && st.state == TF_HS_UP)
			break;
	}
	rte_eal_remote_launch(feeder_main, NULL, feeder);
	card_loop(B.seconds);
	B.stop = 1;
	rte_eal_wait_lcore(feeder);
	{
		const struct tf_dp_counters *c = tf_dp_worker_counters(B.w);
		double busy_s = (double)B.busy_cycles / B.hz, all_s = (double)B.all_cycles / B.hz;
		uint64_t drops = 0;

		for (int i = 0; i < TF_DROP_MAX; i++)
			drops += c->drop[i];
		printf("requests_sent %lu\n", (unsigned long)B.sent);
		printf("requests_done %lu\n", (unsigned long)B.finals);
		printf("accel_requests %lu\n", (unsigned long)B.accel_reqs);
		printf("card_seconds %.3f\n", all_s);
		printf("card_busy_fraction %.3f\n", busy_s / all_s);
		printf("requests_per_busy_second %.0f\n",
		       busy_s > 0 ? (double)B.finals / busy_s : 0);
		printf("requests_per_second %.0f\n", all_s > 0 ? (double)B.finals / all_s : 0);
		/* The lcore's own CPU time: time the OS gave to other processes is not in it. */
		printf("card_cpu_seconds %.3f\n", g_card_cpu_s);
		printf("requests_per_card_cpu_second %.0f\n",
		       g_card_cpu_s > 0 ? (double)B.finals / (g_card_cpu_s * busy_s / all_s) : 0);
		printf("frames_in %lu\n", (unsigned long)c->ev[TF_EV_RX_PKTS]);
		printf("frames_out %lu\n", (unsigned long)c->ev[TF_EV_TX_PKTS]);
		printf("batches %lu\n", (unsigned long)c->ev[TF_EV_BATCHES]);
		printf("batch_reqs %lu\n", (unsigned long)c->ev[TF_EV_BATCH_REQS]);
		printf("drops %lu\n", (unsigned long)drops);
		printf("refused %lu\n",
		       (unsigned long)(c->ev[TF_EV_REQ_RX] - c->ev[TF_EV_REQ_ADMITTED]));
		printf("latency_samples %lu\n", (unsigned long)B.lat_n);
		printf("latency_p50_us %.2f\n", percentile(0.50));
		printf("latency_p90_us %.2f\n", percentile(0.90));
		printf("latency_p99_us %.2f\n", percentile(0.99));
		printf("latency_p999_us %.2f\n", percentile(0.999));
		printf("cpu_latency_samples %lu\n", (unsigned long)B.cpu_lat_n);
		printf("cpu_latency_p50_us %.2f\n", percentile_of(B.cpu_hist, B.cpu_lat_n, 0.50));
		printf("cpu_latency_p90_us %.2f\n", percentile_of(B.cpu_hist, B.cpu_lat_n, 0.90));
		printf("cpu_latency_p99_us %.2f\n", percentile_of(B.cpu_hist, B.cpu_lat_n, 0.99));
		printf("cpu_latency_p999_us %.2f\n", percentile_of(B.cpu_hist, B.cpu_lat_n, 0.999));
		printf("own_latency_samples %lu\n", (unsigned long)B.own_lat_n);
		printf("own_latency_p50_us %.2f\n", percentile_of(B.own_hist, B.own_lat_n, 0.50));
		printf("own_latency_p90_us %.2f\n", percentile_of(B.own_hist, B.own_lat_n, 0.90));
		printf("own_latency_p99_us %.2f\n", percentile_of(B.own_hist, B.own_lat_n, 0.99));
		printf("own_latency_p999_us %.2f\n", percentile_of(B.own_hist, B.own_lat_n, 0.999));
	}
	tf_dp_worker_destroy(B.w);
	if (B.ax)
		tf_xport_disconnect(B.ax);
	tf_xport_listener_close(B.al);
	tf_xport_ctx_destroy(B.actx);
	free(B.rx_tsc);
	free(B.rx_cpu);
	free(B.hist);
	free(B.cpu_hist);
	free(B.rx_iter);
	free(B.own_hist);
	rte_eal_cleanup();
	return 0;
}
