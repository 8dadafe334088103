#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Host tier, shm transport: two accelerators; one is killed (SIGKILL)
# mid-batch, the other later stopped with SIGTERM and no drain time. Every
# request in flight on a lost accelerator must come back as failed-retryable
# and be re-dispatched; none may be lost without an answer.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

for b in tokfab-accel tokfab-xport-drive tokfab-mkmodel; do
	[ -x "$TF_BIN/$b" ] || tf_fail "$TF_BIN/$b is missing: run 'make'"
done
export TOKFAB_SHM_DIR=$TF_LOGDIR
# a model big enough that 60 x 100 tokens take seconds, not milliseconds
"$TF_BIN/tokfab-mkmodel" --preset stories15m -o "$TF_LOGDIR/m.bin" -t "$TF_LOGDIR/t.bin" \
	>/dev/null || tf_fail "tokfab-mkmodel failed"
tf_on_exit "rm -f $TF_LOGDIR/m.bin $TF_LOGDIR/t.bin" # 60 MB; the logs stay

start_accel() { # NAME LOGNAME EXTRA...
	local n=$1 log=$2; shift 2
	tf_bg "$log" "$TF_BIN/tokfab-accel" --listen "shm:$n" --model "$TF_LOGDIR/m.bin" \
		--tokenizer "$TF_LOGDIR/t.bin" --name "$log" --threads 1 "$@"
	tf_wait_for 20 test -S "$TF_LOGDIR/tokfab-$n.sock" || {
		cat "$TF_LOGDIR/$log.log"; tf_fail "$log did not start listening"; }
}

run_case() { # TITLE SIGNAL
	local title=$1 sig=$2 a=a$TF_ID b=b$TF_ID pid_a
	tf_log "$title"
	start_accel "$a" "acc-a-$sig" --drain-timeout 0
	pid_a=$TF_PID
	start_accel "$b" "acc-b-$sig"
	"$TF_BIN/tokfab-xport-drive" --connect "shm:$a" --connect "shm:$b" --requests 60 \
		--batch 10 --prompt-tokens 8 --max-new-tokens 100 --expect-tokens --progress \
		--timeout-ms 120000 >"$TF_LOGDIR/drive-$sig.log" 2>&1 &
	local drive=$!
	tf_on_exit "kill $drive"
	tf_wait_for 60 grep -q 'progress tokens=[0-9]*[05]00 ' "$TF_LOGDIR/drive-$sig.log" || {
		cat "$TF_LOGDIR/drive-$sig.log"; tf_fail "no tokens flowed"; }
	kill "-$sig" "$pid_a"
	wait "$drive"; local rc=$?
	cat "$TF_LOGDIR/drive-$sig.log" | grep -v progress
	[ $rc -eq 0 ] || tf_fail "$title: the driver reports unanswered or failed requests"
	grep -q 'requests=60 answered=60 ended=60 failed=0' "$TF_LOGDIR/drive-$sig.log" ||
		tf_fail "$title: not every request ended"
	local red
	red=$(sed -n 's/.*redispatched=\([0-9]*\).*/\1/p' "$TF_LOGDIR/drive-$sig.log")
	tf_expect_ge "${red:-0}" 1 "$title: requests re-dispatched"
	kill "$TF_PID" 2>/dev/null
}

run_case "SIGKILL of an accelerator mid-batch: its requests move to the other" KILL
grep -q 'connection lost\|went away' "$TF_LOGDIR/drive-KILL.log" ||
	tf_fail "the driver did not see the connection loss"
run_case "SIGTERM with no drain time: in-flight requests fail SHUTDOWN (retryable)" TERM
grep -q 'drain timeout: failing' "$TF_LOGDIR/acc-a-TERM.log" ||
	{ cat "$TF_LOGDIR/acc-a-TERM.log"; tf_fail "tokfab-accel did not fail its in-flight work explicitly"; }
grep -q 'stopped before this request finished' "$TF_LOGDIR/drive-TERM.log" ||
	tf_fail "the card did not receive SHUTDOWN errors"

tf_log "SIGTERM with drain time: the requests in flight finish normally, then it exits 0"
c=c$TF_ID
start_accel "$c" "acc-c" --drain-timeout 60
pid_c=$TF_PID
"$TF_BIN/tokfab-xport-drive" --connect "shm:$c" --requests 16 --batch 16 --prompt-tokens 8 \
	--max-new-tokens 100 --expect-tokens --progress --timeout-ms 120000 \
	>"$TF_LOGDIR/drive-drain.log" 2>&1 &
drive=$!
tf_on_exit "kill $drive"
tf_wait_for 60 grep -q 'progress tokens=[0-9]*[05]00 ' "$TF_LOGDIR/drive-drain.log" ||
	{ cat "$TF_LOGDIR/drive-drain.log"; tf_fail "no tokens flowed"; }
kill -TERM "$pid_c"
wait "$drive" || { cat "$TF_LOGDIR/drive-drain.log"; tf_fail "drain: requests failed"; }
grep -q 'requests=16 answered=16 ended=16 failed=0 redispatched=0 tokens=1600' \
	"$TF_LOGDIR/drive-drain.log" || { cat "$TF_LOGDIR/drive-drain.log"; tf_fail "drain: not all finished"; }
wait "$pid_c"; rc=$?
tf_expect_eq "$rc" 0 "tokfab-accel exit status after a clean drain"
grep -q 'stopping: finishing 16 requests' "$TF_LOGDIR/acc-c.log" ||
	{ cat "$TF_LOGDIR/acc-c.log"; tf_fail "the drain did not start with the requests in flight"; }
tf_pass "failover: no request lost when an accelerator dies or stops; drain finishes work"
