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
# brought up once per run, the modes alternating (request, aggregate, request,
# aggregate), so drift of the shared machine hits both. Per run: requests,
# tokfabd and tokfab-dp CPU seconds over the measured window (plus 1.5 s for the
# last commits), ledger rows written. Reports only: never fails on a figure.
# Knobs: E2E_SECONDS (8), E2E_CONC (16), E2E_MAX_TOKENS (8), E2E_ROUNDS (2),
# E2E_AGG_MS (100).
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
AGG_MS=${E2E_AGG_MS:-100}
W=$TF_LOGDIR
OUT=${BENCH_OUT:-$BUILD/bench}
mkdir -p "$OUT"
load() { cut -d' ' -f1 /proc/loadavg; }

# run_mode NAME MODE: one appliance, warm-up, measured window; appends a JSON line.
run_mode() {
	local name=$1 mode=$2 dp0 dp1 d0 d1 rows
	STACK_ID=$TF_ID
	STACK_LEDGER_YAML="  records: $mode
  aggregate_ms: $AGG_MS"
	stack_init "$W/$name"
	stack_model tiny tiny --seq-len 512
	stack_accel 1 a tiny 1.00 shm --max-batch 32
	for t in 1 2 3 4; do stack_tenant $t t$t unlimited 0.002; done
	stack_up || tf_fail "the appliance did not come up ($name)"
	local args=(-t "1-4:$STACK_DIR/t%u.key" -c "$CONC" --prompt-len 16 --max-tokens "$MAXTOK"
		--vocab 512 --seed 5 -q)
	tf_log "$name (records: $mode): $CONC in flight for $SECS s (load average $(load))"
	stack_bench "${args[@]}" -d 2 --json "$W/$name-warm.json" >/dev/null
	sleep 0.5
	dp0=$(stack_cpu_s dp) d0=$(stack_cpu_s tokfabd)
	stack_bench "${args[@]}" -d "$SECS" --json "$W/$name.json" >"$W/$name.txt" ||
		tf_fail "tokfab-bench ($name) failed"
	sleep 1.5 # the ledger commits the last events
	dp1=$(stack_cpu_s dp) d1=$(stack_cpu_s tokfabd)
	rows=$(python3 -c "
import sqlite3, sys
db = sqlite3.connect('file:$STACK_DIR/ledger.db?mode=ro', uri=True)
print(sum(db.execute(q).fetchone()[0] for q in ('SELECT COUNT(*) FROM usage', 'SELECT COUNT(*) FROM usage_agg')))")
	python3 -c "
import json; j = json.load(open('$W/$name.json'))
print(json.dumps({'name': '$name', 'mode': '$mode', 'requests': j['requests']['completed'],
                  'ok': j['requests']['ok'], 'tokfabd_cpu_s': $d1 - $d0, 'dp_cpu_s': $dp1 - $dp0,
                  'ledger_rows': $rows}))" >>"$W/runs.jsonl"
	stack_down
}

: >"$W/runs.jsonl"
tf_on_exit stack_down
for ((r = 1; r <= ROUNDS; r++)); do
	run_mode "request$r" request
	run_mode "aggregate$r" aggregate
done

python3 - "$W/runs.jsonl" "$SECS" "$AGG_MS" <<'EOF' | tee "$OUT/bench_e2e_ledger.txt"
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
secs, agg_ms = float(sys.argv[2]), sys.argv[3]
print("Host involvement by ledger mode (closed loop, 4 tenants, %.0f s per run, rounds alternate;"
      " aggregate_ms %s)" % (secs, agg_ms))
print("%-12s %10s %10s %12s %16s %16s %12s" % ("run", "requests", "req/s", "ledger rows",
      "tokfabd CPU s/M", "tokfab-dp CPU s/M", "tokfabd/dp"))
share = {"request": [], "aggregate": []}
for r in runs:
    n = r["requests"] or 1
    d, dp = r["tokfabd_cpu_s"] / n * 1e6, r["dp_cpu_s"] / n * 1e6
    pct = 100 * r["tokfabd_cpu_s"] / r["dp_cpu_s"] if r["dp_cpu_s"] else float("nan")
    share[r["mode"]].append((pct, d))
    print("%-12s %10d %10.0f %12d %16.3f %16.3f %11.2f%%" % (r["name"], r["requests"],
          r["requests"] / secs, r["ledger_rows"], d, dp, pct))
def rng(v): return "%.2f-%.2f" % (min(v), max(v)) if v else "n/a"
rq = [p for p, _ in share["request"]]; ag = [p for p, _ in share["aggregate"]]
print()
print("tokfabd CPU as %% of tokfab-dp's: records: request %s %%, records: aggregate %s %% (target < 1 %%)"
      % (rng(rq), rng(ag)))
if rq and ag:
    mr = sum(d for _, d in share["request"]) / len(rq); ma = sum(d for _, d in share["aggregate"]) / len(ag)
    print("tokfabd CPU per million requests: request %.3f s, aggregate %.3f s: %.1fx less"
          % (mr, ma, mr / ma if ma else float("inf")))
print("Noise: 2 shared cores; tokfab-dp polls, so its CPU is an upper bound of its work;"
      " tokfabd's includes its idle floor (heartbeats, watchdog, stats polls).")
json.dump(runs, open(sys.argv[1].replace("runs.jsonl", "summary.json"), "w"), indent=1)
EOF
cp "$W/summary.json" "$OUT/bench_e2e_ledger.json"
echo "bench_e2e_ledger: report in $OUT/bench_e2e_ledger.txt"
