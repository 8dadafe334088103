#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs every CUnit test binary given; fails if any fails or none ran.
set -uo pipefail
[ $# -gt 0 ] || { echo "test-unit: FAIL: no unit test binaries were built" >&2; exit 1; }
pass=0 fail=0 failed=()
for t in "$@"; do
	echo "=== unit: $(basename "$t")"
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$(basename "$t")"); fi
done
echo "test-unit: $pass binaries passed, $fail failed${failed:+: ${failed[*]}}"
[ $fail -eq 0 ]
