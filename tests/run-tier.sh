#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs every tests/<tier>/test_*.sh. Each script exits 0 (PASS), 77 (SKIPPED:
# it prints why on its last line) or anything else (FAIL). Skips are reported
# as skips, never counted as passes.
set -uo pipefail
tier=$1
root=$(cd "$(dirname "$0")/.." && pwd)
export TF_ROOT=$root
export BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$root/$BUILD ;; esac
export BUILD
shopt -s nullglob
tests=("$root"/tests/"$tier"/test_*.sh)
if [ -n "${TF_ONLY:-}" ]; then
	tests=("$root"/tests/"$tier"/test_${TF_ONLY}*.sh)
fi
[ ${#tests[@]} -gt 0 ] || { echo "test-$tier: FAIL: no tests found in tests/$tier" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
	echo "test-$tier: FAIL: this tier needs root (network namespaces, QEMU); run it as root" >&2
	exit 1
fi
pass=0 fail=0 skip=0 failed=() skipped=()
logdir=$BUILD/test-logs/$tier
mkdir -p "$logdir"
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	echo "=== $tier: $name"
	start=$(date +%s)
	bash "$t" 2>&1 | tee "$logdir/$name.log"
	rc=${PIPESTATUS[0]}
	dur=$(( $(date +%s) - start ))
	case $rc in
	0)  pass=$((pass + 1)); echo "--- PASS $name (${dur}s)" ;;
	77) skip=$((skip + 1)); skipped+=("$name: $(tail -n 1 "$logdir/$name.log")")
	    echo "--- SKIPPED $name (${dur}s)" ;;
	*)  fail=$((fail + 1)); failed+=("$name"); echo "--- FAIL $name (rc=$rc, ${dur}s, log: $logdir/$name.log)" ;;
	esac
done
echo "test-$tier: $pass passed, $fail failed, $skip skipped"
for s in "${skipped[@]}"; do echo "  SKIPPED $s"; done
for f in "${failed[@]}"; do echo "  FAILED  $f"; done
[ $fail -eq 0 ]
