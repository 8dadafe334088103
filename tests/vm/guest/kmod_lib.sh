# SPDX-License-Identifier: BSD-3-Clause
# Helpers for the guest side of the tokfab.ko tests (sourced in the VM).
# TF_KMOD_CTL is the card's control file (tests/vm/kmod_card.c).
DEV=/dev/tokfab0
SYS=/sys/class/tokfab/tokfab0
CHK=$BUILD/tests/vm/kmod_check
KO=$TF_ROOT/kmod/tokfab.ko
KMOD_PARAMS=${KMOD_PARAMS:-"ivshmem=1 hb_timeout_ms=1500 admin_timeout_ms=3000 reset_timeout_ms=5000"}
CARD_CMDS=0

fail() { echo "FAIL: $*"; dmesg | tail -n 30; exit 1; }
step() { echo "--- $(date +%T) $*"; }

# card CMD: appends CMD to the control file and waits until the card ran it.
card() {
	local i
	echo "$*" >>"$TF_KMOD_CTL"
	CARD_CMDS=$((CARD_CMDS + 1))
	for ((i = 0; i < 300; i++)); do
		[ "$(cat "$TF_KMOD_CTL.done" 2>/dev/null || echo 0)" -ge "$CARD_CMDS" ] && return 0
		sleep 0.1
	done
	fail "the card did not run '$*' within 30 s"
}

# wait_for SECONDS CMD...
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}

state_is() { [ "$(cat "$SYS/state" 2>/dev/null)" = "$1" ]; }

# The ivshmem device's PCI address.
ivshmem_bdf() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] &&
			{ basename "$d"; return 0; }
	done
	return 1
}

# Where tokfab.ko's code was, for each load (the leak check of kmod_basic.sh),
# and when it was first loaded (objects older than that are not ours).
KMOD_RANGES=()
KMOD_T0=
record_range() {
	local base size r
	read -r base </sys/module/tokfab/sections/.text
	read -r size </sys/module/tokfab/coresize
	r=$(printf '%x-%x' "$base" "$((base + size))")
	[[ " ${KMOD_RANGES[*]} " == *" $r "* ]] || KMOD_RANGES+=("$r")
}
# The kernel's jiffies (the unit of slab allocation ages).
jiffies_now() { awk '/^jiffies:/ { print $2; exit }' /proc/timer_list; }

kmod_load() {
	step "insmod tokfab.ko $KMOD_PARAMS"
	[ -f "$KO" ] || fail "$KO not built"
	[ -n "$KMOD_T0" ] || KMOD_T0=$(jiffies_now)
	# shellcheck disable=SC2086
	insmod "$KO" $KMOD_PARAMS || fail "insmod failed"
	wait_for 20 test -c "$DEV" || fail "$DEV did not appear"
	wait_for 20 state_is running || fail "card state $(cat "$SYS/state"), expected running"
	record_range
	BDF=$(ivshmem_bdf) || fail "no ivshmem device in the guest"
}
