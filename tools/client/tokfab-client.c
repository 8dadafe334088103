/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-client: send one inference request to a tokfab card and stream the
 * generated tokens to stdout (hwdocs/protocol.md; README "Client").
 */
#include "common/log.h"
#include "tokfab/client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Exit codes (also in --help and README "Client"). */
enum {
	EX_OK = 0,
	EX_INTERNAL = 1,
	EX_USAGE = 2,
	EX_NETWORK = 3,
	EX_TIMEOUT = 4,
	EX_CANCELLED = 5,
	EX_CARD_BASE = 9, /* + wire error code: 10 BAD_MAC .. 24 RESUME_UNAVAILABLE */
};

struct opts {
	const char *server, *key_file, *prompt_file;
	uint32_t tenant, model, max_tokens, timeout_s, retries, dgram;
	uint16_t temperature, top_p;
	uint64_t seed;
	uint8_t priority, key_id, mac_alg;
	bool have_tenant, have_model, have_seed, json, ids, ping, verbose, no_final_tokens;
	uint8_t *tokens; /* --tokens: u32 LE ids */
	uint32_t ntokens;
	char *text; /* positional prompt words joined */
};

static volatile sig_atomic_t g_sigint;

static void
on_sigint(int sig)
{
	(void)sig;
	g_sigint++;
}

static void
help(FILE *f)
{
	fprintf(f,
		"usage: tokfab-client --server ADDR[:PORT] --tenant ID --key-file FILE --model M\n"
		"                     [options] \"prompt text\"\n"
		"       tokfab-client ... --tokens 1,2,3        (prompt as token ids)\n"
		"       tokfab-client ... --prompt-file FILE     (prompt text from a file, - = "
		"stdin)\n"
		"       tokfab-client --server ADDR --tenant ID --key-file FILE --ping\n"
		"\n"
		"Sends one request to a tokfab card over UDP (wire protocol v1, default port %d),\n"
		"prints the generated text as it streams in, then a one-line usage summary on\n"
		"stderr. Ctrl-C cancels the request and still reports its usage.\n"
		"\n"
		"  -s, --server ADDR[:PORT]  card address: host, IPv4, or [IPv6]; port default %d\n"
		"  -t, --tenant ID           tenant id (number)\n"
		"  -k, --key-file FILE       tenant key: 64 hex digits on one line ('#' comments "
		"ok)\n"
		"      --key-id N            which of the tenant's keys (0-255, default 0)\n"
		"  -m, --model M             model id (number)\n"
		"      --tokens LIST         prompt as comma-separated token ids instead of text\n"
		"      --prompt-file FILE    prompt text from FILE (up to 256 KiB; - for stdin)\n"
		"  -n, --max-tokens N        tokens to generate at most (default 128)\n"
		"      --temperature T       0 (greedy) to 10, default 0.8\n"
		"      --top-p P             0.0001 to 1, default 0.95\n"
		"      --seed N              sampling seed (default random)\n"
		"      --priority N          0 (lowest) to 7, default 3\n"
		"      --timeout SECONDS     give up after this long (default 60)\n"
		"      --retries N           retransmissions without progress (default 6)\n"
		"      --dgram-size BYTES    datagram size to send (144-1472, default 1400)\n"
		"      --mac ALG             MAC algorithm: hmac (HMAC-SHA256, default) or "
		"siphash\n"
		"                            (SipHash-2-4-128, faster; the tenant must be allowed "
		"it)\n"
		"      --no-final-tokens     do not let the card put the last tokens in the FINAL\n"
		"      --json                one JSON object per line: tokens, final, error\n"
		"      --ids                 print token ids instead of text\n"
		"      --ping                check reachability, key and clock; no request\n"
		"  -v, --verbose             report retransmissions, resumes and cancels\n"
		"  -h, --help                this help\n"
		"\n"
		"Exit codes:\n"
		"   0  the request completed (stop or length)\n"
		"   1  internal error\n"
		"   2  bad arguments or key file\n"
		"   3  network error: cannot resolve, or nothing listens at the address\n"
		"   4  timeout: no answer, or not finished within --timeout\n"
		"   5  cancelled (Ctrl-C)\n"
		"  10  BAD_MAC             wrong key or tenant      18  MALFORMED (client bug)\n"
		"  11  REPLAY              clock off / id reused    19  TIMEOUT (card side)\n"
		"  12  UNKNOWN_TENANT                               20  INTERNAL (card failure)\n"
		"  13  UNKNOWN_MODEL                                21  UNSUPPORTED_VERSION\n"
		"  14  QUOTA_EXHAUSTED                              22  UNSUPPORTED\n"
		"  15  RATE_LIMITED        retry later              23  UNKNOWN_REQUEST\n"
		"  16  BUSY                retry later              24  RESUME_UNAVAILABLE\n"
		"  17  TOO_LARGE           prompt or --max-tokens over the card's limit\n"
		"(card errors: 9 + the protocol's error code; see hwdocs/protocol.md 5.1)\n",
		TF_PROTO_PORT, TF_PROTO_PORT);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("tokfab-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try --help)\n", stderr);
	exit(EX_USAGE);
}

