#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Smoke test of the VM tier: the guest boots Debian's linux-image-amd64
# kernel, sees the host's root and the project tree, and can write back.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tests/vm/lib/vm.sh"
kver=$(tf_vm_kver) || tf_fail "no Debian kernel to boot"
TF_VM_ARGS=("$kver")
tf_vm_run "$TF_ROOT/tests/vm/guest/vm_boot.sh" 300
rc=$?
[ $rc -eq 0 ] || exit $rc
[ "$(cat "$TF_VM_OUT/uname")" = "$kver" ] || tf_fail "the guest wrote '$(cat "$TF_VM_OUT/uname")' back, expected $kver"
tf_pass "VM boots $kver"
