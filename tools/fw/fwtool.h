/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-fw internals shared by its subcommand files. */
#ifndef TF_TOOLS_FWTOOL_H
#define TF_TOOLS_FWTOOL_H

#include "fw.h"

#include <stdint.h>
#include <stdio.h>

/* Exit codes. */
#define FW_EXIT_OK 0
#define FW_EXIT_FAIL 1 /* refused, rejected, failed */
#define FW_EXIT_USAGE 2 /* bad command line */

struct fw_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(int argc, char **argv);
};

/* cmd_image.c */
int fw_cmd_keygen(int argc, char **argv);
int fw_cmd_build(int argc, char **argv);
int fw_cmd_sign(int argc, char **argv);
int fw_cmd_verify(int argc, char **argv);
int fw_cmd_inspect(int argc, char **argv);
int fw_cmd_abi(int argc, char **argv);
/* cmd_card.c */
int fw_cmd_init(int argc, char **argv);
int fw_cmd_flash(int argc, char **argv);
int fw_cmd_activate(int argc, char **argv);
int fw_cmd_status(int argc, char **argv);
int fw_cmd_boot(int argc, char **argv);
int fw_cmd_confirm(int argc, char **argv);

/* util.c */
int fw_read_file(const char *path, uint8_t **buf, size_t *len);
/* Read-only mapping, for commands that only look at an image (verify, inspect). */
int fw_map_file(const char *path, const uint8_t **buf, size_t *len);
void fw_unmap_file(const uint8_t *buf, size_t len);
int fw_write_file(const char *path, const uint8_t *buf, size_t len); /* atomic replace */
int fw_parse_u64(const char *s, uint64_t max, uint64_t *out);
int fw_parse_size(const char *s, uint64_t *out); /* 64M, 512K, 1G or bytes */
char *fw_hex(const uint8_t *b, size_t n, char *out); /* out: 2n+1 bytes */
void fw_print_diag(const char *what, const struct tf_fw_diag *d, const struct tf_fw_image *img);
int fw_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* progress.c: bar with bytes and rate on stderr; plain lines when not a tty. */
struct fw_progress {
	int tty;
	const char *phase;
	double t0, last;
};
void fw_progress_init(struct fw_progress *p, int force);
void fw_progress_cb(void *arg, const char *phase, uint64_t done, uint64_t total);

#endif /* TF_TOOLS_FWTOOL_H */
