#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfabd's exactly-once ledger: a card (tokfab-cardsim, lib/card's card side)
# posts usage records as fast as the event queue allows while tokfabd is
# killed with SIGKILL three times mid-stream and restarted. At the end the
# ledger must hold every record exactly once: the count, the sequence numbers
# 1..N without gaps, and per tenant the same requests, tokens and cost the card
# says it posted.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_cmd sqlite3 curl
B=$TF_BIN
for p in tokfabd tokfab-cardsim; do [ -x "$B/$p" ] || tf_fail "missing $B/$p: run 'make'"; done
W=$TF_LOGDIR
BAR=/dev/shm/tf-kill9-$TF_ID
PORT=$((20000 + RANDOM % 20000))
N=${TF_KILL9_RECORDS:-160000}
RATE=${TF_KILL9_RATE:-40000} # records/s: the stream lasts about 4 s
tf_on_exit "rm -f $BAR"

openssl rand -hex 32 >"$W/token"
openssl rand -hex 32 >"$W/a.key"
openssl rand -hex 32 >"$W/b.key"
cat >"$W/tokfabd.yaml" <<EOF
card:
  access: shm:$BAR
ledger:
  path: $W/ledger.db
  batch_max: 1024
api:
  listen: 127.0.0.1:$PORT
  token_file: token
models:
  - { id: 1, name: tiny }
accelerators:
  - { id: 1, address: /dev/shm/acc1, transport: shm, cost_per_hour: 2.00, models: [tiny] }
  - { id: 2, address: 10.0.0.2:7471, transport: rdma, cost_per_hour: 3.00, models: [tiny] }
tenants:
  - { id: 1, name: acme, key_file: a.key, budget: unlimited, prices: { tiny: 0.75 } }
  - { id: 2, name: beta, key_file: b.key, budget: unlimited, prices: { tiny: 0.25 } }
EOF

start_tokfabd() {
	"$B/tokfabd" -c "$W/tokfabd.yaml" >>"$W/tokfabd.log" 2>&1 </dev/null &
	TD=$!
}
ledger_count() { sqlite3 "$W/ledger.db" "SELECT COUNT(*) FROM usage" 2>/dev/null || echo 0; }

tf_bg cardsim "$B/tokfab-cardsim" --bar "$BAR" --fresh --records "$N" --rate "$RATE" --eq-depth 1024 \
	--summary "$W/summary" --wait-acked --wait-tenants 2
CS=$TF_PID
start_tokfabd
tf_on_exit "kill -9 \$TD"
ready() { curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; }
kills=0
for i in 1 2 3; do
	# Kill at about i/4 of the stream, while records are flowing.
	tf_wait_for 30 bash -c "[ \$(sqlite3 '$W/ledger.db' 'SELECT COUNT(*) FROM usage' 2>/dev/null || echo 0) -ge $((N * i / 4)) ]" ||
		tf_fail "the ledger did not reach $((N * i / 4)) records (see $W/tokfabd.log)"
	before=$(ledger_count)
	kill -9 "$TD" 2>/dev/null && kills=$((kills + 1))
	wait "$TD" 2>/dev/null
	tf_log "kill -9 #$i of tokfabd with $before of $N records committed"
	[ "$before" -lt "$N" ] || tf_fail "the stream finished before kill #$i: lower TF_KILL9_RATE"
	start_tokfabd
done
tf_wait_for 10 ready || tf_fail "tokfabd did not come back after the last kill"
# The card finishes when every record is acknowledged.
for _ in $(seq 1 1200); do kill -0 "$CS" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CS" 2>/dev/null && tf_fail "the card still has unacknowledged records after 120 s (see $W/*.log)"
wait "$CS" || tf_fail "tokfab-cardsim failed (see $W/cardsim.log)"
kill -TERM "$TD"
wait "$TD"
rc=$?
[ "$rc" -eq 0 ] || tf_fail "tokfabd exited $rc on SIGTERM (expected 0)"

posted=$(awk '$1 == "posted" {print $2}' "$W/summary")
tf_expect_eq "$posted" "$N" "records posted by the card"
tf_expect_eq "$(sqlite3 "$W/ledger.db" 'SELECT COUNT(*) FROM usage')" "$N" "usage records in the ledger"
tf_expect_eq "$(sqlite3 "$W/ledger.db" 'SELECT COUNT(DISTINCT seq) || " " || MIN(seq) || " " || MAX(seq) FROM usage')" \
	"$N 1 $N" "distinct sequence numbers, first, last"
tf_expect_eq "$(sqlite3 "$W/ledger.db" 'SELECT COUNT(DISTINCT request_id) FROM usage')" "$N" "distinct request ids"
while read -r _ id _ ok _ prompt _ completion _ cost _ refused; do
	got=$(sqlite3 "$W/ledger.db" "SELECT COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micro) FROM usage WHERE tenant_id = $id AND outcome = 0")
	tf_expect_eq "$got" "$ok|$prompt|$completion|$cost" "tenant $id: requests|prompt|completion|cost in the ledger"
	tf_expect_eq "$(sqlite3 "$W/ledger.db" "SELECT COUNT(*) FROM usage WHERE tenant_id = $id AND outcome = 5")" \
		"$refused" "tenant $id: refused records"
done < <(grep '^tenant ' "$W/summary")
# The hourly rollups agree with the raw records.
tf_expect_eq "$(sqlite3 "$W/ledger.db" 'SELECT SUM(requests), SUM(completion_tokens) FROM usage_hourly')" \
	"$(sqlite3 "$W/ledger.db" 'SELECT COUNT(*), SUM(completion_tokens) FROM usage')" "rollups vs raw records"
tf_expect_eq "$kills" 3 "tokfabd SIGKILLs"
dups=$(grep -c "configured" "$W/tokfabd.log")
tf_log "tokfabd attached $dups times; card reported $(awk '$1 == "eq_full" {print $2}' "$W/summary") full-queue waits"
tf_pass "$N records, tokfabd killed 3 times: each record in the ledger exactly once"
