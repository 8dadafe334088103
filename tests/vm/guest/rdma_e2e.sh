# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/vm/test_rdma_e2e.sh: the whole appliance (tools/bench/stack.sh)
# with an accelerator behind rdma over Soft-RoCE, in the VM guest (Debian's kernel):
#
#   client (netns, kernel UDP) -> tokfab-dp (DPDK net_af_packet on a veth) -> rdma
#   (librdmacm + verbs on rxe0) -> tokfab-accel 1 -> tokens back the same way;
#   tokfab-accel 2 serves the same model behind shm; tokfabd keeps the ledger.
#
# 1. Streamed tokens over rdma equal the same requests' tokens over shm (same
#    seeds, same model): accelerator 2 stopped for the rdma run, accelerator 1 for
#    the shm run; each final names the accelerator that served it.
# 2. The ledger meters the rdma requests on accelerator 1 with the tokens the
#    clients received.
# 3. Under load, tokfab-accel 1 (rdma) is killed (SIGKILL) while it has requests
#    in flight: every request ends at its client with tokens or an explicit error
#    (none unanswered), accelerator 2 takes over, nothing is metered twice, and
#    afterwards requests succeed again.
# Logs of every process come back in $TF_VM_OUT.
set -euo pipefail
. "$TF_ROOT/tests/lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"
. "$TF_ROOT/tests/integration/e2e_lib.sh"
. "$TF_ROOT/tests/vm/guest/rdma_lib.sh"

RDMA_ADDR=10.77.0.1
rdma_rxe_up $RDMA_ADDR || tf_fail "no Soft-RoCE device in the guest"
[ "$(stack_rdma_addr)" = $RDMA_ADDR ] ||
	tf_fail "tools/bench/stack.sh finds no RDMA netdev address (got '$(stack_rdma_addr)')"

STACK_BIN=$TF_BIN
stack_preflight tokfab-bench || tf_fail "see above"
W=$TF_LOGDIR
STACK_ID=$TF_ID
STACK_TERM_WAIT=30
STACK_DP_IDLE_US=500 # emulated CPUs: the dataplane's lcore sleeps longer when idle
stack_init "$W/stack"
tf_on_exit stack_down
tf_on_exit "cp $W/stack/*.log $W/*.txt $W/*.json $W/*.log $TF_VM_OUT/"
stack_model tiny tiny --seq-len 256
# generic kernels are the fastest under TCG; one engine thread each
stack_accel 1 r tiny 1.00 rdma --kernels generic
stack_accel 2 s tiny 2.00 shm --kernels generic
stack_tenant 1 t1 unlimited 0.002
stack_tenant 2 t2 unlimited 0.002
tf_log "appliance: accelerator 1 over rdma ($RDMA_ADDR), accelerator 2 over shm"
stack_up || tf_fail "the appliance did not come up"
stack_ctl accelerators | tee "$W/accelerators.txt"
grep -q "rdma:$RDMA_ADDR:" "$W/stack/accel1.log" || grep -q "listening on rdma" "$W/stack/accel1.log" ||
	tf_fail "tokfab-accel 1 does not listen on rdma"
grep -q "card connected on rdma" "$W/stack/accel1.log" ||
	tf_fail "tokfab-dp did not connect to tokfab-accel 1 over rdma"

# acc_field ID FIELD: one field of tokfabd's view of accelerator ID.
acc_field() {
	stack_ctl --json accelerators 2>/dev/null | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["accelerators"] if x["id"] == int(sys.argv[1])][0]
print(a.get(sys.argv[2], ""))' "$1" "$2"
}
acc_is() { [ "$(acc_field "$1" state)" = "$2" ]; }

# run_set TAG: the same three requests (prompt, seed, sampling) -> $W/TAG-N.json
run_set() {
	local tag=$1 i=0 p
	for p in "Once upon a time" "The little robot looked at the stars and" "Tom found a shiny shell"; do
		i=$((i + 1))
		stack_client 1 -m 1 -n 12 --seed $((41 + i)) --temperature 0.8 --json --ids "$p" \
			>"$W/$tag-$i.json" 2>"$W/$tag-$i.err" ||
			tf_fail "$tag request $i failed: $(cat "$W/$tag-$i.err")"
	done
}

