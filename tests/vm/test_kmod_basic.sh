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

# Firmware for `devlink dev flash`: the card's flash holds a confirmed 1.0.0;
# the guest gets a signed 2.0.0, a tampered copy and one signed by another key
# (the guest points its firmware loader at the run directory).
fw=$TF_BIN/tokfab-fw
[ -x "$fw" ] || tf_fail "$fw missing: run 'make' first"
(
	set -e
	cd "$TF_VM_OUT"
	"$fw" keygen vendor >/dev/null
	"$fw" keygen other >/dev/null
	head -c 30000 /dev/urandom >dp.bin
	head -c 5000 /dev/urandom >acc.bin
	mk() { # NAME VERSION KEY
		{ echo "version = $2"; echo "security_version = 1"; echo "board_id = 0x54460001"
		  echo "dataplane = dp.bin"; echo "accel = acc.bin"; "$fw" abi; } >"$1.manifest"
		"$fw" build --manifest "$1.manifest" --out "$1" --key "$3" >/dev/null
	}
	mk tokfab-1.0.0.img 1.0.0 vendor.key
	mk tokfab-2.0.0.img 2.0.0 vendor.key
	mk tokfab-foreign.img 2.0.0 other.key
	cp tokfab-2.0.0.img tokfab-tampered.img
	printf 'X' | dd of=tokfab-tampered.img bs=1 seek=20000 conv=notrunc status=none
	"$fw" init --flash card.flash --size 1M --pubkey vendor.pub --board 0x54460001 >/dev/null
	"$fw" flash --flash card.flash tokfab-1.0.0.img >/dev/null
	"$fw" boot --flash card.flash >/dev/null
	"$fw" confirm --flash card.flash >/dev/null
) >"$TF_LOGDIR/fw.log" 2>&1 || tf_fail "preparing firmware images: $(tail -n 5 "$TF_LOGDIR/fw.log")"
export TF_KMOD_CTL=$TF_VM_OUT/card.ctl TF_KMOD_SERIAL=TFVM$TF_ID
: >"$TF_KMOD_CTL"
sock=$TF_VM_OUT/ivshmem.sock
bar=/dev/shm/tf-kmod-$TF_ID
tf_on_exit "rm -f $bar"
tf_bg card "$card" --bar "$bar" --sock "$sock" --ctl "$TF_KMOD_CTL" --serial "$TF_KMOD_SERIAL" \
	--aq-depth 32 --eq-depth 1024 --hb-ms 100 --flash "$TF_VM_OUT/card.flash"
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