static uint64_t
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (!*s || *end || errno || s[0] == '-' || v < min || v > max)
		usage_error("%s: '%s' is not a whole number from %" PRIu64 " to %" PRIu64, opt, s,
			    min, max);
	return v;
}

/* A decimal in [min, max] scaled by `scale` to an integer. */
static uint16_t
parse_fixed(const char *opt, const char *s, double min, double max, double scale)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v < min || v > max)
		usage_error("%s: '%s' is not a number from %g to %g", opt, s, min, max);
	return (uint16_t)lround(v * scale);
}

static void
parse_tokens(struct opts *o, const char *s)
{
	const char *p = s;
	uint32_t n = 1;

	for (const char *q = s; *q; q++)
		n += *q == ',';
	if (n > TF_PROTO_MAX_PROMPT / 4)
		usage_error("--tokens: %u ids, the limit is %u", n, TF_PROTO_MAX_PROMPT / 4);
	o->tokens = malloc(4 * (size_t)n);
	if (!o->tokens)
		tf_fatal("out of memory");
	for (uint32_t i = 0; i < n; i++) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(p, &end, 10);
		if (end == p || errno || v > UINT32_MAX || p[0] == '-' || (*end && *end != ','))
			usage_error("--tokens: item %u ('%.*s') is not a token id (0..%u)", i + 1,
				    (int)strcspn(p, ","), p, UINT32_MAX);
		tf_proto_st32(o->tokens + 4 * i, (uint32_t)v);
		p = *end ? end + 1 : end;
	}
	o->ntokens = n;
}

