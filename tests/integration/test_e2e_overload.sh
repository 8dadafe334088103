#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Sustained overload: three times the appliance's measured capacity for a bounded
# time (OVERLOAD_SECONDS, 20), Poisson arrivals from three tenants (one with a small
# budget). Asserts: every request ends with its tokens or an explicit BUSY / quota /
# rate error (no timeout, nothing left hanging); the resident memory of
# tokfab-dp, tokfab-accel and tokfabd stays flat (sampled every second: the last
# third of the run within 10 % + 4 MiB of the first third after a warm-up quarter);
# the ledger holds every finished request exactly once with its tokens.
#
# A datagram lost on the way (the card's receive ring, the client's socket buffer) is
# not an excuse: the client retransmits, and the card answers every transmission it
# sees (tokens, a BUSY with the time its queue needs, or the cached answer), so a
# TIMEOUT means the system failed to answer, and fails the test. What was lost where is
# printed either way: the card's rx_missed (its ports, the kernel's af_packet ring
# included), the answers the clients' sockets dropped, the retransmissions.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tools/bench/stack.sh"
. "$(dirname "$0")/e2e_lib.sh"

tf_require_root
tf_require_cmd ip python3 ethtool dpdk-telemetry.py
STACK_BIN=$TF_BIN
stack_preflight tokfab-bench || tf_fail "see above"
W=$TF_LOGDIR
SECS=${OVERLOAD_SECONDS:-20}

STACK_ID=$TF_ID
STACK_DP_YAML="limits:
  max_queue: 256
  retry_after_ms: 20"
# Under AddressSanitizer (make SAN=1) freed memory waits in a quarantine of up to
# 256 MB before reuse, so RSS grows with churn, not with leaks: turn the
# quarantine off so "memory stays flat" means the same as in the normal build.
if ldd "$STACK_BIN/tokfabd" 2>/dev/null | grep -q libasan; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
	echo "ASan build: quarantine off for the memory check ($ASAN_OPTIONS)"
fi
stack_init "$W/stack"
tf_on_exit stack_down
stack_model tiny tiny --seq-len 512
stack_accel 1 a tiny 1.00 shm --max-batch 16
stack_tenant 1 t1 unlimited 0.002
stack_tenant 2 t2 unlimited 0.002
stack_tenant 3 t3 0.50 0.01
stack_up || tf_fail "the appliance did not come up"

ARGS=(-t "1-3:$STACK_DIR/t%u.key" --prompt-len 8-32 --max-tokens 32-96 --vocab 512 -q)
stack_bench "${ARGS[@]}" -c 64 -d 4 --warmup 1 --json "$W/cap.json" --log "$W/cap.log" >"$W/cap.txt" ||
	tf_fail "capacity run failed"
CAP=$(python3 -c "import json; print(json.load(open('$W/cap.json'))['throughput']['ok_requests_per_s'])")
RATE=$(python3 -c "print(round(3 * $CAP, 1))")
tf_log "capacity $CAP requests/s; offering $RATE requests/s for $SECS s"

e2e_sample_rss "$W/rss.txt" dp accel1 tokfabd &
SAMPLER=$!
tf_on_exit "kill $SAMPLER"
stack_bench "${ARGS[@]}" -r "$RATE" -d "$SECS" --timeout 30 --drain 45 \
	--max-outstanding 100000 --json "$W/over.json" --log "$W/over.log" >"$W/over.txt" ||
	tf_fail "tokfab-bench failed"
kill $SAMPLER
wait $SAMPLER 2>/dev/null || true
cat "$W/over.txt"
echo /tokfab/stats | dpdk-telemetry.py -f "$STACK_PREFIX" >"$W/card-stats.json" 2>&1 || true

tf_log "every request got tokens or an explicit refusal"
python3 - "$W/over.json" "$W/over.log" "$W/card-stats.json" <<'EOF' || tf_fail "overload: a request did not end properly"
import collections, json, sys
j = json.load(open(sys.argv[1])); cl = [json.loads(l) for l in open(sys.argv[2])]
r = j["requests"]
cls = collections.Counter(c["status"] for c in cl)
print("submitted %d, classes %s, unfinished %d, not sent by the generator %d" % (
      r["submitted"], dict(cls), r["unfinished"], r["not_sent_outstanding"] + r["not_sent_pool"]))
try:
    s = open(sys.argv[3]).read(); card = json.loads(s[s.index("{"):])["/tokfab/stats"]
except Exception as e:
    card = {}
print("lost on the way: card rx_missed %s (frames its ports lost before it saw them), "
      "client sockets dropped %d answers; retransmissions %d, resumes %d; card refused %s "
      "with an error, BUSY retry-after sized by its queue" % (
      card.get("rx_missed", "?"), j["client"].get("socket_drops", -1),
      j["client"]["retransmits"], j["client"]["resumes"], card.get("err_sent", "?")))
assert r["unfinished"] == 0, "requests still without an answer"
assert len(cl) == r["submitted"], "%d outcomes for %d requests" % (len(cl), r["submitted"])
allowed = {"ok", "BUSY", "QUOTA_EXHAUSTED", "RATE_LIMITED", "CUT_OFF QUOTA_EXHAUSTED"}
bad = {k: v for k, v in cls.items() if k not in allowed}
assert not bad, "outcomes other than tokens or an explicit busy/quota error: %s" % bad
for c in cl:
    if c["status"] == "ok":
        assert c["tokens"] == c["completion_tokens"], c
assert cls["ok"] > 0
EOF

tf_log "memory stayed flat"
python3 - "$W/rss.txt" <<'EOF' || tf_fail "overload: memory grew"
import collections, sys
s = collections.defaultdict(list)
for line in open(sys.argv[1]):
    t, name, kib = line.split()
    if kib.isdigit() and int(kib) > 0:
        s[name].append(int(kib))
bad = []
for name, v in sorted(s.items()):
    n = len(v)
    if n < 8:
        bad.append("%s: only %d samples" % (name, n))
        continue
    steady = v[n // 4:]
    k = len(steady) // 3
    first, last = max(steady[:k]), max(steady[-k:])
    print("%-8s RSS KiB: start %d, first third %d, last third %d, max %d (%d samples)" % (
          name, v[0], first, last, max(v), n))
    if last > first * 1.10 + 4096:
        bad.append("%s grew from %d to %d KiB" % (name, first, last))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF

tf_log "the ledger holds every finished request exactly once"
e2e_ledger_settle || tf_fail "the ledger keeps changing"
e2e_ledger_raw "$W/ledger.json"
cat "$W/cap.log" "$W/over.log" >"$W/all.log"
e2e_check_ledger "$W/all.log" "$W/ledger.json" exact || tf_fail "ledger check failed"
tf_pass "3x overload for $SECS s: explicit refusals only, memory flat, ledger exact"
