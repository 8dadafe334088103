#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfab-client end to end over a veth into a network namespace, against the
# card stand-in tf_stub_card (tests/integration/tools/), with loss injected
# both ways and a slow first token:
#  - every request completes with every token in order (retransmission,
#    resume), and no request id runs twice on the card (at most once);
#  - text, --ids, --tokens, --json and a fragmented prompt;
#  - --mac siphash: requests signed with SipHash, answers under the same
#    algorithm; --no-final-tokens clears the REQUEST flag;
#  - each error class gives its documented exit code and message;
#  - bad arguments are refused with exit 2 and a clear message.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_root
tf_require_cmd ip python3
for b in tokfab-client tf_stub_card; do
	[ -x "$TF_BIN/$b" ] || tf_fail "$TF_BIN/$b is not built: run 'make'"
done
work=$(mktemp -d /tmp/tokfab-client.XXXXXX)
tf_on_exit "rm -rf $work"

ns=tfcli$TF_ID hif=tfch$TF_ID nif=tfcn$TF_ID
o2=$(( 0x$TF_ID % 200 + 20 )) o3=$(( (0x$TF_ID >> 8) % 250 + 1 ))
card_ip=10.$o3.$o2.2
tf_netns_veth "$ns" "$hif" "$nif" "10.$o3.$o2.1/24" "$card_ip/24"
port=$(( 20000 + RANDOM % 20000 )) silent_port=$(( port + 1 )) closed_port=$(( port + 2 ))
clean_port=$(( port + 3 ))

key=$work/key
printf '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n' > "$key"
chmod 600 "$key"
wrong=$work/wrong.key
printf 'ffff02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n' > "$wrong"
chmod 600 "$wrong"

# A lossy, slow card: drops every 4th datagram it receives and every 3rd token
# chunk it sends; the first token comes after 400 ms (the client retransmits).
tf_bg lossy ip netns exec "$ns" "$TF_BIN/tf_stub_card" --port "$port" --tenant 42 \
	--key-file "$key" --drop-rx-every 4 --drop-every 3 --token-delay-ms 1 --first-token-delay-ms 400
tf_wait_for 10 grep -q listening "$TF_LOGDIR/lossy.log" || tf_fail "stub card did not start"
# A card that never answers (drops everything it receives).
tf_bg silent ip netns exec "$ns" "$TF_BIN/tf_stub_card" --port "$silent_port" --tenant 42 \
	--key-file "$key" --drop-rx-every 1
tf_wait_for 10 grep -q listening "$TF_LOGDIR/silent.log" || tf_fail "silent stub did not start"
# A loss-free card for the exit codes and options: the lossy card drops by a counter,
# so whether a short exchange loses its one retransmission would depend on the phase
# the earlier cases left it in.
tf_bg clean ip netns exec "$ns" "$TF_BIN/tf_stub_card" --port "$clean_port" --tenant 42 \
	--key-file "$key" --token-delay-ms 1
tf_wait_for 10 grep -q listening "$TF_LOGDIR/clean.log" || tf_fail "clean stub did not start"

cl() { "$TF_BIN/tokfab-client" --server "$card_ip:$port" --tenant 42 --key-file "$key" "$@"; }
cc() { "$TF_BIN/tokfab-client" --server "$card_ip:$clean_port" --tenant 42 --key-file "$key" "$@"; }
words() { local i s=""; for ((i = 0; i < $1; i++)); do s+="w$i "; done; echo "$s"; }

# --- streams complete through loss, at most once ----------------------------
tf_log "text requests through loss both ways"
for n in 1 7 40 100; do
	out=$(cl --model 1 -n $n "request of $n tokens" 2>"$work/err")
	rc=$?
	[ $rc -eq 0 ] || tf_fail "request of $n tokens: exit $rc: $(cat "$work/err")"
	tf_expect_eq "$out" "$(words $n)" "streamed text of $n tokens"
	grep -q "completion_tokens=$n " "$work/err" || tf_fail "usage line wrong: $(cat "$work/err")"
