#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfab-bench and tokfab-baseline refuse every bad argument with exit code 2 and a
# sentence that names the option and what it accepts; --help exits 0.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

for b in tokfab-bench tokfab-baseline tokfab-mkmodel; do
	[ -x "$TF_BIN/$b" ] || tf_fail "missing $TF_BIN/$b: run 'make' first"
done
W=$TF_LOGDIR
python3 -c 'import os; print(os.urandom(32).hex())' >"$W/k.key"
chmod 600 "$W/k.key"

# expect PROG WANT_RC REGEX ARGS...
expect() {
	local prog=$1 want=$2 re=$3 rc=0
	shift 3
	"$TF_BIN/$prog" "$@" >"$W/out" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || { cat "$W/out"; tf_fail "$prog $*: exit $rc, expected $want"; }
	grep -Eq -- "$re" "$W/out" || { cat "$W/out"; tf_fail "$prog $*: no message matching '$re'"; }
}

B=(-s 127.0.0.1 -t "1:$W/k.key")
expect tokfab-bench 0 "usage: tokfab-bench" --help
expect tokfab-bench 2 "--server ADDR\[:PORT\] is required"
expect tokfab-bench 2 "at least one --tenant" -s 127.0.0.1
expect tokfab-bench 2 "--tenant '0:k': tenant ids are integers" -s x -t 0:k
expect tokfab-bench 2 "--tenant '5-3:k': a range is FIRST-LAST" -s x -t 5-3:k
expect tokfab-bench 2 "only '%' allowed" -s x -t "1:k%d"
expect tokfab-bench 2 "--concurrency '0': expected an integer from 1" "${B[@]}" -c 0
expect tokfab-bench 2 "--rate 'x': expected a number > 0" "${B[@]}" -r x
expect tokfab-bench 2 "not both" "${B[@]}" -c 4 -r 10
expect tokfab-bench 2 "--duration '0': expected a number > 0" "${B[@]}" -d 0
expect tokfab-bench 2 "--prompt-len '5-2': .*exp:MEAN" "${B[@]}" --prompt-len 5-2
expect tokfab-bench 2 "--max-tokens 'exp:0'" "${B[@]}" --max-tokens exp:0
expect tokfab-bench 2 "--temperature '11': expected a number >= 0 and <= 10" "${B[@]}" --temperature 11
expect tokfab-bench 2 "--top-p '0': expected a number >= 0.0001" "${B[@]}" --top-p 0
expect tokfab-bench 2 "--priority '8': expected an integer from 0 to 7" "${B[@]}" --priority 8
expect tokfab-bench 2 "--api 'ftp://x': expected http://HOST:PORT" "${B[@]}" --api ftp://x
expect tokfab-bench 2 "--api and --api-token go together" "${B[@]}" --api http://x:1
expect tokfab-bench 2 "--dgram '100': expected an integer from 144 to 1472" "${B[@]}" --dgram 100
expect tokfab-bench 2 "--max-outstanding 2 is below --concurrency 8" "${B[@]}" --max-outstanding 2 -c 8
expect tokfab-bench 2 "unexpected argument 'foo'" "${B[@]}" foo
expect tokfab-bench 1 "key file /nonexistent.key: cannot open" -s 127.0.0.1 -t 1:/nonexistent.key
expect tokfab-bench 1 "cannot resolve 'no-such-host.invalid'" -s no-such-host.invalid -t "1:$W/k.key" -d 1 -q

"$TF_BIN/tokfab-mkmodel" --preset tiny -o "$W/m.bin" -t "$W/m.tok" >/dev/null
L=(--listen 127.0.0.1:0 --model "$W/m.bin" --tokenizer "$W/m.tok")
expect tokfab-baseline 0 "usage: tokfab-baseline" --help
expect tokfab-baseline 2 "--listen, --model, --tokenizer and at least one --tenant are required" "${L[@]}"
expect tokfab-baseline 2 "--tenant 'x:k': tenant ids are integers" "${L[@]}" --tenant x:k
expect tokfab-baseline 2 "--workers '0': expected an integer from 1 to 64" "${L[@]}" --tenant "1:$W/k.key" --workers 0
expect tokfab-baseline 2 "--max-batch 'lots'" "${L[@]}" --tenant "1:$W/k.key" --max-batch lots
expect tokfab-baseline 2 "tenant 1 is given twice" "${L[@]}" --tenant "1:$W/k.key" --tenant "1-2:$W/k.key"
expect tokfab-baseline 2 "key file /nonexistent.key" "${L[@]}" --tenant 1:/nonexistent.key
expect tokfab-baseline 1 "worker 0: .*checkpoint|worker 0: .*open" --listen 127.0.0.1:0 --model /nonexistent.bin \
	--tokenizer "$W/m.tok" --tenant "1:$W/k.key"
tf_pass "tokfab-bench and tokfab-baseline explain every bad argument"
