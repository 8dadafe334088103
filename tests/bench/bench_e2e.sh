#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The card path against the conventional front end, same workload, same run.
#
#   card path:  tokfab-bench (netns) -> veth -> tokfab-dp (DPDK af_packet, the card's
#               core) -> shm -> tokfab-accel; tokfabd on the host keeps the ledger
#   baseline:   tokfab-bench (netns) -> veth -> kernel UDP -> tokfab-baseline (host
#               threads: sockets, protocol, MACs, tables AND the engine)
#
# Reports requests/s, requests/s per CPU core used and CPU cycles per request of
# each process, split into what runs where:
#   host CPU, card path  = tokfabd only (the host configures the card and keeps the
#                          ledger; it never touches a request)
#   card CPU             = tokfab-dp (on a real card: the card's own cores)
#   host CPU, baseline   = the server process; its "front end" share is its threads'
#                          CPU minus the time inside engine steps
#   accelerator          = tokfab-accel, or the baseline's engine steps
# and tokfabd's CPU per million requests against tokfab-dp's (host involvement).
# Cycles = CPU seconds x the nominal clock from /proc/cpuinfo. Reports only: never
# fails on a figure. Knobs: E2E_SECONDS (10), E2E_CONC (16), E2E_MAX_TOKENS (8),
# E2E_LEDGER_SYNC (full: tokfabd's default, an fdatasync per ledger commit; normal).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"

