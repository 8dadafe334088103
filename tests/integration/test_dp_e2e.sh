#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfab-dp end to end on the host tier: a network namespace with a veth pair,
# tokfab-dp on net_af_packet (the root side), tokfab-client and dp_probe in the
# namespace over the kernel UDP stack, two tokfab-accel agents behind the shm
# transport running generated models. Checks: ping, correct tokens for many
# concurrent requests of several tenants (against the engine run alone with the
# same seed), every error class of the protocol seen by a client, duplicates and
# retransmits answered once, quota enforced exactly, usage records, telemetry,
# SIGHUP reload, re-dispatch / failure when an accelerator dies, SIGTERM exit 0.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_root
tf_require_cmd ip ping ethtool python3 dpdk-telemetry.py
for b in tokfab-dp tokfab-accel tokfab-client tokfab-mkmodel; do
	[ -x "$TF_BIN/$b" ] || tf_fail "missing $TF_BIN/$b: run 'make' first"
done
TOOLS=$BUILD/tests/tools
for b in dp_probe dp_engine_ref; do
	[ -x "$TOOLS/$b" ] || tf_fail "missing $TOOLS/$b: run 'make' first"
done

W=$TF_LOGDIR
NS=tfdp$TF_ID
HIF=tdp${TF_ID}a
NIF=tdp${TF_ID}b
NET=10.$(( (0x$TF_ID >> 8) % 200 + 20 )).$(( 0x$TF_ID & 0xff ))
CARD=$NET.1
PREFIX=tfdp$TF_ID
export TOKFAB_SHM_DIR=$W
tf_on_exit "rm -rf /var/run/dpdk/$PREFIX" # the EAL's runtime directory

tf_netns_veth "$NS" "$HIF" "$NIF" - "$NET.2/24"
# veth hands the kernel's partial UDP checksums to af_packet; the card verifies them.
ip netns exec "$NS" ethtool -K "$NIF" tx off >/dev/null

tf_log "models and keys"
"$TF_BIN/tokfab-mkmodel" --preset tiny --seq-len 2048 -o "$W/tiny.bin" -t "$W/tiny.tok" >/dev/null
"$TF_BIN/tokfab-mkmodel" --preset stories15m -o "$W/s15.bin" -t "$W/s15.tok" >/dev/null
for t in 42 43 44 45 46 47; do
	python3 -c "import os;print(os.urandom(32).hex())" >"$W/t$t.key"
	chmod 600 "$W/t$t.key"
done
python3 -c "import os;print(os.urandom(32).hex())" >"$W/wrong.key"
chmod 600 "$W/wrong.key"

write_config() {
	cat >"$W/dp.yaml" <<EOF
card:
  ipv4: $CARD
  udp_port: 7480
  stats_interval_s: 5
  idle_sleep_us: 50
limits:
  cache_entries: 4
  cache_min_ms: 0
  reasm_timeout_ms: 300
  replay_window_ms: 30000
batching:
  max_batch: 8
  max_queue_delay_us: 200
models:
  - id: 7
    name: tiny
    max_new_tokens: 64
  - id: 8
    name: s15
    max_new_tokens: 256
accelerators:
  - id: 1
    address: $PREFIX-a1
    models: [7]
    cost_per_hour_micro: 1000000
  - id: 2
    address: $PREFIX-a2
    models: [8]
tenants:
  - id: 42
    key_file: t42.key
    unlimited: true
  - id: 43
    key_file: t43.key
    unlimited: true
    prices: [{ model: 7, per_1k_micro: 3000 }]
    mac_algs: [hmac-sha256, siphash]
  - id: 44
    key_file: t44.key
    budget_micro: 100000000
  - id: 45
    key_file: t45.key
    unlimited: true
    rate_rps: 1
    burst_requests: 1
  - id: 46
    key_file: t46.key
    budget_micro: 1000
    prices: [{ model: 7, per_1k_micro: 10000 }]
$1
EOF
}
write_config ""

tf_log "accelerators and the card"
tf_bg accel1 "$TF_BIN/tokfab-accel" --listen "shm:$PREFIX-a1" --model "$W/tiny.bin" \
	--tokenizer "$W/tiny.tok" --model-id 7 --threads 1 --name a1
tf_bg accel2 "$TF_BIN/tokfab-accel" --listen "shm:$PREFIX-a2" --model "$W/s15.bin" \
	--tokenizer "$W/s15.tok" --model-id 8 --threads 1 --name a2
