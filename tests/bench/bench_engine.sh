#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Engine tokens/s at batch 1, 8, 32, 64 on a generated model of the
# TinyStories-15M shape, beside the llama2.c-style reference and the
# memory-bandwidth ceiling measured in the same run (report only).
# TF_BENCH_THREADS (default: online CPUs) and TF_BENCH_GEN (default 64).
set -euo pipefail
root=${TF_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${BUILD:-$root/build}
for f in "$build/bin/tokfab-mkmodel" "$build/bench/bench_engine"; do
	[ -x "$f" ] || { echo "bench_engine: $f is not built (run make)" >&2; exit 1; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/bin/tokfab-mkmodel" --preset stories15m -o "$dir/model.bin" -t "$dir/tokenizer.bin" >/dev/null
"$build/bench/bench_engine" "$dir/model.bin" "$dir/tokenizer.bin" \
	"${TF_BENCH_THREADS:-$(nproc)}" "${TF_BENCH_GEN:-64}"
