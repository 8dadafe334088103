# SPDX-License-Identifier: BSD-3-Clause
# tokfab-mkmodel: deterministic llama2.c model + tokenizer generator.
# libtfmkmodel is the generator itself; the engine's tests link it too.
$(eval $(call tf_lib,tfmkmodel,tools/mkmodel/gen.c tools/mkmodel/corpus.c,))
$(eval $(call tf_prog,tokfab-mkmodel,tools/mkmodel/main.c,tfmkmodel tfcommon,-lm,-Itools/mkmodel))
