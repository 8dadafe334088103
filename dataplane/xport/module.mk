# SPDX-License-Identifier: BSD-3-Clause
# libtfxport: card <-> accelerator transport (rdma + shm backends), linked by
# tokfab-dp and tokfab-accel. No DPDK. Consumers link tfxport with
# $(TFXPORT_LDLIBS) and include "dataplane/xport/xport.h" (or -Idataplane
# and "xport/xport.h").

TFXPORT_SRCS := $(addprefix dataplane/xport/,xport.c ring.c entry.c handles.c shm.c rdma.c)
TFXPORT_LDLIBS := $(or $(call pc_libs,librdmacm libibverbs),-lrdmacm -libverbs)

$(eval $(call tf_lib,tfxport,$(TFXPORT_SRCS)))

# Card-side test driver, echo accelerator and benchmark (tests and bench only).
$(eval $(call tf_prog,tokfab-xport-drive,dataplane/xport/tools/drive.c,tfxport tfcommon,$(TFXPORT_LDLIBS),-Idataplane))

XPORT_UT_CFLAGS := -Idataplane -Itests/unit/common
$(eval $(call tf_unit,xport_ring_ut,tests/unit/xport/ring_ut.c,tfxport,$(TFXPORT_LDLIBS),$(XPORT_UT_CFLAGS)))
$(eval $(call tf_unit,xport_entry_ut,tests/unit/xport/entry_ut.c,tfxport,$(TFXPORT_LDLIBS),$(XPORT_UT_CFLAGS)))
$(eval $(call tf_unit,xport_handles_ut,tests/unit/xport/handles_ut.c,tfxport,$(TFXPORT_LDLIBS),$(XPORT_UT_CFLAGS)))
$(eval $(call tf_unit,xport_shm_ut,tests/unit/xport/shm_ut.c,tfxport,$(TFXPORT_LDLIBS),$(XPORT_UT_CFLAGS)))

# Fuzz: what each side parses of the other's bytes.
XPORT_FUZZ_LIB := dataplane/xport/entry.c dataplane/xport/ring.c
$(eval $(call tf_fuzz,fuzz_xport_input,tests/fuzz/xport_input_fuzz.c,$(XPORT_FUZZ_LIB),,-Idataplane))
$(eval $(call tf_fuzz,fuzz_xport_response,tests/fuzz/xport_response_fuzz.c,$(XPORT_FUZZ_LIB),,-Idataplane))
