# SPDX-License-Identifier: BSD-3-Clause
# libtffw: firmware images (parse, verify, build, sign), flash backends,
# boot metadata and boot selection. Public API: firmware/fw.h.
FW_SRCS := $(wildcard firmware/*.c)
FW_LDLIBS := $(call pc_libs,libcrypto zlib)
$(eval $(call tf_lib,tffw,$(FW_SRCS),$(call pc_cflags,libcrypto zlib)))
