#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The card's generation deadline on the real appliance (tools/bench/stack.sh:
# tokfab-dp on af_packet, tokfab-accel with a TinyStories-15M-shaped model over shm,
# tokfabd with its ledger, tokfab-client in a namespace).
# tokfab-dp runs with limits.generation_timeout_ms: 1000; a request for 4000 tokens
# (greedy, so it does not stop early on its own) runs far longer than that (~250
# tokens/s here; a fast machine would need 4000/s to finish in time).
# Asserts: the client gets an explicit FINAL CUT_OFF TIMEOUT (exit 19) no earlier than
# the deadline, with the tokens it received as completion_tokens; tokfabd's ledger has
# that request exactly once, outcome timeout, with those token counts and their exact
# cost, and the tenant's spend is that cost; the card counted the timeout and the
# accelerator's answer to the CANCEL as a late event; a short request on the same
# card still completes normally.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"
. "$(dirname "$0")/e2e_lib.sh"

tf_require_root
tf_require_cmd ip python3 ethtool dpdk-telemetry.py
STACK_BIN=$TF_BIN
stack_preflight || tf_fail "see above"
W=$TF_LOGDIR
DEADLINE_MS=1000

STACK_ID=$TF_ID
stack_init "$W/stack"
tf_on_exit stack_down
STACK_MODEL_MAX_NEW=4000
STACK_DP_YAML="limits:
  generation_timeout_ms: $DEADLINE_MS"
stack_model s15 stories15m --seq-len 4100
stack_accel 1 a s15 1.00 shm --max-batch 2 # KV cache for 2 sequences only
stack_tenant 1 t1 10.00 1.00 # 1.00 per 1000 tokens: 1000 micro-units per token
stack_up || tf_fail "the appliance did not come up"

tf_log "a short request completes"
stack_client 1 -m 1 --tokens 1,2,3,4 -n 4 --temperature 0 --json >"$W/short.json" 2>"$W/short.err" ||
	tf_fail "short request failed: $(cat "$W/short.json" "$W/short.err")"

tf_log "a 4000-token generation meets the ${DEADLINE_MS} ms deadline"
rc=0
stack_client 1 -m 1 --tokens 1,2,3,4 -n 4000 --temperature 0 --json --timeout 30 \
	>"$W/long.json" 2>"$W/long.err" || rc=$?
[ $rc = 19 ] || tf_fail "client exit $rc, expected 19 (TIMEOUT): $(tail -3 "$W/long.json" "$W/long.err")"
python3 - "$W/long.json" "$DEADLINE_MS" >"$W/long.check" <<'PY' || tf_fail "the client's view: $(cat "$W/long.check")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
deadline_us = int(sys.argv[2]) * 1000
seqs = [s for e in ev if e["event"] == "tokens" for s in range(e["first_seq"], e["first_seq"] + len(e["ids"]))]
fin = [e for e in ev if e["event"] == "final"]
assert len(fin) == 1, ("one FINAL", fin)
f = fin[0]
print("received %d tokens; FINAL %s %s, %d completion tokens, card_total_us %d, cost %d" % (
      len(set(seqs)), f["finish"], f.get("error"), f["completion_tokens"], f["card_total_us"], f["cost_micro"]))
assert f["finish"] == "cut_off" and f.get("error") == "TIMEOUT", f
assert f["card_total_us"] >= deadline_us, "ended before its deadline"
assert 0 < f["completion_tokens"] < 4000, "the generation was not cut (make it longer)"
assert sorted(set(seqs)) == list(range(f["completion_tokens"])), "tokens received != completion_tokens"
assert f["prompt_tokens"] == 4, f
assert f["cost_micro"] == 1000 * (4 + f["completion_tokens"]), "cost is not exactly the tokens delivered"
print(f["request_id"], f["completion_tokens"], f["cost_micro"])
PY
cat "$W/long.check"
read -r RID NTOK COST < <(tail -n 1 "$W/long.check")

tf_log "tokfabd's ledger: that request once, outcome timeout, the same tokens"
e2e_ledger_settle || tf_fail "the ledger keeps changing"
e2e_ledger_raw "$W/ledger.json"
stack_ctl --json tenants >"$W/tenants.json"
python3 - "$W" "$RID" "$NTOK" "$COST" <<'PY' || tf_fail "the ledger does not match the client's FINAL"
import json, sys
w, rid, ntok, cost = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3]), int(sys.argv[4])
recs = [r for r in json.load(open(w + "/ledger.json")) if r["tenant_id"] == 1]
mine = [r for r in recs if int(r["request_id"], 16) == rid]
print("ledger: %d records of tenant 1; the timed-out request: %s" % (len(recs), mine))
assert len(mine) == 1, "metered %d times" % len(mine)
r = mine[0]
assert r["outcome"] == "timeout", r
assert r["completion_tokens"] == ntok and r["prompt_tokens"] == 4, r
assert r["cost_micro"] == cost, r
t1 = [t for t in json.load(open(w + "/tenants.json"))["tenants"] if t["id"] == 1][0]
spent = sum(x["cost_micro"] for x in recs)
assert t1["spent_micro"] == spent, ("tokfabd's spend differs from its ledger", t1, spent)
assert len(recs) == 2, "expected the short request and the timed-out one"
PY

tf_log "the card's counters"
sleep 0.5
echo "/tokfab/stats" | dpdk-telemetry.py -f "$STACK_PREFIX" >"$W/tel.stats" 2>&1 ||
	tf_fail "dpdk-telemetry.py failed: $(cat "$W/tel.stats")"
python3 - "$W/tel.stats" <<'PY' || tf_fail "telemetry: $(cat "$W/tel.stats")"
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index('{"/tokfab'):])["/tokfab/stats"]
print("gen_timeout %d, gen_late %d, req_failed %d" % (d["gen_timeout"], d["gen_late"], d["req_failed"]))
assert d["gen_timeout"] == 1, d
# the accelerator answers the CANCEL with its END (and maybe a token already in flight)
assert d["gen_late"] >= 1, d
PY
tf_pass "generation deadline: explicit TIMEOUT cut-off with the tokens delivered, metered once"
