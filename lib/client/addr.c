/* SPDX-License-Identifier: BSD-3-Clause */
/* Server address parsing, resolution and the connected UDP socket. */
#include "client/client_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOCKBUF (4 << 20)

/* Splits server into host and port strings; 0 or -EINVAL. */
static int
split(const char *server, char *host, size_t hostlen, char *port, size_t portlen, char *err,
      size_t errlen)
{
	const char *p, *colon;
	size_t n;

	snprintf(port, portlen, "%u", TF_PROTO_PORT);
	if (!server || !*server) {
		snprintf(err, errlen, "no server address given");
		return -EINVAL;
	}
	if (server[0] == '[') {
		p = strchr(server, ']');
		if (!p) {
			snprintf(err, errlen, "'%s': missing ']' after the IPv6 address", server);
			return -EINVAL;
		}
		n = (size_t)(p - server - 1);
		colon = p[1] == ':' ? p + 1 : NULL;
		if (p[1] && !colon) {
			snprintf(err, errlen, "'%s': expected ':PORT' after ']'", server);
			return -EINVAL;
		}
		server++;
	} else {
		colon = strchr(server, ':');
		if (colon && strchr(colon + 1, ':')) {
			snprintf(err, errlen, "'%s': write IPv6 addresses as [ADDR]:PORT", server);
			return -EINVAL;
		}
		n = colon ? (size_t)(colon - server) : strlen(server);
	}
	if (n == 0 || n >= hostlen) {
		snprintf(err, errlen, "'%s': empty or too long host name", server);
		return -EINVAL;
	}
	memcpy(host, server, n);
	host[n] = '\0';
	if (colon) {
		char *end;
		long v = strtol(colon + 1, &end, 10);

		if (!colon[1] || *end || v < 1 || v > 65535) {
			snprintf(err, errlen, "'%s': port must be a number from 1 to 65535",
				 colon + 1);
			return -EINVAL;
		}
		snprintf(port, portlen, "%ld", v);
	}
	return 0;
}

int
tf_client_connect(const char *server, char *desc, size_t desclen, char *err, size_t errlen)
{
	char host[256], port[8], ip[INET6_ADDRSTRLEN];
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_protocol = IPPROTO_UDP };
	struct addrinfo *res = NULL, *ai;
	int fd = -1, rc, buf = SOCKBUF;

	rc = split(server, host, sizeof(host), port, sizeof(port), err, errlen);
	if (rc)
		return rc;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	rc = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot reach %s port %s: %s", host, port, strerror(-rc));
		freeaddrinfo(res);
		return rc;
	}
	/* Best effort: large prompts and bursts of tokens (FORCE needs CAP_NET_ADMIN). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (ai->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, ip,
			  sizeof(ip));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, ip,
			  sizeof(ip));
	snprintf(desc, desclen, ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, port);
	freeaddrinfo(res);
	return fd;
}
