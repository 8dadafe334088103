# SPDX-License-Identifier: BSD-3-Clause
# VM tier helpers (tests/vm/): programs the VM tests run, built with `make`
# into $(BUILD)/tests/vm/ (not user programs, so not in $(BUILD)/bin).
#   kmod_card   card process: lib/card's card side served over lib/ivshmem
#   kmod_check  guest-side checks of tokfab.ko's /dev/tokfabN
TF_VM_TOOLS := $(BUILD)/tests/vm/kmod_card $(BUILD)/tests/vm/kmod_check

$(BUILD)/tests/vm/kmod_card: $(call tf_objs,tests/vm/kmod_card.c) $(BUILD)/lib/libtfcard.a \
			     $(BUILD)/lib/libtfivshmem.a $(BUILD)/lib/libtffw.a $(BUILD)/lib/libtfcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(call pc_libs,libcrypto zlib)
$(call tf_objs,tests/vm/kmod_card.c): XCFLAGS += -Ifirmware

$(BUILD)/tests/vm/kmod_check: $(call tf_objs,tests/vm/kmod_check.c) $(BUILD)/lib/libtfcard.a \
			      $(BUILD)/lib/libtfcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^)

-include $(patsubst %.o,%.d,$(call tf_objs,tests/vm/kmod_card.c tests/vm/kmod_check.c))
ALL_PROGS += $(TF_VM_TOOLS)
