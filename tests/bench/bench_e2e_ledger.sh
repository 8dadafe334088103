#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Host involvement by ledger mode, side by side in one run: tokfabd's CPU per
# million requests served as a share of tokfab-dp's, with ledger.records:
# request (a ledger row per request, the default) and ledger.records: aggregate
# (the card sums per tenant, model, accelerator and outcome every 100 ms).
#
#   tokfab-bench (netns) -> veth -> tokfab-dp (af_packet) -> shm -> tokfab-accel;
#   tokfabd keeps the ledger (SQLite, synchronous=full)
#
# The same appliance and workload (bench_e2e.sh's: 4 tenants, closed loop) is
# brought up once per run, the modes alternating (request, aggregate 100 ms,
# aggregate 1000 ms, request, ...), so drift of the shared machine hits all. Per
# run: requests, tokfabd and tokfab-dp CPU seconds over the measured window (plus
# 1.5 s for the last commits), ledger rows written, and tokfabd's idle floor
# (its CPU per second with no requests: heartbeats, watchdog, stats polls).
# Reports only: never fails on a figure.
# Knobs: E2E_SECONDS (8), E2E_IDLE_SECONDS (4), E2E_CONC (16), E2E_MAX_TOKENS (8),
# E2E_ROUNDS (2), E2E_MODES ("request aggregate:100 aggregate:1000"), E2E_API (1:
# tokfab-bench samples tokfabd's API every second, as in bench_e2e.sh; 0: no
# sampler, tokfabd's CPU is then the card thread's and its floor only),
# E2E_TOKFABD_BEFORE (an older tokfabd binary: each mode also runs with it, just
# before the current one, and the report gives both and their ratio).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"

tf_require_root
tf_require_cmd ip python3 ethtool
STACK_BIN=$TF_BIN
stack_preflight tokfab-bench || tf_fail "see above"
SECS=${E2E_SECONDS:-8}
CONC=${E2E_CONC:-16}
MAXTOK=${E2E_MAX_TOKENS:-8}
ROUNDS=${E2E_ROUNDS:-2}
IDLE=${E2E_IDLE_SECONDS:-4}
API=${E2E_API:-1}
MODES=(${E2E_MODES:-request aggregate:100 aggregate:1000})
W=$TF_LOGDIR
OUT=${BENCH_OUT:-$BUILD/bench}
mkdir -p "$OUT"
load() { cut -d' ' -f1 /proc/loadavg; }
# cpu NAME: CPU seconds of the process's threads from schedstat (ns; /proc/PID/stat
# counts 10 ms ticks, too coarse for tokfabd's few ms per second).
cpu() {
	local pid=${STACK_PID[$1]:-0}
	cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.6f\n", s / 1e9}'
}