# ---- 1. tokens over rdma == tokens over shm -----------------------------------
tf_log "1. the same requests over rdma (accelerator 2 stopped) and over shm (accelerator 1 stopped)"
stack_kill accel2 TERM
stack_wait 30 acc_is 2 down || tf_fail "tokfabd still sees accelerator 2 after it stopped"
run_set rdma
stack_start accel2
stack_wait 60 acc_is 2 up || { stack_log_tail accel2; tf_fail "accelerator 2 did not come back"; }
stack_kill accel1 TERM
stack_wait 30 acc_is 1 down || tf_fail "tokfabd still sees accelerator 1 after it stopped"
run_set shm
python3 - "$W" <<'EOF' || tf_fail "tokens over rdma differ from the same requests over shm"
import json, sys
w = sys.argv[1]
def load(tag, i):
    ev = [json.loads(l) for l in open("%s/%s-%d.json" % (w, tag, i)) if l.startswith("{")]
    ids = [t for e in ev if e["event"] == "tokens" for t in e["ids"]]
    fin = [e for e in ev if e["event"] == "final"]
    assert len(fin) == 1, "%s request %d: %d finals" % (tag, i, len(fin))
    return ids, fin[0]
for i in (1, 2, 3):
    ri, rf = load("rdma", i)
    si, sf = load("shm", i)
    print("request %d: rdma accel %d %d tokens %s; shm accel %d %d tokens" %
          (i, rf["accel_id"], len(ri), ri, sf["accel_id"], len(si)))
    assert rf["accel_id"] == 1 and sf["accel_id"] == 2, "served by the wrong accelerator"
    assert len(ri) > 0 and len(ri) == rf["completion_tokens"], "rdma: streamed != usage"
    assert ri == si, "request %d: rdma %s != shm %s" % (i, ri, si)
    assert rf["prompt_tokens"] == sf["prompt_tokens"], "prompt tokens differ"
EOF

# ---- 2. the ledger meters the rdma requests on accelerator 1 ----------------
tf_log "2. the ledger: the rdma requests on accelerator 1 with the tokens the client received"
e2e_ledger_settle || tf_fail "the ledger keeps changing"
e2e_ledger_raw "$W/ledger1.json"
python3 - "$W" <<'EOF' || tf_fail "the ledger does not match what the rdma clients received"
import json, sys
w = sys.argv[1]
recs = json.load(open(w + "/ledger1.json"))
for i in (1, 2, 3):
    fin = [json.loads(l) for l in open("%s/rdma-%d.json" % (w, i)) if '"final"' in l][0]
    rid = int(fin["request_id"], 16)
    m = [r for r in recs if r["tenant_id"] == 1 and int(r["request_id"], 16) == rid]
    assert len(m) == 1, "rdma request %d (%#x): %d ledger records" % (i, rid, len(m))
    r = m[0]
    print("rdma request %d: ledger accelerator %d, %d prompt + %d completion tokens, outcome %s"
          % (i, r["accel_id"], r["prompt_tokens"], r["completion_tokens"], r["outcome"]))
    assert r["accel_id"] == 1, "metered on accelerator %d" % r["accel_id"]
    assert (r["prompt_tokens"], r["completion_tokens"]) == (fin["prompt_tokens"], fin["completion_tokens"])
EOF

# ---- 3. kill the rdma accelerator mid-batch; the shm one takes over ----------
tf_log "3. accelerator 1 (rdma) killed with requests in flight; accelerator 2 takes over"
stack_start accel1
stack_wait 60 acc_is 1 up || { stack_log_tail accel1; tf_fail "accelerator 1 did not come back"; }
# accelerator 2 stops while the load starts, so that accelerator 1 gets the work
stack_kill accel2 TERM
stack_wait 30 acc_is 2 down || tf_fail "tokfabd still sees accelerator 2 after it stopped"
BENCH=(-t "1-2:$STACK_DIR/t%u.key" --prompt-len 4-16 --max-tokens 48-96 --vocab 256
	--retries 12 --timeout 120 --drain 150 -q)
stack_bench "${BENCH[@]}" -c 6 -d 30 --json "$W/kill.json" --log "$W/kill.log" \
	>"$W/kill.txt" 2>&1 &
