/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-dp: the AI-NIC's dataplane. EAL, ports, one worker per lcore,
 * then the main lcore's control loop: the card's admin and event queues,
 * usage records, health, SIGHUP reload, the periodic stats line, and on
 * SIGINT/SIGTERM a drain of everything in flight before exit 0.
 * The card's host-facing side: the BAR served to a QEMU guest (--ivshmem),
 * host queues (--host-queues) and the firmware on its flash (--flash), which
 * may restart the process into a new image (FW_ACTIVATE with NOW).
 *
 *   tokfab-dp [EAL options] -- --config FILE [--bar FILE] [--usage-file FILE]
 *             [--ivshmem SOCK] [--host-queues N] [--flash FILE]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include "dataplane/dp.h"
#include "dataplane/hostq.h"
#include "tokfab/hostq.h"
#include "tokfab/ivshmem.h"

RTE_LOG_REGISTER_DEFAULT(tf_dp_logtype, INFO);

static volatile sig_atomic_t g_stop, g_reload;
/* The admin handlers: the control bus's, plus the firmware's with --flash. */
static struct tf_card_admin_handlers g_admin;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		g_reload = 1;
	else
		g_stop = 1;
}

struct opts {
	const char *config;
	const char *bar;
	const char *usage_file;
	const char *ivshmem;
	const char *flash;
	unsigned int host_queues;
	unsigned int hq_size;
	int bar_fresh;
	int check;
};

#define HQ_SIZE_DEFAULT 65536u

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: tokfab-dp [EAL options] -- --config FILE [options]\n"
		"  -c, --config FILE      configuration (YAML; see hwdocs/dataplane.md)\n"
		"      --bar FILE         the card's BAR (shared-memory file the host maps);\n"
		"                         usage records go to its event queue, the host\n"
		"                         configures the card through its admin queue\n"
		"      --bar-fresh        discard an existing BAR and its unacknowledged events\n"
		"      --usage-file FILE  without --bar: append usage records as JSON lines\n"
		"      --ivshmem SOCK     serve the BAR to a QEMU guest (ivshmem-doorbell,\n"
		"                         vectors=3) on this UNIX socket: tokfab.ko drives it\n"
		"      --host-queues N    offer N host queue windows (1..64) in the BAR\n"
		"      --host-queue-size BYTES  bytes per window (power of two, 16 KiB..1 MiB;\n"
		"                         default 64 KiB)\n"
		"      --flash FILE       the card's flash (tokfab-fw init): boot from it, take\n"
		"                         firmware updates through the admin queue\n"
		"  -n, --check            check the configuration and exit\n"
		"  -h, --help             this text\n"
		"EAL example (no hugepages, a veth): -l 0,1 --no-huge -m 512 --no-pci \\\n"
		"    --in-memory --vdev=net_af_packet0,iface=veth0\n");
}

/* Parses the options after "--". Returns 0, 1 (help printed), or -1. */
static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "bar", required_argument, NULL, 'B' },
		{ "bar-fresh", no_argument, NULL, 'F' },
		{ "usage-file", required_argument, NULL, 'U' },
		{ "ivshmem", required_argument, NULL, 'I' },
		{ "host-queues", required_argument, NULL, 'Q' },
		{ "host-queue-size", required_argument, NULL, 'S' },
		{ "flash", required_argument, NULL, 'L' },
		{ "check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	char *end;
	int ch;

	memset(o, 0, sizeof(*o));
	o->hq_size = HQ_SIZE_DEFAULT;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:nh", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'B':
			o->bar = optarg;
			break;
		case 'F':
			o->bar_fresh = 1;
			break;
		case 'U':
			o->usage_file = optarg;
			break;
		case 'I':
			o->ivshmem = optarg;
			break;
		case 'L':
			o->flash = optarg;
			break;
		case 'Q':
			v = strtoul(optarg, &end, 0);
			if (*end || v < 1 || v > TF_HQ_MAX) {
				fprintf(stderr,
					"tokfab-dp: --host-queues '%s': give 1..%u windows\n",
					optarg, TF_HQ_MAX);
				return -1;
			}
			o->host_queues = (unsigned int)v;
			break;
		case 'S':
			v = strtoul(optarg, &end, 0);
			if (*end || v < TF_HQ_SIZE_MIN || v > TF_HQ_SIZE_MAX || (v & (v - 1))) {
				fprintf(stderr,
					"tokfab-dp: --host-queue-size '%s': a power of two from %u "
					"to "
					"%u bytes\n",
					optarg, TF_HQ_SIZE_MIN, TF_HQ_SIZE_MAX);
				return -1;
			}
			o->hq_size = (unsigned int)v;
			break;
		case 'n':
			o->check = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
			"tokfab-dp: unexpected argument '%s' (application options go "
			"after '--'; see --help)\n",
			argv[optind]);
		return -1;
	}
	if (!o->config) {
		fprintf(stderr, "tokfab-dp: --config FILE is required (see --help)\n");
		return -1;
	}
	if (o->bar && o->usage_file) {
		fprintf(stderr, "tokfab-dp: give --bar or --usage-file, not both: with a BAR the "
				"records go to its event queue\n");
		return -1;
	}
	if (!o->bar && (o->ivshmem || o->host_queues || o->flash)) {
		fprintf(stderr, "tokfab-dp: --ivshmem, --host-queues and --flash are parts of the "
				"card's BAR: give --bar FILE too\n");
		return -1;
	}
	return 0;
}

