# SPDX-License-Identifier: BSD-3-Clause
# Fuzz targets that span parts (each part registers its own in its module.mk).

# Tenant key files through all three readers (client, tokfabd, tokfab-dp): what the client accepts, the others must too.
$(eval $(call tf_fuzz,keyfile,tests/fuzz/keyfile_fuzz.c,lib/client/keyfile.c host/tokfabd/config.c dataplane/config.c dataplane/limits.c lib/common/log.c lib/card/check_aq.c $(TFPROTO_SRCS),$(call pc_libs,yaml-0.1) $(TFPROTO_LIBS),-I. -Ihost $(call pc_cflags,yaml-0.1) -Wno-deprecated-declarations))
