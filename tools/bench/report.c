/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-bench results: the text summary, JSON, the per-second CSV, the PNG plot. */
#include "bench/bench.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct costs {
	double window_s;
	uint64_t tokens; /* prompt + completion, requests sent in the window */
	double run_micro; /* accelerators' cost per hour over the window */
	uint64_t billed_micro, ledger_tokens, ledger_requests;
	bool have_accels, have_ledger;
};

static void
compute_costs(const struct bench_run *r, struct costs *c)
{
	const struct bench_api *a = r->api;

	memset(c, 0, sizeof(*c));
	c->window_s = bench_window_s(r);
	c->tokens = r->win_tokens + r->win_prompt_tokens;
	if (!a)
		return;
	for (uint32_t i = 0; i < a->naccels; i++) {
		const struct bench_accel *ac = &a->accels[i];

		c->run_micro += (double)ac->cost_per_hour_micro * c->window_s / 3600.0;
		c->billed_micro += ac->billed_micro;
		c->ledger_tokens += ac->prompt_tokens + ac->completion_tokens;
		c->ledger_requests += ac->requests;
	}
	c->have_accels = a->naccels > 0;
	c->have_ledger = a->have_usage;
}

static void
lat_line(FILE *f, const char *name, const struct tf_hist *h)
{
	if (!h->count) {
		fprintf(f, "%-11s (no samples)\n", name);
		return;
	}
	fprintf(f,
		"%-11s p50 %8.3f  p90 %8.3f  p99 %8.3f  p99.9 %8.3f  max %8.3f ms  (n=%" PRIu64
		")\n",
		name, tf_hist_quantile(h, 0.5) / 1000.0, tf_hist_quantile(h, 0.9) / 1000.0,
		tf_hist_quantile(h, 0.99) / 1000.0, tf_hist_quantile(h, 0.999) / 1000.0,
		(double)h->max / 1000.0, h->count);
}

void
bench_report_text(const struct bench_run *r, FILE *f)
{
	const struct bench_opts *o = r->o;
	struct costs c;
	char pl[48], mt[48];

	compute_costs(r, &c);
	tf_dist_format(&o->prompt_len, pl, sizeof(pl));
	tf_dist_format(&o->max_tokens, mt, sizeof(mt));
	if (o->mode == BENCH_CLOSED)
		fprintf(f, "tokfab-bench: closed loop, %u in flight", o->concurrency);
	else
		fprintf(f, "tokfab-bench: open loop, %.1f requests/s (Poisson)", o->rate);
	fprintf(f,
		", %.1f s measured (+%.1f s warm-up), %u tenant(s), model %u, prompt %s%s, "
		"max tokens %s\n",
		c.window_s, o->warmup_s, r->ntenants, o->model_id, o->prompt_text ? "text" : "",
		o->prompt_text ? "" : pl, mt);
	fprintf(f,
		"requests    %" PRIu64 " ok, %" PRIu64 " errors, %" PRIu64
		" not sent (generator limits), %" PRIu64 " unfinished   %.1f ok/s\n",
		r->win_ok, r->win_errors, r->not_sent_outstanding + r->not_sent_pool, r->unfinished,
		c.window_s > 0 ? (double)r->win_ok / c.window_s : 0);
	fprintf(f, "tokens      %" PRIu64 " completion, %" PRIu64 " prompt   %.1f tokens/s\n",
		r->win_tokens, r->win_prompt_tokens,
		c.window_s > 0 ? (double)r->win_tokens / c.window_s : 0);
	lat_line(f, "TTFT", &r->ttft);
	lat_line(f, "inter-token", &r->itl);
	lat_line(f, "end-to-end", &r->e2e);
	if (r->nerrs) {
		fprintf(f, "errors     ");
		for (uint32_t i = 0; i < r->nerrs; i++)
			fprintf(f, " %s %" PRIu64 "%s", r->errs[i].name, r->errs[i].n,
				i + 1 < r->nerrs ? "," : "\n");
	}
	fprintf(f,
		"client      retransmits %" PRIu64 ", resumes %" PRIu64 ", %.2f CPU s, max %" PRIu64
		" in flight, %" PRIu64 " answers dropped by this host's sockets\n",
		r->retransmits, r->resumes, r->cpu_s, r->max_inflight_seen, r->socket_drops);
	if (c.have_accels) {
		const struct bench_api *a = r->api;

		for (uint32_t i = 0; i < a->naccels; i++) {
			const struct bench_accel *ac = &a->accels[i];

			fprintf(f, "accelerator %u (%s): busy %s", ac->id, ac->transport,
				ac->busy_n ? "" : "-");
			if (ac->busy_n)
				fprintf(f, "%.1f %%", 100 * ac->busy_sum / ac->busy_n);
			fprintf(f,
				", %.2f per hour, %" PRIu64 " requests, %" PRIu64
				" tokens in the ledger\n",
				ac->cost_per_hour_micro / 1e6, ac->requests,
				ac->prompt_tokens + ac->completion_tokens);
		}
		if (c.tokens)
			fprintf(f,
				"cost        accelerators %.6f for %" PRIu64
				" tokens = %.6f per 1k tokens",
				c.run_micro / 1e6, c.tokens, c.run_micro / 1e3 / (double)c.tokens);
		else
			fprintf(f, "cost        accelerators %.6f, no tokens", c.run_micro / 1e6);
		if (c.have_ledger && c.ledger_tokens)
			fprintf(f, "; billed %.6f = %.6f per 1k tokens", c.billed_micro / 1e6,
				c.billed_micro / 1e3 / (double)c.ledger_tokens);
		fputc('\n', f);
		if (r->api->failures)
			fprintf(f, "api         %u of %u samples failed: %s\n", r->api->failures,
				r->api->samples + r->api->failures, r->api->last_error);
	}
}