done

tf_log "--ids and --tokens"
out=$(cl --model 1 -n 5 --ids --tokens 1,15043,29892 2>/dev/null)
tf_expect_eq "$out" "1000 1001 1002 1003 1004" "--ids output"
grep -q "prompt_bytes=12 kind=0" "$TF_LOGDIR/lossy.log" || tf_fail "--tokens prompt not sent as 3 ids"

tf_log "--json"
cl --model 1 -n 12 --json "json please" > "$work/json" 2>"$work/err" || tf_fail "--json: $(cat "$work/err")"
python3 - "$work/json" <<'EOF' || tf_fail "--json output is wrong: $(cat "$work/json")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
toks = [l for l in lines if l["event"] == "tokens"]
ids = [i for t in toks for i in t["ids"]]
text = "".join(t["text"] for t in toks)
final = [l for l in lines if l["event"] == "final"]
assert ids == list(range(1000, 1012)), ids
assert text == "".join("w%d " % i for i in range(12)), text
assert len(final) == 1 and final[0]["completion_tokens"] == 12 and final[0]["finish"] == "length"
assert final[0]["cost_micro"] == 2 + 24, final[0]
EOF

tf_log "fragmented prompt (100 KiB)"
python3 -c 'import sys; sys.stdout.write("token " * 17000)' > "$work/big.txt"
out=$(cl --model 1 -n 3 -v --prompt-file "$work/big.txt" 2>"$work/err")
rc=$?
[ $rc -eq 0 ] || tf_fail "100 KiB prompt: exit $rc: $(tail -12 "$work/err")"
grep -q "prompt_tokens=17000 " "$work/err" || tf_fail "card did not get the whole prompt: $(cat "$work/err")"

tf_log "at most once"
grep -q "rx REQUEST .* flags=1" "$TF_LOGDIR/lossy.log" || tf_fail "no REQUEST was retransmitted: the test did not exercise retransmission"
grep -q "rx RESUME" "$TF_LOGDIR/lossy.log" || tf_fail "no RESUME was sent: the test did not exercise resume"
dups=$(grep '^exec ' "$TF_LOGDIR/lossy.log" | awk '{print $2}' | sort | uniq -d)
[ -z "$dups" ] || tf_fail "request ids executed twice: $dups"
tf_expect_eq "$(grep -c '^exec ' "$TF_LOGDIR/lossy.log")" 7 "executions for 7 requests"

# --- exit codes of each error class ----------------------------------------
tf_log "exit codes"
expect_exit() {
	local want=$1 msg=$2; shift 2
	"$@" >"$work/out" 2>"$work/err"
	local rc=$?
	[ $rc -eq "$want" ] || tf_fail "$*: exit $rc, expected $want: $(cat "$work/err")"
	[ -z "$msg" ] || grep -q -- "$msg" "$work/err" || tf_fail "$*: message lacks '$msg': $(cat "$work/err")"
}
expect_exit 16 "BUSY" cc --model 107 --retries 2 "x"
expect_exit 15 "RATE_LIMITED" cc --model 106 --retries 1 "x"
expect_exit 13 "model 104" cc --model 104 "x"
expect_exit 14 "QUOTA_EXHAUSTED" cc --model 105 "x"
expect_exit 17 "TOO_LARGE" cc --model 108 "x"
expect_exit 20 "INTERNAL" cc --model 111 "x"
expect_exit 13 "UNKNOWN_MODEL" cc --model 9999 "x"
expect_exit 14 "finish=cut_off" cc --model 205 -n 9 "x"
expect_exit 12 "UNKNOWN_TENANT (unsigned)" "$TF_BIN/tokfab-client" --server "$card_ip:$clean_port" --tenant 43 --key-file "$key" --model 1 "x"
expect_exit 10 "BAD_MAC (unsigned)" "$TF_BIN/tokfab-client" --server "$card_ip:$clean_port" --tenant 42 --key-file "$wrong" --model 1 "x"
expect_exit 4 "timeout: no answer" "$TF_BIN/tokfab-client" --server "$card_ip:$silent_port" --tenant 42 --key-file "$key" --model 1 --retries 2 "x"
expect_exit 3 "network error" "$TF_BIN/tokfab-client" --server "$card_ip:$closed_port" --tenant 42 --key-file "$key" --model 1 "x"
expect_exit 4 "finish=cancelled" cc --model 2 -n 1000 --timeout 1 --ids "slow"
expect_exit 0 "" cc --ping
grep -q "pong from" "$work/out" || tf_fail "--ping printed nothing"

