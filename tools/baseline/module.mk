# SPDX-License-Identifier: BSD-3-Clause
# tokfab-baseline: the conventional kernel-socket front end (tools/baseline/baseline.h)
# that tests/bench/bench_e2e.sh measures the card path against.
$(eval $(call tf_prog,tokfab-baseline,$(wildcard tools/baseline/*.c),tfbench tfengine tokfab-client tfproto tfcommon,$$(TFPROTO_LIBS) -lm,-I. -Itools))
$(eval $(call tf_unit,baseline_reqtab_ut,tests/unit/baseline/reqtab_ut.c tools/baseline/reqtab.c,tfengine,-lm,-I. -Itools -Itests/unit/common))
