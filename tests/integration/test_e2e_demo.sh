#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `make demo` without a terminal: tools/demo.sh runs the whole appliance and must
# print streamed tokens, the ledger tables by tenant and by accelerator, the
# ledger-vs-clients check and the dashboard address (which must answer while
# DEMO_HOLD keeps it up); afterwards nothing it made is left (processes,
# namespace, veth, DPDK runtime files, work directory). It must refuse clearly
# without root and without the programs.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_root
tf_require_cmd ip python3 setpriv
for b in tokfab-dp tokfab-accel tokfab-client tokfab-mkmodel tokfabd tokfabctl; do
	[ -x "$TF_BIN/$b" ] || tf_fail "missing $TF_BIN/$b: run 'make' first"
done
W=$TF_LOGDIR
DEMO=$TF_ROOT/tools/demo.sh

tf_log "refusals: no root, no programs"
rc=0
# The unprivileged user may not be able to read this checkout (CI clones into a
# 0700 directory): it runs a world-readable copy of the scripts instead.
nr=$(mktemp -d /tmp/tf-demo-noroot.XXXXXX) || tf_fail "mktemp"
tf_on_exit "rm -rf $nr"
mkdir -p "$nr/tools/bench"
cp "$DEMO" "$nr/tools/demo.sh" && cp "$TF_ROOT/tools/bench/stack.sh" "$nr/tools/bench/stack.sh"
chmod -R a+rX "$nr"
setpriv --reuid=65534 --regid=65534 --clear-groups env BUILD="$BUILD" bash "$nr/tools/demo.sh" \
	>"$W/noroot.out" 2>&1 || rc=$?
[ $rc != 0 ] || tf_fail "the demo ran without root"
grep -q "needs root" "$W/noroot.out" || tf_fail "no clear message without root: $(cat "$W/noroot.out")"
rc=0
BUILD=$W/nothing bash "$DEMO" >"$W/nobin.out" 2>&1 || rc=$?
[ $rc != 0 ] || tf_fail "the demo ran without programs"
grep -q "missing $W/nothing/bin/tokfab-dp: build it with 'make'" "$W/nobin.out" ||
	tf_fail "no clear message without programs: $(cat "$W/nobin.out")"

tf_log "the demo, held 20 s so the dashboard can be fetched"
BUILD=$BUILD DEMO_HOLD=20 bash "$DEMO" >"$W/demo.out" 2>&1 </dev/null &
DEMO_PID=$!
tf_on_exit "kill $DEMO_PID"
tf_wait_for 240 grep -q "^dashboard: http" "$W/demo.out" ||
	{ cat "$W/demo.out"; tf_fail "the demo printed no dashboard address"; }
url=$(sed -n 's/^dashboard: \(http[^ ]*\)/\1/p' "$W/demo.out")
python3 - "$url" <<'EOF' || tf_fail "the dashboard at $url does not answer"
import json, sys, urllib.request
url = sys.argv[1]
base, token = url.split("/#token=")
page = urllib.request.urlopen(base + "/", timeout=10).read().decode()
assert "<html" in page.lower(), page[:200]
rq = urllib.request.Request(base + "/v1/usage?group=tenant", headers={"Authorization": "Bearer " + token})
rows = json.load(urllib.request.urlopen(rq, timeout=10))["rows"]
assert len(rows) == 3, rows
EOF
rc=0
wait $DEMO_PID || rc=$?
[ $rc = 0 ] || { cat "$W/demo.out"; tf_fail "the demo exited $rc"; }
cat "$W/demo.out"

tf_log "what it printed"
out=$W/demo.out
n=$(grep -c "^   \[length: .* completion tokens, accelerator [12], cost [0-9]* micro-units" "$out" || true)
[ "$n" = 3 ] || tf_fail "expected 3 streamed requests with their usage, saw $n"
for t in acme globex initech; do
	grep -Eq "^$t +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+$" "$out" ||
		tf_fail "no ledger row for tenant $t"
done
n=$(grep -Ec "^[12] \((shm|rdma)\) +[0-9]+ " "$out" || true)
[ "$n" -ge 1 ] || tf_fail "no ledger row by accelerator"
grep -q "^ledger check: the tokens in the ledger equal the usage the clients received" "$out" ||
	tf_fail "no ledger check line"
grep -Eq "initech +[0-9]+ completed, [0-9]+ refused QUOTA_EXHAUSTED" "$out" ||
	tf_fail "initech's budget was not enforced (no QUOTA_EXHAUSTED)"
grep -Eq "both accelerators are reached over shm|accelerator 2 is reached over rdma" "$out" ||
	tf_fail "the demo does not say which transports it used"

tf_log "nothing left behind"
dir=$(sed -n 's/.*tokfabd: ledger \(.*\)\/ledger.db.*/\1/p' "$out")
ns=$(sed -n 's/^clients: network namespace \([^ ]*\) .*/\1/p' "$out")
[ -n "$dir" ] && [ -n "$ns" ] || tf_fail "cannot find the work directory / namespace in the output"
[ ! -e "$dir" ] || tf_fail "$dir is still there"
! ip netns list | grep -q "^$ns\b" || tf_fail "namespace $ns is still there"
! pgrep -f "$dir" >/dev/null || tf_fail "processes of the demo still run: $(pgrep -af "$dir")"
[ ! -e "/var/run/dpdk/$ns" ] || tf_fail "/var/run/dpdk/$ns is still there"
tf_pass "make demo: streams, ledger tables, dashboard, clean exit"
