#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfab-dp with two worker lcores: net_af_packet with two queue pairs spreads
# the clients' flows over both workers; every request must reach the worker
# that owns its tenant (handed over when it arrived on the other one), be
# answered correctly, and be admitted by its owner only.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_root
tf_require_cmd ip ethtool python3 dpdk-telemetry.py
[ "$(nproc)" -ge 2 ] || tf_skip "needs 2 CPUs for two worker lcores (this machine has $(nproc))"
for b in tokfab-dp tokfab-accel tokfab-client tokfab-mkmodel; do
	[ -x "$TF_BIN/$b" ] || tf_fail "missing $TF_BIN/$b: run 'make' first"
done
REF=$BUILD/tests/tools/dp_engine_ref
[ -x "$REF" ] || tf_fail "missing $REF: run 'make' first"

W=$TF_LOGDIR
NS=tfdl$TF_ID
HIF=tdl${TF_ID}a
NIF=tdl${TF_ID}b
NET=10.$(( (0x$TF_ID >> 8) % 200 + 20 )).$(( (0x$TF_ID + 1) & 0xff ))
CARD=$NET.1
PREFIX=tfdl$TF_ID
export TOKFAB_SHM_DIR=$W
tf_on_exit "rm -rf /var/run/dpdk/$PREFIX" # the EAL's runtime directory
tf_netns_veth "$NS" "$HIF" "$NIF" - "$NET.2/24"
ip netns exec "$NS" ethtool -K "$NIF" tx off >/dev/null

# Two tenants owned by worker 0 and two by worker 1 (tf_dp_tenant_owner()).
read -r -a TEN <<<"$(python3 -c '
own = lambda t: ((t * 2654435761) % 2**32 * 2) >> 32
a = [t for t in range(100, 200) if own(t) == 0][:2]
b = [t for t in range(100, 200) if own(t) == 1][:2]
print(*(a + b))')"
"$TF_BIN/tokfab-mkmodel" --preset tiny -o "$W/tiny.bin" -t "$W/tiny.tok" >/dev/null
{
	cat <<EOF
card:
  ipv4: $CARD
  stats_interval_s: 0
  idle_sleep_us: 50
models:
  - id: 7
    max_new_tokens: 64
accelerators:
  - id: 1
    address: $PREFIX-a1
    models: [7]
tenants:
EOF
	for t in "${TEN[@]}"; do
		python3 -c "import os;print(os.urandom(32).hex())" >"$W/t$t.key"
		chmod 600 "$W/t$t.key"
		printf '  - id: %s\n    key_file: t%s.key\n    unlimited: true\n' "$t" "$t"
	done
} >"$W/dp.yaml"

tf_bg accel "$TF_BIN/tokfab-accel" --listen "shm:$PREFIX-a1" --model "$W/tiny.bin" \
	--tokenizer "$W/tiny.tok" --model-id 7 --threads 1 --name a1
sleep 0.5
# Three lcores on the two CPUs: main (control) + two workers; workers sleep when idle.
tf_bg dp "$TF_BIN/tokfab-dp" --lcores '0@0,1@1,2@0' --no-huge -m 512 --no-pci \
	--file-prefix "$PREFIX" --vdev="net_af_packet0,iface=$HIF,qpairs=2" -- --config "$W/dp.yaml"
DP=$TF_PID
tf_wait_for 20 ip netns exec "$NS" ping -c 1 -W 1 "$CARD" || tf_fail "no ping answer (log: $W/dp.log)"
grep -q "2 queue(s)" "$W/dp.log" || tf_fail "the port did not get two queues"

tf_log "24 requests from 24 client sockets, 4 tenants"
pids=()
for i in $(seq 0 23); do
	t=${TEN[$((i % 4))]}
	ip netns exec "$NS" "$TF_BIN/tokfab-client" -s "$CARD" -t "$t" -k "$W/t$t.key" -m 7 -n 6 \
		--temperature 0.5 --top-p 0.9 --seed $((500 + i)) --tokens "1,$((i + 3)),9" --json --ids \
		>"$W/r$i.json" 2>"$W/r$i.err" &
	pids+=($!)
done
for i in $(seq 0 23); do
	wait "${pids[$i]}" || tf_fail "request $i failed: $(cat "$W/r$i.err")"
	got=$(python3 -c '
import json, sys
t = {}
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "tokens":
        for k, v in enumerate(e["ids"]): t[e["first_seq"] + k] = v
print(",".join(str(t[k]) for k in range(len(t))))' "$W/r$i.json")
	want=$("$REF" "$W/tiny.bin" "$W/tiny.tok" "1,$((i + 3)),9" 6 500 9000 $((500 + i)))
	[ "$got" = "$want" ] || tf_fail "request $i: card [$got], engine [$want]"
done

tf_log "each worker admitted exactly its own tenants' requests"
printf '/tokfab/lcore,0\n/tokfab/lcore,1\n' | dpdk-telemetry.py -f "$PREFIX" >"$W/tel" 2>&1
python3 - "$W/tel" <<'EOF' || tf_fail "per-lcore counters: $(cat "$W/tel")"
import json, sys
w = {}
for line in open(sys.argv[1]):
    if line.startswith('{"/tokfab/lcore'):
        v = json.loads(line)["/tokfab/lcore"]
        w[v["worker"]] = v
assert set(w) == {0, 1}, w.keys()
# 24 requests, 6 per tenant, 2 tenants per owner: 12 admitted on each worker.
for i in (0, 1):
    assert w[i]["req_admitted"] == 12, (i, w[i]["req_admitted"])
assert sum(w[i]["rx_pkts"] for i in (0, 1)) >= 24
print("handoffs out:", w[0]["handoff_out"], w[1]["handoff_out"],
      "rx:", w[0]["rx_pkts"], w[1]["rx_pkts"])
EOF
kill -TERM "$DP"
rc=0
wait "$DP" || rc=$?
[ $rc = 0 ] || tf_fail "tokfab-dp exit $rc after SIGTERM"
! grep -q "Sanitizer" "$W/dp.log" || tf_fail "sanitizer report in $W/dp.log (make SAN=1 build)"
tf_pass "two worker lcores, tenants on their owners"
