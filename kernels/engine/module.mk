# SPDX-License-Identifier: BSD-3-Clause
# libtfengine: the inference engine (kernels/engine), its tests, fuzz targets
# and benchmark. SIMD variants get their instruction-set flags per file and
# run only where CPUID allows (kern.c).

ENGINE_SRCS := $(wildcard kernels/engine/*.c) kernels/engine/arch/generic/kern_generic.c \
	kernels/engine/arch/avx2/kern_avx2.c kernels/engine/arch/avx512/kern_avx512.c \
	kernels/engine/arch/avx512bf16/kern_avx512bf16.c kernels/engine/arch/amx/kern_amx.c
ENGINE_CFLAGS := -Ikernels/engine

$(eval $(call tf_lib,tfengine,$(ENGINE_SRCS),$(ENGINE_CFLAGS)))
$(call tf_objs,kernels/engine/arch/avx2/kern_avx2.c): XCFLAGS += -O3 -mavx2 -mfma
$(call tf_objs,kernels/engine/arch/avx512/kern_avx512.c): XCFLAGS += -O3 -mavx512f -mavx2 -mfma
ENGINE_BF16_FLAGS := -O3 -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mavx2 -mfma
$(call tf_objs,kernels/engine/arch/avx512bf16/kern_avx512bf16.c): XCFLAGS += $(ENGINE_BF16_FLAGS)
$(call tf_objs,kernels/engine/arch/amx/kern_amx.c): XCFLAGS += $(ENGINE_BF16_FLAGS) -mamx-tile -mamx-bf16
ENGINE_LDLIBS := -lm

# Unit tests (tests/unit/engine): kernels vs reference, parsers, forward pass
# vs the llama2.c-style reference, scheduler and API.
ENGINE_UT_CFLAGS := -Ikernels/engine -Itests/unit/common -Itests/unit/engine -Itools/mkmodel
$(eval $(call tf_unit,engine_kern_ut,tests/unit/engine/kern_ut.c,tfengine tfmkmodel,-lm,$(ENGINE_UT_CFLAGS)))
$(eval $(call tf_unit,engine_model_ut,tests/unit/engine/model_ut.c,tfengine tfmkmodel,-lm,$(ENGINE_UT_CFLAGS)))
$(eval $(call tf_unit,engine_tokenizer_ut,tests/unit/engine/tokenizer_ut.c,tfengine tfmkmodel,-lm,$(ENGINE_UT_CFLAGS)))
$(eval $(call tf_unit,engine_forward_ut,tests/unit/engine/forward_ut.c tests/unit/engine/ref_llama.c,tfengine tfmkmodel,-lm,$(ENGINE_UT_CFLAGS)))
$(eval $(call tf_unit,engine_api_ut,tests/unit/engine/engine_ut.c,tfengine tfmkmodel,-lm,$(ENGINE_UT_CFLAGS)))

# Fuzz targets for the two file parsers (seeds: tests/fuzz/corpus/engine_*).
$(eval $(call tf_fuzz,engine_ckpt,tests/fuzz/engine_ckpt_fuzz.c,kernels/engine/model.c kernels/engine/errmsg.c,-lm,-Ikernels/engine))
$(eval $(call tf_fuzz,engine_tokenizer,tests/fuzz/engine_tokenizer_fuzz.c,kernels/engine/tokenizer.c kernels/engine/errmsg.c,,-Ikernels/engine))

# Benchmark program behind tests/bench/bench_engine.sh.
$(eval $(call tf_bench,bench_engine,tests/bench/bench_engine.c tests/unit/engine/ref_llama.c,tfengine,-lm,-Ikernels/engine -Itests/unit/engine))