BP=$!
tf_on_exit "kill $BP"
# (tokfabd's per-accelerator "outstanding" is not filled in by tokfab-dp: the
# accelerator's token counter shows that it is working instead)
acc_tokens_ge() { [ "$(acc_field "$1" tokens)" -ge "$2" ] 2>/dev/null; }
t0=$(acc_field 1 tokens)
stack_wait 60 acc_tokens_ge 1 $((t0 + 50)) ||
	{ stack_log_tail dp; tf_fail "accelerator 1 (rdma) produced no tokens under load"; }
stack_start accel2
stack_wait 60 acc_is 2 up || { stack_log_tail accel2; tf_fail "accelerator 2 did not come back"; }
# accelerator 1 is still streaming (closed loop, 6 in flight): kill it now
t1=$(acc_field 1 tokens)
stack_wait 60 acc_tokens_ge 1 $((t1 + 10)) || tf_fail "accelerator 1 stopped working before the kill"
stack_kill accel1 KILL
tf_log "killed tokfab-accel 1 while it had requests in flight"
rc=0
wait $BP || rc=$?
cat "$W/kill.txt"
[ $rc = 0 ] || tf_fail "tokfab-bench failed (exit $rc)"
e2e_ledger_settle || tf_fail "the ledger keeps changing"
e2e_ledger_raw "$W/ledger2.json"
python3 - "$W/kill.json" "$W/kill.log" "$W/ledger2.json" <<'EOF2' || tf_fail "requests were left without an answer"
import collections, json, sys
j = json.load(open(sys.argv[1])); cl = [json.loads(l) for l in open(sys.argv[2])]
led = json.load(open(sys.argv[3]))
r = j["requests"]
by = collections.Counter((c["accel"], c["status"]) for c in cl)
print("submitted %d, ok %d, errors %d (%s), unfinished %d; by (accelerator, status): %s"
      % (r["submitted"], r["ok"], r["errors"], j["errors"], r["unfinished"], dict(by)))
ids = {(c["tenant"], int(c["request_id"], 16)) for c in cl}
out = collections.Counter((x["accel_id"], x["outcome"]) for x in led
                          if (x["tenant_id"], int(x["request_id"], 16)) in ids)
print("ledger by (accelerator, outcome): %s" % dict(out))
assert r["submitted"] == len(cl) > 0, "not every request has an outcome line"
assert r["unfinished"] == 0, "requests without an answer"
for c in cl:
    assert c["status"] != "timeout", "a request was lost (client timeout): %s" % c
    assert c["status"] != "ok" or c["has_final"], c
assert any(c["accel"] == 1 and c["status"] == "ok" for c in cl), "accelerator 1 served nothing"
assert any(c["accel"] == 2 and c["status"] == "ok" for c in cl), "accelerator 2 took over nothing"
hit = sum(n for (a, o), n in out.items() if a == 1 and o != "ok") + r["errors"]
assert hit > 0, "the kill hit no request in flight (no error, nothing cut off)"
EOF2
stack_wait 30 acc_is 1 down || tf_fail "tokfabd does not see accelerator 1 down after the kill"

tf_log "afterwards: requests succeed on accelerator 2; the ledger meters nothing twice"
stack_bench "${BENCH[@]}" -c 4 --requests 8 -d 120 --json "$W/after.json" --log "$W/after.log" \
	>"$W/after.txt" 2>&1 || tf_fail "tokfab-bench after the kill failed"
python3 -c "
import json, sys; j = json.load(open('$W/after.json'))
sys.exit(0 if j['requests']['ok'] == 8 else 1)" ||
	{ cat "$W/after.txt"; tf_fail "after the kill not every request succeeded"; }
e2e_ledger_settle || tf_fail "the ledger keeps changing"
e2e_ledger_raw "$W/ledger.json"
cat "$W/kill.log" "$W/after.log" >"$W/all.log"
e2e_check_ledger "$W/all.log" "$W/ledger.json" faults | tee "$W/check.txt" ||
	tf_fail "ledger check failed"
tf_pass "client -> tokfab-dp -> rdma -> tokfab-accel and back: same tokens as shm, metered, failover"
