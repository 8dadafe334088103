/* SPDX-License-Identifier: BSD-3-Clause */
/* libmicrohttpd glue for the API. */
#include "tokfabd/http.h"

#include "common/log.h"
#include "tokfabd/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_ARGS 32

struct tfd_http {
	struct MHD_Daemon *mhd;
	struct tfd *d;
	char *tls_key, *tls_cert;
	uint16_t port;
};

struct conn {
	char *body;
	size_t len;
	int too_large;
};

struct args {
	struct tfd_kv kv[MAX_ARGS];
	unsigned int n;
	int too_many;
};

static enum MHD_Result
collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct args *a = cls;

	(void)kind;
	if (a->n == MAX_ARGS) {
		a->too_many = 1;
		return MHD_NO;
	}
	a->kv[a->n].key = key;
	a->kv[a->n].value = value;
	a->n++;
	return MHD_YES;
}

static enum MHD_Result
reply(struct MHD_Connection *c, struct tfd_response *rs)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (rs->static_body)
		r = MHD_create_response_from_buffer(
			rs->body_len, (void *)(uintptr_t)rs->static_body, MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(rs->body_len, rs->body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		tfd_api_response_free(rs);
		return MHD_NO;
	}
	rs->body = NULL; /* owned by the response now */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (rs->header_name)
		MHD_add_response_header(r, rs->header_name, rs->header_value);
	ret = MHD_queue_response(c, (unsigned int)rs->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct tfd_http *h = cls;
	struct conn *cn = *con_cls;
	struct tfd_request rq = { 0 };
	struct tfd_response rs;
	struct args a = { .n = 0 };

	(void)version;
	if (!cn) {
		cn = calloc(1, sizeof(*cn));
		if (!cn)
			return MHD_NO;
		*con_cls = cn;
		return MHD_YES;
	}
	if (*upload_size) {
		if (cn->len + *upload_size > TFD_API_BODY_MAX) {
			cn->too_large = 1;
		} else {
			char *p = realloc(cn->body, cn->len + *upload_size + 1);

			if (!p)
				return MHD_NO;
			cn->body = p;
			memcpy(cn->body + cn->len, upload, *upload_size);
			cn->len += *upload_size;
			cn->body[cn->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (cn->too_large) {
		static const char msg[] = "{\"error\":{\"code\":413,\"message\":\"request body "
					  "larger than 64 KiB\"}}";

		memset(&rs, 0, sizeof(rs));
		rs.status = 413;
		rs.content_type = "application/json";
		rs.static_body = msg;
		rs.body_len = sizeof(msg) - 1;
		return reply(c, &rs);
	}
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
	if (a.too_many) {
		static const char msg[] = "{\"error\":{\"code\":400,\"message\":\"too many query "
					  "arguments\"}}";

		memset(&rs, 0, sizeof(rs));
		rs.status = 400;
		rs.content_type = "application/json";
		rs.static_body = msg;
		rs.body_len = sizeof(msg) - 1;
		return reply(c, &rs);
	}
	rq.method = method;
	rq.path = url;
	rq.args = a.kv;
	rq.n_args = a.n;
	rq.authorization =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	rq.body = cn->body;
	rq.body_len = cn->len;
	tfd_api_handle(h->d, &rq, &rs);
	tf_log_debug("http: %s %s -> %d", method, url, rs.status);
	return reply(c, &rs);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	struct conn *cn = *con_cls;

	(void)cls;
	(void)c;
	(void)t;
	if (cn) {
		free(cn->body);
		free(cn);
		*con_cls = NULL;
	}
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

int
tfd_http_start(struct tfd *d, struct tfd_http **hp, char *err, size_t len)
{
	struct tfd_http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	char addr[64];
	uint16_t port;

	if (!h)
		return -ENOMEM;
	h->d = d;
	memset(&ss, 0, sizeof(ss));
	pthread_rwlock_rdlock(&d->cfg_lock);
	snprintf(addr, sizeof(addr), "%s", d->cfg->listen_addr);
	port = d->cfg->listen_port;
	if (d->cfg->tls_cert[0]) {
		h->tls_cert = slurp(d->cfg->tls_cert);
		h->tls_key = slurp(d->cfg->tls_key);
		if (!h->tls_cert || !h->tls_key) {
			snprintf(err, len, "api: cannot read TLS certificate %s or key %s",
				 d->cfg->tls_cert, d->cfg->tls_key);
			pthread_rwlock_unlock(&d->cfg_lock);
			goto err;
		}
		flags |= MHD_USE_TLS;
	}
	pthread_rwlock_unlock(&d->cfg_lock);
	if (addr[0] == '[' && addr[strlen(addr) - 1] == ']') {
		memmove(addr, addr + 1, strlen(addr));
		addr[strlen(addr) - 1] = '\0';
	}
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, len, "api.listen: '%s' is not an IPv4 or IPv6 address", addr);
		goto err;
	}
	if (h->tls_cert)
		h->mhd = MHD_start_daemon(flags, port, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR,
					  (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
					  completed, h, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
					  MHD_OPTION_HTTPS_MEM_KEY, h->tls_key,
					  MHD_OPTION_HTTPS_MEM_CERT, h->tls_cert, MHD_OPTION_END);
	else
		h->mhd = MHD_start_daemon(flags, port, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR,
					  (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
					  completed, h, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
					  MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, len,
			 "api: cannot listen on %s port %u (in use? TLS files valid?); "
			 "change api.listen",
			 addr, port);
		goto err;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	*hp = h;
	return 0;
err:
	free(h->tls_cert);
	free(h->tls_key);
	free(h);
	return -EINVAL;
}

uint16_t
tfd_http_port(struct tfd_http *h)
{
	return h->port;
}

void
tfd_http_stop(struct tfd_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	if (h->tls_key)
		explicit_bzero(h->tls_key, strlen(h->tls_key));
	free(h->tls_key);
	free(h->tls_cert);
	free(h);
}