static char *
read_prompt_file(const char *path, uint32_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf;
	size_t n;

	if (!f)
		usage_error("--prompt-file: cannot open '%s': %s", path, strerror(errno));
	buf = malloc(TF_PROTO_MAX_PROMPT + 1);
	if (!buf)
		tf_fatal("out of memory");
	n = fread(buf, 1, TF_PROTO_MAX_PROMPT + 1, f);
	if (ferror(f))
		usage_error("--prompt-file: cannot read '%s': %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	if (n > TF_PROTO_MAX_PROMPT)
		usage_error(
			"--prompt-file: '%s' is larger than the protocol's %u-byte prompt limit",
			path, TF_PROTO_MAX_PROMPT);
	if (n == 0)
		usage_error("--prompt-file: '%s' is empty", path);
	*len = (uint32_t)n;
	return buf;
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "tenant", required_argument, NULL, 't' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "key-id", required_argument, NULL, 'K' },
		{ "model", required_argument, NULL, 'm' },
		{ "tokens", required_argument, NULL, 'T' },
		{ "prompt-file", required_argument, NULL, 'f' },
		{ "max-tokens", required_argument, NULL, 'n' },
		{ "temperature", required_argument, NULL, 'e' },
		{ "top-p", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'S' },
		{ "priority", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 'o' },
		{ "retries", required_argument, NULL, 'r' },
		{ "dgram-size", required_argument, NULL, 'd' },
		{ "mac", required_argument, NULL, 'M' },
		{ "no-final-tokens", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "ids", no_argument, NULL, 'i' },
		{ "ping", no_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	size_t tl = 0;

	o->max_tokens = 128;
	o->temperature = 800;
	o->top_p = 9500;
	o->priority = TF_PROTO_DEFAULT_PRIORITY;
	o->timeout_s = 60;
	o->retries = 6;
	o->dgram = TF_PROTO_DEFAULT_DGRAM;
	o->mac_alg = TF_PROTO_MAC_HMAC_SHA256;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:t:k:m:n:vh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o->server = optarg;
			break;
		case 't':
			o->tenant = (uint32_t)parse_u64("--tenant", optarg, 0, UINT32_MAX);
			o->have_tenant = true;
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 'K':
			o->key_id = (uint8_t)parse_u64("--key-id", optarg, 0, 255);
			break;
		case 'm':
			o->model = (uint32_t)parse_u64("--model", optarg, 0, UINT32_MAX);
			o->have_model = true;
			break;
		case 'T':
			parse_tokens(o, optarg);
			break;
		case 'f':
			o->prompt_file = optarg;
			break;
		case 'n':
			o->max_tokens = (uint32_t)parse_u64("--max-tokens", optarg, 1, UINT32_MAX);
			break;
		case 'e':
			o->temperature = parse_fixed("--temperature", optarg, 0, 10, 1000);
			break;
		case 'p':
			o->top_p = parse_fixed("--top-p", optarg, 0.0001, 1, 10000);
			break;
		case 'S':
			o->seed = parse_u64("--seed", optarg, 0, UINT64_MAX);
			o->have_seed = true;
			break;
		case 'P':
			o->priority =
				(uint8_t)parse_u64("--priority", optarg, 0, TF_PROTO_MAX_PRIORITY);
			break;
		case 'o':
			o->timeout_s = (uint32_t)parse_u64("--timeout", optarg, 1, 86400);
			break;
		case 'r':
			o->retries = (uint32_t)parse_u64("--retries", optarg, 0, 100);
			break;
		case 'd':
			o->dgram = (uint32_t)parse_u64("--dgram-size", optarg, 144,
						       TF_PROTO_MAX_DGRAM);
			break;
		case 'M': {
			int a = tf_proto_mac_alg_parse(optarg);

			if (a < 0)
				usage_error("--mac: '%s' is not a MAC algorithm (hmac or siphash)",
					    optarg);
			o->mac_alg = (uint8_t)a;
			break;
		}
		case 'F':
			o->no_final_tokens = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'i':
			o->ids = true;
			break;
		case 'g':
			o->ping = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			help(stdout);
			exit(EX_OK);
		case ':':
			usage_error("option %s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!o->server)
		usage_error("--server ADDR[:PORT] is required");
	if (!o->have_tenant)
		usage_error("--tenant ID is required");
	if (!o->key_file)
		usage_error("--key-file FILE is required");
	if (o->ping) {
		if (optind < argc || o->tokens || o->prompt_file)
			usage_error("--ping sends no prompt");
		return;
	}
	if (!o->have_model)
		usage_error("--model M is required");
	for (int i = optind; i < argc; i++)
		tl += strlen(argv[i]) + 1;
	if ((tl > 0) + (o->tokens != NULL) + (o->prompt_file != NULL) != 1)
		usage_error(
			"give exactly one prompt: \"text\", --tokens LIST or --prompt-file FILE");
	if (tl) {
		if (tl - 1 > TF_PROTO_MAX_PROMPT)
			usage_error("the prompt is %zu bytes, the limit is %u (use --prompt-file)",
				    tl - 1, TF_PROTO_MAX_PROMPT);
		o->text = calloc(1, tl);
		if (!o->text)
			tf_fatal("out of memory");
		for (int i = optind; i < argc; i++) {
			if (i > optind)
				strcat(o->text, " ");
			strcat(o->text, argv[i]);
		}
		if (!*o->text)
			usage_error("the prompt is empty");
	}
}

/* ---- output ---------------------------------------------------------- */

struct out {
	const struct opts *o;
	uint8_t pend[8]; /* an incomplete UTF-8 sequence carried to the next chunk */
	size_t npend;
	bool printed;
	struct tf_client_outcome res;
	bool done;
};

/* Length of the tail of s that is an incomplete (so far valid) UTF-8 sequence. */
static size_t
utf8_incomplete_tail(const uint8_t *s, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++) {
		uint8_t c = s[n - k];
		size_t need;

		if ((c & 0xc0) == 0x80)
			continue;
		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		return need > k ? k : 0;
	}
	return 0;
}

/* Appends s to a JSON-safe string, replacing invalid UTF-8 with U+FFFD. */
static void
utf8_sanitize(const uint8_t *s, size_t n, char *dst, size_t *dl)
{
	size_t i = 0;

	while (i < n) {
		size_t len = s[i] < 0x80 ? 1 : s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2;

		if (i + len <= n && tf_proto_utf8_valid(s + i, len) && s[i] != 0) {
			memcpy(dst + *dl, s + i, len);
			*dl += len;
			i += len;
		} else {
			memcpy(dst + *dl, "\xef\xbf\xbd", 3);
			*dl += 3;
			i++;
		}
	}
}

static void
json_line(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s) {
		puts(s);
		free(s);
	}
	json_decref(j);
	fflush(stdout);
}