static int
check_only(const struct opts *o)
{
	struct tf_dp_config cfg;
	char err[512];

	if (tf_dp_config_load(o->config, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "tokfab-dp: %s\n", err);
		return 1;
	}
	printf("%s: OK: %u tenant(s), %u model(s), %u accelerator(s)\n", o->config, cfg.ntenants,
	       cfg.nmodels, cfg.naccels);
	tf_dp_config_free(&cfg);
	return 0;
}

static uint64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
collect_mem(struct rte_mempool *mp, void *opaque, struct rte_mempool_memhdr *hdr, unsigned int i)
{
	struct tf_dp_worker_params *p = opaque;

	(void)mp;
	(void)i;
	if (p->nmem < 8) {
		p->mem[p->nmem].addr = hdr->addr;
		p->mem[p->nmem].len = hdr->len;
		p->nmem++;
	}
}

static int
make_rings(struct tf_dp_app *app)
{
	char name[RTE_RING_NAMESIZE];

	for (unsigned int w = 0; w < app->nworkers; w++) {
		snprintf(name, sizeof(name), "tf_ctl%u", w);
		app->ctl[w] =
			rte_ring_create(name, 64, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "tf_use%u", w);
		app->usage[w] =
			rte_ring_create_elem(name, sizeof(struct tf_dp_usage_ev), 4096,
					     rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!app->ctl[w] || !app->usage[w])
			return -ENOMEM;
		for (unsigned int to = 0; to < app->nworkers; to++) {
			if (to == w)
				continue;
			snprintf(name, sizeof(name), "tf_ho%u_%u", w, to);
			app->handoff[w][to] = rte_ring_create(name, 1024, rte_socket_id(),
							      RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!app->handoff[w][to])
				return -ENOMEM;
		}
	}
	return 0;
}

static void
free_rings(struct tf_dp_app *app)
{
	for (unsigned int w = 0; w < TF_DP_MAX_WORKERS; w++) {
		rte_ring_free(app->ctl[w]);
		rte_ring_free(app->usage[w]);
		for (unsigned int to = 0; to < TF_DP_MAX_WORKERS; to++)
			rte_ring_free(app->handoff[w][to]);
	}
}

