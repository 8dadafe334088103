/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfabctl: the operator's CLI over tokfabd's HTTP API (libcurl + jansson).
 * Tables for people, --json for scripts (the API's JSON, unchanged).
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "http://127.0.0.1:8470"
#define DEFAULT_TOKEN_FILE "/etc/tokfab/api-token"

struct opts {
	const char *url;
	const char *token_file;
	const char *cacert;
	int insecure;
	int json;
	char token[256];
};

struct body {
	char *p;
	size_t len;
};

static size_t
on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *p = realloc(b->p, b->len + add + 1);

	if (!p)
		return 0;
	memcpy(p + b->len, ptr, add);
	b->p = p;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

/* One request; returns the HTTP status (or -1) and the body in *out. */
static long
http(const struct opts *o, const char *method, const char *path, const char *data, struct body *out)
{
	char url[2048], auth[300], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	CURL *c = curl_easy_init();
	long status = -1;

	if (!c)
		return -1;
	snprintf(url, sizeof(url), "%s%s", o->url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
	hdrs = curl_slist_append(hdrs, auth);
	if (data)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (data)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
	else if (!strcmp(method, "POST"))
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	if (o->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	if (o->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else
		fprintf(stderr,
			"tokfabctl: cannot reach tokfabd at %s: %s (is it running? "
			"see --url)\n",
			o->url, errbuf);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return status;
}

/* Runs a request and parses JSON; prints the API's error and returns NULL on failure. */
static json_t *
call(const struct opts *o, const char *method, const char *path, const char *data)
{
	struct body b = { 0 };
	long st = http(o, method, path, data, &b);
	json_error_t jerr;
	json_t *j = NULL;

	if (st < 0)
		goto out;
	j = json_loadb(b.p ? b.p : "", b.len, 0, &jerr);
	if (st < 200 || st >= 300) {
		json_t *msg = json_object_get(json_object_get(j, "error"), "message");

		fprintf(stderr, "tokfabctl: %s %s: HTTP %ld: %s\n", method, path, st,
			msg ? json_string_value(msg) : (b.p ? b.p : ""));
		json_decref(j);
		j = NULL;
	} else if (!j) {
		fprintf(stderr, "tokfabctl: %s %s: the answer is not JSON: %s\n", method, path,
			jerr.text);
	}
out:
	free(b.p);
	return j;
}

static const char *
str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	static char buf[4][64];
	static int i;

	if (json_is_string(v))
		return json_string_value(v);
	i = (i + 1) % 4;
	if (json_is_integer(v))
		snprintf(buf[i], sizeof(buf[i]), "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf[i], sizeof(buf[i]), "%.2f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf[i], sizeof(buf[i]), "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf[i], sizeof(buf[i]), "-");
	return buf[i];
}

/* Prints arr as a table with the given columns (key:title). */
static void
table(json_t *arr, const char *const *keys, const char *const *titles, int ncol)
{
	size_t w[16] = { 0 }, n = json_array_size(arr);

	for (int c = 0; c < ncol; c++) {
		w[c] = strlen(titles[c]);
		for (size_t r = 0; r < n; r++) {
			size_t l = strlen(str(json_array_get(arr, r), keys[c]));

			if (l > w[c])
				w[c] = l;
		}
	}
	for (int c = 0; c < ncol; c++)
		printf("%-*s%s", (int)w[c], titles[c], c + 1 < ncol ? "  " : "\n");
	for (size_t r = 0; r < n; r++)
		for (int c = 0; c < ncol; c++)
			printf("%-*s%s", (int)w[c], str(json_array_get(arr, r), keys[c]),
			       c + 1 < ncol ? "  " : "\n");
	if (n == 0)
		printf("(none)\n");
}

static void
print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
}

static int
cmd_usage(const struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "model", required_argument, NULL, 'm' },
		{ "accelerator", required_argument, NULL, 'a' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "bucket", required_argument, NULL, 'b' },
		{ "csv", no_argument, NULL, 'c' },
		{ "raw", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	char path[1024] = "/v1/usage?", *esc;
	const char *group = "tenant,model";
	int opt, csv = 0, raw = 0;
	CURL *c = curl_easy_init();

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		const char *k = NULL;

		switch (opt) {
		case 't':
			k = "tenant";
			break;
		case 'm':
			k = "model";
			break;
		case 'a':
			k = "accelerator";
			break;
		case 's':
			k = "since";
			break;
		case 'u':
			k = "until";
			break;
		case 'b':
			k = "bucket";
			break;
		case 'g':
			group = optarg;
			continue;
		case 'c':
			csv = 1;
			continue;
		case 'r':
			raw = 1;
			continue;
		default:
			fprintf(stderr, "usage: tokfabctl usage [--tenant T] [--model M] "
					"[--accelerator A] [--since S] [--until U] [--group "
					"tenant,model,accelerator,outcome,time] [--bucket SECS] "
					"[--csv] [--raw]\n");
			curl_easy_cleanup(c);
			return 2;
		}
		esc = curl_easy_escape(c, optarg, 0);
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s=%s&", k, esc);
		curl_free(esc);
	}
	if (raw)
		strncat(path, "raw=1&", sizeof(path) - strlen(path) - 1);
	else if (group[0]) {
		esc = curl_easy_escape(c, group, 0);
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "group=%s&", esc);
		curl_free(esc);
	}
	curl_easy_cleanup(c);
	if (csv) {
		struct body b = { 0 };
		long st;

		strncat(path, "format=csv", sizeof(path) - strlen(path) - 1);
		st = http(o, "GET", path, NULL, &b);
		if (st == 200 && b.p)
			fputs(b.p, stdout);
		else if (st >= 0)
			fprintf(stderr, "tokfabctl: HTTP %ld: %s\n", st, b.p ? b.p : "");
		free(b.p);
		return st == 200 ? 0 : 1;
	}
	{
		json_t *j = call(o, "GET", path, NULL), *rows;
		static const char *const keys[] = {
			"tenant",   "model",	     "accel_id",	  "outcome", "bucket",
			"requests", "prompt_tokens", "completion_tokens", "cost"
		};
		static const char *const titles[] = { "TENANT",	 "MODEL",      "ACCEL",
						      "OUTCOME", "BUCKET",     "REQUESTS",
						      "PROMPT",	 "COMPLETION", "COST" };
		const char *k2[9], *t2[9];
		int n = 0;

		if (!j)
			return 1;
		if (o->json || raw) {
			print_json(j);
			json_decref(j);
			return 0;
		}
		rows = json_object_get(j, "rows");
		/* Only the grouped columns, then the sums. */
		for (int i = 0; i < 9; i++) {
			if (i < 5 && !json_object_get(json_array_get(rows, 0), keys[i]) &&
			    !(i == 2 && strstr(group, "accelerator")))
				continue;
			k2[n] = keys[i];
			t2[n++] = titles[i];
		}
		table(rows, k2, t2, n);
		json_decref(j);
	}
	return 0;
}

static int
cmd_tenants(const struct opts *o)
{
	static const char *const keys[] = { "id",    "name",	"period", "budget",
					    "spent", "balance", "key_id", "active_requests" };
	static const char *const titles[] = { "ID",    "NAME",	  "PERIOD", "BUDGET",
					      "SPENT", "BALANCE", "KEY",    "ACTIVE" };
	json_t *j = call(o, "GET", "/v1/tenants", NULL);

	if (!j)
		return 1;
	if (o->json)
		print_json(j);
	else
		table(json_object_get(j, "tenants"), keys, titles, 8);
	json_decref(j);
	return 0;
}

/* Tenant id from an id or a configured name. */
static long
tenant_id(const struct opts *o, const char *ref)
{
	char *end;
	long id = strtol(ref, &end, 10);
	json_t *j, *t;
	size_t i;

	if (!*end && id > 0)
		return id;
	j = call(o, "GET", "/v1/tenants", NULL);
	if (!j)
		return -1;
	id = -1;
	json_array_foreach(json_object_get(j, "tenants"), i, t)
	{
		if (!strcmp(str(t, "name"), ref))
			id = (long)json_integer_value(json_object_get(t, "id"));
	}
	json_decref(j);
	if (id < 0)
		fprintf(stderr, "tokfabctl: no tenant named '%s' (see 'tokfabctl tenants')\n", ref);
	return id;
}

static int
cmd_put_tenant(const struct opts *o, const char *ref, json_t *body, const char *done)
{
	char path[64], *data;
	long id = tenant_id(o, ref);
	json_t *j;

	if (id < 0) {
		json_decref(body);
		return 1;
	}
	snprintf(path, sizeof(path), "/v1/tenants/%ld", id);
	data = json_dumps(body, 0);
	json_decref(body);
	j = call(o, "PUT", path, data);
	free(data);
	if (!j)
		return 1;
	if (o->json) {
		print_json(j);
	} else {
		printf("%s: tenant %s (%ld): budget %s, spent %s, balance %s\n", done,
		       str(j, "name"), id, str(j, "budget"), str(j, "spent"), str(j, "balance"));
		if (json_object_get(j, "new_key"))
			printf("new key (key_id %s), give it to the tenant; the old one stays "
			       "valid "
			       "for the grace period:\n%s\n",
			       str(j, "key_id"), str(j, "new_key"));
	}
	json_decref(j);
	return 0;
}

static int
cmd_health(const struct opts *o)
{
	static const char *const keys[] = { "component", "id", "state", "since", "reason" };
	static const char *const titles[] = { "COMPONENT", "ID", "STATE", "SINCE", "REASON" };
	json_t *j = call(o, "GET", "/v1/health", NULL), *card;

	if (!j)
		return 1;
	if (o->json) {
		print_json(j);
	} else {
		card = json_object_get(j, "card");
		printf("overall: %s; card %s: %s, firmware %s, boot %s, events posted %s, "
		       "acknowledged %s\n\n",
		       str(j, "overall"), str(card, "serial"),
		       json_is_true(json_object_get(card, "attached")) ? "attached"
								       : "NOT attached",
		       str(card, "firmware"), str(card, "boot_count"), str(card, "events_posted"),
		       str(card, "events_acknowledged"));
		table(json_object_get(j, "components"), keys, titles, 5);
	}
	json_decref(j);
	return 0;
}

static int
cmd_accels(const struct opts *o)
{
	static const char *const keys[] = { "id",
					    "transport",
					    "address",
					    "state",
					    "cost_per_hour",
					    "window_tokens",
					    "cost_per_1k_tokens",
					    "utilisation",
					    "outstanding" };
	static const char *const titles[] = { "ID",	 "TRANSPORT", "ADDRESS",
					      "STATE",	 "COST/H",    "TOKENS(WINDOW)",
					      "COST/1K", "UTIL",      "OUTSTANDING" };
	json_t *j = call(o, "GET", "/v1/accelerators", NULL);

	if (!j)
		return 1;
	if (o->json)
		print_json(j);
	else
		table(json_object_get(j, "accelerators"), keys, titles, 9);
	json_decref(j);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: tokfabctl [--url URL] [--token-file FILE] [--json] [--cacert FILE] "
		"[--insecure] COMMAND\n"
		"commands:\n"
		"  usage [--tenant T] [--model M] [--accelerator A] [--since S] [--until U]\n"
		"        [--group tenant,model,accelerator,outcome,time] [--bucket SECS] [--csv] "
		"[--raw]\n"
		"  tenants                      tenants, budgets, spend and balances\n"
		"  set-budget TENANT AMOUNT     budget per period, e.g. 50.00\n"
		"  topup TENANT AMOUNT          add to this period's balance\n"
		"  reset-period TENANT          start a new budget period now\n"
		"  rotate-key TENANT            new MAC key (printed once)\n"
		"  health                       card and component health\n"
		"  accelerators                 accelerator pool, cost per token, utilisation\n"
		"  reload                       make tokfabd re-read its configuration\n"
		"S/U: Unix seconds, 2024-05-01T00:00:00Z, now, or -30s/-15m/-2h/-7d.\n"
		"The token comes from --token-file, $TOKFAB_TOKEN or " DEFAULT_TOKEN_FILE ".\n");
}

