# SPDX-License-Identifier: BSD-3-Clause
# tokfab-dp: the card's DPDK dataplane.
#
# libtfdp holds the pipeline's logic on plain buffers (no DPDK): parsing,
# checksums, admission, batching, routing, ... It is what the unit tests,
# fuzz targets and the benchmark exercise. The DPDK edge (EAL, ports, lcore
# loop, mbufs, telemetry) lives in the DP_EDGE_SRCS files only.

DP_LOGIC_SRCS := dataplane/counters.c dataplane/pkt.c dataplane/neigh.c dataplane/bucket.c \
	dataplane/admit.c dataplane/batch.c dataplane/route.c dataplane/dedupe.c \
	dataplane/tokbuf.c dataplane/utf8s.c dataplane/tables.c dataplane/tenants.c dataplane/worker.c \
	dataplane/bigmem.c dataplane/hostwait.c \
	dataplane/request.c dataplane/dispatch.c dataplane/deadline.c dataplane/respond.c \
	dataplane/usage.c dataplane/usage_agg.c \
	dataplane/config.c dataplane/ctl.c dataplane/records.c dataplane/limits.c
# What a program linking libtfdp links after it.
DP_LOGIC_LIBS := tfdp tfxport tfproto tfcommon
DP_LOGIC_LDLIBS = $(TFXPORT_LDLIBS) $(TFPROTO_LIBS) $(call pc_libs,yaml-0.1)

$(eval $(call tf_lib,tfdp,$(DP_LOGIC_SRCS),-I. $(call pc_cflags,yaml-0.1)))

DP_UT_CFLAGS := -I. -Itests/unit/common
$(eval $(call tf_unit,dp_pkt_ut,tests/unit/dataplane/pkt_ut.c,tfdp,,$(DP_UT_CFLAGS)))
$(eval $(call tf_unit,dp_admit_ut,tests/unit/dataplane/admit_ut.c,tfdp,,$(DP_UT_CFLAGS)))
$(eval $(call tf_unit,dp_batch_ut,tests/unit/dataplane/batch_ut.c,tfdp,,$(DP_UT_CFLAGS)))
$(eval $(call tf_unit,dp_config_ut,tests/unit/dataplane/config_ut.c,tfdp tfproto,$$(TFPROTO_LIBS) $(call pc_libs,yaml-0.1),$(DP_UT_CFLAGS)))
$(eval $(call tf_unit,dp_dedupe_ut,tests/unit/dataplane/dedupe_ut.c,tfdp tfproto,$$(TFPROTO_LIBS),$(DP_UT_CFLAGS)))
$(eval $(call tf_unit,dp_usage_agg_ut,tests/unit/dataplane/usage_agg_ut.c,tfdp,,$(DP_UT_CFLAGS)))

# tokfab-dp: the DPDK edge around libtfdp.
# The card's host-facing side: ivshmem_serve.c (the BAR to a QEMU guest),
# hostq.c (host queues through a ring-backed port), fw.c (flash, boot, updates).
DP_EDGE_SRCS := dataplane/main.c dataplane/port.c dataplane/lcore.c dataplane/telemetry.c \
	dataplane/ivshmem_serve.c dataplane/hostq.c dataplane/fw.c
DP_DPDK_CFLAGS = $(call pc_cflags,libdpdk)
DP_DPDK_LIBS = $(call pc_libs,libdpdk)
$(eval $(call tf_prog,tokfab-dp,$(DP_EDGE_SRCS),tfdp tfxport tfcard tfivshmem tffw tfproto tfcommon,$$(DP_DPDK_LIBS) -lrte_net_ring $$(DP_LOGIC_LDLIBS) $$(call pc_libs,libcrypto zlib),-I. -Ifirmware $$(DP_DPDK_CFLAGS)))
$(eval $(call tf_unit,dp_worker_ut,tests/unit/dataplane/worker_ut.c,$(DP_LOGIC_LIBS) tfcard,$$(DP_LOGIC_LDLIBS),$(DP_UT_CFLAGS)))

# Test tools for tests/integration/test_dp_*.sh (built with everything, never installed).
DP_TOOLS := $(BUILD)/tests/tools/dp_probe $(BUILD)/tests/tools/dp_engine_ref \
	$(BUILD)/tests/tools/dp_hq_client
$(BUILD)/tests/tools/dp_probe: $(call tf_objs,tests/integration/dp_probe.c) $(BUILD)/lib/libtokfab-client.a $(BUILD)/lib/libtfproto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(TFPROTO_LIBS)
$(BUILD)/tests/tools/dp_engine_ref: $(call tf_objs,tests/integration/dp_engine_ref.c) $(BUILD)/lib/libtfengine.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm
$(call tf_objs,tests/integration/dp_engine_ref.c): XCFLAGS += -I.
# A host-queue client (through tokfab.ko, or playing the driver on the BAR file).
$(BUILD)/tests/tools/dp_hq_client: $(call tf_objs,tests/integration/dp_hq_client.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^
BENCH_PROGS += $(DP_TOOLS)
-include $(patsubst %.o,%.d,$(call tf_objs,tests/integration/dp_probe.c tests/integration/dp_engine_ref.c tests/integration/dp_hq_client.c))

# Benchmark: the whole card pipeline on one lcore from an in-memory source.
$(eval $(call tf_bench,bench_dp,tests/bench/bench_dp.c,$(DP_LOGIC_LIBS),$$(DP_DPDK_LIBS) -lrte_net_ring $$(DP_LOGIC_LDLIBS),-I. $$(DP_DPDK_CFLAGS)))
$(eval $(call tf_bench,bench_dp_cpu,tests/bench/bench_dp_cpu.c,$(DP_LOGIC_LIBS),$$(DP_LOGIC_LDLIBS) -lm,-I.))

# Fuzz targets: frames into the pipeline (raw, and signed sessions). Seeds in
# tests/fuzz/corpus/<target>/ (tests/fuzz/dp_seeds.sh writes them).
# (dataplane/xport/module.mk is read after this file: name its sources by wildcard.)
DP_FUZZ_LIB := $(filter-out dataplane/config.c dataplane/ctl.c dataplane/records.c,$(DP_LOGIC_SRCS)) \
	$(wildcard dataplane/xport/*.c) $(TFPROTO_SRCS)
DP_FUZZ_LDLIBS := $(or $(call pc_libs,librdmacm libibverbs),-lrdmacm -libverbs) -lcrypto -lsodium
$(eval $(call tf_fuzz,dp_frame,tests/fuzz/dp_frame_fuzz.c,$(DP_FUZZ_LIB),$(DP_FUZZ_LDLIBS),-I. -Wno-deprecated-declarations))
$(eval $(call tf_fuzz,dp_session,tests/fuzz/dp_session_fuzz.c,$(DP_FUZZ_LIB),$(DP_FUZZ_LDLIBS),-I. -Wno-deprecated-declarations))
# Fuzz target: the YAML configuration file (what it accepts must pass the admin queue's check).
$(eval $(call tf_fuzz,dp_config,tests/fuzz/dp_config_fuzz.c,dataplane/config.c dataplane/limits.c lib/card/check_aq.c $(TFPROTO_SRCS),$(call pc_libs,yaml-0.1) $(TFPROTO_LIBS),-I. $(call pc_cflags,yaml-0.1) -Wno-deprecated-declarations))
