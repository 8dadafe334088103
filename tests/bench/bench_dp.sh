#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_dp: tokfab-dp's whole card pipeline (parse -> authenticate -> admit ->
# batch -> transport -> respond) on one lcore from an in-memory source, side by
# side in the same run with dpdk-testpmd io-forwarding on net_null on the same
# core (the ceiling of a DPDK lcore here). Reports, never fails on a figure.
#
# Targets reported against: >= 10 M requests/s per lcore with authentication
# on; p99 added latency < 10 us at half load.
#   BENCH_SECONDS (default 3)  BENCH_TOKENS (tokens per request, default 4)
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

secs=${BENCH_SECONDS:-3}
tokens=${BENCH_TOKENS:-4}
bench=$BUILD/bench/bench_dp
cpu=$BUILD/bench/bench_dp_cpu
for b in "$bench" "$cpu"; do [ -x "$b" ] || tf_fail "missing $b: run 'make' first"; done
tf_require_cmd dpdk-testpmd
W=$TF_LOGDIR
export TOKFAB_SHM_DIR=$W
tf_on_exit "rm -rf /var/run/dpdk/bdpt$TF_ID /var/run/dpdk/bdp$TF_ID*" # EAL runtime directories
EAL="--no-huge -m 1024 --no-pci --log-level=lib.eal:warning"
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || tf_skip "needs 2 CPUs (card lcore + feeder)"
echo "machine: $ncpu CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- ceiling: testpmd io forwarding net_null <-> net_null, forwarding on core 0 ----
timeout -s INT $((secs + 3)) dpdk-testpmd -l 0,1 --main-lcore 1 $EAL --file-prefix "bdpt$TF_ID" \
	--vdev=net_null0 --vdev=net_null1 -- --forward-mode=io --nb-cores=1 \
	--total-num-mbufs=8192 --stats-period=1 -a </dev/null >"$W/testpmd.log" 2>&1
# Rx-pps of port 0 then port 1, once a second: the best second, both directions.
ceiling=$(awk '/Rx-pps:/ { if (n++ % 2) { s = prev + $2; if (s > best) best = s } else prev = $2 }
	END { print best + 0 }' "$W/testpmd.log")
[ -n "$ceiling" ] && [ "$ceiling" != 0 ] || { tail -20 "$W/testpmd.log"; tf_fail "testpmd gave no rate"; }

# ---- CPU cost per request: one thread, no DPDK, thread CPU time (robust on a busy machine) ----
"$cpu" --requests 300000 --tokens "$tokens" >"$W/cpu.out" 2>&1 || { cat "$W/cpu.out"; tf_fail "bench_dp_cpu failed"; }
cpu_rate=$(awk '$1 == "requests_per_card_cpu_second" { print $2 }' "$W/cpu.out")
cpu_ns=$(awk '$1 == "card_ns_per_request" { print $2 }' "$W/cpu.out")

# ---- the pipeline, saturated: card on core 0, feeder + stand-in accelerator on core 1 ----
run_bench() { # NAME ARGS...
	local name=$1
	shift
	timeout 120 "$bench" -l 0,1 $EAL --file-prefix "bdp$TF_ID$name" --vdev=net_null0 -- \
		--seconds "$secs" --tokens "$tokens" "$@" >"$W/$name.out" 2>&1 ||
		{ tail -20 "$W/$name.out"; tf_fail "bench_dp ($name) failed"; }
}
get() { awk -v k="$2" '$1 == k { print $2 }' "$W/$1.out"; }

run_bench sat
rate=$(get sat requests_per_busy_second)
done_n=$(get sat requests_done)
[ -n "$rate" ] && [ "${done_n:-0}" -gt 0 ] || { cat "$W/sat.out"; tf_fail "no request completed"; }

# ---- half load: the feeder paces at half the saturated per-lcore rate ----
half=$(awk -v r="$rate" 'BEGIN { printf "%d", r / 2 }')
run_bench half --rate "$half" --delay-us 0

# ---- where the cycles go (perf, sampling on cpu-clock) ----
prof=""
if command -v perf >/dev/null; then
	if perf record -e cpu-clock -F 4000 -g -o "$W/perf.data" -- "$bench" -l 0,1 $EAL \
		--file-prefix "bdp${TF_ID}p" --vdev=net_null0 -- --seconds "$secs" \
		--tokens "$tokens" >"$W/perf.out" 2>&1; then
		prof=$(perf report -i "$W/perf.data" --stdio --no-children --comm bench_dp \
			--sort sym 2>/dev/null | grep -E '^ +[0-9]' | head -25)
	fi
fi

ratio=$(awk -v a="$rate" -v b="$ceiling" 'BEGIN { printf "%.3f", a / b }')
cpu_ratio=$(awk -v a="$cpu_rate" -v b="$ceiling" 'BEGIN { printf "%.3f", a / b }')
echo "---- bench_dp (tokens per request: $tokens, prompt 16 token ids, HMAC-SHA256 on every datagram)"
printf "%-44s %12s\n" "testpmd io-forward net_null (pps, core 0)" "$ceiling"
printf "%-44s %12s\n" "tokfab-dp requests per card-CPU-second" "$cpu_rate"
printf "%-44s %12s\n" "  card CPU per request (ns)" "$cpu_ns"
printf "%-44s %12s\n" "  ratio to the testpmd ceiling" "$cpu_ratio"
printf "%-44s %12s\n" "tokfab-dp requests/s per lcore (DPDK, busy)" "$rate"
printf "%-44s %12s\n" "  same, per card-lcore CPU-second (DPDK)" "$(get sat requests_per_card_cpu_second)"
printf "%-44s %12s\n" "  ratio to the testpmd ceiling" "$ratio"
printf "%-44s %12s\n" "  card lcore busy fraction (saturated run)" "$(get sat card_busy_fraction)"
printf "%-44s %12s\n" "  frames in / out per request" \
	"1 / $(awk -v o="$(get sat frames_out)" -v r="$done_n" 'BEGIN { printf "%.2f", o / r }')"
printf "%-44s %12s\n" "  mean batch size" \
	"$(awk -v b="$(get sat batch_reqs)" -v n="$(get sat batches)" 'BEGIN { printf "%.1f", n ? b / n : 0 }')"
printf "%-44s %12s\n" "target (per lcore, auth on)" "10000000"
echo "---- added latency, frame in -> FINAL out, at half load ($half requests/s offered, max_queue_delay 0;"
echo "     wall clock on two lcores: includes any time the OS gives the cores to other processes)"
printf "%-44s %12s\n" "requests measured" "$(get half latency_samples)"
for p in p50 p90 p99 p999; do
	printf "%-44s %12s\n" "latency $p (us)" "$(get half latency_${p}_us)"
done
printf "%-44s %12s\n" "target p99 (us)" "10"
echo "---- card-added latency at light load, CPU only (bench_dp_cpu: rx -> batch posted + END -> FINAL)"
for p in p50 p90 p99 p999; do
	printf "%-44s %12s\n" "card latency $p (ns)" "$(awk -v k="latency_${p}_ns" '$1 == k { print $2 }' "$W/cpu.out")"
done
if [ -n "$prof" ]; then
	echo "---- where the card lcore's cycles go (perf, cpu-clock samples, saturated run)"
	echo "$prof"
fi
exit 0
