# SPDX-License-Identifier: BSD-3-Clause
# tokfab top-level build.  `make help` lists the targets.

.DEFAULT_GOAL := all
SHELL := /bin/bash

include mk/common.mk
# Every part registers its libraries, programs, tests and fuzz targets here.
# Libraries first so programs can name them.
include $(sort $(wildcard lib/*/module.mk))
include $(sort $(filter-out lib/%,$(wildcard */module.mk */*/module.mk)))

.PHONY: all help deps test test-unit test-integration test-vm fuzz bench demo \
        kmod firmware format format-check clean

all: $(ALL_LIBS) $(ALL_PROGS) $(UNIT_TESTS) $(BENCH_PROGS)

help:
	@echo "make deps              install missing Debian packages (idempotent, needs root)"
	@echo "make                   build every userspace program (SAN=1: ASan+UBSan into build-san/)"
	@echo "make demo              install, build and run the appliance end to end"
	@echo "make test              install, build, run unit + integration + VM tests"
	@echo "make test-unit         CUnit tests"
	@echo "make test-integration  host tier: network namespaces, real processes (root)"
	@echo "make test-vm           VM tier: QEMU guest with Debian's kernel (root)"
	@echo "make fuzz              every libFuzzer target for FUZZ_SECONDS (default 30) each"
	@echo "make bench             benchmarks with their baselines side by side (reports only)"
	@echo "make kmod              build tokfab.ko against the installed kernel headers"
	@echo "make format-check      clang-format check of every C source"

deps:
	@bash tools/deps.sh

# `make test` is the one command CI runs: it installs what it needs first.
# Sub-makes re-read the makefiles once the packages (and pkg-config files) exist.
test:
	@bash tools/deps.sh
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-integration
	@$(MAKE) --no-print-directory test-vm

test-unit: $(UNIT_TESTS)
	@bash tests/run-unit.sh $(UNIT_TESTS)

test-integration: all
	@BUILD=$(BUILD) bash tests/run-tier.sh integration

test-vm: all
	@BUILD=$(BUILD) bash tests/run-tier.sh vm

FUZZ_SECONDS ?= 30
fuzz: $(FUZZ_TARGETS)
	@BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_TARGETS)

bench: all
	@BUILD=$(BUILD) bash tests/bench/run.sh

demo:
	@bash tools/deps.sh
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash tools/demo.sh

KDIR ?= /lib/modules/$(shell uname -r)/build
kmod:
	@if [ -f kmod/Kbuild ]; then $(MAKE) -C kmod KDIR=$(KDIR); \
	 else echo "kmod: the kernel module does not exist yet (see kmod/README.md)"; fi

C_SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^kmod/')
KMOD_SOURCES = $(shell git ls-files 'kmod/*.c' 'kmod/*.h' 2>/dev/null)
format:
	@clang-format -i $(C_SOURCES)
	@[ -z "$(KMOD_SOURCES)" ] || clang-format -i --style=file:kmod/.clang-format $(KMOD_SOURCES)

format-check:
	@clang-format --dry-run --Werror $(C_SOURCES) && echo "format-check: userspace OK"
	@[ -z "$(KMOD_SOURCES)" ] || { clang-format --dry-run --Werror --style=file:kmod/.clang-format $(KMOD_SOURCES) && echo "format-check: kmod OK"; }

clean:
	rm -rf build build-san
	@[ ! -f kmod/Kbuild ] || $(MAKE) -C kmod clean KDIR=$(KDIR)
