/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_dp_cpu: the CPU cost of tokfab-dp's request pipeline per request,
 * in one thread and without DPDK, so it can be measured on a shared machine
 * (thread CPU time, not wall time) and run under callgrind to see where the
 * instructions go. The same libtfdp worker as tokfab-dp; frames are plain
 * buffers pre-built and signed before timing; responses are dropped after
 * the worker built them; the accelerator is an in-process stand-in on the
 * real shm transport answering every request with N tokens (benchmark only).
 *
 * Time is split with rdtsc between the card (worker rx + poll) and the
 * stand-in; the card's share of the thread's CPU time is the figure.
 *
 * Then the card's added latency at light load (one request at a time).
 *
 *   bench_dp_cpu [--requests N] [--tokens N] [--prompt-tokens N] [--max-batch N]
 *                [--latency N] [--mac hmac|siphash] [--final-tokens] [--half-load N]
 *                [--tenants N]
 *
 * --mac: the algorithm every request is signed with (the card answers under
 * it); --final-tokens: requests set FINAL_TOKENS, so the card may send the
 * last tokens inside the FINAL (protocol.md 3.7); --tenants: requests come
 * from N tenants (ids 1..N, each request's tenant drawn by a hash of its
 * number: no locality), to see what the tenant table costs per request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "dataplane/worker.h"
#include "dataplane/xport/xport.h"
#include "tokfab/proto.h"

#define FRAME 256
#define POOL 65536u /* request frames, reused: re-signed with a new request id each time */

static uint8_t *g_frames; /* POOL * FRAME bytes */
static uint64_t g_frame_rid[POOL]; /* the request id frame i holds */
static uint32_t g_flen;
static uint32_t g_tokens; /* the stand-in's answer, and each request's max_new_tokens */
static uint32_t g_ntenants = 1; /* 1: tenant 42 only */

static uint32_t
tenant_of(uint64_t i)
{
	if (g_ntenants == 1)
		return 42;
	return 1 + (uint32_t)(((i + 1) * 0x9e3779b97f4a7c15ull) >> 32) % g_ntenants;
}

/* What the clients sign (the REQUEST's fields), set up once in main(). */
static struct {
	struct tf_proto_key key;
	struct tf_pkt_addr cli;
	struct tf_pkt_peer card;
	uint8_t prompt[256];
	uint32_t ptok;
	uint16_t req_flags;
} g_c;
static uint64_t g_out, g_out_bytes, g_finals;

/*
 * The half-load phase runs on a virtual clock that advances only by the card's
 * own work: each rx + poll step's TSC time, or its thread CPU time (the clock
 * read's own cost subtracted) when that is smaller, so the accelerator
 * stand-in's time and the time the OS gives the core to others are not in it. Requests arrive by a Poisson
 * process at half the measured capacity; each one's latency is its FINAL's
 * virtual time minus its arrival: the card-added latency, queueing in the
 * card included. Within a step, a FINAL's offset is TSC time, scaled down to
 * the step's CPU time when the step was preempted.
 */
static struct {
	uint64_t first, n; /* request numbers [first, first + n) */
	uint64_t *arr_ns; /* virtual arrival time of each */
	uint64_t *lat, nlat;
	double *off; /* per FINAL of the current step: its TSC offset in the step (ns) */
	double vt_ns, ns_per_tick, clock_cost, busy_ns;
	uint64_t iter_tsc, vm0, vw0;
	uint32_t step_first; /* lat[step_first, nlat): FINALs of this step, offsets for now */
} g_hl;
/*
 * Slow steps of the half-load phase, by phase, beside a baseline in the same
 * loop: after every card step a fixed piece of work (a null step of about the
 * card step's median length, no memory traffic) timed the same way. A step
 * that took >= SLOW_NS of TSC time is slow; the phase that had most of its
 * ticks gets it. The machine's own stalls (the vCPU or the thread losing the
 * core) hit both alike per unit of time: slow null steps per second of null
 * work is the noise floor that slow card steps per second of card work are
 * compared with.
 */
#define SLOW_NS 10000
enum { PH_RX = TF_DP_PH_MAX, PH_OTHER, PH_N };
static const char *const ph_name[PH_N] = {
	[TF_DP_PH_XPORT_POLL] = "xport_poll",
	[TF_DP_PH_EVENTS] = "events",
	[TF_DP_PH_BATCH] = "batch",
	[TF_DP_PH_XPORT_POST] = "xport_post",
	[TF_DP_PH_EXPIRE] = "expire",
	[TF_DP_PH_TIMERS] = "timers",
	[TF_DP_PH_USAGE] = "usage",
	[PH_RX] = "rx",
	[PH_OTHER] = "other",
};
static struct {
	uint64_t acc[TF_DP_PH_MAX]; /* the worker's phase clock, per step */
	uint64_t all_ticks[PH_N]; /* every step, by phase */
	uint64_t cls_n[5][5], cls_ticks[5][5]; /* steps below SLOW_NS by frames in, FINALs out */
	uint64_t steps, slow, slow_work, slow_by[PH_N], slow_ticks[PH_N], card_ticks, max_ticks;
	uint64_t null_steps, null_slow, null_ticks, null_max_ticks;
	uint64_t *step_ns, *null_ns; /* per step, for percentiles */
	uint64_t nstep_ns, cap;
	uint32_t null_iters; /* work units of one null step */
	double req_ns; /* the card's saturated cost per request: the null card's start */
} g_sp;
static volatile uint64_t g_sink;

