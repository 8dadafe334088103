/* SPDX-License-Identifier: BSD-3-Clause */
/* tokfab-fw keygen, build, sign, verify, inspect: images on the build host. */
#include "fwtool.h"

#include "common/log.h"
#include "tokfab/accel_rings.h"
#include "tokfab/bar.h"
#include "tokfab/proto.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int
fw_cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	struct tf_fw_key *key = NULL;
	uint8_t pub[TF_FW_PUBKEY_SIZE], kid[TF_FW_KEY_ID_SIZE];
	char *priv_path = NULL, *pub_path = NULL, err[512], hex[2 * TF_FW_KEY_ID_SIZE + 1];
	int c, r, rc = FW_EXIT_FAIL;

	c = getopt_long(argc, argv, "h", opts, NULL);
	if (c != -1 || optind != argc - 1)
		return fw_usage_error("keygen",
				      "expected one PREFIX (writes PREFIX.key and PREFIX.pub)");
	if (asprintf(&priv_path, "%s.key", argv[optind]) < 0 ||
	    asprintf(&pub_path, "%s.pub", argv[optind]) < 0)
		tf_fatalx("out of memory");
	r = tf_fw_key_generate(&key);
	if (r) {
		tf_log_warnx("keygen: OpenSSL could not generate an Ed25519 key");
		goto out;
	}
	r = tf_fw_key_save(key, priv_path, pub_path, err, sizeof(err));
	if (r) {
		tf_log_warnx("keygen: %s", err);
		goto out;
	}
	if (tf_fw_key_public(key, pub) || tf_fw_key_id(pub, kid))
		goto out;
	printf("wrote %s (Ed25519 private key: keep it secret) and %s; key id %s\n", priv_path,
	       pub_path, fw_hex(kid, sizeof(kid), hex));
	rc = FW_EXIT_OK;
out:
	tf_fw_key_free(key);
	free(priv_path);
	free(pub_path);
	return rc;
}

/* Loads and signs in place; prints why not. */
static int
sign_buf(uint8_t *img, size_t len, const char *keyuri, const char *what)
{
	struct tf_fw_key *key;
	struct tf_fw_diag d;
	char err[512];
	int r;

	r = tf_fw_key_load(keyuri, &key, err, sizeof(err));
	if (r) {
		tf_log_warnx("%s", err);
		return r;
	}
	r = tf_fw_image_sign(img, len, key, &d);
	tf_fw_key_free(key);
	if (r)
		fw_print_diag(what, &d, NULL);
	return r;
}

static void
print_summary(const char *verb, const char *path, const uint8_t *img, size_t len)
{
	struct tf_fw_image im;
	struct tf_fw_diag d;
	char kid[2 * TF_FW_KEY_ID_SIZE + 1];

	if (tf_fw_image_parse(img, len, &im, &d))
		return;
	fw_hex(im.key_id, sizeof(im.key_id), kid);
	printf("%s %s: version %u.%u.%u, security version %" PRIu32 ", board 0x%08" PRIx32
	       ", %u sections, %zu bytes, %s%s\n",
	       verb, path, im.version[0], im.version[1], im.version[2], im.security_version,
	       im.board_id, im.nsections, len,
	       strcmp(kid, "0000000000000000") ? "signed by key " : "UNSIGNED",
	       strcmp(kid, "0000000000000000") ? kid : "");
}

int
fw_cmd_build(int argc, char **argv)
{
	static const struct option opts[] = { { "manifest", required_argument, NULL, 'm' },
					      { "out", required_argument, NULL, 'o' },
					      { "key", required_argument, NULL, 'k' },
					      { 0 } };
	const char *manifest = NULL, *out = NULL, *keyuri = NULL;
	struct tf_fw_manifest m;
	struct tf_fw_diag d;
	uint8_t *img = NULL;
	size_t len;
	char err[512];
	int c, r, rc = FW_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "m:o:k:", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			manifest = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'k':
			keyuri = optarg;
			break;
		default:
			return fw_usage_error("build", "unknown option");
		}
	}
	if (!manifest || !out || optind != argc)
		return fw_usage_error("build", "needs --manifest FILE and --out IMAGE");
	r = tf_fw_manifest_load(manifest, &m, err, sizeof(err));
	if (r) {
		tf_log_warnx("build: %s", err);
		return FW_EXIT_FAIL;
	}
	r = tf_fw_image_build(&m.in, &img, &len, &d);
	if (r) {
		fw_print_diag(manifest, &d, NULL);
		goto out;
	}
	if (keyuri && sign_buf(img, len, keyuri, out))
		goto out;
	r = fw_write_file(out, img, len);
	if (r) {
		tf_log_warnx("build: cannot write %s: %s", out, strerror(-r));
		goto out;
	}
	print_summary("built", out, img, len);
	rc = FW_EXIT_OK;
