#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Regenerates tests/fuzz/corpus/proto_decode/ from the worked examples of
# hwdocs/protocol.md (its ```tfhex blocks), one binary file per example.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/tests/fuzz/corpus/proto_decode
mkdir -p "$out"
awk -v out="$out" '
	/^```tfhex / { name = $2; file = out "/spec-" name; printf "" > file; next }
	/^```/ && name != "" { close(file); name = ""; next }
	name != "" {
		sub(/\|.*/, ""); sub(/^[0-9a-f]+:/, "")
		n = split($0, b, " ")
		for (i = 1; i <= n; i++) printf "%s", b[i] > file
	}' "$root/hwdocs/protocol.md"
# awk wrote hex text: turn each file into bytes.
for f in "$out"/spec-*; do
	hex=$(cat "$f")
	printf '%s' "$hex" | sed 's/../\\x&/g' | xargs -0 printf '%b' > "$f.bin"
	mv "$f.bin" "$f"
done
ls "$out" | wc -l
