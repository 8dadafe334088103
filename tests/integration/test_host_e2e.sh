#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The whole appliance on the host tier, configured by tokfabd through the
# card's BAR: tokfab-dp (af_packet on a veth pair) with --bar, one tokfab-accel
# behind the shm transport, tokfab-client in a network namespace, tokfabd
# pushing tenants, prices, the model and the accelerator over the admin queue
# and committing the usage records from the event queue.
# Checks: tokens in the ledger equal, per tenant, the tokens the clients
# received; a budget pushed by tokfabd is enforced at the card; tokfabd killed
# with SIGKILL under load while the dataplane keeps serving, and after its
# restart the ledger has every record exactly once.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_root
tf_require_cmd ip ethtool python3 sqlite3 curl
for b in tokfab-dp tokfab-accel tokfab-client tokfab-mkmodel tokfabd tokfabctl; do
	[ -x "$TF_BIN/$b" ] || tf_fail "missing $TF_BIN/$b: run 'make' first"
done
W=$TF_LOGDIR
NS=tfhe$TF_ID
HIF=the${TF_ID}a
NIF=the${TF_ID}b
NET=10.$(((0x$TF_ID >> 8) % 200 + 20)).$((0x$TF_ID & 0xff))
CARD=$NET.1
PREFIX=tfhe$TF_ID
BAR=/dev/shm/tfhe-bar-$TF_ID
PORT=$((20000 + RANDOM % 20000))
export TOKFAB_SHM_DIR=$W
tf_on_exit "rm -f $BAR $BAR.pending.jsonl"

tf_netns_veth "$NS" "$HIF" "$NIF" - "$NET.2/24"
ip netns exec "$NS" ethtool -K "$NIF" tx off >/dev/null

"$TF_BIN/tokfab-mkmodel" --preset tiny --seq-len 2048 -o "$W/tiny.bin" -t "$W/tiny.tok" >/dev/null
for t in 50 51; do
	python3 -c "import os;print(os.urandom(32).hex())" >"$W/t$t.key"
	chmod 600 "$W/t$t.key"
done
python3 -c "import os;print(os.urandom(32).hex())" >"$W/token"

# The card's own file: network identity, the model and accelerator it runs; no tenants.
cat >"$W/dp.yaml" <<EOF
card:
  ipv4: $CARD
  udp_port: 7480
  idle_sleep_us: 50
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
# The host's: tenants with prices and budgets, the same model and accelerator.
cat >"$W/tokfabd.yaml" <<EOF
card:
  access: shm:$BAR
ledger:
  path: $W/ledger.db
api:
  listen: 127.0.0.1:$PORT
  token_file: token
models:
  - { id: 7, name: tiny, max_new_tokens: 64 }
accelerators:
  - { id: 1, address: $PREFIX-a1, transport: shm, cost_per_hour: 3.60, models: [tiny] }
tenants:
  - { id: 50, name: open, key_file: t50.key, budget: unlimited, prices: { tiny: 1.00 },
      mac_algs: [hmac-sha256, siphash] }
  - { id: 51, name: small, key_file: t51.key, budget: 0.001, prices: { tiny: 0.01 } }
EOF

tf_bg accel1 "$TF_BIN/tokfab-accel" --listen "shm:$PREFIX-a1" --model "$W/tiny.bin" \
	--tokenizer "$W/tiny.tok" --model-id 7 --threads 1 --name a1
sleep 0.5
tf_bg dp "$TF_BIN/tokfab-dp" -l 0 --no-huge -m 512 --no-pci --file-prefix "$PREFIX" \
	--vdev="net_af_packet0,iface=$HIF" -- --config "$W/dp.yaml" --bar "$BAR" --bar-fresh
DP=$TF_PID
tf_wait_for 20 ip netns exec "$NS" ping -c 1 -W 1 "$CARD" || tf_fail "the card does not answer ping (log: $W/dp.log)"

start_tokfabd() {
	"$TF_BIN/tokfabd" -c "$W/tokfabd.yaml" >>"$W/tokfabd.log" 2>&1 </dev/null &
	TD=$!
}
start_tokfabd
tf_on_exit "kill -9 \$TD"
cli() { ip netns exec "$NS" "$TF_BIN/tokfab-client" -s "$CARD" "$@"; }
# Tenants exist on the card only once tokfabd pushed them.
tf_wait_for 20 cli -t 50 -k "$W/t50.key" --ping || tf_fail "tenant 50 never reached the card (see $W/tokfabd.log)"