out:
	free(img);
	tf_fw_manifest_free(&m);
	return rc;
}

int
fw_cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = { { "key", required_argument, NULL, 'k' },
					      { "out", required_argument, NULL, 'o' },
					      { 0 } };
	const char *keyuri = NULL, *out = NULL, *in;
	uint8_t *img;
	size_t len;
	int c, r;

	while ((c = getopt_long(argc, argv, "k:o:", opts, NULL)) != -1) {
		if (c == 'k')
			keyuri = optarg;
		else if (c == 'o')
			out = optarg;
		else
			return fw_usage_error("sign", "unknown option");
	}
	if (!keyuri || optind != argc - 1)
		return fw_usage_error("sign", "needs --key KEY|URI and one IMAGE");
	in = argv[optind];
	out = out ? out : in;
	r = fw_read_file(in, &img, &len);
	if (r) {
		tf_log_warnx("sign: cannot read %s: %s", in, strerror(-r));
		return FW_EXIT_FAIL;
	}
	r = sign_buf(img, len, keyuri, in);
	if (!r) {
		r = fw_write_file(out, img, len);
		if (r)
			tf_log_warnx("sign: cannot write %s: %s", out, strerror(-r));
	}
	if (!r)
		print_summary("signed", out, img, len);
	free(img);
	return r ? FW_EXIT_FAIL : FW_EXIT_OK;
}

static int
load_pubkey(const char *path, uint8_t pub[TF_FW_PUBKEY_SIZE])
{
	char err[512];
	int r = tf_fw_pubkey_load(path, pub, err, sizeof(err));

	if (r)
		tf_log_warnx("%s", err);
	return r;
}

int
fw_cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = { { "pubkey", required_argument, NULL, 'p' },
					      { "board", required_argument, NULL, 'b' },
					      { "min-security-version", required_argument, NULL,
						's' },
					      { 0 } };
	const char *pubpath = NULL, *path;
	uint8_t pub[TF_FW_PUBKEY_SIZE];
	const uint8_t *img;
	uint64_t board = 0, minsv = 0;
	bool have_board = false;
	struct tf_fw_image im;
	struct tf_fw_diag d;
	char kid[2 * TF_FW_KEY_ID_SIZE + 1];
	size_t len;
	int c, r;

	while ((c = getopt_long(argc, argv, "p:b:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pubpath = optarg;
			break;
		case 'b':
			if (fw_parse_u64(optarg, UINT32_MAX, &board))
				return fw_usage_error("verify", "--board takes a 32-bit number");
			have_board = true;
			break;
		case 's':
			if (fw_parse_u64(optarg, UINT32_MAX, &minsv))
				return fw_usage_error(
					"verify", "--min-security-version takes a 32-bit number");
			break;
		default:
			return fw_usage_error("verify", "unknown option");
		}
	}
	if (!pubpath || optind != argc - 1)
		return fw_usage_error("verify", "needs --pubkey PUB and one IMAGE");
	path = argv[optind];
	if (load_pubkey(pubpath, pub))
		return FW_EXIT_FAIL;
	r = fw_map_file(path, &img, &len);
	if (r) {
		tf_log_warnx("verify: cannot read %s: %s", path, strerror(-r));
		return FW_EXIT_FAIL;
	}
	r = tf_fw_image_verify(img, len, pub, &im, &d);
	if (!r)
		r = tf_fw_image_check_policy(&im, have_board ? (uint32_t)board : im.board_id,
					     (uint32_t)minsv, false, &d);
	if (r) {
		fw_print_diag(path, &d, &im);
		fw_unmap_file(img, len);
		return FW_EXIT_FAIL;
	}
	printf("%s: OK: version %u.%u.%u, security version %" PRIu32 ", board 0x%08" PRIx32
	       ", signed by key %s, %u sections verified\n",
	       path, im.version[0], im.version[1], im.version[2], im.security_version, im.board_id,
	       fw_hex(im.key_id, sizeof(im.key_id), kid), im.nsections);
	fw_unmap_file(img, len);
	return FW_EXIT_OK;
}

