# SPDX-License-Identifier: BSD-3-Clause
# Checks shared by the end-to-end load and fault tests (tests/integration/test_e2e_*.sh).
# Source after tests/lib/common.sh and tools/bench/stack.sh.

# e2e_ledger_raw FILE: every usage record in tokfabd's ledger as JSON (raw=1).
e2e_ledger_raw() {
	python3 - "http://$STACK_API" "$STACK_TOKEN_FILE" "$1" <<'EOF'
import json, sys, urllib.request
url, tok, out = sys.argv[1], open(sys.argv[2]).read().strip(), sys.argv[3]
rq = urllib.request.Request(url + "/v1/usage?raw=1&limit=1000000",
                            headers={"Authorization": "Bearer " + tok})
json.dump(json.load(urllib.request.urlopen(rq, timeout=30))["records"], open(out, "w"))
EOF
}

# e2e_ledger_settle: waits until the ledger's record count stops moving (2 s).
e2e_ledger_settle() {
	local last=-1 n same=0 i
	for ((i = 0; i < 120; i++)); do
		n=$(stack_ctl --json usage 2>/dev/null | python3 -c 'import json,sys; print(sum(r["requests"] for r in json.load(sys.stdin)["rows"]))' 2>/dev/null || echo -1)
		if [ "$n" = "$last" ] && [ "$n" != -1 ]; then
			same=$((same + 1))
			[ $same -ge 4 ] && return 0
		else
			same=0
		fi
		last=$n
		sleep 0.5
	done
	return 1
}

# e2e_check_ledger CLIENT_LOG LEDGER_JSON MODE: compares what the clients saw
# (tokfab-bench --log) with the ledger's records.
#   exact:  every request the clients saw finish (FINAL) is in the ledger exactly once
#           with the same prompt and completion tokens; nothing else is there
#   faults: no (tenant, request id) is metered twice, and every ledger record of a
#           request the client saw finish has its token counts; reports the rest
# Prints a summary; returns 1 (with the reasons) when a check fails.
e2e_check_ledger() {
	python3 - "$@" <<'EOF'
import collections, json, sys
log, led, mode = sys.argv[1], sys.argv[2], sys.argv[3]
cl = [json.loads(l) for l in open(log)]
recs = json.load(open(led))
by = collections.defaultdict(list)
for r in recs:
    if r.get("outcome") == "refused":
        continue
    # tokfabd's JSON carries the u64 request id as 16 hex digits
    by[(r["tenant_id"], int(r["request_id"], 16))].append(r)
bad = []
dups = {k: v for k, v in by.items() if len(v) > 1}
for k, v in list(dups.items())[:5]:
    bad.append("tenant %d request %#x metered %d times: %s" % (k[0], k[1], len(v),
               [(x["seq"], x["completion_tokens"], x["outcome"]) for x in v]))
seen, missing, mism = set(), [], []
for c in cl:
    k = (c["tenant"], int(c["request_id"], 16))
    seen.add(k)
    if not c["has_final"]:
        continue
    rs = by.get(k)
    if not rs:
        missing.append(c)
        continue
    r = rs[0]
    if r["completion_tokens"] != c["completion_tokens"] or r["prompt_tokens"] != c["prompt_tokens"]:
        mism.append((c, r))
    if c["status"] == "ok" and c["tokens"] != c["completion_tokens"]:
        mism.append((c, r))
extra = [k for k in by if k not in seen]
classes = collections.Counter(c["status"] for c in cl)
print("clients: %d requests (%s); ledger: %d records, %d of requests the clients never sent"
      % (len(cl), ", ".join("%s %d" % kv for kv in sorted(classes.items())), len(recs), len(extra)))
print("client saw a FINAL: %d; in the ledger: %d; missing: %d; token counts differ: %d; metered twice: %d"
      % (sum(c["has_final"] for c in cl), sum(c["has_final"] for c in cl) - len(missing),
         len(missing), len(mism), len(dups)))
for c, r in mism[:5]:
    bad.append("tenant %d request %s: client %d/%d tokens (received %d), ledger %d/%d" % (
        c["tenant"], c["request_id"], c["prompt_tokens"], c["completion_tokens"], c["tokens"],
        r["prompt_tokens"], r["completion_tokens"]))
if mode == "exact":
    for c in missing[:5]:
        bad.append("tenant %d request %s finished at the client but is not in the ledger" %
                   (c["tenant"], c["request_id"]))
    if extra:
        bad.append("%d ledger records for requests no client sent, e.g. %s" % (len(extra), extra[:3]))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF
}

# e2e_sample_rss OUT NAME...: appends "t name rss_kib" lines every second until killed.
e2e_sample_rss() {
	local out=$1 t=0 n
	shift
	while :; do
		for n in "$@"; do echo "$t $n $(stack_rss "$n")" >>"$out"; done
		sleep 1
		t=$((t + 1))
	done
}