static void
out_tokens(void *arg, uint64_t rid, const struct tf_client_tokens *t)
{
	struct out *w = arg;

	if (w->o->json) {
		json_t *ids = json_array();
		json_t *j;
		char rs[24];
		size_t tot = w->npend + t->text_len, keep, dl = 0;
		uint8_t *all = malloc(tot + 1);
		char *clean = malloc(3 * tot + 1);

		if (!all || !clean || !ids)
			tf_fatal("out of memory");
		for (uint32_t i = 0; i < t->n; i++)
			json_array_append_new(ids, json_integer(tf_client_token_id(t, i)));
		memcpy(all, w->pend, w->npend);
		if (t->text_len)
			memcpy(all + w->npend, t->text, t->text_len);
		keep = utf8_incomplete_tail(all, tot);
		utf8_sanitize(all, tot - keep, clean, &dl);
		memcpy(w->pend, all + tot - keep, keep);
		w->npend = keep;
		snprintf(rs, sizeof(rs), "0x%016" PRIx64, rid);
		j = json_pack("{s:s, s:s, s:I, s:o}", "event", "tokens", "request_id", rs,
			      "first_seq", (json_int_t)t->first_seq, "ids", ids);
		if (t->piece_lens)
			json_object_set_new(j, "text", json_stringn(clean, dl));
		json_line(j);
		free(all);
		free(clean);
		return;
	}
	if (w->o->ids || !t->piece_lens) {
		for (uint32_t i = 0; i < t->n; i++)
			printf("%s%u", w->printed || i ? " " : "", tf_client_token_id(t, i));
	} else {
		fwrite(t->text, 1, t->text_len, stdout);
	}
	w->printed = true;
	fflush(stdout);
}

static void
out_done(void *arg, uint64_t rid, const struct tf_client_outcome *res)
{
	struct out *w = arg;

	(void)rid;
	w->res = *res;
	w->done = true;
}

static const char *
finish_name(uint8_t r)
{
	static const char *const names[] = { "stop", "length", "cancelled", "cut_off" };

	return r <= TF_PROTO_FINISH_MAX ? names[r] : "unknown";
}

