/* SPDX-License-Identifier: BSD-3-Clause */
/* libmicrohttpd glue: listen (optionally TLS), collect the request, call tfd_api_handle. */
#ifndef TFD_HTTP_H
#define TFD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "tokfabd/daemon.h"

struct tfd_http;

int tfd_http_start(struct tfd *d, struct tfd_http **hp, char *err, size_t len);
uint16_t tfd_http_port(struct tfd_http *h);
void tfd_http_stop(struct tfd_http *h);

#endif /* TFD_HTTP_H */
