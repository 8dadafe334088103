# SPDX-License-Identifier: BSD-3-Clause
# libtokfab-client: client side of wire protocol v1 over kernel UDP sockets
# (include/tokfab/client.h). Link: tokfab-client tfproto, LDLIBS $(TFPROTO_LIBS).
$(eval $(call tf_lib,tokfab-client,$(sort $(wildcard lib/client/*.c))))
