# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/vm/test_rdma_xport.sh and tests/bench/bench_xport_rdma.sh:
# Soft-RoCE on a veth, then libtfxport over real verbs.
#   $1 = test   transport checks: echo peer with tiny rings (wrap, credits),
#               real tokfab-accel, SIGKILL of an accelerator mid-batch with a
#               second one taking over; perftest as the reference
#   $1 = bench  ib_write_bw / ib_write_lat and the transport benchmark, same link
# Results for the host go to $TF_VM_OUT/*.txt.
set -u
MODE=${1:-test}
B=$BUILD/bin
ADDR=10.77.0.1
W=/tmp/xp
mkdir -p $W
fail() { echo "FAIL: $*"; for f in $W/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done; exit 1; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT
bg() { local log=$1; shift; "$@" >"$W/$log.log" 2>&1 </dev/null & PIDS+=($!); LASTPID=$!; }
wait_for() { local n=$(($1 * 10)); shift; while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done; return 1; }

# ---- Soft-RoCE: one rxe device on a veth end (rxe refuses lo; one device, own GID)
. "$TF_ROOT/tests/vm/guest/rdma_lib.sh"
rdma_rxe_up $ADDR || fail "no Soft-RoCE device"

# perftool TOOL PORT OUT ARGS...: a perftest server and its client on this rxe device
# (the client retries while the server is not listening yet: a loaded machine)
perftool() {
	local tool=$1 port=$2 out=$3 srv try ok=0
	shift 3
	$tool -d rxe0 -x 1 -F -p "$port" "$@" >"$W/$tool-srv.log" 2>&1 &
	srv=$!
	for try in 1 2 3 4 5 6 7 8 9 10; do
		sleep 1
		$tool -d rxe0 -x 1 -F -p "$port" "$@" $ADDR >"$out" 2>&1 && { ok=1; break; }
		grep -q "Couldn't connect" "$out" || { cat "$out"; fail "$tool client failed"; }
	done
	[ $ok = 1 ] || { cat "$out"; fail "$tool: no server on port $port after $try tries"; }
	wait $srv
	grep -A1 '#bytes' "$out" | tail -n 1 | sed "s/^/$tool: /"
}

perftest() { # SIZE ITERS -> $W/bw.txt $W/lat.txt (nothing else may run meanwhile)
	perftool ib_write_bw 18515 $W/bw.txt -s "$1" -n "$2"
	perftool ib_write_lat 18516 $W/lat.txt -s 64 -n 1000
}

if [ "$MODE" = bench ]; then
	# Rounds of: ib_write_bw at the batch-16 record size (2112 bytes: 16 x 64-byte
	# prompts), the transport at batch 16, ib_write_bw at the size of the answers
	# that came back, then the same at batch 1 (192 bytes). Interleaved, so that
	# the shared machine's load hits reference and transport alike; each alone on
	# the link and the CPUs (the echo peer only runs during its own run).
	ROUNDS=${TF_XPORT_BENCH_ROUNDS:-3}
	SECS=${TF_XPORT_BENCH_SECONDS:-4}
	bw() { perftool ib_write_bw 18515 "$2" -s "$1" -D "$SECS"; } # SIZE OUT
	# hwc: rxe0's protocol counters (RNR NAKs, retries, sequence errors), one line
	hwc() {
		local f
		for f in /sys/class/infiniband/rxe0/ports/1/hw_counters/*; do
			printf '%s=%s ' "${f##*/}" "$(cat "$f")"
		done
	}
	xport() { # BATCH OUT [DRIVE]: DRIVE (default this build's) as echo peer and card
		local d=${3:-$B/tokfab-xport-drive}
		bg echo "$d" --serve rdma:$ADDR:7480 --echo --max-inflight 4096
		local e=$LASTPID c0
		wait_for 10 grep -q listening $W/echo.log || fail "echo peer did not listen"
		c0=$(hwc)
		"$d" --connect rdma:$ADDR:7480 --bench --seconds "$SECS" \
			--batch "$1" --prompt-tokens 16 --quiet >"$2" 2>&1 ||
			{ cat "$2"; fail "transport benchmark failed"; }
		kill $e
		wait $e 2>/dev/null
		# what rxe counted during the run (nonzero differences only)
		python3 -c 'import sys
a = dict(x.split("=") for x in sys.argv[1].split())
b = dict(x.split("=") for x in sys.argv[2].split())
print("rxe_counters: " + " ".join("%s=%d" % (k, int(b[k]) - int(a.get(k, 0)))
      for k in sorted(b) if int(b[k]) != int(a.get(k, 0))))' "$c0" "$(hwc)" >>"$2"
		cat "$2"
	}
	for r in $(seq 1 "$ROUNDS"); do
		echo "round $r of $ROUNDS"
		for b in 16 1; do
			size=$((b == 16 ? 2112 : 192))
			bw $size "$TF_VM_OUT/bw-b$b-r$r.txt"
			xport $b "$TF_VM_OUT/bench-rdma-b$b-r$r.txt"
			# TF_XPORT_DRIVE_BEFORE: an older tokfab-xport-drive, same round
			[ -n "${TF_XPORT_DRIVE_BEFORE:-}" ] &&
				xport $b "$TF_VM_OUT/before-rdma-b$b-r$r.txt" "$TF_XPORT_DRIVE_BEFORE"
			resp=$(sed -n 's/.*resp_bytes_per_record=\([0-9]*\).*/\1/p' "$TF_VM_OUT/bench-rdma-b$b-r$r.txt")
			bw "$(( (${resp:-64} + 63) / 64 * 64 ))" "$TF_VM_OUT/bw-resp-b$b-r$r.txt"
		done
	done
	perftool ib_write_lat 18516 "$TF_VM_OUT/lat.txt" -s 64 -n 1000
	# TF_XPORT_BENCH_PERF=1: where the cycles go -- the whole guest (kernel: rxe,
	# user: driver and echo peer) sampled during one more transport run per batch
	if [ "${TF_XPORT_BENCH_PERF:-0}" = 1 ]; then
		for b in 16 1; do
			bg echo "$B/tokfab-xport-drive" --serve rdma:$ADDR:7480 --echo --max-inflight 4096
			e=$LASTPID
			wait_for 10 grep -q listening $W/echo.log || fail "echo peer did not listen"
			perf record -a -g -e cpu-clock -F 2000 -o $W/perf-b$b.data -- \
				"$B/tokfab-xport-drive" --connect rdma:$ADDR:7480 --bench --seconds "$SECS" \
				--batch $b --prompt-tokens 16 --quiet >$W/perf-run.log 2>&1 ||
				{ cat $W/perf-run.log; fail "transport benchmark under perf failed"; }
			kill $e
			wait $e 2>/dev/null
			grep batches_per_s $W/perf-run.log | sed "s/^/perf run batch $b: /"
			perf report -i $W/perf-b$b.data --stdio --no-children --sort comm,dso,symbol \
				-g none --percent-limit 0.5 >"$TF_VM_OUT/perf-b$b.txt" 2>/dev/null
			perf report -i $W/perf-b$b.data --stdio --no-children --sort comm \
				-g none >"$TF_VM_OUT/perf-comm-b$b.txt" 2>/dev/null
			perf report -i $W/perf-b$b.data --stdio --no-children --sort symbol \
				-g caller,2,callee,function,percent --percent-limit 2 \
				>"$TF_VM_OUT/perf-callers-b$b.txt" 2>/dev/null
		done
	fi
	echo "PASS: rdma benchmark done"
	exit 0
