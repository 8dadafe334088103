#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfabd's ledger (hwdocs/performance.md, "Management daemon"):
#  1. commit rate and CPU per record of the batched WAL commit tokfabd uses
#     beside the naive one-transaction-per-record baseline, same run,
#     synchronous FULL and NORMAL;
#  2. tokfabd end to end at the end-to-end bench's rate: a card (tokfab-cardsim)
#     posts BENCH_LEDGER_RATE (5500) records/s for BENCH_LEDGER_SECONDS (8);
#     tokfabd reads, group-commits, acknowledges. Side by side in the same run:
#     the default group commit (ledger.commit_interval_ms 100) and the baseline
#     of committing what each read returned (commit_interval_ms 0, the policy
#     before group commit); CPU per record from /proc/PID/stat, records per
#     transaction from /metrics; then tokfabd's idle floor (the card idle);
#  3. flat out: the card posts BENCH_LEDGER_E2E_RECORDS (1 000 000) as fast as
#     the event queue (4096 entries) allows.
# TOKFABD_BEFORE=path adds an older tokfabd binary to 2 and 3 (before/after).
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
RATE=${BENCH_LEDGER_RATE:-5500}
SECS=${BENCH_LEDGER_SECONDS:-8}
HZ=$(getconf CLK_TCK)
MHZ=$(awk -F: '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo | tr -d ' ')

echo "bench_host_ledger: ledger on $(df --output=source,fstype "$W" | tail -n 1)"
"$bin" "$W" "$RECORDS" 1024 3

BAR=/dev/shm/tf-bench-ledger-$TF_ID
PORT=$((20000 + RANDOM % 20000))
tf_on_exit "rm -f $BAR"
openssl rand -hex 32 >"$W/token"
openssl rand -hex 32 >"$W/a.key"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# run NAME TOKFABD RECORDS RATE LEDGER-LINES: one tokfabd against one card; prints a line
run() {
	local name=$1 td_bin=$2 n=$3 rate=$4 extra=$5 td cs t0 t1 s0 s1 i0 i1 c e cs_ticks=0
	rm -f "$W/e2e.db"* "$BAR" "$W/sum"
	cat >"$W/tokfabd.yaml" <<EOF2
card:
  access: shm:$BAR
ledger:
  path: $W/e2e.db
$extra
api:
  listen: 127.0.0.1:$PORT
  token_file: token
models:
  - { id: 1, name: tiny }
tenants:
  - { id: 1, name: a, key_file: a.key, budget: unlimited, prices: { tiny: 1.00 } }
  - { id: 2, name: b, key_file: a.key, budget: unlimited, prices: { tiny: 1.00 } }
  - { id: 3, name: c, key_file: a.key, budget: unlimited, prices: { tiny: 1.00 } }
  - { id: 4, name: d, key_file: a.key, budget: unlimited, prices: { tiny: 1.00 } }
EOF2
	"$td_bin" -c "$W/tokfabd.yaml" >"$W/tokfabd-$name.log" 2>&1 &
	td=$!
	tf_wait_for 10 curl -sf "http://127.0.0.1:$PORT/healthz" || tf_fail "tokfabd did not start"
	# from before the card starts: its attach and configuration count too (once)
	t0=$(cpu_ticks "$td")
	s0=$(date +%s.%N)
	"$TF_BIN/tokfab-cardsim" --bar "$BAR" --fresh --records "$n" ${rate:+--rate "$rate"} \
		--wait-tenants 4 --linger --summary "$W/sum" >"$W/cardsim-$name.log" 2>&1 &
	cs=$!
	while [ ! -s "$W/sum" ]; do
		kill -0 "$cs" 2>/dev/null || tf_fail "tokfab-cardsim died (see $W/cardsim-$name.log)"
		cs_ticks=$(cpu_ticks "$cs")
		sleep 0.05
	done
	t1=$(cpu_ticks "$td")
	s1=$(date +%s.%N)
	c=$(metric tokfab_ledger_commits_total)
	e=$(metric tokfab_ledger_events_total)
	i0=$(cpu_ticks "$td")
	[ -n "$rate" ] && sleep 10
	i1=$(cpu_ticks "$td")
	kill -TERM "$cs"
	wait "$cs" || true
	kill -TERM "$td"
	wait "$td" || true
	[ "$(sqlite3 "$W/e2e.db" 'SELECT COUNT(*) FROM usage')" = "$n" ] || tf_fail "$name: the ledger lacks records"
	python3 - "$name" "$n" "$t0" "$t1" "$HZ" "$s0" "$s1" "$c" "$e" "$i0" "$i1" "${MHZ:-2000}" "$cs_ticks" "$rate" <<'EOF2'
import sys
name, n, t0, t1, hz, s0, s1, c, e, i0, i1, mhz, cs, rate = sys.argv[1:]
n, hz = int(n), int(hz)
cpu = (int(t1) - int(t0)) / hz
wall = float(s1) - float(s0)
line = "%-34s %8d rec in %5.1f s = %7.0f rec/s  tokfabd %5.2f CPU-s = %6.2f CPU-s/M = %6.0f cycles/rec  %7.1f rec/txn" % (
    name, n, wall, n / wall, cpu, cpu * 1e6 / n, cpu * float(mhz) * 1e6 / n, float(e) / max(float(c), 1))
if rate:
    line += "  idle %.3f CPU-s/10 s" % ((int(i1) - int(i0)) / hz)
else:
    line += "  card %.2f CPU-s" % (int(cs) / hz)
print(line)
EOF2
}

N=$((RATE * SECS))
echo "tokfabd end to end, the card posting $RATE records/s ($N records), clock ${MHZ:-?} MHz:"
run "group commit (default, 100 ms)" "$TF_BIN/tokfabd" "$N" "$RATE" ""
run "commit per read (interval 0)" "$TF_BIN/tokfabd" "$N" "$RATE" "  commit_interval_ms: 0"
[ -n "${TOKFABD_BEFORE:-}" ] && run "before (TOKFABD_BEFORE)" "$TOKFABD_BEFORE" "$N" "$RATE" ""
echo "tokfabd end to end, the card posting $E2E records as fast as the event queue allows:"
run "group commit (default)" "$TF_BIN/tokfabd" "$E2E" "" ""
[ -n "${TOKFABD_BEFORE:-}" ] && run "before (TOKFABD_BEFORE)" "$TOKFABD_BEFORE" "$E2E" "" ""
true
