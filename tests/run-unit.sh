#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs every CUnit test binary given; fails if any fails or none ran.
# A binary that cannot run here (e.g. no GPU) prints "SKIPPED: <why>" and
# exits 77: reported as skipped, never counted as passed.
set -uo pipefail
[ $# -gt 0 ] || { echo "test-unit: FAIL: no unit test binaries were built" >&2; exit 1; }
pass=0 fail=0 skip=0 failed=() skipped=()
for t in "$@"; do
	echo "=== unit: $(basename "$t")"
	"$t"
	case $? in
	0)  pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)); skipped+=("$(basename "$t")") ;;
	*)  fail=$((fail + 1)); failed+=("$(basename "$t")") ;;
	esac
done
echo "test-unit: $pass binaries passed, $fail failed${failed:+: ${failed[*]}}, $skip skipped${skipped:+: ${skipped[*]}}"
[ $fail -eq 0 ]
