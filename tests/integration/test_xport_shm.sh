#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Host tier, shm transport: a card-side driver (libtfxport) sends batches to
# the real tokfab-accel running a generated model; every request must end
# with tokens, over text and token-id prompts, with the status block read
# back and the accelerator's counters clean.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

for b in tokfab-accel tokfab-xport-drive tokfab-mkmodel; do
	[ -x "$TF_BIN/$b" ] || tf_fail "$TF_BIN/$b is missing: run 'make'"
done
export TOKFAB_SHM_DIR=$TF_LOGDIR
"$TF_BIN/tokfab-mkmodel" --preset tiny -o "$TF_LOGDIR/m.bin" -t "$TF_LOGDIR/t.bin" >/dev/null ||
	tf_fail "tokfab-mkmodel failed"

name=x$TF_ID
tf_bg accel "$TF_BIN/tokfab-accel" --listen "shm:$name" --model "$TF_LOGDIR/m.bin" \
	--tokenizer "$TF_LOGDIR/t.bin" --name "acc-$TF_ID" --threads 1 --max-inflight 32
tf_wait_for 10 test -S "$TF_LOGDIR/tokfab-$name.sock" || {
	cat "$TF_LOGDIR/accel.log"; tf_fail "tokfab-accel did not start listening"; }

tf_log "text prompts, 24 requests in batches of 6"
out=$("$TF_BIN/tokfab-xport-drive" --connect "shm:$name" --requests 24 --batch 6 \
	--prompt "Once upon a time" --max-new-tokens 20 --expect-tokens --timeout-ms 30000 2>&1) ||
	{ echo "$out"; tf_fail "text-prompt requests did not all end with tokens"; }
echo "$out" | grep '^drive:'
echo "$out" | grep -q 'requests=24 answered=24 ended=24 failed=0' ||
	tf_fail "summary wrong: $(echo "$out" | grep '^drive:')"
echo "$out" | grep -q 'tokens=480' || tf_fail "expected 24 x 20 tokens (max_new_tokens)"

tf_log "token-id prompts, more requests than the 32 request credits"
out=$("$TF_BIN/tokfab-xport-drive" --connect "shm:$name" --requests 100 --batch 16 \
	--prompt-tokens 12 --max-new-tokens 8 --expect-tokens --timeout-ms 30000 2>&1) ||
	{ echo "$out"; tf_fail "token-id requests did not all end with tokens"; }
echo "$out" | grep -q 'requests=100 answered=100 ended=100 failed=0' ||
	tf_fail "summary wrong: $(echo "$out" | grep '^drive:')"

tf_log "unknown model id is refused with a clear error, not dropped"
out=$("$TF_BIN/tokfab-xport-drive" --connect "shm:$name" --requests 2 --model 77 \
	--timeout-ms 10000 2>&1)
echo "$out" | grep -q 'requests=2 answered=2 ended=0 failed=2' ||
	{ echo "$out"; tf_fail "unknown-model requests were not answered with errors"; }
echo "$out" | grep -q 'model id 77 is not served' || tf_fail "error message does not name the model"

tf_log "the card side saw no protocol errors"
echo "$out" | grep -E 'rx_bad|protocol' && tf_fail "protocol counters non-zero"
kill -TERM "$TF_PID"
tf_wait_for 10 sh -c "! kill -0 $TF_PID 2>/dev/null" || tf_fail "tokfab-accel ignored SIGTERM"
grep -q 'stopped: 124 requests done' "$TF_LOGDIR/accel.log" || {
	cat "$TF_LOGDIR/accel.log"; tf_fail "tokfab-accel did not report the requests it served"; }
tf_pass "shm transport: real tokfab-accel served 124 requests (+2 refused)"
