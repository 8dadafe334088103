#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# VM tier: the appliance end to end with an accelerator behind rdma (Soft-RoCE in a
# guest running Debian's kernel): client -> tokfab-dp (DPDK) -> rdma -> tokfab-accel
# and back. Same tokens as over shm, metered in the ledger, and a SIGKILL of the rdma
# accelerator under load with a shm accelerator taking over (every request answered).
# The checks are in tests/vm/guest/rdma_e2e.sh.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tests/vm/lib/vm.sh"
tf_require_root
for b in tokfab-dp tokfab-accel tokfab-client tokfab-bench tokfab-mkmodel tokfabd tokfabctl; do
	[ -x "$TF_BIN/$b" ] || tf_fail "$TF_BIN/$b is missing: run 'make'"
done
TF_VM_MEM=${TF_VM_MEM:-2048}
tf_vm_run "$TF_ROOT/tests/vm/guest/rdma_e2e.sh" 600
rc=$?
[ $rc -eq 0 ] || exit $rc
tf_pass "appliance end to end over rdma"
