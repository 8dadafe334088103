# SPDX-License-Identifier: BSD-3-Clause
# tokfab-fw: image keygen/build/sign/verify/inspect and card flash/boot CLI.
$(eval $(call tf_prog,tokfab-fw,$(wildcard tools/fw/*.c),tffw tfcommon,$(FW_LDLIBS) $(call pc_libs,jansson),-Ifirmware $(call pc_cflags,jansson)))
