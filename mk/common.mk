# SPDX-License-Identifier: BSD-3-Clause
# Shared build rules. Every part adds a <part>/module.mk that calls the
# tf_lib / tf_prog / tf_unit / tf_fuzz / tf_bench macros below.

ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CC      ?= cc
FUZZCC  ?= clang
OPT     ?= -O2
WARN    := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
           -Wcast-qual -Wsign-compare -Wno-missing-field-initializers
CPPFLAGS := -Iinclude -Ilib -D_GNU_SOURCE
CFLAGS  := -std=gnu11 $(OPT) -g $(WARN) -pthread -MMD -MP $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(SANFLAGS) $(EXTRA_LDFLAGS)

# pkg-config wrappers: third-party headers are -isystem so our strict
# warnings apply to our code only.
pc_cflags = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(1) 2>/dev/null))
pc_libs   = $(shell pkg-config --libs $(1) 2>/dev/null)

ALL_PROGS   :=
ALL_LIBS    :=
UNIT_TESTS  :=
FUZZ_TARGETS :=
BENCH_PROGS :=

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(XCFLAGS) -c $< -o $@

# Fuzz builds use clang + libFuzzer + ASan/UBSan, objects kept apart.
FUZZFLAGS := -std=gnu11 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -MMD -MP
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZCC) $(CPPFLAGS) $(FUZZFLAGS) $(XCFLAGS) -c $< -o $@

tf_objs  = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
tf_fobjs = $(patsubst %.c,$(BUILD)/fuzzobj/%.o,$(1))

# $(call tf_lib,NAME,SRCS,XCFLAGS) -> $(BUILD)/lib/libNAME.a
define tf_lib
$(BUILD)/lib/lib$(1).a: $(call tf_objs,$(2))
	@mkdir -p $$(dir $$@)
	$$(AR) rcs $$@ $$^
$(call tf_objs,$(2)): XCFLAGS += $(3)
lib$(1)_SRCS := $(2)
lib$(1)_XCFLAGS := $(3)
ALL_LIBS += $(BUILD)/lib/lib$(1).a
-include $(patsubst %.o,%.d,$(call tf_objs,$(2)))
endef

# $(call tf_prog,NAME,SRCS,LIBS,LDLIBS,XCFLAGS) -> $(BUILD)/bin/NAME
# LIBS are our own library names (without lib/.a), in link order.
define tf_prog
$(BUILD)/bin/$(1): $(call tf_objs,$(2)) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a) $(4)
$(call tf_objs,$(2)): XCFLAGS += $(5)
ALL_PROGS += $(BUILD)/bin/$(1)
$(1): $(BUILD)/bin/$(1)
.PHONY: $(1)
-include $(patsubst %.o,%.d,$(call tf_objs,$(2)))
endef

# $(call tf_unit,NAME,SRCS,LIBS,LDLIBS,XCFLAGS) -> $(BUILD)/tests/unit/NAME
define tf_unit
$(BUILD)/tests/unit/$(1): $(call tf_objs,$(2)) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a) $(4) -lcunit
$(call tf_objs,$(2)): XCFLAGS += $(5)
UNIT_TESTS += $(BUILD)/tests/unit/$(1)
-include $(patsubst %.o,%.d,$(call tf_objs,$(2)))
endef

# $(call tf_bench,NAME,SRCS,LIBS,LDLIBS,XCFLAGS) -> $(BUILD)/bench/NAME
define tf_bench
$(BUILD)/bench/$(1): $(call tf_objs,$(2)) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a) $(4)
$(call tf_objs,$(2)): XCFLAGS += $(5)
BENCH_PROGS += $(BUILD)/bench/$(1)
-include $(patsubst %.o,%.d,$(call tf_objs,$(2)))
endef

# $(call tf_fuzz,NAME,SRCS,LIBSRCS,LDLIBS,XCFLAGS) -> $(BUILD)/fuzz/NAME
# LIBSRCS are the sources of the code under test, rebuilt with fuzz flags.
define tf_fuzz
$(BUILD)/fuzz/$(1): $(call tf_fobjs,$(2) $(3))
	@mkdir -p $$(dir $$@)
	$$(FUZZCC) -fsanitize=fuzzer,address,undefined -o $$@ $$^ $(4)
$(call tf_fobjs,$(2) $(3)): XCFLAGS += $(5)
FUZZ_TARGETS += $(BUILD)/fuzz/$(1)
-include $(patsubst %.o,%.d,$(call tf_fobjs,$(2) $(3)))
endef
