# SPDX-License-Identifier: BSD-3-Clause
# libtfcommon: logging and small helpers shared by host programs and tools.
$(eval $(call tf_lib,tfcommon,$(wildcard lib/common/*.c)))
$(eval $(call tf_unit,common_log_ut,tests/unit/common/log_ut.c,tfcommon,,-Itests/unit/common))
