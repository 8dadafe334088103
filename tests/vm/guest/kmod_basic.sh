# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/vm/test_kmod_basic.sh (runs in the VM as root). Every
# step checks what its name says and fails the test otherwise.
set -u
. "$TF_ROOT/tests/vm/guest/kmod_lib.sh"
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
EVENTS=${TF_KMOD_EVENTS:-100000}
CYCLES=${TF_KMOD_CYCLES:-100}

echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource); $(dmesg | grep -iE 'tsc.*(MHz|calibrat)' | tail -n 2)"
kmod_load
grep -q msix "$SYS/interrupts" || fail "interrupts: $(cat "$SYS/interrupts"), expected msix"

step "identity"
$CHK identity "$DEV" "$TF_KMOD_SERIAL" || fail "identity"
[ "$(cat "$SYS/serial")" = "$TF_KMOD_SERIAL" ] || fail "sysfs serial $(cat "$SYS/serial")"
[ "$(cat "$SYS/abi_version")" = 1.2 ] || fail "sysfs abi_version $(cat "$SYS/abi_version")"
grep -q '^1.0.0 (1.0.0)$' "$SYS/fw_version" || fail "sysfs fw_version $(cat "$SYS/fw_version")"
[ "$(cat "$SYS/queues")" = "admin 32 event 1024" ] || fail "sysfs queues $(cat "$SYS/queues")"

step "admin round trips (4 threads, lib/card kmod access path)"
$CHK admin "$DEV" || fail "admin"

step "$EVENTS usage records through a 1024-entry event queue"
card events "$EVENTS"
$CHK events "$DEV" "$EVENTS" 256 || fail "events"
[ "$(cat "$SYS/counters/eq_ack_seq")" = "$(cat "$SYS/counters/eq_prod_seq")" ] ||
	fail "not everything acknowledged: ack $(cat "$SYS/counters/eq_ack_seq") prod $(cat "$SYS/counters/eq_prod_seq")"
irqs=$(cat "$SYS/counters/irqs")
[ "$irqs" -gt 0 ] || fail "no interrupt taken: MSI-X not working"
echo "interrupts taken: $irqs"

step "poll() wakes a reader blocked before the event exists"
( $CHK health "$DEV" >"$TF_VM_OUT/health.out" 2>&1; echo $? >"$TF_VM_OUT/health.rc" ) &
sleep 1
[ -e "$TF_VM_OUT/health.rc" ] && fail "the reader returned before any event: $(cat "$TF_VM_OUT/health.out")"
card health
wait_for 30 test -e "$TF_VM_OUT/health.rc" || fail "poll() never woke the reader"
[ "$(cat "$TF_VM_OUT/health.rc")" = 0 ] || fail "health reader: $(cat "$TF_VM_OUT/health.out")"
cat "$TF_VM_OUT/health.out"

step "host queue: mmap'd rings handed to an unprivileged client, 200 requests"
$CHK hostq "$DEV" 200 || fail "hostq"
grep -q . "$SYS/counters/irqs" || fail "irqs"

step "malformed ioctl arguments"
card health
$CHK badargs "$DEV" || fail "badargs"

step "permissions: unprivileged user"
card events 5
card health
$NOBODY $CHK unpriv "$DEV" || fail "unpriv"
step "permissions: the device node's group may administer"
chgrp 65534 "$DEV" || fail "chgrp"
$NOBODY $CHK admin "$DEV" || fail "admin as a member of the node's group"
chgrp 0 "$DEV"
$CHK events "$DEV" 5 1 || fail "draining the records the unprivileged reader could not see"

step "devlink dev info / health show / diagnose / dump"
dl=pci/$BDF
devlink dev info "$dl" | tee "$TF_VM_OUT/devlink-info.txt"
grep -q "driver tokfab" "$TF_VM_OUT/devlink-info.txt" || fail "devlink dev info: no driver"
grep -q "serial_number $TF_KMOD_SERIAL" "$TF_VM_OUT/devlink-info.txt" || fail "devlink dev info: no serial"
grep -Eq "^ +fw 1\.0\.0" "$TF_VM_OUT/devlink-info.txt" || fail "devlink dev info: no running fw version"
devlink health show | tee "$TF_VM_OUT/devlink-health.txt"
for r in heartbeat admin events; do
	grep -A1 "reporter $r" "$TF_VM_OUT/devlink-health.txt" | grep -q "state healthy" ||
		fail "devlink health: reporter $r missing or not healthy"
