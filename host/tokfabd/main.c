/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfabd: the management daemon. Runs in the foreground (systemd: Type=simple,
 * host/tokfabd.service). SIGHUP reloads the configuration (a bad file is
 * refused and the old one stays); SIGTERM/SIGINT stop the card thread after
 * its current commit, close the ledger and exit 0.
 */
#include "common/log.h"
#include "tokfabd/daemon.h"
#include "tokfabd/dashboard.h"
#include "tokfabd/http.h"
#include "tokfabd/metrics.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CONFIG "/etc/tokfab/tokfabd.yaml"

static void
usage(FILE *f)
{
	fprintf(f, "usage: tokfabd [-c CONFIG] [-n] [-d] [-s]\n"
		   "  -c CONFIG  configuration file (default " DEFAULT_CONFIG ")\n"
		   "  -n         check the configuration and exit (0 when valid)\n"
		   "  -d         debug logging\n"
		   "  -s         log to syslog instead of stderr\n"
		   "Signals: HUP reloads the configuration, TERM/INT stop cleanly.\n");
}

static int
init(struct tfd *d, struct tfd_config *cfg, const char *path)
{
	char err[1024];
	uint64_t nu = 0, nh = 0;
	int rc;

	memset(d, 0, sizeof(*d));
	pthread_rwlock_init(&d->cfg_lock, NULL);
	pthread_mutex_init(&d->api_ledger_lock, NULL);
	pthread_mutex_init(&d->card_lock, NULL);
	pthread_mutex_init(&d->live_lock, NULL);
	tfd_health_init(&d->health);
	d->cfg = cfg;
	snprintf(d->cfg_path, sizeof(d->cfg_path), "%s", path);
	d->start_ns = tfd_now_ns();
	rc = tfd_ledger_open(cfg->ledger_path, cfg->ledger_sync_full, &d->ledger, err, sizeof(err));
	if (rc == 0)
		rc = tfd_ledger_open(cfg->ledger_path, cfg->ledger_sync_full, &d->api_ledger, err,
				     sizeof(err));
	if (rc < 0) {
		tf_log_warnx("%s", err);
		return rc;
	}
	tfd_ledger_counts(d->ledger, &nu, &nh);
	tf_log_info("ledger %s: %llu usage records, %llu health events (WAL, synchronous=%s)",
		    cfg->ledger_path, (unsigned long long)nu, (unsigned long long)nh,
		    cfg->ledger_sync_full ? "FULL" : "NORMAL");
	rc = tfd_metrics_seed(d, d->ledger);
	if (rc < 0)
		tf_log_warnx("ledger: cannot read totals for the metrics: %s",
			     tfd_ledger_errmsg(d->ledger));
	tfd_health_set(&d->health, TFD_HC_LEDGER, 0, TF_HS_UP, "opened", tfd_now_ns());
	tfd_dashboard_asset("/"); /* resolve the embedded files before threads start */
	return 0;
}

static void
fini(struct tfd *d)
{
	tfd_ledger_close(d->ledger);
	tfd_ledger_close(d->api_ledger);
	tfd_config_free(d->cfg);
	tfd_metrics_fini(d);
	free(d->tenants);
	free(d->accels);
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	struct tfd_config *cfg;
	struct tfd_http *http = NULL;
	static struct tfd d;
	char err[1024];
	sigset_t sigs;
	int opt, check = 0, debug = 0, use_syslog = 0, sig, rc;

	while ((opt = getopt(argc, argv, "c:ndsh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	tf_log_init("tokfabd", debug ? TF_LOG_DEBUG : TF_LOG_INFO, use_syslog);
	/*
	 * Every thread inherits this mask and the main thread takes the signals,
	 * so a SIGTERM at any point after this line is a clean stop.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (tfd_config_load(path, &cfg, err, sizeof(err)) < 0)
		tf_fatalx("%s", err);
	if (check) {
		printf("%s: configuration OK (%u tenants, %u models, %u accelerators)\n", path,
		       cfg->n_tenants, cfg->n_models, cfg->n_accels);
		tfd_config_free(cfg);
		return 0;
	}
	if (!debug)
		tf_log_set_level((enum tf_log_level)cfg->log_level);
	if (cfg->log_syslog && !use_syslog)
		tf_log_init("tokfabd", debug ? TF_LOG_DEBUG : (enum tf_log_level)cfg->log_level, 1);

	if (init(&d, cfg, path) < 0) {
		fini(&d);
		return 1;
	}
	rc = tfd_http_start(&d, &http, err, sizeof(err));
	if (rc < 0) {
		tf_log_warnx("%s", err);
		fini(&d);
		return 1;
	}
	rc = tfd_card_start(&d);
	if (rc < 0) {
		tf_log_warnx("cannot start the card thread: %s", strerror(-rc));
		tfd_http_stop(http);
		fini(&d);
		return 1;
	}
	tf_log_info("tokfabd running: API on %s port %u%s, card %s", cfg->listen_addr,
		    tfd_http_port(http), cfg->tls_cert[0] ? " (TLS)" : "", cfg->card_access);
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			tfd_reload(&d, err, sizeof(err));
			continue;
		}
		tf_log_info("signal %d: stopping (finishing the current ledger commit)", sig);
		break;
	}
	tfd_http_stop(http);
	tfd_card_stop(&d);
	fini(&d);
	tf_log_info("stopped; ledger closed");
	return 0;
}