# --- MAC algorithm and the FINAL_TOKENS flag ---------------------------------
tf_log "--mac siphash and --no-final-tokens"
out=$(cc --model 1 -n 9 --mac siphash "signed with siphash" 2>"$work/err")
tf_expect_eq "$?" 0 "exit code of a SipHash request"
tf_expect_eq "$out" "$(words 9)" "streamed text under SipHash"
grep -q "rx REQUEST .*mac_alg=2 req_flags=3$" "$TF_LOGDIR/clean.log" ||
	tf_fail "the card saw no SipHash REQUEST with WANT_TEXT|FINAL_TOKENS: $(grep 'rx REQUEST' "$TF_LOGDIR/clean.log")"
cc --model 1 -n 2 --no-final-tokens "no flag" >/dev/null 2>"$work/err" || tf_fail "--no-final-tokens: $(cat "$work/err")"
grep -q "rx REQUEST .*mac_alg=1 req_flags=1$" "$TF_LOGDIR/clean.log" ||
	tf_fail "--no-final-tokens still set FINAL_TOKENS: $(grep 'rx REQUEST' "$TF_LOGDIR/clean.log")"

# --- bad arguments -----------------------------------------------------------
tf_log "bad arguments"
expect_exit 2 "--server ADDR" "$TF_BIN/tokfab-client" --tenant 42 --key-file "$key" --model 1 "x"
expect_exit 2 "--temperature: 'hot'" cl --model 1 --temperature hot "x"
expect_exit 2 "--temperature: '11'" cl --model 1 --temperature 11 "x"
expect_exit 2 "--top-p" cl --model 1 --top-p 0 "x"
expect_exit 2 "--priority" cl --model 1 --priority 8 "x"
expect_exit 2 "item 2 ('x')" cl --model 1 --tokens 1,x,3
expect_exit 2 "exactly one prompt" cl --model 1 --tokens 1 "and text"
expect_exit 2 "exactly one prompt" cl --model 1
expect_exit 2 "port must be a number" "$TF_BIN/tokfab-client" --server "$card_ip:99999" --tenant 42 --key-file "$key" --model 1 "x"
expect_exit 2 "unknown option '--frobnicate'" cl --model 1 --frobnicate "x"
expect_exit 2 "--mac: 'md5' is not a MAC algorithm" cl --model 1 --mac md5 "x"
printf 'not a key\n' > "$work/bad.key"
expect_exit 2 "hex digits" "$TF_BIN/tokfab-client" --server "$card_ip:$port" --tenant 42 --key-file "$work/bad.key" --model 1 "x"
expect_exit 2 "cannot open key file" "$TF_BIN/tokfab-client" --server "$card_ip:$port" --tenant 42 --key-file "$work/none.key" --model 1 "x"
chmod 644 "$key"
cl --model 1 -n 1 "x" >/dev/null 2>"$work/err"
grep -q "chmod 600" "$work/err" || tf_fail "no warning for a world-readable key file"
chmod 600 "$key"
"$TF_BIN/tokfab-client" --help | grep -q "RESUME_UNAVAILABLE" || tf_fail "--help lacks the exit code table"

tf_pass "tokfab-client: streams through loss, at most once, every exit code"
