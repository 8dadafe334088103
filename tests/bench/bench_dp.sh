#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_dp: tokfab-dp's whole card pipeline (parse -> authenticate -> admit ->
# batch -> transport -> respond) on one lcore from an in-memory source, side by
# side in the same run with dpdk-testpmd io-forwarding on net_null on the same
# core (the ceiling of a DPDK lcore here) and a memcpy of each request's bytes
# (the floor). Two protocol settings, each measured the same way in this run:
#   before: HMAC-SHA256 on every datagram, TOKENS + FINAL (the protocol as first built)
#   after:  SipHash-2-4-128 (mac_alg 2) and FINAL_TOKENS (last tokens inside the FINAL)
# Reports, never fails on a figure.
#
# Targets reported against: >= 10 M requests/s per lcore with authentication
# on; p99 added latency < 10 us at half load.
#   BENCH_SECONDS (default 3)  BENCH_TOKENS (tokens per request, default 4)
#   BENCH_REQUESTS (bench_dp_cpu requests, default 1500000)
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

secs=${BENCH_SECONDS:-3}
tokens=${BENCH_TOKENS:-4}
nreq=${BENCH_REQUESTS:-1500000}
bench=$BUILD/bench/bench_dp
cpu=$BUILD/bench/bench_dp_cpu
for b in "$bench" "$cpu"; do [ -x "$b" ] || tf_fail "missing $b: run 'make' first"; done
tf_require_cmd dpdk-testpmd
W=$TF_LOGDIR
# The shm transport's rings on tmpfs, as on a card (a disk-backed file would add writeback stalls).
TOKFAB_SHM_DIR=$(mktemp -d /dev/shm/bench-dp.XXXXXX) || tf_fail "cannot create a directory in /dev/shm"
export TOKFAB_SHM_DIR
tf_on_exit "rm -rf /var/run/dpdk/bdpt$TF_ID /var/run/dpdk/bdp$TF_ID* $TOKFAB_SHM_DIR" # EAL runtime directories
EAL="--no-huge -m 1024 --no-pci --log-level=lib.eal:warning"
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || tf_skip "needs 2 CPUs (card lcore + feeder)"
echo "machine: $ncpu CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
BEFORE="--mac hmac"
AFTER="--mac siphash --final-tokens"

# ---- ceiling: testpmd io forwarding net_null <-> net_null, forwarding on core 0 ----
timeout -s INT $((secs + 3)) dpdk-testpmd -l 0,1 --main-lcore 1 $EAL --file-prefix "bdpt$TF_ID" \
	--vdev=net_null0 --vdev=net_null1 -- --forward-mode=io --nb-cores=1 \
	--total-num-mbufs=8192 --stats-period=1 -a </dev/null >"$W/testpmd.log" 2>&1
