#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs inside the VM guest (in the chroot onto the host's root): sets up the
# environment the host harness recorded in OUT/env.sh, runs the guest script
# and prints exactly one result marker that vm.sh looks for:
#   TF_VM_RESULT: PASS | TF_VM_RESULT: SKIPPED <why> | TF_VM_RESULT: FAIL <why>
out=$1
. "$out/env.sh" || { echo "TF_VM_RESULT: FAIL cannot read $out/env.sh"; exit 1; }
export HOME=/tmp
hostname tokfab-vm 2>/dev/null
ip link set lo up 2>/dev/null
cd "$TF_ROOT" || { echo "TF_VM_RESULT: FAIL no $TF_ROOT in the guest"; exit 1; }
echo "tf-vm: guest up ($(uname -r), $(nproc) cpu), running $TF_VM_SCRIPT"
set -o pipefail
bash "$TF_VM_SCRIPT" "${TF_VM_ARGS[@]}" 2>&1 | tee /tmp/tf-vm-guest.log
rc=$?
case $rc in
0)  echo "TF_VM_RESULT: PASS" ;;
77) why=$(grep '^SKIPPED' /tmp/tf-vm-guest.log | tail -n 1)
    echo "TF_VM_RESULT: SKIPPED ${why#SKIPPED: }" ;;
*)  echo "tf-vm: guest script exited with $rc; last kernel messages:"
    dmesg | tail -n 40
    echo "TF_VM_RESULT: FAIL guest script exited with $rc" ;;
esac
exit 0
