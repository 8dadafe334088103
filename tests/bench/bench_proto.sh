#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Protocol codec micro-benchmark: decode + MAC verify of one REQUEST per
# iteration beside a memcpy of the same bytes, the OpenSSL HMAC variants and the
# mac_alg 2 candidates (SipHash via libsodium and EVP, BLAKE2b, CMAC, Poly1305).
# Reports only (hwdocs/performance.md, "Protocol codec").
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
bin=$BUILD/bench/bench_proto
[ -x "$bin" ] || tf_fail "$bin not built: run 'make'"
iters=${BENCH_PROTO_ITERS:-1000000}
grep -q sha_ni /proc/cpuinfo && echo "bench_proto: CPU has SHA-NI" || echo "bench_proto: CPU has no SHA-NI"
for ntok in 4 16 64; do
	"$bin" "$iters" "$ntok"
done