fi

"$B/tokfab-mkmodel" --preset tiny -o $W/m.bin -t $W/t.bin >/dev/null || fail "tokfab-mkmodel failed"

# ---- 1. transport over real verbs: tiny rings force wrap, PAD records and credit waits
bg echo "$B/tokfab-xport-drive" --serve rdma:$ADDR:7470 --echo --in-ring 16384 --max-inflight 64
wait_for 10 grep -q listening $W/echo.log || fail "echo peer did not listen"
out=$("$B/tokfab-xport-drive" --connect rdma:$ADDR:7470 --resp-ring 16384 --requests 3000 \
	--batch 8 --prompt-tokens 40 --timeout-ms 120000 2>&1) || { echo "$out"; fail "rdma transport run failed"; }
echo "$out" | grep '^drive:'
echo "$out" | grep -q 'requests=3000 answered=3000 ended=3000 failed=0 redispatched=0' ||
	fail "not every request came back over rdma: $out"
echo "$out" | grep -E 'rx_bad|protocol|qp_error' && fail "transport counters show errors: $out"
kill "$LASTPID"

# ---- 2. the real accelerator over rdma. Under TCG the engine manages only tens of
#         tokens per second and publishes its heartbeat between steps, so the card
#         gets a generous peer timeout; generic kernels are the fastest emulated.
ENG=(--model $W/m.bin --tokenizer $W/t.bin --threads 1 --kernels generic)
PT=(--peer-timeout-ms 30000)
bg accel1 "$B/tokfab-accel" --listen rdma:$ADDR:7471 "${ENG[@]}" --name acc1 --drain-timeout 0
A1=$LASTPID
bg accel2 "$B/tokfab-accel" --listen rdma:$ADDR:7472 "${ENG[@]}" --name acc2
wait_for 20 grep -q 'listening on rdma' $W/accel1.log || fail "tokfab-accel 1 did not listen"
wait_for 20 grep -q 'listening on rdma' $W/accel2.log || fail "tokfab-accel 2 did not listen"
out=$("$B/tokfab-xport-drive" --connect rdma:$ADDR:7471 --requests 8 --batch 4 "${PT[@]}" \
	--prompt "Once upon a time" --max-new-tokens 8 --expect-tokens --timeout-ms 120000 2>&1) ||
	{ echo "$out"; fail "tokfab-accel over rdma did not answer every request with tokens"; }