static json_t *
inspect_json(const struct tf_fw_image *im, const char *sig, const struct tf_fw_diag *d)
{
	char hex[2 * TF_FW_SHA256_SIZE + 1], ver[32], buf[512];
	uint8_t digest[TF_FW_SHA256_SIZE];
	json_t *o = json_object(), *secs = json_array();

	snprintf(ver, sizeof(ver), "%u.%u.%u", im->version[0], im->version[1], im->version[2]);
	json_object_set_new(o, "format_version", json_integer(im->format_version));
	json_object_set_new(o, "version", json_string(ver));
	json_object_set_new(o, "security_version", json_integer(im->security_version));
	json_object_set_new(o, "board_id", json_integer(im->board_id));
	json_object_set_new(o, "build_time", json_integer((json_int_t)im->build_time));
	json_object_set_new(o, "build_id",
			    json_string(fw_hex(im->build_id, TF_FW_BUILD_ID_SIZE, hex)));
	json_object_set_new(o, "key_id", json_string(fw_hex(im->key_id, TF_FW_KEY_ID_SIZE, hex)));
	json_object_set_new(o, "image_size", json_integer((json_int_t)im->image_size));
	json_object_set_new(o, "signed_bytes", json_integer((json_int_t)im->signed_len));
	if (!tf_fw_sha256(im->base, im->image_size, digest))
		json_object_set_new(o, "image_sha256",
				    json_string(fw_hex(digest, sizeof(digest), hex)));
	for (unsigned int i = 0; i < im->nsections; i++) {
		const struct tf_fw_section_info *s = &im->sect[i];
		json_t *e = json_object();

		json_object_set_new(e, "type", json_string(tf_fw_section_type_name(s->type)));
		json_object_set_new(e, "type_id", json_integer(s->type));
		json_object_set_new(e, "offset", json_integer((json_int_t)s->offset));
		json_object_set_new(e, "length", json_integer((json_int_t)s->length));
		json_object_set_new(e, "sha256",
				    json_string(fw_hex(s->sha256, TF_FW_SHA256_SIZE, hex)));
		json_array_append_new(secs, e);
	}
	json_object_set_new(o, "sections", secs);
	json_object_set_new(o, "abi",
			    json_pack("{s:[i,i], s:[i,i], s:[i,i]}", "bar", im->abi.bar_major,
				      im->abi.bar_minor, "wire", im->abi.wire_major,
				      im->abi.wire_minor, "ring", im->abi.ring_major,
				      im->abi.ring_minor));
	json_object_set_new(o, "signature", json_string(sig));
	if (d && d->err != TF_FW_OK) {
		json_object_set_new(o, "error", json_string(tf_fw_err_name(d->err)));
		json_object_set_new(o, "message",
				    json_string(tf_fw_diag_format(d, buf, sizeof(buf))));
	}
	return o;
}

