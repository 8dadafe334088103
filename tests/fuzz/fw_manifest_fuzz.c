/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the tokfab-fw build manifest (firmware/manifest.c) on
 * arbitrary bytes. A refusal must name the file at fault; an accepted manifest must
 * have the dataplane section first and no empty section, and the image built
 * from it must parse back with the same version, security version, board,
 * build time and ABI numbers.
 *
 * The section files it may name (dp.bin, accel.bin, cfg, empty) lie in a
 * scratch folder; inputs with a '/' are skipped so that a path never leaves
 * it (a manifest may name any file: reading a large one is no finding).
 */
#include "fw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64], g_path[128];
static const char g_files[] = "dp.bin\0accel.bin\0cfg\0empty\0m.txt\0";

static void
cleanup(void)
{
	char p[192];

	for (const char *n = g_files; *n; n += strlen(n) + 1) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, n);
		unlink(p);
	}
	rmdir(g_dir);
}

static void
setup(void)
{
	static const char *const text[] = { "dataplane bytes", "accel", "cfg", "" };
	const char *n = g_files;
	char p[192];

	snprintf(g_dir, sizeof(g_dir), "/tmp/tf-fuzz-man.%d", (int)getpid());
	mkdir(g_dir, 0700);
	for (int i = 0; i < 4; i++, n += strlen(n) + 1) {
		FILE *f;

		snprintf(p, sizeof(p), "%s/%s", g_dir, n);
		f = fopen(p, "w");
		if (f) {
			fputs(text[i], f);
			fclose(f);
		}
	}
	snprintf(g_path, sizeof(g_path), "%s/m.txt", g_dir);
	atexit(cleanup);
}

static void
check_built(const struct tf_fw_manifest *m)
{
	const struct tf_fw_build_input *in = &m->in;
	struct tf_fw_image img;
	struct tf_fw_diag d;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (in->nsections < 1 || in->nsections > TF_FW_MAX_SECTIONS - 1 ||
	    in->sect[0].type != TF_FW_SECT_DATAPLANE)
		abort();
	for (unsigned int i = 0; i < in->nsections; i++)
		if (!in->sect[i].data || in->sect[i].len == 0)
			abort();
	if (tf_fw_image_build(in, &buf, &len, &d))
		return; /* a refusal (diag filled) is allowed: e.g. ABI numbers it rejects */
	if (tf_fw_image_parse(buf, len, &img, &d))
		abort(); /* the builder made an image its own parser refuses */
	if (memcmp(img.version, in->version, sizeof(img.version)) ||
	    img.security_version != in->security_version || img.board_id != in->board_id ||
	    img.build_time != in->build_time || img.abi.bar_major != in->abi.bar_major ||
	    img.abi.bar_minor != in->abi.bar_minor || img.abi.wire_major != in->abi.wire_major ||
	    img.abi.wire_minor != in->abi.wire_minor || img.abi.ring_major != in->abi.ring_major ||
	    img.abi.ring_minor != in->abi.ring_minor ||
	    (in->has_build_id && memcmp(img.build_id, in->build_id, sizeof(img.build_id))))
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_fw_manifest m;
	char err[1024];
	FILE *f;

	if (!g_path[0])
		setup();
	if (size > 16384 || memchr(data, '/', size))
		return 0;
	f = fopen(g_path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	err[0] = '\0';
	if (tf_fw_manifest_load(g_path, &m, err, sizeof(err)) == 0) {
		check_built(&m);
		tf_fw_manifest_free(&m);
	} else if (!strstr(err, g_dir)) {
		abort(); /* every refusal names the manifest or the section file */
	}
	return 0;
}
