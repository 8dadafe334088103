/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP API as a pure function: a parsed request in, a response out. The
 * libmicrohttpd glue (http.c) only moves bytes; unit tests call
 * tfd_api_handle() directly. Routes and JSON shapes: host/README.md.
 */
#ifndef TFD_API_H
#define TFD_API_H

#include <stddef.h>

#include "tokfabd/daemon.h"

#define TFD_API_BODY_MAX (64 * 1024)

struct tfd_kv {
	const char *key;
	const char *value;
};

struct tfd_request {
	const char *method;
	const char *path; /* without the query string */
	const struct tfd_kv *args;
	unsigned int n_args;
	const char *authorization; /* the Authorization header, or NULL */
	const char *body;
	size_t body_len;
};

struct tfd_response {
	int status;
	const char *content_type;
	char *body; /* malloc'd, NUL-terminated */
	size_t body_len;
	const char *header_name; /* one extra header (WWW-Authenticate, Allow), or NULL */
	const char *header_value;
	const void *static_body; /* instead of body: embedded asset (not freed) */
};

void tfd_api_handle(struct tfd *d, const struct tfd_request *rq, struct tfd_response *rs);
void tfd_api_response_free(struct tfd_response *rs);

/*
 * Time for since/until: Unix seconds, "now", RFC 3339 UTC
 * ("2024-05-01T00:00:00Z"), or relative to now ("-15m", "-2h", "-7d", "-30s").
 * 0 or -EINVAL.
 */
int tfd_api_parse_time(const char *s, uint64_t now_ns, uint64_t *ns);

#endif /* TFD_API_H */
