/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * host/dashboard/ files embedded with the assembler's .incbin (paths are
 * relative to the repository root, where make runs the compiler; module.mk
 * makes this object depend on them).
 */
#include "tokfabd/dashboard.h"

#include <string.h>

#define EMBED(sym, file)                                \
	__asm__(".section .rodata\n"                    \
		".global " #sym "\n"                    \
		".balign 16\n" #sym ":\n"               \
		".incbin \"" file "\"\n"                \
		".global " #sym "_end\n" #sym "_end:\n" \
		".byte 0\n"                             \
		".previous\n");                         \
	extern const char sym[], sym##_end[]

EMBED(tfd_dash_index, "host/dashboard/index.html");
EMBED(tfd_dash_js, "host/dashboard/app.js");
EMBED(tfd_dash_css, "host/dashboard/style.css");

const struct tfd_asset *
tfd_dashboard_asset(const char *path)
{
	static struct tfd_asset assets[] = {
		{ "/", "text/html; charset=utf-8", NULL, 0 },
		{ "/dashboard/app.js", "text/javascript; charset=utf-8", NULL, 0 },
		{ "/dashboard/style.css", "text/css; charset=utf-8", NULL, 0 },
	};

	if (!assets[0].data) {
		assets[0].data = tfd_dash_index;
		assets[0].len = (size_t)(tfd_dash_index_end - tfd_dash_index);
		assets[1].data = tfd_dash_js;
		assets[1].len = (size_t)(tfd_dash_js_end - tfd_dash_js);
		assets[2].data = tfd_dash_css;
		assets[2].len = (size_t)(tfd_dash_css_end - tfd_dash_css);
	}
	if (!strcmp(path, "/index.html"))
		path = "/";
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (!strcmp(assets[i].path, path))
			return &assets[i];
	return NULL;
}