static int
load_token(struct opts *o)
{
	const char *env = getenv("TOKFAB_TOKEN");
	const char *path = o->token_file ? o->token_file : DEFAULT_TOKEN_FILE;
	FILE *f;

	if (env && !o->token_file) {
		snprintf(o->token, sizeof(o->token), "%s", env);
		return 0;
	}
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr,
			"tokfabctl: cannot read the API token from %s: %s (use --token-file "
			"or $TOKFAB_TOKEN)\n",
			path, strerror(errno));
		return -1;
	}
	if (!fgets(o->token, sizeof(o->token), f))
		o->token[0] = '\0';
	fclose(f);
	o->token[strcspn(o->token, "\r\n")] = '\0';
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "token-file", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "cacert", required_argument, NULL, 'c' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .url = DEFAULT_URL };
	const char *cmd;
	int opt, rc = 2;

	while ((opt = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (opt) {
		case 'u':
			o.url = optarg;
			break;
		case 't':
			o.token_file = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'c':
			o.cacert = optarg;
			break;
		case 'k':
			o.insecure = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (load_token(&o) < 0)
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!strcmp(cmd, "usage")) {
		rc = cmd_usage(&o, argc, argv);
	} else if (!strcmp(cmd, "tenants") && argc == 1) {
		rc = cmd_tenants(&o);
	} else if (!strcmp(cmd, "set-budget") && argc == 3) {
		rc = cmd_put_tenant(&o, argv[1], json_pack("{s:s}", "budget", argv[2]),
				    "budget set");
	} else if (!strcmp(cmd, "topup") && argc == 3) {
		rc = cmd_put_tenant(&o, argv[1], json_pack("{s:s}", "topup", argv[2]), "topped up");
	} else if (!strcmp(cmd, "reset-period") && argc == 2) {
		rc = cmd_put_tenant(&o, argv[1], json_pack("{s:b}", "reset_period", 1),
				    "period reset");
	} else if (!strcmp(cmd, "rotate-key") && argc == 2) {
		rc = cmd_put_tenant(&o, argv[1], json_pack("{s:b}", "rotate_key", 1),
				    "key rotated");
	} else if (!strcmp(cmd, "health") && argc == 1) {
		rc = cmd_health(&o);
	} else if (!strcmp(cmd, "accelerators") && argc == 1) {
		rc = cmd_accels(&o);
	} else if (!strcmp(cmd, "reload") && argc == 1) {
		json_t *j = call(&o, "POST", "/v1/config/reload", NULL);

		rc = j ? 0 : 1;
		if (j && o.json)
			print_json(j);
		else if (j)
			printf("configuration reloaded; the card gets it next\n");
		json_decref(j);
	} else {
		usage(stderr);
	}
	curl_global_cleanup();
	explicit_bzero(o.token, sizeof(o.token));
	return rc;
}
