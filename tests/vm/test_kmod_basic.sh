#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfab.ko in a VM against a card process across the ivshmem boundary:
# probe, identity, admin round trips, 100 000 events, poll, bad arguments,
# permissions, devlink, hang -> failed -> reset, removal with open fds,
# 100 load/unload cycles, ABI refusal. One boot for all of it
# (tests/vm/guest/kmod_basic.sh has the checks).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tests/vm/lib/vm.sh"

card=$BUILD/tests/vm/kmod_card
[ -x "$card" ] && [ -x "$BUILD/tests/vm/kmod_check" ] ||
	tf_fail "$card or kmod_check missing: run 'make' first"
make -s -C "$TF_ROOT/kmod" >"$TF_LOGDIR/kmod-build.log" 2>&1 ||
	tf_fail "make kmod failed: $(tail -n 5 "$TF_LOGDIR/kmod-build.log")"

tf_vm_mkrun kmod_basic || tf_fail "cannot create the VM run directory"
export TF_KMOD_CTL=$TF_VM_OUT/card.ctl TF_KMOD_SERIAL=TFVM$TF_ID
: >"$TF_KMOD_CTL"
sock=$TF_VM_OUT/ivshmem.sock
bar=/dev/shm/tf-kmod-$TF_ID
tf_on_exit "rm -f $bar"
tf_bg card "$card" --bar "$bar" --sock "$sock" --ctl "$TF_KMOD_CTL" --serial "$TF_KMOD_SERIAL" \
	--aq-depth 32 --eq-depth 1024 --hb-ms 100
tf_wait_for 10 test -S "$sock" || tf_fail "the card did not start: $(cat "$TF_LOGDIR/card.log")"

# slub_debug=U: the allocation stacks the leak check reads (guest/kmod_basic.sh).
TF_VM_APPEND="slub_debug=U,kmalloc-*" tf_vm_run "${TF_KMOD_GUEST:-$TF_ROOT/tests/vm/guest/kmod_basic.sh}" "${TF_KMOD_TIMEOUT:-1500}" \
	-chardev "socket,path=$sock,id=ivs" -device "ivshmem-doorbell,chardev=ivs,vectors=3"
rc=$?
echo "--- card log (last lines)"
tail -n 20 "$TF_LOGDIR/card.log"
kill -0 "$TF_PID" 2>/dev/null || { [ $rc -ne 0 ] || tf_fail "the card process died during the test"; }
[ $rc -eq 0 ] || exit $rc
tf_pass "tokfab.ko over ivshmem"
