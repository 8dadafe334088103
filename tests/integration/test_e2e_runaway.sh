#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runaway usage: tenant 9 loops requests (32 in flight, far more than its budget
# pays for) while tenants 1 and 2 run their normal load. Asserts the budget is
# enforced exactly: the ledger's spend for tenant 9 never exceeds its budget, and
# what is left is less than one more request's reservation (the card refused only
# when it had to); every refusal is QUOTA_EXHAUSTED. Reports (does not assert) the
# other tenants' latency against their unloaded p99 (target: within 2x).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"
. "$(dirname "$0")/e2e_lib.sh"

tf_require_root
tf_require_cmd ip python3 ethtool
STACK_BIN=$TF_BIN
stack_preflight tokfab-bench || tf_fail "see above"
W=$TF_LOGDIR
BUDGET=50.00 # 50 000 000 micro-units
PRICE=1.00   # per 1000 tokens: 1000 micro-units per token
PROMPT=16
MAXNEW=64 # every runaway request reserves (16 + 64) tokens = 80 000 micro-units

STACK_ID=$TF_ID
stack_init "$W/stack"
tf_on_exit stack_down
stack_model tiny tiny --seq-len 512
stack_accel 1 a tiny 1.00 shm
stack_accel 2 b tiny 1.00 shm
stack_tenant 1 t1 unlimited 0.002
stack_tenant 2 t2 unlimited 0.002
stack_tenant 9 runaway "$BUDGET" "$PRICE"
stack_up || tf_fail "the appliance did not come up"

OTHERS=(-t "1-2:$STACK_DIR/t%u.key" -c 4 -d 8 --warmup 1 --prompt-len "$PROMPT" --max-tokens 16-64
	--vocab 512 -q)
tf_log "the other tenants alone"
stack_bench "${OTHERS[@]}" --json "$W/alone.json" >"$W/alone.txt" || tf_fail "tokfab-bench failed"
tf_log "tenant 9 runs away while the others keep going"
stack_bench -t "9:$STACK_DIR/t9.key" -c 32 -d 9 --prompt-len "$PROMPT" --max-tokens "$MAXNEW" \
	--vocab 512 -q --json "$W/runaway.json" --log "$W/runaway.log" >"$W/runaway.txt" 2>&1 &
RP=$!
tf_on_exit "kill $RP"
stack_bench "${OTHERS[@]}" --json "$W/loaded.json" >"$W/loaded.txt" || tf_fail "tokfab-bench failed"
wait $RP || tf_fail "the runaway tokfab-bench failed: $(cat "$W/runaway.txt")"
cat "$W/runaway.txt"

e2e_ledger_settle || tf_fail "the ledger keeps changing"
e2e_ledger_raw "$W/ledger.json"
stack_ctl --json tenants >"$W/tenants.json"
python3 - "$W" "$PROMPT" "$MAXNEW" <<'EOF' || tf_fail "tenant 9's budget was not enforced exactly"
import collections, json, sys
w, prompt, maxnew = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
budget, price = 50_000_000, 1_000_000
run = json.load(open(w + "/runaway.json"))
recs = [r for r in json.load(open(w + "/ledger.json")) if r["tenant_id"] == 9 and r["outcome"] != "refused"]
spent = sum(r["cost_micro"] for r in recs)
for r in recs:
    want = ((r["prompt_tokens"] + r["completion_tokens"]) * price + 500) // 1000
    assert r["cost_micro"] == want, ("cost of a record", r, want)
reserve = (prompt + maxnew) * price // 1000
print("tenant 9: %d requests metered, spent %d of %d micro-units, %d left; one request reserves %d"
      % (len(recs), spent, budget, budget - spent, reserve))
print("tenant 9 client outcomes: %d ok, errors %s" % (run["requests"]["ok"], run["errors"]))
assert spent <= budget, "spent above the budget"
assert budget - spent < reserve, "refused while the balance still covered a request"
assert set(run["errors"]) <= {"QUOTA_EXHAUSTED"}, "refusals other than QUOTA_EXHAUSTED"
assert run["errors"].get("QUOTA_EXHAUSTED", 0) > 0, "the runaway was never refused"
cl = [json.loads(l) for l in open(w + "/runaway.log")]
assert sum(1 for c in cl if c["status"] == "ok") == len(recs), "ok at the client != metered"
t9 = [t for t in json.load(open(w + "/tenants.json"))["tenants"] if t["id"] == 9][0]
print("tokfabd: tenant 9 spent %s of %s, balance %s" % (t9.get("spent"), t9.get("budget"), t9.get("balance")))
assert t9["spent_micro"] == spent, "tokfabd's spend differs from its ledger"
a, l = json.load(open(w + "/alone.json")), json.load(open(w + "/loaded.json"))
for k in ("ttft", "e2e"):
    pa, pl = a["latency_us"][k]["p99"], l["latency_us"][k]["p99"]
    print("others' %s p99: alone %.2f ms, with the runaway %.2f ms: %.2fx (target <= 2x)"
          % (k, pa / 1000, pl / 1000, pl / pa if pa else float("nan")))
EOF
tf_pass "runaway tenant stopped exactly at its budget"
