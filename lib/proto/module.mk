# SPDX-License-Identifier: BSD-3-Clause
# libtfproto: wire protocol v1 codec, MAC and reassembly (hwdocs/protocol.md).
# No DPDK: tokfab-dp, the client library and the fuzz targets all link it.
TFPROTO_SRCS := $(sort $(wildcard lib/proto/*.c))
TFPROTO_LIBS := $(call pc_libs,libcrypto)
$(eval $(call tf_lib,tfproto,$(TFPROTO_SRCS)))
# Low-level SHA256_* are deprecated in OpenSSL 3 but are the only way to
# resume from a pre-keyed midstate without a heap allocation per message:
# see the comment at the top of mac_hmac_sha256.c.
$(call tf_objs,lib/proto/mac_hmac_sha256.c): XCFLAGS += -Wno-deprecated-declarations