static void
report(const struct opts *o, struct out *w, uint64_t rid, const char *server)
{
	const struct tf_client_outcome *r = &w->res;
	const struct tf_proto_final *f = &r->final;
	char rs[24];

	snprintf(rs, sizeof(rs), "0x%016" PRIx64, rid);
	if (o->json) {
		json_t *j;

		if (r->has_final) {
			j = json_pack(
				"{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:i, s:i}",
				"event", "final", "request_id", rs, "finish",
				finish_name(f->finish_reason), "prompt_tokens",
				(json_int_t)f->prompt_tokens, "completion_tokens",
				(json_int_t)f->completion_tokens, "cost_micro",
				(json_int_t)f->cost_micro, "accel_id", (json_int_t)f->accel_id,
				"queue_us", (json_int_t)f->queue_us, "card_total_us",
				(json_int_t)f->total_us, "ttft_ms",
				(double)r->first_token_us / 1000.0, "total_ms",
				(double)r->total_us / 1000.0, "retransmits", (int)r->retransmits,
				"resumes", (int)r->resumes);
			if (f->finish_reason == TF_PROTO_FINISH_CUT_OFF)
				json_object_set_new(
					j, "error",
					json_string(tf_proto_error_name(f->error_code)));
			json_line(j);
		}
		if (r->status != TF_CLIENT_OK) {
			j = json_pack(
				"{s:s, s:s, s:i, s:s, s:b, s:I, s:I, s:s}", "event", "error",
				"request_id", rs, "code", r->status, "name",
				tf_client_status_name(r->status), "unsigned", r->unsigned_error,
				"retry_after_ms", (json_int_t)r->retry_after_ms, "detail",
				(json_int_t)r->detail, "message",
				r->status < 256 ? tf_proto_error_hint((uint16_t)r->status) : "");
			json_line(j);
		}
		return;
	}
	if (w->printed)
		putchar('\n');
	fflush(stdout);
	if (r->has_final)
		fprintf(stderr,
			"[usage] finish=%s prompt_tokens=%u completion_tokens=%u cost=%" PRIu64
			" micro-units accel=%u ttft=%.1fms total=%.1fms retransmits=%u "
			"resumes=%u\n",
			finish_name(f->finish_reason), f->prompt_tokens, f->completion_tokens,
			f->cost_micro, f->accel_id, (double)r->first_token_us / 1000.0,
			(double)r->total_us / 1000.0, r->retransmits, r->resumes);
	switch (r->status) {
	case TF_CLIENT_OK:
		break;
	case TF_CLIENT_S_TIMEOUT:
		fprintf(stderr,
			"tokfab-client: timeout: %s after %u retries or %u s: check --server %s "
			"(address, port, firewall) or raise --timeout\n",
			r->has_final ? "not finished" : "no answer from the card", o->retries,
			o->timeout_s, server);
		break;
	case TF_CLIENT_S_NETWORK:
		fprintf(stderr,
			"tokfab-client: network error talking to %s: %s (is a tokfab card "
			"listening "
			"on that port?)\n",
			server, strerror(r->net_errno));
		break;
	case TF_CLIENT_S_CANCELLED:
		fprintf(stderr, "tokfab-client: cancelled; the card did not report the usage\n");
		break;
	default:
		fprintf(stderr, "tokfab-client: card error %s%s: %s",
			tf_client_status_name(r->status), r->unsigned_error ? " (unsigned)" : "",
			tf_proto_error_hint((uint16_t)r->status));
		if (r->retry_after_ms)
			fprintf(stderr, " (retry after %u ms)", r->retry_after_ms);
		if (r->status == TF_PROTO_E_UNKNOWN_MODEL)
			fprintf(stderr, " (model %u)", o->model);
		fputc('\n', stderr);
	}
}

static int
exit_code(const struct tf_client_outcome *r, bool user_cancel)
{
	switch (r->status) {
	case TF_CLIENT_OK:
		return user_cancel ? EX_CANCELLED : EX_OK;
	case TF_CLIENT_S_TIMEOUT:
		return EX_TIMEOUT;
	case TF_CLIENT_S_NETWORK:
		return EX_NETWORK;
	case TF_CLIENT_S_CANCELLED:
		return EX_CANCELLED;
	}
	return r->status >= 1 && r->status <= TF_PROTO_E_MAX ? EX_CARD_BASE + r->status
							     : EX_INTERNAL;
}

static void
verbose_event(void *arg, uint64_t rid, const char *what)
{
	(void)arg;
	fprintf(stderr, "tokfab-client: request 0x%016" PRIx64 ": %s\n", rid, what);
}

struct ping_ctx {
	struct tf_client_pong p;
	bool got;
	struct tf_client_outcome res;
	bool done;
};

static void
ping_pong(void *arg, uint64_t rid, const struct tf_client_pong *p)
{
	struct ping_ctx *x = arg;

	(void)rid;
	x->p = *p;
	x->got = true;
}

static void
ping_done(void *arg, uint64_t rid, const struct tf_client_outcome *o)
{
	struct ping_ctx *x = arg;

	(void)rid;
	x->res = *o;
	x->done = true;
}