ACCEL2=$TF_PID
sleep 0.5
tf_bg dp "$TF_BIN/tokfab-dp" -l 0 --no-huge -m 512 --no-pci --file-prefix "$PREFIX" \
	--vdev="net_af_packet0,iface=$HIF" -- --config "$W/dp.yaml" --usage-file "$W/usage.jsonl"
DP=$TF_PID
tf_wait_for 20 ip netns exec "$NS" ping -c 1 -W 1 "$CARD" ||
	tf_fail "the card does not answer ping (log: $W/dp.log)"

cli() { ip netns exec "$NS" "$TF_BIN/tokfab-client" -s "$CARD" "$@"; }
probe() { ip netns exec "$NS" "$TOOLS/dp_probe" --server "$CARD" --sport 40123 "$@"; }
# expect_rc WANT DESC CMD...: runs CMD, checks its exit code.
expect_rc() {
	local want=$1 desc=$2 rc=0
	shift 2
	"$@" >"$W/last.out" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || { cat "$W/last.out" >&2; tf_fail "$desc: exit $rc, expected $want"; }
}
# expect_probe REGEX DESC ARGS...: a dp_probe answer line must match.
expect_probe() {
	local re=$1 desc=$2
	shift 2
	probe "$@" >"$W/probe.out" 2>&1 || true
	grep -Eq "$re" "$W/probe.out" || { cat "$W/probe.out" >&2; tf_fail "$desc: no line matching '$re'"; }
}

tf_log "ping and PING"
ip netns exec "$NS" ping -c 3 -i 0.2 "$CARD" >"$W/ping.out" || tf_fail "ping lost packets"
grep -q " 0% packet loss" "$W/ping.out" || tf_fail "ping lost packets: $(tail -2 "$W/ping.out")"
tf_wait_for 10 cli -t 42 -k "$W/t42.key" --ping || tf_fail "protocol PING failed"

tf_log "many concurrent requests of three tenants, compared with the engine alone"
pids=()
for i in $(seq 1 12); do
	t=$((42 + i % 3))
	ids="1,$((i * 7)),$((i * 13 % 500)),40"
	echo "$t $ids $((1000 + i))" >"$W/req$i.args"
	cli -t "$t" -k "$W/t$t.key" -m 7 -n 12 --temperature 0.7 --top-p 0.9 --seed $((1000 + i)) \
		--tokens "$ids" --json >"$W/req$i.json" 2>"$W/req$i.err" &
	pids+=($!)
done
for i in $(seq 1 12); do
	wait "${pids[$((i - 1))]}" || tf_fail "request $i failed: $(cat "$W/req$i.err" "$W/req$i.json")"
done
for i in $(seq 1 12); do
	read -r t ids seed <"$W/req$i.args"
	got=$(python3 - "$W/req$i.json" <<'EOF'
import json, sys
toks = {}
fin = None
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev["event"] == "tokens":
        for k, v in enumerate(ev["ids"]):
            toks[ev["first_seq"] + k] = v
    elif ev["event"] == "final":
        fin = ev
assert fin and fin["completion_tokens"] == len(toks), "final does not match the tokens"
print(",".join(str(toks[k]) for k in range(len(toks))))
EOF
) || tf_fail "request $i: bad client output"
	want=$("$TOOLS/dp_engine_ref" "$W/tiny.bin" "$W/tiny.tok" "$ids" 12 700 9000 "$seed")
	[ "$got" = "$want" ] || tf_fail "request $i (tenant $t, seed $seed): card gave [$got], engine [$want]"
done

tf_log "SipHash (mac_alg 2): for the tenant allowed it, refused for the others"
cli -t 43 -k "$W/t43.key" -m 7 -n 12 --temperature 0.7 --top-p 0.9 --seed 77 --mac siphash \
	--tokens 1,7,13,40 --json >"$W/sip.json" 2>"$W/sip.err" || tf_fail "SipHash request: $(cat "$W/sip.err")"
