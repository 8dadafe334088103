#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The guest's tokfab.ko driving the REAL card: tokfab-dp on the host (af_packet
# on a veth pair, a tokfab-accel with a generated tiny model behind the shm
# transport, its firmware on a flash file) serves its BAR to the VM through
# ivshmem. In the guest (tests/vm/guest/dp_card.sh):
#  - probe and identity through the real card (serial, firmware from its flash);
#  - tokfabd with the kmod access path configures the tenants and commits the
#    usage records of real requests: network clients on the host side (UDP into
#    tokfab-dp) and a host queue used by an unprivileged guest process, whose
#    tokens are the engine's own; the ledger equals, per tenant, what the
#    clients received;
#  - devlink dev flash of a signed image into the card's flash (a tampered copy
#    refused), devlink dev info showing it stored, then devlink dev reload
#    action fw_activate: tokfab-dp restarts into the new image (its dataplane
#    is exec'd from the flash) keeping the guest's ivshmem connection; the new
#    image confirms itself after its self-test (checked here on the host).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tests/vm/lib/vm.sh"

tf_require_root
tf_require_cmd ip ethtool python3
for b in tokfab-dp tokfab-accel tokfab-client tokfab-mkmodel tokfab-fw tokfabd; do
	[ -x "$TF_BIN/$b" ] || tf_fail "missing $TF_BIN/$b: run 'make' first"
done
TOOLS=$BUILD/tests/tools
for b in dp_hq_client dp_engine_ref; do
	[ -x "$TOOLS/$b" ] || tf_fail "missing $TOOLS/$b: run 'make' first"
done
make -s -C "$TF_ROOT/kmod" >"$TF_LOGDIR/kmod-build.log" 2>&1 ||
	tf_fail "make kmod failed: $(tail -n 5 "$TF_LOGDIR/kmod-build.log")"

W=$TF_LOGDIR
tf_vm_mkrun dp_card || tf_fail "cannot create the VM run directory"
O=$TF_VM_OUT # shared with the guest (same path there)
NS=tfvc$TF_ID
HIF=tvc${TF_ID}a
NIF=tvc${TF_ID}b
NET=10.$(((0x$TF_ID >> 8) % 200 + 20)).$((0x$TF_ID & 0xff))
CARD=$NET.1
PREFIX=tfvc$TF_ID
BAR=/dev/shm/tfvc-bar-$TF_ID
SOCK=$O/ivshmem.sock
FLASH=$W/card.flash
export TOKFAB_SHM_DIR=$W TF_DPC_SERIAL=TFVC$TF_ID
tf_on_exit "rm -f $BAR $BAR.pending.jsonl"
tf_on_exit "rm -rf /var/run/dpdk/$PREFIX"

tf_netns_veth "$NS" "$HIF" "$NIF" - "$NET.2/24"
ip netns exec "$NS" ethtool -K "$NIF" tx off >/dev/null

"$TF_BIN/tokfab-mkmodel" --preset tiny --seq-len 2048 -o "$O/tiny.bin" -t "$O/tiny.tok" >/dev/null
for t in 50 51; do
	python3 -c "import os;print(os.urandom(32).hex())" >"$O/t$t.key"
	chmod 600 "$O/t$t.key"
done
python3 -c "import os;print(os.urandom(32).hex())" >"$O/token"
# What the engine alone answers to the guest's host-queue prompts (greedy, 8 tokens).
for k in 4 5 6 7 8; do
	"$TOOLS/dp_engine_ref" "$O/tiny.bin" "$O/tiny.tok" "1,2,3,$k" 8 0 10000 0 >"$O/ref-1,2,3,$k-8"
done

# The card's flash: a confirmed 1.0.0 (this build's tokfab-dp and tokfab-accel).
# For the guest: 2.0.0 (another dataplane binary, so the reload really starts it
# from the flash) signed with the card's key, and a tampered copy.
fw() { "$TF_BIN/tokfab-fw" "$@"; }
mkimg() { # OUT VERSION DATAPLANE
	{ echo "version = $2"; echo "security_version = 1"; echo "board_id = 0x54460001"
	  echo "dataplane = $3"; echo "accel = $TF_BIN/tokfab-accel"; fw abi; } >"$1.manifest"
	fw build --manifest "$1.manifest" --out "$1" --key "$W/vendor.key" >/dev/null
}
(
	set -e
	fw keygen "$W/vendor" >/dev/null
	fw init --flash "$FLASH" --size 32M --pubkey "$W/vendor.pub" --board 0x54460001 >/dev/null
	mkimg "$W/tokfab-1.0.0.img" 1.0.0 "$TF_BIN/tokfab-dp"
	fw flash --flash "$FLASH" "$W/tokfab-1.0.0.img" >/dev/null
	fw boot --flash "$FLASH" >/dev/null
	fw confirm --flash "$FLASH" >/dev/null
	cp "$TF_BIN/tokfab-dp" "$W/dp-2.0.0"
	printf 'tokfab-dp 2.0.0' >>"$W/dp-2.0.0"
	mkimg "$O/tokfab-2.0.0.img" 2.0.0 "$W/dp-2.0.0"
	cp "$O/tokfab-2.0.0.img" "$O/tokfab-tampered.img"
	printf 'X' | dd of="$O/tokfab-tampered.img" bs=1 seek=300000 conv=notrunc status=none
) >"$W/fw-setup.log" 2>&1 || tf_fail "preparing the card's flash: $(tail -n 5 "$W/fw-setup.log")"

