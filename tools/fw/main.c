/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-fw: build, sign and verify tokfab firmware images; flash them into
 * a card's A/B slots and drive boot selection, confirmation and rollback.
 */
#include "fwtool.h"

#include "common/log.h"

#include <string.h>

static const struct fw_cmd g_cmds[] = {
	{ "keygen", "PREFIX", "new Ed25519 signing key: PREFIX.key (secret), PREFIX.pub",
	  fw_cmd_keygen },
	{ "build", "--manifest FILE --out IMAGE [--key KEY|URI]",
	  "lay out an image from a manifest; signed when --key is given", fw_cmd_build },
	{ "sign", "--key KEY|URI IMAGE [--out OUT]", "sign an image (in place unless --out)",
	  fw_cmd_sign },
	{ "verify", "--pubkey PUB [--board ID] [--min-security-version N] IMAGE",
	  "check structure, signature and every section hash; says why an image is rejected",
	  fw_cmd_verify },
	{ "inspect", "[--json] [--pubkey PUB] IMAGE", "show header and sections", fw_cmd_inspect },
	{ "abi", "", "print this tree's interface versions as manifest lines", fw_cmd_abi },
	{ "init", "--flash FILE --size SIZE --pubkey PUB --board ID",
	  "create and provision a card flash (board id + trusted key)", fw_cmd_init },
	{ "flash", "--flash FILE [--no-activate] [--tries N] [--allow-rollback] [--progress] IMAGE",
	  "write IMAGE to the inactive slot, read it back, then mark it pending", fw_cmd_flash },
	{ "activate", "--flash FILE --slot a|b [--tries N] [--allow-rollback]",
	  "make a stored slot pending (also: roll back to the previous image)", fw_cmd_activate },
	{ "status", "--flash FILE [--json]", "running, stored and pending versions per slot",
	  fw_cmd_status },
	{ "boot", "--flash FILE", "run boot selection as the card's boot loader would",
	  fw_cmd_boot },
	{ "confirm", "--flash FILE", "the running image reports itself healthy", fw_cmd_confirm },
};

#define NCMDS (sizeof(g_cmds) / sizeof(g_cmds[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: tokfab-fw COMMAND [options]\n\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %-9s %s\n  %-9s   %s\n", g_cmds[i].name, g_cmds[i].args, "",
			g_cmds[i].help);
	fprintf(f, "\nImage format: hwdocs/firmware-image.md; flash layout and boot selection: "
		   "hwdocs/flash-layout.md.\nCard commands also take --fault-after-bytes N "
		   "(cut the power after N bytes written; for tests).\n");
}

int
main(int argc, char **argv)
{
	tf_log_init("tokfab-fw", TF_LOG_INFO, 0);
	if (argc < 2) {
		usage(stderr);
		return FW_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return FW_EXIT_OK;
	}
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(argv[1], g_cmds[i].name))
			return g_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "tokfab-fw: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return FW_EXIT_USAGE;
}