echo "$out" | grep '^drive:'
echo "$out" | grep -q 'requests=8 answered=8 ended=8 failed=0' || fail "summary: $out"

# ---- 3. kill accelerator 1 mid-batch: its requests come back failed-retryable and
#         are re-dispatched to accelerator 2; none is lost
"$B/tokfab-xport-drive" --connect rdma:$ADDR:7471 --connect rdma:$ADDR:7472 --requests 16 \
	--batch 4 --prompt-tokens 8 --max-new-tokens 40 --expect-tokens --progress "${PT[@]}" \
	--timeout-ms 300000 >$W/failover.log 2>&1 &
DRIVE=$!
PIDS+=($DRIVE)
wait_for 120 grep -q 'progress tokens=[0-9]*[05]0 ' $W/failover.log || fail "no tokens flowed before the kill"
kill -9 $A1
echo "killed tokfab-accel 1 (pid $A1) mid-batch"
wait $DRIVE
rc=$?
grep -v progress $W/failover.log | tail -n 25
[ $rc -eq 0 ] || fail "requests were lost or failed after the accelerator was killed"
grep -q 'requests=16 answered=16 ended=16 failed=0' $W/failover.log || fail "not every request ended"
red=$(sed -n 's/.*redispatched=\([0-9]*\).*/\1/p' $W/failover.log)
[ "${red:-0}" -ge 1 ] || fail "no request was re-dispatched: the kill did not hit in-flight work"
echo "failover: $red requests re-dispatched to accelerator 2"
grep -q 'connection 0 down' $W/failover.log || fail "the card did not notice the dead accelerator"

# ---- 4. perftest on the same link, as the reference
perftest 2112 5000
cp $W/bw.txt "$TF_VM_OUT/bw.txt"
echo "PASS: rdma transport, tokfab-accel over rdma, failover"