# run_batch FIRST LAST: requests FIRST..LAST of tenant 50, 6 at a time, JSON to req<i>.json.
run_batch() {
	local i pids=()
	for i in $(seq "$1" "$2"); do
		# Every other request signs with SipHash, which tokfabd's config allows tenant 50.
		cli -t 50 -k "$W/t50.key" --mac "$([ $((i % 2)) = 0 ] && echo siphash || echo hmac)" \
			-m 7 -n $((8 + i % 9)) --temperature 0.5 --seed "$i" \
			--tokens "1,$((i % 50 + 2)),3" --json >"$W/req$i.json" 2>"$W/req$i.err" &
		pids+=($!)
		if [ ${#pids[@]} -ge 6 ]; then
			wait "${pids[0]}" || tf_fail "request ${pids[0]} failed"
			pids=("${pids[@]:1}")
		fi
	done
	for p in "${pids[@]}"; do wait "$p" || tf_fail "a request of tenant 50 failed"; done
}

tf_log "tenant 50: 60 requests, tokfabd killed with SIGKILL in the middle"
run_batch 1 20
run_batch 21 40 &
LOAD=$!
sleep 0.2
kill -9 "$TD"
wait "$TD" 2>/dev/null || true
tf_log "tokfabd killed under load: the dataplane keeps serving"
wait "$LOAD" || tf_fail "requests failed while tokfabd was down"
start_tokfabd
run_batch 41 60
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || tf_wait_for 10 curl -sf "http://127.0.0.1:$PORT/healthz" ||
	tf_fail "tokfabd did not come back"

tf_log "tenant 51 is HMAC-only (no mac_algs in tokfabd's config): SipHash is refused"
rc=0
cli -t 51 -k "$W/t51.key" --mac siphash -m 7 -n 4 --tokens 1,2,3 >/dev/null 2>"$W/sip51.err" || rc=$?
[ $rc = 22 ] || tf_fail "tenant 51 signing with SipHash: exit $rc, expected 22 (UNSUPPORTED): $(cat "$W/sip51.err")"

tf_log "tenant 51: a budget of 0.001 at 0.01 per 1k tokens, enforced by the card"
n51=0
while :; do
	rc=0
	cli -t 51 -k "$W/t51.key" -m 7 -n 20 --temperature 0 --tokens 1,2,3,4 --json \
		>"$W/small$n51.json" 2>/dev/null || rc=$?
	[ $rc = 0 ] && { n51=$((n51 + 1)); continue; }
	[ $rc = 14 ] || tf_fail "tenant 51: exit $rc, expected 0 or 14 (QUOTA_EXHAUSTED)"
	break
done
[ $n51 -ge 1 ] || tf_fail "tenant 51: nothing admitted; tokfabd says: $(TOKFAB_TOKEN=$(cat "$W/token") \
	"$TF_BIN/tokfabctl" --url "http://127.0.0.1:$PORT" --json tenants 2>&1)"
tf_log "tenant 51: $n51 requests admitted before QUOTA_EXHAUSTED"

# Client-side totals per tenant from the FINAL messages.
python3 - "$W" "$n51" >"$W/clients.txt" <<'EOF'
import glob, json, sys
w, n51 = sys.argv[1], int(sys.argv[2])
def tot(files):
    n = p = c = 0
    for f in files:
        fin = [json.loads(l) for l in open(f) if '"event":"final"' in l]
        assert len(fin) == 1, f
        n += 1; p += fin[0]["prompt_tokens"]; c += fin[0]["completion_tokens"]
    return n, p, c
print("50 %d %d %d" % tot(["%s/req%d.json" % (w, i) for i in range(1, 61)]))
print("51 %d %d %d" % tot(["%s/small%d.json" % (w, i) for i in range(n51)]))
EOF
# Wait until the ledger holds every successful request.
want=$(awk '{s += $2} END {print s}' "$W/clients.txt")
ledger_ok() { [ "$(sqlite3 "$W/ledger.db" 'SELECT COUNT(*) FROM usage WHERE outcome = 0')" -ge "$want" ]; }
tf_wait_for 20 ledger_ok || tf_fail "the ledger has $(sqlite3 "$W/ledger.db" 'SELECT COUNT(*) FROM usage WHERE outcome = 0') of $want records"
while read -r t n p c; do
	got=$(sqlite3 "$W/ledger.db" "SELECT COUNT(*), SUM(prompt_tokens), SUM(completion_tokens) FROM usage WHERE tenant_id = $t AND outcome = 0")
	tf_expect_eq "$got" "$n|$p|$c" "tenant $t: requests|prompt|completion tokens, ledger vs clients"
done <"$W/clients.txt"
spent=$(sqlite3 "$W/ledger.db" "SELECT SUM(cost_micro) FROM usage WHERE tenant_id = 51")
[ "$spent" -le 1000 ] || tf_fail "tenant 51 spent $spent micro-units of a 1000 budget"
# Refused only when the next reservation ((4 + 20) tokens at 0.01 per 1k = 240) did not fit.
[ $((1000 - spent)) -lt 240 ] || tf_fail "tenant 51 refused with $((1000 - spent)) of its budget left"
tf_expect_eq "$(sqlite3 "$W/ledger.db" 'SELECT COUNT(*) - COUNT(DISTINCT card || epoch || seq) FROM usage')" 0 \
	"duplicate events in the ledger"

kill -TERM "$TD"
rc=0
wait "$TD" || rc=$?
tf_expect_eq "$rc" 0 "tokfabd exit status on SIGTERM"
kill -TERM "$DP"
rc=0
wait "$DP" || rc=$?
tf_expect_eq "$rc" 0 "tokfab-dp exit status on SIGTERM"
tf_pass "ledger = clients' tokens per tenant; budget enforced at the card; tokfabd SIGKILLed under load, dataplane kept serving"