/* The null step: dependent arithmetic, no memory traffic; returns its TSC ticks. */
static uint64_t
null_step(uint32_t iters)
{
	uint64_t x = g_sink, t0 = __rdtsc();

	for (uint32_t i = 0; i < iters; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	g_sink = x;
	return __rdtsc() - t0;
}

static uint8_t g_txbuf[64][2048];
static unsigned int g_txi;

static uint8_t *
io_tx_alloc(void *io, uint16_t port, uint32_t len, void **cookie)
{
	(void)io, (void)port;
	if (len > sizeof(g_txbuf[0]))
		return NULL;
	*cookie = g_txbuf[g_txi++ % 64];
	return *cookie;
}

static void
io_tx_send(void *io, uint16_t port, void *cookie, uint32_t len)
{
	const uint8_t *f = cookie;

	(void)io, (void)port;
	g_out++;
	g_out_bytes += len;
	if (len > 42 + 6 && f[42 + 5] == TF_PROTO_T_FINAL) {
		g_finals++;
		if (g_hl.arr_ns) {
			/* Half-load phase: virtual time now, minus when this request arrived. */
			uint64_t k = tf_proto_ld64(f + 42 + 16) - 1 - g_hl.first;

			if (k < g_hl.n && g_hl.arr_ns[k] != UINT64_MAX) {
				/* Its offset in this step for now; made a latency when the step ends. */
				g_hl.off[g_hl.nlat] =
					(double)(__rdtsc() - g_hl.iter_tsc) * g_hl.ns_per_tick;
				g_hl.lat[g_hl.nlat++] = (uint64_t)g_hl.vt_ns - g_hl.arr_ns[k];
				g_hl.arr_ns[k] = UINT64_MAX;
			}
		}
	}
}

static void
io_rx_free(void *io, void *cookie)
{
	(void)io, (void)cookie; /* frames live in g_frames */
}

static int
io_handoff(void *io, unsigned int to, uint16_t port, void *c, const uint8_t *f, uint32_t len)
{
	(void)io, (void)to, (void)port, (void)c, (void)f, (void)len;
	return -ENOBUFS;
}

static int
io_usage_emit(void *io, const struct tf_dp_usage_ev *rec)
{
	(void)io, (void)rec;
	return 0;
}

static const struct tf_dp_io_ops cpu_io = {
	.tx_alloc = io_tx_alloc,
	.tx_send = io_tx_send,
	.rx_send = io_tx_send,
	.rx_free = io_rx_free,
	.handoff = io_handoff,
	.usage_emit = io_usage_emit,
};

int cmp(const void *x, const void *y);

int
cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The frame of request number i (id i + 1), signed at ts: the clients' work, not timed as the card's. */
static uint8_t *
frame(uint64_t i, uint64_t ts)
{
	uint8_t *f = g_frames + (size_t)(i % POOL) * FRAME;
	struct tf_proto_msg m = { .version = 1,
				  .type = TF_PROTO_T_REQUEST,
				  .tenant_id = tenant_of(i),
				  .request_id = i + 1,
				  .timestamp_us = ts };
	int n;

	if (g_frame_rid[i % POOL] == i + 1)
		return f;
	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = g_tokens,
					     .prompt_total_len = 4 * g_c.ptok,
					     .priority = 3,
					     .req_flags = g_c.req_flags,
					     .top_p = 10000,
					     .prompt = g_c.prompt,
					     .prompt_len = 4 * g_c.ptok };
	n = tf_proto_encode(f + 42, FRAME - 42, &m, &g_c.key);
	if (n < 0)
		abort();
	tf_pkt_udp_build(f, &g_c.cli, &g_c.card, (uint16_t)n, 1, 1);
	g_flen = 42 + (uint32_t)n;
	g_frame_rid[i % POOL] = i + 1;
	return f;
}

/* ---- stand-in accelerator ---- */

static struct tf_xport_listener *g_l;
static struct tf_xport *g_ax;
static uint64_t g_polls;

static void
standin_poll(void)
{
	struct tf_xport_event ev[64];
	int n;

	if (!g_ax && tf_xport_accept(g_l, &g_ax) != 0)
		return;
	if (++g_polls % 1024 == 0) {
		/* Heartbeat: a card declares an accelerator silent for seconds dead. */
		struct tf_accel_status st = { .flags = TF_ACCEL_ST_HEALTHY,
					      .max_inflight = 4096,
					      .nmodels = 1,
					      .heartbeat_ms = (uint32_t)(clock_us(CLOCK_MONOTONIC) /
									 1000) };

		st.models[0].model_id = 7;
		tf_xport_status_publish(g_ax, &st);
	}
	n = tf_xport_poll(g_ax, ev, 64);
	for (int i = 0; i < n; i++) {
		struct tf_accel_tok tok[64];
		char text[64];
		struct tf_accel_usage u = { .completion_tokens = g_tokens,
					    .reason = TF_ACCEL_FINISH_MAX_TOKENS };

		if (ev[i].type != TF_XPORT_EV_REQUEST)
			continue;
		u.prompt_tokens = ev[i].u.request.hdr->prompt_bytes / 4;
		for (uint32_t k = 0; k < g_tokens; k++) {
			tok[k] = (struct tf_accel_tok){ .id = 100 + k, .text_len = 1 };
			text[k] = 'a';
		}
		while (tf_xport_resp_tokens(g_ax, ev[i].handle, 0, tok, g_tokens, text, g_tokens) ==
			       -ENOBUFS ||
		       tf_xport_resp_end(g_ax, ev[i].handle, &u) == -ENOBUFS)
			tf_xport_resp_flush(g_ax);
	}
	if (n > 0)
		tf_xport_credits_return(g_ax);
	tf_xport_resp_flush(g_ax);
}

/*
 * Requests [first, first + n) through the card on the virtual clock (g_hl):
 * Poisson arrivals with mean gap gap_ns, or all due at once (gap 0: a closed
 * loop of at most 2048 outstanding). Latencies in g_hl.lat. 0 or -1.
 */
