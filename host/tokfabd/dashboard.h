/* SPDX-License-Identifier: BSD-3-Clause */
/* The dashboard's files, built into the binary (no external network, no install path). */
#ifndef TFD_DASHBOARD_H
#define TFD_DASHBOARD_H

#include <stddef.h>

struct tfd_asset {
	const char *path; /* URL path */
	const char *type; /* Content-Type */
	const void *data;
	size_t len;
};

/* The asset served at path, or NULL. */
const struct tfd_asset *tfd_dashboard_asset(const char *path);

#endif /* TFD_DASHBOARD_H */
