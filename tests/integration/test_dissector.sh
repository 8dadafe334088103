#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The Wireshark dissector (tools/dissector/tokfab.lua) decodes every field of
# every message type:
#  1. tshark captures on the host end of a veth pair while real tokfab-client
#     traffic flows to a card stand-in (tf_stub_card) in a network namespace:
#     request with lost chunks (RESUME), large prompt (REQ_FRAGMENT), ping,
#     BUSY (signed ERROR), unknown tenant (unsigned ERROR), Ctrl-C (CANCEL),
#     a request signed with SipHash (mac_alg 2, answered under SipHash);
#  2. tf_proto_send sends the 17 worked examples of hwdocs/protocol.md, built
#     with the codec, over the same veth;
#  3. tshark -X lua_script decodes the capture: every message type appears,
#     nothing is flagged malformed, and every field of every example decodes
#     to the value the spec gives.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_root
tf_require_cmd tshark ip od
LUA=$TF_ROOT/tools/dissector/tokfab.lua
for b in tokfab-client tf_stub_card tf_proto_send; do
	[ -x "$TF_BIN/$b" ] || tf_fail "$TF_BIN/$b is not built: run 'make'"
done
work=$(mktemp -d /tmp/tokfab-dissector.XXXXXX)
tf_on_exit "rm -rf $work"

# --- network: namespace + veth, addresses derived from TF_ID ------------------
ns=tfdis$TF_ID hif=tfdh$TF_ID nif=tfdn$TF_ID
o2=$(( 0x$TF_ID % 200 + 20 )) o3=$(( (0x$TF_ID >> 8) % 250 + 1 ))
host_ip=10.$o2.$o3.1 card_ip=10.$o2.$o3.2
tf_netns_veth "$ns" "$hif" "$nif" "$host_ip/24" "$card_ip/24"
port=$(( 20000 + RANDOM % 20000 )) spec_port=$(( port + 1 ))

key=$work/tenant42.key
printf '# tenant 42\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n' > "$key"
chmod 600 "$key"

# --- capture ------------------------------------------------------------------
pcap=$work/tokfab.pcap
tshark -i "$hif" -f udp -w "$pcap" -q > "$work/tshark.log" 2>&1 &
tshark_pid=$!
tf_on_exit "kill $tshark_pid"
tf_wait_for 20 grep -q "Capturing on" "$work/tshark.log" || tf_fail "tshark did not start: $(cat "$work/tshark.log")"

tf_bg stub ip netns exec "$ns" "$TF_BIN/tf_stub_card" --port "$port" --tenant 42 \
	--key-file "$key" --drop-every 3 --token-delay-ms 2
tf_wait_for 10 grep -q listening "$TF_LOGDIR/stub.log" || tf_fail "stub card did not start"

client() { "$TF_BIN/tokfab-client" --server "$card_ip:$port" --key-file "$key" "$@"; }

tf_log "request with lost token chunks (RESUME)"
out=$(client --tenant 42 --model 1 -n 30 --seed 5 "hello dissector" 2>"$work/c1.err")
tf_expect_eq "$?" 0 "exit code of a normal request"
tf_expect_eq "$(echo "$out" | wc -w)" 30 "tokens printed"
grep -q "resumes=[1-9]" "$work/c1.err" || tf_fail "no RESUME was needed: $(cat "$work/c1.err")"

tf_log "request signed with SipHash"
client --tenant 42 --model 1 -n 4 --mac siphash "siphash please" >/dev/null 2>"$work/c2.err"
tf_expect_eq "$?" 0 "exit code of a SipHash request"

tf_log "large prompt (REQ_FRAGMENT)"
head -c 5000 /dev/zero | tr '\0' 'a' > "$work/prompt.txt"
client --tenant 42 --model 1 -n 2 --prompt-file "$work/prompt.txt" >/dev/null 2>&1
tf_expect_eq "$?" 0 "exit code of a fragmented request"

tf_log "ping"
client --tenant 42 --ping >/dev/null 2>&1
tf_expect_eq "$?" 0 "exit code of --ping"