static void
step_profile(uint64_t rx_ticks, uint64_t poll_ticks, unsigned int nin, unsigned int nout)
{
	uint64_t t = rx_ticks + poll_ticks, ph[PH_N], sum = 0;
	unsigned int worst = PH_RX, work = nin + nout;

	if ((double)t * g_hl.ns_per_tick < SLOW_NS) {
		unsigned int a = nin < 4 ? nin : 4, b = nout < 4 ? nout : 4;

		g_sp.cls_n[a][b]++;
		g_sp.cls_ticks[a][b] += t;
	}

	g_sp.steps++;
	g_sp.card_ticks += t;
	g_sp.all_ticks[PH_RX] += rx_ticks;
	for (unsigned int i = 0; i < TF_DP_PH_MAX; i++) {
		g_sp.all_ticks[i] += g_sp.acc[i];
		sum += g_sp.acc[i];
	}
	g_sp.all_ticks[PH_OTHER] += poll_ticks > sum ? poll_ticks - sum : 0;
	sum = 0;
	if (t > g_sp.max_ticks)
		g_sp.max_ticks = t;
	if (g_sp.nstep_ns < g_sp.cap)
		g_sp.step_ns[g_sp.nstep_ns++] = (uint64_t)((double)t * g_hl.ns_per_tick);
	/* Slow: beyond SLOW_NS plus a generous 1 µs per frame in and FINAL out of the step. */
	if ((double)t * g_hl.ns_per_tick < SLOW_NS + 1000.0 * work)
		return;
	g_sp.slow_work += work;
	for (unsigned int i = 0; i < TF_DP_PH_MAX; i++) {
		ph[i] = g_sp.acc[i];
		sum += ph[i];
	}
	ph[PH_RX] = rx_ticks;
	ph[PH_OTHER] = poll_ticks > sum ? poll_ticks - sum : 0;
	for (unsigned int i = 0; i < PH_N; i++) {
		g_sp.slow_ticks[i] += ph[i];
		if (ph[i] > ph[worst])
			worst = i;
	}
	g_sp.slow++;
	g_sp.slow_by[worst]++;
}

/* The null card (below). */
struct null_card {
	double vt, next_arr, gap, busy;
	uint64_t rng, taken, n;
	double prev[32]; /* arrivals of the requests taken in the previous step */
	unsigned int nprev;
	int flat; /* 1: every request costs the card's saturated cost, steps nothing */
	uint64_t *lat, nlat;
};
static struct null_card g_nc[2]; /* [0] the card's step costs, [1] flat */
static double g_nc_ratio = 1, g_nc_iters_per_ns; /* the arithmetic's pace */

static void
null_profile(void)
{
	uint64_t t = null_step(g_sp.null_iters);

	g_sp.null_steps++;
	g_sp.null_ticks += t;
	if (t > g_sp.null_max_ticks)
		g_sp.null_max_ticks = t;
	if (g_sp.nstep_ns <= g_sp.cap && g_sp.null_steps <= g_sp.cap)
		g_sp.null_ns[g_sp.null_steps - 1] = (uint64_t)((double)t * g_hl.ns_per_tick);
	if ((double)t * g_hl.ns_per_tick >= SLOW_NS)
		g_sp.null_slow++;
	/* The arithmetic's pace now (it drifts with the other vCPU's load): unstalled steps only. */
	if ((double)t * g_hl.ns_per_tick < 2000 && (double)t * g_hl.ns_per_tick > 250)
		g_nc_ratio += ((double)t * g_hl.ns_per_tick / 1000.0 - g_nc_ratio) / 64;
}

/*
 * The null card: the latency baseline, run in the same loop as the card (one
 * step of each per iteration, so both see the same machine at the same
 * moments). Same Poisson arrivals and rate, same bursts of up to 32, same
 * virtual clock, a request's FINAL at the end of the step after the one that
 * took it in (as the card's, whose accelerator answers between steps). Its
 * steps cost what the card's own steps of the same size (frames in, FINALs
 * out) cost on average so far, stalls left out: the same load, but constant
 * work. That work is done (dependent arithmetic, no memory traffic) and timed
 * like a card step; whatever it took beyond its nominal length is this
 * machine's stall, added to the virtual clock. So the null card's latency is
 * what the card's load alone gives on this machine, stalls and the queueing
 * after them included; the card's beyond it is the card's own variance.
 * The flat card is the same, but every request costs the card's saturated
 * cost per request (steps cost nothing of their own): the load is then
 * really half, what the card would see if small steps cost no more per
 * request than full bursts.
 */

/*
 * The card's mean step below SLOW_NS for nin frames in, nout FINALs out (ns),
 * from its steps so far; each request beyond 4 in or out at half the card's
 * saturated cost per request (what a request adds to a large step).
 */
static double
card_step_ns(unsigned int nin, unsigned int nout)
{
	unsigned int a = nin < 4 ? nin : 4, b = nout < 4 ? nout : 4;
	double base;

	if (g_sp.cls_n[a][b] >= 16)
		base = (double)g_sp.cls_ticks[a][b] * g_hl.ns_per_tick / (double)g_sp.cls_n[a][b];
	else
		base = g_sp.req_ns / 2 * (a + b);
	return base + g_sp.req_ns / 2 * ((nin - a) + (nout - b));
}