static int
make_workers(struct tf_dp_app *app)
{
	struct tf_dp_worker_params p;
	unsigned int lcore, w = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	p.nworkers = app->nworkers;
	p.io_ops = &tf_dp_mbuf_io;
	p.me.ip = app->cfg.ipv4;
	p.me.udp_port = htons(app->cfg.udp_port);
	p.me.check_udp_csum = app->cfg.udp_checksum;
	p.limits = app->cfg.limits;
	p.host_wait = &app->hostwait.waiting;
	p.host_wait_retry_ms = app->cfg.host_settle_ms;
	p.pool_frames = app->cfg.mbufs;
	rte_mempool_mem_iter(app->pool, collect_mem, &p);
	for (unsigned int i = 0; i < app->nworkers; i++) {
		app->lc[i] = rte_zmalloc("tf_lcore", sizeof(*app->lc[i]), RTE_CACHE_LINE_SIZE);
		if (!app->lc[i])
			return -ENOMEM;
		app->lc[i]->app = app;
		app->lc[i]->wid = i;
		p.id = i;
		p.io = app->lc[i];
		rc = tf_dp_worker_create(&p, &app->workers[i]);
		if (rc < 0) {
			TF_DP_LOG(ERR, "worker %u: %s", i, strerror(-rc));
			return rc;
		}
		app->lc[i]->w = app->workers[i];
	}
	if (app->inline_worker) {
		app->lc[0]->lcore_id = rte_get_main_lcore();
		return 0;
	}
	RTE_LCORE_FOREACH_WORKER (lcore)
		app->lc[w++]->lcore_id = lcore;
	return 0;
}

static void
destroy_workers(struct tf_dp_app *app)
{
	for (unsigned int i = 0; i < TF_DP_MAX_WORKERS; i++) {
		tf_dp_worker_destroy(app->workers[i]);
		app->workers[i] = NULL;
		rte_free(app->lc[i]);
		app->lc[i] = NULL;
	}
}

/* Moves records from the workers' rings into the sink's FIFO while it has room. */
static void
collect_usage(struct tf_dp_app *app)
{
	struct tf_dp_usage_ev ev;

	for (unsigned int w = 0; w < app->nworkers; w++)
		while (tf_dp_records_room(&app->rec) &&
		       rte_ring_sc_dequeue_elem(app->usage[w], &ev, sizeof(ev)) == 0)
			if (ev.type != TF_EQ_USAGE || !app->hq ||
			    !tf_dp_hostq_usage(app->hq, &ev.u.rec))
				tf_dp_records_push(&app->rec, &ev);
	tf_dp_records_flush(&app->rec);
}

static void
reload(struct tf_dp_app *app)
{
	struct tf_dp_config cfg;
	char err[512];

	if (tf_dp_config_load(app->cfg_path, &cfg, err, sizeof(err)) < 0) {
		TF_DP_LOG(ERR, "reload refused, the old configuration stays: %s", err);
		return;
	}
	if (tf_dp_ctl_apply_config(&app->bus, &cfg, &app->cfg, err, sizeof(err)) < 0) {
		TF_DP_LOG(ERR, "reload partly applied: %s", err);
	} else {
		TF_DP_LOG(INFO, "reloaded %s: %u tenant(s), %u model(s), %u accelerator(s)",
			  app->cfg_path, cfg.ntenants, cfg.nmodels, cfg.naccels);
	}
	/* Card-wide settings (address, port, limits) need a restart: keep the old ones. */
	cfg.ipv4 = app->cfg.ipv4;
	cfg.udp_port = app->cfg.udp_port;
	cfg.limits = app->cfg.limits;
	cfg.mbufs = app->cfg.mbufs;
	tf_dp_config_free(&app->cfg);
	app->cfg = cfg;
}

