/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ports: every ethdev the EAL command line created (a NIC, net_af_packet,
 * net_tap, net_null, net_ring, net_pcap, ...) gets one RX and one TX queue
 * per worker, RSS across them when there is more than one. Also what a port
 * lost before the card saw it (rx_missed): the ethdev's imissed plus, for
 * net_af_packet (whose PMD in DPDK 22.11 reports none), the kernel's drops on
 * its receive rings, read with PACKET_STATISTICS from the PMD's own sockets.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include "dataplane/dp.h"

#define MAX_RING_FDS 64

/*
 * Per port: the af_packet sockets found at start, and the drops read so far
 * (PACKET_STATISTICS resets the kernel's count on every read, so one reader
 * at a time adds them up: the main lcore's stats line and the telemetry thread).
 */
static struct {
	int fd[MAX_RING_FDS];
	unsigned int nfd;
	uint64_t drops;
} g_ring[TF_DP_MAX_PORTS];
static pthread_mutex_t g_ring_lock = PTHREAD_MUTEX_INITIALIZER;

/* The AF_PACKET sockets of this process bound to ifindex (the PMD's, one per queue). */
static void
find_ring_sockets(uint16_t port, int ifindex)
{
	struct dirent *de;
	DIR *d;

	g_ring[port].nfd = 0;
	if (ifindex <= 0)
		return;
	d = opendir("/proc/self/fd");
	if (!d)
		return;
	while ((de = readdir(d)) && g_ring[port].nfd < MAX_RING_FDS) {
		struct sockaddr_ll sll;
		socklen_t len = sizeof(sll);
		int fd, dom = 0;
		socklen_t dl = sizeof(dom);

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d) || getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) < 0 ||
		    dom != AF_PACKET || getsockname(fd, (struct sockaddr *)&sll, &len) < 0 ||
		    sll.sll_ifindex != ifindex)
			continue;
		g_ring[port].fd[g_ring[port].nfd++] = fd;
	}
	closedir(d);
}

uint64_t
tf_dp_port_rx_missed(uint16_t port, uint64_t *ring_drops)
{
	struct rte_eth_stats st;
	uint64_t drops;

	if (port >= TF_DP_MAX_PORTS)
		return 0;
	pthread_mutex_lock(&g_ring_lock);
	for (unsigned int i = 0; i < g_ring[port].nfd; i++) {
		struct tpacket_stats_v3 ks;
		socklen_t len = sizeof(ks);

		if (getsockopt(g_ring[port].fd[i], SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
			g_ring[port].drops += ks.tp_drops;
	}
	drops = g_ring[port].drops;
	pthread_mutex_unlock(&g_ring_lock);
	if (ring_drops)
		*ring_drops = drops;
	if (rte_eth_stats_get(port, &st) == 0)
		drops += st.imissed;
	return drops;
}

#define NB_RXD 1024
#define NB_TXD 1024

static int
port_init(struct tf_dp_app *app, uint16_t port)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_ether_addr mac;
	uint16_t nrxd = NB_RXD, ntxd = NB_TXD;
	uint16_t nq = (uint16_t)app->nworkers;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_info_get(port, &info);
	if (rc < 0) {
		TF_DP_LOG(ERR, "port %u: cannot get device info: %s", port, rte_strerror(-rc));
		return rc;
	}
	if (info.max_rx_queues < nq || info.max_tx_queues < nq) {
		TF_DP_LOG(ERR,
			  "port %u (%s) has %u RX / %u TX queues, tokfab-dp needs one per worker "
			  "lcore (%u): start fewer lcores, or give the vdev more queues "
			  "(net_af_packet: qpairs=%u)",
			  port, info.driver_name, info.max_rx_queues, info.max_tx_queues, nq, nq);
		return -EINVAL;
	}
	if (nq > 1) {
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
		if (conf.rx_adv_conf.rss_conf.rss_hf)
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		else
			TF_DP_LOG(
				WARNING,
				"port %u (%s) offers no RSS: the PMD spreads frames over its "
				"queues its own way; tenants are still handed to their owner lcore",
				port, info.driver_name);
	}
	rc = rte_eth_dev_configure(port, nq, nq, &conf);
	if (rc < 0) {
		TF_DP_LOG(ERR, "port %u (%s): configure %u queues: %s", port, info.driver_name, nq,
			  rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
	if (rc < 0)
		return rc;
	for (uint16_t q = 0; q < nq; q++) {
		rc = rte_eth_rx_queue_setup(port, q, nrxd, rte_eth_dev_socket_id(port), NULL,
					    app->pool);
		if (rc < 0) {
			TF_DP_LOG(ERR, "port %u: RX queue %u: %s", port, q, rte_strerror(-rc));
			return rc;
		}
		rc = rte_eth_tx_queue_setup(port, q, ntxd, rte_eth_dev_socket_id(port), NULL);
		if (rc < 0) {
			TF_DP_LOG(ERR, "port %u: TX queue %u: %s", port, q, rte_strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(port);
	if (rc < 0) {
		TF_DP_LOG(ERR, "port %u (%s): start: %s", port, info.driver_name,
			  rte_strerror(-rc));
		return rc;
	}
	rte_eth_macaddr_get(port, &mac);
	for (unsigned int w = 0; w < app->nworkers; w++)
		tf_dp_worker_set_port_mac(app->workers[w], port, mac.addr_bytes);
	if (!strcmp(info.driver_name, "net_af_packet")) {
		find_ring_sockets(port, (int)info.if_index);
		if (!g_ring[port].nfd)
			TF_DP_LOG(WARNING,
				  "port %u (net_af_packet): its ring sockets were not found: "
				  "drops on its kernel receive ring are not counted",
				  port);
	}
	TF_DP_LOG(INFO, "port %u (%s): %u queue(s), MAC " RTE_ETHER_ADDR_PRT_FMT, port,
		  info.driver_name, nq, RTE_ETHER_ADDR_BYTES(&mac));
	return 0;
}

int
tf_dp_ports_init(struct tf_dp_app *app)
{
	uint16_t port;
	int rc;

	app->nports = 0;
	RTE_ETH_FOREACH_DEV (port) {
		if (app->nports == TF_DP_MAX_PORTS || port >= TF_DP_MAX_PORTS) {
			TF_DP_LOG(ERR, "more than %d ports: tokfab-dp serves up to %d",
				  TF_DP_MAX_PORTS, TF_DP_MAX_PORTS);
			return -E2BIG;
		}
		rc = port_init(app, port);
		if (rc < 0)
			return rc;
		app->ports[app->nports++] = port;
	}
	if (app->nports == 0) {
		TF_DP_LOG(ERR, "no ports: give one on the EAL command line, e.g. "
			       "--vdev=net_af_packet0,iface=veth0 (or bind a NIC)");
		return -ENODEV;
	}
	return 0;
}

void
tf_dp_ports_close(struct tf_dp_app *app)
{
	pthread_mutex_lock(&g_ring_lock);
	memset(g_ring, 0, sizeof(g_ring));
	pthread_mutex_unlock(&g_ring_lock);
	for (uint16_t i = 0; i < app->nports; i++) {
		rte_eth_dev_stop(app->ports[i]);
		rte_eth_dev_close(app->ports[i]);
	}
	app->nports = 0;
}
