# SPDX-License-Identifier: BSD-3-Clause
# The whole appliance on one machine, for `make demo`, the end-to-end tests and
# benchmarks (source it; bash). What it brings up:
#
#   netns STACK_NS: client side, kernel UDP stack, address $STACK_NET.2
#        | veth pair (STACK_HIF in the root namespace, no address: DPDK owns it)
#   tokfab-dp on net_af_packet(STACK_HIF), card address $STACK_CARD, BAR file
#   tokfab-accel x N behind shm (or rdma where a device exists)
#   tokfabd: ledger (SQLite), card via the BAR, HTTP API + dashboard on the
#        management network: veth STACK_MIF ($STACK_MGMT) <-> namespace ($STACK_MGMT_NS)
#
# Use:
#   . tools/bench/stack.sh
#   stack_init DIR              # work directory (everything the stack makes is in it)
#   stack_model NAME PRESET     # tokfab-mkmodel (tiny, stories15m, ...)
#   stack_tenant ID NAME BUDGET PRICE_PER_1K [YAML-LINES]   # BUDGET: unlimited or 12.50
#   stack_tenant_range FIRST LAST KEYFILE PRICE_PER_1K   # many unlimited tenants, one key,
#                               # in the card's own file (tokfabd configures up to 4096)
#   stack_accel ID NAME MODEL COST_PER_HOUR [shm|rdma] [accel options...]
#   stack_up                    # configs, processes, waits until all is up
#   stack_client TENANT ARGS... # tokfab-client in the namespace
#   stack_bench ARGS...         # tokfab-bench in the namespace, with --api
#   stack_ctl ARGS...           # tokfabctl against this tokfabd
#   stack_kill NAME [SIG] / stack_start NAME (restart with the same command)
#   stack_down                  # stops everything, removes what it made
# Names of processes: accel<ID>, dp, tokfabd.
#
# Knobs (set before stack_up): STACK_DP_LCORES (0), STACK_DP_MEM (512),
# STACK_DP_RING (af_packet ring devargs), STACK_DP_VDEV_ARGS (more af_packet
# devargs), STACK_DP_YAML (extra lines
# under card:/limits: as a whole "limits:" block), STACK_BATCHING (YAML block),
# STACK_MODEL_MAX_NEW (256), STACK_LEDGER_SYNC (full|normal), STACK_LEDGER_YAML (more
# lines under ledger:, e.g. "  records: aggregate"), STACK_KEEP=1 keeps the
# directory, STACK_QUIET=1, STACK_TOKFABD (another tokfabd binary, e.g. an older
# build to compare against).
# The caller registers stack_down to run at exit (tf_on_exit or a trap).