/* Ports' links and accelerators' connections: table for GET_HEALTH, events on change. */
static void
health_poll(struct tf_dp_app *app)
{
	struct tf_dp_health *h = &app->bus.health;
	uint64_t now = tf_card_now_ns();

	h->nports = app->nports;
	for (uint16_t i = 0; i < app->nports; i++) {
		struct rte_eth_link link;
		uint16_t st;

		rte_eth_link_get_nowait(app->ports[i], &link);
		st = link.link_status ? TF_HS_UP : TF_HS_DOWN;
		if (st != h->port_state[i]) {
			h->port_state[i] = st;
			h->since_ns[i + 1] = now;
			tf_dp_records_health(&app->rec, TF_HC_PORT, app->ports[i], st,
					     st == TF_HS_UP ? TF_HR_LINK_UP : TF_HR_LINK_DOWN,
					     NULL);
		}
	}
	/* An accelerator is as healthy as the best connection any worker has to it. */
	h->naccels = 0;
	for (unsigned int k = 0;; k++) {
		struct tf_dp_obj_stats st;
		uint32_t id;
		uint16_t best = TF_HS_DOWN, prev = 0;
		uint32_t abandoned = 0; /* given-up requests it still holds, most of any worker */

		if (tf_dp_worker_accel_stats(app->workers[0], k, &id, &st) < 0 || h->naccels == 64)
			break;
		if (!id)
			continue;
		for (unsigned int w = 0; w < app->nworkers; w++) {
			struct tf_dp_obj_stats s2;
			uint32_t id2;

			for (unsigned int j = 0;
			     tf_dp_worker_accel_stats(app->workers[w], j, &id2, &s2) == 0; j++)
				if (id2 == id && s2.state) {
					if (s2.state < best)
						best = (uint16_t)s2.state;
					if (s2.abandoned > abandoned)
						abandoned = s2.abandoned;
				}
		}
		for (uint32_t j = 0; j < 64; j++)
			if (h->accel_id[j] == id)
				prev = h->accel_state[j];
		if (best != prev) {
			uint32_t lim = app->cfg.limits.degraded_abandoned;
			char why[96];

			/* DEGRADED because it ignores CANCELs (deadline.c): say so */
			if (best == TF_HS_DEGRADED && lim && abandoned >= lim) {
				snprintf(why, sizeof(why),
					 "holds %u requests the card gave up on (ignored CANCEL)",
					 abandoned);
				tf_dp_records_health(&app->rec, TF_HC_ACCEL, id, best, TF_HR_ERRORS,
						     why);
			} else {
				tf_dp_records_health(&app->rec, TF_HC_ACCEL, id, best,
						     best == TF_HS_UP ? TF_HR_HEARTBEAT_OK
								      : TF_HR_HEARTBEAT_LOST,
						     NULL);
			}
			h->accel_since_ns[h->naccels] = now;
		}
		h->accel_id[h->naccels] = id;
		h->accel_state[h->naccels] = best;
		h->naccels++;
	}
}

/* Waiting for the host's configuration after a start with a BAR (hostwait.h). */
static void
host_wait_begin(struct tf_dp_app *app)
{
	struct tf_dp_counters c;

	tf_dp_ctl_counters(&app->bus, &c);
	tf_dp_hostwait_start(&app->hostwait, tf_dp_now_us(app), c.ev[TF_EV_CFG_CHANGES],
			     app->cfg.host_settle_ms, app->cfg.host_wait_s);
	TF_DP_LOG(INFO,
		  "waiting for the host's configuration: unknown tenants and models get BUSY "
		  "(retry after %u ms) for %u s at most",
		  app->cfg.host_settle_ms, app->cfg.host_wait_s);
}

static void
host_wait_poll(struct tf_dp_app *app, uint64_t now)
{
	struct tf_card_dev_stats cs;
	struct tf_dp_counters c;

	tf_card_dev_stats(app->card, &cs);
	tf_dp_ctl_counters(&app->bus, &c);
	switch (tf_dp_hostwait_poll(&app->hostwait, now, !!(cs.status & TF_STATUS_READY),
				    c.ev[TF_EV_CFG_CHANGES])) {
	case 1:
		TF_DP_LOG(INFO, "configured by the host after %.1f s",
			  (double)(now - app->hostwait.start_us) / 1e6);
		break;
	case 2:
		TF_DP_LOG(WARNING,
			  "no host configured the card in %u s: unknown tenants get "
			  "UNKNOWN_TENANT from now on",
			  app->cfg.host_wait_s);
		break;
	}
}