static void
null_card_step(struct null_card *c)
{
	double cur[32], want, took, cpu;
	unsigned int nb = 0;
	uint64_t t, c0, c1;

	if (c->taken >= c->n && !c->nprev)
		return;
	if (!c->nprev && c->next_arr > c->vt)
		c->vt = c->next_arr; /* idle until the next arrival */
	while (nb < 32 && c->taken < c->n && c->next_arr <= c->vt) {
		double u;

		cur[nb++] = c->next_arr;
		c->taken++;
		c->rng ^= c->rng << 13, c->rng ^= c->rng >> 7, c->rng ^= c->rng << 17;
		u = ((double)(c->rng >> 11) + 0.5) / 9007199254740992.0;
		c->next_arr += -c->gap * log(u);
	}
	want = c->flat ? g_sp.req_ns * nb : card_step_ns(nb, c->nprev);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t = null_step((uint32_t)(want * g_nc_iters_per_ns));
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	took = (double)t * g_hl.ns_per_tick;
	cpu = (double)(c1 - c0) - g_hl.clock_cost;
	if (cpu < took)
		took = cpu > 0 ? cpu : 0;
	/* Its nominal length, plus what the machine added (the arithmetic's own pace: g_nc_ratio). */
	took -= want * g_nc_ratio;
	want += took > 0 ? took : 0;
	c->vt += want;
	c->busy += want;
	for (unsigned int k = 0; k < c->nprev; k++)
		c->lat[c->nlat++] = (uint64_t)(c->vt - c->prev[k]);
	memcpy(c->prev, cur, nb * sizeof(cur[0]));
	c->nprev = nb;
}

static uint64_t
pct(uint64_t *v, uint64_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp);
	return v[(uint64_t)((double)n * q)];
}

/* Prints the slow-step profile of the half-load phase and its baseline. */
static void
profile_report(void)
{
	double card_s = (double)g_sp.card_ticks * g_hl.ns_per_tick / 1e9;
	double null_s = (double)g_sp.null_ticks * g_hl.ns_per_tick / 1e9;
	uint64_t nn = g_sp.null_steps < g_sp.cap ? g_sp.null_steps : g_sp.cap;

	printf("steps %lu\n", (unsigned long)g_sp.steps);
	/* The card's busy share of the virtual time: its load at this offered rate. */
	printf("card_utilisation %.3f\n", g_hl.vt_ns > 0 ? g_hl.busy_ns / g_hl.vt_ns : 0.0);
	printf("step_p50_ns %lu\n", (unsigned long)pct(g_sp.step_ns, g_sp.nstep_ns, 0.5));
	printf("step_p99_ns %lu\n", (unsigned long)pct(g_sp.step_ns, g_sp.nstep_ns, 0.99));
	printf("step_p999_ns %lu\n", (unsigned long)pct(g_sp.step_ns, g_sp.nstep_ns, 0.999));
	printf("step_max_ns %.0f\n", (double)g_sp.max_ticks * g_hl.ns_per_tick);
	printf("slow_steps %lu\n", (unsigned long)g_sp.slow);
	printf("slow_step_work %.1f\n", g_sp.slow ? (double)g_sp.slow_work / (double)g_sp.slow : 0);
	printf("slow_steps_per_card_second %.1f\n", card_s > 0 ? (double)g_sp.slow / card_s : 0);
	/* slow_by_<phase>: slow steps it had most of, mean ns in slow steps, its share of all card time */
	for (unsigned int i = 0; i < PH_N; i++)
		printf("slow_by_%s %lu %.0f %.3f\n", ph_name[i], (unsigned long)g_sp.slow_by[i],
		       g_sp.slow ? (double)g_sp.slow_ticks[i] * g_hl.ns_per_tick / (double)g_sp.slow
				 : 0.0,
		       g_sp.card_ticks ? (double)g_sp.all_ticks[i] / (double)g_sp.card_ticks : 0.0);
	for (int a = 0; a < 5; a++)
		for (int b = 0; b < 5; b++)
			if (g_sp.cls_n[a][b])
				printf("step_in%d_out%d %lu %.0f\n", a, b,
				       (unsigned long)g_sp.cls_n[a][b],
				       (double)g_sp.cls_ticks[a][b] * g_hl.ns_per_tick /
					       (double)g_sp.cls_n[a][b]);
	printf("null_steps %lu\n", (unsigned long)g_sp.null_steps);
	printf("null_p50_ns %lu\n", (unsigned long)pct(g_sp.null_ns, nn, 0.5));
	printf("null_p99_ns %lu\n", (unsigned long)pct(g_sp.null_ns, nn, 0.99));
	printf("null_p999_ns %lu\n", (unsigned long)pct(g_sp.null_ns, nn, 0.999));
	printf("null_max_ns %.0f\n", (double)g_sp.null_max_ticks * g_hl.ns_per_tick);
	printf("null_slow_steps %lu\n", (unsigned long)g_sp.null_slow);
	printf("null_slow_steps_per_second %.1f\n",
	       null_s > 0 ? (double)g_sp.null_slow / null_s : 0);
}