# run_mode NAME MODE[:MS]: one appliance, warm-up, measured window, idle window;
# appends a JSON line.
run_mode() {
	local name=$1 mode=${2%%:*} ms=${2#*:} bin=${3:-} dp0 dp1 d0 d1 i0 i1 rows
	local STACK_TOKFABD=${bin:-${STACK_TOKFABD:-}}
	[ "$ms" = "$2" ] && ms=100
	STACK_ID=$TF_ID
	STACK_LEDGER_YAML="  records: $mode
  aggregate_ms: $ms"
	stack_init "$W/$name"
	stack_model tiny tiny --seq-len 512
	stack_accel 1 a tiny 1.00 shm --max-batch 32
	for t in 1 2 3 4; do stack_tenant $t t$t unlimited 0.002; done
	stack_up || tf_fail "the appliance did not come up ($name)"
	local args=(-t "1-4:$STACK_DIR/t%u.key" -c "$CONC" --prompt-len 16 --max-tokens "$MAXTOK"
		--vocab 512 --seed 5 -q)
	tf_log "$name (records: $mode, $ms ms): $CONC in flight for $SECS s (load average $(load))"
	bench() {
		if [ "$API" = 1 ]; then
			stack_bench "$@"
		else
			ip netns exec "$STACK_NS" "$STACK_BIN/tokfab-bench" --server "$STACK_CARD" "$@"
		fi
	}
	bench "${args[@]}" -d 2 --json "$W/$name-warm.json" >/dev/null
	sleep 0.5
	dp0=$(cpu dp) d0=$(cpu tokfabd)
	bench "${args[@]}" -d "$SECS" --json "$W/$name.json" >"$W/$name.txt" ||
		tf_fail "tokfab-bench ($name) failed"
	sleep 1.5 # the ledger commits the last events
	dp1=$(cpu dp) d1=$(cpu tokfabd)
	i0=$(cpu tokfabd)
	sleep "$IDLE"
	i1=$(cpu tokfabd)
	rows=$(python3 -c "
import sqlite3, sys
db = sqlite3.connect('file:$STACK_DIR/ledger.db?mode=ro', uri=True)
print('{\'records\': %d, \'aggregates\': %d}' % tuple(db.execute(q).fetchone()[0] for q in
      ('SELECT COUNT(*) FROM usage', 'SELECT COUNT(*) FROM usage_agg')))")
	python3 -c "
import json; j = json.load(open('$W/$name.json'))
print(json.dumps({'name': '$name', 'mode': '$mode', 'aggregate_ms': $ms,
                  'tokfabd': '${bin:+before}' or 'current',
                  'requests': j['requests']['completed'], 'ok': j['requests']['ok'],
                  'tokfabd_cpu_s': $d1 - $d0, 'dp_cpu_s': $dp1 - $dp0, 'ledger_rows': $rows,
                  'window_s': $SECS + 1.5, 'tokfabd_idle_cpu_per_s': ($i1 - $i0) / $IDLE}))" >>"$W/runs.jsonl"
	[ "$mode" = request ] || [ "$(python3 -c "print($rows['records'])")" = 0 ] || {
		tf_log "$name: per-request rows in aggregate mode: $rows; logs kept in $W/$name"
		STACK_KEEP=1
	}
	stack_down
	STACK_KEEP=${E2E_KEEP:-}
}

: >"$W/runs.jsonl"
tf_on_exit stack_down
for ((r = 1; r <= ROUNDS; r++)); do
	for m in "${MODES[@]}"; do
		[ -z "${E2E_TOKFABD_BEFORE:-}" ] ||
			run_mode "${m/:/-}-$r-before" "$m" "$E2E_TOKFABD_BEFORE"
		run_mode "${m/:/-}-$r" "$m"
	done
done

python3 - "$W/runs.jsonl" "$SECS" "$API" <<'EOF' | tee "$OUT/bench_e2e_ledger.txt"
import collections, json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
secs = float(sys.argv[2])
print("Host involvement by ledger mode (closed loop 16 in flight, 4 tenants, %.0f s per run,"
      " modes alternate; %s)" % (secs, "tokfab-bench samples the API every second"
      if sys.argv[3] == "1" else "no API sampler"))
print("%-16s %9s %7s %8s %12s %12s %9s %12s %10s" % ("run", "requests", "req/s", "ledger",
      "tokfabd", "tokfab-dp", "tokfabd/", "tokfabd idle", "above idle"))
print("%-16s %9s %7s %8s %12s %12s %9s %12s %10s" % ("", "", "", "rows (a)", "CPU s/M req",
      "CPU s/M req", "dp", "CPU ms/s", "tokfabd/dp"))
by = collections.OrderedDict()
for r in runs:
    n = r["requests"] or 1
    key = r["mode"] if r["mode"] == "request" else "aggregate %d ms" % r["aggregate_ms"]
    if r.get("tokfabd", "current") != "current":
        key += " (%s)" % r["tokfabd"]
    d, dp = r["tokfabd_cpu_s"] / n * 1e6, r["dp_cpu_s"] / n * 1e6
    pct = 100 * r["tokfabd_cpu_s"] / r["dp_cpu_s"] if r["dp_cpu_s"] else float("nan")
    above = r["tokfabd_cpu_s"] - r["tokfabd_idle_cpu_per_s"] * r["window_s"]
    pa = 100 * above / r["dp_cpu_s"] if r["dp_cpu_s"] else float("nan")
    by.setdefault(key, []).append((pct, d, pa))
    rows = r["ledger_rows"]["records"] + r["ledger_rows"]["aggregates"]
    print("%-16s %9d %7.0f %8d %12.3f %12.3f %8.2f%% %12.2f %9.2f%%" % (r["name"], r["requests"],
          r["requests"] / secs, rows, d, dp, pct, 1e3 * r["tokfabd_idle_cpu_per_s"], pa))
def rng(v): return "%.2f-%.2f" % (min(v), max(v))
print()
base = by.get("request")
for k, v in by.items():
    line = "%-18s tokfabd CPU = %s %% of tokfab-dp's (%s %% above its idle floor), %s CPU s per M requests" % (
        k + ":", rng([x[0] for x in v]), rng([x[2] for x in v]), rng([x[1] for x in v]))
    if base and k != "request":
        line += ": %.1fx less than request" % (
            (sum(x[1] for x in base) / len(base)) / (sum(x[1] for x in v) / len(v)))
    print(line)
for k, v in by.items():
    old = by.get(k + " (before)")
    if old:
        f = lambda xs, i: sum(x[i] for x in xs) / len(xs)
        print("%-18s current / before: tokfabd CPU per M requests %.2f, share of tokfab-dp %.2f" % (
            k + ":", f(v, 1) / f(old, 1), f(v, 0) / f(old, 0)))
print("(a) ledger rows: per-request records + aggregates, warm-up included.")
print("target: < 1 %. Noise: 2 shared cores; tokfab-dp polls, so its CPU is an upper bound of"
      " its work; tokfabd's includes its idle floor (heartbeats, watchdog, per-tenant stats polls).")
json.dump(runs, open(sys.argv[1].replace("runs.jsonl", "summary.json"), "w"), indent=1)
EOF
cp "$W/summary.json" "$OUT/bench_e2e_ledger.json"
echo "bench_e2e_ledger: report in $OUT/bench_e2e_ledger.txt"
