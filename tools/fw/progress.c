/* SPDX-License-Identifier: BSD-3-Clause */
/* Progress bar for tokfab-fw flash: phase, bar, bytes done/total, rate. */
#include "fwtool.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR 30

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
fw_progress_init(struct fw_progress *p, int force)
{
	memset(p, 0, sizeof(*p));
	p->tty = force || isatty(STDERR_FILENO);
}

static void
human(double b, char *out, size_t n)
{
	if (b >= 1 << 30)
		snprintf(out, n, "%.2f GiB", b / (1 << 30));
	else if (b >= 1 << 20)
		snprintf(out, n, "%.2f MiB", b / (1 << 20));
	else if (b >= 1 << 10)
		snprintf(out, n, "%.1f KiB", b / (1 << 10));
	else
		snprintf(out, n, "%.0f B", b);
}

void
fw_progress_cb(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct fw_progress *p = arg;
	double t = now(), el, rate;
	char d[32], tot[32], r[32], bar[BAR + 1];
	unsigned int fill;

	if (p->phase != phase) { /* phases are string literals from libtffw */
		p->phase = phase;
		p->t0 = t;
		p->last = 0;
	}
	if (done < total && t - p->last < 0.1)
		return;
	p->last = t;
	el = t - p->t0;
	rate = el > 0 ? done / el : 0;
	human((double)done, d, sizeof(d));
	human((double)total, tot, sizeof(tot));
	human(rate, r, sizeof(r));
	fill = total ? (unsigned int)(done * BAR / total) : BAR;
	memset(bar, '#', fill);
	memset(bar + fill, '-', BAR - fill);
	bar[BAR] = '\0';
	if (p->tty)
		fprintf(stderr, "\r%-6s [%s] %10s / %-10s %10s/s%s", phase, bar, d, tot,
			el > 0 ? r : "-", done >= total ? "\n" : "");
	else if (done >= total)
		fprintf(stderr, "%-6s %s in %.3f s (%s/s)\n", phase, tot, el, el > 0 ? r : "-");
	fflush(stderr);
}