STACK_ROOT=${STACK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STACK_BIN=${STACK_BIN:-${TF_BIN:-$STACK_ROOT/build/bin}}

stack_say() { [ "${STACK_QUIET:-0}" = 1 ] || echo "$*"; }
stack_die() {
	echo "error: $*" >&2
	return 1
}

# stack_preflight: what the appliance needs on this machine, each with what to do.
stack_preflight() {
	local c b
	[ "$(id -u)" -eq 0 ] || { stack_die "needs root (network namespaces, veth, DPDK): run it as root (sudo make demo)"; return 1; }
	for c in ip python3 ethtool; do
		command -v "$c" >/dev/null || { stack_die "missing command '$c': run 'make deps'"; return 1; }
	done
	for b in tokfab-dp tokfab-accel tokfab-client tokfab-mkmodel tokfabd tokfabctl "$@"; do
		[ -x "$STACK_BIN/$b" ] || { stack_die "missing $STACK_BIN/$b: build it with 'make' (its part may not be finished yet)"; return 1; }
	done
	return 0
}

# stack_check_veth: creates and deletes a throw-away namespace and veth pair.
stack_check_veth() {
	local ns=tfchk$STACK_ID out
	out=$(ip netns add "$ns" 2>&1) || { stack_die "cannot create a network namespace: $out (the kernel needs CONFIG_NET_NS; in a container run it with --privileged)"; return 1; }
	out=$(ip link add "tfc${STACK_ID}a" type veth peer name "tfc${STACK_ID}b" 2>&1) || {
		ip netns del "$ns"
		stack_die "cannot create a veth pair: $out (the kernel needs veth support: CONFIG_VETH / 'modprobe veth')"
		return 1
	}
	ip link del "tfc${STACK_ID}a" 2>/dev/null || true
	ip netns del "$ns" || true
	return 0
}

stack_init() {
	STACK_DIR=$1
	mkdir -p "$STACK_DIR" || return 1
	STACK_ID=${STACK_ID:-$(printf '%04x' $(( ($$ + RANDOM) & 0xffff )))}
	STACK_NS=tfst$STACK_ID
	STACK_HIF=tfs${STACK_ID}a
	STACK_NIF=tfs${STACK_ID}b
	STACK_NET=10.$(( (0x$STACK_ID >> 8) % 200 + 20 )).$(( 0x$STACK_ID & 0xff ))
	STACK_CARD=$STACK_NET.1
	# management network (tokfabd's API, reachable from both namespaces): a /28
	STACK_MNET=172.$((16 + (0x$STACK_ID >> 12))).$(((0x$STACK_ID >> 4) & 0xff)).$(((0x$STACK_ID & 0xf) * 16))
	STACK_MGMT=${STACK_MNET%.*}.$((${STACK_MNET##*.} + 1))
	STACK_MGMT_NS=${STACK_MNET%.*}.$((${STACK_MNET##*.} + 2))
	STACK_MIF=tfm${STACK_ID}a
	STACK_PREFIX=tfst$STACK_ID
	STACK_BAR=$STACK_DIR/card.bar
	STACK_API=
	STACK_API_PORT=
	STACK_TOKEN_FILE=$STACK_DIR/api.token
	STACK_TENANTS_YAML=
	STACK_TENANT_RANGES=()
	STACK_ACCELS_YAML=
	STACK_MODELS_YAML=
	STACK_NAMES=()
	STACK_ACCEL_IDS=()
	STACK_NET_UP=0
	declare -gA STACK_PID=() STACK_CMD=() STACK_IN_NS=() STACK_MODEL_ID=()
	export TOKFAB_SHM_DIR=$STACK_DIR
	: >"$STACK_DIR/.tokfab-stack"
}

stack_hex32() { python3 -c 'import os; print(os.urandom(32).hex())'; }

# stack_model NAME PRESET [mkmodel flags]: model id = order of definition (1, 2, ...).
stack_model() {
	local name=$1 preset=$2
	shift 2
	local id=$(( ${#STACK_MODEL_ID[@]} + 1 ))
	"$STACK_BIN/tokfab-mkmodel" --preset "$preset" "$@" -o "$STACK_DIR/$name.bin" \
		-t "$STACK_DIR/$name.tok" >/dev/null || { stack_die "tokfab-mkmodel failed"; return 1; }
	STACK_MODEL_ID[$name]=$id
	STACK_MODELS_YAML+="  - id: $id
    name: $name
    max_new_tokens: ${STACK_MODEL_MAX_NEW:-256}
"
}

# stack_tenant ID NAME BUDGET PRICE [EXTRA-YAML]: key in $STACK_DIR/tID.key.
stack_tenant() {
	local id=$1 name=$2 budget=$3 price=$4 extra=${5:-} models="" m
	stack_hex32 >"$STACK_DIR/t$id.key"
	chmod 600 "$STACK_DIR/t$id.key"
	for m in "${!STACK_MODEL_ID[@]}"; do models+="${models:+, }$m: $price"; done
	STACK_TENANTS_YAML+="  - id: $id
    name: $name
    key_file: t$id.key
    budget: $budget
    prices: { $models }
${extra:+$extra
}"
}

# stack_tenant_range FIRST LAST KEYFILE PRICE: unlimited tenants FIRST..LAST (names tID)
# sharing one key file (relative to STACK_DIR), priced PRICE per 1k tokens for every
# model. They go into tokfab-dp's own configuration file, not tokfabd's (which takes
# at most 4096 tenants): the card serves them, its usage records still reach tokfabd's
# ledger. Written by a program at stack_up (10^5 tenants in a shell string is too slow).
stack_tenant_range() {
	STACK_TENANT_RANGES+=("$1 $2 $3 $4")
}

# stack_rdma_addr: IPv4 of a netdev that has an RDMA device, or nothing.
stack_rdma_addr() {
	local d nd a
	for d in /sys/class/infiniband/*/ports/1/gid_attrs/ndevs/1; do
		[ -r "$d" ] || continue
		nd=$(cat "$d" 2>/dev/null) || continue
		a=$(ip -4 -o addr show dev "$nd" 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n 1)
		[ -n "$a" ] && { echo "$a"; return 0; }
	done
	return 1
}

# stack_accel ID NAME MODEL COST [shm|rdma [accel options...]]
stack_accel() {
	local id=$1 name=$2 model=$3 cost=$4 tr=${5:-shm} addr listen
	shift 4
	[ $# -gt 0 ] && shift
	if [ "$tr" = rdma ]; then
		addr="$(stack_rdma_addr):$((18400 + id))"
		listen="rdma:$addr"
	else
		addr=$STACK_PREFIX-a$id
		listen="shm:$addr"
	fi
	STACK_ACCELS_YAML+="  - id: $id
    address: $addr
    transport: $tr
    cost_per_hour: $cost
    models: [$model]
"
	STACK_ACCEL_IDS+=("$id")
	STACK_CMD[accel$id]=$(printf '%q ' "$STACK_BIN/tokfab-accel" --listen "$listen" \
		--model "$STACK_DIR/$model.bin" --tokenizer "$STACK_DIR/$model.tok" \
		--model-id "${STACK_MODEL_ID[$model]}" --model-name "$model" --name "$id" \
		--cost-per-hour "$cost" --threads 1 "$@")
	STACK_IN_NS[accel$id]=0
	STACK_NAMES+=("accel$id")
}

stack_write_configs() {
	local lim=${STACK_DP_YAML:-}
	cat >"$STACK_DIR/dp.yaml" <<EOF
card:
  ipv4: $STACK_CARD
  udp_port: 7480
  serial: TF-DEMO-$STACK_ID
  stats_interval_s: 0
  idle_sleep_us: ${STACK_DP_IDLE_US:-50}
$lim
EOF
	stack_hex32 >"$STACK_TOKEN_FILE"
	chmod 600 "$STACK_TOKEN_FILE"
	cat >"$STACK_DIR/tokfabd.yaml" <<EOF
card:
  access: shm:$STACK_BAR
ledger:
  path: ledger.db
  synchronous: ${STACK_LEDGER_SYNC:-full}
${STACK_LEDGER_YAML:-}
api:
  listen: $STACK_MGMT:${STACK_API_PORT:-0}
  token_file: api.token
${STACK_BATCHING:-batching:
  max_batch: 16
  max_queue_delay_us: 500}
models:
$STACK_MODELS_YAML
accelerators:
$STACK_ACCELS_YAML
tenants:
$STACK_TENANTS_YAML
EOF
	local r
	for r in "${STACK_TENANT_RANGES[@]}"; do
		python3 - "$STACK_DIR/dp.yaml" $r "${STACK_MODEL_ID[@]}" <<'PY' || return 1
import sys
path, first, last, key, price, models = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), sys.argv[6:]
prices = ", ".join("{ model: %s, per_1k_micro: %d }" % (m, round(price * 1e6)) for m in models)
with open(path, "a") as f:
    if "\ntenants:" not in open(path).read():
        f.write("tenants:\n")
    for t in range(first, last + 1):
        f.write("  - id: %d\n    key_file: %s\n    unlimited: true\n    prices: [%s]\n"
                % (t, key, prices))
PY
	done
	"${STACK_TOKFABD:-$STACK_BIN/tokfabd}" -n -c "$STACK_DIR/tokfabd.yaml" >/dev/null ||
		{ stack_die "tokfabd refuses the generated configuration $STACK_DIR/tokfabd.yaml"; return 1; }
	"$STACK_BIN/tokfab-dp" -- --check --config "$STACK_DIR/dp.yaml" >/dev/null ||
		{ stack_die "tokfab-dp refuses the generated configuration $STACK_DIR/dp.yaml"; return 1; }
}

stack_net() {
	ip netns add "$STACK_NS" || { stack_die "cannot create network namespace $STACK_NS"; return 1; }
	STACK_NET_UP=1
	ip link add "$STACK_HIF" type veth peer name "$STACK_NIF" || { stack_die "cannot create veth pair $STACK_HIF/$STACK_NIF"; return 1; }
	ip link set "$STACK_NIF" netns "$STACK_NS"
	ip link set "$STACK_HIF" up
	ip -n "$STACK_NS" link set lo up
	ip -n "$STACK_NS" addr add "$STACK_NET.2/24" dev "$STACK_NIF"
	ip -n "$STACK_NS" link set "$STACK_NIF" up
	# veth hands partial UDP checksums to af_packet; the card verifies them.
	ip netns exec "$STACK_NS" ethtool -K "$STACK_NIF" tx off >/dev/null
	# the management network: tokfabd's API for tools in both namespaces
	ip link add "$STACK_MIF" type veth peer name "tfm${STACK_ID}b" ||
		{ stack_die "cannot create veth pair $STACK_MIF"; return 1; }
	ip link set "tfm${STACK_ID}b" netns "$STACK_NS"
	ip addr add "$STACK_MGMT/28" dev "$STACK_MIF"
	ip link set "$STACK_MIF" up
	ip -n "$STACK_NS" addr add "$STACK_MGMT_NS/28" dev "tfm${STACK_ID}b"
	ip -n "$STACK_NS" link set "tfm${STACK_ID}b" up
}

# stack_start NAME [CMD...]: (re)starts NAME in the background with its recorded
# command (or records CMD). Log: $STACK_DIR/NAME.log (appended).
stack_start() {
	local name=$1
	shift
	[ $# -gt 0 ] && STACK_CMD[$name]=$(printf '%q ' "$@")
	[ -n "${STACK_CMD[$name]:-}" ] || { stack_die "no command recorded for $name"; return 1; }
	echo "=== $(date +%T.%N | cut -c1-12) start: ${STACK_CMD[$name]}" >>"$STACK_DIR/$name.log"
	if [ "${STACK_IN_NS[$name]:-0}" = 1 ]; then
		eval "exec ip netns exec $STACK_NS ${STACK_CMD[$name]}" >>"$STACK_DIR/$name.log" 2>&1 </dev/null &
	else
		eval "exec ${STACK_CMD[$name]}" >>"$STACK_DIR/$name.log" 2>&1 </dev/null &
	fi
	STACK_PID[$name]=$!
}

stack_alive() { [ -n "${STACK_PID[$1]:-}" ] && kill -0 "${STACK_PID[$1]}" 2>/dev/null; }

# stack_kill NAME [SIGNAL]: signal (default KILL) and reap.
stack_kill() {
	local name=$1 sig=${2:-KILL} pid=${STACK_PID[$1]:-} n
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	if [ "$sig" = KILL ]; then
		wait "$pid" 2>/dev/null || true
	else
		for ((n = 0; n < ${STACK_TERM_WAIT:-100}; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	STACK_PID[$name]=
	return 0
}

stack_log_tail() { tail -n "${2:-20}" "$STACK_DIR/$1.log" 2>/dev/null | sed "s/^/  $1: /"; }

stack_ctl() { "$STACK_BIN/tokfabctl" --url "http://$STACK_API" --token-file "$STACK_TOKEN_FILE" "$@"; }

# stack_json FILTER: python expression over `j` (stdin JSON) printed.
stack_json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

stack_client() {
	local t=$1
	shift
	ip netns exec "$STACK_NS" "$STACK_BIN/tokfab-client" -s "$STACK_CARD" -t "$t" \
		-k "$STACK_DIR/t$t.key" "$@"
}

stack_bench() {
	ip netns exec "$STACK_NS" "$STACK_BIN/tokfab-bench" --server "$STACK_CARD" \
		--api "http://$STACK_API" --api-token "$STACK_TOKEN_FILE" "$@"
}

stack_wait() { # SECONDS CMD...
	local n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}

stack_api_port() { sed -n 's/.*tokfabd running: API on [^ ]* port \([0-9]*\).*/\1/p' "$STACK_DIR/tokfabd.log" | tail -n 1; }

# stack_ready: tokfabd attached and configured the card, every accelerator up.
stack_ready() {
	stack_ctl --json health 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin); n = int(sys.argv[1])
up = [c for c in j["components"] if c["component"] == "accelerator" and c["state"] == "up"]
sys.exit(0 if j["card"].get("configured") and len(up) >= n else 1)' "${#STACK_ACCEL_IDS[@]}"
}

stack_wait_tokfabd() {
	local p
	stack_wait 15 grep -q "tokfabd running" "$STACK_DIR/tokfabd.log" ||
		{ stack_log_tail tokfabd; stack_die "tokfabd did not start (log: $STACK_DIR/tokfabd.log)"; return 1; }
	p=$(stack_api_port)
	STACK_API=$STACK_MGMT:$p
}

# stack_free_port ADDR: a TCP port nothing listens on at ADDR now.
stack_free_port() {
	python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

# af_packet's default ring (512 frames) overflows in the kernel, silently, when the
# dataplane's core is shared and bursts arrive (measured: 5 % of requests lost at 3x
# overload on 2 busy cores); 16384 frames absorb them.
STACK_DP_RING_DEFAULT="blocksz=65536,framesz=2048,framecnt=16384"

stack_up() {
	local a
	stack_net || return 1
	# a fixed API port, so that a restarted tokfabd answers at the same address
	STACK_API_PORT=${STACK_API_PORT:-$(stack_free_port "$STACK_MGMT")}
	stack_write_configs || return 1
	for a in "${STACK_ACCEL_IDS[@]}"; do stack_start "accel$a" || return 1; done
	for a in "${STACK_ACCEL_IDS[@]}"; do
		stack_wait 30 grep -q "ready" "$STACK_DIR/accel$a.log" ||
			{ stack_log_tail "accel$a"; stack_die "accelerator $a did not start"; return 1; }
	done
	STACK_CMD[dp]=$(printf '%q ' "$STACK_BIN/tokfab-dp" -l "${STACK_DP_LCORES:-0}" --no-huge \
		-m "${STACK_DP_MEM:-512}" --no-pci --file-prefix "$STACK_PREFIX" \
		"--vdev=net_af_packet0,iface=$STACK_HIF,${STACK_DP_RING-$STACK_DP_RING_DEFAULT}${STACK_DP_VDEV_ARGS:+,$STACK_DP_VDEV_ARGS}" -- --config "$STACK_DIR/dp.yaml" --bar "$STACK_BAR")
	STACK_NAMES+=(dp)
	stack_start dp || return 1
	stack_wait 30 ip netns exec "$STACK_NS" ping -c 1 -W 1 "$STACK_CARD" ||
		{ stack_log_tail dp; stack_die "the card (tokfab-dp) does not answer ping at $STACK_CARD"; return 1; }
	STACK_CMD[tokfabd]=$(printf '%q ' "${STACK_TOKFABD:-$STACK_BIN/tokfabd}" -c "$STACK_DIR/tokfabd.yaml")
	STACK_NAMES+=(tokfabd)
	stack_start tokfabd || return 1
	stack_wait_tokfabd || return 1
	stack_wait 30 stack_ready ||
		{ stack_log_tail tokfabd; stack_log_tail dp; stack_die "tokfabd did not configure the card and see every accelerator up"; return 1; }
}

# stack_restart_tokfabd: after a kill, start again and learn its new API port.
stack_restart_tokfabd() {
	mv "$STACK_DIR/tokfabd.log" "$STACK_DIR/tokfabd.log.$(date +%s%N)" 2>/dev/null || true
	stack_start tokfabd || return 1
	stack_wait_tokfabd
}

# stack_rss NAME: resident set size in KiB.
stack_rss() { awk '/^VmRSS:/ {print $2}' "/proc/${STACK_PID[$1]:-0}/status" 2>/dev/null || echo 0; }
# stack_cpu_s NAME: user + system CPU seconds of the process so far.
stack_cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/${STACK_PID[$1]:-0}/stat" 2>/dev/null || echo 0
}

stack_down() {
	local i name
	[ -n "${STACK_DIR:-}" ] || return 0
	for ((i = ${#STACK_NAMES[@]} - 1; i >= 0; i--)); do
		name=${STACK_NAMES[$i]}
		if stack_alive "$name"; then stack_kill "$name" TERM; fi
	done
	if [ "${STACK_NET_UP:-0}" = 1 ]; then
		ip link del "$STACK_HIF" 2>/dev/null || true
		ip link del "$STACK_MIF" 2>/dev/null || true
		ip netns del "$STACK_NS" 2>/dev/null || true
		STACK_NET_UP=0
	fi
	rm -rf "/var/run/dpdk/$STACK_PREFIX"
	if [ "${STACK_KEEP:-0}" != 1 ] && [ -f "$STACK_DIR/.tokfab-stack" ]; then
		rm -rf "$STACK_DIR"
	fi
	STACK_DIR=
}
