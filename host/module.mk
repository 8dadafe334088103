# SPDX-License-Identifier: BSD-3-Clause
# host/: tokfabd (management daemon) and tokfabctl (its CLI).
TFD_SRCS := $(filter-out host/tokfabd/main.c,$(wildcard host/tokfabd/*.c))
TFD_PC := yaml-0.1 sqlite3 jansson libmicrohttpd
TFD_LIBS := $(call pc_libs,$(TFD_PC)) $(TFPROTO_LIBS)
TFD_CFLAGS := -Ihost $(call pc_cflags,$(TFD_PC))

$(eval $(call tf_lib,tfd,$(TFD_SRCS),$(TFD_CFLAGS)))
$(eval $(call tf_prog,tokfabd,host/tokfabd/main.c,tfd tfcard tfproto tfcommon,$(TFD_LIBS),$(TFD_CFLAGS)))
# The dashboard files are assembled into dashboard.o with .incbin.
$(BUILD)/obj/host/tokfabd/dashboard.o: $(wildcard host/dashboard/*)

TFCTL_PC := libcurl jansson
$(eval $(call tf_prog,tokfabctl,$(wildcard host/tokfabctl/*.c),tfcommon,$(call pc_libs,$(TFCTL_PC)),-Ihost $(call pc_cflags,$(TFCTL_PC))))

# Unit tests: one binary per area, reaching the daemon's objects through libtfd.
TFD_UT_FLAGS := -Itests/unit/common $(TFD_CFLAGS)
$(eval $(call tf_unit,host_config_ut,tests/unit/host/config_ut.c,tfd tfcard tfproto tfcommon,$(TFD_LIBS),$(TFD_UT_FLAGS)))
$(eval $(call tf_unit,host_ledger_ut,tests/unit/host/ledger_ut.c,tfd tfcard tfproto tfcommon,$(TFD_LIBS),$(TFD_UT_FLAGS)))
$(eval $(call tf_unit,host_quota_ut,tests/unit/host/quota_ut.c,tfd tfcard tfproto tfcommon,$(TFD_LIBS),$(TFD_UT_FLAGS)))
$(eval $(call tf_unit,host_api_ut,tests/unit/host/api_ut.c,tfd tfcard tfproto tfcommon,$(TFD_LIBS),$(TFD_UT_FLAGS)))
$(eval $(call tf_unit,host_card_ut,tests/unit/host/card_ut.c tests/unit/host/fault_vfs.c,tfd tfcard tfproto tfcommon,$(TFD_LIBS),$(TFD_UT_FLAGS)))

# The card simulator the host-tier integration tests drive tokfabd with.
$(eval $(call tf_prog,tokfab-cardsim,tests/integration/cardsim.c,tfcard tfcommon,,))

# Fuzz target: the configuration loader on arbitrary YAML.
$(eval $(call tf_fuzz,fuzz_host_config,tests/fuzz/fuzz_host_config.c,host/tokfabd/config.c lib/common/log.c lib/card/check_aq.c $(TFPROTO_SRCS),$(call pc_libs,yaml-0.1) $(TFPROTO_LIBS),-Ihost -Wno-deprecated-declarations))
# Fuzz target: the HTTP API handler on arbitrary method, path, query, header and body.
$(eval $(call tf_fuzz,fuzz_host_api,tests/fuzz/fuzz_host_api.c,$(TFD_SRCS) $(libtfcard_SRCS_ALL) $(TFPROTO_SRCS) lib/common/log.c,$(TFD_LIBS),$(TFD_CFLAGS) -Wno-deprecated-declarations))

# Benchmark: batched ledger commits vs one transaction per record (tests/bench/bench_host_ledger.sh).
$(eval $(call tf_bench,bench_host_ledger,tests/bench/bench_host_ledger.c,tfd tfcard tfproto tfcommon,$(TFD_LIBS),$(TFD_CFLAGS)))
