# SPDX-License-Identifier: BSD-3-Clause
# Shared helpers for integration, VM and bench scripts. Source it:
#   . "$TF_ROOT/tests/lib/common.sh"
# Exit codes: 0 pass, 77 skipped (last line says why), anything else fail.

TF_ROOT=${TF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-$TF_ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$TF_ROOT/$BUILD ;; esac
TF_BIN=$BUILD/bin

tf_log()  { echo "[$(date +%T)] $*"; }
tf_fail() { echo "FAIL: $*" >&2; exit 1; }
tf_skip() { echo "SKIPPED: $*"; exit 77; }
tf_pass() { echo "PASS: ${*:-$(basename "$0" .sh)}"; exit 0; }

# Equality/compare helpers that print what was expected.
tf_expect_eq() { [ "$1" = "$2" ] || tf_fail "${3:-value}: expected '$2', got '$1'"; }
tf_expect_ge() { [ "$1" -ge "$2" ] || tf_fail "${3:-value}: expected >= $2, got $1"; }

tf_require_root() { [ "$(id -u)" -eq 0 ] || tf_fail "needs root (network namespaces); run as root"; }
tf_require_cmd() { for c in "$@"; do command -v "$c" >/dev/null || tf_fail "missing command '$c': run 'make deps'"; done; }

# Cleanup stack: tf_on_exit "cmd" runs cmd at exit, in reverse order.
TF_CLEANUP=()
tf_on_exit() { TF_CLEANUP+=("$*"); }
tf_run_cleanup() {
	local i
	for ((i = ${#TF_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${TF_CLEANUP[$i]}" >/dev/null 2>&1 || true; done
	TF_CLEANUP=()
}
trap tf_run_cleanup EXIT
trap 'exit 130' INT TERM

# Unique short suffix for netns/veth names so tests can run side by side
# (interface names are limited to 15 characters).
TF_ID=${TF_ID:-$(printf '%04x' $(( ($$ + RANDOM) & 0xffff )))}

# tf_netns_veth NS HOSTIF NSIF HOSTADDR/PLEN NSADDR/PLEN
# Creates namespace NS and a veth pair HOSTIF (root ns) <-> NSIF (in NS).
# HOSTADDR may be "-" to leave the root side without an address (DPDK owns it).
tf_netns_veth() {
	local ns=$1 hif=$2 nif=$3 haddr=$4 naddr=$5
	ip netns add "$ns" || tf_fail "cannot create network namespace $ns"
	tf_on_exit "ip netns del $ns"
	ip link add "$hif" type veth peer name "$nif" || tf_fail "cannot create veth pair $hif/$nif"
	tf_on_exit "ip link del $hif"
	ip link set "$nif" netns "$ns"
	ip link set "$hif" up
	[ "$haddr" = "-" ] || ip addr add "$haddr" dev "$hif"
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$naddr" dev "$nif"
	ip -n "$ns" link set "$nif" up
}

# tf_wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
tf_wait_for() {
	local secs=$1; shift
	local n=$((secs * 10))
	while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}

# tf_bg NAME CMD...: start CMD in the background, log to $TF_LOGDIR/NAME.log,
# kill it at exit. Sets TF_PID.
TF_LOGDIR=${TF_LOGDIR:-$(mktemp -d /tmp/tokfab-test.XXXXXX)}
tf_bg() {
	local name=$1; shift
	"$@" >"$TF_LOGDIR/$name.log" 2>&1 </dev/null &
	TF_PID=$!
	tf_on_exit "kill $TF_PID; sleep 0.2; kill -9 $TF_PID"
}