done
devlink health diagnose "$dl" reporter heartbeat | tee "$TF_VM_OUT/diag.txt"
grep -q "state: running" "$TF_VM_OUT/diag.txt" || fail "diagnose: no state"
reporter_is() { devlink health show "$dl" reporter "$1" | grep -q "state $2"; }
sed -n '/stored:/,$p' "$TF_VM_OUT/devlink-info.txt" | grep -Eq "^ +fw 1\.0\.0" ||
	fail "devlink dev info: the stored firmware (1.0.0 in the card's flash) is not shown"

step "devlink dev flash: refused images change nothing, a signed one is stored"
echo -n "$TF_VM_SYSROOT$TF_VM_OUT" >/sys/module/firmware_class/parameters/path ||
	fail "cannot point the firmware loader at $TF_VM_OUT"
flash_expect_fail() { # IMAGE MESSAGE
	devlink dev flash "$dl" file "$1" >"$TF_VM_OUT/flash.out" 2>&1 &&
		fail "devlink dev flash $1 succeeded"
	grep -q "$2" "$TF_VM_OUT/flash.out" || fail "devlink dev flash $1: $(cat "$TF_VM_OUT/flash.out"), expected '$2'"
	cat "$TF_VM_OUT/flash.out"
}
flash_expect_fail tokfab-tampered.img "malformed image or bad section hash"
flash_expect_fail tokfab-foreign.img "not signed with the card's key"
flash_expect_fail no-such.img "."
devlink dev flash "$dl" file tokfab-2.0.0.img 2>&1 | tee "$TF_VM_OUT/flash.out"
[ "${PIPESTATUS[0]}" = 0 ] || fail "devlink dev flash of a signed image failed"
grep -q "Stored 2.0.0 in slot B" "$TF_VM_OUT/flash.out" || fail "devlink dev flash did not report the slot"
devlink dev info "$dl" | tee "$TF_VM_OUT/devlink-info2.txt"
sed -n '/stored:/,$p' "$TF_VM_OUT/devlink-info2.txt" | grep -Eq "^ +fw 2\.0\.0" ||
	fail "devlink dev info: stored firmware is not 2.0.0 after the flash"
sed -n '/running:/,/stored:/p' "$TF_VM_OUT/devlink-info2.txt" | grep -Eq "^ +fw 1\.0\.0" ||
	fail "devlink dev info: running firmware changed without a reboot"

step "event-queue overflow: nobody acknowledges while the card has 3000 events to post"
card events 3000
wait_for 30 reporter_is events error || fail "events reporter still healthy: $(devlink health show "$dl" reporter events)"
devlink health diagnose "$dl" reporter events | tee "$TF_VM_OUT/diag-events.txt"
grep -q "full_count" "$TF_VM_OUT/diag-events.txt" || fail "events diagnose"
$CHK events "$DEV" 3000 || fail "draining after the overflow"
devlink health recover "$dl" reporter events || fail "devlink health recover events"
reporter_is events healthy || fail "events reporter not healthy after recover"

step "card hang -> failed (heartbeat) -> sysfs reset while hung fails -> resume -> reset -> running"
card hang
wait_for 15 state_is failed || fail "hung card still $(cat "$SYS/state") after 15 s"
[ "$(cat "$SYS/fail_reason")" = heartbeat ] || fail "fail_reason $(cat "$SYS/fail_reason")"
$CHK admin-fails "$DEV" 2000 EIO || fail "admin on a failed card"
reporter_is heartbeat error || fail "devlink health heartbeat not in error: $(devlink health show "$dl" reporter heartbeat)"
devlink health dump show "$dl" reporter heartbeat >"$TF_VM_OUT/dump.txt" ||
	fail "devlink health dump show"
