#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# ledger.records: aggregate end to end. tokfabd pushes SET_USAGE_MODE AGGREGATE
# (100 ms windows) to tokfab-dp; three tenants' clients keep 12 requests in
# flight while tokfabd is killed with SIGKILL and restarted (the card's
# aggregates wait in the BAR's event queue meanwhile).
# Asserts: every request ends at its client; the ledger keeps aggregates and no
# per-request rows (/v1/usage?raw=1 says why); per tenant, the ledger's requests,
# prompt and completion tokens and charges (/v1/usage?group=tenant) equal exactly
# what the clients received in their FINALs, and so do /metrics' counters.
# With two CPUs tokfab-dp runs its worker on its own lcore (-l 0,1), so the mode
# change travels the main lcore -> worker control ring and the worker sums alone.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"
. "$(dirname "$0")/e2e_lib.sh"

tf_require_root
tf_require_cmd ip python3 ethtool
STACK_BIN=$TF_BIN
stack_preflight tokfab-bench || tf_fail "see above"
W=$TF_LOGDIR

STACK_ID=$TF_ID
STACK_TERM_WAIT=30
[ "$(nproc)" -ge 2 ] && STACK_DP_LCORES=${STACK_DP_LCORES:-0,1}
STACK_LEDGER_YAML="  records: aggregate
  aggregate_ms: 100"
stack_init "$W/stack"
tf_on_exit stack_down
stack_model tiny tiny --seq-len 512
stack_accel 1 a tiny 2.00 shm
stack_accel 2 b tiny 1.00 shm
for t in 1 2 3; do stack_tenant $t t$t unlimited 0.00$t; done
stack_up || tf_fail "the appliance did not come up"
grep -q "records: aggregate" "$STACK_DIR/tokfabd.yaml" || tf_fail "the stack did not take STACK_LEDGER_YAML"

BENCH=(-t "1-3:$STACK_DIR/t%u.key" --prompt-len 8-32 --max-tokens 16-96 --vocab 512
	--retries 8 --timeout 40 --drain 60 -q)
tf_log "load: 12 in flight for 16 s; kill -9 tokfabd after 5 s, restart it 3 s later"
stack_bench "${BENCH[@]}" -c 12 -d 16 --json "$W/load.json" --log "$W/load.log" \
	>"$W/load.txt" 2>&1 &
BP=$!
tf_on_exit "kill $BP 2>/dev/null"
sleep 5
tf_log "kill -9 tokfabd"
stack_kill tokfabd KILL
sleep 3
tf_log "restart tokfabd"
stack_restart_tokfabd || tf_fail "tokfabd did not restart"
rc=0
wait $BP || rc=$?
cat "$W/load.txt"
[ $rc = 0 ] || tf_fail "tokfab-bench failed (exit $rc)"
tf_log "a few more requests after the restart"
stack_bench "${BENCH[@]}" -c 4 --requests 40 -d 60 --json "$W/after.json" --log "$W/after.log" \
	>"$W/after.txt" 2>&1 || tf_fail "tokfab-bench after the restart failed"
cat "$W/load.log" "$W/after.log" >"$W/all.log"

tf_log "the ledger settles; it holds aggregates, no per-request rows"
e2e_ledger_settle || tf_fail "the ledger keeps changing"
api() {
	python3 - "http://$STACK_API" "$STACK_TOKEN_FILE" "$1" <<'PY'
import sys, urllib.request
url, tok, path = sys.argv[1], open(sys.argv[2]).read().strip(), sys.argv[3]
rq = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + tok})
sys.stdout.write(urllib.request.urlopen(rq, timeout=30).read().decode())
PY
}
api "/v1/usage?raw=1&limit=1000000" >"$W/raw.json"
api "/v1/usage?group=tenant,outcome" >"$W/usage.json"
api "/metrics" >"$W/metrics.txt"
python3 - "$W/raw.json" <<'PY' || tf_fail "aggregate mode is not in effect"
import json, sys
j = json.load(open(sys.argv[1]))
print("raw: %d records, ledger_records=%s, note: %s" % (j["count"], j.get("ledger_records"), j.get("note")))
assert j["ledger_records"] == "aggregate" and "aggregate" in j["note"]
assert j["count"] == 0, "per-request rows in aggregate mode"
PY

tf_log "per tenant: the ledger and /metrics equal what the clients received"
python3 - "$W/all.log" "$W/usage.json" "$W/metrics.txt" "$W/load.json" <<'PY' || tf_fail "ledger totals differ from what the clients received"
import collections, json, re, sys
log, usage, metrics, load = sys.argv[1:5]
cl = [json.loads(l) for l in open(log)]
r = json.load(open(load))["requests"]
assert r["unfinished"] == 0, "requests without an outcome"
want = collections.defaultdict(lambda: [0, 0, 0, 0])  # requests, prompt, completion, cost
bad = []
for c in cl:
    if not c["has_final"]:
        continue
    if c["status"] == "ok" and c["tokens"] != c["completion_tokens"]:
        bad.append("tenant %d request %s: received %d tokens, FINAL says %d" %
                   (c["tenant"], c["request_id"], c["tokens"], c["completion_tokens"]))
    w = want[c["tenant"]]
    w[0] += 1; w[1] += c["prompt_tokens"]; w[2] += c["completion_tokens"]; w[3] += c["cost_micro"]
got = collections.defaultdict(lambda: [0, 0, 0, 0])
refused = 0
for row in json.load(open(usage))["rows"]:
    if row["outcome"] == "refused":
        refused += row["requests"]
        assert row["prompt_tokens"] == row["completion_tokens"] == row["cost_micro"] == 0
        continue
    g = got[row["tenant_id"]]
    g[0] += row["requests"]; g[1] += row["prompt_tokens"]; g[2] += row["completion_tokens"]
    g[3] += row["cost_micro"]
met = collections.defaultdict(int)
for m in re.finditer(r'^tokfab_tokens_total\{tenant="t(\d+)",[^}]*kind="completion",outcome="(\w+)"\} (\d+)$',
                     open(metrics).read(), re.M):
    met[int(m.group(1))] += int(m.group(3))
names = ("requests", "prompt tokens", "completion tokens", "cost_micro")
for t in sorted(set(want) | set(got)):
    print("tenant %d: clients %s; ledger %s; /metrics completion %d" % (t, want[t], got[t], met[t]))
    for i, n in enumerate(names):
        if want[t][i] != got[t][i]:
            bad.append("tenant %d %s: clients %d, ledger %d" % (t, n, want[t][i], got[t][i]))
    if met[t] != want[t][2]:
        bad.append("tenant %d completion tokens: clients %d, /metrics %d" % (t, want[t][2], met[t]))
print("clients saw %d FINALs; ledger refused (no tokens): %d" % (sum(w[0] for w in want.values()), refused))
if not want or min(w[0] for w in want.values()) == 0:
    bad.append("a tenant had no finished requests: the test proved nothing")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
tf_pass "records: aggregate: per-tenant ledger totals equal what the clients received, across a kill -9 of tokfabd"