cat >"$W/dp.yaml" <<EOF
card:
  ipv4: $CARD
  udp_port: 7480
  serial: $TF_DPC_SERIAL
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
EOF
# tokfabd runs in the guest: it configures the tenants and keeps the ledger.
cat >"$O/tokfabd.yaml" <<EOF
card:
  access: kmod:/dev/tokfab0
ledger:
  path: /tmp/ledger.db
api:
  listen: 127.0.0.1:18080
  token_file: token
models:
  - { id: 7, name: tiny, max_new_tokens: 64 }
accelerators:
  - { id: 1, address: $PREFIX-a1, transport: shm, cost_per_hour: 3.60, models: [tiny] }
tenants:
  - { id: 50, name: open, key_file: t50.key, budget: unlimited, prices: { tiny: 1.00 } }
  - { id: 51, name: other, key_file: t51.key, budget: unlimited, prices: { tiny: 0.50 } }
EOF

tf_bg accel1 "$TF_BIN/tokfab-accel" --listen "shm:$PREFIX-a1" --model "$O/tiny.bin" \
	--tokenizer "$O/tiny.tok" --model-id 7 --threads 1 --name a1
sleep 0.5
tf_bg dp "$TF_BIN/tokfab-dp" -l 0 --no-huge -m 512 --no-pci --file-prefix "$PREFIX" \
	--vdev="net_af_packet0,iface=$HIF" -- --config "$W/dp.yaml" --bar "$BAR" --bar-fresh \
	--ivshmem "$SOCK" --host-queues 4 --flash "$FLASH"
DP=$TF_PID
tf_wait_for 20 test -S "$SOCK" || tf_fail "tokfab-dp does not serve ivshmem: $(tail -n 5 "$W/dp.log")"
tf_wait_for 20 ip netns exec "$NS" ping -c 1 -W 1 "$CARD" || tf_fail "the card does not answer ping"

# Network clients on the host side, once tokfabd in the guest pushed the tenants.
cli() { ip netns exec "$NS" "$TF_BIN/tokfab-client" -s "$CARD" "$@"; }
(
	tf_wait_for 400 test -e "$O/tenants.ready" || { echo "the guest never configured tenants"; exit 1; }
	pids=()
	for i in $(seq 1 16); do
		t=$((50 + i % 2))
		cli -t "$t" -k "$O/t$t.key" -m 7 -n $((4 + i % 7)) --temperature 0.5 --seed "$i" \
			--tokens "1,$((i + 2)),3" --json >"$W/req$i.json" 2>"$W/req$i.err" &
		pids+=($!)
		if [ ${#pids[@]} -ge 4 ]; then
			wait "${pids[0]}" || { echo "request failed: $(cat "$W/req$i.err")"; exit 1; }
			pids=("${pids[@]:1}")
		fi
	done
	for p in "${pids[@]}"; do wait "$p" || { echo "a request failed"; exit 1; }; done
	python3 - "$W" >"$O/clients.txt" <<'EOF' || exit 1
import glob, json, sys
tot = {}
for i in range(1, 17):
    fin = [json.loads(l) for l in open("%s/req%d.json" % (sys.argv[1], i)) if '"event":"final"' in l]
    assert len(fin) == 1
    t = 50 + i % 2
    n, p, c = tot.get(t, (0, 0, 0))
    tot[t] = (n + 1, p + fin[0]["prompt_tokens"], c + fin[0]["completion_tokens"])
for t in sorted(tot):
    print(t, *tot[t])
EOF
	touch "$O/clients.done"
) >"$W/clients.log" 2>&1 &
CLIENTS=$!
tf_on_exit "kill $CLIENTS"

tf_vm_run "$TF_ROOT/tests/vm/guest/dp_card.sh" "${TF_DPC_TIMEOUT:-600}" \
	-chardev "socket,path=$SOCK,id=ivs" -device "ivshmem-doorbell,chardev=ivs,vectors=3"
rc=$?
echo "--- tokfab-dp log (last lines)"
tail -n 25 "$W/dp.log"
[ $rc -eq 0 ] || exit $rc
wait "$CLIENTS" || tf_fail "host-side clients: $(cat "$W/clients.log")"
kill -0 "$DP" 2>/dev/null || tf_fail "tokfab-dp died (log $W/dp.log)"

# The reload really started 2.0.0 from the flash, and it confirmed itself.
case "$(readlink "/proc/$DP/exe")" in
*memfd:tokfab-dp-slot-b*) ;;
*) tf_fail "after the reload /proc/$DP/exe is $(readlink "/proc/$DP/exe"), not slot b's dataplane" ;;
esac
tf_wait_for 20 grep -q "firmware 2.0.0 in slot b confirmed" "$W/dp.log" ||
	tf_fail "2.0.0 did not confirm itself after the reload"
grep -q "ivshmem: kept the guest's connection across the restart" "$W/dp.log" ||
	tf_fail "the restart did not keep the guest's ivshmem connection"
rc=0
kill -TERM "$DP"
wait "$DP" || rc=$?
tf_expect_eq "$rc" 0 "tokfab-dp exit status on SIGTERM"
st=$(fw status --flash "$FLASH" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["active"], d["pending"], d["slots"][1].get("version"))')
tf_expect_eq "$st" "b None 2.0.0" "card flash after the reload (active, pending, slot b version)"
tf_pass "tokfab.ko over ivshmem with the real tokfab-dp: identity, tokfabd ledger = clients, unprivileged host queue with engine tokens, devlink flash + reload fw_activate into a confirmed 2.0.0"