tf_log "BUSY (signed ERROR) and unknown tenant (unsigned ERROR)"
client --tenant 42 --model 107 --retries 0 "x" >/dev/null 2>&1
tf_expect_eq "$?" 16 "exit code of BUSY"
client --tenant 43 --model 1 "x" >/dev/null 2>&1
tf_expect_eq "$?" 12 "exit code of UNKNOWN_TENANT"

tf_log "Ctrl-C (CANCEL)"
"$TF_BIN/tokfab-client" --server "$card_ip:$port" --key-file "$key" --tenant 42 --model 1 \
	-n 3000 --ids "long" >/dev/null 2>&1 &
cpid=$!
sleep 0.5
kill -INT $cpid
wait $cpid
tf_expect_eq "$?" 5 "exit code after Ctrl-C"

tf_log "the spec's worked examples, built by the codec"
"$TF_BIN/tf_proto_send" "$card_ip" "$spec_port" || tf_fail "tf_proto_send failed"
sleep 1
kill -INT $tshark_pid
wait $tshark_pid 2>/dev/null

ts() { tshark -r "$pcap" -X lua_script:"$LUA" "$@" 2>"$work/ts.err"; }

# --- 1. every type in real traffic, nothing malformed, no Lua error -----------
real="udp.port == $port"
types=$(ts -Y "tokfab && $real" -T fields -e tokfab.type | sort -u | tr '\n' ' ')
for t in 0x01 0x02 0x03 0x04 0x05 0x81 0x82 0x83 0x84; do
	case " $types" in *" $t "*) ;; *) tf_fail "type $t missing from the client traffic (saw: $types)" ;; esac
done
n=$(ts -Y "tokfab" | wc -l)
tf_expect_ge "$n" 40 "tokfab datagrams decoded"
bad=$(ts -Y "tokfab.malformed || _ws.malformed || _ws.lua.error" | wc -l)
tf_expect_eq "$bad" 0 "datagrams flagged malformed or with a Lua error"
ts -V -Y tokfab > "$work/verbose.txt"
grep -q "Lua Error" "$work/verbose.txt" && tf_fail "Lua error in the dissector: $(grep -m1 'Lua Error' "$work/verbose.txt")"
# Real traffic carries what the client sent.
tf_expect_eq "$(ts -Y "$real && tokfab.type == 0x01 && tokfab.req.prompt_kind == 1 && tokfab.req.max_new_tokens == 30" -T fields -e tokfab.req.prompt_text | head -1)" \
	"hello dissector" "prompt text of the first request"
tf_expect_eq "$(ts -Y "$real && tokfab.type == 0x82 && tokfab.final.completion_tokens == 30" -T fields -e tokfab.final.finish_reason | head -1)" \
	1 "finish reason LENGTH of the first request"
tf_expect_ge "$(ts -Y "$real && tokfab.type == 0x82 && tokfab.final.finish_reason == 2" | wc -l)" 1 "FINALs CANCELLED after Ctrl-C"
tf_expect_eq "$(ts -Y "$real && tokfab.type == 0x83 && tokfab.mac_alg == 0" -T fields -e tokfab.error.code | sort -u)" \
	3 "unsigned ERROR code (UNKNOWN_TENANT)"
tf_expect_eq "$(ts -Y "$real && tokfab.type == 0x83 && tokfab.error.code == 7" -T fields -e tokfab.error.retry_after_ms | head -1)" \
	100 "BUSY retry_after_ms"
tf_expect_eq "$(ts -Y "$real && tokfab.type == 0x01 && tokfab.mac_alg == 2" -T fields -e tokfab.req.prompt_text | head -1)" \
	"siphash please" "prompt of the SipHash request"
tf_expect_ge "$(ts -Y "$real && tokfab.type == 0x82 && tokfab.mac_alg == 2" | wc -l)" 1 "FINALs signed with SipHash"
offs=$(ts -Y "$real && tokfab.type == 0x02" -T fields -e tokfab.frag.offset | sort -un | tr '\n' ' ')
tf_expect_eq "$offs" "1280 2624 3968 " "fragment offsets of a 5000-byte prompt"

