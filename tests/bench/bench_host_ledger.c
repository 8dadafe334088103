/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ledger commit rate: tokfabd's batched commit (one WAL transaction per batch
 * of events, as the card thread does) beside the naive baseline (one
 * transaction per record), same database settings, same run, fresh files.
 *
 * usage: bench_host_ledger DIR RECORDS BATCH NAIVE_SECONDS
 * Prints records/s for each and the ratio.
 */
#include "tokfabd/ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* CPU seconds (user + system) this process used so far. */
static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
fill(struct tf_eq_entry *e, uint64_t seq)
{
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->type = TF_EQ_USAGE;
	e->len = sizeof(struct tf_usage_record);
	e->body.usage.request_id = seq;
	e->body.usage.tenant_id = 1 + (uint32_t)(seq % 16);
	e->body.usage.model_id = 1 + (uint32_t)(seq % 2);
	e->body.usage.accel_id = 1 + (uint32_t)(seq % 4);
	e->body.usage.prompt_tokens = 20;
	e->body.usage.completion_tokens = 100;
	e->body.usage.cost_micro = 240;
	e->body.usage.end_time_ns = 1700000000000000000ull + seq * 1000000ull;
}

static struct tfd_ledger *
fresh(const char *dir, const char *name, int full)
{
	char path[512], p2[600], err[512];
	struct tfd_ledger *l;

	snprintf(path, sizeof(path), "%s/%s.db", dir, name);
	unlink(path);
	snprintf(p2, sizeof(p2), "%s-wal", path);
	unlink(p2);
	snprintf(p2, sizeof(p2), "%s-shm", path);
	unlink(p2);
	if (tfd_ledger_open(path, full, &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_host_ledger: %s\n", err);
		exit(1);
	}
	return l;
}

/*
 * Commits records in batches of batch until done or seconds pass; returns
 * records/s, and the CPU microseconds per record in *cpu_us.
 */
static double
run(struct tfd_ledger *l, uint64_t records, unsigned int batch, double seconds, uint64_t *done,
    double *cpu_us)
{
	struct tf_eq_entry *ev = calloc(batch, sizeof(*ev));
	struct tfd_commit_result res;
	double t0 = now_s(), c0 = cpu_s(), t;
	uint64_t seq = 1;

	if (!ev)
		exit(1);
	while (seq <= records) {
		unsigned int n = 0;

		while (n < batch && seq <= records)
			fill(&ev[n++], seq++);
		if (tfd_ledger_commit(l, "BENCH", 1, ev, n, &res) < 0 || res.inserted != n) {
			fprintf(stderr, "bench_host_ledger: commit failed\n");
			exit(1);
		}
		if (seconds > 0 && now_s() - t0 > seconds)
			break;
	}
	t = now_s() - t0;
	*done = seq - 1;
	*cpu_us = (cpu_s() - c0) * 1e6 / (double)(seq > 1 ? seq - 1 : 1);
	free(ev);
	return (double)(seq - 1) / t;
}

int
main(int argc, char **argv)
{
	uint64_t records, done_b, done_n;
	unsigned int batch;
	double naive_s, rb, rn, cb, cn;
	const char *dir;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_host_ledger DIR RECORDS BATCH NAIVE_SECONDS\n");
		return 2;
	}
	dir = argv[1];
	records = strtoull(argv[2], NULL, 10);
	batch = (unsigned int)strtoul(argv[3], NULL, 10);
	naive_s = atof(argv[4]);
	for (int full = 1; full >= 0; full--) {
		struct tfd_ledger *l;
		const char *sync = full ? "FULL" : "NORMAL";

		l = fresh(dir, full ? "batched-full" : "batched-normal", full);
		rb = run(l, records, batch, 0, &done_b, &cb);
		tfd_ledger_close(l);
		l = fresh(dir, full ? "naive-full" : "naive-normal", full);
		rn = run(l, records, 1, naive_s, &done_n, &cn);
		tfd_ledger_close(l);
		printf("ledger WAL synchronous=%-6s  batched (%u/txn): %9.0f records/s (%llu), "
		       "%.2f CPU-us/record   naive (1/txn): %7.0f records/s (%llu), %.1f "
		       "CPU-us/record   ratio x%.1f (CPU x%.1f)\n",
		       sync, batch, rb, (unsigned long long)done_b, cb, rn,
		       (unsigned long long)done_n, cn, rb / rn, cn / cb);
	}
	return 0;
}
