#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfabd's ledger (hwdocs/performance.md, "Management daemon"):
#  1. commit rate of the batched WAL commit tokfabd uses beside the naive
#     one-transaction-per-record baseline, same run, synchronous FULL and NORMAL;
#  2. tokfabd's CPU time per million usage records, end to end: a card
#     (tokfab-cardsim) posts as fast as the event queue allows, tokfabd reads,
#     commits, acknowledges; CPU from /proc/PID/stat, beside the card's own.
# Reports only.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
bin=$BUILD/bench/bench_host_ledger
for p in "$bin" "$TF_BIN/tokfabd" "$TF_BIN/tokfab-cardsim"; do
	[ -x "$p" ] || tf_fail "$p not built: run 'make'"
done
W=$TF_LOGDIR
RECORDS=${BENCH_LEDGER_RECORDS:-200000}
E2E=${BENCH_LEDGER_E2E_RECORDS:-1000000}

echo "bench_host_ledger: ledger on $(df --output=source,fstype "$W" | tail -n 1)"
"$bin" "$W" "$RECORDS" 1024 3

BAR=/dev/shm/tf-bench-ledger-$TF_ID
PORT=$((20000 + RANDOM % 20000))
tf_on_exit "rm -f $BAR"
openssl rand -hex 32 >"$W/token"
openssl rand -hex 32 >"$W/a.key"
cat >"$W/tokfabd.yaml" <<EOF
card:
  access: shm:$BAR
ledger:
  path: $W/e2e.db
  batch_max: 1024
api:
  listen: 127.0.0.1:$PORT
  token_file: token
models:
  - { id: 1, name: tiny }
tenants:
  - { id: 1, name: a, key_file: a.key, budget: unlimited, prices: { tiny: 1.00 } }
  - { id: 2, name: b, key_file: a.key, budget: unlimited, prices: { tiny: 1.00 } }
EOF
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tf_bg tokfabd "$TF_BIN/tokfabd" -c "$W/tokfabd.yaml"
TD=$TF_PID
tf_wait_for 10 curl -sf "http://127.0.0.1:$PORT/healthz" || tf_fail "tokfabd did not start"
sleep 1
t0=$(cpu_ticks "$TD")
s0=$(date +%s.%N)
"$TF_BIN/tokfab-cardsim" --bar "$BAR" --fresh --records "$E2E" --wait-acked --wait-tenants 2 \
	--summary "$W/sum" >"$W/cardsim.log" 2>&1 &
CS=$!
cs_ticks=0
while kill -0 "$CS" 2>/dev/null; do
	cs_ticks=$(cpu_ticks "$CS" 2>/dev/null || echo "$cs_ticks")
	sleep 0.2
done
wait "$CS"
s1=$(date +%s.%N)
t1=$(cpu_ticks "$TD")
hz=$(getconf CLK_TCK)
committed=$(sqlite3 "$W/e2e.db" "SELECT COUNT(*) FROM usage")
[ "$committed" = "$E2E" ] || tf_fail "ledger has $committed records, expected $E2E"
python3 - "$E2E" "$t0" "$t1" "$cs_ticks" "$hz" "$s0" "$s1" <<'EOF'
import sys
n, t0, t1, cs, hz, s0, s1 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
wall = s1 - s0
d = (t1 - t0) / hz
print("tokfabd end to end: %d records in %.2f s wall = %.0f records/s; tokfabd CPU %.2f s "
      "= %.2f CPU-s per million records; the card (cardsim) %.2f CPU-s" % (n, wall, n / wall, d, d * 1e6 / n, cs / hz))
EOF
kill -TERM "$TD"
wait "$TD" || true
