#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs every tests/bench/bench_*.sh. Benchmarks report figures with their
# baselines side by side; they never fail on a figure, only on an error.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export TF_ROOT=$root BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$root/$BUILD ;; esac
shopt -s nullglob
fail=0
for b in "$root"/tests/bench/bench_*.sh; do
	[ -n "${TF_ONLY:-}" ] && [[ $(basename "$b") != bench_${TF_ONLY}* ]] && continue
	echo "=== bench: $(basename "$b" .sh)"
	bash "$b" || { echo "--- bench $(basename "$b") exited with an error"; fail=1; }
done
exit $fail
