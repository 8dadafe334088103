/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-dp's DPDK edge: the application object shared by main.c (EAL,
 * control loop), port.c (ethdev set-up), lcore.c (the per-lcore loop and
 * the mbuf side of struct tf_dp_io_ops), telemetry.c (/tokfab/... commands)
 * and records.c (usage records to the card's event queue or a file).
 * The request pipeline itself is DPDK-free: worker.h.
 */
#ifndef TF_DP_DP_H
#define TF_DP_DP_H

#include <stdint.h>
#include <stdio.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "card/card.h"
#include "dataplane/config.h"
#include "dataplane/ctl.h"
#include "dataplane/hostwait.h"
#include "dataplane/records.h"
#include "dataplane/worker.h"

#define TF_DP_RX_BURST 32
#define TF_DP_MAX_WORKERS 32
#define TF_DP_CTL_TIMEOUT_MS 2000

extern int tf_dp_logtype;
#define TF_DP_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, tf_dp_logtype, "tokfab-dp: " fmt "\n", ##__VA_ARGS__)

struct tf_dp_app;
struct tf_dp_fw;
struct tf_dp_hostq;
struct tf_ivshmem_server;

/* One worker lcore: its pipeline, its queue on every port, its transmit buffers. */
struct tf_dp_lcore {
	struct tf_dp_app *app;
	unsigned int wid; /* worker index = queue index on every port */
	unsigned int lcore_id;
	struct tf_dp_worker *w;
	struct rte_mbuf *txb[TF_DP_MAX_PORTS][TF_DP_RX_BURST];
	uint16_t ntx[TF_DP_MAX_PORTS];
	uint32_t idle;
} __rte_cache_aligned;

struct tf_dp_app {
	const char *cfg_path;
	struct tf_dp_config cfg;
	struct rte_mempool *pool;
	uint16_t nports;
	uint16_t ports[TF_DP_MAX_PORTS];
	unsigned int nworkers;
	int inline_worker; /* no worker lcores: the main lcore runs worker 0 */
	volatile int running; /* workers launched */
	volatile int quit; /* workers: leave the loop */
	struct tf_dp_lcore *lc[TF_DP_MAX_WORKERS];
	struct tf_dp_worker *workers[TF_DP_MAX_WORKERS];
	struct rte_ring *handoff[TF_DP_MAX_WORKERS][TF_DP_MAX_WORKERS]; /* [from][to] */
	struct rte_ring *usage[TF_DP_MAX_WORKERS]; /* worker -> main, 64-byte records */
	struct rte_ring *ctl[TF_DP_MAX_WORKERS]; /* main -> worker, struct tf_dp_ctl * */
	struct tf_dp_ctl_bus bus;
	struct tf_card_dev *card;
	struct tf_dp_records rec;
	/* The card's host-facing side (ivshmem_serve.c, hostq.c, fw.c). */
	struct tf_ivshmem_server *ivs; /* --ivshmem: the BAR served to a QEMU guest */
	uint64_t next_ivs_us; /* inline worker: when to look at the server next */
	struct tf_dp_hostq *hq; /* --host-queues: the host-queue port */
	struct tf_dp_fw *fw; /* --flash: firmware update and boot confirmation */
	volatile int reset; /* FW_ACTIVATE NOW: stop and restart into the new image */
	uint64_t tsc_mult; /* µs = tsc * tsc_mult >> 32 */
	volatile uint64_t wall_offset_us;
	uint64_t start_us;
	struct tf_dp_hostwait hostwait; /* --bar: until the host has configured the card */
};

static inline uint64_t
tf_dp_now_us(const struct tf_dp_app *app)
{
	return (uint64_t)(((unsigned __int128)rte_get_tsc_cycles() * app->tsc_mult) >> 32);
}

/* port.c */
int tf_dp_ports_init(struct tf_dp_app *app);
void tf_dp_ports_close(struct tf_dp_app *app);
/*
 * Frames port lost before the card saw them: the ethdev's imissed plus, for
 * net_af_packet, the kernel's receive ring drops (also in *ring_drops if given).
 */
uint64_t tf_dp_port_rx_missed(uint16_t port, uint64_t *ring_drops);

/* lcore.c */
extern const struct tf_dp_io_ops tf_dp_mbuf_io;
int tf_dp_lcore_main(void *arg);
unsigned int tf_dp_lcore_iter(struct tf_dp_lcore *lc);
void tf_dp_lcore_flush(struct tf_dp_lcore *lc);
/* struct tf_dp_ctl_bus call: runs m on worker wid and waits. */
void tf_dp_ctl_call(void *ctx, unsigned int wid, struct tf_dp_ctl *m);

/* telemetry.c */
int tf_dp_telemetry_init(struct tf_dp_app *app);

/*
 * ivshmem_serve.c: the BAR as BAR2 of a QEMU ivshmem-doorbell device (one
 * guest; hwdocs/kmod.md "Doorbells and interrupts"). start() creates the
 * server, or takes over the one a previous program of this process handed
 * on across a restart (tf_dp_ivshmem_handover()). poll() never blocks unless
 * wait_us > 0 (the main lcore's idle sleep when workers run elsewhere):
 * guests come and go, doorbells are cleared (they are hints: the card polls
 * its indexes every loop anyway). notify is the card's notify callback.
 */
int tf_dp_ivshmem_start(struct tf_dp_app *app, const char *sock);
void tf_dp_ivshmem_poll(struct tf_dp_app *app, unsigned int wait_us);
void tf_dp_ivshmem_notify(void *arg, unsigned int vector);
/*
 * Keeps the server's fds open for the next program (their numbers go into the
 * environment, the fds into keep[]): how many, or -errno.
 */
int tf_dp_ivshmem_handover(struct tf_dp_app *app, int *keep, int max);
void tf_dp_ivshmem_stop(struct tf_dp_app *app);

/*
 * fw.c: the card's flash (--flash, hwdocs/flash-layout.md). open() runs
 * before the EAL: boot selection as the card's boot loader would, and when
 * the booted image's dataplane is not this program it is exec'd instead
 * (argv: this process's arguments); so open() may not return. running():
 * the booted image's version (-ENOENT: none booted, the built-in version
 * runs). poll(): the self-test and confirmation of an image on trial.
 * handlers(): FW_WRITE, FW_INFO, FW_ACTIVATE (ctx: the control bus).
 */
#define TF_DP_BUILTIN_FW_VERSION TF_FW_VERSION(1u, 0u, 0u)
#define TF_DP_BUILTIN_FW_VERSION_STR "1.0.0"
int tf_dp_fw_open(const char *path, char **argv, struct tf_dp_fw **out);
int tf_dp_fw_running(const struct tf_dp_fw *fw, uint32_t *version, const char **str);
void tf_dp_fw_poll(struct tf_dp_app *app);
void tf_dp_fw_handlers(struct tf_card_admin_handlers *h);
void tf_dp_fw_close(struct tf_dp_fw *fw);

#endif /* TF_DP_DP_H */