static json_t *
lat_json(const struct tf_hist *h)
{
	return json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "count", (json_int_t)h->count, "p50",
		(json_int_t)tf_hist_quantile(h, 0.5), "p90", (json_int_t)tf_hist_quantile(h, 0.9),
		"p99", (json_int_t)tf_hist_quantile(h, 0.99), "p999",
		(json_int_t)tf_hist_quantile(h, 0.999), "min", (json_int_t)(h->count ? h->min : 0),
		"max", (json_int_t)h->max, "mean", tf_hist_mean(h));
}

static json_t *
hist_json(const struct tf_hist *h)
{
	json_t *a = json_array();
	uint64_t lo, hi;

	for (unsigned int i = 0; i < TF_HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		tf_hist_range(i, &lo, &hi);
		json_array_append_new(a, json_pack("[I,I,I]", (json_int_t)lo, (json_int_t)hi,
						   (json_int_t)h->b[i]));
	}
	return a;
}

int
bench_report_json(const struct bench_run *r, const char *path, char *err, size_t errlen)
{
	const struct bench_opts *o = r->o;
	json_t *j, *errs = json_object(), *series = json_array(), *accels = json_array();
	struct costs c;
	char pl[48], mt[48];
	int rc;

	compute_costs(r, &c);
	tf_dist_format(&o->prompt_len, pl, sizeof(pl));
	tf_dist_format(&o->max_tokens, mt, sizeof(mt));
	for (uint32_t i = 0; i < r->nerrs; i++)
		json_object_set_new(errs, r->errs[i].name, json_integer((json_int_t)r->errs[i].n));
	for (uint32_t i = 0; i < r->nseries; i++) {
		const struct bench_sec *s = &r->series[i];

		json_array_append_new(series,
				      json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I}", "t",
						(int)i + 1, "done", s->done, "ok", s->ok, "errors",
						s->errors, "tokens", s->tokens, "inflight",
						s->inflight, "ttft_p50_us", (json_int_t)s->ttft_p50,
						"ttft_p99_us", (json_int_t)s->ttft_p99,
						"itl_p50_us", (json_int_t)s->itl_p50, "itl_p99_us",
						(json_int_t)s->itl_p99));
	}
	if (r->api) {
		for (uint32_t i = 0; i < r->api->naccels; i++) {
			const struct bench_accel *ac = &r->api->accels[i];
			json_t *x = json_pack(
				"{s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:i}", "id", (int)ac->id, "transport",
				ac->transport, "cost_per_hour_micro",
				(json_int_t)ac->cost_per_hour_micro, "requests",
				(json_int_t)ac->requests, "prompt_tokens",
				(json_int_t)ac->prompt_tokens, "completion_tokens",
				(json_int_t)ac->completion_tokens, "billed_micro",
				(json_int_t)ac->billed_micro, "busy_samples", (int)ac->busy_n);

			json_object_set_new(x, "busy",
					    ac->busy_n ? json_real(ac->busy_sum / ac->busy_n)
						       : json_null());
			json_object_set_new(x, "cost_per_1k_tokens_micro",
					    ac->cost_per_1k_micro >= 0
						    ? json_integer(ac->cost_per_1k_micro)
						    : json_null());
			json_array_append_new(accels, x);
		}
	}
	j = json_pack("{s:s,s:i,s:s?,s:{s:s,s:s,s:i,s:f,s:f,s:f,s:I,s:i,s:s,s:s,s:i,s:i}}", "tool",
		      "tokfab-bench", "version", 1, "label", o->label, "config", "server",
		      o->server, "mode", o->mode == BENCH_CLOSED ? "closed" : "open", "concurrency",
		      (int)o->concurrency, "rate", o->rate, "duration_s", o->duration_s, "warmup_s",
		      o->warmup_s, "max_requests", (json_int_t)o->max_requests, "tenants",
		      (int)r->ntenants, "prompt_len", o->prompt_text ? "text" : pl, "max_tokens",
		      mt, "model", (int)o->model_id, "max_outstanding", (int)o->max_outstanding);
	json_object_set_new(j, "window_s", json_real(c.window_s));
	json_object_set_new(
		j, "requests",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "submitted",
			  (json_int_t)r->submitted, "completed", (json_int_t)r->win_done, "ok",
			  (json_int_t)r->win_ok, "errors", (json_int_t)r->win_errors,
			  "not_sent_outstanding", (json_int_t)r->not_sent_outstanding,
			  "not_sent_pool", (json_int_t)r->not_sent_pool, "unfinished",
			  (json_int_t)r->unfinished, "warmup", (json_int_t)r->warmup_done));
	json_object_set_new(j, "tokens",
			    json_pack("{s:I,s:I}", "completion", (json_int_t)r->win_tokens,
				      "prompt", (json_int_t)r->win_prompt_tokens));
	json_object_set_new(
		j, "throughput",
		json_pack("{s:f,s:f,s:f}", "requests_per_s",
			  c.window_s > 0 ? (double)r->win_done / c.window_s : 0,
			  "ok_requests_per_s", c.window_s > 0 ? (double)r->win_ok / c.window_s : 0,
			  "tokens_per_s", c.window_s > 0 ? (double)r->win_tokens / c.window_s : 0));
	json_object_set_new(j, "latency_us",
			    json_pack("{s:o,s:o,s:o}", "ttft", lat_json(&r->ttft), "itl",
				      lat_json(&r->itl), "e2e", lat_json(&r->e2e)));
	json_object_set_new(j, "histograms_us",
			    json_pack("{s:o,s:o,s:o}", "ttft", hist_json(&r->ttft), "itl",
				      hist_json(&r->itl), "e2e", hist_json(&r->e2e)));
	json_object_set_new(j, "errors", errs);
	json_object_set_new(j, "series", series);
	json_object_set_new(j, "client",
			    json_pack("{s:I,s:I,s:f,s:I,s:I}", "retransmits",
				      (json_int_t)r->retransmits, "resumes", (json_int_t)r->resumes,
				      "cpu_s", r->cpu_s, "max_inflight",
				      (json_int_t)r->max_inflight_seen, "socket_drops",
				      (json_int_t)r->socket_drops));
	if (r->api) {
		json_t *cost = json_pack("{s:f,s:I}", "accelerators_micro", c.run_micro, "tokens",
					 (json_int_t)c.tokens);

		json_object_set_new(cost, "per_1k_tokens_micro",
				    c.tokens ? json_real(c.run_micro * 1000 / (double)c.tokens)
					     : json_null());
		if (c.have_ledger) {
			json_object_set_new(cost, "billed_micro",
					    json_integer((json_int_t)c.billed_micro));
			json_object_set_new(cost, "ledger_tokens",
					    json_integer((json_int_t)c.ledger_tokens));
			json_object_set_new(cost, "ledger_requests",
					    json_integer((json_int_t)c.ledger_requests));
			json_object_set_new(cost, "billed_per_1k_tokens_micro",
					    c.ledger_tokens
						    ? json_real((double)c.billed_micro * 1000 /
								(double)c.ledger_tokens)
						    : json_null());
		}
		json_object_set_new(j, "accelerators", accels);
		json_object_set_new(j, "cost", cost);
		json_object_set_new(j, "api_failures", json_integer(r->api->failures));
	} else {
		json_decref(accels);
	}
	if (r->ntenants <= 100000) {
		json_t *ts = json_array();

		for (uint32_t i = 0; i < r->ntenants; i++) {
			const struct bench_tenant *t = &r->tenants[i];

			if (t->ok || t->errors)
				json_array_append_new(ts, json_pack("{s:I,s:I,s:I,s:I}", "id",
								    (json_int_t)t->id, "ok",
								    (json_int_t)t->ok, "errors",
								    (json_int_t)t->errors, "tokens",
								    (json_int_t)t->tokens));
		}
		json_object_set_new(j, "tenants", ts);
	}
	rc = json_dump_file(j, path, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(j);
	if (rc) {
		snprintf(err, errlen, "--json %s: cannot write: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

int
bench_report_csv(const struct bench_run *r, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	fprintf(f,
		"t,done,ok,errors,tokens,inflight,ttft_p50_ms,ttft_p99_ms,itl_p50_ms,itl_p99_ms\n");
	for (uint32_t i = 0; i < r->nseries; i++) {
		const struct bench_sec *s = &r->series[i];

		fprintf(f, "%u,%u,%u,%u,%u,%u,%.3f,%.3f,%.3f,%.3f\n", i + 1, s->done, s->ok,
			s->errors, s->tokens, s->inflight, s->ttft_p50 / 1000.0,
			s->ttft_p99 / 1000.0, s->itl_p50 / 1000.0, s->itl_p99 / 1000.0);
	}
	if (fclose(f)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

int
bench_report_plot(const struct bench_run *r, const char *path, char *err, size_t errlen)
{
	char dat[PATH_MAX + 8], title[256];
	FILE *g;
	int rc, st;

	snprintf(dat, sizeof(dat), "%s.csv", path);
	rc = bench_report_csv(r, dat, err, errlen);
	if (rc)
		return rc;
	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		snprintf(err, errlen,
			 "--plot: gnuplot is not installed (run 'make deps': package "
			 "gnuplot-nox); the data is in %s",
			 dat);
		return -ENOENT;
	}
	snprintf(title, sizeof(title), "tokfab-bench %s%s%s", r->o->label ? r->o->label : "",
		 r->o->label ? ": " : "", r->o->mode == BENCH_CLOSED ? "closed loop" : "open loop");
	for (char *p = title; *p; p++)
		if (*p == '\'' || *p == '\\' || *p < ' ')
			*p = ' ';
	g = popen("gnuplot", "w");
	if (!g) {
		snprintf(err, errlen, "--plot: cannot run gnuplot: %s", strerror(errno));
		return -errno;
	}
	fprintf(g,
		"set terminal pngcairo size 1000,760 font ',10'\n"
		"set output '%s'\n"
		"set datafile separator ','\n"
		"set key autotitle columnhead outside right\n"
		"set multiplot layout 2,1 title '%s'\n"
		"set grid\n"
		"set xlabel 'seconds'\n"
		"set ylabel 'latency (ms)'\n"
		"set logscale y\n"
		"set title 'latency percentiles per second'\n"
		"plot '%s' using 1:($7>0?$7:1/0) with lines lw 2 title 'TTFT p50', "
		"'' using 1:($8>0?$8:1/0) with lines lw 2 title 'TTFT p99', "
		"'' using 1:($9>0?$9:1/0) with lines title 'inter-token p50', "
		"'' using 1:($10>0?$10:1/0) with lines title 'inter-token p99'\n"
		"unset logscale y\n"
		"set title 'throughput'\n"
		"set ylabel 'requests/s'\n"
		"set y2label 'tokens/s'\n"
		"set ytics nomirror\n"
		"set y2tics\n"
		"plot '%s' using 1:3 with lines lw 2 title 'ok requests/s', "
		"'' using 1:4 with lines title 'errors/s', "
		"'' using 1:5 axes x1y2 with lines lw 2 title 'tokens/s'\n"
		"unset multiplot\n",
		path, title, dat, dat);
	st = pclose(g);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "--plot: gnuplot failed (status %d) writing %s", st, path);
		return -EIO;
	}
	return 0;
}