/* Everything after argument parsing; main() frees what parse_args() allocated. */
static int
run(const struct opts *opts)
{
	struct opts o = *opts;
	struct tf_client_config cfg;
	struct tf_client_request req = { 0 };
	struct tf_client *c;
	struct out w = { .o = &o };
	static const struct tf_client_cb cb = { .on_tokens = out_tokens, .on_done = out_done };
	struct sigaction sa = { .sa_handler = on_sigint };
	bool world = false, user_cancel = false;
	char err[256];
	uint64_t rid = 0;
	uint32_t plen = 0;
	char *filebuf = NULL;
	int rc;

	tf_client_config_init(&cfg);
	if (tf_client_load_key(o.key_file, cfg.key, &world, err, sizeof(err)))
		usage_error("%s", err);
	if (world)
		tf_log_warnx("key file %s can be read by group or others: chmod 600 it",
			     o.key_file);
	cfg.server = o.server;
	cfg.tenant_id = o.tenant;
	cfg.key_id = o.key_id;
	cfg.retries = o.retries;
	cfg.timeout_ms = o.timeout_s * 1000;
	cfg.max_dgram = o.dgram;
	cfg.max_inflight = 4;
	cfg.mac_alg = o.mac_alg;
	cfg.final_tokens = !o.no_final_tokens;
	if (o.verbose)
		cfg.on_event = verbose_event;
	rc = tf_client_create(&cfg, &c, err, sizeof(err));
	OPENSSL_cleanse(cfg.key, sizeof(cfg.key));
	if (rc) {
		fprintf(stderr, "tokfab-client: %s\n", err);
		return rc == -EINVAL ? EX_USAGE : EX_NETWORK;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (o.ping) {
		struct ping_ctx x = { 0 };
		static const struct tf_client_cb pcb = { .on_pong = ping_pong,
							 .on_done = ping_done };

		if (tf_client_ping(c, &pcb, &x, NULL))
			tf_fatalx("cannot send the ping");
		while (!x.done && !g_sigint)
			tf_client_wait(c, -1);
		tf_client_destroy(c);
		if (!x.done)
			return EX_CANCELLED;
		if (x.got) {
			printf("pong from %s: rtt=%.3f ms clock_offset=%+.3f ms versions=%u-%u "
			       "max_dgram=%u\n",
			       o.server, (double)x.p.rtt_us / 1000.0,
			       (double)x.p.clock_offset_us / 1000.0, x.p.min_version,
			       x.p.max_version, x.p.max_dgram);
			return EX_OK;
		}
		w.res = x.res;
		report(&o, &w, 0, o.server);
		return exit_code(&x.res, false);
	}

	if (o.tokens) {
		req.prompt_kind = TF_PROTO_PROMPT_TOKENS;
		req.prompt = o.tokens;
		req.prompt_len = 4 * o.ntokens;
	} else {
		req.prompt_kind = TF_PROTO_PROMPT_TEXT;
		if (o.prompt_file) {
			filebuf = read_prompt_file(o.prompt_file, &plen);
			req.prompt = filebuf;
		} else {
			plen = (uint32_t)strlen(o.text);
			req.prompt = o.text;
		}
		req.prompt_len = plen;
		if (!tf_proto_utf8_valid(req.prompt, plen))
			usage_error("the prompt is not valid UTF-8 text (use --tokens for ids)");
	}
	if (!o.have_seed && getrandom(&o.seed, sizeof(o.seed), 0) != (ssize_t)sizeof(o.seed))
		o.seed = (uint64_t)getpid();
	req.model_id = o.model;
	req.max_new_tokens = o.max_tokens;
	req.temperature = o.temperature;
	req.top_p = o.top_p;
	req.seed = o.seed;
	req.priority = o.priority;
	req.want_text = !o.ids;
	rc = tf_client_submit(c, &req, &cb, &w, &rid);
	if (rc)
		tf_fatalx("cannot send the request: %s", strerror(-rc));
	while (!w.done) {
		if (g_sigint && !user_cancel) {
			user_cancel = true;
			if (!o.json)
				fprintf(stderr,
					"\ntokfab-client: cancelling (Ctrl-C again to quit now)\n");
			tf_client_cancel(c, rid);
		} else if (g_sigint > 1) {
			tf_client_destroy(c);
			return EX_CANCELLED;
		}
		rc = tf_client_wait(c, -1);
		if (rc && rc != -EINTR)
			tf_fatalx("socket error: %s", strerror(-rc));
	}
	report(&o, &w, rid, o.server);
	tf_client_destroy(c);
	free(filebuf);
	return exit_code(&w.res, user_cancel);
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc;

	tf_log_init("tokfab-client", TF_LOG_INFO, 0);
	parse_args(&o, argc, argv);
	rc = run(&o);
	free(o.text);
	free(o.tokens);
	return rc;
}
