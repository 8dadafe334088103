# SPDX-License-Identifier: BSD-3-Clause
# libtfproto: wire protocol v1 codec, MAC and reassembly (hwdocs/protocol.md).
# No DPDK: tokfab-dp, the client library and the fuzz targets all link it.
TFPROTO_SRCS := $(sort $(wildcard lib/proto/*.c))
# libcrypto: HMAC-SHA256 (mac_alg 1); libsodium: SipHash-2-4-128 (mac_alg 2).
# Everything that links tfproto links $(TFPROTO_LIBS) after it.
TFPROTO_LIBS := $(call pc_libs,libcrypto libsodium)
$(eval $(call tf_lib,tfproto,$(TFPROTO_SRCS)))
# Low-level SHA256_* are deprecated in OpenSSL 3 but are the only way to
# resume from a pre-keyed midstate without a heap allocation per message:
# see the comment at the top of mac_hmac_sha256.c.
$(call tf_objs,lib/proto/mac_hmac_sha256.c): XCFLAGS += -Wno-deprecated-declarations

# Unit tests (tests/unit/proto/): one binary per source file under test.
PROTO_UT_FLAGS := -Itests/unit/common -Itests/unit/proto
$(eval $(call tf_unit,proto_decode_ut,tests/unit/proto/decode_ut.c,tfproto,$(TFPROTO_LIBS),$(PROTO_UT_FLAGS)))
$(eval $(call tf_unit,proto_encode_ut,tests/unit/proto/encode_ut.c,tfproto,$(TFPROTO_LIBS),$(PROTO_UT_FLAGS)))
$(eval $(call tf_unit,proto_mac_ut,tests/unit/proto/mac_ut.c,tfproto,$(TFPROTO_LIBS),$(PROTO_UT_FLAGS)))
$(eval $(call tf_unit,proto_reasm_ut,tests/unit/proto/reasm_ut.c,tfproto,$(TFPROTO_LIBS),$(PROTO_UT_FLAGS)))
$(eval $(call tf_unit,proto_keyfile_ut,tests/unit/proto/keyfile_ut.c,tfproto,$(TFPROTO_LIBS),$(PROTO_UT_FLAGS)))
# The spec's own examples: reads hwdocs/protocol.md (TF_ROOT overrides the path).
$(eval $(call tf_unit,proto_spec_ut,tests/unit/proto/spec_ut.c,tfproto,$(TFPROTO_LIBS),$(PROTO_UT_FLAGS) -DTF_SPEC_PATH='"$(CURDIR)/hwdocs/protocol.md"'))

# Fuzz targets (tests/fuzz/), seeds in tests/fuzz/corpus/<target>/ (the spec's examples).
$(eval $(call tf_fuzz,proto_decode,tests/fuzz/proto_decode_fuzz.c,$(TFPROTO_SRCS),$(TFPROTO_LIBS),-Wno-deprecated-declarations))
$(eval $(call tf_fuzz,proto_reasm,tests/fuzz/proto_reasm_fuzz.c,$(TFPROTO_SRCS),$(TFPROTO_LIBS),-Wno-deprecated-declarations))

# Micro-benchmark: decode + verify vs memcpy, and the HMAC variants (tests/bench/bench_proto.sh).
$(eval $(call tf_bench,bench_proto,tests/bench/bench_proto.c,tfproto,$(TFPROTO_LIBS)))
