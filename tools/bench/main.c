/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-bench: see bench.h and --help. */
#include "bench/bench.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile int g_stop;

static void
on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static double
wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static struct bench_run r;
	static struct bench_api api;
	struct bench_opts o;
	struct sigaction sa;
	double wall0, mono0;
	char err[512];
	int rc, ret = 1;

	rc = bench_args_parse(argc, argv, &o);
	if (rc) {
		bench_opts_free(&o); /* what was parsed before the bad option */
		return rc > 0 ? 0 : 2;
	}
	if (bench_run_init(&r, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "tokfab-bench: %s\n", err);
		goto out_run;
	}
	if (o.api_url) {
		if (bench_api_init(&api, o.api_url, o.api_token_path, err, sizeof(err)) < 0) {
			fprintf(stderr, "tokfab-bench: %s\n", err);
			goto out_api;
		}
		r.api = &api;
		if (bench_api_start(&api) < 0) {
			fprintf(stderr, "tokfab-bench: cannot start the API sampler thread\n");
			goto out_api;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	wall0 = wall_s();
	mono0 = bench_mono_s();
	if (bench_run_go(&r, &g_stop) < 0 || r.fatal[0]) {
		fprintf(stderr, "tokfab-bench: %s\n", r.fatal[0] ? r.fatal : "the run failed");
		goto out_api;
	}
	if (r.api) {
		/* the ledger window in wall-clock seconds: from the end of the warm-up */
		double since = wall0 + ((double)r.t_warm / 1e9 - mono0);

		bench_api_finish(&api, since, wall_s());
	}
	bench_report_text(&r, stdout);
	ret = 0;
	if (o.json_path && bench_report_json(&r, o.json_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "tokfab-bench: %s\n", err);
		ret = 1;
	}
	if (o.csv_path && bench_report_csv(&r, o.csv_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "tokfab-bench: %s\n", err);
		ret = 1;
	}
	if (o.plot_path && bench_report_plot(&r, o.plot_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "tokfab-bench: %s\n", err);
		ret = 1;
	}
	if (g_stop)
		fprintf(stderr, "tokfab-bench: interrupted; the report covers what ran\n");
out_api:
	if (r.api)
		bench_api_fini(&api);
out_run:
	bench_run_fini(&r);
	bench_opts_free(&o);
	return ret;
}
