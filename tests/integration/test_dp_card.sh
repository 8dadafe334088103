#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfab-dp's host-facing side on the host tier (no VM; tests/vm/test_dp_card.sh
# does the same through tokfab.ko in a guest):
#  - host queues served by the real pipeline: a client playing the host
#    driver's part on the BAR file submits requests; every token equals what
#    the engine alone generates; usage (prompt, completion, cost) in DONE with
#    its event sequence number; a network client of the same tenant at the
#    same time; refusals (unknown model, quota, a tenant the card does not
#    know) as ERROR completions;
#  - the card's firmware on its flash: tokfab-dp runs boot selection itself;
#    an update whose dataplane differs from the running program is really
#    started from the image (exec from memory), confirms itself after its
#    self-test; a broken image spends its trial boots and the card falls back.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_root
tf_require_cmd ip ethtool python3 dpdk-telemetry.py
for b in tokfab-dp tokfab-accel tokfab-client tokfab-mkmodel tokfab-fw; do
	[ -x "$TF_BIN/$b" ] || tf_fail "missing $TF_BIN/$b: run 'make' first"
done
TOOLS=$BUILD/tests/tools
for b in dp_hq_client dp_engine_ref; do
	[ -x "$TOOLS/$b" ] || tf_fail "missing $TOOLS/$b: run 'make' first"
done

W=$TF_LOGDIR
NS=tfdc$TF_ID
HIF=tdc${TF_ID}a
NIF=tdc${TF_ID}b
NET=10.$(((0x$TF_ID >> 8) % 200 + 20)).$((0x$TF_ID & 0xff))
CARD=$NET.1
PREFIX=tfdc$TF_ID
BAR=/dev/shm/tfdc-bar-$TF_ID
FLASH=$W/card.flash
export TOKFAB_SHM_DIR=$W
tf_on_exit "rm -f $BAR $BAR.pending.jsonl"
tf_on_exit "rm -rf /var/run/dpdk/$PREFIX"

tf_netns_veth "$NS" "$HIF" "$NIF" - "$NET.2/24"
ip netns exec "$NS" ethtool -K "$NIF" tx off >/dev/null

"$TF_BIN/tokfab-mkmodel" --preset tiny --seq-len 2048 -o "$W/tiny.bin" -t "$W/tiny.tok" >/dev/null
for t in 5 6; do
	python3 -c "import os;print(os.urandom(32).hex())" >"$W/t$t.key"
	chmod 600 "$W/t$t.key"
done
cat >"$W/dp.yaml" <<EOF
card:
  ipv4: $CARD
  udp_port: 7480
  idle_sleep_us: 50
  stats_interval_s: 0
batching:
  max_batch: 8
  max_queue_delay_us: 200
models:
  - id: 7
    name: tiny
    max_new_tokens: 64
accelerators:
  - id: 1
    address: $PREFIX-a1
    models: [7]
tenants:
  - id: 5
    key_file: t5.key
    unlimited: true
    prices: [{ model: 7, per_1k_micro: 3000 }]
  - id: 6
    key_file: t6.key
    budget_micro: 1000
    prices: [{ model: 7, per_1k_micro: 10000 }]
EOF