static void
inspect_text(const char *path, const struct tf_fw_image *im, const char *sig)
{
	char hex[2 * TF_FW_SHA256_SIZE + 1];
	uint8_t digest[TF_FW_SHA256_SIZE];

	printf("%s: tokfab firmware image, format %u, %" PRIu64 " bytes\n", path,
	       im->format_version, im->image_size);
	printf("  version            %u.%u.%u\n", im->version[0], im->version[1], im->version[2]);
	printf("  security version   %" PRIu32 "\n", im->security_version);
	printf("  board id           0x%08" PRIx32 "\n", im->board_id);
	printf("  build time         %" PRIu64 "\n", im->build_time);
	printf("  build id           %s\n", fw_hex(im->build_id, TF_FW_BUILD_ID_SIZE, hex));
	printf("  key id             %s\n", fw_hex(im->key_id, TF_FW_KEY_ID_SIZE, hex));
	printf("  signature          %s (over bytes 0..%zu)\n", sig, im->signed_len - 1);
	if (!tf_fw_sha256(im->base, im->image_size, digest))
		printf("  image sha256       %s\n", fw_hex(digest, sizeof(digest), hex));
	printf("  abi                bar %u.%u, wire %u.%u, ring %u.%u\n", im->abi.bar_major,
	       im->abi.bar_minor, im->abi.wire_major, im->abi.wire_minor, im->abi.ring_major,
	       im->abi.ring_minor);
	printf("  sections:\n    #  type        offset      length  sha256\n");
	for (unsigned int i = 0; i < im->nsections; i++) {
		const struct tf_fw_section_info *s = &im->sect[i];

		printf("    %u  %-9s %8" PRIu64 "  %10" PRIu64 "  %s\n", i,
		       tf_fw_section_type_name(s->type), s->offset, s->length,
		       fw_hex(s->sha256, TF_FW_SHA256_SIZE, hex));
	}
}

int
fw_cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "pubkey", required_argument, NULL, 'p' },
					      { 0 } };
	const char *pubpath = NULL, *path, *sig = "not checked (give --pubkey)";
	uint8_t pub[TF_FW_PUBKEY_SIZE];
	const uint8_t *img;
	struct tf_fw_image im;
	struct tf_fw_diag d, vd = { .err = TF_FW_OK, .section = -1 };
	bool json = false;
	size_t len;
	int c, r, rc = FW_EXIT_OK;

	while ((c = getopt_long(argc, argv, "jp:", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'p')
			pubpath = optarg;
		else
			return fw_usage_error("inspect", "unknown option");
	}
	if (optind != argc - 1)
		return fw_usage_error("inspect", "expected one IMAGE");
	path = argv[optind];
	if (pubpath && load_pubkey(pubpath, pub))
		return FW_EXIT_FAIL;
	r = fw_map_file(path, &img, &len);
	if (r) {
		tf_log_warnx("inspect: cannot read %s: %s", path, strerror(-r));
		return FW_EXIT_FAIL;
	}
	r = tf_fw_image_parse(img, len, &im, &d);
	if (r) {
		if (json) {
			char buf[512];
			json_t *o = json_pack("{s:s, s:s}", "error", tf_fw_err_name(d.err),
					      "message", tf_fw_diag_format(&d, buf, sizeof(buf)));

			json_dumpf(o, stdout, JSON_INDENT(2));
			putchar('\n');
			json_decref(o);
		}
		fw_print_diag(path, &d, &im);
		fw_unmap_file(img, len);
		return FW_EXIT_FAIL;
	}
	if (pubpath) {
		struct tf_fw_image vim;

		r = tf_fw_image_verify(img, len, pub, &vim, &vd);
		sig = r ? "INVALID" : "valid";
		rc = r ? FW_EXIT_FAIL : FW_EXIT_OK;
	} else if (!memcmp(im.key_id, "\0\0\0\0\0\0\0\0", TF_FW_KEY_ID_SIZE)) {
		sig = "none (unsigned)";
	}
	if (json) {
		json_t *o = inspect_json(&im, sig, &vd);

		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		inspect_text(path, &im, sig);
	}
	if (vd.err != TF_FW_OK)
		fw_print_diag(path, &vd, &im);
	fw_unmap_file(img, len);
	return rc;
}

int
fw_cmd_abi(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return fw_usage_error("abi", "takes no arguments");
	printf("# interface versions of this source tree (include/tokfab/)\n");
	printf("abi_bar = %u.%u\n", (unsigned int)TF_ABI_MAJOR, (unsigned int)TF_ABI_MINOR);
	printf("abi_wire = %u.0\n", (unsigned int)TF_PROTO_VERSION);
	printf("abi_ring = %u.0\n", (unsigned int)TF_ACCEL_VERSION);
	return FW_EXIT_OK;
}