grep -q registers "$TF_VM_OUT/dump.txt" || fail "dump has no register snapshot"
echo 1 >"$SYS/reset" 2>/dev/null && fail "reset of a hung card reported success"
state_is failed || fail "after a failed reset: $(cat "$SYS/state")"
card resume
echo 1 >"$SYS/reset" || fail "sysfs reset of a card that is back"
state_is running || fail "after reset: $(cat "$SYS/state")"
$CHK identity "$DEV" "$TF_KMOD_SERIAL" || fail "identity after recovery"
reporter_is heartbeat healthy || fail "heartbeat reporter still in error after the reset"

step "card hang -> admin command times out (ETIMEDOUT) -> failed -> devlink health recover"
card hang
$CHK admin-fails "$DEV" 500 ETIMEDOUT || fail "admin on a hung card"
state_is failed || fail "after an admin timeout: $(cat "$SYS/state")"
[ "$(cat "$SYS/fail_reason")" = admin_timeout ] || fail "fail_reason $(cat "$SYS/fail_reason")"
wait_for 10 reporter_is admin error || fail "admin reporter: $(devlink health show "$dl" reporter admin)"
devlink health recover "$dl" reporter admin && fail "devlink health recover of a hung card succeeded"
card resume
devlink health recover "$dl" reporter admin || fail "devlink health recover"
state_is running || fail "after devlink health recover: $(cat "$SYS/state")"
reporter_is admin healthy || fail "admin reporter not healthy after recover"
$CHK admin "$DEV" || fail "admin after recovery"
echo "resets: $(cat "$SYS/counters/resets"), admin timeouts: $(cat "$SYS/counters/admin_timeouts")"

step "unload with an open fd is refused; removal of the device with open fds is handled"
exec 3<"$DEV"
rmmod tokfab 2>/dev/null && fail "rmmod succeeded with an open fd"
exec 3<&-
$CHK gone "$DEV" >"$TF_VM_OUT/gone.out" 2>&1 &
gone=$!
wait_for 10 grep -q holding "$TF_VM_OUT/gone.out" || fail "kmod_check gone did not start"
$CHK gone-read "$DEV" >"$TF_VM_OUT/gone-read.out" 2>&1 &
goneread=$!
wait_for 10 grep -q blocking "$TF_VM_OUT/gone-read.out" || fail "kmod_check gone-read did not start"
sleep 0.5
echo "$BDF" >/sys/bus/pci/drivers/tokfab/unbind || fail "unbind"
wait $gone || fail "open fd across removal: $(cat "$TF_VM_OUT/gone.out")"
wait $goneread || fail "blocked read() across removal: $(cat "$TF_VM_OUT/gone-read.out")"
cat "$TF_VM_OUT/gone.out" "$TF_VM_OUT/gone-read.out"
echo "$BDF" >/sys/bus/pci/drivers/tokfab/bind || fail "bind"
wait_for 20 state_is running || fail "after rebind: $(cat "$SYS/state" 2>&1)"

step "$CYCLES unbind/bind cycles: every card object is released (the minor comes back)"
# struct tf_dev holds /dev/tokfabN's minor until its last reference goes: if a
# reference leaked, the next probe would get tokfab1.
for ((i = 1; i <= CYCLES; i++)); do
	echo "$BDF" >/sys/bus/pci/drivers/tokfab/unbind || fail "unbind in cycle $i"
	echo "$BDF" >/sys/bus/pci/drivers/tokfab/bind || fail "bind in cycle $i"
	wait_for 20 state_is running || fail "bind cycle $i: $(ls /sys/class/tokfab) $(cat "$SYS/state" 2>&1)"
done
[ "$(ls /sys/class/tokfab)" = tokfab0 ] || fail "class devices after $CYCLES cycles: $(ls /sys/class/tokfab)"
[ "$(devlink dev | grep -c .)" = 1 ] || fail "devlink instances: $(devlink dev)"
rmmod tokfab || fail "rmmod"