# --- 2. every field of every spec example -------------------------------------
fields=(
	tokfab.magic tokfab.version tokfab.type tokfab.flags tokfab.flags.retransmit
	tokfab.flags.from_cache tokfab.mac_alg tokfab.tenant tokfab.payload_len tokfab.key_id
	tokfab.reserved tokfab.request_id tokfab.timestamp_us tokfab.timestamp tokfab.mac
	tokfab.req.model tokfab.req.max_new_tokens tokfab.req.prompt_total_len tokfab.req.prompt_kind
	tokfab.req.priority tokfab.req.flags tokfab.req.flags.want_text tokfab.req.flags.final_tokens
	tokfab.req.temperature
	tokfab.req.top_p tokfab.req.reserved tokfab.req.seed tokfab.req.prompt_len
	tokfab.req.prompt_text tokfab.req.prompt tokfab.req.prompt_token
	tokfab.frag.prompt_total_len tokfab.frag.offset tokfab.frag.len tokfab.frag.data
	tokfab.resume.from_seq tokfab.resume.reserved tokfab.ping.echo tokfab.ping.reserved
	tokfab.pong.echo tokfab.pong.min_version tokfab.pong.max_version tokfab.pong.max_dgram
	tokfab.pong.reserved tokfab.tok.first_seq tokfab.tok.n_tokens tokfab.tok.flags
	tokfab.tok.flags.has_text tokfab.tok.reserved tokfab.tok.id tokfab.tok.piece_len
	tokfab.tok.piece tokfab.tok.text tokfab.final.finish_reason tokfab.final.flags
	tokfab.final.flags.has_tokens
	tokfab.final.error_code tokfab.final.prompt_tokens tokfab.final.completion_tokens
	tokfab.final.accel_id tokfab.final.cost_micro tokfab.final.queue_us tokfab.final.total_us
	tokfab.error.code tokfab.error.ref_type tokfab.error.reserved tokfab.error.retry_after_ms
	tokfab.error.detail
)
args=()
for f in "${fields[@]}"; do args+=(-e "$f"); done
mapfile -t rows < <(ts -Y "udp.dstport == $spec_port" -T fields -E separator='|' -E occurrence=a \
	-E aggregator=, "${args[@]}")
tf_expect_eq "${#rows[@]}" 17 "spec examples captured"

# The MAC of each example is the last 16 bytes of its dump in protocol.md.
mac_of() {
	awk -v n="$1" '/^```tfhex /{on = ($2 == n); next} /^```/{on = 0} on' "$TF_ROOT/hwdocs/protocol.md" |
		sed -e 's/|.*//' -e 's/^[0-9a-f]*://' | tr -d ' \n' | tail -c 32
}

