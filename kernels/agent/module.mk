# SPDX-License-Identifier: BSD-3-Clause
# tokfab-accel: the accelerator agent (libtfxport + libtfengine).
$(eval $(call tf_prog,tokfab-accel,$(wildcard kernels/agent/*.c),tfxport tfengine tfcommon,$(TFXPORT_LDLIBS) -lm,-I.))
