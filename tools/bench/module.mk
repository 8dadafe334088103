# SPDX-License-Identifier: BSD-3-Clause
# tokfab-bench (load generator over libtokfab-client) and tokfab-baseline
# (the conventional kernel-socket front end the card replaces).
BENCH_PC := libcurl jansson
TFBENCH_SRCS := tools/bench/hist.c tools/bench/dist.c tools/bench/tenants.c
$(eval $(call tf_lib,tfbench,$(TFBENCH_SRCS),-Itools))
$(eval $(call tf_prog,tokfab-bench,tools/bench/main.c tools/bench/args.c tools/bench/run.c tools/bench/api.c tools/bench/report.c,tfbench tokfab-client tfproto,$$(TFPROTO_LIBS) $(call pc_libs,$(BENCH_PC)) -lm,-Itools $(call pc_cflags,$(BENCH_PC))))
$(eval $(call tf_unit,bench_hist_ut,tests/unit/bench/hist_ut.c,tfbench,-lm,-Itools -Itests/unit/common))
$(eval $(call tf_unit,bench_tenants_ut,tests/unit/bench/tenants_ut.c,tfbench,,-Itools -Itests/unit/common))
