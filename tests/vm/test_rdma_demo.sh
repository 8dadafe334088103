#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# VM tier: `make demo` on a machine with an RDMA device (Soft-RoCE in a guest running
# Debian's kernel): the demo's second accelerator is reached over rdma and the demo
# completes with its ledger check. Checks in tests/vm/guest/rdma_demo.sh.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tests/vm/lib/vm.sh"
tf_require_root
for b in tokfab-dp tokfab-accel tokfab-client tokfab-mkmodel tokfabd tokfabctl; do
	[ -x "$TF_BIN/$b" ] || tf_fail "$TF_BIN/$b is missing: run 'make'"
done
TF_VM_MEM=${TF_VM_MEM:-2048}
tf_vm_run "$TF_ROOT/tests/vm/guest/rdma_demo.sh" 500
rc=$?
[ $rc -eq 0 ] || exit $rc
tf_pass "make demo over rdma"