got=$(python3 -c '
import json, sys
toks = {}
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev["event"] == "tokens":
        for k, v in enumerate(ev["ids"]):
            toks[ev["first_seq"] + k] = v
print(",".join(str(toks[k]) for k in range(len(toks))))' "$W/sip.json")
want=$("$TOOLS/dp_engine_ref" "$W/tiny.bin" "$W/tiny.tok" 1,7,13,40 12 700 9000 77)
[ "$got" = "$want" ] || tf_fail "SipHash request: card gave [$got], engine [$want]"
expect_rc 22 "SipHash from a tenant allowed HMAC only (UNSUPPORTED)" \
	cli -t 42 -k "$W/t42.key" -m 7 -n 2 --mac siphash --retries 2 --tokens 1,2

tf_log "a prompt spread over many datagrams (fragments first, reverse order)"
expect_probe "^FINAL reason=[01] error=0 prompt=1500 " "fragmented prompt" \
	-t 42 -k "$W/t42.key" --wait 5000 big 4999 6000

tf_log "every error class, seen by a client"
expect_rc 10 "BAD_MAC" cli -t 42 -k "$W/wrong.key" -m 7 -n 4 --retries 2 --timeout 10 hello
expect_rc 12 "UNKNOWN_TENANT" cli -t 999 -k "$W/t42.key" -m 7 -n 4 --retries 2 --timeout 10 hello
expect_rc 13 "UNKNOWN_MODEL" cli -t 42 -k "$W/t42.key" -m 99 -n 4 hello
expect_rc 17 "TOO_LARGE" cli -t 42 -k "$W/t42.key" -m 7 -n 65 hello
cli -t 45 -k "$W/t45.key" -m 7 -n 2 --retries 0 --tokens 1,2 >/dev/null 2>&1 || true
expect_rc 15 "RATE_LIMITED" cli -t 45 -k "$W/t45.key" -m 7 -n 2 --retries 0 --tokens 1,2
expect_probe "^ERROR code=2 name=REPLAY detail=1 .*signed=1" "REPLAY (clock)" -t 42 -k "$W/t42.key" stale
expect_probe "^ERROR code=9 name=MALFORMED detail=$(( (9 << 16) | 40 )) .*signed=1" "MALFORMED" \
	-t 42 -k "$W/t42.key" reserved
expect_probe "^ERROR code=12 name=UNSUPPORTED_VERSION detail=1 .*signed=0" "UNSUPPORTED_VERSION" \
	-t 42 -k "$W/t42.key" version
expect_probe "^ERROR code=13 name=UNSUPPORTED detail=$(( 5 << 16 | 6 )) " "UNSUPPORTED" \
	-t 42 -k "$W/t42.key" flag
expect_probe "^ERROR code=14 name=UNKNOWN_REQUEST " "UNKNOWN_REQUEST" -t 42 -k "$W/t42.key" cancel 777
expect_probe "^ERROR code=10 name=TIMEOUT detail=1 " "TIMEOUT (gap)" -t 42 -k "$W/t42.key" gap 778
expect_probe "^ERROR code=9 name=MALFORMED detail=$(( 18 << 16 | 36 )) " "MALFORMED (overlap)" \
	-t 42 -k "$W/t42.key" overlap 779

tf_log "duplicates and retransmits are answered once"
expect_probe "^FINAL reason=1 .*flags=0x0 signed=1" "request 5000" -t 42 -k "$W/t42.key" request 5000 4
expect_probe "^FINAL reason=1 .*flags=0x2 signed=1" "retransmit from the cache" \
	-t 42 -k "$W/t42.key" retx 5000 4
grep -q "^TOKENS first=0 n=" "$W/probe.out" || tf_fail "the cached answer lacks its tokens"
# The cache holds 4 entries: after 5 more requests 5000 left it, its id did not.
for r in 5001 5002 5003 5004 5005; do
	expect_probe "^FINAL " "request $r" -t 42 -k "$W/t42.key" request $r 2
done
expect_probe "^ERROR code=2 name=REPLAY detail=2 " "REPLAY (id reused)" -t 42 -k "$W/t42.key" retx 5000 4
expect_probe "^ERROR code=15 name=RESUME_UNAVAILABLE " "RESUME_UNAVAILABLE" \
	-t 42 -k "$W/t42.key" resume 5000 0
expect_probe "^TOKENS first=1 n=1 " "RESUME from 1" -t 42 -k "$W/t42.key" resume 5005 1
n=$(grep -c '"request_id":5000,' "$W/usage.jsonl" || true)
[ "$n" = 1 ] || tf_fail "request 5000 has $n usage records, expected exactly 1"

tf_log "quota: admitted while the balance covers a reservation, refused exactly when not"
n=0
while :; do
	rc=0
	cli -t 46 -k "$W/t46.key" -m 7 -n 20 --temperature 0 --tokens 1,2,3,4 >/dev/null 2>&1 || rc=$?
	[ $rc = 0 ] && { n=$((n + 1)); continue; }
	[ $rc = 14 ] || tf_fail "tenant 46: exit $rc, expected 0 or 14 (QUOTA_EXHAUSTED)"
	break
done
[ $n -ge 1 ] || tf_fail "tenant 46: nothing admitted out of a budget of 1000"
python3 - "$W/usage.jsonl" "$n" <<'EOF' || tf_fail "tenant 46: quota not enforced exactly"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"tenant":46,' in l]
spent = sum(r["cost_micro"] for r in recs)
reserve = ((4 + 20) * 10000 + 500) // 1000           # prompt + max_new at 10000/1k
for r in recs:
    assert r["cost_micro"] == ((r["prompt_tokens"] + r["completion_tokens"]) * 10000 + 500) // 1000
assert len(recs) == int(sys.argv[2]), (len(recs), sys.argv[2])
assert spent <= 1000, spent                            # never overspent
assert 1000 - spent < reserve, (spent, reserve)        # refused only when it had to be
print("tenant 46: %d requests, %d of 1000 spent, next needed %d" % (len(recs), spent, reserve))
EOF

tf_log "telemetry under /tokfab/"
echo "/tokfab/stats" | dpdk-telemetry.py -f "$PREFIX" >"$W/tel.stats" 2>&1 ||
	tf_fail "dpdk-telemetry.py failed: $(cat "$W/tel.stats")"
python3 - "$W/tel.stats" <<'EOF' || tf_fail "telemetry /tokfab/stats: $(cat "$W/tel.stats")"
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index('{"/tokfab'):])["/tokfab/stats"]
assert d["req_done"] >= 20 and d["retx_answered"] >= 1 and d["icmp_replies"] >= 3, d
EOF
printf '/tokfab/drops\n/tokfab/tenant,46\n/tokfab/accel,1\n/tokfab/port,0\n/tokfab/lcore,0\n' |
	dpdk-telemetry.py -f "$PREFIX" >"$W/tel.more" 2>&1
