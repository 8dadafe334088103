#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Scale: requests/s as the number of tenants sending and the number of requests
# outstanding grow (target: flat within 20 % of the smallest point).
#
# One appliance (tokfab-dp with one worker lcore, two accelerators, tiny model,
# 4 new tokens per request so the card's per-request work dominates) configured
# with SCALE_TENANTS tenants (default 100 000; the card holds limits.tenants, 131 072
# by default, on one worker lcore) and limits raised to 131 072 requests and the packet
# buffers to 196 608 (a queued prompt keeps its buffer: the card holds at most half of
# them queued).
#   tenants:     1, 10, 100, 1 000, 10 000, 100 000 tenants active, 64 requests in flight
#                (each request from a tenant drawn at random: no locality)
#   outstanding: 1, 10, 100, 1 000, 10 000, 100 000 requests in flight over 100 tenants,
#                after a warm-up of max(1 s, n / 3 000 s): with 10^5 in flight a request
#                waits ~10 s at the card, and the first seconds are the start-up burst
# BUSY answers above the card's queue bounds are retried by the client library
# after retry_after (they count as retransmissions, not as errors, unless retries
# run out). tokfab-bench keeps at most 4 096 clients (sockets) open: beyond that a
# request from a tenant without one closes the least recently used idle one first,
# which is the load generator's cost, not the card's. Reports only. Knobs:
# SCALE_SECONDS (4), SCALE_TENANTS (100000).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"

tf_require_root
tf_require_cmd ip python3 ethtool
STACK_BIN=$TF_BIN
stack_preflight tokfab-bench || tf_fail "see above"
SECS=${SCALE_SECONDS:-4}
NT=${SCALE_TENANTS:-100000}
W=$TF_LOGDIR
OUT=${BENCH_OUT:-$BUILD/bench}
mkdir -p "$OUT"

STACK_ID=$TF_ID
STACK_MODEL_MAX_NEW=16
STACK_DP_MEM=1024
STACK_DP_YAML="  mbufs: 196608
limits:
  max_requests: 131072
  max_queue: 131072
  id_table: 1048576"
stack_init "$W/stack"
tf_on_exit stack_down
stack_model tiny tiny --seq-len 256
stack_accel 1 a tiny 1.00 shm --max-inflight 4096 --max-batch 64
stack_accel 2 b tiny 1.00 shm --max-inflight 4096 --max-batch 64
# every tenant shares one key file (tokfab-bench --tenant FIRST-LAST:KEYFILE)
stack_tenant 1 t1 unlimited 0.002
[ "$NT" -gt 1 ] && stack_tenant_range 2 "$NT" t1.key 0.002
tf_log "appliance with $NT tenants (load average $(cut -d' ' -f1 /proc/loadavg))"
t_up=$(date +%s.%N)
stack_up || tf_fail "the appliance did not come up with $NT tenants"
tf_log "up, tokfabd configured the card with $NT tenants in $(python3 -c "import time; print(round(time.time() - $t_up, 1))") s"
: >"$W/points.txt"
args=(--prompt-len 8 --max-tokens 4 --vocab 512 -q --max-clients 4096 --retries 10 --timeout 30)
for n in 1 10 100 1000 10000 100000; do
	[ "$n" -le "$NT" ] || continue
	stack_bench "${args[@]}" -t "1-$n:$STACK_DIR/t1.key" -c 64 -d "$SECS" --warmup 1 \
		--json "$W/tenants-$n.json" >"$W/tenants-$n.txt" || tf_fail "tenants $n: tokfab-bench failed"
	echo "tenants $n $W/tenants-$n.json" >>"$W/points.txt"
	tf_log "tenants $n: $(sed -n 's/^requests *//p' "$W/tenants-$n.txt")"
done
for c in 1 10 100 1000 10000 100000; do
	warm=$((c / 3000 > 1 ? c / 3000 : 1))
	stack_bench "${args[@]}" -t "1-100:$STACK_DIR/t1.key" -c "$c" -d "$SECS" --warmup "$warm" \
		--drain 40 --json "$W/out-$c.json" >"$W/out-$c.txt" || tf_fail "outstanding $c: tokfab-bench failed"
	echo "outstanding $c $W/out-$c.json" >>"$W/points.txt"
	tf_log "outstanding $c: $(sed -n 's/^requests *//p' "$W/out-$c.txt")"
done
python3 - "$W/points.txt" <<'EOF' | tee "$OUT/bench_e2e_scale.txt"
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
print("Scale (tokfab-dp one worker lcore, two tiny-model accelerators, 8-token prompts,"
      " 4 new tokens)")
for kind, head in (("tenants", "tenants sending (64 in flight)"),
                   ("outstanding", "requests in flight (100 tenants)")):
    pts = [(int(n), json.load(open(p))) for k, n, p in rows if k == kind]
    if not pts:
        continue
    base = max(j["throughput"]["ok_requests_per_s"] for n, j in pts)
    print("%s:" % head)
    print("  %8s %10s %8s %10s %10s %8s %11s %9s %11s" % ("n", "ok/s", "vs best", "TTFT p50",
          "TTFT p99", "errors", "retransmits", "resumes", "bench CPU s"))
    for n, j in pts:
        ok = j["throughput"]["ok_requests_per_s"]
        print("  %8d %10.0f %7.0f%% %9.2fms %9.2fms %8d %11d %9d %11.1f" % (n, ok,
              100 * ok / base if base else 0, j["latency_us"]["ttft"]["p50"] / 1000,
              j["latency_us"]["ttft"]["p99"] / 1000, j["requests"]["errors"],
              j["client"]["retransmits"], j["client"]["resumes"], j["client"]["cpu_s"]))
print("Flat within 20 % of the best point is the target; with 1 (or 10) in flight a closed"
      " loop is bound by the round trip, not by the card. Above 4 096 tenants tokfab-bench"
      " opens and closes a socket for most requests (its client cap).")
EOF
echo "bench_e2e_scale: report in $OUT/bench_e2e_scale.txt"
