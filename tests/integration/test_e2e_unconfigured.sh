#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A restarted card says "not yet", not "unknown": tokfab-dp is killed and restarted on
# its BAR while tokfabd is frozen (SIGSTOP), so the new card process has no tenants
# until the host configures it again. A client of a configured tenant sends a request
# meanwhile. Asserts: the card answers BUSY (unsigned, with a retry-after), counted as
# auth_unconfigured, never UNKNOWN_TENANT; once tokfabd runs again and pushes the
# configuration, the same request completes with its tokens and the card logs that
# the host configured it (hwdocs/dataplane.md, "Waiting for the host").
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"

tf_require_root
tf_require_cmd ip python3 ethtool dpdk-telemetry.py
STACK_BIN=$TF_BIN
stack_preflight || tf_fail "see above"
W=$TF_LOGDIR

STACK_ID=$TF_ID
stack_init "$W/stack"
tf_on_exit stack_down
stack_model tiny tiny --seq-len 256
stack_accel 1 a tiny 1.00 shm
stack_tenant 1 t1 unlimited 0.002
stack_up || tf_fail "the appliance did not come up"
stack_client 1 -m 1 -n 4 --tokens 5,6,7 >"$W/before.txt" 2>&1 ||
	tf_fail "a request before the restart failed: $(cat "$W/before.txt")"

tf_log "tokfabd frozen; tokfab-dp killed and restarted on its BAR: the card has no tenants"
TOKFABD=${STACK_PID[tokfabd]}
tf_on_exit "kill -CONT $TOKFABD 2>/dev/null || true"
kill -STOP "$TOKFABD"
stack_kill dp KILL
stack_start dp
tf_wait_for 30 ip netns exec "$STACK_NS" ping -c 1 -W 1 "$STACK_CARD" ||
	{ stack_log_tail dp; tf_fail "tokfab-dp did not come back"; }
grep -q "waiting for the host's configuration" "$STACK_DIR/dp.log" ||
	tf_fail "the restarted card does not say it waits for its host: $(tail -n 5 "$STACK_DIR/dp.log")"

stack_client 1 -m 1 -n 4 --tokens 5,6,7 --retries 15 --json -v >"$W/during.json" 2>"$W/during.err" &
CP=$!
tf_on_exit "kill $CP 2>/dev/null || true"
unconf() {
	echo /tokfab/drops | dpdk-telemetry.py -f "$STACK_PREFIX" 2>/dev/null | tr -d '\n' |
		python3 -c 'import json,sys; s=sys.stdin.read(); j=json.loads(s[s.index("{"):]); d=j["/tokfab/drops"]; print(d["auth_unconfigured"], d["auth_tenant"])'
}
busy_seen() {
	local a b
	read -r a b <<<"$(unconf)"
	[ "${a:-0}" -gt 0 ]
}
tf_wait_for 10 busy_seen ||
	tf_fail "the card did not answer the unconfigured tenant with BUSY (drops: $(unconf))"
sleep 1
kill -0 "$CP" 2>/dev/null || tf_fail "the client gave up while the card waited for its host: $(cat "$W/during.err")"
read -r n_busy n_unknown <<<"$(unconf)"
tf_log "card answered BUSY $n_busy time(s), UNKNOWN_TENANT $n_unknown time(s); tokfabd continues"
[ "$n_unknown" = 0 ] || tf_fail "the unconfigured card answered UNKNOWN_TENANT $n_unknown time(s)"
kill -CONT "$TOKFABD"
rc=0
wait "$CP" || rc=$?
[ $rc = 0 ] || tf_fail "the request did not complete after the host configured the card (exit $rc): $(tail -n 5 "$W/during.err")"
grep -q '"event":"final"' "$W/during.json" || tf_fail "no FINAL: $(cat "$W/during.json")"
grep -qi "busy" "$W/during.err" || tf_fail "the client never saw BUSY: $(cat "$W/during.err")"
tf_wait_for 10 grep -q "configured by the host" "$STACK_DIR/dp.log" ||
	tf_fail "the card does not log that its host configured it: $(tail -n 5 "$STACK_DIR/dp.log")"
tf_pass "restarted card: BUSY (retry) until its host configured it ($n_busy times), then tokens; never UNKNOWN_TENANT"
