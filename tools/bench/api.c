/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-bench and tokfabd's HTTP API (libcurl, jansson): a thread samples
 * GET /v1/accelerators once a second (utilisation over the last second, cost
 * per hour); at the end GET /v1/usage?group=accelerator&since=... gives what
 * the ledger metered for the run, so the report can put a cost on 1000 tokens.
 */
#include "bench/bench.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double
bench_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct body {
	char *p;
	size_t len;
};

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = sz * n;
	char *np;

	if (b->len + add > (16u << 20))
		return 0; /* an API answer this big is not tokfabd's */
	np = realloc(b->p, b->len + add + 1);
	if (!np)
		return 0;
	memcpy(np + b->len, p, add);
	b->p = np;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

/* GET url+path; the JSON body, or NULL with a sentence in a->last_error. */
static json_t *
get_json(struct bench_api *a, const char *path)
{
	char url[1024], auth[300], eb[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	struct body b = { 0 };
	json_error_t je;
	json_t *j = NULL;
	long status = 0;
	CURL *c;

	c = curl_easy_init();
	if (!c) {
		snprintf(a->last_error, sizeof(a->last_error), "libcurl: cannot create a handle");
		return NULL;
	}
	snprintf(url, sizeof(url), "%s%s", a->url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->token);
	h = curl_slist_append(h, auth);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) != CURLE_OK) {
		snprintf(a->last_error, sizeof(a->last_error), "cannot reach %s: %s", url, eb);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(a->last_error, sizeof(a->last_error), "%s: HTTP %ld%s", url, status,
			 status == 401 ? " (wrong --api-token?)" : "");
		goto out;
	}
	j = json_loadb(b.p ? b.p : "", b.len, 0, &je);
	if (!j)
		snprintf(a->last_error, sizeof(a->last_error), "%s: not JSON: %s", url, je.text);
out:
	free(b.p);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return j;
}

static struct bench_accel *
accel_slot(struct bench_api *a, uint32_t id)
{
	for (uint32_t i = 0; i < a->naccels; i++)
		if (a->accels[i].id == id)
			return &a->accels[i];
	if (a->naccels == BENCH_MAX_ACCELS)
		return NULL;
	memset(&a->accels[a->naccels], 0, sizeof(a->accels[0]));
	a->accels[a->naccels].id = id;
	a->accels[a->naccels].cost_per_1k_micro = -1;
	return &a->accels[a->naccels++];
}

/* One GET /v1/accelerators; samples inside the window count toward busy. */
static int
sample(struct bench_api *a, bool final)
{
	json_t *j = get_json(a, "/v1/accelerators"), *arr, *x;
	double now = bench_mono_s();
	size_t i;

	if (!j) {
		a->failures++;
		return -EIO;
	}
	arr = json_object_get(j, "accelerators");
	pthread_mutex_lock(&a->lock);
	json_array_foreach(arr, i, x)
	{
		struct bench_accel *ac =
			accel_slot(a, (uint32_t)json_integer_value(json_object_get(x, "id")));
		json_t *u = json_object_get(x, "utilisation"), *c;

		if (!ac)
			continue;
		snprintf(ac->transport, sizeof(ac->transport), "%s",
			 json_string_value(json_object_get(x, "transport")) ?: "?");
		ac->cost_per_hour_micro =
			(uint64_t)json_integer_value(json_object_get(x, "cost_per_hour_micro"));
		c = json_object_get(x, "cost_per_1k_tokens_micro");
		if (final && c)
			ac->cost_per_1k_micro = json_integer_value(c);
		if (u && json_is_number(u)) {
			ac->busy_last = json_number_value(u);
			/* the figure covers the second before the sample */
			if (!final && now - 1 >= a->window_start && now <= a->window_end + 0.5) {
				ac->busy_sum += ac->busy_last;
				ac->busy_n++;
			}
		}
	}
	a->samples++;
	pthread_mutex_unlock(&a->lock);
	json_decref(j);
	return 0;
}

static void *
sampler(void *arg)
{
	struct bench_api *a = arg;
	double next = bench_mono_s() + 1;

	while (!a->stop) {
		double now = bench_mono_s();

		if (now < next) {
			usleep((useconds_t)((next - now) * 1e6 > 100000 ? 100000
									: (next - now) * 1e6));
			continue;
		}
		next += 1;
		sample(a, false);
	}
	return NULL;
}

int
bench_api_init(struct bench_api *a, const char *url, const char *token_path, char *err,
	       size_t errlen)
{
	FILE *f;
	size_t n;

	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->window_start = INFINITY;
	snprintf(a->url, sizeof(a->url), "%s", url);
	n = strlen(a->url);
	while (n && a->url[n - 1] == '/')
		a->url[--n] = '\0';
	f = fopen(token_path, "r");
	if (!f) {
		snprintf(err, errlen, "--api-token %s: %s", token_path, strerror(errno));
		return -errno;
	}
	n = fread(a->token, 1, sizeof(a->token) - 1, f);
	fclose(f);
	a->token[n] = '\0';
	a->token[strcspn(a->token, "\r\n")] = '\0';
	if (!a->token[0]) {
		snprintf(err, errlen, "--api-token %s: the file is empty", token_path);
		return -EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(err, errlen, "libcurl: cannot initialise");
		return -EIO;
	}
	if (sample(a, false) < 0) {
		snprintf(err, errlen, "--api: %s", a->last_error);
		return -EIO;
	}
	return 0;
}

int
bench_api_start(struct bench_api *a)
{
	int rc = pthread_create(&a->thread, NULL, sampler, a);

	a->running = rc == 0;
	return -rc;
}

void
bench_api_set_window(struct bench_api *a, double start, double end)
{
	pthread_mutex_lock(&a->lock);
	a->window_start = start;
	a->window_end = end;
	pthread_mutex_unlock(&a->lock);
}

void
bench_api_finish(struct bench_api *a, double since_unix, double until_unix)
{
	char path[256];
	json_t *j, *rows, *x;
	size_t i;

	if (a->running) {
		a->stop = 1;
		pthread_join(a->thread, NULL);
		a->running = false;
	}
	sample(a, true);
	/* The ledger keys records by their end time; whole seconds. */
	snprintf(path, sizeof(path), "/v1/usage?group=accelerator&since=%.0f&until=%.0f",
		 floor(since_unix), ceil(until_unix) + 1);
	j = get_json(a, path);
	if (!j)
		return;
	rows = json_object_get(j, "rows");
	json_array_foreach(rows, i, x)
	{
		uint32_t id = (uint32_t)json_integer_value(json_object_get(x, "accel_id"));
		struct bench_accel *ac = id ? accel_slot(a, id) : NULL;

		if (!ac) /* accelerator 0: requests refused before any ran */
			continue;
		ac->requests = (uint64_t)json_integer_value(json_object_get(x, "requests"));
		ac->prompt_tokens =
			(uint64_t)json_integer_value(json_object_get(x, "prompt_tokens"));
		ac->completion_tokens =
			(uint64_t)json_integer_value(json_object_get(x, "completion_tokens"));
		ac->billed_micro = (uint64_t)json_integer_value(json_object_get(x, "cost_micro"));
	}
	a->have_usage = true;
	json_decref(j);
}

void
bench_api_fini(struct bench_api *a)
{
	if (a->running) {
		a->stop = 1;
		pthread_join(a->thread, NULL);
		a->running = false;
	}
	memset(a->token, 0, sizeof(a->token));
	curl_global_cleanup();
	pthread_mutex_destroy(&a->lock);
}
