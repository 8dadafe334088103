# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/vm/test_dp_card.sh (runs in the VM as root): tokfab.ko
# driving the real tokfab-dp on the host. Every step checks what its name says
# and fails the test otherwise.
set -u
. "$TF_ROOT/tests/vm/guest/kmod_lib.sh"
. "$TF_ROOT/tests/lib/dp_card.sh"
O=$TF_VM_OUT
BIN=$BUILD/bin
TOOLS=$BUILD/tests/tools
# A host-local client: the queue is created as root, then the client drops to nobody.
hq() { "$TOOLS/dp_hq_client" --dev "$DEV" --user 65534 --model 7 --prompt 1,2,3 --max-new 8 "$@"; }
check_done() { # FILE N PRICE_PER_1K_MICRO
	local why
	why=$(dp_card_check_done "$1" "$2" 8 "$3" "$O/tiny.bin" "$O/tiny.tok" "$O" \
		"$TOOLS/dp_engine_ref") || fail "$why"
}
sql() { sqlite3 /tmp/ledger.db "$1"; }
# kmod_lib's fail, keeping tokfabd's log for the host (the guest's /tmp goes with it).
fail() {
	echo "FAIL: $*"
	cp /tmp/tokfabd.log "$O/tokfabd.log" 2>/dev/null
	dmesg | tail -n 30
	exit 1
}

kmod_load
dl=pci/$BDF

step "identity through the real card"
[ "$(cat "$SYS/serial")" = "$TF_DPC_SERIAL" ] || fail "serial $(cat "$SYS/serial"), the card's is $TF_DPC_SERIAL"
grep -q '^1.0.0 (1.0.0)$' "$SYS/fw_version" || fail "running firmware $(cat "$SYS/fw_version"), the flash's is 1.0.0"
grep -q msix "$SYS/interrupts" || fail "interrupts: $(cat "$SYS/interrupts"), expected msix"
devlink dev info "$dl" | tee "$O/info1.txt"
grep -q "serial_number $TF_DPC_SERIAL" "$O/info1.txt" || fail "devlink dev info: serial"
sed -n '/running:/,/stored:/p' "$O/info1.txt" | grep -Eq "^ +fw 1\.0\.0" || fail "devlink dev info: running fw"
sed -n '/stored:/,$p' "$O/info1.txt" | grep -Eq "^ +fw 1\.0\.0" || fail "devlink dev info: stored fw"

step "tokfabd (kmod:/dev/tokfab0) configures the card"
"$BIN/tokfabd" -c "$O/tokfabd.yaml" >/tmp/tokfabd.log 2>&1 &
TD=$!
wait_for 90 grep -q "card $TF_DPC_SERIAL configured" /tmp/tokfabd.log ||
	fail "tokfabd did not configure the card: $(tail -n 5 /tmp/tokfabd.log)"
touch "$O/tenants.ready" # the host side's network clients start now

step "a host queue used by an unprivileged process: real tokens from the engine"
hq --tenant 50 --requests 5 --inflight 2 >"$O/hq1.out" 2>"$O/hq1.err" || fail "host queue: $(cat "$O/hq1.err")"
cat "$O/hq1.out"
check_done "$O/hq1.out" 5 1000000

step "network clients on the host side (UDP into tokfab-dp)"
wait_for 300 test -e "$O/clients.done" || fail "the host-side clients did not finish"
cat "$O/clients.txt"

step "the ledger holds, per tenant, exactly what the clients received"
read -r hn hp hc hcost < <(dp_card_totals "$O/hq1.out")
want=$(($(awk '{ s += $2 } END { print s }' "$O/clients.txt") + hn))
ledger_ok() { [ "$(sql 'SELECT COUNT(*) FROM usage WHERE outcome = 0')" -ge "$want" ]; }
wait_for 60 ledger_ok || fail "the ledger has $(sql 'SELECT COUNT(*) FROM usage WHERE outcome = 0') of $want records"
while read -r t n p c; do
	[ "$t" = 50 ] && n=$((n + hn)) p=$((p + hp)) c=$((c + hc))
	got=$(sql "SELECT COUNT(*), SUM(prompt_tokens), SUM(completion_tokens) FROM usage WHERE tenant_id = $t AND outcome = 0")
	[ "$got" = "$n|$p|$c" ] || fail "tenant $t: ledger $got, clients $n|$p|$c (requests|prompt|completion)"
	echo "tenant $t: ledger = clients = $got"
