# SPDX-License-Identifier: BSD-3-Clause
# libtokfab-client: client side of wire protocol v1 over kernel UDP sockets
# (include/tokfab/client.h). Link with libs "tokfab-client tfproto" and
# LDLIBS $(TFPROTO_LIBS) (libcrypto, libsodium).
# (lib/client/module.mk is read before lib/proto/module.mk: the test names $$(TFPROTO_LIBS), expanded late.)
$(eval $(call tf_lib,tokfab-client,$(sort $(wildcard lib/client/*.c))))
$(eval $(call tf_unit,client_ut,tests/unit/client/client_ut.c,tokfab-client tfproto,$$(TFPROTO_LIBS),-Itests/unit/common))
# Fuzz target: datagrams from the card into a client with a request and a PING in flight.
$(eval $(call tf_fuzz,client_rx,tests/fuzz/client_rx_fuzz.c,$(sort $(wildcard lib/client/*.c lib/proto/*.c)),$$(TFPROTO_LIBS),-Wno-deprecated-declarations))
