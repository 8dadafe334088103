# SPDX-License-Identifier: BSD-3-Clause
# CUDA versions of the engine kernels (libtfcuda). Built with nvcc where it
# exists (PATH, or /usr/local/cuda); where it does not (CI), libtfcuda is
# cuda_none.c and the comparison test reports SKIPPED with the reason.
NVCC ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCC_ARCH ?= -gencode arch=compute_75,code=sm_75 -gencode arch=compute_80,code=sm_80 \
	     -gencode arch=compute_90,code=[sm_90,compute_90]

ifneq ($(NVCC),)
$(BUILD)/obj/kernels/cuda/cuda_kern.o: kernels/cuda/cuda_kern.cu kernels/cuda/cuda_kern.h
	@mkdir -p $(dir $@)
	$(NVCC) -O2 -std=c++17 $(NVCC_ARCH) -Xcompiler -Wall,-Wextra,-Werror -Ikernels/cuda -c $< -o $@
$(BUILD)/lib/libtfcuda.a: $(BUILD)/obj/kernels/cuda/cuda_kern.o
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
ALL_LIBS += $(BUILD)/lib/libtfcuda.a
CUDA_LDLIBS := -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
else
$(eval $(call tf_lib,tfcuda,kernels/cuda/cuda_none.c,-Ikernels/cuda))
CUDA_LDLIBS :=
endif

# CUDA kernels vs the CPU reference kernels; exits 77 (SKIPPED) without a GPU.
$(eval $(call tf_unit,engine_cuda_ut,tests/unit/engine/cuda_ut.c,tfcuda tfengine,$(CUDA_LDLIBS) -lm,-Ikernels/cuda -Ikernels/engine -Itests/unit/common -Itests/unit/engine -Itools/mkmodel))
