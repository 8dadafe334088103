# SPDX-License-Identifier: BSD-3-Clause
# tokfab-client CLI (README "Client") and the protocol test helpers
# (tests/integration/tools/: a stub card and a sender of every message type;
# test stand-ins only, never part of a user path).
$(eval $(call tf_prog,tokfab-client,tools/client/tokfab-client.c,tokfab-client tfproto tfcommon,$(TFPROTO_LIBS) $(call pc_libs,jansson) -lm))
$(eval $(call tf_prog,tf_stub_card,tests/integration/tools/tf_stub_card.c,tokfab-client tfproto,$(TFPROTO_LIBS)))
$(eval $(call tf_prog,tf_proto_send,tests/integration/tools/tf_proto_send.c,tfproto,$(TFPROTO_LIBS)))
