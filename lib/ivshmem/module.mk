# SPDX-License-Identifier: BSD-3-Clause
# libtfivshmem: the card side of QEMU's ivshmem-doorbell device (an ivshmem
# server), used by card processes to serve their BAR to a VM guest.
$(eval $(call tf_lib,tfivshmem,$(wildcard lib/ivshmem/*.c)))
$(eval $(call tf_unit,ivshmem_server_ut,tests/unit/ivshmem/server_ut.c,tfivshmem tfcommon,,-Itests/unit/common))