tf_require_root
tf_require_cmd ip python3 ethtool
STACK_BIN=$TF_BIN
stack_preflight tokfab-bench tokfab-baseline || tf_fail "see above"
SECS=${E2E_SECONDS:-10}
CONC=${E2E_CONC:-16}
MAXTOK=${E2E_MAX_TOKENS:-8}
W=$TF_LOGDIR
OUT=${BENCH_OUT:-$BUILD/bench}
mkdir -p "$OUT"
MHZ=$(awk -F: '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo | tr -d ' ')
HZ=$(python3 -c "print(int(float('${MHZ:-2000}') * 1e6))")
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
load() { cut -d' ' -f1 /proc/loadavg; }

# ---- card path ---------------------------------------------------------------
STACK_ID=$TF_ID
export STACK_LEDGER_SYNC=${E2E_LEDGER_SYNC:-full}
stack_init "$W/card"
tf_on_exit stack_down
stack_model tiny tiny --seq-len 512
stack_accel 1 a tiny 1.00 shm --max-batch 32
stack_tenant 1 t1 unlimited 0.002
stack_tenant 2 t2 unlimited 0.002
stack_tenant 3 t3 unlimited 0.002
stack_tenant 4 t4 unlimited 0.002
stack_up || tf_fail "the appliance did not come up"
BENCH_ARGS=(-t "1-4:$STACK_DIR/t%u.key" -c "$CONC" -d "$SECS" --prompt-len 16
	--max-tokens "$MAXTOK" --vocab 512 --seed 5 -q)
tf_log "card path: $CONC in flight for $SECS s (load average $(load))"
stack_bench "${BENCH_ARGS[@]}" --json "$W/card-warm.json" -d 2 >/dev/null # warm-up
c_dp0=$(stack_cpu_s dp) c_d0=$(stack_cpu_s tokfabd) c_a0=$(stack_cpu_s accel1)
t0=$(date +%s.%N)
stack_bench "${BENCH_ARGS[@]}" --json "$W/card.json" >"$W/card.txt" || tf_fail "tokfab-bench (card) failed"
t1=$(date +%s.%N)
sleep 1.5 # the ledger commits the last records
c_dp1=$(stack_cpu_s dp) c_d1=$(stack_cpu_s tokfabd) c_a1=$(stack_cpu_s accel1)
cat "$W/card.txt"
# tokfabd's CPU per usage record, measured while idle for as long: the daemon's floor
c_d2=$(stack_cpu_s tokfabd)
sleep "$SECS"
c_d3=$(stack_cpu_s tokfabd)
c_dp2=$(stack_cpu_s dp)
sleep 2
c_dp3=$(stack_cpu_s dp)
card_api=$STACK_API
stack_down

# ---- baseline ----------------------------------------------------------------
NS=tfbl$TF_ID
tf_netns_veth "$NS" "tbl${TF_ID}a" "tbl${TF_ID}b" "10.199.$((0x$TF_ID & 0xff)).1/24" \
	"10.199.$((0x$TF_ID & 0xff)).2/24"
BL_ADDR=10.199.$((0x$TF_ID & 0xff)).1
"$TF_BIN/tokfab-mkmodel" --preset tiny --seq-len 512 -o "$W/tiny.bin" -t "$W/tiny.tok" >/dev/null
for t in 1 2 3 4; do python3 -c 'import os; print(os.urandom(32).hex())' >"$W/bt$t.key"; done
chmod 600 "$W"/bt*.key
WORKERS=$(nproc)
tf_bg baseline "$TF_BIN/tokfab-baseline" --listen "$BL_ADDR:7480" --model "$W/tiny.bin" \
	--tokenizer "$W/tiny.tok" --tenant "1-4:$W/bt%u.key" --workers "$WORKERS" --max-batch 32 \
	--stats-file "$W/bl-stats.json"
BL=$TF_PID
sleep 1
kill -0 $BL 2>/dev/null || tf_fail "tokfab-baseline did not start: $(cat "$TF_LOGDIR/baseline.log")"
BBENCH=(ip netns exec "$NS" "$TF_BIN/tokfab-bench" -s "$BL_ADDR" -t "1-4:$W/bt%u.key" -c "$CONC"
	-d "$SECS" --prompt-len 16 --max-tokens "$MAXTOK" --vocab 512 --seed 5 -q)
tf_log "baseline ($WORKERS worker threads): $CONC in flight for $SECS s (load average $(load))"
"${BBENCH[@]}" -d 2 >/dev/null
b0=$(cpu_of $BL)
"${BBENCH[@]}" --json "$W/bl.json" >"$W/bl.txt" || tf_fail "tokfab-bench (baseline) failed"
b1=$(cpu_of $BL)
cat "$W/bl.txt"
kill -TERM $BL
wait $BL 2>/dev/null || true
[ -s "$W/bl-stats.json" ] || tf_fail "tokfab-baseline wrote no statistics"

# ---- the report ----------------------------------------------------------------
python3 - "$W" "$HZ" "$SECS" "$c_dp0" "$c_dp1" "$c_d0" "$c_d1" "$c_a0" "$c_a1" "$b0" "$b1" \
	"$c_d2" "$c_d3" "$c_dp2" "$c_dp3" "$WORKERS" <<'EOF' | tee "$OUT/bench_e2e.txt"
import json, sys
w, hz, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
dp0, dp1, d0, d1, a0, a1, b0, b1, di0, di1, dpi0, dpi1 = map(float, sys.argv[4:16])
workers = int(sys.argv[16])
card = json.load(open(w + "/card.json")); bl = json.load(open(w + "/bl.json"))
bst = json.load(open(w + "/bl-stats.json"))
nc = card["requests"]["completed"]; nb = bl["requests"]["completed"]
okc = card["requests"]["ok"]; okb = bl["requests"]["ok"]
dp, d, a, b = dp1 - dp0, d1 - d0, a1 - a0, b1 - b0
# the baseline's split for this window: its engine share over its whole life applies
eng_share = bst["engine_cpu_s"] / bst["threads_cpu_s"] if bst["threads_cpu_s"] else 0
b_eng, b_fe = b * eng_share, b * (1 - eng_share)
def cyc(cpu, n): return cpu * hz / n if n else float("nan")
def rps_core(n, cpu): return n / cpu if cpu else float("inf")
print("End to end, same workload (closed loop %d in flight, prompt 16 tokens, %s new tokens,"
      " tiny model), %.0f s each, clock %.0f MHz" % (card["config"]["concurrency"],
      card["config"]["max_tokens"], secs, hz / 1e6))
print("%-34s %10s %12s %14s %16s" % ("", "requests/s", "CPU s", "cycles/request", "requests/s/core"))
def row(name, n, cpu):
    print("%-34s %10.0f %12.3f %14.0f %16.0f" % (name, n / secs, cpu, cyc(cpu, n), rps_core(n, cpu)))
print("card path: %d ok of %d" % (okc, nc))
row("  host: tokfabd", nc, d)
row("  card: tokfab-dp (card cores)", nc, dp)
row("  accelerator: tokfab-accel", nc, a)
row("  all three", nc, d + dp + a)
print("baseline (%d threads): %d ok of %d" % (workers, okb, nb))
row("  host: front end (sockets, proto)", nb, b_fe)
row("  host: engine steps (accelerator)", nb, b_eng)
row("  host: whole process", nb, b)
host_card = cyc(d, nc); host_bl = cyc(b_fe, nb)
print()
print("host CPU cycles per request: baseline front end %.0f, card path (tokfabd) %.0f:"
      " %.1fx fewer (target >= 5x)" % (host_bl, host_card, host_bl / host_card if host_card else float("inf")))
print("front-end work per request: baseline host threads %.0f cycles, card cores (tokfab-dp) %.0f"
      " cycles: ratio %.2f" % (host_bl, cyc(dp, nc), host_bl / cyc(dp, nc) if dp else float("nan")))
print("host involvement: tokfabd %.3f CPU s per million requests, tokfab-dp %.3f:"
      " %.2f %% of the dataplane (target < 1 %%)" % (d / nc * 1e6 if nc else 0,
      dp / nc * 1e6 if nc else 0, 100 * d / dp if dp else float("nan")))
print("idle floor over %.0f s: tokfabd %.3f CPU s (heartbeats, watchdog, stats polls),"
      " tokfab-dp %.3f CPU s per 2 s (polling)" % (secs, di1 - di0, dpi1 - dpi0))
print("ledger: synchronous=%s" % __import__("os").environ.get("STACK_LEDGER_SYNC", "full"))
print("Noise: 2 shared cores; tokfab-dp polls (busy-waits with %s us sleeps when idle), so its"
      " CPU is an upper bound of its work." % "50")
json.dump({"card": {"requests": nc, "ok": okc, "tokfabd_cpu_s": d, "dp_cpu_s": dp, "accel_cpu_s": a},
           "baseline": {"requests": nb, "ok": okb, "cpu_s": b, "frontend_cpu_s": b_fe,
                        "engine_cpu_s": b_eng, "workers": workers},
           "hz": hz, "seconds": secs,
           "host_cycles_per_request": {"baseline_frontend": host_bl, "card_tokfabd": host_card}},
          open(w + "/e2e-summary.json", "w"), indent=1)
EOF
cp "$W/e2e-summary.json" "$OUT/bench_e2e.json"
echo "bench_e2e: report in $OUT/bench_e2e.txt"
