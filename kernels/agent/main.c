/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-accel: the accelerator agent (see agent.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "common/log.h"

static volatile int g_stop, g_hard_stop;

/* First SIGTERM/SIGINT: finish in-flight work (drain); second: stop now. */
static void
on_signal(int sig)
{
	(void)sig;
	if (g_stop)
		g_hard_stop = 1;
	g_stop = 1;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct agent_cfg cfg;

	tf_log_init("tokfab-accel", TF_LOG_INFO, 0);
	if (agent_args_parse(argc, argv, &cfg)) {
		agent_usage();
		return 2;
	}
	if (cfg.verbose)
		tf_log_set_level(TF_LOG_DEBUG);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return agent_serve(&cfg, &g_stop, &g_hard_stop);
}