T0=1767225600000000
HDR_COMMON="tokfab.magic=TKFB tokfab.version=1 tokfab.key_id=0 tokfab.reserved=0"
expect=(
	"request-text|tokfab.type=0x01 tokfab.flags=0x00 tokfab.flags.retransmit=0 tokfab.flags.from_cache=0 tokfab.mac_alg=1 tokfab.tenant=42 tokfab.payload_len=46 tokfab.request_id=0x0123456789abcdef tokfab.timestamp_us=$T0 tokfab.req.model=7 tokfab.req.max_new_tokens=16 tokfab.req.prompt_total_len=14 tokfab.req.prompt_kind=1 tokfab.req.priority=3 tokfab.req.flags=0x0001 tokfab.req.flags.want_text=1 tokfab.req.flags.final_tokens=0 tokfab.req.temperature=700 tokfab.req.top_p=9000 tokfab.req.reserved=0 tokfab.req.seed=1234 tokfab.req.prompt_len=14 tokfab.req.prompt_text=Hello,_tokfab!"
	"request-tokens|tokfab.type=0x01 tokfab.flags=0x00 tokfab.mac_alg=1 tokfab.tenant=42 tokfab.payload_len=44 tokfab.request_id=0x0123456789abcdf0 tokfab.timestamp_us=$((T0 + 1000)) tokfab.req.model=7 tokfab.req.max_new_tokens=4 tokfab.req.prompt_total_len=12 tokfab.req.prompt_kind=0 tokfab.req.priority=7 tokfab.req.flags=0x0000 tokfab.req.flags.want_text=0 tokfab.req.temperature=0 tokfab.req.top_p=10000 tokfab.req.reserved=0 tokfab.req.seed=0 tokfab.req.prompt_len=12 tokfab.req.prompt=01000000c33a0000c4740000 tokfab.req.prompt_token=1,15043,29892"
	"request-first-part|tokfab.type=0x01 tokfab.payload_len=96 tokfab.request_id=0x0123456789abcdf1 tokfab.timestamp_us=$((T0 + 2000)) tokfab.req.prompt_total_len=71 tokfab.req.prompt_len=64 tokfab.req.prompt_text=The_quick_brown_fox_jumps_over_the_lazy_dog;_then_it_naps_under_"
	"fragment|tokfab.type=0x02 tokfab.payload_len=15 tokfab.request_id=0x0123456789abcdf1 tokfab.timestamp_us=$((T0 + 2001)) tokfab.frag.prompt_total_len=71 tokfab.frag.offset=64 tokfab.frag.len=7 tokfab.frag.data=6120747265652e"
	"tokens-text|tokfab.type=0x81 tokfab.payload_len=35 tokfab.request_id=0x0123456789abcdef tokfab.timestamp_us=$((T0 + 50000)) tokfab.tok.first_seq=0 tokfab.tok.n_tokens=3 tokfab.tok.flags=0x01 tokfab.tok.flags.has_text=1 tokfab.tok.reserved=0 tokfab.tok.id=15043,1919,3186 tokfab.tok.piece_len=5,1,6 tokfab.tok.piece=48656c6c6f,2c,20776f726c64 tokfab.tok.text=Hello,_world"
	"tokens-ids|tokfab.type=0x81 tokfab.payload_len=16 tokfab.request_id=0x0123456789abcdf0 tokfab.timestamp_us=$((T0 + 60000)) tokfab.tok.first_seq=2 tokfab.tok.n_tokens=2 tokfab.tok.flags=0x00 tokfab.tok.flags.has_text=0 tokfab.tok.id=1919,3186 tokfab.tok.piece_len= tokfab.tok.text="
	"tokens-beacon|tokfab.type=0x81 tokfab.payload_len=8 tokfab.request_id=0x0123456789abcdf0 tokfab.timestamp_us=$((T0 + 70000)) tokfab.tok.first_seq=4 tokfab.tok.n_tokens=0 tokfab.tok.id="
	"final-stop|tokfab.type=0x82 tokfab.flags=0x00 tokfab.payload_len=32 tokfab.request_id=0x0123456789abcdef tokfab.timestamp_us=$((T0 + 200000)) tokfab.final.finish_reason=0 tokfab.final.flags=0x00 tokfab.final.flags.has_tokens=0 tokfab.final.error_code=0 tokfab.final.prompt_tokens=5 tokfab.final.completion_tokens=3 tokfab.final.accel_id=2 tokfab.final.cost_micro=1234 tokfab.final.queue_us=150 tokfab.final.total_us=4200"
	"final-cut-off|tokfab.type=0x82 tokfab.flags=0x02 tokfab.flags.from_cache=1 tokfab.flags.retransmit=0 tokfab.timestamp_us=$((T0 + 200001)) tokfab.final.finish_reason=3 tokfab.final.error_code=5 tokfab.final.prompt_tokens=5 tokfab.final.completion_tokens=2 tokfab.final.accel_id=2 tokfab.final.cost_micro=800 tokfab.final.queue_us=150 tokfab.final.total_us=3000"
	"cancel|tokfab.type=0x03 tokfab.flags=0x00 tokfab.payload_len=0 tokfab.request_id=0x0123456789abcdef tokfab.timestamp_us=$((T0 + 100000))"
	"resume|tokfab.type=0x04 tokfab.flags=0x01 tokfab.flags.retransmit=1 tokfab.payload_len=8 tokfab.request_id=0x0123456789abcdef tokfab.resume.from_seq=2 tokfab.resume.reserved=0"
	"ping|tokfab.type=0x05 tokfab.payload_len=16 tokfab.request_id=0x0123456789abcdf2 tokfab.ping.echo=0x1122334455667788 tokfab.ping.reserved=0"
	"pong|tokfab.type=0x84 tokfab.payload_len=16 tokfab.request_id=0x0123456789abcdf2 tokfab.timestamp_us=$((T0 + 100250)) tokfab.pong.echo=0x1122334455667788 tokfab.pong.min_version=1 tokfab.pong.max_version=1 tokfab.pong.max_dgram=1472 tokfab.pong.reserved=0"
	"error-busy|tokfab.type=0x83 tokfab.mac_alg=1 tokfab.tenant=42 tokfab.payload_len=12 tokfab.request_id=0x0123456789abcdef tokfab.error.code=7 tokfab.error.ref_type=0x01 tokfab.error.reserved=0 tokfab.error.retry_after_ms=250 tokfab.error.detail=0x00000000"
	"error-unknown-tenant|tokfab.type=0x83 tokfab.mac_alg=0 tokfab.tenant=99 tokfab.payload_len=12 tokfab.request_id=0x0123456789abcdef tokfab.error.code=3 tokfab.error.ref_type=0x01 tokfab.error.retry_after_ms=0 tokfab.mac="
	"request-siphash|tokfab.type=0x01 tokfab.flags=0x00 tokfab.mac_alg=2 tokfab.tenant=42 tokfab.payload_len=40 tokfab.request_id=0x0123456789abcdf3 tokfab.timestamp_us=$((T0 + 3000)) tokfab.req.model=7 tokfab.req.max_new_tokens=2 tokfab.req.prompt_total_len=8 tokfab.req.prompt_kind=0 tokfab.req.priority=3 tokfab.req.flags=0x0002 tokfab.req.flags.want_text=0 tokfab.req.flags.final_tokens=1 tokfab.req.temperature=0 tokfab.req.top_p=10000 tokfab.req.seed=0 tokfab.req.prompt_len=8 tokfab.req.prompt_token=1,15043"
	"final-tokens|tokfab.type=0x82 tokfab.flags=0x00 tokfab.mac_alg=2 tokfab.tenant=42 tokfab.payload_len=48 tokfab.request_id=0x0123456789abcdf3 tokfab.timestamp_us=$((T0 + 300000)) tokfab.final.finish_reason=1 tokfab.final.flags=0x01 tokfab.final.flags.has_tokens=1 tokfab.final.error_code=0 tokfab.final.prompt_tokens=2 tokfab.final.completion_tokens=2 tokfab.final.accel_id=2 tokfab.final.cost_micro=4 tokfab.final.queue_us=20 tokfab.final.total_us=900 tokfab.tok.first_seq=0 tokfab.tok.n_tokens=2 tokfab.tok.flags=0x00 tokfab.tok.flags.has_text=0 tokfab.tok.reserved=0 tokfab.tok.id=1919,3186"
)
checked=0
for i in "${!expect[@]}"; do
	name=${expect[$i]%%|*}
	IFS='|' read -r -a vals <<< "${rows[$i]}|end"
	declare -A got=()
	for j in "${!fields[@]}"; do got[${fields[$j]}]=${vals[$j]:-}; done
	want="$HDR_COMMON ${expect[$i]#*|}"
	[ "$name" = error-unknown-tenant ] || want="$want tokfab.mac=$(mac_of "$name")"
	for kv in $want; do
		f=${kv%%=*} v=${kv#*=}
		v=${v//_/ }
		[ "${got[$f]}" = "$v" ] || tf_fail "example $name: $f decoded as '${got[$f]}', spec says '$v'"
		checked=$((checked + 1))
	done
	unset got
done
tf_log "$checked field values of 17 spec examples decoded as the spec says"
tf_pass "dissector decodes every message type and every field"
