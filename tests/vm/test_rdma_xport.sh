#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# VM tier: libtfxport's rdma backend over Soft-RoCE (rdma_rxe) in a guest
# running Debian's kernel: wrap/credits with tiny rings, the real
# tokfab-accel over rdma, SIGKILL of an accelerator mid-batch with a second
# taking over (no request lost), and ib_write_bw as the reference.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tests/vm/lib/vm.sh"
for b in tokfab-accel tokfab-xport-drive tokfab-mkmodel; do
	[ -x "$TF_BIN/$b" ] || tf_fail "$TF_BIN/$b is missing: run 'make'"
done
command -v ib_write_bw >/dev/null || tf_fail "ib_write_bw missing: run 'make deps' (perftest)"
TF_VM_ARGS=(test)
tf_vm_run "$TF_ROOT/tests/vm/guest/rdma_xport.sh" 900
rc=$?
[ $rc -eq 0 ] || exit $rc
tf_pass "rdma transport over Soft-RoCE"