# The card as shipped: a provisioned flash holding a confirmed 1.0.0 whose
# dataplane is this build's tokfab-dp.
fw() { "$TF_BIN/tokfab-fw" "$@"; }
mkimg() { # NAME VERSION DATAPLANE
	{ echo "version = $2"; echo "security_version = 1"; echo "board_id = 0x54460001"
	  echo "dataplane = $3"; echo "accel = $TF_BIN/tokfab-accel"; fw abi; } >"$W/$1.manifest"
	fw build --manifest "$W/$1.manifest" --out "$W/$1" --key "$W/vendor.key" >/dev/null
}
(
	set -e
	fw keygen "$W/vendor" >/dev/null
	fw init --flash "$FLASH" --size 32M --pubkey "$W/vendor.pub" --board 0x54460001 >/dev/null
	mkimg v1.img 1.0.0 "$TF_BIN/tokfab-dp"
	fw flash --flash "$FLASH" "$W/v1.img" >/dev/null
	fw boot --flash "$FLASH" >/dev/null
	fw confirm --flash "$FLASH" >/dev/null
) >"$W/fw-setup.log" 2>&1 || tf_fail "preparing the card's flash: $(tail -n 5 "$W/fw-setup.log")"
fwst() { fw status --flash "$FLASH" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

tf_bg accel1 "$TF_BIN/tokfab-accel" --listen "shm:$PREFIX-a1" --model "$W/tiny.bin" \
	--tokenizer "$W/tiny.tok" --model-id 7 --threads 1 --name a1
sleep 0.5
RUN=0
start_dp() {
	RUN=$((RUN + 1))
	tf_bg "dp$RUN" "$TF_BIN/tokfab-dp" -l 0 --no-huge -m 512 --no-pci --file-prefix "$PREFIX" \
		--vdev="net_af_packet0,iface=$HIF" -- --config "$W/dp.yaml" --bar "$BAR" \
		--host-queues 2 --flash "$FLASH"
	DP=$TF_PID
	DPLOG=$W/dp$RUN.log
}
stop_dp() {
	local rc=0
	kill -TERM "$DP"
	wait "$DP" || rc=$?
	tf_expect_eq "$rc" 0 "tokfab-dp exit status on SIGTERM (log $DPLOG)"
}
ping_card() { ip netns exec "$NS" ping -c 1 -W 1 "$CARD"; }
cli() { ip netns exec "$NS" "$TF_BIN/tokfab-client" -s "$CARD" "$@"; }
hq() { "$TOOLS/dp_hq_client" --bar "$BAR" --model 7 --prompt 1,2,3 "$@"; }

. "$TF_ROOT/tests/lib/dp_card.sh"
# check_done FILE N MAX_NEW PRICE: N DONE lines whose tokens are the engine's own.
check_done() {
	local why
	why=$(dp_card_check_done "$1" "$2" "$3" "$4" "$W/tiny.bin" "$W/tiny.tok" "$W" \
		"$TOOLS/dp_engine_ref") || tf_fail "$why"
}

tf_log "the shipped image boots (slot a, normal) and serves"
start_dp
tf_wait_for 20 ping_card || tf_fail "the card does not answer ping (log: $DPLOG)"
grep -q "boot: slot a (normal)" "$DPLOG" || tf_fail "no normal boot of slot a: $(grep boot: "$DPLOG")"
[ "$(readlink "/proc/$DP/exe")" = "$(readlink -f "$TF_BIN/tokfab-dp")" ] ||
	tf_fail "the shipped image's dataplane is this program: no exec expected, got $(readlink "/proc/$DP/exe")"

tf_log "host queues: 20 requests of tenant 5 through the pipeline, a network client beside them"
NETP=()
for i in 1 2 3 4 5 6; do
	cli -t 5 -k "$W/t5.key" -m 7 -n 10 --tokens "1,2,$i" --json >"$W/net$i.json" 2>"$W/net$i.err" &
	NETP+=($!)
done
hq --tenant 5 --max-new 12 --requests 20 --inflight 4 >"$W/hq1.out" 2>"$W/hq1.err" ||
	tf_fail "host-queue client: $(tail -n 3 "$W/hq1.err")"
for p in "${NETP[@]}"; do
	wait "$p" || tf_fail "a network request of tenant 5 failed beside the host queue"
done
check_done "$W/hq1.out" 20 12 3000
for i in 1 2 3 4 5 6; do grep -q '"event":"final"' "$W/net$i.json" || tf_fail "network request $i: no FINAL"; done
echo "/tokfab/hostq" | dpdk-telemetry.py -f "$PREFIX" >"$W/tel.hostq" 2>&1 ||
	tf_fail "dpdk-telemetry.py failed: $(cat "$W/tel.hostq")"
python3 - "$W/tel.hostq" <<'EOF' || tf_fail "telemetry /tokfab/hostq: $(cat "$W/tel.hostq")"
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index('{"/tokfab'):])["/tokfab/hostq"]
assert d["taken"] == 20 and d["done"] == 20 and d["tokens"] == 240 and d["in_flight"] == 0, d
EOF

tf_log "host queues: refusals come back as ERROR completions"
hq --tenant 5 --model 99 --requests 1 >"$W/hq2.out" 2>"$W/hq2.err" || tf_fail "$(cat "$W/hq2.err")"
grep -q ' error=2 ' "$W/hq2.out" || tf_fail "unknown model: $(cat "$W/hq2.out"), expected error=2 (MODEL)"
hq --tenant 9 --requests 1 >"$W/hq3.out" 2>"$W/hq3.err" || tf_fail "$(cat "$W/hq3.err")"
grep -q ' error=6 ' "$W/hq3.out" || tf_fail "unknown tenant: $(cat "$W/hq3.out"), expected error=6 (TENANT)"
# Tenant 6: 1000 micro at 10000 per 1k tokens; each request reserves (4 + 12) x 10 = 160.
hq --tenant 6 --max-new 12 --requests 10 --inflight 1 >"$W/hq4.out" 2>"$W/hq4.err" ||
	tf_fail "$(cat "$W/hq4.err")"
