#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make demo: the tokfab appliance end to end on this machine (root, Debian 12).
#
#   a generated model (tokfab-mkmodel, TinyStories-15M shape, random weights)
#   two accelerator agents (tokfab-accel) with different costs per hour: one behind
#     shm, the other behind rdma where an RDMA device exists, else shm as well
#   tokfab-dp (the card's dataplane, DPDK) on a veth pair; the clients live in a
#     network namespace and talk to it over the kernel UDP stack
#   tokfabd: the card's host daemon with its ledger, HTTP API and dashboard
#   several tenants' clients (tokfab-client) streaming tokens
# then a table of tokens, requests and cost by tenant and by accelerator, read back
# from the ledger with tokfabctl. Everything it made is removed at the end, also on
# Ctrl-C.
#
# Knobs: DEMO_HOLD=1 keeps the appliance running (with light traffic, for the
# dashboard) until Ctrl-C; DEMO_HOLD=SECONDS for that long. DEMO_MODEL=tiny|stories15m.
# DEMO_REQUESTS=N requests per client in the load phase. DEMO_KEEP=1 keeps the work
# directory. BUILD=dir picks the build directory.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$root/build}
case "$BUILD" in /*) ;; *) BUILD=$root/$BUILD ;; esac
STACK_BIN=$BUILD/bin
. "$root/tools/bench/stack.sh"

MODEL_PRESET=${DEMO_MODEL:-stories15m}
PER_CLIENT=${DEMO_REQUESTS:-4}
HOLD=${DEMO_HOLD:-0}
STACK_KEEP=${DEMO_KEEP:-0}
DEMO_PIDS=()

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { echo; bold "== $*"; }
die() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${DEMO_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${DEMO_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "${STACK_DIR:-}" ]; then
		echo
		echo "demo: stopping the appliance and removing what it made (processes, namespace" \
			"$STACK_NS, veth $STACK_HIF, $STACK_DIR)"
		[ "$STACK_KEEP" = 1 ] && echo "demo: DEMO_KEEP=1: keeping $STACK_DIR"
		stack_down
	fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

bold "tokfab demo: an AI-NIC in front of two accelerators, on this machine"

step "checks"
stack_preflight || die "see above"
STACK_ID=$(printf '%04x' $(( ($$ + RANDOM) & 0xffff )))
stack_check_veth || die "see above"
echo "root, network namespaces, veth, programs in $STACK_BIN: ok"

work=$(mktemp -d /tmp/tokfab-demo.XXXXXX) || die "cannot create a work directory in /tmp"
stack_init "$work"

step "model"
stack_model story "$MODEL_PRESET" || die "cannot generate the model"
echo "generated '$MODEL_PRESET' (llama2.c format, deterministic random weights, so the" \
	"text is noise): $(du -h "$work/story.bin" | cut -f1) in $work"

step "accelerators"
if rdma_ip=$(stack_rdma_addr); then
	second=rdma
	echo "RDMA device found (netdev address $rdma_ip): accelerator 2 is reached over rdma"
else
	second=shm
	echo "no RDMA device on this machine: both accelerators are reached over shm" \
		"(the VM tier, make test-vm, runs the rdma transport over Soft-RoCE)"
fi
stack_accel 1 premium story 2.50 shm
stack_accel 2 budget story 0.90 "$second"
echo "accelerator 1: shm, cost 2.50 per hour; accelerator 2: $second, cost 0.90 per hour"

# Tenants: prices per 1000 tokens; initech's budget runs out during the demo.
stack_tenant 1 acme unlimited 0.002
stack_tenant 2 globex 5.00 0.003
stack_tenant 3 initech 0.01 0.05
echo "tenants: acme (unlimited, 0.002 per 1k tokens), globex (budget 5.00, 0.003 per 1k)," \
	"initech (budget 0.01, 0.05 per 1k: it will run out)"

step "card and host daemon"
STACK_MODEL_MAX_NEW=128
stack_up || die "the appliance did not come up (logs in $work; DEMO_KEEP=1 keeps them)"
echo "tokfab-dp: DPDK net_af_packet on $STACK_HIF, card address $STACK_CARD UDP 7480," \
	"BAR $STACK_BAR"
echo "tokfabd: ledger $work/ledger.db, API http://$STACK_API, card attached and configured"
echo "clients: network namespace $STACK_NS ($STACK_NET.2), kernel UDP stack"
stack_ctl accelerators

# Prints a request's tokens as they stream in (non-printing bytes as '.').
show_stream() {
	python3 -u -c '
import json, sys
toks = 0
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if ev.get("event") == "tokens":
        toks += len(ev["ids"])
        t = ev.get("text", "")
        sys.stdout.write("".join(c if c.isprintable() or c == " " else "." for c in t))
        sys.stdout.flush()
    elif ev.get("event") == "final":
        print("\n   [%s: %d prompt + %d completion tokens, accelerator %d, cost %d micro-units,"
              " first token after %.1f ms]" % (ev["finish"], ev["prompt_tokens"],
              ev["completion_tokens"], ev["accel_id"], ev["cost_micro"], ev["ttft_ms"]))
    elif ev.get("event") == "error":
        print("\n   [refused: %s]" % ev.get("name"))
'
}

step "streaming: three requests, tokens printed as they arrive"
i=0
for tp in "1|Once upon a time" "2|The little robot looked at the stars and" "3|Tom found a shiny shell"; do
	i=$((i + 1))
	t=${tp%%|*}
	p=${tp#*|}
	echo "-- tenant $t, prompt \"$p\""
	printf '   '
	stack_client "$t" -m 1 -n 40 --seed $((7 + i)) --json "$p" 2>"$work/stream-$t.err" |
		tee "$work/stream-$t.json" | show_stream
	grep -q '"event":"final"' "$work/stream-$t.json" ||
		die "request $i did not complete: $(cat "$work/stream-$t.err")"
done

step "load: 3 tenants x 3 concurrent clients x $PER_CLIENT requests each"
prompts=("Once upon a time" "The cat sat on the mat" "Lily and Max went to the park"
	"A big red ball" "The bird sang a happy song")
start=$(date +%s.%N)
for t in 1 2 3; do
	for c in 1 2 3; do
		(
			for r in $(seq 1 "$PER_CLIENT"); do
				stack_client "$t" -m 1 -n $((16 + (r * 7 + c * 5) % 32)) --retries 4 --json \
					"${prompts[$(((r + c + t) % 5))]}" >"$work/load-$t-$c-$r.json" 2>/dev/null
				echo $? >"$work/load-$t-$c-$r.rc"
			done
		) &
		DEMO_PIDS+=($!)
	done
done
n=0
while :; do
	done_n=$(find "$work" -name 'load-*.rc' | wc -l)
	total=$((9 * PER_CLIENT))
	printf '\r   %d/%d requests finished' "$done_n" "$total"
	[ "$done_n" -ge "$total" ] && break
	sleep 0.5
	n=$((n + 1))
	[ $n -lt 600 ] || die "the load phase did not finish in 300 s"
done
for p in "${DEMO_PIDS[@]}"; do wait "$p" 2>/dev/null; done
DEMO_PIDS=()
secs=$(python3 -c "import time; print('%.1f' % (time.time() - $start))")
echo
# What the clients saw, per tenant: completed, refused by class, tokens received.
python3 - "$work" "$secs" <<'EOF' | tee "$work/clients.txt"
import collections, glob, json, os, sys
work, secs = sys.argv[1], float(sys.argv[2])
ok = collections.Counter(); err = collections.defaultdict(collections.Counter)
toks = collections.Counter()
for f in glob.glob(os.path.join(work, "load-*.json")) + glob.glob(os.path.join(work, "stream-*.json")):
    t = int(os.path.basename(f).split("-")[1].split(".")[0])
    for line in open(f):
        ev = json.loads(line)
        if ev["event"] == "final":
            ok[t] += 1
            toks[t] += ev["prompt_tokens"] + ev["completion_tokens"]
        elif ev["event"] == "error":
            err[t][ev["name"]] += 1
names = {1: "acme", 2: "globex", 3: "initech"}
total = sum(toks.values())
print("   clients: %d requests completed, %d tokens billed, in %.1f s" % (sum(ok.values()), total, secs))
for t in sorted(names):
    e = ", ".join("%d refused %s" % (n, k) for k, n in sorted(err[t].items()))
    print("   %-8s %3d completed%s" % (names[t], ok[t], (", " + e) if e else ""))
with open(os.path.join(work, "client_tokens.json"), "w") as f:
    json.dump({str(k): v for k, v in toks.items()}, f)
EOF

step "the ledger (tokfabctl usage), by tenant and by accelerator"
sleep 1.5 # the card posts usage records to tokfabd's event queue as requests end
stack_ctl --json usage --group tenant >"$work/by_tenant.json" || die "tokfabctl usage failed"
stack_ctl --json usage --group accelerator >"$work/by_accel.json" || die "tokfabctl usage failed"
stack_ctl --json accelerators >"$work/accels.json" || die "tokfabctl accelerators failed"
python3 - "$work" <<'EOF' || die "the ledger does not match what the clients received"
import json, os, sys
w = sys.argv[1]
bt = json.load(open(os.path.join(w, "by_tenant.json")))["rows"]
ba = json.load(open(os.path.join(w, "by_accel.json")))["rows"]
acc = {a["id"]: a for a in json.load(open(os.path.join(w, "accels.json")))["accelerators"]}
client = {int(k): v for k, v in json.load(open(os.path.join(w, "client_tokens.json"))).items()}

def money(micro):
    return "%.6f" % (micro / 1e6)

def per1k(micro, toks):
    return "%.6f" % (micro / 1e3 / toks) if toks else "-"

hdr = "%-10s %8s %8s %11s %8s %10s %16s"
print(hdr % ("TENANT", "REQUESTS", "PROMPT", "COMPLETION", "TOKENS", "COST", "COST/1K TOKENS"))
for r in sorted(bt, key=lambda r: r["tenant_id"]):
    n = r["prompt_tokens"] + r["completion_tokens"]
    print(hdr % (r["tenant"], r["requests"], r["prompt_tokens"], r["completion_tokens"], n,
                 money(r["cost_micro"]), per1k(r["cost_micro"], n)))
print()
hdr = "%-12s %8s %8s %11s %8s %10s %16s %9s %18s"
print(hdr % ("ACCELERATOR", "REQUESTS", "PROMPT", "COMPLETION", "TOKENS", "BILLED",
             "BILLED/1K TOKENS", "COST/H", "RUN COST/1K TOKENS"))
for r in sorted(ba, key=lambda r: r["accel_id"]):
    n = r["prompt_tokens"] + r["completion_tokens"]
    a = acc.get(r["accel_id"], {})
    print(hdr % ("%d (%s)" % (r["accel_id"], a.get("transport", "?")), r["requests"],
                 r["prompt_tokens"], r["completion_tokens"], n, money(r["cost_micro"]),
                 per1k(r["cost_micro"], n), a.get("cost_per_hour", "-"),
                 a.get("cost_per_1k_tokens", "-")))
print("BILLED: what tenants pay (their price per 1k tokens); RUN COST: the accelerator's cost")
print("per hour over the tokens it generated in the last hour (tokfabd's estimate).")
ledger = {r["tenant_id"]: r["prompt_tokens"] + r["completion_tokens"] for r in bt}
bad = [(t, ledger.get(t, 0), n) for t, n in client.items() if ledger.get(t, 0) != n]
if bad:
    for t, l, c in bad:
        print("MISMATCH tenant %d: ledger %d tokens, clients received usage for %d" % (t, l, c))
    sys.exit(1)
print()
print("ledger check: the tokens in the ledger equal the usage the clients received, for"
      " every tenant (%d tokens)" % sum(client.values()))
EOF

echo
stack_ctl tenants
echo
bold "dashboard: http://$STACK_API/#token=$(cat "$STACK_TOKEN_FILE")"
echo "(API: tokfabctl --url http://$STACK_API --token-file $STACK_TOKEN_FILE usage)"

if [ "$HOLD" != 0 ]; then
	if [ "$HOLD" = 1 ]; then
		step "DEMO_HOLD=1: the appliance keeps running with light traffic; Ctrl-C stops it"
		end=0
	else
		step "DEMO_HOLD=$HOLD: the appliance keeps running with light traffic for $HOLD s"
		end=$(($(date +%s) + HOLD))
	fi
	(
		while :; do
			for t in 1 2; do
				stack_client "$t" -m 1 -n 24 --retries 2 "Once upon a time" >/dev/null 2>&1
			done
			sleep 0.5
		done
	) &
	DEMO_PIDS+=($!)
	while [ "$end" = 0 ] || [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
fi
echo
bold "demo: done"