static void
stats_line(struct tf_dp_app *app, struct tf_dp_counters *last, uint64_t secs)
{
	struct tf_dp_counters c;
	uint64_t drops = 0, ldrops = 0, missed = 0;
	static uint64_t last_missed; /* frames the ports lost before the card saw them */
	unsigned int active = 0, queued = 0;

	for (uint16_t i = 0; i < app->nports; i++)
		missed += tf_dp_port_rx_missed(app->ports[i], NULL);
	tf_dp_ctl_counters(&app->bus, &c);
	for (int i = 0; i < TF_DROP_MAX; i++) {
		drops += c.drop[i];
		ldrops += last->drop[i];
	}
	for (unsigned int w = 0; w < app->nworkers; w++) {
		struct tf_dp_worker_gauges g;

		tf_dp_worker_gauges(app->workers[w], &g);
		active += g.active;
		queued += g.queued;
	}
#define RATE(e) ((c.ev[e] - last->ev[e]) / (secs ? secs : 1))
	TF_DP_LOG(INFO,
		  "stats: rx %lu/s tx %lu/s requests %lu/s admitted %lu/s done %lu/s tokens %lu/s "
		  "drops %lu/s rx_missed %lu/s active %u queued %u usage posted %lu backlog %u",
		  RATE(TF_EV_RX_PKTS), RATE(TF_EV_TX_PKTS), RATE(TF_EV_REQ_RX),
		  RATE(TF_EV_REQ_ADMITTED), RATE(TF_EV_REQ_DONE), RATE(TF_EV_TOKENS_OUT),
		  (drops - ldrops) / (secs ? secs : 1), (missed - last_missed) / (secs ? secs : 1),
		  active, queued, app->rec.posted + app->rec.written,
		  tf_dp_records_backlog(&app->rec));
#undef RATE
	*last = c;
	last_missed = missed;
}

static unsigned int
busy_total(struct tf_dp_app *app)
{
	unsigned int n = tf_dp_records_backlog(&app->rec);

	for (unsigned int w = 0; w < app->nworkers; w++)
		n += tf_dp_worker_busy(app->workers[w]) + rte_ring_count(app->usage[w]);
	if (app->hq)
		n += tf_dp_hostq_busy(app->hq);
	return n;
}

