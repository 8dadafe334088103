#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs each libFuzzer target for FUZZ_SECONDS over its seed corpus
# (tests/fuzz/corpus/<target>/, copied so seeds stay untouched).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${FUZZ_SECONDS:-30}
[ $# -gt 0 ] || { echo "fuzz: FAIL: no fuzz targets were built" >&2; exit 1; }
fail=0
for t in "$@"; do
	name=$(basename "$t")
	work=$(mktemp -d)
	[ -d "$root/tests/fuzz/corpus/$name" ] && cp -r "$root/tests/fuzz/corpus/$name/." "$work/"
	echo "=== fuzz: $name for ${secs}s"
	if ! "$t" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$work/crash-" "$work" \
		> "$work/log" 2>&1; then
		echo "--- FAIL $name: finding(s) below"; tail -n 40 "$work/log"
		ls "$work"/crash-* 2>/dev/null
		fail=1
	else
		echo "--- PASS $name: $(grep -E '^stat::number_of_executed_units' "$work/log" | awk '{print $2}') runs, no findings"
		rm -rf "$work"
	fi
done
exit $fail