step "$CYCLES load/unload cycles"
# Debian's kernel has no kmemleak. The test boots it with slub_debug=U for the
# kmalloc caches, so every live object keeps the stack that allocated it
# (/sys/kernel/debug/slab/*/alloc_traces). After the last unload, an object
# whose allocation stack passes through where tokfab.ko's code was is a leak:
# our own allocations and those the kernel made on our behalf (devlink,
# device, cdev, IRQs, sysfs) alike. Exact, unlike the slab totals, which move
# by whole slab pages.
traces=/sys/kernel/debug/slab/kmalloc-64/alloc_traces
[ -r "$traces" ] || fail "no $traces: the VM needs slub_debug=U (tests/vm/test_kmod_basic.sh sets it)"
kmalloc_sum() { awk '/^kmalloc-/ { s += $2 } END { print s }' /proc/slabinfo; }
vmalloc_kb() { awk '/^VmallocUsed/ { print $2 }' /proc/meminfo; }
cp "$KO" /tmp/tokfab.ko # from tmpfs: fewer 9p allocations in the counts
cycle() {
	local st=
	# shellcheck disable=SC2086
	insmod /tmp/tokfab.ko $KMOD_PARAMS || fail "insmod in cycle $1"
	read -r st <"$SYS/state" # probe ran within insmod
	[ "$st" = running ] || fail "cycle $1: state $st"
	record_range
	rmmod tokfab || fail "rmmod in cycle $1"
}
cycle warm-up
slab0=$(kmalloc_sum) vm0=$(vmalloc_kb)
for ((i = 1; i <= CYCLES; i++)); do cycle "$i"; done
# Cached sysfs dentries/inodes pin the kernfs nodes (and names) of removed
# devices until reclaimed; RCU frees late.
sync; echo 3 >/proc/sys/vm/drop_caches; sleep 2
slab1=$(kmalloc_sum) vm1=$(vmalloc_kb)
echo "kmalloc objects in use: $slab0 -> $slab1 (slab-page granular, not judged); VmallocUsed $vm0 -> $vm1 kB"
$CHK leaks $(($(jiffies_now) - KMOD_T0)) "${KMOD_RANGES[@]}" ||
	fail "objects allocated by tokfab.ko outlived $CYCLES load/unload cycles"
[ $((vm1 - vm0)) -lt 512 ] || fail "VmallocUsed grew by $((vm1 - vm0)) kB over $CYCLES cycles: a leak"
lsmod | grep -q '^tokfab ' && fail "tokfab still loaded"
[ -e "$DEV" ] && fail "$DEV still exists after rmmod"

step "a card of another ABI major is refused with a clear message"
card abi 2
dmesg -C
# shellcheck disable=SC2086
insmod "$KO" $KMOD_PARAMS || fail "insmod"
sleep 1
[ -e "$DEV" ] && fail "$DEV exists for an ABI 2 card"
dmesg | grep "card ABI 2\.[0-9]* is not supported" || fail "no clear dmesg line: $(dmesg | tail -n 5)"
rmmod tokfab || fail "rmmod"
card abi 1

step "polling instead of MSI-X (poll_only=1): admin, events, host queue"
# shellcheck disable=SC2086
insmod "$KO" $KMOD_PARAMS poll_only=1 || fail "insmod poll_only=1"
wait_for 20 state_is running || fail "polling: state $(cat "$SYS/state")"
[ "$(cat "$SYS/interrupts")" = polling ] || fail "interrupts: $(cat "$SYS/interrupts")"
irq0=$(cat "$SYS/counters/irqs")
$CHK admin "$DEV" || fail "admin while polling"
card events 5000
$CHK events "$DEV" 5000 256 || fail "events while polling"
$CHK hostq "$DEV" 20 || fail "host queue while polling"
[ "$(cat "$SYS/counters/irqs")" = "$irq0" ] || fail "interrupts taken while polling"
rmmod tokfab || fail "rmmod"

echo "PASS: tokfab.ko probe, identity, admin, events, poll, host queues, bad arguments, permissions, devlink, hang/recovery, removal, $CYCLES bind and load cycles without leaks, ABI refusal, polling mode"