/* What the event queue never took is written beside the BAR, never lost silently. */
static void
save_pending(struct tf_dp_app *app, const char *bar)
{
	char path[4200], line[512];
	uint32_t n = tf_dp_records_backlog(&app->rec);
	FILE *f;

	if (!n)
		return;
	snprintf(path, sizeof(path), "%s.pending.jsonl", bar ? bar : "tokfab-dp-usage");
	f = fopen(path, "a");
	if (!f) {
		TF_DP_LOG(ERR, "%u usage record(s) not posted and %s cannot be written: %s", n,
			  path, strerror(errno));
		return;
	}
	for (uint32_t i = app->rec.head; i != app->rec.tail; i++) {
		tf_dp_usage_ev_json(&app->rec.fifo[i % app->rec.cap], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	fclose(f);
	TF_DP_LOG(WARNING,
		  "%u usage record(s) the event queue could not take (is tokfabd acknowledging?) "
		  "saved to %s",
		  n, path);
}

/*
 * The card's host-facing duties of one main-loop pass: host-queue requests
 * and completions, then the admin queue (which also raises the interrupts
 * both announced), the heartbeat.
 */
static void
card_poll(struct tf_dp_app *app, int take_new)
{
	if (!app->card)
		return;
	if (app->hq)
		tf_dp_hostq_poll(app->hq, take_new);
	if (tf_card_dev_poll_admin(app->card, &g_admin, &app->bus) == -EPROTO)
		TF_DP_LOG(ERR, "the host broke the admin queue protocol: the card waits for its "
			       "reset");
	tf_card_dev_heartbeat(app->card);
}

/* The main lcore's idle moment: the ivshmem server's fds, or a short sleep. */
static void
idle(struct tf_dp_app *app, uint64_t now)
{
	if (app->inline_worker) {
		/* The main lcore is also worker 0: look at the server once a millisecond. */
		if (app->ivs && now >= app->next_ivs_us) {
			tf_dp_ivshmem_poll(app, 0);
			app->next_ivs_us = now + 1000;
		}
		if (!tf_dp_lcore_iter(app->lc[0]) && app->cfg.idle_sleep_us)
			usleep(app->cfg.idle_sleep_us);
	} else if (app->ivs) {
		tf_dp_ivshmem_poll(app, 200); /* a guest's doorbell ends the wait early */
	} else {
		usleep(200);
	}
}

static void
control_loop(struct tf_dp_app *app)
{
	struct tf_dp_counters last;
	uint64_t next_stats, next_health = 0, next_sync;
	uint64_t now;

	memset(&last, 0, sizeof(last));
	now = tf_dp_now_us(app);
	next_stats = now + (uint64_t)app->cfg.stats_interval_s * 1000000;
	next_sync = now + 1000000;
	while (!g_stop && !app->reset) {
		now = tf_dp_now_us(app);
		collect_usage(app);
		card_poll(app, 1);
		if (now >= next_health) {
			next_health = now + 100000;
			health_poll(app);
			if (app->hostwait.waiting && app->card)
				host_wait_poll(app, now);
		}
		if (now >= next_sync) {
			next_sync = now + 1000000;
			app->wall_offset_us = wall_us() - tf_dp_now_us(app);
		}
		if (g_reload) {
			g_reload = 0;
			reload(app);
		}
		if (app->cfg.stats_interval_s && now >= next_stats) {
			stats_line(app, &last, app->cfg.stats_interval_s);
			next_stats = now + (uint64_t)app->cfg.stats_interval_s * 1000000;
		}
		tf_dp_fw_poll(app);
		idle(app, now);
	}
}

static void
drain(struct tf_dp_app *app)
{
	uint64_t deadline = tf_dp_now_us(app) + (uint64_t)app->cfg.drain_timeout_s * 1000000;
	unsigned int left;

	TF_DP_LOG(INFO, "stopping: refusing new requests, draining what runs");
	tf_dp_ctl_drain(&app->bus);
	while ((left = busy_total(app)) && tf_dp_now_us(app) < deadline) {
		collect_usage(app);
		card_poll(app, 0);
		idle(app, tf_dp_now_us(app));
	}
	collect_usage(app);
	if (left)
		TF_DP_LOG(WARNING, "drain timed out after %u s with %u request(s)/record(s) left",
			  app->cfg.drain_timeout_s, left);
}

/*
 * FW_ACTIVATE with NOW: everything is stopped and released; start this
 * program again with the same arguments (but never --bar-fresh: the host
 * keeps the BAR mapped and its events are kept). Boot selection then starts
 * the slot that is pending. Returns only on failure.
 */
static int
restart(int argc, char **argv, const int *keep, int nkeep)
{
	char **nv = calloc((size_t)argc + 1, sizeof(*nv));
	int n = 0, app_opts = 0;
	struct dirent *de;
	DIR *d;

	if (!nv)
		return 1;
	/*
	 * Only what is handed over survives: the EAL leaves fds without
	 * close-on-exec (with their locks on its runtime files) that would stop
	 * the next EAL from starting.
	 */
	d = opendir("/proc/self/fd");
	while (d && (de = readdir(d))) {
		int fd = atoi(de->d_name), i;

		for (i = 0; i < nkeep && keep[i] != fd; i++)
			;
		if (fd > 2 && i == nkeep && fd != dirfd(d))
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (d)
		closedir(d);
	for (int i = 0; i < argc; i++) {
		if (app_opts && !strcmp(argv[i], "--bar-fresh"))
			continue;
		if (!strcmp(argv[i], "--"))
			app_opts = 1;
		nv[n++] = argv[i];
	}
	fprintf(stderr, "tokfab-dp: restarting: the next boot starts the activated firmware\n");
	fflush(NULL);
	execv("/proc/self/exe", nv);
	fprintf(stderr, "tokfab-dp: restart failed: %s: start tokfab-dp again\n", strerror(errno));
	free(nv);
	return 1;
}

int
main(int argc, char **argv)
{
	struct tf_dp_app app;
	struct opts o;
	struct sigaction sa;
	char err[512];
	int sep = 0, rc, ret = 1;
	unsigned int lcore;
	FILE *usage_f = NULL;
	int keep[2 + 2 * TF_VEC_COUNT], nkeep = 0;
	char **orig_argv;

	/* Application options come after "--"; --check/--help work without the EAL. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			sep = i;
			break;
		}
	rc = parse_opts(sep ? argc - sep : 1, sep ? argv + sep : argv, &o);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (o.check)
		return check_only(&o);

	memset(&app, 0, sizeof(app));
	app.cfg_path = o.config;
	if (tf_dp_config_load(o.config, &app.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "tokfab-dp: %s\n", err);
		return 1;
	}
	/* The boot loader's part first: it may start another image instead of us. */
	if (o.flash && tf_dp_fw_open(o.flash, argv, &app.fw) < 0) {
		tf_dp_config_free(&app.cfg);
		return 1;
	}
	g_admin = tf_dp_admin_handlers;
	if (app.fw)
		tf_dp_fw_handlers(&g_admin);
	/* The EAL reorders argv: a restart needs the arguments as they were given. */
	orig_argv = calloc((size_t)argc + 1, sizeof(*orig_argv));
	if (orig_argv)
		memcpy(orig_argv, argv, (size_t)argc * sizeof(*argv));
	rc = orig_argv ? rte_eal_init(sep ? sep : argc, argv) : -1;
	if (rc < 0) {
		fprintf(stderr,
			"tokfab-dp: EAL initialisation failed: %s (check the EAL options "
			"before '--'; without hugepages use --no-huge -m 512)\n",
			orig_argv ? rte_strerror(rte_errno) : "out of memory");
		tf_dp_config_free(&app.cfg);
		tf_dp_fw_close(app.fw);
		free(orig_argv);
		return 1;
	}
	app.tsc_mult = (uint64_t)(((unsigned __int128)1000000 << 32) / rte_get_tsc_hz());
	app.start_us = tf_dp_now_us(&app);
	app.wall_offset_us = wall_us() - app.start_us;
	app.nworkers = rte_lcore_count() - 1;
	if (app.nworkers == 0) {
		app.nworkers = 1;
		app.inline_worker = 1;
	}
	if (app.nworkers > TF_DP_MAX_WORKERS) {
		TF_DP_LOG(ERR, "%u worker lcores: at most %d", app.nworkers, TF_DP_MAX_WORKERS);
		goto out_eal;
	}
	app.pool = rte_pktmbuf_pool_create("tf_dp_mbufs", app.cfg.mbufs, 256, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!app.pool) {
		TF_DP_LOG(ERR,
			  "cannot create %u packet buffers: %s (lower card.mbufs or give the "
			  "EAL more memory with -m)",
			  app.cfg.mbufs, rte_strerror(rte_errno));
		goto out_eal;
	}
	if (make_rings(&app) < 0) {
		TF_DP_LOG(ERR, "cannot create rings: %s", rte_strerror(rte_errno));
		goto out_pool;
	}
	if (make_workers(&app) < 0)
		goto out_workers;
	app.bus.nworkers = app.nworkers;
	app.bus.workers = app.workers;
	app.bus.call = tf_dp_ctl_call;
	app.bus.ctx = &app;
	app.bus.health.since_ns[0] = tf_card_now_ns();
	/* The host-queue port is a port like the others: made before they are set up. */
	if (o.host_queues) {
		if (tf_dp_hostq_create(&app, &app.hq) < 0)
			goto out_workers;
		app.bus.tenant_changed = tf_dp_hostq_tenant;
		app.bus.tenant_arg = app.hq;
		for (unsigned int w = 0; w < app.nworkers; w++)
			tf_dp_worker_keep_records_port(app.workers[w], tf_dp_hostq_port(app.hq));
	}
	if (tf_dp_ports_init(&app) < 0)
		goto out_ports;
	if (app.hq)
		tf_dp_hostq_start(app.hq);
	if (tf_dp_ctl_apply_config(&app.bus, &app.cfg, NULL, err, sizeof(err)) < 0) {
		TF_DP_LOG(ERR, "%s: %s", o.config, err);
		goto out_ports;
	}
	if (o.bar) {
		struct tf_card_dev_params cp = {
			.path = o.bar,
			.features = TF_FEAT_HEALTH_EVENTS | TF_FEAT_USAGE_AGG,
			.fw_version = TF_DP_BUILTIN_FW_VERSION,
			.fw_version_str = TF_DP_BUILTIN_FW_VERSION_STR,
			.serial = app.cfg.serial,
			.max_tenants = app.cfg.limits.tenants,
			.max_models = 64,
			.max_accels = 64,
			.n_ports = app.nports,
			.flags = o.bar_fresh ? TF_CARD_F_FRESH : 0,
		};

		if (app.fw) {
			cp.features |= TF_FEAT_FW_UPDATE | TF_FEAT_FW_ACTIVATE;
			tf_dp_fw_running(app.fw, &cp.fw_version, &cp.fw_version_str);
		}
		if (app.hq) {
			cp.features |= TF_FEAT_HOST_QUEUES;
			cp.hq_count = o.host_queues;
			cp.hq_size = o.hq_size;
		}
		if (o.ivshmem) {
			cp.features |= TF_FEAT_IVSHMEM_DOORBELL;
			cp.notify = tf_dp_ivshmem_notify;
			cp.notify_arg = &app;
		}
		rc = tf_card_dev_create(&cp, &app.card);
		if (rc < 0) {
			TF_DP_LOG(ERR, "BAR %s: %s%s", o.bar, strerror(-rc),
				  rc == -EBUSY ? " (another card process owns it, or it holds "
						 "unacknowledged events with other queue depths: "
						 "--bar-fresh discards them)"
					       : "");
			goto out_ports;
		}
		if (app.cfg.host_wait_s && app.cfg.ntenants == 0)
			host_wait_begin(&app); /* its tenants come from its host */
		if (o.ivshmem && tf_dp_ivshmem_start(&app, o.ivshmem) < 0)
			goto out_card;
	} else if (o.usage_file) {
		usage_f = fopen(o.usage_file, "a");
		if (!usage_f) {
			TF_DP_LOG(ERR, "usage file %s: %s", o.usage_file, strerror(errno));
			goto out_ports;
		}
	} else {
		TF_DP_LOG(WARNING, "no --bar and no --usage-file: usage records are counted, "
				   "not kept");
	}
	if (tf_dp_records_init(&app.rec, app.card, usage_f, 65536) < 0)
		goto out_card;
	if (tf_dp_telemetry_init(&app) < 0)
		goto out_records;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (!app.inline_worker) {
		unsigned int w = 0;

		RTE_LCORE_FOREACH_WORKER (lcore)
			rte_eal_remote_launch(tf_dp_lcore_main, app.lc[w++], lcore);
	}
	app.running = 1;
	TF_DP_LOG(INFO, "serving %s on UDP port %u with %u worker(s)%s", "requests",
		  app.cfg.udp_port, app.nworkers, app.inline_worker ? " (on the main lcore)" : "");
	control_loop(&app);
	drain(&app);
	app.quit = 1;
	rte_eal_mp_wait_lcore();
	app.running = 0;
	collect_usage(&app);
	if (app.hq) {
		/* Records of host-queue requests not posted yet join the others. */
		tf_dp_hostq_destroy(app.hq);
		app.hq = NULL;
		tf_dp_records_flush(&app.rec);
	}
	save_pending(&app, o.bar);
	TF_DP_LOG(INFO, "stopped: %lu usage record(s) posted, %lu written, %lu counted only",
		  app.rec.posted, app.rec.written, app.rec.discarded);
	ret = 0;
out_records:
	tf_dp_records_fini(&app.rec);
out_card:
	/* A restart keeps the guest's connection: QEMU never reconnects. */
	if (app.reset) {
		nkeep = tf_dp_ivshmem_handover(&app, keep, (int)(sizeof(keep) / sizeof(keep[0])));
		if (nkeep < 0) {
			TF_DP_LOG(WARNING,
				  "ivshmem: cannot hand the guest's connection over the "
				  "restart: %s",
				  strerror(-nkeep));
			nkeep = 0;
		}
	}
	tf_dp_ivshmem_stop(&app);
	if (app.card)
		tf_card_dev_destroy(app.card);
	if (usage_f)
		fclose(usage_f);
out_ports:
	tf_dp_ports_close(&app);
out_workers:
	tf_dp_hostq_destroy(app.hq);
	destroy_workers(&app);
	free_rings(&app);
out_pool:
	rte_mempool_free(app.pool);
out_eal:
	tf_dp_config_free(&app.cfg);
	tf_dp_fw_close(app.fw);
	rte_eal_cleanup();
	if (app.reset && ret == 0)
		ret = restart(argc, orig_argv, keep, nkeep);
	free(orig_argv);
	return ret;
}