for key in '"auth_mac"' '"reasm_overlap"' '"proto_reserved_nonzero"' '"batches"' '"ipackets"' '"rx_pkts"'; do
	grep -q "$key" "$W/tel.more" || tf_fail "telemetry lacks $key: $(cat "$W/tel.more")"
done

tf_log "SIGHUP reload adds a tenant"
write_config "  - id: 47
    key_file: t47.key
    unlimited: true"
kill -HUP "$DP"
tf_wait_for 10 cli -t 47 -k "$W/t47.key" --ping || tf_fail "tenant 47 unknown after reload"

tf_log "an accelerator dies mid-stream: the request ends with a FINAL, new ones get BUSY"
cli -t 42 -k "$W/t42.key" -m 8 -n 250 --temperature 0 --tokens 1,2,3 --json \
	>"$W/long.json" 2>"$W/long.err" &
LONG=$!
tf_wait_for 30 grep -q '"event":"tokens"' "$W/long.json" || tf_fail "no token from accelerator 2"
kill -9 "$ACCEL2"
wait "$ACCEL2" 2>/dev/null || true
rc=0
wait $LONG || rc=$?
[ $rc = 20 ] || tf_fail "killed accelerator: client exit $rc, expected 20 (INTERNAL): $(tail -3 "$W/long.json" "$W/long.err")"
grep -q '"finish":"cut_off"' "$W/long.json" || tf_fail "no FINAL CUT_OFF for the cut stream"
expect_rc 16 "BUSY (no accelerator for the model)" cli -t 42 -k "$W/t42.key" -m 8 -n 2 --retries 0 --tokens 1,2

tf_log "SIGTERM drains and exits 0; every admitted request has its usage record"
admitted=$(echo "/tokfab/stats" | dpdk-telemetry.py -f "$PREFIX" 2>/dev/null | python3 -c '
import json, sys
t = sys.stdin.read()
print(json.loads(t[t.index("{\"/tokfab"):])["/tokfab/stats"]["req_admitted"])') ||
	tf_fail "telemetry: no req_admitted"
kill -TERM "$DP"
rc=0
wait "$DP" || rc=$?
[ $rc = 0 ] || tf_fail "tokfab-dp exit $rc after SIGTERM (log: $W/dp.log)"
grep -q "stopped:" "$W/dp.log" || tf_fail "no orderly stop in the log"
! grep -q "Sanitizer" "$W/dp.log" || tf_fail "sanitizer report in $W/dp.log (make SAN=1 build)"
recs=$(wc -l <"$W/usage.jsonl")
[ "$recs" = "$admitted" ] || tf_fail "$recs usage records for $admitted admitted requests"
grep -q '"outcome":"accel_failed"' "$W/usage.jsonl" || tf_fail "no usage record for the cut stream"
tf_pass "tokfab-dp end to end: $recs usage records"
