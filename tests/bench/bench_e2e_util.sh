#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Accelerator utilisation against offered load, with and without dynamic batching.
#
# One accelerator (tokfab-accel, one thread, a TinyStories-15M-shaped model) behind
# the card. For each mode, a closed-loop saturation run measures the capacity C
# (requests/s), then open-loop Poisson runs offer 10 %..150 % of C; the accelerator's
# busy fraction comes from tokfabd's API (the engine's busy share of each second,
# sampled once a second by tokfab-bench), next to requests/s and TTFT.
#   batching on:  the card batches (max_batch 16, max_queue_delay 2 ms) and the engine
#                 runs up to 32 sequences per step (continuous batching)
#   batching off: one request per batch and one sequence per engine step
# Reports only. Knobs: UTIL_SECONDS (5 per point), UTIL_POINTS ("10 25 50 75 100 125 150").
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"

tf_require_root
tf_require_cmd ip python3 ethtool
STACK_BIN=$TF_BIN
stack_preflight tokfab-bench || tf_fail "see above"
SECS=${UTIL_SECONDS:-5}
POINTS=${UTIL_POINTS:-10 25 50 75 100 125 150}
W=$TF_LOGDIR
OUT=${BENCH_OUT:-$BUILD/bench}
mkdir -p "$OUT"
: >"$W/points.txt"

run_mode() { # MODE CARD_BATCH DELAY_US ENGINE_BATCH
	local mode=$1 cb=$2 delay=$3 eb=$4 cap pct rate
	STACK_ID=$(printf '%04x' $(( (0x$TF_ID + ${#mode}) & 0xffff )))
	STACK_BATCHING="batching:
  max_batch: $cb
  max_queue_delay_us: $delay"
	STACK_MODEL_MAX_NEW=64
	stack_init "$W/$mode"
	stack_model s15 stories15m
	stack_accel 1 a s15 2.00 shm --max-batch "$eb"
	stack_tenant 1 t1 unlimited 0.002
	stack_tenant 2 t2 unlimited 0.002
	stack_up || tf_fail "the appliance did not come up ($mode)"
	local args=(-t "1-2:$STACK_DIR/t%u.key" --prompt-len 16 --max-tokens 16 --vocab 32000 -q)
	stack_bench "${args[@]}" -c $((4 * eb + 8)) -d "$SECS" --warmup 2 --json "$W/$mode-sat.json" \
		>"$W/$mode-sat.txt" || tf_fail "saturation run failed ($mode)"
	cap=$(python3 -c "import json; print(json.load(open('$W/$mode-sat.json'))['throughput']['ok_requests_per_s'])")
	tf_log "$mode: capacity $cap requests/s (closed loop, $((4 * eb + 8)) in flight)"
	echo "$mode sat 0 $W/$mode-sat.json" >>"$W/points.txt"
	for pct in $POINTS; do
		rate=$(python3 -c "print(max(0.5, $cap * $pct / 100))")
		stack_bench "${args[@]}" -r "$rate" -d "$SECS" --warmup 1 --max-outstanding 2000 \
			--json "$W/$mode-$pct.json" >"$W/$mode-$pct.txt" || tf_fail "open loop $pct % failed ($mode)"
		echo "$mode $pct $rate $W/$mode-$pct.json" >>"$W/points.txt"
	done
	stack_down
}

tf_on_exit stack_down
tf_log "dynamic batching on (load average $(cut -d' ' -f1 /proc/loadavg))"
run_mode on 16 2000 32
tf_log "dynamic batching off"
run_mode off 1 0 1

python3 - "$W/points.txt" <<'EOF' | tee "$OUT/bench_e2e_util.txt"
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
def busy(j):
    a = j.get("accelerators") or []
    return a[0]["busy"] if a and a[0]["busy"] is not None else float("nan")
print("Accelerator utilisation against offered load (one tokfab-accel thread, stories15m shape,"
      " prompt 16, 16 new tokens)")
for mode in ("on", "off"):
    print("dynamic batching %s:" % mode)
    print("  %-8s %10s %10s %8s %10s %10s %10s" % ("load", "offered/s", "ok/s", "busy %",
          "TTFT p50", "TTFT p99", "errors"))
    for m, pct, rate, path in rows:
        if m != mode:
            continue
        j = json.load(open(path))
        lat = j["latency_us"]["ttft"]
        name = "saturate" if pct == "sat" else pct + " %"
        print("  %-8s %10s %10.1f %8.1f %9.1fms %9.1fms %10d" % (name,
              "closed" if pct == "sat" else "%.1f" % float(rate),
              j["throughput"]["ok_requests_per_s"], 100 * busy(j), lat["p50"] / 1000,
              lat["p99"] / 1000, j["requests"]["errors"] + j["requests"]["not_sent_outstanding"]))
print("busy: the engine's share of each second spent computing steps (status block busy_ppm,"
      " via tokfab-dp and tokfabd's /v1/accelerators), averaged over the measured seconds."
      " Target: >= 95 % at saturation.")
EOF
echo "bench_e2e_util: report in $OUT/bench_e2e_util.txt"
