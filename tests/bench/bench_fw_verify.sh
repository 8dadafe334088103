#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Firmware image verification throughput: `tokfab-fw verify` (parse, Ed25519
# over header + table, SHA-256 of every section) against the baseline
# `sha256sum` of the same file (and `openssl dgst -sha256`, the same SHA-256
# code tokfab-fw uses), side by side, best of 3 in CPU time. Reports only.
. "$(dirname "$0")/../lib/common.sh"
FW=$TF_BIN/tokfab-fw
[ -x "$FW" ] || tf_fail "$FW not built: run make tokfab-fw"
MB=${FW_BENCH_MB:-64}
w=$(mktemp -d); tf_on_exit "rm -rf $w"
cd "$w"
"$FW" keygen k >/dev/null
head -c $((MB * 1024 * 1024 * 3 / 4)) /dev/urandom > dp
head -c $((MB * 1024 * 1024 / 4)) /dev/urandom > acc
{ echo "version = 1.0.0"; echo "security_version = 1"; echo "board_id = 0x54460001"
  echo "dataplane = dp"; echo "accel = acc"; "$FW" abi; } > m
"$FW" build --manifest m --out img --key k.key >/dev/null
cat img > /dev/null # page cache warm for both sides
# CPU seconds (user + sys), best of 3: steadier than wall time on a shared machine.
best() { # CMD...
	local b=999 t TIMEFORMAT='%3U %3S'
	for _ in 1 2 3; do
		t=$({ time "$@" >/dev/null 2>&1; } 2>&1) || tf_fail "'$*' failed"
		b=$(awk -v t="$t" -v b="$b" 'BEGIN { split(t, a, " "); c = a[1] + a[2]; print (c < b ? c : b) }')
	done
	echo "$b"
}
size=$(stat -c %s img)
tv=$(best "$FW" verify --pubkey k.pub img)
ts=$(best sha256sum img)
to=$(best openssl dgst -sha256 img)
awk -v n="$size" -v tv="$tv" -v ts="$ts" -v to="$to" 'BEGIN {
	m = n / 1048576
	printf "fw_verify: image %.1f MiB\n", m
	printf "  tokfab-fw verify  %8.3f CPU s  %8.1f MiB/s\n", tv, m / tv
	printf "  sha256sum (base)  %8.3f CPU s  %8.1f MiB/s\n", ts, m / ts
	printf "  openssl dgst      %8.3f CPU s  %8.1f MiB/s\n", to, m / to
	printf "  ratio verify/sha256sum throughput: %.2f, verify/openssl dgst: %.2f\n", ts / tv, to / tv
}'
