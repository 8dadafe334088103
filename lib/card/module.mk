# SPDX-License-Identifier: BSD-3-Clause
# libtfcard: the card's BAR (register block, admin queue, event queue).
# Card side for tokfab-dp (card_*.c), host side for tokfabd (host*.c), and the
# checks of every byte both sides exchange (check_*.c, layout.c). No DPDK.
libtfcard_SRCS_ALL := $(wildcard lib/card/*.c)
$(eval $(call tf_lib,tfcard,$(libtfcard_SRCS_ALL)))

# Unit tests: card side, host side and both together on plain memory / tmpfs.
$(eval $(call tf_unit,card_check_ut,tests/unit/card/check_ut.c,tfcard,,-Itests/unit/common))
$(eval $(call tf_unit,card_queue_ut,tests/unit/card/queue_ut.c,tfcard,,-Itests/unit/common))
$(eval $(call tf_unit,card_hostq_ut,tests/unit/card/hostq_ut.c,tfcard,,-Itests/unit/common))

# Fuzz targets: admin commands (card side), completions and events (host side).
TF_CARD_CHECK_SRCS := lib/card/check_aq.c lib/card/check_eq.c lib/card/layout.c
$(eval $(call tf_fuzz,fuzz_card_admin_cmd,tests/fuzz/fuzz_card_admin_cmd.c,$(TF_CARD_CHECK_SRCS)))
$(eval $(call tf_fuzz,fuzz_card_completion,tests/fuzz/fuzz_card_completion.c,$(TF_CARD_CHECK_SRCS)))
$(eval $(call tf_fuzz,fuzz_card_event,tests/fuzz/fuzz_card_event.c,$(TF_CARD_CHECK_SRCS)))
$(eval $(call tf_fuzz,fuzz_card_regs,tests/fuzz/fuzz_card_regs.c,$(TF_CARD_CHECK_SRCS)))
# Host queues: an application writing anything into its ring area (card side).
$(eval $(call tf_fuzz,fuzz_card_hostq,tests/fuzz/fuzz_card_hostq.c,$(libtfcard_SRCS_ALL)))
