#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfab-accel refuses every bad argument with exit status 2 and a message
# that names the problem.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

A=$TF_BIN/tokfab-accel
[ -x "$A" ] || tf_fail "$A is missing: run 'make'"
"$TF_BIN/tokfab-mkmodel" --preset tiny -o "$TF_LOGDIR/m.bin" -t "$TF_LOGDIR/t.bin" >/dev/null ||
	tf_fail "tokfab-mkmodel failed"
M=(--model "$TF_LOGDIR/m.bin" --tokenizer "$TF_LOGDIR/t.bin")

expect_refused() { # WANT-SUBSTRING ARGS...
	local want=$1; shift
	local out rc
	out=$("$A" "$@" 2>&1); rc=$?
	[ $rc -eq 2 ] || tf_fail "tokfab-accel $*: exit $rc, expected 2 ($out)"
	echo "$out" | grep -qF -- "$want" || tf_fail "tokfab-accel $*: message lacks '$want': $out"
	echo "ok: $* -> $(echo "$out" | head -n 1)"
}

expect_refused "no --model given" --listen shm:x
expect_refused "no --listen given" "${M[@]}"
expect_refused "neither shm:NAME nor rdma:ADDR:PORT" --listen tcp:1.2.3.4:5 "${M[@]}"
expect_refused "comes before any --model" --listen shm:x --tokenizer "$TF_LOGDIR/t.bin"
expect_refused "has no --tokenizer" --listen shm:x --model "$TF_LOGDIR/m.bin"
expect_refused "No such file" --listen shm:x --model /nonexistent/m.bin --tokenizer "$TF_LOGDIR/t.bin"
expect_refused "same model id" --listen shm:x "${M[@]}" --model-id 3 "${M[@]}" --model-id 3
expect_refused "not a whole number" --listen shm:x "${M[@]}" --threads two
expect_refused "between 1 and 65536" --listen shm:x "${M[@]}" --max-inflight 0
expect_refused "not a power of two" --listen shm:x "${M[@]}" --in-ring 100000
expect_refused "--cost-per-hour" --listen shm:x "${M[@]}" --cost-per-hour -3
expect_refused "neither fp32 nor int8" --listen shm:x "${M[@]}" --precision fp16
expect_refused "unknown option" --listen shm:x "${M[@]}" --bogus
expect_refused "needs a value" --listen shm:x "${M[@]}" --name
expect_refused "unexpected argument" --listen shm:x "${M[@]}" stray
# a model file that is not a model: the engine's message, exit 1
out=$("$A" --check --model "$TF_LOGDIR/t.bin" --tokenizer "$TF_LOGDIR/t.bin" 2>&1); rc=$?
[ $rc -ne 0 ] || tf_fail "a tokenizer given as --model was accepted"
echo "ok: bad checkpoint -> $(echo "$out" | tail -n 1)"
out=$("$A" --check "${M[@]}" --model-id 9 2>&1) || tf_fail "--check of a good model failed: $out"
echo "$out" | grep -q "would serve: 9=m" || tf_fail "--check output: $out"
tf_pass "tokfab-accel argument errors"