static int
virtual_phase(struct tf_dp_worker *w, uint64_t first, uint64_t n, double gap_ns, int profile)
{
	uint64_t i = 0, done0 = g_finals, rng = 0x9e3779b97f4a7c15ull, t_end;
	double next_arr = 0;

	free(g_hl.arr_ns);
	free(g_hl.lat);
	free(g_hl.off);
	g_hl.first = first;
	g_hl.n = n;
	g_hl.nlat = 0;
	g_hl.vt_ns = 0;
	g_hl.busy_ns = 0;
	g_hl.arr_ns = malloc(n * sizeof(*g_hl.arr_ns));
	g_hl.lat = malloc(n * sizeof(*g_hl.lat));
	g_hl.off = malloc(n * sizeof(*g_hl.off));
	if (!g_hl.arr_ns || !g_hl.lat || !g_hl.off)
		return -1;
	/* Fault the pages in now: the FINALs write into these inside the card's steps. */
	memset(g_hl.arr_ns, 0, n * sizeof(*g_hl.arr_ns));
	memset(g_hl.lat, 0, n * sizeof(*g_hl.lat));
	memset(g_hl.off, 0, n * sizeof(*g_hl.off));
	t_end = clock_us(CLOCK_MONOTONIC) + 60000000;
	while (g_finals - done0 < n && clock_us(CLOCK_MONOTONIC) < t_end) {
		uint8_t *burst[32];
		int nb = 0;
		uint64_t mono, wall, cpu_a, cpu_b;
		double step_cpu, step_tsc;
		uint64_t t_rx, t_step;

		/* Nothing due and nothing in the card: the card idles until the next arrival. */
		if (i < n && next_arr > g_hl.vt_ns && g_finals - done0 == i)
			g_hl.vt_ns = next_arr;
		/* The card's clocks follow the virtual one (batching delays, timers, window). */
		mono = g_hl.vm0 + (uint64_t)(g_hl.vt_ns / 1000);
		wall = g_hl.vw0 + (uint64_t)(g_hl.vt_ns / 1000);
		for (; nb < 32 && i < n && next_arr <= g_hl.vt_ns &&
		       (gap_ns > 0 || i - (g_finals - done0) < 2048);
		     nb++, i++) {
			double u;

			burst[nb] = frame(first + i, wall);
			g_hl.arr_ns[i] = (uint64_t)next_arr;
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			u = ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
			if (gap_ns > 0)
				next_arr += -gap_ns * log(u);
		}
		cpu_a = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		g_hl.step_first = (uint32_t)g_hl.nlat;
		memset(g_sp.acc, 0, sizeof(g_sp.acc));
		g_hl.iter_tsc = __rdtsc();
		tf_dp_worker_set_time(w, mono, wall);
		for (int k = 0; k < nb; k++)
			tf_dp_worker_prefetch(w, burst[k], g_flen);
		for (int k = 0; k < nb; k++)
			tf_dp_worker_prefetch_tenant(w, burst[k], g_flen);
		for (int k = 0; k < nb; k++)
			tf_dp_worker_rx(w, 0, burst[k], burst[k], g_flen);
		t_rx = __rdtsc();
		tf_dp_worker_poll(w);
		t_step = __rdtsc();
		step_tsc = (double)(t_step - g_hl.iter_tsc) * g_hl.ns_per_tick;
		if (profile)
			step_profile(t_rx - g_hl.iter_tsc, t_step - t_rx, (unsigned int)nb,
				     (unsigned int)(g_hl.nlat - g_hl.step_first));
		cpu_b = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		step_cpu = (double)(cpu_b - cpu_a) - g_hl.clock_cost;
		if (step_cpu < 0)
			step_cpu = 0;
		/*
		 * The step's work: TSC time unless the thread lost the core meanwhile
		 * (then its CPU time is less); the thread CPU clock alone jumps by
		 * 10-30 µs now and then over a sub-µs step here (kernel time charged
		 * to the thread), so the smaller of the two is the estimate.
		 */
		if (step_tsc < step_cpu)
			step_cpu = step_tsc;
		/* Preempted inside the step: its FINALs' offsets shrink to its CPU time. */
		for (uint64_t j = g_hl.step_first; j < g_hl.nlat; j++)
			g_hl.lat[j] += (uint64_t)(step_tsc > step_cpu && step_tsc > 0
							  ? g_hl.off[j] * step_cpu / step_tsc
							  : g_hl.off[j]);
		g_hl.vt_ns += step_cpu;
		g_hl.busy_ns += step_cpu;
		standin_poll(); /* the accelerator: not the card's time */
		if (profile) {
			null_profile();
			null_card_step(&g_nc[0]);
			null_card_step(&g_nc[1]);
		}
	}
	/* The null cards end their own requests (they are never far behind). */
	for (int k = 0; profile && k < 2; k++)
		while (g_nc[k].taken < g_nc[k].n || g_nc[k].nprev)
			null_card_step(&g_nc[k]);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "requests", required_argument, NULL, 'n' },
		{ "tokens", required_argument, NULL, 't' },
		{ "prompt-tokens", required_argument, NULL, 'p' },
		{ "max-batch", required_argument, NULL, 'b' },
		{ "latency", required_argument, NULL, 'l' },
		{ "mac", required_argument, NULL, 'M' },
		{ "final-tokens", no_argument, NULL, 'F' },
		{ "half-load", required_argument, NULL, 'H' },
		{ "tenants", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t nreq = 200000, ptok = 16, max_batch = 32, nlat = 20000, nhalf = 200000;
	int mac_alg = TF_PROTO_MAC_HMAC_SHA256;
	uint16_t req_flags = 0;
	struct tf_dp_worker_params p = { .id = 0, .nworkers = 1, .io_ops = &cpu_io };
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
	struct tf_aq_set_batching bt = { .max_batch_bytes = 1 << 20, .max_queue_delay_us = 20 };
	struct tf_xport_ctx *actx;
	struct tf_aq_tenant_info info;
	struct tf_dp_worker *w;
	uint8_t secret[32];
	char dir[] =
		"/dev/shm/bench-dp-cpu.XXXXXX" /* tmpfs: the rings must not be written back to a disk */
		,
	     uri[96];
	uint64_t t_card = 0, t_accel = 0, t_client = 0, cpu0, cpu1, wall0, wall1, next = 0;
	uint64_t wall_base;
	uint32_t d;
	int ch;

	g_tokens = 4;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			nreq = (uint32_t)atoi(optarg);
			break;
		case 't':
			g_tokens = (uint32_t)atoi(optarg);
			break;
		case 'p':
			ptok = (uint32_t)atoi(optarg);
			break;
		case 'b':
			max_batch = (uint32_t)atoi(optarg);
			break;
		case 'l':
			nlat = (uint32_t)atoi(optarg);
			break;
		case 'M':
			mac_alg = tf_proto_mac_alg_parse(optarg);
			if (mac_alg < 0)
				return 2;
			break;
		case 'F':
			req_flags = TF_PROTO_RF_FINAL_TOKENS;
			break;
		case 'H':
			nhalf = (uint32_t)atoi(optarg);
			break;
		case 'T':
			g_ntenants = (uint32_t)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (g_tokens < 1 || g_tokens > 64 || ptok < 1 || ptok > 48 || nreq < 1 || g_ntenants < 1 ||
	    g_ntenants > (1u << 22))
		return 2;
	if (!mkdtemp(dir))
		return 1;
	setenv("TOKFAB_SHM_DIR", dir, 1);
	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)(i * 7);
	tf_proto_key_init(&g_c.key, (uint8_t)mac_alg, 0, secret, 32);
	g_c.req_flags = req_flags;
	g_c.ptok = ptok;

	/* The card and its configuration. */
	p.me.ip = htonl(0x0a090001);
	p.me.udp_port = htons(TF_PROTO_PORT);
	p.me.check_udp_csum = 1;
	memcpy(p.me.mac, "\x02\xca\x00\x00\x00\x01", 6);
	tf_dp_limits_default(&p.limits);
	p.limits.max_requests = 16384;
	p.limits.max_queue = 8192;
	/*
	 * At-most-once memory sized as rate x window (hwdocs/dataplane.md 3): a
	 * 2 s replay window at up to ~2 M requests/s; runs longer than the
	 * window reach the steady state where every new id also expires an old one.
	 */
	p.limits.replay_window_ms = 2000;
	p.limits.id_table = 1u << 22;
	p.limits.cache_entries = 4096;
	p.limits.cache_min_ms = 0;
	p.limits.token_buffer_bytes = 64ull << 20;
	if (g_ntenants > p.limits.tenants)
		p.limits.tenants = g_ntenants;
	if (tf_dp_worker_create(&p, &w) < 0)
		return 1;
	snprintf(uri, sizeof(uri), "shm:bdc%d", (int)getpid());
	if (tf_xport_ctx_create(&actx) < 0 ||
	    tf_xport_listen(actx,
			    &(struct tf_xport_listen_cfg){
				    .uri = uri, .max_inflight = 4096, .in_ring_bytes = 16u << 20 },
			    &g_l) < 0)
		return 1;
	strcpy(md.name, "bench");
	strcpy(tn.name, "bench");
	memcpy(tn.key, secret, 32);
	tn.prices[0].model_id = 7;
	tn.prices[0].price_per_1k_micro = 1000;
	snprintf(ac.address, sizeof(ac.address), "bdc%d", (int)getpid());
	bt.max_batch = max_batch;
	tf_dp_worker_set_time(w, clock_us(CLOCK_MONOTONIC), clock_us(CLOCK_REALTIME));
	if (tf_dp_worker_set_model(w, &md, &d) || tf_dp_worker_set_tenant(w, &tn, &info, &d) ||
	    tf_dp_worker_set_batching(w, &bt, &d) || tf_dp_worker_set_accel(w, &ac, &d))
		return 1;
	for (uint32_t k = 1; g_ntenants > 1 && k <= g_ntenants; k++) {
		tn.tenant_id = k;
		if (tf_dp_worker_set_tenant(w, &tn, &info, &d))
			return 1;
	}
	for (int i = 0; i < 100000; i++) {
		struct tf_dp_obj_stats st;
		uint32_t id;

		tf_dp_worker_set_time(w, clock_us(CLOCK_MONOTONIC), clock_us(CLOCK_REALTIME));
		tf_dp_worker_poll(w);
		standin_poll();
		if (tf_dp_worker_accel_stats(w, 0, &id, &st) == 0 && st.state == TF_HS_UP)
			break;
	}

	/* A pool of request frames, built and signed before timing (the clients' work). */
	g_frames = malloc((size_t)POOL * FRAME);
	if (!g_frames)
		return 1;
	g_c.cli = (struct tf_pkt_addr){ .udp_port = htons(40000), .ip = htonl(0x0a090002) };
	memcpy(g_c.cli.mac, "\x02\xc1\x00\x00\x00\x02", 6);
	g_c.card = (struct tf_pkt_peer){ .port = htons(TF_PROTO_PORT), .ip = p.me.ip };
	memcpy(g_c.card.mac, p.me.mac, 6);
	for (uint32_t i = 0; i < ptok; i++)
		tf_proto_st32(g_c.prompt + 4 * i, 1 + i);
	wall_base = clock_us(CLOCK_REALTIME);
	for (uint32_t i = 0; i < POOL && i < nreq + nlat; i++)
		frame(i, wall_base);

	/*
	 * Timed: bursts of 32 frames in, then the poll step; the stand-in between.
	 * Frames past the pool are re-signed (new id, fresh timestamp) on the
	 * way in: the clients' work, timed apart from the card's.
	 */
	cpu0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
	wall0 = clock_us(CLOCK_MONOTONIC);
	while (g_finals < nreq) {
		uint8_t *burst[32];
		int nb = 0;
		uint64_t z = __rdtsc(), a, b, c;
		uint64_t mono = clock_us(CLOCK_MONOTONIC), wall = wall_base + (mono - wall0);

		/* Clients keep at most 2048 requests outstanding (closed loop). */
		for (; nb < 32 && next < nreq && next - g_finals < 2048; nb++, next++)
			burst[nb] = frame(next, wall);
		a = __rdtsc();
		tf_dp_worker_set_time(w, mono, wall);
		for (int k = 0; k < nb; k++)
			tf_dp_worker_prefetch(w, burst[k], g_flen);
		for (int k = 0; k < nb; k++)
			tf_dp_worker_prefetch_tenant(w, burst[k], g_flen);
		for (int k = 0; k < nb; k++)
			tf_dp_worker_rx(w, 0, burst[k], burst[k], g_flen);
		tf_dp_worker_poll(w);
		b = __rdtsc();
		standin_poll();
		c = __rdtsc();
		t_client += a - z;
		t_card += b - a;
		t_accel += c - b;
		if (mono - wall0 > 120000000)
			break; /* two minutes: something is wrong */
	}
	cpu1 = clock_us(CLOCK_THREAD_CPUTIME_ID);
	wall1 = clock_us(CLOCK_MONOTONIC);
	{
		double share = (double)t_card / (double)(t_card + t_accel + t_client);
		double card_cpu_s = (double)(cpu1 - cpu0) * share / 1e6;
		const struct tf_dp_counters *cn = tf_dp_worker_counters(w);

		printf("requests_done %lu\n", (unsigned long)g_finals);
		printf("frames_out %lu\n", (unsigned long)g_out);
		printf("refused %lu\n",
		       (unsigned long)(cn->ev[TF_EV_REQ_RX] - cn->ev[TF_EV_REQ_ADMITTED]));
		printf("thread_cpu_s %.3f\n", (double)(cpu1 - cpu0) / 1e6);
		printf("wall_s %.3f\n", (double)(wall1 - wall0) / 1e6);
		printf("card_share %.3f\n", share);
		printf("card_ns_per_request %.0f\n", card_cpu_s * 1e9 / (double)g_finals);
		printf("requests_per_card_cpu_second %.0f\n", (double)g_finals / card_cpu_s);
		printf("accel_standin_ns_per_request %.0f\n",
		       (double)(cpu1 - cpu0) * 1e3 / (double)g_finals *
			       ((double)t_accel / (double)(t_card + t_accel + t_client)));
		{
			struct tf_dp_worker_gauges gg;

			tf_dp_worker_gauges(w, &gg);
			printf("ids_remembered %u\n", gg.ids); /* the at-most-once table's load */
		}
		/*
		 * Baseline, same process: copying each request's bytes in and its
		 * response bytes out (what a card that did nothing else would touch).
		 */
		{
			static uint8_t dst[2][2048];
			uint32_t out_len = (uint32_t)(g_out_bytes / (g_finals ? g_finals : 1));
			uint64_t n = g_finals < 4000000 ? g_finals : 4000000, t0, t1;

			if (out_len > sizeof(dst[1]))
				out_len = sizeof(dst[1]);
			t0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
			for (uint64_t i = 0; i < n; i++) {
				memcpy(dst[0], g_frames + (size_t)(i % POOL) * FRAME, g_flen);
				memcpy(dst[1], g_frames + (size_t)((i + 7) % POOL) * FRAME,
				       out_len);
				__asm__ volatile("" : : "r"(dst) : "memory");
			}
			t1 = clock_us(CLOCK_THREAD_CPUTIME_ID);
			printf("memcpy_bytes_per_request %u\n", g_flen + out_len);
			printf("memcpy_ns_per_request %.1f\n", (double)(t1 - t0) * 1e3 / (double)n);
		}
	}
	/*
	 * Added latency at light load: one request at a time, batches leave at
	 * once (max_queue_delay 0). Card time = frame in -> batch posted, plus
	 * every poll that did work until its FINAL left; the stand-in's time is
	 * not the card's. rdtsc cycles -> ns with the TSC rate measured here.
	 */
	if (nlat) {
		struct tf_aq_set_batching b0 = { .max_batch = 1, .max_batch_bytes = 1 << 20 };
		uint64_t *lat = calloc(nlat, sizeof(*lat)), c0, m0 = clock_us(CLOCK_MONOTONIC);
		double ns_per_tick;
		uint32_t k = 0;

		c0 = __rdtsc();
		usleep(20000);
		ns_per_tick = (double)(clock_us(CLOCK_MONOTONIC) - m0) * 1000.0 /
			      (double)(__rdtsc() - c0);
		tf_dp_worker_set_batching(w, &b0, &d);
		for (; lat && k < nlat; k++) {
			uint64_t want = g_finals + 1, a, sum;
			uint64_t mono = clock_us(CLOCK_MONOTONIC);
			uint8_t *f = frame(nreq + k, wall_base + (mono - wall0));

			tf_dp_worker_set_time(w, mono, wall_base + (mono - wall0));
			a = __rdtsc();
			tf_dp_worker_rx(w, 0, f, f, g_flen);
			tf_dp_worker_poll(w);
			sum = __rdtsc() - a;
			for (int spin = 0; g_finals < want && spin < 1000000; spin++) {
				standin_poll();
				a = __rdtsc();
				if (tf_dp_worker_poll(w))
					sum += __rdtsc() - a;
			}
			lat[k] = (uint64_t)((double)sum * ns_per_tick);
		}
		if (lat) {
			qsort(lat, k, sizeof(*lat), cmp);
			printf("latency_requests %u\n", k);
			printf("latency_p50_ns %lu\n", (unsigned long)lat[k / 2]);
			printf("latency_p90_ns %lu\n", (unsigned long)lat[k * 9 / 10]);
			printf("latency_p99_ns %lu\n", (unsigned long)lat[k * 99 / 100]);
			printf("latency_p999_ns %lu\n", (unsigned long)lat[k * 999 / 1000]);
			free(lat);
		}
	}
	/*
	 * Added latency at half load (g_hl above), batches leaving at once
	 * (max_queue_delay 0, as a latency-minded configuration would): first the
	 * saturated rate in that configuration on the virtual clock, then Poisson
	 * arrivals at half of it.
	 */
	if (nhalf) {
		struct tf_aq_set_batching bh = { .max_batch = 32, .max_batch_bytes = 1 << 20 };
		uint64_t c0 = __rdtsc(), m0 = clock_us(CLOCK_MONOTONIC), k0;
		uint32_t nsat = 100000;
		double sat_rate;
		struct rusage ru0, ru1;

		k0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		for (int k = 0; k < 1000; k++)
			(void)clock_ns(CLOCK_THREAD_CPUTIME_ID);
		g_hl.clock_cost = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - k0) / 1001;
		usleep(20000);
		g_hl.ns_per_tick = (double)(clock_us(CLOCK_MONOTONIC) - m0) * 1000.0 /
				   (double)(__rdtsc() - c0);
		g_hl.vm0 = clock_us(CLOCK_MONOTONIC);
		g_hl.vw0 = wall_base + (g_hl.vm0 - wall0);
		tf_dp_worker_set_batching(w, &bh, &d);
		if (virtual_phase(w, nreq + nlat, nsat, 0, 0) < 0)
			return 1;
		sat_rate = (double)nsat / (g_hl.vt_ns / 1e9);
		/* The null step: as long as a card step at half load typically is (~1 µs). */
		{
			uint64_t t = 0;

			for (int k = 0; k < 100; k++)
				t += null_step(1000);
			g_sp.null_iters =
				(uint32_t)(1000.0 * 1000.0 / ((double)t / 100 * g_hl.ns_per_tick));
		}
		/* The null card (null_card_step) and its arithmetic's pace. */
		{
			uint64_t t = 0;

			g_sp.req_ns = 1e9 / sat_rate;
			for (int k = 0; k < 100; k++)
				t += null_step(1000);
			g_nc_iters_per_ns = 1000.0 * 100 / ((double)t * g_hl.ns_per_tick);
			for (int k = 0; k < 2; k++) {
				g_nc[k].flat = k;
				g_nc[k].gap = 2e9 / sat_rate;
				g_nc[k].n = nhalf;
				g_nc[k].rng = 0x2545f4914f6cdd1dull;
				g_nc[k].lat = malloc(nhalf * sizeof(uint64_t));
				if (!g_nc[k].lat)
					return 1;
				memset(g_nc[k].lat, 0, nhalf * sizeof(uint64_t));
			}
		}
		g_sp.cap = 4 * (uint64_t)nhalf;
		g_sp.step_ns = calloc(g_sp.cap, sizeof(uint64_t));
		g_sp.null_ns = calloc(g_sp.cap, sizeof(uint64_t));
		if (!g_sp.step_ns || !g_sp.null_ns)
			return 1;
		/* Fault them in now, not between the steps. */
		memset(g_sp.step_ns, 1, g_sp.cap * sizeof(uint64_t));
		memset(g_sp.null_ns, 1, g_sp.cap * sizeof(uint64_t));
		tf_dp_worker_set_phase_clock(w, g_sp.acc);
		getrusage(RUSAGE_THREAD, &ru0);
		if (virtual_phase(w, nreq + nlat + nsat, nhalf, 2e9 / sat_rate, 1) < 0)
			return 1;
		getrusage(RUSAGE_THREAD, &ru1);
		tf_dp_worker_set_phase_clock(w, NULL);
		printf("saturated_per_card_second_no_delay %.0f\n", sat_rate);
		printf("half_load_offered_per_card_second %.0f\n", sat_rate / 2);
		printf("half_load_requests %lu\n", (unsigned long)g_hl.nlat);
		if (g_hl.nlat) {
			uint64_t n = g_hl.nlat;

			qsort(g_hl.lat, n, sizeof(*g_hl.lat), cmp);
			printf("half_latency_p50_ns %lu\n", (unsigned long)g_hl.lat[n / 2]);
			printf("half_latency_p90_ns %lu\n", (unsigned long)g_hl.lat[n * 9 / 10]);
			printf("half_latency_p99_ns %lu\n", (unsigned long)g_hl.lat[n * 99 / 100]);
			printf("half_latency_p999_ns %lu\n",
			       (unsigned long)g_hl.lat[n * 999 / 1000]);
		}
		profile_report();
		for (int k = 0; k < 2; k++) {
			struct null_card *c = &g_nc[k];
			const char *nm = k ? "flat_card" : "null_card";

			printf("%s_requests %lu\n", nm, (unsigned long)c->nlat);
			printf("%s_utilisation %.3f\n", nm, c->vt > 0 ? c->busy / c->vt : 0.0);
			printf("%s_latency_p50_ns %lu\n", nm,
			       (unsigned long)pct(c->lat, c->nlat, 0.5));
			printf("%s_latency_p90_ns %lu\n", nm,
			       (unsigned long)pct(c->lat, c->nlat, 0.9));
			printf("%s_latency_p99_ns %lu\n", nm,
			       (unsigned long)pct(c->lat, c->nlat, 0.99));
			printf("%s_latency_p999_ns %lu\n", nm,
			       (unsigned long)pct(c->lat, c->nlat, 0.999));
			free(c->lat);
		}
		/* The thread's page faults and involuntary context switches in the half-load phase. */
		printf("half_load_minor_faults %ld\n", ru1.ru_minflt - ru0.ru_minflt);
		printf("half_load_involuntary_switches %ld\n", ru1.ru_nivcsw - ru0.ru_nivcsw);
		free(g_sp.step_ns);
		free(g_sp.null_ns);
		free(g_hl.arr_ns);
		free(g_hl.lat);
		free(g_hl.off);
	}
	tf_dp_worker_destroy(w);
	if (g_ax)
		tf_xport_disconnect(g_ax);
	tf_xport_listener_close(g_l);
	tf_xport_ctx_destroy(actx);
	rmdir(dir);
	free(g_frames);
	return 0;
}
