/* SPDX-License-Identifier: BSD-3-Clause */
/* libtokfab-client internals shared by its files. */
#ifndef TF_CLIENT_INT_H
#define TF_CLIENT_INT_H

#include "tokfab/client.h"

#include <stddef.h>

/*
 * Resolves "host", "host:port", "[v6]:port" (default port TF_PROTO_PORT),
 * opens a non-blocking UDP socket connected to it. Returns the fd or -errno
 * with a sentence in err; desc gets "addr:port" for messages.
 */
int tf_client_connect(const char *server, char *desc, size_t desclen, char *err, size_t errlen);

#endif /* TF_CLIENT_INT_H */