done <"$O/clients.txt"
got=$(sql "SELECT COUNT(*), SUM(completion_tokens), SUM(cost_micro) FROM usage WHERE tenant_id = 50 AND request_id BETWEEN 1000 AND 1004")
[ "$got" = "$hn|$hc|$hcost" ] || fail "host-queue records (request_id = user_data): ledger $got, DONE $hn|$hc|$hcost"
[ "$(sql 'SELECT COUNT(*) - COUNT(DISTINCT card || epoch || seq) FROM usage')" = 0 ] || fail "duplicate events in the ledger"
[ "$(sql "SELECT COUNT(*) FROM usage WHERE outcome = 0")" = "$want" ] || fail "more records than requests"

step "devlink dev flash: the real card refuses a tampered image and stores a signed one"
echo -n "$TF_VM_SYSROOT$O" >/sys/module/firmware_class/parameters/path ||
	fail "cannot point the firmware loader at $O"
devlink dev flash "$dl" file tokfab-tampered.img >"$O/flash.out" 2>&1 && fail "a tampered image was flashed"
grep -q "malformed image or bad section hash" "$O/flash.out" || fail "tampered image: $(cat "$O/flash.out")"
devlink dev flash "$dl" file tokfab-2.0.0.img 2>&1 | tee "$O/flash.out"
[ "${PIPESTATUS[0]}" = 0 ] || fail "devlink dev flash of the signed 2.0.0 failed"
grep -q "Stored 2.0.0 in slot B" "$O/flash.out" || fail "devlink dev flash did not report slot B"
devlink dev info "$dl" | tee "$O/info2.txt"
sed -n '/stored:/,$p' "$O/info2.txt" | grep -Eq "^ +fw 2\.0\.0" || fail "devlink dev info: 2.0.0 is not stored (pending)"
sed -n '/running:/,/stored:/p' "$O/info2.txt" | grep -Eq "^ +fw 1\.0\.0" || fail "devlink dev info: running changed before a reload"

step "devlink dev reload action fw_activate: the card restarts into 2.0.0"
boot0=$(cat "$SYS/counters/boot_count")
irq0=$(cat "$SYS/counters/irqs")
devlink dev reload "$dl" action fw_activate 2>&1 | tee "$O/reload.out"
[ "${PIPESTATUS[0]}" = 0 ] || fail "devlink dev reload action fw_activate failed"
grep -q fw_activate "$O/reload.out" || fail "devlink did not report fw_activate performed"
state_is running || fail "after the reload: state $(cat "$SYS/state")"
[ "$(cat "$SYS/counters/boot_count")" -gt "$boot0" ] || fail "the card did not restart (boot_count $boot0)"
grep -q '^2.0.0 (2.0.0)$' "$SYS/fw_version" || fail "running firmware after the reload: $(cat "$SYS/fw_version")"
devlink dev info "$dl" | tee "$O/info3.txt"
sed -n '/running:/,/stored:/p' "$O/info3.txt" | grep -Eq "^ +fw 2\.0\.0" || fail "devlink dev info: running is not 2.0.0"
devlink health show "$dl" reporter heartbeat | grep -q "state healthy" ||
	fail "the planned restart was reported as a failure: $(devlink health show "$dl" reporter heartbeat)"
dmesg | grep -E "card $TF_DPC_SERIAL failed|heartbeat frozen|card restarted \(boot_count changed\)" &&
	fail "the driver took the planned restart for a failure"

step "the new firmware serves: tokfabd re-configures it, a host queue gets real tokens, MSI-X still fires"
wait_for 90 test "$(grep -c "card $TF_DPC_SERIAL configured" /tmp/tokfabd.log)" -ge 2 ||
	fail "tokfabd did not re-configure the restarted card: $(tail -n 5 /tmp/tokfabd.log)"
hq --tenant 51 --requests 3 --inflight 3 >"$O/hq2.out" 2>"$O/hq2.err" || fail "host queue after the reload: $(cat "$O/hq2.err")"
check_done "$O/hq2.out" 3 500000
grep -q msix "$SYS/interrupts" && [ "$(cat "$SYS/counters/irqs")" -gt "$irq0" ] ||
	fail "no interrupt after the reload (irqs $irq0 -> $(cat "$SYS/counters/irqs"))"

step "tokfabd stops, the module unloads"
kill -TERM "$TD"
wait "$TD" || fail "tokfabd exit status $? on SIGTERM"
rmmod tokfab || fail "rmmod"
echo "PASS: the real card in the VM: identity, ledger = clients, unprivileged host queue, devlink flash + reload fw_activate"