# Rx-pps of port 0 then port 1, once a second: the best second, both directions.
ceiling=$(awk '/Rx-pps:/ { if (n++ % 2) { s = prev + $2; if (s > best) best = s } else prev = $2 }
	END { print best + 0 }' "$W/testpmd.log")
[ -n "$ceiling" ] && [ "$ceiling" != 0 ] || { tail -20 "$W/testpmd.log"; tf_fail "testpmd gave no rate"; }

# ---- CPU cost per request: one thread, no DPDK, thread CPU time (robust on a busy machine) ----
# Steady state: the at-most-once table sized for a 2 s window, runs longer than the window.
run_cpu() { # NAME ARGS...
	local name=$1
	shift
	"$cpu" --requests "$nreq" --tokens "$tokens" "$@" >"$W/cpu_$name.out" 2>&1 ||
		{ cat "$W/cpu_$name.out"; tf_fail "bench_dp_cpu ($name) failed"; }
}
cget() { awk -v k="$2" '$1 == k { print $2 }' "$W/cpu_$1.out"; }
run_cpu before $BEFORE
run_cpu after $AFTER

# ---- the pipeline on DPDK lcores: card on core 0, feeder + stand-in accelerator on core 1 ----
run_bench() { # NAME ARGS...
	local name=$1
	shift
	timeout 120 "$bench" -l 0,1 $EAL --file-prefix "bdp$TF_ID$name" --vdev=net_null0 -- \
		--seconds "$secs" --tokens "$tokens" "$@" >"$W/$name.out" 2>&1 ||
		{ tail -20 "$W/$name.out"; tf_fail "bench_dp ($name) failed"; }
}
get() { awk -v k="$2" '$1 == k { print $2 }' "$W/$1.out"; }

run_bench sat_before $BEFORE
run_bench sat_after $AFTER
for n in sat_before sat_after; do
	[ "$(get $n requests_done)" -gt 0 ] 2>/dev/null || { cat "$W/$n.out"; tf_fail "no request completed ($n)"; }
done

# ---- half load (after): the feeder paces at half the saturated per-lcore rate ----
rate=$(get sat_after requests_per_busy_second)
half=$(awk -v r="$rate" 'BEGIN { printf "%d", r / 2 }')
run_bench half $AFTER --rate "$half" --delay-us 0

# ---- where the cycles go (perf, sampling on cpu-clock) ----
prof=""
if command -v perf >/dev/null; then
	if perf record -e cpu-clock -F 4000 -g -o "$W/perf.data" -- "$bench" -l 0,1 $EAL \
		--file-prefix "bdp${TF_ID}p" --vdev=net_null0 -- --seconds "$secs" \
		--tokens "$tokens" $AFTER >"$W/perf.out" 2>&1; then
		prof=$(perf report -i "$W/perf.data" --stdio --no-children --comm bench_dp \
			--sort sym 2>/dev/null | grep -E '^ +[0-9]' | head -25)
	fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
row() { printf "%-46s %14s %14s\n" "$@"; }
echo "---- bench_dp: $tokens tokens per request, prompt 16 token ids, every datagram authenticated"
row "" "before" "after"
row "" "(HMAC, TOKENS" "(SipHash,"
row "" "+ FINAL)" "FINAL_TOKENS)"
row "testpmd io-forward net_null (pps, core 0)" "$ceiling" "$ceiling"
row "memcpy of a request's bytes in + out (ns)" "$(cget before memcpy_ns_per_request)" "$(cget after memcpy_ns_per_request)"
row "tokfab-dp requests per card-CPU-second" "$(cget before requests_per_card_cpu_second)" "$(cget after requests_per_card_cpu_second)"
row "  card CPU per request (ns)" "$(cget before card_ns_per_request)" "$(cget after card_ns_per_request)"
row "  ratio to the testpmd ceiling" "$(ratio "$(cget before requests_per_card_cpu_second)" "$ceiling")" \
	"$(ratio "$(cget after requests_per_card_cpu_second)" "$ceiling")"
row "  ratio to memcpy (card ns / memcpy ns)" \
	"$(ratio "$(cget before card_ns_per_request)" "$(cget before memcpy_ns_per_request)")" \
	"$(ratio "$(cget after card_ns_per_request)" "$(cget after memcpy_ns_per_request)")"
row "  ratio to the 10 M/s target" "$(ratio "$(cget before requests_per_card_cpu_second)" 10000000)" \
	"$(ratio "$(cget after requests_per_card_cpu_second)" 10000000)"
row "  frames out per request" \
	"$(ratio "$(cget before frames_out)" "$(cget before requests_done)")" \
	"$(ratio "$(cget after frames_out)" "$(cget after requests_done)")"
row "  refused (must be 0)" "$(cget before refused)" "$(cget after refused)"
row "tokfab-dp on DPDK lcores, per card-lcore CPU-s" "$(get sat_before requests_per_card_cpu_second)" \
	"$(get sat_after requests_per_card_cpu_second)"
row "  requests/s per busy lcore-second" "$(get sat_before requests_per_busy_second)" "$(get sat_after requests_per_busy_second)"
row "  card lcore busy fraction (feeder-bound if low)" "$(get sat_before card_busy_fraction)" "$(get sat_after card_busy_fraction)"
row "  ratio to the testpmd ceiling (CPU-s)" "$(ratio "$(get sat_before requests_per_card_cpu_second)" "$ceiling")" \
	"$(ratio "$(get sat_after requests_per_card_cpu_second)" "$ceiling")"
row "  frames out per request" \
	"$(ratio "$(get sat_before frames_out)" "$(get sat_before requests_done)")" \
	"$(ratio "$(get sat_after frames_out)" "$(get sat_after requests_done)")"
row "target (per lcore, auth on)" "10000000" "10000000"
echo "---- added latency at half load (after; $half requests/s offered, max_queue_delay 0), frame in -> FINAL out"
echo "     wall: what a client would see, including any time the OS gave the cores to other processes;"
echo "     card-added: CPU time of the card loop iterations that did work meanwhile (no preemption, but"
echo "     the card's work for other requests while this one was at the stand-in accelerator, whose"
echo "     lcore shares the second CPU, is in it); own steps: CPU time of the iteration that took it in"
echo "     and posted it, plus the iteration that sent its FINAL up to the FINAL"
printf "%-38s %12s %12s %12s\n" "requests measured" "$(get half latency_samples)" \
	"$(get half cpu_latency_samples)" "$(get half own_latency_samples)"
printf "%-38s %12s %12s %12s\n" "" "wall" "card-added" "own steps"
for p in p50 p90 p99 p999; do
	printf "%-38s %12s %12s %12s\n" "latency $p (us)" "$(get half latency_${p}_us)" \
		"$(get half cpu_latency_${p}_us)" "$(get half own_latency_${p}_us)"
done
printf "%-46s %14s\n" "target p99 (us)" "10"
echo "---- card-added latency, CPU only (bench_dp_cpu: the card's own steps on a virtual clock, the"
echo "     accelerator answering at once; preempted steps counted at their CPU time)"
row "light load, one request at a time" "before" "after"
for p in p50 p90 p99 p999; do
	row "  $p (ns)" "$(cget before latency_${p}_ns)" "$(cget after latency_${p}_ns)"
done
row "half load: Poisson at half the saturated rate" "$(cget before half_load_offered_per_card_second)" \
	"$(cget after half_load_offered_per_card_second)"
row "  (requests per card-second; max_queue_delay 0)" "" ""
for p in p50 p90 p99 p999; do
	row "  $p (ns)" "$(cget before half_latency_${p}_ns)" "$(cget after half_latency_${p}_ns)"
done
row "  target p99 (ns)" "10000" "10000"
row "  card busy share of the time (its real load)" "$(cget before card_utilisation)" "$(cget after card_utilisation)"
echo "---- baseline for the half-load figures, same loop, same moments (bench_dp_cpu, after):"
echo "     null card: the same arrivals and load, each step constant work as long as the card's"
echo "     average step of that size; what the machine adds to it (vCPU stalls) and the queueing"
echo "     after that is all its latency beyond that work. null step: a fixed 1 us of arithmetic"
echo "     after every card step (this machine's own stalls, per second of work). flat card: a null card"
echo "     whose requests all cost the saturated cost per request (load really half: no per-step cost)."
printf "%-34s %14s %14s %14s\n" "" "card" "null card" "flat card"
printf "%-34s %14s %14s %14s\n" "  busy share of the time" "$(cget after card_utilisation)" \
	"$(cget after null_card_utilisation)" "$(cget after flat_card_utilisation)"
for p in p50 p90 p99 p999; do
	printf "%-34s %14s %14s %14s\n" "  $p (ns)" "$(cget after half_latency_${p}_ns)" \
		"$(cget after null_card_latency_${p}_ns)" "$(cget after flat_card_latency_${p}_ns)"
done
row "  ratio card / null card at p99" "$(ratio "$(cget after half_latency_p99_ns)" "$(cget after null_card_latency_p99_ns)")" ""
row "  ratio card / flat card at p99" "$(ratio "$(cget after half_latency_p99_ns)" "$(cget after flat_card_latency_p99_ns)")" ""
row "" "card step" "null step"
row "  steps" "$(cget after steps)" "$(cget after null_steps)"
for p in p50 p99 p999 max; do
	row "  step $p (ns)" "$(cget after step_${p}_ns)" "$(cget after null_${p}_ns)"
done
row "  slow steps (>= 10 us + 1 us per request)" "$(cget after slow_steps)" "$(cget after null_slow_steps)"
row "  slow steps per second of step time" "$(cget after slow_steps_per_card_second)" \
	"$(cget after null_slow_steps_per_second)"
echo "     slow card steps by the phase that had most of their time: count, mean ns in that phase,"
echo "     the phase's share of all card step time (machine stalls land in proportion to it)"
awk '$1 ~ /^slow_by_/ { sub(/^slow_by_/, "", $1); printf "       %-14s %6s %10s %8s\n", $1, $2, $3, $4 }' "$W/cpu_after.out"
echo "     card step cost by size (steps under 10 us: count, mean ns) -- small steps cost more per request"
awk '$1 ~ /^step_in[0-2]_out[0-2]$/ { printf "       %-14s %8s %6s\n", $1, $2, $3 }' "$W/cpu_after.out"
row "  saturated card ns per request (32-frame bursts)" "" \
	"$(awk '$1 == "saturated_per_card_second_no_delay" { printf "%.0f", 1e9 / $2 }' "$W/cpu_after.out")"
if [ -n "$prof" ]; then
	echo "---- where the card lcore's cycles go (perf, cpu-clock samples, saturated run, after)"
	echo "$prof"
fi
exit 0