ndone=$(grep -c ' done ' "$W/hq4.out")
spent=$(grep -o ' cost=[0-9]*' "$W/hq4.out" | awk -F= '{s += $2} END {print s + 0}')
[ "$ndone" -ge 1 ] && grep -q ' error=3 ' "$W/hq4.out" ||
	tf_fail "tenant 6: expected some DONE then QUOTA (error=3): $(cat "$W/hq4.out")"
[ "$spent" -le 1000 ] && [ $((1000 - spent)) -lt 160 ] ||
	tf_fail "tenant 6 spent $spent of 1000 and was refused (a request reserves 160)"
check_done "$W/hq4.out" "$ndone" 12 10000
stop_dp

tf_log "an update with another dataplane: started from the image, on trial, confirmed"
cp "$TF_BIN/tokfab-dp" "$W/dp-2.0.0"
printf 'tokfab-dp 2.0.0 build' >>"$W/dp-2.0.0" # still the same ELF, other bytes
mkimg v2.img 2.0.0 "$W/dp-2.0.0"
fw flash --flash "$FLASH" "$W/v2.img" >"$W/flash2.log" 2>&1 || tf_fail "flash 2.0.0: $(cat "$W/flash2.log")"
tf_expect_eq "$(fwst 'd["pending"]')" b "pending slot after flashing 2.0.0"
start_dp
tf_wait_for 20 ping_card || tf_fail "2.0.0 does not answer ping (log: $DPLOG)"
grep -q "boot: slot b on trial (try 1 of 3)" "$DPLOG" || tf_fail "no trial boot of b: $(grep boot: "$DPLOG")"
case "$(readlink "/proc/$DP/exe")" in
*memfd:tokfab-dp-slot-b*) ;;
*) tf_fail "2.0.0's dataplane is not what runs: /proc/$DP/exe is $(readlink "/proc/$DP/exe")" ;;
esac
hq --tenant 5 --max-new 6 --requests 3 >"$W/hq5.out" 2>"$W/hq5.err" || tf_fail "$(cat "$W/hq5.err")"
check_done "$W/hq5.out" 3 6 3000
tf_wait_for 20 grep -q "firmware 2.0.0 in slot b confirmed" "$DPLOG" ||
	tf_fail "2.0.0 did not confirm itself: $(tail -n 5 "$DPLOG")"
tf_expect_eq "$(fwst 'd["active"], d["pending"]')" "('b', None)" "active/pending after the confirmation"
stop_dp

tf_log "a broken image: its dataplane does not start; 3 trials, then back to 2.0.0"
head -c 4096 /dev/urandom >"$W/dp-3.0.0"
mkimg v3.img 3.0.0 "$W/dp-3.0.0"
fw flash --flash "$FLASH" "$W/v3.img" >"$W/flash3.log" 2>&1 || tf_fail "flash 3.0.0: $(cat "$W/flash3.log")"
for try in 1 2 3; do
	rc=0
	"$TF_BIN/tokfab-dp" -l 0 --no-huge -m 512 --no-pci --file-prefix "$PREFIX" \
		--vdev="net_af_packet0,iface=$HIF" -- --config "$W/dp.yaml" --bar "$BAR" \
		--host-queues 2 --flash "$FLASH" >"$W/broken$try.log" 2>&1 </dev/null || rc=$?
	[ $rc -ne 0 ] || tf_fail "trial $try of a broken image exited 0"
	grep -q "try $try of 3" "$W/broken$try.log" && grep -q "does not start" "$W/broken$try.log" ||
		tf_fail "trial $try: $(cat "$W/broken$try.log")"
done
start_dp
tf_wait_for 20 ping_card || tf_fail "no fallback to 2.0.0 (log: $DPLOG)"
grep -q "boot: slot a given up: its trial was never confirmed" "$DPLOG" &&
	grep -q "boot: slot b (fallback-unconfirmed)" "$DPLOG" ||
	tf_fail "no fallback after 3 failed trials: $(grep boot: "$DPLOG")"
hq --tenant 5 --max-new 4 --requests 2 >"$W/hq6.out" 2>"$W/hq6.err" || tf_fail "$(cat "$W/hq6.err")"
check_done "$W/hq6.out" 2 4 3000
tf_expect_eq "$(fwst '[s["state"] for s in d["slots"]]')" "['bad', 'confirmed']" "slot states after the fallback"
stop_dp
tf_pass "host queues through the pipeline (tokens = engine, usage, refusals); boot from flash, exec of a new image, confirmation, fallback from a broken one"
